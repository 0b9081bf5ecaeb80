//! The embedded database (redb): block index, UTXO set, transaction index, block filters and
//! chain metadata, with atomic flushes.

use redb::{Database, ReadOnlyTable, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use thiserror::Error;

const INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("block_index");
const COINS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("coins");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const TXINDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("txindex");
const FILTERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blockfilter_basic");

/// A database failure, naming the database file.
#[derive(Debug, Error)]
pub enum DbError {
    /// redb reported an error (I/O, corruption, full disk...).
    #[error("database {path}: {source}")]
    Redb {
        /// The database file.
        path: PathBuf,
        /// What redb said.
        source: redb::Error,
    },
    /// A record in the database could not be decoded.
    #[error("database {path}: corrupt record: {what}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
}

/// Everything one flush writes, committed in a single atomic transaction.
#[derive(Default)]
pub struct FlushBatch {
    /// Coin upserts (`Some`) and deletions (`None`) keyed by outpoint key.
    pub coins: Vec<([u8; 36], Option<Vec<u8>>)>,
    /// Block index records keyed by block hash.
    pub index: Vec<([u8; 32], Vec<u8>)>,
    /// Metadata records (best block, block file scan position...).
    pub meta: Vec<(&'static str, Vec<u8>)>,
    /// Transaction index upserts (`Some`: encoded location) and deletions (`None`) keyed by txid.
    pub txindex: Vec<([u8; 32], Option<Vec<u8>>)>,
    /// Empty the transaction index before applying `txindex` (it is being rebuilt).
    pub clear_txindex: bool,
    /// Basic block filter records keyed by block hash.
    pub filters: Vec<([u8; 32], Vec<u8>)>,
}

/// The chain database.
pub struct ChainDb {
    db: Database,
    path: PathBuf,
    /// Test-only failure injection: commits left before one fails (u32::MAX: never).
    #[cfg(test)]
    fail_commit_in: std::sync::atomic::AtomicU32,
}

/// A read snapshot of the coins table, used for the lookups of one block connection.
pub struct CoinReader {
    table: ReadOnlyTable<&'static [u8], &'static [u8]>,
    path: PathBuf,
}

impl ChainDb {
    /// Opens or creates the database at `path`.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| DbError::Redb {
                path: path.to_path_buf(),
                source: e.into(),
            })?;
        }
        let db = Database::create(path).map_err(|e| DbError::Redb {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        let me = ChainDb {
            db,
            path: path.to_path_buf(),
            #[cfg(test)]
            fail_commit_in: std::sync::atomic::AtomicU32::new(u32::MAX),
        };
        let txn = me.db.begin_write().map_err(|e| me.err(e))?;
        txn.open_table(INDEX).map_err(|e| me.err(e))?;
        txn.open_table(COINS).map_err(|e| me.err(e))?;
        txn.open_table(META).map_err(|e| me.err(e))?;
        txn.open_table(TXINDEX).map_err(|e| me.err(e))?;
        txn.open_table(FILTERS).map_err(|e| me.err(e))?;
        txn.commit().map_err(|e| me.err(e))?;
        Ok(me)
    }

    fn err(&self, e: impl Into<redb::Error>) -> DbError {
        DbError::Redb {
            path: self.path.clone(),
            source: e.into(),
        }
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every block index record.
    pub fn load_index(&self) -> Result<Vec<([u8; 32], Vec<u8>)>, DbError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(INDEX).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for item in t.iter().map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let key: [u8; 32] = k.value().try_into().map_err(|_| DbError::Corrupt {
                path: self.path.clone(),
                what: "index key length".into(),
            })?;
            out.push((key, v.value().to_vec()));
        }
        Ok(out)
    }

    /// Reads a metadata record.
    pub fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, DbError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(META).map_err(|e| self.err(e))?;
        let v = t.get(key).map_err(|e| self.err(e))?;
        Ok(v.map(|g| g.value().to_vec()))
    }

    /// A snapshot reader for coin lookups.
    pub fn coin_reader(&self) -> Result<CoinReader, DbError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = r.open_table(COINS).map_err(|e| self.err(e))?;
        Ok(CoinReader {
            table,
            path: self.path.clone(),
        })
    }

    /// Makes the commit after the next `n` succeed fail (as a full disk would) without writing
    /// anything, to test what the callers do with a failed commit.
    #[cfg(test)]
    pub(crate) fn fail_commit_after(&self, n: u32) {
        self.fail_commit_in.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Commits a flush batch atomically and durably.
    pub fn commit(&self, batch: FlushBatch) -> Result<(), DbError> {
        #[cfg(test)]
        {
            use std::sync::atomic::Ordering;
            let left = self.fail_commit_in.load(Ordering::SeqCst);
            if left != u32::MAX {
                self.fail_commit_in.store(left.saturating_sub(1), Ordering::SeqCst);
                if left == 0 {
                    self.fail_commit_in.store(u32::MAX, Ordering::SeqCst);
                    return Err(self.err(redb::Error::Io(std::io::Error::other(
                        "injected commit failure (No space left on device)",
                    ))));
                }
            }
        }
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut coins = txn.open_table(COINS).map_err(|e| self.err(e))?;
            for (k, v) in &batch.coins {
                match v {
                    Some(v) => {
                        coins.insert(k.as_slice(), v.as_slice()).map_err(|e| self.err(e))?;
                    }
                    None => {
                        coins.remove(k.as_slice()).map_err(|e| self.err(e))?;
                    }
                }
            }
            let mut index = txn.open_table(INDEX).map_err(|e| self.err(e))?;
            for (k, v) in &batch.index {
                index.insert(k.as_slice(), v.as_slice()).map_err(|e| self.err(e))?;
            }
            let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
            for (k, v) in &batch.meta {
                meta.insert(*k, v.as_slice()).map_err(|e| self.err(e))?;
            }
        }
        if !batch.filters.is_empty() {
            let mut filters = txn.open_table(FILTERS).map_err(|e| self.err(e))?;
            for (k, v) in &batch.filters {
                filters.insert(k.as_slice(), v.as_slice()).map_err(|e| self.err(e))?;
            }
        }
        if batch.clear_txindex {
            txn.delete_table(TXINDEX).map_err(|e| self.err(e))?;
        }
        if batch.clear_txindex || !batch.txindex.is_empty() {
            let mut txindex = txn.open_table(TXINDEX).map_err(|e| self.err(e))?;
            for (k, v) in &batch.txindex {
                match v {
                    Some(v) => {
                        txindex.insert(k.as_slice(), v.as_slice()).map_err(|e| self.err(e))?;
                    }
                    None => {
                        txindex.remove(k.as_slice()).map_err(|e| self.err(e))?;
                    }
                }
            }
        }
        txn.commit().map_err(|e| self.err(e))
    }

    /// The encoded transaction-index record for `txid`, if any.
    pub fn get_txindex(&self, txid: &[u8; 32]) -> Result<Option<Vec<u8>>, DbError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(TXINDEX).map_err(|e| self.err(e))?;
        let v = t.get(txid.as_slice()).map_err(|e| self.err(e))?;
        Ok(v.map(|g| g.value().to_vec()))
    }

    /// The encoded basic block filter record of `block`, if any.
    pub fn get_filter(&self, block: &[u8; 32]) -> Result<Option<Vec<u8>>, DbError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(FILTERS).map_err(|e| self.err(e))?;
        let v = t.get(block.as_slice()).map_err(|e| self.err(e))?;
        Ok(v.map(|g| g.value().to_vec()))
    }

    /// Visits every coin in key order (txid, then vout), as Core's UTXO statistics do.
    pub fn for_each_coin(&self, mut f: impl FnMut(&[u8], &[u8]) -> Result<(), DbError>) -> Result<(), DbError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(COINS).map_err(|e| self.err(e))?;
        for item in t.iter().map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            f(k.value(), v.value())?;
        }
        Ok(())
    }

    /// Compacts the database file (maintenance); returns whether anything was reclaimed.
    pub fn compact(&mut self) -> Result<bool, DbError> {
        let path = self.path.clone();
        self.db.compact().map_err(|e| DbError::Redb { path, source: e.into() })
    }
}

impl CoinReader {
    /// Looks up the encoded coin for an outpoint key.
    pub fn get(&self, key: &[u8; 36]) -> Result<Option<Vec<u8>>, DbError> {
        let v = self.table.get(key.as_slice()).map_err(|e| DbError::Redb {
            path: self.path.clone(),
            source: e.into(),
        })?;
        Ok(v.map(|g| g.value().to_vec()))
    }
}

//! The embedded database (redb): block index, UTXO set, transaction index, block filters and
//! chain metadata, with atomic flushes.

use redb::{Database, ReadOnlyTable, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::{Path, PathBuf};
use thiserror::Error;

const INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("block_index");
const COINS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("coins");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const TXINDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("txindex");
const FILTERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blockfilter_basic");
/// Per block: the filter's hash then its header (64 bytes), so `getcfheaders` and the index
/// itself never read whole filters to hash them.
const FILTER_IDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blockfilter_basic_ids");
/// Filter records read per transaction while filling [`FILTER_IDS`] for an older index.
const BACKFILL_CHUNK: usize = 10_000;

/// A database failure, naming the database file.
#[derive(Debug, Error)]
pub enum DbError {
    /// redb reported an error (I/O, corruption, full disk...).
    #[error("database {path}: {source}")]
    Redb {
        /// The database file.
        path: PathBuf,
        /// What redb said.
        source: Box<redb::Error>,
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

/// One stored block index record: the block hash and the encoded entry.
pub type IndexRecord = ([u8; 32], Vec<u8>);

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
    /// Basic block filter records keyed by block hash, each with its filter hash and header.
    pub filters: Vec<([u8; 32], Vec<u8>, [u8; 64])>,
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
                source: Box::new(e.into()),
            })?;
        }
        let db = Database::create(path).map_err(|e| DbError::Redb {
            path: path.to_path_buf(),
            source: Box::new(e.into()),
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
        txn.open_table(FILTER_IDS).map_err(|e| me.err(e))?;
        txn.commit().map_err(|e| me.err(e))?;
        Ok(me)
    }

    fn err(&self, e: impl Into<redb::Error>) -> DbError {
        DbError::Redb {
            path: self.path.clone(),
            source: Box::new(e.into()),
        }
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every block index record.
    pub fn load_index(&self) -> Result<Vec<IndexRecord>, DbError> {
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
        let start = std::time::Instant::now();
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
            let mut ids = txn.open_table(FILTER_IDS).map_err(|e| self.err(e))?;
            for (k, v, id) in &batch.filters {
                filters.insert(k.as_slice(), v.as_slice()).map_err(|e| self.err(e))?;
                ids.insert(k.as_slice(), id.as_slice()).map_err(|e| self.err(e))?;
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
        let written = start.elapsed();
        txn.commit().map_err(|e| self.err(e))?;
        // Where a flush's time goes (`-debug=store`): the table updates, then the durable commit.
        tracing::debug!(
            coins = batch.coins.len(),
            write_ms = written.as_millis() as u64,
            commit_ms = (start.elapsed() - written).as_millis() as u64,
            "database batch committed"
        );
        Ok(())
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

    /// The filter hash and header of `block` (64 bytes), if any.
    pub fn get_filter_ids(&self, block: &[u8; 32]) -> Result<Option<Vec<u8>>, DbError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(FILTER_IDS).map_err(|e| self.err(e))?;
        let v = t.get(block.as_slice()).map_err(|e| self.err(e))?;
        Ok(v.map(|g| g.value().to_vec()))
    }

    /// Fills the filter id table of an index written before it existed (each record's ids from
    /// `ids_of`, `None` for a corrupt record), in chunks; returns how many records it filled.
    /// Nothing to do (one length comparison) once both tables hold the same blocks.
    pub fn backfill_filter_ids(&self, ids_of: impl Fn(&[u8]) -> Option<[u8; 64]>) -> Result<u64, DbError> {
        let mut filled = 0u64;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let r = self.db.begin_read().map_err(|e| self.err(e))?;
            let records = r.open_table(FILTERS).map_err(|e| self.err(e))?;
            let ids = r.open_table(FILTER_IDS).map_err(|e| self.err(e))?;
            if after.is_none() && records.len().map_err(|e| self.err(e))? == ids.len().map_err(|e| self.err(e))? {
                return Ok(0);
            }
            let iter = match &after {
                Some(k) => records.range::<&[u8]>((std::ops::Bound::Excluded(k.as_slice()), std::ops::Bound::Unbounded)),
                None => records.range::<&[u8]>(..),
            }
            .map_err(|e| self.err(e))?;
            let mut missing = Vec::new();
            let mut last = None;
            for item in iter.take(BACKFILL_CHUNK) {
                let (k, v) = item.map_err(|e| self.err(e))?;
                last = Some(k.value().to_vec());
                if ids.get(k.value()).map_err(|e| self.err(e))?.is_none() {
                    let id = ids_of(v.value()).ok_or_else(|| DbError::Corrupt {
                        path: self.path.clone(),
                        what: "block filter record".into(),
                    })?;
                    missing.push((k.value().to_vec(), id));
                }
            }
            drop((ids, records, r));
            if !missing.is_empty() {
                let txn = self.db.begin_write().map_err(|e| self.err(e))?;
                {
                    let mut t = txn.open_table(FILTER_IDS).map_err(|e| self.err(e))?;
                    for (k, id) in &missing {
                        t.insert(k.as_slice(), id.as_slice()).map_err(|e| self.err(e))?;
                    }
                }
                txn.commit().map_err(|e| self.err(e))?;
                filled += missing.len() as u64;
            }
            match last {
                Some(k) => after = Some(k),
                None => return Ok(filled),
            }
        }
    }

    /// Visits every coin in key order (txid, then vout), as Core's UTXO statistics do.
    pub fn for_each_coin(&self, f: impl FnMut(&[u8], &[u8]) -> Result<(), DbError>) -> Result<(), DbError> {
        self.coin_reader()?.for_each(f)
    }

    /// Compacts the database file (maintenance); returns whether anything was reclaimed.
    pub fn compact(&mut self) -> Result<bool, DbError> {
        let path = self.path.clone();
        self.db.compact().map_err(|e| DbError::Redb {
            path,
            source: Box::new(e.into()),
        })
    }
}

impl CoinReader {
    /// Path of the database file this snapshot reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Visits every coin of this read snapshot in key order (txid, then vout); writes made
    /// after the snapshot was taken are not seen.
    pub fn for_each<E: From<DbError>>(&self, mut f: impl FnMut(&[u8], &[u8]) -> Result<(), E>) -> Result<(), E> {
        let err = |e: redb::StorageError| DbError::Redb {
            path: self.path.clone(),
            source: Box::new(e.into()),
        };
        for item in self.table.iter().map_err(err)? {
            let (k, v) = item.map_err(err)?;
            f(k.value(), v.value())?;
        }
        Ok(())
    }

    /// Looks up the encoded coin for an outpoint key.
    pub fn get(&self, key: &[u8; 36]) -> Result<Option<Vec<u8>>, DbError> {
        let v = self.table.get(key.as_slice()).map_err(|e| DbError::Redb {
            path: self.path.clone(),
            source: Box::new(e.into()),
        })?;
        Ok(v.map(|g| g.value().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index written before filter ids existed (records only) gets every record's ids, over
    /// more than one chunk, and a second pass finds nothing to do.
    #[test]
    fn backfills_filter_ids_of_an_older_index() {
        let dir = tempfile::tempdir().unwrap();
        let db = ChainDb::open(&dir.path().join("chain.redb")).unwrap();
        let n = BACKFILL_CHUNK as u32 + 7;
        let key = |i: u32| {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_be_bytes());
            k
        };
        let txn = db.db.begin_write().unwrap();
        {
            let mut t = txn.open_table(FILTERS).unwrap();
            for i in 0..n {
                t.insert(key(i).as_slice(), i.to_le_bytes().as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
        // One record already has its ids (as if written by this version).
        db.commit(FlushBatch {
            filters: vec![(key(3), 3u32.to_le_bytes().to_vec(), [9; 64])],
            ..Default::default()
        })
        .unwrap();
        let ids_of = |b: &[u8]| {
            let mut id = [0u8; 64];
            id[..b.len()].copy_from_slice(b);
            Some(id)
        };
        assert_eq!(db.backfill_filter_ids(ids_of).unwrap(), u64::from(n) - 1);
        for i in [0, 1, n / 2, n - 1] {
            assert_eq!(
                db.get_filter_ids(&key(i)).unwrap(),
                Some(ids_of(&i.to_le_bytes()).unwrap().to_vec())
            );
        }
        assert_eq!(db.get_filter_ids(&key(3)).unwrap(), Some(vec![9; 64]), "existing ids kept");
        assert_eq!(db.backfill_filter_ids(ids_of).unwrap(), 0);
        assert!(db.backfill_filter_ids(|_| None).unwrap() == 0, "a complete table is not read again");
    }
}

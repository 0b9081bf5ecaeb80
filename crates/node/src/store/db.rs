//! The embedded database (LMDB through heed, in `<datadir>/<network>/chainstate/`): block index,
//! UTXO set, transaction index, block filters and chain metadata, with atomic durable flushes.
//!
//! LMDB was chosen by measurement (docs/BENCHMARKS.md "Store comparison"): its write cost per
//! coin stays flat as the set grows when a flush's coins are written in key order, and its point
//! reads are the cheapest of the stores compared. Readers are MVCC snapshots that never block the
//! single writer, so a [`CoinReader`] stays consistent while another thread commits.

use super::coin_chunk::{chunk_key, coin_in, coin_key, for_each_in, ChunkEdit};
use super::encoding::DecodeError;
use heed::types::Bytes;
use heed::{CompactionOption, Database, Env, EnvOpenOptions, RoTxn, RwTxn, WithoutTls};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The LMDB map size: address space reserved for the file, not disk; the file grows as written.
/// 1 TiB leaves room for mainnet's UTXO set, transaction index and filters together.
const MAP_SIZE: usize = 1 << 40;
/// Concurrent read snapshots allowed (LMDB's reader table; its default is 126).
const MAX_READERS: u32 = 1024;
/// Filter records read per transaction while filling the filter id table of an older index.
const BACKFILL_CHUNK: usize = 10_000;
/// The data file inside the store's directory (its size is the database's size on disk).
pub const DATA_FILE: &str = "data.mdb";
/// Free space below which a failed write is taken for a full disk (see `ChainDb::write_err`).
const FULL_DISK_BYTES: u64 = 16 << 20;
/// Where [`ChainDb::compact`] writes the compacted copy before it replaces [`DATA_FILE`].
const COMPACT_FILE: &str = "data.mdb.compact";

/// A database failure, naming the database file.
#[derive(Debug, Error)]
pub enum DbError {
    /// The store reported an error (I/O, corruption, full disk...).
    #[error("database {path}: {source}")]
    Store {
        /// The database file.
        path: PathBuf,
        /// What the store said.
        source: Box<dyn std::error::Error + Send + Sync>,
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

/// Receives one coin write: the outpoint key and the encoded coin (`None`: delete).
pub type CoinPut<'a> = dyn FnMut(&[u8; 36], Option<&[u8]>) -> Result<(), DbError> + 'a;

/// Coin writes an owner produces in key order on demand (a frozen cache generation), so a
/// large flush needs no encoded copy of every coin next to the cache holding them.
pub trait SortedCoinWrites: Send {
    /// Calls `put` with every outpoint key and its encoded coin (`None`: delete), in key order,
    /// stopping at the first error.
    fn write_sorted(&self, put: &mut CoinPut<'_>) -> Result<(), DbError>;
}

/// Everything one flush writes, committed in a single atomic transaction.
#[derive(Default)]
pub struct FlushBatch<'a> {
    /// Coin writes applied first, before `coins` (the cache's dirty entries, read in place).
    pub coin_source: Option<Box<dyn SortedCoinWrites + 'a>>,
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
    /// Empty the coins table before applying `coin_source` and `coins` (a validated snapshot
    /// chainstate's coins replace the historical ones).
    pub clear_coins: bool,
}

/// The named tables (LMDB sub-databases), all byte keys in byte order.
#[derive(Clone, Copy)]
pub(super) struct Tables {
    /// Block index records keyed by block hash.
    pub(super) index: Database<Bytes, Bytes>,
    /// The UTXO set, a transaction's coins grouped into chunk records (`super::coin_chunk`).
    pub(super) coins: Database<Bytes, Bytes>,
    /// The UTXO set of earlier versions, one record per outpoint (txid, big-endian vout): empty
    /// once `super::coin_format` has moved it into `coins`.
    pub(super) per_coin: Database<Bytes, Bytes>,
    /// Chain metadata keyed by name.
    pub(super) meta: Database<Bytes, Bytes>,
    /// Transaction index keyed by txid.
    pub(super) txindex: Database<Bytes, Bytes>,
    /// Basic block filters keyed by block hash.
    pub(super) filters: Database<Bytes, Bytes>,
    /// Per block: the filter's hash then its header (64 bytes), so `getcfheaders` and the index
    /// itself never read whole filters to hash them.
    pub(super) filter_ids: Database<Bytes, Bytes>,
}

/// Table names (LMDB sub-databases), as the `chain.redb` of earlier versions named its tables
/// ("coins" is the per-outpoint UTXO table of earlier versions, converted at open).
pub const TABLE_NAMES: [&str; 6] = [
    "block_index",
    "coins",
    "meta",
    "txindex",
    "blockfilter_basic",
    "blockfilter_basic_ids",
];
/// The UTXO table of this version: coins grouped by transaction (`super::coin_chunk`).
pub const COIN_CHUNKS_TABLE: &str = "coin_chunks";

impl Tables {
    /// The table of each name in [`TABLE_NAMES`], in that order.
    pub(super) fn all(&self) -> [Database<Bytes, Bytes>; 6] {
        [self.index, self.per_coin, self.meta, self.txindex, self.filters, self.filter_ids]
    }
}

/// The chain database.
pub struct ChainDb {
    /// The open environment (`None` only after a failed reopen in [`ChainDb::compact`]).
    env: Option<Env<WithoutTls>>,
    tables: Tables,
    dir: PathBuf,
    path: PathBuf,
    /// One clone per live [`CoinReader`]: the environment can close (compaction) only without.
    readers: std::sync::Arc<()>,
    /// Test-only failure injection: commits left before one fails (u32::MAX: never).
    #[cfg(test)]
    fail_commit_in: std::sync::atomic::AtomicU32,
}

// A flush thread shares the database while validation reads it, and a snapshot may move to
// another thread: checked at compile time.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    fn movable<T: Send>() {}
    shared::<ChainDb>();
    movable::<CoinReader>();
};

/// A read snapshot of the coins table, used for the lookups of one block connection. It can
/// move between threads (`Send`) but is used by one at a time (not `Sync`: an LMDB read
/// transaction belongs to one thread at a time); it holds back the reuse of pages freed after
/// it was taken, so it should not outlive one block's lookups by much.
pub struct CoinReader {
    txn: RoTxn<'static, WithoutTls>,
    _live: std::sync::Arc<()>,
    coins: Database<Bytes, Bytes>,
    path: PathBuf,
}

/// Wraps a store error with the database file it concerns.
pub(super) fn store_err(path: &Path, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> DbError {
    DbError::Store {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// Opens (creating if needed) the environment in `dir` and its tables.
fn open_env(dir: &Path, path: &Path) -> Result<(Env<WithoutTls>, Tables), DbError> {
    std::fs::create_dir_all(dir).map_err(|e| store_err(path, e))?;
    let mut opts = EnvOpenOptions::new().read_txn_without_tls();
    opts.map_size(MAP_SIZE)
        .max_dbs(TABLE_NAMES.len() as u32 + 1)
        .max_readers(MAX_READERS);
    // SAFETY: the map is only modified through LMDB (this process and LMDB's own locking
    // between processes); the node's datadir lock keeps other nodes out of the directory.
    let env = unsafe { opts.open(dir) }.map_err(|e| store_err(path, e))?;
    let mut w = env.write_txn().map_err(|e| store_err(path, e))?;
    let mut create = |name: &str| env.create_database::<Bytes, Bytes>(&mut w, Some(name));
    let tables = (|| {
        Ok::<_, heed::Error>(Tables {
            index: create(TABLE_NAMES[0])?,
            per_coin: create(TABLE_NAMES[1])?,
            coins: create(COIN_CHUNKS_TABLE)?,
            meta: create(TABLE_NAMES[2])?,
            txindex: create(TABLE_NAMES[3])?,
            filters: create(TABLE_NAMES[4])?,
            filter_ids: create(TABLE_NAMES[5])?,
        })
    })()
    .map_err(|e| store_err(path, e))?;
    w.commit().map_err(|e| store_err(path, e))?;
    Ok((env, tables))
}

impl ChainDb {
    /// Opens or creates the database in the directory `dir` (`<datadir>/<network>/chainstate`),
    /// first converting a `chain.redb` written there by earlier versions.
    pub fn open(dir: &Path) -> Result<Self, DbError> {
        let path = dir.join(DATA_FILE);
        let (env, tables) = open_env(dir, &path)?;
        let me = ChainDb {
            env: Some(env),
            tables,
            dir: dir.to_path_buf(),
            path,
            readers: std::sync::Arc::new(()),
            #[cfg(test)]
            fail_commit_in: std::sync::atomic::AtomicU32::new(u32::MAX),
        };
        super::migrate::from_redb(&me)?;
        super::coin_format::convert(&me)?;
        Ok(me)
    }

    /// The open environment.
    pub(super) fn env(&self) -> Result<&Env<WithoutTls>, DbError> {
        self.env.as_ref().ok_or_else(|| DbError::Corrupt {
            path: self.path.clone(),
            what: "database closed after a failed compaction".into(),
        })
    }

    /// The named tables.
    pub(super) fn tables(&self) -> Tables {
        self.tables
    }

    /// The store's directory.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    fn err(&self, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> DbError {
        store_err(&self.path, e)
    }

    /// A record of this database that does not decode.
    pub(super) fn corrupt(&self, e: DecodeError) -> DbError {
        DbError::Corrupt {
            path: self.path.clone(),
            what: e.to_string(),
        }
    }

    /// A write failure. LMDB reports a short write (the filesystem filled up mid-write) as EIO:
    /// with the store's filesystem (nearly) full it is named as the full disk it is (ENOSPC).
    pub(super) fn write_err(&self, e: heed::Error) -> DbError {
        if let heed::Error::Io(io) = &e {
            let full = crate::node::monitors::disk_usage(&self.dir).is_ok_and(|d| d.available_bytes < FULL_DISK_BYTES);
            if io.raw_os_error() == Some(libc::EIO) && full {
                return self.err(std::io::Error::from_raw_os_error(libc::ENOSPC));
            }
        }
        self.err(e)
    }

    fn read_txn(&self) -> Result<RoTxn<'_, WithoutTls>, DbError> {
        self.env()?.read_txn().map_err(|e| self.err(e))
    }

    pub(super) fn write_txn(&self) -> Result<RwTxn<'_>, DbError> {
        self.env()?.write_txn().map_err(|e| self.err(e))
    }

    /// Path of the database's data file (its size is the database's size on disk).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every block index record.
    pub fn load_index(&self) -> Result<Vec<IndexRecord>, DbError> {
        let r = self.read_txn()?;
        let mut out = Vec::new();
        for item in self.tables.index.iter(&r).map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let key: [u8; 32] = k.try_into().map_err(|_| DbError::Corrupt {
                path: self.path.clone(),
                what: "index key length".into(),
            })?;
            out.push((key, v.to_vec()));
        }
        Ok(out)
    }

    fn get_in(&self, table: Database<Bytes, Bytes>, key: &[u8]) -> Result<Option<Vec<u8>>, DbError> {
        let r = self.read_txn()?;
        let v = table.get(&r, key).map_err(|e| self.err(e))?;
        Ok(v.map(<[u8]>::to_vec))
    }

    /// Reads a metadata record.
    pub fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, DbError> {
        self.get_in(self.tables.meta, key.as_bytes())
    }

    /// A snapshot reader for coin lookups.
    pub fn coin_reader(&self) -> Result<CoinReader, DbError> {
        let txn = self.env()?.clone().static_read_txn().map_err(|e| self.err(e))?;
        Ok(CoinReader {
            txn,
            _live: self.readers.clone(),
            coins: self.tables.coins,
            path: self.path.clone(),
        })
    }

    /// Makes the commit after the next `n` succeed fail (as a full disk would) without writing
    /// anything, to test what the callers do with a failed commit.
    #[cfg(test)]
    pub(crate) fn fail_commit_after(&self, n: u32) {
        self.fail_commit_in.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Commits a flush batch atomically and durably. Coins are written in key order: B-tree
    /// inserts in order touch each page once, where the cache's (hash) order touches a random
    /// page per coin.
    pub fn commit(&self, mut batch: FlushBatch<'_>) -> Result<(), DbError> {
        #[cfg(test)]
        {
            use std::sync::atomic::Ordering;
            let left = self.fail_commit_in.load(Ordering::SeqCst);
            if left != u32::MAX {
                self.fail_commit_in.store(left.saturating_sub(1), Ordering::SeqCst);
                if left == 0 {
                    self.fail_commit_in.store(u32::MAX, Ordering::SeqCst);
                    return Err(self.err(std::io::Error::other("injected commit failure (No space left on device)")));
                }
            }
        }
        let start = std::time::Instant::now();
        // Stable: a key written twice (a kept frozen generation, then the live one) keeps its order.
        batch.coins.sort_by_key(|c| c.0);
        let t = self.tables;
        let mut txn = self.write_txn()?;
        let w = &mut txn;
        let e = |e| self.write_err(e);
        let mut sourced = 0usize;
        if batch.clear_coins {
            t.coins.clear(w).map_err(e)?;
        }
        let mut chunks = ChunkWriter::new(self, t.coins);
        if let Some(source) = &batch.coin_source {
            source.write_sorted(&mut |k, v| {
                sourced += 1;
                chunks.change(w, k, v)
            })?;
        }
        for (k, v) in &batch.coins {
            chunks.change(w, k, v.as_deref())?;
        }
        chunks.finish(w)?;
        for (k, v) in &batch.index {
            t.index.put(w, k, v).map_err(e)?;
        }
        for (k, v) in &batch.meta {
            t.meta.put(w, k.as_bytes(), v).map_err(e)?;
        }
        for (k, v, id) in &batch.filters {
            t.filters.put(w, k, v).map_err(e)?;
            t.filter_ids.put(w, k, id).map_err(e)?;
        }
        if batch.clear_txindex {
            t.txindex.clear(w).map_err(e)?;
        }
        for (k, v) in &batch.txindex {
            match v {
                Some(v) => t.txindex.put(w, k, v).map_err(e)?,
                None => {
                    t.txindex.delete(w, k).map_err(e)?;
                }
            }
        }
        let written = start.elapsed();
        txn.commit().map_err(e)?;
        // Where a flush's time goes (`-debug=store`): the table updates, then the durable commit.
        tracing::debug!(
            coins = batch.coins.len() + sourced,
            chunks = chunks.written,
            write_ms = written.as_millis() as u64,
            commit_ms = (start.elapsed() - written).as_millis() as u64,
            "database batch committed"
        );
        Ok(())
    }

    /// The encoded transaction-index record for `txid`, if any.
    pub fn get_txindex(&self, txid: &[u8; 32]) -> Result<Option<Vec<u8>>, DbError> {
        self.get_in(self.tables.txindex, txid)
    }

    /// The encoded basic block filter record of `block`, if any.
    pub fn get_filter(&self, block: &[u8; 32]) -> Result<Option<Vec<u8>>, DbError> {
        self.get_in(self.tables.filters, block)
    }

    /// The filter hash and header of `block` (64 bytes), if any.
    pub fn get_filter_ids(&self, block: &[u8; 32]) -> Result<Option<Vec<u8>>, DbError> {
        self.get_in(self.tables.filter_ids, block)
    }

    /// Fills the filter id table of an index written before it existed (each record's ids from
    /// `ids_of`, `None` for a corrupt record), in chunks; returns how many records it filled.
    /// Nothing to do (one length comparison) once both tables hold the same blocks.
    pub fn backfill_filter_ids(&self, ids_of: impl Fn(&[u8]) -> Option<[u8; 64]>) -> Result<u64, DbError> {
        let t = self.tables;
        let mut filled = 0u64;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let r = self.read_txn()?;
            if after.is_none() && t.filters.len(&r).map_err(|e| self.err(e))? == t.filter_ids.len(&r).map_err(|e| self.err(e))? {
                return Ok(0);
            }
            let iter = match &after {
                Some(k) => t
                    .filters
                    .range(&r, &(std::ops::Bound::Excluded(k.as_slice()), std::ops::Bound::Unbounded)),
                None => t.filters.range(&r, &(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)),
            }
            .map_err(|e| self.err(e))?;
            let mut missing = Vec::new();
            let mut last = None;
            for item in iter.take(BACKFILL_CHUNK) {
                let (k, v) = item.map_err(|e| self.err(e))?;
                last = Some(k.to_vec());
                if t.filter_ids.get(&r, k).map_err(|e| self.err(e))?.is_none() {
                    let id = ids_of(v).ok_or_else(|| DbError::Corrupt {
                        path: self.path.clone(),
                        what: "block filter record".into(),
                    })?;
                    missing.push((k.to_vec(), id));
                }
            }
            drop(r);
            if !missing.is_empty() {
                let mut w = self.write_txn()?;
                for (k, id) in &missing {
                    t.filter_ids.put(&mut w, k, id).map_err(|e| self.err(e))?;
                }
                w.commit().map_err(|e| self.err(e))?;
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

    /// Compacts the database file (maintenance): writes a copy without free pages, then swaps it
    /// in for the data file; returns whether the file shrank. Fails, changing nothing, while a
    /// [`CoinReader`] is alive (the environment cannot close under it).
    pub fn compact(&mut self) -> Result<bool, DbError> {
        if std::sync::Arc::strong_count(&self.readers) > 1 {
            return Err(self.err("compaction: coin read snapshots still open"));
        }
        let copy = self.dir.join(COMPACT_FILE);
        let file = self
            .env()?
            .copy_to_path(&copy, CompactionOption::Enabled)
            .map_err(|e| self.err(e))?;
        file.sync_all().map_err(|e| self.err(e))?;
        let after = file.metadata().map_err(|e| self.err(e))?.len();
        drop(file);
        let before = std::fs::metadata(&self.path).map_err(|e| self.err(e))?.len();
        if after >= before {
            std::fs::remove_file(&copy).map_err(|e| self.err(e))?;
            return Ok(false);
        }
        let Some(env) = self.env.take() else {
            return Err(self.env().err().unwrap_or_else(|| self.err("no environment")));
        };
        // No reader holds a clone of the environment (`&mut self`, no CoinReader): it closes now.
        env.prepare_for_closing().wait();
        std::fs::rename(&copy, &self.path).map_err(|e| self.err(e))?;
        std::fs::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| self.err(e))?;
        let (env, tables) = open_env(&self.dir, &self.path)?;
        self.env = Some(env);
        self.tables = tables;
        Ok(true)
    }
}

/// Applies per-coin changes to the chunk records of the coins table: consecutive changes of one
/// chunk are merged into one read-modify-write (the stored chunk read in the write transaction,
/// changed, put back or deleted when empty). Changes arrive in key order, or in a few sorted
/// runs (a kept frozen generation, then the live one): a chunk met again later is read again,
/// with the earlier run's write in it, so any order gives the same result.
pub(super) struct ChunkWriter<'d> {
    db: &'d ChainDb,
    table: Database<Bytes, Bytes>,
    /// The chunk being changed, if any.
    key: Option<[u8; 36]>,
    edit: ChunkEdit,
    /// Whether the chunk had a record when loaded (an emptied chunk then needs a delete).
    stored: bool,
    buf: Vec<u8>,
    /// Chunk records written or deleted (`-debug=store`).
    written: usize,
}

impl<'d> ChunkWriter<'d> {
    pub(super) fn new(db: &'d ChainDb, table: Database<Bytes, Bytes>) -> Self {
        ChunkWriter {
            db,
            table,
            key: None,
            edit: ChunkEdit::default(),
            stored: false,
            buf: Vec::new(),
            written: 0,
        }
    }

    /// One coin change: `Some` puts the encoded coin at the outpoint key `k`, `None` removes it.
    pub(super) fn change(&mut self, w: &mut RwTxn<'_>, k: &[u8; 36], v: Option<&[u8]>) -> Result<(), DbError> {
        let (chunk, slot) = chunk_key(k);
        if self.key != Some(chunk) {
            self.finish(w)?;
            let stored = self.table.get(w, &chunk).map_err(|e| self.db.write_err(e))?;
            self.stored = stored.is_some();
            self.edit.load(stored).map_err(|e| self.db.corrupt(e))?;
            self.key = Some(chunk);
        }
        self.edit.set(slot, v);
        Ok(())
    }

    /// Writes the chunk being changed, if any.
    pub(super) fn finish(&mut self, w: &mut RwTxn<'_>) -> Result<(), DbError> {
        let Some(key) = self.key.take() else { return Ok(()) };
        let e = |e| self.db.write_err(e);
        if !self.edit.is_empty() {
            self.edit.encode(&mut self.buf);
            self.table.put(w, &key, &self.buf).map_err(e)?;
        } else if self.stored {
            self.table.delete(w, &key).map_err(e)?;
        } else {
            return Ok(());
        }
        self.written += 1;
        Ok(())
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
        let err = |e: heed::Error| store_err(&self.path, e);
        let mut coins: Vec<([u8; 36], &[u8])> = Vec::with_capacity(super::coin_chunk::CHUNK_COINS);
        for item in self.coins.iter(&self.txn).map_err(err)? {
            let (k, v) = item.map_err(err)?;
            coins.clear();
            for_each_in(v, |slot, coin| {
                coins.push((coin_key(k, slot)?, coin));
                Ok(())
            })
            .map_err(|e| self.corrupt(e))?;
            for (key, coin) in &coins {
                f(key, coin)?;
            }
        }
        Ok(())
    }

    fn corrupt(&self, e: DecodeError) -> DbError {
        DbError::Corrupt {
            path: self.path.clone(),
            what: e.to_string(),
        }
    }

    /// Whether any coin of the transaction `txid` is in this snapshot: one B-tree seek to the
    /// first key at or after `txid`'s first output, where looking up each output would take one
    /// per output (BIP30's check of a block's new outputs, which are almost always absent).
    pub fn has_txid(&self, txid: &[u8; 32]) -> Result<bool, DbError> {
        let mut first = [0u8; 36];
        first[..32].copy_from_slice(txid);
        let found = self
            .coins
            .get_greater_than_or_equal_to(&self.txn, first.as_slice())
            .map_err(|e| store_err(&self.path, e))?;
        Ok(found.is_some_and(|(k, _)| k.starts_with(txid)))
    }

    /// Looks up the encoded coin for an outpoint key (read out of its chunk record).
    pub fn get(&self, key: &[u8; 36]) -> Result<Option<Vec<u8>>, DbError> {
        let (chunk, slot) = chunk_key(key);
        let Some(v) = self.coins.get(&self.txn, &chunk).map_err(|e| store_err(&self.path, e))? else {
            return Ok(None);
        };
        let coin = coin_in(v, slot).map_err(|e| self.corrupt(e))?;
        Ok(coin.map(<[u8]>::to_vec))
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
        let db = ChainDb::open(dir.path()).unwrap();
        let n = BACKFILL_CHUNK as u32 + 7;
        let key = |i: u32| {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_be_bytes());
            k
        };
        let mut w = db.write_txn().unwrap();
        for i in 0..n {
            db.tables
                .filters
                .put(&mut w, key(i).as_slice(), i.to_le_bytes().as_slice())
                .unwrap();
        }
        w.commit().unwrap();
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

    /// A read snapshot keeps seeing the coins of its moment while commits go on, from another
    /// thread too; compaction keeps every record and shrinks the file after deletions.
    #[test]
    fn snapshots_stay_consistent_and_compaction_keeps_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = ChainDb::open(dir.path()).unwrap();
        let key = |i: u32| {
            let mut k = [0u8; 36];
            k[..4].copy_from_slice(&i.to_be_bytes());
            k
        };
        let coin = |i: u32| {
            let mut v = Vec::new();
            crate::chainstate::coin::Coin {
                output: bitcoin::TxOut {
                    value: bitcoin::Amount::from_sat(u64::from(i % 256)),
                    script_pubkey: bitcoin::ScriptBuf::from_bytes(vec![i as u8; 40]),
                },
                height: i % 256,
                is_coinbase: false,
            }
            .encode(&mut v);
            v
        };
        let coins = (0..20_000u32).map(|i| (key(i), Some(coin(i)))).collect();
        db.commit(FlushBatch {
            coins,
            ..Default::default()
        })
        .unwrap();
        let reader = db.coin_reader().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                let coins = (0..19_000u32).map(|i| (key(i), None)).collect();
                db.commit(FlushBatch {
                    coins,
                    ..Default::default()
                })
                .unwrap();
            });
        });
        assert_eq!(reader.get(&key(5)).unwrap(), Some(coin(5)), "the snapshot predates the deletions");
        assert_eq!(db.coin_reader().unwrap().get(&key(5)).unwrap(), None);
        assert!(db.compact().is_err(), "a live snapshot blocks compaction");
        drop(reader);
        let before = std::fs::metadata(db.path()).unwrap().len();
        assert!(db.compact().unwrap());
        assert!(std::fs::metadata(db.path()).unwrap().len() < before);
        let mut n = 0;
        db.for_each_coin(|k, v| {
            assert_eq!(v, coin(u32::from_be_bytes(k[..4].try_into().unwrap())));
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 1_000);
    }
}

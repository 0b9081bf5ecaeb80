//! The database of an optional index kept apart from the chainstate (LMDB through heed, as
//! [`super::db::ChainDb`]), in Core's layout `<datadir>/<network>/indexes/<name>/db/`: per-block
//! records keyed by block hash and a few metadata records (the index's best block and state),
//! written together in one atomic commit. The coin statistics index (`-coinstatsindex`) uses it.

use super::db::{store_err, DbError, DATA_FILE};
use heed::types::Bytes;
use heed::{Database, Env, EnvOpenOptions, WithoutTls};
use std::path::{Path, PathBuf};

/// Address space reserved for the file (not disk): records are small, one per block.
const MAP_SIZE: usize = 1 << 36;
/// Concurrent read snapshots allowed.
const MAX_READERS: u32 = 126;

/// One atomic write: per-block records (upserts) and metadata records.
#[derive(Default)]
pub struct IndexBatch {
    /// Records keyed by block hash.
    pub records: Vec<([u8; 32], Vec<u8>)>,
    /// Metadata records (best block, running state).
    pub meta: Vec<(&'static str, Vec<u8>)>,
}

/// An index's own database.
pub struct IndexDb {
    env: Env<WithoutTls>,
    records: Database<Bytes, Bytes>,
    meta: Database<Bytes, Bytes>,
    path: PathBuf,
}

impl IndexDb {
    /// Opens or creates the database in `dir`; `wipe` first removes what is there (Core's
    /// `-reindex` rebuilds the indexes from scratch).
    pub fn open(dir: &Path, wipe: bool) -> Result<Self, DbError> {
        let path = dir.join(DATA_FILE);
        if wipe && dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| store_err(&path, e))?;
        }
        std::fs::create_dir_all(dir).map_err(|e| store_err(&path, e))?;
        let mut opts = EnvOpenOptions::new().read_txn_without_tls();
        opts.map_size(MAP_SIZE).max_dbs(2).max_readers(MAX_READERS);
        // SAFETY: the map is only modified through LMDB; the node's datadir lock keeps other
        // nodes out of the directory.
        let env = unsafe { opts.open(dir) }.map_err(|e| store_err(&path, e))?;
        let mut w = env.write_txn().map_err(|e| store_err(&path, e))?;
        let records = env
            .create_database::<Bytes, Bytes>(&mut w, Some("records"))
            .map_err(|e| store_err(&path, e))?;
        let meta = env
            .create_database::<Bytes, Bytes>(&mut w, Some("meta"))
            .map_err(|e| store_err(&path, e))?;
        w.commit().map_err(|e| store_err(&path, e))?;
        Ok(IndexDb { env, records, meta, path })
    }

    fn get_in(&self, table: Database<Bytes, Bytes>, key: &[u8]) -> Result<Option<Vec<u8>>, DbError> {
        let r = self.env.read_txn().map_err(|e| store_err(&self.path, e))?;
        let v = table.get(&r, key).map_err(|e| store_err(&self.path, e))?;
        Ok(v.map(<[u8]>::to_vec))
    }

    /// The record of block `hash`, if any.
    pub fn get(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>, DbError> {
        self.get_in(self.records, hash)
    }

    /// A metadata record.
    pub fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, DbError> {
        self.get_in(self.meta, key.as_bytes())
    }

    /// Writes a batch atomically and durably.
    pub fn commit(&self, batch: &IndexBatch) -> Result<(), DbError> {
        let e = |e| store_err(&self.path, e);
        let mut w = self.env.write_txn().map_err(e)?;
        for (k, v) in &batch.records {
            self.records.put(&mut w, k, v).map_err(e)?;
        }
        for (k, v) in &batch.meta {
            self.meta.put(&mut w, k.as_bytes(), v).map_err(e)?;
        }
        w.commit().map_err(e)
    }

    /// Path of the data file, for error messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_meta_survive_reopen_and_wipe_clears_them() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("indexes").join("coinstatsindex").join("db");
        {
            let db = IndexDb::open(&d, false).unwrap();
            db.commit(&IndexBatch {
                records: vec![([1; 32], vec![7, 8])],
                meta: vec![("best", vec![9])],
            })
            .unwrap();
        }
        let db = IndexDb::open(&d, false).unwrap();
        assert_eq!(db.get(&[1; 32]).unwrap(), Some(vec![7, 8]));
        assert_eq!(db.get(&[2; 32]).unwrap(), None);
        assert_eq!(db.get_meta("best").unwrap(), Some(vec![9]));
        drop(db);
        let db = IndexDb::open(&d, true).unwrap();
        assert_eq!(db.get(&[1; 32]).unwrap(), None);
        assert_eq!(db.get_meta("best").unwrap(), None);
    }
}

//! Converts the `chain.redb` file of earlier versions into the LMDB store, when the database
//! opens: every table copied in bounded chunks, then the old file deleted. Its per-outpoint
//! coins land in the `coins` table, which [`super::coin_format`] converts next.
//!
//! Crash safety: the copy first empties the new store and sets a marker record, and the marker
//! is removed in the last commit; `chain.redb` is deleted only after that. A restart that still
//! finds `chain.redb` redoes the whole copy, so an interrupted one leaves nothing behind.

use super::db::{store_err, ChainDb, DbError, TABLE_NAMES};
use heed::types::Bytes;
use heed::Database;
use redb::{ReadTransaction, ReadableTable, TableDefinition};
use std::path::Path;

/// The database file written by earlier versions, in the same directory.
pub const OLD_FILE: &str = "chain.redb";
/// Meta record present while a copy is under way (never in a finished store).
const MARKER: &str = "migrating_from_redb";
/// Records per write transaction of the copy (bounds the memory it holds).
const CHUNK: usize = 50_000;

/// Converts `<dir>/chain.redb` into `db` if it exists; returns how many records were copied.
pub(super) fn from_redb(db: &ChainDb) -> Result<u64, DbError> {
    let old = db.dir().join(OLD_FILE);
    let t = db.tables();
    if !old.exists() {
        let r = db.env()?.read_txn().map_err(|e| store_err(db.path(), e))?;
        if t.meta.get(&r, MARKER.as_bytes()).map_err(|e| store_err(db.path(), e))?.is_some() {
            return Err(DbError::Corrupt {
                path: db.path().to_path_buf(),
                what: format!("conversion from {OLD_FILE} was interrupted and {OLD_FILE} is gone"),
            });
        }
        return Ok(0);
    }
    tracing::info!(from = %old.display(), to = %db.path().display(), "converting the database of an earlier version");
    let mut w = db.write_txn()?;
    for table in t.all().into_iter().chain([t.coins]) {
        table.clear(&mut w).map_err(|e| store_err(db.path(), e))?;
    }
    t.meta.put(&mut w, MARKER.as_bytes(), &[]).map_err(|e| store_err(db.path(), e))?;
    w.commit().map_err(|e| store_err(db.path(), e))?;

    let redb = redb::Database::open(&old).map_err(|e| store_err(&old, e))?;
    let r = redb.begin_read().map_err(|e| store_err(&old, e))?;
    let mut copied = 0;
    for (name, to) in TABLE_NAMES.into_iter().zip(t.all()) {
        let n = if name == "meta" {
            copy_table::<&str>(db, &old, &r, name, to)?
        } else {
            copy_table::<&[u8]>(db, &old, &r, name, to)?
        };
        tracing::info!(table = name, records = n, "converted");
        copied += n;
    }
    drop((r, redb));

    let mut w = db.write_txn()?;
    t.meta.delete(&mut w, MARKER.as_bytes()).map_err(|e| store_err(db.path(), e))?;
    w.commit().map_err(|e| store_err(db.path(), e))?;
    std::fs::remove_file(&old).map_err(|e| store_err(&old, e))?;
    std::fs::File::open(db.dir())
        .and_then(|d| d.sync_all())
        .map_err(|e| store_err(db.path(), e))?;
    tracing::info!(records = copied, "database converted; {OLD_FILE} deleted");
    Ok(copied)
}

/// Copies one redb table (absent in files older than the table: nothing to copy) into `to`.
fn copy_table<K>(db: &ChainDb, old: &Path, r: &ReadTransaction, name: &str, to: Database<Bytes, Bytes>) -> Result<u64, DbError>
where
    K: redb::Key + 'static,
    for<'a> K::SelfType<'a>: AsRef<[u8]>,
{
    let def: TableDefinition<K, &[u8]> = TableDefinition::new(name);
    let table = match r.open_table(def) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(store_err(old, e)),
    };
    let mut chunk: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(CHUNK);
    let mut n = 0u64;
    let flush = |chunk: &mut Vec<(Vec<u8>, Vec<u8>)>| -> Result<(), DbError> {
        let mut w = db.write_txn()?;
        for (k, v) in chunk.drain(..) {
            to.put(&mut w, &k, &v).map_err(|e| store_err(db.path(), e))?;
        }
        w.commit().map_err(|e| store_err(db.path(), e))
    };
    for item in table.iter().map_err(|e| store_err(old, e))? {
        let (k, v) = item.map_err(|e| store_err(old, e))?;
        chunk.push((k.value().as_ref().to_vec(), v.value().to_vec()));
        n += 1;
        if chunk.len() == CHUNK {
            flush(&mut chunk)?;
        }
    }
    flush(&mut chunk)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::FlushBatch;

    fn key32(i: u32) -> [u8; 32] {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_be_bytes());
        k
    }

    fn key36(i: u32) -> [u8; 36] {
        let mut k = [0u8; 36];
        k[..4].copy_from_slice(&i.to_be_bytes());
        k
    }

    /// The encoded coin stored for test coin `i`.
    fn coin(i: u32) -> Vec<u8> {
        let c = crate::chainstate::coin::Coin {
            output: bitcoin::TxOut {
                value: bitcoin::Amount::from_sat(u64::from(i)),
                script_pubkey: bitcoin::ScriptBuf::from_bytes(vec![0x51]),
            },
            height: i,
            is_coinbase: false,
        };
        let mut v = Vec::new();
        c.encode(&mut v);
        v
    }

    /// Writes an old-format `chain.redb` (tables as earlier versions defined them) holding
    /// `coins` coins and a few records in every other table.
    fn write_old_file(path: &Path, coins: u32) {
        let db = redb::Database::create(path).unwrap();
        let w = db.begin_write().unwrap();
        {
            let bytes = |name| TableDefinition::<&[u8], &[u8]>::new(name);
            let mut t = w.open_table(bytes("coins")).unwrap();
            for i in 0..coins {
                t.insert(key36(i).as_slice(), coin(i).as_slice()).unwrap();
            }
            for (name, len) in [
                ("block_index", 80),
                ("txindex", 12),
                ("blockfilter_basic", 300),
                ("blockfilter_basic_ids", 64),
            ] {
                let mut t = w.open_table(bytes(name)).unwrap();
                for i in 0..5u32 {
                    t.insert(key32(i).as_slice(), vec![i as u8; len].as_slice()).unwrap();
                }
            }
            let mut m = w.open_table(TableDefinition::<&str, &[u8]>::new("meta")).unwrap();
            m.insert("best_block", key32(4).as_slice()).unwrap();
            m.insert("scan_pos", [7u8; 8].as_slice()).unwrap();
        }
        w.commit().unwrap();
    }

    /// Every record of every table arrives (coins over more than one chunk), the old file is
    /// deleted, and the store works and reopens afterwards.
    #[test]
    fn converts_every_table_and_deletes_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let coins = CHUNK as u32 + 11;
        write_old_file(&dir.path().join(OLD_FILE), coins);
        let db = ChainDb::open(dir.path()).unwrap();
        assert!(!dir.path().join(OLD_FILE).exists());
        let mut n = 0u32;
        db.for_each_coin(|k, v| {
            assert_eq!(k, key36(n).as_slice());
            assert_eq!(v, coin(n).as_slice());
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, coins);
        let index = db.load_index().unwrap();
        assert_eq!(index.len(), 5);
        assert_eq!(index[4], (key32(4), vec![4; 80]));
        assert_eq!(db.get_txindex(&key32(2)).unwrap(), Some(vec![2; 12]));
        assert_eq!(db.get_filter(&key32(3)).unwrap(), Some(vec![3; 300]));
        assert_eq!(db.get_filter_ids(&key32(1)).unwrap(), Some(vec![1; 64]));
        assert_eq!(db.get_meta("best_block").unwrap(), Some(key32(4).to_vec()));
        assert_eq!(db.get_meta("scan_pos").unwrap(), Some(vec![7; 8]));
        assert_eq!(db.get_meta(MARKER).unwrap(), None);
        db.commit(FlushBatch {
            meta: vec![("scan_pos", vec![8; 8])],
            ..Default::default()
        })
        .unwrap();
        drop(db);
        let db = ChainDb::open(dir.path()).unwrap();
        assert_eq!(db.get_meta("scan_pos").unwrap(), Some(vec![8; 8]));
        assert_eq!(db.coin_reader().unwrap().get(&key36(coins - 1)).unwrap(), Some(coin(coins - 1)));
    }

    /// A conversion interrupted part-way (marker set, some records copied, a record the old file
    /// does not hold) is redone from scratch on the next open; a marker without the old file is
    /// reported as corruption instead of opening a partial store.
    #[test]
    fn an_interrupted_conversion_is_redone() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = ChainDb::open(dir.path()).unwrap();
            db.commit(FlushBatch {
                coins: vec![(key36(999_999), Some(coin(1))), (key36(0), Some(coin(0xee)))],
                meta: vec![(MARKER, vec![])],
                ..Default::default()
            })
            .unwrap();
        }
        write_old_file(&dir.path().join(OLD_FILE), 10);
        let db = ChainDb::open(dir.path()).unwrap();
        let r = db.coin_reader().unwrap();
        assert_eq!(r.get(&key36(999_999)).unwrap(), None, "partial copy discarded");
        assert_eq!(r.get(&key36(0)).unwrap(), Some(coin(0)));
        drop((r, db));

        let other = tempfile::tempdir().unwrap();
        let db = ChainDb::open(other.path()).unwrap();
        db.commit(FlushBatch {
            meta: vec![(MARKER, vec![])],
            ..Default::default()
        })
        .unwrap();
        drop(db);
        let e = ChainDb::open(other.path()).err().expect("a half-converted store does not open");
        assert!(e.to_string().contains("interrupted"), "{e}");
    }
}

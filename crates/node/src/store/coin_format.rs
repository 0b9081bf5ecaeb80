//! The coins table's format, recorded in the meta table (`coins_format`), and the conversion at
//! open of a store written by earlier versions (one record per outpoint in the `coins` table)
//! into chunk records (`coin_chunks`, see [`super::coin_chunk`]).
//!
//! Crash safety: each commit of the conversion moves a key range: its per-outpoint records are
//! merged into their chunks and deleted from `coins` in the same transaction, so after a kill
//! every coin is in exactly one of the two tables and the next open goes on from where the last
//! commit stopped. The format record is written in the commit that empties `coins`. Memory is
//! bounded by [`BATCH`] records per commit.

use super::coin_chunk::FORMAT;
use super::db::{store_err, ChainDb, ChunkWriter, DbError};

/// Meta record naming the coins table's format ([`FORMAT`]).
pub const META_COINS_FORMAT: &str = "coins_format";
/// Per-outpoint records moved per commit of the conversion (small in tests, to cross batches).
const BATCH: usize = if cfg!(test) { 1_000 } else { 200_000 };
/// Records between two progress lines in the log.
const PROGRESS_EVERY: u64 = 2_000_000;

/// Records the format in a new store, refuses a store of an unknown format, and converts the
/// per-outpoint records of an earlier version; returns how many coins were converted.
pub(super) fn convert(db: &ChainDb) -> Result<u64, DbError> {
    let t = db.tables();
    let err = |e| store_err(db.path(), e);
    let (format, total) = {
        let r = db.env()?.read_txn().map_err(err)?;
        let format = t.meta.get(&r, META_COINS_FORMAT.as_bytes()).map_err(err)?.map(<[u8]>::to_vec);
        (format, t.per_coin.len(&r).map_err(err)?)
    };
    if let Some(f) = format.as_deref().filter(|f| *f != FORMAT) {
        return Err(DbError::Corrupt {
            path: db.path().to_path_buf(),
            what: format!(
                "coins table format {:?} is not {:?} (written by another version; start with -reindex-chainstate)",
                String::from_utf8_lossy(f),
                String::from_utf8_lossy(FORMAT)
            ),
        });
    }
    if total == 0 {
        if format.is_none() {
            let mut w = db.write_txn()?;
            t.meta.put(&mut w, META_COINS_FORMAT.as_bytes(), FORMAT).map_err(err)?;
            w.commit().map_err(err)?;
        }
        return Ok(0);
    }
    tracing::info!(
        coins = total,
        "converting the UTXO set of an earlier version to coins grouped by transaction"
    );
    let mut moved = 0u64;
    loop {
        let mut w = db.write_txn()?;
        let batch: Vec<(Vec<u8>, Vec<u8>)> = t
            .per_coin
            .iter(&w)
            .map_err(err)?
            .take(BATCH)
            .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .collect::<Result<_, _>>()
            .map_err(err)?;
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            break;
        };
        let range = (
            std::ops::Bound::Included(first.0.clone()),
            std::ops::Bound::Included(last.0.clone()),
        );
        let mut chunks = ChunkWriter::new(db, t.coins);
        for (k, v) in &batch {
            let key: &[u8; 36] = k.as_slice().try_into().map_err(|_| DbError::Corrupt {
                path: db.path().to_path_buf(),
                what: format!("coin key of {} bytes", k.len()),
            })?;
            // Checks the record is a coin before it enters a chunk (the chunk's parser needs it).
            if super::coin_chunk::coin_len(v).map_err(|e| db.corrupt(e))? != v.len() {
                return Err(db.corrupt(super::encoding::DecodeError("coin record length")));
            }
            chunks.change(&mut w, key, Some(v))?;
        }
        chunks.finish(&mut w)?;
        let bounds = (range.0.as_ref().map(Vec::as_slice), range.1.as_ref().map(Vec::as_slice));
        t.per_coin.delete_range(&mut w, &bounds).map_err(err)?;
        let done = t.per_coin.is_empty(&w).map_err(err)?;
        if done {
            t.meta.put(&mut w, META_COINS_FORMAT.as_bytes(), FORMAT).map_err(err)?;
        }
        w.commit().map_err(|e| db.write_err(e))?;
        let before = moved;
        moved += batch.len() as u64;
        if done {
            break;
        }
        if moved / PROGRESS_EVERY != before / PROGRESS_EVERY {
            tracing::info!(coins = moved, of = total, "converting the UTXO set");
        }
    }
    tracing::info!(coins = moved, "UTXO set converted to coins grouped by transaction");
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chainstate::coin::{for_each_utxo, outpoint_key, Coin};
    use crate::store::db::{CoinPut, FlushBatch, SortedCoinWrites};
    use bitcoin::hashes::Hash;
    use bitcoin::{OutPoint, Txid};

    fn op(t: u8, vout: u32) -> OutPoint {
        OutPoint {
            txid: Txid::from_byte_array([t; 32]),
            vout,
        }
    }

    fn coin(n: u32) -> Vec<u8> {
        let mut v = Vec::new();
        Coin {
            output: bitcoin::TxOut {
                value: bitcoin::Amount::from_sat(u64::from(n)),
                script_pubkey: bitcoin::ScriptBuf::from_bytes(vec![0x51; (n % 7) as usize]),
            },
            height: n,
            is_coinbase: false,
        }
        .encode(&mut v);
        v
    }

    /// Per-coin changes as a write source of several sorted runs (a kept frozen generation,
    /// then the live one).
    struct Runs(Vec<Vec<(OutPoint, Option<u32>)>>);

    impl SortedCoinWrites for Runs {
        fn write_sorted(&self, put: &mut CoinPut<'_>) -> Result<(), DbError> {
            for run in &self.0 {
                for (o, c) in run {
                    put(&outpoint_key(o), c.map(coin).as_deref())?;
                }
            }
            Ok(())
        }
    }

    fn commit(db: &ChainDb, runs: Vec<Vec<(OutPoint, Option<u32>)>>) {
        db.commit(FlushBatch {
            coin_source: Some(Box::new(Runs(runs))),
            ..Default::default()
        })
        .unwrap();
    }

    /// Every coin as the readers see it, in Core's cursor order, and the chunk record count.
    fn contents(db: &ChainDb) -> (Vec<(OutPoint, u32)>, u64) {
        let mut seen = Vec::new();
        for_each_utxo(db, |o, c| {
            seen.push((o, c.height));
            Ok(())
        })
        .unwrap();
        let r = db.env().unwrap().read_txn().unwrap();
        (seen, db.tables().coins.len(&r).unwrap())
    }

    /// Coins added and spent in one chunk across commits are merged into it; an emptied chunk is
    /// deleted (a txid without coins has no record); two sorted runs touching the same chunk
    /// give what two commits would; vouts above 16,511 come in Core's cursor order.
    #[test]
    fn changes_merge_into_chunks_across_commits() {
        let dir = tempfile::tempdir().unwrap();
        let db = ChainDb::open(dir.path()).unwrap();
        let a: Vec<_> = (0..20).map(|v| (op(1, v), Some(v))).collect();
        commit(&db, vec![a, vec![(op(2, 16_511), Some(100)), (op(2, 16_512), Some(101))]]);
        let (seen, chunks) = contents(&db);
        assert_eq!(seen.len(), 22);
        assert_eq!(chunks, 2 + 2, "txid 1: vouts 0-15 and 16-19; txid 2: chunks 1,031 and 1,032");
        // Spend two coins of txid 1 (one per chunk), add one, in a frozen run, then the live run
        // spends what the frozen one added and adds to txid 2's chunk.
        commit(
            &db,
            vec![
                vec![(op(1, 3), None), (op(1, 17), None), (op(1, 21), Some(21))],
                vec![(op(1, 21), None), (op(2, 16_513), Some(102))],
            ],
        );
        let r = db.coin_reader().unwrap();
        assert_eq!(r.get(&outpoint_key(&op(1, 3))).unwrap(), None);
        assert_eq!(r.get(&outpoint_key(&op(1, 21))).unwrap(), None);
        assert_eq!(r.get(&outpoint_key(&op(1, 4))).unwrap(), Some(coin(4)));
        assert_eq!(r.get(&outpoint_key(&op(2, 16_513))).unwrap(), Some(coin(102)));
        drop(r);
        // Empty txid 1's second chunk and all of txid 2.
        let mut gone: Vec<_> = [16, 18, 19].map(|v| (op(1, v), None)).to_vec();
        gone.extend([16_511, 16_512, 16_513].map(|v| (op(2, v), None)));
        commit(&db, vec![gone]);
        let (seen, chunks) = contents(&db);
        let want: Vec<_> = (0..16).filter(|v| *v != 3).map(|v| (op(1, v), v)).collect();
        assert_eq!(seen, want);
        assert_eq!(chunks, 1, "emptied chunks are deleted");
        let r = db.coin_reader().unwrap();
        assert!(r.has_txid(&[1; 32]).unwrap());
        assert!(!r.has_txid(&[2; 32]).unwrap());
        drop(r);
        commit(
            &db,
            vec![vec![(op(2, 16_511), Some(1)), (op(2, 16_512), Some(2)), (op(2, 0), Some(3))]],
        );
        let (seen, _) = contents(&db);
        assert_eq!(&seen[15..], &[(op(2, 0), 3), (op(2, 16_512), 2), (op(2, 16_511), 1)]);
    }

    /// Writes `coins` as an earlier version stored them (one record per outpoint) and removes
    /// the format record.
    fn write_per_coin(db: &ChainDb, coins: &[(OutPoint, u32)]) {
        let t = db.tables();
        let mut w = db.write_txn().unwrap();
        for (o, n) in coins {
            t.per_coin.put(&mut w, &outpoint_key(o), &coin(*n)).unwrap();
        }
        t.meta.delete(&mut w, META_COINS_FORMAT.as_bytes()).unwrap();
        w.commit().unwrap();
    }

    /// A store of per-outpoint records (more than one conversion batch, a transaction's coins
    /// across a batch boundary) opens with the same coins in the same order, the old table
    /// empty and the format recorded; a conversion cut short (part of a chunk already moved)
    /// completes on the next open; an unknown format is refused.
    #[test]
    fn per_coin_records_are_converted_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let coins: Vec<_> = (0..2_500u32).map(|i| (op((i / 300) as u8, i % 300), i)).collect();
        {
            let db = ChainDb::open(dir.path()).unwrap();
            write_per_coin(&db, &coins);
        }
        let db = ChainDb::open(dir.path()).unwrap();
        assert_eq!(contents(&db).0, coins);
        assert_eq!(db.get_meta(META_COINS_FORMAT).unwrap().as_deref(), Some(FORMAT));
        let r = db.env().unwrap().read_txn().unwrap();
        assert!(db.tables().per_coin.is_empty(&r).unwrap());
        drop(r);
        // Interrupted: slots 0-4 of a chunk were moved, 5-9 and another txid were not.
        let rest: Vec<_> = (5..10).map(|v| (op(200, v), v)).chain([(op(201, 1), 7)]).collect();
        commit(&db, vec![(0..5).map(|v| (op(200, v), Some(v))).collect()]);
        write_per_coin(&db, &rest);
        drop(db);
        let db = ChainDb::open(dir.path()).unwrap();
        let (seen, _) = contents(&db);
        assert_eq!(seen.len(), coins.len() + 11);
        assert_eq!(
            &seen[coins.len()..],
            &(0..10).map(|v| (op(200, v), v)).chain([(op(201, 1), 7)]).collect::<Vec<_>>()[..]
        );
        db.commit(FlushBatch {
            meta: vec![(META_COINS_FORMAT, b"txid-chunk8-v9".to_vec())],
            ..Default::default()
        })
        .unwrap();
        drop(db);
        let e = ChainDb::open(dir.path()).err().expect("an unknown format is refused");
        assert!(e.to_string().contains("-reindex-chainstate"), "{e}");
    }
}

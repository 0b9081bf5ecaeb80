//! Converting an earlier version's database, on the real binary: a datadir whose chainstate is a
//! `chain.redb` (the file versions before the LMDB store wrote, tables as they defined them)
//! starts at the same tip with the same UTXO set, transaction index and block filters, and
//! `chain.redb` is gone afterwards; an LMDB store whose coins are one record per outpoint (the
//! layout before coins were grouped by transaction) starts with the same UTXO set hash.

mod support;

use blvm_node::store::coin_chunk::{coin_key, for_each_in};
use blvm_node::store::db::{COIN_CHUNKS_TABLE, TABLE_NAMES as TABLES};
use heed::types::Bytes;
use heed::{Database, EnvOpenOptions};
use redb::TableDefinition;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use support::{http, node_proc, p2p_peer::rpc};

/// The store's coins as earlier versions stored them: one (outpoint key, coin) per record, from
/// the chunk records of this version, in key order.
fn per_coin_records(env: &heed::Env, r: &heed::RoTxn) -> Vec<(Vec<u8>, Vec<u8>)> {
    let chunks: Database<Bytes, Bytes> = env.open_database(r, Some(COIN_CHUNKS_TABLE)).unwrap().unwrap();
    let mut out = Vec::new();
    for item in chunks.iter(r).unwrap() {
        let (k, v) = item.unwrap();
        for_each_in(v, |slot, coin| {
            out.push((coin_key(k, slot)?.to_vec(), coin.to_vec()));
            Ok(())
        })
        .unwrap();
    }
    out
}

/// Opens the node's LMDB store in `chainstate` directly (the node has exited).
fn open_env(chainstate: &Path) -> heed::Env {
    let mut opts = EnvOpenOptions::new();
    opts.max_dbs(TABLES.len() as u32 + 1).map_size(1 << 30);
    // SAFETY: the node has exited; nothing else opens this directory.
    unsafe { opts.open(chainstate) }.unwrap()
}

/// Rewrites the LMDB store's coins in `chainstate` one record per outpoint in the `coins` table
/// and drops the format record, as the version before coins were grouped left its store;
/// returns the number of coins.
fn downgrade_to_per_coin(chainstate: &Path) -> usize {
    let env = open_env(chainstate);
    let mut w = env.write_txn().unwrap();
    let coins = per_coin_records(&env, &w);
    let chunks: Database<Bytes, Bytes> = env.open_database(&w, Some(COIN_CHUNKS_TABLE)).unwrap().unwrap();
    let old: Database<Bytes, Bytes> = env.open_database(&w, Some("coins")).unwrap().unwrap();
    let meta: Database<Bytes, Bytes> = env.open_database(&w, Some("meta")).unwrap().unwrap();
    chunks.clear(&mut w).unwrap();
    for (k, v) in &coins {
        old.put(&mut w, k, v).unwrap();
    }
    assert!(meta.delete(&mut w, b"coins_format").unwrap());
    w.commit().unwrap();
    coins.len()
}

/// Rewrites the LMDB store in `chainstate` as an old-format `chain.redb` and deletes the LMDB
/// files; returns the record count of each table.
fn downgrade_to_redb(chainstate: &Path) -> Vec<u64> {
    let mut counts = Vec::new();
    {
        let env = open_env(chainstate);
        let r = env.read_txn().unwrap();
        let old = redb::Database::create(chainstate.join("chain.redb")).unwrap();
        let w = old.begin_write().unwrap();
        for name in TABLES {
            let db: Database<Bytes, Bytes> = env.open_database(&r, Some(name)).unwrap().unwrap();
            let mut n = 0;
            if name == "coins" {
                let mut t = w.open_table(TableDefinition::<&[u8], &[u8]>::new(name)).unwrap();
                for (k, v) in per_coin_records(&env, &r) {
                    t.insert(k.as_slice(), v.as_slice()).unwrap();
                    n += 1;
                }
            } else if name == "meta" {
                let mut t = w.open_table(TableDefinition::<&str, &[u8]>::new(name)).unwrap();
                for item in db.iter(&r).unwrap() {
                    let (k, v) = item.unwrap();
                    t.insert(std::str::from_utf8(k).unwrap(), v).unwrap();
                    n += 1;
                }
            } else {
                let mut t = w.open_table(TableDefinition::<&[u8], &[u8]>::new(name)).unwrap();
                for item in db.iter(&r).unwrap() {
                    let (k, v) = item.unwrap();
                    t.insert(k, v).unwrap();
                    n += 1;
                }
            }
            counts.push(n);
        }
        w.commit().unwrap();
    }
    std::fs::remove_file(chainstate.join("data.mdb")).unwrap();
    std::fs::remove_file(chainstate.join("lock.mdb")).unwrap();
    counts
}

/// What the node answers about its chain, UTXO set and indexes (the set's statistics without
/// `disk_size`: a freshly written file differs in size).
fn answers(n: &node_proc::NodeProc, port: u16, tx: &str, block: &str) -> Vec<Value> {
    let mut stats = rpc(n, port, "gettxoutsetinfo", json!(["hash_serialized_3"]));
    stats.as_object_mut().unwrap().remove("disk_size");
    vec![
        rpc(n, port, "getbestblockhash", json!([])),
        stats,
        rpc(n, port, "getrawtransaction", json!([tx, 1]))["blockhash"].clone(),
        rpc(n, port, "getblockfilter", json!([block])),
    ]
}

fn start(datadir: &Path) -> (node_proc::NodeProc, u16) {
    let port = http::free_port();
    let args = [
        format!("-rpcport={port}"),
        "-listen=0".into(),
        "-txindex".into(),
        "-blockfilterindex=1".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let n = node_proc::start_node_in(datadir, &args, &[]);
    n.wait_started();
    (n, port)
}

fn wait_indexes(n: &node_proc::NodeProc, port: u16) {
    n.wait_until(Duration::from_secs(60), "indexes synced", |n| {
        let info = rpc(n, port, "getindexinfo", json!([]));
        info.as_object()
            .is_some_and(|o| o.len() == 2 && o.values().all(|i| i["synced"] == json!(true)))
    });
}

/// Mines 120 blocks with indexes on a node in `datadir` and stops it; returns a coinbase txid,
/// its block and the node's [`answers`] about them.
fn mine_and_stop(datadir: &Path) -> (String, String, Vec<Value>) {
    let (mut n, port) = start(datadir);
    let addr = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
    let mined = rpc(&n, port, "generatetoaddress", json!([120, addr]));
    let block = mined[50].as_str().unwrap().to_string();
    let tx = rpc(&n, port, "getblock", json!([block, 1]))["tx"][0].as_str().unwrap().to_string();
    wait_indexes(&n, port);
    let before = answers(&n, port, &tx, &block);
    assert!(n.stop(Duration::from_secs(30)).0.success(), "{}", n.run_log());
    (tx, block, before)
}

/// Starts the node in `datadir` again: it gives the same `answers` as `before` and its log says
/// `converted` (what the conversion logs when done).
fn restart_with_the_same_answers(datadir: &Path, tx: &str, block: &str, before: &[Value], converted: &str) {
    let (mut n, port) = start(datadir);
    wait_indexes(&n, port);
    assert_eq!(answers(&n, port, tx, block), before);
    assert!(n.log().contains(converted), "{}", n.log());
    assert!(n.stop(Duration::from_secs(30)).0.success(), "{}", n.run_log());
}

#[test]
fn a_chain_redb_datadir_is_converted_on_start_with_every_record() {
    let datadir = tempfile::tempdir().unwrap();
    let (tx, block, before) = mine_and_stop(datadir.path());

    let chainstate = datadir.path().join("regtest/chainstate");
    let counts = downgrade_to_redb(&chainstate);
    assert_eq!(counts[0], 121, "block index: genesis + 120");
    assert_eq!(json!(counts[1]), before[1]["txouts"], "the coins table is the UTXO set");
    assert!(
        counts[2] > 0 && counts[3] >= 120 && counts[4] >= 120 && counts[4] == counts[5],
        "{counts:?}"
    );
    assert!(!chainstate.join("data.mdb").exists());

    restart_with_the_same_answers(datadir.path(), &tx, &block, &before, "database converted");
    assert!(!chainstate.join("chain.redb").exists(), "the old file is deleted once converted");
    assert!(chainstate.join("data.mdb").is_file());
}

#[test]
fn a_per_coin_datadir_is_converted_on_start_with_the_same_utxo_hash() {
    let datadir = tempfile::tempdir().unwrap();
    let (tx, block, before) = mine_and_stop(datadir.path());

    let chainstate = datadir.path().join("regtest/chainstate");
    let coins = downgrade_to_per_coin(&chainstate);
    assert_eq!(json!(coins), before[1]["txouts"], "every coin rewritten per outpoint");

    restart_with_the_same_answers(datadir.path(), &tx, &block, &before, "UTXO set converted");
    let env = open_env(&chainstate);
    let r = env.read_txn().unwrap();
    let old: Database<Bytes, Bytes> = env.open_database(&r, Some("coins")).unwrap().unwrap();
    assert!(old.is_empty(&r).unwrap(), "the per-outpoint table is emptied");
}

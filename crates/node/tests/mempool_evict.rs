//! A real `blvm-node` with `-maxmempool=5` (Core's minimum, 5 MB) fed a few thousand chained
//! transactions through `sendrawtransaction`, each chain paying more than the last, so the pool
//! fills and then evicts on nearly every acceptance. Checks: evictions happen (the pool holds
//! fewer than were accepted, the minimum fee rose), `getmempoolinfo` `usage` never exceeds
//! `maxmempool`, the node's RSS stays bounded once the pool is full, `getblockcount` keeps
//! answering promptly meanwhile, and `getmempoolentry`'s maintained descendant figures agree with
//! the transactions `getmempooldescendants` lists.

mod support;

use support::p2p_peer::to_hex;
use support::rpc_node::sat;
use support::{http, mining, node_proc, p2p_peer};

use bitcoin::consensus::serialize;
use bitcoin::{Address, Amount, Network, OutPoint, ScriptBuf, Transaction, TxOut, Txid};
use node_proc::rss_kib;
use p2p_peer::{rpc, rpc_raw};
use serde_json::json;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `-maxmempool` in MB.
const MAX_MEMPOOL_MB: u64 = 5;
/// Chains sent; each is [`CHAIN_LEN`] long (Core's package limit).
const CHAINS: usize = 300;
const CHAIN_LEN: usize = 25;
/// Bytes of OP_RETURN padding per transaction (about 1.1 kvB each, so a few thousand fill 5 MB).
const PADDING: usize = 1_000;
/// Once the pool is full, the node's RSS may grow by at most this much more (allocator slack,
/// RPC buffers); the pool itself is bounded by `-maxmempool`.
const RSS_GROWTH_BOUND_KIB: u64 = 64 * 1024;
/// `getblockcount` must answer within this while the pool evicts (it waits for the chain lock
/// that every acceptance holds; a pool scan per eviction would hold it for long).
const LATENCY_BOUND: Duration = Duration::from_secs(1);

/// A transaction spending `prev` (P2WSH(OP_TRUE) worth `value`) at `rate` sat/vB, with padding.
fn link(prev: OutPoint, value: u64, rate: u64) -> Transaction {
    let payout = mining::p2wsh_op_true();
    let mut tx = mining::spend(
        &[(prev, payout.clone())],
        vec![
            TxOut {
                value: Amount::from_sat(value),
                script_pubkey: payout,
            },
            TxOut {
                value: Amount::ZERO,
                script_pubkey: mining::big_op_return(PADDING),
            },
        ],
    );
    let fee = rate * tx.vsize() as u64;
    tx.output[0].value = Amount::from_sat(value - fee);
    tx
}

#[test]
fn a_full_small_mempool_evicts_within_its_bound_and_the_node_stays_responsive() {
    let port = http::free_port();
    let n = node_proc::start_node(
        &[&format!("-rpcport={port}"), "-listen=0", &format!("-maxmempool={MAX_MEMPOOL_MB}")],
        &[],
    );
    n.wait_started();
    let pid = n.child.as_ref().unwrap().id();
    let payout = mining::p2wsh_op_true();
    let addr = Address::from_script(&payout, Network::Regtest).unwrap().to_string();
    let mined = rpc(&n, port, "generatetoaddress", json!([101, addr]));
    let info = rpc(&n, port, "getmempoolinfo", json!([]));
    assert_eq!(info["maxmempool"], json!(MAX_MEMPOOL_MB * 1_000_000));

    // Fan a mature coinbase out to one output per chain, confirmed so the chains are independent.
    let cb = rpc(&n, port, "getblock", json!([mined[0], 1]))["tx"][0]
        .as_str()
        .unwrap()
        .to_string();
    let per_chain = (50_0000_0000 - 1_000_000) / CHAINS as u64;
    let fan = mining::spend(
        &[(OutPoint::new(Txid::from_str(&cb).unwrap(), 0), payout.clone())],
        (0..CHAINS)
            .map(|_| TxOut {
                value: Amount::from_sat(per_chain),
                script_pubkey: payout.clone(),
            })
            .collect(),
    );
    let fan_id = fan.compute_txid();
    rpc(&n, port, "sendrawtransaction", json!([to_hex(&serialize(&fan))]));
    rpc(&n, port, "generatetoaddress", json!([1, addr]));
    assert_eq!(rpc(&n, port, "getrawmempool", json!([])), json!([]));

    // getblockcount from another thread the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let cookie_node_dir = n.net_dir();
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let cookie = std::fs::read_to_string(cookie_node_dir.join(".cookie")).unwrap();
            let mut lat = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let t = Instant::now();
                let r = http::call(&format!("127.0.0.1:{port}"), &cookie, "getblockcount", json!([]));
                lat.push(t.elapsed());
                assert_eq!(r["result"], json!(102), "{r}");
                std::thread::sleep(Duration::from_millis(20));
            }
            lat
        })
    };

    let max_usage = MAX_MEMPOOL_MB * 1_000_000;
    let mut accepted = 0u64;
    let mut rss_when_full: Option<u64> = None;
    let mut max_rss = 0u64;
    let mut last_tx: Vec<Txid> = Vec::new();
    for c in 0..CHAINS {
        // Each chain pays more than every earlier one, so the new chain is never the one evicted.
        let rate = 2 + c as u64;
        let mut prev = OutPoint::new(fan_id, c as u32);
        let mut value = per_chain;
        for _ in 0..CHAIN_LEN {
            let tx = link(prev, value, rate);
            let r = rpc_raw(&n, port, "sendrawtransaction", json!([to_hex(&serialize(&tx))]));
            assert!(r["error"].is_null(), "chain {c}: {r}");
            accepted += 1;
            prev = OutPoint::new(tx.compute_txid(), 0);
            value = tx.output[0].value.to_sat();
        }
        last_tx.push(prev.txid);
        let info = rpc(&n, port, "getmempoolinfo", json!([]));
        assert!(info["usage"].as_u64().unwrap() <= max_usage, "usage above -maxmempool: {info}");
        let rss = rss_kib(pid);
        max_rss = max_rss.max(rss);
        if rss_when_full.is_none() && info["size"].as_u64().unwrap() < accepted {
            rss_when_full = Some(rss);
        }
    }
    stop.store(true, Ordering::SeqCst);
    let mut lat = watcher.join().unwrap();
    lat.sort();

    let info = rpc(&n, port, "getmempoolinfo", json!([]));
    let size = info["size"].as_u64().unwrap();
    eprintln!(
        "accepted {accepted}, in pool {size}, usage {} / {max_usage}, mempoolminfee {}, RSS when full {:?} KiB, max {max_rss} KiB, getblockcount calls {} p50 {:?} max {:?}",
        info["usage"],
        info["mempoolminfee"],
        rss_when_full,
        lat.len(),
        lat[lat.len() / 2],
        lat.last()
    );
    assert!(size < accepted / 2, "evictions must have happened: {size} of {accepted} kept");
    assert!(
        sat(&info["mempoolminfee"]) > sat(&info["minrelaytxfee"]),
        "the rolling minimum fee rose: {info}"
    );
    let full = rss_when_full.expect("the pool filled");
    assert!(
        max_rss <= full + RSS_GROWTH_BOUND_KIB,
        "RSS grew from {full} KiB to {max_rss} KiB after the pool was full"
    );
    assert!(lat.len() > 10);
    assert!(*lat.last().unwrap() < LATENCY_BOUND, "getblockcount took {:?}", lat.last());
    // The newest chain is entirely kept, the oldest entirely evicted.
    let pool: Vec<String> = serde_json::from_value(rpc(&n, port, "getrawmempool", json!([]))).unwrap();
    assert!(pool.contains(&last_tx[CHAINS - 1].to_string()));
    assert!(!pool.contains(&last_tx[0].to_string()));

    // The maintained descendant figures agree with the listed descendants.
    for t in pool.iter().take(200) {
        let e = rpc(&n, port, "getmempoolentry", json!([t]));
        let desc: Vec<String> = serde_json::from_value(rpc(&n, port, "getmempooldescendants", json!([t]))).unwrap();
        let (mut size, mut fee) = (e["vsize"].as_u64().unwrap(), sat(&e["fees"]["base"]));
        for d in &desc {
            let de = rpc(&n, port, "getmempoolentry", json!([d]));
            size += de["vsize"].as_u64().unwrap();
            fee += sat(&de["fees"]["base"]);
        }
        assert_eq!(e["descendantcount"], json!(desc.len() + 1), "{t}");
        assert_eq!(e["descendantsize"], json!(size), "{t}");
        assert_eq!(sat(&e["fees"]["descendant"]), fee, "{t}");
    }
    let _: ScriptBuf = payout;
}

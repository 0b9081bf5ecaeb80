//! A real `blvm-node` over RPC (TCP): Core 31's cluster limits. A chain of 64 transactions is
//! accepted (no ancestor/descendant limit of 25 any more) and the 65th is refused with
//! "too-large-cluster" by testmempoolaccept and sendrawtransaction; under `-limitclustercount=3`
//! a transaction joining two clusters counts both, and a reorg returning a longer chain from a
//! disconnected block trims it back to the limit (TRUC rules not applied to re-admissions).

mod support;

use support::{fanout, http, node_proc, p2p_peer};

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::transaction::Version;
use bitcoin::{OutPoint, Transaction};
use fanout::{fund, op_true_address, pay};
use p2p_peer::{rpc, rpc_raw};
use serde_json::{json, Value};

/// A chain of `n` transactions of `version` from `start` (worth `value`), each paying 1,000 sat.
fn chain(start: OutPoint, value: u64, n: usize, version: i32) -> Vec<Transaction> {
    let mut out: Vec<Transaction> = Vec::new();
    let (mut prev, mut v) = (start, value);
    for _ in 0..n {
        let mut t = pay(&[prev], v, 1_000);
        t.version = Version(version);
        prev = OutPoint::new(t.compute_txid(), 0);
        v -= 1_000;
        out.push(t);
    }
    out
}

fn mempool(n: &node_proc::NodeProc, port: u16) -> Vec<String> {
    let mut v: Vec<String> = serde_json::from_value(rpc(n, port, "getrawmempool", json!([]))).unwrap();
    v.sort();
    v
}

fn ids(txs: &[Transaction]) -> Vec<String> {
    let mut v: Vec<String> = txs.iter().map(|t| t.compute_txid().to_string()).collect();
    v.sort();
    v
}

#[test]
fn a_cluster_holds_64_transactions_and_the_65th_is_too_large() {
    let port = http::free_port();
    let n = node_proc::start_node(&[&format!("-rpcport={port}"), "-listen=0"], &[]);
    n.wait_started();
    let f = fund(&n, port, 2);
    let (fan, value) = (f.fan, f.per_output);
    let txs = chain(OutPoint::new(fan, 0), value, 65, 2);
    for t in &txs[..64] {
        rpc(&n, port, "sendrawtransaction", json!([serialize_hex(t)]));
    }
    let first = rpc(&n, port, "getmempoolentry", json!([txs[0].compute_txid().to_string()]));
    assert_eq!(
        (first["descendantcount"].clone(), first["ancestorcount"].clone()),
        (json!(64), json!(1))
    );

    let last = serialize_hex(&txs[64]);
    let r = rpc(&n, port, "testmempoolaccept", json!([[last]]));
    assert_eq!(r[0]["allowed"], json!(false));
    assert_eq!(r[0]["reject-reason"], json!("too-large-cluster"));
    let e = rpc_raw(&n, port, "sendrawtransaction", json!([last]));
    assert_eq!(e["error"]["code"], json!(-26));
    assert_eq!(e["error"]["message"], json!("too-large-cluster"));
    assert_eq!(mempool(&n, port), ids(&txs[..64]));

    // A transaction of its own cluster is unaffected.
    let other = pay(&[OutPoint::new(fan, 1)], value, 1_000);
    let r: Value = rpc(&n, port, "testmempoolaccept", json!([[serialize_hex(&other)]]));
    assert_eq!(r[0]["allowed"], json!(true), "{r}");
}

#[test]
fn a_smaller_limit_counts_joined_clusters_and_trims_after_a_reorg() {
    let port = http::free_port();
    let n = node_proc::start_node(&[&format!("-rpcport={port}"), "-listen=0", "-limitclustercount=3"], &[]);
    n.wait_started();
    let f = fund(&n, port, 3);
    let (fan, value) = (f.fan, f.per_output);
    // Two one-transaction clusters and a child of both: three in one cluster, at the limit.
    let a = pay(&[OutPoint::new(fan, 0)], value, 1_000);
    let b = pay(&[OutPoint::new(fan, 1)], value, 1_000);
    let c = pay(
        &[OutPoint::new(a.compute_txid(), 0), OutPoint::new(b.compute_txid(), 0)],
        2 * value - 2_000,
        1_000,
    );
    for t in [&a, &b, &c] {
        rpc(&n, port, "sendrawtransaction", json!([serialize_hex(t)]));
    }
    let d = pay(&[OutPoint::new(c.compute_txid(), 0)], 2 * value - 3_000, 1_000);
    let e = rpc_raw(&n, port, "sendrawtransaction", json!([serialize_hex(&d)]));
    assert_eq!(e["error"]["message"], json!("too-large-cluster"));
    rpc(&n, port, "generatetoaddress", json!([1, op_true_address()]));
    assert_eq!(mempool(&n, port), Vec::<String>::new());

    // A block holding a chain of five, then disconnected: only the first three come back. They
    // are TRUC (v3) transactions, whose one-parent rule a reorg does not apply (as Core).
    let five = chain(OutPoint::new(fan, 2), value, 5, 3);
    let hexes: Vec<String> = five.iter().map(serialize_hex).collect();
    let block = rpc(&n, port, "generateblock", json!(["raw(51)", hexes]));
    assert_eq!(mempool(&n, port), Vec::<String>::new());
    rpc(&n, port, "invalidateblock", json!([block["hash"]]));
    assert_eq!(mempool(&n, port), ids(&five[..3]));
    let tip = rpc(&n, port, "getmempoolentry", json!([five[2].compute_txid().to_string()]));
    assert_eq!(tip["ancestorcount"], json!(3));
}

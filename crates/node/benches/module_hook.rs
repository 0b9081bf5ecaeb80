//! Cost of a module hook on transaction acceptance (not a timed test).
//!
//! `cargo bench -p blvm-node --bench module_hook` starts an in-process regtest node, mines a
//! chain and confirms one transaction fanning a coinbase out to `BLVM_BENCH_TXS` (default 2,000)
//! P2WSH(OP_TRUE) outputs, then checks one one-input spend of each output for the mempool
//! (`Mempool::accept` in test-accept mode, on a blocking thread, as `testmempoolaccept` does;
//! nothing enters the pool, so every run sees the same pool) and reports transactions per
//! second:
//! - without any hook module (the hook costs one atomic load);
//! - with the `policy-example` module process loaded (capability `hooks`, empty block list):
//!   every transaction is one `Hook` round trip over the module's Unix socket, allowed;
//! - without again, after `unloadmodule`.
//!
//! Needs the module binary next to the bench's profile directory: `cargo build -p
//! blvm-policy-example` with the same profile (or set `BLVM_POLICY_MODULE` to its path).
//! Runs: `BLVM_BENCH_RUNS` (default 3), the best is reported. Without `--bench` (e.g. `cargo test
//! --benches`) a small smoke run is done.

use bitcoin::{Amount, OutPoint, Transaction, TxOut};
use blvm_node::mempool::AcceptOptions;
use blvm_node::node::{Node, NodeSettings, ShutdownReason};
use blvm_node::params::ChainParams;
use blvm_testkit::mining;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn module_binary() -> PathBuf {
    if let Ok(p) = std::env::var("BLVM_POLICY_MODULE") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("bench path");
    let p = exe.parent().and_then(|d| d.parent()).expect("profile dir").join("policy-example");
    assert!(
        p.exists(),
        "{} missing: cargo build -p blvm-policy-example (same profile)",
        p.display()
    );
    p
}

async fn rpc(node: &Arc<Node>, method: &str, params: serde_json::Value) -> serde_json::Value {
    blvm_node::rpc::methods::dispatch(&blvm_node::launch::rpc_ops::context(node), method, Some(&params))
        .await
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// Mines a chain, confirms a fan-out of `n` outputs and returns one spend of each.
async fn spends(node: &Arc<Node>, n: usize) -> Vec<Transaction> {
    let spk = mining::p2wsh_op_true();
    let addr = bitcoin::Address::from_script(&spk, bitcoin::Network::Regtest).unwrap().to_string();
    let hashes = rpc(node, "generatetoaddress", json!([101, addr])).await;
    let block = rpc(node, "getblock", json!([hashes[0], 0])).await;
    let block: bitcoin::Block = bitcoin::consensus::deserialize(&hex(block.as_str().unwrap())).unwrap();
    let cb = &block.txdata[0];
    let each = (cb.output[0].value.to_sat() - 100_000) / n as u64;
    let outs = (0..n)
        .map(|_| TxOut {
            value: Amount::from_sat(each),
            script_pubkey: spk.clone(),
        })
        .collect();
    let fan = mining::spend(&[(OutPoint::new(cb.compute_txid(), 0), spk.clone())], outs);
    let raw = bitcoin::consensus::encode::serialize_hex(&fan);
    rpc(node, "sendrawtransaction", json!([raw])).await;
    rpc(node, "generatetoaddress", json!([1, addr])).await;
    (0..n as u32)
        .map(|i| {
            let out = TxOut {
                value: Amount::from_sat(each - 1_000),
                script_pubkey: spk.clone(),
            };
            mining::spend(&[(OutPoint::new(fan.compute_txid(), i), spk.clone())], vec![out])
        })
        .collect()
}

fn hex(s: &str) -> Vec<u8> {
    bitcoin::hex::FromHex::from_hex(s).expect("bench hex")
}

/// Best transactions per second over `runs` passes of test-accepting every transaction.
async fn rate(node: &Arc<Node>, txs: &Arc<Vec<Transaction>>, runs: usize) -> f64 {
    let mut best = 0f64;
    for _ in 0..runs {
        let (mp, batch) = (node.mempool(), txs.clone());
        let took = tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            for tx in batch.iter() {
                let opts = AcceptOptions {
                    test_accept: true,
                    ..Default::default()
                };
                mp.accept(tx.clone(), opts).expect("accepted");
            }
            t.elapsed()
        })
        .await
        .unwrap();
        best = best.max(txs.len() as f64 / took.as_secs_f64());
    }
    best
}

async fn wait_hook(node: &Arc<Node>, on: bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while node.extensions().has_hook(blvm_module::HookKind::MempoolAccept) != on {
        assert!(Instant::now() < until, "hook registration did not change to {on}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::main]
async fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let n = if bench { env_usize("BLVM_BENCH_TXS", 2_000) } else { 50 };
    let runs = if bench { env_usize("BLVM_BENCH_RUNS", 3) } else { 1 };
    let dir = tempfile::tempdir().expect("tempdir");
    let net_dir = dir.path().join("regtest");
    let mdir = net_dir.join("modules/policy");
    std::fs::create_dir_all(&mdir).unwrap();
    let manifest = format!(
        "name = \"policy\"\nversion = \"0.1.0\"\nentry = {:?}\ncapabilities = [\"hooks\"]\nautoload = false\n",
        module_binary().display().to_string()
    );
    std::fs::write(mdir.join("module.toml"), manifest).unwrap();
    let mut s = NodeSettings::new(ChainParams::for_network(bitcoin::Network::Regtest), net_dir);
    s.lifecycle.shutdown_timeout = Duration::from_secs(2);
    let node = blvm_node::launch::start(s).await.expect("node starts");
    let txs = Arc::new(spends(&node, n).await);

    let without = rate(&node, &txs, runs).await;
    rpc(&node, "loadmodule", json!(["policy"])).await;
    wait_hook(&node, true).await;
    let with = rate(&node, &txs, runs).await;
    rpc(&node, "unloadmodule", json!(["policy"])).await;
    wait_hook(&node, false).await;
    let again = rate(&node, &txs, runs).await;

    println!("module_hook: {n} one-input transactions, test-accept, best of {runs}");
    println!("  no hook module          {without:>10.0} tx/s  ({:.1} µs/tx)", 1e6 / without);
    println!("  trivial hook module     {with:>10.0} tx/s  ({:.1} µs/tx)", 1e6 / with);
    println!("  no hook module (after)  {again:>10.0} tx/s  ({:.1} µs/tx)", 1e6 / again);
    println!("  hook cost per tx        {:.1} µs", 1e6 / with - 1e6 / without.max(again));
    node.shutdown(ShutdownReason::Graceful).await;
}

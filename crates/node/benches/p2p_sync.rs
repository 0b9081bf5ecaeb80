//! P2P sync benchmark (not a timed test): node-to-node sync throughput and block propagation
//! latency between two real `blvm-node` processes on 127.0.0.1.
//!
//! `cargo bench -p blvm-node --bench p2p_sync` (release profile):
//! - A imports `shared/bench/bench-chain.blk` (1,300 blocks, 101,342 transactions) offline
//!   once; when the file is absent the 300-block Core chain is used instead.
//! - Per run (`BLVM_BENCH_RUNS`, default 3; the median is reported), B starts empty with
//!   `-connect=A` and the clock runs from B's start until B's tip is A's tip. B must end at the
//!   expected tip hash and UTXO `hash_serialized_3` (Core's, from the chain's JSON), or the run
//!   aborts: a sync that validates wrongly is worthless.
//! - Then 20 blocks are mined on A (submitblock) one at a time; each one's latency is the time
//!   from the submitblock call on A (which validates it first) until B reports it as its best
//!   block (polled every 2 ms).
//!
//! Without `--bench` (e.g. `cargo test --benches`) one run on the 300-block chain is done as a
//! smoke check. Shared data: `$BLVM_SHARED_DIR`, default `<repo>/../shared`.

#[path = "../tests/support/mod.rs"]
mod support;

use support::{http, mining, node_proc, p2p_peer, read_json, shared_dir};

use bitcoin::consensus::serialize;
use bitcoin::{Amount, BlockHash};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The chain to sync and what the synced node must report.
struct Chain {
    name: &'static str,
    file: PathBuf,
    height: u64,
    tip: String,
    utxo_hash: String,
    txs: u64,
    bytes: u64,
}

fn chains(full: bool) -> Chain {
    let shared = shared_dir();
    let bench = shared.join("bench/bench-chain.blk");
    if full && bench.exists() {
        let j = read_json(&shared.join("bench/bench-chain.json"));
        let tip = &j["tip"];
        let utxo = j["gettxoutsetinfo"]["hash_serialized_3"]["hash_serialized_3"]
            .as_str()
            .or_else(|| tip["hash_serialized_3"].as_str())
            .or_else(|| j["utxo"]["hash_serialized_3"].as_str())
            .unwrap_or_else(|| panic!("no hash_serialized_3 in bench-chain.json"))
            .to_string();
        return Chain {
            name: "bench-chain (1,300 blocks)",
            file: bench.clone(),
            height: tip["height"].as_u64().expect("tip height"),
            tip: tip["hash"].as_str().expect("tip hash").to_string(),
            utxo_hash: utxo,
            txs: j["tx_count_total_incl_coinbase"].as_u64().unwrap_or(0),
            bytes: std::fs::metadata(&bench).map(|m| m.len()).unwrap_or(0),
        };
    }
    let j = read_json(&shared.join("chains/regtest-core-300.json"));
    let file = shared.join("chains/regtest-core-300.hex");
    Chain {
        name: "regtest-core-300",
        bytes: std::fs::metadata(&file).map(|m| m.len() / 2).unwrap_or(0),
        file,
        height: 300,
        tip: j["tip_hash"].as_str().unwrap().to_string(),
        utxo_hash: j["gettxoutsetinfo"]["hash_serialized_3"]["hash_serialized_3"]
            .as_str()
            .unwrap()
            .to_string(),
        txs: j["getchaintxstats"]["txcount"].as_u64().unwrap_or(0),
    }
}

fn rpc(n: &node_proc::NodeProc, port: u16, m: &str, p: Value) -> Value {
    p2p_peer::rpc(n, port, m, p)
}

/// CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 =
        f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / hz.max(1.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    s[((s.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let runs: usize = if full {
        std::env::var("BLVM_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3)
    } else {
        1
    };
    let chain = chains(full);
    println!(
        "p2p sync benchmark: {} — {} blocks, {} transactions, {:.1} MB; {runs} run(s)",
        chain.name,
        chain.height,
        chain.txs,
        chain.bytes as f64 / 1e6
    );

    // A: import once (offline, through the real binary), then serve.
    let a_dir = tempfile::tempdir().expect("tempdir");
    let t = Instant::now();
    node_proc::import_offline(a_dir.path(), &chain.file);
    println!("A imported the chain in {:.1}s", t.elapsed().as_secs_f64());
    let pa = http::free_port();
    let a = node_proc::start_node_in(a_dir.path(), &[&format!("-rpcport={pa}"), "-port=0", "-bind=127.0.0.1"], &[]);
    a.wait_started();
    let a_addr = p2p_peer::p2p_addr(&a);
    assert_eq!(
        rpc(&a, pa, "getbestblockhash", json!([])),
        json!(chain.tip),
        "A is not at the expected tip"
    );

    let a_pid = a.child.as_ref().map(|c| c.id()).unwrap_or(0);
    let mut secs = Vec::new();
    let mut cpus = Vec::new();
    let mut last_b = None;
    for run in 0..runs {
        let pb = http::free_port();
        let load = loadavg();
        let a_cpu0 = cpu_secs(a_pid);
        let t0 = Instant::now();
        let b = node_proc::start_node(&[&format!("-rpcport={pb}"), &format!("-connect={a_addr}")], &[]);
        let b_pid = b.child.as_ref().map(|c| c.id()).unwrap_or(0);
        b.wait_until(Duration::from_secs(60), "B startup", |n| n.log().contains("node startup completed"));
        let deadline = Instant::now() + Duration::from_secs(1800);
        loop {
            let r = http::call(&format!("127.0.0.1:{pb}"), &p2p_peer::cookie(&b), "getbestblockhash", json!([]));
            if r["result"] == json!(chain.tip) {
                break;
            }
            assert!(Instant::now() < deadline, "B did not sync within 30 minutes\n{}", b.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        let s = t0.elapsed().as_secs_f64();
        let (b_cpu, a_cpu) = (cpu_secs(b_pid), cpu_secs(a_pid) - a_cpu0);
        let utxo = rpc(&b, pb, "gettxoutsetinfo", json!([]))["hash_serialized_3"].clone();
        assert_eq!(utxo, json!(chain.utxo_hash), "B's UTXO set differs after sync");
        println!(
            "run {}: synced {} blocks in {s:.2}s: {:.1} blocks/s, {:.0} tx/s, {:.1} MB/s; CPU B {b_cpu:.2}s, A (serving) {a_cpu:.2}s; load average at start {load}",
            run + 1,
            chain.height,
            chain.height as f64 / s,
            chain.txs as f64 / s,
            chain.bytes as f64 / 1e6 / s
        );
        secs.push(s);
        cpus.push(b_cpu);
        last_b = Some((b, pb));
    }
    let m = median(secs.clone());
    println!(
        "median sync: {m:.2}s = {:.1} blocks/s, {:.0} tx/s, {:.1} MB/s (min {:.2}s, max {:.2}s)",
        chain.height as f64 / m,
        chain.txs as f64 / m,
        chain.bytes as f64 / 1e6 / m,
        secs.iter().cloned().fold(f64::MAX, f64::min),
        secs.iter().cloned().fold(0.0, f64::max)
    );
    println!("median CPU of the syncing node: {:.2}s", median(cpus));

    // Block propagation: mine on A, time until B has it.
    let (b, pb) = last_b.expect("one run");
    let n_blocks = if full { 20 } else { 5 };
    let mut lat = Vec::new();
    for i in 0..n_blocks {
        let hash = rpc(&a, pa, "getbestblockhash", json!([]));
        let h = rpc(&a, pa, "getblockheader", json!([hash, true]));
        let parent = mining::Parent {
            hash: BlockHash::from_str(h["hash"].as_str().unwrap()).unwrap(),
            height: h["height"].as_u64().unwrap() as u32,
            time: h["time"].as_u64().unwrap() as u32,
            mtp: h["mediantime"].as_i64().unwrap(),
        };
        let blk = mining::build_block(&parent, 90_000 + i, vec![], Amount::ZERO, mining::p2wsh_op_true());
        let want = json!(blk.block_hash().to_string());
        let hexblk: String = serialize(&blk).iter().map(|b| format!("{b:02x}")).collect();
        let t0 = Instant::now();
        let r = rpc(&a, pa, "submitblock", json!([hexblk]));
        assert!(r.is_null(), "submitblock: {r}");
        let cookie = p2p_peer::cookie(&b);
        loop {
            let r = http::call(&format!("127.0.0.1:{pb}"), &cookie, "getbestblockhash", json!([]));
            if r["result"] == want {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "block did not reach B within 10s\n{}",
                b.log()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "block propagation, submitblock on A -> best block on B, over {} blocks: p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms (includes A's validation and RPC polling every 2 ms)",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        lat.iter().cloned().fold(0.0, f64::max)
    );
}

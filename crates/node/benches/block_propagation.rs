//! Block propagation benchmark (not a timed test): how fast, and in how many bytes, a block of
//! mempool transactions goes from one real `blvm-node` process to another on 127.0.0.1 by
//! BIP152 compact blocks, against full-block relay; and how fast a node connects a
//! `cmpctblock` (or a `block`) sent by a Python peer built on Bitcoin Core's functional test
//! framework.
//!
//! `cargo bench -p blvm-node --bench block_propagation` (see docs/BENCHMARKS.md):
//! - A (the miner) gets spendable outputs: coinbases fanned out into 1,000-output transactions.
//! - Per configuration a fresh B connects to A, syncs, and receives one warm-up block (after
//!   which, as in Core, B picks A as a high-bandwidth compact block peer). Then, `runs` times, a
//!   block of `txs` one-in-one-out transactions is built on A's tip and given to A with
//!   `submitblock`; the latency is the time from that call until B's `waitforblock` (already
//!   waiting in another thread) returns. Bytes are B's `getpeerinfo` per-message counters for
//!   A, before and after. Configurations:
//!   - `cmpct, in mempool`: the transactions are in both mempools (sent to A and B over RPC);
//!   - `cmpct, not in mempool`: neither node has seen them (B must `getblocktxn` them all);
//!   - `full block (-blocksonly)`: B runs `-blocksonly`, under which, as in Core, it neither
//!     asks for high-bandwidth announcements nor fetches `cmpctblock`, so the block comes as a
//!     `block` message; the transactions are in both mempools as in the first configuration.
//! - The Python peer (`benches/python/cmpct_peer.py`, Core's `test_framework`) connects to A,
//!   sends `sendcmpct(1, 2)`, gives A a warm-up block (after which A makes it a high-bandwidth
//!   peer, without which Core ignores an unasked `cmpctblock`), and per block puts its
//!   transactions in A's mempool over RPC, then
//!   sends the block as `cmpctblock` (coinbase prefilled), or as `block`, and times until A's
//!   `waitforblock` returns.
//!
//! Knobs: `BLVM_BENCH_TXS` (transactions per block, default 500), `BLVM_BENCH_RUNS` (blocks
//! per configuration, default 7), `BLVM_SHARED_DIR` (for Core's framework, default
//! `<repo>/../shared`). Without `--bench` (`cargo test --benches`) one block of 50 transactions
//! per configuration is done as a smoke check.

#[path = "../tests/support/mod.rs"]
mod support;

use support::{coins, fanout, http, node_proc, p2p_peer, shared_dir};

use bitcoin::consensus::serialize;
use bitcoin::{Amount, Block, BlockHash, OutPoint, Transaction, TxOut};
use p2p_peer::to_hex;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use support::mining::{self, Parent};

/// Outputs per fan-out transaction.
const FAN: usize = 1_000;
/// Fee of each benchmarked one-in-one-out transaction.
const FEE: Amount = Amount::from_sat(10_000);
/// Block-related messages whose bytes are counted (received by B, then sent by B).
const RECV: [&str; 4] = ["cmpctblock", "blocktxn", "block", "headers"];
const SENT: [&str; 3] = ["getblocktxn", "getdata", "sendcmpct"];

/// A node process with its RPC port.
struct Node {
    proc: node_proc::NodeProc,
    port: u16,
}

impl Node {
    fn start(extra: &[&str]) -> Node {
        let port = http::free_port();
        let rpcport = format!("-rpcport={port}");
        let mut args = vec![rpcport.as_str(), "-port=0", "-bind=127.0.0.1", "-connect=0", "-listen=1"];
        args.extend_from_slice(extra);
        let proc = node_proc::start_node(&args, &[]);
        proc.wait_started();
        Node { proc, port }
    }

    fn rpc(&self, m: &str, p: Value) -> Value {
        p2p_peer::rpc(&self.proc, self.port, m, p)
    }

    fn rpc_raw(&self, m: &str, p: Value) -> Value {
        p2p_peer::rpc_raw(&self.proc, self.port, m, p)
    }

    fn tip(&self) -> BlockHash {
        self.rpc("getbestblockhash", json!([])).as_str().unwrap().parse().unwrap()
    }

    fn tip_parent(&self) -> Parent {
        mining::tip_parent(&|m, p| self.rpc(m, p))
    }

    fn mempool_size(&self) -> u64 {
        self.rpc("getmempoolinfo", json!([]))["size"].as_u64().unwrap()
    }

    fn submit(&self, block: &Block) {
        let r = self.rpc("submitblock", json!([to_hex(&serialize(block))]));
        assert!(r.is_null(), "submitblock: {r}");
    }

    fn wait(&self, what: &str, f: impl Fn(&Node) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !f(self) {
            assert!(Instant::now() < deadline, "timed out: {what}\n{}", self.proc.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Gives A `n` spendable P2WSH(OP_TRUE) outputs: matured coinbases split by fan-out
/// transactions, mined by `submitblock` (ten fan-outs per block, well under the weight limit).
fn fund(a: &Node, n: usize) -> Vec<(OutPoint, Amount)> {
    let coinbases = coins::fund(|m, p| a.rpc(m, p), n.div_ceil(FAN));
    let fan_fee = Amount::from_sat(200_000);
    let fans: Vec<Transaction> = coinbases
        .iter()
        .map(|(op, value)| {
            let each = (*value - fan_fee) / FAN as u64;
            let outs = (0..FAN)
                .map(|_| TxOut {
                    value: each,
                    script_pubkey: mining::p2wsh_op_true(),
                })
                .collect();
            mining::spend(&[(*op, mining::p2wsh_op_true())], outs)
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for chunk in fans.chunks(10) {
        let fees = fan_fee * chunk.len() as u64;
        a.submit(&mining::build_block(&a.tip_parent(), 7, chunk.to_vec(), fees, mining::op_true()));
        for tx in chunk {
            let txid = tx.compute_txid();
            out.extend((0..FAN as u32).map(|vout| (OutPoint { txid, vout }, tx.output[0].value)));
        }
    }
    out.truncate(n);
    out
}

/// A one-in-one-out spend of `coin` back to P2WSH(OP_TRUE), paying [`FEE`].
fn spend(coin: (OutPoint, Amount)) -> Transaction {
    coins::spend_coins(&[coin], FEE.to_sat())
}

/// One of B's three set-ups.
#[derive(Clone, Copy, PartialEq)]
enum Config {
    CmpctInMempool,
    CmpctNotInMempool,
    FullBlock,
}

impl Config {
    fn name(self) -> &'static str {
        match self {
            Config::CmpctInMempool => "cmpct, in mempool",
            Config::CmpctNotInMempool => "cmpct, not in mempool",
            Config::FullBlock => "full block (-blocksonly)",
        }
    }
}

/// One measured block.
struct Sample {
    total_ms: f64,
    submit_ms: f64,
    after_a_ms: f64,
    recv: Vec<u64>,
    sent: Vec<u64>,
    block_bytes: usize,
}

/// B's per-message byte counters for its peer A.
fn counters(b: &Node) -> (Vec<u64>, Vec<u64>) {
    let info = p2p_peer::peer_info(&|m, p| b.rpc(m, p), "127.0.0.1");
    let get = |dir: &str, m: &str| info[dir][m].as_u64().unwrap_or(0);
    (
        RECV.iter().map(|m| get("bytesrecv_per_msg", m)).collect(),
        SENT.iter().map(|m| get("bytessent_per_msg", m)).collect(),
    )
}

/// Sends `txs` to A and B over RPC and waits until both mempools hold exactly them.
fn fill_mempools(a: &Node, b: &Node, txs: &[Transaction]) {
    for tx in txs {
        let hex = to_hex(&serialize(tx));
        a.rpc("sendrawtransaction", json!([hex]));
        // B may already have it from A's relay.
        b.rpc_raw("sendrawtransaction", json!([hex]));
    }
    let n = txs.len() as u64;
    a.wait("A's mempool", |a| a.mempool_size() == n);
    b.wait("B's mempool", |b| b.mempool_size() == n);
    // Let the inv/getdata traffic of the relay settle before counting bytes.
    std::thread::sleep(Duration::from_millis(300));
}

/// Submits `block` to A while B already waits for it; returns the sample.
fn propagate(a: &Node, b: &Node, block: &Block) -> Sample {
    let hash = block.block_hash();
    let (recv0, sent0) = counters(b);
    let addr = format!("127.0.0.1:{}", b.port);
    let cookie = p2p_peer::cookie(&b.proc);
    let waiter = std::thread::spawn(move || {
        let r = http::call(&addr, &cookie, "waitforblock", json!([hash.to_string(), 60_000]));
        (Instant::now(), r)
    });
    // Give the waiter's request time to reach B's RPC server.
    std::thread::sleep(Duration::from_millis(50));
    let t0 = Instant::now();
    a.submit(block);
    let t_a = Instant::now();
    let (t_b, r) = waiter.join().expect("waiter thread");
    assert_eq!(
        r["result"]["hash"],
        json!(hash.to_string()),
        "B did not get the block: {r}\n{}",
        b.proc.log()
    );
    let (recv1, sent1) = counters(b);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Sample {
        total_ms: ms(t_b - t0),
        submit_ms: ms(t_a - t0),
        after_a_ms: ms(t_b.saturating_duration_since(t_a)),
        recv: recv1.iter().zip(&recv0).map(|(x, y)| x - y).collect(),
        sent: sent1.iter().zip(&sent0).map(|(x, y)| x - y).collect(),
        block_bytes: serialize(block).len(),
    }
}

/// Runs one configuration with a fresh B; spends `runs * txs` of `coins`.
fn run_config(a: &Node, cfg: Config, coins: &mut Vec<(OutPoint, Amount)>, runs: usize, txs: usize) -> Vec<Sample> {
    let b = Node::start(if cfg == Config::FullBlock { &["-blocksonly"] } else { &[] });
    b.rpc("addnode", json!([p2p_peer::p2p_addr(&a.proc).to_string(), "onetry"]));
    b.wait("B syncs A's chain", |b| b.tip() == a.tip());
    // Warm-up: after a new block from A, B makes A a high-bandwidth peer (unless blocksonly).
    let warm = a.rpc("generatetoaddress", json!([1, fanout::op_true_address()]))[0].clone();
    b.wait("B gets the warm-up block", |b| json!(b.tip().to_string()) == warm);
    let hb = p2p_peer::peer_info(&|m, p| b.rpc(m, p), "127.0.0.1")["bip152_hb_to"].clone();
    println!("{}: B's high-bandwidth compact block peer A: {hb}", cfg.name());
    let mut out = Vec::new();
    for _ in 0..runs {
        let batch: Vec<Transaction> = coins.drain(..txs).map(spend).collect();
        if cfg != Config::CmpctNotInMempool {
            fill_mempools(a, &b, &batch);
        }
        let block = mining::build_block(&a.tip_parent(), 9, batch, FEE * txs as u64, mining::op_true());
        let s = propagate(a, &b, &block);
        assert_eq!(b.mempool_size(), 0, "B's mempool keeps transactions of the block");
        println!(
            "  {}: {:.1} ms (A's submitblock {:.1} ms, then {:.1} ms), B received {:?} sent {:?} bytes ({RECV:?} / {SENT:?}); block {} bytes",
            cfg.name(),
            s.total_ms,
            s.submit_ms,
            s.after_a_ms,
            s.recv,
            s.sent,
            s.block_bytes
        );
        out.push(s);
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The Python peer's part: blocks chained on A's tip, each with fresh transactions, half sent
/// as `cmpctblock` and half as `block` (interleaved) after a warm-up block; returns (mode,
/// milliseconds) per measured block.
fn python_peer(a: &Node, coins: &mut Vec<(OutPoint, Amount)>, runs: usize, txs: usize) -> Option<Vec<(String, f64)>> {
    let framework = shared_dir().join("core-functional");
    if !framework.join("test_framework/messages.py").exists() {
        println!(
            "python peer: skipped, Core's test_framework not found under {}",
            framework.display()
        );
        return None;
    }
    let mut parent = a.tip_parent();
    let mut reps = Vec::new();
    // First a warm-up block sent whole: as Core, the node takes cmpctblock unasked only from a
    // peer it made high-bandwidth, which it does after the peer gave it a new block.
    for i in 0..=2 * runs {
        let n = if i == 0 { 0 } else { txs };
        let batch: Vec<Transaction> = coins.drain(..n).map(spend).collect();
        let hexes: Vec<String> = batch.iter().map(|t| to_hex(&serialize(t))).collect();
        let block = mining::build_block(&parent, 11 + i as u64, batch, FEE * n as u64, mining::op_true());
        // Each block's time is its parent's + 1, so the parent's time bounds the median.
        parent = Parent {
            hash: block.block_hash(),
            height: parent.height + 1,
            time: block.header.time,
            mtp: i64::from(block.header.time),
        };
        let mode = match i {
            0 => "warmup",
            _ if i % 2 == 1 => "cmpctblock",
            _ => "block",
        };
        reps.push(json!({"mode": mode, "txs": hexes, "block": to_hex(&serialize(&block))}));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("reps.json");
    let spec = json!({
        "p2p": p2p_peer::p2p_addr(&a.proc).to_string(),
        "rpc_port": a.port,
        "cookie": p2p_peer::cookie(&a.proc),
        "reps": reps,
    });
    std::fs::write(&input, spec.to_string()).expect("write reps");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python/cmpct_peer.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&framework)
        .arg(&input)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python peer failed\n{stdout}\n{}\nnode log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        a.proc.log()
    );
    let mut res = Vec::new();
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        println!("  python peer {}: {:.1} ms", v["mode"].as_str().unwrap(), v["ms"].as_f64().unwrap());
        res.push((v["mode"].as_str().unwrap().to_string(), v["ms"].as_f64().unwrap()));
    }
    assert_eq!(res.len(), 2 * runs, "python peer output:\n{stdout}");
    assert_eq!(a.tip(), parent.hash, "A's tip is not the Python peer's last block");
    Some(res)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn print_summary(results: &[(Config, Vec<Sample>)], py: Option<&[(String, f64)]>, txs: usize) {
    let med = |v: &[Sample], f: &dyn Fn(&Sample) -> f64| median(v.iter().map(f).collect());
    let base = results.iter().find(|(c, _)| *c == Config::FullBlock).map(|(_, s)| s.as_slice());
    println!("\n| configuration ({txs} txs/block) | median ms submitblock on A -> tip on B | median ms after A's submitblock returned | A's submitblock ms | bytes B received (cmpctblock / blocktxn / block / headers) | bytes B sent (getblocktxn / getdata / sendcmpct) | latency / full block | bytes / full block |");
    println!("|---|---|---|---|---|---|---|---|");
    for (cfg, s) in results {
        let total = med(s, &|x| x.total_ms);
        let bytes = |x: &Sample| (x.recv.iter().sum::<u64>() + x.sent.iter().sum::<u64>()) as f64;
        let fmt_v = |v: Vec<f64>| v.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(" / ");
        let recv: Vec<f64> = (0..RECV.len()).map(|i| med(s, &|x| x.recv[i] as f64)).collect();
        let sent: Vec<f64> = (0..SENT.len()).map(|i| med(s, &|x| x.sent[i] as f64)).collect();
        let (lat_ratio, byte_ratio) = match base {
            Some(b) => (
                format!("{:.2}", total / med(b, &|x| x.total_ms)),
                format!("{:.3}", med(s, &bytes) / med(b, &bytes)),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {} | {total:.1} | {:.1} | {:.1} | {} | {} | {lat_ratio} | {byte_ratio} |",
            cfg.name(),
            med(s, &|x| x.after_a_ms),
            med(s, &|x| x.submit_ms),
            fmt_v(recv),
            fmt_v(sent)
        );
    }
    if let Some(block) = results.first().and_then(|(_, s)| s.first()) {
        println!("(serialized block: {} bytes)", block.block_bytes);
    }
    if let Some(py) = py {
        let m = |mode: &str| median(py.iter().filter(|(k, _)| k == mode).map(|(_, v)| *v).collect());
        let (c, b) = (m("cmpctblock"), m("block"));
        println!(
            "\npython peer -> A, send -> waitforblock returns: cmpctblock median {c:.1} ms, block median {b:.1} ms, ratio {:.2}",
            c / b
        );
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (runs, txs) = if full {
        (env_usize("BLVM_BENCH_RUNS", 7).max(1), env_usize("BLVM_BENCH_TXS", 500).max(1))
    } else {
        (1, 50)
    };
    let configs = [Config::CmpctInMempool, Config::CmpctNotInMempool, Config::FullBlock];
    let started = Instant::now();
    let a = Node::start(&[]);
    let mut coins = fund(&a, (configs.len() + 2) * runs * txs);
    println!(
        "block propagation benchmark: {runs} block(s) of {txs} transactions per configuration; A funded in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let mut results = Vec::new();
    for cfg in configs {
        let s = run_config(&a, cfg, &mut coins, runs, txs);
        results.push((cfg, s));
    }
    let py = python_peer(&a, &mut coins, runs, txs);
    print_summary(&results, py.as_deref(), txs);
    println!("total {:.1}s", started.elapsed().as_secs_f64());
}

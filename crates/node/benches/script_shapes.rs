//! Script verification cost by block shape: the same number of inputs as one huge transaction or
//! as many small ones must cost the same per input (linear), on one thread and on several.
//!
//! `cargo bench -p blvm-node --bench script_shapes` builds this in the release (bench) profile.
//! Every spent output is a bare `OP_TRUE` (no signatures), so the figure is the interpreter's
//! per-input overhead plus preparing each transaction (parse and precomputed hashes): exactly
//! the part that used to be repeated for every input of a transaction. The run fails if the
//! slowest shape costs more than 1.5x the fastest per input. Without `--bench` (e.g.
//! `cargo test --benches`) a small smoke version runs. `BLVM_BENCH_RUNS` sets the repetitions
//! per figure (default 5, the median is reported).

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use blvm_node::validation::scripts::{verify_block_scripts, VERIFY_ALL};
use std::time::{Duration, Instant};

/// Limit on slowest/fastest time per input across shapes.
const MAX_RATIO: f64 = 1.5;

/// A block body (coinbase first) and, per transaction, the outputs its inputs spend.
struct Shape {
    name: String,
    txs: Vec<Transaction>,
    spent: Vec<Vec<TxOut>>,
    inputs: usize,
}

fn op_true() -> ScriptBuf {
    ScriptBuf::from_bytes(vec![0x51])
}

/// `tx_count` transactions of `inputs_per_tx` inputs each, every input spending an `OP_TRUE`.
fn shape(name: &str, tx_count: usize, inputs_per_tx: usize) -> Shape {
    let coinbase = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(vec![0x01, 0x01]),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(0),
            script_pubkey: op_true(),
        }],
    };
    let mut txs = vec![coinbase];
    let mut spent = vec![Vec::new()];
    let mut n = 0u64;
    for _ in 0..tx_count {
        let input = (0..inputs_per_tx)
            .map(|_| {
                n += 1;
                let mut id = [0u8; 32];
                id[..8].copy_from_slice(&n.to_le_bytes());
                TxIn {
                    previous_output: OutPoint {
                        txid: Txid::from_byte_array(id),
                        vout: 0,
                    },
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::MAX,
                    witness: Witness::new(),
                }
            })
            .collect();
        txs.push(Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input,
            output: vec![TxOut {
                value: Amount::from_sat(1_000),
                script_pubkey: op_true(),
            }],
        });
        let prev = TxOut {
            value: Amount::from_sat(1_000),
            script_pubkey: op_true(),
        };
        spent.push(vec![prev; inputs_per_tx]);
    }
    Shape {
        name: name.to_string(),
        txs,
        spent,
        inputs: tx_count * inputs_per_tx,
    }
}

/// Median wall time of `runs` verifications of `s` on `threads` threads.
fn measure(s: &Shape, threads: usize, runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            verify_block_scripts(&s.txs, &s.spent, VERIFY_ALL, threads).expect("OP_TRUE spends verify");
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let runs = std::env::var("BLVM_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 5 } else { 1 });
    let (small, large) = if full { (5_000, 20_000) } else { (500, 2_000) };
    let shapes = [
        shape(&format!("1 tx x {small} inputs"), 1, small),
        shape(&format!("1 tx x {large} inputs"), 1, large),
        shape(&format!("{} txs x 2 inputs", small / 2), small / 2, 2),
        shape(&format!("{} txs x 2 inputs", large / 2), large / 2, 2),
    ];
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("| shape | inputs | serialized MB | threads | median ms | µs/input |");
    println!("|---|---|---|---|---|---|");
    let mut per_input: Vec<(usize, f64)> = Vec::new();
    for threads in [1, cores.max(2)] {
        for s in &shapes {
            let d = measure(s, threads, runs);
            let us = d.as_secs_f64() * 1e6 / s.inputs as f64;
            let mb = s.txs.iter().map(|t| bitcoin::consensus::serialize(t).len()).sum::<usize>() as f64 / 1e6;
            println!(
                "| {} | {} | {:.2} | {} | {:.2} | {:.3} |",
                s.name,
                s.inputs,
                mb,
                threads,
                d.as_secs_f64() * 1e3,
                us
            );
            per_input.push((threads, us));
        }
    }
    for threads in [1, cores.max(2)] {
        let v: Vec<f64> = per_input.iter().filter(|(t, _)| *t == threads).map(|(_, u)| *u).collect();
        let (lo, hi) = v.iter().fold((f64::MAX, 0f64), |(lo, hi), &u| (lo.min(u), hi.max(u)));
        println!("threads {threads}: slowest/fastest per input = {:.2}x", hi / lo);
        if full {
            assert!(hi / lo <= MAX_RATIO, "per-input cost not linear: {:.2}x > {MAX_RATIO}x", hi / lo);
        }
    }
}

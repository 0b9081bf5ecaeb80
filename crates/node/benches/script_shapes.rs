//! Script verification cost by block shape: the same number of inputs as one huge transaction or
//! as many small ones must cost the same per input (linear), on one thread and on several.
//!
//! `cargo bench -p blvm-node --bench script_shapes` builds this in the release (bench) profile.
//! Every spent output is a bare `OP_TRUE` (no signatures), so the figure is the interpreter's
//! per-input overhead plus preparing each transaction (parse and precomputed hashes): exactly
//! the part that used to be repeated for every input of a transaction. The run fails if a shape's
//! CPU time per input grows more than 1.5x from 5,000 to 20,000 inputs, or if the huge
//! transaction costs more than 1.5x per input than small transactions with as many inputs. Without `--bench` (e.g.
//! `cargo test --benches`) a small smoke version runs. `BLVM_BENCH_RUNS` sets the repetitions
//! per figure (default 5; the fastest wall time and the median CPU time are reported).

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

/// CPU time (user + system) this process has used so far.
fn cpu_time() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Fastest wall time and median CPU time of `runs` verifications of `s` on `threads` threads.
/// On a shared machine the fastest wall time is the least disturbed one; CPU time is what the
/// linearity check uses, as other processes barely change it.
fn measure(s: &Shape, threads: usize, runs: usize) -> (Duration, Duration) {
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    for _ in 0..runs {
        let (t, c) = (Instant::now(), cpu_time());
        verify_block_scripts(&s.txs, &s.spent, VERIFY_ALL, threads).expect("OP_TRUE spends verify");
        walls.push(t.elapsed());
        cpus.push(cpu_time() - c);
    }
    cpus.sort();
    (walls.into_iter().min().unwrap_or_default(), cpus[cpus.len() / 2])
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
    println!("| shape | inputs | serialized MB | threads | min wall ms | wall µs/input | CPU µs/input |");
    println!("|---|---|---|---|---|---|---|");
    let mut per_input: Vec<(usize, f64)> = Vec::new();
    for threads in [1, cores.max(2)] {
        for s in &shapes {
            let (wall, cpu) = measure(s, threads, runs);
            let per = |d: Duration| d.as_secs_f64() * 1e6 / s.inputs as f64;
            let mb = s.txs.iter().map(|t| bitcoin::consensus::serialize(t).len()).sum::<usize>() as f64 / 1e6;
            println!(
                "| {} | {} | {:.2} | {} | {:.2} | {:.3} | {:.3} |",
                s.name,
                s.inputs,
                mb,
                threads,
                wall.as_secs_f64() * 1e3,
                per(wall),
                per(cpu)
            );
            per_input.push((threads, per(cpu)));
        }
    }
    // Linear: each shape's cost per input at the large size within MAX_RATIO of the small size,
    // and the huge transaction no costlier per input than many small ones with as many inputs.
    let n = shapes.len();
    for (k, threads) in [1, cores.max(2)].into_iter().enumerate() {
        let v = &per_input[k * n..(k + 1) * n];
        let checks = [
            ("1 huge tx, large/small", v[1].1 / v[0].1),
            ("small txs, large/small", v[3].1 / v[2].1),
            ("huge tx/small txs, small", v[0].1 / v[2].1),
            ("huge tx/small txs, large", v[1].1 / v[3].1),
        ];
        for (what, ratio) in checks {
            println!("threads {threads}: CPU time per input, {what} = {ratio:.2}x");
            if full {
                assert!(ratio <= MAX_RATIO, "{what}: {ratio:.2}x > {MAX_RATIO}x (threads {threads})");
            }
        }
    }
}

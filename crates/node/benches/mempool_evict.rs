//! Mempool scaling benchmark (not a timed test): fills a `Pool` with `BLVM_BENCH_ENTRIES`
//! transactions (default 20,000) in chains of 25 (Core's package limit), each chain at its own
//! feerate; times a block template's selection on it (`block_selection::select_transactions`,
//! µs per pool entry), then forces `BLVM_BENCH_EVICTIONS` evictions (default 5,000) one at a
//! time, as a full pool does on every acceptance (`trim_to_size` to just under the current
//! usage). Neither per-unit figure may grow with the pool size: the old `trim_to_size` scanned
//! every entry's descendants per eviction, and the old selection scanned the whole pool per
//! package chosen (both quadratic).
//!
//! Run: `cargo bench -p blvm-node --bench mempool_evict`. Without `--bench` (`cargo test
//! --benches`) a small smoke run is done. Every eviction is checked to remove at least one
//! entry, and the pool's maintained aggregates are checked against a recomputation at the end.

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use blvm_node::mempool::block_selection::select_transactions;
use blvm_node::mempool::template::BlockOptions;
use blvm_node::mempool::{MempoolEntry, Pool};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

/// Transactions per chain (Core's default ancestor/descendant count limit).
const CHAIN: usize = 25;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn chain_tx(prev: OutPoint, tag: u32) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::from_consensus(tag),
        input: vec![TxIn {
            previous_output: prev,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(50_000),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
        }],
    }
}

/// A pool of `n` entries in chains of [`CHAIN`]; chain `c` pays a feerate depending on `c`.
fn fill(n: usize) -> Pool {
    let mut pool = Pool::new();
    let chains = n.div_ceil(CHAIN);
    let mut tag = 0u32;
    for c in 0..chains {
        let mut prev = OutPoint {
            txid: Txid::from_byte_array([(c % 251) as u8; 32]),
            vout: c as u32,
        };
        // Feerates 1..~100 sat/vB spread over the chains, so evictions pick among many chains.
        let rate = 1 + (c as u64 * 7919) % 100;
        for _ in 0..CHAIN.min(n - c * CHAIN) {
            tag += 1;
            let tx = chain_tx(prev, tag);
            let vsize = tx.vsize() as u64;
            let txid = tx.compute_txid();
            let e = MempoolEntry {
                txid,
                wtxid: tx.compute_wtxid(),
                tx: Arc::new(tx),
                fee: rate * vsize,
                vsize,
                weight: vsize * 4,
                sigop_cost: 0,
                time: 0,
                height: 0,
                sequence: pool.next_entry_sequence(),
                relay_sequence: 0,
                spends_coinbase: false,
                parents: BTreeSet::new(),
                children: BTreeSet::new(),
                delta: 0,
            };
            pool.add(e);
            prev = OutPoint { txid, vout: 0 };
        }
    }
    pool
}

fn run(entries: usize, evictions: usize) {
    let t = Instant::now();
    let mut pool = fill(entries);
    let fill_time = t.elapsed();
    assert_eq!(pool.len(), entries);
    let t = Instant::now();
    let selected = select_transactions(&pool, &BlockOptions::default());
    let select_time = t.elapsed();
    assert!(!selected.is_empty(), "the template selected nothing");
    let mut evicted_entries = 0usize;
    let t = Instant::now();
    for _ in 0..evictions {
        let removed = pool.trim_to_size(pool.usage() - 1, 100);
        assert!(!removed.is_empty(), "an eviction removed nothing");
        evicted_entries += removed.len();
    }
    let evict_time = t.elapsed();
    println!(
        "entries {entries:>6}  chains of {CHAIN}  fill {:>8.1} ms ({:.2} µs/entry)  template {:>8.1} ms ({:.2} µs/entry, {} txs)  evictions {evictions:>5} ({evicted_entries} entries)  {:>10.2} µs/eviction",
        fill_time.as_secs_f64() * 1e3,
        fill_time.as_secs_f64() * 1e6 / entries as f64,
        select_time.as_secs_f64() * 1e3,
        select_time.as_secs_f64() * 1e6 / entries as f64,
        selected.len(),
        evict_time.as_secs_f64() * 1e6 / evictions as f64,
    );
    if let Err(e) = pool.check_invariants() {
        panic!("pool inconsistent after the run: {e}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        run(500, 100);
        return;
    }
    let entries = env_usize("BLVM_BENCH_ENTRIES", 20_000);
    let evictions = env_usize("BLVM_BENCH_EVICTIONS", 5_000);
    // The same eviction count on pools of growing size: a flat µs/eviction column is the point.
    for n in [entries / 4, entries / 2, entries] {
        run(n, evictions.min(n / 2));
    }
}

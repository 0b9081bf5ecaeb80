//! `-assumevalid` on the bench chain (`shared/bench/bench-chain.blk`, 1,300 blocks, 221,607
//! signatures): the chain imported with `-assumevalid=<tip>` against `-assumevalid=0`.
//!
//! `cargo bench -p blvm-node --bench assume_valid` builds this in the release (bench) profile.
//! Core skips scripts only for blocks whose best header is more than two weeks of equivalent work
//! ahead (2,016 regtest blocks) and whose assumed-valid block is already in the header index. The
//! bench chain alone meets neither when imported block by block, so two paths are measured:
//!
//! - `import`: `import_file` (what `blvm-node import` runs) with `assume_valid` at the bench tip
//!   and with none: nothing can be skipped (the tip's header arrives last, and 1,300 blocks are
//!   less than two weeks of work), so both must take the same time.
//! - `headers first`: as a node syncing from peers, the headers first, here the bench chain's and
//!   2,100 more on top of it (empty blocks made by the bench, their headers only), then the 1,300
//!   blocks; `assume_valid` at the last header, against none.
//!
//! Every run starts from a fresh datadir (450 MiB cache, 2 script threads), ends with a durable
//! flush, and must reach Core's tip and UTXO `hash_serialized_3` (from bench-chain.json).
//! `BLVM_BENCH_RUNS` sets the runs per mode (default 3; median and fastest wall time and the
//! median CPU time, user plus system, are reported). Without
//! `--bench` (e.g. `cargo test --benches`) nothing runs.

#[path = "../tests/support/mod.rs"]
mod support;
use support::shared_dir;

use bitcoin::block::Header;
use bitcoin::{Amount, BlockHash};
use blvm_node::chain::{BlockOutcome, ChainManager, ChainSettings, FlushReason};
use blvm_node::import::{import_file, BlockFileReader};
use blvm_node::params::ChainParams;
use blvm_testkit::mining::{self, Parent};
use std::path::Path;
use std::time::{Duration, Instant};

/// Empty blocks put on the bench tip for the headers-first path (> 2,016: two weeks of work).
const EXTRA_HEADERS: u32 = 2_100;

fn settings(assume_valid: Option<BlockHash>) -> ChainSettings {
    ChainSettings {
        dbcache_bytes: 450 << 20,
        script_threads: 2,
        assume_valid,
        ..Default::default()
    }
}

/// Checks the chain ended at Core's tip and UTXO set.
fn check(chain: &mut ChainManager, core: &serde_json::Value) {
    let tip = core["tip"]["hash"].as_str().expect("tip hash");
    let utxo = core["gettxoutsetinfo"]["hash_serialized_3"]["hash_serialized_3"]
        .as_str()
        .expect("utxo hash");
    assert_eq!(chain.tip().hash.to_string(), tip, "tip differs from Core's");
    assert_eq!(
        chain.utxo_stats().expect("utxo stats").hash_serialized_3,
        utxo,
        "UTXO set differs from Core's"
    );
}

/// Opens a fresh datadir, runs `work` on it and flushes; returns the wall time of all that,
/// after checking the result against Core.
fn timed(assume_valid: Option<BlockHash>, core: &serde_json::Value, work: impl FnOnce(&mut ChainManager)) -> (Duration, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cpu_start = cpu_seconds();
    let start = Instant::now();
    let params = ChainParams::for_network(bitcoin::Network::Regtest);
    let mut chain = ChainManager::open(params, dir.path(), settings(assume_valid)).expect("open");
    work(&mut chain);
    chain.flush(FlushReason::Manual).expect("flush");
    let took = (start.elapsed(), cpu_seconds() - cpu_start);
    check(&mut chain, core);
    took
}

/// User plus system CPU time of this process so far (every thread).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// `import_file` of the bench chain.
fn run_import(file: &Path, assume_valid: Option<BlockHash>, core: &serde_json::Value) -> (Duration, f64) {
    timed(assume_valid, core, |chain| {
        import_file(chain, file, Duration::from_secs(3600)).expect("import");
    })
}

/// Every header first (`headers`), then the blocks.
fn run_headers_first(
    blocks: &[bitcoin::Block],
    headers: &[Header],
    assume_valid: Option<BlockHash>,
    core: &serde_json::Value,
) -> (Duration, f64) {
    timed(assume_valid, core, |chain| {
        for h in headers {
            chain.accept_header(h).expect("header").expect("valid header");
        }
        for b in blocks {
            let out = chain.process_block(b).expect("block");
            assert!(matches!(out, BlockOutcome::Accepted { .. }), "{out:?}");
        }
    })
}

/// Headers of `EXTRA_HEADERS` empty blocks on top of `blocks` (heights from 1).
fn extra_headers(blocks: &[bitcoin::Block]) -> Vec<Header> {
    let n = blocks.len();
    let times: Vec<u32> = blocks[n.saturating_sub(11)..n - 1].iter().map(|b| b.header.time).collect();
    let mut parent = Parent::from_block(&blocks[n - 1], n as u32, &times);
    let mut times: Vec<u32> = blocks.iter().map(|b| b.header.time).collect();
    let mut out = Vec::new();
    for i in 0..EXTRA_HEADERS {
        let b = mining::build_block(&parent, u64::from(i), vec![], Amount::ZERO, mining::op_true());
        out.push(b.header);
        parent = Parent::from_block(&b, parent.height + 1, &times);
        times.push(b.header.time);
    }
    out
}

fn summary(runs: Vec<(Duration, f64)>) -> String {
    let mut wall: Vec<Duration> = runs.iter().map(|r| r.0).collect();
    let mut cpu: Vec<f64> = runs.iter().map(|r| r.1).collect();
    wall.sort();
    cpu.sort_by(f64::total_cmp);
    format!(
        "wall median {:>6.2} s fastest {:>6.2} s, CPU median {:>6.2} s",
        wall[wall.len() / 2].as_secs_f64(),
        wall[0].as_secs_f64(),
        cpu[cpu.len() / 2]
    )
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let shared = shared_dir();
    let file = shared.join("bench/bench-chain.blk");
    let core: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shared.join("bench/bench-chain.json")).expect("bench-chain.json")).expect("json");
    let runs: usize = std::env::var("BLVM_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let blocks: Vec<bitcoin::Block> = BlockFileReader::open(&file)
        .and_then(|r| r.map(|item| item.map(|(_, b)| b)).collect())
        .expect("bench chain");
    let tip = blocks.last().expect("blocks").block_hash();
    let mut headers: Vec<Header> = blocks.iter().map(|b| b.header).collect();
    headers.extend(extra_headers(&blocks));
    let header_tip = headers.last().expect("headers").block_hash();

    let (mut imp_av, mut imp_0, mut hf_av, mut hf_0) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        hf_av.push(run_headers_first(&blocks, &headers, Some(header_tip), &core));
        hf_0.push(run_headers_first(&blocks, &headers, None, &core));
        imp_av.push(run_import(&file, Some(tip), &core));
        imp_0.push(run_import(&file, None, &core));
    }
    println!("bench chain (1,300 blocks), 450 MiB cache, 2 script threads, {runs} runs each");
    println!(
        "  headers first (+{EXTRA_HEADERS} headers), -assumevalid=<last header>: {}",
        summary(hf_av)
    );
    println!(
        "  headers first (+{EXTRA_HEADERS} headers), -assumevalid=0:             {}",
        summary(hf_0)
    );
    println!(
        "  import_file, -assumevalid=<bench tip>:                         {}",
        summary(imp_av)
    );
    println!(
        "  import_file, -assumevalid=0:                                   {}",
        summary(imp_0)
    );
}

//! UTXO-scale import (issue 14): how the cost per block grows as the UTXO set grows to millions of
//! coins, for blvm and for Bitcoin Core's engine on the same file in the same invocation.
//!
//! The chain comes from `blvm_testkit::scale_chain` (no signatures, zero-value `OP_TRUE`
//! outputs, each block spending outputs drawn uniformly from all older unspent ones), generated
//! once per parameter set into `$BLVM_SCALE_CACHE_DIR` (default `$TMPDIR/blvm-scale`). Each size
//! is imported:
//!
//! - by blvm: the `blvm-node -regtest -datadir=<fresh> -printtoconsole=0 -dbcache=<N> -par=2
//!   import <file>` binary users run (with `-debug=chain -logtimemicros`, whose debug.log lines
//!   give the time of each block and of each flush); afterwards the datadir is opened here and
//!   its tip and UTXO count must equal the generator's (and `hash_serialized_3` is printed);
//! - by Core's engine: libbitcoinkernel in a child process (this bench re-executed), every block
//!   through `process_block` (see `support/kernel_import.rs`); its tip must equal blvm's.
//!
//! Both children are timed from here: wall time, their own CPU time and peak RSS (`wait4`), and
//! sampled every 20 ms for peak `RssAnon` and `RssFile` (`blvm_testkit::proc_memory`): the peak
//! RSS counts LMDB's file-backed map, the anonymous peak is what `-dbcache` bounds.
//! Reported per engine: those, the mean time per block in each tenth of the blocks after the 100
//! coinbase-only ones (first/last tenth ratio shows growth), flushes (count, total, longest
//! pause validation saw, the final one; blvm also prints its background write times) and the
//! database size (blvm: `chainstate/`; Core: `chainstate/` + `blocks/index/`).
//!
//! Knobs (environment): `BLVM_SCALE_COINS` (comma-separated target UTXO counts; default 1,000,000
//! and 10,000,000 with `--bench`), `BLVM_SCALE_LARGE=1` (adds 19,100,000, the issue's 701-block
//! run, and 30,000,000), `BLVM_SCALE_SPENDS` (inputs per block, default 8,000),
//! `BLVM_SCALE_OUTPUTS` (outputs per block, default 40,000), `BLVM_SCALE_SEED` (default 14),
//! `BLVM_SCALE_DBCACHE` (MiB, comma-separated: one blvm run each; default 450, the kernel's
//! fixed cache), `BLVM_SCALE_BLVM_ARGS` (extra blvm-node options, space-separated, for A/B
//! runs such as `-prevoutfetchthreads=0`), `BLVM_SCALE_ENGINES`
//! (`blvm,kernel`), `BLVM_SCALE_CACHE_DIR`, `BLVM_SCALE_WORK_DIR` (datadirs, default `$TMPDIR`),
//! `BLVM_BENCH_IDLE_WAIT` (seconds to wait for idle cores before each run, `--bench` only).
//!
//! Without `--bench` (`cargo test --benches`): one smoke size of 40,000 coins (500 spends and
//! 3,000 outputs per block), both engines, no idle wait.

#[path = "support/blvm_log.rs"]
mod blvm_log;
#[path = "support/kernel_import.rs"]
mod kernel_import;
#[path = "support/machine.rs"]
mod machine;

use blvm_node::chain::{ChainManager, ChainSettings};
use blvm_node::params::ChainParams;
use blvm_testkit::proc_memory::{MemoryPeaks, MemorySampler};
use blvm_testkit::scale_chain::{self, ScaleParams, ScaleSummary};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Set in the re-executed bench that runs Core's engine: `<file>\t<work dir>`.
const KERNEL_CHILD_ENV: &str = "BLVM_SCALE_KERNEL_CHILD";
/// Blocks holding only a coinbase before the chain starts spending (coinbase maturity).
const BOOTSTRAP_BLOCKS: usize = 100;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.replace(['_', ','], "")
                .parse()
                .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
        })
        .unwrap_or(default)
}

/// One engine's measurements of one import.
#[derive(Debug, Clone, Default)]
struct Run {
    wall_s: f64,
    cpu_s: f64,
    peak_rss_kib: u64,
    /// Peak anonymous / file-backed resident memory sampled from `/proc/<pid>/status`.
    mem: MemoryPeaks,
    /// Seconds from the start to the completion of each block, in file order.
    block_done_s: Vec<f64>,
    /// How long each flush during the import paused validation.
    flush_ms: Vec<f64>,
    final_flush_ms: f64,
    /// blvm: how long each background write took (validation went on meanwhile).
    background_writes_ms: Vec<f64>,
    db_bytes: u64,
    tip: String,
}

impl Run {
    /// Milliseconds of each block after the bootstrap ones, split into tenths of those blocks.
    fn tenth_blocks(&self) -> Vec<Vec<f64>> {
        let d = &self.block_done_s;
        if d.len() <= BOOTSTRAP_BLOCKS + 1 {
            return Vec::new();
        }
        let n = d.len() - BOOTSTRAP_BLOCKS;
        (0..10)
            .map(|i| (BOOTSTRAP_BLOCKS + i * n / 10, BOOTSTRAP_BLOCKS + (i + 1) * n / 10))
            .filter(|(a, b)| b > a)
            .map(|(a, b)| (a..b).map(|j| (d[j] - d[j - 1]) * 1e3).collect())
            .collect()
    }

    /// Mean milliseconds per block in each tenth (flush pauses included).
    fn tenths(&self) -> Vec<f64> {
        self.tenth_blocks().iter().map(|t| t.iter().sum::<f64>() / t.len() as f64).collect()
    }

    /// Median milliseconds per block in each tenth (a flush pause is one block: left out).
    fn tenth_medians(&self) -> Vec<f64> {
        self.tenth_blocks()
            .into_iter()
            .map(|mut t| {
                t.sort_by(f64::total_cmp);
                t[t.len() / 2]
            })
            .collect()
    }

    fn longest_flush_ms(&self) -> f64 {
        self.flush_ms.iter().copied().fold(0.0, f64::max)
    }
}

/// blvm: the `blvm-node import` binary, then the datadir checked against the generator.
fn run_blvm(file: &Path, summary: &ScaleSummary, dbcache_mib: u64, work: &Path) -> Run {
    let dir = tempfile::tempdir_in(work).expect("datadir");
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_blvm-node"))
        .arg("-regtest")
        .arg(format!("-datadir={}", dir.path().display()))
        .args([
            "-printtoconsole=0",
            "-par=2",
            "-debug=chain",
            "-logtimemicros",
            "-progressinterval=10000",
        ])
        .arg(format!("-dbcache={dbcache_mib}"))
        .args(std::env::var("BLVM_SCALE_BLVM_ARGS").unwrap_or_default().split_whitespace())
        .arg("import")
        .arg(file)
        .spawn()
        .expect("spawn blvm-node");
    let sampler = MemorySampler::start(child.id());
    let usage = machine::wait_child(&mut child);
    let mem = sampler.finish();
    let wall_s = start.elapsed().as_secs_f64();
    let net = dir.path().join("regtest");
    let log_text = std::fs::read_to_string(net.join("debug.log")).unwrap_or_default();
    assert!(usage.success, "blvm-node import failed (status {}):\n{log_text}", usage.status);
    let log = blvm_log::parse(&log_text);
    assert_eq!(log.block_done_s.len(), summary.blocks as usize, "blocks connected per the log");
    let (mut flush_ms, mut final_flush_ms) = (Vec::new(), 0.0);
    for (reason, ms) in &log.flushes {
        match reason.as_str() {
            "shutdown" => final_flush_ms = *ms,
            _ => flush_ms.push(*ms),
        }
    }
    let db_bytes = machine::dir_size(&net.join("chainstate"));
    let settings = ChainSettings {
        dbcache_bytes: 64 << 20,
        ..Default::default()
    };
    let mut chain =
        ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), &net, settings).expect("open the imported chain");
    let stats = chain.utxo_stats().expect("utxo stats");
    let tip = chain.tip().hash.to_string();
    assert_eq!(tip, summary.tip, "blvm's tip is not the file's last block");
    assert_eq!(stats.txouts, summary.utxos, "blvm's UTXO count differs from the generator's");
    println!(
        "  blvm: tip {tip}, {} coins, hash_serialized_3 {}",
        stats.txouts, stats.hash_serialized_3
    );
    Run {
        wall_s,
        cpu_s: usage.user_s + usage.sys_s,
        peak_rss_kib: usage.peak_rss_kib,
        mem,
        block_done_s: log.block_done_s.iter().map(|(_, t)| *t).collect(),
        flush_ms,
        final_flush_ms,
        background_writes_ms: log.background_writes_ms,
        db_bytes,
        tip,
    }
}

/// Core's engine: this bench re-executed as the kernel child.
fn run_kernel(file: &Path, work: &Path) -> Run {
    let dir = tempfile::tempdir_in(work).expect("kernel dir");
    let start = Instant::now();
    let mut child = Command::new(std::env::current_exe().expect("current exe"))
        .env(KERNEL_CHILD_ENV, format!("{}\t{}", file.display(), dir.path().display()))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn kernel child");
    let sampler = MemorySampler::start(child.id());
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().expect("stdout"), &mut out).expect("kernel child output");
    let usage = machine::wait_child(&mut child);
    let mem = sampler.finish();
    let wall_s = start.elapsed().as_secs_f64();
    assert!(usage.success, "kernel import failed (status {}):\n{out}", usage.status);
    let r: Value = out
        .lines()
        .find_map(|l| l.strip_prefix("KERNEL_RESULT "))
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no result from the kernel child:\n{out}"));
    assert_eq!(r["final_flush_logged"], json!(true), "Core's flush timers were not captured");
    let floats = |k: &str| -> Vec<f64> { r[k].as_array().expect(k).iter().filter_map(Value::as_f64).collect() };
    Run {
        wall_s,
        cpu_s: usage.user_s + usage.sys_s,
        peak_rss_kib: usage.peak_rss_kib,
        mem,
        block_done_s: floats("block_done_s"),
        flush_ms: floats("flush_ms"),
        final_flush_ms: r["final_flush_ms"].as_f64().unwrap_or(0.0),
        background_writes_ms: Vec::new(),
        db_bytes: r["db_bytes"].as_u64().unwrap_or(0),
        tip: r["tip"].as_str().unwrap_or_default().to_string(),
    }
}

fn row(name: &str, r: &Run) -> String {
    let (t, m) = (r.tenths(), r.tenth_medians());
    let ends = |t: &[f64]| (t.first().copied().unwrap_or(f64::NAN), t.last().copied().unwrap_or(f64::NAN));
    let ((first, last), (mfirst, mlast)) = (ends(&t), ends(&m));
    format!(
        "| {name} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} | {:.2} | {:.1} / {:.1} ({:.2}) | {} / {:.1} | {:.2} | {:.2} | {:.0} |",
        r.wall_s,
        r.cpu_s,
        r.peak_rss_kib as f64 / 1024.0,
        r.mem.rss_anon_kib as f64 / 1024.0,
        r.mem.rss_file_kib as f64 / 1024.0,
        first,
        last,
        last / first,
        mfirst,
        mlast,
        mlast / mfirst,
        r.flush_ms.len(),
        r.flush_ms.iter().sum::<f64>() / 1e3 + 0.0,
        r.longest_flush_ms() / 1e3,
        r.final_flush_ms / 1e3,
        r.db_bytes as f64 / (1 << 20) as f64,
    )
}

fn ratio_row(name: &str, b: &Run, k: &Run) -> String {
    let (tb, tk) = (b.tenths(), k.tenths());
    let q = |x: f64, y: f64| if y > 0.0 { format!("{:.2}x", x / y) } else { "-".into() };
    let last = |t: &[f64]| t.last().copied().unwrap_or(f64::NAN);
    let first = |t: &[f64]| t.first().copied().unwrap_or(f64::NAN);
    format!(
        "| {name} / kernel | {} | {} | {} | {} | {} | {} | {} | | {} | | {} | | {} |",
        q(b.wall_s, k.wall_s),
        q(b.cpu_s, k.cpu_s),
        q(b.peak_rss_kib as f64, k.peak_rss_kib as f64),
        q(b.mem.rss_anon_kib as f64, k.mem.rss_anon_kib as f64),
        q(b.mem.rss_file_kib as f64, k.mem.rss_file_kib as f64),
        q(first(&tb), first(&tk)),
        q(last(&tb), last(&tk)),
        q(last(&b.tenth_medians()), last(&k.tenth_medians())),
        q(b.longest_flush_ms(), k.longest_flush_ms()),
        q(b.db_bytes as f64, k.db_bytes as f64),
    )
}

/// Generates (or finds) the file, runs the engines, prints the table; returns the runs.
fn measure(params: ScaleParams, dbcaches: &[u64], engines: &str, full: bool) -> Vec<(String, Run)> {
    let cache = std::env::var_os("BLVM_SCALE_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("blvm-scale"));
    let work = std::env::var_os("BLVM_SCALE_WORK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let gen_start = Instant::now();
    let (file, summary) = scale_chain::cached(params, &cache).expect("generate the scale chain");
    println!(
        "\n## {} coins: {} blocks, {} transactions, {} inputs, {:.1} MiB ({}; ready in {:.1} s)",
        summary.utxos,
        summary.blocks,
        summary.transactions,
        summary.inputs,
        summary.bytes as f64 / (1 << 20) as f64,
        file.display(),
        gen_start.elapsed().as_secs_f64()
    );
    std::fs::read(&file).expect("warm the page cache with the file");
    let mut runs: Vec<(String, Run)> = Vec::new();
    let mut jobs: Vec<(String, Option<u64>)> = Vec::new();
    if engines.contains("blvm") {
        jobs.extend(dbcaches.iter().map(|&d| (format!("blvm -dbcache={d}"), Some(d))));
    }
    if engines.contains("kernel") {
        jobs.push(("kernel".into(), None));
    }
    for (engine, dbcache) in jobs {
        let busy = if full { machine::wait_for_idle() } else { 0.0 };
        let b0 = machine::cpu_jiffies().0;
        let r = match dbcache {
            Some(d) => run_blvm(&file, &summary, d, &work),
            None => run_kernel(&file, &work),
        };
        let others = (machine::busy_seconds_since(b0) - r.cpu_s).max(0.0);
        println!(
            "  {engine}: wall {:.1} s, cpu {:.1} s, busy before {:.0}%, other processes' CPU during the run {:.1} s",
            r.wall_s,
            r.cpu_s,
            busy * 100.0,
            others
        );
        assert_eq!(r.tip, summary.tip, "{engine} did not end at the file's last block");
        runs.push((engine, r));
    }
    println!("\n| engine | wall s | CPU s | peak RSS MiB | peak RssAnon MiB | peak RssFile MiB | ms/block first tenth | ms/block last tenth | last/first | median ms/block first / last tenth (last/first) | flushes / total pause s | longest flush pause s | final flush s | db MiB |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, r) in &runs {
        println!("{}", row(name, r));
    }
    if let Some((_, k)) = runs.iter().find(|(n, _)| n == "kernel") {
        for (name, b) in runs.iter().filter(|(n, _)| n != "kernel") {
            println!("{}", ratio_row(name, b, k));
        }
    }
    for (name, r) in &runs {
        let t: Vec<String> = r.tenths().iter().map(|v| format!("{v:.1}")).collect();
        println!("{name} ms/block by tenth: {}", t.join(" "));
        let m: Vec<String> = r.tenth_medians().iter().map(|v| format!("{v:.1}")).collect();
        println!("{name} median ms/block by tenth: {}", m.join(" "));
        let f: Vec<String> = r.flush_ms.iter().map(|v| format!("{:.2}", v / 1e3)).collect();
        println!("{name} flush pauses s: {}", f.join(" "));
        if !r.background_writes_ms.is_empty() {
            let w: Vec<String> = r.background_writes_ms.iter().map(|v| format!("{:.2}", v / 1e3)).collect();
            println!("{name} background writes s: {}", w.join(" "));
        }
    }
    runs
}

fn main() {
    if let Ok(spec) = std::env::var(KERNEL_CHILD_ENV) {
        let (file, dir) = spec.split_once('\t').expect("file\\tdir");
        let r = kernel_import::run(Path::new(file), Path::new(dir));
        println!("KERNEL_RESULT {}", json!(r));
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let dbcaches: Vec<u64> = match std::env::var("BLVM_SCALE_DBCACHE") {
        Ok(list) => list
            .split(',')
            .map(|s| s.trim().replace('_', "").parse().expect("BLVM_SCALE_DBCACHE"))
            .collect(),
        Err(_) => vec![450],
    };
    let engines = std::env::var("BLVM_SCALE_ENGINES").unwrap_or_else(|_| "blvm,kernel".into());
    let seed = env_u64("BLVM_SCALE_SEED", scale_chain::ISSUE14_SEED);
    let (spends, outputs, sizes): (u64, u64, Vec<u64>) = if full {
        let mut sizes: Vec<u64> = match std::env::var("BLVM_SCALE_COINS") {
            Ok(list) => list
                .split(',')
                .map(|s| s.trim().replace('_', "").parse().expect("BLVM_SCALE_COINS"))
                .collect(),
            Err(_) => vec![1_000_000, 10_000_000],
        };
        if std::env::var("BLVM_SCALE_LARGE").as_deref() == Ok("1") {
            sizes.extend([19_100_000, 30_000_000]);
        }
        let spends = env_u64("BLVM_SCALE_SPENDS", scale_chain::ISSUE14_SPENDS_PER_BLOCK.into());
        let outputs = env_u64("BLVM_SCALE_OUTPUTS", scale_chain::ISSUE14_OUTPUTS_PER_BLOCK.into());
        (spends, outputs, sizes)
    } else {
        println!("smoke mode (no --bench): 40,000 coins, 500 spends and 3,000 outputs per block");
        (500, 3_000, vec![40_000])
    };
    if dbcaches != [450] && engines.contains("kernel") {
        println!("note: the kernel's coins cache is fixed at 450 MiB; blvm runs with -dbcache={dbcaches:?}");
    }
    println!("blvm-node {}, dbcache {dbcaches:?} MiB, seed {seed}", env!("CARGO_PKG_VERSION"));
    for coins in sizes {
        let params = ScaleParams {
            target_coins: coins,
            spends_per_block: spends as u32,
            outputs_per_block: outputs as u32,
            seed,
        };
        measure(params, &dbcaches, &engines, full);
    }
}

//! Acceptance 5: crash safety. The node is killed with SIGKILL at 20 random points during an
//! import of a real chain (the first 500 blocks of `shared/bench/bench-chain.blk`) and restarted
//! each time on the same datadir; after a final uninterrupted run it must end at exactly the tip,
//! active chain and UTXO set (hash_serialized_3, count, amount) of an uninterrupted import, with
//! no manual repair in between. The uninterrupted reference is itself checked block by block
//! against Bitcoin Core's per-block data in `bench-chain.json` (ntx, weight, size, time).
//!
//! Two scenarios, run one after the other (they share a lock so their timings do not disturb each
//! other on a 2-core machine):
//! - `sigkill_node_binary_during_import`: the real `blvm-node` binary with `-dbcache=4` (the
//!   smallest cache the CLI accepts). Over the first 500 blocks the UTXO cache stays below 4 MiB
//!   (the first cache-full flush comes near height 778), so the only flushes are the genesis one
//!   and the final one: these kills exercise block-file replay after a crash and the final flush.
//! - `sigkill_during_frequent_flushes`: this test binary re-runs itself as the child, importing
//!   in-process through the library with a 256 KiB coins cache, so the cache-full flush (fsync of
//!   the block/undo files, then one database commit of coins + index + best block + scan position)
//!   happens every few blocks and the kills land before, inside and after those commits. It
//!   runs with the transaction index on, which must survive every kill without a rebuild.
//!
//! Kill points: every fourth kill comes at a random time within the previous run's open/replay
//! time; the others come when the block files reach a random size in the not-yet-stored part of
//! the chain (plus a random 0-50 ms), spread so the 20 kills cover the whole import. After every
//! kill, the next run must recover exactly the blocks whose records were complete on disk.
//! (A torn block-file tail cannot really be produced by SIGKILL: each record is one `write`.)
//!
//! The RNG is seeded; the seed is printed and can be fixed with `BLVM_CRASH_SEED=<u64>`.

mod support;

use support::crash::{self, debug_log, file_len, log_since, logged_number, open_chain, read_state, settings, FinalState};

use bitcoin::consensus::deserialize;
use bitcoin::{Block, BlockHash};
use blvm_node::chain::{ChainManager, ChainSettings, FlushReason};
use blvm_node::import::import_file;
use blvm_node::params::ChainParams;
use rand::{Rng, SeedableRng};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Number of SIGKILLs per scenario (the acceptance criterion says 20).
const KILLS: usize = 20;
/// At least this many of the kills must hit a process that was still running.
const MIN_KILLS_WHILE_RUNNING: usize = 15;
/// Blocks of the bench chain imported by the binary scenario (~2 s in the dev profile).
const NODE_BLOCKS: usize = 500;
/// Blocks imported by the frequent-flush scenario.
const FLUSH_BLOCKS: usize = 500;
/// Coins-cache budget of the frequent-flush child.
const FLUSH_DBCACHE_BYTES: usize = 256 * 1024;
/// A child that runs longer than this is a hang.
const CHILD_TIMEOUT: Duration = Duration::from_secs(180);

/// Environment variables that turn `crash_child_import` into the frequent-flush child.
const CHILD_DATADIR: &str = "BLVM_CRASH_CHILD_DATADIR";
const CHILD_FILE: &str = "BLVM_CRASH_CHILD_FILE";
const CHILD_DBCACHE: &str = "BLVM_CRASH_CHILD_DBCACHE";

/// Serializes the scenarios: each measures its own timings and needs both cores.
static SERIAL: Mutex<()> = Mutex::new(());

/// The first `n` blocks of the bench chain written to a temporary blk-framed file.
struct Prefix {
    _dir: tempfile::TempDir,
    path: PathBuf,
    hashes: Vec<BlockHash>,
    /// Cumulative framed size after each block (for turning block-file sizes into block counts).
    frame_ends: Vec<u64>,
}

fn bench_chain_path() -> PathBuf {
    let p = support::shared_dir().join("bench/bench-chain.blk");
    assert!(
        p.exists(),
        "bench chain missing at {} (the crash tests need it; set BLVM_SHARED_DIR)",
        p.display()
    );
    p
}

/// Splits the blk framing (magic fabfb5da | u32 LE length | block) and keeps the first `n` frames.
fn write_prefix(n: usize) -> Prefix {
    let data = std::fs::read(bench_chain_path()).expect("read bench chain");
    let mut pos = 0usize;
    let mut hashes = Vec::with_capacity(n);
    let mut frame_ends = Vec::with_capacity(n);
    for raw in crash::blk_frames(&data).take(n) {
        hashes.push(crash::block_hash(raw));
        pos += 8 + raw.len();
        frame_ends.push(pos as u64);
    }
    assert_eq!(hashes.len(), n, "bench chain has only {} blocks, need {n}", hashes.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("bench-prefix-{n}.blk"));
    std::fs::write(&path, &data[..pos]).unwrap();
    Prefix {
        _dir: dir,
        path,
        hashes,
        frame_ends,
    }
}

/// Checks a reference datadir block by block against the file and Core's per-block data.
fn check_reference_against_core(datadir: &Path, prefix: &Prefix) {
    let bench: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(support::shared_dir().join("bench/bench-chain.json")).expect("read bench json"))
            .expect("parse bench json");
    let cols: Vec<&str> = bench["per_block_columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let col = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .unwrap_or_else(|| panic!("per_block has no {name} column"))
    };
    let (ch, cn, cw, cs, ct) = (col("height"), col("ntx"), col("weight"), col("size"), col("time"));
    let per_block = bench["per_block"].as_array().unwrap();
    let chain = open_chain(datadir);
    assert_eq!(
        chain.height() as usize,
        prefix.hashes.len(),
        "reference import did not reach the end of the file"
    );
    for (i, expected_hash) in prefix.hashes.iter().enumerate() {
        let h = i as u32 + 1;
        let row = per_block[i].as_array().unwrap();
        assert_eq!(row[ch].as_u64().unwrap(), h as u64);
        let hash = chain.hash_at(h).unwrap();
        assert_eq!(&hash, expected_hash, "active hash at height {h}");
        let block: Block = chain.read_block(&hash).unwrap().expect("block data");
        assert_eq!(block.txdata.len() as u64, row[cn].as_u64().unwrap(), "ntx at {h}");
        assert_eq!(block.weight().to_wu(), row[cw].as_u64().unwrap(), "weight at {h}");
        assert_eq!(block.total_size() as u64, row[cs].as_u64().unwrap(), "size at {h}");
        assert_eq!(block.header.time as u64, row[ct].as_u64().unwrap(), "time at {h}");
    }
}

/// How a child process is started.
#[derive(Clone, Copy, Debug)]
enum Launcher {
    /// `blvm-node -regtest -datadir=D -dbcache=4 import FILE`.
    NodeBinary,
    /// This test binary running `crash_child_import` with a tiny coins cache.
    FrequentFlushChild,
}

fn spawn(launcher: Launcher, datadir: &Path, file: &Path, stderr_log: &Path) -> Child {
    let stderr = std::fs::OpenOptions::new().create(true).append(true).open(stderr_log).unwrap();
    let mut cmd = match launcher {
        Launcher::NodeBinary => {
            let mut c = Command::new(support::node_bin());
            c.arg("-regtest")
                .arg(format!("-datadir={}", datadir.display()))
                .arg("-dbcache=4")
                .arg("-printtoconsole=0")
                .arg("import")
                .arg(file);
            c
        }
        Launcher::FrequentFlushChild => {
            let mut c = Command::new(std::env::current_exe().unwrap());
            c.args(["crash_child_import", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
                .env(CHILD_DATADIR, datadir)
                .env(CHILD_FILE, file)
                .env(CHILD_DBCACHE, FLUSH_DBCACHE_BYTES.to_string());
            c
        }
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn child")
}

/// Runs one child to completion; panics with its logs if it fails. Returns the wall time.
fn run_to_completion(launcher: Launcher, datadir: &Path, file: &Path, stderr_log: &Path) -> (f64, String) {
    let log_path = debug_log(datadir);
    let offset = file_len(&log_path);
    let start = Instant::now();
    let mut child = spawn(launcher, datadir, file, stderr_log);
    let status = crash::wait_with_timeout(&mut child, CHILD_TIMEOUT);
    let secs = start.elapsed().as_secs_f64();
    let log = log_since(&log_path, offset);
    assert!(
        status.success(),
        "{launcher:?} import failed ({status}):\n--- stderr ---\n{}\n--- debug.log ---\n{log}",
        std::fs::read_to_string(stderr_log).unwrap_or_default()
    );
    assert!(
        log.contains("import finished"),
        "{launcher:?} exited 0 without finishing the import:\n{log}"
    );
    (secs, log)
}

/// The reference: one uninterrupted `blvm-node` import of the prefix into a fresh datadir.
fn reference(prefix: &Prefix) -> FinalState {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("ref");
    let (secs, _) = run_to_completion(Launcher::NodeBinary, &datadir, &prefix.path, &dir.path().join("stderr.log"));
    check_reference_against_core(&datadir, prefix);
    let state = read_state(&datadir);
    assert_eq!(state.height as usize, prefix.hashes.len());
    assert_eq!(state.tip, *prefix.hashes.last().unwrap());
    println!(
        "reference: {} blocks in {secs:.2} s, tip {} utxo hash_serialized_3 {} ({} txouts)",
        prefix.hashes.len(),
        state.tip,
        state.utxo_hash,
        state.txouts
    );
    state
}

/// Total bytes of the datadir's block files (blocks are appended there before they connect).
fn stored_bytes(datadir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(datadir.join("regtest").join("blocks")) else {
        return 0;
    };
    rd.flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with("blk") && n.ends_with(".dat")
        })
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// How one iteration picks its kill point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KillPlan {
    /// A random time after spawn, within the time the last run took to open (and replay).
    Early(Duration),
    /// Once the block files reach a random size in the not-yet-stored part of the chain, plus a
    /// random extra delay so the kill lands anywhere in that block's connect/flush work.
    AtStoredBytes(u64, Duration),
}

/// One crash iteration's observations.
struct KillRecord {
    plan: KillPlan,
    after: Duration,
    killed: bool,
    stored_blocks_at_kill: usize,
    loaded_height: Option<u64>,
    replayed: Option<u64>,
    torn_tail: bool,
}

/// Kills `launcher` children KILLS times at random points, then completes the import and checks
/// the result against `expected`.
///
/// Every fourth kill is `Early` (it mostly lands while the node opens the database and replays
/// block files); the others are `AtStoredBytes`, spread over the remaining import so that the
/// kills cover the whole chain instead of piling up wherever a restart spends its first seconds.
/// Runs the kill loop and the final checks; returns the temp dir holding the datadir (`crash/`).
fn crash_scenario(name: &str, launcher: Launcher, prefix: &Prefix, expected: &FinalState) -> tempfile::TempDir {
    let seed = crash::seed("BLVM_CRASH_SEED");
    println!("{name}: BLVM_CRASH_SEED={seed} (set it to replay this schedule)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("crash");
    let stderr_log = dir.path().join("stderr.log");
    let log_path = debug_log(&datadir);
    let genesis_bytes = 8 + bitcoin::consensus::serialize(&bitcoin::constants::genesis_block(bitcoin::Network::Regtest)).len() as u64;
    let total_bytes = genesis_bytes + prefix.frame_ends.last().copied().unwrap_or(0);
    let blocks_in = |bytes: u64| prefix.frame_ends.partition_point(|end| genesis_bytes + end <= bytes);
    let mut open_estimate = Duration::from_millis(100);
    let mut records: Vec<KillRecord> = Vec::with_capacity(KILLS);
    for i in 0..KILLS {
        let stored_before = stored_bytes(&datadir).max(genesis_bytes);
        let plan = if i % 4 == 1 {
            KillPlan::Early(Duration::from_secs_f64(rng.gen_range(0.01..open_estimate.as_secs_f64().max(0.02))))
        } else {
            let left = (KILLS - i) as f64;
            let remaining = total_bytes.saturating_sub(stored_before) as f64;
            let step = remaining * rng.gen_range(0.2..1.8) / (left + 1.0);
            KillPlan::AtStoredBytes(stored_before + step as u64, Duration::from_secs_f64(rng.gen_range(0.0..0.05)))
        };
        let offset = file_len(&log_path);
        let start = Instant::now();
        let mut child = spawn(launcher, &datadir, &prefix.path, &stderr_log);
        let mut loaded_at = None;
        let mut kill_at = match plan {
            KillPlan::Early(d) => Some(start + d),
            KillPlan::AtStoredBytes(..) => None,
        };
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            let now = Instant::now();
            if loaded_at.is_none() && log_since(&log_path, offset).contains("chain loaded") {
                loaded_at = Some(now - start);
            }
            if let (None, KillPlan::AtStoredBytes(target, extra)) = (kill_at, plan) {
                if stored_bytes(&datadir) >= target {
                    kill_at = Some(now + extra);
                }
            }
            if kill_at.is_some_and(|t| now >= t) {
                // `Child::kill` sends SIGKILL; the wait status tells whether it hit a live process.
                let _ = child.kill();
                break child.wait().unwrap();
            }
            if now - start > CHILD_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name}: run {i} neither finished nor reached its kill point within {CHILD_TIMEOUT:?} (seed {seed})");
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let after = start.elapsed();
        let stored_at_kill = stored_bytes(&datadir);
        let log = log_since(&log_path, offset);
        let killed = status.signal() == Some(libc::SIGKILL);
        if !killed {
            assert!(
                status.success(),
                "{name}: run {i} exited by itself with {status} (it must either be killed or succeed):\n--- stderr ---\n{}\n--- debug.log ---\n{log}",
                std::fs::read_to_string(&stderr_log).unwrap_or_default()
            );
        }
        if let Some(t) = loaded_at {
            open_estimate = t;
        } else if killed {
            open_estimate = open_estimate.max(after);
        }
        let rec = KillRecord {
            plan,
            after,
            killed,
            stored_blocks_at_kill: blocks_in(stored_at_kill),
            loaded_height: logged_number(&log, "chain loaded", "height"),
            replayed: logged_number(&log, "re-indexed blocks stored after the last flush", "blocks"),
            torn_tail: log.contains("truncating torn tail"),
        };
        println!(
            "{name}: run {i:2}: {:<15} after {:>6.3} s: {}, {:>3} blocks stored; at open: recovered height {}, replayed {}{}",
            match rec.plan {
                KillPlan::Early(_) => "early kill",
                KillPlan::AtStoredBytes(..) => "kill at progress",
            },
            rec.after.as_secs_f64(),
            if rec.killed { "SIGKILLed" } else { "had already exited" },
            rec.stored_blocks_at_kill,
            rec.loaded_height
                .map(|h| h.to_string())
                .unwrap_or_else(|| "- (killed while opening)".into()),
            rec.replayed.unwrap_or(0),
            if rec.torn_tail { ", truncated a torn block-file tail" } else { "" }
        );
        if let (Some(h), Some(prev)) = (rec.loaded_height, records.last()) {
            // SIGKILL loses no completed write: every block whose record was complete in the
            // block files when the previous process died is back in the active chain at open.
            assert_eq!(
                h as usize,
                prev.stored_blocks_at_kill,
                "{name}: run {i} recovered a different height than the blocks stored by run {} (seed {seed})",
                i - 1
            );
        }
        records.push(rec);
    }
    let (secs, final_log) = run_to_completion(launcher, &datadir, &prefix.path, &stderr_log);
    let final_loaded = logged_number(&final_log, "chain loaded", "height").expect("final run logs the height it loaded");
    println!("{name}: final run: recovered height at open {final_loaded}, finished in {secs:.2} s");
    assert_eq!(
        final_loaded as usize,
        records.last().unwrap().stored_blocks_at_kill,
        "{name}: final run recovered a different height than the blocks stored (seed {seed})"
    );

    let killed = records.iter().filter(|r| r.killed).count();
    assert!(
        killed >= MIN_KILLS_WHILE_RUNNING,
        "{name}: only {killed} of {KILLS} kills hit a running process (seed {seed})"
    );
    // Work survives a SIGKILL: the height recovered at each open never goes down, and rises.
    // (Checked per run above against the blocks stored; this also covers runs killed while opening.)
    let mut heights: Vec<u64> = records.iter().filter_map(|r| r.loaded_height).collect();
    heights.push(final_loaded);
    assert!(
        heights.windows(2).all(|w| w[0] <= w[1]),
        "{name}: recovered height went down across restarts: {heights:?} (seed {seed})"
    );
    assert!(
        heights.iter().any(|h| *h > 0),
        "{name}: no restart ever recovered progress made before a kill: {heights:?} (seed {seed})"
    );

    let state = read_state(&datadir);
    assert_eq!(state.height, expected.height, "{name}: final height (seed {seed})");
    assert_eq!(state.tip, expected.tip, "{name}: final tip (seed {seed})");
    assert_eq!(state.active, expected.active, "{name}: active chain (seed {seed})");
    assert_eq!(state.utxo_hash, expected.utxo_hash, "{name}: UTXO hash_serialized_3 (seed {seed})");
    assert_eq!(state, *expected, "{name}: final state (seed {seed})");
    let in_open = records.iter().filter(|r| r.killed && r.loaded_height.is_none()).count();
    println!(
        "{name}: OK: {killed}/{KILLS} kills hit a running process ({in_open} while opening/replaying, {} while importing), {} torn tails truncated, recovered heights {heights:?}",
        killed - in_open,
        records.iter().filter(|r| r.torn_tail).count()
    );
    dir
}

#[test]
fn sigkill_node_binary_during_import() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let prefix = write_prefix(NODE_BLOCKS);
    let expected = reference(&prefix);
    let _ = crash_scenario("node-binary", Launcher::NodeBinary, &prefix, &expected);
}

#[test]
fn sigkill_during_frequent_flushes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let prefix = write_prefix(FLUSH_BLOCKS);
    let expected = reference(&prefix);
    // One uninterrupted in-process run: its flush count proves the scenario really flushes
    // mid-import, and its result must agree with the node binary's.
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("flush-ref");
    let (secs, log) = run_to_completion(Launcher::FrequentFlushChild, &datadir, &prefix.path, &dir.path().join("stderr.log"));
    let flushes = logged_number(&log, "import finished", "cache_flushes").expect("child logs its flush count");
    println!("frequent-flush child: uninterrupted import in {secs:.2} s with {flushes} cache-full flushes");
    assert!(
        flushes >= 10,
        "only {flushes} mid-import flushes with a {FLUSH_DBCACHE_BYTES}-byte cache"
    );
    assert_eq!(read_state(&datadir), expected, "in-process import differs from the node binary's");
    let crashed = crash_scenario("frequent-flush", Launcher::FrequentFlushChild, &prefix, &expected);
    check_txindex_after_crashes(&crashed.path().join("crash"), &prefix);
}

/// The child keeps `-txindex`: after every kill the stored index must still describe a block
/// of the active chain (it is committed with the chainstate), so no run ever had to rebuild it,
/// and in the end it finds every transaction of the file in its block.
fn check_txindex_after_crashes(datadir: &Path, prefix: &Prefix) {
    let log = std::fs::read_to_string(debug_log(datadir)).unwrap_or_default();
    assert!(
        !log.contains("rebuilding it"),
        "a run found the transaction index off the active chain"
    );
    let settings = ChainSettings {
        txindex: true,
        ..settings()
    };
    let chain = ChainManager::open(
        ChainParams::for_network(bitcoin::Network::Regtest),
        &datadir.join("regtest"),
        settings,
    )
    .expect("open");
    assert_eq!(chain.txindex_height(), Some(chain.height()));
    let data = std::fs::read(&prefix.path).expect("read prefix");
    let mut start = 0usize;
    let mut txs = 0;
    for (hash, end) in prefix.hashes.iter().zip(&prefix.frame_ends) {
        let block: Block = deserialize(&data[start + 8..*end as usize]).expect("block");
        for tx in &block.txdata {
            let found = chain.indexed_transaction(&tx.compute_txid()).expect("lookup");
            assert_eq!(found.as_ref().map(|f| f.0), Some(*hash), "txid {}", tx.compute_txid());
            txs += 1;
        }
        start = *end as usize;
    }
    println!("frequent-flush: transaction index finds all {txs} transactions after the kills");
}

/// Not a test: the child process of `sigkill_during_frequent_flushes`, which starts this binary
/// with `BLVM_CRASH_CHILD_*` set. It imports in-process like `blvm-node import`, logging to the
/// datadir's debug.log in the same format.
#[test]
#[ignore = "child process of sigkill_during_frequent_flushes; does nothing when run directly"]
fn crash_child_import() {
    let (Some(datadir), Some(file), Some(dbcache)) = (
        std::env::var_os(CHILD_DATADIR),
        std::env::var_os(CHILD_FILE),
        std::env::var(CHILD_DBCACHE).ok(),
    ) else {
        eprintln!("crash_child_import: not started by sigkill_during_frequent_flushes; nothing to do");
        return;
    };
    let datadir = PathBuf::from(datadir);
    let net_dir = datadir.join("regtest");
    std::fs::create_dir_all(&net_dir).unwrap();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(net_dir.join("debug.log"))
        .unwrap();
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(Mutex::new(log))
        .with_max_level(tracing::Level::INFO)
        .init();
    let settings = ChainSettings {
        dbcache_bytes: dbcache.parse().unwrap(),
        script_threads: 2,
        txindex: true,
        ..Default::default()
    };
    let mut chain = ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), &net_dir, settings).expect("open chain");
    tracing::info!(height = chain.height(), tip = %chain.tip().hash, "chain loaded");
    let summary = import_file(&mut chain, Path::new(&file), Duration::from_secs(3600)).expect("import");
    chain.flush(FlushReason::Shutdown).expect("final flush");
    tracing::info!(accepted = summary.accepted, height = chain.height(), tip = %chain.tip().hash, cache_flushes = summary.cache_flushes, "import finished");
}

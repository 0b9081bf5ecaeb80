//! Issue 14 at UTXO scale: crash safety while large coins caches are flushed, and the same UTXO
//! set whatever `-dbcache` is. The chain is `blvm_testkit::scale_chain` with the UTXO-scale
//! bench's parameters (`ScaleParams::issue14`: 8,000 spends and 40,000 outputs per block, seed
//! 14), shared with the bench through `$BLVM_SCALE_CACHE_DIR` (default `$TMPDIR/blvm-scale`);
//! every import runs the real `blvm-node -regtest import <file>` binary on a datadir under
//! `$BLVM_SCALE_WORK_DIR` (default `$TMPDIR`).
//!
//! - The reference: one import with the default `-dbcache` into a fresh datadir; its tip and UTXO
//!   count must be the generator's, and every block of the active chain the file's.
//! - `sigkill_during_large_flushes`: imports with a small `-dbcache`, so that caches of 100,000+
//!   coins are flushed many times, and SIGKILLs the node a random time after a flush starts
//!   (the `flushing chainstate` line of `-debug=chain`), within the longest flush seen so far;
//!   until one kill has landed inside a large flush's database commit (the killed process
//!   logged its `chainstate commit starting` line and not its end), each round aims at one.
//!   After every other kill the datadir is opened as a restart would: its tip must be the file's
//!   block at that height, at least as high as the last block the killed process connected, and
//!   its UTXO count and amount those the file gives for that height; after the others the next
//!   run's own open (which replays the blocks stored after the killed flush) is held to the same
//!   tip and height checks through its `chain loaded` line. Then the import is started
//!   again on the same datadir (known blocks are skipped). After a last uninterrupted run the
//!   tip, active chain and `hash_serialized_3` must equal the reference's.
//! - `same_utxo_hash_for_every_dbcache`: `-dbcache` 4, 100 and 1,000 MiB (many flushes, a few,
//!   none) end at the same state as the reference: fresh imports (a size equal to the node's
//!   default, 450, would be the reference itself).
//!
//! Size: 1,000,000 coins (132 blocks) by default. `BLVM_SCALE_LARGE=1` runs 19,100,000 coins
//! (the issue's 701-block chain) with `-dbcache` 100, 450 and 4,000 and kills during 100 MiB
//! flushes; `BLVM_SCALE_CRASH_COINS=N` picks any size (10,000,000 and more count as large).
//! The kill schedule is seeded; the seed is printed and `BLVM_SCALE_CRASH_SEED=<u64>` replays it.

mod support;

use bitcoin::consensus::deserialize;
use bitcoin::{Block, BlockHash, OutPoint};
use blvm_node::node::monitors::dir_size;
use blvm_testkit::scale_chain::{self, ScaleParams, ScaleSummary};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use support::crash::{self, debug_log, file_len, line_number, log_since, read_state, FinalState};

/// Coins of the CI size and of the large (opt-in) size.
const CI_COINS: u64 = 1_000_000;
const LARGE_COINS: u64 = 19_100_000;
/// From this size on the large configuration applies.
const LARGE_FROM: u64 = 10_000_000;
/// A flush of at least this many coins is a large one (the issue's "flushes of a large cache").
const LARGE_FLUSH_COINS: u64 = 100_000;
/// Flush starts with fewer coins (the genesis flush of a fresh datadir) are not kill targets.
const MIN_TARGET_COINS: u64 = 10_000;

/// The tests run one after the other: each needs both cores, and kill timing depends on it.
static SERIAL: Mutex<()> = Mutex::new(());

/// The size and the cache sizes this run uses.
struct Config {
    coins: u64,
    large: bool,
    /// `-dbcache` values whose imports must agree (MiB).
    dbcaches: [u64; 3],
    /// `-dbcache` of the crash scenario (MiB).
    crash_dbcache: u64,
    /// SIGKILLs in the crash scenario.
    kills: usize,
}

fn config() -> Config {
    let coins = match std::env::var("BLVM_SCALE_CRASH_COINS") {
        Ok(v) => v.replace(['_', ','], "").parse().expect("BLVM_SCALE_CRASH_COINS: a number"),
        Err(_) if std::env::var("BLVM_SCALE_LARGE").as_deref() == Ok("1") => LARGE_COINS,
        Err(_) => CI_COINS,
    };
    let large = coins >= LARGE_FROM;
    Config {
        coins,
        large,
        // At 1 M coins a 1,000 MiB cache holds the whole set (1 M entries are ~240 MiB of table
        // and scripts, more than half of the default 450); 80 MiB flushes ~200,000 coins at once.
        dbcaches: if large { [100, 450, 4_000] } else { [4, 100, 1_000] },
        crash_dbcache: if large { 100 } else { 80 },
        kills: if large { 10 } else { 6 },
    }
}

/// The generated chain and what the file says about every height.
struct Scale {
    file: PathBuf,
    summary: ScaleSummary,
    /// Block hashes by height, genesis first.
    hashes: Vec<BlockHash>,
    /// (unspent outputs, their total value in satoshis) after each height, genesis first.
    utxos_at: Vec<(u64, u64)>,
}

fn scale() -> &'static Scale {
    static SCALE: OnceLock<Scale> = OnceLock::new();
    SCALE.get_or_init(|| {
        let cfg = config();
        let params = ScaleParams::issue14(cfg.coins);
        let cache = std::env::var_os("BLVM_SCALE_CACHE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("blvm-scale"));
        let start = Instant::now();
        let (file, summary) = scale_chain::cached(params, &cache).expect("generate the scale chain");
        let (hashes, utxos_at) = walk_file(&file);
        assert_eq!(hashes.len() as u32, summary.blocks + 1, "blocks in the file");
        assert_eq!(hashes.last().unwrap().to_string(), summary.tip, "the file's last block");
        assert_eq!(utxos_at.last().unwrap().0, summary.utxos, "the file's UTXO count");
        println!(
            "scale chain: {} coins, {} blocks, {:.1} MiB at {} (ready in {:.1} s)",
            summary.utxos,
            summary.blocks,
            summary.bytes as f64 / f64::from(1 << 20),
            file.display(),
            start.elapsed().as_secs_f64()
        );
        Scale {
            file,
            summary,
            hashes,
            utxos_at,
        }
    })
}

/// Reads the file once: block hashes, and the UTXO count and amount after each block (outputs
/// other than OP_RETURN in, inputs out; only coinbases carry value).
fn walk_file(file: &Path) -> (Vec<BlockHash>, Vec<(u64, u64)>) {
    let data = std::fs::read(file).expect("read the scale chain");
    let mut hashes = vec![bitcoin::constants::genesis_block(bitcoin::Network::Regtest).block_hash()];
    let mut utxos_at = vec![(0u64, 0u64)];
    let mut valued: HashMap<OutPoint, u64> = HashMap::new();
    let (mut count, mut amount) = (0u64, 0u64);
    for raw in crash::blk_frames(&data) {
        let block: Block = deserialize(raw).expect("block");
        for (i, tx) in block.txdata.iter().enumerate() {
            for input in tx.input.iter().filter(|_| i > 0) {
                count -= 1;
                amount -= valued.remove(&input.previous_output).unwrap_or(0);
            }
            let txid = tx.compute_txid();
            for (vout, out) in tx.output.iter().enumerate() {
                if out.script_pubkey.is_op_return() {
                    continue;
                }
                count += 1;
                amount += out.value.to_sat();
                if out.value.to_sat() > 0 {
                    valued.insert(OutPoint::new(txid, vout as u32), out.value.to_sat());
                }
            }
        }
        hashes.push(block.block_hash());
        utxos_at.push((count, amount));
    }
    (hashes, utxos_at)
}

/// A child that runs longer than this is a hang (about 40 times the dev profile's import time).
fn child_timeout() -> Duration {
    Duration::from_secs(120 + 180 * config().coins.div_ceil(CI_COINS))
}

/// A fresh directory for a datadir (the work dir may be on a bigger disk than `$TMPDIR`).
fn work_dir() -> tempfile::TempDir {
    match std::env::var_os("BLVM_SCALE_WORK_DIR") {
        Some(d) => tempfile::tempdir_in(d).expect("work dir"),
        None => tempfile::tempdir().expect("temp dir"),
    }
}

/// Starts `blvm-node -regtest import <file>` on `datadir` (`-dbcache` left at its default when None).
fn spawn_import(datadir: &Path, dbcache: Option<u64>) -> Child {
    std::fs::create_dir_all(datadir).unwrap();
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(datadir.join("stderr.log"))
        .unwrap();
    let mut cmd = Command::new(support::node_bin());
    cmd.arg("-regtest").arg(format!("-datadir={}", datadir.display())).args([
        "-printtoconsole=0",
        "-par=2",
        "-debug=chain",
        "-logtimemicros",
    ]);
    if let Some(mib) = dbcache {
        cmd.arg(format!("-dbcache={mib}"));
    }
    cmd.arg("import")
        .arg(&scale().file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn blvm-node")
}

/// One uninterrupted import; panics with the logs unless it finishes. Returns seconds and its log.
fn run_import(datadir: &Path, dbcache: Option<u64>) -> (f64, String) {
    let offset = file_len(&debug_log(datadir));
    let start = Instant::now();
    let status = crash::wait_with_timeout(&mut spawn_import(datadir, dbcache), child_timeout());
    let secs = start.elapsed().as_secs_f64();
    let log = log_since(&debug_log(datadir), offset);
    assert!(
        status.success() && log.contains("import finished"),
        "import with -dbcache={dbcache:?} failed ({status}):\n--- stderr ---\n{}\n--- debug.log ---\n{log}",
        std::fs::read_to_string(datadir.join("stderr.log")).unwrap_or_default()
    );
    (secs, log)
}

/// Flushes a log reports having started (`flushing chainstate`), with their reason and coins.
fn flush_starts(log: &str) -> Vec<(String, u64)> {
    log.lines()
        .filter(|l| l.contains("flushing chainstate"))
        .map(|l| {
            let reason = l
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix("reason="))
                .unwrap_or("?")
                .trim_matches('"');
            (reason.to_string(), line_number(l, "coins").unwrap_or(0))
        })
        .collect()
}

/// Cache-full flushes in a log.
fn cache_full_flushes(log: &str) -> usize {
    flush_starts(log).iter().filter(|(r, _)| r == "cache_full").count()
}

/// The uninterrupted import with the default `-dbcache`, and what it left on disk.
struct Reference {
    state: FinalState,
    chainstate_bytes: u64,
    blocks_bytes: u64,
    cache_full_flushes: usize,
}

fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let s = scale();
        let dir = work_dir();
        let datadir = dir.path().join("reference");
        let (secs, log) = run_import(&datadir, None);
        let state = read_state(&datadir);
        assert_eq!(state.tip.to_string(), s.summary.tip, "reference tip is not the generator's");
        assert_eq!(state.txouts, s.summary.utxos, "reference UTXO count is not the generator's");
        assert_eq!(state.active, s.hashes, "reference active chain is not the file's blocks");
        assert_eq!((state.txouts, state.total_amount_sat), *s.utxos_at.last().unwrap());
        let net = datadir.join("regtest");
        let r = Reference {
            chainstate_bytes: dir_size(&net.join("chainstate")),
            blocks_bytes: dir_size(&net.join("blocks")),
            cache_full_flushes: cache_full_flushes(&log),
            state,
        };
        println!(
            "reference (default -dbcache): {secs:.1} s, {} cache-full flushes, tip {} height {}, {} coins, hash_serialized_3 {}, chainstate {:.1} MiB, blocks {:.1} MiB",
            r.cache_full_flushes,
            r.state.tip,
            r.state.height,
            r.state.txouts,
            r.state.utxo_hash,
            r.chainstate_bytes as f64 / f64::from(1 << 20),
            r.blocks_bytes as f64 / f64::from(1 << 20)
        );
        r
    })
}

#[test]
fn same_utxo_hash_for_every_dbcache() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cfg = config();
    let r = reference();
    let mut flushes: Vec<(u64, usize)> = Vec::new();
    for mib in cfg.dbcaches {
        if mib == blvm_node::config::NodeConfig::default().dbcache_mib {
            // The reference is this import already (the node's default `-dbcache`).
            println!("-dbcache={mib}: the reference, {} cache-full flushes", r.cache_full_flushes);
            flushes.push((mib, r.cache_full_flushes));
            continue;
        }
        let dir = work_dir();
        let datadir = dir.path().join(format!("dbcache-{mib}"));
        let (secs, log) = run_import(&datadir, Some(mib));
        let state = read_state(&datadir);
        let n = cache_full_flushes(&log);
        println!(
            "-dbcache={mib}: {secs:.1} s, {n} cache-full flushes, hash_serialized_3 {}",
            state.utxo_hash
        );
        assert_eq!(state.utxo_hash, r.state.utxo_hash, "-dbcache={mib}: UTXO hash_serialized_3");
        assert_eq!(state, r.state, "-dbcache={mib}: final state");
        flushes.push((mib, n));
    }
    // The sizes exercise what they are meant to: many flushes with the smallest cache, fewer as
    // the cache grows.
    assert!(flushes[0].1 >= 5, "-dbcache={} flushed only {} times", flushes[0].0, flushes[0].1);
    assert!(
        flushes.windows(2).all(|w| w[0].1 >= w[1].1),
        "a bigger cache flushed more often: {flushes:?}"
    );
    if !cfg.large {
        // At the CI size the whole set fits the default cache: the no-flush path is covered.
        assert_eq!(flushes[2].1, 0, "-dbcache={} flushed before the end", flushes[2].0);
    }
}

/// The log of a running child, read as it grows.
struct LogTail {
    path: PathBuf,
    pos: u64,
    text: String,
}

impl LogTail {
    fn new(path: PathBuf) -> LogTail {
        LogTail {
            pos: file_len(&path),
            path,
            text: String::new(),
        }
    }

    fn poll(&mut self) -> &str {
        let more = log_since(&self.path, self.pos);
        self.pos += more.len() as u64;
        self.text.push_str(&more);
        &self.text
    }
}

/// The flush a kill round targets: the `nth` (1-based) flush start of at least
/// [`MIN_TARGET_COINS`] coins after the chain was loaded. Returns its byte offset in the log
/// and its coins.
fn target_flush(log: &str, nth: usize) -> Option<(usize, u64)> {
    let loaded = log.find("chain loaded")?;
    let mut at = loaded;
    let mut seen = 0;
    for line in log[loaded..].split_inclusive('\n') {
        if line.contains("flushing chainstate") && line.ends_with('\n') {
            let coins = line_number(line, "coins").unwrap_or(0);
            if coins >= MIN_TARGET_COINS {
                seen += 1;
                if seen == nth {
                    return Some((at, coins));
                }
            }
        }
        at += line.len();
    }
    None
}

/// Highest `UpdateTip: connected block height=H` in a log (0 when none).
fn last_connected(log: &str) -> u32 {
    log.lines()
        .filter(|l| l.contains("UpdateTip: connected block"))
        .filter_map(|l| line_number(l, "height"))
        .max()
        .unwrap_or(0) as u32
}

/// Whether `line` reports a flush durably written: a synchronous flush's end, or the writer
/// thread's end of a background one (`flushed chainstate background=true` only ends the
/// freeze, while validation goes on and the write runs).
fn flush_end(line: &str) -> bool {
    (line.contains("flushed chainstate") && !line.contains("background=true")) || line.contains("background chainstate write done")
}

/// Longest flush of at least [`MIN_TARGET_COINS`] coins reported finished in a log, from its
/// start to its durable end (`ms` of a synchronous flush, `total_ms` of a background write).
fn longest_flush(log: &str) -> Duration {
    log.lines()
        .filter(|l| flush_end(l))
        .filter(|l| line_number(l, "coins_written").unwrap_or(0) >= MIN_TARGET_COINS)
        .filter_map(|l| line_number(l, "total_ms").or_else(|| line_number(l, "ms")))
        .max()
        .map(Duration::from_millis)
        .unwrap_or_default()
}

/// Longest time from a large flush's start to its database commit (`flush phases` lines:
/// block-file sync plus batch building; a background write's `pre_commit_ms`), zero when the
/// log has none.
fn longest_pre_commit(log: &str) -> Duration {
    let sync = log
        .lines()
        .filter(|l| l.contains("flush phases"))
        .filter_map(|l| Some(line_number(l, "sync_ms")? + line_number(l, "batch_ms")?));
    let background = log
        .lines()
        .filter(|l| l.contains("background chainstate write done"))
        .filter_map(|l| line_number(l, "pre_commit_ms"));
    sync.chain(background).max().map(Duration::from_millis).unwrap_or_default()
}

/// The kill delay of round `i` after its flush starts: round 0 early in the flush (block-file
/// sync, batch building); rounds that `aim_commit` inside the database commit (past twice the
/// longest pre-commit time seen); the others anywhere within the longest flush seen.
fn kill_delay(rng: &mut impl Rng, i: usize, aim_commit: bool, flush: Duration, pre_commit: Duration) -> Duration {
    let (lo, hi) = match i {
        0 => (Duration::ZERO, Duration::from_millis(50)),
        _ if aim_commit => (pre_commit * 2, flush.mul_f64(0.9)),
        _ => (Duration::ZERO, flush),
    };
    Duration::from_secs_f64(rng.gen_range(lo.as_secs_f64()..hi.as_secs_f64().max(lo.as_secs_f64() + 0.001)))
}

/// What one kill round did and found.
struct Round {
    killed: bool,
    /// Coins of the targeted flush, and whether it had finished when the kill came.
    target: Option<(u64, bool)>,
    /// The killed process had logged the targeted flush's `chainstate commit starting` and not
    /// its end: the kill landed inside the database commit.
    in_commit: bool,
    last_connected: u32,
    /// Height the restart after the kill recovered (None until checked).
    recovered: Option<u32>,
}

/// Starts an import on `datadir` and SIGKILLs it `delay` after its `nth` large flush starts
/// (or lets it finish if it gets there first). Returns its exit status, its log and the
/// targeted flush: its coins, whether it had ended and whether its database commit had started.
fn kill_during_flush(datadir: &Path, dbcache: u64, nth: usize, delay: Duration) -> (ExitStatus, String, Option<(u64, bool, bool)>) {
    let mut tail = LogTail::new(debug_log(datadir));
    let start = Instant::now();
    let mut child = spawn_import(datadir, Some(dbcache));
    let mut kill_at: Option<Instant> = None;
    let mut target = None;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        let now = Instant::now();
        if kill_at.is_none() {
            if let Some(t) = target_flush(tail.poll(), nth) {
                target = Some(t);
                kill_at = Some(now + delay);
            }
        }
        if kill_at.is_some_and(|t| now >= t) {
            // `Child::kill` sends SIGKILL; the wait status tells whether it hit a live process.
            let _ = child.kill();
            break child.wait().unwrap();
        }
        if now - start > child_timeout() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("import neither finished nor reached its kill point within {:?}", child_timeout());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let log = tail.poll().to_string();
    // The process is gone, so its log is complete (each line is written as it is logged): did
    // the targeted flush start its commit, and report its end? A flush's lines come before the
    // next flush starts (a background write is collected first).
    let target = target.map(|(at, coins)| {
        let after = &log[at..];
        let started = after.lines().any(|l| l.contains("chainstate commit starting"));
        (coins, after.lines().any(flush_end), started)
    });
    (status, log, target)
}

/// Opens the datadir as a restart does and checks what it recovered against the file: the tip
/// is the file's block at its height, no lower than `previous` nor than the last block the
/// killed process connected, and the UTXO count and amount are the file's at that height.
fn check_recovered(datadir: &Path, connected: u32, previous: u32) -> u32 {
    let s = scale();
    let mut chain = crash::open_chain(datadir);
    let h = chain.height();
    assert_eq!(chain.tip().hash, s.hashes[h as usize], "recovered tip is not the file's block {h}");
    assert!(
        h >= connected,
        "recovered height {h} is below the {connected} blocks connected before the kill"
    );
    assert!(h >= previous, "recovered height {h} went below the previous restart's {previous}");
    let stats = chain.utxo_stats().expect("utxo stats after the kill");
    assert_eq!(
        (stats.txouts, stats.total_amount_sat),
        s.utxos_at[h as usize],
        "UTXO count and amount at recovered height {h}"
    );
    h
}

/// Checks what the node's own open recovered, from its `chain loaded height=H tip=T` line: the
/// file's block at `H`, no lower than `previous` nor than the `connected` blocks of the run
/// killed before it.
fn check_loaded(log: &str, connected: u32, previous: u32) -> u32 {
    let line = log
        .lines()
        .find(|l| l.contains("chain loaded"))
        .expect("the restart logs the chain it loaded");
    let h = line_number(line, "height").expect("chain loaded height") as u32;
    let tip = line.split_whitespace().find_map(|kv| kv.strip_prefix("tip=")).unwrap_or_default();
    assert_eq!(
        tip,
        scale().hashes[h as usize].to_string(),
        "loaded tip is not the file's block {h}"
    );
    assert!(
        h >= connected,
        "loaded height {h} is below the {connected} blocks connected before the kill"
    );
    assert!(h >= previous, "loaded height {h} went below the previous restart's {previous}");
    h
}

/// One line about a kill round.
fn describe(i: usize, round: &Round, nth: usize, delay: Duration) -> String {
    format!(
        "run {i}: {} {:>4} ms after large flush #{nth} start ({}), {} blocks connected; {}",
        if round.killed { "SIGKILL" } else { "finished before the kill," },
        delay.as_millis(),
        match round.target {
            Some((coins, false)) if round.in_commit => format!("{coins} coins, inside the database commit"),
            Some((coins, false)) => format!("{coins} coins, flush still running"),
            Some((coins, true)) => format!("{coins} coins, flush had finished"),
            None => "no such flush".into(),
        },
        round.last_connected,
        match round.recovered {
            Some(h) => format!("reopened at height {h}, its UTXO count and amount are the file's"),
            None => "the next run's own open is checked".into(),
        }
    )
}

#[test]
fn sigkill_during_large_flushes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cfg = config();
    let r = reference();
    let seed = crash::seed("BLVM_SCALE_CRASH_SEED");
    println!(
        "sigkill_during_large_flushes: BLVM_SCALE_CRASH_SEED={seed} (set it to replay this schedule), -dbcache={}",
        cfg.crash_dbcache
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = work_dir();
    let datadir = dir.path().join("crash");
    // Durations seen so far: the longest large flush, the longest time before its commit.
    let (mut flush, mut pre_commit) = (Duration::from_millis(50), Duration::ZERO);
    let mut rounds: Vec<Round> = Vec::new();
    let mut recovered = 0;
    for i in 0..cfg.kills {
        // Round 0 lets one large flush finish first, so the next rounds know when commits
        // start; until a kill lands inside a large flush's commit, each round aims at one, on
        // the run's first large flush (so the chain lasts for more rounds).
        let aim_commit = !rounds
            .iter()
            .any(|r| r.in_commit && r.target.is_some_and(|(coins, _)| coins >= LARGE_FLUSH_COINS));
        let nth = match i {
            0 => 2,
            _ if aim_commit => 1,
            _ => rng.gen_range(1..=2),
        };
        let delay = kill_delay(&mut rng, i, aim_commit, flush, pre_commit);
        let (status, log, target) = kill_during_flush(&datadir, cfg.crash_dbcache, nth, delay);
        let killed = status.signal() == Some(libc::SIGKILL);
        assert!(
            killed || (status.success() && log.contains("import finished")),
            "run {i} exited by itself with {status} (seed {seed}):\n{log}"
        );
        if let Some(prev) = rounds.last_mut().filter(|r| r.recovered.is_none()) {
            recovered = check_loaded(&log, prev.last_connected, recovered);
            prev.recovered = Some(recovered);
        }
        let connected = last_connected(&log);
        // Every other restart is the node's own (its open replays the blocks stored after the
        // killed flush); the others are checked here first, UTXO count and amount included.
        let reopened = (i % 2 == 0 || !killed).then(|| check_recovered(&datadir, connected, recovered));
        recovered = reopened.unwrap_or(recovered);
        flush = flush.max(longest_flush(&log));
        pre_commit = pre_commit.max(longest_pre_commit(&log));
        let round = Round {
            killed,
            target: target.map(|(coins, ended, _)| (coins, ended)),
            in_commit: killed && target.is_some_and(|(_, ended, started)| started && !ended),
            last_connected: connected,
            recovered: reopened,
        };
        println!("{}", describe(i, &round, nth, delay));
        rounds.push(round);
        if !killed {
            break;
        }
    }
    let (secs, log) = run_import(&datadir, Some(cfg.crash_dbcache));
    if let Some(prev) = rounds.last_mut().filter(|r| r.recovered.is_none()) {
        prev.recovered = Some(check_loaded(&log, prev.last_connected, recovered));
    }
    let state = read_state(&datadir);
    println!("final run: {secs:.1} s, tip {} height {}", state.tip, state.height);
    assert_eq!(state.tip, r.state.tip, "final tip (seed {seed})");
    assert_eq!(state.utxo_hash, r.state.utxo_hash, "UTXO hash_serialized_3 (seed {seed})");
    assert_eq!(state, r.state, "final state (seed {seed})");

    let killed = rounds.iter().filter(|r| r.killed).count();
    let in_large_flush = rounds
        .iter()
        .filter(|r| r.killed && matches!(r.target, Some((coins, false)) if coins >= LARGE_FLUSH_COINS))
        .count();
    let in_large_commit = rounds
        .iter()
        .filter(|r| r.in_commit && r.target.is_some_and(|(coins, _)| coins >= LARGE_FLUSH_COINS))
        .count();
    assert!(
        killed * 2 >= cfg.kills,
        "only {killed} of {} runs were killed (seed {seed})",
        cfg.kills
    );
    assert!(
        in_large_commit >= 1,
        "no kill landed inside the database commit of a flush of {LARGE_FLUSH_COINS}+ coins (seed {seed})"
    );
    let heights: Vec<u32> = rounds.iter().filter_map(|r| r.recovered).collect();
    assert_eq!(heights.len(), rounds.len(), "a restart was not checked");
    let net = datadir.join("regtest");
    let (chainstate, blocks) = (dir_size(&net.join("chainstate")), dir_size(&net.join("blocks")));
    // The database's size depends on how often it was written (LMDB's copy-on-write pages), so
    // the recovered one is held against an uninterrupted import with the same -dbcache.
    let plain = dir.path().join("uninterrupted");
    run_import(&plain, Some(cfg.crash_dbcache));
    let plain_chainstate = dir_size(&plain.join("regtest").join("chainstate"));
    println!(
        "OK: {killed} kills, {in_large_flush} inside a flush of {LARGE_FLUSH_COINS}+ coins ({in_large_commit} inside its database commit), recovered heights {heights:?}; chainstate {:.1} MiB (uninterrupted, same -dbcache {:.1}; reference {:.1}), blocks {:.1} MiB (reference {:.1})",
        chainstate as f64 / f64::from(1 << 20),
        plain_chainstate as f64 / f64::from(1 << 20),
        r.chainstate_bytes as f64 / f64::from(1 << 20),
        blocks as f64 / f64::from(1 << 20),
        r.blocks_bytes as f64 / f64::from(1 << 20)
    );
    assert!(
        chainstate <= 2 * plain_chainstate,
        "the recovered chainstate is more than twice an uninterrupted import's with the same -dbcache"
    );
    assert!(
        blocks <= r.blocks_bytes + r.blocks_bytes / 10,
        "the recovered block files are over 10% larger than the reference's"
    );
}

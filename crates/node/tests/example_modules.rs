//! The seed's janitorial examples, run as real modules under a real node process: each test
//! triggers the event the way the node really does (signal, statvfs, timer) and asserts the
//! files the module wrote, flushed or deleted. The Python example module is run by
//! `python_modules.rs`, with the other Python SDK modules.
//!
//! Needs the module binaries: `cargo build --workspace --bins` (or `cargo test --workspace`).

mod support;

use support::{node_proc, read_json};

use node_proc::{module_bin, read_jsonl, start_node, start_node_in, ModuleSpec};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// A module built from this workspace, autoloaded with `capabilities` and a `[config]` body.
fn example(name: &str, bin: &str, capabilities: &[&str], config: &str) -> ModuleSpec {
    ModuleSpec {
        name: name.into(),
        entry: module_bin(bin),
        args: vec![],
        capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
        config: config.into(),
        autoload: true,
    }
}

/// `-rpcport=0`: the node's JSON-RPC server binds a free port, so nodes of concurrently
/// running tests do not collide on regtest's fixed 18443 (a failed bind aborts startup).
const FREE_RPC_PORT: &str = "-rpcport=0";

fn file_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
}

/// (available, total) bytes of the filesystem holding `path`, from statvfs.
fn statvfs(path: &Path) -> (u64, u64) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid NUL-terminated path and a zeroed out-struct.
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
    (st.f_bavail as u64 * st.f_frsize as u64, st.f_blocks as u64 * st.f_frsize as u64)
}

#[test]
fn cleanup_on_shutdown_saves_block_count_and_flushes_on_signal_and_keeps_it_across_restarts() {
    let core = support::core_json();
    let best = core["getblockchaininfo"]["bestblockhash"].as_str().unwrap().to_string();
    let spec = || example("saver", "cleanup-on-shutdown", &["read_chain"], "");
    let args = [FREE_RPC_PORT, "-shutdowntimeout=5", "-acktimeout=5"];
    let load = format!("-loadblock={}", support::chain_hex_path().display());
    let mut n = start_node(&[args[0], args[1], args[2], load.as_str()], &[spec()]);
    let data = n.module_data("saver");
    n.wait_started();
    n.wait_until(Duration::from_secs(60), "300 blocks loaded", |n| n.log().contains("loaded blocks"));
    // Every block reached the write-ahead log; nothing was snapshotted yet (no flush so far).
    n.wait_until(Duration::from_secs(10), "300 entries in pending.log", |_| {
        std::fs::read_to_string(data.join("pending.log"))
            .map(|t| t.lines().count() == 300)
            .unwrap_or(false)
    });
    assert!(
        !data.join("state.json").exists(),
        "state.json written before any flush was requested"
    );
    let signalled_at = unix_now();
    let (status, took) = n.stop(Duration::from_secs(20));
    assert!(status.success(), "node exit {status:?}\n{}", n.log());
    assert!(
        took < Duration::from_secs(3),
        "shutdown with a prompt module took {took:?} (timeout 5 s)"
    );
    n.assert_all_acked();

    let sd = read_json(&data.join("shutdown.json"));
    assert_eq!(sd["reason"], "signal");
    assert_eq!(sd["timeout_seconds"], 5);
    assert_eq!(sd["blocks_seen"], 300, "state saved on NodeShutdown must include every block: {sd}");
    let saved_at = sd["saved_at"].as_u64().unwrap();
    assert!(saved_at >= signalled_at && saved_at <= unix_now(), "saved_at {saved_at}");

    let st = read_json(&data.join("state.json"));
    assert_eq!(st["blocks_seen"], 300);
    assert_eq!(st["tip_height"], 300);
    assert_eq!(st["tip_hash"], best.as_str());
    // Saved on NodeShutdown, then flushed again on the shutdown StorageFlush that follows it.
    assert_eq!(st["flush_history"], serde_json::json!(["node_shutdown", "shutdown"]), "{st}");
    assert_eq!(st["last_flush_reason"], "shutdown");
    assert_eq!(st["flushes"], 2);
    assert!(
        st["last_sequence"].as_u64().unwrap() > sd["sequence"].as_u64().unwrap(),
        "StorageFlush follows NodeShutdown"
    );
    assert_eq!(
        std::fs::metadata(data.join("pending.log")).unwrap().len(),
        0,
        "flushed entries must leave the log"
    );
    assert!(
        n.log().contains("saved state: reason=shutdown blocks_seen=300"),
        "module stdout reaches the node log"
    );

    // A second run (no new blocks) starts from the saved state instead of from zero.
    let mut n2 = start_node_in(&n.datadir, &args, &[spec()]);
    // debug.log is appended to: wait for the second run's startup line.
    n2.wait_until(Duration::from_secs(30), "second startup", |n| {
        n.log().matches("node startup completed").count() == 2
    });
    let (status, _) = n2.stop(Duration::from_secs(20));
    assert!(status.success(), "second run exit {status:?}\n{}", n2.log());
    let st = read_json(&data.join("state.json"));
    assert_eq!(st["blocks_seen"], 300);
    assert_eq!(st["flushes"], 4);
    assert_eq!(
        st["flush_history"],
        serde_json::json!(["node_shutdown", "shutdown", "node_shutdown", "shutdown"])
    );
    assert_eq!(read_json(&data.join("shutdown.json"))["blocks_seen"], 300);
    n2.assert_all_acked();
}

#[test]
fn disk_space_module_evicts_its_oldest_cache_files_when_the_disk_is_low() {
    let spec = example(
        "cache",
        "disk-space",
        &[],
        "prefill_files = 6\nprefill_bytes = 65536\nkeep_newest = 2",
    );
    let mut n = start_node(
        &[
            FREE_RPC_PORT,
            "-disklowpercent=100",
            "-diskcriticalmb=0",
            "-acktimeout=5",
            "-shutdowntimeout=5",
        ],
        &[spec],
    );
    let data = n.module_data("cache");
    n.wait_started();
    // The node's low_disk DataCleanup runs only after the DiskSpaceLow ack wait is over.
    n.wait_until(Duration::from_secs(15), "low-disk cleanup finished", |n| {
        n.log().contains("data cleanup finished")
    });
    n.assert_all_acked();
    let (avail_now, total_now) = statvfs(&n.net_dir());

    let r = read_json(&data.join("cleanup.json"));
    assert_eq!(r["cleanup"], 1, "one alarm, one cleanup: {r}");
    assert_eq!(
        r["deleted_files"],
        serde_json::json!(["prefill-0000.bin", "prefill-0001.bin", "prefill-0002.bin", "prefill-0003.bin"])
    );
    assert_eq!(r["freed_bytes"], 4 * 65536);
    assert_eq!(r["kept_files"], 2);
    assert_eq!(file_names(&data.join("cache")), ["prefill-0004.bin", "prefill-0005.bin"]);
    // The figures are the node's statvfs reading of the datadir.
    assert_eq!(r["disk_path"], n.net_dir().display().to_string());
    assert_eq!(r["total_bytes"], total_now);
    let avail = r["available_bytes"].as_u64().unwrap();
    assert!(
        avail.abs_diff(avail_now) as f64 <= 0.03 * avail_now as f64,
        "available_bytes {avail} vs statvfs {avail_now}"
    );
    let pct = r["percent_free"].as_f64().unwrap();
    let want = avail_now as f64 * 100.0 / total_now as f64;
    assert!((pct - want).abs() < 1.0, "percent_free {pct} vs statvfs {want}");
    assert!(
        (pct - avail as f64 * 100.0 / total_now as f64).abs() < 1e-6,
        "percent_free consistent with available_bytes"
    );

    let (status, _) = n.stop(Duration::from_secs(20));
    assert!(status.success());
}

#[test]
fn periodic_cleanup_module_deletes_records_older_than_the_target_age() {
    let spec = example("janitor", "periodic-cleanup", &[], "prefill_ages_days = [1, 10, 40, 100]");
    let mut n = start_node(
        &[
            FREE_RPC_PORT,
            "-cleanupinterval=1",
            "-cleanupagedays=30",
            "-acktimeout=5",
            "-shutdowntimeout=5",
            "-disklowpercent=0",
            "-disklowmb=0",
        ],
        &[spec],
    );
    let data = n.module_data("janitor");
    n.wait_started();
    n.wait_until(Duration::from_secs(15), "two periodic cleanups", |_| {
        read_jsonl(&data.join("cleanup.log")).len() >= 2
    });
    let lines = read_jsonl(&data.join("cleanup.log"));
    let first = &lines[0];
    assert_eq!(first["cleanup_type"], "periodic");
    assert_eq!(first["target_age_days"], 30);
    assert_eq!(first["age_days"], 30);
    assert_eq!(first["deleted"], serde_json::json!(["aged-100d.json", "aged-40d.json"]));
    assert_eq!(first["kept"], serde_json::json!(["aged-10d.json", "aged-1d.json"]));
    assert!(first["freed_bytes"].as_u64().unwrap() > 0);
    // The timer repeats; the next round finds nothing old enough.
    assert_eq!(lines[1]["cleanup_type"], "periodic");
    assert_eq!(lines[1]["deleted"], serde_json::json!([]));
    let records = data.join("records");
    assert_eq!(file_names(&records), ["aged-10d.json", "aged-1d.json"]);
    // The survivors really are dated in the past (mtime), 10 days and 1 day.
    let age_days = |f: &str| {
        let m = std::fs::metadata(records.join(f)).unwrap().modified().unwrap();
        SystemTime::now().duration_since(m).unwrap().as_secs_f64() / 86_400.0
    };
    assert!((age_days("aged-10d.json") - 10.0).abs() < 0.01);
    assert!((age_days("aged-1d.json") - 1.0).abs() < 0.01);
    n.assert_all_acked();
    let (status, _) = n.stop(Duration::from_secs(20));
    assert!(status.success());
}

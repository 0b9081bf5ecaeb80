//! The datadir on a small size-limited filesystem (tmpfs), filled up by the test: DiskSpaceLow,
//! then a low-disk cleanup, then a clean "error" shutdown before the disk is full; after space
//! is freed the node restarts at the same tip and UTXO hash.

mod support;

use support::{http, node_proc};

use node_proc::ModuleSpec;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size_mib: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m,mode=0700"), "tmpfs"])
            .arg(dir.path())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

fn free_bytes(p: &Path) -> u64 {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
    st.f_bavail as u64 * st.f_frsize as u64
}

#[test]
fn filling_a_small_filesystem_warns_cleans_up_then_stops_cleanly_and_recovers() {
    let Some(fs) = Tmpfs::mount(48) else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN); this test fills a size-limited filesystem");
        return;
    };
    let datadir = fs.path().join("data");
    std::fs::create_dir_all(&datadir).unwrap();
    node_proc::import_offline(&datadir, &support::chain_hex_path());
    let mut n = node_proc::start_node_in(
        &datadir,
        &[
            "-disklowpercent=0",
            "-disklowmb=24",
            "-diskcriticalmb=12",
            "-diskcheckinterval=1",
            "-shutdowntimeout=3",
            "-acktimeout=2",
        ],
        &[ModuleSpec::recorder("rec", "")],
    );
    n.wait_started();

    // Fill in 1 MiB steps, never past 4 MiB of free space: the node must stop before that.
    let filler_path = fs.path().join("filler");
    let mut filler = std::fs::File::create(&filler_path).unwrap();
    let chunk = vec![0xabu8; 1 << 20];
    let start = Instant::now();
    let mut status = None;
    while start.elapsed() < Duration::from_secs(90) {
        if let Some(st) = n.child.as_mut().unwrap().try_wait().unwrap() {
            status = Some(st);
            break;
        }
        if free_bytes(fs.path()) > 4 << 20 {
            filler.write_all(&chunk).unwrap();
            filler.sync_all().unwrap();
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    let status = status.expect("node did not stop as the disk filled");
    n.child = None;
    assert!(!status.success(), "a low-disk stop is an error exit");
    assert!(free_bytes(fs.path()) > 0, "the disk never filled up");

    let ev = n.recorded_events("rec");
    let types: Vec<&str> = ev.iter().map(|(t, _)| t.as_str()).collect();
    let low = types.iter().position(|t| *t == "DiskSpaceLow").expect("DiskSpaceLow");
    let cleanup = ev
        .iter()
        .position(|(t, e)| t == "DataCleanup" && e["payload"]["cleanup_type"] == "low_disk")
        .expect("low_disk cleanup");
    let shutdown = ev
        .iter()
        .position(|(t, e)| t == "NodeShutdown" && e["payload"]["reason"] == "error")
        .expect("error shutdown");
    assert!(low < cleanup && cleanup < shutdown, "{types:?}");
    let p = &ev[low].1["payload"];
    assert!(p["available_bytes"].as_u64().unwrap() < 24 << 20);
    assert_eq!(p["total_bytes"].as_u64().unwrap(), 48 << 20);
    assert!(
        ev.iter()
            .any(|(t, e)| t == "StorageFlushCompleted" && e["payload"]["success"] == true),
        "flushed before stopping"
    );
    assert!(n.log().contains("disk space critically low"));

    // Free the space: the node restarts at the same tip with the same UTXO set.
    drop(filler);
    std::fs::remove_file(&filler_path).unwrap();
    let core = support::core_json();
    let mut chain = support::open_regtest(&datadir.join("regtest"));
    assert_eq!(
        chain.tip().hash.to_string(),
        core["getblockchaininfo"]["bestblockhash"].as_str().unwrap()
    );
    assert_eq!(
        chain.utxo_stats().unwrap().hash_serialized_3,
        core["gettxoutsetinfo"]["hash_serialized_3"]["hash_serialized_3"].as_str().unwrap()
    );
}

/// Fills `fs` with `path` until at most `leave` bytes are free.
fn fill_leaving(fs: &Path, path: &Path, leave: u64) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0x5au8; 64 << 10];
    loop {
        let free = free_bytes(fs);
        if free <= leave {
            break;
        }
        let n = ((free - leave) as usize).min(chunk.len());
        if f.write_all(&chunk[..n]).is_err() {
            break;
        }
        f.sync_all().unwrap();
    }
}

/// Issue 11, disk-full injection: block storage and the chainstate database on a small
/// filesystem that runs out of space mid-import (block-file writes and database commits fail
/// with ENOSPC, at several fill levels). The node stops with reason `error`; once space is
/// freed it restarts, finishes the import and ends at Core's tip with Core's UTXO set hash.
/// The log stays on the ordinary disk so the failure can be read.
#[test]
fn enospc_mid_import_stops_with_error_and_recovers_after_space_is_freed() {
    let Some(fs) = Tmpfs::mount(16) else {
        panic!("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN); this test fills a size-limited filesystem");
    };
    let core = support::core_json();
    let hex = support::chain_hex_path();
    let loadblock = format!("-loadblock={}", hex.display());
    let quiet = [
        "-dbcache=4",
        "-disklowpercent=0",
        "-disklowmb=0",
        "-diskcriticalmb=0",
        "-shutdowntimeout=3",
        "-acktimeout=2",
    ];
    let args: Vec<&str> = std::iter::once(loadblock.as_str()).chain(quiet.iter().copied()).collect();
    let mut failures = Vec::new();
    for (i, leave_kib) in [192u64, 640, 1_280, 2_048].into_iter().enumerate() {
        let datadir = tempfile::tempdir().unwrap();
        let net = datadir.path().join("regtest");
        std::fs::create_dir_all(&net).unwrap();
        for d in ["blocks", "chainstate"] {
            let target = fs.path().join(format!("{d}{i}"));
            std::fs::create_dir_all(&target).unwrap();
            std::os::unix::fs::symlink(&target, net.join(d)).unwrap();
        }
        // A first start creates the database; then the disk is filled and the import begins.
        let mut empty = node_proc::start_node_in(datadir.path(), &quiet, &[]);
        empty.wait_started();
        assert!(empty.stop(Duration::from_secs(30)).0.success());
        let filler = fs.path().join(format!("filler{i}"));
        fill_leaving(fs.path(), &filler, leave_kib << 10);
        let mut n = node_proc::start_node_in(datadir.path(), &args, &[]);
        let start = Instant::now();
        let mut exited = None;
        while start.elapsed() < Duration::from_secs(120) {
            if let Some(st) = n.child.as_mut().unwrap().try_wait().unwrap() {
                exited = Some(st);
                break;
            }
            if n.run_log().contains("loaded blocks") {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let status = match exited {
            Some(st) => {
                n.child = None;
                st
            }
            // The import got through; the shutdown flush may still run out of space.
            None => n.stop(Duration::from_secs(30)).0,
        };
        let log = n.run_log();
        if !status.success() {
            assert!(
                log.contains("No space left on device") || log.contains("os error 28"),
                "the failure is not ENOSPC\n{log}"
            );
            // Mid-import (or in the shutdown flush) the node stops with reason error; with almost
            // no room left it may already fail to open its database (also an error exit).
            let line = log
                .lines()
                .find(|l| l.contains("shutting down because of an error") || l.contains("flush failed") || l.contains("startup failed"))
                .unwrap_or_else(|| panic!("no error stop logged\n{log}"))
                .to_string();
            failures.push((leave_kib, line));
        }
        // Free the space; the node recovers, finishes the import and matches Core.
        std::fs::remove_file(&filler).unwrap();
        let mut n = node_proc::start_node_in(datadir.path(), &args, &[]);
        n.wait_until(Duration::from_secs(120), "the import to finish after recovery", |n| {
            n.run_log().contains("loaded blocks")
        });
        let (st, _) = n.stop(Duration::from_secs(30));
        assert!(st.success());
        let mut chain = support::open_regtest(&net);
        assert_eq!(
            chain.tip().hash.to_string(),
            core["getblockchaininfo"]["bestblockhash"].as_str().unwrap(),
            "run {i}"
        );
        assert_eq!(
            chain.utxo_stats().unwrap().hash_serialized_3,
            core["gettxoutsetinfo"]["hash_serialized_3"]["hash_serialized_3"].as_str().unwrap(),
            "run {i}"
        );
    }
    eprintln!("ENOSPC failures: {failures:#?}");
    let mid_import = failures.iter().filter(|(_, l)| !l.contains("startup failed")).count();
    assert!(mid_import >= 2, "too few fill levels ran out of space mid-import: {failures:#?}");
}

/// A chainstate flush that fails (its database on a full filesystem) still delivers
/// `StorageFlushCompleted{success: false}` to a module, for the manual flush and for the
/// shutdown flush that follows (the failed flush stops the node with reason `error`).
#[test]
fn a_failing_flush_delivers_storage_flush_completed_with_success_false() {
    let Some(fs) = Tmpfs::mount(8) else {
        panic!("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN); this test fills a size-limited filesystem");
    };
    let datadir = tempfile::tempdir().unwrap();
    let net = datadir.path().join("regtest");
    std::fs::create_dir_all(&net).unwrap();
    std::os::unix::fs::symlink(fs.path(), net.join("chainstate")).unwrap();
    let port = http::free_port();
    let rpcport = format!("-rpcport={port}");
    let loadblock = format!("-loadblock={}", support::chain_hex_path().display());
    let args = [
        rpcport.as_str(),
        loadblock.as_str(),
        "-dbcache=64",
        "-disklowpercent=0",
        "-disklowmb=0",
        "-diskcriticalmb=0",
        "-shutdowntimeout=3",
        "-acktimeout=2",
    ];
    let mut n = node_proc::start_node_in(datadir.path(), &args, &[ModuleSpec::recorder("rec", "")]);
    n.wait_started();
    n.wait_until(Duration::from_secs(60), "blocks loaded", |n| n.log().contains("loaded blocks"));
    fill_leaving(fs.path(), &fs.path().join("filler"), 0);
    let r = http::call(
        &format!("127.0.0.1:{port}"),
        &node_proc::cookie(&n),
        "flushchainstate",
        serde_json::json!([]),
    );
    assert!(!r["error"].is_null(), "a flush onto a full disk must fail: {r}");
    let st = n.wait_exit(Duration::from_secs(30));
    assert!(!st.success(), "a failed flush stops the node with an error");
    let ev: Vec<(String, serde_json::Value)> = n
        .recorded_events("rec")
        .into_iter()
        .filter(|(t, _)| t == "StorageFlush" || t == "StorageFlushCompleted")
        .map(|(t, e)| (t, e["payload"].clone()))
        .collect();
    let shape: Vec<(&str, &serde_json::Value)> = ev.iter().map(|(t, p)| (t.as_str(), p)).collect();
    assert_eq!(shape.len(), 4, "{ev:?}");
    assert_eq!(shape[0], ("StorageFlush", &serde_json::json!({"reason": "manual"})));
    assert_eq!(
        (shape[1].0, &shape[1].1["success"]),
        ("StorageFlushCompleted", &serde_json::json!(false))
    );
    assert_eq!(shape[2], ("StorageFlush", &serde_json::json!({"reason": "shutdown"})));
    assert_eq!(
        (shape[3].0, &shape[3].1["success"]),
        ("StorageFlushCompleted", &serde_json::json!(false))
    );
}

//! The seed specification's janitorial examples written against `blvm_module::EventHandler`
//! (`crates/module/examples/janitorial_*.rs`), run as real module processes under a real node
//! process. The acceptance check of the handler SDK: a module written like the spec's "Module
//! Cleanup on Shutdown" example lets the node shut down in well under a second, and its cleanup
//! is on disk before the node exits.
//!
//! Needs the example binaries: `cargo test --workspace` (or `cargo build -p blvm-module --examples`).

mod support;

use support::{http, node_proc, read_json};

use node_proc::{cookie, module_bin, start_node, start_node_in, ModuleSpec, NodeProc};
use serde_json::Value;
use std::time::{Duration, SystemTime};

/// A `blvm-module` example binary autoloaded as module `name`.
fn spec_example(name: &str, example: &str) -> ModuleSpec {
    ModuleSpec {
        name: name.into(),
        entry: module_bin(&format!("examples/{example}")),
        args: vec![],
        capabilities: vec![],
        config: String::new(),
        autoload: true,
    }
}

#[test]
fn spec_shutdown_module_with_handler_lets_the_node_stop_in_under_a_second() {
    // Deadlines far above the bound asserted: only a module that acks when done meets it.
    let mut n = start_node(
        &["-rpcport=0", "-shutdowntimeout=30", "-acktimeout=30"],
        &[spec_example("janitor", "janitorial_shutdown")],
    );
    let data = n.module_data("janitor");
    n.wait_started();
    assert!(!data.join("cleanup.json").exists(), "cleanup before any shutdown");

    let (signalled_ms, exited_ms) = n.stop_promptly(Duration::from_secs(1));
    let log = n.log();

    // The module saw NodeShutdown (its info! line reaches the node log through stderr) ...
    assert!(log.contains("Node shutting down: reason=signal, timeout=30s"), "{log}");
    assert!(log.contains("Storage flush requested: reason=shutdown"), "{log}");
    // ... and its cleanup was durable between the signal and the node's exit.
    let cleaned = read_json(&data.join("cleanup.json"))["cleaned_at_ms"].as_u64().unwrap();
    assert!(
        (signalled_ms..=exited_ms).contains(&cleaned),
        "cleanup at {cleaned}, signal {signalled_ms}, exit {exited_ms}"
    );
    assert_eq!(read_json(&data.join("flush.json"))["flushes"], 1);
}

#[test]
fn spec_disk_space_module_with_handler_cleans_its_cache_and_acks() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("regtest/modules/disk/data/cache");
    std::fs::create_dir_all(&cache).unwrap();
    for i in 0..4 {
        std::fs::write(cache.join(format!("old-{i}.bin")), vec![0u8; 4096]).unwrap();
    }
    let mut n = start_node_in(
        tmp.path(),
        &["-rpcport=0", "-disklowpercent=100", "-diskcriticalmb=0", "-acktimeout=30"],
        &[spec_example("disk", "janitorial_disk_space")],
    );
    n.wait_started();
    n.wait_until(Duration::from_secs(15), "low-disk cleanup finished", |n| {
        n.log().contains("data cleanup finished")
    });
    n.assert_all_acked();
    assert!(n.log().contains("Disk space low:"), "{}", n.log());
    // percent_free < 100: the older half of the cache is gone.
    let left = std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(left, 2, "half of 4 files kept");
    let (status, took) = n.stop(Duration::from_secs(20));
    assert!(status.success());
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
}

/// `(event_type, payload)` of the recorder's events of the given types, in order.
fn pairs_seen(n: &NodeProc, module: &str, types: &[&str]) -> Vec<(String, Value)> {
    n.recorded_events(module)
        .into_iter()
        .filter(|(t, _)| types.contains(&t.as_str()))
        .map(|(t, e)| (t, e["payload"].clone()))
        .collect()
}

#[test]
fn a_failed_backup_and_manual_flush_each_deliver_their_completed_event_to_a_module() {
    let port = http::free_port();
    let mut n = start_node(&[&format!("-rpcport={port}"), "-acktimeout=5"], &[ModuleSpec::recorder("rec", "")]);
    n.wait_started();
    let addr = format!("127.0.0.1:{port}");
    let c = cookie(&n);
    // The destination's parent is a regular file: creating the backup directory fails (ENOTDIR,
    // which also holds for root, unlike a read-only mode).
    let blocker = n.datadir.join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let dest = blocker.join("bk");
    let r = http::call(
        &addr,
        &c,
        "runmaintenance",
        serde_json::json!(["backup", dest.display().to_string()]),
    );
    assert!(r.to_string().contains("Not a directory"), "the error reaches the caller: {r}");
    let r = http::call(&addr, &c, "flushchainstate", serde_json::json!([]));
    assert_eq!(r["error"], Value::Null, "{r}");
    let types = [
        "MaintenanceStarted",
        "MaintenanceCompleted",
        "StorageFlush",
        "StorageFlushCompleted",
    ];
    n.wait_until(Duration::from_secs(10), "both pairs recorded", |n| {
        pairs_seen(n, "rec", &types).len() >= 4
    });
    let seen = pairs_seen(&n, "rec", &types);
    let names: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(names, types, "{seen:?}");
    assert_eq!(seen[0].1["maintenance_type"], "backup");
    assert_eq!(seen[1].1["maintenance_type"], "backup");
    assert_eq!(seen[1].1["success"], false);
    let results: Value = serde_json::from_str(seen[1].1["results"].as_str().unwrap()).unwrap();
    assert!(results["error"].as_str().unwrap().contains("Not a directory"), "{results}");
    assert_eq!(seen[2].1["reason"], "manual");
    assert_eq!(seen[3].1["success"], true);
    let (status, _) = n.stop(Duration::from_secs(20));
    assert!(status.success());
    // Shutdown adds its own pair: StorageFlush{shutdown} then a successful completion.
    let seen = pairs_seen(&n, "rec", &["StorageFlush", "StorageFlushCompleted"]);
    let tail: Vec<(&str, &Value)> = seen[seen.len() - 2..].iter().map(|(t, p)| (t.as_str(), p)).collect();
    assert_eq!(tail[0], ("StorageFlush", &serde_json::json!({"reason": "shutdown"})));
    assert_eq!(tail[1].0, "StorageFlushCompleted");
    assert_eq!(tail[1].1["success"], true);
}

#[test]
fn spec_periodic_cleanup_module_with_handler_deletes_records_older_than_the_target_age() {
    let tmp = tempfile::tempdir().unwrap();
    let records = tmp.path().join("regtest/modules/sweeper/data/records");
    std::fs::create_dir_all(&records).unwrap();
    let day = Duration::from_secs(86_400);
    for (name, age_days) in [("old.json", 10u32), ("older.json", 40), ("fresh.json", 0)] {
        let f = std::fs::File::create(records.join(name)).unwrap();
        f.set_modified(SystemTime::now() - day * age_days).unwrap();
    }
    let port = http::free_port();
    let mut n = start_node_in(
        tmp.path(),
        &[&format!("-rpcport={port}"), "-acktimeout=30"],
        &[spec_example("sweeper", "janitorial_periodic_cleanup")],
    );
    n.wait_started();
    let r = http::call(&format!("127.0.0.1:{port}"), &cookie(&n), "cleanupdata", serde_json::json!([5]));
    assert_eq!(r["result"]["target_age_days"], 5, "{r}");
    // cleanupdata returns after the module's ack, which the SDK sends once the handler finished.
    let mut left: Vec<String> = std::fs::read_dir(&records)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["fresh.json"]);
    n.assert_all_acked();
    n.wait_until(Duration::from_secs(10), "the module's log line", |n| {
        n.log().contains("Data cleanup: type=manual, target_age=Some(5) days")
    });
    let (status, took) = n.stop(Duration::from_secs(20));
    assert!(status.success());
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
}

//! The seed specification's janitorial examples written against `blvm_module::EventHandler`
//! (`crates/module/examples/janitorial_*.rs`), run as real module processes under a real node
//! process. The acceptance check of the handler SDK: a module written like the spec's "Module
//! Cleanup on Shutdown" example lets the node shut down in well under a second, and its cleanup
//! is on disk before the node exits.
//!
//! Needs the example binaries: `cargo test --workspace` (or `cargo build -p blvm-module --examples`).

mod common;
#[path = "support/node_proc.rs"]
mod node_proc;

use node_proc::{module_bin, start_node, start_node_in, ModuleSpec, NodeProc};
use serde_json::Value;
use std::path::Path;
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

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

fn assert_all_acked(n: &NodeProc) {
    let log = n.log();
    assert!(!log.contains("did not acknowledge"), "a module missed an ack deadline:\n{log}");
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

    let signalled_ms = unix_ms();
    let (status, took) = n.stop(Duration::from_secs(40));
    let exited_ms = unix_ms();
    assert!(status.success(), "node exit {status:?}\n{}", n.log());
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}\n{}", n.log());
    assert_all_acked(&n);
    let log = n.log();
    assert!(!log.contains("sending SIGTERM"), "the module must exit by itself on close:\n{log}");

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
    assert_all_acked(&n);
    assert!(n.log().contains("Disk space low:"), "{}", n.log());
    // percent_free < 100: the older half of the cache is gone.
    let left = std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(left, 2, "half of 4 files kept");
    let (status, took) = n.stop(Duration::from_secs(20));
    assert!(status.success());
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
}

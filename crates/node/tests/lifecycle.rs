//! Lifecycle events from their real triggers, with a real node process and real module
//! processes (event-recorder) subscribed to everything: ordering, payloads, timing.

mod support;

use support::node_proc;

use node_proc::{start_node, start_node_in, ModuleSpec, NodeProc};
use serde_json::Value;
use std::time::Duration;

const LIFECYCLE: &[&str] = &[
    "NodeStartupCompleted",
    "NodeShutdown",
    "NodeShutdownCompleted",
    "StorageFlush",
    "StorageFlushCompleted",
    "HealthCheck",
    "DataCleanup",
    "DiskSpaceLow",
    "MaintenanceStarted",
    "MaintenanceCompleted",
];

fn lifecycle_sequence(n: &NodeProc, module: &str) -> Vec<String> {
    n.recorded_events(module)
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| LIFECYCLE.contains(&t.as_str()))
        .collect()
}

fn payload<'a>(events: &'a [(String, Value)], ty: &str) -> &'a Value {
    &events
        .iter()
        .find(|(t, _)| t == ty)
        .unwrap_or_else(|| panic!("no {ty} event in {events:?}"))
        .1["payload"]
}

fn closed_after_shutdown_completed(n: &NodeProc, module: &str) -> bool {
    let lines = n.recorded(module);
    let done = lines
        .iter()
        .position(|l| l["kind"] == "event" && l["event"]["event_type"] == "NodeShutdownCompleted");
    let closed = lines.iter().position(|l| l["kind"] == "closed");
    matches!((done, closed), (Some(d), Some(c)) if d < c)
}

#[test]
fn startup_and_signal_shutdown_follow_the_exact_sequence_with_true_payloads() {
    // -disklowpercent=0: the exact sequence must not depend on the machine's free disk (below
    // the default 5 %, DiskSpaceLow and DataCleanup rightly join it).
    let mut n = start_node(
        &["-shutdowntimeout=5", "-acktimeout=5", "-disklowpercent=0"],
        &[ModuleSpec::recorder("rec", "")],
    );
    n.wait_started();
    n.wait_until(Duration::from_secs(10), "startup health check recorded", |n| {
        lifecycle_sequence(n, "rec").len() >= 2
    });
    let (status, took) = n.stop(Duration::from_secs(20));
    assert!(status.success(), "node exit status {status:?}\n{}", n.log());

    let seq = lifecycle_sequence(&n, "rec");
    assert_eq!(
        seq,
        [
            "NodeStartupCompleted",
            "HealthCheck",
            "NodeShutdown",
            "StorageFlush",
            "StorageFlushCompleted",
            "NodeShutdownCompleted"
        ],
        "lifecycle order"
    );
    let events = n.recorded_events("rec");
    let start = payload(&events, "NodeStartupCompleted");
    let dur = start["duration_ms"].as_u64().unwrap();
    assert!(dur > 0 && dur < 30_000, "startup duration {dur}");
    let components: Vec<&str> = start["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in [
        "chainstate",
        "event_bus",
        "module_server",
        "module_manager",
        "module:rec",
        "scheduler",
        "disk_monitor",
    ] {
        assert!(components.contains(&c), "component {c} missing from {components:?}");
    }
    let health = payload(&events, "HealthCheck");
    assert_eq!(health["check_type"], "startup");
    assert_eq!(health["node_healthy"], true, "{health}");
    let report: Value = serde_json::from_str(health["health_report"].as_str().unwrap()).unwrap();
    assert_eq!(report["database_writable"], true);
    assert_eq!(report["network"], "regtest");

    let sd = payload(&events, "NodeShutdown");
    assert_eq!(sd["reason"], "signal");
    assert_eq!(sd["timeout_seconds"], 5);
    assert_eq!(payload(&events, "StorageFlush")["reason"], "shutdown");
    let fc = payload(&events, "StorageFlushCompleted");
    assert_eq!(fc["success"], true);
    assert!(fc["duration_ms"].as_u64().unwrap() >= 1);
    let sc = payload(&events, "NodeShutdownCompleted")["duration_ms"].as_u64().unwrap();
    assert!(
        sc >= 1 && (sc as u128) <= took.as_millis(),
        "shutdown duration {sc} vs observed {took:?}"
    );

    // Sequence numbers strictly increase and timestamps never go backwards.
    let seqs: Vec<u64> = events.iter().map(|(_, e)| e["sequence"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let ts: Vec<u64> = events.iter().map(|(_, e)| e["timestamp_ms"].as_u64().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]));
    // The module acked both ack-requiring events, got NodeShutdownCompleted before its
    // connection closed, and the whole shutdown took well under a second.
    let acked = n.recorded("rec").iter().filter(|l| l["kind"] == "acked").count();
    assert_eq!(acked, 2);
    assert!(closed_after_shutdown_completed(&n, "rec"), "{:?}", n.recorded("rec"));
    // Measured ~25-40 ms from SIGTERM to exit (node side 3-8 ms); 1 s leaves a wide margin.
    assert!(took < Duration::from_secs(1), "prompt-ack shutdown took {took:?}");
    assert!(!n.log().contains("did not acknowledge"));
}

#[test]
fn module_that_never_acks_delays_shutdown_by_timeout_and_no_more_and_node_still_flushes() {
    let mut n = start_node(
        &[
            "-shutdowntimeout=2",
            "-acktimeout=2",
            &format!("-loadblock={}", support::chain_hex_path().display()),
        ],
        &[ModuleSpec::recorder("mute", "ack = false")],
    );
    n.wait_started();
    n.wait_until(Duration::from_secs(30), "300 blocks loaded", |n| n.log().contains("loaded blocks"));
    let (status, took) = n.stop(Duration::from_secs(30));
    assert!(status.success());
    assert!(
        took >= Duration::from_secs(2),
        "shutdown returned before the ack deadline: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "shutdown took {took:?}, more than timeout_seconds + 1 s"
    );
    let events = n.recorded_events("mute");
    assert_eq!(payload(&events, "StorageFlushCompleted")["success"], true);
    assert!(n.log().contains("did not acknowledge"), "missing acks must be logged");
    assert!(n.log().contains("mute"));
    // The flush really happened: the chain reopens at the imported tip.
    let core = support::core_json();
    let chain = support::open_regtest(&n.net_dir());
    assert_eq!(
        chain.tip().hash.to_string(),
        core["getblockchaininfo"]["bestblockhash"].as_str().unwrap()
    );
}

#[test]
fn chain_events_arrive_in_order_with_core_hashes() {
    let mut n = start_node(
        &[&format!("-loadblock={}", support::chain_hex_path().display())],
        &[ModuleSpec::recorder("rec", "")],
    );
    n.wait_started();
    n.wait_until(Duration::from_secs(30), "300 NewBlock events", |n| {
        n.recorded_events("rec").iter().filter(|(t, _)| t == "NewBlock").count() == 300
    });
    let core = support::core_json();
    let blocks: Vec<Value> = n
        .recorded_events("rec")
        .into_iter()
        .filter(|(t, _)| t == "NewBlock")
        .map(|(_, e)| e["payload"].clone())
        .collect();
    for (i, b) in blocks.iter().enumerate() {
        let h = i + 1;
        assert_eq!(b["height"], h as u64);
        assert_eq!(b["hash"], core["blocks"][h]["hash"]);
        assert_eq!(b["tx_count"], core["blocks"][h]["ntx"]);
    }
    n.stop(Duration::from_secs(20));
}

#[test]
fn periodic_flush_health_and_cleanup_fire_from_their_timers() {
    let mut n = start_node(
        &[
            "-flushinterval=1",
            "-healthinterval=1",
            "-cleanupinterval=1",
            "-cleanupagedays=7",
            "-acktimeout=2",
        ],
        &[ModuleSpec::recorder("rec", "")],
    );
    n.wait_started();
    n.wait_until(Duration::from_secs(15), "periodic events", |n| {
        let ev = n.recorded_events("rec");
        let has = |t: &str, k: &str, v: &str| ev.iter().any(|(ty, e)| ty == t && e["payload"][k] == v);
        // The completion follows the flush after the module's ack: wait for both.
        let flush_done = ev
            .iter()
            .position(|(t, e)| t == "StorageFlush" && e["payload"]["reason"] == "periodic")
            .map(|i| ev[i..].iter().any(|(t, _)| t == "StorageFlushCompleted"))
            .unwrap_or(false);
        flush_done && has("HealthCheck", "check_type", "periodic") && has("DataCleanup", "cleanup_type", "periodic")
    });
    let ev = n.recorded_events("rec");
    let cleanup = ev
        .iter()
        .find(|(t, e)| t == "DataCleanup" && e["payload"]["cleanup_type"] == "periodic")
        .unwrap();
    assert_eq!(cleanup.1["payload"]["target_age_days"], 7);
    // Every periodic StorageFlush is followed by a successful StorageFlushCompleted.
    let types: Vec<&str> = ev.iter().map(|(t, _)| t.as_str()).collect();
    let first_flush = types.iter().position(|t| *t == "StorageFlush").unwrap();
    assert!(types[first_flush..].contains(&"StorageFlushCompleted"));
    // The module's health reports show up in the next periodic report.
    n.wait_until(Duration::from_secs(10), "module health in report", |n| {
        n.recorded_events("rec").iter().any(|(t, e)| {
            t == "HealthCheck"
                && e["payload"]["health_report"]
                    .as_str()
                    .map(|r| r.contains("events_seen_at"))
                    .unwrap_or(false)
        })
    });
    n.stop(Duration::from_secs(20));
}

#[test]
fn disk_space_low_reports_statvfs_truth_then_low_disk_cleanup() {
    let mut n = start_node(
        &["-disklowpercent=100", "-diskcriticalmb=0", "-acktimeout=2"],
        &[ModuleSpec::recorder("rec", "")],
    );
    n.wait_started();
    n.wait_until(Duration::from_secs(10), "DiskSpaceLow and low_disk cleanup", |n| {
        n.recorded_events("rec")
            .iter()
            .any(|(t, e)| t == "DataCleanup" && e["payload"]["cleanup_type"] == "low_disk")
    });
    let ev = n.recorded_events("rec");
    let low = payload(&ev, "DiskSpaceLow");
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let path = std::ffi::CString::new(n.net_dir().to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut st) }, 0);
    let total = st.f_blocks as u64 * st.f_frsize as u64;
    let avail = st.f_bavail as u64 * st.f_frsize as u64;
    assert_eq!(low["total_bytes"].as_u64().unwrap(), total);
    let pct = low["percent_free"].as_f64().unwrap();
    let want = avail as f64 * 100.0 / total as f64;
    assert!((pct - want).abs() < 1.0, "percent_free {pct} vs statvfs {want}");
    assert_eq!(low["disk_path"], n.net_dir().display().to_string());
    let types: Vec<&str> = ev.iter().map(|(t, _)| t.as_str()).collect();
    let i = types.iter().position(|t| *t == "DiskSpaceLow").unwrap();
    let j = types.iter().position(|t| *t == "DataCleanup").unwrap();
    assert!(i < j, "DiskSpaceLow must precede the low_disk cleanup");
    // Hysteresis: one alarm, not one per tick.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(n.recorded_events("rec").iter().filter(|(t, _)| t == "DiskSpaceLow").count(), 1);
    n.stop(Duration::from_secs(20));
}

#[test]
fn critically_low_disk_stops_the_node_with_reason_error_after_flushing() {
    let mut n = start_node(
        &["-diskcriticalmb=1000000000", "-shutdowntimeout=3"],
        &[ModuleSpec::recorder("rec", "")],
    );
    let status = n.wait_exit(Duration::from_secs(30));
    assert!(!status.success(), "an error shutdown exits non-zero");
    let ev = n.recorded_events("rec");
    assert_eq!(payload(&ev, "NodeShutdown")["reason"], "error");
    assert_eq!(payload(&ev, "StorageFlushCompleted")["success"], true);
    assert!(n.log().contains("disk space critically low"));
}

#[test]
fn memory_and_datadir_resource_warnings_carry_real_figures() {
    // The datadir needs > 0.5 MiB for the disk warning: an empty chainstate is smaller, so a
    // file of 1 MiB is put there first (the warning reports the datadir's real usage).
    let datadir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(datadir.path().join("regtest")).unwrap();
    std::fs::write(datadir.path().join("regtest/filler"), vec![1u8; 1 << 20]).unwrap();
    let mut n = start_node_in(
        datadir.path(),
        &[
            "-resourceinterval=1",
            "-maxmemorymb=1",
            "-maxdatadirmb=1",
            "-resourcewarnpercent=50",
        ],
        &[ModuleSpec::recorder("rec", "")],
    );
    n.wait_started();
    n.wait_until(Duration::from_secs(15), "memory and disk warnings", |n| {
        let ev = n.recorded_events("rec");
        let has = |r: &str| {
            ev.iter()
                .any(|(t, e)| t == "ResourceLimitWarning" && e["payload"]["resource_type"] == r)
        };
        has("memory") && has("disk")
    });
    let ev = n.recorded_events("rec");
    let mem = ev
        .iter()
        .find(|(t, e)| t == "ResourceLimitWarning" && e["payload"]["resource_type"] == "memory")
        .unwrap()
        .1["payload"]
        .clone();
    assert_eq!(mem["limit"], 1u64 << 20);
    assert!(
        mem["current_usage"].as_u64().unwrap() > 1 << 20,
        "RSS of a running node exceeds 1 MiB"
    );
    assert_eq!(mem["threshold_percent"], 50.0);
    let pct = mem["usage_percent"].as_f64().unwrap();
    let want = mem["current_usage"].as_u64().unwrap() as f64 * 100.0 / (1u64 << 20) as f64;
    assert!((pct - want).abs() < 1e-6);
    // Hysteresis: RSS stays above the limit, so exactly one memory warning.
    std::thread::sleep(Duration::from_millis(2200));
    let count = n
        .recorded_events("rec")
        .iter()
        .filter(|(t, e)| t == "ResourceLimitWarning" && e["payload"]["resource_type"] == "memory")
        .count();
    assert_eq!(count, 1);
    n.stop(Duration::from_secs(20));
}

#[test]
fn crashing_module_is_restarted_with_backoff_then_marked_failed_and_others_are_unaffected() {
    let mut n = start_node(
        &["-modulemaxrestarts=2", "-modulebackoffms=100"],
        &[
            ModuleSpec::recorder("watcher", ""),
            ModuleSpec::recorder("crashy", "crash_after_ms = 200"),
        ],
    );
    n.wait_started();
    n.wait_until(Duration::from_secs(20), "crashy gives up after 2 restarts", |n| {
        n.recorded_events("watcher")
            .iter()
            .any(|(t, e)| t == "ModuleCrashed" && e["payload"]["will_restart"] == false)
    });
    let crashes: Vec<Value> = n
        .recorded_events("watcher")
        .into_iter()
        .filter(|(t, _)| t == "ModuleCrashed")
        .map(|(_, e)| e["payload"].clone())
        .collect();
    assert_eq!(crashes.len(), 3, "{crashes:?}");
    for (i, c) in crashes.iter().enumerate() {
        assert_eq!(c["name"], "crashy");
        assert_eq!(c["exit_code"], 3);
        assert_eq!(c["restarts"], i as u64 + 1);
        assert_eq!(c["will_restart"], i < 2);
    }
    let loads = n
        .recorded_events("watcher")
        .iter()
        .filter(|(t, e)| t == "ModuleLoaded" && e["payload"]["name"] == "crashy")
        .count();
    assert!(loads >= 2, "restarted module reconnected ({loads} loads)");
    // The node and the other module carry on.
    let (status, _) = n.stop(Duration::from_secs(20));
    assert!(status.success());
    assert!(lifecycle_sequence(&n, "watcher").contains(&"NodeShutdownCompleted".to_string()));
}

//! Acceptance 3: event fan-out to many real module processes.
//!
//! An in-process node autoloads real `event-recorder` processes (summary mode) and publishes
//! `ModuleEvent{name:"fanout", data:{"i":k}}` events straight through its bus. Each module
//! reports the runs of sequences it received, every `Lagged` range it was told about and a
//! checksum binding each fanout index to its sequence. The test checks, per module, that the
//! received sequences and the `Lagged` ranges together cover every published sequence of the
//! window exactly once, in order — and that healthy readers get every single event while a
//! module that stops reading only loses its own events.

mod support;

use support::node_proc;

use blvm_module::EventPayload;
use blvm_node::modules::bus::EventBus;
use blvm_node::node::{Node, NodeSettings, ShutdownReason};
use blvm_node::params::ChainParams;
use node_proc::ModuleSpec;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Same mixing as the recorder's `pair_mix`: binds a fanout index to the sequence it came with.
fn pair_mix(sequence: u64, i: u64) -> u64 {
    sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i
}

fn fanout(i: usize) -> EventPayload {
    EventPayload::ModuleEvent {
        module: "test".into(),
        name: "fanout".into(),
        data: format!("{{\"i\":{i}}}"),
    }
}

fn fanout_end() -> EventPayload {
    EventPayload::ModuleEvent {
        module: "test".into(),
        name: "fanout-end".into(),
        data: "{}".into(),
    }
}

async fn start_node(dir: &Path, modules: &[ModuleSpec], capacity: usize) -> Arc<Node> {
    let net_dir = dir.join("regtest");
    for m in modules {
        node_proc::install_module(&net_dir.join("modules"), m);
    }
    let mut s = NodeSettings::new(ChainParams::for_network(bitcoin::Network::Regtest), net_dir);
    s.module_queue_capacity = capacity;
    s.module_max_restarts = 0;
    s.lifecycle.module_connect_timeout = Duration::from_secs(30);
    s.lifecycle.ack_timeout = Duration::from_secs(2);
    s.lifecycle.shutdown_timeout = Duration::from_secs(3);
    let node = blvm_node::launch::start(s).await.expect("node starts");
    for m in modules {
        assert!(
            node.bus().is_subscribed(&m.name),
            "module {} did not connect and subscribe before startup completed",
            m.name
        );
    }
    // Each recorder answers the startup HealthCheck with a ReportHealth request. While a module
    // waits for that response the SDK keeps reading (it must, to find the response) and can
    // only buffer 1,024 events; wait for the answers so the flood does not start mid-request.
    let t = Instant::now();
    while modules.iter().any(|m| !node.health_registry().snapshot().contains_key(&m.name)) {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "modules did not report health: {:?}",
            node.health_registry().snapshot().keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    node
}

fn summary_path(node: &Node, module: &str) -> PathBuf {
    node.settings()
        .net_dir
        .join("modules")
        .join(module)
        .join("data")
        .join("summary.json")
}

fn read_summary(node: &Node, module: &str) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(summary_path(node, module)).ok()?).ok()
}

/// Waits for every module's summary; re-publishes the end marker now and then, since a module
/// that lags may legitimately lose one (it is then covered by a `Lagged` range).
async fn wait_summaries(node: &Node, modules: &[String], timeout: Duration) -> Vec<Value> {
    let start = Instant::now();
    let mut last_end = Instant::now();
    node.bus().publish(fanout_end());
    loop {
        let got: Vec<Option<Value>> = modules.iter().map(|m| read_summary(node, m)).collect();
        if got.iter().all(Option::is_some) {
            return got.into_iter().map(Option::unwrap).collect();
        }
        assert!(
            start.elapsed() < timeout,
            "no summary after {timeout:?} from {:?}; bus stats {:?}",
            modules
                .iter()
                .zip(&got)
                .filter(|(_, s)| s.is_none())
                .map(|(m, _)| m)
                .collect::<Vec<_>>(),
            node.bus().subscriber_stats()
        );
        if last_end.elapsed() > Duration::from_secs(2) {
            node.bus().publish(fanout_end());
            last_end = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn pairs<const N: usize>(v: &Value) -> Vec<[u64; N]> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|r| {
            let a = r.as_array().expect("tuple");
            std::array::from_fn(|k| a[k].as_u64().expect("u64"))
        })
        .collect()
}

/// What one module's summary proved about the window `[seq_of[0], end]`.
#[derive(Debug)]
struct Coverage {
    received: u64,
    lagged: u64,
    lag_notices: usize,
}

/// Checks that received sequences and `Lagged` ranges cover `[seq_of[0], end]` exactly once and
/// in order, and that the fanout events received are exactly those whose sequence was received,
/// each carrying its own index.
fn check_coverage(module: &str, s: &Value, seq_of: &[u64]) -> Coverage {
    let start = seq_of[0];
    let end = s["end_sequence"]
        .as_u64()
        .unwrap_or_else(|| panic!("{module}: no end marker seen: {s}"));
    assert!(
        end > *seq_of.last().unwrap(),
        "{module}: end marker {end} before the last fanout event"
    );
    assert_eq!(s["order_violations"], 0, "{module}: events or Lagged notices arrived out of order");
    assert_eq!(s["count_order_violations"], 0, "{module}: fanout indices arrived out of order");
    assert_eq!(s["count_bad_data"], 0, "{module}: fanout event with unreadable data");

    let runs = pairs::<2>(&s["runs"]);
    let lagged = pairs::<3>(&s["lagged"]);
    for [from, to, count] in &lagged {
        // Every sequence is addressed to a module subscribed to everything, so a Lagged notice
        // is exact when its count is the size of its range.
        assert_eq!(*count, to - from + 1, "{module}: Lagged {from}..={to} claims {count} events");
    }
    // Received runs and lagged ranges, merged: disjoint everywhere and gap-free over the window.
    let mut spans: Vec<(u64, u64, &str)> = runs
        .iter()
        .map(|r| (r[0], r[1], "received"))
        .chain(lagged.iter().map(|l| (l[0], l[1], "lagged")))
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(w[1].0 > w[0].1, "{module}: {:?} overlaps {:?}", w[0], w[1]);
    }
    let mut next = start;
    let (mut received, mut lost) = (0, 0);
    for &(a, b, kind) in spans.iter().filter(|(a, b, _)| *b >= start && *a <= end) {
        let (a, b) = (a.max(start), b.min(end));
        assert_eq!(
            a, next,
            "{module}: sequences {next}..{a} neither received nor reported as Lagged (next span {kind})"
        );
        if kind == "received" {
            received += b - a + 1;
        } else {
            lost += b - a + 1;
        }
        next = b + 1;
    }
    assert_eq!(
        next,
        end + 1,
        "{module}: sequences {next}..={end} neither received nor reported as Lagged"
    );

    // The fanout events received are exactly those whose sequence was received.
    let received_seq = |q: u64| runs.iter().any(|r| r[0] <= q && q <= r[1]);
    let count_runs = pairs::<2>(&s["count_runs"]);
    let mut expected_checksum = 0u64;
    let mut expected_count = 0u64;
    let mut i_runs: Vec<[u64; 2]> = Vec::new();
    for (i, &q) in seq_of.iter().enumerate() {
        if received_seq(q) {
            expected_count += 1;
            expected_checksum = expected_checksum.wrapping_add(pair_mix(q, i as u64));
            match i_runs.last_mut() {
                Some(r) if r[1] + 1 == i as u64 => r[1] = i as u64,
                _ => i_runs.push([i as u64, i as u64]),
            }
        }
    }
    assert_eq!(s["count_events"].as_u64(), Some(expected_count), "{module}: fanout events received");
    assert_eq!(
        count_runs, i_runs,
        "{module}: fanout indices received differ from the sequences received"
    );
    assert_eq!(
        s["checksum"].as_u64(),
        Some(expected_checksum),
        "{module}: a fanout index arrived with the wrong sequence"
    );
    Coverage {
        received,
        lagged: lost,
        lag_notices: lagged.len(),
    }
}

/// Waits until no listed subscriber has more than `max` events queued.
async fn wait_queues_below(bus: &EventBus, names: &[String], max: usize) -> Duration {
    let t = Instant::now();
    loop {
        let stats = bus.subscriber_stats();
        if stats.iter().filter(|(n, _, _)| names.contains(n)).all(|(_, q, _)| *q <= max) {
            return t.elapsed();
        }
        assert!(t.elapsed() < Duration::from_secs(60), "healthy modules stopped draining: {stats:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

const EVENTS: usize = 100_000;
const HEALTHY: usize = 10;
/// The node's default per-module queue.
const CAPACITY: usize = blvm_node::modules::bus::DEFAULT_QUEUE_CAPACITY;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_modules_receive_all_100k_events_in_order_and_a_stalled_module_slows_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let healthy: Vec<String> = (0..HEALTHY).map(|k| format!("fan{k:02}")).collect();
    let mut specs: Vec<ModuleSpec> = healthy.iter().map(|n| ModuleSpec::recorder(n, "mode = \"summary\"")).collect();
    specs.push(ModuleSpec::recorder("stalled", "mode = \"summary\"\nstall_after = 100"));
    let node = start_node(dir.path(), &specs, CAPACITY).await;
    let bus = node.bus();

    // The node publishes 100,000 events. To make "every event" deterministic for the healthy
    // modules, publishing pauses whenever one of *their* queues holds more than a quarter of
    // the capacity; the stalled module gets no such consideration and fills its queue.
    let chunk = CAPACITY / 4;
    let t0 = Instant::now();
    let mut paced = Duration::ZERO;
    let mut slowest_publish = Duration::ZERO;
    let mut seq_of = Vec::with_capacity(EVENTS);
    for i in 0..EVENTS {
        if i % chunk == 0 {
            paced += wait_queues_below(&bus, &healthy, chunk).await;
        }
        let t = Instant::now();
        seq_of.push(bus.publish(fanout(i)));
        slowest_publish = slowest_publish.max(t.elapsed());
    }
    let publish_time = t0.elapsed();
    assert!(
        seq_of.windows(2).all(|w| w[1] > w[0]),
        "the bus handed out non-increasing sequences"
    );

    let summaries = wait_summaries(&node, &healthy, Duration::from_secs(120)).await;
    let delivered_time = t0.elapsed();
    for (name, s) in healthy.iter().zip(&summaries) {
        let c = check_coverage(name, s, &seq_of);
        // Healthy readers lose nothing: every event, in order, no Lagged at all.
        assert_eq!(
            c.lag_notices,
            0,
            "{name}: healthy module was told it lagged: {}; bus: {:?}",
            s["lagged"],
            bus.subscriber_stats()
        );
        assert_eq!(c.lagged, 0, "{name}");
        assert_eq!(s["count_events"].as_u64(), Some(EVENTS as u64), "{name}: fanout events received");
        assert!(c.received > EVENTS as u64, "{name}: {c:?}");
    }

    // The stalled module's queue is bounded and the bus dropped (and counted) its events only.
    let stats = bus.subscriber_stats();
    let stat = |n: &str| {
        stats
            .iter()
            .find(|(m, _, _)| m == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n} not connected: {stats:?}"))
    };
    for n in &healthy {
        assert_eq!(stat(n).2, 0, "{n}: the bus dropped events of a healthy module: {stats:?}");
    }
    let (_, stalled_queued, stalled_dropped) = stat("stalled");
    // At most one slot more than the capacity: a Lagged notice queued with the event after it.
    assert!(
        (CAPACITY..=CAPACITY + 1).contains(&stalled_queued),
        "stalled module's queue: {stalled_queued} (capacity {CAPACITY})"
    );
    assert!(
        stalled_dropped > (EVENTS / 2) as u64,
        "stalled module: only {stalled_dropped} events dropped"
    );
    assert!(read_summary(&node, "stalled").is_none(), "the stalled module kept reading");
    eprintln!(
        "fanout: {EVENTS} events x {HEALTHY} healthy modules (+1 stalled); publish loop {publish_time:?} (of which paced {paced:?}), slowest publish {slowest_publish:?}, all delivered after {delivered_time:?}; stalled: queued {stalled_queued}, dropped {stalled_dropped}"
    );

    // The stalled process is killed (it never reads again); every healthy module still
    // acknowledges NodeShutdown, which was queued behind 100,000 events.
    let stalled_pid = node
        .modules()
        .list()
        .into_iter()
        .find(|m| m.name == "stalled")
        .and_then(|m| m.pid)
        .expect("stalled pid");
    // SAFETY: signalling a module process this test's node spawned.
    unsafe {
        libc::kill(stalled_pid as libc::pid_t, libc::SIGKILL);
    }
    let report = node.shutdown(ShutdownReason::Graceful).await;
    let mut acked = report.shutdown_acks.acked.clone();
    acked.sort();
    assert_eq!(acked, healthy, "NodeShutdown acks: {:?}", report.shutdown_acks);
    assert!(report.flush_ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_queues_and_a_slow_reader_get_exact_lagged_ranges() {
    const N: usize = 20_000;
    const SMALL: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let names = vec!["slow".to_string(), "quick".to_string()];
    let specs = vec![
        ModuleSpec::recorder("slow", "mode = \"summary\"\ndelay_us_per_event = 300"),
        ModuleSpec::recorder("quick", "mode = \"summary\""),
    ];
    let node = start_node(dir.path(), &specs, SMALL).await;
    let bus = node.bus();
    // Published as fast as the node can, without regard for anyone.
    let seq_of: Vec<u64> = (0..N).map(|i| bus.publish(fanout(i))).collect();
    // Let queues drain so the end marker (and pending Lagged notices) can get through.
    wait_queues_below(&bus, &names, 0).await;
    let dropped: Vec<u64> = names
        .iter()
        .map(|n| {
            bus.subscriber_stats()
                .into_iter()
                .find(|(m, _, _)| m == n)
                .map(|s| s.2)
                .unwrap_or(0)
        })
        .collect();
    let summaries = wait_summaries(&node, &names, Duration::from_secs(60)).await;
    for ((name, s), node_dropped) in names.iter().zip(&summaries).zip(&dropped) {
        let c = check_coverage(name, s, &seq_of);
        eprintln!("{name}: {c:?}, node-side dropped {node_dropped}");
        // Everything the bus dropped was reported (the SDK may have dropped more, also reported).
        assert!(
            c.lagged >= *node_dropped,
            "{name}: bus dropped {node_dropped} events but only {} were reported as Lagged",
            c.lagged
        );
        assert_eq!(c.received + c.lagged, s["end_sequence"].as_u64().unwrap() - seq_of[0] + 1, "{name}");
    }
    let slow = &summaries[0];
    let c = check_coverage("slow", slow, &seq_of);
    assert!(dropped[0] > 0, "the slow reader's bus queue never overflowed (capacity {SMALL})");
    assert!(c.lag_notices > 0 && c.lagged > 0, "the slow reader was never told it lagged: {c:?}");
    assert!(c.received >= SMALL as u64, "the slow reader received only {} events", c.received);
    let report = node.shutdown(ShutdownReason::Graceful).await;
    assert!(report.shutdown_acks.missing.is_empty(), "{:?}", report.shutdown_acks);
}

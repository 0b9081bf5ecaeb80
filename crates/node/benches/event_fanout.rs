//! Acceptance 7: event fan-out benchmark (not a timed test).
//!
//! `cargo bench -p blvm-node --bench event_fanout` starts an in-process node and connects N
//! in-process `ModuleClient`s (N = 1 and 10) over the node's real Unix socket, each subscribed
//! to `ModuleEvent`. The node publishes `ModuleEvent{name:"bench", data:{"i":k,"t":ns}}` through
//! its bus, `t` being nanoseconds since a start `Instant` shared with the receivers, which
//! compute publish-to-receive latency on receipt. Two measurements per N:
//! - throughput: M events published back to back from a plain thread; events/s delivered =
//!   N x M / (first publish .. last receipt). The per-module queue is sized so nothing drops.
//! - latency: events published at a fixed rate (10 per millisecond) well below saturation;
//!   p50/p99 over every delivery.
//!
//! Baselines in the same invocation: N Unix socket pairs carrying the same `Event` frames
//! (msgpack, length-prefixed, a channel per writer like the bus's queue) read with `FrameReader`,
//! i.e. transport and codec without bus, server or SDK: "raw per-frame" writes each frame with
//! `write_frame`; "raw batched" gathers waiting frames into one write of up to 64 KiB, as the
//! node's connection writer does. The process CPU time (all threads) per delivery is reported
//! too: unlike wall-clock rates it stays meaningful on a machine shared with other work.
//!
//! Every delivery is checked (no `Lagged`, indices in order); a run that loses an event aborts.
//! Runs: `BLVM_BENCH_RUNS` (default 3), the median is reported. Without `--bench` (e.g. `cargo
//! test --benches`) one small run of each kind is done as a smoke check.

use blvm_module::{ClientConfig, EventMessage, EventPayload, EventType, FrameReader, ModuleClient, ModuleMessage};
use blvm_node::node::{Node, NodeSettings, ShutdownReason};
use blvm_node::params::ChainParams;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

/// Events per throughput run.
const THROUGHPUT_EVENTS: usize = 100_000;
/// Events per latency run.
const LATENCY_EVENTS: usize = 20_000;
/// Latency runs publish this many events every millisecond.
const BURST_PER_MS: usize = 10;

/// What a receiver saw in one run.
struct Received {
    /// Publish-to-receive latencies in nanoseconds.
    latencies: Vec<u64>,
    /// When the last event arrived.
    last: Instant,
}

/// One run's result.
struct RunResult {
    /// Process CPU time (user + system, all threads) spent in the run.
    cpu: Duration,
    published: u64,
    deliveries: u64,
    wall: Duration,
    publish: Duration,
    latencies: Vec<u64>,
}

fn payload(i: usize, base: Instant) -> EventPayload {
    let t = base.elapsed().as_nanos() as u64;
    EventPayload::ModuleEvent {
        module: "bench".into(),
        name: "bench".into(),
        data: format!("{{\"i\":{i},\"t\":{t}}}"),
    }
}

/// Checks an event's index and returns its latency.
fn receive(ev: &EventMessage, expect_i: usize, base: Instant) -> u64 {
    let EventPayload::ModuleEvent { data, .. } = &ev.payload else {
        panic!("unexpected event {:?}", ev.event_type)
    };
    let v: serde_json::Value = serde_json::from_str(data).expect("event data is JSON");
    let i = v["i"].as_u64().expect("i") as usize;
    assert_eq!(i, expect_i, "event lost or reordered");
    let t = v["t"].as_u64().expect("t");
    (base.elapsed().as_nanos() as u64).saturating_sub(t)
}

/// Publishes `m` events from a plain thread: back to back, or `BURST_PER_MS` per millisecond.
fn publisher(
    m: usize,
    paced: bool,
    base: Instant,
    mut publish: impl FnMut(EventPayload) + Send + 'static,
) -> std::thread::JoinHandle<(Instant, Duration)> {
    std::thread::spawn(move || {
        let start = Instant::now();
        for i in 0..m {
            if paced && i % BURST_PER_MS == 0 {
                let due = start + Duration::from_micros((i / BURST_PER_MS) as u64 * 1000);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
            publish(payload(i, base));
        }
        (start, start.elapsed())
    })
}

/// User + system CPU time of this process so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe {
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
    }
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn finish(received: Vec<Received>, m: usize, start: Instant, publish: Duration, cpu0: Duration) -> RunResult {
    let last = received.iter().map(|r| r.last).max().expect("receivers");
    let mut latencies: Vec<u64> = received.into_iter().flat_map(|r| r.latencies).collect();
    latencies.sort_unstable();
    RunResult {
        cpu: cpu_time().saturating_sub(cpu0),
        published: m as u64,
        deliveries: latencies.len() as u64,
        wall: last - start,
        publish,
        latencies,
    }
}

/// One run through the node's bus, server and the SDK client.
async fn bus_run(node: &Arc<Node>, clients: Vec<ModuleClient>, m: usize, paced: bool, base: Instant) -> (RunResult, Vec<ModuleClient>) {
    let cpu0 = cpu_time();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(m);
                let mut last = Instant::now();
                while latencies.len() < m {
                    match c.next_event().await {
                        Some(ModuleMessage::Event(ev)) => {
                            latencies.push(receive(&ev, latencies.len(), base));
                            last = Instant::now();
                        }
                        Some(ModuleMessage::Lagged {
                            from_sequence,
                            to_sequence,
                            count,
                        }) => panic!("lagged {from_sequence}..={to_sequence} ({count}): the benchmark must not drop"),
                        Some(other) => panic!("unexpected {}", other.type_name()),
                        None => panic!("client disconnected"),
                    }
                }
                (c, Received { latencies, last })
            })
        })
        .collect();
    let bus = node.bus();
    let (start, publish) = publisher(m, paced, base, move |p| {
        bus.publish(p);
    })
    .join()
    .expect("publisher");
    let mut clients = Vec::new();
    let mut received = Vec::new();
    for t in tasks {
        let (c, r) = t.await.expect("receiver");
        clients.push(c);
        received.push(r);
    }
    (finish(received, m, start, publish, cpu0), clients)
}

/// The same frames over raw socket pairs: one writer task and channel per receiver.
/// Bytes a batching raw writer gathers into one write (as the node's connection writer does).
const RAW_BATCH_BYTES: usize = 64 * 1024;

async fn raw_run(n: usize, m: usize, paced: bool, batched: bool, base: Instant) -> RunResult {
    let cpu0 = cpu_time();
    let mut senders = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..n {
        let (a, b) = UnixStream::pair().expect("socket pair");
        let (tx, mut rx) = mpsc::unbounded_channel::<Arc<EventMessage>>();
        senders.push(tx);
        tokio::spawn(async move {
            let mut a = a;
            let mut buf = Vec::new();
            while let Some(e) = rx.recv().await {
                if !batched {
                    if blvm_module::write_frame(&mut a, &ModuleMessage::Event((*e).clone()), u32::MAX)
                        .await
                        .is_err()
                    {
                        break;
                    }
                    continue;
                }
                buf.clear();
                let mut next = Some(e);
                while let Some(e) = next.take() {
                    buf.extend_from_slice(&blvm_module::encode(&ModuleMessage::Event((*e).clone())).expect("encode"));
                    if buf.len() < RAW_BATCH_BYTES {
                        next = rx.try_recv().ok();
                    }
                }
                if tokio::io::AsyncWriteExt::write_all(&mut a, &buf).await.is_err() {
                    break;
                }
            }
        });
        readers.push(tokio::spawn(async move {
            let mut r = FrameReader::new(b, blvm_module::DEFAULT_MAX_FRAME);
            let mut latencies = Vec::with_capacity(m);
            let mut last = Instant::now();
            while latencies.len() < m {
                match r.read().await {
                    Ok(Some(ModuleMessage::Event(ev))) => {
                        latencies.push(receive(&ev, latencies.len(), base));
                        last = Instant::now();
                    }
                    other => panic!("raw reader: {other:?}"),
                }
            }
            Received { latencies, last }
        }));
    }
    let mut seq = 0u64;
    let (start, publish) = publisher(m, paced, base, move |p| {
        seq += 1;
        let msg = Arc::new(EventMessage::new(seq, 0, p));
        for s in &senders {
            let _ = s.send(msg.clone());
        }
    })
    .join()
    .expect("publisher");
    let mut received = Vec::new();
    for r in readers {
        received.push(r.await.expect("raw reader"));
    }
    finish(received, m, start, publish, cpu0)
}

fn pct(sorted: &[u64], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)] as f64 / 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median figures of several runs.
struct Figures {
    events_per_s: f64,
    cpu_us_per_delivery: f64,
    publish_per_s: f64,
    p50_us: f64,
    p99_us: f64,
}

fn summarize(runs: &[RunResult]) -> Figures {
    Figures {
        events_per_s: median(runs.iter().map(|r| r.deliveries as f64 / r.wall.as_secs_f64()).collect()),
        cpu_us_per_delivery: median(runs.iter().map(|r| r.cpu.as_secs_f64() * 1e6 / r.deliveries as f64).collect()),
        publish_per_s: median(runs.iter().map(|r| r.published as f64 / r.publish.as_secs_f64()).collect()),
        p50_us: median(runs.iter().map(|r| pct(&r.latencies, 50)).collect()),
        p99_us: median(runs.iter().map(|r| pct(&r.latencies, 99)).collect()),
    }
}

async fn connect(node: &Arc<Node>, ids: std::ops::Range<usize>) -> Vec<ModuleClient> {
    let mut out = Vec::new();
    for k in ids {
        let mut cfg = ClientConfig::new(format!("bench{k:02}"), "1");
        // Large enough that the SDK never drops either: throughput, not loss, is measured.
        cfg.event_buffer = THROUGHPUT_EVENTS + 1024;
        let c = ModuleClient::connect(node.settings().socket_path(), cfg).await.expect("connect");
        c.subscribe_events(vec![EventType::ModuleEvent]).await.expect("subscribe");
        out.push(c);
    }
    out
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let runs: usize = if full {
        std::env::var("BLVM_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3)
    } else {
        1
    };
    let (tp_events, lat_events) = if full { (THROUGHPUT_EVENTS, LATENCY_EVENTS) } else { (2_000, 500) };
    if !full {
        println!("smoke mode (no --bench): one small run of each kind");
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = NodeSettings::new(ChainParams::for_network(bitcoin::Network::Regtest), dir.path().join("regtest"));
        s.allow_unauthenticated_modules = true;
        s.module_queue_capacity = THROUGHPUT_EVENTS + 1024;
        s.lifecycle.shutdown_timeout = Duration::from_secs(2);
        let node = blvm_node::launch::start(s).await.expect("node starts");
        let base = Instant::now();
        println!(
            "event fan-out: {} worker threads, throughput runs of {tp_events} events, latency runs of {lat_events} events at {} events/s, {runs} run(s) each (median); load average at start: {}",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            BURST_PER_MS * 1000,
            loadavg()
        );
        println!("{:<30} {:>12} {:>12} {:>10} {:>10} {:>10}", "configuration", "delivered/s", "published/s", "CPU µs/ev", "p50 µs", "p99 µs");
        let mut clients: Vec<ModuleClient> = Vec::new();
        for n in [1usize, 10] {
            if clients.len() < n {
                clients.extend(connect(&node, clients.len()..n).await);
            }
            let mut tp = Vec::new();
            let mut lat = Vec::new();
            let mut raw_tp = Vec::new();
            let mut raw_lat = Vec::new();
            let mut rawb_tp = Vec::new();
            let mut rawb_lat = Vec::new();
            for _ in 0..runs {
                let (r, c) = bus_run(&node, std::mem::take(&mut clients), tp_events, false, base).await;
                clients = c;
                tp.push(r);
                let (r, c) = bus_run(&node, std::mem::take(&mut clients), lat_events, true, base).await;
                clients = c;
                lat.push(r);
                raw_tp.push(raw_run(n, tp_events, false, false, base).await);
                raw_lat.push(raw_run(n, lat_events, true, false, base).await);
                rawb_tp.push(raw_run(n, tp_events, false, true, base).await);
                rawb_lat.push(raw_run(n, lat_events, true, true, base).await);
            }
            let (t, l) = (summarize(&tp), summarize(&lat));
            let row = |label: String, f: &Figures| println!("{label:<30} {:>12.0} {:>12.0} {:>10.2} {:>10.1} {:>10.1}", f.events_per_s, f.publish_per_s, f.cpu_us_per_delivery, f.p50_us, f.p99_us);
            let paced = |label: String, f: &Figures| println!("{label:<30} {:>12} {:>12} {:>10.2} {:>10.1} {:>10.1}", "", "", f.cpu_us_per_delivery, f.p50_us, f.p99_us);
            row(format!("bus, {n} module(s), burst"), &t);
            paced(format!("bus, {n} module(s), paced"), &l);
            for (kind, tp_runs, lat_runs) in [("raw per-frame", &raw_tp, &raw_lat), ("raw batched", &rawb_tp, &rawb_lat)] {
                let (rt_, rl) = (summarize(tp_runs), summarize(lat_runs));
                row(format!("{kind}, {n}, burst"), &rt_);
                paced(format!("{kind}, {n}, paced"), &rl);
                println!(
                    "  ratio bus / {kind}, {n} module(s): throughput {:.2}, CPU per delivery {:.2}, paced p50 latency {:.2}, paced p99 latency {:.2}",
                    t.events_per_s / rt_.events_per_s,
                    t.cpu_us_per_delivery / rt_.cpu_us_per_delivery,
                    l.p50_us / rl.p50_us,
                    l.p99_us / rl.p99_us
                );
            }
        }
        println!("load average at end: {}", loadavg());
        for c in clients {
            let _ = c.close().await;
        }
        node.shutdown(ShutdownReason::Graceful).await;
    });
}

//! Prometheus metrics (`-metricsbind`, off by default): chain, mempool, peers, UTXO cache, flushes,
//! event bus and module counters, module states, RPC latency. See docs/configuration.md.

pub mod registry;
pub mod server;

pub use registry::{Histogram, Registry, TextWriter};

use crate::chain::ChainManager;
use crate::modules::api::NodeApi;
use crate::modules::bus::{EventBus, ModuleCounters};
use crate::modules::manager::{ModuleManager, ModuleStatus};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the metrics are read from: the metrics endpoint's narrow handle on the node.
pub struct MetricsSource {
    /// The chain engine (height, headers, cache).
    pub chain: Arc<Mutex<ChainManager>>,
    /// The module API's view of the mempool and peers.
    pub api: Arc<NodeApi>,
    /// Metrics recorded as they happen (RPC latency, flushes).
    pub registry: Arc<Registry>,
    /// When the node started (uptime).
    pub started: Instant,
    /// The event bus (event counters).
    pub bus: Arc<EventBus>,
    /// The module manager (module states).
    pub modules: Arc<ModuleManager>,
}

fn status_str(s: &ModuleStatus) -> &'static str {
    match s {
        ModuleStatus::Starting => "starting",
        ModuleStatus::Running => "running",
        ModuleStatus::Restarting => "restarting",
        ModuleStatus::Failed => "failed",
        ModuleStatus::Stopped => "stopped",
    }
}

/// Renders every metric of `node` in the Prometheus text format (locks the chain briefly).
pub fn render(node: &MetricsSource) -> String {
    let (height, headers, cache) = {
        let c = crate::sync::lock(&node.chain);
        let headers = c.entries().filter(|e| !e.is_failed()).map(|e| e.height).max().unwrap_or(0);
        (c.height(), headers, c.cache_usage())
    };
    let api = &node.api;
    let mempool = api.mempool.info();
    let peers = api.peers.peers().len();
    let reg = &node.registry;
    let mut w = TextWriter::default();
    w.family("blvm_chain_height", "gauge", "Height of the active chain tip")
        .sample("blvm_chain_height", &[], f64::from(height));
    w.family("blvm_headers", "gauge", "Height of the best known valid header")
        .sample("blvm_headers", &[], f64::from(headers));
    w.family("blvm_peers", "gauge", "Connected peers")
        .sample("blvm_peers", &[], peers as f64);
    w.family("blvm_mempool_size", "gauge", "Transactions in the mempool")
        .sample("blvm_mempool_size", &[], mempool.size as f64);
    w.family("blvm_mempool_bytes", "gauge", "Virtual size of the mempool's transactions in bytes")
        .sample("blvm_mempool_bytes", &[], mempool.bytes as f64);
    w.family("blvm_utxo_cache_bytes", "gauge", "Memory used by the UTXO cache")
        .sample("blvm_utxo_cache_bytes", &[], cache as f64);
    w.family("blvm_uptime_seconds", "gauge", "Seconds since the node started").sample(
        "blvm_uptime_seconds",
        &[],
        node.started.elapsed().as_secs_f64(),
    );

    let flush = reg.flush();
    w.family(
        "blvm_flush_duration_seconds",
        "histogram",
        "Duration of chainstate flushes (periodic, manual, cache-full, shutdown)",
    )
    .histogram("blvm_flush_duration_seconds", &[], &flush);
    w.family(
        "blvm_last_flush_duration_seconds",
        "gauge",
        "Duration of the last chainstate flush (0 before the first)",
    )
    .sample("blvm_last_flush_duration_seconds", &[], reg.last_flush_secs().unwrap_or(0.0));

    let bus = &node.bus;
    let stats = bus.stats();
    let mut types: Vec<(&str, u64)> = stats.by_type.iter().map(|(k, v)| (*k, *v)).collect();
    types.sort();
    w.family(
        "blvm_events_published_total",
        "counter",
        "Events published on the module event bus, by type",
    );
    for (t, n) in types {
        w.sample("blvm_events_published_total", &[("type", t)], n as f64);
    }
    w.family("blvm_event_sequence", "gauge", "Sequence number of the newest event")
        .sample("blvm_event_sequence", &[], bus.current_sequence() as f64);
    let counters = bus.module_counters();
    type PerModule = fn(&ModuleCounters) -> u64;
    let per_module: [(&str, &str, &str, PerModule); 3] = [
        (
            "blvm_module_events_delivered_total",
            "counter",
            "Events handed to a module's connection (restarts when the module reconnects)",
            |c| c.delivered,
        ),
        (
            "blvm_module_events_dropped_total",
            "counter",
            "Events dropped because a module fell behind (reported to it as Lagged)",
            |c| c.dropped,
        ),
        ("blvm_module_queue_depth", "gauge", "Events queued for a module", |c| c.queued),
    ];
    for (name, kind, help, value) in per_module {
        w.family(name, kind, help);
        for c in &counters {
            w.sample(name, &[("module", &c.name)], value(c) as f64);
        }
    }

    let modules = &node.modules;
    w.family(
        "blvm_module_up",
        "gauge",
        "1 while a module's process runs; the status label is its lifecycle state",
    );
    for m in modules.list() {
        let up = if m.status == ModuleStatus::Running { 1.0 } else { 0.0 };
        w.sample("blvm_module_up", &[("module", &m.name), ("status", status_str(&m.status))], up);
    }
    w.family(
        "blvm_module_restarts_total",
        "counter",
        "Unexpected exits of a module since the node started (each is followed by a restart unless its budget is exhausted)",
    );
    for (name, n) in modules.restart_totals() {
        w.sample("blvm_module_restarts_total", &[("module", &name)], n as f64);
    }

    w.family(
        "blvm_rpc_request_duration_seconds",
        "histogram",
        "JSON-RPC request latency by method",
    );
    for (method, h) in reg.rpc() {
        w.histogram("blvm_rpc_request_duration_seconds", &[("method", &method)], &h);
    }
    w.finish()
}

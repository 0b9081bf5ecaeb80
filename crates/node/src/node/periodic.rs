//! Periodic and monitoring work: flush, health check, data cleanup, disk and resource monitors.
//! Each is one task owned by the node and stopped by its stop signal.

use super::monitors::{dir_size, disk_usage, process_cpu_ms, process_rss, total_memory, Hysteresis};
use super::runtime::Node;
use super::settings::jittered;
use super::shutdown::ShutdownReason;
use crate::chain::FlushReason;
use blvm_module::{EventPayload, EventType};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A health check's outcome.
#[derive(Debug, Clone)]
pub struct HealthReport {
    /// Overall verdict.
    pub healthy: bool,
    /// Details as JSON.
    pub report: serde_json::Value,
}

/// Sleeps `d`; false when the node stops first.
pub(super) async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => !*stop.borrow(),
        _ = stop.changed() => false,
    }
}

/// Spawns every periodic task; returns the handles and the component names started.
pub fn spawn_all(node: &Arc<Node>, stop: watch::Receiver<bool>) -> (Vec<JoinHandle<()>>, Vec<String>) {
    let lc = node.settings.lifecycle.clone();
    let mut handles = Vec::new();

    let (n, mut s) = (node.clone(), stop.clone());
    handles.push(tokio::spawn(async move {
        while sleep_or_stop(jittered(lc.flush_interval, lc.jitter), &mut s).await {
            if let Err(e) = n.flush_chainstate(FlushReason::Periodic).await {
                tracing::error!("periodic flush failed: {e}");
            }
        }
    }));
    let lc = node.settings.lifecycle.clone();
    let (n, mut s) = (node.clone(), stop.clone());
    handles.push(tokio::spawn(async move {
        while sleep_or_stop(jittered(lc.health_interval, lc.jitter), &mut s).await {
            n.health_check_with_answers("periodic", lc.ack_timeout).await;
        }
    }));
    let lc = node.settings.lifecycle.clone();
    let (n, mut s) = (node.clone(), stop.clone());
    handles.push(tokio::spawn(async move {
        while sleep_or_stop(jittered(lc.cleanup_interval, lc.jitter), &mut s).await {
            n.cleanup_data("periodic", Some(lc.cleanup_target_age_days)).await;
        }
    }));
    let (n, s) = (node.clone(), stop.clone());
    handles.push(tokio::spawn(async move { disk_monitor(n, s).await }));
    handles.extend(super::automatic::spawn(node, stop.clone()));
    let (n, s) = (node.clone(), stop);
    handles.push(tokio::spawn(async move { resource_monitor(n, s).await }));
    (
        handles,
        ["scheduler", "disk_monitor", "resource_monitor"].map(String::from).to_vec(),
    )
}

impl Node {
    /// Runs the node's checks and publishes HealthCheck{check_type}; returns the report.
    pub async fn health_check(&self, check_type: &str) -> HealthReport {
        let HealthReport { healthy, report } = self.build_health_report().await;
        self.bus.publish(EventPayload::HealthCheck {
            check_type: check_type.to_string(),
            node_healthy: healthy,
            health_report: Some(report.to_string()),
        });
        tracing::debug!(check_type, healthy, "health check published");
        HealthReport { healthy, report }
    }

    /// Publishes HealthCheck{check_type}, waits up to `wait` for a `ReportHealth` answer to
    /// this check from every module subscribed to HealthCheck, and returns the node report
    /// merged with the modules' answers (`modules.<name>.answered` tells who answered in time).
    pub async fn health_check_with_answers(&self, check_type: &str, wait: Duration) -> HealthReport {
        let mark = self.health.mark();
        let mut r = self.health_check(check_type).await;
        let asked = self.bus.subscribed_to(EventType::HealthCheck);
        let until = Instant::now() + wait;
        let mut answered = self.health.answered_since(mark);
        while Instant::now() < until && !asked.iter().all(|m| answered.contains(m)) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            answered = self.health.answered_since(mark);
        }
        let mut modules = self.modules_json();
        if let Some(map) = modules.as_object_mut() {
            for (name, v) in map.iter_mut() {
                v["answered"] = json!(answered.contains(name));
            }
        }
        let modules_ok = modules
            .as_object()
            .map(|m| m.values().all(|v| v["healthy"].as_bool().unwrap_or(true)))
            .unwrap_or(true);
        r.report["modules"] = modules;
        r.healthy = r.healthy && modules_ok;
        r.report["healthy"] = json!(r.healthy);
        let silent: Vec<&String> = asked.iter().filter(|m| !answered.contains(*m)).collect();
        if !r.healthy {
            tracing::warn!(check_type, report = %r.report, "health check: node unhealthy");
        } else {
            tracing::info!(check_type, answered = answered.len(), "health check: healthy");
        }
        if !silent.is_empty() {
            tracing::warn!(check_type, ?silent, "modules did not answer the health check in time");
        }
        r
    }

    /// Runs a manual health check, gives subscribed modules `wait` to answer it, and returns
    /// the node report merged with every module's latest health (the `gethealth` RPC).
    pub async fn manual_health(&self, wait: Duration) -> HealthReport {
        self.health_check_with_answers("manual", wait).await
    }

    fn modules_json(&self) -> serde_json::Value {
        let reports = self.health.snapshot();
        let mut out = serde_json::Map::new();
        for m in self.manager.list() {
            let h = reports.get(&m.name);
            out.insert(
                m.name.clone(),
                json!({
                    "status": m.status,
                    "restarts": m.restarts,
                    "connected": self.server.is_connected(&m.name),
                    "healthy": h.map(|h| h.healthy).unwrap_or(!matches!(m.status, crate::modules::manager::ModuleStatus::Failed)),
                    "report": h.and_then(|h| h.report.clone()),
                    "reported_at": h.map(|h| h.reported_at),
                }),
            );
        }
        for (name, h) in reports {
            out.entry(name)
                .or_insert_with(|| json!({"status": "external", "healthy": h.healthy, "report": h.report, "reported_at": h.reported_at}));
        }
        serde_json::Value::Object(out)
    }

    async fn build_health_report(&self) -> HealthReport {
        let chain = self.chain.clone();
        let lc = self.settings.lifecycle.clone();
        let net_dir = self.settings.net_dir.clone();
        let (db_ok, db_err, height, tip, tip_time, network) = tokio::task::spawn_blocking(move || {
            let mut c = crate::sync::lock(&chain);
            let probe = c.probe_writable();
            let tip = c.tip().clone();
            (
                probe.is_ok(),
                probe.err().map(|e| e.to_string()),
                tip.height,
                tip.hash.to_string(),
                tip.header.time,
                c.params().chain_name,
            )
        })
        .await
        .unwrap_or((false, Some("health task failed".into()), 0, String::new(), 0, "unknown"));
        let disk = disk_usage(&net_dir).ok();
        let disk_ok = disk
            .map(|d| {
                d.available_bytes >= lc.disk_low_bytes.min(lc.disk_critical_bytes * 2) && d.percent_free() >= lc.disk_low_percent / 2.0
            })
            .unwrap_or(false);
        let tip_age = crate::clock::unix_now().saturating_sub(i64::from(tip_time)).max(0) as u64;
        let regtest = network == "regtest";
        let tip_ok = regtest || tip_age < 24 * 3600;
        let modules = self.modules_json();
        let modules_ok = modules
            .as_object()
            .map(|m| m.values().all(|v| v["healthy"].as_bool().unwrap_or(true)))
            .unwrap_or(true);
        let peers = self.peers_json(regtest);
        let healthy = db_ok && disk_ok && tip_ok && modules_ok && peers["ok"] == json!(true);
        let report = json!({
            "healthy": healthy,
            "network": network,
            "database_writable": db_ok,
            "database_error": db_err,
            "disk": disk.map(|d| json!({"path": net_dir.display().to_string(), "available_bytes": d.available_bytes, "total_bytes": d.total_bytes, "percent_free": d.percent_free(), "ok": disk_ok})),
            "tip": {"height": height, "hash": tip, "age_seconds": tip_age, "ok": tip_ok},
            "peers": peers,
            "modules": modules,
        });
        HealthReport { healthy, report }
    }

    /// Connection counts and the newest block any connected peer delivered (UNIX seconds).
    ///
    /// Without peers a P2P node is cut off (not ok), except on regtest where being alone is normal.
    fn peers_json(&self, regtest: bool) -> serde_json::Value {
        let net = self.net();
        let p2p = self.settings.p2p.is_some();
        let (inbound, outbound) = net.connection_count();
        let last_block = net
            .peer_list()
            .iter()
            .map(|p| p.last_block_time.load(std::sync::atomic::Ordering::Relaxed))
            .max()
            .filter(|t| *t > 0);
        json!({
            "p2p_enabled": p2p,
            "connected": inbound + outbound,
            "inbound": inbound,
            "outbound": outbound,
            "last_block_received": last_block,
            "ok": !p2p || regtest || inbound + outbound > 0,
        })
    }

    /// Publishes DataCleanup (acks awaited) and removes the node's own stale temporary files.
    pub async fn cleanup_data(&self, cleanup_type: &str, target_age_days: Option<u64>) -> usize {
        let w = self.bus.publish_with_acks(EventPayload::DataCleanup {
            cleanup_type: cleanup_type.to_string(),
            target_age_days,
        });
        self.wait_acks(w, self.settings.lifecycle.ack_timeout).await;
        let removed = super::maintenance::remove_stale_temp_files(&self.settings.net_dir, target_age_days.unwrap_or(0));
        tracing::info!(cleanup_type, removed, "data cleanup finished");
        removed
    }
}

async fn disk_monitor(node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    let lc = node.settings.lifecycle.clone();
    let net_dir = node.settings.net_dir.clone();
    let blocks_dir = node.settings.blocks_dir();
    let mut alarms = std::collections::HashMap::new();
    loop {
        let mut paths = vec![net_dir.clone()];
        if same_fs(&net_dir, &blocks_dir) == Some(false) {
            paths.push(blocks_dir.clone());
        }
        for path in paths {
            let Ok(d) = disk_usage(&path) else { continue };
            if d.available_bytes < lc.disk_critical_bytes {
                tracing::error!(path = %path.display(), available = d.available_bytes, "disk space critically low; stopping before any write can fail");
                node.request_shutdown(ShutdownReason::Error(format!(
                    "disk space critically low on {}: {} bytes free",
                    path.display(),
                    d.available_bytes
                )));
                return;
            }
            let alarm = alarms.entry(path.clone()).or_insert_with(|| Hysteresis::new(1.0));
            // Low when below the percentage or below the absolute floor; re-armed 1 point above.
            let threshold_pct = lc
                .disk_low_percent
                .max(lc.disk_low_bytes as f64 * 100.0 / d.total_bytes.max(1) as f64);
            if alarm.below(d.percent_free(), threshold_pct) {
                tracing::warn!(path = %path.display(), available = d.available_bytes, percent_free = d.percent_free(), "disk space low");
                let w = node.bus.publish_with_acks(EventPayload::DiskSpaceLow {
                    available_bytes: d.available_bytes,
                    total_bytes: d.total_bytes,
                    percent_free: d.percent_free(),
                    disk_path: path.display().to_string(),
                });
                node.wait_acks(w, lc.ack_timeout).await;
                node.cleanup_data("low_disk", Some(lc.cleanup_target_age_days)).await;
            }
        }
        if !sleep_or_stop(lc.disk_check_interval, &mut stop).await {
            return;
        }
    }
}

fn same_fs(a: &std::path::Path, b: &std::path::Path) -> Option<bool> {
    use std::os::unix::fs::MetadataExt;
    Some(std::fs::metadata(a).ok()?.dev() == std::fs::metadata(b).ok()?.dev())
}

async fn resource_monitor(node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    let lc = node.settings.lifecycle.clone();
    let mem_limit = lc.memory_limit_bytes.or_else(total_memory).unwrap_or(u64::MAX);
    let cpus = std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1);
    let mut mem = Hysteresis::new(5.0);
    let mut cpu = Hysteresis::new(5.0);
    let mut disk = Hysteresis::new(5.0);
    let mut network = Hysteresis::new(5.0);
    let mut last_cpu = process_cpu_ms();
    let mut last_wall = Instant::now();
    loop {
        if !sleep_or_stop(lc.resource_check_interval, &mut stop).await {
            return;
        }
        let warn = |resource_type: &str, current: u64, limit: u64| {
            let usage_percent = current as f64 * 100.0 / limit.max(1) as f64;
            tracing::warn!(resource_type, current, limit, usage_percent, "resource limit approaching");
            node.bus.publish(EventPayload::ResourceLimitWarning {
                resource_type: resource_type.to_string(),
                usage_percent,
                current_usage: current,
                limit,
                threshold_percent: lc.resource_warn_percent,
            });
        };
        if let Some(rss) = process_rss() {
            if mem.above(rss as f64 * 100.0 / mem_limit as f64, lc.resource_warn_percent) {
                warn("memory", rss, mem_limit);
            }
        }
        let now_cpu = process_cpu_ms();
        let wall_ms = last_wall.elapsed().as_millis() as u64 * cpus;
        if let (Some(a), Some(b)) = (last_cpu, now_cpu) {
            let used = b.saturating_sub(a);
            if wall_ms > 0 && cpu.above(used as f64 * 100.0 / wall_ms as f64, lc.resource_warn_percent) {
                warn("cpu", used, wall_ms);
            }
        }
        last_cpu = now_cpu;
        last_wall = Instant::now();
        if let Some(max) = lc.datadir_max_bytes {
            let size = dir_size(&node.settings.net_dir);
            if disk.above(size as f64 * 100.0 / max.max(1) as f64, lc.resource_warn_percent) {
                warn("disk", size, max);
            }
        }
        // Network: open peer connections against -maxconnections (P2P off: nothing to watch).
        let net = node.net();
        if let Some(max) = net.settings().map(|s| s.max_connections as u64).filter(|m| *m > 0) {
            let (inbound, outbound) = net.connection_count();
            let peers = (inbound + outbound) as u64;
            if network.above(peers as f64 * 100.0 / max as f64, lc.resource_warn_percent) {
                warn("network", peers, max);
            }
        }
    }
}

//! Maintenance operations wrapped in MaintenanceStarted / MaintenanceCompleted: backup, cleanup, prune.

use super::completion::CompletionGuard;
use super::runtime::{ceil_ms, Node, NodeError};
use blvm_module::EventPayload;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Which maintenance to run: defined with the [`crate::rpc::context::NodeControl`] contract
/// (RPC asks for it there and may not import the node), re-exported for the node's own callers.
pub use crate::rpc::context::Maintenance;

/// The outcome of a maintenance operation.
#[derive(Debug, Clone)]
pub struct MaintenanceOutcome {
    /// Whether it succeeded.
    pub success: bool,
    /// Duration.
    pub duration: Duration,
    /// Real statistics (or the error) as JSON.
    pub results: serde_json::Value,
}

/// Removes `*.tmp` and `*.new` files older than `min_age_days` in `dir` (not recursing into blocks).
pub fn remove_stale_temp_files(dir: &Path, min_age_days: u64) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    let min_age = Duration::from_secs(min_age_days * 86_400);
    let mut removed = 0;
    for e in rd.flatten() {
        let p = e.path();
        let stale_name = p.extension().map(|x| x == "tmp" || x == "new").unwrap_or(false);
        let old_enough = e
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .map(|age| age >= min_age)
            .unwrap_or(false);
        if p.is_file() && stale_name && old_enough && std::fs::remove_file(&p).is_ok() {
            tracing::info!(path = %p.display(), "removed stale temporary file");
            removed += 1;
        }
    }
    removed
}

fn copy_dir(src: &Path, dst: &Path) -> std::io::Result<(u64, u64)> {
    std::fs::create_dir_all(dst)?;
    let (mut files, mut bytes) = (0, 0);
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let target = dst.join(e.file_name());
        if e.file_type()?.is_dir() {
            let (f, b) = copy_dir(&e.path(), &target)?;
            files += f;
            bytes += b;
        } else {
            bytes += std::fs::copy(e.path(), &target)?;
            files += 1;
        }
    }
    Ok((files, bytes))
}

impl Node {
    /// Runs one maintenance operation between MaintenanceStarted (acks awaited) and MaintenanceCompleted.
    pub async fn run_maintenance(&self, op: Maintenance) -> Result<MaintenanceOutcome, NodeError> {
        let kind = op.kind();
        let bytes = self.maintenance_bytes(&op);
        let estimate = self.auto.estimate(kind, bytes);
        let w = self.bus.publish_with_acks(EventPayload::MaintenanceStarted {
            maintenance_type: kind.to_string(),
            estimated_duration_seconds: estimate,
        });
        // From here on a MaintenanceCompleted is owed, whatever happens to this future.
        let mut completion = CompletionGuard::maintenance(&self.bus, kind);
        self.wait_acks(w, self.settings.lifecycle.ack_timeout).await;
        completion.restart_clock();
        let chain = self.chain.clone();
        let net_dir = self.settings.net_dir.clone();
        let subdir = self.settings.params.data_subdir;
        let op2 = op.clone();
        let result: Result<serde_json::Value, String> = tokio::task::spawn_blocking(move || {
            let mut c = crate::sync::lock(&chain);
            match op2 {
                Maintenance::Backup { destination } => {
                    let target = if subdir.is_empty() { destination.clone() } else { destination.join(subdir) };
                    if target.join("chainstate").exists() {
                        return Err(format!("{} already holds a chainstate", target.display()));
                    }
                    c.flush(crate::chain::FlushReason::Manual).map_err(|e| e.to_string())?;
                    // The chain lock is held: nothing writes while we copy, so the copy is consistent.
                    let (f1, b1) = copy_dir(&net_dir.join("chainstate"), &target.join("chainstate")).map_err(|e| e.to_string())?;
                    let (f2, b2) = copy_dir(&c.blocks_dir(), &target.join("blocks")).map_err(|e| e.to_string())?;
                    Ok(json!({"destination": target.display().to_string(), "files": f1 + f2, "bytes": b1 + b2, "height": c.height(), "tip": c.tip().hash.to_string()}))
                }
                Maintenance::Cleanup | Maintenance::Compact => {
                    let db = c.db_path();
                    let before = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
                    c.flush(crate::chain::FlushReason::Manual).map_err(|e| e.to_string())?;
                    let compacted = c.compact().map_err(|e| e.to_string())?;
                    let after = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
                    let mut r = json!({"compacted": compacted, "db_bytes_before": before, "db_bytes_after": after});
                    if op2 == Maintenance::Cleanup {
                        r["temp_files_removed"] = json!(remove_stale_temp_files(&net_dir, 0));
                    }
                    Ok(r)
                }
                Maintenance::Prune { height, target_bytes } => {
                    let r = c.prune(height, target_bytes).map_err(|e| e.to_string())?;
                    Ok(json!({"files_deleted": r.files_deleted, "bytes_freed": r.bytes_freed, "blocks_pruned": r.blocks_pruned, "prune_height": r.prune_height, "kept_from_height": r.kept_from_height, "deleted_files": r.deleted_files, "automatic": height.is_none() && target_bytes.is_some()}))
                }
            }
        })
        .await
        .unwrap_or_else(|e| Err(format!("maintenance task failed: {e}")));
        let duration = completion.elapsed();
        if result.is_ok() {
            self.auto.record(kind, duration, bytes);
        }
        let (success, results) = match result {
            Ok(v) => (true, v),
            Err(e) => (false, json!({"error": e})),
        };
        tracing::info!(maintenance = kind, success, ms = ceil_ms(duration), results = %results, "maintenance finished");
        completion.complete(success, results.clone());
        Ok(MaintenanceOutcome {
            success,
            duration,
            results,
        })
    }
}

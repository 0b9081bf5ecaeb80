//! Maintenance the node starts by itself, each run through [`Node::run_maintenance`] so it is
//! wrapped in MaintenanceStarted / MaintenanceCompleted: automatic pruning as blocks connect
//! (`-prune=N`, Core's FindFilesToPrune checked at flush time), scheduled backups
//! (`-backupinterval`, `-backupdir`, `-backupkeep`) and database compaction once the database
//! grew by `-compactgrowth` percent. Also keeps the measurements behind MaintenanceStarted's
//! `estimated_duration_seconds`.

use super::maintenance::Maintenance;
use super::runtime::Node;
use crate::sync::lock;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Prefix of the subdirectories scheduled backups create (only those are rotated).
const BACKUP_PREFIX: &str = "backup-";

/// What automatic maintenance remembers between runs.
#[derive(Debug, Default)]
pub struct AutoState {
    /// Block write position at the last prune check (Core's m_check_for_pruning).
    prune_checked: Mutex<Option<(u32, u64)>>,
    /// An automatic prune is running (one at a time).
    pruning: AtomicBool,
    /// Database size after the last compaction (or when first seen).
    compact_base: Mutex<Option<u64>>,
    /// A compaction is running.
    compacting: AtomicBool,
    /// Last run of each maintenance kind: its duration and the bytes it touched.
    last_runs: Mutex<HashMap<&'static str, (Duration, u64)>>,
}

/// Seconds for `bytes`, scaled from a run that took `last` for `last_bytes` (None without a basis).
pub fn scaled_estimate(last: Option<(Duration, u64)>, bytes: u64) -> Option<u64> {
    let (d, b) = last?;
    if b == 0 {
        return None;
    }
    Some((d.as_secs_f64() * bytes as f64 / b as f64).ceil() as u64)
}

impl AutoState {
    /// The estimate for `kind` touching `bytes`, from its last measured run.
    pub fn estimate(&self, kind: &'static str, bytes: u64) -> Option<u64> {
        scaled_estimate(lock(&self.last_runs).get(kind).copied(), bytes)
    }

    /// Records a finished run of `kind`.
    pub fn record(&self, kind: &'static str, duration: Duration, bytes: u64) {
        lock(&self.last_runs).insert(kind, (duration, bytes));
    }
}

/// Growth below which no compaction is due whatever the percentage: the store's copy-on-write
/// pages make a small file grow by a few pages per commit (16 LMDB pages), nothing to reclaim.
const COMPACT_MIN_GROWTH_BYTES: u64 = 64 << 10;

impl Node {
    /// Bytes `op` will read or rewrite: the basis its duration estimate is scaled by.
    pub(crate) fn maintenance_bytes(&self, op: &Maintenance) -> u64 {
        let (db, blocks) = {
            let c = crate::sync::lock(self.chain_ref());
            (c.db_path(), c.blocks_dir())
        };
        let db_bytes = super::monitors::dir_size(db.parent().unwrap_or(&db));
        match op {
            Maintenance::Backup { .. } => db_bytes + super::monitors::dir_size(&blocks),
            Maintenance::Cleanup | Maintenance::Compact => db_bytes,
            Maintenance::Prune { .. } => super::monitors::dir_size(&blocks),
        }
    }

    /// After blocks connected (or a flush during connection): runs an automatic prune when
    /// block storage reached the `-prune` target, and a compaction when the database grew.
    pub(crate) async fn after_blocks(&self, flushed: bool) {
        self.maybe_auto_prune().await;
        if flushed {
            self.maybe_compact().await;
        }
    }

    /// Core's FindFilesToPrune at flush time: checked when block storage grew by a file or an
    /// allocation chunk; prunes the oldest files (never the last 288 blocks) until storage
    /// plus the allocation buffer is under the target.
    pub(crate) async fn maybe_auto_prune(&self) {
        let goal = {
            let c = crate::sync::lock(self.chain_ref());
            if c.prune_mode().target_bytes().is_none() {
                return;
            }
            let mut checked = lock(&self.auto.prune_checked);
            if !c.prune_check_due(*checked) {
                return;
            }
            *checked = Some(c.block_write_position());
            let ibd = self.is_initial_block_download(&c);
            c.auto_prune_goal(ibd)
        };
        let Some(goal) = goal else { return };
        if self.auto.pruning.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::debug!(target: "blvm::prune", goal, "block storage reached the prune target");
        let op = Maintenance::Prune {
            height: None,
            target_bytes: Some(goal),
        };
        if let Err(e) = self.run_maintenance(op).await {
            tracing::error!(target: "blvm::prune", "automatic prune failed: {e}");
        }
        self.auto.pruning.store(false, Ordering::SeqCst);
    }

    /// Compacts the database once it grew by `-compactgrowth` percent (and at least
    /// [`COMPACT_MIN_GROWTH_BYTES`]) since the last compaction.
    pub(crate) async fn maybe_compact(&self) {
        let Some(pct) = self.settings.lifecycle.compact_growth_percent else {
            return;
        };
        let size = self.db_size();
        let due = {
            let mut base = lock(&self.auto.compact_base);
            let b = *base.get_or_insert(size);
            let grown = size.saturating_sub(b);
            b > 0 && grown >= COMPACT_MIN_GROWTH_BYTES && grown as u128 * 100 >= b as u128 * u128::from(pct)
        };
        if !due || self.auto.compacting.swap(true, Ordering::SeqCst) {
            return;
        }
        match self.run_maintenance(Maintenance::Compact).await {
            Ok(out) if out.success => *lock(&self.auto.compact_base) = Some(self.db_size()),
            Ok(out) => tracing::error!("scheduled compaction failed: {}", out.results),
            Err(e) => tracing::error!("scheduled compaction failed: {e}"),
        }
        self.auto.compacting.store(false, Ordering::SeqCst);
    }

    /// Bytes the database file occupies on disk: its allocated blocks, not its length, since
    /// the database reserves file space ahead of use (the length stays flat as data grows).
    fn db_size(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let db = crate::sync::lock(self.chain_ref()).db_path();
        std::fs::metadata(&db).map(|m| m.blocks() * 512).unwrap_or(0)
    }

    /// Runs one scheduled backup into a new subdirectory of `-backupdir`, then deletes the
    /// oldest scheduled backups beyond `-backupkeep`.
    pub async fn scheduled_backup(&self) -> Option<PathBuf> {
        let lc = &self.settings.lifecycle;
        let dir = lc.backup_dir.clone().unwrap_or_else(|| self.settings.net_dir.join("backups"));
        // The real clock (not -mocktime), so names sort by creation time.
        let stamp = crate::clock::system_since_epoch().as_millis();
        let destination = dir.join(format!("{BACKUP_PREFIX}{stamp:015}"));
        let out = match self
            .run_maintenance(Maintenance::Backup {
                destination: destination.clone(),
            })
            .await
        {
            Ok(o) => o,
            Err(e) => {
                tracing::error!("scheduled backup failed: {e}");
                return None;
            }
        };
        if !out.success {
            tracing::error!(dir = %destination.display(), "scheduled backup failed: {}", out.results);
            let _ = std::fs::remove_dir_all(&destination);
            return None;
        }
        for old in backups_to_delete(&dir, lc.backup_keep) {
            match std::fs::remove_dir_all(&old) {
                Ok(()) => tracing::info!(dir = %old.display(), "removed old scheduled backup"),
                Err(e) => tracing::warn!(dir = %old.display(), "could not remove old backup: {e}"),
            }
        }
        Some(destination)
    }
}

/// Scheduled backups in `dir` beyond the newest `keep` (names sort by creation time).
pub fn backups_to_delete(dir: &Path, keep: usize) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(BACKUP_PREFIX) && e.path().is_dir())
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    let excess = found.len().saturating_sub(keep);
    found.truncate(excess);
    found
}

/// Spawns the scheduled-backup task (when `-backupinterval` is set) and runs Core's startup
/// prune check; returns the task handles.
pub fn spawn(node: &Arc<Node>, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let mut handles = Vec::new();
    let n = node.clone();
    handles.push(tokio::spawn(async move {
        // As Core's init: a pruned node checks its storage against the target at startup.
        n.maybe_auto_prune().await;
        let size = n.db_size();
        lock(&n.auto.compact_base).get_or_insert(size);
    }));
    if let Some(every) = node.settings.lifecycle.backup_interval {
        let (n, mut s) = (node.clone(), stop);
        handles.push(tokio::spawn(async move {
            while super::periodic::sleep_or_stop(every, &mut s).await {
                n.scheduled_backup().await;
            }
        }));
    }
    handles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_scale_the_last_run_by_bytes() {
        assert_eq!(scaled_estimate(None, 100), None);
        assert_eq!(scaled_estimate(Some((Duration::from_secs(4), 0)), 100), None);
        assert_eq!(scaled_estimate(Some((Duration::from_secs(4), 100)), 250), Some(10));
        assert_eq!(scaled_estimate(Some((Duration::from_millis(10), 100)), 100), Some(1));
    }

    #[test]
    fn rotation_keeps_the_newest_scheduled_backups_only() {
        let d = tempfile::tempdir().unwrap();
        for n in [3, 1, 2, 4] {
            std::fs::create_dir(d.path().join(format!("{BACKUP_PREFIX}{n:015}"))).unwrap();
        }
        std::fs::create_dir(d.path().join("manual")).unwrap();
        let gone = backups_to_delete(d.path(), 2);
        let names: Vec<String> = gone.iter().map(|p| p.file_name().unwrap().to_string_lossy().into()).collect();
        assert_eq!(
            names,
            vec![format!("{BACKUP_PREFIX}{:015}", 1), format!("{BACKUP_PREFIX}{:015}", 2)]
        );
    }
}

//! Lifecycle and maintenance settings, with their defaults (documented in docs/lifecycle.md).

use std::time::Duration;

/// Timers, deadlines and thresholds of the node lifecycle.
#[derive(Debug, Clone)]
pub struct LifecycleSettings {
    /// Deadline modules get to acknowledge NodeShutdown (`timeout_seconds` in the event).
    pub shutdown_timeout: Duration,
    /// Deadline for acknowledgements of StorageFlush, MaintenanceStarted, DataCleanup, DiskSpaceLow.
    pub ack_timeout: Duration,
    /// Time autoloaded modules get to connect and subscribe before NodeStartupCompleted.
    pub module_connect_timeout: Duration,
    /// Periodic chainstate flush.
    pub flush_interval: Duration,
    /// Periodic health check.
    pub health_interval: Duration,
    /// Periodic data-cleanup opportunity.
    pub cleanup_interval: Duration,
    /// `target_age_days` sent with DataCleanup.
    pub cleanup_target_age_days: u64,
    /// How often free disk space is read (statvfs).
    pub disk_check_interval: Duration,
    /// DiskSpaceLow when free space falls below this percentage...
    pub disk_low_percent: f64,
    /// ...or below this many bytes.
    pub disk_low_bytes: u64,
    /// Below this many free bytes the node flushes and stops with reason "error".
    pub disk_critical_bytes: u64,
    /// How often process resources are read.
    pub resource_check_interval: Duration,
    /// Memory limit for ResourceLimitWarning (None: total physical memory).
    pub memory_limit_bytes: Option<u64>,
    /// Warn when a resource exceeds this percentage of its limit.
    pub resource_warn_percent: f64,
    /// Maximum datadir size for the disk resource warning (None: no limit).
    pub datadir_max_bytes: Option<u64>,
    /// Fraction of random jitter applied to periodic intervals (0.1 = ±10%).
    pub jitter: f64,
    /// Scheduled backups (`-backupinterval`; None: off).
    pub backup_interval: Option<Duration>,
    /// Where scheduled backups go (`-backupdir`; None: `<network dir>/../backups`).
    pub backup_dir: Option<std::path::PathBuf>,
    /// Scheduled backups kept (`-backupkeep`).
    pub backup_keep: usize,
    /// Compact the database when it grew by this many percent since the last compaction
    /// (`-compactgrowth`; None: off).
    pub compact_growth_percent: Option<u64>,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        LifecycleSettings {
            shutdown_timeout: Duration::from_secs(30),
            ack_timeout: Duration::from_secs(10),
            module_connect_timeout: Duration::from_secs(10),
            flush_interval: Duration::from_secs(3600),
            health_interval: Duration::from_secs(300),
            cleanup_interval: Duration::from_secs(86_400),
            cleanup_target_age_days: 30,
            disk_check_interval: Duration::from_secs(30),
            disk_low_percent: 5.0,
            disk_low_bytes: 1 << 30,
            disk_critical_bytes: 100 << 20,
            resource_check_interval: Duration::from_secs(30),
            memory_limit_bytes: None,
            resource_warn_percent: 90.0,
            datadir_max_bytes: None,
            jitter: 0.1,
            backup_interval: None,
            backup_dir: None,
            backup_keep: 3,
            compact_growth_percent: None,
        }
    }
}

/// `base` with ±`jitter` random variation, so periodic work of many nodes does not align.
pub fn jittered(base: Duration, jitter: f64) -> Duration {
    if jitter <= 0.0 {
        return base;
    }
    let f = 1.0 + (rand::random::<f64>() * 2.0 - 1.0) * jitter.min(0.9);
    base.mul_f64(f)
}

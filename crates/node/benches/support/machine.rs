//! Bench support shared by the benches that time child processes on a shared machine: how busy
//! the machine is (so a run can wait for idle cores), a child's own CPU time and peak RSS (from
//! `wait4`), and the size of a directory on disk.
#![allow(dead_code)]

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// Aggregate (busy, total) jiffies of all CPUs from /proc/stat.
pub fn cpu_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0);
    };
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// Seconds of CPU the whole machine spent busy since `busy_jiffies_before` (a `cpu_jiffies().0`).
pub fn busy_seconds_since(busy_jiffies_before: u64) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    cpu_jiffies().0.saturating_sub(busy_jiffies_before) as f64 / tick
}

/// Fraction of the machine's CPU that other processes used over the last second.
pub fn busy_fraction() -> f64 {
    let (b0, t0) = cpu_jiffies();
    std::thread::sleep(Duration::from_secs(1));
    let (b1, t1) = cpu_jiffies();
    if t1 <= t0 {
        return 0.0;
    }
    (b1 - b0) as f64 / (t1 - t0) as f64
}

/// Waits (up to `$BLVM_BENCH_IDLE_WAIT` s, default 600) until the machine is nearly idle, since
/// other jobs on a 2-core machine distort wall times; returns the busy fraction seen last.
pub fn wait_for_idle() -> f64 {
    let limit = Duration::from_secs(
        std::env::var("BLVM_BENCH_IDLE_WAIT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(600),
    );
    let start = Instant::now();
    let mut warned = false;
    loop {
        let busy = busy_fraction();
        if busy < 0.10 || start.elapsed() >= limit {
            if busy >= 0.10 {
                println!(
                    "warning: machine still {:.0}% busy after {:?}; measuring anyway (results contended)",
                    busy * 100.0,
                    limit
                );
            }
            return busy;
        }
        if !warned {
            println!("waiting for an idle machine ({:.0}% busy with other processes)...", busy * 100.0);
            warned = true;
        }
    }
}

/// What one child process used, from the kernel's accounting of that child alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChildUsage {
    /// Whether it exited with status 0.
    pub success: bool,
    /// The raw wait status.
    pub status: i32,
    /// User CPU seconds.
    pub user_s: f64,
    /// System CPU seconds.
    pub sys_s: f64,
    /// Peak resident set size in KiB.
    pub peak_rss_kib: u64,
}

/// Waits for `child` with `wait4`, so the CPU time and peak RSS are that child's own (not the
/// sum over every child reaped so far, as `RUSAGE_CHILDREN` gives).
pub fn wait_child(child: &mut Child) -> ChildUsage {
    let mut status: libc::c_int = 0;
    // SAFETY: wait4 writes into the zeroed struct and the status we own; the pid is our child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut ru) };
    assert!(pid > 0, "wait4: {}", std::io::Error::last_os_error());
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    ChildUsage {
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        status,
        user_s: t(ru.ru_utime),
        sys_s: t(ru.ru_stime),
        peak_rss_kib: ru.ru_maxrss as u64,
    }
}

/// Bytes of all regular files under `dir` (0 when it does not exist).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

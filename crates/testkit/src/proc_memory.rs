//! Peak memory of a child process split by kind (issue 14: "memory honours -dbcache"), sampled
//! from `/proc/<pid>/status` on a thread: `RssAnon` (heap and stacks: what the process itself
//! holds), `RssFile` (file-backed pages such as LMDB's read-only map, which the kernel may drop
//! at any time) and `VmHWM` (the kernel's own peak of their sum, shared memory included).
//! `wait4`'s peak RSS is `VmHWM`; only `RssAnon` says whether a cache honours its budget.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the sampler reads `/proc/<pid>/status` (a read costs tens of microseconds; the
/// CI-sized imports it watches last about a second and a half).
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(20);

/// The peaks seen over a child's life, in KiB (`0` when never read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryPeaks {
    /// Highest `RssAnon` sampled: anonymous resident memory.
    pub rss_anon_kib: u64,
    /// Highest `RssFile` sampled: file-backed resident memory.
    pub rss_file_kib: u64,
    /// The kernel's `VmHWM` at the last successful read: peak of the whole resident set.
    pub vm_hwm_kib: u64,
    /// Number of successful reads (a peak from a handful of samples is not one).
    pub samples: u64,
}

/// The `RssAnon`, `RssFile` and `VmHWM` fields of a `/proc/<pid>/status` text, in KiB; `None`
/// when `RssAnon` is missing (the process has exited and is a zombie, or is not Linux's).
pub fn parse_status(text: &str) -> Option<(u64, u64, u64)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("RssAnon")?, field("RssFile").unwrap_or(0), field("VmHWM").unwrap_or(0)))
}

/// A thread sampling one process until [`MemorySampler::finish`] (call it after reaping the
/// child, or while it still runs: the peaks so far are returned either way).
pub struct MemorySampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<MemoryPeaks>,
}

impl MemorySampler {
    /// Starts sampling `pid` every [`SAMPLE_INTERVAL`].
    pub fn start(pid: u32) -> MemorySampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let path = format!("/proc/{pid}/status");
        let handle = std::thread::spawn(move || {
            let mut peaks = MemoryPeaks::default();
            while !flag.load(Ordering::Relaxed) {
                if let Some((anon, file, hwm)) = std::fs::read_to_string(&path).ok().as_deref().and_then(parse_status) {
                    peaks.rss_anon_kib = peaks.rss_anon_kib.max(anon);
                    peaks.rss_file_kib = peaks.rss_file_kib.max(file);
                    peaks.vm_hwm_kib = peaks.vm_hwm_kib.max(hwm);
                    peaks.samples += 1;
                }
                std::thread::sleep(SAMPLE_INTERVAL);
            }
            peaks
        });
        MemorySampler { stop, handle }
    }

    /// Stops the thread and returns the peaks it saw.
    pub fn finish(self) -> MemoryPeaks {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_of_a_status_file() {
        let text = "Name:\tblvm-node\nVmHWM:\t  4000 kB\nVmRSS:\t  3000 kB\nRssAnon:\t  1000 kB\nRssFile:\t  1900 kB\nRssShmem:\t 100 kB\n";
        assert_eq!(parse_status(text), Some((1000, 1900, 4000)));
        assert_eq!(parse_status("Name:\tzombie\nState:\tZ (zombie)\n"), None);
    }

    #[test]
    fn samples_a_live_process_and_sees_its_heap() {
        // This test process: allocate and touch 64 MiB while sampled, then check it was seen.
        let sampler = MemorySampler::start(std::process::id());
        let block = vec![1u8; 64 << 20];
        std::thread::sleep(SAMPLE_INTERVAL * 4);
        let peaks = sampler.finish();
        assert!(block.iter().step_by(4096).all(|&b| b == 1));
        assert!(peaks.samples >= 1, "{peaks:?}");
        assert!(peaks.rss_anon_kib >= 64 << 10, "{peaks:?}");
        assert!(peaks.vm_hwm_kib >= peaks.rss_anon_kib, "{peaks:?}");
    }
}

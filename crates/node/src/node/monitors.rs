//! Real readings for the disk and resource monitors (statvfs, /proc), with hysteresis.

use std::path::Path;

/// Free and total space of the filesystem holding a path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiskReading {
    /// Bytes available to unprivileged users (f_bavail).
    pub available_bytes: u64,
    /// Filesystem size in bytes.
    pub total_bytes: u64,
}

impl DiskReading {
    /// Percentage of the filesystem that is free.
    pub fn percent_free(&self) -> f64 {
        if self.total_bytes == 0 {
            0.0
        } else {
            self.available_bytes as f64 * 100.0 / self.total_bytes as f64
        }
    }
}

/// Reads statvfs for `path`.
pub fn disk_usage(path: &Path) -> std::io::Result<DiskReading> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs fills a zeroed struct for a valid NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    Ok(DiskReading {
        available_bytes: st.f_bavail as u64 * frsize,
        total_bytes: st.f_blocks as u64 * frsize,
    })
}

/// Resident set size of this process in bytes.
pub fn process_rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * page.max(1) as u64)
}

/// Total physical memory in bytes.
pub fn total_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time (user + system) this process has used, in milliseconds.
pub fn process_cpu_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some((utime + stime) * 1000 / ticks)
}

/// Total size of the files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// A threshold alarm that fires once when crossed and re-arms only after clearing by a margin.
#[derive(Debug, Clone)]
pub struct Hysteresis {
    armed: bool,
    margin: f64,
}

impl Hysteresis {
    /// An armed alarm with a re-arm margin (same unit as the values compared).
    pub fn new(margin: f64) -> Self {
        Hysteresis { armed: true, margin }
    }

    /// For "too high" alarms: returns true exactly when `value` crosses above `threshold` while armed.
    pub fn above(&mut self, value: f64, threshold: f64) -> bool {
        if self.armed && value > threshold {
            self.armed = false;
            return true;
        }
        if !self.armed && value < threshold - self.margin {
            self.armed = true;
        }
        false
    }

    /// For "too low" alarms: returns true exactly when `value` falls below `threshold` while armed.
    pub fn below(&mut self, value: f64, threshold: f64) -> bool {
        self.above(-value, -threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_real() {
        let d = disk_usage(Path::new("/")).unwrap();
        assert!(d.total_bytes > 0 && d.available_bytes <= d.total_bytes);
        assert!(process_rss().unwrap() > 0);
        assert!(total_memory().unwrap() > process_rss().unwrap());
        assert!(process_cpu_ms().is_some());
    }

    #[test]
    fn hysteresis_fires_once_and_rearms() {
        let mut h = Hysteresis::new(5.0);
        assert!(h.above(95.0, 90.0));
        assert!(!h.above(96.0, 90.0));
        assert!(!h.above(88.0, 90.0));
        assert!(!h.above(91.0, 90.0), "not re-armed until below 85");
        assert!(!h.above(80.0, 90.0));
        assert!(h.above(91.0, 90.0));
        let mut low = Hysteresis::new(1.0);
        assert!(low.below(4.0, 5.0));
        assert!(!low.below(3.0, 5.0));
        assert!(!low.below(7.0, 5.0));
        assert!(low.below(4.0, 5.0));
    }
}

//! Progress reporting for `import`, `-loadblock` and block download: a log line at a steady
//! cadence (`<what> progress: height=H/T (P%) blocks/s=.. tx/s=.. eta=..s cache=..MiB`) and, when
//! the binary enabled it because stderr is a terminal, a live one-line bar redrawn with `\r`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static BAR_ENABLED: AtomicBool = AtomicBool::new(false);
static BAR_SHOWN: AtomicBool = AtomicBool::new(false);

/// How often the live bar is redrawn (log lines follow their own interval).
const BAR_INTERVAL: Duration = Duration::from_millis(200);

/// Turns the live bar on or off (the binary enables it when stderr is a terminal).
pub fn enable_bar(on: bool) {
    BAR_ENABLED.store(on, Ordering::SeqCst);
}

/// Whether the live bar is enabled.
pub fn bar_enabled() -> bool {
    BAR_ENABLED.load(Ordering::SeqCst)
}

/// Whether a bar is drawn on stderr right now (a console log line must clear it first).
pub fn bar_shown() -> bool {
    BAR_SHOWN.load(Ordering::SeqCst)
}

/// Erases a drawn bar so the next console output starts on a clean line.
pub fn clear_bar(out: &mut dyn Write) {
    if BAR_SHOWN.swap(false, Ordering::SeqCst) {
        let _ = out.write_all(b"\r\x1b[2K");
    }
}

/// Where the work stands.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Current chain height.
    pub height: u64,
    /// Height expected at the end (current height plus blocks left).
    pub target: u64,
    /// Blocks connected since the start.
    pub blocks: u64,
    /// Transactions in those blocks.
    pub transactions: u64,
    /// UTXO cache usage in bytes.
    pub cache_bytes: usize,
    /// Fraction of the work done when better known than height/target (bytes of a file).
    pub fraction: Option<f64>,
}

/// Rates and estimate derived from a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates {
    /// Percentage done (height / target).
    pub percent: f64,
    /// Blocks per second since the start.
    pub blocks_per_sec: f64,
    /// Transactions per second since the start.
    pub tx_per_sec: f64,
    /// Seconds left at the current pace.
    pub eta_secs: f64,
}

/// Computes the rates of `s` after `elapsed`.
pub fn rates(s: &Snapshot, elapsed: Duration) -> Rates {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let percent = if s.target == 0 {
        100.0
    } else {
        (s.height as f64 / s.target as f64 * 100.0).min(100.0)
    };
    let blocks_per_sec = s.blocks as f64 / secs;
    let eta_secs = match s.fraction {
        Some(f) if f > 0.0 => (secs / f - secs).max(0.0),
        _ if blocks_per_sec > 0.0 => s.target.saturating_sub(s.height) as f64 / blocks_per_sec,
        _ => 0.0,
    };
    Rates {
        percent,
        blocks_per_sec,
        tx_per_sec: s.transactions as f64 / secs,
        eta_secs,
    }
}

/// The progress log line.
pub fn format_line(what: &str, s: &Snapshot, elapsed: Duration) -> String {
    let r = rates(s, elapsed);
    format!(
        "{what} progress: height={}/{} ({:.1}%) blocks/s={:.1} tx/s={:.0} eta={:.0}s cache={:.1}MiB",
        s.height,
        s.target,
        r.percent,
        r.blocks_per_sec,
        r.tx_per_sec,
        r.eta_secs,
        s.cache_bytes as f64 / 1_048_576.0
    )
}

/// The one-line live bar (without the leading `\r`).
pub fn format_bar(what: &str, s: &Snapshot, elapsed: Duration) -> String {
    const WIDTH: usize = 30;
    let r = rates(s, elapsed);
    let filled = ((r.percent / 100.0) * WIDTH as f64).round() as usize;
    let filled = filled.min(WIDTH);
    format!(
        "{what} [{}{}] {:5.1}% {}/{} {:.1} blk/s eta {:.0}s",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled),
        r.percent,
        s.height,
        s.target,
        r.blocks_per_sec,
        r.eta_secs
    )
}

/// Emits progress for one long operation at a steady cadence.
pub struct ProgressMeter {
    what: &'static str,
    start: Instant,
    last_line: Instant,
    last_bar: Instant,
    interval: Duration,
    last_height: Option<u64>,
    /// Height of the first snapshot: periodic lines start once the work has moved past it.
    start_height: Option<u64>,
}

impl ProgressMeter {
    /// A meter for `what` ("import", "loadblock", "sync") logging every `interval`.
    pub fn new(what: &'static str, interval: Duration) -> Self {
        let now = Instant::now();
        ProgressMeter {
            what,
            start: now,
            last_line: now,
            last_bar: now,
            interval,
            last_height: None,
            start_height: None,
        }
    }

    /// Whether [`ProgressMeter::tick`] would report now (cheap; lets callers skip the snapshot).
    pub fn due(&self) -> bool {
        self.last_line.elapsed() >= self.interval || (bar_enabled() && self.last_bar.elapsed() >= BAR_INTERVAL)
    }

    /// Reports `snapshot()` if a line or a bar redraw is due.
    pub fn tick(&mut self, snapshot: impl FnOnce() -> Snapshot) {
        if !self.due() {
            return;
        }
        let s = snapshot();
        if bar_enabled() && self.last_bar.elapsed() >= BAR_INTERVAL {
            self.draw_bar(&s);
        }
        if self.last_line.elapsed() >= self.interval {
            // Nothing done yet (e.g. still reading blocks already stored): no line to show.
            if *self.start_height.get_or_insert(s.height) == s.height {
                self.last_line = Instant::now();
                return;
            }
            self.line(&s);
        }
    }

    /// Reports the final state (a last line unless that height was already reported) and ends the bar.
    pub fn finish(&mut self, s: &Snapshot) {
        if bar_enabled() {
            self.draw_bar(s);
            if BAR_SHOWN.swap(false, Ordering::SeqCst) {
                let _ = std::io::stderr().write_all(b"\n");
            }
        }
        self.line(s);
    }

    fn line(&mut self, s: &Snapshot) {
        self.last_line = Instant::now();
        if self.last_height == Some(s.height) {
            return;
        }
        self.last_height = Some(s.height);
        tracing::info!(target: "blvm::progress", "{}", format_line(self.what, s, self.start.elapsed()));
    }

    fn draw_bar(&mut self, s: &Snapshot) {
        self.last_bar = Instant::now();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}", format_bar(self.what, s, self.start.elapsed()));
        let _ = err.flush();
        BAR_SHOWN.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_every_field() {
        let s = Snapshot {
            height: 150,
            target: 300,
            blocks: 150,
            transactions: 600,
            cache_bytes: 3 << 20,
            fraction: None,
        };
        let l = format_line("import", &s, Duration::from_secs(10));
        assert_eq!(
            l,
            "import progress: height=150/300 (50.0%) blocks/s=15.0 tx/s=60 eta=10s cache=3.0MiB"
        );
        let b = format_bar("import", &s, Duration::from_secs(10));
        assert!(b.starts_with("import [###############---------------]  50.0% 150/300"), "{b}");
    }

    #[test]
    fn eta_prefers_the_byte_fraction() {
        let s = Snapshot {
            height: 10,
            target: 300,
            blocks: 10,
            transactions: 10,
            cache_bytes: 0,
            fraction: Some(0.25),
        };
        let r = rates(&s, Duration::from_secs(30));
        assert!((r.eta_secs - 90.0).abs() < 1e-6, "{r:?}");
    }
}

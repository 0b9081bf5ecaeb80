//! Logging: `debug.log` with size-based rotation, the console, per-category levels (`-debug=net`)
//! and UTC RFC 3339 timestamps (tracing-subscriber's default timer).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{reload, EnvFilter, Registry};

mod categories;
pub use categories::{names as category_names, Categories, UnknownCategory};

/// The live category state and `-loglevel` values, which the `logging` RPC changes.
static LIVE: Mutex<(Option<Categories>, Vec<String>)> = Mutex::new((None, Vec::new()));
/// Swaps the installed subscriber's filter when the categories change.
static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

fn env_filter(c: &Categories, levels: &[String]) -> EnvFilter {
    EnvFilter::try_new(c.directives(levels)).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The `logging` RPC: turns `include` on, then `exclude` off, re-filters the running
/// subscriber, and returns the resulting state.
pub fn update_categories(include: &[String], exclude: &[String]) -> Result<Categories, UnknownCategory> {
    let mut live = crate::sync::lock(&LIVE);
    let mut c = live.0.clone().unwrap_or_default();
    for name in include {
        c.enable(name)?;
    }
    for name in exclude {
        c.disable(name)?;
    }
    if let Some(h) = FILTER.get() {
        let _ = h.reload(env_filter(&c, &live.1));
    }
    live.0 = Some(c.clone());
    Ok(c)
}

/// An append-only log file that is renamed to `<name>.1` (older ones shifted to `.2`, ...) when a
/// write would take it past `max_bytes`; at most `keep` rotated files are kept.
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: File,
    size: u64,
}

fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl RotatingFile {
    /// Opens (appends to) `path`; `max_bytes == 0` never rotates; `keep` is at least 1.
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            max_bytes,
            keep: keep.max(1),
            file,
            size,
        })
    }

    /// Path of the n-th rotated file (`debug.log.1` is the newest).
    pub fn rotated_path(&self, n: usize) -> PathBuf {
        numbered(&self.path, n)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let _ = std::fs::remove_file(numbered(&self.path, self.keep));
        for i in (1..self.keep).rev() {
            match std::fs::rename(numbered(&self.path, i), numbered(&self.path, i + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, numbered(&self.path, 1))?;
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.max_bytes > 0 && self.size > 0 && self.size + buf.len() as u64 > self.max_bytes {
            // A failed rotation must not lose the line: keep writing to the current file.
            if let Err(e) = self.rotate() {
                let _ = writeln!(self.file, "log rotation of {} failed: {e}", self.path.display());
            }
        }
        self.file.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// stderr for the console layer: erases a live progress bar before each log line.
#[derive(Clone, Copy, Default)]
pub struct ConsoleWriter;

/// A locked stderr that clears the progress bar before its first write.
pub struct ConsoleGuard(io::StderrLock<'static>);

impl Write for ConsoleGuard {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        crate::progress::clear_bar(&mut self.0);
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<'a> MakeWriter<'a> for ConsoleWriter {
    type Writer = ConsoleGuard;

    fn make_writer(&'a self) -> Self::Writer {
        ConsoleGuard(io::stderr().lock())
    }
}

/// What [`init`] sets up.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// `debug.log` (None: no log file, `-nodebuglogfile`).
    pub file: Option<PathBuf>,
    /// Rotate above this many bytes (0: never).
    pub max_bytes: u64,
    /// Rotated files kept.
    pub keep: usize,
    /// Also log to stderr.
    pub console: bool,
    /// `-debug` values: categories, `1`/`all`, `0`/`none`.
    pub debug: Vec<String>,
    /// `-debugexclude` categories.
    pub exclude: Vec<String>,
    /// `-loglevel` values (`trace`, `net:trace`).
    pub levels: Vec<String>,
    /// Line format.
    pub format: crate::config::LogFormat,
}

/// Core's timestamps: UTC, ISO 8601, seconds or microseconds, or none at all.
#[derive(Debug, Clone, Copy)]
pub struct CoreTime {
    /// Print a timestamp.
    pub enabled: bool,
    /// With microseconds.
    pub micros: bool,
}

impl tracing_subscriber::fmt::time::FormatTime for CoreTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        if !self.enabled {
            return Ok(());
        }
        let now = crate::clock::system_since_epoch();
        let secs = now.as_secs() as i64;
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        write!(w, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60)?;
        if self.micros {
            write!(w, ".{:06}", now.subsec_micros())?;
        }
        write!(w, "Z")
    }
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The bracketed prefix Core puts before a message (its `GetLogPrefix`): nothing for info,
/// `[net] ` for a category's debug line, `[net:trace] ` for its trace line, `[warning] ` and
/// `[error] ` for those levels. Scripts and Core's tests match lines on it.
pub fn core_prefix(target: &str, level: tracing::Level) -> String {
    let category = ["blvm::", "blvm_node::"]
        .iter()
        .find_map(|p| target.strip_prefix(p))
        .map(|rest| rest.split("::").next().unwrap_or(rest))
        .filter(|c| crate::config::BLVM_CATEGORIES.contains(c));
    match (level, category) {
        (tracing::Level::INFO, _) => String::new(),
        (tracing::Level::WARN, _) => "[warning] ".into(),
        (tracing::Level::ERROR, _) => "[error] ".into(),
        (tracing::Level::DEBUG, Some(c)) => format!("[{c}] "),
        (tracing::Level::TRACE, Some(c)) => format!("[{c}:trace] "),
        (l, None) => format!("[{}] ", l.as_str().to_ascii_lowercase()),
    }
}

/// Formats one event as Core writes a `debug.log` line: time, `[thread]`, `[file:line]`, the
/// category prefix, then the message and any fields.
struct CoreLine(crate::config::LogFormat);

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for CoreLine
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut w: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        use tracing_subscriber::fmt::time::FormatTime;
        let f = self.0;
        if f.timestamps {
            CoreTime {
                enabled: true,
                micros: f.micros,
            }
            .format_time(&mut w)?;
            w.write_char(' ')?;
        }
        if f.thread_names {
            let t = std::thread::current();
            write!(w, "[{}] ", t.name().unwrap_or("unknown"))?;
        }
        let meta = event.metadata();
        if f.source_locations {
            write!(w, "[{}:{}] ", meta.file().unwrap_or("?"), meta.line().unwrap_or(0))?;
        }
        w.write_str(&core_prefix(meta.target(), *meta.level()))?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// A formatting layer writing Core-style lines (`-logtimestamps -logtimemicros -logthreadnames
/// -logsourcelocations`) to `writer`.
fn line_layer<S, W>(f: crate::config::LogFormat, writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .event_format(CoreLine(f))
        .with_writer(writer)
}

/// Installs the global subscriber: rotating `debug.log` (unless disabled), and stderr when
/// `console` (progress lines stay off the console while a live bar shows them).
pub fn init(s: &LogSettings) -> io::Result<()> {
    let file_layer = match &s.file {
        Some(path) => {
            // As Core: a missing directory is an error, not created.
            let file = RotatingFile::open(path, s.max_bytes, s.keep)?;
            Some(line_layer(s.format, Mutex::new(file)))
        }
        None => None,
    };
    let console = s.console.then(|| {
        line_layer(s.format, ConsoleWriter).with_filter(tracing_subscriber::filter::filter_fn(|m| {
            !(crate::progress::bar_enabled() && m.target() == "blvm::progress")
        }))
    });
    let cats = Categories::from_args(&s.debug, &s.exclude);
    let (filter, handle) = reload::Layer::new(env_filter(&cats, &s.levels));
    *crate::sync::lock(&LIVE) = (Some(cats), s.levels.clone());
    let _ = FILTER.set(handle);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(file_layer)
        .with(console)
        .try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("debug.log");
        let mut f = RotatingFile::open(&path, 100, 2).unwrap();
        for i in 0..10 {
            // 40 bytes per line: two lines fit in 100 bytes, the third rotates.
            f.write_all(format!("{i:039}\n").as_bytes()).unwrap();
        }
        f.flush().unwrap();
        let cur = std::fs::read_to_string(&path).unwrap();
        let one = std::fs::read_to_string(f.rotated_path(1)).unwrap();
        let two = std::fs::read_to_string(f.rotated_path(2)).unwrap();
        assert_eq!(cur.lines().count(), 2, "{cur}");
        assert!(cur.ends_with(&format!("{:039}\n", 9)));
        assert!(one.starts_with(&format!("{:039}\n", 6)) && one.lines().count() == 2, "{one}");
        assert!(two.starts_with(&format!("{:039}\n", 4)), "{two}");
        assert!(!f.rotated_path(3).exists(), "only 2 rotated files are kept");
        // Nothing was lost except what fell off the end: lines 4..=9 are on disk.
        let all: Vec<String> = [two, one, cur].concat().lines().map(String::from).collect();
        assert_eq!(all, (4..10).map(|i| format!("{i:039}")).collect::<Vec<_>>());
    }

    #[test]
    fn existing_file_size_counts_and_zero_never_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("debug.log");
        std::fs::write(&path, vec![b'x'; 90]).unwrap();
        let mut f = RotatingFile::open(&path, 100, 3).unwrap();
        f.write_all(&[b'y'; 20]).unwrap();
        assert_eq!(std::fs::read(f.rotated_path(1)).unwrap().len(), 90);
        let mut g = RotatingFile::open(&dir.path().join("b.log"), 0, 3).unwrap();
        for _ in 0..100 {
            g.write_all(&[b'z'; 100]).unwrap();
        }
        assert!(!g.rotated_path(1).exists());
    }

    #[test]
    fn prefixes_are_cores() {
        use tracing::Level;
        assert_eq!(core_prefix("blvm::net", Level::DEBUG), "[net] ");
        assert_eq!(core_prefix("blvm_node::mempool", Level::TRACE), "[mempool:trace] ");
        assert_eq!(core_prefix("blvm::chain", Level::INFO), "");
        assert_eq!(core_prefix("blvm::chain", Level::WARN), "[warning] ");
        assert_eq!(core_prefix("redb::tree", Level::ERROR), "[error] ");
        assert_eq!(core_prefix("blvm_node::p2p::manager", Level::DEBUG), "[debug] ");
    }

    #[test]
    fn core_timestamps() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_790), (2026, 12, 3));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}

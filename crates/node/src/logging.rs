//! Logging: `debug.log` with size-based rotation, the console, per-category levels (`-debug=net`)
//! and UTC RFC 3339 timestamps (tracing-subscriber's default timer).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

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
    /// `debug.log`.
    pub file: PathBuf,
    /// Rotate above this many bytes (0: never).
    pub max_bytes: u64,
    /// Rotated files kept.
    pub keep: usize,
    /// Also log to stderr.
    pub console: bool,
    /// `-debug` values: categories, `1`/`all`, `0`/`none`.
    pub debug: Vec<String>,
}

/// The tracing filter for `-debug` values: `info` plus `debug` for each category's targets
/// (`blvm::<cat>` and `blvm_node::<cat>`); `1`/`all` is debug everywhere; `0`/`none` resets.
pub fn filter_directives(debug: &[String]) -> String {
    let mut filter = String::from("info");
    for d in debug {
        match d.as_str() {
            "1" | "all" => filter = "debug".into(),
            "0" | "none" => filter = "info".into(),
            cat => filter.push_str(&format!(",blvm::{cat}=debug,blvm_node::{cat}=debug")),
        }
    }
    filter
}

/// Installs the global subscriber: rotating `debug.log`, and stderr when `console` (progress lines
/// stay off the console while a live bar shows them).
pub fn init(s: &LogSettings) -> io::Result<()> {
    if let Some(dir) = s.file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = RotatingFile::open(&s.file, s.max_bytes, s.keep)?;
    let file_layer = tracing_subscriber::fmt::layer().with_ansi(false).with_writer(Mutex::new(file));
    let console = s.console.then(|| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(ConsoleWriter)
            .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                !(crate::progress::bar_enabled() && m.target() == "blvm::progress")
            }))
    });
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter_directives(&s.debug)).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
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
    fn debug_categories_become_directives() {
        assert_eq!(filter_directives(&[]), "info");
        assert_eq!(filter_directives(&["net".into()]), "info,blvm::net=debug,blvm_node::net=debug");
        assert_eq!(filter_directives(&["modules".into(), "all".into()]), "debug");
        assert_eq!(
            filter_directives(&["1".into(), "none".into(), "rpc".into()]),
            "info,blvm::rpc=debug,blvm_node::rpc=debug"
        );
    }
}

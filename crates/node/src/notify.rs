//! Core's notification commands: `-blocknotify` (the tip changed, `%s` = its hash),
//! `-startupnotify` (startup completed), `-shutdownnotify` (shutdown began; waited for, as Core)
//! and `-alertnotify` (a warning, `%s` = its sanitized text). Each runs through `sh -c` on its own
//! thread; at most [`MAX_RUNNING`] run at once and further ones are skipped with a warning, so a
//! burst of tips cannot pile up processes.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Most notification commands running at once.
pub const MAX_RUNNING: usize = 16;

/// A tip older than this (seconds) is still being caught up with: as Core, whose blocknotify is
/// silent during initial block download, no command runs for it.
pub const MAX_TIP_AGE: i64 = 24 * 3600;

pub use crate::config::NotifyCommands;

/// Runs the configured commands.
#[derive(Debug, Default)]
pub struct Notifier {
    commands: NotifyCommands,
    running: Arc<AtomicUsize>,
}

/// Core's `SanitizeString` (default rule): only these characters of a warning reach the shell.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || " .,;-_/:?@()".contains(*c))
        .collect()
}

impl Notifier {
    /// A notifier for `commands`.
    pub fn new(commands: NotifyCommands) -> Self {
        Notifier {
            commands,
            running: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The tip is now `hash`, whose header time is `tip_time`; `now` is the node's clock.
    pub fn block_tip(&self, hash: &bitcoin::BlockHash, tip_time: u32, now: i64) {
        if let Some(cmd) = &self.commands.block {
            if i64::from(tip_time) >= now - MAX_TIP_AGE {
                self.spawn(cmd.replace("%s", &hash.to_string()));
            }
        }
    }

    /// Startup completed.
    pub fn startup(&self) {
        if let Some(cmd) = &self.commands.startup {
            self.spawn(cmd.clone());
        }
    }

    /// A warning for the operator (Core's alerts, e.g. a large-work invalid chain).
    pub fn alert(&self, message: &str) {
        if let Some(cmd) = &self.commands.alert {
            self.spawn(cmd.replace("%s", &format!("'{}'", sanitize(message))));
        }
    }

    /// Shutdown began: runs every `-shutdownnotify` command and waits for them, as Core.
    pub fn shutdown(&self) {
        let threads: Vec<_> = self
            .commands
            .shutdown
            .iter()
            .cloned()
            .map(|c| std::thread::spawn(move || run(&c)))
            .collect();
        for t in threads {
            let _ = t.join();
        }
    }

    fn spawn(&self, cmd: String) {
        if self.running.fetch_add(1, Ordering::SeqCst) >= MAX_RUNNING {
            self.running.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(command = %cmd, "notification command skipped: {MAX_RUNNING} are still running");
            return;
        }
        let running = self.running.clone();
        let spawned = std::thread::Builder::new().name("notify".into()).spawn(move || {
            run(&cmd);
            running.fetch_sub(1, Ordering::SeqCst);
        });
        if let Err(e) = spawned {
            self.running.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!("notification command not started: {e}");
        }
    }
}

fn run(cmd: &str) {
    match Command::new("sh").arg("-c").arg(cmd).status() {
        Ok(s) if s.success() => {}
        Ok(s) => tracing::warn!(command = %cmd, "notification command failed: {s}"),
        Err(e) => tracing::warn!(command = %cmd, "notification command not started: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use std::time::{Duration, Instant};

    fn wait_for(path: &std::path::Path) -> String {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(s) = std::fs::read_to_string(path) {
                if !s.is_empty() {
                    return s;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{} not written", path.display());
    }

    #[test]
    fn commands_run_with_their_substitutions() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let mut c = NotifyCommands::default();
        assert!(c.set("blocknotify", &format!("echo %s > {d}/block")));
        assert!(c.set("alertnotify", &format!("echo %s > {d}/alert")));
        assert!(c.set("shutdownnotify", &format!("echo bye > {d}/shutdown")));
        assert!(!c.set("txindex", "1"));
        let n = Notifier::new(c);
        let hash: bitcoin::BlockHash = "00000000000000000000000000000000000000000000000000000000000000ff".parse().unwrap();
        n.block_tip(&hash, 1_000_000, 1_000_000);
        assert_eq!(wait_for(&dir.path().join("block")).trim(), hash.to_string());
        n.alert("Warning: it's $(rm -rf x) `bad`");
        assert_eq!(wait_for(&dir.path().join("alert")).trim(), "Warning: its (rm -rf x) bad");
        n.shutdown();
        assert_eq!(std::fs::read_to_string(dir.path().join("shutdown")).unwrap(), "bye\n");
    }

    #[test]
    fn an_old_tip_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = NotifyCommands::default();
        c.set("blocknotify", &format!("touch {}/ran", dir.path().display()));
        let n = Notifier::new(c);
        n.block_tip(&bitcoin::BlockHash::from_byte_array([1; 32]), 0, MAX_TIP_AGE + 1);
        std::thread::sleep(Duration::from_millis(300));
        assert!(!dir.path().join("ran").exists());
    }
}

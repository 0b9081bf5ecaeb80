//! A tiny crash-safe state store: a JSON snapshot (`state.json`) plus a write-ahead log
//! (`pending.log`) of block entries not yet folded into the snapshot.
//!
//! Every block is appended to the log as it arrives (cheap, not synced). [`Store::flush`] folds
//! the pending entries into a new snapshot, writes it atomically (temp file, fsync, rename,
//! directory fsync) and only then truncates the log. Each log entry carries the snapshot
//! generation it belongs to, so after a crash between the rename and the truncation the
//! already-folded entries are recognised and not counted twice.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// How many recent flush reasons `state.json` keeps.
const HISTORY: usize = 16;

/// The durable state, as written to `state.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// NewBlock events folded into the snapshot (over the module's whole life).
    pub blocks_seen: u64,
    /// Height of the newest block seen.
    pub tip_height: Option<u64>,
    /// Hash of the newest block seen.
    pub tip_hash: Option<String>,
    /// Sequence of the newest event handled (sequences restart when the node restarts).
    pub last_sequence: u64,
    /// Events the node or the SDK dropped for this module (reported by `Lagged`).
    pub missed_events: u64,
    /// Snapshots written so far; also the generation of this snapshot.
    pub flushes: u64,
    /// Why the last snapshot was written (a StorageFlush reason or `node_shutdown`).
    pub last_flush_reason: Option<String>,
    /// Unix time (seconds) of the last snapshot.
    pub last_flush_at: Option<u64>,
    /// The most recent flush reasons, oldest first.
    pub flush_history: Vec<String>,
}

/// One write-ahead log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    /// Snapshot generation that will contain this entry (`flushes + 1` when written).
    generation: u64,
    sequence: u64,
    height: u64,
    hash: String,
}

/// The store in a data directory.
pub struct Store {
    dir: PathBuf,
    state: State,
    pending: Vec<Entry>,
    missed: u64,
    wal: File,
}

/// Current Unix time in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

fn invalid(path: &Path, e: serde_json::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))
}

impl Store {
    /// Opens (or creates) the store in `dir`, replaying log entries newer than the snapshot.
    pub fn open(dir: &Path) -> io::Result<Store> {
        std::fs::create_dir_all(dir)?;
        let state_path = dir.join("state.json");
        let state = match std::fs::read(&state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| invalid(&state_path, e))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(e),
        };
        let wal_path = dir.join("pending.log");
        let mut pending = Vec::new();
        if let Ok(f) = File::open(&wal_path) {
            for line in BufReader::new(f).lines() {
                // A torn last line (crash mid-append) does not parse and is skipped.
                if let Ok(entry) = serde_json::from_str::<Entry>(&line?) {
                    if entry.generation > state.flushes {
                        pending.push(entry);
                    }
                }
            }
        }
        let wal = OpenOptions::new().create(true).append(true).open(&wal_path)?;
        Ok(Store {
            dir: dir.to_path_buf(),
            state,
            pending,
            missed: 0,
            wal,
        })
    }

    /// The state as of the last snapshot.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Entries logged but not yet in the snapshot.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Appends a block to the write-ahead log.
    pub fn record_block(&mut self, sequence: u64, height: u64, hash: &str) -> io::Result<()> {
        let entry = Entry {
            generation: self.state.flushes + 1,
            sequence,
            height,
            hash: hash.to_string(),
        };
        let mut line = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        line.push(b'\n');
        self.wal.write_all(&line)?;
        self.pending.push(entry);
        Ok(())
    }

    /// Counts events lost to lag (folded in at the next flush).
    pub fn note_missed(&mut self, count: u64) {
        self.missed = self.missed.saturating_add(count);
    }

    /// Folds pending entries into a new snapshot, writes it durably and truncates the log.
    pub fn flush(&mut self, reason: &str, sequence: u64) -> io::Result<&State> {
        let mut next = self.state.clone();
        for e in &self.pending {
            next.blocks_seen += 1;
            next.tip_height = Some(e.height);
            next.tip_hash = Some(e.hash.clone());
            next.last_sequence = next.last_sequence.max(e.sequence);
        }
        next.last_sequence = next.last_sequence.max(sequence);
        next.missed_events = next.missed_events.saturating_add(self.missed);
        next.flushes += 1;
        next.last_flush_reason = Some(reason.to_string());
        next.last_flush_at = Some(unix_now());
        next.flush_history.push(reason.to_string());
        let excess = next.flush_history.len().saturating_sub(HISTORY);
        next.flush_history.drain(..excess);
        let json = serde_json::to_vec_pretty(&next).map_err(io::Error::other)?;
        write_atomic(&self.dir.join("state.json"), &json)?;
        // The snapshot is durable; the folded entries (generation <= next.flushes) may go.
        self.wal.set_len(0)?;
        self.wal.sync_all()?;
        self.state = next;
        self.pending.clear();
        self.missed = 0;
        Ok(&self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unflushed_blocks_survive_a_crash_and_are_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        s.record_block(1, 1, "aa").unwrap();
        s.flush("periodic", 1).unwrap();
        s.record_block(2, 2, "bb").unwrap();
        s.record_block(3, 3, "cc").unwrap();
        drop(s); // crash: two entries only in the log

        let mut s = Store::open(dir.path()).unwrap();
        assert_eq!(s.state().blocks_seen, 1);
        assert_eq!(s.pending(), 2);
        let st = s.flush("shutdown", 4).unwrap().clone();
        assert_eq!((st.blocks_seen, st.tip_height, st.tip_hash.as_deref()), (3, Some(3), Some("cc")));
        assert_eq!(st.last_sequence, 4);
        assert_eq!(st.flush_history, ["periodic", "shutdown"]);
        assert_eq!(std::fs::metadata(dir.path().join("pending.log")).unwrap().len(), 0);
    }

    #[test]
    fn entries_already_in_the_snapshot_are_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        s.record_block(1, 1, "aa").unwrap();
        s.record_block(2, 2, "bb").unwrap();
        let log = std::fs::read(dir.path().join("pending.log")).unwrap();
        s.flush("manual", 2).unwrap();
        // Crash between the snapshot rename and the log truncation: the old log is back,
        // plus a torn half line.
        let mut stale = log.clone();
        stale.extend_from_slice(b"{\"generation\":2,\"seq");
        std::fs::write(dir.path().join("pending.log"), stale).unwrap();
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.state().blocks_seen, 2);
        assert_eq!(s.pending(), 0, "generation-1 entries are already in snapshot 1");
    }

    #[test]
    fn corrupt_snapshot_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.json"), b"{not json").unwrap();
        let err = Store::open(dir.path()).err().expect("corrupt state must not open");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}

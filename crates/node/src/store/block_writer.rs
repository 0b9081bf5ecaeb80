//! The thread that writes block and undo records to `blk*.dat`/`rev*.dat`, so the thread that
//! connects blocks only assigns each record its position and queues its bytes.
//!
//! Positions are assigned by [`super::block_files::BlockFiles`] before a record is queued, so
//! the block index records the same (file, offset) it would if the write were done in place.
//! A queued record stays readable from the queue until its bytes are in the file, the queue is
//! bounded (bytes and records; a full queue makes the producer wait), the first write error is
//! kept and returned by every later call (so a full disk stops the node as an in-place write
//! error does), and [`BlockWriter::drain`] is what a flush waits on before it fsyncs the files.

use super::block_files::{record_path, undo_checksum, Kind};
use super::obfuscation::XorKey;
use bitcoin::BlockHash;
use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Bytes of payload that may wait in the queue (a few of the largest blocks).
pub const MAX_QUEUED_BYTES: usize = 32 * 1024 * 1024;
/// Records that may wait in the queue (bounds the bookkeeping of many small blocks).
pub const MAX_QUEUED_RECORDS: usize = 256;

/// Files the writer keeps open at once (the current block and undo files, and an older undo
/// file a reorg writes to).
const MAX_OPEN_FILES: usize = 4;

/// One framed record waiting to be written: `magic | length | payload [| checksum]`.
#[derive(Debug, Clone)]
pub(super) struct Record {
    /// Block or undo file.
    pub kind: Kind,
    /// File number.
    pub file: u32,
    /// Offset of the record's 8-byte header in its file.
    pub start: u64,
    /// The payload, in the clear (shared with readers of the queue).
    pub payload: Arc<Vec<u8>>,
    /// For an undo record, the block whose hash its checksum commits to.
    pub undo_of: Option<BlockHash>,
}

/// The first write failure, kept so every later call reports it.
#[derive(Debug, Clone)]
pub(super) struct WriteFailure {
    /// The file the write failed on.
    pub path: PathBuf,
    kind: std::io::ErrorKind,
    message: String,
}

impl WriteFailure {
    /// The failure as an I/O error on its file (a fresh copy per caller).
    pub fn to_io(&self) -> std::io::Error {
        std::io::Error::new(self.kind, self.message.clone())
    }
}

#[derive(Default)]
struct State {
    /// Records not yet fully written, oldest first; the front one may be being written.
    queue: VecDeque<Record>,
    queued_bytes: usize,
    failed: Option<WriteFailure>,
    stop: bool,
    /// Tests: after this many more writes the writer waits for a message on the receiver.
    #[cfg(test)]
    hold: Option<(usize, std::sync::mpsc::Receiver<()>)>,
    /// Tests: the writer is waiting at the gate of [`BlockWriter::hold_after`].
    #[cfg(test)]
    holding: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a record is queued or the writer must stop.
    work: Condvar,
    /// Signalled when a record left the queue (space, drain) or a write failed.
    progress: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Owner of the writer thread: stopping it (drop) writes what is queued and joins it.
pub(super) struct BlockWriter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl BlockWriter {
    /// Starts the thread writing records into `dir` with `magic` framing, obfuscated by `xor`.
    pub fn start(dir: &Path, magic: [u8; 4], xor: XorKey) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            progress: Condvar::new(),
        });
        let worker = Worker {
            shared: shared.clone(),
            dir: dir.to_path_buf(),
            magic,
            xor,
            open: HashMap::new(),
        };
        let thread = std::thread::Builder::new()
            .name("blvm-blockwrite".into())
            .spawn(move || worker.run())?;
        Ok(BlockWriter {
            shared,
            thread: Some(thread),
        })
    }

    /// Queues `record`, waiting while the queue is full; fails with the first write failure.
    pub fn push(&self, record: Record) -> Result<(), WriteFailure> {
        let len = record.payload.len();
        let mut st = self.shared.lock();
        loop {
            if let Some(f) = &st.failed {
                return Err(f.clone());
            }
            let full = st.queued_bytes + len > MAX_QUEUED_BYTES || st.queue.len() >= MAX_QUEUED_RECORDS;
            if st.queue.is_empty() || !full {
                break;
            }
            st = self.shared.progress.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.queued_bytes += len;
        st.queue.push_back(record);
        drop(st);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Waits until every queued record is in its file (not yet fsynced) and the writer holds
    /// no file open; fails with the first write failure.
    pub fn drain(&self) -> Result<(), WriteFailure> {
        let mut st = self.shared.lock();
        while !st.queue.is_empty() && st.failed.is_none() {
            st = self.shared.progress.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        match &st.failed {
            Some(f) => Err(f.clone()),
            None => Ok(()),
        }
    }

    /// Tests: after `writes` more writes, the next one waits until `gate` receives (or its
    /// sender is dropped).
    #[cfg(test)]
    pub fn hold_after(&self, writes: usize, gate: std::sync::mpsc::Receiver<()>) {
        self.shared.lock().hold = Some((writes, gate));
    }

    /// Tests: whether the writer has done the writes [`BlockWriter::hold_after`] let through
    /// and waits at the gate.
    #[cfg(test)]
    pub fn holding(&self) -> bool {
        self.shared.lock().holding
    }

    /// Records not yet fully written.
    #[cfg(test)]
    pub fn queued_records(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Where the queued records of `kind` in file `file` end (None: none queued, the file's
    /// length on disk is its end).
    pub fn queued_end(&self, kind: Kind, file: u32) -> Option<u64> {
        let st = self.shared.lock();
        st.queue
            .iter()
            .filter(|r| r.kind == kind && r.file == file)
            .map(|r| r.start + 8 + r.payload.len() as u64 + if r.undo_of.is_some() { 32 } else { 0 })
            .max()
    }

    /// The payload of the queued record of `kind` whose header is at `start` in file `file`, if
    /// it is still queued (once it has left the queue its bytes are in the file), with the block
    /// an undo record was written for.
    pub fn queued(&self, kind: Kind, file: u32, start: u64) -> Option<(Arc<Vec<u8>>, Option<BlockHash>)> {
        let st = self.shared.lock();
        st.queue
            .iter()
            .find(|r| r.kind == kind && r.file == file && r.start == start)
            .map(|r| (r.payload.clone(), r.undo_of))
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.work.notify_all();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("block file writer thread panicked");
            }
        }
        if let Some(f) = &self.shared.lock().failed {
            tracing::error!(path = %f.path.display(), "block file writes failed: {}", f.message);
        }
    }
}

/// The thread's side: the files it holds open while records keep coming.
struct Worker {
    shared: Arc<Shared>,
    dir: PathBuf,
    magic: [u8; 4],
    xor: XorKey,
    open: HashMap<(Kind, u32), File>,
}

impl Worker {
    fn run(mut self) {
        loop {
            let record = {
                let mut st = self.shared.lock();
                loop {
                    if st.failed.is_some() {
                        // Nothing more is written after a failure; producers see it.
                        st.queue.clear();
                        st.queued_bytes = 0;
                    }
                    if let Some(r) = st.queue.front() {
                        break r.clone();
                    }
                    if st.stop {
                        return;
                    }
                    st = self.shared.work.wait(st).unwrap_or_else(|p| p.into_inner());
                }
            };
            #[cfg(test)]
            {
                let gate = {
                    let mut st = self.shared.lock();
                    match st.hold.take() {
                        Some((0, gate)) => {
                            st.holding = true;
                            Some(gate)
                        }
                        Some((n, gate)) => {
                            st.hold = Some((n - 1, gate));
                            None
                        }
                        None => None,
                    }
                };
                if let Some(gate) = gate {
                    let _ = gate.recv();
                    self.shared.lock().holding = false;
                }
            }
            let result = self.write(&record);
            let mut st = self.shared.lock();
            if let Err((path, e)) = result {
                tracing::error!(path = %path.display(), "block file write failed: {e}");
                st.failed = Some(WriteFailure {
                    path,
                    kind: e.kind(),
                    message: e.to_string(),
                });
            }
            if st.queue.len() <= 1 {
                // About to be idle: close the files so a prune can free them and a drain
                // leaves nothing open.
                self.open.clear();
            }
            if st.failed.is_none() {
                st.queue.pop_front();
                st.queued_bytes -= record.payload.len();
            }
            drop(st);
            self.shared.progress.notify_all();
        }
    }

    /// Writes one framed record at its assigned offset.
    fn write(&mut self, r: &Record) -> Result<(), (PathBuf, std::io::Error)> {
        let path = record_path(&self.dir, r.kind, r.file);
        let len = r.payload.len() as u32;
        let mut buf = Vec::with_capacity(8 + r.payload.len() + 32);
        buf.extend_from_slice(&self.magic);
        buf.extend_from_slice(&len.to_le_bytes());
        buf.extend_from_slice(&r.payload);
        if let Some(hash) = &r.undo_of {
            buf.extend_from_slice(&undo_checksum(hash, &r.payload));
        }
        self.xor.apply(&mut buf, r.start);
        if !self.open.contains_key(&(r.kind, r.file)) {
            if self.open.len() >= MAX_OPEN_FILES {
                self.open.clear();
            }
            let f = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| (path.clone(), e))?;
            self.open.insert((r.kind, r.file), f);
        }
        let f = &self.open[&(r.kind, r.file)];
        f.write_all_at(&buf, r.start).map_err(|e| (path, e))
    }
}

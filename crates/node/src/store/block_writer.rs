//! The thread that writes block and undo records to `blk*.dat`/`rev*.dat`, so the thread that
//! connects blocks only assigns each record its position and queues its bytes.
//!
//! Positions are assigned by [`super::block_files::BlockFiles`] before a record is queued, so
//! the block index records the same (file, offset) it would if the write were done in place.
//! A queued record stays readable from the queue until its bytes are in the file, the queue is
//! bounded (bytes and records; a full queue makes the producer wait), the first write error is
//! kept and returned by every later call (so a full disk stops the node as an in-place write
//! error does), and [`BlockWriter::drain`] is what a flush waits on before it fsyncs the files.
//!
//! While records keep coming (sync, import) the writer is not woken for each one: after writing
//! it lingers for [`LINGER`] and takes what was queued meanwhile in one round, unless the queue
//! reaches [`WAKE_RECORDS`] or [`WAKE_BYTES`] first. Waking it per record cost the connecting
//! thread a wake-up and, as the woken writer took its core, a context switch, twice a block.
//! A writer that lingered in vain parks, and the next record wakes it at once.

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

/// How long the writer waits for more records after writing before it parks.
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(20);
/// Queued records that wake a lingering writer before its [`LINGER`] is over.
pub const WAKE_RECORDS: usize = 16;
/// Queued bytes that wake a lingering writer before its [`LINGER`] is over.
pub const WAKE_BYTES: usize = 8 * 1024 * 1024;

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

/// What the writer thread is doing.
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum WriterState {
    /// Writing, or about to look at the queue: a push's wake-up is not needed but harmless.
    #[default]
    Busy,
    /// Waiting out its linger after writing: a push need not wake it unless the queue is large.
    Lingering,
    /// Waiting for a push to wake it.
    Parked,
}

#[derive(Default)]
struct State {
    /// Records not yet fully written, oldest first; the front one may be being written.
    queue: VecDeque<Record>,
    queued_bytes: usize,
    failed: Option<WriteFailure>,
    stop: bool,
    /// What the writer thread is doing, so a push knows whether it must wake it.
    writer: WriterState,
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
    /// How long the writer lingers ([`LINGER`]; tests set their own).
    linger: std::time::Duration,
    /// Tests: how many pushes woke the writer.
    #[cfg(test)]
    wakes: std::sync::atomic::AtomicUsize,
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
        Self::start_lingering(dir, magic, xor, LINGER)
    }

    fn start_lingering(dir: &Path, magic: [u8; 4], xor: XorKey, linger: std::time::Duration) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            progress: Condvar::new(),
            linger,
            #[cfg(test)]
            wakes: Default::default(),
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
        let wake = st.writer != WriterState::Lingering || st.queue.len() >= WAKE_RECORDS || st.queued_bytes >= WAKE_BYTES;
        drop(st);
        if wake {
            #[cfg(test)]
            self.shared.wakes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.shared.work.notify_one();
        }
        Ok(())
    }

    /// Waits until every queued record is in its file (not yet fsynced) and the writer holds
    /// no file open; fails with the first write failure.
    pub fn drain(&self) -> Result<(), WriteFailure> {
        // A lingering writer starts on what is queued now instead of at the end of its linger.
        self.shared.work.notify_one();
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
        let mut wrote = false;
        loop {
            let record = {
                let mut st = self.shared.lock();
                // A round that wrote something lingers once before the writer parks.
                let mut linger = wrote;
                loop {
                    if st.failed.is_some() {
                        // Nothing more is written after a failure; producers see it.
                        st.queue.clear();
                        st.queued_bytes = 0;
                    }
                    if let Some(r) = st.queue.front() {
                        let r = r.clone();
                        st.writer = WriterState::Busy;
                        break r;
                    }
                    if st.stop {
                        return;
                    }
                    if linger {
                        linger = false;
                        st.writer = WriterState::Lingering;
                        st = self
                            .shared
                            .work
                            .wait_timeout(st, self.shared.linger)
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    } else {
                        st.writer = WriterState::Parked;
                        st = self.shared.work.wait(st).unwrap_or_else(|p| p.into_inner());
                    }
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
            wrote = true;
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
        f.write_all_at(&buf, r.start).map_err(|e| (path, e))?;
        start_writeback(f, r.start, buf.len());
        Ok(())
    }
}

/// Starts writing `len` bytes at `offset` of `f` out to the disk without waiting for it, so
/// the flush that fsyncs the file later (a periodic flush, shutdown, the end of an import)
/// waits for the last records only, not for every record written since the previous one.
#[cfg(target_os = "linux")]
fn start_writeback(f: &File, offset: u64, len: usize) {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the duration of the call; the flag only starts
    // write-out of dirty pages in the range and neither reads nor writes our memory.
    let rc = unsafe {
        libc::sync_file_range(
            f.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
    if rc != 0 {
        // Only a hint: the fsync that makes the record durable reports real write errors.
        tracing::debug!("sync_file_range: {}", std::io::Error::last_os_error());
    }
}

/// Elsewhere the fsync does all the writing.
#[cfg(not(target_os = "linux"))]
fn start_writeback(_f: &File, _offset: u64, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    fn record(start: u64) -> Record {
        Record {
            kind: Kind::Block,
            file: 0,
            start,
            payload: Arc::new(vec![7u8; 10]),
            undo_of: None,
        }
    }

    /// Polls `cond` on the writer's state for up to five seconds.
    fn wait_until(w: &BlockWriter, what: &str, cond: impl Fn(&State) -> bool) {
        let until = Instant::now() + Duration::from_secs(5);
        while !cond(&w.shared.lock()) {
            assert!(Instant::now() < until, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn records_queued_while_the_writer_lingers_do_not_wake_it_and_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let w = BlockWriter::start_lingering(dir.path(), [1, 2, 3, 4], XorKey::default(), Duration::from_secs(3600)).unwrap();
        let wakes = || w.shared.wakes.load(Ordering::SeqCst);
        // The writer starts parked: the first record wakes it; having written, it lingers.
        w.push(record(0)).unwrap();
        assert_eq!(wakes(), 1);
        wait_until(&w, "the first record is written", |st| {
            st.queue.is_empty() && st.writer == WriterState::Lingering
        });
        // Records queued during the linger wake nobody, until there are WAKE_RECORDS of them.
        for i in 1..WAKE_RECORDS as u64 {
            w.push(record(18 * i)).unwrap();
        }
        assert_eq!(wakes(), 1, "pushes during the linger woke the writer");
        assert_eq!(w.queued_records(), WAKE_RECORDS - 1);
        w.push(record(18 * WAKE_RECORDS as u64)).unwrap();
        assert_eq!(wakes(), 2, "a full round wakes the lingering writer");
        wait_until(&w, "the round is written", |st| st.queue.is_empty());
        // A drain does not wait out the linger either.
        w.push(record(18 * (WAKE_RECORDS as u64 + 1))).unwrap();
        let started = Instant::now();
        w.drain().unwrap();
        assert!(started.elapsed() < Duration::from_secs(60), "the drain waited for the linger");
        let len = std::fs::metadata(record_path(dir.path(), Kind::Block, 0)).unwrap().len();
        assert_eq!(len, 18 * (WAKE_RECORDS as u64 + 2), "every record is in the file");
    }

    #[test]
    fn a_writer_that_lingered_in_vain_parks_and_the_next_record_wakes_it() {
        let dir = tempfile::tempdir().unwrap();
        let w = BlockWriter::start_lingering(dir.path(), [1, 2, 3, 4], XorKey::default(), Duration::from_millis(5)).unwrap();
        w.push(record(0)).unwrap();
        // Parked with the record written: the writer may still be parked from its start when
        // the push lands, so the state alone does not say it has run.
        wait_until(&w, "the writer parks after its linger", |st| {
            st.queue.is_empty() && st.writer == WriterState::Parked
        });
        assert_eq!(w.shared.wakes.load(Ordering::SeqCst), 1);
        // Parked: a lone record (a block at the tip) wakes it and is written without a drain.
        w.push(record(18)).unwrap();
        assert_eq!(w.shared.wakes.load(Ordering::SeqCst), 2);
        wait_until(&w, "the lone record is written", |st| st.queue.is_empty());
        let len = std::fs::metadata(record_path(dir.path(), Kind::Block, 0)).unwrap().len();
        assert_eq!(len, 36);
    }
}

//! Append-only block (`blkNNNNN.dat`) and undo (`revNNNNN.dat`) files with Core's framing.
//!
//! Each record is `magic(4) | length(4, LE) | payload`. Undo records are followed by a
//! 32-byte checksum (sha256d of block hash || payload) so a torn or corrupt record is detected.
//! Every byte goes through the directory's [`XorKey`] on its way to and from disk, here and only
//! here. Positions are assigned here, on the caller's thread; the bytes are written by the
//! [`BlockWriter`] thread, read back from its queue until they are in the file, and waited for
//! (then fsynced) by [`BlockFiles::sync`].

use super::block_writer::{BlockWriter, Record, WriteFailure};
use super::obfuscation::{XorKey, XorKeyError};
use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::BlockHash;
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// Largest single record we accept when reading (a block is at most 4 MB of weight).
pub const MAX_RECORD_SIZE: u32 = 32 * 1024 * 1024;
/// A new block file is started once the current one would exceed this size (as Core: 128 MiB).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 128 * 1024 * 1024;

/// Where a record's payload lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilePos {
    /// File number (`blk{file:05}.dat`).
    pub file: u32,
    /// Offset of the payload (just after the 8-byte header).
    pub offset: u64,
    /// Payload length in bytes.
    pub len: u32,
}

/// Failures reading or writing block and undo files; always names the file.
#[derive(Debug, Error)]
pub enum BlockFileError {
    /// An OS-level error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file's contents are not what the index says they should be.
    #[error("{path}: corrupt record at offset {offset}: {what}")]
    Corrupt {
        /// The file involved.
        path: PathBuf,
        /// Offset of the bad record.
        offset: u64,
        /// What was wrong.
        what: String,
    },
    /// The obfuscation key could not be set up.
    #[error(transparent)]
    XorKey(#[from] XorKeyError),
}

/// Which of the two file families a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Kind {
    Block,
    Undo,
}

/// The set of block and undo files of one datadir.
pub struct BlockFiles {
    dir: PathBuf,
    magic: [u8; 4],
    xor: XorKey,
    max_file_size: u64,
    current_file: u32,
    current_len: u64,
    unsynced: BTreeSet<(Kind, u32)>,
    /// The undo file last appended to and its length with the queued records (one entry: for
    /// another file, the end of its queued records or else its length on disk).
    undo_end: Option<(u32, u64)>,
    /// Started on the first append, so read-only users never start a thread.
    writer: Option<BlockWriter>,
}

/// The path of file `n` of `kind` in `dir` (`blk00000.dat`, `rev00000.dat`).
pub(super) fn record_path(dir: &Path, kind: Kind, n: u32) -> PathBuf {
    let prefix = match kind {
        Kind::Block => "blk",
        Kind::Undo => "rev",
    };
    dir.join(format!("{prefix}{n:05}.dat"))
}

impl From<WriteFailure> for BlockFileError {
    fn from(f: WriteFailure) -> Self {
        BlockFileError::Io {
            source: f.to_io(),
            path: f.path,
        }
    }
}

fn io_err(path: &Path, source: std::io::Error) -> BlockFileError {
    BlockFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl BlockFiles {
    /// Opens (creating if needed) the files in `dir`; appends go to the highest-numbered file.
    /// `use_xor` is `-blocksxor` (see [`XorKey::init`]).
    pub fn open(dir: &Path, magic: [u8; 4], max_file_size: u64, use_xor: bool) -> Result<Self, BlockFileError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let xor = XorKey::init(dir, use_xor)?;
        let mut highest = 0u32;
        let entries = std::fs::read_dir(dir).map_err(|e| io_err(dir, e))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name.strip_prefix("blk").and_then(|s| s.strip_suffix(".dat")) {
                if let Ok(n) = n.parse::<u32>() {
                    highest = highest.max(n);
                }
            }
        }
        let mut files = BlockFiles {
            dir: dir.to_path_buf(),
            magic,
            xor,
            max_file_size,
            current_file: highest,
            current_len: 0,
            unsynced: BTreeSet::new(),
            undo_end: None,
            writer: None,
        };
        files.current_len = files.file_len(Kind::Block, highest)?;
        Ok(files)
    }

    /// Directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of block file `n`.
    pub fn block_path(&self, n: u32) -> PathBuf {
        self.path(Kind::Block, n)
    }

    /// Path of undo file `n`.
    pub fn undo_path(&self, n: u32) -> PathBuf {
        self.path(Kind::Undo, n)
    }

    fn path(&self, kind: Kind, n: u32) -> PathBuf {
        record_path(&self.dir, kind, n)
    }

    /// Waits until every queued record is in its file (a no-op before the first append).
    pub fn drain(&self) -> Result<(), BlockFileError> {
        match &self.writer {
            Some(w) => Ok(w.drain()?),
            None => Ok(()),
        }
    }

    /// [`Self::drain`] for the callers that only measure files: a write failure is reported
    /// by the next append or sync, so it is only logged here.
    fn drain_for_listing(&self) {
        if let Err(e) = self.drain() {
            tracing::warn!("block file writes failed: {e}");
        }
    }

    fn file_len(&self, kind: Kind, n: u32) -> Result<u64, BlockFileError> {
        let p = self.path(kind, n);
        match std::fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io_err(&p, e)),
        }
    }

    /// The writer thread, started on first use.
    fn writer(&mut self) -> Result<&BlockWriter, BlockFileError> {
        match &mut self.writer {
            Some(w) => Ok(w),
            slot @ None => {
                let w = BlockWriter::start(&self.dir, self.magic, self.xor).map_err(|e| io_err(&self.dir, e))?;
                Ok(slot.insert(w))
            }
        }
    }

    /// Queues a record whose header goes at `start` of file `n` for the writer thread.
    fn append(&mut self, kind: Kind, n: u32, start: u64, payload: Vec<u8>, undo_of: Option<BlockHash>) -> Result<(), BlockFileError> {
        self.writer()?.push(Record {
            kind,
            file: n,
            start,
            payload: Arc::new(payload),
            undo_of,
        })?;
        self.unsynced.insert((kind, n));
        Ok(())
    }

    /// Appends a serialized block and returns where its payload lives (the bytes are written by
    /// the writer thread; reads see them at once).
    pub fn write_block(&mut self, block: Vec<u8>) -> Result<FilePos, BlockFileError> {
        let len = u32::try_from(block.len()).map_err(|_| BlockFileError::Corrupt {
            path: self.block_path(self.current_file),
            offset: self.current_len,
            what: "block larger than 4 GiB".into(),
        })?;
        if self.current_len > 0 && self.current_len + 8 + u64::from(len) > self.max_file_size {
            self.current_file += 1;
            self.current_len = self.file_len(Kind::Block, self.current_file)?;
        }
        let n = self.current_file;
        let start = self.current_len;
        self.append(Kind::Block, n, start, block, None)?;
        self.current_len = start + 8 + u64::from(len);
        Ok(FilePos {
            file: n,
            offset: start + 8,
            len,
        })
    }

    /// Appends undo data for `block_hash` to the undo file paired with block file `file`.
    pub fn write_undo(&mut self, file: u32, block_hash: &BlockHash, undo: Vec<u8>) -> Result<FilePos, BlockFileError> {
        let len = u32::try_from(undo.len()).map_err(|_| BlockFileError::Corrupt {
            path: self.undo_path(file),
            offset: 0,
            what: "undo record larger than 4 GiB".into(),
        })?;
        let start = match self.undo_end {
            Some((f, end)) if f == file => end,
            _ => match self.writer.as_ref().and_then(|w| w.queued_end(Kind::Undo, file)) {
                Some(end) => end,
                None => self.file_len(Kind::Undo, file)?,
            },
        };
        self.append(Kind::Undo, file, start, undo, Some(*block_hash))?;
        self.undo_end = Some((file, start + 8 + u64::from(len) + 32));
        Ok(FilePos {
            file,
            offset: start + 8,
            len,
        })
    }

    fn read_record(&self, kind: Kind, pos: FilePos, extra: usize) -> Result<Vec<u8>, BlockFileError> {
        let p = self.path(kind, pos.file);
        let corrupt = |what: &str| BlockFileError::Corrupt {
            path: p.clone(),
            offset: pos.offset,
            what: what.to_string(),
        };
        if pos.len > MAX_RECORD_SIZE || pos.offset < 8 {
            return Err(corrupt("record position out of range"));
        }
        let mut f = File::open(&p).map_err(|e| io_err(&p, e))?;
        f.seek(SeekFrom::Start(pos.offset - 8)).map_err(|e| io_err(&p, e))?;
        let mut header = [0u8; 8];
        f.read_exact(&mut header).map_err(|_| corrupt("truncated record header"))?;
        self.xor.apply(&mut header, pos.offset - 8);
        if header[..4] != self.magic {
            return Err(corrupt("bad magic"));
        }
        if u32::from_le_bytes([header[4], header[5], header[6], header[7]]) != pos.len {
            return Err(corrupt("length differs from index"));
        }
        let mut buf = vec![0u8; pos.len as usize + extra];
        f.read_exact(&mut buf).map_err(|_| corrupt("truncated record"))?;
        self.xor.apply(&mut buf, pos.offset);
        Ok(buf)
    }

    /// The payload of the record at `pos` while it waits for the writer thread (once it has
    /// left the queue it is in the file).
    fn queued(&self, kind: Kind, pos: FilePos, undo_of: Option<&BlockHash>) -> Option<Result<Vec<u8>, BlockFileError>> {
        let (payload, written_for) = self.writer.as_ref()?.queued(kind, pos.file, pos.offset.checked_sub(8)?)?;
        let corrupt = |what: &str| BlockFileError::Corrupt {
            path: self.path(kind, pos.file),
            offset: pos.offset,
            what: what.into(),
        };
        if payload.len() != pos.len as usize {
            return Some(Err(corrupt("length differs from index")));
        }
        if written_for.as_ref() != undo_of {
            // What the checksum would reject once the record is in the file.
            return Some(Err(corrupt("undo checksum mismatch")));
        }
        Some(Ok(payload.as_ref().clone()))
    }

    /// Tests: holds the writer thread (started if needed) before its next write until `gate`
    /// receives, so records stay queued.
    #[cfg(test)]
    pub fn hold_next_write(&mut self, gate: std::sync::mpsc::Receiver<()>) {
        self.hold_after(0, gate);
    }

    /// Tests: as [`Self::hold_next_write`], after `writes` more records are written.
    #[cfg(test)]
    pub fn hold_after(&mut self, writes: usize, gate: std::sync::mpsc::Receiver<()>) {
        self.writer().expect("start the block writer").hold_after(writes, gate);
    }

    /// Tests: records still waiting for the writer thread.
    #[cfg(test)]
    pub fn queued_records(&self) -> usize {
        self.writer.as_ref().map_or(0, |w| w.queued_records())
    }

    /// Tests: whether the writer waits at the gate of [`BlockFiles::hold_after`].
    #[cfg(test)]
    pub fn writer_holding(&self) -> bool {
        self.writer.as_ref().is_some_and(|w| w.holding())
    }

    /// Reads the serialized block at `pos`.
    pub fn read_block(&self, pos: FilePos) -> Result<Vec<u8>, BlockFileError> {
        if let Some(queued) = self.queued(Kind::Block, pos, None) {
            return queued;
        }
        self.read_record(Kind::Block, pos, 0)
    }

    /// Reads and checksums the undo record at `pos` written for `block_hash` (a queued record
    /// is the bytes this process computed, its checksum not yet made).
    pub fn read_undo(&self, pos: FilePos, block_hash: &BlockHash) -> Result<Vec<u8>, BlockFileError> {
        if let Some(queued) = self.queued(Kind::Undo, pos, Some(block_hash)) {
            return queued;
        }
        let mut buf = self.read_record(Kind::Undo, pos, 32)?;
        let split = buf.len() - 32;
        let checksum = buf.split_off(split);
        if checksum != undo_checksum(block_hash, &buf) {
            return Err(BlockFileError::Corrupt {
                path: self.undo_path(pos.file),
                offset: pos.offset,
                what: "undo checksum mismatch".into(),
            });
        }
        Ok(buf)
    }

    /// Makes every write so far durable (fsync), before the index that points at it is committed.
    pub fn sync(&mut self) -> Result<(), BlockFileError> {
        self.drain()?;
        for (kind, n) in std::mem::take(&mut self.unsynced) {
            let p = self.path(kind, n);
            let f = OpenOptions::new().append(true).open(&p).map_err(|e| io_err(&p, e))?;
            f.sync_all().map_err(|e| io_err(&p, e))?;
        }
        Ok(())
    }

    /// Reads every well-framed block record in file `n` from `offset` onward, truncating a torn
    /// tail (a partially written last record) so later appends start on a record boundary.
    pub fn scan_blocks_from(&mut self, n: u32, offset: u64) -> Result<Vec<(FilePos, Vec<u8>)>, BlockFileError> {
        self.drain()?;
        let p = self.block_path(n);
        let data = match std::fs::read(&p) {
            Ok(mut d) => {
                self.xor.apply(&mut d, 0);
                d
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&p, e)),
        };
        let mut out = Vec::new();
        let mut pos = offset as usize;
        while pos + 8 <= data.len() {
            if data[pos..pos + 4] != self.magic {
                break;
            }
            let len = u32::from_le_bytes([data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]]);
            let end = pos + 8 + len as usize;
            if len > MAX_RECORD_SIZE || end > data.len() {
                break;
            }
            out.push((
                FilePos {
                    file: n,
                    offset: (pos + 8) as u64,
                    len,
                },
                data[pos + 8..end].to_vec(),
            ));
            pos = end;
        }
        if pos < data.len() && pos as u64 >= offset {
            tracing::warn!(path = %p.display(), offset = pos, "truncating torn tail of block file");
            let f = OpenOptions::new().write(true).open(&p).map_err(|e| io_err(&p, e))?;
            f.set_len(pos as u64).map_err(|e| io_err(&p, e))?;
            f.sync_all().map_err(|e| io_err(&p, e))?;
            if n == self.current_file {
                self.current_len = pos as u64;
            }
        }
        Ok(out)
    }

    /// File number and length where the next block record will be appended.
    pub fn end_position(&self) -> (u32, u64) {
        (self.current_file, self.current_len)
    }

    /// Number of the file new blocks are appended to.
    pub fn current_file(&self) -> u32 {
        self.current_file
    }

    /// Names of block file `n` and its undo file that exist on disk, so a prune can report
    /// exactly which files it deletes.
    pub fn existing_pair_names(&self, n: u32) -> Vec<String> {
        self.drain_for_listing();
        [Kind::Block, Kind::Undo]
            .iter()
            .map(|k| self.path(*k, n))
            .filter(|p| p.exists())
            .filter_map(|p| p.file_name().and_then(|f| f.to_str()).map(String::from))
            .collect()
    }

    /// Deletes block file `n` and its undo file (pruning).
    pub fn remove_file_pair(&mut self, n: u32) -> Result<u64, BlockFileError> {
        // Queued records of the pair would recreate it, and the writer closes its files once
        // the queue is empty, so the space is freed.
        self.drain()?;
        if self.undo_end.is_some_and(|(f, _)| f == n) {
            self.undo_end = None;
        }
        let mut freed = 0;
        for kind in [Kind::Block, Kind::Undo] {
            let p = self.path(kind, n);
            if let Ok(m) = std::fs::metadata(&p) {
                freed += m.len();
                std::fs::remove_file(&p).map_err(|e| io_err(&p, e))?;
            }
            self.unsynced.remove(&(kind, n));
        }
        Ok(freed)
    }

    /// Bytes block file `n` and its undo file take (what deleting the pair frees).
    pub fn file_pair_size(&self, n: u32) -> u64 {
        self.drain_for_listing();
        [Kind::Block, Kind::Undo]
            .iter()
            .filter_map(|k| std::fs::metadata(self.path(*k, n)).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Numbers of the block and undo files present on disk (ascending), so pruning can find
    /// files an interrupted earlier prune left behind.
    pub fn file_numbers(&self) -> Vec<u32> {
        self.drain_for_listing();
        let mut v: Vec<u32> = std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let name = e.file_name().into_string().ok()?;
                        let num = name
                            .strip_prefix("blk")
                            .or_else(|| name.strip_prefix("rev"))?
                            .strip_suffix(".dat")?;
                        num.parse::<u32>().ok()
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Total bytes of all block and undo files.
    pub fn disk_usage(&self) -> u64 {
        self.drain_for_listing();
        std::fs::read_dir(&self.dir)
            .map(|rd| rd.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0)
    }
}

/// The checksum that follows an undo record: sha256d of the block hash and the payload.
pub(super) fn undo_checksum(block_hash: &BlockHash, undo: &[u8]) -> [u8; 32] {
    let mut engine = sha256d::Hash::engine();
    engine.input(block_hash.as_byte_array());
    engine.input(undo);
    sha256d::Hash::from_engine(engine).to_byte_array()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn write_read_scan_and_truncate() {
        for use_xor in [false, true] {
            write_read_scan_and_truncate_with(use_xor);
        }
    }

    fn write_read_scan_and_truncate_with(use_xor: bool) {
        let dir = tempfile::tempdir().unwrap();
        let magic = [1, 2, 3, 4];
        let mut f = BlockFiles::open(dir.path(), magic, 1000, use_xor).unwrap();
        let a = f.write_block(vec![9u8; 100]).unwrap();
        let b = f.write_block(vec![8u8; 200]).unwrap();
        assert_eq!(f.read_block(a).unwrap(), vec![9u8; 100]);
        assert_eq!(f.read_block(b).unwrap(), vec![8u8; 200]);
        let h = BlockHash::all_zeros();
        let u = f.write_undo(a.file, &h, b"undo".to_vec()).unwrap();
        assert_eq!(f.read_undo(u, &h).unwrap(), b"undo".to_vec());
        let other = BlockHash::from_byte_array([1; 32]);
        assert!(matches!(f.read_undo(u, &other), Err(BlockFileError::Corrupt { .. })));
        // Rolls to a new file past max size.
        let c = f.write_block(vec![7u8; 900]).unwrap();
        assert_eq!(c.file, 1);
        // Torn tail: append half a record, then scan truncates it.
        f.drain().unwrap();
        let p = f.block_path(1);
        let mut raw = OpenOptions::new().append(true).open(&p).unwrap();
        raw.write_all(&[1, 2, 3, 4, 100, 0, 0, 0, 5]).unwrap();
        drop(raw);
        let mut f = BlockFiles::open(dir.path(), magic, 1000, use_xor).unwrap();
        let found = f.scan_blocks_from(1, 0).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 908);
        let bad = FilePos {
            file: 0,
            offset: a.offset + 1,
            len: a.len,
        };
        assert!(f.read_block(bad).is_err());
    }

    #[test]
    fn queued_records_read_back_before_the_writer_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let magic = [0xfa, 0xbf, 0xb5, 0xda];
        let h = BlockHash::from_byte_array([3; 32]);
        let mut f = BlockFiles::open(dir.path(), magic, 1000, true).unwrap();
        let (release, gate) = std::sync::mpsc::channel();
        f.hold_next_write(gate);
        let a = f.write_block(vec![5u8; 120]).unwrap();
        let u = f.write_undo(a.file, &h, vec![6u8; 40]).unwrap();
        let b = f.write_block(vec![7u8; 60]).unwrap();
        assert_eq!((a.offset, b.offset, u.offset), (8, 136, 8), "positions assigned before the write");
        // The writer holds before its first write: nothing is in the files yet, all is readable.
        assert_eq!(f.queued_records(), 3);
        assert_eq!(std::fs::metadata(f.block_path(0)).map(|m| m.len()).unwrap_or(0), 0);
        assert_eq!(f.read_block(a).unwrap(), vec![5u8; 120]);
        assert_eq!(f.read_undo(u, &h).unwrap(), vec![6u8; 40]);
        assert_eq!(f.read_block(b).unwrap(), vec![7u8; 60]);
        release.send(()).unwrap();
        f.sync().unwrap();
        assert_eq!(f.queued_records(), 0);
        assert_eq!(std::fs::metadata(f.block_path(0)).unwrap().len(), 136 + 60);
        assert_eq!(std::fs::metadata(f.undo_path(0)).unwrap().len(), 8 + 40 + 32);
        // From the files now, with the checksum written by the thread; and after reopening.
        assert_eq!(f.read_undo(u, &h).unwrap(), vec![6u8; 40]);
        drop(f);
        let mut f = BlockFiles::open(dir.path(), magic, 1000, true).unwrap();
        assert_eq!(f.read_block(b).unwrap(), vec![7u8; 60]);
        assert_eq!(f.read_undo(u, &h).unwrap(), vec![6u8; 40]);
        // Appends after reopening continue where the files end.
        let u2 = f.write_undo(0, &h, vec![1u8; 10]).unwrap();
        assert_eq!(u2.offset, 8 + 40 + 32 + 8);
        assert_eq!(f.read_undo(u2, &h).unwrap(), vec![1u8; 10]);
    }

    #[test]
    fn a_failed_write_is_returned_by_every_later_call() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = BlockFiles::open(dir.path(), [1, 2, 3, 4], 1000, false).unwrap();
        f.write_block(vec![1u8; 10]).unwrap();
        f.sync().unwrap();
        // The next record's file cannot be created: a directory stands at its path.
        std::fs::create_dir(f.undo_path(0)).unwrap();
        let h = BlockHash::all_zeros();
        f.write_undo(0, &h, vec![2u8; 10]).unwrap();
        assert!(matches!(f.sync(), Err(BlockFileError::Io { .. })));
        assert!(matches!(f.write_block(vec![3u8; 10]), Err(BlockFileError::Io { .. })));
        assert!(matches!(f.sync(), Err(BlockFileError::Io { .. })));
    }

    #[test]
    fn obfuscated_files_hide_their_bytes_and_read_back_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let magic = [0xfa, 0xbf, 0xb5, 0xda];
        let block = vec![0x55u8; 300];
        let h = BlockHash::from_byte_array([7; 32]);
        let mut f = BlockFiles::open(dir.path(), magic, 1000, true).unwrap();
        let a = f.write_block(block.clone()).unwrap();
        let u = f.write_undo(a.file, &h, b"undo data".to_vec()).unwrap();
        f.sync().unwrap();
        let key = std::fs::read(dir.path().join("xor.dat")).unwrap();
        assert_eq!(key.len(), 8);
        assert_ne!(key, vec![0; 8]);
        let raw = std::fs::read(f.block_path(0)).unwrap();
        assert_ne!(raw[..4], magic, "magic stored in the clear");
        assert!(!raw.windows(16).any(|w| w == [0x55; 16]), "payload stored in the clear");
        // Un-XORing with the stored key (as Core's tests do) gives Core's plain framing.
        let plain: Vec<u8> = raw.iter().enumerate().map(|(i, b)| b ^ key[i % 8]).collect();
        assert_eq!(plain[..4], magic);
        assert_eq!(plain[8..], block[..]);
        drop(f);
        let mut f = BlockFiles::open(dir.path(), magic, 1000, true).unwrap();
        assert_eq!(f.read_block(a).unwrap(), block);
        assert_eq!(f.read_undo(u, &h).unwrap(), b"undo data".to_vec());
        assert_eq!(f.scan_blocks_from(0, 0).unwrap(), vec![(a, block.clone())]);
        // Appends after reopening continue the key stream at their file offset.
        let b = f.write_block(vec![1u8; 50]).unwrap();
        assert_eq!(f.read_block(b).unwrap(), vec![1u8; 50]);
        assert_eq!(f.scan_blocks_from(0, 0).unwrap().len(), 2);
        // -blocksxor=0 cannot open a directory obfuscated with a random key.
        drop(f);
        assert!(matches!(
            BlockFiles::open(dir.path(), magic, 1000, false),
            Err(BlockFileError::XorKey(XorKeyError::CannotDisable { .. }))
        ));
    }
}

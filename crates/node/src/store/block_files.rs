//! Append-only block (`blkNNNNN.dat`) and undo (`revNNNNN.dat`) files with Core's framing.
//!
//! Each record is `magic(4) | length(4, LE) | payload`. Undo records are followed by a
//! 32-byte checksum (sha256d of block hash || payload) so a torn or corrupt record is detected.
//! Every byte goes through the directory's [`XorKey`] on its way to and from disk, here and only
//! here.

use super::obfuscation::{XorKey, XorKeyError};
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::BlockHash;
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
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
        let prefix = match kind {
            Kind::Block => "blk",
            Kind::Undo => "rev",
        };
        self.dir.join(format!("{prefix}{n:05}.dat"))
    }

    fn file_len(&self, kind: Kind, n: u32) -> Result<u64, BlockFileError> {
        let p = self.path(kind, n);
        match std::fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io_err(&p, e)),
        }
    }

    fn append(&mut self, kind: Kind, n: u32, parts: &[&[u8]]) -> Result<u64, BlockFileError> {
        let p = self.path(kind, n);
        let mut f = OpenOptions::new().create(true).append(true).open(&p).map_err(|e| io_err(&p, e))?;
        let start = f.seek(SeekFrom::End(0)).map_err(|e| io_err(&p, e))?;
        let mut buf = Vec::with_capacity(parts.iter().map(|x| x.len()).sum());
        for part in parts {
            buf.extend_from_slice(part);
        }
        self.xor.apply(&mut buf, start);
        f.write_all(&buf).map_err(|e| io_err(&p, e))?;
        self.unsynced.insert((kind, n));
        Ok(start)
    }

    /// Appends a serialized block and returns where its payload lives.
    pub fn write_block(&mut self, block: &[u8]) -> Result<FilePos, BlockFileError> {
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
        let magic = self.magic;
        let start = self.append(Kind::Block, n, &[&magic, &len.to_le_bytes(), block])?;
        self.current_len = start + 8 + u64::from(len);
        Ok(FilePos {
            file: n,
            offset: start + 8,
            len,
        })
    }

    /// Appends undo data for `block_hash` to the undo file paired with block file `file`.
    pub fn write_undo(&mut self, file: u32, block_hash: &BlockHash, undo: &[u8]) -> Result<FilePos, BlockFileError> {
        let len = u32::try_from(undo.len()).map_err(|_| BlockFileError::Corrupt {
            path: self.undo_path(file),
            offset: 0,
            what: "undo record larger than 4 GiB".into(),
        })?;
        let checksum = undo_checksum(block_hash, undo);
        let magic = self.magic;
        let start = self.append(Kind::Undo, file, &[&magic, &len.to_le_bytes(), undo, &checksum])?;
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

    /// Reads the serialized block at `pos`.
    pub fn read_block(&self, pos: FilePos) -> Result<Vec<u8>, BlockFileError> {
        self.read_record(Kind::Block, pos, 0)
    }

    /// Reads and checksums the undo record at `pos` written for `block_hash`.
    pub fn read_undo(&self, pos: FilePos, block_hash: &BlockHash) -> Result<Vec<u8>, BlockFileError> {
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
        [Kind::Block, Kind::Undo]
            .iter()
            .map(|k| self.path(*k, n))
            .filter(|p| p.exists())
            .filter_map(|p| p.file_name().and_then(|f| f.to_str()).map(String::from))
            .collect()
    }

    /// Deletes block file `n` and its undo file (pruning).
    pub fn remove_file_pair(&mut self, n: u32) -> Result<u64, BlockFileError> {
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
        [Kind::Block, Kind::Undo]
            .iter()
            .filter_map(|k| std::fs::metadata(self.path(*k, n)).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Numbers of the block and undo files present on disk (ascending), so pruning can find
    /// files an interrupted earlier prune left behind.
    pub fn file_numbers(&self) -> Vec<u32> {
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
        std::fs::read_dir(&self.dir)
            .map(|rd| rd.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0)
    }
}

fn undo_checksum(block_hash: &BlockHash, undo: &[u8]) -> [u8; 32] {
    let mut data = Vec::with_capacity(32 + undo.len());
    data.extend_from_slice(block_hash.as_byte_array());
    data.extend_from_slice(undo);
    sha256d::Hash::hash(&data).to_byte_array()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let a = f.write_block(&[9u8; 100]).unwrap();
        let b = f.write_block(&[8u8; 200]).unwrap();
        assert_eq!(f.read_block(a).unwrap(), vec![9u8; 100]);
        assert_eq!(f.read_block(b).unwrap(), vec![8u8; 200]);
        let h = BlockHash::all_zeros();
        let u = f.write_undo(a.file, &h, b"undo").unwrap();
        assert_eq!(f.read_undo(u, &h).unwrap(), b"undo".to_vec());
        let other = BlockHash::from_byte_array([1; 32]);
        assert!(matches!(f.read_undo(u, &other), Err(BlockFileError::Corrupt { .. })));
        // Rolls to a new file past max size.
        let c = f.write_block(&[7u8; 900]).unwrap();
        assert_eq!(c.file, 1);
        // Torn tail: append half a record, then scan truncates it.
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
    fn obfuscated_files_hide_their_bytes_and_read_back_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let magic = [0xfa, 0xbf, 0xb5, 0xda];
        let block = vec![0x55u8; 300];
        let h = BlockHash::from_byte_array([7; 32]);
        let mut f = BlockFiles::open(dir.path(), magic, 1000, true).unwrap();
        let a = f.write_block(&block).unwrap();
        let u = f.write_undo(a.file, &h, b"undo data").unwrap();
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
        let b = f.write_block(&[1u8; 50]).unwrap();
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

//! One streaming reader for block files (`import`, `-loadblock`, benches): hex lines (one block
//! per line) or Core's blk framing (magic, little-endian length, block). It holds one record at a
//! time, and a record longer than any block can be is refused before it is read, so a hostile or
//! corrupt file cannot make the node use more memory than one block.

use super::ImportError;
use crate::store::block_files::MAX_RECORD_SIZE;
use bitcoin::consensus::deserialize;
use bitcoin::hex::FromHex;
use bitcoin::Block;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The detected input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One hex-encoded block per line.
    HexLines,
    /// Core's blk*.dat framing: magic, LE length, block.
    Framed,
}

/// Longest hex line accepted: a framed record's limit, hex-encoded, plus a line ending.
const MAX_LINE: u64 = 2 * MAX_RECORD_SIZE as u64 + 2;

/// Reads a block file record by record; as an iterator it yields `(record number, block)`,
/// record numbers being 1-based line numbers (hex) or frame numbers (blk), blank lines skipped.
pub struct BlockFileReader {
    path: PathBuf,
    reader: BufReader<File>,
    format: Format,
    record: u64,
    bytes: u64,
    line: Vec<u8>,
}

impl BlockFileReader {
    /// Opens `path` and detects its format from the first bytes: a known network magic means
    /// blk framing, anything else hex lines.
    pub fn open(path: &Path) -> Result<Self, ImportError> {
        let io = |e| ImportError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let mut reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(io)?);
        let head = reader.fill_buf().map_err(io)?;
        let framed = head.len() >= 4
            && [
                bitcoin::Network::Bitcoin,
                bitcoin::Network::Testnet,
                bitcoin::Network::Testnet4,
                bitcoin::Network::Signet,
                bitcoin::Network::Regtest,
            ]
            .iter()
            .any(|n| head[..4] == n.magic().to_bytes());
        Ok(BlockFileReader {
            path: path.to_path_buf(),
            reader,
            format: if framed { Format::Framed } else { Format::HexLines },
            record: 0,
            bytes: 0,
            line: Vec::new(),
        })
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Bytes consumed so far (for progress as a fraction of the file size).
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    fn malformed(&self, what: impl Into<String>) -> ImportError {
        ImportError::Malformed {
            path: self.path.clone(),
            record: self.record,
            what: what.into(),
        }
    }

    fn io(&self, source: std::io::Error) -> ImportError {
        ImportError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Reads the next line into `self.line` (bounded); false at the end of the file.
    fn read_line(&mut self) -> Result<bool, ImportError> {
        self.line.clear();
        let n = (&mut self.reader)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut self.line)
            .map_err(|e| self.io(e))?;
        if n == 0 {
            return Ok(false);
        }
        self.record += 1;
        self.bytes += n as u64;
        if n as u64 > MAX_LINE {
            return Err(self.malformed(format!("line longer than {MAX_LINE} bytes")));
        }
        Ok(true)
    }

    /// Reads the next frame header; its payload length, or None at the end of the file.
    fn read_frame_header(&mut self) -> Result<Option<u32>, ImportError> {
        let mut header = [0u8; 8];
        match self.reader.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(self.io(e)),
        }
        self.record += 1;
        self.bytes += 8;
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_RECORD_SIZE {
            return Err(self.malformed(format!("frame length {len} too large")));
        }
        Ok(Some(len))
    }

    /// The next record's serialized block, or None at the end of the file.
    pub fn next_raw(&mut self) -> Result<Option<Vec<u8>>, ImportError> {
        match self.format {
            Format::HexLines => loop {
                if !self.read_line()? {
                    return Ok(None);
                }
                let Ok(text) = std::str::from_utf8(&self.line) else {
                    return Err(self.malformed("not hex"));
                };
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                return match Vec::<u8>::from_hex(text) {
                    Ok(raw) => Ok(Some(raw)),
                    Err(_) => Err(self.malformed("not hex")),
                };
            },
            Format::Framed => {
                let Some(len) = self.read_frame_header()? else { return Ok(None) };
                let mut raw = vec![0u8; len as usize];
                self.reader.read_exact(&mut raw).map_err(|_| self.malformed("truncated frame"))?;
                self.bytes += u64::from(len);
                Ok(Some(raw))
            }
        }
    }

    /// Skips the next record without decoding it (hex: a non-blank line); false at the end.
    pub fn skip_record(&mut self) -> Result<bool, ImportError> {
        match self.format {
            Format::HexLines => loop {
                if !self.read_line()? {
                    return Ok(false);
                }
                if self.line.iter().any(|b| !b.is_ascii_whitespace()) {
                    return Ok(true);
                }
            },
            Format::Framed => {
                let Some(len) = self.read_frame_header()? else { return Ok(false) };
                // Relative to the buffer: a plain seek would drop the buffered megabyte and read
                // it again for every record.
                self.reader.seek_relative(i64::from(len)).map_err(|e| self.io(e))?;
                self.bytes += u64::from(len);
                Ok(true)
            }
        }
    }

    /// The number of records (non-blank lines, or frames) left in the file, read without
    /// decoding; the reader is consumed.
    pub fn count_records(mut self) -> Result<u64, ImportError> {
        let mut n = 0u64;
        while self.skip_record()? {
            n += 1;
        }
        Ok(n)
    }
}

/// A decoded record: its number, the block and the bytes it was decoded from.
pub type RawRecord = (u64, Block, Vec<u8>);

impl BlockFileReader {
    /// The next record decoded, with the bytes it was decoded from; None at the end of the file.
    pub fn next_with_raw(&mut self) -> Option<Result<RawRecord, ImportError>> {
        let raw = match self.next_raw() {
            Ok(Some(raw)) => raw,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        Some(match deserialize(&raw) {
            Ok(b) => Ok((self.record, b, raw)),
            Err(e) => Err(self.malformed(format!("not a block: {e}"))),
        })
    }
}

impl Iterator for BlockFileReader {
    type Item = Result<(u64, Block), ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_with_raw().map(|r| r.map(|(record, block, _)| (record, block)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::consensus::serialize;
    use bitcoin::hex::DisplayHex;
    use std::io::Write;

    fn genesis() -> Block {
        bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest)
    }

    #[test]
    fn both_formats_yield_the_same_blocks_with_record_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let raw = serialize(&genesis());
        let hex = dir.path().join("h.txt");
        std::fs::write(&hex, format!("{}\n\n{}\n", raw.to_lower_hex_string(), raw.to_lower_hex_string())).unwrap();
        let framed = dir.path().join("b.dat");
        let mut f = File::create(&framed).unwrap();
        for _ in 0..2 {
            f.write_all(&bitcoin::Network::Regtest.magic().to_bytes()).unwrap();
            f.write_all(&(raw.len() as u32).to_le_bytes()).unwrap();
            f.write_all(&raw).unwrap();
        }
        drop(f);
        let h: Vec<(u64, Block)> = BlockFileReader::open(&hex).unwrap().map(Result::unwrap).collect();
        assert_eq!(h.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![1, 3]);
        let b: Vec<(u64, Block)> = BlockFileReader::open(&framed).unwrap().map(Result::unwrap).collect();
        assert_eq!(b.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![1, 2]);
        assert!(h.iter().chain(&b).all(|(_, blk)| *blk == genesis()));
        assert_eq!(BlockFileReader::open(&hex).unwrap().count_records().unwrap(), 2);
        let r = BlockFileReader::open(&framed).unwrap();
        assert_eq!(r.format(), Format::Framed);
        assert_eq!(r.count_records().unwrap(), 2);
    }

    #[test]
    fn oversized_records_are_refused_before_they_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let framed = dir.path().join("b.dat");
        let mut data = bitcoin::Network::Regtest.magic().to_bytes().to_vec();
        data.extend_from_slice(&(MAX_RECORD_SIZE + 1).to_le_bytes());
        std::fs::write(&framed, &data).unwrap();
        let err = BlockFileReader::open(&framed).unwrap().next().unwrap().unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
        // A hex "line" with no end: refused after MAX_LINE bytes, not read whole.
        let hex = dir.path().join("h.txt");
        let f = File::create(&hex).unwrap();
        f.set_len(MAX_LINE + 10).unwrap();
        let mut r = BlockFileReader::open(&hex).unwrap();
        let err = r.next().unwrap().unwrap_err();
        assert!(err.to_string().contains("line longer than"), "{err}");
        assert!(r.bytes_read() <= MAX_LINE + 1);
    }
}

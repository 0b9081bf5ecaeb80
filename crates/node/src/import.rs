//! Importing blocks from a file: hex lines (one block per line) or blk-framed raw blocks.

use crate::chain::{BlockOutcome, ChainError, ChainManager};
use bitcoin::consensus::deserialize;
use bitcoin::Block;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why an import stopped.
#[derive(Debug, Error)]
pub enum ImportError {
    /// The input file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The input file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A record in the input is malformed.
    #[error("{path}: record {record}: {what}")]
    Malformed {
        /// The input file.
        path: PathBuf,
        /// 1-based record (line or frame) number.
        record: u64,
        /// What was wrong.
        what: String,
    },
    /// A block broke a consensus rule.
    #[error("{path}: record {record}: block {hash} rejected: {reason}")]
    Invalid {
        /// The input file.
        path: PathBuf,
        /// 1-based record number.
        record: u64,
        /// The block hash.
        hash: String,
        /// Core's reject reason and detail.
        reason: String,
    },
    /// The chain engine failed (storage).
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// Totals of a finished import.
#[derive(Debug, Clone, Default)]
pub struct ImportSummary {
    /// Blocks newly stored.
    pub accepted: u64,
    /// Blocks we already had.
    pub duplicates: u64,
    /// Transactions in newly stored blocks.
    pub transactions: u64,
    /// Inputs in newly stored blocks.
    pub inputs: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// The detected input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One hex-encoded block per line.
    HexLines,
    /// Core's blk*.dat framing: magic, LE length, block.
    Framed,
}

/// Detects the format from the first bytes: a known network magic means framed, else hex lines.
pub fn detect_format(path: &Path) -> Result<Format, ImportError> {
    let mut f = File::open(path).map_err(|e| ImportError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut head = [0u8; 4];
    let n = f.read(&mut head).map_err(|e| ImportError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let magics: Vec<[u8; 4]> = [
        bitcoin::Network::Bitcoin,
        bitcoin::Network::Testnet,
        bitcoin::Network::Testnet4,
        bitcoin::Network::Signet,
        bitcoin::Network::Regtest,
    ]
    .iter()
    .map(|n| n.magic().to_bytes())
    .collect();
    if n == 4 && magics.contains(&head) {
        Ok(Format::Framed)
    } else {
        Ok(Format::HexLines)
    }
}

/// Progress of an import: height/target from the records left in the file, ETA from the bytes.
struct Progress {
    meter: crate::progress::ProgressMeter,
    total_bytes: u64,
    total_records: u64,
}

impl Progress {
    /// `last` is the block of the last record: the target is its height plus the records left
    /// (so re-importing known blocks still aims at the right height).
    fn snapshot(
        &self,
        chain: &ChainManager,
        summary: &ImportSummary,
        bytes_done: u64,
        records_done: u64,
        last: Option<&Block>,
    ) -> crate::progress::Snapshot {
        let height = u64::from(chain.height());
        let base = last
            .and_then(|b| chain.entry(&b.block_hash()))
            .map(|e| u64::from(e.height))
            .unwrap_or(height);
        crate::progress::Snapshot {
            height,
            target: height.max(base + self.total_records.saturating_sub(records_done)),
            blocks: summary.accepted,
            transactions: summary.transactions,
            cache_bytes: chain.cache_usage(),
            fraction: (self.total_bytes > 0).then(|| bytes_done as f64 / self.total_bytes as f64),
        }
    }

    fn tick(&mut self, chain: &ChainManager, summary: &ImportSummary, bytes_done: u64, records_done: u64, last: &Block) {
        if self.meter.due() {
            let s = self.snapshot(chain, summary, bytes_done, records_done, Some(last));
            self.meter.tick(|| s);
        }
    }
}

/// Counts the records (non-empty lines, or frames) of a block file without decoding them.
pub fn count_records(path: &Path, format: Format) -> Result<u64, ImportError> {
    let io = |e| ImportError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(io)?);
    let mut n = 0u64;
    match format {
        Format::HexLines => {
            let mut line = Vec::new();
            loop {
                line.clear();
                if reader.read_until(b'\n', &mut line).map_err(io)? == 0 {
                    break;
                }
                if line.iter().any(|b| !b.is_ascii_whitespace()) {
                    n += 1;
                }
            }
        }
        Format::Framed => {
            use std::io::{Seek, SeekFrom};
            let mut header = [0u8; 8];
            loop {
                match reader.read_exact(&mut header) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(io(e)),
                }
                n += 1;
                let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
                reader.seek(SeekFrom::Current(i64::from(len))).map_err(io)?;
            }
        }
    }
    Ok(n)
}

fn handle(chain: &mut ChainManager, block: &Block, path: &Path, record: u64, summary: &mut ImportSummary) -> Result<(), ImportError> {
    if block.block_hash() == chain.params().genesis().block_hash() {
        return Ok(());
    }
    match chain.process_block(block)? {
        BlockOutcome::Accepted { .. } => {
            summary.accepted += 1;
            summary.transactions += block.txdata.len() as u64;
            summary.inputs += block.txdata.iter().skip(1).map(|t| t.input.len() as u64).sum::<u64>();
            Ok(())
        }
        BlockOutcome::Duplicate => {
            summary.duplicates += 1;
            Ok(())
        }
        BlockOutcome::Orphan => Err(ImportError::Invalid {
            path: path.to_path_buf(),
            record,
            hash: block.block_hash().to_string(),
            reason: "prev-blk-not-found".into(),
        }),
        BlockOutcome::Invalid(r) => Err(ImportError::Invalid {
            path: path.to_path_buf(),
            record,
            hash: block.block_hash().to_string(),
            reason: r.to_string(),
        }),
    }
}

/// Imports every block of `path` into `chain`, logging progress every `progress_interval`.
pub fn import_file(chain: &mut ChainManager, path: &Path, progress_interval: Duration) -> Result<ImportSummary, ImportError> {
    let io = |e| ImportError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let total_bytes = std::fs::metadata(path).map_err(io)?.len();
    let format = detect_format(path)?;
    let start = Instant::now();
    let total_records = count_records(path, format)?;
    let mut progress = Progress {
        meter: crate::progress::ProgressMeter::new("import", progress_interval),
        total_bytes,
        total_records,
    };
    let mut non_empty = 0u64;
    let mut summary = ImportSummary::default();
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(io)?);
    let mut bytes_done = 0u64;
    let mut record = 0u64;
    match format {
        Format::HexLines => {
            let mut line = String::new();
            loop {
                line.clear();
                let n = reader.read_line(&mut line).map_err(io)?;
                if n == 0 {
                    break;
                }
                bytes_done += n as u64;
                record += 1;
                let text = line.trim();
                if text.is_empty() {
                    continue;
                }
                non_empty += 1;
                let raw = hex_decode(text).ok_or_else(|| ImportError::Malformed {
                    path: path.to_path_buf(),
                    record,
                    what: "not hex".into(),
                })?;
                let block: Block = deserialize(&raw).map_err(|e| ImportError::Malformed {
                    path: path.to_path_buf(),
                    record,
                    what: format!("not a block: {e}"),
                })?;
                handle(chain, &block, path, record, &mut summary)?;
                progress.tick(chain, &summary, bytes_done, non_empty, &block);
            }
        }
        Format::Framed => loop {
            let mut header = [0u8; 8];
            match reader.read_exact(&mut header) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(io(e)),
            }
            record += 1;
            let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
            if len > crate::store::block_files::MAX_RECORD_SIZE {
                return Err(ImportError::Malformed {
                    path: path.to_path_buf(),
                    record,
                    what: format!("frame length {len} too large"),
                });
            }
            let mut raw = vec![0u8; len as usize];
            reader.read_exact(&mut raw).map_err(|_| ImportError::Malformed {
                path: path.to_path_buf(),
                record,
                what: "truncated frame".into(),
            })?;
            bytes_done += 8 + u64::from(len);
            let block: Block = deserialize(&raw).map_err(|e| ImportError::Malformed {
                path: path.to_path_buf(),
                record,
                what: format!("not a block: {e}"),
            })?;
            handle(chain, &block, path, record, &mut summary)?;
            progress.tick(chain, &summary, bytes_done, record, &block);
        },
    }
    let last = progress.snapshot(chain, &summary, bytes_done, total_records, None);
    progress.meter.finish(&last);
    summary.elapsed = start.elapsed();
    Ok(summary)
}

/// Decodes a hex string, or `None` if it is not valid hex.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return None;
    }
    let val = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    b.chunks(2).map(|p| Some(val(p[0])? << 4 | val(p[1])?)).collect()
}

/// Reads every block of a hex-lines or blk-framed file into memory (for `-loadblock`).
pub fn read_all_blocks(path: &Path) -> Result<Vec<Block>, ImportError> {
    let io = |e| ImportError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let data = std::fs::read(path).map_err(io)?;
    let mut out = Vec::new();
    match detect_format(path)? {
        Format::HexLines => {
            let text = String::from_utf8_lossy(&data);
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                let record = i as u64 + 1;
                let raw = hex_decode(line).ok_or_else(|| ImportError::Malformed {
                    path: path.to_path_buf(),
                    record,
                    what: "not hex".into(),
                })?;
                out.push(deserialize(&raw).map_err(|e| ImportError::Malformed {
                    path: path.to_path_buf(),
                    record,
                    what: format!("not a block: {e}"),
                })?);
            }
        }
        Format::Framed => {
            let mut pos = 0usize;
            let mut record = 0u64;
            while pos + 8 <= data.len() {
                record += 1;
                let len = u32::from_le_bytes([data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]]) as usize;
                let end = pos + 8 + len;
                if end > data.len() {
                    return Err(ImportError::Malformed {
                        path: path.to_path_buf(),
                        record,
                        what: "truncated frame".into(),
                    });
                }
                out.push(deserialize(&data[pos + 8..end]).map_err(|e| ImportError::Malformed {
                    path: path.to_path_buf(),
                    record,
                    what: format!("not a block: {e}"),
                })?);
                pos = end;
            }
        }
    }
    Ok(out)
}

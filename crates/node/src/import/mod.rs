//! Importing blocks from a file: hex lines (one block per line) or blk-framed raw blocks.

mod reader;

pub use reader::{BlockFileReader, Format};

use crate::chain::{BlockOutcome, ChainError, ChainManager, FlushReason};
use crate::params::ChainParams;
use crate::validation::prepared::PreparedBlock;
use bitcoin::Block;
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
    /// Flushes of the coins cache because it was full (not the periodic or final ones).
    pub cache_flushes: u64,
    /// Wall time.
    pub elapsed: Duration,
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

/// Processes one record's block; hands it back (to be freed off this thread).
fn handle(
    chain: &mut ChainManager,
    prepared: PreparedBlock,
    path: &Path,
    record: u64,
    summary: &mut ImportSummary,
) -> Result<PreparedBlock, ImportError> {
    let hash = prepared.facts.hash;
    if hash == chain.params().genesis_hash() {
        return Ok(prepared);
    }
    let invalid = |reason: String| ImportError::Invalid {
        path: path.to_path_buf(),
        record,
        hash: hash.to_string(),
        reason,
    };
    let (outcome, back) = chain.process_prepared(prepared)?;
    match outcome {
        BlockOutcome::Accepted { .. } => {
            let block = &back.block;
            summary.accepted += 1;
            summary.transactions += block.txdata.len() as u64;
            summary.inputs += block.txdata.iter().skip(1).map(|t| t.input.len() as u64).sum::<u64>();
            Ok(back)
        }
        BlockOutcome::Duplicate => {
            summary.duplicates += 1;
            Ok(back)
        }
        BlockOutcome::Orphan => Err(invalid("prev-blk-not-found".into())),
        BlockOutcome::Invalid(r) => Err(invalid(r.to_string())),
    }
}

/// Decoded blocks the import's reader thread may hold ahead of block connection.
const READ_AHEAD: usize = 4;

/// One record from the reader thread: its number, the block with its context-free checks done,
/// and the file bytes read so far.
type ReadItem = Result<(u64, PreparedBlock, u64), ImportError>;

/// Imports every block of `path` into `chain`, logging progress every `progress_interval`.
///
/// A reader thread reads and decodes the next blocks and runs their context-free checks
/// (Core's CheckBlock, txids, witness commitment; at most [`READ_AHEAD`] wait) and frees the
/// connected ones, so that work overlaps block connection instead of leaving a core idle. The
/// chain manager reuses those results, so each block's outcome is the one `process_block` gives.
pub fn import_file(chain: &mut ChainManager, path: &Path, progress_interval: Duration) -> Result<ImportSummary, ImportError> {
    let total_bytes = std::fs::metadata(path)
        .map_err(|e| ImportError::Io {
            path: path.to_path_buf(),
            source: e,
        })?
        .len();
    let start = Instant::now();
    let reader = BlockFileReader::open(path)?;
    let counter = BlockFileReader::open(path)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<ReadItem>(READ_AHEAD);
    // Connected blocks (with the interpreter's parse of them) go back to the reader thread to be
    // freed there; at most READ_AHEAD + 1 are ever out of it, so this channel stays as small as
    // the other.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<PreparedBlock>();
    let params = chain.params().clone();
    std::thread::scope(|s| {
        s.spawn(move || read_ahead(reader, &params, tx, done_rx));
        // The record count (for the progress target) runs here while the reader starts.
        let total_records = counter.count_records()?;
        let mut progress = Progress {
            meter: crate::progress::ProgressMeter::new("import", progress_interval),
            total_bytes,
            total_records,
        };
        let mut summary = ImportSummary::default();
        let mut done = 0u64;
        let mut bytes_read = 0u64;
        // `rx` is owned by this closure: on an early return it is dropped before the scope joins
        // the reader, whose next send then fails and ends it.
        for next in rx {
            let (record, prepared, bytes) = next?;
            bytes_read = bytes;
            done += 1;
            let back = handle(chain, prepared, path, record, &mut summary)?;
            take_chain_reports(chain, &mut summary);
            progress.tick(chain, &summary, bytes_read, done, &back.block);
            // If the reader has finished, the block is freed here instead.
            let _ = done_tx.send(back);
        }
        let last = progress.snapshot(chain, &summary, bytes_read, total_records, None);
        progress.meter.finish(&last);
        summary.elapsed = start.elapsed();
        Ok(summary)
    })
}

/// An import has no one to hand the chain's per-block reports to (no modules, no mempool, no
/// metrics), so they are taken as they come instead of piling up one per block (120 bytes each,
/// 108 MB over mainnet's 900,000 blocks): cache-full flushes are counted, operator warnings logged.
fn take_chain_reports(chain: &mut ChainManager, summary: &mut ImportSummary) {
    drop(chain.take_notifications());
    let full = chain
        .take_flush_reports()
        .iter()
        .filter(|r| r.reason == FlushReason::CacheFull)
        .count();
    summary.cache_flushes += full as u64;
    for w in chain.take_warnings() {
        tracing::warn!("{w}");
    }
}

/// The reader thread: decodes records in order into `tx` until the end of the file, the first
/// error or a closed receiver, freeing the blocks that come back on `done`.
fn read_ahead(
    mut reader: BlockFileReader,
    params: &ChainParams,
    tx: std::sync::mpsc::SyncSender<ReadItem>,
    done: std::sync::mpsc::Receiver<PreparedBlock>,
) {
    while let Some(item) = reader.next_with_raw() {
        let failed = item.is_err();
        let item = item.map(|(record, block, raw)| (record, PreparedBlock::new(block, raw, params), reader.bytes_read()));
        if tx.send(item).is_err() || failed {
            return;
        }
        while let Ok(block) = done.try_recv() {
            drop(block);
        }
    }
}

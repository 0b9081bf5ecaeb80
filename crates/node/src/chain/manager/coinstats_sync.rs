//! The chain engine's side of the coin statistics index (`-coinstatsindex`): opening its own
//! database (`indexes/coinstatsindex/db`), catching up with the active chain when the node opens
//! (rewinding first, through undo data, from a best block a reorganisation left behind),
//! following connected and disconnected blocks, writing it after the chainstate, and lookups.
//!
//! Consistency: records are keyed by block hash and depend only on the chain up to their block,
//! so they may be written at any time (a background flush writes them at its freeze). The best
//! block and the running MuHash are written only after a chainstate commit made that block
//! durable; after a crash the index resumes from the best block it wrote and catches up.

use super::*;
use crate::chain::coinstatsindex::{CoinStatsIndex, CoinStatsRecord, CoinTotals};
use crate::chainstate::muhash::MuHash3072;
use crate::store::index_db::{IndexBatch, IndexDb};

/// Metadata key: the last block the stored index describes.
const META_BEST: &str = "best_block";
/// Metadata key: the running MuHash state at that block (numerator, denominator).
const META_MUHASH: &str = "muhash";
/// Log progress every this many blocks while building the index.
const PROGRESS_EVERY: u32 = 10_000;
/// A catch-up writes its records, best block and MuHash (a checkpoint) every this many blocks.
const WRITE_EVERY: u32 = 2_000;

/// The index's database directory under the network directory (Core's layout).
pub fn coinstats_dir(net_dir: &Path) -> PathBuf {
    net_dir.join("indexes").join("coinstatsindex").join("db")
}

impl ChainManager {
    /// Opens the index in `net_dir` (wiped first when `wipe`, as `-reindex` does) and brings it
    /// to the active tip.
    pub(super) fn open_coinstats(&mut self, net_dir: &Path, wipe: bool) -> Result<(), ChainError> {
        let db = IndexDb::open(&coinstats_dir(net_dir), wipe)?;
        let best = db
            .get_meta(META_BEST)?
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .map(BlockHash::from_byte_array);
        self.coinstats_db = Some(db);
        let fresh = || CoinStatsIndex::new(BlockHash::all_zeros(), MuHash3072::default(), CoinTotals::default());
        let mut index = match best {
            None => fresh(),
            Some(best) => match self.stored_coinstats_state(best)? {
                Some(i) => i,
                None => {
                    tracing::warn!(%best, "coin statistics index best block unknown: rebuilding the index");
                    fresh()
                }
            },
        };
        // Rewind from a best block off the active chain (a reorganisation while the index was
        // off, or one not yet flushed before a crash) to the fork point.
        while index.best != BlockHash::all_zeros() && !self.is_active(&index.best) {
            if !self.rewind_coinstats(&mut index)? {
                tracing::warn!(best = %index.best, "cannot rewind the coin statistics index: rebuilding it");
                index = fresh();
            }
        }
        self.coinstats = Some(index);
        self.sync_coinstats()
    }

    /// The stored state at `best`: its record's totals and the stored MuHash, which must match
    /// the record; `None` when the block or its record is unknown or they disagree.
    fn stored_coinstats_state(&self, best: BlockHash) -> Result<Option<CoinStatsIndex>, ChainError> {
        if !self.index.contains_key(&best) {
            return Ok(None);
        }
        let Some(db) = &self.coinstats_db else { return Ok(None) };
        let muhash = db.get_meta(META_MUHASH)?.and_then(|b| MuHash3072::decode(&b));
        let record = db.get(&best.to_byte_array())?.and_then(|b| CoinStatsRecord::decode(&b));
        Ok(match (muhash, record) {
            (Some(m), Some(r)) if m.finalize() == r.muhash => Some(CoinStatsIndex::new(best, m, r.totals)),
            _ => None,
        })
    }

    /// Takes the index's best block out of its state; false when its data, undo data or its
    /// parent's record is gone, or the state does not match.
    fn rewind_coinstats(&mut self, index: &mut CoinStatsIndex) -> Result<bool, ChainError> {
        let Some(e) = self.index.get(&index.best).cloned() else {
            return Ok(false);
        };
        if e.height == 0 {
            return Ok(false);
        }
        let parent_hash = e.header.prev_blockhash;
        let (Some(block), Some(undo), Some(parent)) = (
            self.read_block(&e.hash)?,
            self.read_undo(&e.hash)?,
            self.coinstats_record(&parent_hash)?,
        ) else {
            return Ok(false);
        };
        Ok(index.disconnect(e.height, &block, &undo.txs, parent_hash, parent))
    }

    /// Connects the active blocks the index lacks, from the block after its best one up to the
    /// tip; blocks need their undo data (spent coins).
    pub(super) fn sync_coinstats(&mut self) -> Result<(), ChainError> {
        let Some(index) = &self.coinstats else { return Ok(()) };
        let start = if index.best == BlockHash::all_zeros() {
            0
        } else {
            self.index.get(&index.best).map_or(0, |e| e.height + 1)
        };
        let tip = self.height();
        if start <= tip {
            tracing::info!(from = start, to = tip, "building the coin statistics index");
            // The active chain durable first, so the index's checkpoints below may name any
            // of its blocks: a build stopped by a kill resumes from the last one.
            self.flush(FlushReason::Manual)?;
        }
        for height in start..=tip {
            let (hash, block, undo) = self.active_block_with_undo(height, "coin statistics index")?;
            self.coinstats_connect(hash, height, &block, &undo);
            if height % WRITE_EVERY == 0 {
                self.write_coinstats(true)?;
            }
            if height % PROGRESS_EVERY == 0 && height > 0 {
                tracing::info!(height, tip, "coin statistics index progress");
            }
        }
        self.flush(FlushReason::Manual)?;
        tracing::info!(height = tip, "coin statistics index in sync");
        Ok(())
    }

    /// Adds a block joining the active chain at `height` (with its undo data) to the index.
    pub(super) fn coinstats_connect(&mut self, hash: BlockHash, height: u32, block: &Block, undo: &BlockUndo) {
        let subsidy = self.params.subsidy(height);
        if let Some(c) = &mut self.coinstats {
            c.connect(hash, height, block, &undo.txs, subsidy);
        }
    }

    /// Takes the disconnected tip `block` (at `height`, spending `undo`) out of the index.
    pub(super) fn coinstats_disconnect(&mut self, height: u32, block: &Block, undo: &BlockUndo) -> Result<(), ChainError> {
        if self.coinstats.is_none() {
            return Ok(());
        }
        let parent_hash = block.header.prev_blockhash;
        let parent = self
            .coinstats_record(&parent_hash)?
            .ok_or_else(|| self.corrupt(format!("coin statistics index has no record of {parent_hash}")))?;
        if let Some(c) = &mut self.coinstats {
            if !c.disconnect(height, block, &undo.txs, parent_hash, parent) {
                return Err(ChainError::Corrupt(format!(
                    "coin statistics index: reverting block {} does not give its parent's MuHash",
                    block.block_hash()
                )));
            }
        }
        Ok(())
    }

    /// Writes the pending records; with `state`, also the best block and the running MuHash
    /// (only once the chainstate commit made that block durable).
    pub(super) fn write_coinstats(&mut self, state: bool) -> Result<(), ChainError> {
        let (Some(c), Some(db)) = (&mut self.coinstats, &self.coinstats_db) else {
            return Ok(());
        };
        let mut batch = IndexBatch {
            records: c.writes(),
            meta: Vec::new(),
        };
        if state && c.best != BlockHash::all_zeros() {
            batch.meta.push((META_BEST, c.best.to_byte_array().to_vec()));
            batch.meta.push((META_MUHASH, c.muhash.encode()));
        }
        if batch.records.is_empty() && batch.meta.is_empty() {
            return Ok(());
        }
        db.commit(&batch)?;
        c.mark_written();
        Ok(())
    }

    /// The index's record of block `hash`; `None` when the index is off or has none for it.
    pub fn coinstats_record(&self, hash: &BlockHash) -> Result<Option<CoinStatsRecord>, ChainError> {
        if let Some(r) = self.coinstats.as_ref().and_then(|c| c.pending(hash)) {
            return Ok(Some(*r));
        }
        let Some(db) = &self.coinstats_db else { return Ok(None) };
        match db.get(&hash.to_byte_array())? {
            Some(b) => Ok(Some(CoinStatsRecord::decode(&b).ok_or_else(|| {
                ChainError::Corrupt(format!("{}: coin statistics record of {hash}", db.path().display()))
            })?)),
            None => Ok(None),
        }
    }

    /// Height of the last block the coin statistics index covers; `None` when it is off.
    pub fn coinstats_index_height(&self) -> Option<u32> {
        let best = self.coinstats.as_ref()?.best;
        self.index.get(&best).map(|e| e.height)
    }
}

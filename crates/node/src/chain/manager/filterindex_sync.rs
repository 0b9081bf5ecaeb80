//! The chain engine's side of the basic block filter index: computing a filter when a block is
//! connected, catching up with the active chain when the node opens, and lookups.

use super::*;
use crate::chain::filterindex::{basic_filter, FilterIds, FilterRecord, PendingFilters};
use bitcoin::bip158::FilterHeader;

/// Metadata key: the last block whose filter the index computed.
pub(super) const META_FILTERS_BEST: &str = "blockfilter_best";

/// Log progress every this many blocks while building the index.
const PROGRESS_EVERY: u32 = 10_000;

impl ChainManager {
    /// Computes and records the filter of `block` (just connected, spending `spent`).
    pub(super) fn record_filter(&mut self, hash: BlockHash, block: &Block, spent: &[Vec<TxOut>]) -> Result<(), ChainError> {
        let prev_header = if block.header.prev_blockhash == BlockHash::all_zeros() {
            FilterHeader::all_zeros()
        } else {
            let prev = block.header.prev_blockhash;
            self.filter_ids(&prev)?
                .ok_or_else(|| self.corrupt(format!("no block filter for {prev}, parent of {hash}")))?
                .header
        };
        let record = basic_filter(block, spent, &prev_header);
        if let Some(f) = &mut self.filters {
            f.add(hash, record);
        }
        Ok(())
    }

    /// Computes the filters the index lacks, from the block after the last active block it
    /// processed (its fork point with the active chain if a reorganisation happened while the
    /// index was off) up to the tip. Blocks need their undo data (spent outputs).
    pub(super) fn sync_filters(&mut self) -> Result<(), ChainError> {
        // An index written before filter ids were stored gets them once, from its records.
        let filled = self.db.backfill_filter_ids(|b| FilterRecord::decode(b).map(|r| r.ids().encode()))?;
        if filled > 0 {
            tracing::info!(records = filled, "stored the filter hashes of an existing block filter index");
        }
        let marker = self
            .db
            .get_meta(META_FILTERS_BEST)?
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .map(BlockHash::from_byte_array);
        let mut start = 0u32;
        let mut cur = marker.and_then(|m| self.index.get(&m));
        while let Some(e) = cur {
            if self.is_active(&e.hash) {
                start = e.height + 1;
                break;
            }
            cur = self.index.get(&e.header.prev_blockhash);
        }
        let best = if start == 0 {
            self.cs.active[0]
        } else {
            self.cs.active[start as usize - 1]
        };
        self.filters = Some(PendingFilters::new(best));
        let tip = self.height();
        if start > tip {
            return Ok(());
        }
        tracing::info!(from = start, to = tip, "building the block filter index");
        for height in start..=tip {
            let (hash, block, undo) = self.active_block_with_undo(height, "block filter index")?;
            let mut spent: Vec<Vec<TxOut>> = vec![Vec::new()];
            spent.extend(undo.txs.into_iter().map(|coins| coins.into_iter().map(|c| c.output).collect()));
            self.record_filter(hash, &block, &spent)?;
            if self.cache_usage() > self.settings.dbcache_bytes {
                self.flush(FlushReason::CacheFull)?;
            }
            if height % PROGRESS_EVERY == 0 && height > 0 {
                tracing::info!(height, tip, "block filter index progress");
            }
        }
        self.flush(FlushReason::Manual)?;
        tracing::info!(height = tip, "block filter index in sync");
        Ok(())
    }

    /// Height of the last block the filter index covers; `None` when `-blockfilterindex` is off.
    pub fn filter_index_height(&self) -> Option<u32> {
        let best = self.filters.as_ref()?.best;
        self.index.get(&best).map(|e| e.height)
    }

    /// The filter hash and header of block `hash` (without reading the filter); `None` when
    /// the index is off or has none for it.
    pub fn filter_ids(&self, hash: &BlockHash) -> Result<Option<FilterIds>, ChainError> {
        let Some(f) = &self.filters else { return Ok(None) };
        if let Some(ids) = f.get_ids(hash) {
            return Ok(Some(ids));
        }
        match self.db.get_filter_ids(&hash.to_byte_array())? {
            Some(b) => Ok(Some(
                FilterIds::decode(&b).ok_or_else(|| self.corrupt(format!("block filter ids of {hash}")))?,
            )),
            None => Ok(None),
        }
    }

    /// The basic filter of block `hash`; `None` when the index is off or has none for it.
    pub fn block_filter(&self, hash: &BlockHash) -> Result<Option<FilterRecord>, ChainError> {
        let Some(f) = &self.filters else { return Ok(None) };
        if let Some(r) = f.get(hash) {
            return Ok(Some(r.clone()));
        }
        match self.db.get_filter(&hash.to_byte_array())? {
            Some(b) => Ok(Some(
                FilterRecord::decode(&b).ok_or_else(|| self.corrupt(format!("block filter record of {hash}")))?,
            )),
            None => Ok(None),
        }
    }
}

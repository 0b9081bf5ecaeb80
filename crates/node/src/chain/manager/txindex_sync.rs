//! The chain engine's side of the transaction index: catching up with the active chain when the
//! node opens (first use of `-txindex`, or after running without it), and lookups.

use super::*;
use crate::chain::txindex::{PendingTxIndex, TxLocation};
use bitcoin::{Transaction, Txid};

/// Metadata key: the last block whose transactions the stored index holds.
pub(super) const META_TXINDEX_BEST: &str = "txindex_best";

/// Log progress every this many blocks while building the index.
const PROGRESS_EVERY: u32 = 10_000;

impl ChainManager {
    /// Brings the transaction index up to the active tip: from its stored best block when that is
    /// still in the active chain, otherwise from scratch (the stored entries are dropped in the
    /// same commit that writes the first new ones).
    pub(super) fn sync_txindex(&mut self) -> Result<(), ChainError> {
        let marker = self
            .db
            .get_meta(META_TXINDEX_BEST)?
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .map(BlockHash::from_byte_array);
        let resume = marker.and_then(|m| self.index.get(&m)).filter(|e| self.is_active(&e.hash));
        let (start, pending) = match resume {
            Some(e) => (e.height + 1, PendingTxIndex::new(e.hash, false)),
            None => {
                if marker.is_some() {
                    tracing::warn!("transaction index does not match the active chain: rebuilding it");
                }
                (1, PendingTxIndex::new(self.cs.active[0], true))
            }
        };
        self.txindex = Some(pending);
        let tip = self.height();
        if start > tip && marker.is_some() {
            return Ok(());
        }
        if start <= tip {
            tracing::info!(from = start, to = tip, "building the transaction index");
        }
        for height in start..=tip {
            let hash = self.cs.active[height as usize];
            let block = self.read_block(&hash)?.ok_or_else(|| {
                ChainError::Corrupt(format!(
                    "the transaction index needs block {hash} (height {height}) but its data is gone (pruned): \
                     remove the datadir's chainstate to rebuild without -prune"
                ))
            })?;
            if let Some(t) = &mut self.txindex {
                t.add_block(hash, &block);
            }
            if self.cache_usage() > self.settings.dbcache_bytes {
                self.flush(FlushReason::CacheFull)?;
            }
            if height % PROGRESS_EVERY == 0 {
                tracing::info!(height, tip, "transaction index progress");
            }
        }
        self.flush(FlushReason::Manual)?;
        tracing::info!(height = tip, "transaction index in sync");
        Ok(())
    }

    /// Height of the last block the transaction index covers; `None` when `-txindex` is off.
    pub fn txindex_height(&self) -> Option<u32> {
        let best = self.txindex.as_ref()?.best;
        self.index.get(&best).map(|e| e.height)
    }

    /// A confirmed transaction and the active-chain block holding it, from the transaction index;
    /// `None` when the index is off or does not know `txid`.
    pub fn indexed_transaction(&self, txid: &Txid) -> Result<Option<(BlockHash, Transaction)>, ChainError> {
        let Some(t) = &self.txindex else { return Ok(None) };
        let loc = match t.pending(txid) {
            Some(loc) => loc,
            None => match self.db.get_txindex(&txid.to_byte_array())? {
                Some(b) => Some(TxLocation::decode(&b).ok_or_else(|| self.corrupt(format!("transaction index record of {txid}")))?),
                None => None,
            },
        };
        let Some(loc) = loc else { return Ok(None) };
        if !self.is_active(&loc.block) {
            return Err(self.corrupt(format!(
                "transaction index puts {txid} in {}, which is not in the active chain",
                loc.block
            )));
        }
        let block = self
            .read_block(&loc.block)?
            .ok_or_else(|| self.corrupt(format!("transaction index puts {txid} in {}, whose data is gone", loc.block)))?;
        match block.txdata.into_iter().nth(loc.position as usize) {
            Some(tx) if tx.compute_txid() == *txid => Ok(Some((loc.block, tx))),
            _ => Err(self.corrupt(format!("transaction index puts {txid} at a wrong position of {}", loc.block))),
        }
    }
}

//! The UTXO set as of a block of the active chain, for `dumptxoutset`: a read snapshot of the
//! coins table at the tip and, for an earlier block, an overlay that undoes the blocks above
//! it with their undo data (Core rolls back a temporary copy of the database instead). The
//! active chain and its UTXO set are never touched.

use super::*;
use crate::chainstate::coin::{outpoint_key, CoinOverlay};
use crate::store::db::CoinReader;

/// Memory an overlay entry costs besides its coin (key, map node).
const OVERLAY_ENTRY_BYTES: usize = 96;

/// The UTXO set at a block, ready to be read or written out.
pub struct UtxoSetView {
    /// Read snapshot of the coins table at the tip (later blocks do not change it, so the
    /// chain lock need not be held while it is read).
    pub reader: CoinReader,
    /// What undoes the blocks above `base` (empty at the tip).
    pub overlay: CoinOverlay,
    /// The block the set belongs to.
    pub base: BlockIndexEntry,
    /// Transactions in the chain up to and including `base`.
    pub nchaintx: u64,
}

/// Why the UTXO set at a block could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotViewError {
    /// A block to undo has no data or undo data left (Core's text).
    #[error("Could not roll back to requested height since necessary block data is already pruned.")]
    Pruned,
    /// The block is not on the active chain.
    #[error("block {0} is not on the active chain")]
    NotActive(BlockHash),
    /// Undoing that many blocks would hold more than the coins cache budget in memory.
    #[error("rolling back to height {height} needs more memory than -dbcache ({limit} bytes) allows")]
    TooDeep {
        /// The requested height.
        height: u32,
        /// The budget.
        limit: usize,
    },
    /// Reading the chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

impl ChainManager {
    /// The UTXO set at `target` (None: the tip), which must be on the active chain: flushes,
    /// takes a read snapshot of the coins table and undoes the blocks above `target` in an
    /// overlay bounded by `-dbcache`.
    pub fn utxo_set_view(&mut self, target: Option<&BlockHash>) -> Result<UtxoSetView, SnapshotViewError> {
        self.flush(FlushReason::Manual)?;
        let reader = self.cs.coins_db(&self.db).coin_reader().map_err(ChainError::from)?;
        let tip = self.tip().clone();
        let base = match target {
            None => tip.clone(),
            Some(h) => self
                .entry(h)
                .filter(|e| self.is_active(&e.hash))
                .cloned()
                .ok_or(SnapshotViewError::NotActive(*h))?,
        };
        let overlay = self.rollback_overlay(tip.height, base.height)?;
        let nchaintx = self.chain_tx_count(base.height).unwrap_or(0);
        Ok(UtxoSetView {
            reader,
            overlay,
            base,
            nchaintx,
        })
    }

    /// The changes that take the UTXO set at `tip` back to `base`: each block's outputs
    /// removed and the coins it spent restored, newest block first (as disconnecting would).
    fn rollback_overlay(&self, tip: u32, base: u32) -> Result<CoinOverlay, SnapshotViewError> {
        let mut overlay = CoinOverlay::new();
        let limit = self.settings.dbcache_bytes;
        let mut used = 0usize;
        for height in (base + 1..=tip).rev() {
            let hash = self
                .hash_at(height)
                .ok_or_else(|| ChainError::Corrupt(format!("no active block at height {height}")))?;
            let block = self.read_block(&hash)?.ok_or(SnapshotViewError::Pruned)?;
            let undo = self.read_undo(&hash)?.ok_or(SnapshotViewError::Pruned)?;
            if undo.txs.len() + 1 != block.txdata.len() {
                return Err(ChainError::Corrupt(format!("undo data of {hash} does not match the block")).into());
            }
            for (i, tx) in block.txdata.iter().enumerate().rev() {
                let txid = tx.compute_txid();
                for (vout, out) in tx.output.iter().enumerate() {
                    if !is_unspendable(&out.script_pubkey) {
                        overlay.insert(outpoint_key(&OutPoint { txid, vout: vout as u32 }), None);
                        used += OVERLAY_ENTRY_BYTES;
                    }
                }
                if i > 0 {
                    let coins = &undo.txs[i - 1];
                    if coins.len() != tx.input.len() {
                        return Err(ChainError::Corrupt(format!("undo data of {hash} has wrong input count")).into());
                    }
                    for (input, coin) in tx.input.iter().zip(coins) {
                        used += OVERLAY_ENTRY_BYTES + coin.memory_usage();
                        overlay.insert(outpoint_key(&input.previous_output), Some(coin.clone()));
                    }
                }
                if used > limit {
                    return Err(SnapshotViewError::TooDeep { height: base, limit });
                }
            }
        }
        Ok(overlay)
    }
}

//! Verification progress as Core estimates it (`GuessVerificationProgress`): the share of all
//! transactions so far that the active chain holds up to a block, the total extrapolated from
//! the network's known transaction rate. Reported by `getblockchaininfo` and the progress log.

use super::*;

/// How close to now a block must be for progress to count blocks rather than time (Core's 2h).
const RECENT_SECS: i64 = 2 * 60 * 60;

impl ChainManager {
    /// Transactions in the active chain up to and including `height` (Core's
    /// `m_chain_tx_count`); None above the tip or unknown (a snapshot chainstate's blocks
    /// whose data, or an ancestor's, is not here).
    pub fn chain_tx_count(&self, height: u32) -> Option<u64> {
        self.cs.active.tx_count(height).filter(|&n| n != 0)
    }

    /// The data of the active block at `height` was stored: the unknown totals from there up are
    /// filled (a snapshot chainstate receiving the blocks below its base).
    pub(super) fn fill_chain_tx_counts(&mut self, height: u32) {
        let index = &self.index;
        self.cs.active.fill_tx_counts(height, |b| index.get(b).map_or(0, |e| e.n_tx));
    }

    /// Estimated fraction (0..=1) of the chain's transactions verified once the active block at
    /// `height` is, at UNIX time `now`. A recent block (within 2 hours of `now`) is judged by the
    /// headers still to come, so the answer is exactly 1 at the tip of a synced chain.
    pub fn verification_progress(&self, height: u32, now: i64) -> f64 {
        let (Some(chain_tx), Some(entry)) = (self.chain_tx_count(height), self.entry_at(height)) else {
            return 0.0;
        };
        if chain_tx == 0 {
            return 0.0;
        }
        let best = self.best_header().height;
        let mut block_time = i64::from(entry.header.time);
        if (now - block_time).abs() <= RECENT_SECS && best >= height {
            block_time = now - i64::from(best - height) * self.params.consensus.pow_target_spacing as i64;
        }
        let data = self.params.tx_data;
        let total = if chain_tx <= data.tx_count {
            data.tx_count as f64 + (now - data.time) as f64 * data.tx_rate
        } else {
            chain_tx as f64 + (now - block_time) as f64 * data.tx_rate
        };
        (chain_tx as f64 / total).min(1.0)
    }

    /// The active chain's block at `height`.
    fn entry_at(&self, height: u32) -> Option<&BlockIndexEntry> {
        self.cs.active.get(height as usize).and_then(|h| self.index.get(h))
    }
}

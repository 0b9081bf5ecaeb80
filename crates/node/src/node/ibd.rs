//! Initial block download state, as Core's IsInitialBlockDownload: the node is in IBD while its
//! tip has less work than `-minimumchainwork` or is older than `-maxtipage`; once out, it
//! stays out (the latch) until restart.

use super::Node;
use crate::chain::ChainManager;
use std::sync::atomic::{AtomicBool, Ordering};

/// Remembers that the node has left initial block download.
#[derive(Debug, Default)]
pub struct IbdLatch(AtomicBool);

/// Whether a tip with this work and time counts as caught up.
pub fn tip_is_current(c: &ChainManager, min_work: bitcoin::Work, max_tip_age_secs: i64, now: i64) -> bool {
    let tip = c.tip();
    tip.chainwork >= min_work && i64::from(tip.header.time) >= now.saturating_sub(max_tip_age_secs)
}

impl Node {
    /// `-minimumchainwork` and `-maxtipage` (seconds): what a current tip needs.
    pub fn ibd_thresholds(&self) -> (bitcoin::Work, i64) {
        match self.net().settings() {
            Some(s) => (s.minimum_chain_work, s.max_tip_age.as_secs() as i64),
            None => (bitcoin::Work::from_be_bytes([0; 32]), 24 * 3600),
        }
    }

    /// Core's IsInitialBlockDownload (latches to false once the tip is current).
    pub fn is_initial_block_download(&self, c: &ChainManager) -> bool {
        if self.ibd_latch.0.load(Ordering::Relaxed) {
            return false;
        }
        let (min_work, max_age) = self.ibd_thresholds();
        if !tip_is_current(c, min_work, max_age, crate::clock::unix_now()) {
            return true;
        }
        tracing::info!(target: "blvm::chain", "Leaving InitialBlockDownload (latching to false)");
        self.ibd_latch.0.store(true, Ordering::Relaxed);
        false
    }
}

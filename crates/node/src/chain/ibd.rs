//! Initial block download state, as Core's IsInitialBlockDownload: the node is in IBD while its
//! tip has less work than `-minimumchainwork` or is older than `-maxtipage`; once out, it
//! stays out (the latch) until restart. Shared by the node, P2P and RPC.

use super::ChainManager;
use std::sync::atomic::{AtomicBool, Ordering};

/// Core's `-maxtipage` default: a tip older than a day means the node is still catching up.
pub const DEFAULT_MAX_TIP_AGE_SECS: i64 = 24 * 3600;

/// Whether a tip with this work and time counts as caught up.
pub fn tip_is_current(c: &ChainManager, min_work: bitcoin::Work, max_tip_age_secs: i64, now: i64) -> bool {
    let tip = c.tip();
    tip.chainwork >= min_work && i64::from(tip.header.time) >= now.saturating_sub(max_tip_age_secs)
}

/// The thresholds a current tip must meet and the latch that remembers leaving IBD.
#[derive(Debug)]
pub struct IbdStatus {
    min_work: bitcoin::Work,
    max_tip_age_secs: i64,
    left: AtomicBool,
}

impl Default for IbdStatus {
    fn default() -> Self {
        IbdStatus::new(bitcoin::Work::from_be_bytes([0; 32]), DEFAULT_MAX_TIP_AGE_SECS)
    }
}

impl IbdStatus {
    /// `-minimumchainwork` and `-maxtipage` (seconds).
    pub fn new(min_work: bitcoin::Work, max_tip_age_secs: i64) -> Self {
        IbdStatus {
            min_work,
            max_tip_age_secs,
            left: AtomicBool::new(false),
        }
    }

    /// `-minimumchainwork` and `-maxtipage` (seconds): what a current tip needs.
    pub fn thresholds(&self) -> (bitcoin::Work, i64) {
        (self.min_work, self.max_tip_age_secs)
    }

    /// Whether the node has already left IBD (the latch is set).
    pub fn has_left(&self) -> bool {
        self.left.load(Ordering::Relaxed)
    }

    /// Whether `c`'s tip is current now, without touching the latch.
    pub fn tip_is_current(&self, c: &ChainManager) -> bool {
        tip_is_current(c, self.min_work, self.max_tip_age_secs, crate::clock::unix_now())
    }

    /// Core's IsInitialBlockDownload (latches to false once the tip is current).
    pub fn is_initial_block_download(&self, c: &ChainManager) -> bool {
        if self.has_left() {
            return false;
        }
        if !self.tip_is_current(c) {
            return true;
        }
        tracing::info!(target: "blvm::chain", "Leaving InitialBlockDownload (latching to false)");
        self.left.store(true, Ordering::Relaxed);
        false
    }
}

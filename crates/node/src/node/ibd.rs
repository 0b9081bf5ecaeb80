//! The node's view of initial block download: [`crate::chain::ibd::IbdStatus`] with the
//! thresholds of this node's settings.

use super::Node;
use crate::chain::ibd::IbdStatus;
use crate::chain::ChainManager;

/// Builds the IBD status from the P2P settings (`-minimumchainwork`, `-maxtipage`).
pub(super) fn status_for(net: &crate::p2p::Net) -> IbdStatus {
    match net.settings() {
        Some(s) => IbdStatus::new(s.minimum_chain_work, s.max_tip_age.as_secs() as i64),
        None => IbdStatus::default(),
    }
}

impl Node {
    /// `-minimumchainwork` and `-maxtipage` (seconds): what a current tip needs.
    pub fn ibd_thresholds(&self) -> (bitcoin::Work, i64) {
        self.ibd.thresholds()
    }

    /// Core's IsInitialBlockDownload (latches to false once the tip is current).
    pub fn is_initial_block_download(&self, c: &ChainManager) -> bool {
        self.ibd.is_initial_block_download(c)
    }

    /// The shared IBD state, for the components that decide on it (P2P, RPC).
    pub fn ibd(&self) -> std::sync::Arc<IbdStatus> {
        self.ibd.clone()
    }
}

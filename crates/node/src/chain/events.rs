//! What the chain engine reports to the rest of the node (module events, metrics, logs).

use bitcoin::BlockHash;
use std::time::Duration;

/// Why a flush happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushReason {
    /// The coins cache exceeded `-dbcache`.
    CacheFull,
    /// The periodic timer fired.
    Periodic,
    /// An operator or module asked for it.
    Manual,
    /// The node is stopping.
    Shutdown,
}

impl FlushReason {
    /// The string used in events and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            FlushReason::CacheFull => "cache_full",
            FlushReason::Periodic => "periodic",
            FlushReason::Manual => "manual",
            FlushReason::Shutdown => "shutdown",
        }
    }
}

/// The outcome of one chainstate flush.
#[derive(Debug, Clone)]
pub struct FlushReport {
    /// Why it ran.
    pub reason: FlushReason,
    /// Whether everything was durably committed.
    pub success: bool,
    /// Wall time taken.
    pub duration: Duration,
    /// Coin records written or deleted.
    pub coins_written: usize,
    /// Block index records written.
    pub index_written: usize,
    /// The failure, if any.
    pub error: Option<String>,
}

/// A change of the active chain, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainNotification {
    /// A block became the new tip.
    BlockConnected {
        /// Its hash.
        hash: BlockHash,
        /// Its height.
        height: u32,
        /// Its transaction count.
        n_tx: u32,
    },
    /// The tip block was disconnected.
    BlockDisconnected {
        /// Its hash.
        hash: BlockHash,
        /// Its height.
        height: u32,
    },
    /// A reorganisation finished: every disconnected and connected block, old to new.
    Reorg {
        /// Tip before.
        old_tip: BlockHash,
        /// Tip after.
        new_tip: BlockHash,
        /// Height of the last common block.
        fork_height: u32,
        /// Disconnected blocks, tip first.
        disconnected: Vec<BlockHash>,
        /// Connected blocks, lowest first.
        connected: Vec<BlockHash>,
    },
}

/// The successive tips Core's `blockTip` notification reports for `notes` (`-blocknotify`):
/// each block connected on top of the chain, one at a time, as Core's ActivateBestChainStep
/// returns after every block that improves on the previous tip; a reorganisation is reported once,
/// at its last connected block. Empty when no block was connected.
pub fn reported_tips(notes: &[ChainNotification]) -> Vec<BlockHash> {
    let mut within_reorg = std::collections::HashSet::new();
    for n in notes {
        if let ChainNotification::Reorg { connected, .. } = n {
            if let Some((_, earlier)) = connected.split_last() {
                within_reorg.extend(earlier.iter().copied());
            }
        }
    }
    notes
        .iter()
        .filter_map(|n| match n {
            ChainNotification::BlockConnected { hash, .. } if !within_reorg.contains(hash) => Some(*hash),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod reported_tips_tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn h(n: u8) -> BlockHash {
        BlockHash::from_byte_array([n; 32])
    }

    fn connected(n: u8) -> ChainNotification {
        ChainNotification::BlockConnected {
            hash: h(n),
            height: u32::from(n),
            n_tx: 1,
        }
    }

    #[test]
    fn each_block_extending_the_chain_is_reported() {
        assert_eq!(reported_tips(&[connected(1), connected(2)]), vec![h(1), h(2)]);
    }

    #[test]
    fn a_reorganisation_is_reported_at_its_last_block_then_each_later_block() {
        let notes = [
            ChainNotification::BlockDisconnected { hash: h(9), height: 2 },
            connected(2),
            connected(3),
            ChainNotification::Reorg {
                old_tip: h(9),
                new_tip: h(3),
                fork_height: 1,
                disconnected: vec![h(9)],
                connected: vec![h(2), h(3)],
            },
            connected(4),
        ];
        assert_eq!(reported_tips(&notes), vec![h(3), h(4)]);
        assert!(reported_tips(&[ChainNotification::BlockDisconnected { hash: h(9), height: 2 }]).is_empty());
    }
}

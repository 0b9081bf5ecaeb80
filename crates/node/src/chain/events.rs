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

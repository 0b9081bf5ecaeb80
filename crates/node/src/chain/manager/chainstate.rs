//! One chainstate (Core's `Chainstate`): a UTXO set, its write-back cache and the chain of blocks
//! it is at. `ChainManager` keeps what every chainstate shares (block index, block files, header
//! tree, indexes) and the chainstate the node serves; a snapshot-based one (AssumeUTXO) keeps
//! its coins in a database of its own.

use crate::chain::active::ActiveChain;
use crate::chainstate::cache::CoinsCache;
use crate::store::db::ChainDb;
use bitcoin::BlockHash;
use std::sync::Arc;

/// A UTXO set with the chain it is at, so block connection, flushes and UTXO reads can work on
/// either of two chainstates (the snapshot one and the one validating the blocks below it).
#[derive(Default)]
pub(super) struct Chainstate {
    /// The coins database of a chainstate with its own (a snapshot's); None: the coins are in
    /// the main database next to the block index.
    pub(super) own_db: Option<Arc<ChainDb>>,
    /// The write-back cache over the coins database.
    pub(super) coins: CoinsCache,
    /// The blocks this UTXO set is at, genesis first.
    pub(super) active: ActiveChain,
    /// The snapshot's base block when the set was loaded from a snapshot (Core's
    /// `m_from_snapshot_blockhash`).
    pub(super) from_snapshot: Option<BlockHash>,
    /// Whether every block below the tip was validated (false for a snapshot chainstate until
    /// background validation reaches its base).
    pub(super) validated: bool,
}

impl Chainstate {
    /// A fully validated chainstate whose coins are in the main database.
    pub(super) fn main() -> Self {
        Chainstate {
            validated: true,
            ..Default::default()
        }
    }

    /// The database holding this chainstate's coins, given the main one.
    pub(super) fn coins_db<'a>(&'a self, main: &'a Arc<ChainDb>) -> &'a Arc<ChainDb> {
        self.own_db.as_ref().unwrap_or(main)
    }
}

impl super::ChainManager {
    /// The base block of the snapshot the current chainstate was loaded from (None: built from
    /// blocks), for `getchainstates`' `snapshot_blockhash`.
    pub fn snapshot_blockhash(&self) -> Option<BlockHash> {
        self.cs.from_snapshot
    }

    /// Whether the current chainstate was validated from genesis (`getchainstates`' `validated`).
    pub fn chainstate_validated(&self) -> bool {
        self.cs.validated
    }
}

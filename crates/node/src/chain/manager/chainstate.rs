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

/// Share of `-dbcache` (in percent) of the chainstate that needs the cache most while two
/// exist; the other gets the rest (Core's MaybeRebalanceCaches: 95 and 5).
const MAIN_SHARE_PERCENT: usize = 95;

impl super::ChainManager {
    /// The coins cache budget of the chainstate in `cs` (Core's MaybeRebalanceCaches), so the
    /// two chainstates' caches together stay within `-dbcache`: all of it with one chainstate;
    /// with a snapshot chainstate and the historical one, 95% to the snapshot one while its tip
    /// is behind the best header (getting to the tip first), else 95% to the historical one.
    pub(super) fn coins_budget(&self) -> usize {
        let total = self.settings.dbcache_bytes;
        let Some(other) = self.historical.as_ref() else { return total };
        let (snapshot, cs_is_snapshot) = if self.cs.from_snapshot.is_some() {
            (&self.cs, true)
        } else {
            (other, false)
        };
        let snapshot_syncing = (snapshot.active.len() as u32).saturating_sub(1) < self.best_header().height;
        let big = total / 100 * MAIN_SHARE_PERCENT;
        if cs_is_snapshot == snapshot_syncing {
            big
        } else {
            total - big
        }
    }

    /// The budget of the chainstate in `historical`'s slot (the one not in `cs`).
    pub(super) fn other_coins_budget(&self) -> usize {
        self.settings.dbcache_bytes - self.coins_budget()
    }
}

//! The optional transaction index (`-txindex`): for every transaction of the active chain, the
//! block holding it and its position there. Changes wait in memory and are committed in the same
//! database transaction as the chainstate, so the index always describes exactly the flushed
//! best chain, crash or not.

use bitcoin::hashes::Hash;
use bitcoin::{Block, BlockHash, Txid};
use std::collections::HashMap;

/// Where a transaction is: its block and its index in that block's transaction list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    /// The block holding the transaction.
    pub block: BlockHash,
    /// Index of the transaction in the block (0 = coinbase).
    pub position: u32,
}

impl TxLocation {
    /// Database encoding: block hash then position (little-endian), 36 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.block.to_byte_array().to_vec();
        v.extend_from_slice(&self.position.to_le_bytes());
        v
    }

    /// Decodes [`TxLocation::encode`]'s bytes; `None` when they have the wrong length.
    pub fn decode(b: &[u8]) -> Option<TxLocation> {
        let block: [u8; 32] = b.get(..32)?.try_into().ok()?;
        let position: [u8; 4] = b.get(32..)?.try_into().ok()?;
        Some(TxLocation {
            block: BlockHash::from_byte_array(block),
            position: u32::from_le_bytes(position),
        })
    }
}

/// Approximate heap bytes per pending change (key, value, map overhead), for the cache budget.
const PENDING_ENTRY_BYTES: usize = 96;

/// What a flush writes for the index: (clear the stored index first?, upserts (`Some`: encoded
/// location) and deletions (`None`) keyed by txid).
pub type TxIndexWrites = (bool, Vec<([u8; 32], Option<Vec<u8>>)>);

/// Index changes not yet written, and the block the index describes once they are.
#[derive(Debug)]
pub struct PendingTxIndex {
    changes: HashMap<Txid, Option<TxLocation>>,
    clear: bool,
    /// The last block whose transactions are indexed (the active tip once in sync).
    pub best: BlockHash,
}

impl PendingTxIndex {
    /// An index in sync with `best`; `clear` asks the next flush to drop every stored entry first.
    pub fn new(best: BlockHash, clear: bool) -> Self {
        PendingTxIndex {
            changes: HashMap::new(),
            clear,
            best,
        }
    }

    /// Records every transaction of a block joining the active chain.
    pub fn add_block(&mut self, hash: BlockHash, block: &Block) {
        for (i, tx) in block.txdata.iter().enumerate() {
            let loc = TxLocation {
                block: hash,
                position: i as u32,
            };
            self.changes.insert(tx.compute_txid(), Some(loc));
        }
        self.best = hash;
    }

    /// Forgets the transactions of a block leaving the active chain; `new_best` is its parent.
    pub fn remove_block(&mut self, block: &Block, new_best: BlockHash) {
        for tx in &block.txdata {
            self.changes.insert(tx.compute_txid(), None);
        }
        self.best = new_best;
    }

    /// The pending answer for `txid`: `Some(None)` if it was removed, `None` if the database decides.
    pub fn pending(&self, txid: &Txid) -> Option<Option<TxLocation>> {
        if let Some(c) = self.changes.get(txid) {
            return Some(*c);
        }
        // After a pending clear, nothing stored is valid any more.
        self.clear.then_some(None)
    }

    /// Memory held by pending changes, counted against `-dbcache`.
    pub fn memory_usage(&self) -> usize {
        self.changes.len() * PENDING_ENTRY_BYTES
    }

    /// Hands the pending changes to a flush: (clear the stored index first?, upserts and deletions).
    pub fn take(&mut self) -> TxIndexWrites {
        let out = self.writes();
        self.mark_flushed();
        out
    }

    /// The pending changes as a flush would write them, leaving them pending (so a failed
    /// commit loses nothing); call [`PendingTxIndex::mark_flushed`] after a successful commit.
    pub fn writes(&self) -> TxIndexWrites {
        let changes = self
            .changes
            .iter()
            .map(|(txid, loc)| (txid.to_byte_array(), loc.map(|l| l.encode())))
            .collect();
        (self.clear, changes)
    }

    /// Forgets the pending changes once a commit has stored them.
    pub fn mark_flushed(&mut self) {
        self.changes = HashMap::new();
        self.clear = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_round_trips_and_rejects_bad_lengths() {
        let loc = TxLocation {
            block: BlockHash::from_byte_array([7; 32]),
            position: 0x0102_0304,
        };
        assert_eq!(TxLocation::decode(&loc.encode()), Some(loc));
        assert_eq!(TxLocation::decode(&loc.encode()[..35]), None);
        assert_eq!(TxLocation::decode(&[0; 37]), None);
    }
}

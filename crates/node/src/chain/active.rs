//! The active chain: its block hashes by height, and the cumulative transaction count at each
//! height (Core's `m_chain_tx_count`), kept together so both change only when a block is
//! connected or disconnected, and `getchaintxstats` and verification progress read them in
//! O(1) instead of summing the chain.

use bitcoin::BlockHash;
use std::ops::Deref;

/// Block hashes of the active chain, genesis first, with running transaction totals.
#[derive(Debug, Default)]
pub struct ActiveChain {
    hashes: Vec<BlockHash>,
    /// `chain_tx[h]`: transactions in blocks `0..=h`.
    chain_tx: Vec<u64>,
}

impl ActiveChain {
    /// A chain of `blocks` (hash and transaction count), genesis first.
    pub fn from_blocks(blocks: impl IntoIterator<Item = (BlockHash, u32)>) -> Self {
        let mut chain = ActiveChain::default();
        for (hash, n_tx) in blocks {
            chain.push(hash, n_tx);
        }
        chain
    }

    /// Connects `hash`, holding `n_tx` transactions, as the new tip.
    pub fn push(&mut self, hash: BlockHash, n_tx: u32) {
        let before = self.chain_tx.last().copied().unwrap_or(0);
        self.hashes.push(hash);
        self.chain_tx.push(before + u64::from(n_tx));
    }

    /// Sets the transactions in the chain up to the tip, for a snapshot's base whose blocks
    /// below are not all here (the assumeutxo entry's `chain_tx_count`).
    pub fn set_tip_tx_count(&mut self, total: u64) {
        if let Some(last) = self.chain_tx.last_mut() {
            *last = total;
        }
    }

    /// Disconnects the tip.
    pub fn pop(&mut self) -> Option<BlockHash> {
        self.chain_tx.pop();
        self.hashes.pop()
    }

    /// Transactions in the active chain up to and including `height` (None above the tip).
    pub fn tx_count(&self, height: u32) -> Option<u64> {
        self.chain_tx.get(height as usize).copied()
    }
}

impl Deref for ActiveChain {
    type Target = [BlockHash];

    fn deref(&self) -> &[BlockHash] {
        &self.hashes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn h(i: u8) -> BlockHash {
        BlockHash::from_byte_array([i; 32])
    }

    #[test]
    fn totals_follow_connects_and_disconnects() {
        let mut c = ActiveChain::from_blocks([(h(0), 1), (h(1), 3)]);
        assert_eq!((c.len(), c.tx_count(0), c.tx_count(1), c.tx_count(2)), (2, Some(1), Some(4), None));
        c.push(h(2), 10);
        assert_eq!((c.last(), c.tx_count(2)), (Some(&h(2)), Some(14)));
        assert_eq!(c.pop(), Some(h(2)));
        c.push(h(3), 2);
        assert_eq!((c[2], c.tx_count(2)), (h(3), Some(6)));
    }
}

//! The active chain: its block hashes by height, and the cumulative transaction count at each
//! height (Core's `m_chain_tx_count`), kept together so both change only when a block is
//! connected or disconnected, and `getchaintxstats` and verification progress read them in
//! O(1) instead of summing the chain. As in Core, 0 means unknown: a block whose data is not
//! here, or above such a block, has no total until its data arrives (a snapshot chainstate's
//! blocks below the base; the base itself takes the snapshot's count).

use bitcoin::BlockHash;
use std::ops::Deref;

/// Block hashes of the active chain, genesis first, with running transaction totals.
#[derive(Debug, Default)]
pub struct ActiveChain {
    hashes: Vec<BlockHash>,
    /// `chain_tx[h]`: transactions in blocks `0..=h`, 0 when unknown.
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

    /// Connects `hash`, holding `n_tx` transactions (0: its data is not here), as the new tip.
    pub fn push(&mut self, hash: BlockHash, n_tx: u32) {
        let total = match self.chain_tx.last() {
            None => u64::from(n_tx),
            Some(0) => 0,
            Some(_) if n_tx == 0 => 0,
            Some(before) => before + u64::from(n_tx),
        };
        self.hashes.push(hash);
        self.chain_tx.push(total);
    }

    /// A block's data arrived at `height`: the unknown totals from there up are filled while the
    /// block below has one and `n_tx(h)` (the block's transactions, 0 without data) is known,
    /// stopping at a known total (Core's ReceivedBlockTransactions, on the active chain).
    pub fn fill_tx_counts(&mut self, height: u32, n_tx: impl Fn(&BlockHash) -> u32) {
        let mut h = height as usize;
        while h > 0 && h < self.chain_tx.len() && self.chain_tx[h] == 0 {
            let (below, n) = (self.chain_tx[h - 1], n_tx(&self.hashes[h]));
            if below == 0 || n == 0 {
                return;
            }
            self.chain_tx[h] = below + u64::from(n);
            h += 1;
        }
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

    /// Transactions in the active chain up to and including `height` (None above the tip,
    /// `Some(0)` unknown).
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

    #[test]
    fn unknown_totals_until_data_arrives() {
        // A snapshot chain: genesis and block 1 here, 2 and 3 without data, 4 the base.
        let mut c = ActiveChain::from_blocks([(h(0), 1), (h(1), 2), (h(2), 0), (h(3), 0), (h(4), 0)]);
        c.set_tip_tx_count(20);
        c.push(h(5), 3);
        let totals = |c: &ActiveChain| (0..6).map(|i| c.tx_count(i).unwrap()).collect::<Vec<_>>();
        assert_eq!(totals(&c), [1, 3, 0, 0, 20, 23]);
        // Block 3's data first: its parent's total is unknown, so nothing changes.
        let n = |b: &BlockHash| [1, 2, 0, 5, 4, 3][b.to_byte_array()[0] as usize];
        c.fill_tx_counts(3, n);
        assert_eq!(totals(&c), [1, 3, 0, 0, 20, 23]);
        // Then block 2's: 2 and 3 are filled, the base keeps the snapshot's total.
        let n = |b: &BlockHash| [1, 2, 7, 5, 4, 3][b.to_byte_array()[0] as usize];
        c.fill_tx_counts(2, n);
        assert_eq!(totals(&c), [1, 3, 10, 15, 20, 23]);
    }
}

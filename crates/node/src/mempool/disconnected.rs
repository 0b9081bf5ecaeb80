//! Core's DisconnectedBlockTransactions limit: the transactions of blocks disconnected by a
//! reorg wait in a pool of at most [`MAX_DISCONNECTED_TX_POOL_BYTES`] before they are offered
//! back to the mempool; past it, the most recently confirmed ones (the tip-most block's, last
//! in the block first) are dropped, so a deep reorg cannot make the node hold unbounded memory.

use super::entry::tx_usage;
use bitcoin::Transaction;

/// Core's MAX_DISCONNECTED_TX_POOL_BYTES: memory the disconnected transactions may take.
pub const MAX_DISCONNECTED_TX_POOL_BYTES: u64 = 20_000_000;

/// `txs` (disconnected transactions, oldest block first, each block in block order) cut to the
/// memory limit: the longest prefix whose usage fits. Returns it and how many were dropped.
pub fn limit_usage(mut txs: Vec<Transaction>, max_bytes: u64) -> (Vec<Transaction>, usize) {
    let mut total: u64 = 0;
    let mut keep = 0;
    for tx in &txs {
        let u = tx_usage(tx);
        if total + u > max_bytes {
            break;
        }
        total += u;
        keep += 1;
    }
    let dropped = txs.len() - keep;
    txs.truncate(keep);
    (txs, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, ScriptBuf, TxOut};

    fn tx(value: u64) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![],
            output: vec![TxOut {
                value: Amount::from_sat(value),
                script_pubkey: ScriptBuf::from_bytes(vec![0x6a; 1_000]),
            }],
        }
    }

    #[test]
    fn the_most_recently_confirmed_are_dropped_first() {
        let txs: Vec<Transaction> = (0..10).map(tx).collect();
        let each = tx_usage(&txs[0]);
        let (kept, dropped) = limit_usage(txs.clone(), each * 6 + 50);
        assert_eq!((kept.len(), dropped), (6, 4));
        assert_eq!(kept, txs[..6].to_vec());
        let (kept, dropped) = limit_usage(txs.clone(), u64::MAX);
        assert_eq!((kept.len(), dropped), (10, 0));
    }
}

//! Builders shared by the mempool's unit tests: graph-shaped transactions and pool entries with
//! chosen fees and sizes (no scripts or coins behind them).

use super::entry::MempoolEntry;
use super::pool::Pool;
use bitcoin::absolute::LockTime;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A transaction spending `inputs` into `outputs` outputs; `tag` (the lock time) makes
/// otherwise equal ones distinct.
pub fn tx(inputs: &[OutPoint], outputs: usize, tag: u32) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::from_consensus(tag),
        input: inputs
            .iter()
            .map(|op| TxIn {
                previous_output: *op,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            })
            .collect(),
        output: (0..outputs)
            .map(|_| TxOut {
                value: Amount::from_sat(10_000),
                script_pubkey: ScriptBuf::new(),
            })
            .collect(),
    }
}

/// A pool entry for `tx` paying `fee` for `vsize` (weight 4 × vsize, no sigops), entered at
/// `time` with the pool's next entry sequence.
pub fn entry(pool: &mut Pool, tx: Transaction, fee: u64, vsize: u64, time: i64) -> MempoolEntry {
    MempoolEntry {
        txid: tx.compute_txid(),
        wtxid: tx.compute_wtxid(),
        tx: Arc::new(tx),
        fee,
        vsize,
        weight: vsize * 4,
        sigop_cost: 0,
        time,
        height: 0,
        sequence: pool.next_entry_sequence(),
        relay_sequence: 0,
        spends_coinbase: false,
        parents: BTreeSet::new(),
        children: BTreeSet::new(),
        delta: 0,
    }
}

//! Opportunistic 1-parent-1-child package relay (Core's Find1P1CPackage and
//! ProcessPackageResult). A transaction rejected only for its feerate is remembered in the
//! reconsiderable-reject filter instead of the reject filter. When such a parent arrives (first
//! time or again) and the same peer gave us an orphan child of it, the pair is validated
//! together at its package feerate, with the acceptance `submitpackage` uses; both are
//! relayed on success. A failed pair is remembered by its package hash so it is not retried.

use super::manager::Manager;
use super::PeerId;
use crate::mempool::package::{is_low_feerate, TxOutcome};
use crate::validation::Reject;
use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::Transaction;

/// Entries in the reconsiderable-reject filter (Core's m_lazy_recent_rejects_reconsiderable
/// holds 120,000); the oldest go first, and the filter is cleared when the tip changes.
pub const MAX_RECONSIDERABLE_REJECTS: usize = 120_000;

/// Work for the transaction-validation loop: a lone transaction, or a parent and the orphan
/// child (both from one peer) to try as a package.
#[derive(Debug)]
pub enum TxWork {
    /// Validate one transaction received from (or attributed to) a peer.
    Single(Transaction, PeerId),
    /// Validate a parent and its child together (1p1c package).
    Pair(Transaction, Transaction, PeerId),
}

/// Core's GetPackageHash: SHA256 of the members' wtxids sorted (as little-endian byte
/// strings compared from the last byte, i.e. by the uint256 value), concatenated.
pub fn package_hash(txs: &[&Transaction]) -> [u8; 32] {
    let mut ids: Vec<[u8; 32]> = txs.iter().map(|t| t.compute_wtxid().to_byte_array()).collect();
    ids.sort_unstable_by(|a, b| a.iter().rev().cmp(b.iter().rev()));
    let mut e = sha256::Hash::engine();
    for id in &ids {
        e.input(id);
    }
    sha256::Hash::from_engine(e).to_byte_array()
}

impl Manager {
    /// Core's Find1P1CPackage: the newest orphan child of `parent` announced by `from` whose
    /// pairing with it has not failed before and that is not itself rejected.
    pub(super) fn find_1p1c(&self, parent: &Transaction, from: PeerId) -> Option<Transaction> {
        self.orphans.children_from_peer(parent, from).into_iter().find_map(|w| {
            let child = &self.orphans.get(&w)?.tx;
            let failed = self.reconsiderable.contains(&package_hash(&[parent, child]));
            let rejected = self.rejects.contains(&child.compute_txid().to_byte_array());
            (!failed && !rejected).then(|| child.clone())
        })
    }

    /// Remembers a transaction the mempool refused (Core's MempoolRejectedTx for a failure
    /// other than missing inputs): a feerate failure in the reconsiderable filter, a copy that
    /// may be stripped of its witnesses in neither, anything else in the reject filter; it
    /// leaves the orphan pool either way.
    pub(super) fn remember_rejected(&mut self, tx: &Transaction, r: &Reject) {
        let (txid, wtxid) = (tx.compute_txid(), tx.compute_wtxid());
        if is_low_feerate(r) {
            self.reconsiderable.insert(wtxid.to_byte_array());
        } else if !r.may_be_mutated {
            // (A copy that may be stripped of its witnesses, Core's TX_WITNESS_STRIPPED, is not
            // remembered: its id is the valid transaction's, which non-wtxid peers announce.)
            self.rejects.insert(wtxid.to_byte_array());
            // Core's TX_INPUTS_NOT_STANDARD: the spent scripts alone refuse it, whatever the
            // witness, so its txid is refused too (for peers announcing by txid).
            if r.reason == "bad-txns-nonstandard-inputs" && txid.to_byte_array() != wtxid.to_byte_array() {
                self.rejects.insert(txid.to_byte_array());
            }
        }
        if self.orphans.take(&wtxid).is_some() {
            tracing::debug!(target: "blvm::mempool", "   removed orphan tx {txid} (wtxid={wtxid})");
        }
    }

    /// Validates `parent` and `child` (from `from`) as a package and handles each member's
    /// result as a lone transaction's (Core's ProcessPackageResult); accepted members' orphan
    /// children go onto `queue`.
    pub(super) async fn validate_1p1c(&mut self, parent: Transaction, child: Transaction, from: PeerId, queue: &mut Vec<TxWork>) {
        let node = self.node.clone();
        let mempool = node.mempool();
        let hash = package_hash(&[&parent, &child]);
        let txs = vec![parent, child];
        let mp = mempool.clone();
        let pkg = txs.clone();
        let out = match tokio::task::spawn_blocking(move || mp.submit_package(&pkg, None)).await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(target: "blvm::net", "package validation task failed: {e}");
                return;
            }
        };
        let (ptxid, ctxid) = (txs[0].compute_txid(), txs[1].compute_txid());
        match &out.error {
            None => {
                tracing::debug!(target: "blvm::mempool", "package evaluation for parent {ptxid} child {ctxid} from peer={from}: accepted")
            }
            Some(e) => {
                tracing::debug!(target: "blvm::mempool", "package evaluation for parent {ptxid} child {ctxid} from peer={from}: {e}");
                self.reconsiderable.insert(hash);
            }
        }
        for (tx, res) in txs.into_iter().zip(out.results) {
            match res {
                TxOutcome::Accepted { accepted, .. } => {
                    self.tx_accepted(&tx, from, accepted.fee, accepted.vsize, mempool.len(), queue);
                }
                TxOutcome::Failed(r) if r.reason == "bad-txns-inputs-missingorspent" => {}
                TxOutcome::Failed(r) => {
                    tracing::debug!(target: "blvm::mempool", "{} (wtxid={}) from peer={from} was not accepted: {r}", tx.compute_txid(), tx.compute_wtxid());
                    self.remember_rejected(&tx, &r);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::{absolute, constants::genesis_block, Network};

    /// Distinct transactions: the genesis coinbase with another lock time.
    fn tx(n: u32) -> Transaction {
        let mut t = genesis_block(Network::Regtest).txdata[0].clone();
        t.lock_time = absolute::LockTime::from_consensus(n);
        t
    }

    #[test]
    fn package_hash_ignores_order() {
        let (a, b) = (tx(1), tx(2));
        assert_eq!(package_hash(&[&a, &b]), package_hash(&[&b, &a]));
        assert_ne!(package_hash(&[&a, &b]), package_hash(&[&a]));
    }
}

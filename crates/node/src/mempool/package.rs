//! Package acceptance (Core's ProcessNewPackage / AcceptPackage for submitpackage): each
//! transaction is first tried alone; those that failed only on feerate (or on inputs from such a
//! parent) are then evaluated together at their package feerate, so a child can pay for a
//! parent below the mempool minimum (CPFP, including Core's 1-parent-1-child relay case).
//!
//! Size limiting runs once after the whole package, and Core's package TRUC rules
//! (`truc_package.rs`) apply to the members validated together. Not done (yet): package RBF (a
//! package whose members conflict with the pool is evaluated with replacements disallowed).

use super::accept::{self, AcceptOptions, Accepted};
use super::entry::feerate_per_kvb;
use super::{lock, truc_package, Mempool};
use crate::chain::ChainManager;
use crate::validation::Reject;
use bitcoin::{Transaction, Txid, Wtxid};
use std::collections::HashSet;
use std::sync::Arc;

/// Most transactions in a package (Core's MAX_PACKAGE_COUNT).
pub const MAX_PACKAGE_COUNT: usize = 25;
/// Largest total weight of a package (Core's MAX_PACKAGE_WEIGHT).
pub const MAX_PACKAGE_WEIGHT: u64 = 404_000;

/// What happened to one package member.
#[derive(Debug, Clone)]
pub enum TxOutcome {
    /// Newly accepted, at `effective_feerate` (sat/kvB) over the members in `includes`.
    Accepted {
        /// The acceptance.
        accepted: Accepted,
        /// Feerate it was judged at: its own modified feerate or the package's.
        effective_feerate: u64,
        /// Wtxids whose fees and sizes make up `effective_feerate`.
        includes: Vec<Wtxid>,
    },
    /// Already in the pool (same wtxid).
    InMempool {
        /// Its vsize.
        vsize: u64,
        /// Its base fee.
        fee: u64,
    },
    /// A transaction with the same txid but another witness is in the pool.
    DifferentWitness(Wtxid),
    /// Rejected.
    Failed(Reject),
    /// Not looked at (the package was malformed).
    NotValidated,
}

/// The whole package's result.
#[derive(Debug, Clone)]
pub struct PackageOutcome {
    /// None on success, else Core's package message ("transaction failed", "package-not-sorted"…).
    pub error: Option<String>,
    /// One outcome per submitted transaction, in submission order.
    pub results: Vec<TxOutcome>,
}

/// Core's IsWellFormedPackage and IsConsistentPackage: the package error string, if any.
pub fn package_error(txs: &[Transaction]) -> Option<&'static str> {
    if txs.len() > MAX_PACKAGE_COUNT {
        return Some("package-too-many-transactions");
    }
    let weight: u64 = txs.iter().map(|t| t.weight().to_wu()).sum();
    if txs.len() > 1 && weight > MAX_PACKAGE_WEIGHT {
        return Some("package-too-large");
    }
    let ids: Vec<Txid> = txs.iter().map(|t| t.compute_txid()).collect();
    if ids.iter().collect::<HashSet<_>>().len() != ids.len() {
        return Some("package-contains-duplicates");
    }
    for (i, tx) in txs.iter().enumerate() {
        if tx.input.iter().any(|inp| ids[i + 1..].contains(&inp.previous_output.txid)) {
            return Some("package-not-sorted");
        }
    }
    let mut spent = HashSet::new();
    for tx in txs {
        for i in &tx.input {
            if !spent.insert(i.previous_output) {
                return Some("conflict-in-package");
            }
        }
    }
    None
}

/// Core's IsChildWithParentsTree: the last transaction spends from every other one, and no
/// other one spends from another.
pub fn is_child_with_parents_tree(txs: &[Transaction]) -> bool {
    let Some((child, parents)) = txs.split_last() else {
        return false;
    };
    let ids: HashSet<Txid> = parents.iter().map(|t| t.compute_txid()).collect();
    let spent: HashSet<Txid> = child.input.iter().map(|i| i.previous_output.txid).collect();
    if !ids.iter().all(|t| spent.contains(t)) {
        return false;
    }
    parents
        .iter()
        .all(|p| p.input.iter().all(|i| !ids.contains(&i.previous_output.txid)))
}

/// Whether a rejection is for the feerate alone (Core's TX_RECONSIDERABLE): the transaction
/// may still enter with a child paying for it.
pub fn is_low_feerate(r: &Reject) -> bool {
    matches!(r.reason.as_str(), "min relay fee not met" | "mempool min fee not met")
}

/// Whether a lone rejection may be reconsidered at the package feerate (Core's
/// TX_RECONSIDERABLE and TX_MISSING_INPUTS).
fn reconsiderable(r: &Reject) -> bool {
    is_low_feerate(r) || r.reason == "bad-txns-inputs-missingorspent"
}

fn max_feerate_exceeded() -> Reject {
    Reject::new("max feerate exceeded", "")
}

impl Mempool {
    /// Core's PackageTRUCChecks over a whole package against the current pool (for
    /// testmempoolaccept): "TRUC-violation, …" at the first member breaking a TRUC rule.
    pub fn package_truc_violation(&self, txs: &[Transaction]) -> Option<String> {
        let refs: Vec<&Transaction> = txs.iter().collect();
        truc_package::package_truc_violation(&lock(&self.pool), &refs)
    }

    /// Core's ProcessNewPackage (not test-only): `txs` must already be checked as
    /// child-with-parents by the caller. `max_feerate` (sat/kvB) rejects any member whose
    /// modified feerate exceeds it.
    pub fn submit_package(&self, txs: &[Transaction], max_feerate: Option<u64>) -> PackageOutcome {
        if let Some(err) = package_error(txs) {
            return PackageOutcome {
                error: Some(err.to_string()),
                results: vec![TxOutcome::NotValidated; txs.len()],
            };
        }
        let out = {
            let mut chain = lock(&self.chain);
            self.submit_package_locked(&mut chain, txs, max_feerate)
        };
        self.publish_pending();
        out
    }

    fn accept_single(&self, chain: &mut ChainManager, tx: &Transaction, max_feerate: Option<u64>) -> Result<Accepted, Reject> {
        if let Some(max) = max_feerate {
            let test = AcceptOptions {
                test_accept: true,
                ..Default::default()
            };
            let a = self.accept_locked(chain, tx.clone(), test)?;
            if feerate_per_kvb(a.modified_fee, a.vsize) > max {
                return Err(max_feerate_exceeded());
            }
        }
        let opts = AcceptOptions {
            package_submission: true,
            ..Default::default()
        };
        self.accept_locked(chain, tx.clone(), opts)
    }

    fn submit_package_locked(&self, chain: &mut ChainManager, txs: &[Transaction], max_feerate: Option<u64>) -> PackageOutcome {
        let mut results: Vec<Option<TxOutcome>> = vec![None; txs.len()];
        let mut individual: Vec<Option<Reject>> = vec![None; txs.len()];
        let mut deferred: Vec<usize> = Vec::new();
        let mut quit_early = false;
        for (i, tx) in txs.iter().enumerate() {
            let (txid, wtxid) = (tx.compute_txid(), tx.compute_wtxid());
            let known = {
                let pool = lock(&self.pool);
                match pool.txid_of_wtxid(&wtxid).and_then(|t| pool.get(&t)) {
                    Some(e) => Some(TxOutcome::InMempool {
                        vsize: e.vsize,
                        fee: e.fee,
                    }),
                    None => pool.get(&txid).map(|e| TxOutcome::DifferentWitness(e.wtxid)),
                }
            };
            if let Some(k) = known {
                results[i] = Some(k);
                continue;
            }
            match self.accept_single(chain, tx, max_feerate) {
                Ok(a) => {
                    let effective_feerate = feerate_per_kvb(a.modified_fee, a.vsize);
                    results[i] = Some(TxOutcome::Accepted {
                        accepted: a,
                        effective_feerate,
                        includes: vec![wtxid],
                    });
                }
                Err(r) => {
                    if txs.len() == 1 || !reconsiderable(&r) {
                        quit_early = true;
                    } else {
                        deferred.push(i);
                    }
                    individual[i] = Some(r);
                }
            }
        }
        let mut failed = quit_early;
        let mut package_msg = None;
        if !quit_early && !deferred.is_empty() {
            let group: Vec<&Transaction> = deferred.iter().map(|i| &txs[*i]).collect();
            match self.accept_subpackage(chain, &group, max_feerate) {
                Ok(accepted) => {
                    let (fee, vsize) = accepted
                        .iter()
                        .fold((0u64, 0u64), |(f, v), a| (f.saturating_add(a.modified_fee), v + a.vsize));
                    let rate = feerate_per_kvb(fee, vsize);
                    let includes: Vec<Wtxid> = accepted.iter().map(|a| a.wtxid).collect();
                    for (i, a) in deferred.iter().zip(accepted) {
                        results[*i] = Some(TxOutcome::Accepted {
                            accepted: a,
                            effective_feerate: rate,
                            includes: includes.clone(),
                        });
                    }
                }
                Err((j, r)) => {
                    failed = true;
                    match deferred.get(j) {
                        Some(i) => results[*i] = Some(TxOutcome::Failed(r)),
                        // A package-level failure: the members keep their lone results.
                        None => package_msg = Some(r.reason),
                    }
                }
            }
        }
        // As Core: size limiting runs once, after the whole package; a member it evicted
        // fails with "mempool full".
        let mut events = Vec::new();
        {
            let mut pool = lock(&self.pool);
            accept::limit_size(&mut pool, &self.settings, self.now(), &mut events);
            for r in results.iter_mut() {
                if let Some(TxOutcome::Accepted { accepted, .. }) = r {
                    if !pool.contains(&accepted.txid) {
                        *r = Some(TxOutcome::Failed(Reject::new("mempool full", "")));
                        failed = true;
                    }
                }
            }
        }
        self.queue(events);
        let results = results
            .into_iter()
            .zip(individual)
            .map(|(r, ind)| match (r, ind) {
                (Some(r), _) => r,
                (None, Some(rej)) => {
                    failed = true;
                    TxOutcome::Failed(rej)
                }
                (None, None) => TxOutcome::NotValidated,
            })
            .collect();
        PackageOutcome {
            error: package_msg.or_else(|| failed.then(|| "transaction failed".to_string())),
            results,
        }
    }

    /// When member `j` of a package failed with `r` validated on a scratch pool holding the
    /// earlier members: the package TRUC violation Core reports instead, if any. Core checks each
    /// member against pool parents only and the package TRUC rules after, so a TRUC failure
    /// with earlier members present may be the package-level one.
    pub fn package_truc_instead(&self, txs: &[&Transaction], j: usize, r: &Reject) -> Option<String> {
        truc_instead(j, r, || truc_package::package_truc_violation(&lock(&self.pool), txs))
    }

    /// Core's AcceptSubPackage for several transactions: all are validated in the pool itself
    /// with the feerate floors lifted (Core validates against a mempool overlay; copying the
    /// pool instead would cost its whole size per attempt, which any peer can trigger through
    /// 1p1c relay), the package's total modified feerate must meet the floors instead, and
    /// any failure rolls the pool back exactly (size limiting is the caller's, once for the
    /// whole package). On failure, the index (into `txs`) of the member to blame and why, or
    /// `usize::MAX` for a package-level failure (Core's PackageTRUCChecks).
    fn accept_subpackage(
        &self,
        chain: &mut ChainManager,
        txs: &[&Transaction],
        max_feerate: Option<u64>,
    ) -> Result<Vec<Accepted>, (usize, Reject)> {
        let last = txs.len().saturating_sub(1);
        let now = self.now();
        let opts = AcceptOptions {
            bypass_limits: true,
            allow_replacement: false,
            ..Default::default()
        };
        let mut pool = lock(&self.pool);
        // Judged on the pool without the package, reported only if every member passes alone.
        let truc = truc_package::package_truc_violation(&pool, txs);
        let mark = pool.trial_mark();
        let mut events = Vec::new();
        let mut out: Vec<Accepted> = Vec::with_capacity(txs.len());
        let (mut fee, mut vsize) = (0u64, 0u64);
        let mut r = Ok(());
        for (j, tx) in txs.iter().enumerate() {
            let a = match accept::accept_tx(chain, &mut pool, &self.settings, Arc::new((*tx).clone()), &opts, &mut events) {
                Ok(a) => a,
                Err(e) => {
                    r = Err(match truc_instead(j, &e, || truc.clone()) {
                        Some(m) => (usize::MAX, Reject::new(m, "")),
                        None => (j, e),
                    });
                    break;
                }
            };
            // Replacement is off, so a member never evicts: rolling back removes only members.
            debug_assert!(a.replaced.is_empty());
            let too_high = max_feerate.is_some_and(|m| feerate_per_kvb(a.modified_fee, a.vsize) > m);
            fee = fee.saturating_add(a.modified_fee);
            vsize += a.vsize;
            out.push(a);
            if too_high {
                r = Err((j, max_feerate_exceeded()));
                break;
            }
        }
        if r.is_ok() {
            if let Some(e) = truc {
                r = Err((usize::MAX, Reject::new(e, "")));
            }
        }
        if r.is_ok() {
            r = accept::check_feerate_floor(&mut pool, &self.settings, now, fee, vsize).map_err(|e| (last, e));
        }
        if let Err(e) = r {
            let added: Vec<Txid> = out.iter().map(|a| a.txid).collect();
            pool.roll_back(mark, &added);
            return Err(e);
        }
        drop(pool);
        self.queue(events);
        tracing::debug!(target: "blvm::mempool", members = out.len(), fee, vsize, "package accepted at its package feerate");
        Ok(out)
    }
}

/// Core's order of TRUC checks: a TRUC failure of a later member (validated with earlier ones
/// present) is reported as the package's TRUC violation when there is one (`violation`, judged
/// on the pool without the package).
fn truc_instead(j: usize, r: &Reject, violation: impl FnOnce() -> Option<String>) -> Option<String> {
    (j > 0 && r.reason == "TRUC-violation").then(violation).flatten()
}

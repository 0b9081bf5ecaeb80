//! Transaction acceptance (Core's MemPoolAccept for one transaction): context-free checks,
//! standardness, finality at the next block, inputs from the UTXO set or in-pool parents,
//! BIP68 sequence locks, coinbase maturity, fees, sigops, feerate floors, TRUC rules,
//! replacement rules, cluster limits, consensus scripts through Core's interpreter, the structural policy
//! script rules, then admission and size limiting.

use super::cluster_limits;
use super::entry::{adjusted_weight, fee_at, feerate_per_kvb, modified_fee, virtual_size, MempoolEntry, DEFAULT_BYTES_PER_SIGOP};
use super::policy::{self, PolicyRules};
use super::pool::{Pool, RemovalReason};
use super::rbf;
use super::MempoolSettings;
use crate::chain::ChainManager;
use crate::chainstate::Coin;
use crate::validation::locks::{is_final_tx, sequence_lock, sequence_lock_satisfied};
use crate::validation::script_error::{failing_input_detail, first_script_error, mempool_script_reject, standard_script_verify_flags};
use crate::validation::scripts::block_script_flags;
use crate::validation::sigops::sigop_cost;
use crate::validation::tx_check::check_transaction;
use crate::validation::tx_inputs::check_tx_inputs;
use crate::validation::Reject;
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, OutPoint, Transaction, TxOut, Txid, Wtxid};
use std::collections::BTreeSet;
use std::sync::Arc;

/// TRUC (BIP431) transaction version.
pub const TRUC_VERSION: i32 = 3;
/// Largest TRUC transaction.
pub const TRUC_MAX_VSIZE: u64 = 10_000;
/// Largest TRUC transaction with an unconfirmed TRUC parent.
pub const TRUC_CHILD_MAX_VSIZE: u64 = 1_000;

/// How a transaction is submitted.
#[derive(Debug, Clone, Copy)]
pub struct AcceptOptions {
    /// Check only; do not add (testmempoolaccept).
    pub test_accept: bool,
    /// Skip feerate floors and size limiting (re-admission after a reorg).
    pub bypass_limits: bool,
    /// Entry time to record (None: now).
    pub accept_time: Option<i64>,
    /// Whether conflicting transactions may be replaced.
    pub allow_replacement: bool,
    /// Re-admission after a reorg: as Core, TRUC topology rules and the cluster limits are not
    /// applied (oversized clusters are trimmed once all are back, Core's
    /// UpdateTransactionsFromBlock).
    pub reorg_readmission: bool,
    /// Part of a package (Core's m_package_submission): size limiting is left to the end of
    /// the package, so a member cannot evict an earlier one before the child pays for it.
    pub package_submission: bool,
}

impl Default for AcceptOptions {
    fn default() -> Self {
        AcceptOptions {
            test_accept: false,
            bypass_limits: false,
            accept_time: None,
            allow_replacement: true,
            reorg_readmission: false,
            package_submission: false,
        }
    }
}

/// A transaction that passed (and, unless test-only, entered the pool).
#[derive(Debug, Clone)]
pub struct Accepted {
    /// Its txid.
    pub txid: Txid,
    /// Its wtxid.
    pub wtxid: Wtxid,
    /// Sigop-adjusted vsize.
    pub vsize: u64,
    /// Fee in satoshis.
    pub fee: u64,
    /// Fee plus its prioritisetransaction delta (floored at 0).
    pub modified_fee: u64,
    /// Transactions it replaced (direct conflicts and their descendants).
    pub replaced: Vec<Txid>,
}

/// A pool change to report as module events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolEvent {
    /// A transaction entered.
    Added {
        /// The transaction.
        tx: Arc<Transaction>,
        /// Its txid.
        txid: Txid,
        /// Its wtxid.
        wtxid: Wtxid,
        /// Fee in satoshis.
        fee: u64,
        /// Virtual size.
        vsize: u64,
        /// The mempool sequence of this addition (Core's TransactionAddedToMempool).
        mempool_sequence: u64,
    },
    /// A transaction left.
    Removed {
        /// Its txid.
        txid: Txid,
        /// Why.
        reason: RemovalReason,
        /// The mempool sequence of this removal.
        mempool_sequence: u64,
    },
}

/// Validates `tx` against the chain tip and the pool and, unless `opts.test_accept`, adds it.
/// Pool changes are appended to `events`.
pub fn accept_tx(
    chain: &mut ChainManager,
    pool: &mut Pool,
    settings: &MempoolSettings,
    tx: Arc<Transaction>,
    opts: &AcceptOptions,
    events: &mut Vec<PoolEvent>,
) -> Result<Accepted, Reject> {
    let now = (settings.clock)();
    let txid = tx.compute_txid();
    let wtxid = tx.compute_wtxid();
    let tip_height = chain.height();
    let next_height = tip_height + 1;
    let tip_mtp = chain.mtp_at(tip_height);
    let cand = Candidate {
        tx: &tx,
        txid,
        wtxid,
        next_height,
        tip_mtp,
        opts,
    };
    let mut conflicts = pre_checks(pool, settings, &cand)?;
    // Inputs: in-pool parents' outputs, else the UTXO set.
    let coins = input_coins(chain, pool, &tx, &txid, next_height)?;
    // BIP68 relative lock-times, evaluated for the next block.
    let heights: Vec<u32> = coins.iter().map(|c| c.height).collect();
    let lock = sequence_lock(&tx, &heights, &|h| chain.mtp_at(h));
    if !sequence_lock_satisfied(lock, next_height, tip_mtp) {
        return Err(Reject::new("non-BIP68-final", ""));
    }
    // Core's CheckTxInputs at the next height.
    let fee = check_tx_inputs(&tx, &coins, next_height, chain.coinbase_maturity())?;
    let spent: Vec<TxOut> = coins.iter().map(|c| c.output.clone()).collect();
    if settings.require_standard {
        policy::check_inputs_standard(&tx, &spent)?;
        if tx.input.iter().any(|i| !i.witness.is_empty()) && !policy::is_witness_standard(&tx, &spent) {
            return Err(Reject::new("bad-witness-nonstandard", ""));
        }
    }
    let spent_refs: Vec<&TxOut> = spent.iter().collect();
    let sigops = sigop_cost(&tx, &spent_refs, true, true);
    let weight = tx.weight().to_wu();
    let vsize = virtual_size(weight, sigops, DEFAULT_BYTES_PER_SIGOP);
    if settings.require_standard && fee != 0 && !policy::dust_outputs(&tx, settings.dust_relay_feerate).is_empty() {
        return Err(Reject::new("dust", "tx with dust output must be 0-fee"));
    }
    if sigops > policy::MAX_STANDARD_TX_SIGOPS_COST {
        return Err(Reject::new("bad-txns-too-many-sigops", format!("{sigops}")));
    }
    // Feerate floors and replacement rules use the modified fee (prioritisetransaction).
    let delta = pool.delta_of(&txid);
    let modified = modified_fee(fee, delta);
    if !opts.bypass_limits {
        check_feerate_floor(pool, settings, now, modified, vsize)?;
    }
    // In-pool ancestors, walked no further than a cluster within the limits could reach.
    let parents = pool.parents_of(&tx);
    let ancestor_cap = match opts.reorg_readmission {
        true => u64::MAX,
        false => settings.limits.cluster_count.saturating_sub(1),
    };
    let ancestors = pool
        .ancestors_within(&parents, ancestor_cap)
        .ok_or_else(|| Reject::new(cluster_limits::TOO_LARGE_CLUSTER, ""))?;
    // TRUC (v3) topology rules, with sibling eviction.
    let sibling_eviction = !opts.reorg_readmission && truc_checks(pool, &cand, &ancestors, &mut conflicts, vsize)?;
    if let Some(c) = ancestors.iter().find(|a| conflicts.contains(*a)) {
        return Err(Reject::new(
            "bad-txns-spends-conflicting-tx",
            format!("{txid} spends conflicting transaction {c}"),
        ));
    }
    let to_evict = if conflicts.is_empty() {
        BTreeSet::new()
    } else {
        let new = rbf::Replacement {
            txid,
            fee: modified,
            vsize,
            parents: &parents,
        };
        rbf::check(pool, &new, &conflicts, settings.incremental_relay_feerate).map_err(|mut r| {
            // Core's wording when the conflict is a TRUC sibling.
            if sibling_eviction && matches!(r.reason.as_str(), "insufficient fee" | "too many potential replacements") {
                r.reason.push_str(" (including sibling eviction)");
            }
            r
        })?
    };
    // Core 31's cluster limits, with what the transaction replaces taken out.
    if !opts.reorg_readmission {
        let own = adjusted_weight(weight, sigops, DEFAULT_BYTES_PER_SIGOP);
        cluster_limits::check(pool, &parents, own, &to_evict, &settings.limits)?;
    }
    check_scripts(chain, settings, &tx, &wtxid, &spent, next_height)?;
    let accepted = Accepted {
        txid,
        wtxid,
        vsize,
        fee,
        modified_fee: modified,
        replaced: to_evict.iter().copied().collect(),
    };
    if opts.test_accept {
        return Ok(accepted);
    }
    evict_replaced(pool, &to_evict, &txid, events);
    let spends_coinbase = coins.iter().any(|c| c.is_coinbase);
    let entry = MempoolEntry {
        tx: tx.clone(),
        txid,
        wtxid,
        fee,
        vsize,
        weight,
        sigop_cost: sigops,
        time: opts.accept_time.unwrap_or(now),
        height: tip_height,
        sequence: pool.next_entry_sequence(),
        relay_sequence: 0,
        spends_coinbase,
        parents: BTreeSet::new(),
        children: BTreeSet::new(),
        delta,
    };
    let mempool_sequence = pool.sequence();
    pool.add(entry);
    if opts.reorg_readmission {
        pool.set_relay_sequence(&txid, 0);
    }
    events.push(PoolEvent::Added {
        tx: tx.clone(),
        txid,
        wtxid,
        fee,
        vsize,
        mempool_sequence,
    });
    if !opts.bypass_limits && !opts.package_submission {
        limit_size(pool, settings, now, events);
        if !pool.contains(&txid) {
            return Err(Reject::new("mempool full", ""));
        }
    }
    Ok(accepted)
}

/// The transaction under validation with the chain context it is judged in (the next block's
/// height, the tip's median time past) and the caller's options, passed as one to the checks.
struct Candidate<'a> {
    tx: &'a Transaction,
    txid: Txid,
    wtxid: Wtxid,
    next_height: u32,
    tip_mtp: i64,
    opts: &'a AcceptOptions,
}

/// Records removed transactions as [`PoolEvent::Removed`], numbered from `base` (the pool's
/// mempool sequence before the removal), the one way every removal reaches the event stream.
pub(crate) fn record_removed(events: &mut Vec<PoolEvent>, base: u64, removed: impl IntoIterator<Item = (Txid, RemovalReason)>) {
    for (i, (txid, reason)) in removed.into_iter().enumerate() {
        events.push(PoolEvent::Removed {
            txid,
            reason,
            mempool_sequence: base + i as u64,
        });
    }
}

/// Removes the transactions `by` replaces, with their descendants, recording each removal.
fn evict_replaced(pool: &mut Pool, to_evict: &BTreeSet<Txid>, by: &Txid, events: &mut Vec<PoolEvent>) {
    for t in to_evict {
        tracing::debug!(target: "blvm::mempool", replaced = %t, by = %by, "replaced (with descendants)");
        let base = pool.sequence();
        let removed = pool.remove_with_descendants(t);
        record_removed(events, base, removed.into_iter().map(|e| (e.txid, RemovalReason::Replaced)));
    }
}

/// Core's PreChecks before any coin is looked up: context-free and standardness rules,
/// finality, duplicates, and the in-pool transactions `tx` conflicts with (replacement allowed?).
fn pre_checks(pool: &Pool, settings: &MempoolSettings, cand: &Candidate) -> Result<BTreeSet<Txid>, Reject> {
    let Candidate {
        tx,
        txid,
        wtxid,
        next_height,
        tip_mtp,
        opts,
    } = *cand;
    check_transaction(tx)?;
    if tx.is_coinbase() {
        return Err(Reject::new("coinbase", ""));
    }
    if settings.require_standard {
        let rules = PolicyRules {
            dust_relay_fee: settings.dust_relay_feerate,
            max_datacarrier_bytes: settings.max_datacarrier_bytes,
            permit_bare_multisig: settings.permit_bare_multisig,
        };
        policy::check_standard_tx(tx, &rules)?;
    }
    if tx.base_size() < policy::MIN_STANDARD_TX_NONWITNESS_SIZE {
        return Err(Reject::new("tx-size-small", ""));
    }
    if !is_final_tx(tx, next_height, tip_mtp) {
        return Err(Reject::new("non-final", ""));
    }
    if pool.txid_of_wtxid(&wtxid).is_some() {
        return Err(Reject::new("txn-already-in-mempool", ""));
    }
    if pool.contains(&txid) {
        return Err(Reject::new("txn-same-nonwitness-data-in-mempool", ""));
    }
    let mut conflicts: BTreeSet<Txid> = BTreeSet::new();
    for input in &tx.input {
        if let Some(c) = pool.spender(&input.previous_output) {
            if !opts.allow_replacement {
                return Err(Reject::new("bip125-replacement-disallowed", ""));
            }
            if !settings.full_rbf && !conflicts.contains(&c) {
                let e = pool.get(&c);
                let replaceable = e.map(|e| e.signals_rbf() || e.is_truc()).unwrap_or(true);
                if !replaceable {
                    return Err(Reject::new("txn-mempool-conflict", ""));
                }
            }
            conflicts.insert(c);
        }
    }
    Ok(conflicts)
}

/// The coins `tx` spends: in-pool parents' outputs, else the UTXO set; a missing one rejects
/// (as `txn-already-known` when `tx`'s own outputs are already in the UTXO set).
fn input_coins(chain: &mut ChainManager, pool: &Pool, tx: &Transaction, txid: &Txid, next_height: u32) -> Result<Vec<Coin>, Reject> {
    let mut coins: Vec<Coin> = Vec::with_capacity(tx.input.len());
    for input in &tx.input {
        let op = input.previous_output;
        let from_pool = pool.get(&op.txid).and_then(|p| p.tx.output.get(op.vout as usize).cloned());
        let coin = match from_pool {
            Some(output) => Some(Coin {
                output,
                height: next_height,
                is_coinbase: false,
            }),
            None => chain
                .get_coin(&op)
                .map_err(|e| Reject::new("bad-txns-inputs-missingorspent", format!("chainstate read failed: {e}")))?,
        };
        match coin {
            Some(c) => coins.push(c),
            None => {
                for vout in 0..tx.output.len() as u32 {
                    if matches!(chain.get_coin(&OutPoint { txid: *txid, vout }), Ok(Some(_))) {
                        return Err(Reject::new("txn-already-known", ""));
                    }
                }
                tracing::trace!(target: "blvm::mempool", %txid, input = %op, "input missing or spent");
                return Err(Reject::new("bad-txns-inputs-missingorspent", ""));
            }
        }
    }
    Ok(coins)
}

/// Runs `tx`'s scripts for the mempool and, when they pass, remembers the transaction in the
/// script execution cache under the next block's flags.
fn check_scripts(
    chain: &mut ChainManager,
    settings: &MempoolSettings,
    tx: &Transaction,
    wtxid: &Wtxid,
    spent: &[TxOut],
    next_height: u32,
) -> Result<(), Reject> {
    // Scripts. Policy (Core's PolicyScriptChecks): every input under Core's standard flags, by
    // Core's interpreter through the shim, which names the first failing input's error; as in
    // Core, also under `-acceptnonstdtxn` (which skips only the standardness rules outside the
    // interpreter). The standard flags include every consensus flag of the next block, so
    // passing them passes those (Core re-runs the consensus flags here against its signature
    // cache). When the script execution cache already holds the transaction under the next
    // block's flags, only the structural policy rules run.
    let flags = block_script_flags(chain.params(), next_height, &BlockHash::all_zeros());
    if !chain.script_cache().contains(wtxid, flags, false) {
        let failure = match first_script_error(tx, spent, standard_script_verify_flags()) {
            Ok(None) => None,
            Ok(Some((i, e))) => Some(Reject::new(
                format!("mempool-script-verify-flag-failed ({})", e.text),
                failing_input_detail(tx, i),
            )),
            Err(e) => Some(Reject::new("mempool-script-verify-flag-failed", format!("interpreter: {e}"))),
        };
        if let Some(mut r) = failure {
            // Core's TX_WITNESS_STRIPPED: a copy without witnesses of a transaction that needs
            // them fails, and says nothing of the transaction with its witnesses.
            r.may_be_mutated = tx.input.iter().all(|i| i.witness.is_empty()) && policy::spends_non_anchor_witness_program(tx, spent);
            return Err(r);
        }
    } else if settings.require_standard {
        for (i, prev) in spent.iter().enumerate() {
            if let Err(e) = policy::check_input_script_policy(tx, i, prev) {
                return Err(mempool_script_reject(tx, spent, i, e));
            }
        }
    }
    // As Core's ConsensusScriptChecks: every input passed under the flags the next block will
    // be checked with, so connecting that block need not run them again.
    chain.script_cache().insert(wtxid, flags);
    Ok(())
}

/// Core's CheckFeeRate: `fee` for `vsize` must meet the mempool minimum and the minimum relay
/// feerate.
pub fn check_feerate_floor(pool: &mut Pool, settings: &MempoolSettings, now: i64, fee: u64, vsize: u64) -> Result<(), Reject> {
    let min = pool.min_fee(settings.max_size_bytes, settings.incremental_relay_feerate, now);
    let reject_fee = fee_at(min, vsize);
    if reject_fee > 0 && fee < reject_fee {
        return Err(Reject::new("mempool min fee not met", format!("{fee} < {reject_fee}")));
    }
    let relay_fee = fee_at(settings.min_relay_feerate, vsize);
    if fee < relay_fee {
        return Err(Reject::new("min relay fee not met", format!("{fee} < {relay_fee}")));
    }
    Ok(())
}

/// Core's LimitMempoolSize: expiry, then eviction down to the size limit.
pub fn limit_size(pool: &mut Pool, settings: &MempoolSettings, now: i64, events: &mut Vec<PoolEvent>) {
    let cutoff = now - settings.expiry.as_secs() as i64;
    let base = pool.sequence();
    let expired = pool.expire(cutoff);
    record_removed(events, base, expired.into_iter().map(|e| (e.txid, RemovalReason::Expiry)));
    if pool.usage() > settings.max_size_bytes {
        pool.touch_rolling_clock(now);
        let base = pool.sequence();
        let evicted = pool.trim_to_size(settings.max_size_bytes, settings.incremental_relay_feerate);
        for e in &evicted {
            tracing::debug!(target: "blvm::mempool", txid = %e.txid, feerate = feerate_per_kvb(e.fee, e.vsize), "evicted (mempool full)");
        }
        record_removed(events, base, evicted.into_iter().map(|e| (e.txid, RemovalReason::SizeLimit)));
    }
}

/// Core's SingleTRUCChecks; returns whether a sibling was added to `conflicts` for eviction.
fn truc_checks(
    pool: &Pool,
    cand: &Candidate,
    ancestors: &BTreeSet<Txid>,
    conflicts: &mut BTreeSet<Txid>,
    vsize: u64,
) -> Result<bool, Reject> {
    let Candidate { tx, txid, wtxid, .. } = *cand;
    let sibling_eviction = cand.opts.allow_replacement;
    let v3 = tx.version.0 == TRUC_VERSION;
    for a in ancestors {
        let Some(e) = pool.get(a) else { continue };
        if !v3 && e.is_truc() {
            return Err(Reject::new(
                "TRUC-violation",
                format!(
                    "non-version=3 tx {txid} (wtxid={wtxid}) cannot spend from version=3 tx {} (wtxid={})",
                    e.txid, e.wtxid
                ),
            ));
        }
        if v3 && !e.is_truc() {
            return Err(Reject::new(
                "TRUC-violation",
                format!(
                    "version=3 tx {txid} (wtxid={wtxid}) cannot spend from non-version=3 tx {} (wtxid={})",
                    e.txid, e.wtxid
                ),
            ));
        }
    }
    if !v3 {
        return Ok(false);
    }
    if vsize > TRUC_MAX_VSIZE {
        return Err(Reject::new(
            "TRUC-violation",
            format!("version=3 tx {txid} (wtxid={wtxid}) is too big: {vsize} > {TRUC_MAX_VSIZE} virtual bytes"),
        ));
    }
    if ancestors.len() + 1 > 2 {
        return Err(Reject::new(
            "TRUC-violation",
            format!("tx {txid} (wtxid={wtxid}) would have too many ancestors"),
        ));
    }
    let Some(parent) = ancestors.first().and_then(|p| pool.get(p)) else {
        return Ok(false);
    };
    if vsize > TRUC_CHILD_MAX_VSIZE {
        return Err(Reject::new(
            "TRUC-violation",
            format!("version=3 child tx {txid} (wtxid={wtxid}) is too big: {vsize} > {TRUC_CHILD_MAX_VSIZE} virtual bytes"),
        ));
    }
    let child_will_be_replaced = parent.children.iter().any(|c| conflicts.contains(c));
    let parent_desc = pool.descendant_stats(&parent.txid).count;
    if parent_desc + 1 > 2 && !child_will_be_replaced {
        let sibling = parent.children.first().copied();
        let sibling_ok = sibling_eviction && parent_desc == 2 && sibling.map(|s| pool.ancestor_stats(&s).count == 2).unwrap_or(false);
        match sibling {
            Some(s) if sibling_ok => {
                // Sibling eviction: treat the existing child as a conflict, under the RBF rules.
                conflicts.insert(s);
                return Ok(true);
            }
            _ => {
                return Err(Reject::new(
                    "TRUC-violation",
                    format!("tx {} (wtxid={}) would exceed descendant count limit", parent.txid, parent.wtxid),
                ));
            }
        }
    }
    Ok(false)
}

//! The transaction graph: entries, parent/child links, spent outpoints, ancestor/descendant
//! limits, Core's replacement (RBF) rules, size-limit eviction by descendant feerate, expiry and
//! the rolling minimum fee.

use super::entry::{feerate_gt, feerate_per_kvb, MempoolEntry};
use crate::validation::Reject;
use bitcoin::{OutPoint, Transaction, Txid, Wtxid};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Core's ancestor/descendant package limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most in-mempool ancestors, counting the transaction itself.
    pub ancestor_count: u64,
    /// Largest total vsize of a transaction and its ancestors.
    pub ancestor_size_vbytes: u64,
    /// Most in-mempool descendants of any ancestor, counting itself.
    pub descendant_count: u64,
    /// Largest total vsize of any ancestor and its descendants.
    pub descendant_size_vbytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ancestor_count: 25,
            ancestor_size_vbytes: 101_000,
            descendant_count: 25,
            descendant_size_vbytes: 101_000,
        }
    }
}

/// Most transactions one replacement may evict (BIP125 rule 5).
pub const MAX_REPLACEMENT_CANDIDATES: usize = 100;
/// Half-life of the rolling minimum fee, in seconds.
pub const ROLLING_FEE_HALFLIFE: i64 = 60 * 60 * 12;

/// Why entries left the pool (the strings of the MempoolTransactionRemoved event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalReason {
    /// Included in a connected block.
    Block,
    /// Spent an input that a block transaction spent.
    Conflict,
    /// Replaced by a transaction paying more (RBF).
    Replaced,
    /// Older than the expiry.
    Expiry,
    /// Evicted to keep the pool under its size limit.
    SizeLimit,
    /// No longer valid after a chain reorganisation.
    Reorg,
}

impl RemovalReason {
    /// The event string.
    pub fn as_str(&self) -> &'static str {
        match self {
            RemovalReason::Block => "block",
            RemovalReason::Conflict => "conflict",
            RemovalReason::Replaced => "replaced",
            RemovalReason::Expiry => "expiry",
            RemovalReason::SizeLimit => "size_limit",
            RemovalReason::Reorg => "reorg",
        }
    }
}

/// Aggregates over a set of entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Aggregate {
    /// Number of entries.
    pub count: u64,
    /// Total vsize.
    pub vsize: u64,
    /// Total fee.
    pub fee: u64,
}

/// The in-memory transaction pool.
#[derive(Debug, Default, Clone)]
pub struct Pool {
    entries: HashMap<Txid, MempoolEntry>,
    by_wtxid: HashMap<Wtxid, Txid>,
    spenders: HashMap<OutPoint, Txid>,
    total_vsize: u64,
    total_fee: u64,
    usage: u64,
    sequence: u64,
    next_entry: u64,
    updates: u64,
    rolling_min_fee: f64,
    last_rolling_update: i64,
    block_since_bump: bool,
}

impl Pool {
    /// An empty pool.
    pub fn new() -> Self {
        Pool::default()
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sum of vsizes.
    pub fn total_vsize(&self) -> u64 {
        self.total_vsize
    }

    /// Sum of fees.
    pub fn total_fee(&self) -> u64 {
        self.total_fee
    }

    /// Approximate memory usage (the unit of the size limit).
    pub fn usage(&self) -> u64 {
        self.usage
    }

    /// Mempool sequence: incremented on every addition and removal (getrawmempool's
    /// `mempool_sequence`).
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Number of times the contents changed (getblocktemplate's longpollid).
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The entry for `txid`.
    pub fn get(&self, txid: &Txid) -> Option<&MempoolEntry> {
        self.entries.get(txid)
    }

    /// The txid of the entry with witness hash `wtxid`.
    pub fn txid_of_wtxid(&self, wtxid: &Wtxid) -> Option<Txid> {
        self.by_wtxid.get(wtxid).copied()
    }

    /// Whether `txid` is in the pool.
    pub fn contains(&self, txid: &Txid) -> bool {
        self.entries.contains_key(txid)
    }

    /// The pool transaction spending `op`, if any.
    pub fn spender(&self, op: &OutPoint) -> Option<Txid> {
        self.spenders.get(op).copied()
    }

    /// All entries (arbitrary order).
    pub fn entries(&self) -> impl Iterator<Item = &MempoolEntry> {
        self.entries.values()
    }

    /// Entries in the order they entered.
    pub fn entries_by_sequence(&self) -> Vec<&MempoolEntry> {
        let mut v: Vec<&MempoolEntry> = self.entries.values().collect();
        v.sort_by_key(|e| e.sequence);
        v
    }

    /// The next entry sequence number.
    pub fn next_entry_sequence(&mut self) -> u64 {
        self.next_entry += 1;
        self.next_entry
    }

    fn walk(&self, start: &Txid, up: bool) -> BTreeSet<Txid> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![*start];
        while let Some(t) = stack.pop() {
            if let Some(e) = self.entries.get(&t) {
                for n in if up { &e.parents } else { &e.children } {
                    if seen.insert(*n) {
                        stack.push(*n);
                    }
                }
            }
        }
        seen
    }

    /// In-pool ancestors of `txid` (not including itself).
    pub fn ancestors(&self, txid: &Txid) -> BTreeSet<Txid> {
        self.walk(txid, true)
    }

    /// In-pool descendants of `txid` (not including itself).
    pub fn descendants(&self, txid: &Txid) -> BTreeSet<Txid> {
        self.walk(txid, false)
    }

    /// Count, vsize and fee of `set`.
    pub fn aggregate<'a>(&self, set: impl IntoIterator<Item = &'a Txid>) -> Aggregate {
        let mut a = Aggregate::default();
        for t in set {
            if let Some(e) = self.entries.get(t) {
                a.count += 1;
                a.vsize += e.vsize;
                a.fee += e.fee;
            }
        }
        a
    }

    /// `txid` with its ancestors.
    pub fn ancestor_stats(&self, txid: &Txid) -> Aggregate {
        let mut set = self.ancestors(txid);
        set.insert(*txid);
        self.aggregate(&set)
    }

    /// `txid` with its descendants.
    pub fn descendant_stats(&self, txid: &Txid) -> Aggregate {
        let mut set = self.descendants(txid);
        set.insert(*txid);
        self.aggregate(&set)
    }

    /// In-pool parents of a transaction not yet in the pool.
    pub fn parents_of(&self, tx: &Transaction) -> BTreeSet<Txid> {
        tx.input
            .iter()
            .map(|i| i.previous_output.txid)
            .filter(|t| self.entries.contains_key(t))
            .collect()
    }

    /// Core's CalculateMemPoolAncestors for a new transaction of `vsize` with in-pool `parents`:
    /// its ancestor set, or Core's limit error text.
    pub fn check_ancestor_limits(&self, parents: &BTreeSet<Txid>, vsize: u64, limits: &Limits) -> Result<BTreeSet<Txid>, String> {
        if parents.len() as u64 + 1 > limits.ancestor_count {
            return Err(format!("too many unconfirmed parents [limit: {}]", limits.ancestor_count));
        }
        let mut staged: BTreeSet<Txid> = parents.clone();
        let mut ancestors = BTreeSet::new();
        let mut total = vsize;
        while let Some(t) = staged.pop_first() {
            let Some(e) = self.entries.get(&t) else { continue };
            ancestors.insert(t);
            total += e.vsize;
            let desc = self.descendant_stats(&t);
            if desc.vsize + vsize > limits.descendant_size_vbytes {
                return Err(format!(
                    "exceeds descendant size limit for tx {t} [limit: {}]",
                    limits.descendant_size_vbytes
                ));
            } else if desc.count + 1 > limits.descendant_count {
                return Err(format!("too many descendants for tx {t} [limit: {}]", limits.descendant_count));
            } else if total > limits.ancestor_size_vbytes {
                return Err(format!("exceeds ancestor size limit [limit: {}]", limits.ancestor_size_vbytes));
            }
            for p in &e.parents {
                if !ancestors.contains(p) {
                    staged.insert(*p);
                }
                if (staged.len() + ancestors.len() + 1) as u64 > limits.ancestor_count {
                    return Err(format!("too many unconfirmed ancestors [limit: {}]", limits.ancestor_count));
                }
            }
        }
        Ok(ancestors)
    }

    /// Adds an entry whose inputs are all available and conflict with nothing in the pool.
    pub fn add(&mut self, mut entry: MempoolEntry) {
        let txid = entry.txid;
        entry.parents = self.parents_of(&entry.tx);
        entry.children.clear();
        for p in &entry.parents {
            if let Some(pe) = self.entries.get_mut(p) {
                pe.children.insert(txid);
            }
        }
        for i in &entry.tx.input {
            self.spenders.insert(i.previous_output, txid);
        }
        // Children already in the pool (re-added parents after a reorg).
        for (vout, _) in entry.tx.output.iter().enumerate() {
            if let Some(c) = self.spenders.get(&OutPoint { txid, vout: vout as u32 }).copied() {
                entry.children.insert(c);
                if let Some(ce) = self.entries.get_mut(&c) {
                    ce.parents.insert(txid);
                }
            }
        }
        self.total_vsize += entry.vsize;
        self.total_fee += entry.fee;
        self.usage += entry.usage();
        self.by_wtxid.insert(entry.wtxid, txid);
        self.sequence += 1;
        self.updates += 1;
        self.entries.insert(txid, entry);
    }

    /// Removes one entry, unlinking it (its children stay, now spending a missing parent).
    fn remove_one(&mut self, txid: &Txid) -> Option<MempoolEntry> {
        let e = self.entries.remove(txid)?;
        for p in &e.parents {
            if let Some(pe) = self.entries.get_mut(p) {
                pe.children.remove(txid);
            }
        }
        for c in &e.children {
            if let Some(ce) = self.entries.get_mut(c) {
                ce.parents.remove(txid);
            }
        }
        for i in &e.tx.input {
            if self.spenders.get(&i.previous_output) == Some(txid) {
                self.spenders.remove(&i.previous_output);
            }
        }
        self.by_wtxid.remove(&e.wtxid);
        self.total_vsize -= e.vsize;
        self.total_fee -= e.fee;
        self.usage = self.usage.saturating_sub(e.usage());
        self.sequence += 1;
        self.updates += 1;
        Some(e)
    }

    /// Removes `txid` and all its descendants (descendants first).
    pub fn remove_with_descendants(&mut self, txid: &Txid) -> Vec<MempoolEntry> {
        if !self.entries.contains_key(txid) {
            return Vec::new();
        }
        let mut order: Vec<Txid> = self.descendants(txid).into_iter().collect();
        order.sort_by_key(|t| std::cmp::Reverse(self.ancestors(t).len()));
        order.push(*txid);
        order.iter().filter_map(|t| self.remove_one(t)).collect()
    }

    /// Core's removeForBlock: removes the block's transactions (keeping their in-pool
    /// children) and everything conflicting with them.
    pub fn remove_for_block(&mut self, txs: &[Transaction]) -> Vec<(MempoolEntry, RemovalReason)> {
        let mut out = Vec::new();
        for tx in txs {
            let txid = tx.compute_txid();
            if let Some(e) = self.remove_one(&txid) {
                out.push((e, RemovalReason::Block));
            }
            if tx.is_coinbase() {
                continue;
            }
            for i in &tx.input {
                if let Some(c) = self.spenders.get(&i.previous_output).copied() {
                    if c != txid {
                        out.extend(self.remove_with_descendants(&c).into_iter().map(|e| (e, RemovalReason::Conflict)));
                    }
                }
            }
        }
        self.block_since_bump = true;
        out
    }

    /// Records that a block arrived (lets the rolling minimum fee decay).
    pub fn note_block(&mut self) {
        self.block_since_bump = true;
    }

    /// Removes entries that entered before `cutoff` (and their descendants).
    pub fn expire(&mut self, cutoff: i64) -> Vec<MempoolEntry> {
        let old: Vec<Txid> = self.entries.values().filter(|e| e.time < cutoff).map(|e| e.txid).collect();
        let mut out = Vec::new();
        for t in old {
            out.extend(self.remove_with_descendants(&t));
        }
        out
    }

    /// Core's descendant score: max(own feerate, feerate with descendants) as (fee, vsize).
    fn descendant_score(&self, e: &MempoolEntry) -> (u64, u64) {
        let d = self.descendant_stats(&e.txid);
        if feerate_gt(d.fee, d.vsize, e.fee, e.vsize) {
            (d.fee, d.vsize)
        } else {
            (e.fee, e.vsize)
        }
    }

    /// Core's TrimToSize: evicts the lowest descendant-score packages until usage is at most
    /// `limit`, raising the rolling minimum fee to the evicted feerate plus `incremental`.
    pub fn trim_to_size(&mut self, limit: u64, incremental: u64) -> Vec<MempoolEntry> {
        let mut out = Vec::new();
        while self.usage > limit && !self.entries.is_empty() {
            let Some(worst) = self
                .entries
                .values()
                .map(|e| (self.descendant_score(e), e.sequence, e.txid))
                .min_by(|a, b| {
                    let ((fa, sa), qa, _) = a;
                    let ((fb, sb), qb, _) = b;
                    if feerate_gt(*fb, *sb, *fa, *sa) {
                        std::cmp::Ordering::Less
                    } else if feerate_gt(*fa, *sa, *fb, *sb) {
                        std::cmp::Ordering::Greater
                    } else {
                        qb.cmp(qa) // among equals, evict the newest first
                    }
                })
            else {
                break;
            };
            let d = self.descendant_stats(&worst.2);
            let removed_rate = feerate_per_kvb(d.fee, d.vsize) + incremental;
            if removed_rate as f64 > self.rolling_min_fee {
                self.rolling_min_fee = removed_rate as f64;
                self.block_since_bump = false;
            }
            out.extend(self.remove_with_descendants(&worst.2));
        }
        out
    }

    /// Core's GetMinFee: the rolling minimum feerate (sat/kvB), decaying with a 12 h half-life
    /// (faster when the pool is small) once a block has arrived since the last bump.
    pub fn min_fee(&mut self, limit: u64, incremental: u64, now: i64) -> u64 {
        if !self.block_since_bump || self.rolling_min_fee == 0.0 {
            return self.rolling_min_fee.round() as u64;
        }
        if now > self.last_rolling_update + 10 {
            let mut halflife = ROLLING_FEE_HALFLIFE as f64;
            if self.usage < limit / 4 {
                halflife /= 4.0;
            } else if self.usage < limit / 2 {
                halflife /= 2.0;
            }
            self.rolling_min_fee /= 2f64.powf((now - self.last_rolling_update) as f64 / halflife);
            self.last_rolling_update = now;
            if self.rolling_min_fee < incremental as f64 / 2.0 {
                self.rolling_min_fee = 0.0;
                return 0;
            }
        }
        (self.rolling_min_fee.round() as u64).max(incremental)
    }

    /// Starts the rolling-fee clock (used at the first bump).
    pub fn touch_rolling_clock(&mut self, now: i64) {
        if self.last_rolling_update == 0 {
            self.last_rolling_update = now;
        }
    }

    /// Core's RBF rules 2-6 for a replacement of `direct` conflicts by a transaction paying
    /// `fee` for `vsize`. Returns every entry to evict.
    pub fn check_replacement(
        &self,
        tx: &Transaction,
        txid: &Txid,
        fee: u64,
        vsize: u64,
        direct: &BTreeSet<Txid>,
        incremental: u64,
    ) -> Result<BTreeSet<Txid>, Reject> {
        // Rule 6: a higher feerate than every direct conflict.
        for c in direct {
            if let Some(e) = self.entries.get(c) {
                if feerate_per_kvb(fee, vsize) <= feerate_per_kvb(e.fee, e.vsize) {
                    return Err(Reject::new(
                        "insufficient fee",
                        format!(
                            "rejecting replacement {txid}; new feerate {} <= old feerate {}",
                            fmt_rate(feerate_per_kvb(fee, vsize)),
                            fmt_rate(feerate_per_kvb(e.fee, e.vsize))
                        ),
                    ));
                }
            }
        }
        // Rule 5: at most 100 evictions (direct conflicts and their descendants).
        let mut all = BTreeSet::new();
        let mut count = 0usize;
        for c in direct {
            count += self.descendant_stats(c).count as usize;
        }
        if count > MAX_REPLACEMENT_CANDIDATES {
            return Err(Reject::new(
                "too many potential replacements",
                format!("rejecting replacement {txid}; too many potential replacements ({count} > {MAX_REPLACEMENT_CANDIDATES})"),
            ));
        }
        for c in direct {
            all.insert(*c);
            all.extend(self.descendants(c));
        }
        // Rule 2: no new unconfirmed inputs.
        let mut conflict_parents: HashSet<Txid> = HashSet::new();
        for c in direct {
            if let Some(e) = self.entries.get(c) {
                conflict_parents.extend(e.tx.input.iter().map(|i| i.previous_output.txid));
            }
        }
        for (idx, i) in tx.input.iter().enumerate() {
            let parent = i.previous_output.txid;
            if !conflict_parents.contains(&parent) && self.entries.contains_key(&parent) {
                return Err(Reject::new(
                    "replacement-adds-unconfirmed",
                    format!("replacement {txid} adds unconfirmed input, idx {idx}"),
                ));
            }
        }
        // Rules 3 and 4: pay at least the evicted fees, plus relay for its own size.
        let evicted = self.aggregate(&all);
        if fee < evicted.fee {
            return Err(Reject::new(
                "insufficient fee",
                format!(
                    "rejecting replacement {txid}, less fees than conflicting txs; {} < {}",
                    fmt_btc(fee),
                    fmt_btc(evicted.fee)
                ),
            ));
        }
        let additional = fee - evicted.fee;
        let relay = super::entry::fee_at(incremental, vsize);
        if additional < relay {
            return Err(Reject::new(
                "insufficient fee",
                format!(
                    "rejecting replacement {txid}, not enough additional fees to relay; {} < {}",
                    fmt_btc(additional),
                    fmt_btc(relay)
                ),
            ));
        }
        Ok(all)
    }

    /// Removes everything (for reorg rebuilding); returns the removed entries in entry order.
    pub fn drain(&mut self) -> Vec<MempoolEntry> {
        let mut v: Vec<MempoolEntry> = self.entries.drain().map(|(_, e)| e).collect();
        v.sort_by_key(|e| e.sequence);
        self.by_wtxid.clear();
        self.spenders.clear();
        self.total_vsize = 0;
        self.total_fee = 0;
        self.usage = 0;
        self.sequence += v.len() as u64;
        self.updates += 1;
        v
    }
}

/// A satoshi amount in Core's FormatMoney style ("0.00001000").
pub fn fmt_btc(sat: u64) -> String {
    format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000)
}

/// A sat/kvB feerate in Core's CFeeRate::ToString style ("0.00001000 BTC/kvB").
pub fn fmt_rate(per_kvb: u64) -> String {
    format!("{} BTC/kvB", fmt_btc(per_kvb))
}

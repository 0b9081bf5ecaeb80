//! The transaction graph: entries, parent/child links, spent outpoints, bounded ancestor walks,
//! size-limit eviction by descendant feerate, expiry and
//! the rolling minimum fee.
//!
//! As Core's pre-cluster mempool, every entry's descendant aggregates (count, vsize, fee, itself
//! included) are kept up to date on every addition and removal, touching only the entry's
//! ancestors (fewer than `-limitclustercount` of them by the cluster limits), and the entries are kept
//! ordered by descendant score, so an eviction costs O(log n + package) instead of a scan of the
//! whole pool. An entry-time index does the same for expiry, which runs on every acceptance.

use super::entry::{feerate_gt, feerate_per_kvb, MempoolEntry};
use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, Transaction, Txid, Wtxid};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, HashMap};

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

impl Aggregate {
    fn of(e: &MempoolEntry) -> Aggregate {
        Aggregate {
            count: 1,
            vsize: e.vsize,
            fee: e.modified_fee(),
        }
    }

    fn plus(self, o: Aggregate) -> Aggregate {
        Aggregate {
            count: self.count + o.count,
            vsize: self.vsize + o.vsize,
            fee: self.fee + o.fee,
        }
    }

    fn minus(self, o: Aggregate) -> Aggregate {
        Aggregate {
            count: self.count.saturating_sub(o.count),
            vsize: self.vsize.saturating_sub(o.vsize),
            fee: self.fee.saturating_sub(o.fee),
        }
    }
}

/// A feerate as (fee, vsize), ordered by exact cross-multiplication (no rounding), so the
/// eviction index agrees with [`feerate_gt`].
#[derive(Debug, Clone, Copy)]
struct Score {
    fee: u64,
    vsize: u64,
}

impl Ord for Score {
    fn cmp(&self, o: &Self) -> Ordering {
        (u128::from(self.fee) * u128::from(o.vsize.max(1))).cmp(&(u128::from(o.fee) * u128::from(self.vsize.max(1))))
    }
}

impl PartialOrd for Score {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl PartialEq for Score {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}

impl Eq for Score {}

/// Position in the eviction index: lowest descendant score first, then (as Core, among equal
/// scores) the newest entry first.
type ScoreKey = (Score, Reverse<u64>, Txid);

/// Core's descendant score (CompareTxMemPoolEntryByDescendantScore): the larger of the entry's
/// own feerate and the feerate of it with its descendants.
fn score_key(e: &MempoolEntry, d: &Aggregate) -> ScoreKey {
    let s = if feerate_gt(d.fee, d.vsize, e.modified_fee(), e.vsize) {
        Score {
            fee: d.fee,
            vsize: d.vsize,
        }
    } else {
        Score {
            fee: e.modified_fee(),
            vsize: e.vsize,
        }
    };
    (s, Reverse(e.sequence), e.txid)
}

/// The in-memory transaction pool.
#[derive(Debug, Default, Clone)]
pub struct Pool {
    entries: HashMap<Txid, MempoolEntry>,
    /// Per entry: itself plus all its in-pool descendants, maintained incrementally.
    desc: HashMap<Txid, Aggregate>,
    /// Every entry, ordered by descendant score (the eviction order), kept in step with `desc`.
    by_desc_score: BTreeSet<ScoreKey>,
    /// Every entry by entry time, so expiry (run on every acceptance) does not scan the pool.
    by_time: BTreeSet<(i64, Txid)>,
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
    /// Core's mapDeltas: prioritisetransaction fee deltas by txid, whether or not the
    /// transaction is in the pool. Not bounded, as in Core: only the authenticated RPC user
    /// (prioritisetransaction, importmempool) and the node's own mempool.dat add entries, and
    /// an entry leaves when its delta returns to 0 or its transaction is mined.
    deltas: HashMap<Txid, i64>,
}

/// A pool's counters before a trial (see [`Pool::trial_mark`]).
#[derive(Debug, Clone, Copy)]
pub struct TrialMark {
    sequence: u64,
    next_entry: u64,
    updates: u64,
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
    /// `mempool_sequence`); starts at 1 as Core's, and an event's number is the value before it.
    pub fn sequence(&self) -> u64 {
        self.sequence + 1
    }

    /// Sets the mempool sequence (a reorg rebuild counts only real additions and removals).
    pub fn set_sequence(&mut self, sequence: u64) {
        self.sequence = sequence.saturating_sub(1);
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

    /// A transaction a peer may be sent: in the pool since before `last_inv_sequence` (the
    /// mempool sequence when the peer was last sent an `inv`), so announced or announceable to it.
    pub fn get_for_relay(&self, txid: &Txid, last_inv_sequence: u64) -> Option<&MempoolEntry> {
        self.entries.get(txid).filter(|e| e.relay_sequence < last_inv_sequence)
    }

    /// Sets the mempool sequence from which peers may request `txid` ([`Pool::get_for_relay`]):
    /// 0 for the transactions of disconnected blocks put back after a reorg, which any peer may
    /// request at once (Core's entry sequence 0 under `bypass_limits`); an entry's own earlier
    /// value when the reorg re-validates it.
    pub fn set_relay_sequence(&mut self, txid: &Txid, relay_sequence: u64) {
        if let Some(e) = self.entries.get_mut(txid) {
            e.relay_sequence = relay_sequence;
        }
    }

    /// The next entry sequence number.
    pub fn next_entry_sequence(&mut self) -> u64 {
        self.next_entry += 1;
        self.next_entry
    }

    /// The counters a trial (a package validated in place) moves, so that rolling it back
    /// leaves no trace: [`Self::roll_back`] restores them.
    pub fn trial_mark(&self) -> TrialMark {
        TrialMark {
            sequence: self.sequence,
            next_entry: self.next_entry,
            updates: self.updates,
        }
    }

    /// Undoes a trial: removes `added` (with any descendants) and restores the counters of
    /// `mark`, leaving the pool as it was when the mark was taken.
    pub fn roll_back(&mut self, mark: TrialMark, added: &[Txid]) {
        for txid in added.iter().rev() {
            self.remove_with_descendants(txid);
        }
        self.sequence = mark.sequence;
        self.next_entry = mark.next_entry;
        self.updates = mark.updates;
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
                a.fee += e.modified_fee();
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

    /// `txid` with its descendants, from the maintained aggregates (O(1)).
    pub fn descendant_stats(&self, txid: &Txid) -> Aggregate {
        self.desc.get(txid).copied().unwrap_or_default()
    }

    /// `txid` with its descendants, recomputed by walking the graph.
    fn descendant_stats_walked(&self, txid: &Txid) -> Aggregate {
        let mut set = self.descendants(txid);
        set.insert(*txid);
        self.aggregate(&set)
    }

    /// Stores `txid`'s descendant aggregate and moves it in the eviction index.
    fn set_desc(&mut self, txid: &Txid, agg: Aggregate) {
        let Some(e) = self.entries.get(txid) else { return };
        if let Some(old) = self.desc.insert(*txid, agg) {
            self.by_desc_score.remove(&score_key(e, &old));
        }
        self.by_desc_score.insert(score_key(e, &agg));
    }

    /// Checks the maintained descendant aggregates and eviction index against a recomputation
    /// from scratch (for tests; O(n × descendants)).
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let n = self.entries.len();
        if self.desc.len() != n || self.by_desc_score.len() != n || self.by_time.len() != n {
            return Err(format!(
                "{n} entries, {} aggregates, {} score keys, {} time keys",
                self.desc.len(),
                self.by_desc_score.len(),
                self.by_time.len()
            ));
        }
        for e in self.entries.values() {
            let want = self.descendant_stats_walked(&e.txid);
            let got = self.descendant_stats(&e.txid);
            if want != got {
                return Err(format!("{}: maintained {got:?}, recomputed {want:?}", e.txid));
            }
            if !self.by_desc_score.contains(&score_key(e, &want)) {
                return Err(format!("{}: missing from the eviction index", e.txid));
            }
            if !self.by_time.contains(&(e.time, e.txid)) {
                return Err(format!("{}: missing from the time index", e.txid));
            }
            for p in &e.parents {
                if !self.entries.get(p).is_some_and(|pe| pe.children.contains(&e.txid)) {
                    return Err(format!("{}: parent {p} does not list it", e.txid));
                }
            }
        }
        Ok(())
    }

    /// In-pool parents of a transaction not yet in the pool.
    pub fn parents_of(&self, tx: &Transaction) -> BTreeSet<Txid> {
        tx.input
            .iter()
            .map(|i| i.previous_output.txid)
            .filter(|t| self.entries.contains_key(t))
            .collect()
    }

    /// The in-pool ancestors of a new transaction with in-pool `parents` (Core's
    /// CalculateMemPoolAncestors), or None once there are more than `max`: the walk stops there,
    /// so a transaction spending from a large graph costs at most `max` steps.
    pub fn ancestors_within(&self, parents: &BTreeSet<Txid>, max: u64) -> Option<BTreeSet<Txid>> {
        let mut staged: Vec<Txid> = parents.iter().copied().collect();
        let mut ancestors = BTreeSet::new();
        while let Some(t) = staged.pop() {
            let Some(e) = self.entries.get(&t) else { continue };
            if !ancestors.insert(t) {
                continue;
            }
            if ancestors.len() as u64 > max {
                return None;
            }
            staged.extend(e.parents.iter().filter(|p| !ancestors.contains(*p)));
        }
        Some(ancestors)
    }

    /// The prioritisetransaction delta recorded for `txid` (0 when none).
    pub fn delta_of(&self, txid: &Txid) -> i64 {
        self.deltas.get(txid).copied().unwrap_or(0)
    }

    /// Every recorded delta (Core's mapDeltas), in txid order.
    pub fn deltas(&self) -> Vec<(Txid, i64)> {
        let mut v: Vec<(Txid, i64)> = self.deltas.iter().map(|(t, d)| (*t, *d)).collect();
        v.sort();
        v
    }

    /// Core's PrioritiseTransaction: adds `delta` to `txid`'s recorded delta (removing the record
    /// when it returns to 0) and, when the transaction is in the pool, to its modified fee and
    /// the ancestor/descendant aggregates and scores that include it.
    pub fn prioritise(&mut self, txid: &Txid, delta: i64) {
        let total = self.delta_of(txid).saturating_add(delta);
        if total == 0 {
            self.deltas.remove(txid);
        } else {
            self.deltas.insert(*txid, total);
        }
        let Some(e) = self.entries.get(txid) else { return };
        let old_own = Aggregate::of(e);
        let old_desc = self.descendant_stats(txid);
        self.by_desc_score.remove(&score_key(e, &old_desc));
        self.desc.remove(txid);
        if let Some(e) = self.entries.get_mut(txid) {
            e.delta = total;
        }
        let Some(e) = self.entries.get(txid) else { return };
        let new_own = Aggregate::of(e);
        let adjust = |a: Aggregate| a.minus(old_own).plus(new_own);
        self.set_desc(txid, adjust(old_desc));
        for a in self.ancestors(txid) {
            let d = adjust(self.descendant_stats(&a));
            self.set_desc(&a, d);
        }
        self.updates += 1;
    }

    /// Adds an entry whose inputs are all available and conflict with nothing in the pool.
    pub fn add(&mut self, mut entry: MempoolEntry) {
        let txid = entry.txid;
        entry.delta = self.delta_of(&txid);
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
        entry.relay_sequence = self.sequence();
        self.sequence += 1;
        self.updates += 1;
        let own = Aggregate::of(&entry);
        self.by_time.insert((entry.time, txid));
        let has_children = !entry.children.is_empty();
        let has_parents = !entry.parents.is_empty();
        self.entries.insert(txid, entry);
        if !has_children {
            // The common case: a new leaf. Each ancestor gains exactly this entry.
            self.set_desc(&txid, own);
            if has_parents {
                for a in self.ancestors(&txid) {
                    let d = self.descendant_stats(&a).plus(own);
                    self.set_desc(&a, d);
                }
            }
        } else {
            // A re-added parent of in-pool children (reorg): its ancestors may gain descendants
            // they already had through another path, so recompute them.
            let d = self.descendant_stats_walked(&txid);
            self.set_desc(&txid, d);
            for a in self.ancestors(&txid) {
                let d = self.descendant_stats_walked(&a);
                self.set_desc(&a, d);
            }
        }
    }

    /// Removes one entry, unlinking it (its children stay, now spending a missing parent).
    fn remove_one(&mut self, txid: &Txid) -> Option<MempoolEntry> {
        let ancestors = match self.entries.get(txid) {
            Some(e) if !e.parents.is_empty() => self.ancestors(txid),
            Some(_) => BTreeSet::new(),
            None => return None,
        };
        let e = self.entries.remove(txid)?;
        self.by_time.remove(&(e.time, *txid));
        if let Some(d) = self.desc.remove(txid) {
            self.by_desc_score.remove(&score_key(&e, &d));
        }
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
        if e.children.is_empty() {
            // A leaf: each ancestor loses exactly this entry.
            let own = Aggregate::of(&e);
            for a in &ancestors {
                let d = self.descendant_stats(a).minus(own);
                self.set_desc(a, d);
            }
        } else {
            // Removed from the middle of a chain with its children kept (a block transaction
            // whose in-pool parents stay, which valid blocks do not produce): recompute.
            for a in &ancestors {
                let d = self.descendant_stats_walked(a);
                self.set_desc(a, d);
            }
        }
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
            // Core's ClearPrioritisation: a mined transaction's delta is forgotten.
            self.deltas.remove(&txid);
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

    /// Removes entries that entered before `cutoff` (and their descendants), found through the
    /// time index: O(log n) when nothing expires, not a scan of the pool per acceptance.
    pub fn expire(&mut self, cutoff: i64) -> Vec<MempoolEntry> {
        let old: Vec<Txid> = self.by_time.range(..(cutoff, Txid::all_zeros())).map(|(_, t)| *t).collect();
        let mut out = Vec::new();
        for t in old {
            out.extend(self.remove_with_descendants(&t));
        }
        out
    }

    /// Core's TrimToSize: evicts the lowest descendant-score packages until usage is at most
    /// `limit`, raising the rolling minimum fee to the evicted feerate plus `incremental`. Each
    /// eviction takes the first key of the score index: O(log n + package), not a pool scan.
    pub fn trim_to_size(&mut self, limit: u64, incremental: u64) -> Vec<MempoolEntry> {
        let mut out = Vec::new();
        let mut max_removed = 0;
        while self.usage > limit {
            let Some(&(_, _, worst)) = self.by_desc_score.first() else {
                break;
            };
            let d = self.descendant_stats(&worst);
            let removed_rate = feerate_per_kvb(d.fee, d.vsize) + incremental;
            max_removed = max_removed.max(removed_rate);
            if removed_rate as f64 > self.rolling_min_fee {
                self.rolling_min_fee = removed_rate as f64;
                self.block_since_bump = false;
            }
            let removed = self.remove_with_descendants(&worst);
            if removed.is_empty() {
                // Cannot happen with the index in step; never spin.
                self.by_desc_score.pop_first();
            }
            out.extend(removed);
        }
        if max_removed > 0 {
            // Core's line, which Core's tests look for.
            tracing::debug!(target: "blvm::mempool", "Removed {} txn, rolling minimum fee bumped to {}", out.len(), fmt_rate(max_removed));
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

    /// Removes everything (for reorg rebuilding); returns the removed entries in entry order.
    pub fn drain(&mut self) -> Vec<MempoolEntry> {
        let mut v: Vec<MempoolEntry> = self.entries.drain().map(|(_, e)| e).collect();
        v.sort_by_key(|e| e.sequence);
        self.by_wtxid.clear();
        self.spenders.clear();
        self.desc.clear();
        self.by_desc_score.clear();
        self.by_time.clear();
        self.total_vsize = 0;
        self.total_fee = 0;
        self.usage = 0;
        self.sequence += v.len() as u64;
        self.updates += 1;
        v
    }
}

/// A satoshi amount in Core's FormatMoney style ("0.00001", "0.00").
pub fn fmt_btc(sat: u64) -> String {
    // Core's FormatMoney: trailing zeros trimmed, at least two decimals ("0.00", "0.00000011").
    let full = format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000);
    let keep = full.trim_end_matches('0').len().max(full.len() - 6);
    full[..keep].to_string()
}

/// A sat/kvB feerate in Core's CFeeRate::ToString style ("0.00001000 BTC/kvB").
pub fn fmt_rate(per_kvb: u64) -> String {
    format!("{}.{:08} BTC/kvB", per_kvb / 100_000_000, per_kvb % 100_000_000)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{entry, tx};
    use super::*;

    /// A small deterministic generator (xorshift64*), so failures replay.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    /// The entry the old full-scan TrimToSize would evict first: lowest max(own, package)
    /// feerate, recomputed by walking, newest first among equals.
    fn brute_force_worst(pool: &Pool) -> Option<Txid> {
        pool.entries()
            .map(|e| score_key(e, &pool.descendant_stats_walked(&e.txid)))
            .min()
            .map(|k| k.2)
    }

    /// Outputs of pool transactions that nothing in the pool spends.
    fn unspent_pool_outputs(pool: &Pool) -> Vec<OutPoint> {
        let mut v: Vec<OutPoint> = pool
            .entries()
            .flat_map(|e| (0..e.tx.output.len() as u32).map(move |vout| OutPoint { txid: e.txid, vout }))
            .filter(|op| pool.spender(op).is_none())
            .collect();
        v.sort();
        v
    }

    fn random_txid(pool: &Pool, rng: &mut Rng) -> Option<Txid> {
        let mut all: Vec<Txid> = pool.entries().map(|e| e.txid).collect();
        all.sort();
        if all.is_empty() {
            None
        } else {
            Some(all[rng.below(all.len() as u64) as usize])
        }
    }

    #[test]
    fn maintained_descendant_aggregates_and_index_match_a_recomputation() {
        let limits = super::super::cluster_limits::Limits::default();
        let mut checked_evictions = 0;
        for seed in 1..=12u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut pool = Pool::new();
            let mut tag = 0u32;
            for step in 0..700 {
                tag += 1;
                let op = rng.below(100);
                if op < 60 {
                    // Add: a chain link or a tree branch (1-3 in-pool parents) or a root.
                    let free = unspent_pool_outputs(&pool);
                    let mut inputs = Vec::new();
                    let n_pool = if free.is_empty() { 0 } else { rng.below(4) };
                    for _ in 0..n_pool {
                        let op = free[rng.below(free.len() as u64) as usize];
                        if !inputs.contains(&op) {
                            inputs.push(op);
                        }
                    }
                    if inputs.is_empty() || rng.below(3) == 0 {
                        inputs.push(OutPoint {
                            txid: Txid::from_byte_array([(tag % 251) as u8; 32]),
                            vout: tag,
                        });
                    }
                    let t = tx(&inputs, 1 + rng.below(3) as usize, tag);
                    let vsize = 100 + rng.below(3_000);
                    let fee = rng.below(50_000);
                    let parents = pool.parents_of(&t);
                    if super::super::cluster_limits::check(&pool, &parents, vsize * 4, &BTreeSet::new(), &limits).is_ok() {
                        let e = entry(&mut pool, t, fee, vsize, rng.below(1_000) as i64);
                        pool.add(e);
                    }
                } else if op < 68 {
                    // Block connection: a pool transaction (root or not) confirmed, children kept.
                    if let Some(t) = random_txid(&pool, &mut rng) {
                        let tx = (*pool.get(&t).unwrap().tx).clone();
                        pool.remove_for_block(&[tx]);
                    }
                } else if op < 74 {
                    // Block conflict: a block transaction spending a pool transaction's input.
                    if let Some(t) = random_txid(&pool, &mut rng) {
                        let spent = pool.get(&t).unwrap().tx.input[0].previous_output;
                        pool.remove_for_block(&[tx(&[spent], 1, 1_000_000 + tag)]);
                    }
                } else if op < 82 {
                    // Replacement: a transaction and its descendants leave.
                    if let Some(t) = random_txid(&pool, &mut rng) {
                        pool.remove_with_descendants(&t);
                    }
                } else if op < 88 {
                    // Eviction, checking each pick against the old full scan.
                    let target = pool.usage() * (50 + rng.below(45)) / 100;
                    while pool.usage() > target {
                        let want = brute_force_worst(&pool);
                        let removed = pool.trim_to_size(pool.usage() - 1, 100);
                        assert_eq!(removed.last().map(|e| e.txid), want, "seed {seed} step {step}");
                        checked_evictions += 1;
                        pool.check_invariants().unwrap_or_else(|e| panic!("seed {seed} step {step}: {e}"));
                    }
                } else if op < 92 {
                    pool.expire(rng.below(1_000) as i64 / 4);
                } else if op < 97 {
                    // Reorg-style re-adds: a package leaves and returns children first.
                    if let Some(t) = random_txid(&pool, &mut rng) {
                        let removed = pool.remove_with_descendants(&t);
                        for e in removed {
                            pool.add(e);
                        }
                    }
                } else {
                    // Rebuild after a reorg: drained and re-added in entry order.
                    for e in pool.drain() {
                        pool.add(e);
                    }
                }
                pool.check_invariants()
                    .unwrap_or_else(|e| panic!("seed {seed} step {step} (op {op}): {e}"));
            }
        }
        assert!(checked_evictions > 100, "only {checked_evictions} evictions exercised");
    }

    #[test]
    fn eviction_takes_the_lowest_descendant_score_package_newest_first_among_equals() {
        let mut pool = Pool::new();
        let root = OutPoint {
            txid: Txid::from_byte_array([1; 32]),
            vout: 0,
        };
        // A high-fee parent with a low-fee child: the parent's score is its own feerate (the
        // larger), so the child goes first.
        let p = tx(&[root], 1, 1);
        let pid = p.compute_txid();
        let e = entry(&mut pool, p, 10_000, 1_000, 0);
        pool.add(e);
        let c = tx(&[OutPoint { txid: pid, vout: 0 }], 1, 2);
        let cid = c.compute_txid();
        let e = entry(&mut pool, c, 100, 1_000, 0);
        pool.add(e);
        // Two unrelated transactions at the same middle feerate; the newer goes first.
        let a = tx(&[OutPoint { vout: 1, ..root }], 1, 3);
        let b = tx(&[OutPoint { vout: 2, ..root }], 1, 4);
        let (aid, bid) = (a.compute_txid(), b.compute_txid());
        let e = entry(&mut pool, a, 5_000, 1_000, 0);
        pool.add(e);
        let e = entry(&mut pool, b, 5_000, 1_000, 0);
        pool.add(e);
        assert_eq!(
            pool.descendant_stats(&pid),
            Aggregate {
                count: 2,
                vsize: 2_000,
                fee: 10_100
            }
        );
        let order: Vec<Txid> = pool.trim_to_size(0, 0).iter().map(|e| e.txid).collect();
        assert_eq!(order, vec![cid, bid, aid, pid]);
        pool.check_invariants().unwrap();
    }

    #[test]
    fn prioritise_moves_aggregates_and_scores_and_applies_to_later_entries() {
        let mut pool = Pool::new();
        let root = OutPoint {
            txid: Txid::from_byte_array([2; 32]),
            vout: 0,
        };
        let p = tx(&[root], 1, 1);
        let pid = p.compute_txid();
        let c = tx(&[OutPoint { txid: pid, vout: 0 }], 1, 2);
        let cid = c.compute_txid();
        // A delta recorded before the transaction arrives.
        pool.prioritise(&cid, 4_000);
        let e = entry(&mut pool, p, 1_000, 1_000, 0);
        pool.add(e);
        let e = entry(&mut pool, c, 500, 500, 0);
        pool.add(e);
        assert_eq!(pool.get(&cid).map(|e| e.modified_fee()), Some(4_500));
        assert_eq!(pool.descendant_stats(&pid).fee, 5_500);
        pool.check_invariants().unwrap();
        // In-pool changes, including below zero (floored) and back to nothing.
        pool.prioritise(&pid, -3_000);
        assert_eq!(pool.descendant_stats(&pid).fee, 4_500);
        assert_eq!(pool.ancestor_stats(&cid).fee, 4_500);
        pool.check_invariants().unwrap();
        pool.prioritise(&pid, 3_000);
        pool.prioritise(&cid, -4_000);
        assert!(pool.deltas().is_empty());
        assert_eq!(pool.descendant_stats(&pid).fee, 1_500);
        pool.check_invariants().unwrap();
        // Mining forgets a delta; replacement does not.
        pool.prioritise(&pid, 10);
        pool.prioritise(&cid, 20);
        pool.remove_with_descendants(&cid);
        let ptx = (*pool.get(&pid).unwrap().tx).clone();
        pool.remove_for_block(&[ptx]);
        assert_eq!(pool.deltas(), vec![(cid, 20)]);
        pool.check_invariants().unwrap();
    }
}

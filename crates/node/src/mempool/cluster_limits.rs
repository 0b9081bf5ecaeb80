//! Core 31's cluster limits (`-limitclustercount`, `-limitclustersize`), which replaced the
//! ancestor/descendant limits: a new transaction may not make its cluster (itself, the clusters
//! of its in-pool parents joined through it, minus whatever it replaces) larger than the count
//! limit or heavier than the size limit, else "too-large-cluster". Sizes are counted as Core's
//! TxGraph does: each transaction's sigop-adjusted weight, against the limit in vbytes times 4.
//! After a reorg, re-added transactions may exceed the limits; [`trim_oversized`] then removes
//! the worst-placed ones as Core's TxGraph::Trim.

use super::cluster;
use super::entry::{MempoolEntry, WITNESS_SCALE_FACTOR};
use super::linearize::MAX_LINEARIZE;
use super::pool::Pool;
use crate::validation::Reject;
use bitcoin::Txid;
use std::collections::{BTreeSet, HashSet};

/// Core's DEFAULT_CLUSTER_LIMIT: most transactions in a cluster.
pub const DEFAULT_CLUSTER_COUNT: u64 = 64;
/// Core's DEFAULT_CLUSTER_SIZE_LIMIT_KVB, in vbytes.
pub const DEFAULT_CLUSTER_SIZE_VBYTES: u64 = 101_000;
/// Largest `-limitclustercount` (Core's MAX_CLUSTER_COUNT_LIMIT; the linearizer's width).
pub const MAX_CLUSTER_COUNT: u64 = MAX_LINEARIZE as u64;
/// The reject reason (with an empty debug string, as Core's).
pub const TOO_LARGE_CLUSTER: &str = "too-large-cluster";

/// Core 31's mempool cluster limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most transactions in one cluster.
    pub cluster_count: u64,
    /// Largest total sigop-adjusted vsize of one cluster.
    pub cluster_size_vbytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cluster_count: DEFAULT_CLUSTER_COUNT,
            cluster_size_vbytes: DEFAULT_CLUSTER_SIZE_VBYTES,
        }
    }
}

impl Limits {
    fn max_weight(&self) -> u64 {
        self.cluster_size_vbytes.saturating_mul(WITNESS_SCALE_FACTOR)
    }
}

/// Core's CheckMemPoolPolicyLimits for a new transaction of sigop-adjusted `weight` spending
/// from in-pool `parents`, with `leaving` (the transactions it replaces) taken out. The walk
/// stops as soon as the limit is passed, so it visits at most `cluster_count` entries (and
/// their links, which stay within the cluster).
pub fn check(pool: &Pool, parents: &BTreeSet<Txid>, weight: u64, leaving: &BTreeSet<Txid>, limits: &Limits) -> Result<(), Reject> {
    let too_large = || Reject::new(TOO_LARGE_CLUSTER, "");
    let (mut count, mut total) = (1u64, weight);
    if total > limits.max_weight() || count > limits.cluster_count {
        return Err(too_large());
    }
    let mut seen: HashSet<Txid> = HashSet::new();
    let mut stack: Vec<Txid> = Vec::new();
    for p in parents.iter().filter(|p| !leaving.contains(*p)) {
        if pool.contains(p) && seen.insert(*p) {
            stack.push(*p);
        }
    }
    while let Some(t) = stack.pop() {
        let Some(e) = pool.get(&t) else { continue };
        count += 1;
        total = total.saturating_add(e.adjusted_weight());
        if count > limits.cluster_count || total > limits.max_weight() {
            return Err(too_large());
        }
        for n in e.parents.iter().chain(e.children.iter()) {
            if !leaving.contains(n) && seen.insert(*n) {
                stack.push(*n);
            }
        }
    }
    Ok(())
}

/// Core's TxGraph::Trim: in every cluster over the limits, keeps transactions in linearization
/// order while they fit (and their in-cluster parents were kept), and removes the rest with
/// their descendants. Returns the removed entries. Scans the pool: for use after a reorg.
pub fn trim_oversized(pool: &mut Pool, limits: &Limits) -> Vec<MempoolEntry> {
    let mut ids: Vec<Txid> = pool.entries().map(|e| e.txid).collect();
    ids.sort();
    let mut seen: HashSet<Txid> = HashSet::new();
    let mut drop: Vec<Txid> = Vec::new();
    for t in ids {
        if seen.contains(&t) {
            continue;
        }
        let members = cluster::members(pool, &t);
        seen.extend(members.iter().copied());
        let weight: u64 = members.iter().filter_map(|m| pool.get(m)).map(|e| e.adjusted_weight()).sum();
        if members.len() as u64 <= limits.cluster_count && weight <= limits.max_weight() {
            continue;
        }
        let (mut kept, mut count, mut total) = (HashSet::new(), 0u64, 0u64);
        for tx in cluster::linearized(pool, &members).into_iter().flat_map(|c| c.txs) {
            let Some(e) = pool.get(&tx) else { continue };
            let w = e.adjusted_weight();
            if e.parents.iter().all(|p| kept.contains(p)) && count < limits.cluster_count && total + w <= limits.max_weight() {
                kept.insert(tx);
                count += 1;
                total += w;
            } else {
                drop.push(tx);
            }
        }
    }
    let mut removed = Vec::new();
    for t in drop {
        removed.extend(pool.remove_with_descendants(&t));
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{entry, tx};
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::{OutPoint, Transaction};

    fn add(pool: &mut Pool, t: Transaction, fee: u64, vsize: u64) -> Txid {
        let e = entry(pool, t, fee, vsize, 0);
        let id = e.txid;
        pool.add(e);
        id
    }

    fn root(n: u8) -> OutPoint {
        OutPoint {
            txid: Txid::from_byte_array([n; 32]),
            vout: 0,
        }
    }

    /// A chain of `n` transactions from `root(seed)`; returns their txids, parent first.
    fn chain(pool: &mut Pool, seed: u8, n: usize, vsize: u64) -> Vec<Txid> {
        let mut prev = root(seed);
        let mut ids = Vec::new();
        for _ in 0..n {
            let id = add(pool, tx(&[prev], 1, 0), 1_000, vsize);
            prev = OutPoint { txid: id, vout: 0 };
            ids.push(id);
        }
        ids
    }

    fn one(t: &Txid) -> BTreeSet<Txid> {
        [*t].into_iter().collect()
    }

    #[test]
    fn the_count_limit_counts_the_joined_clusters_and_the_new_transaction() {
        let limits = Limits::default();
        let mut pool = Pool::new();
        let a = chain(&mut pool, 1, 63, 100);
        let none = BTreeSet::new();
        // The 64th fits; a 65th does not.
        check(&pool, &one(&a[62]), 400, &none, &limits).unwrap();
        add(&mut pool, tx(&[OutPoint { txid: a[62], vout: 0 }], 1, 0), 1_000, 100);
        let r = check(&pool, &one(&a[0]), 400, &none, &limits).unwrap_err();
        assert_eq!((r.reason.as_str(), r.detail.as_str()), (TOO_LARGE_CLUSTER, ""));
        // Joining two small clusters counts both.
        let b = chain(&mut pool, 2, 30, 100);
        let c = chain(&mut pool, 3, 34, 100);
        let both: BTreeSet<Txid> = [b[0], c[0]].into_iter().collect();
        check(&pool, &both, 400, &none, &limits).unwrap_err();
        check(&pool, &one(&b[29]), 400, &none, &limits).unwrap();
        // What a replacement evicts does not count.
        let leaving: BTreeSet<Txid> = c[30..].iter().copied().collect();
        check(&pool, &both, 400, &leaving, &limits).unwrap();
    }

    #[test]
    fn the_size_limit_is_in_sigop_adjusted_weight() {
        let limits = Limits {
            cluster_count: 64,
            cluster_size_vbytes: 1_000,
        };
        let mut pool = Pool::new();
        let a = chain(&mut pool, 1, 2, 300);
        let none = BTreeSet::new();
        // 600 vB in the pool: exactly 1,000 vB (4,000 WU) fits, one weight unit more does not.
        check(&pool, &one(&a[1]), 1_600, &none, &limits).unwrap();
        check(&pool, &one(&a[1]), 1_601, &none, &limits).unwrap_err();
        check(&pool, &BTreeSet::new(), 4_001, &none, &limits).unwrap_err();
        // A sigop-heavy parent weighs its sigop-equivalent size.
        let id = add(&mut pool, tx(&[root(9)], 1, 0), 1_000, 100);
        let mut heavy = pool.remove_with_descendants(&id).remove(0);
        heavy.sigop_cost = 160; // 160 * 20 = 3,200 WU, more than its 400 WU
        pool.add(heavy);
        check(&pool, &one(&id), 1_000, &none, &limits).unwrap_err();
        check(&pool, &one(&id), 1_000, &one(&id), &limits).unwrap();
    }

    #[test]
    fn the_walk_stops_at_the_limit() {
        // A cluster of 500 (as a reorg can leave before trimming): the check still answers
        // after visiting only about the limit's worth of entries.
        let mut pool = Pool::new();
        let a = chain(&mut pool, 1, 500, 100);
        let small = Limits {
            cluster_count: 3,
            ..Limits::default()
        };
        let start = std::time::Instant::now();
        for _ in 0..1_000 {
            check(&pool, &one(&a[250]), 400, &BTreeSet::new(), &small).unwrap_err();
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn trimming_keeps_the_best_placed_transactions_that_fit() {
        let mut pool = Pool::new();
        let a = chain(&mut pool, 1, 66, 100);
        let b = chain(&mut pool, 2, 5, 100);
        let removed: Vec<Txid> = trim_oversized(&mut pool, &Limits::default()).iter().map(|e| e.txid).collect();
        // The chain keeps its first 64; the small cluster is untouched.
        assert_eq!(removed.iter().collect::<HashSet<_>>(), a[64..].iter().collect::<HashSet<_>>());
        assert_eq!(pool.len(), 64 + 5);
        assert!(b.iter().all(|t| pool.contains(t)));
        // A tighter limit: a parent with a rich child and a poor one keeps the rich one first.
        let mut pool = Pool::new();
        let p = add(&mut pool, tx(&[root(3)], 2, 0), 100, 100);
        let poor = add(&mut pool, tx(&[OutPoint { txid: p, vout: 0 }], 1, 0), 100, 100);
        let rich = add(&mut pool, tx(&[OutPoint { txid: p, vout: 1 }], 1, 0), 9_000, 100);
        let two = Limits {
            cluster_count: 2,
            ..Limits::default()
        };
        let removed: Vec<Txid> = trim_oversized(&mut pool, &two).iter().map(|e| e.txid).collect();
        assert_eq!(removed, vec![poor]);
        assert!(pool.contains(&p) && pool.contains(&rich));
        pool.check_invariants().unwrap();
    }
}

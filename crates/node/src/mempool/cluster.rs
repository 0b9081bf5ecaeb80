//! Clusters for getmempoolcluster: a cluster is the connected component of a transaction in
//! the pool's parent/child graph. This pool has no cluster linearizer as Core's TxGraph, so the
//! order is a simple one: repeatedly take the not-yet-placed transaction whose set of
//! not-yet-placed in-cluster ancestors (itself included) has the best modified feerate (ties:
//! the smaller set, then the earlier entry), placing that set parents first; then chunks are
//! formed by merging each set into the previous chunk while it pays a higher feerate. For a
//! cluster of more than [`MAX_GREEDY`] transactions the order is by ancestor count then entry
//! order (still topological), to keep the cost bounded.

use super::entry::feerate_gt;
use super::pool::Pool;
use bitcoin::Txid;
use std::collections::{BTreeSet, HashSet};

/// Largest cluster ordered by the ancestor-set search (quadratic); larger ones are ordered
/// topologically by entry.
pub const MAX_GREEDY: usize = 256;

/// One chunk of a cluster's linearization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Total modified fee.
    pub fee: u64,
    /// Total vsize (for feerate comparisons).
    pub vsize: u64,
    /// Total weight.
    pub weight: u64,
    /// Its transactions, parents first.
    pub txs: Vec<Txid>,
}

/// The cluster of `txid` (None when not in the pool): its chunks in order.
pub fn cluster_chunks(pool: &Pool, txid: &Txid) -> Option<Vec<Chunk>> {
    pool.get(txid)?;
    let mut members: BTreeSet<Txid> = BTreeSet::new();
    let mut stack = vec![*txid];
    members.insert(*txid);
    while let Some(t) = stack.pop() {
        let Some(e) = pool.get(&t) else { continue };
        for n in e.parents.iter().chain(e.children.iter()) {
            if members.insert(*n) {
                stack.push(*n);
            }
        }
    }
    let in_cluster_ancestors = |t: &Txid, placed: &HashSet<Txid>| -> Vec<Txid> {
        let mut v: Vec<Txid> = pool.ancestors(t).into_iter().filter(|a| !placed.contains(a)).collect();
        v.push(*t);
        v.sort_by_key(|x| (pool.ancestors(x).len(), pool.get(x).map(|e| e.sequence).unwrap_or(0)));
        v
    };
    let mut sets: Vec<Vec<Txid>> = Vec::new();
    if members.len() <= MAX_GREEDY {
        let mut placed: HashSet<Txid> = HashSet::new();
        while placed.len() < members.len() {
            let mut best: Option<(u64, u64, u64, Vec<Txid>)> = None;
            for t in members.iter().filter(|t| !placed.contains(*t)) {
                let set = in_cluster_ancestors(t, &placed);
                let agg = pool.aggregate(&set);
                let seq = pool.get(t).map(|e| e.sequence).unwrap_or(0);
                let better = match &best {
                    None => true,
                    Some((f, s, q, b)) => {
                        feerate_gt(agg.fee, agg.vsize, *f, *s)
                            || (!feerate_gt(*f, *s, agg.fee, agg.vsize) && (set.len(), seq) < (b.len(), *q))
                    }
                };
                if better {
                    best = Some((agg.fee, agg.vsize, seq, set));
                }
            }
            let Some((_, _, _, set)) = best else { break };
            placed.extend(set.iter().copied());
            sets.push(set);
        }
    } else {
        let mut all: Vec<Txid> = members.into_iter().collect();
        all.sort_by_key(|x| (pool.ancestors(x).len(), pool.get(x).map(|e| e.sequence).unwrap_or(0)));
        sets = all.into_iter().map(|t| vec![t]).collect();
    }
    let mut chunks: Vec<Chunk> = Vec::new();
    for set in sets {
        let agg = pool.aggregate(&set);
        let weight = set.iter().filter_map(|t| pool.get(t)).map(|e| e.weight).sum();
        let mut c = Chunk {
            fee: agg.fee,
            vsize: agg.vsize,
            weight,
            txs: set,
        };
        while let Some(prev) = chunks.last() {
            if !feerate_gt(c.fee, c.vsize, prev.fee, prev.vsize) {
                break;
            }
            let Some(mut prev) = chunks.pop() else { break };
            prev.fee += c.fee;
            prev.vsize += c.vsize;
            prev.weight += c.weight;
            prev.txs.extend(c.txs);
            c = prev;
        }
        chunks.push(c);
    }
    Some(chunks)
}

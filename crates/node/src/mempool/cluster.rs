//! Clusters: a cluster is the connected component of a transaction in the pool's parent/child
//! graph (Core 31's unit of linearization, limits and ordering). This file finds a cluster's
//! members and cuts it into chunks (see [`super::linearize`]) for getmempoolcluster, the chunk
//! fields of getmempoolentry, getrawmempool's order and the trimming of oversized clusters.

use super::linearize::{self, Node};
use super::pool::Pool;
use bitcoin::Txid;
use std::collections::{BTreeSet, HashMap};

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

/// Every member of `txid`'s cluster (empty when it is not in the pool), in txid order. Not
/// bounded: callers run it on clusters the limits already bound, or after a reorg.
pub fn members(pool: &Pool, txid: &Txid) -> Vec<Txid> {
    let mut seen: BTreeSet<Txid> = BTreeSet::new();
    if pool.get(txid).is_none() {
        return Vec::new();
    }
    let mut stack = vec![*txid];
    seen.insert(*txid);
    while let Some(t) = stack.pop() {
        let Some(e) = pool.get(&t) else { continue };
        for n in e.parents.iter().chain(e.children.iter()) {
            if seen.insert(*n) {
                stack.push(*n);
            }
        }
    }
    seen.into_iter().collect()
}

/// The chunks of the cluster made of `members` (all in the pool), best first; ties between
/// equal-feerate candidates go to the smaller txid, so the order depends only on content.
pub fn linearized(pool: &Pool, members: &[Txid]) -> Vec<Chunk> {
    let index: HashMap<Txid, usize> = members.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let entries: Vec<_> = members.iter().filter_map(|t| pool.get(t)).collect();
    let nodes: Vec<Node> = entries
        .iter()
        .map(|e| Node {
            fee: e.modified_fee(),
            vsize: e.vsize,
            parents: e.parents.iter().filter_map(|p| index.get(p).copied()).collect(),
        })
        .collect();
    let sets = linearize::linearize(&nodes, |i| entries[i].txid);
    linearize::chunks(&nodes, sets)
        .into_iter()
        .map(|c| Chunk {
            fee: c.fee,
            vsize: c.vsize,
            weight: c.members.iter().map(|i| entries[*i].weight).sum(),
            txs: c.members.iter().map(|i| entries[*i].txid).collect(),
        })
        .collect()
}

/// The cluster of `txid` (None when not in the pool): its chunks in order.
pub fn cluster_chunks(pool: &Pool, txid: &Txid) -> Option<Vec<Chunk>> {
    pool.get(txid)?;
    Some(linearized(pool, &members(pool, txid)))
}

/// Every pool transaction in Core 31's mining order (getrawmempool's order): all clusters'
/// chunks by descending feerate, equal feerates by cluster (its smallest txid) then position in
/// it, each chunk parents first. Depends only on the pool's contents, so a reorg that returns
/// the same transactions gives the same order.
pub fn mining_order(pool: &Pool) -> Vec<Txid> {
    let mut done: BTreeSet<Txid> = BTreeSet::new();
    let mut all: Vec<(Txid, usize, Chunk)> = Vec::new();
    let mut ids: Vec<Txid> = pool.entries().map(|e| e.txid).collect();
    ids.sort();
    for t in ids {
        if done.contains(&t) {
            continue;
        }
        let m = members(pool, &t);
        done.extend(m.iter().copied());
        all.extend(linearized(pool, &m).into_iter().enumerate().map(|(i, c)| (t, i, c)));
    }
    all.sort_by(|(ta, ia, a), (tb, ib, b)| {
        let (x, y) = (
            u128::from(a.fee) * u128::from(b.vsize.max(1)),
            u128::from(b.fee) * u128::from(a.vsize.max(1)),
        );
        y.cmp(&x).then_with(|| (ta, ia).cmp(&(tb, ib)))
    });
    all.into_iter().flat_map(|(_, _, c)| c.txs).collect()
}

//! Core 31's replacement (RBF) rules for a transaction conflicting with the pool: at most 100
//! distinct clusters directly conflicted (rule 5), at least the evicted transactions' modified
//! fees plus the incremental relay fee for its own size (rules 3 and 4), and a strictly better
//! feerate diagram of the clusters it touches (the conflicts' clusters and its parents').
//! Core 31 dropped BIP125's rule 2: new unconfirmed inputs are allowed, the diagram judging them.

use super::cluster;
use super::diagram::{self, FeeSize};
use super::entry::fee_at;
use super::linearize::{self, Node};
use super::pool::{fmt_btc, Pool};
use crate::validation::Reject;
use bitcoin::Txid;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};

/// Most distinct clusters one replacement may conflict with (Core's MAX_REPLACEMENT_CANDIDATES).
pub const MAX_REPLACEMENT_CANDIDATES: usize = 100;

/// The new transaction, as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Replacement<'a> {
    /// Its txid.
    pub txid: Txid,
    /// Its modified fee.
    pub fee: u64,
    /// Its sigop-adjusted vsize.
    pub vsize: u64,
    /// Its in-pool parents.
    pub parents: &'a BTreeSet<Txid>,
}

fn reject(reason: &str, detail: String) -> Reject {
    Reject::new(reason, detail)
}

/// Checks the replacement of `direct` conflicts by `new`; returns every entry to evict (the
/// conflicts and their descendants).
pub fn check(pool: &Pool, new: &Replacement, direct: &BTreeSet<Txid>, incremental: u64) -> Result<BTreeSet<Txid>, Reject> {
    let txid = new.txid;
    // Rule 5, counted in clusters; each cluster is bounded by the cluster limits.
    let mut clusters: Vec<Vec<Txid>> = Vec::new();
    let mut seen: HashSet<Txid> = HashSet::new();
    for c in direct.iter().filter(|c| pool.contains(c)) {
        if seen.contains(c) {
            continue;
        }
        if clusters.len() == MAX_REPLACEMENT_CANDIDATES {
            let n = clusters.len() + 1;
            return Err(reject(
                "too many potential replacements",
                format!("rejecting replacement {txid}; too many conflicting clusters ({n} > {MAX_REPLACEMENT_CANDIDATES})"),
            ));
        }
        let members = cluster::members(pool, c);
        seen.extend(members.iter().copied());
        clusters.push(members);
    }
    let mut all = BTreeSet::new();
    for c in direct.iter().filter(|c| pool.contains(c)) {
        all.insert(*c);
        all.extend(pool.descendants(c));
    }
    // Rules 3 and 4: pay at least the evicted fees, plus relay for its own size.
    let evicted = pool.aggregate(&all);
    if new.fee < evicted.fee {
        return Err(reject(
            "insufficient fee",
            format!(
                "rejecting replacement {txid}, less fees than conflicting txs; {} < {}",
                fmt_btc(new.fee),
                fmt_btc(evicted.fee)
            ),
        ));
    }
    let additional = new.fee - evicted.fee;
    let relay = fee_at(incremental, new.vsize);
    if additional < relay {
        return Err(reject(
            "insufficient fee",
            format!(
                "rejecting replacement {txid}, not enough additional fees to relay; {} < {}",
                fmt_btc(additional),
                fmt_btc(relay)
            ),
        ));
    }
    // The feerate diagram of the touched clusters, before and after.
    for p in new.parents {
        if !seen.contains(p) {
            let members = cluster::members(pool, p);
            seen.extend(members.iter().copied());
            clusters.push(members);
        }
    }
    let before: Vec<Txid> = clusters.into_iter().flatten().collect();
    let after: Vec<Txid> = before.iter().copied().filter(|t| !all.contains(t)).collect();
    let old = diagram_chunks(pool, &before, None);
    let new_chunks = diagram_chunks(pool, &after, Some(new));
    if diagram::compare(&new_chunks, &old) != Some(Ordering::Greater) {
        return Err(reject(
            "insufficient fee",
            "insufficient feerate: does not improve feerate diagram".into(),
        ));
    }
    Ok(all)
}

/// The chunks of the graph made of pool entries `txids` (links among them only) and, when
/// given, the new transaction linked to its parents.
fn diagram_chunks(pool: &Pool, txids: &[Txid], new: Option<&Replacement>) -> Vec<FeeSize> {
    let index: HashMap<Txid, usize> = txids.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let mut keys: Vec<Txid> = Vec::with_capacity(txids.len() + 1);
    let mut nodes: Vec<Node> = Vec::with_capacity(txids.len() + 1);
    for e in txids.iter().filter_map(|t| pool.get(t)) {
        keys.push(e.txid);
        nodes.push(Node {
            fee: e.modified_fee(),
            vsize: e.vsize,
            parents: e.parents.iter().filter_map(|p| index.get(p).copied()).collect(),
        });
    }
    if let Some(r) = new {
        keys.push(r.txid);
        nodes.push(Node {
            fee: r.fee,
            vsize: r.vsize,
            parents: r.parents.iter().filter_map(|p| index.get(p).copied()).collect(),
        });
    }
    linearize::component_chunks(&nodes, |i| keys[i])
        .into_iter()
        .map(|c| (c.fee, c.vsize))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{entry, tx};
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::OutPoint;

    fn root(n: u32) -> OutPoint {
        OutPoint {
            txid: Txid::from_byte_array([7; 32]),
            vout: n,
        }
    }

    fn add(pool: &mut Pool, inputs: &[OutPoint], fee: u64, vsize: u64, tag: u32) -> Txid {
        let e = entry(pool, tx(inputs, 1, tag), fee, vsize, 0);
        let id = e.txid;
        pool.add(e);
        id
    }

    fn new<'a>(fee: u64, vsize: u64, parents: &'a BTreeSet<Txid>) -> Replacement<'a> {
        Replacement {
            txid: Txid::from_byte_array([9; 32]),
            fee,
            vsize,
            parents,
        }
    }

    fn set(ids: &[Txid]) -> BTreeSet<Txid> {
        ids.iter().copied().collect()
    }

    #[test]
    fn rule_5_counts_clusters_not_transactions() {
        let mut pool = Pool::new();
        // 100 one-transaction clusters plus one cluster of three conflicted twice.
        let mut direct: Vec<Txid> = (0..100).map(|i| add(&mut pool, &[root(i)], 1_000, 100, i)).collect();
        let a = add(&mut pool, &[root(500), root(501)], 1_000, 100, 500);
        let b = add(&mut pool, &[OutPoint { txid: a, vout: 0 }], 1_000, 100, 501);
        direct.extend([a, b]);
        let none = BTreeSet::new();
        let r = check(&pool, &new(10_000_000, 10_000, &none), &set(&direct), 100).unwrap_err();
        assert_eq!(r.reason, "too many potential replacements");
        assert!(r.detail.ends_with("too many conflicting clusters (101 > 100)"), "{}", r.detail);
        // 100 clusters (the last with two direct conflicts): allowed, evicting all 102.
        direct.remove(0);
        let all = check(&pool, &new(10_000_000, 10_000, &none), &set(&direct), 100).unwrap();
        assert_eq!(all.len(), 101);
    }

    #[test]
    fn fees_must_cover_the_evicted_and_the_relay_then_the_diagram_must_improve() {
        let mut pool = Pool::new();
        let old = add(&mut pool, &[root(0)], 10_000, 100, 0);
        let kid = add(&mut pool, &[OutPoint { txid: old, vout: 0 }], 5_000, 100, 1);
        let none = BTreeSet::new();
        let direct = set(&[old]);
        let r = check(&pool, &new(14_999, 100, &none), &direct, 1_000).unwrap_err();
        assert!(
            r.detail.ends_with("less fees than conflicting txs; 0.00014999 < 0.00015"),
            "{}",
            r.detail
        );
        let r = check(&pool, &new(15_099, 100, &none), &direct, 1_000).unwrap_err();
        assert!(
            r.detail.ends_with("not enough additional fees to relay; 0.00000099 < 0.000001"),
            "{}",
            r.detail
        );
        assert_eq!(check(&pool, &new(15_100, 100, &none), &direct, 1_000).unwrap(), set(&[old, kid]));
        // More fee in a much larger transaction: below the old diagram at first.
        let r = check(&pool, &new(20_000, 5_000, &none), &direct, 1_000).unwrap_err();
        assert_eq!(r.detail, "insufficient feerate: does not improve feerate diagram");
        // With no incremental fee, the same fee in the same size is no improvement.
        let lone = add(&mut pool, &[root(1)], 1_000, 100, 2);
        assert!(check(&pool, &new(1_000, 100, &none), &set(&[lone]), 0).is_err());
        assert!(check(&pool, &new(1_000, 99, &none), &set(&[lone]), 0).is_ok());
    }

    #[test]
    fn a_new_unconfirmed_parent_is_judged_with_its_cluster() {
        let mut pool = Pool::new();
        let parent = add(&mut pool, &[root(0)], 1_000, 10_000, 0);
        let replacee = add(&mut pool, &[root(1), root(2)], 4_000, 200, 1);
        let parents = set(&[parent]);
        let direct = set(&[replacee]);
        // Twice the replacee's fee, but the low-feerate parent joins its chunk.
        let r = check(&pool, &new(8_000, 200, &parents), &direct, 100).unwrap_err();
        assert_eq!(r.detail, "insufficient feerate: does not improve feerate diagram");
        // Paying for both (one chunk above the replacee's feerate) is accepted.
        assert!(check(&pool, &new(200_000, 200, &parents), &direct, 100).is_err());
        assert!(check(&pool, &new(400_000, 200, &parents), &direct, 100).is_ok());
    }
}

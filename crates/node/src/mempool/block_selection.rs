//! Which mempool transactions go into a block template, by ancestor feerate (Core's
//! BlockAssembler `addPackageTxs`): the package of a transaction is itself with its ancestors
//! not yet in the block, and the best-paying package goes in next.
//!
//! Cost: every entry's package is computed once; including a package updates only the packages
//! of its descendants (bounded by the package limits), through a priority queue with lazily
//! dropped stale entries. O(n log n) in the pool size, where choosing each package by scanning
//! the whole pool was O(n²).

use super::entry::{fee_at, feerate_gt};
use super::pool::Pool;
use super::template::{BlockOptions, TemplateTx, MAX_BLOCK_SIGOPS_COST, RESERVED_SIGOPS};
use bitcoin::Txid;
use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};

/// A transaction's package: its ancestors not yet in the block, and totals with itself.
struct Package {
    ancestors: BTreeSet<Txid>,
    fee: u64,
    vsize: u64,
    /// Bumped whenever the package changes; queue entries with an older one are stale.
    version: u32,
    /// All its in-pool ancestors when selection began (orders a package topologically).
    depth: usize,
}

/// A queue entry: a package's score when it was queued.
struct Candidate {
    fee: u64,
    vsize: u64,
    txid: Txid,
    version: u32,
}

impl Ord for Candidate {
    /// Higher feerate first; among equal feerates the smaller txid (a fixed order).
    fn cmp(&self, other: &Self) -> Ordering {
        if feerate_gt(self.fee, self.vsize, other.fee, other.vsize) {
            Ordering::Greater
        } else if feerate_gt(other.fee, other.vsize, self.fee, self.vsize) {
            Ordering::Less
        } else {
            other.txid.cmp(&self.txid).then(self.version.cmp(&other.version))
        }
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The template's transactions, in block order. The block's weight and sigop cost start at the
/// reserved amounts, and a package must keep them strictly below the limits (Core's
/// TestChunkBlockLimits); a package below `-blockmintxfee` ends the selection.
pub fn select_transactions(pool: &Pool, opts: &BlockOptions) -> Vec<TemplateTx> {
    let mut packages: HashMap<Txid, Package> = HashMap::new();
    let mut queue = BinaryHeap::new();
    for e in pool.entries() {
        let ancestors = pool.ancestors(&e.txid);
        let agg = pool.aggregate(ancestors.iter().chain([&e.txid]));
        queue.push(Candidate {
            fee: agg.fee,
            vsize: agg.vsize,
            txid: e.txid,
            version: 0,
        });
        let depth = ancestors.len();
        packages.insert(
            e.txid,
            Package {
                ancestors,
                fee: agg.fee,
                vsize: agg.vsize,
                version: 0,
                depth,
            },
        );
    }
    let mut failed: HashSet<Txid> = HashSet::new();
    let mut position: HashMap<Txid, usize> = HashMap::new();
    let mut out: Vec<TemplateTx> = Vec::new();
    let (mut weight, mut sigops) = (opts.reserved_weight, RESERVED_SIGOPS);
    while let Some(c) = queue.pop() {
        let Some(p) = packages.get(&c.txid) else { continue };
        if p.version != c.version || failed.contains(&c.txid) || p.ancestors.iter().any(|a| failed.contains(a)) {
            continue;
        }
        let mut pkg: Vec<Txid> = p.ancestors.iter().copied().chain([c.txid]).collect();
        let vsize = p.vsize;
        // Against the floor with the real sign: a prioritised-down fee may be below zero.
        let signed_fee: i128 = pkg
            .iter()
            .filter_map(|t| pool.get(t))
            .map(|e| i128::from(e.fee) + i128::from(e.delta))
            .sum();
        if signed_fee < 0 {
            // Ranked as zero among other zero-fee packages: skip it, not the ones after it.
            failed.insert(c.txid);
            continue;
        }
        if signed_fee < i128::from(fee_at(opts.min_feerate, vsize)) {
            break;
        }
        let (pw, ps) = pkg
            .iter()
            .filter_map(|t| pool.get(t))
            .fold((0, 0), |(w, s), e| (w + e.weight, s + e.sigop_cost));
        if weight + pw >= opts.max_weight || sigops + ps >= MAX_BLOCK_SIGOPS_COST {
            failed.insert(c.txid);
            continue;
        }
        weight += pw;
        sigops += ps;
        pkg.sort_by_key(|t| packages.get(t).map_or(0, |p| p.depth));
        for t in &pkg {
            packages.remove(t);
            let Some(e) = pool.get(t) else { continue };
            let depends = e.parents.iter().filter_map(|p| position.get(p).copied()).collect();
            position.insert(*t, out.len());
            out.push(TemplateTx {
                tx: e.tx.clone(),
                txid: e.txid,
                wtxid: e.wtxid,
                fee: e.fee,
                sigops: e.sigop_cost,
                weight: e.weight,
                depends,
            });
        }
        // Descendants' packages lose what just went in.
        let mut touched: BTreeSet<Txid> = BTreeSet::new();
        for t in &pkg {
            let Some(e) = pool.get(t) else { continue };
            for d in pool.descendants(t) {
                let Some(dp) = packages.get_mut(&d) else { continue };
                if dp.ancestors.remove(t) {
                    dp.fee = dp.fee.saturating_sub(e.modified_fee());
                    dp.vsize = dp.vsize.saturating_sub(e.vsize);
                    touched.insert(d);
                }
            }
        }
        for d in touched {
            if let Some(dp) = packages.get_mut(&d) {
                dp.version += 1;
                queue.push(Candidate {
                    fee: dp.fee,
                    vsize: dp.vsize,
                    txid: d,
                    version: dp.version,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mempool::MempoolEntry;
    use bitcoin::absolute::LockTime;
    use bitcoin::hashes::Hash;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
    use std::sync::Arc;

    /// The selection as it was before (a scan of the whole pool per package), with the same
    /// fixed order among equal feerates: the reference the queue must agree with.
    fn reference(pool: &Pool, opts: &BlockOptions) -> Vec<Txid> {
        let mut included: Vec<Txid> = Vec::new();
        let mut failed: HashSet<Txid> = HashSet::new();
        let (mut weight, mut sigops) = (opts.reserved_weight, RESERVED_SIGOPS);
        loop {
            let mut best: Option<(u64, u64, Vec<Txid>)> = None;
            let mut ids: Vec<Txid> = pool.entries().map(|e| e.txid).collect();
            ids.sort();
            for t in ids {
                if included.contains(&t) || failed.contains(&t) {
                    continue;
                }
                let anc: Vec<Txid> = pool.ancestors(&t).into_iter().filter(|a| !included.contains(a)).collect();
                if anc.iter().any(|a| failed.contains(a)) {
                    continue;
                }
                let mut pkg = anc;
                pkg.push(t);
                let agg = pool.aggregate(&pkg);
                if best.as_ref().is_none_or(|(f, s, _)| feerate_gt(agg.fee, agg.vsize, *f, *s)) {
                    best = Some((agg.fee, agg.vsize, pkg));
                }
            }
            let Some((_, vsize, mut pkg)) = best else { break };
            let last = *pkg.last().unwrap();
            let signed: i128 = pkg
                .iter()
                .map(|t| pool.get(t).unwrap())
                .map(|e| i128::from(e.fee) + i128::from(e.delta))
                .sum();
            if signed < 0 {
                failed.insert(last);
                continue;
            }
            if signed < i128::from(fee_at(opts.min_feerate, vsize)) {
                break;
            }
            let (pw, ps) = pkg
                .iter()
                .map(|t| pool.get(t).unwrap())
                .fold((0, 0), |(w, s), e| (w + e.weight, s + e.sigop_cost));
            if weight + pw >= opts.max_weight || sigops + ps >= MAX_BLOCK_SIGOPS_COST {
                failed.insert(last);
                continue;
            }
            weight += pw;
            sigops += ps;
            pkg.sort_by_key(|t| pool.ancestors(t).len());
            included.extend(pkg);
        }
        included
    }

    /// xorshift64: a fixed pseudo-random sequence.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n.max(1)
        }
    }

    /// A pool of `n` transactions, each spending up to 3 outputs of earlier ones (or outside
    /// coins), with varied fees, sizes and sigops, and some prioritised up or down.
    fn random_pool(seed: u64, n: usize) -> Pool {
        let mut rng = Rng(seed);
        let mut pool = Pool::new();
        let mut unspent: Vec<OutPoint> = Vec::new();
        for i in 0..n {
            let mut input = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let prev = if !unspent.is_empty() && rng.below(3) > 0 {
                    unspent.swap_remove(rng.below(unspent.len() as u64) as usize)
                } else {
                    OutPoint {
                        txid: Txid::from_byte_array([7; 32]),
                        vout: (i * 8 + input.len()) as u32,
                    }
                };
                input.push(TxIn {
                    previous_output: prev,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::MAX,
                    witness: Witness::new(),
                });
            }
            let outputs = 1 + rng.below(3) as usize;
            let tx = Transaction {
                version: Version::TWO,
                lock_time: LockTime::from_consensus(i as u32),
                input,
                output: vec![
                    TxOut {
                        value: Amount::from_sat(1_000),
                        script_pubkey: ScriptBuf::new()
                    };
                    outputs
                ],
            };
            let txid = tx.compute_txid();
            unspent.extend((0..outputs as u32).map(|vout| OutPoint { txid, vout }));
            let vsize = 100 + rng.below(900);
            if rng.below(10) == 0 {
                pool.prioritise(&txid, rng.below(20_000) as i64 - 10_000);
            }
            let sequence = pool.next_entry_sequence();
            pool.add(MempoolEntry {
                txid,
                wtxid: tx.compute_wtxid(),
                tx: Arc::new(tx),
                fee: rng.below(30) * vsize,
                vsize,
                weight: vsize * 4,
                sigop_cost: rng.below(5) * 4,
                time: 0,
                height: 0,
                sequence,
                relay_sequence: 0,
                spends_coinbase: false,
                parents: BTreeSet::new(),
                children: BTreeSet::new(),
                delta: 0,
            });
        }
        pool
    }

    #[test]
    fn the_queue_selects_exactly_what_the_full_scan_selected() {
        for seed in 1..=12u64 {
            let pool = random_pool(seed * 0x9e37_79b9, 150);
            for (max_weight, min_feerate) in [(4_000_000, 1), (60_000, 1), (200_000, 5_000)] {
                let opts = BlockOptions {
                    max_weight,
                    min_feerate,
                    ..BlockOptions::default()
                };
                let got: Vec<Txid> = select_transactions(&pool, &opts).iter().map(|t| t.txid).collect();
                assert_eq!(
                    got,
                    reference(&pool, &opts),
                    "seed {seed}, max_weight {max_weight}, min_feerate {min_feerate}"
                );
            }
        }
    }

    #[test]
    fn every_parent_comes_first_and_depends_point_at_it() {
        let pool = random_pool(42, 300);
        let txs = select_transactions(&pool, &BlockOptions::default());
        assert!(!txs.is_empty());
        for (i, t) in txs.iter().enumerate() {
            let parents = &pool.get(&t.txid).unwrap().parents;
            let placed: BTreeSet<Txid> = txs[..i].iter().map(|x| x.txid).collect();
            assert!(parents.iter().all(|p| placed.contains(p)), "tx {i} before a parent");
            let named: BTreeSet<Txid> = t.depends.iter().map(|d| txs[*d].txid).collect();
            assert_eq!(&named, parents);
        }
    }
}

//! Linearization of one small transaction graph (a cluster, or a cluster as it would be after a
//! replacement): a topological order with the best-paying sets first, cut into chunks.
//!
//! This pool has no optimal linearizer as Core's TxGraph. The order is the ancestor-set greedy
//! one: repeatedly take the not-yet-placed node whose not-yet-placed ancestors (itself
//! included) have the best feerate (ties: the smaller set, then the smaller key), placing that
//! set parents first. Chunks are then formed by merging each set into the previous chunk while
//! it pays a higher feerate. Graphs of up to [`MAX_LINEARIZE`] nodes (Core's largest cluster
//! count limit) are ordered so, with ancestor sets as 64-bit masks (O(n³) at worst); larger ones
//! (only transiently, while a reorg's re-additions wait to be trimmed) get a plain topological
//! order by key.

use super::entry::feerate_gt;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Most nodes ordered by the greedy search; the largest `-limitclustercount` accepted.
pub const MAX_LINEARIZE: usize = 64;

/// One node of the graph to linearize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Modified fee.
    pub fee: u64,
    /// Size the feerate is taken over (sigop-adjusted vsize).
    pub vsize: u64,
    /// Indices of its parents within the graph.
    pub parents: Vec<usize>,
}

/// One chunk of a linearization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinChunk {
    /// Total fee.
    pub fee: u64,
    /// Total size.
    pub vsize: u64,
    /// Its node indices, parents first.
    pub members: Vec<usize>,
}

/// A topological order of `nodes` (Kahn's), the smallest key first among ready nodes.
fn topological<K: Ord + Copy>(nodes: &[Node], key: &impl Fn(usize) -> K) -> Vec<usize> {
    let n = nodes.len();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut missing: Vec<usize> = vec![0; n];
    for (i, node) in nodes.iter().enumerate() {
        for &p in node.parents.iter().filter(|p| **p < n) {
            children[p].push(i);
            missing[i] += 1;
        }
    }
    let mut ready: BinaryHeap<Reverse<(K, usize)>> = (0..n).filter(|i| missing[*i] == 0).map(|i| Reverse((key(i), i))).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse((_, i))) = ready.pop() {
        order.push(i);
        for &c in &children[i] {
            missing[c] -= 1;
            if missing[c] == 0 {
                ready.push(Reverse((key(c), c)));
            }
        }
    }
    order
}

fn bits(mut m: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (m != 0).then(|| {
            let i = m.trailing_zeros() as usize;
            m &= m - 1;
            i
        })
    })
}

/// The sets of `nodes` in placement order (each parents first); `key` breaks ties
/// deterministically (callers pass something fixed by content, such as the txid).
pub fn linearize<K: Ord + Copy>(nodes: &[Node], key: impl Fn(usize) -> K) -> Vec<Vec<usize>> {
    let topo = topological(nodes, &key);
    if nodes.len() > MAX_LINEARIZE {
        return topo.into_iter().map(|i| vec![i]).collect();
    }
    let mut position = vec![0usize; nodes.len()];
    for (pos, &i) in topo.iter().enumerate() {
        position[i] = pos;
    }
    let mut anc = vec![0u64; nodes.len()];
    for &i in &topo {
        anc[i] = nodes[i]
            .parents
            .iter()
            .filter(|p| **p < nodes.len())
            .fold(1u64 << i, |m, &p| m | anc[p]);
    }
    let mut remaining: u64 = topo.iter().fold(0, |m, &i| m | 1u64 << i);
    let mut sets = Vec::new();
    while remaining != 0 {
        let mut best: Option<(u64, u64, u32, K, u64)> = None;
        for i in bits(remaining) {
            let set = anc[i] & remaining;
            let (fee, vsize) = bits(set).fold((0u64, 0u64), |(f, v), j| (f.saturating_add(nodes[j].fee), v + nodes[j].vsize));
            let (len, k) = (set.count_ones(), key(i));
            let better = match &best {
                None => true,
                Some((bf, bv, bl, bk, _)) => {
                    feerate_gt(fee, vsize, *bf, *bv) || (!feerate_gt(*bf, *bv, fee, vsize) && (len, k) < (*bl, *bk))
                }
            };
            if better {
                best = Some((fee, vsize, len, k, set));
            }
        }
        let Some((_, _, _, _, set)) = best else { break };
        remaining &= !set;
        let mut members: Vec<usize> = bits(set).collect();
        members.sort_by_key(|j| position[*j]);
        sets.push(members);
    }
    sets
}

/// Chunks of a linearization: each set merged into the previous chunk while it pays a higher
/// feerate, so chunk feerates never increase.
pub fn chunks(nodes: &[Node], sets: Vec<Vec<usize>>) -> Vec<LinChunk> {
    let mut out: Vec<LinChunk> = Vec::new();
    for members in sets {
        let (fee, vsize) = members
            .iter()
            .fold((0u64, 0u64), |(f, v), j| (f.saturating_add(nodes[*j].fee), v + nodes[*j].vsize));
        let mut c = LinChunk { fee, vsize, members };
        while let Some(prev) = out.last() {
            if !feerate_gt(c.fee, c.vsize, prev.fee, prev.vsize) {
                break;
            }
            let Some(mut prev) = out.pop() else { break };
            prev.fee = prev.fee.saturating_add(c.fee);
            prev.vsize += c.vsize;
            prev.members.extend(c.members);
            c = prev;
        }
        out.push(c);
    }
    out
}

/// The chunks of every connected component of `nodes` (each linearized on its own), as a
/// feerate diagram needs them: the clusters a replacement touches, before or after it.
pub fn component_chunks<K: Ord + Copy>(nodes: &[Node], key: impl Fn(usize) -> K) -> Vec<LinChunk> {
    let n = nodes.len();
    let mut root: Vec<usize> = (0..n).collect();
    fn find(root: &mut [usize], mut i: usize) -> usize {
        while root[i] != i {
            root[i] = root[root[i]];
            i = root[i];
        }
        i
    }
    for (i, node) in nodes.iter().enumerate() {
        for &p in node.parents.iter().filter(|p| **p < n) {
            let (a, b) = (find(&mut root, i), find(&mut root, p));
            root[a] = b;
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = std::collections::BTreeMap::new();
    for i in 0..n {
        let r = find(&mut root, i);
        groups.entry(r).or_default().push(i);
    }
    let mut out = Vec::new();
    for members in groups.into_values() {
        let local: std::collections::HashMap<usize, usize> = members.iter().enumerate().map(|(j, &i)| (i, j)).collect();
        let sub: Vec<Node> = members
            .iter()
            .map(|&i| Node {
                fee: nodes[i].fee,
                vsize: nodes[i].vsize,
                parents: nodes[i].parents.iter().filter_map(|p| local.get(p).copied()).collect(),
            })
            .collect();
        let sets = linearize(&sub, |j| key(members[j]));
        out.extend(chunks(&sub, sets).into_iter().map(|c| LinChunk {
            members: c.members.iter().map(|j| members[*j]).collect(),
            ..c
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(fee: u64, vsize: u64, parents: &[usize]) -> Node {
        Node {
            fee,
            vsize,
            parents: parents.to_vec(),
        }
    }

    #[test]
    fn a_child_paying_for_its_parent_forms_one_chunk_before_a_poorer_sibling() {
        // 0: a poor parent; 1: its rich child; 2: another child paying its own way only.
        let g = vec![node(100, 100, &[]), node(5_000, 100, &[0]), node(150, 100, &[0])];
        let sets = linearize(&g, |i| i);
        assert_eq!(sets, vec![vec![0, 1], vec![2]]);
        let c = chunks(&g, sets);
        assert_eq!(
            c.iter().map(|c| (c.fee, c.vsize)).collect::<Vec<_>>(),
            vec![(5_100, 200), (150, 100)]
        );
    }

    #[test]
    fn equal_feerates_follow_the_key_and_stay_topological() {
        // A chain 2 -> 0 -> 1 (indices out of order), all paying the same feerate.
        let g = vec![node(10, 10, &[2]), node(10, 10, &[0]), node(10, 10, &[])];
        let sets = linearize(&g, |i| i);
        assert_eq!(sets, vec![vec![2], vec![0], vec![1]]);
        // A later, richer set merges into the chunk before it.
        let g = vec![node(10, 10, &[]), node(30, 10, &[0])];
        assert_eq!(chunks(&g, linearize(&g, |i| i)).len(), 1);
    }

    #[test]
    fn components_are_linearized_each_on_its_own() {
        // 0 <- 1 and, apart, 2 <- 3 (a poor parent with a rich child), 4 alone.
        let g = vec![
            node(10, 10, &[]),
            node(10, 10, &[0]),
            node(1, 10, &[]),
            node(100, 10, &[2]),
            node(5, 10, &[]),
        ];
        let mut c: Vec<(u64, u64, Vec<usize>)> = component_chunks(&g, |i| i)
            .into_iter()
            .map(|c| (c.fee, c.vsize, c.members))
            .collect();
        c.sort();
        assert_eq!(
            c,
            vec![(5, 10, vec![4]), (10, 10, vec![0]), (10, 10, vec![1]), (101, 20, vec![2, 3])]
        );
    }

    #[test]
    fn graphs_larger_than_the_limit_get_a_topological_order() {
        // A chain of 70, listed child first.
        let n = 70;
        let g: Vec<Node> = (0..n)
            .map(|i| if i + 1 < n { node(1, 1, &[i + 1]) } else { node(1, 1, &[]) })
            .collect();
        let order: Vec<usize> = linearize(&g, |i| i).into_iter().flatten().collect();
        assert_eq!(order, (0..n).rev().collect::<Vec<_>>());
    }
}

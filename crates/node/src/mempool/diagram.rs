//! Feerate diagrams (Core's CompareChunks): the cumulative fee of a list of chunks as a
//! function of cumulative size, chunks taken best feerate first. A replacement must make the
//! diagram of the clusters it touches strictly better: nowhere lower and somewhere higher (the
//! shorter diagram continues flat past its end).

use std::cmp::Ordering;

/// A chunk as (fee, size).
pub type FeeSize = (u64, u64);

/// The diagram's breakpoints: (cumulative size, cumulative fee), starting at (0, 0), chunks
/// sorted by descending feerate first.
fn points(chunks: &[FeeSize]) -> Vec<(u64, u64)> {
    let mut sorted: Vec<FeeSize> = chunks.iter().copied().filter(|c| c.1 > 0).collect();
    sorted.sort_by(|a, b| (u128::from(b.0) * u128::from(a.1)).cmp(&(u128::from(a.0) * u128::from(b.1))));
    let mut out = vec![(0u64, 0u64)];
    let (mut s, mut f) = (0u64, 0u64);
    for (fee, size) in sorted {
        s += size;
        f = f.saturating_add(fee);
        out.push((s, f));
    }
    out
}

/// The diagram's fee at `x` as a fraction (numerator, denominator).
fn fee_at(points: &[(u64, u64)], x: u64) -> (u128, u128) {
    for w in points.windows(2) {
        let ((s0, f0), (s1, f1)) = (w[0], w[1]);
        if x <= s1 {
            let ds = u128::from(s1 - s0);
            return (u128::from(f0) * ds + u128::from(f1 - f0) * u128::from(x - s0), ds);
        }
    }
    (u128::from(points.last().map_or(0, |p| p.1)), 1)
}

/// Core's CompareChunks(`new`, `old`): Greater when `new`'s diagram is at least `old`'s
/// everywhere and above it somewhere, Less for the reverse, Equal when they coincide, None when
/// they cross.
pub fn compare(new: &[FeeSize], old: &[FeeSize]) -> Option<Ordering> {
    let (pn, po) = (points(new), points(old));
    let (mut better, mut worse) = (false, false);
    for x in pn.iter().chain(po.iter()).map(|p| p.0) {
        let ((a, da), (b, db)) = (fee_at(&pn, x), fee_at(&po, x));
        match (a * db).cmp(&(b * da)) {
            Ordering::Greater => better = true,
            Ordering::Less => worse = true,
            Ordering::Equal => {}
        }
    }
    match (better, worse) {
        (true, true) => None,
        (true, false) => Some(Ordering::Greater),
        (false, true) => Some(Ordering::Less),
        (false, false) => Some(Ordering::Equal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_fee_at_a_higher_feerate_is_better_and_a_larger_lower_feerate_one_crosses() {
        let old = [(10_000, 110)];
        assert_eq!(compare(&[(20_000, 110)], &old), Some(Ordering::Greater));
        assert_eq!(compare(&[(10_000, 110)], &old), Some(Ordering::Equal));
        // Same fee in less space: better.
        assert_eq!(compare(&[(10_000, 100)], &old), Some(Ordering::Greater));
        // More fee but a much lower feerate: below the old line at first, above at the end.
        assert_eq!(compare(&[(11_000, 3_000)], &old), None);
        assert_eq!(compare(&old, &[(20_000, 110)]), Some(Ordering::Less));
    }

    #[test]
    fn chunk_order_is_by_feerate_and_the_shorter_diagram_continues_flat() {
        // Two old chunks, given in any order; the new ones pay the same first and more after.
        let old = [(1_000, 1_000), (5_000, 100)];
        assert_eq!(compare(&[(1_001, 1_000), (5_000, 100)], &old), Some(Ordering::Greater));
        // Merging both into one chunk of more total fee starts lower: they cross.
        assert_eq!(compare(&[(6_001, 1_100)], &old), None);
        // A replacement keeping the rich chunk's fee but dropping the poor one loses at the end.
        assert_eq!(compare(&[(5_000, 100)], &old), Some(Ordering::Less));
        assert_eq!(compare(&[], &[]), Some(Ordering::Equal));
    }
}

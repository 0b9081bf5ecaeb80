//! Our BIP133 `feefilter` to each peer, as Core: the mempool's minimum fee rate, rounded to a
//! coarse bucket (so the filter does not fingerprint the node's mempool), never below
//! `-minrelaytxfee`; while in initial block download the highest bucket, so peers send no
//! transactions we would ignore anyway. Re-sent on a Poisson timer, sooner after a big change.

use rand::Rng;

/// First protocol version with BIP133 `feefilter`.
pub const FEEFILTER_VERSION: u32 = 70013;
/// Highest filter bucket (Core's MAX_FILTER_FEERATE, sat/kvB).
pub const MAX_FILTER_FEERATE: f64 = 1e7;
/// Ratio between neighbouring buckets (Core's FEE_FILTER_SPACING).
pub const FEE_FILTER_SPACING: f64 = 1.1;
/// Mean interval between filter broadcasts (Core's AVG_FEEFILTER_BROADCAST_INTERVAL).
pub const AVG_BROADCAST_INTERVAL_MS: i64 = 10 * 60 * 1000;
/// A big change is sent within this long (Core's MAX_FEEFILTER_CHANGE_DELAY).
pub const MAX_CHANGE_DELAY_MS: i64 = 5 * 60 * 1000;

/// Core's FeeFilterRounder: the bucket boundaries, from 0 and half the incremental relay fee
/// up to [`MAX_FILTER_FEERATE`].
#[derive(Debug, Clone)]
pub struct FeeFilterRounder {
    buckets: Vec<f64>,
}

impl FeeFilterRounder {
    /// Buckets for `incremental` (sat/kvB, `-incrementalrelayfee`).
    pub fn new(incremental: u64) -> Self {
        let mut buckets = vec![0.0];
        let mut b = (incremental / 2).max(1) as f64;
        while b <= MAX_FILTER_FEERATE {
            buckets.push(b);
            b *= FEE_FILTER_SPACING;
        }
        FeeFilterRounder { buckets }
    }

    /// The bucket to announce for `fee`: the first bucket not below it, or (two times in three,
    /// and always above the top) the one under it.
    pub fn round(&self, fee: u64, rng: &mut impl Rng) -> u64 {
        let fee = fee as f64;
        let mut i = self.buckets.partition_point(|b| *b < fee);
        if i == self.buckets.len() || (i > 0 && rng.gen_range(0..3) != 0) {
            i -= 1;
        }
        self.buckets[i] as u64
    }

    /// What the highest filter rounds to (sent while in initial block download).
    pub fn max_filter(&self) -> u64 {
        self.buckets.last().copied().unwrap_or(0.0) as u64
    }
}

/// One peer's filter state.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerFeeFilter {
    /// The last filter sent (sat/kvB; 0 before the first).
    pub sent: u64,
    /// When the next one is due (UNIX ms, mockable clock; 0: now).
    pub next_send_ms: i64,
}

impl PeerFeeFilter {
    /// Core's MaybeSendFeefilter for one peer: `current` is the mempool's minimum fee rate (or
    /// MAX_MONEY in IBD). Returns the filter to send now, if any.
    pub fn due(
        &mut self,
        rounder: &FeeFilterRounder,
        current: u64,
        in_ibd: bool,
        min_relay: u64,
        now_ms: i64,
        rng: &mut impl Rng,
    ) -> Option<u64> {
        let current = if in_ibd { bitcoin::Amount::MAX_MONEY.to_sat() } else { current };
        if !in_ibd && self.sent == rounder.max_filter() {
            // Out of IBD: replace the "send nothing" filter at once.
            self.next_send_ms = 0;
        }
        if now_ms > self.next_send_ms {
            let to_send = rounder.round(current, rng).max(min_relay);
            let changed = to_send != self.sent;
            self.sent = to_send;
            let u: f64 = rng.gen::<f64>().max(1e-12);
            self.next_send_ms = now_ms + (AVG_BROADCAST_INTERVAL_MS as f64 * -u.ln()) as i64;
            return changed.then_some(to_send);
        }
        let big_change = (current as u128) * 4 < (self.sent as u128) * 3 || (current as u128) * 3 > (self.sent as u128) * 4;
        if now_ms + MAX_CHANGE_DELAY_MS < self.next_send_ms && big_change {
            self.next_send_ms = now_ms + rng.gen_range(0..MAX_CHANGE_DELAY_MS);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cores() {
        let r = FeeFilterRounder::new(100);
        // Core's functional tests: the IBD filter with the default incremental fee of 100.
        assert_eq!(r.max_filter(), 9_936_506);
        assert_eq!(FeeFilterRounder::new(1000).max_filter(), 9_170_997);
        let mut rng = rand::thread_rng();
        assert_eq!(
            r.round(bitcoin::Amount::MAX_MONEY.to_sat(), &mut rng),
            9_936_506,
            "above the top: the top bucket"
        );
        assert_eq!(r.round(0, &mut rng), 0);
        for _ in 0..50 {
            // 10 sat/kvB lies under the first bucket (50): rounds to 0 or 50.
            assert!([0, 50].contains(&r.round(10, &mut rng)));
            let x = r.round(1234, &mut rng);
            assert!((1000..=1400).contains(&x), "{x}");
        }
    }

    #[test]
    fn ibd_then_out_of_ibd() {
        let r = FeeFilterRounder::new(100);
        let mut rng = rand::thread_rng();
        let mut p = PeerFeeFilter::default();
        assert_eq!(p.due(&r, 0, true, 10, 1_000, &mut rng), Some(9_936_506));
        assert_eq!(p.due(&r, 0, true, 10, 2_000, &mut rng), None, "not due again yet");
        // Leaving IBD replaces the filter at once, with at least the min relay fee.
        assert_eq!(p.due(&r, 0, false, 10, 3_000, &mut rng), Some(10));
        assert_eq!(p.due(&r, 0, false, 10, 4_000, &mut rng), None);
        // A big change brings the broadcast within five minutes.
        p.next_send_ms = 10_000_000;
        assert_eq!(p.due(&r, 100_000, false, 10, 5_000, &mut rng), None);
        assert!(p.next_send_ms < 5_000 + MAX_CHANGE_DELAY_MS);
    }
}

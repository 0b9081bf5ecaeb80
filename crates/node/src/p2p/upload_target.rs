//! `-maxuploadtarget` as Core's (net.cpp's outbound limit): bytes sent are counted in 24-hour
//! cycles on the mockable clock; once the target is near, historical blocks (more than a week
//! older than the best header) and filtered blocks are no longer served to peers without the
//! `download` permission, and `getnettotals.uploadtarget` reports the cycle.

use std::sync::Mutex;

/// Length of an upload cycle (Core's MAX_UPLOAD_TIMEFRAME, 24 h).
pub const MAX_UPLOAD_TIMEFRAME: i64 = 24 * 60 * 60;
/// Blocks older than this (against the best header) are historical (Core's HISTORICAL_BLOCK_AGE).
pub const HISTORICAL_BLOCK_AGE: i64 = 7 * 24 * 60 * 60;
/// Room kept for one block per 10 minutes left in the cycle (Core's MAX_BLOCK_SERIALIZED_SIZE).
const MAX_BLOCK_SERIALIZED_SIZE: u64 = 4_000_000;

/// The current cycle: when it started (UNIX seconds, 0: none yet) and what was sent in it.
#[derive(Debug, Default)]
struct Cycle {
    start: i64,
    sent: u64,
}

/// The upload target and the bytes sent in the current cycle.
#[derive(Debug, Default)]
pub struct UploadTarget {
    limit: std::sync::atomic::AtomicU64,
    cycle: Mutex<Cycle>,
}

pub use crate::config::byte_units::{parse_target, ParseError};

impl UploadTarget {
    /// Sets the target in bytes per cycle (0: none).
    pub fn set_limit(&self, bytes: u64) {
        self.limit.store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// The target in bytes (0: none).
    pub fn limit(&self) -> u64 {
        self.limit.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn cycle(&self) -> std::sync::MutexGuard<'_, Cycle> {
        crate::sync::lock(&self.cycle)
    }

    /// Counts `n` bytes sent at `now`, starting a new cycle when the last one is over (Core's
    /// RecordBytesSent).
    pub fn record(&self, n: u64, now: i64) {
        let mut c = self.cycle();
        if c.start + MAX_UPLOAD_TIMEFRAME < now {
            c.start = now;
            c.sent = 0;
        }
        c.sent = c.sent.saturating_add(n);
    }

    /// Seconds until the cycle ends (Core's GetMaxOutboundTimeLeftInCycle).
    pub fn time_left(&self, now: i64) -> i64 {
        if self.limit() == 0 {
            return 0;
        }
        let c = self.cycle();
        if c.start == 0 {
            return MAX_UPLOAD_TIMEFRAME;
        }
        (c.start + MAX_UPLOAD_TIMEFRAME - now).max(0)
    }

    /// Whether the target is reached; with `historical`, whether it is near enough that
    /// historical blocks are no longer served (room is kept for a block per 10 minutes left).
    pub fn reached(&self, historical: bool, now: i64) -> bool {
        let limit = self.limit();
        if limit == 0 {
            return false;
        }
        let sent = self.cycle().sent;
        if historical {
            let buffer = (self.time_left(now) / 600) as u64 * MAX_BLOCK_SERIALIZED_SIZE;
            return buffer >= limit || sent >= limit - buffer;
        }
        sent >= limit
    }

    /// Bytes that may still be sent in this cycle (0 without a target).
    pub fn bytes_left(&self) -> u64 {
        self.limit().saturating_sub(self.cycle().sent)
    }

    /// `getnettotals.uploadtarget`, Core's fields.
    pub fn json(&self, now: i64) -> serde_json::Value {
        serde_json::json!({
            "timeframe": MAX_UPLOAD_TIMEFRAME,
            "target": self.limit(),
            "target_reached": self.reached(false, now),
            "serve_historical_blocks": !self.reached(true, now),
            "bytes_left_in_cycle": self.bytes_left(),
            "time_left_in_cycle": self.time_left(now),
        })
    }
}

/// Whether block `hash` is historical: more than [`HISTORICAL_BLOCK_AGE`] older than the best
/// header (Core's test in ProcessGetBlockData). Unknown blocks are not.
pub fn is_historical(c: &crate::chain::ChainManager, hash: &bitcoin::BlockHash) -> bool {
    let best = i64::from(c.best_header().header.time);
    c.entry(hash)
        .is_some_and(|e| best - i64::from(e.header.time) > HISTORICAL_BLOCK_AGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_core_units() {
        assert_eq!(parse_target("0").unwrap(), 0);
        assert_eq!(parse_target("5").unwrap(), 5 << 20);
        assert_eq!(parse_target("5k").unwrap(), 5_000);
        assert_eq!(parse_target("5K").unwrap(), 5 << 10);
        assert_eq!(parse_target("2G").unwrap(), 2 << 30);
        for bad in ["", "k", "1x", "-1", "1.5M", "99999999999999999999"] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cycles_and_limits() {
        // Realistic clock values: the first cycle starts at the first byte sent.
        const B: i64 = 1_700_000_000;
        let t = UploadTarget::default();
        assert!(!t.reached(true, B));
        t.set_limit(1_000_000_000);
        assert_eq!(t.time_left(B), MAX_UPLOAD_TIMEFRAME);
        t.record(100, B);
        assert_eq!(t.bytes_left(), 1_000_000_000 - 100);
        // A full day left keeps 144 blocks of room: 576 MB.
        assert!(!t.reached(true, B));
        t.record(430_000_000, B + 1);
        assert!(t.reached(true, B + 1) && !t.reached(false, B + 1));
        // Later in the cycle less room is kept.
        assert!(!t.reached(true, B + MAX_UPLOAD_TIMEFRAME - 600));
        t.record(600_000_000, B + 2);
        assert!(t.reached(false, B + 2));
        assert_eq!(t.bytes_left(), 0);
        // A new cycle starts from zero.
        t.record(1, B + 1 + MAX_UPLOAD_TIMEFRAME + 1);
        assert_eq!(t.bytes_left(), 1_000_000_000 - 1);
    }
}

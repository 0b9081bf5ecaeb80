//! Contextual header checks (Core's ContextualCheckBlockHeader).

use super::reject::Reject;
use crate::params::ChainParams;
use bitcoin::block::Header;
use bitcoin::CompactTarget;

/// How far in the future a block's timestamp may be (2 hours, as Core).
pub const MAX_FUTURE_BLOCK_TIME: i64 = 2 * 60 * 60;
/// BIP94: how far the first block of a period may go back in time from its parent.
pub const MAX_TIMEWARP: i64 = 600;

/// What a header's parent tells us: its height, time, median-time-past, and the bits required next.
pub struct ParentContext {
    /// Parent height.
    pub height: u32,
    /// Parent timestamp.
    pub time: u32,
    /// Median time past of the parent (last 11 blocks).
    pub mtp: i64,
    /// Bits the new header must carry.
    pub expected_bits: CompactTarget,
}

/// Checks difficulty bits, timestamps (BIP113 MTP, future limit, BIP94 timewarp) and version floors.
pub fn contextual_check_header(header: &Header, parent: &ParentContext, params: &ChainParams, now: i64) -> Result<(), Reject> {
    let height = parent.height + 1;
    if header.bits != parent.expected_bits {
        return Err(Reject::new("bad-diffbits", "incorrect proof of work"));
    }
    if params.enforce_bip94
        && height.is_multiple_of(params.difficulty_adjustment_interval())
        && i64::from(header.time) < i64::from(parent.time) - MAX_TIMEWARP
    {
        return Err(Reject::new(
            "time-timewarp-attack",
            "block's timestamp is too early on diff adjustment block",
        ));
    }
    if i64::from(header.time) <= parent.mtp {
        return Err(Reject::new("time-too-old", "block's timestamp is too early"));
    }
    if i64::from(header.time) > now + MAX_FUTURE_BLOCK_TIME {
        return Err(Reject::new("time-too-new", "block timestamp too far in the future"));
    }
    let v = header.version.to_consensus();
    if (v < 2 && height >= params.bip34_height) || (v < 3 && height >= params.bip66_height) || (v < 4 && height >= params.bip65_height) {
        return Err(Reject::new(
            format!("bad-version(0x{:08x})", v as u32),
            format!("rejected nVersion=0x{:08x} block", v as u32),
        ));
    }
    Ok(())
}

/// Median of the last (up to) 11 timestamps, as Core's GetMedianTimePast.
pub fn median_time(mut times: Vec<u32>) -> i64 {
    if times.is_empty() {
        return 0;
    }
    times.sort_unstable();
    i64::from(times[times.len() / 2])
}

//! Difficulty: the bits a block must carry (Core's GetNextWorkRequired), per network rules.

use crate::params::ChainParams;
use bitcoin::block::Header;
use bitcoin::CompactTarget;

/// The compact target a block at `prev_height + 1` with timestamp `new_time` must use.
/// `ancestor(h)` returns the header at height `h` on the chain ending at the parent.
pub fn next_work_required(
    params: &ChainParams,
    prev_height: u32,
    prev: &Header,
    new_time: u32,
    ancestor: &dyn Fn(u32) -> Option<Header>,
) -> CompactTarget {
    let c = params.consensus;
    let interval = params.difficulty_adjustment_interval();
    let limit_bits = c.max_attainable_target.to_compact_lossy();
    if !(prev_height + 1).is_multiple_of(interval) {
        if c.allow_min_difficulty_blocks {
            if i64::from(new_time) > i64::from(prev.time) + 2 * c.pow_target_spacing as i64 {
                return limit_bits;
            }
            let mut h = prev_height;
            let mut bits = prev.bits;
            while h > 0 && !h.is_multiple_of(interval) && bits == limit_bits {
                h -= 1;
                match ancestor(h) {
                    Some(hdr) => bits = hdr.bits,
                    None => break,
                }
            }
            return bits;
        }
        return prev.bits;
    }
    if c.no_pow_retargeting {
        return prev.bits;
    }
    let first_height = prev_height.saturating_sub(interval - 1);
    let Some(first) = ancestor(first_height) else { return prev.bits };
    let span = i64::from(prev.time) - i64::from(first.time);
    let target = c.pow_target_timespan as i64;
    let span = span.clamp(target / 4, target * 4) as u64;
    let base = if params.enforce_bip94 { first.bits } else { prev.bits };
    CompactTarget::from_next_work_required(base, span, c)
}

//! Fingerprinting protection for blocks off the active chain (Core's BlockRequestAllowed): a
//! peer may fetch a stale block or its header only while it is recent, so nobody can probe
//! which old forks this node happened to see.

use crate::chain::index::{status, BlockIndexEntry};
use crate::chain::{proof_equivalent_time, ChainManager};

/// How far (in block time and in equivalent proof of work) a stale block may lie behind the
/// best header and still be served (Core's STALE_RELAY_AGE_LIMIT, 30 days).
pub const STALE_RELAY_AGE_LIMIT: i64 = 30 * 24 * 60 * 60;

/// Whether a block (or its header) may be given to a peer that asks for it: always when it is
/// on the active chain; otherwise only when it was fully validated and lies less than a month
/// behind the best header, both in timestamp and in equivalent proof-of-work time.
pub fn block_request_allowed(c: &ChainManager, e: &BlockIndexEntry) -> bool {
    if c.is_active(&e.hash) {
        return true;
    }
    if e.status & status::VALID_SCRIPTS == 0 || e.is_failed() {
        return false;
    }
    let best = c.best_header();
    let age = i64::from(best.header.time) - i64::from(e.header.time);
    let spacing = c.params().consensus.pow_target_spacing;
    let work_age = proof_equivalent_time(best.chainwork, e.chainwork, best.header.work(), spacing);
    age < STALE_RELAY_AGE_LIMIT && work_age < STALE_RELAY_AGE_LIMIT
}

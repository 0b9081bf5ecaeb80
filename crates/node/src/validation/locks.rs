//! Transaction finality (nLockTime, BIP113) and relative lock-times (BIP68).

use bitcoin::relative::LockTime as RelativeLockTime;
use bitcoin::{Sequence, Transaction};

/// nLockTime values below this are heights, above are UNIX times (rust-bitcoin's constant).
pub use bitcoin::locktime::absolute::LOCK_TIME_THRESHOLD as LOCKTIME_THRESHOLD;
/// BIP68 time locks count units of 2^9 = 512 seconds (Core's SEQUENCE_LOCKTIME_GRANULARITY).
const SEQUENCE_LOCKTIME_GRANULARITY: u32 = 9;

/// Core's IsFinalTx: is `tx` final in a block at `height` whose lock-time cutoff is `cutoff_time`?
pub fn is_final_tx(tx: &Transaction, height: u32, cutoff_time: i64) -> bool {
    let lock = tx.lock_time.to_consensus_u32();
    if lock == 0 {
        return true;
    }
    let limit = if lock < LOCKTIME_THRESHOLD {
        i64::from(height)
    } else {
        cutoff_time
    };
    if i64::from(lock) < limit {
        return true;
    }
    tx.input.iter().all(|i| i.sequence == Sequence::MAX)
}

/// BIP68 minimum height and time (exclusive) a transaction must wait for, given for each input
/// the height of the block that created the coin and a lookup of median-time-past by height.
pub fn sequence_lock(tx: &Transaction, coin_heights: &[u32], mtp_at_height: &dyn Fn(u32) -> i64) -> (i64, i64) {
    let mut min_height: i64 = -1;
    let mut min_time: i64 = -1;
    // Core compares the version as unsigned: versions with the high bit set enforce BIP68 too.
    if (tx.version.0 as u32) < 2 {
        return (min_height, min_time);
    }
    for (input, &coin_height) in tx.input.iter().zip(coin_heights) {
        // rust-bitcoin reads the disable flag, the type flag and the 16-bit value as BIP68.
        match input.sequence.to_relative_lock_time() {
            None => continue,
            Some(RelativeLockTime::Time(t)) => {
                let coin_time = mtp_at_height(coin_height.saturating_sub(1));
                let t = coin_time + (i64::from(t.value()) << SEQUENCE_LOCKTIME_GRANULARITY) - 1;
                min_time = min_time.max(t);
            }
            Some(RelativeLockTime::Blocks(h)) => {
                let hgt = i64::from(coin_height) + i64::from(h.value()) - 1;
                min_height = min_height.max(hgt);
            }
        }
    }
    (min_height, min_time)
}

/// Whether a lock pair from [`sequence_lock`] is satisfied in a block at `height` whose parent has `prev_mtp`.
pub fn sequence_lock_satisfied(lock: (i64, i64), height: u32, prev_mtp: i64) -> bool {
    lock.0 < i64::from(height) && lock.1 < prev_mtp
}

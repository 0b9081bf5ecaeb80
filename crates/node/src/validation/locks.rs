//! Transaction finality (nLockTime, BIP113) and relative lock-times (BIP68).

use bitcoin::Transaction;

/// nLockTime values below this are heights, above are UNIX times.
pub const LOCKTIME_THRESHOLD: u32 = 500_000_000;
const SEQUENCE_FINAL: u32 = 0xffff_ffff;
const SEQUENCE_LOCKTIME_DISABLE_FLAG: u32 = 1 << 31;
const SEQUENCE_LOCKTIME_TYPE_FLAG: u32 = 1 << 22;
const SEQUENCE_LOCKTIME_MASK: u32 = 0x0000_ffff;
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
    tx.input.iter().all(|i| i.sequence.0 == SEQUENCE_FINAL)
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
        let seq = input.sequence.0;
        if seq & SEQUENCE_LOCKTIME_DISABLE_FLAG != 0 {
            continue;
        }
        if seq & SEQUENCE_LOCKTIME_TYPE_FLAG != 0 {
            let coin_time = mtp_at_height(coin_height.saturating_sub(1));
            let t = coin_time + ((i64::from(seq & SEQUENCE_LOCKTIME_MASK)) << SEQUENCE_LOCKTIME_GRANULARITY) - 1;
            min_time = min_time.max(t);
        } else {
            let hgt = i64::from(coin_height) + i64::from(seq & SEQUENCE_LOCKTIME_MASK) - 1;
            min_height = min_height.max(hgt);
        }
    }
    (min_height, min_time)
}

/// Whether a lock pair from [`sequence_lock`] is satisfied in a block at `height` whose parent has `prev_mtp`.
pub fn sequence_lock_satisfied(lock: (i64, i64), height: u32, prev_mtp: i64) -> bool {
    lock.0 < i64::from(height) && lock.1 < prev_mtp
}

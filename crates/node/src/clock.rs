//! The node's one wall clock, which `-mocktime` and the `setmocktime` RPC can replace (as Core's
//! mock time), so tests can move validation's time checks, mempool expiry, ban expiry and peer
//! timestamps together.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The mocked UNIX time in seconds; 0 means "use the system clock".
static MOCKTIME: AtomicI64 = AtomicI64::new(0);

/// Largest accepted mock time, as Core's `setmocktime` (the largest nanosecond count in seconds).
pub const MAX_MOCKTIME: i64 = 9_223_372_036;

/// Current UNIX time in seconds: the mock time when one is set, the system clock otherwise.
pub fn unix_now() -> i64 {
    match MOCKTIME.load(Ordering::Relaxed) {
        0 => system_since_epoch().as_secs() as i64,
        t => t,
    }
}

/// Current UNIX time in milliseconds (mocked to whole seconds when a mock time is set).
pub fn unix_now_ms() -> u64 {
    match MOCKTIME.load(Ordering::Relaxed) {
        0 => system_since_epoch().as_millis() as u64,
        t => (t as u64).saturating_mul(1000),
    }
}

/// Sets the mock time (`0` returns to the system clock); refuses values outside 0..=MAX_MOCKTIME.
pub fn set_mocktime(t: i64) -> Result<(), MockTimeError> {
    check_mocktime(t)?;
    MOCKTIME.store(t, Ordering::Relaxed);
    Ok(())
}

/// Whether `t` is an acceptable mock time (0..=MAX_MOCKTIME), checked before it is handed on.
pub fn check_mocktime(t: i64) -> Result<(), MockTimeError> {
    if !(0..=MAX_MOCKTIME).contains(&t) {
        return Err(MockTimeError(t));
    }
    Ok(())
}

/// The current mock time (0: none).
pub fn mocktime() -> i64 {
    MOCKTIME.load(Ordering::Relaxed)
}

/// A mock time outside the accepted range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Mocktime must be in the range [0, {MAX_MOCKTIME}], not {0}.")]
pub struct MockTimeError(pub i64);

/// Time since the UNIX epoch by the system clock, never mocked: for what must follow real
/// time whatever `-mocktime` says (log timestamps, backup directory names), as Core's logger.
pub fn system_since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

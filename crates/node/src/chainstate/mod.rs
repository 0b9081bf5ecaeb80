//! The UTXO set: coins, the write-back cache, undo data and statistics.

pub mod cache;
pub mod coin;
pub mod compress;
pub mod muhash;
pub mod outpoint_hash;
pub mod packed;
pub mod prefetch;
pub mod snapshot;
pub mod stats;
pub mod undo;

pub use coin::Coin;

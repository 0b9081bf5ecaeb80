//! Regtest block building for integration tests: `blvm_testkit::mining` (shared with the
//! differential oracle) plus what needs the chain engine.
//!
//! Include with `#[path = "support/mining.rs"] mod mining;`.
#![allow(dead_code, unused_imports)]

pub use blvm_testkit::mining::*;

use bitcoin::BlockHash;
use blvm_node::chain::ChainManager;

/// The parent `hash` as known to `chain` (any branch).
pub fn parent_of(chain: &ChainManager, hash: &BlockHash) -> Parent {
    let e = chain.entry(hash).expect("parent is in the block index");
    Parent {
        hash: *hash,
        height: e.height,
        time: e.header.time,
        mtp: chain.median_time_past(hash),
    }
}

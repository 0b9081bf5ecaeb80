//! Differential consensus testing: the same mutated blocks through blvm-node's chain engine and
//! Bitcoin Core's (libbitcoinkernel, feature `kernel`), on identical chain state; any difference
//! in accept/reject or in the resulting tip is a failure with a reproducer.
//!
//! - [`base`]: the chain both engines follow (Core's 301 regtest blocks plus a deterministic
//!   extension with anyone-can-spend coinbases).
//! - [`mutator`]: seeded block mutations across every consensus rule class, re-mined on regtest.
//! - [`engine`]: the engine interface and blvm's engine; [`kernel`]: Core's, a client of the
//!   `blvm-kernel-worker` process (feature `kernel`).
//! - [`diff`]: the runner, its report and reproducers.
//!
//! Test-only crate (`publish = false`). docs/testing.md explains how to run it.

pub mod base;
pub mod diff;
pub mod engine;
pub mod kernel;
/// Regtest block building (shared with the node's tests).
pub use blvm_testkit::mining;
pub mod mutator;

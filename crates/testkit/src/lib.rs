//! Test-only helpers shared by the node's integration tests, benches and the differential oracle,
//! so the regtest block builder exists once; `scale_chain` writes the UTXO-scale bench's chains; `proc_memory`
//! samples a child's anonymous and file-backed memory.
//! It depends on `bitcoin` alone: what needs the chain engine (a parent read from a
//! `ChainManager`) stays with the tests that have one.

pub mod mining;
pub mod proc_memory;
pub mod scale_chain;
pub mod shared;

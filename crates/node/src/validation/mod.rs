//! Consensus validation around Core's script interpreter: the block-level rules are ours.

pub mod block_check;
pub mod check_queue;
pub mod header_check;
pub mod locks;
pub mod merkle;
pub mod pow;
pub mod prepared;
pub mod reject;
pub mod script_cache;
pub mod script_error;
pub mod scripts;
pub mod sigops;
pub mod tx_check;
pub mod tx_hashes;
pub mod tx_inputs;

pub use reject::Reject;

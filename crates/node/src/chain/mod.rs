//! The chain engine: block index, best-chain selection, reorgs, and flushing.

pub mod active;
pub mod coinstatsindex;
pub mod error;
pub mod events;
pub mod filterindex;
pub mod ibd;
pub mod index;
pub mod manager;
pub mod shared;
pub mod txindex;
pub mod verify;
pub mod versionbits;

pub use error::ChainError;
pub use events::{reported_tips, ChainNotification, FlushReason, FlushReport};
pub use manager::{proof_equivalent_time, BlockOutcome, ChainManager, ChainSettings, SnapshotViewError, UtxoSetView};
pub use shared::SharedChain;

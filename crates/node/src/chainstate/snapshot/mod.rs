//! Core's UTXO snapshot files (`dumptxoutset` / `loadtxoutset`, node/utxo_snapshot.h): the
//! metadata header, a writer and a bounded streaming reader of the coins.
//!
//! Layout: `'u' 't' 'x' 'o' 0xff`, version (u16 LE, 2), network magic (4 bytes), base block
//! hash (32 bytes), coin count (u64 LE); then per transaction its txid, a compact-size count of
//! its coins and, per coin, a compact-size vout and the coin in Core's compressed form
//! ([`super::compress`]). Transactions come in Core's cursor order
//! ([`super::coin::for_each_txid_group`]).

mod load;
mod read;
mod write;

pub use load::{load_snapshot, LoadError, LoadedSnapshot};
pub use read::{open_snapshot, SnapshotReader};
pub use write::{write_snapshot, SnapshotWriter, WriteError};

use bitcoin::hashes::Hash;
use bitcoin::p2p::Magic;
use bitcoin::{BlockHash, Network};
use thiserror::Error;

/// The five bytes every snapshot file starts with.
pub const SNAPSHOT_MAGIC_BYTES: [u8; 5] = *b"utxo\xff";
/// The snapshot format version Core 28+ writes and reads.
pub const SNAPSHOT_VERSION: u16 = 2;
/// Bytes of the metadata header.
pub const METADATA_LEN: u64 = 5 + 2 + 4 + 32 + 8;

/// The header of a snapshot file (Core's `SnapshotMetadata`); read from untrusted files, so
/// every field is checked before use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotMetadata {
    /// The network the snapshot belongs to (its magic).
    pub network: Network,
    /// The block whose UTXO set the snapshot holds.
    pub base_blockhash: BlockHash,
    /// How many coins follow.
    pub coins_count: u64,
}

impl SnapshotMetadata {
    /// The header's bytes as Core writes them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(METADATA_LEN as usize);
        v.extend_from_slice(&SNAPSHOT_MAGIC_BYTES);
        v.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        v.extend_from_slice(&self.network.magic().to_bytes());
        v.extend_from_slice(self.base_blockhash.as_byte_array());
        v.extend_from_slice(&self.coins_count.to_le_bytes());
        v
    }

    /// Parses a header for a node on `network`, with Core's errors.
    pub fn parse(b: &[u8; METADATA_LEN as usize], network: Network) -> Result<Self, SnapshotError> {
        if b[..5] != SNAPSHOT_MAGIC_BYTES {
            return Err(SnapshotError::Magic);
        }
        let version = u16::from_le_bytes([b[5], b[6]]);
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version(version));
        }
        let magic = Magic::from_bytes([b[7], b[8], b[9], b[10]]);
        if magic != network.magic() {
            return Err(match Network::from_magic(magic) {
                Some(theirs) => SnapshotError::Network {
                    snapshot: chain_type(theirs),
                    node: chain_type(network),
                },
                None => SnapshotError::UnknownNetwork,
            });
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&b[11..43]);
        let mut count = [0u8; 8];
        count.copy_from_slice(&b[43..51]);
        Ok(SnapshotMetadata {
            network,
            base_blockhash: BlockHash::from_byte_array(hash),
            coins_count: u64::from_le_bytes(count),
        })
    }
}

/// Core's ChainTypeToString.
fn chain_type(n: Network) -> &'static str {
    match n {
        Network::Bitcoin => "main",
        Network::Testnet => "test",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        _ => "regtest",
    }
}

/// Why a snapshot file was refused; the texts are Core's where Core has one.
#[derive(Debug, Error)]
pub enum SnapshotError {
    /// The file does not start with the snapshot magic.
    #[error("Invalid UTXO set snapshot magic bytes. Please check if this is indeed a snapshot file or if you are using an outdated snapshot format.")]
    Magic,
    /// An unsupported format version.
    #[error("Version of snapshot {0} does not match any of the supported versions.")]
    Version(u16),
    /// A snapshot of another known network.
    #[error("The network of the snapshot ({snapshot}) does not match the network of this node ({node}).")]
    Network {
        /// The snapshot's network.
        snapshot: &'static str,
        /// This node's network.
        node: &'static str,
    },
    /// A magic no known network uses.
    #[error("This snapshot has been created for an unrecognized network. This could be a custom signet, a new testnet or possibly caused by data corruption.")]
    UnknownNetwork,
    /// The file ended early or a field is malformed (Core's text; `detail` is for logs).
    #[error("Bad snapshot format or truncated snapshot after deserializing {coins} coins")]
    Format {
        /// Coins read before the fault.
        coins: u64,
        /// What was wrong.
        detail: &'static str,
    },
    /// More coins announced than the file's size could hold (checked before reading any).
    #[error("Bad snapshot - coins count {count} cannot fit in a file of {len} bytes")]
    CountExceedsFile {
        /// The announced count.
        count: u64,
        /// The file's size.
        len: u64,
    },
    /// A transaction claims more coins than the metadata has left.
    #[error("Mismatch in coins count in snapshot metadata and actual snapshot data")]
    CountMismatch,
    /// A coin above the base height or with vout 2^32-1, or a value out of range.
    #[error("Bad snapshot data after deserializing {coins} coins{detail}")]
    BadCoin {
        /// Coins read before this one.
        coins: u64,
        /// "" or a suffix naming the fault (Core's " - bad tx out value").
        detail: &'static str,
    },
    /// Bytes follow the announced coins.
    #[error("Bad snapshot - coins left over after deserializing {0} coins")]
    LeftOver(u64),
    /// The file could not be read.
    #[error("snapshot file: {0}")]
    Io(#[from] std::io::Error),
}

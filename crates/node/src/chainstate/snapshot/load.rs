//! Loading a snapshot's coins into a coins database, the chain-independent half of Core's
//! PopulateAndValidateSnapshot: coins are streamed from the file into the database in batches
//! bounded by memory (never the whole set in memory), then the stored set is hashed in the
//! database's order and compared with the hash the chain parameters expect for the base block.
//! A refused snapshot leaves a partly filled database: the caller deletes it, as Core does.

use super::{SnapshotError, SnapshotReader};
use crate::chainstate::coin::outpoint_key;
use crate::chainstate::stats::compute_utxo_stats;
use crate::store::db::{ChainDb, DbError, FlushBatch};
use std::io::BufRead;
use thiserror::Error;

/// Memory assumed per batched coin beyond its script: key, encoding and vector slots.
const BATCH_COIN_OVERHEAD: usize = 96;
/// Coins read between two checks of the interrupt flag (Core checks every 120,000); it is
/// also checked before each batch is committed.
const INTERRUPT_CHECK_COINS: u64 = 120_000;

/// Why a snapshot's coins were not loaded; the texts are Core's.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file was refused while reading it.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The coins loaded, but their hash is not the one expected for the base block.
    #[error("Bad snapshot content hash: expected {expected}, got {got}")]
    ContentHash {
        /// hash_serialized_3 the chain parameters give for the base block.
        expected: String,
        /// hash_serialized_3 of the loaded coins.
        got: String,
    },
    /// The node is shutting down.
    #[error("Aborting after an interrupt was requested")]
    Interrupted,
}

/// What a successful load put in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedSnapshot {
    /// Coins stored.
    pub coins: u64,
    /// Database commits the load took (one per batch).
    pub batches: u64,
    /// The stored set's hash_serialized_3 (equal to the expected one).
    pub hash_serialized_3: String,
}

/// Streams every coin of `reader` into `db` (which should hold no coins), committing whenever
/// the pending batch reaches `batch_bytes`, then checks the stored set's hash_serialized_3
/// against `expected_hash` (Core's display hex). `interrupted` is polled as Core polls its
/// interrupt, so a shutdown does not wait for a mainnet-sized load.
pub fn load_snapshot<R: BufRead>(
    reader: &mut SnapshotReader<R>,
    db: &ChainDb,
    batch_bytes: usize,
    expected_hash: &str,
    interrupted: &dyn Fn() -> bool,
) -> Result<LoadedSnapshot, LoadError> {
    let total = reader.metadata().coins_count;
    tracing::info!(coins = total, base = %reader.metadata().base_blockhash, "[snapshot] loading coins from snapshot");
    let mut batch = FlushBatch::default();
    let (mut pending, mut batches) = (0usize, 0u64);
    while let Some((op, coin)) = reader.next_coin()? {
        let mut value = Vec::with_capacity(16 + coin.output.script_pubkey.len());
        coin.encode(&mut value);
        pending += BATCH_COIN_OVERHEAD + value.len();
        batch.coins.push((outpoint_key(&op), Some(value)));
        let read = reader.coins_read();
        if read.is_multiple_of(INTERRUPT_CHECK_COINS) && interrupted() {
            return Err(LoadError::Interrupted);
        }
        if read.is_multiple_of(1_000_000) {
            tracing::info!(coins = read, of = total, "[snapshot] coins loaded");
        }
        if pending >= batch_bytes {
            if interrupted() {
                return Err(LoadError::Interrupted);
            }
            db.commit(std::mem::take(&mut batch))?;
            (pending, batches) = (0, batches + 1);
        }
    }
    if !batch.coins.is_empty() {
        db.commit(batch)?;
        batches += 1;
    }
    let stats = compute_utxo_stats(db)?;
    if stats.hash_serialized_3 != expected_hash {
        return Err(LoadError::ContentHash {
            expected: expected_hash.to_string(),
            got: stats.hash_serialized_3,
        });
    }
    tracing::info!(coins = stats.txouts, batches, "[snapshot] loaded and hashed the snapshot's coins");
    Ok(LoadedSnapshot {
        coins: stats.txouts,
        batches,
        hash_serialized_3: stats.hash_serialized_3,
    })
}

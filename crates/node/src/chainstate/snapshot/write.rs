//! Writes a snapshot file: the metadata, then the coins one transaction at a time.

use super::SnapshotMetadata;
use crate::chainstate::coin::{for_each_txid_group, Coin, CoinOverlay};
use crate::chainstate::compress::write_compressed_coin;
use crate::chainstate::stats::{compute_utxo_stats_in, UtxoStats};
use crate::store::db::{CoinReader, DbError};
use bitcoin::consensus::Encodable;
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Network, Txid, VarInt};
use std::io::{self, Write};

/// Streams coins into a snapshot file in Core's byte layout; the caller hands over the
/// transactions in Core's cursor order.
pub struct SnapshotWriter<W: Write> {
    out: W,
    written: u64,
    buf: Vec<u8>,
}

impl<W: Write> SnapshotWriter<W> {
    /// Writes the metadata header to `out`.
    pub fn new(mut out: W, meta: &SnapshotMetadata) -> io::Result<Self> {
        out.write_all(&meta.to_bytes())?;
        Ok(SnapshotWriter {
            out,
            written: 0,
            buf: Vec::new(),
        })
    }

    /// Writes one transaction's unspent outputs (vout, coin), in the order given.
    pub fn write_txid_group(&mut self, txid: Txid, coins: &[(u32, Coin)]) -> io::Result<()> {
        if coins.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        self.buf.extend_from_slice(txid.as_byte_array());
        VarInt(coins.len() as u64).consensus_encode(&mut self.buf)?;
        for (vout, coin) in coins {
            VarInt(u64::from(*vout)).consensus_encode(&mut self.buf)?;
            write_compressed_coin(&mut self.buf, coin);
        }
        self.out.write_all(&self.buf)?;
        self.written += coins.len() as u64;
        Ok(())
    }

    /// Coins written so far.
    pub fn coins_written(&self) -> u64 {
        self.written
    }

    /// Flushes and returns the sink and the number of coins written.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.out.flush()?;
        Ok((self.out, self.written))
    }
}

/// Why a snapshot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The coins could not be read.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The file could not be written.
    #[error("writing the snapshot: {0}")]
    Io(#[from] io::Error),
    /// The second pass saw a different number of coins than the first (a store fault).
    #[error("wrote {written} coins but the UTXO set has {expected}")]
    CountChanged {
        /// Coins in the statistics pass.
        expected: u64,
        /// Coins written.
        written: u64,
    },
}

/// Writes the coins of `reader` with `overlay` applied, the UTXO set at block `base` of
/// `network`, to `out` as Core does: a first pass for the statistics (the count goes in the
/// header, the hash in the answer), then the metadata and the coins. Returns the statistics
/// and the sink.
pub fn write_snapshot<W: Write>(
    reader: &CoinReader,
    overlay: &CoinOverlay,
    network: Network,
    base: BlockHash,
    out: W,
) -> Result<(UtxoStats, W), WriteError> {
    let stats = compute_utxo_stats_in(reader, overlay)?;
    let meta = SnapshotMetadata {
        network,
        base_blockhash: base,
        coins_count: stats.txouts,
    };
    let mut w = SnapshotWriter::new(out, &meta)?;
    for_each_txid_group(reader, overlay, |txid, coins| {
        w.write_txid_group(txid, coins).map_err(WriteError::Io)
    })?;
    let (out, written) = w.finish()?;
    if written != stats.txouts {
        return Err(WriteError::CountChanged {
            expected: stats.txouts,
            written,
        });
    }
    Ok((stats, out))
}

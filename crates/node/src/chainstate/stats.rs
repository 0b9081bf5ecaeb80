//! UTXO set statistics exactly as Core's `gettxoutsetinfo` (hash_serialized_3, bogosize...).

use super::coin::{for_each_utxo_in, CoinOverlay};
use super::muhash::txout_ser;
use crate::store::db::{ChainDb, CoinReader, DbError};
use bitcoin::hashes::{sha256d, Hash, HashEngine};

/// Statistics over the whole UTXO set at the flushed best block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtxoStats {
    /// Number of unspent outputs.
    pub txouts: u64,
    /// Number of transactions with at least one unspent output.
    pub transactions: u64,
    /// Core's "bogosize": a database-independent size estimate.
    pub bogosize: u64,
    /// Sum of all values in satoshis.
    pub total_amount_sat: u64,
    /// Core's hash_serialized_3, in display (reversed) hex.
    pub hash_serialized_3: String,
}

/// Core's GetBogoSize for one output script.
pub fn bogo_size(script_len: usize) -> u64 {
    (32 + 4 + 4 + 8 + 2 + script_len) as u64
}

/// Computes the statistics by scanning the coins table in Core's order (flush first).
pub fn compute_utxo_stats(db: &ChainDb) -> Result<UtxoStats, DbError> {
    compute_utxo_stats_in(&db.coin_reader()?, &CoinOverlay::new())
}

/// [`compute_utxo_stats`] over a read snapshot of the coins table with `overlay` applied.
pub fn compute_utxo_stats_in(reader: &CoinReader, overlay: &CoinOverlay) -> Result<UtxoStats, DbError> {
    let mut engine = sha256d::Hash::engine();
    let mut stats = UtxoStats {
        txouts: 0,
        transactions: 0,
        bogosize: 0,
        total_amount_sat: 0,
        hash_serialized_3: String::new(),
    };
    let mut last_txid: Option<[u8; 32]> = None;
    for_each_utxo_in(reader, overlay, |op, coin| {
        let txid = op.txid.to_byte_array();
        if last_txid != Some(txid) {
            stats.transactions += 1;
            last_txid = Some(txid);
        }
        engine.input(&txout_ser(&op, &coin));
        stats.txouts += 1;
        stats.bogosize += bogo_size(coin.output.script_pubkey.len());
        stats.total_amount_sat += coin.output.value.to_sat();
        Ok(())
    })?;
    stats.hash_serialized_3 = sha256d::Hash::from_engine(engine).to_string();
    Ok(stats)
}

//! `gettxoutsetinfo hash_type hash_or_height use_index`: statistics of the UTXO set, computed
//! from the set at the tip or, with `-coinstatsindex`, read from the index at any block (with
//! Core's `block_info` and `total_unspendable_amount`).

use super::super::error::{code, RpcError};
use super::super::params::Params;
use super::blockchain::amount;
use crate::chain::coinstatsindex::{CoinStatsRecord, CoinTotals};
use crate::chain::index::BlockIndexEntry;
use crate::chain::ChainManager;
use crate::rpc::context::RpcContext;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// `gettxoutsetinfo`, with Core's argument rules: a block (height or hash) needs the index, a
/// hash type other than hash_serialized_3, and `use_index` not false.
pub(super) fn gettxoutsetinfo(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let kind = p.opt_str(0)?.unwrap_or("hash_serialized_3");
    if !matches!(kind, "hash_serialized_3" | "muhash" | "none") {
        return Err(RpcError::param(format!("'{kind}' is not a valid hash_type")));
    }
    let use_index = p.opt_bool(2)?.unwrap_or(true);
    let mut c = node.lock_chain();
    let indexed = c.coinstats_index_height().is_some();
    let target = match p.get(1) {
        None => None,
        Some(v) => {
            if !indexed {
                return Err(RpcError::param("Querying specific block heights requires coinstatsindex"));
            }
            if kind == "hash_serialized_3" {
                return Err(RpcError::param(
                    "hash_serialized_3 hash type cannot be queried for a specific block",
                ));
            }
            if !use_index {
                return Err(RpcError::param("Cannot set use_index to false when querying for a specific block"));
            }
            Some(super::blockstats::target(&c, v)?)
        }
    };
    if use_index && indexed && kind != "hash_serialized_3" {
        let e = target.unwrap_or_else(|| c.tip().clone());
        return from_index(&c, &e, kind == "muhash");
    }
    from_utxo_set(&mut c, kind)
}

fn db_err(e: impl ToString) -> RpcError {
    RpcError::new(code::DATABASE_ERROR, e.to_string())
}

/// The index's record of `e`, or Core's error when it has none.
fn record(c: &ChainManager, e: &BlockIndexEntry) -> Result<CoinStatsRecord, RpcError> {
    c.coinstats_record(&e.hash)
        .map_err(db_err)?
        .ok_or_else(|| RpcError::new(code::INTERNAL_ERROR, "Unable to read UTXO set"))
}

/// The answer from the coin statistics index at block `e`: the totals there and, from the
/// difference with its parent's, what the block itself spent, created and made unspendable.
fn from_index(c: &ChainManager, e: &BlockIndexEntry, muhash: bool) -> Result<Value, RpcError> {
    let r = record(c, e)?;
    let prev = match c.entry(&e.header.prev_blockhash).filter(|_| e.height > 0) {
        Some(parent) => record(c, parent)?.totals,
        None => CoinTotals::default(),
    };
    let t = r.totals;
    let diff = |a: u64, b: u64| amount(a.saturating_sub(b));
    let mut v = Map::new();
    v.insert("height".into(), json!(e.height));
    v.insert("bestblock".into(), json!(e.hash.to_string()));
    v.insert("txouts".into(), json!(t.txouts));
    v.insert("bogosize".into(), json!(t.bogo_size));
    if muhash {
        v.insert("muhash".into(), json!(r.muhash_hex()));
    }
    v.insert("total_amount".into(), amount(t.total_amount));
    v.insert("total_unspendable_amount".into(), amount(t.unspendable()));
    v.insert(
        "block_info".into(),
        json!({
            "prevout_spent": diff(t.prevout_spent, prev.prevout_spent),
            "coinbase": diff(t.coinbase, prev.coinbase),
            "new_outputs_ex_coinbase": diff(t.new_outputs_ex_coinbase, prev.new_outputs_ex_coinbase),
            "unspendable": diff(t.unspendable(), prev.unspendable()),
            "unspendables": {
                "genesis_block": diff(t.unspendable_genesis, prev.unspendable_genesis),
                "bip30": diff(t.unspendable_bip30, prev.unspendable_bip30),
                "scripts": diff(t.unspendable_scripts, prev.unspendable_scripts),
                "unclaimed_rewards": diff(t.unspendable_unclaimed, prev.unspendable_unclaimed),
            },
        }),
    );
    Ok(Value::Object(v))
}

/// The answer computed from the UTXO set at the tip (flushed first), as without the index.
fn from_utxo_set(c: &mut ChainManager, kind: &str) -> Result<Value, RpcError> {
    let stats = c.utxo_stats().map_err(db_err)?;
    let muhash = if kind == "muhash" {
        Some(c.utxo_muhash().map_err(db_err)?)
    } else {
        None
    };
    let tip = c.tip();
    // Core's key order: the hash (when asked for) right after bogosize.
    let mut v = Map::new();
    v.insert("height".into(), json!(tip.height));
    v.insert("bestblock".into(), json!(tip.hash.to_string()));
    v.insert("txouts".into(), json!(stats.txouts));
    v.insert("bogosize".into(), json!(stats.bogosize));
    if kind == "hash_serialized_3" {
        v.insert("hash_serialized_3".into(), json!(stats.hash_serialized_3));
    }
    if let Some(m) = muhash {
        v.insert("muhash".into(), json!(m));
    }
    v.insert("total_amount".into(), amount(stats.total_amount_sat));
    v.insert("transactions".into(), json!(stats.transactions));
    v.insert(
        "disk_size".into(),
        json!(std::fs::metadata(c.db_path()).map(|m| m.len()).unwrap_or(0)),
    );
    Ok(Value::Object(v))
}

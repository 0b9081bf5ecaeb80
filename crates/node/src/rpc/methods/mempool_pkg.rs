//! Core's prioritisation, package and import mempool methods: prioritisetransaction,
//! getprioritisedtransactions, submitpackage, importmempool, getmempoolcluster (same arguments, results and errors
//! as Bitcoin Core).

use super::super::error::{code, RpcError};
use super::super::params::{field_type_error, type_error, Params};
use super::blockchain::amount;
use super::mempool::{decode_tx, exceeds_max_burn, insert_sizes, parse_fee_rate, parse_txid, reject_string};
use crate::mempool::package::{is_child_with_parents_tree, TxOutcome, MAX_PACKAGE_COUNT};
use crate::mempool::ImportOptions;
use crate::rpc::context::RpcContext;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

pub(super) fn prioritisetransaction(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let txid = parse_txid(p.str(0)?, "txid")?;
    if let Some(d) = p.get(1) {
        let Some(n) = d.as_f64() else {
            return Err(type_error(d, "number"));
        };
        if n != 0.0 {
            return Err(RpcError::param(
                "Priority is no longer supported, dummy argument to prioritisetransaction must be 0.",
            ));
        }
    }
    let delta = p.i64(2)?;
    node.mempool().prioritise(&txid, delta);
    Ok(json!(true))
}

pub(super) fn getprioritisedtransactions(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    let mut out = Map::new();
    for row in node.mempool().prioritised() {
        let mut m = Map::new();
        m.insert("fee_delta".into(), json!(row.delta));
        m.insert("in_mempool".into(), json!(row.modified_fee.is_some()));
        if let Some(f) = row.modified_fee {
            m.insert("modified_fee".into(), json!(f));
        }
        out.insert(row.txid.to_string(), Value::Object(m));
    }
    Ok(Value::Object(out))
}

pub(super) fn submitpackage(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let raw = p.value(0)?;
    let Value::Array(items) = raw else {
        return Err(type_error(raw, "array"));
    };
    if items.is_empty() || items.len() > MAX_PACKAGE_COUNT {
        return Err(RpcError::param(format!(
            "Array must contain between 1 and {MAX_PACKAGE_COUNT} transactions."
        )));
    }
    let max_rate = parse_fee_rate(p.get(1))?;
    let max_burn = match p.get(2) {
        None => 0,
        Some(v) => super::rawtransaction::amount_from_value(v)? as u64,
    };
    let mut txs = Vec::with_capacity(items.len());
    for it in items.iter() {
        let s = it.as_str().ok_or_else(|| type_error(it, "string"))?;
        let tx = decode_tx(s).ok_or_else(|| {
            RpcError::new(
                code::DESERIALIZATION_ERROR,
                format!("TX decode failed: {s} Make sure the tx has at least one input."),
            )
        })?;
        if exceeds_max_burn(&tx, max_burn) {
            return Err(RpcError::new(
                code::VERIFY_ERROR,
                "Unspendable output exceeds maximum configured by user (maxburnamount)",
            ));
        }
        txs.push(tx);
    }
    if txs.len() > 1 && !is_child_with_parents_tree(&txs) {
        return Err(RpcError::new(
            code::VERIFY_ERROR,
            "package topology disallowed. not child-with-parents or parents depend on each other.",
        ));
    }
    let mp = node.mempool();
    let outcome = mp.submit_package(&txs, (max_rate > 0).then_some(max_rate));
    let mut results = Map::new();
    let mut replaced = BTreeSet::new();
    for (tx, r) in txs.iter().zip(&outcome.results) {
        let mut m = Map::new();
        m.insert("txid".into(), json!(tx.compute_txid().to_string()));
        let sizes = |m: &mut Map<String, Value>, vsize: u64| insert_sizes(m, vsize, tx.weight().to_wu());
        match r {
            TxOutcome::Accepted {
                accepted,
                effective_feerate,
                includes,
            } => {
                sizes(&mut m, accepted.vsize);
                let inc: Vec<String> = includes.iter().map(|w| w.to_string()).collect();
                m.insert(
                    "fees".into(),
                    json!({"base": amount(accepted.fee), "effective-feerate": amount(*effective_feerate), "effective-includes": inc}),
                );
                replaced.extend(accepted.replaced.iter().copied());
            }
            TxOutcome::InMempool { vsize, fee } => {
                sizes(&mut m, *vsize);
                m.insert("fees".into(), json!({"base": amount(*fee)}));
            }
            TxOutcome::DifferentWitness(w) => {
                m.insert("other-wtxid".into(), json!(w.to_string()));
            }
            TxOutcome::Failed(rej) => {
                m.insert("error".into(), json!(reject_string(rej)));
            }
            TxOutcome::NotValidated => {
                m.insert("error".into(), json!("package-not-validated"));
            }
        }
        results.insert(tx.compute_wtxid().to_string(), Value::Object(m));
    }
    let replaced: Vec<String> = replaced.iter().map(|t| t.to_string()).collect();
    Ok(json!({
        "package_msg": outcome.error.unwrap_or_else(|| "success".to_string()),
        "tx-results": results,
        "replaced-transactions": replaced,
    }))
}

fn opt_flag(options: &Map<String, Value>, name: &str, default: bool) -> Result<bool, RpcError> {
    match options.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(field_type_error(v, name, "bool")),
    }
}

pub(super) fn importmempool(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let path = std::path::PathBuf::from(p.str(0)?);
    let empty = Map::new();
    let options = match p.get(1) {
        None => &empty,
        Some(Value::Object(o)) => o,
        Some(v) => return Err(type_error(v, "object")),
    };
    let opts = ImportOptions {
        use_current_time: opt_flag(options, "use_current_time", true)?,
        apply_fee_delta_priority: opt_flag(options, "apply_fee_delta_priority", false)?,
        apply_unbroadcast_set: opt_flag(options, "apply_unbroadcast_set", false)?,
    };
    let mp = node.mempool();
    let r = {
        let chain = mp.chain().clone();
        let mut c = chain.lock().unwrap_or_else(|e| e.into_inner());
        mp.import_locked(&mut c, &path, opts)
    };
    mp.publish_pending();
    r.map_err(|e| {
        tracing::warn!(target: "blvm::mempool", "importmempool: {e}");
        RpcError::new(code::MISC_ERROR, "Unable to import mempool file, see debug log for details.")
    })?;
    Ok(json!({}))
}

/// getmempoolcluster: the transaction's cluster (connected component) in chunks, ordered as
/// [`crate::mempool::cluster`] documents.
pub(super) fn getmempoolcluster(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let txid = parse_txid(p.str(0)?, "txid")?;
    let mp = node.mempool();
    let pool = mp.pool();
    let chunks = crate::mempool::cluster::cluster_chunks(&pool, &txid)
        .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Transaction not in mempool"))?;
    let weight: u64 = chunks.iter().map(|c| c.weight).sum();
    let count: usize = chunks.iter().map(|c| c.txs.len()).sum();
    let chunks: Vec<Value> = chunks
        .iter()
        .map(|c| {
            let txs: Vec<String> = c.txs.iter().map(|t| t.to_string()).collect();
            json!({"chunkfee": amount(c.fee), "chunkweight": c.weight, "txs": txs})
        })
        .collect();
    Ok(json!({"clusterweight": weight, "txcount": count, "chunks": chunks}))
}

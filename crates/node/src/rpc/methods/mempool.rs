//! Mempool and submission methods with Core's shapes: getmempoolinfo, getrawmempool,
//! getmempoolentry, getmempoolancestors, getmempooldescendants, savemempool,
//! sendrawtransaction, testmempoolaccept; and the util methods validateaddress and
//! estimatesmartfee.

use super::super::error::{code, RpcError};
use super::super::params::Params;
use super::blockchain::amount;
use crate::mempool::entry::{fee_at, feerate_per_kvb, virtual_size};
use crate::mempool::policy;
use crate::mempool::{AcceptOptions, Accepted, Mempool, Pool};
use crate::rpc::context::RpcContext;
use crate::rpc::script_asm::hex;
use crate::validation::Reject;
use bitcoin::consensus::deserialize;
use bitcoin::hex::FromHex;
use bitcoin::{Network, OutPoint, Transaction, Txid};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Default `maxfeerate` of sendrawtransaction/testmempoolaccept: 0.10 BTC/kvB in sat/kvB.
pub const DEFAULT_MAX_RAW_TX_FEE_RATE: u64 = 10_000_000;
use crate::mempool::package::MAX_PACKAGE_COUNT;

/// Core's ParseHashV for a txid argument.
pub fn parse_txid(v: &str, name: &str) -> Result<Txid, RpcError> {
    super::super::params::parse_hash(v, name)
}

/// Decodes a hex transaction as Core's DecodeHexTx does for sendrawtransaction.
pub fn decode_tx(s: &str) -> Option<Transaction> {
    let raw = Vec::<u8>::from_hex(s).ok()?;
    deserialize::<Transaction>(&raw).ok()
}

/// Core's ParseFeeRate: an amount per kvB, below 1 BTC/kvB; returns sat/kvB.
pub(super) fn parse_fee_rate(v: Option<&Value>) -> Result<u64, RpcError> {
    let Some(v) = v else { return Ok(DEFAULT_MAX_RAW_TX_FEE_RATE) };
    let sat = super::rawtransaction::amount_from_value(v)? as u64;
    if sat >= 100_000_000 {
        return Err(RpcError::param("Fee rates larger than or equal to 1BTC/kvB are not accepted"));
    }
    Ok(sat)
}

/// Core's `state.ToString()`: reason, then ", detail" when there is one.
pub fn reject_string(r: &Reject) -> String {
    if r.detail.is_empty() {
        r.reason.clone()
    } else {
        format!("{}, {}", r.reason, r.detail)
    }
}

/// The RPC error sendrawtransaction returns for a rejection (Core's BroadcastTransaction).
pub fn reject_error(r: &Reject) -> RpcError {
    if r.reason == "bad-txns-inputs-missingorspent" {
        RpcError::new(code::VERIFY_ERROR, reject_string(r))
    } else {
        RpcError::new(code::VERIFY_REJECTED, reject_string(r))
    }
}

/// Modified fee and weight of the chunk each transaction is in, filled one cluster at a time so
/// that listing a whole pool linearizes each cluster once.
type ChunkCache = HashMap<Txid, (u64, u64)>;

fn chunk_of(pool: &Pool, txid: &Txid, cache: &mut ChunkCache) -> (u64, u64) {
    if let Some(c) = cache.get(txid) {
        return *c;
    }
    for c in crate::mempool::cluster::cluster_chunks(pool, txid).unwrap_or_default() {
        for t in &c.txs {
            cache.insert(*t, (c.fee, c.weight));
        }
    }
    cache.get(txid).copied().unwrap_or_default()
}

fn entry_json(pool: &Pool, txid: &Txid, cache: &mut ChunkCache) -> Value {
    let Some(e) = pool.get(txid) else { return Value::Null };
    let (chunk_fee, chunk_weight) = chunk_of(pool, txid, cache);
    let anc = pool.ancestor_stats(txid);
    let desc = pool.descendant_stats(txid);
    let replaceable = e.signals_rbf() || pool.ancestors(txid).iter().filter_map(|a| pool.get(a)).any(|a| a.signals_rbf());
    let mut depends: Vec<String> = e.parents.iter().map(|t| t.to_string()).collect();
    depends.sort();
    let mut spentby: Vec<String> = e.children.iter().map(|t| t.to_string()).collect();
    spentby.sort();
    json!({
        "vsize": e.vsize,
        "vsize_bip141": e.weight.div_ceil(4),
        "vsize_adjusted": e.vsize,
        "weight": e.weight,
        "time": e.time,
        "height": e.height,
        "descendantcount": desc.count,
        "descendantsize": desc.vsize,
        "ancestorcount": anc.count,
        "ancestorsize": anc.vsize,
        "wtxid": e.wtxid.to_string(),
        "fees": {
            "base": amount(e.fee),
            "modified": amount(e.modified_fee()),
            "ancestor": amount(anc.fee),
            "descendant": amount(desc.fee),
            "chunk": amount(chunk_fee),
        },
        "chunkweight": chunk_weight,
        "depends": depends,
        "spentby": spentby,
        "bip125-replaceable": replaceable,
        "unbroadcast": false,
    })
}

fn txid_list_or_verbose(pool: &Pool, txids: Vec<Txid>, verbose: bool) -> Value {
    if verbose {
        let mut m = Map::new();
        let mut cache = ChunkCache::new();
        for t in txids {
            m.insert(t.to_string(), entry_json(pool, &t, &mut cache));
        }
        Value::Object(m)
    } else {
        Value::Array(txids.iter().map(|t| json!(t.to_string())).collect())
    }
}

fn network(node: &Arc<RpcContext>) -> Network {
    node.settings().params.network
}

/// `getmempoolinfo`.
pub(super) fn getmempoolinfo(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    let mp = node.mempool();
    Ok(mempool_info(&mp))
}

/// `getrawmempool`.
pub(super) fn getrawmempool(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let mp = node.mempool();
    let verbose = p.opt_bool(0)?.unwrap_or(false);
    let seq = p.opt_bool(1)?.unwrap_or(false);
    if verbose && seq {
        return Err(RpcError::param("Verbose results cannot contain mempool sequence values."));
    }
    let pool = mp.pool();
    // Core 31's order: mining order, fixed by content (the same after a reorg).
    let txids: Vec<Txid> = crate::mempool::cluster::mining_order(&pool);
    if seq {
        return Ok(json!({"txids": txids.iter().map(|t| t.to_string()).collect::<Vec<_>>(), "mempool_sequence": pool.sequence()}));
    }
    Ok(txid_list_or_verbose(&pool, txids, verbose))
}

/// `getmempoolentry`.
pub(super) fn getmempoolentry(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let mp = node.mempool();
    let txid = parse_txid(p.str(0)?, "txid")?;
    let pool = mp.pool();
    if !pool.contains(&txid) {
        return Err(RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Transaction not in mempool"));
    }
    Ok(entry_json(&pool, &txid, &mut ChunkCache::new()))
}

/// `getmempoolancestors` / `getmempooldescendants` (one body, told apart by `method`).
fn getmempoolancestors_or_getmempooldescendants(node: &Arc<RpcContext>, method: &str, p: &Params) -> Result<Value, RpcError> {
    let mp = node.mempool();
    let txid = parse_txid(p.str(0)?, "parameter 1")?;
    let verbose = p.opt_bool(1)?.unwrap_or(false);
    let pool = mp.pool();
    if !pool.contains(&txid) {
        return Err(RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Transaction not in mempool"));
    }
    let set = if method == "getmempoolancestors" {
        pool.ancestors(&txid)
    } else {
        pool.descendants(&txid)
    };
    let mut list: Vec<Txid> = set.into_iter().collect();
    list.sort_by_key(|t| pool.get(t).map(|e| e.sequence).unwrap_or(0));
    Ok(txid_list_or_verbose(&pool, list, verbose))
}

/// `getmempoolancestors`.
pub(super) fn getmempoolancestors(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    getmempoolancestors_or_getmempooldescendants(node, "getmempoolancestors", p)
}

/// `getmempooldescendants`.
pub(super) fn getmempooldescendants(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    getmempoolancestors_or_getmempooldescendants(node, "getmempooldescendants", p)
}

/// `savemempool`.
pub(super) fn savemempool(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    let mp = node.mempool();
    if !mp.is_loaded() {
        return Err(RpcError::new(code::MISC_ERROR, "The mempool was not loaded yet"));
    }
    let path = mp.save().map_err(|e| {
        tracing::error!(target: "blvm::mempool", "savemempool: {e}");
        RpcError::new(code::MISC_ERROR, "Unable to dump mempool to disk")
    })?;
    Ok(json!({"filename": path.display().to_string()}))
}

/// `sendrawtransaction`: accepted on a blocking thread, then, as Core, the call returns with
/// the transaction queued for every peer.
pub(super) async fn sendrawtransaction(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let mp = node.mempool();
    let p2 = p.clone();
    let r = tokio::task::spawn_blocking(move || send_raw(&mp, &p2))
        .await
        .map_err(|e| RpcError::new(code::INTERNAL_ERROR, e.to_string()))?;
    let txid = r.as_ref().ok().and_then(|v| v.as_str()?.parse::<bitcoin::Txid>().ok());
    if let Some(txid) = txid {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if node.net().command(crate::p2p::Command::RelayTx { txid, reply: tx }).await.is_ok() {
            let _ = rx.await;
        }
    }
    r
}

/// `testmempoolaccept`.
pub(super) fn testmempoolaccept(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let mp = node.mempool();
    test_accept(&mp, p)
}

/// `validateaddress`.
pub(super) fn validateaddress(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    Ok(validate_address(p.str(0)?, network(node)))
}

/// `estimatesmartfee`.
pub(super) fn estimatesmartfee(_node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    estimate_smart_fee(p)
}

fn mempool_info(mp: &Mempool) -> Value {
    let s = mp.stats();
    let st = mp.settings();
    json!({
        "loaded": mp.is_loaded(),
        "size": s.size,
        "bytes": s.bytes,
        "usage": s.usage,
        "total_fee": amount(s.total_fee),
        "maxmempool": st.max_size_bytes,
        "mempoolminfee": amount(s.min_fee),
        "minrelaytxfee": amount(st.min_relay_feerate),
        "incrementalrelayfee": amount(st.incremental_relay_feerate),
        "unbroadcastcount": 0,
        "fullrbf": st.full_rbf,
        "permitbaremultisig": st.permit_bare_multisig,
        "maxdatacarriersize": st.max_datacarrier_bytes.unwrap_or(0),
    })
}

/// Whether an output of `tx` that is provably unspendable (or has invalid opcodes) carries more
/// than `max_burn` satoshis (Core's maxburnamount check).
pub(super) fn exceeds_max_burn(tx: &Transaction, max_burn: u64) -> bool {
    tx.output.iter().any(|out| {
        let spk = out.script_pubkey.as_bytes();
        // Core's HasValidOps: every operation parses and is at most OP_NOP10.
        let invalid_ops = match policy::parse_ops(spk) {
            None => true,
            Some(ops) => ops.iter().any(|o| o.data.is_none() && o.opcode > 0xb9),
        };
        (policy::is_unspendable(spk) || invalid_ops) && out.value.to_sat() > max_burn
    })
}

fn send_raw(mp: &Mempool, p: &Params) -> Result<Value, RpcError> {
    let tx = decode_tx(p.str(0)?).ok_or_else(|| {
        RpcError::new(
            code::DESERIALIZATION_ERROR,
            "TX decode failed. Make sure the tx has at least one input.",
        )
    })?;
    let max_burn = match p.get(2) {
        None => 0,
        Some(v) => super::rawtransaction::amount_from_value(v)? as u64,
    };
    if exceeds_max_burn(&tx, max_burn) {
        return Err(RpcError::new(
            code::VERIFY_ERROR,
            "Unspendable output exceeds maximum configured by user (maxburnamount)",
        ));
    }
    let max_rate = parse_fee_rate(p.get(1))?;
    let max_fee = fee_at(max_rate, virtual_size(tx.weight().to_wu(), 0, 1));
    let txid = tx.compute_txid();
    if !mp.contains(&txid) {
        mp.check_hooks(&tx).map_err(|r| reject_error(&r))?;
    }
    {
        let chain = mp.chain().clone();
        let mut c = chain.lock().unwrap_or_else(|e| e.into_inner());
        for vout in 0..tx.output.len() as u32 {
            if matches!(c.get_coin(&OutPoint { txid, vout }), Ok(Some(_))) {
                return Err(RpcError::new(
                    code::VERIFY_ALREADY_IN_CHAIN,
                    "Transaction outputs already in utxo set",
                ));
            }
        }
        if mp.contains(&txid) {
            return Ok(json!(txid.to_string()));
        }
        if max_fee > 0 {
            let a = mp
                .accept_locked(
                    &mut c,
                    tx.clone(),
                    AcceptOptions {
                        test_accept: true,
                        ..Default::default()
                    },
                )
                .map_err(|r| reject_error(&r))?;
            if a.fee > max_fee {
                return Err(RpcError::new(
                    code::VERIFY_ERROR,
                    "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)",
                ));
            }
        }
        let r = mp.accept_locked(&mut c, tx, AcceptOptions::default());
        drop(c);
        mp.publish_pending();
        r.map_err(|r| reject_error(&r))?;
    }
    Ok(json!(txid.to_string()))
}

/// Core 32's three sizes of a transaction: sigop-adjusted (`vsize_adjusted`, and `vsize`, kept
/// for compatibility) and BIP141's.
pub(super) fn insert_sizes(m: &mut Map<String, Value>, adjusted_vsize: u64, weight: u64) {
    m.insert("vsize_adjusted".into(), json!(adjusted_vsize));
    m.insert("vsize".into(), json!(adjusted_vsize));
    m.insert("vsize_bip141".into(), json!(weight.div_ceil(4)));
}

fn accepted_json(out: &mut Map<String, Value>, a: &Accepted, weight: u64, max_rate: u64) -> bool {
    let max_fee = fee_at(max_rate, a.vsize);
    if max_rate > 0 && a.fee > max_fee {
        out.insert("allowed".into(), json!(false));
        out.insert("reject-reason".into(), json!("max-fee-exceeded"));
        return false;
    }
    out.insert("allowed".into(), json!(true));
    insert_sizes(out, a.vsize, weight);
    out.insert(
        "fees".into(),
        json!({"base": amount(a.fee), "effective-feerate": amount(feerate_per_kvb(a.fee, a.vsize)), "effective-includes": [a.wtxid.to_string()]}),
    );
    true
}

fn test_accept(mp: &Mempool, p: &Params) -> Result<Value, RpcError> {
    let raw = p.value(0)?;
    let Value::Array(items) = raw else {
        return Err(RpcError::new(
            code::TYPE_ERROR,
            "JSON value of type string is not of expected type array",
        ));
    };
    if items.is_empty() || items.len() > MAX_PACKAGE_COUNT {
        return Err(RpcError::param(format!(
            "Array must contain between 1 and {MAX_PACKAGE_COUNT} transactions."
        )));
    }
    let max_rate = parse_fee_rate(p.get(1))?;
    let mut txs = Vec::with_capacity(items.len());
    for it in items {
        let s = it
            .as_str()
            .ok_or_else(|| RpcError::new(code::TYPE_ERROR, "JSON value is not a string as expected"))?;
        let tx = decode_tx(s).ok_or_else(|| {
            RpcError::new(
                code::DESERIALIZATION_ERROR,
                format!("TX decode failed: {s} Make sure the tx has at least one input."),
            )
        })?;
        txs.push(tx);
    }
    let head = |tx: &Transaction| {
        let mut m = Map::new();
        m.insert("txid".into(), json!(tx.compute_txid().to_string()));
        m.insert("wtxid".into(), json!(tx.compute_wtxid().to_string()));
        m
    };
    let package_failure = |err: &str| {
        Value::Array(
            txs.iter()
                .map(|t| {
                    let mut m = head(t);
                    m.insert("package-error".into(), json!(err));
                    Value::Object(m)
                })
                .collect(),
        )
    };
    if txs.len() > 1 {
        if let Some(err) = crate::mempool::package::package_error(&txs) {
            return Ok(package_failure(err));
        }
    }
    let results = if txs.len() == 1 {
        vec![Some(mp.accept(
            txs[0].clone(),
            AcceptOptions {
                test_accept: true,
                ..Default::default()
            },
        ))]
    } else {
        let results = mp.test_accept_package(txs.clone());
        // As Core, the package TRUC rules run once every member passed its own checks, which
        // see only parents in the pool: a member failing TRUC only because of an earlier member
        // (in the scratch pool here) is a package-level TRUC violation.
        let refs: Vec<&Transaction> = txs.iter().collect();
        let err = match results.iter().position(|r| matches!(r, Some(Err(_)))) {
            Some(j) => match &results[j] {
                Some(Err(r)) => mp.package_truc_instead(&refs, j, r),
                _ => None,
            },
            None => mp.package_truc_violation(&txs),
        };
        if let Some(err) = err {
            return Ok(package_failure(&err));
        }
        results
    };
    let mut out = Vec::with_capacity(txs.len());
    let mut exit_early = false;
    for (tx, r) in txs.iter().zip(results) {
        let mut m = head(tx);
        match r {
            Some(_) if exit_early => {}
            None => {}
            Some(Ok(a)) => exit_early = !accepted_json(&mut m, &a, tx.weight().to_wu(), max_rate),
            Some(Err(r)) => {
                m.insert("allowed".into(), json!(false));
                if r.reason == "bad-txns-inputs-missingorspent" {
                    m.insert("reject-reason".into(), json!("missing-inputs"));
                } else {
                    m.insert("reject-reason".into(), json!(r.reason));
                    m.insert("reject-details".into(), json!(reject_string(&r)));
                }
            }
        }
        out.push(Value::Object(m));
    }
    Ok(Value::Array(out))
}

/// `validateaddress "address"` with Core's result shape.
pub fn validate_address(s: &str, net: Network) -> Value {
    let spk = match super::super::address::decode(s, net) {
        Ok(spk) => spk,
        Err(e) => return json!({"isvalid": false, "error_locations": e.locations, "error": e.message}),
    };
    let b = spk.as_bytes();
    // As Core, the address as the node would write it (bech32 in lower case).
    let address = super::super::descriptor::address(b, net).unwrap_or_else(|| s.to_string());
    let mut v = json!({"isvalid": true, "address": address, "scriptPubKey": hex(b)});
    match policy::witness_program(b) {
        Some((ver, prog)) => {
            v["isscript"] = json!(!(ver == 0 && prog.len() == 20));
            v["iswitness"] = json!(true);
            v["witness_version"] = json!(ver);
            v["witness_program"] = json!(hex(prog));
        }
        None => {
            v["isscript"] = json!(spk.is_p2sh());
            v["iswitness"] = json!(false);
        }
    }
    v
}

fn estimate_smart_fee(p: &Params) -> Result<Value, RpcError> {
    let target = p.i64(0)?;
    if !(1..=1008).contains(&target) {
        return Err(RpcError::param("Invalid conf_target, must be between 1 and 1008"));
    }
    if let Some(mode) = p.opt_str(1)? {
        if !["unset", "economical", "conservative"].contains(&mode.to_ascii_lowercase().as_str()) {
            return Err(RpcError::param(
                "Invalid estimate_mode parameter, must be one of: \"unset\", \"economical\", \"conservative\"",
            ));
        }
    }
    // No fee estimator yet: answer as Core does before it has collected any data.
    Ok(json!({"errors": ["Insufficient data or no feerate found"], "blocks": 0}))
}

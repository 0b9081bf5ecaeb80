//! `getdescriptoractivity`: every spend from and payment to the scripts of some descriptors in
//! given active-chain blocks (and, optionally, the mempool), read from the blocks and their undo
//! data. Pairs with `scanblocks`, whose relevant blocks are what a wallet passes here.

use super::super::error::{code, RpcError};
use super::super::params::Params;
use super::super::txjson::script_to_json;
use super::blockchain::{amount, parse_block_hash};
use super::scan::scan_object_scripts;
use crate::rpc::context::RpcContext;
use bitcoin::{Block, BlockHash, Network, OutPoint, ScriptBuf, Transaction, TxOut, Txid};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Where an event happened: its block and height, or the mempool.
type Place = Option<(BlockHash, u32)>;

/// `getdescriptoractivity ["blockhash",...] [scanobjects,...] ( include_mempool )`.
pub fn getdescriptoractivity(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let net = node.settings().params.network;
    let hashes = array(p, 0)?;
    let objects = array(p, 1)?;
    let include_mempool = p.opt_bool(2)?.unwrap_or(true);
    // Validated first, as Core does; ordered by height so events come in chain order.
    let mut blocks: BTreeMap<u32, BlockHash> = BTreeMap::new();
    {
        let c = node.lock_chain();
        for h in hashes {
            let s = h
                .as_str()
                .ok_or_else(|| RpcError::new(code::TYPE_ERROR, "JSON value is not a string as expected"))?;
            let hash = parse_block_hash(s)?;
            let entry = c
                .entry(&hash)
                .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found"))?;
            if !c.is_active(&hash) {
                return Err(RpcError::param("Block is not in main chain"));
            }
            blocks.insert(entry.height, hash);
        }
    }
    let watch = scan_object_scripts(objects, net)?;
    let mut activity = Vec::new();
    for (height, hash) in blocks {
        let (block, spent) = block_and_spent(node, &hash)?;
        let place = Some((hash, height));
        for (tx, spent) in block.txdata.iter().zip(spent) {
            events(tx, &spent, place, &watch, net, &mut activity);
        }
    }
    if include_mempool {
        mempool_events(node, &watch, net, &mut activity)?;
    }
    Ok(json!({ "activity": activity }))
}

/// A required array argument.
fn array(p: &Params, i: usize) -> Result<&Vec<Value>, RpcError> {
    match p.get(i) {
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(RpcError::new(code::TYPE_ERROR, "JSON value is not an array as expected")),
        None => p.str(i).map(|_| unreachable!("a missing argument is an error")),
    }
}

/// A block of the active chain and, per transaction, the outputs its inputs spent (none for
/// the coinbase).
fn block_and_spent(node: &Arc<RpcContext>, hash: &BlockHash) -> Result<(Block, Vec<Vec<TxOut>>), RpcError> {
    let c = node.lock_chain();
    let db = |e: crate::chain::ChainError| RpcError::new(code::DATABASE_ERROR, e.to_string());
    let pruned = |what: &str| RpcError::new(code::MISC_ERROR, format!("{what} not available (pruned data)"));
    let block = c.read_block(hash).map_err(db)?.ok_or_else(|| pruned("Block"))?;
    let mut spent = vec![Vec::new()];
    if block.txdata.len() > 1 {
        let undo = c.read_undo(hash).map_err(db)?.ok_or_else(|| pruned("Undo data"))?;
        spent.extend(undo.txs.into_iter().map(|coins| coins.into_iter().map(|c| c.output).collect()));
    }
    Ok((block, spent))
}

/// The unconfirmed events: mempool transactions spending from or paying to watched scripts.
/// Spent outputs come from the UTXO set, or from a mempool parent.
fn mempool_events(node: &Arc<RpcContext>, watch: &HashSet<ScriptBuf>, net: Network, activity: &mut Vec<Value>) -> Result<(), RpcError> {
    let txs: HashMap<Txid, Arc<Transaction>> = {
        let mp = node.mempool();
        let pool = mp.pool();
        pool.entries().map(|e| (e.txid, e.tx.clone())).collect()
    };
    let mut c = node.lock_chain();
    for tx in txs.values() {
        let mut spent = Vec::with_capacity(tx.input.len());
        for input in &tx.input {
            spent.push(spent_output(&mut c, &txs, &input.previous_output)?);
        }
        events(tx, &spent, None, watch, net, activity);
    }
    Ok(())
}

/// The output a mempool transaction's input spends: a confirmed coin or a mempool parent's.
fn spent_output(c: &mut crate::chain::ChainManager, mempool: &HashMap<Txid, Arc<Transaction>>, op: &OutPoint) -> Result<TxOut, RpcError> {
    if let Some(coin) = c.get_coin(op).map_err(|e| RpcError::new(code::DATABASE_ERROR, e.to_string()))? {
        return Ok(coin.output);
    }
    mempool
        .get(&op.txid)
        .and_then(|parent| parent.output.get(op.vout as usize))
        .cloned()
        // A block connected since the mempool was read: the coin and its spender are gone.
        .ok_or_else(|| RpcError::new(code::MISC_ERROR, "Mempool changed during the call, try again"))
}

/// Appends `tx`'s spend events (inputs whose spent output pays a watched script) then its
/// receive events (outputs paying one), as Core orders them.
fn events(tx: &Transaction, spent: &[TxOut], place: Place, watch: &HashSet<ScriptBuf>, net: Network, activity: &mut Vec<Value>) {
    let txid = tx.compute_txid().to_string();
    let located = |o: &mut Map<String, Value>| {
        if let Some((hash, height)) = place {
            o.insert("blockhash".into(), json!(hash.to_string()));
            o.insert("height".into(), json!(height));
        }
    };
    for (vin, (input, out)) in tx.input.iter().zip(spent).enumerate() {
        if watch.contains(&out.script_pubkey) {
            let mut o = Map::new();
            o.insert("type".into(), json!("spend"));
            o.insert("amount".into(), amount(out.value.to_sat()));
            located(&mut o);
            o.insert("spend_txid".into(), json!(txid));
            o.insert("spend_vin".into(), json!(vin));
            o.insert("prevout_txid".into(), json!(input.previous_output.txid.to_string()));
            o.insert("prevout_vout".into(), json!(input.previous_output.vout));
            o.insert("prevout_spk".into(), script_to_json(out.script_pubkey.as_bytes(), net, true, true));
            activity.push(Value::Object(o));
        }
    }
    for (vout, out) in tx.output.iter().enumerate() {
        if watch.contains(&out.script_pubkey) {
            let mut o = Map::new();
            o.insert("type".into(), json!("receive"));
            o.insert("amount".into(), amount(out.value.to_sat()));
            located(&mut o);
            o.insert("txid".into(), json!(txid));
            o.insert("vout".into(), json!(vout));
            o.insert("output_spk".into(), script_to_json(out.script_pubkey.as_bytes(), net, true, true));
            activity.push(Value::Object(o));
        }
    }
}

//! Merkle proofs of block inclusion (BIP37 `merkleblock` encoding) with Core's arguments and
//! errors: gettxoutproof (block given, or found through an unspent output of a transaction, then
//! through -txindex, as Core) and verifytxoutproof; plus gettxspendingprevout (mempool spenders).

use super::super::error::{code, RpcError};
use super::super::params::{field_type_error, type_error, Params};
use super::super::script_asm::hex;
use super::super::txjson::parse_hex;
use super::rawtransaction::{get_int, parse_hash};
use crate::rpc::context::RpcContext;
use bitcoin::hashes::Hash;
use bitcoin::merkle_tree::MerkleBlock;
use bitcoin::{BlockHash, OutPoint, Txid};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Core's MAX_OUTPUTS_PER_BLOCK: how many output indexes `AccessByTxid` tries.
const MAX_OUTPUTS_PER_BLOCK: u32 = 4_000_000 / (4 * 9);

/// `gettxoutproof ["txid",...] ( "blockhash" )`.
pub fn gettxoutproof(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let list = p.array(0)?;
    if list.is_empty() {
        return Err(RpcError::param("Parameter 'txids' cannot be empty"));
    }
    let mut txids = BTreeSet::new();
    for v in list {
        if !txids.insert(Txid::from_byte_array(parse_hash(v, "txid")?)) {
            return Err(RpcError::param(format!(
                "Invalid parameter, duplicated txid: {}",
                v.as_str().unwrap_or_default()
            )));
        }
    }
    let mut c = node.lock_chain();
    let hash = match p.get(1) {
        Some(bh) => {
            let h = BlockHash::from_byte_array(parse_hash(bh, "blockhash")?);
            if c.entry(&h).is_none() {
                return Err(RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found"));
            }
            h
        }
        None => {
            // The block of the first transaction with an unspent output.
            let mut found = None;
            'txids: for txid in &txids {
                for vout in 0..MAX_OUTPUTS_PER_BLOCK {
                    let coin = c
                        .get_coin(&OutPoint { txid: *txid, vout })
                        .map_err(|e| RpcError::new(code::DATABASE_ERROR, e.to_string()))?;
                    if let Some(coin) = coin {
                        found = c.hash_at(coin.height);
                        break 'txids;
                    }
                }
            }
            // Then, as Core, the transaction index (when on) for the last txid given.
            if found.is_none() {
                let last = list.last().map(|v| parse_hash(v, "txid")).transpose()?.map(Txid::from_byte_array);
                if let Some(txid) = last {
                    let indexed = c
                        .indexed_transaction(&txid)
                        .map_err(|e| RpcError::new(code::DATABASE_ERROR, e.to_string()))?;
                    found = indexed.map(|(block, _)| block);
                }
            }
            found.ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Transaction not yet in block"))?
        }
    };
    let have_data = c.entry(&hash).is_some_and(|e| e.have_data());
    if !have_data {
        let msg = if c.prune_height().is_some() {
            "Block not available (pruned data)"
        } else {
            "Block not available (not fully downloaded)"
        };
        return Err(RpcError::new(code::MISC_ERROR, msg));
    }
    let block = c
        .read_block(&hash)
        .map_err(|e| RpcError::new(code::INTERNAL_ERROR, format!("Can't read block from disk: {e}")))?
        .ok_or_else(|| RpcError::new(code::INTERNAL_ERROR, "Can't read block from disk"))?;
    drop(c);
    let found = block.txdata.iter().filter(|t| txids.contains(&t.compute_txid())).count();
    if found != txids.len() {
        return Err(RpcError::new(
            code::INVALID_ADDRESS_OR_KEY,
            "Not all transactions found in specified or retrieved block",
        ));
    }
    let mb = MerkleBlock::from_block_with_predicate(&block, |t| txids.contains(t));
    Ok(json!(hex(&bitcoin::consensus::serialize(&mb))))
}

/// `verifytxoutproof "proof"`: the txids the proof commits to, if its block is in the active chain.
pub fn verifytxoutproof(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let s = p.str(0)?;
    let raw = parse_hex(s).ok_or_else(|| RpcError::param(format!("proof must be hexadecimal string (not '{s}')")))?;
    // Like Core's stream read, trailing bytes are ignored.
    let mut cursor = raw.as_slice();
    let mb: MerkleBlock = bitcoin::consensus::Decodable::consensus_decode(&mut cursor)
        .map_err(|e| RpcError::new(code::DESERIALIZATION_ERROR, format!("Proof decode failed: {e}")))?;
    let (mut matches, mut indexes) = (Vec::new(), Vec::new());
    match mb.txn.extract_matches(&mut matches, &mut indexes) {
        Ok(root) if root == mb.header.merkle_root => {}
        _ => return Ok(json!([])),
    }
    let c = node.lock_chain();
    let hash = mb.header.block_hash();
    let entry = c.entry(&hash).filter(|e| c.is_active(&e.hash) && e.n_tx != 0);
    let Some(entry) = entry else {
        return Err(RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found in chain"));
    };
    if entry.n_tx != mb.txn.num_transactions() {
        return Ok(json!([]));
    }
    Ok(Value::Array(matches.iter().map(|t| json!(t.to_string())).collect()))
}

/// `gettxspendingprevout [{"txid":"hex","vout":n},...]`.
pub fn gettxspendingprevout(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let list = p.array(0)?;
    if list.is_empty() {
        return Err(RpcError::param("Invalid parameter, outputs are missing"));
    }
    let mut outs = Vec::new();
    for item in list {
        let Value::Object(o) = item else {
            return Err(type_error(item, "object"));
        };
        let txid_v = required(o, "txid", Value::is_string, "string")?;
        let vout_v = required(o, "vout", Value::is_number, "number")?;
        if let Some(k) = o.keys().find(|k| *k != "txid" && *k != "vout") {
            return Err(RpcError::new(code::TYPE_ERROR, format!("Unexpected key {k}")));
        }
        let txid = Txid::from_byte_array(parse_hash(txid_v, "txid")?);
        let vout = get_int(vout_v, i64::from(i32::MIN), i64::from(i32::MAX))?;
        if vout < 0 {
            return Err(RpcError::param("Invalid parameter, vout cannot be negative"));
        }
        outs.push(OutPoint { txid, vout: vout as u32 });
    }
    let mempool = node.mempool();
    let pool = mempool.pool();
    let r = outs
        .iter()
        .map(|op| {
            let mut o = Map::new();
            o.insert("txid".into(), json!(op.txid.to_string()));
            o.insert("vout".into(), json!(op.vout));
            if let Some(s) = pool.spender(op) {
                o.insert("spendingtxid".into(), json!(s.to_string()));
            }
            Value::Object(o)
        })
        .collect();
    Ok(Value::Array(r))
}

/// Core's strict `RPCTypeCheckObj` for one required key.
fn required<'a>(o: &'a Map<String, Value>, name: &str, ok: fn(&Value) -> bool, want: &str) -> Result<&'a Value, RpcError> {
    let v = o
        .get(name)
        .filter(|v| !v.is_null())
        .ok_or_else(|| RpcError::new(code::TYPE_ERROR, format!("Missing {name}")))?;
    if !ok(v) {
        return Err(field_type_error(v, name, want));
    }
    Ok(v)
}

//! `scantxoutset`: the unspent outputs paying to descriptors, found by one pass over the UTXO
//! set (what wallet-less scripts use to find their coins). The scan runs to completion inside
//! the call, so `abort` and `status` always find none in progress.

use super::super::descriptor::infer_descriptor;
use super::super::error::{code, RpcError};
use super::super::params::Params;
use super::super::script_asm::hex;
use super::blockchain::amount;
use super::descriptor::{parse_descriptor, parse_descriptor_at};
use super::descriptor_util::parse_range;
use crate::rpc::context::RpcContext;
use bitcoin::{Network, ScriptBuf};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::sync::Arc;

/// Core's default range for a ranged descriptor given without one: 0..=1000.
const DEFAULT_RANGE_END: i64 = 1000;
/// Upper bound on scripts looked for in one scan, so one request cannot take unbounded memory.
const MAX_SCRIPTS: usize = 1_000_000;

/// `scantxoutset "action" ( [scanobjects,...] )`.
pub fn scantxoutset(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    match p.str(0)? {
        "abort" => return Ok(json!(false)),
        "status" => return Ok(Value::Null),
        "start" => {}
        other => return Err(RpcError::param(format!("Invalid action '{other}'"))),
    }
    let Some(Value::Array(objects)) = p.get(1) else {
        return Err(RpcError::new(
            code::MISC_ERROR,
            "scanobjects argument is required for the start action",
        ));
    };
    let net = node.settings().params.network;
    let needles = scan_object_scripts(objects, net)?;
    let mut c = node.lock_chain();
    let mut found = Vec::new();
    let mut txouts = 0u64;
    c.scan_utxos(|op, coin| {
        txouts += 1;
        if needles.contains(&coin.output.script_pubkey) {
            found.push((op, coin));
        }
        Ok(())
    })
    .map_err(|e| RpcError::new(code::DATABASE_ERROR, e.to_string()))?;
    let tip = c.tip().clone();
    let mut total = 0u64;
    let mut unspents = Vec::with_capacity(found.len());
    for (op, coin) in found {
        total += coin.output.value.to_sat();
        let spk = coin.output.script_pubkey.as_bytes();
        unspents.push(json!({
            "txid": op.txid.to_string(),
            "vout": op.vout,
            "scriptPubKey": hex(spk),
            "desc": infer_descriptor(spk, net),
            "amount": amount(coin.output.value.to_sat()),
            "coinbase": coin.is_coinbase,
            "height": coin.height,
            "blockhash": c.hash_at(coin.height).map(|h| h.to_string()),
            "confirmations": tip.height - coin.height + 1,
        }));
    }
    let mut r = Map::new();
    r.insert("success".into(), json!(true));
    r.insert("txouts".into(), json!(txouts));
    r.insert("height".into(), json!(tip.height));
    r.insert("bestblock".into(), json!(tip.hash.to_string()));
    r.insert("unspents".into(), Value::Array(unspents));
    r.insert("total_amount".into(), amount(total));
    Ok(Value::Object(r))
}

/// The scripts the scan objects of `scantxoutset` and `scanblocks` stand for (Core's
/// `EvalDescriptorStringOrObject`): descriptor strings, or `{"desc", "range"}` objects whose
/// ranged descriptors expand over the range (Core's default 0..=1000).
pub(super) fn scan_object_scripts(objects: &[Value], net: Network) -> Result<HashSet<ScriptBuf>, RpcError> {
    let mut needles: HashSet<ScriptBuf> = HashSet::new();
    for obj in objects {
        let (desc, range) = match obj {
            Value::String(s) => (s.as_str(), None),
            Value::Object(o) => match o.get("desc") {
                Some(Value::String(d)) => (d.as_str(), o.get("range").filter(|r| !r.is_null())),
                Some(v) if !v.is_null() => return Err(RpcError::new(code::TYPE_ERROR, "JSON value is not a string as expected")),
                _ => return Err(RpcError::param("Descriptor needs to be provided in scan object")),
            },
            _ => return Err(RpcError::param("Scan object needs to be either a string or an object")),
        };
        let d = parse_descriptor(desc, net, false).map_err(|e| RpcError::new(code::INVALID_ADDRESS_OR_KEY, e))?;
        let (begin, end) = match range {
            Some(r) if d.ranged => parse_range(r)?,
            None if d.ranged => (0, DEFAULT_RANGE_END),
            _ => (0, 0),
        };
        for i in begin..=end {
            let script = if i == 0 {
                d.script.clone()
            } else {
                parse_descriptor_at(desc, net, false, i as u32)
                    .map_err(|e| RpcError::new(code::INVALID_ADDRESS_OR_KEY, e))?
                    .script
            };
            needles.insert(script);
            if needles.len() > MAX_SCRIPTS {
                return Err(RpcError::param(format!("Too many scripts to scan for (more than {MAX_SCRIPTS})")));
            }
        }
    }
    Ok(needles)
}

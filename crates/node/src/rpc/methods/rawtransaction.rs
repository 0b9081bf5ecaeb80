//! Raw transaction methods with Core's results and error messages: getrawtransaction (mempool,
//! a given block, or the transaction index with -txindex), decoderawtransaction, decodescript,
//! createrawtransaction.

use super::super::descriptor::{address, infer_descriptor_with_witness_script, solver, TxoutType};
use super::super::error::{code, RpcError};
use super::super::params::{type_error, Params};
use super::super::script_asm::{has_valid_ops, hex, is_op_success, is_unspendable, Ops, OP_CHECKSIGADD};
use super::super::txjson::{decode_tx, parse_hex, script_to_json, serialize_core, tx_to_json, TxVerbosity};
use crate::rpc::context::RpcContext;
use bitcoin::absolute::LockTime;
use bitcoin::hashes::{hash160, sha256, Hash};
use bitcoin::transaction::Version;
use bitcoin::{Amount, BlockHash, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Core's `ParseHashV(v, name)`: 64 hex digits, else -8 with Core's wording.
pub(super) fn parse_hash(v: &Value, name: &str) -> Result<[u8; 32], RpcError> {
    let s = v.as_str().ok_or_else(|| type_error(v, "string"))?;
    // Display order is byte-reversed, as a double-SHA256 hash displays.
    super::super::params::parse_hash::<bitcoin::hashes::sha256d::Hash>(s, name).map(|h| h.to_byte_array())
}

/// `UniValue::getInt<T>` on a JSON value: -3 for non-numbers, -1 when not an integer in range.
pub(super) fn get_int(v: &Value, min: i64, max: i64) -> Result<i64, RpcError> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .filter(|x| (min..=max).contains(x))
            .ok_or_else(|| RpcError::new(code::MISC_ERROR, "JSON integer out of range")),
        _ => Err(type_error(v, "number")),
    }
}

/// Core's `ParseVerbosity(arg, default, allow_bool=true)`.
fn parse_verbosity(v: Option<&Value>, default: i64) -> Result<i64, RpcError> {
    match v {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(i64::from(*b)),
        Some(v) => get_int(v, i64::from(i32::MIN), i64::from(i32::MAX)),
    }
}

fn network(node: &Arc<RpcContext>) -> Network {
    node.settings().params.network
}

/// `getrawtransaction txid ( verbosity "blockhash" )`.
pub fn getrawtransaction(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let txid_v = p.value(0)?;
    let txid = Txid::from_byte_array(parse_hash(txid_v, "parameter 1")?);
    let net = network(node);
    if txid.to_byte_array() == node.settings().params.genesis().header.merkle_root.to_byte_array() {
        return Err(RpcError::new(
            code::INVALID_ADDRESS_OR_KEY,
            "The genesis block coinbase is not considered an ordinary transaction and cannot be retrieved",
        ));
    }
    let verbosity = parse_verbosity(p.get(1), 0)?;
    let given_block = p.get(2).is_some();
    let (hash, c) = match p.get(2) {
        Some(bh) => {
            let hash = BlockHash::from_byte_array(parse_hash(bh, "parameter 3")?);
            (hash, node.lock_chain())
        }
        None => {
            // The mempool first (the chain lock is not held here, so the mempool may take it
            // itself), then the transaction index when -txindex is on.
            if let Some(tx) = node.mempool().get(&txid) {
                if verbosity <= 0 {
                    return Ok(json!(hex(&serialize_core(&tx))));
                }
                return Ok(tx_to_json(&tx, None, TxVerbosity::Details, true, net));
            }
            let c = node.lock_chain();
            let found = c
                .indexed_transaction(&txid)
                .map_err(|e| RpcError::new(code::DATABASE_ERROR, e.to_string()))?;
            match found {
                Some((hash, _)) => (hash, c),
                None => {
                    let msg = if c.txindex_height().is_some() {
                        "No such mempool or blockchain transaction. Use gettransaction for wallet transactions."
                    } else {
                        "No such mempool transaction. Use -txindex or provide a block hash to enable blockchain transaction queries. Use gettransaction for wallet transactions."
                    };
                    return Err(RpcError::new(code::INVALID_ADDRESS_OR_KEY, msg));
                }
            }
        }
    };
    let entry = c
        .entry(&hash)
        .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block hash not found"))?;
    let block = if entry.have_data() {
        c.read_block(&hash)
            .map_err(|e| RpcError::new(code::DATABASE_ERROR, e.to_string()))?
    } else {
        None
    };
    let Some(block) = block else {
        return Err(RpcError::new(code::MISC_ERROR, "Block not available"));
    };
    let Some(index) = block.txdata.iter().position(|t| t.compute_txid() == txid) else {
        return Err(RpcError::new(
            code::INVALID_ADDRESS_OR_KEY,
            "No such transaction found in the provided block. Use gettransaction for wallet transactions.",
        ));
    };
    let tx = &block.txdata[index];
    if verbosity <= 0 {
        return Ok(json!(hex(&serialize_core(tx))));
    }
    let active = c.is_active(&hash);
    let undo = if verbosity >= 2 && index > 0 {
        let u = c.read_undo(&hash).map_err(|e| RpcError::new(code::DATABASE_ERROR, e.to_string()))?;
        let Some(mut u) = u else {
            // Core reads undo data whenever the block has data, and fails the same way when the
            // block was stored but never connected.
            return Err(RpcError::new(
                code::INTERNAL_ERROR,
                "Undo data expected but can't be read. This could be due to disk corruption or a conflict with a pruning event.",
            ));
        };
        if u.txs.len() + 1 != block.txdata.len() {
            return Err(RpcError::new(
                code::INTERNAL_ERROR,
                "Undo data expected but can't be read. This could be due to disk corruption or a conflict with a pruning event.",
            ));
        }
        Some(std::mem::take(&mut u.txs[index - 1]))
    } else {
        None
    };
    let verb = if verbosity >= 2 {
        TxVerbosity::DetailsAndPrevout
    } else {
        TxVerbosity::Details
    };
    let mut v = tx_to_json(tx, undo.as_deref(), verb, true, net);
    if let Value::Object(o) = &mut v {
        // in_active_chain only when the block was given, as in Core.
        if given_block {
            o.insert("in_active_chain".into(), json!(active));
        }
        o.insert("blockhash".into(), json!(hash.to_string()));
        if active {
            o.insert("confirmations".into(), json!(i64::from(c.height()) - i64::from(entry.height) + 1));
            o.insert("time".into(), json!(entry.header.time));
            o.insert("blocktime".into(), json!(entry.header.time));
        } else {
            o.insert("confirmations".into(), json!(0));
        }
    }
    Ok(v)
}

/// `decoderawtransaction "hexstring" ( iswitness )`.
pub fn decoderawtransaction(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let s = p.str(0)?;
    let iswitness = p.opt_bool(1)?;
    let (try_no_witness, try_witness) = match iswitness {
        None => (true, true),
        Some(w) => (!w, w),
    };
    let tx = parse_hex(s)
        .and_then(|b| decode_tx(&b, try_no_witness, try_witness))
        .ok_or_else(|| RpcError::new(code::DESERIALIZATION_ERROR, "TX decode failed"))?;
    Ok(tx_to_json(&tx, None, TxVerbosity::Details, false, network(node)))
}

/// `decodescript "hexstring"`.
pub fn decodescript(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let s = p.str(0)?;
    let net = network(node);
    let script = if s.is_empty() {
        Vec::new()
    } else {
        parse_hex(s).ok_or_else(|| RpcError::param(format!("argument must be hexadecimal string (not '{s}')")))?
    };
    let mut r = match script_to_json(&script, net, false, true) {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    let (t, sol) = solver(&script);
    let can_wrap = match t {
        TxoutType::Multisig
        | TxoutType::NonStandard
        | TxoutType::PubKey
        | TxoutType::PubKeyHash
        | TxoutType::WitnessV0KeyHash
        | TxoutType::WitnessV0ScriptHash => {
            has_valid_ops(&script)
                && !is_unspendable(&script)
                && Ops::new(&script).all(|op| op.map(|o| o.opcode != OP_CHECKSIGADD && !is_op_success(o.opcode)).unwrap_or(false))
        }
        _ => false,
    };
    if can_wrap {
        let p2sh = ScriptBuf::new_p2sh(&bitcoin::ScriptHash::from_byte_array(hash160::Hash::hash(&script).to_byte_array()));
        r.insert("p2sh".into(), json!(address(p2sh.as_bytes(), net)));
        let can_wrap_p2wsh = match t {
            TxoutType::Multisig | TxoutType::PubKey => sol.iter().all(|s| s.len() == 1 || s.len() == 33),
            TxoutType::NonStandard | TxoutType::PubKeyHash => true,
            _ => false,
        };
        if can_wrap_p2wsh {
            let (segwit, desc) = match t {
                TxoutType::PubKey => (
                    ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array(hash160::Hash::hash(&sol[0]).to_byte_array())),
                    None,
                ),
                TxoutType::PubKeyHash => (
                    ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array(
                        sol[0].as_slice().try_into().unwrap_or([0u8; 20]),
                    )),
                    None,
                ),
                _ => {
                    let wsh = ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_byte_array(sha256::Hash::hash(&script).to_byte_array()));
                    let d = infer_descriptor_with_witness_script(wsh.as_bytes(), &script, net);
                    (wsh, Some(d))
                }
            };
            let mut sr = match script_to_json(segwit.as_bytes(), net, true, true) {
                Value::Object(o) => o,
                _ => Map::new(),
            };
            if let Some(d) = desc {
                sr.insert("desc".into(), json!(d));
            }
            let p2sh_segwit = ScriptBuf::new_p2sh(&bitcoin::ScriptHash::from_byte_array(
                hash160::Hash::hash(segwit.as_bytes()).to_byte_array(),
            ));
            sr.insert("p2sh-segwit".into(), json!(address(p2sh_segwit.as_bytes(), net)));
            r.insert("segwit".into(), Value::Object(sr));
        }
    }
    Ok(Value::Object(r))
}

/// Core's `ParseFixedPoint(val, 8)` then `MoneyRange`, as `AmountFromValue`.
pub fn amount_from_value(v: &Value) -> Result<i64, RpcError> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return Err(RpcError::new(code::TYPE_ERROR, "Amount is not a number or string")),
    };
    let sat = parse_fixed_point(&text, 8).ok_or_else(|| RpcError::new(code::TYPE_ERROR, "Invalid amount"))?;
    if !(0..=bitcoin::SignedAmount::MAX_MONEY.to_sat()).contains(&sat) {
        return Err(RpcError::new(code::TYPE_ERROR, "Amount out of range"));
    }
    Ok(sat)
}

/// Core's `ParseFixedPoint`.
pub fn parse_fixed_point(val: &str, decimals: i64) -> Option<i64> {
    const UPPER: i64 = 1_000_000_000_000_000_000 - 1;
    let b = val.as_bytes();
    let end = b.len();
    let mut ptr = 0;
    let (mut mantissa, mut exponent, mut tzeros, mut point_ofs) = (0i64, 0i64, 0i64, 0i64);
    let digit = |m: &mut i64, tz: &mut i64, ch: u8| -> bool {
        if ch == b'0' {
            *tz += 1;
        } else {
            for _ in 0..=*tz {
                if *m > UPPER / 10 {
                    return false;
                }
                *m *= 10;
            }
            *m += i64::from(ch - b'0');
            *tz = 0;
        }
        true
    };
    let neg = ptr < end && b[ptr] == b'-';
    if neg {
        ptr += 1;
    }
    if ptr >= end {
        return None;
    }
    if b[ptr] == b'0' {
        ptr += 1;
    } else if (b'1'..=b'9').contains(&b[ptr]) {
        while ptr < end && b[ptr].is_ascii_digit() {
            if !digit(&mut mantissa, &mut tzeros, b[ptr]) {
                return None;
            }
            ptr += 1;
        }
    } else {
        return None;
    }
    if ptr < end && b[ptr] == b'.' {
        ptr += 1;
        if !(ptr < end && b[ptr].is_ascii_digit()) {
            return None;
        }
        while ptr < end && b[ptr].is_ascii_digit() {
            if !digit(&mut mantissa, &mut tzeros, b[ptr]) {
                return None;
            }
            ptr += 1;
            point_ofs += 1;
        }
    }
    if ptr < end && (b[ptr] == b'e' || b[ptr] == b'E') {
        ptr += 1;
        let mut eneg = false;
        if ptr < end && b[ptr] == b'+' {
            ptr += 1;
        } else if ptr < end && b[ptr] == b'-' {
            eneg = true;
            ptr += 1;
        }
        if !(ptr < end && b[ptr].is_ascii_digit()) {
            return None;
        }
        while ptr < end && b[ptr].is_ascii_digit() {
            if exponent > UPPER / 10 {
                return None;
            }
            exponent = exponent * 10 + i64::from(b[ptr] - b'0');
            ptr += 1;
        }
        if eneg {
            exponent = -exponent;
        }
    }
    if ptr != end {
        return None;
    }
    exponent = exponent - point_ofs + tzeros + decimals;
    if neg {
        mantissa = -mantissa;
    }
    if !(0..18).contains(&exponent) {
        return None;
    }
    for _ in 0..exponent {
        if !(-(UPPER / 10)..=UPPER / 10).contains(&mantissa) {
            return None;
        }
        mantissa *= 10;
    }
    (-UPPER..=UPPER).contains(&mantissa).then_some(mantissa)
}

/// `createrawtransaction [inputs] [outputs] ( locktime replaceable version )`.
pub fn createrawtransaction(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let net = network(node);
    let inputs = match p.get(0) {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(v) => return Err(type_error(v, "array")),
    };
    let outputs_in = p.value(1)?;
    let rbf = p.opt_bool(3)?;
    let mut lock_time = 0u32;
    if let Some(l) = p.get(2) {
        let l = get_int(l, i64::MIN, i64::MAX)?;
        if !(0..=i64::from(u32::MAX)).contains(&l) {
            return Err(RpcError::param("Invalid parameter, locktime out of range"));
        }
        lock_time = l as u32;
    }
    let version = match p.get(4) {
        None => 2,
        Some(v) => get_int(v, 0, i64::from(u32::MAX))?,
    };
    if !(1..=3).contains(&version) {
        return Err(RpcError::param("Invalid parameter, version out of range(1~3)"));
    }
    let mut tx = Transaction {
        version: Version(version as i32),
        lock_time: LockTime::from_consensus(lock_time),
        input: Vec::new(),
        output: Vec::new(),
    };
    for input in &inputs {
        let Value::Object(o) = input else {
            return Err(type_error(input, "object"));
        };
        let txid = Txid::from_byte_array(parse_hash(o.get("txid").unwrap_or(&Value::Null), "txid")?);
        let vout = match o.get("vout") {
            Some(v @ Value::Number(_)) => get_int(v, i64::from(i32::MIN), i64::from(i32::MAX))?,
            _ => return Err(RpcError::param("Invalid parameter, missing vout key")),
        };
        if vout < 0 {
            return Err(RpcError::param("Invalid parameter, vout cannot be negative"));
        }
        let mut sequence = if rbf.unwrap_or(true) {
            0xffff_fffd
        } else if lock_time != 0 {
            0xffff_fffe
        } else {
            0xffff_ffff
        };
        if let Some(s @ Value::Number(_)) = o.get("sequence") {
            let s = get_int(s, i64::MIN, i64::MAX)?;
            if !(0..=i64::from(u32::MAX)).contains(&s) {
                return Err(RpcError::param("Invalid parameter, sequence number is out of range"));
            }
            sequence = s as u32;
        }
        tx.input.push(TxIn {
            previous_output: OutPoint { txid, vout: vout as u32 },
            script_sig: ScriptBuf::new(),
            sequence: Sequence(sequence),
            witness: Witness::new(),
        });
    }
    // NormalizeOutputs: an object, or an array of one-key objects (order kept). Core keeps a
    // key the request repeated, so the repeat is refused below as a duplicate.
    let pairs: Vec<(String, Value)> = match outputs_in {
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .chain(
                p.repeated_keys(1)
                    .map(|k| (k.to_string(), o.get(k).cloned().unwrap_or(Value::Null))),
            )
            .collect(),
        Value::Array(a) => {
            let mut out = Vec::new();
            for item in a {
                let Value::Object(o) = item else {
                    return Err(RpcError::param("Invalid parameter, key-value pair not an object as expected"));
                };
                if o.len() != 1 {
                    return Err(RpcError::param("Invalid parameter, key-value pair must contain exactly one key"));
                }
                out.extend(o.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            out
        }
        v => return Err(type_error(v, "array")),
    };
    let mut has_data = false;
    let mut seen = std::collections::HashSet::new();
    for (name, v) in pairs {
        if name == "data" {
            if has_data {
                return Err(RpcError::param("Invalid parameter, duplicate key: data"));
            }
            has_data = true;
            let text = match &v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                // UniValue keeps true as "1" and false as "".
                Value::Bool(b) => {
                    if *b {
                        "1".into()
                    } else {
                        String::new()
                    }
                }
                _ => String::new(),
            };
            let data = parse_hex(&text).ok_or_else(|| RpcError::param(format!("Data must be hexadecimal string (not '{text}')")))?;
            // CScript() << OP_RETURN << data: the smallest push opcode for the length.
            let data = bitcoin::script::PushBytesBuf::try_from(data).map_err(|_| RpcError::param("Invalid parameter, data too large"))?;
            tx.output.push(TxOut {
                value: Amount::ZERO,
                script_pubkey: ScriptBuf::new_op_return(data),
            });
        } else {
            // As Core: the address, then its uniqueness, then the amount.
            let Ok(script) = super::super::address::decode(&name, net) else {
                return Err(RpcError::new(
                    code::INVALID_ADDRESS_OR_KEY,
                    format!("Invalid Bitcoin address: {name}"),
                ));
            };
            if !seen.insert(script.clone()) {
                return Err(RpcError::param(format!("Invalid parameter, duplicated address: {name}")));
            }
            let value = amount_from_value(&v)?;
            tx.output.push(TxOut {
                value: Amount::from_sat(value as u64),
                script_pubkey: script,
            });
        }
    }
    if rbf == Some(true) && !tx.input.is_empty() && !tx.input.iter().any(|i| i.sequence.0 < 0xffff_fffe) {
        return Err(RpcError::param(
            "Invalid parameter combination: Sequence number(s) contradict replaceable option",
        ));
    }
    Ok(json!(hex(&serialize_core(&tx))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_amounts_like_core() {
        assert_eq!(parse_fixed_point("0.00000001", 8), Some(1));
        assert_eq!(parse_fixed_point("1e-8", 8), Some(1));
        assert_eq!(parse_fixed_point("21000000", 8), Some(2_100_000_000_000_000));
        assert_eq!(parse_fixed_point("0.000000001", 8), None);
        assert_eq!(parse_fixed_point("1.", 8), None);
        assert_eq!(parse_fixed_point("01", 8), None);
        assert_eq!(parse_fixed_point("-0.5", 8), Some(-50_000_000));
        assert_eq!(parse_fixed_point("12.3400", 8), Some(1_234_000_000));
        assert_eq!(parse_fixed_point("1e10", 8), None);
        assert!(amount_from_value(&json!(-1)).is_err());
        assert_eq!(amount_from_value(&json!(0.1)).unwrap(), 10_000_000);
        assert_eq!(amount_from_value(&json!("0.5")).unwrap(), 50_000_000);
    }
}

//! Wallet-less signing RPCs with Core's arguments, results and errors:
//! signrawtransactionwithkey and combinerawtransaction. Spent outputs come from the mempool and
//! the UTXO set (and, for signing, from the caller's `prevtxs`).

use super::super::error::{code, RpcError};
use super::super::params::{field_type_error, type_error, Params};
use super::super::script_asm::{hex, script_to_asm};
use super::super::sign::{Provider, SigData, Signing, SIGHASH_DEFAULT};
use super::super::txjson::{decode_tx, parse_hex, serialize_core};
use super::rawtransaction::{amount_from_value, get_int, parse_hash};
use crate::rpc::context::RpcContext;
use bitcoin::hashes::Hash;
use bitcoin::{Amount, NetworkKind, OutPoint, PrivateKey, ScriptBuf, Transaction, TxOut, Txid};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The outputs `tx` spends that the mempool or the UTXO set knows (Core's `FindCoins`).
fn find_coins(node: &Arc<RpcContext>, tx: &Transaction) -> Result<HashMap<OutPoint, TxOut>, RpcError> {
    let mut out = HashMap::new();
    // Chain lock first, then the pool (the mempool's lock order).
    let mut c = node.lock_chain();
    let mempool = node.mempool();
    for input in &tx.input {
        let op = input.previous_output;
        if let Some(o) = mempool.get(&op.txid).and_then(|t| t.output.get(op.vout as usize).cloned()) {
            out.insert(op, o);
            continue;
        }
        if let Some(coin) = c.get_coin(&op).map_err(|e| RpcError::new(code::DATABASE_ERROR, e.to_string()))? {
            out.insert(op, coin.output);
        }
    }
    Ok(out)
}

fn decode(s: &str) -> Option<Transaction> {
    parse_hex(s).and_then(|b| decode_tx(&b, true, true))
}

/// Core's `RPCTypeCheckObj` for one required field.
fn field<'a>(o: &'a Map<String, Value>, name: &str, want: &str) -> Result<&'a Value, RpcError> {
    let v = o.get(name).filter(|v| !v.is_null());
    let Some(v) = v else {
        return Err(RpcError::new(code::TYPE_ERROR, format!("Missing {name}")));
    };
    let ok = match want {
        "string" => v.is_string(),
        "number" => v.is_number(),
        _ => true,
    };
    if !ok {
        return Err(field_type_error(v, name, want));
    }
    Ok(v)
}

fn hex_field(v: &Value, name: &str) -> Result<Vec<u8>, RpcError> {
    let s = v.as_str().ok_or_else(|| type_error(v, "string"))?;
    if s.is_empty() {
        return Ok(Vec::new());
    }
    parse_hex(s).ok_or_else(|| RpcError::param(format!("{name} must be hexadecimal string (not '{s}')")))
}

/// Core's `ParsePrevouts`: caller-supplied spent outputs and scripts.
fn parse_prevouts(v: Option<&Value>, p: &mut Provider, coins: &mut HashMap<OutPoint, TxOut>) -> Result<(), RpcError> {
    let Some(v) = v else { return Ok(()) };
    let Value::Array(list) = v else {
        return Err(type_error(v, "array"));
    };
    for item in list {
        let Value::Object(o) = item else {
            return Err(RpcError::new(
                code::DESERIALIZATION_ERROR,
                "expected object with {\"txid'\",\"vout\",\"scriptPubKey\"}",
            ));
        };
        let txid = Txid::from_byte_array(parse_hash(field(o, "txid", "string")?, "txid")?);
        let vout = get_int(field(o, "vout", "number")?, i64::from(i32::MIN), i64::from(i32::MAX))?;
        let spk_v = field(o, "scriptPubKey", "string")?;
        if vout < 0 {
            return Err(RpcError::new(code::DESERIALIZATION_ERROR, "vout cannot be negative"));
        }
        let op = OutPoint { txid, vout: vout as u32 };
        let spk = ScriptBuf::from_bytes(hex_field(spk_v, "scriptPubKey")?);
        if let Some(existing) = coins.get(&op) {
            if existing.script_pubkey != spk {
                return Err(RpcError::new(
                    code::DESERIALIZATION_ERROR,
                    format!(
                        "Previous output scriptPubKey mismatch:\n{}\nvs:\n{}",
                        script_to_asm(existing.script_pubkey.as_bytes(), false),
                        script_to_asm(spk.as_bytes(), false)
                    ),
                ));
            }
        }
        // Without an amount the value is a placeholder; witness inputs then fail "Missing amount".
        let value = match o.get("amount").filter(|a| !a.is_null()) {
            Some(a) => amount_from_value(a)? as u64,
            None => Amount::MAX_MONEY.to_sat(),
        };
        coins.insert(
            op,
            TxOut {
                value: Amount::from_sat(value),
                script_pubkey: spk.clone(),
            },
        );
        let (is_p2sh, is_p2wsh) = (spk.is_p2sh(), spk.is_p2wsh());
        if !(is_p2sh || is_p2wsh) {
            continue;
        }
        let opt_str = |name: &str| -> Result<Option<&Value>, RpcError> {
            match o.get(name).filter(|x| !x.is_null()) {
                None => Ok(None),
                Some(x @ Value::String(_)) => Ok(Some(x)),
                Some(x) => Err(RpcError::new(
                    code::TYPE_ERROR,
                    format!(
                        "JSON value of type {} for field {name} is not of expected type string",
                        if x.is_number() {
                            "number"
                        } else if x.is_boolean() {
                            "bool"
                        } else if x.is_array() {
                            "array"
                        } else {
                            "object"
                        }
                    ),
                )),
            }
        };
        let (rs, ws) = (opt_str("redeemScript")?, opt_str("witnessScript")?);
        if rs.is_none() && ws.is_none() {
            return Err(RpcError::param("Missing redeemScript/witnessScript"));
        }
        // The witness script when given, else the redeem script; its P2WSH form is learned too.
        let script = ScriptBuf::from_bytes(match ws {
            Some(w) => hex_field(w, "witnessScript")?,
            None => hex_field(rs.unwrap_or(&Value::Null), "redeemScript")?,
        });
        let wsh = ScriptBuf::new_p2wsh(&script.wscript_hash());
        p.add_script(script.clone());
        p.add_script(wsh.clone());
        if let (Some(w), Some(r)) = (ws, rs) {
            if w.as_str() != r.as_str() && ScriptBuf::from_bytes(hex_field(r, "redeemScript")?) != wsh {
                return Err(RpcError::param("redeemScript does not correspond to witnessScript"));
            }
        }
        let matches = if is_p2sh {
            spk == ScriptBuf::new_p2sh(&script.script_hash()) || spk == ScriptBuf::new_p2sh(&wsh.script_hash())
        } else {
            spk == wsh
        };
        if !matches {
            return Err(RpcError::param("redeemScript/witnessScript does not match scriptPubKey"));
        }
    }
    Ok(())
}

/// Core's `ParseSighashString` (None when absent).
pub(super) fn parse_sighash(v: Option<&Value>) -> Result<Option<u32>, RpcError> {
    let Some(v) = v else { return Ok(None) };
    let s = v.as_str().ok_or_else(|| type_error(v, "string"))?;
    Ok(Some(match s {
        "DEFAULT" => SIGHASH_DEFAULT,
        "ALL" => 0x01,
        "NONE" => 0x02,
        "SINGLE" => 0x03,
        "ALL|ANYONECANPAY" => 0x81,
        "NONE|ANYONECANPAY" => 0x82,
        "SINGLE|ANYONECANPAY" => 0x83,
        _ => return Err(RpcError::param(format!("'{s}' is not a valid sighash parameter."))),
    }))
}

/// `CTxOut::ToString` as Core prints it in "Missing amount".
fn txout_string(o: &TxOut) -> String {
    let v = o.value.to_sat();
    let h = hex(o.script_pubkey.as_bytes());
    format!(
        "CTxOut(nValue={}.{:08}, scriptPubKey={})",
        v / 100_000_000,
        v % 100_000_000,
        &h[..h.len().min(30)]
    )
}

/// Signs what it can of `tx` (Core's `SignTransaction`); returns (complete, per-input errors).
fn sign_transaction(tx: &mut Transaction, p: &Provider, coins: &HashMap<OutPoint, TxOut>, ht: u32) -> (bool, Vec<(usize, String)>) {
    let spent: Vec<Option<TxOut>> = tx.input.iter().map(|i| coins.get(&i.previous_output).cloned()).collect();
    let original = tx.clone();
    let signing = Signing {
        tx: &original,
        spent: &spent,
    };
    let single = ht & 0x7f == 0x03;
    let mut errors = Vec::new();
    for (i, prev) in spent.iter().enumerate() {
        if prev.is_none() {
            errors.push((i, "Input not found or already spent".to_string()));
            continue;
        }
        let mut data: SigData = signing.extract(&original, i);
        if !single || i < tx.output.len() {
            let (ss, w) = signing.produce(i, p, &mut data, &original.input[i].witness, ht);
            tx.input[i].script_sig = ss;
            tx.input[i].witness = w;
        }
    }
    let signed = Signing { tx, spent: &spent };
    for (i, prev) in spent.iter().enumerate() {
        let Some(prev) = prev else { continue };
        if prev.value == Amount::MAX_MONEY && !tx.input[i].witness.is_empty() {
            errors.push((i, "Missing amount".into()));
            continue;
        }
        if !signed.input_verifies(tx, i) {
            errors.push((i, signed.failure_reason(tx, i)));
        }
    }
    errors.sort_by_key(|e| e.0);
    (errors.is_empty(), errors)
}

/// Core's `SignTransactionResultToJSON`.
fn result_json(tx: &Transaction, complete: bool, errors: &[(usize, String)], coins: &HashMap<OutPoint, TxOut>) -> Result<Value, RpcError> {
    let mut list = Vec::new();
    for (i, e) in errors {
        let input = &tx.input[*i];
        if e == "Missing amount" {
            let o = coins.get(&input.previous_output).cloned().unwrap_or(TxOut::NULL);
            return Err(RpcError::new(code::TYPE_ERROR, format!("Missing amount for {}", txout_string(&o))));
        }
        list.push(json!({
            "txid": input.previous_output.txid.to_string(),
            "vout": input.previous_output.vout,
            "witness": input.witness.iter().map(hex).collect::<Vec<_>>(),
            "scriptSig": hex(input.script_sig.as_bytes()),
            "sequence": input.sequence.0,
            "error": e,
        }));
    }
    let mut r = Map::new();
    r.insert("hex".into(), json!(hex(&serialize_core(tx))));
    r.insert("complete".into(), json!(complete));
    if !list.is_empty() {
        r.insert("errors".into(), Value::Array(list));
    }
    Ok(Value::Object(r))
}

/// `signrawtransactionwithkey "hexstring" ["privatekey",...] ( [prevtx,...] "sighashtype" )`.
pub fn signrawtransactionwithkey(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let mut tx = decode(p.str(0)?).ok_or_else(|| {
        RpcError::new(
            code::DESERIALIZATION_ERROR,
            "TX decode failed. Make sure the tx has at least one input.",
        )
    })?;
    let keys = p.array(1)?;
    let net = NetworkKind::from(node.settings().params.network);
    let secp = bitcoin::secp256k1::Secp256k1::signing_only();
    let mut provider = Provider::default();
    for k in keys {
        let s = k.as_str().ok_or_else(|| type_error(k, "string"))?;
        let key = PrivateKey::from_wif(s)
            .ok()
            .filter(|key| key.network == net)
            .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Invalid private key"))?;
        provider.add_key(key.public_key(&secp), key.inner);
    }
    let mut coins = find_coins(node, &tx)?;
    parse_prevouts(p.get(2), &mut provider, &mut coins)?;
    let ht = parse_sighash(p.get(3))?.unwrap_or(SIGHASH_DEFAULT);
    let (complete, errors) = sign_transaction(&mut tx, &provider, &coins, ht);
    result_json(&tx, complete, &errors, &coins)
}

/// `combinerawtransaction ["hexstring",...]`: merges the signatures of several versions of one
/// transaction into the first.
pub fn combinerawtransaction(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let list = p.array(0)?;
    let mut variants = Vec::new();
    for (idx, v) in list.iter().enumerate() {
        let s = v.as_str().ok_or_else(|| type_error(v, "string"))?;
        variants.push(decode(s).ok_or_else(|| {
            RpcError::new(
                code::DESERIALIZATION_ERROR,
                format!("TX decode failed for tx {idx}. Make sure the tx has at least one input."),
            )
        })?);
    }
    let Some(first) = variants.first() else {
        return Err(RpcError::new(code::DESERIALIZATION_ERROR, "Missing transactions"));
    };
    let mut merged = first.clone();
    let coins = find_coins(node, &merged)?;
    let spent: Vec<Option<TxOut>> = merged.input.iter().map(|i| coins.get(&i.previous_output).cloned()).collect();
    if spent.iter().any(Option::is_none) {
        return Err(RpcError::new(code::VERIFY_ERROR, "Input not found or already spent"));
    }
    let empty = Provider::default();
    let base = merged.clone();
    for i in 0..merged.input.len() {
        let mut data = SigData::default();
        for v in variants.iter().filter(|v| v.input.len() > i) {
            data.merge(Signing { tx: v, spent: &spent }.extract(v, i));
        }
        let (ss, w) = Signing { tx: &base, spent: &spent }.produce(i, &empty, &mut data, &base.input[i].witness, 0x01);
        merged.input[i].script_sig = ss;
        merged.input[i].witness = w;
    }
    Ok(json!(hex(&serialize_core(&merged))))
}

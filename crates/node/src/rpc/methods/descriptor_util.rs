//! Util methods on keys and descriptors with Core's results and errors: createmultisig,
//! getdescriptorinfo and deriveaddresses (the descriptors `methods::descriptor` parses).

use super::super::descriptor::{address, descriptor_checksum, with_checksum};
use super::super::error::{code, RpcError};
use super::super::params::{type_error, Params};
use super::super::script_asm::hex;
use super::descriptor::{check_checksum, parse_descriptor, parse_descriptor_at};
use super::rawtransaction::get_int;
use crate::rpc::context::RpcContext;
use bitcoin::hashes::{hash160, Hash};
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::{PublicKey, ScriptBuf, ScriptHash};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Most keys in a multisig script (Core's MAX_PUBKEYS_PER_MULTISIG).
const MAX_PUBKEYS_PER_MULTISIG: usize = 20;
use bitcoin::constants::MAX_SCRIPT_ELEMENT_SIZE;

fn network(node: &Arc<RpcContext>) -> bitcoin::Network {
    node.settings().params.network
}

/// Core's `HexToPubKey`.
fn hex_to_pubkey(s: &str) -> Result<PublicKey, RpcError> {
    let bad = |what: &str| RpcError::new(code::INVALID_ADDRESS_OR_KEY, format!("Pubkey \"{s}\" {what}"));
    let bytes = super::super::txjson::parse_hex(s).ok_or_else(|| bad("must be a hex string"))?;
    if bytes.len() != 33 && bytes.len() != 65 {
        return Err(bad("must have a length of either 33 or 65 bytes"));
    }
    PublicKey::from_slice(&bytes).map_err(|_| bad("must be cryptographically valid."))
}

/// `createmultisig nrequired ["key",...] ( "address_type" )`.
pub fn createmultisig(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let required = get_int(p.value(0)?, i64::from(i32::MIN), i64::from(i32::MAX))?;
    let keys = p.array(1)?;
    let mut pubkeys = Vec::new();
    for k in keys {
        pubkeys.push(hex_to_pubkey(k.as_str().ok_or_else(|| type_error(k, "string"))?)?);
    }
    let chosen = p.opt_str(2)?;
    let mut kind = match chosen {
        None | Some("legacy") => "legacy",
        Some("p2sh-segwit") => "p2sh-segwit",
        Some("bech32") => "bech32",
        Some("bech32m") => {
            return Err(RpcError::new(
                code::INVALID_ADDRESS_OR_KEY,
                "createmultisig cannot create bech32m multisig addresses",
            ))
        }
        Some(other) => {
            return Err(RpcError::new(
                code::INVALID_ADDRESS_OR_KEY,
                format!("Unknown address type '{other}'"),
            ))
        }
    };
    if required < 1 {
        return Err(RpcError::param("a multisignature address must require at least one key to redeem"));
    }
    if (pubkeys.len() as i64) < required {
        return Err(RpcError::param(format!(
            "not enough keys supplied (got {} keys, but need at least {required} to redeem)",
            pubkeys.len()
        )));
    }
    if pubkeys.len() > MAX_PUBKEYS_PER_MULTISIG {
        return Err(RpcError::param(format!(
            "Number of keys involved in the multisignature address creation > {MAX_PUBKEYS_PER_MULTISIG}\nReduce the number"
        )));
    }
    let mut b = Builder::new().push_int(required);
    for k in &pubkeys {
        b = b.push_slice(PushBytesBuf::try_from(k.to_bytes()).unwrap_or_default());
    }
    let redeem = b
        .push_int(pubkeys.len() as i64)
        .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
        .into_script();
    // Uncompressed keys force a legacy (P2SH) address.
    if pubkeys.iter().any(|k| !k.compressed) {
        kind = "legacy";
    }
    if kind == "legacy" && redeem.len() > MAX_SCRIPT_ELEMENT_SIZE {
        return Err(RpcError::param(format!(
            "redeemScript exceeds size limit: {} > {MAX_SCRIPT_ELEMENT_SIZE}",
            redeem.len()
        )));
    }
    let keys_text: Vec<String> = pubkeys.iter().map(|k| hex(&k.to_bytes())).collect();
    let multi = format!("multi({required},{})", keys_text.join(","));
    let p2sh_of = |s: &ScriptBuf| ScriptBuf::new_p2sh(&ScriptHash::from_byte_array(hash160::Hash::hash(s.as_bytes()).to_byte_array()));
    let (spk, desc) = match kind {
        "legacy" => (p2sh_of(&redeem), format!("sh({multi})")),
        "p2sh-segwit" => (p2sh_of(&ScriptBuf::new_p2wsh(&redeem.wscript_hash())), format!("sh(wsh({multi}))")),
        _ => (ScriptBuf::new_p2wsh(&redeem.wscript_hash()), format!("wsh({multi})")),
    };
    let addr =
        address(spk.as_bytes(), network(node)).ok_or_else(|| RpcError::new(code::INTERNAL_ERROR, "multisig output has no address"))?;
    let mut r = Map::new();
    r.insert("address".into(), json!(addr));
    r.insert("redeemScript".into(), json!(hex(redeem.as_bytes())));
    r.insert("descriptor".into(), json!(with_checksum(&desc)));
    if chosen.is_some_and(|c| c != kind) {
        r.insert(
            "warnings".into(),
            json!(["Unable to make chosen address type, please ensure no uncompressed public keys are present."]),
        );
    }
    Ok(Value::Object(r))
}

/// `getdescriptorinfo "descriptor"`.
pub fn getdescriptorinfo(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let text = p.str(0)?;
    let d = parse_descriptor(text, network(node), false).map_err(|e| RpcError::new(code::INVALID_ADDRESS_OR_KEY, e))?;
    // The checksum is of the descriptor as given (which may hold private keys).
    let body = check_checksum(text, false).map_err(|e| RpcError::new(code::INVALID_ADDRESS_OR_KEY, e))?;
    let mut r = Map::new();
    r.insert("descriptor".into(), json!(with_checksum(&d.canonical)));
    r.insert("checksum".into(), json!(descriptor_checksum(body)));
    r.insert("isrange".into(), json!(d.ranged));
    r.insert("issolvable".into(), json!(d.solvable));
    r.insert("hasprivatekeys".into(), json!(d.has_private));
    Ok(Value::Object(r))
}

/// Core's `ParseDescriptorRange`: (begin, end).
pub(super) fn parse_range(v: &Value) -> Result<(i64, i64), RpcError> {
    let (low, high) = match v {
        Value::Number(_) => {
            let high = get_int(v, i64::MIN, i64::MAX)?;
            if high < 0 {
                return Err(RpcError::param("Range should be greater or equal than 0"));
            }
            (0, high)
        }
        Value::Array(a) if a.len() == 2 && a[0].is_number() && a[1].is_number() => {
            let (low, high) = (get_int(&a[0], i64::MIN, i64::MAX)?, get_int(&a[1], i64::MIN, i64::MAX)?);
            if low > high {
                return Err(RpcError::param("Range specified as [begin,end] must not have begin after end"));
            }
            (low, high)
        }
        _ => return Err(RpcError::param("Range must be specified as end or as [begin,end]")),
    };
    if low < 0 {
        return Err(RpcError::param("Range should be greater or equal than 0"));
    }
    if high >> 31 != 0 {
        return Err(RpcError::param("End of range is too high"));
    }
    if high >= low + 1_000_000 {
        return Err(RpcError::param("Range is too large"));
    }
    Ok((low, high))
}

/// `deriveaddresses "descriptor" ( range )`.
pub fn deriveaddresses(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let text = p.str(0)?;
    let net = network(node);
    let range = p.get(1).map(parse_range).transpose()?;
    let d = parse_descriptor(text, net, true).map_err(|e| RpcError::new(code::INVALID_ADDRESS_OR_KEY, e))?;
    let (begin, end) = match (d.ranged, range) {
        (false, Some(_)) => return Err(RpcError::param("Range should not be specified for an un-ranged descriptor")),
        (true, None) => return Err(RpcError::param("Range must be specified for a ranged descriptor")),
        (_, Some(r)) => r,
        (false, None) => (0, 0),
    };
    let mut out = Vec::new();
    for i in begin..=end {
        let at = if i == 0 {
            d.clone()
        } else {
            parse_descriptor_at(text, net, true, i as u32).map_err(|e| RpcError::new(code::INVALID_ADDRESS_OR_KEY, e))?
        };
        let a = address(at.script.as_bytes(), net)
            .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Descriptor does not have a corresponding address"))?;
        out.push(json!(a));
    }
    Ok(Value::Array(out))
}

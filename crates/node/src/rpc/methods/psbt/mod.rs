//! PSBT RPCs with Core's arguments, results and errors, on rust-bitcoin's `bitcoin::psbt`
//! (BIP174 version 0): createpsbt, decodepsbt, analyzepsbt, combinepsbt, converttopsbt,
//! joinpsbts, utxoupdatepsbt, descriptorprocesspsbt and finalizepsbt. Signing and finalizing
//! reuse the node's wallet-less signer (`rpc::sign`).

use super::super::error::{code, RpcError};
use super::super::params::{type_error, Params};
use super::super::script_asm::{hex, script_to_asm, sighash_name};
use super::super::sign::{Provider, SigData, Signing, SIGHASH_DEFAULT};
use super::super::txjson::{amount, decode_tx, parse_hex, script_to_json, serialize_core, tx_to_json, TxVerbosity};
use super::descriptor::{parse_descriptor, parse_descriptor_at, Parsed};
use super::descriptor_util::parse_range;
use super::signing::parse_sighash;
use crate::rpc::context::RpcContext;
use base64::Engine;
use bitcoin::bip32::{ChildNumber, DerivationPath, KeySource};
use bitcoin::hashes::{hash160, Hash};
use bitcoin::psbt::{Input, Output, Psbt, PsbtSighashType};
use bitcoin::{Network, OutPoint, ScriptBuf, Transaction, TxOut, Witness};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

mod analyze;
mod decode;
mod process;

pub use analyze::analyzepsbt;
pub use decode::decodepsbt;
use decode::*;
use process::*;
pub use process::{descriptorprocesspsbt, finalizepsbt, utxoupdatepsbt};

/// Core's default range for a ranged descriptor given without one: 0..=1000.
const DEFAULT_RANGE_END: i64 = 1000;

fn network(node: &Arc<RpcContext>) -> Network {
    node.settings().params.network
}

fn decode_failed(detail: impl std::fmt::Display) -> RpcError {
    RpcError::new(code::DESERIALIZATION_ERROR, format!("TX decode failed {detail}"))
}

/// Core's `DecodeBase64PSBT`: base64, then a BIP174 (version 0) PSBT.
pub fn decode_psbt(s: &str) -> Result<Psbt, RpcError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| decode_failed("invalid base64"))?;
    let psbt = Psbt::deserialize(&raw).map_err(decode_failed)?;
    check_psbt(&psbt)?;
    Ok(psbt)
}

/// Core's checks of the BIP373 MuSig2 fields (participant pubkeys, public nonces, partial
/// signatures), which rust-bitcoin keeps as unknown.
fn check_musig2(t: u8, key: &[u8], value: &[u8], input: bool) -> Result<(), RpcError> {
    let valid = |b: &[u8]| bitcoin::secp256k1::PublicKey::from_slice(b).is_ok();
    let side = if input { "Input" } else { "Output" };
    let participants = if input { 0x1a } else { 0x08 };
    if t == participants {
        if key.len() != 33 {
            return Err(decode_failed(format!(
                "Size of key was not 34 for the type {side} MuSig2 Participants Pubkeys"
            )));
        }
        if !valid(key) {
            return Err(decode_failed(format!("{side} musig2 aggregate pubkey is invalid")));
        }
        if !value.len().is_multiple_of(33) {
            return Err(decode_failed(format!(
                "{side} musig2 participants pubkeys value size is not a multiple of 33"
            )));
        }
        if !value.chunks(33).all(valid) {
            return Err(decode_failed(format!("{side} musig2 participant pubkey is invalid")));
        }
        return Ok(());
    }
    if input && (t == 0x1b || t == 0x1c) {
        let what = if t == 0x1b { "pubnonce" } else { "partial sig" };
        if key.len() != 66 && key.len() != 98 {
            return Err(decode_failed(format!("Input musig2 {what} key is not expected size")));
        }
        if !valid(&key[..33]) {
            return Err(decode_failed("musig2 participant pubkey is invalid"));
        }
        if !valid(&key[33..66]) {
            return Err(decode_failed("musig2 aggregate pubkey is invalid"));
        }
        if t == 0x1b && value.len() != 66 {
            return Err(decode_failed("Input musig2 pubnonce value is not 66 bytes"));
        }
        if t == 0x1c && value.len() != 32 {
            return Err(decode_failed("Size of value was not the stated size"));
        }
    }
    Ok(())
}

/// Core's checks at the end of PSBT deserialization that rust-bitcoin does not make: each
/// non-witness UTXO is the transaction the input spends and has the spent output.
fn check_psbt(psbt: &Psbt) -> Result<(), RpcError> {
    // PSBTv2-only fields, which rust-bitcoin keeps as unknown, are refused in a version 0 PSBT.
    const GLOBAL_V2: [(u8, &str); 5] = [
        (0x02, "PSBT_GLOBAL_TX_VERSION"),
        (0x03, "PSBT_GLOBAL_FALLBACK_LOCKTIME"),
        (0x04, "PSBT_GLOBAL_INPUT_COUNT"),
        (0x05, "PSBT_GLOBAL_OUTPUT_COUNT"),
        (0x06, "PSBT_GLOBAL_TX_MODIFIABLE"),
    ];
    const INPUT_V2: [(u8, &str); 5] = [
        (0x0e, "PSBT_IN_PREVIOUS_TXID"),
        (0x0f, "PSBT_IN_OUTPUT_INDEX"),
        (0x10, "PSBT_IN_SEQUENCE"),
        (0x11, "PSBT_IN_REQUIRED_TIME_LOCKTIME"),
        (0x12, "PSBT_IN_REQUIRED_HEIGHT_LOCKTIME"),
    ];
    const OUTPUT_V2: [(u8, &str); 2] = [(0x03, "PSBT_OUT_AMOUNT"), (0x04, "PSBT_OUT_SCRIPT")];
    let v2_field = |keys: &mut dyn Iterator<Item = u8>, table: &[(u8, &str)]| -> Result<(), RpcError> {
        for t in keys {
            if let Some((_, name)) = table.iter().find(|(k, _)| *k == t) {
                return Err(decode_failed(format!("{name} is not allowed in PSBTv0")));
            }
        }
        Ok(())
    };
    v2_field(&mut psbt.unknown.keys().map(|k| k.type_value), &GLOBAL_V2)?;
    for input in &psbt.inputs {
        v2_field(&mut input.unknown.keys().map(|k| k.type_value), &INPUT_V2)?;
        for (k, v) in &input.unknown {
            check_musig2(k.type_value, &k.key, v, true)?;
        }
    }
    for output in &psbt.outputs {
        v2_field(&mut output.unknown.keys().map(|k| k.type_value), &OUTPUT_V2)?;
        for (k, v) in &output.unknown {
            check_musig2(k.type_value, &k.key, v, false)?;
        }
    }
    for (txin, input) in psbt.unsigned_tx.input.iter().zip(&psbt.inputs) {
        if let Some(tx) = &input.non_witness_utxo {
            if tx.compute_txid() != txin.previous_output.txid {
                return Err(decode_failed("Non-witness UTXO does not match outpoint hash"));
            }
            if txin.previous_output.vout as usize >= tx.output.len() {
                return Err(decode_failed("Input specifies output index that does not exist"));
            }
        }
    }
    Ok(())
}

/// The base64 text of `psbt`.
pub fn encode_psbt(psbt: &Psbt) -> String {
    base64::engine::general_purpose::STANDARD.encode(psbt.serialize())
}

/// Core's `psbt_version` argument: only version 0 is supported here.
fn check_psbt_version(v: Option<&Value>) -> Result<(), RpcError> {
    match v {
        None => Ok(()),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(()),
        Some(Value::Number(n)) if n.as_u64() == Some(2) => Err(RpcError::param("PSBTv2 is not supported by this node")),
        Some(Value::Number(_)) => Err(RpcError::param("Invalid PSBT version, must be 0 or 2")),
        Some(v) => Err(type_error(v, "number")),
    }
}

fn psbt_from_tx(tx: Transaction) -> Result<Psbt, RpcError> {
    Psbt::from_unsigned_tx(tx).map_err(|e| RpcError::new(code::DESERIALIZATION_ERROR, e.to_string()))
}

/// `createpsbt [inputs] [outputs] ( locktime replaceable version psbt_version )`.
pub fn createpsbt(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    check_psbt_version(p.get(5))?;
    let raw = super::rawtransaction::createrawtransaction(node, p)?;
    let tx = raw
        .as_str()
        .and_then(parse_hex)
        .and_then(|b| decode_tx(&b, true, false))
        .ok_or_else(|| RpcError::new(code::INTERNAL_ERROR, "created transaction does not decode"))?;
    Ok(json!(encode_psbt(&psbt_from_tx(tx)?)))
}

/// `converttopsbt "hexstring" ( permitsigdata iswitness psbt_version )`.
pub fn converttopsbt(_node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let s = p.str(0)?;
    let permit = p.opt_bool(1)?.unwrap_or(false);
    let (no_wit, wit) = match p.opt_bool(2)? {
        None => (true, true),
        Some(w) => (!w, w),
    };
    check_psbt_version(p.get(3))?;
    let mut tx = parse_hex(s)
        .and_then(|b| decode_tx(&b, no_wit, wit))
        .ok_or_else(|| RpcError::new(code::DESERIALIZATION_ERROR, "TX decode failed"))?;
    for input in &mut tx.input {
        if (!input.script_sig.is_empty() || !input.witness.is_empty()) && !permit {
            return Err(RpcError::new(
                code::DESERIALIZATION_ERROR,
                "Inputs must not have scriptSigs and scriptWitnesses",
            ));
        }
        input.script_sig = ScriptBuf::new();
        input.witness = Witness::new();
    }
    Ok(json!(encode_psbt(&psbt_from_tx(tx)?)))
}

fn psbt_list(p: &Params) -> Result<Vec<Psbt>, RpcError> {
    let list = p.array(0)?;
    list.iter()
        .map(|v| decode_psbt(v.as_str().ok_or_else(|| type_error(v, "string"))?))
        .collect()
}

/// `combinepsbt ["psbt",...]`.
pub fn combinepsbt(_node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let list = psbt_list(p)?;
    let mut it = list.into_iter();
    let Some(mut merged) = it.next() else {
        return Err(RpcError::param("Parameter 'txs' cannot be empty"));
    };
    for other in it {
        merged
            .combine(other)
            .map_err(|_| RpcError::param("PSBTs not compatible (different transactions)"))?;
    }
    Ok(json!(encode_psbt(&merged)))
}

/// `joinpsbts ["psbt",...]`: all inputs and outputs of several PSBTs in one, shuffled.
pub fn joinpsbts(_node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let list = psbt_list(p)?;
    if list.len() <= 1 {
        return Err(RpcError::param("At least two PSBTs are required to join PSBTs."));
    }
    let version = list.iter().map(|x| x.unsigned_tx.version.0).max().unwrap_or(1).max(1);
    let lock = list
        .iter()
        .map(|x| x.unsigned_tx.lock_time.to_consensus_u32())
        .min()
        .unwrap_or(u32::MAX);
    let mut ins: Vec<(bitcoin::TxIn, Input)> = Vec::new();
    let mut outs: Vec<(TxOut, Output)> = Vec::new();
    let mut xpubs = BTreeMap::new();
    let mut unknown = BTreeMap::new();
    for x in list {
        for (txin, mut input) in x.unsigned_tx.input.into_iter().zip(x.inputs) {
            if ins.iter().any(|(t, _)| t.previous_output == txin.previous_output) {
                return Err(RpcError::param(format!(
                    "Input {}:{} exists in multiple PSBTs",
                    txin.previous_output.txid, txin.previous_output.vout
                )));
            }
            input.partial_sigs.clear();
            input.final_script_sig = None;
            input.final_script_witness = None;
            ins.push((txin, input));
        }
        outs.extend(x.unsigned_tx.output.into_iter().zip(x.outputs));
        xpubs.extend(x.xpub);
        unknown.extend(x.unknown);
    }
    use rand::seq::SliceRandom;
    let mut rng = rand::thread_rng();
    ins.shuffle(&mut rng);
    outs.shuffle(&mut rng);
    let tx = Transaction {
        version: bitcoin::transaction::Version(version),
        lock_time: bitcoin::absolute::LockTime::from_consensus(lock),
        input: ins.iter().map(|(t, _)| t.clone()).collect(),
        output: outs.iter().map(|(o, _)| o.clone()).collect(),
    };
    let psbt = Psbt {
        unsigned_tx: tx,
        version: 0,
        xpub: xpubs,
        proprietary: BTreeMap::new(),
        unknown,
        inputs: ins.into_iter().map(|(_, i)| i).collect(),
        outputs: outs.into_iter().map(|(_, o)| o).collect(),
    };
    Ok(json!(encode_psbt(&psbt)))
}

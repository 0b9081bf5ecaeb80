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
use crate::rpc::context::RpcContext;
use base64::Engine;
use bitcoin::bip32::{ChildNumber, DerivationPath, KeySource};
use bitcoin::hashes::{hash160, Hash};
use bitcoin::psbt::{Input, Output, Psbt, PsbtSighashType};
use bitcoin::{Network, OutPoint, ScriptBuf, Transaction, TxOut, Witness};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

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

/// Core's `WriteHDKeypath`: `m/0h/1/...`.
fn keypath(path: &DerivationPath) -> String {
    let mut s = String::from("m");
    for c in path.as_ref() {
        match c {
            ChildNumber::Normal { index } => s.push_str(&format!("/{index}")),
            ChildNumber::Hardened { index } => s.push_str(&format!("/{index}h")),
        }
    }
    s
}

fn origin_json(pubkey: String, src: &KeySource) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("pubkey".into(), json!(pubkey));
    o.insert("master_fingerprint".into(), json!(hex(src.0.as_bytes())));
    o.insert("path".into(), json!(keypath(&src.1)));
    o
}

fn sighash_str(t: PsbtSighashType) -> String {
    let v = t.to_u32();
    if v == 0 {
        return "DEFAULT".into();
    }
    u8::try_from(v).ok().and_then(sighash_name).unwrap_or("").to_string()
}

fn proprietary_json(map: &BTreeMap<bitcoin::psbt::raw::ProprietaryKey, Vec<u8>>) -> Value {
    Value::Array(
        map.iter()
            .map(|(k, v)| json!({"identifier": hex(&k.prefix), "subtype": k.subtype, "key": hex(&k.key), "value": hex(v)}))
            .collect(),
    )
}

fn unknown_json(map: &BTreeMap<bitcoin::psbt::raw::Key, Vec<u8>>) -> Value {
    let mut o = Map::new();
    for (k, v) in map {
        let mut key = bitcoin::consensus::encode::serialize(&bitcoin::VarInt(u64::from(k.type_value)));
        key.extend_from_slice(&k.key);
        o.insert(hex(&key), json!(hex(v)));
    }
    Value::Object(o)
}

fn script_json(s: &ScriptBuf, net: Network) -> Value {
    script_to_json(s.as_bytes(), net, true, false)
}

/// The output input `i` spends, from its witness or non-witness UTXO (Core's `GetInputUTXO`).
fn input_utxo(psbt: &Psbt, i: usize) -> Option<TxOut> {
    let input = psbt.inputs.get(i)?;
    if let Some(tx) = &input.non_witness_utxo {
        let vout = psbt.unsigned_tx.input.get(i)?.previous_output.vout as usize;
        return tx.output.get(vout).cloned();
    }
    input.witness_utxo.clone()
}

fn input_json(psbt: &Psbt, i: usize, net: Network, total_in: &mut Option<u64>) -> Value {
    let input = &psbt.inputs[i];
    let mut o = Map::new();
    let mut utxo = None;
    if let Some(w) = &input.witness_utxo {
        o.insert(
            "witness_utxo".into(),
            json!({"amount": amount(w.value.to_sat() as i64), "scriptPubKey": script_to_json(w.script_pubkey.as_bytes(), net, true, true)}),
        );
        utxo = Some(w.value.to_sat());
    }
    if let Some(tx) = &input.non_witness_utxo {
        o.insert("non_witness_utxo".into(), tx_to_json(tx, None, TxVerbosity::Details, false, net));
        let vout = psbt.unsigned_tx.input[i].previous_output.vout as usize;
        utxo = tx.output.get(vout).map(|t| t.value.to_sat());
    }
    *total_in = match (utxo, *total_in) {
        (Some(v), Some(t)) if v <= crate::validation::tx_check::MAX_MONEY && t + v <= crate::validation::tx_check::MAX_MONEY => Some(t + v),
        _ => None,
    };
    if !input.partial_sigs.is_empty() {
        let m: Map<String, Value> = input
            .partial_sigs
            .iter()
            .map(|(k, s)| (hex(&k.to_bytes()), json!(hex(&s.to_vec()))))
            .collect();
        o.insert("partial_signatures".into(), Value::Object(m));
    }
    if let Some(t) = input.sighash_type {
        o.insert("sighash".into(), json!(sighash_str(t)));
    }
    scripts_json(&mut o, &input.redeem_script, &input.witness_script, &input.bip32_derivation, net);
    if let Some(s) = &input.final_script_sig {
        o.insert(
            "final_scriptSig".into(),
            json!({"asm": script_to_asm(s.as_bytes(), true), "hex": hex(s.as_bytes())}),
        );
    }
    if let Some(w) = &input.final_script_witness {
        o.insert("final_scriptwitness".into(), json!(w.iter().map(hex).collect::<Vec<_>>()));
    }
    // Hashes print in Core's display order (byte-reversed).
    let rev = |b: &[u8]| b.iter().rev().copied().collect::<Vec<u8>>();
    let lists: [(&str, Vec<(Vec<u8>, &Vec<u8>)>); 4] = [
        (
            "ripemd160_preimages",
            input.ripemd160_preimages.iter().map(|(h, v)| (rev(h.as_byte_array()), v)).collect(),
        ),
        (
            "sha256_preimages",
            input.sha256_preimages.iter().map(|(h, v)| (rev(h.as_byte_array()), v)).collect(),
        ),
        (
            "hash160_preimages",
            input.hash160_preimages.iter().map(|(h, v)| (rev(h.as_byte_array()), v)).collect(),
        ),
        (
            "hash256_preimages",
            input.hash256_preimages.iter().map(|(h, v)| (rev(h.as_byte_array()), v)).collect(),
        ),
    ];
    for (name, m) in lists {
        if !m.is_empty() {
            let obj: Map<String, Value> = m.into_iter().map(|(k, v)| (hex(&k), json!(hex(v)))).collect();
            o.insert(name.into(), Value::Object(obj));
        }
    }
    if let Some(s) = &input.tap_key_sig {
        o.insert("taproot_key_path_sig".into(), json!(hex(&s.to_vec())));
    }
    if !input.tap_script_sigs.is_empty() {
        let list: Vec<Value> = input
            .tap_script_sigs
            .iter()
            .map(|((pk, leaf), sig)| json!({"pubkey": hex(&pk.serialize()), "leaf_hash": leaf.to_string(), "sig": hex(&sig.to_vec())}))
            .collect();
        o.insert("taproot_script_path_sigs".into(), Value::Array(list));
    }
    if !input.tap_scripts.is_empty() {
        // Control blocks grouped by (script, leaf version), as Core keeps them.
        let mut grouped: BTreeMap<(Vec<u8>, u8), Vec<String>> = BTreeMap::new();
        for (cb, (script, ver)) in &input.tap_scripts {
            grouped
                .entry((script.to_bytes(), ver.to_consensus()))
                .or_default()
                .push(hex(&cb.serialize()));
        }
        let list: Vec<Value> = grouped
            .into_iter()
            .map(|((s, v), cbs)| json!({"script": hex(&s), "leaf_ver": v, "control_blocks": cbs}))
            .collect();
        o.insert("taproot_scripts".into(), Value::Array(list));
    }
    if !input.tap_key_origins.is_empty() {
        o.insert("taproot_bip32_derivs".into(), tap_origins_json(&input.tap_key_origins));
    }
    if let Some(k) = &input.tap_internal_key {
        o.insert("taproot_internal_key".into(), json!(hex(&k.serialize())));
    }
    if let Some(r) = &input.tap_merkle_root {
        o.insert("taproot_merkle_root".into(), json!(hex(r.as_byte_array())));
    }
    if !input.proprietary.is_empty() {
        o.insert("proprietary".into(), proprietary_json(&input.proprietary));
    }
    if !input.unknown.is_empty() {
        o.insert("unknown".into(), unknown_json(&input.unknown));
    }
    Value::Object(o)
}

type TapOrigins = BTreeMap<bitcoin::XOnlyPublicKey, (Vec<bitcoin::TapLeafHash>, KeySource)>;

fn tap_origins_json(m: &TapOrigins) -> Value {
    Value::Array(
        m.iter()
            .map(|(k, (leaves, src))| {
                let mut o = origin_json(hex(&k.serialize()), src);
                o.insert(
                    "leaf_hashes".into(),
                    json!(leaves.iter().map(|l| l.to_string()).collect::<Vec<_>>()),
                );
                Value::Object(o)
            })
            .collect(),
    )
}

/// The redeem script, witness script and BIP32 derivations of an input or output.
fn scripts_json(
    o: &mut Map<String, Value>,
    redeem: &Option<ScriptBuf>,
    witness: &Option<ScriptBuf>,
    derivs: &BTreeMap<bitcoin::secp256k1::PublicKey, KeySource>,
    net: Network,
) {
    if let Some(s) = redeem {
        o.insert("redeem_script".into(), script_json(s, net));
    }
    if let Some(s) = witness {
        o.insert("witness_script".into(), script_json(s, net));
    }
    if !derivs.is_empty() {
        let list: Vec<Value> = derivs
            .iter()
            .map(|(k, src)| Value::Object(origin_json(hex(&k.serialize()), src)))
            .collect();
        o.insert("bip32_derivs".into(), Value::Array(list));
    }
}

fn output_json(out: &Output, net: Network) -> Value {
    let mut o = Map::new();
    scripts_json(&mut o, &out.redeem_script, &out.witness_script, &out.bip32_derivation, net);
    if let Some(k) = &out.tap_internal_key {
        o.insert("taproot_internal_key".into(), json!(hex(&k.serialize())));
    }
    if let Some(tree) = &out.tap_tree {
        let list: Vec<Value> = tree
            .script_leaves()
            .map(
                |l| json!({"depth": l.merkle_branch().len(), "leaf_ver": l.version().to_consensus(), "script": hex(l.script().as_bytes())}),
            )
            .collect();
        o.insert("taproot_tree".into(), Value::Array(list));
    }
    if !out.tap_key_origins.is_empty() {
        o.insert("taproot_bip32_derivs".into(), tap_origins_json(&out.tap_key_origins));
    }
    if !out.proprietary.is_empty() {
        o.insert("proprietary".into(), proprietary_json(&out.proprietary));
    }
    if !out.unknown.is_empty() {
        o.insert("unknown".into(), unknown_json(&out.unknown));
    }
    Value::Object(o)
}

/// `decodepsbt "psbt"`.
pub fn decodepsbt(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let psbt = decode_psbt(p.str(0)?)?;
    let net = network(node);
    let mut r = Map::new();
    r.insert("tx".into(), tx_to_json(&psbt.unsigned_tx, None, TxVerbosity::Details, false, net));
    let xpubs: Vec<Value> = psbt
        .xpub
        .iter()
        .map(|(x, src)| json!({"xpub": x.to_string(), "master_fingerprint": hex(src.0.as_bytes()), "path": keypath(&src.1)}))
        .collect();
    r.insert("global_xpubs".into(), Value::Array(xpubs));
    r.insert("psbt_version".into(), json!(psbt.version));
    r.insert("proprietary".into(), proprietary_json(&psbt.proprietary));
    r.insert("unknown".into(), unknown_json(&psbt.unknown));
    let mut total_in = Some(0u64);
    let inputs: Vec<Value> = (0..psbt.inputs.len()).map(|i| input_json(&psbt, i, net, &mut total_in)).collect();
    r.insert("inputs".into(), Value::Array(inputs));
    r.insert(
        "outputs".into(),
        Value::Array(psbt.outputs.iter().map(|o| output_json(o, net)).collect()),
    );
    let out_total = psbt.unsigned_tx.output.iter().try_fold(0u64, |t, o| {
        t.checked_add(o.value.to_sat())
            .filter(|s| *s <= crate::validation::tx_check::MAX_MONEY)
    });
    if let (Some(i), Some(o)) = (total_in, out_total) {
        r.insert("fee".into(), amount(i as i64 - o as i64));
    }
    Ok(Value::Object(r))
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
    let list = match p.get(0) {
        None => {
            return Err(RpcError::new(
                code::INVALID_PARAMS,
                "Missing required argument \"txs\" (position 1)",
            ))
        }
        Some(Value::Array(a)) => a,
        Some(v) => return Err(type_error(v, "array")),
    };
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

/// What the descriptors given to utxoupdatepsbt/descriptorprocesspsbt provide, one entry per
/// expanded descriptor (Core's `FlatSigningProvider`).
#[derive(Default)]
struct DescProvider {
    expanded: Vec<Parsed>,
}

impl DescProvider {
    /// Core's `EvalDescriptorStringOrObject` over a `descriptors` argument.
    fn from_arg(v: Option<&Value>, net: Network) -> Result<Self, RpcError> {
        let mut out = DescProvider::default();
        let list = match v {
            None => return Ok(out),
            Some(Value::Array(a)) => a,
            Some(v) => return Err(type_error(v, "array")),
        };
        for obj in list {
            let (desc, range) = match obj {
                Value::String(s) => (s.as_str(), None),
                Value::Object(o) => match o.get("desc") {
                    Some(Value::String(d)) => (d.as_str(), o.get("range").filter(|r| !r.is_null())),
                    Some(v) => return Err(type_error(v, "string")),
                    None => return Err(RpcError::new(code::TYPE_ERROR, "Missing desc")),
                },
                _ => return Err(RpcError::param("Scan object needs to be either a string or an object")),
            };
            let d = parse_descriptor(desc, net, false).map_err(|e| RpcError::new(code::INVALID_ADDRESS_OR_KEY, e))?;
            let (begin, end) = match (d.ranged, range) {
                (false, _) => (0, 0),
                (true, None) => (0, DEFAULT_RANGE_END),
                (true, Some(r)) => parse_range(r)?,
            };
            if !d.ranged {
                out.expanded.push(d);
                continue;
            }
            for i in begin..=end {
                let d = parse_descriptor_at(desc, net, false, i as u32).map_err(|e| RpcError::new(code::INVALID_ADDRESS_OR_KEY, e))?;
                out.expanded.push(d);
            }
        }
        Ok(out)
    }

    /// The expanded descriptor whose output script (or P2SH redeem script) is `spk`.
    fn for_script(&self, spk: &ScriptBuf) -> Option<&Parsed> {
        self.expanded.iter().find(|d| &d.script == spk)
    }

    /// A signer provider with the descriptors' scripts and (when `with_secrets`) keys.
    fn signer(&self, with_secrets: bool) -> Provider {
        let mut p = Provider::default();
        for d in &self.expanded {
            for s in d.redeem_script.iter().chain(d.witness_script.iter()) {
                p.add_script(s.clone());
            }
            if with_secrets {
                for k in &d.keys {
                    if let Some(sk) = k.sk {
                        p.add_key(k.pk, sk);
                    }
                }
            }
        }
        p
    }

    /// Whether `spk` is a segwit output as far as these descriptors tell (Core's `IsSegWitOutput`).
    fn is_segwit(&self, spk: &ScriptBuf) -> bool {
        spk.is_witness_program()
            || (spk.is_p2sh()
                && self
                    .for_script(spk)
                    .and_then(|d| d.redeem_script.as_ref())
                    .is_some_and(|r| r.is_witness_program()))
    }

    /// Adds what the descriptor for `spk` knows (scripts, key origins, taproot internal key)
    /// to the input or output fields (Core's `UpdatePSBTOutput` / the updater part of signing).
    #[allow(clippy::too_many_arguments)]
    fn fill(
        &self,
        spk: &ScriptBuf,
        redeem: &mut Option<ScriptBuf>,
        witness: &mut Option<ScriptBuf>,
        derivs: &mut BTreeMap<bitcoin::secp256k1::PublicKey, KeySource>,
        tap_key: &mut Option<bitcoin::XOnlyPublicKey>,
        tap_origins: &mut TapOrigins,
        bip32derivs: bool,
    ) {
        let Some(d) = self.for_script(spk) else { return };
        if redeem.is_none() {
            redeem.clone_from(&d.redeem_script);
        }
        if witness.is_none() {
            witness.clone_from(&d.witness_script);
        }
        if let Some(ik) = d.internal_key {
            tap_key.get_or_insert(ik);
            if bip32derivs {
                for k in d.keys.iter().filter(|k| bitcoin::XOnlyPublicKey::from(k.pk.inner) == ik) {
                    tap_origins.entry(ik).or_insert_with(|| (Vec::new(), k.origin.clone()));
                }
            }
            return;
        }
        if bip32derivs {
            for k in &d.keys {
                derivs.entry(k.pk.inner).or_insert_with(|| k.origin.clone());
            }
        }
    }
}

/// Core's `PSBTInputSigned`.
fn input_signed(i: &Input) -> bool {
    i.final_script_sig.is_some() || i.final_script_witness.is_some()
}

/// Core's `SignPSBTInput` for input `i`: signs what `provider` can (or only checks what the
/// PSBT already holds), finalizes when complete and `finalize`; returns whether it is complete.
fn sign_input(psbt: &mut Psbt, i: usize, provider: &Provider, sighash: Option<u32>, finalize: bool) -> Result<bool, RpcError> {
    if input_signed(&psbt.inputs[i]) {
        return Ok(true);
    }
    let spent: Vec<Option<TxOut>> = (0..psbt.inputs.len()).map(|k| input_utxo(psbt, k)).collect();
    let Some(utxo) = spent[i].clone() else {
        return Ok(false);
    };
    let taproot = utxo.script_pubkey.is_p2tr();
    let stored = psbt.inputs[i].sighash_type.map(|t| t.to_u32());
    let ht = match (stored, sighash) {
        (Some(s), Some(h)) if s != h => {
            return Err(RpcError::new(
                code::DESERIALIZATION_ERROR,
                "Specified sighash value does not match value stored in PSBT",
            ))
        }
        (Some(s), _) => s,
        (None, Some(h)) => h,
        (None, None) if taproot => SIGHASH_DEFAULT,
        (None, None) => 0x01,
    };
    let input = &psbt.inputs[i];
    let sigs = input.partial_sigs.iter().map(|(k, s)| (k.to_bytes(), s.to_vec())).collect();
    let pubkeys = input.bip32_derivation.keys().map(|k| k.serialize().to_vec()).collect();
    let mut data = SigData::from_parts(
        sigs,
        pubkeys,
        input.redeem_script.clone(),
        input.witness_script.clone(),
        input.tap_key_sig.map(|s| s.to_vec()),
    );
    let tx = psbt.unsigned_tx.clone();
    let signing = Signing { tx: &tx, spent: &spent };
    let (ss, w) = signing.produce(i, provider, &mut data, &Witness::new(), ht);
    let mut trial = tx.clone();
    trial.input[i].script_sig = ss.clone();
    trial.input[i].witness = w.clone();
    // With only a witness UTXO the amount is trusted only when a witness signs it (Core's
    // `require_witness_sig`): nothing is kept otherwise.
    if psbt.inputs[i].non_witness_utxo.is_none() && w.is_empty() {
        return Ok(false);
    }
    let complete = signing.input_verifies(&trial, i);
    let input = &mut psbt.inputs[i];
    if sighash.is_some() && stored.is_none() && ht != if taproot { SIGHASH_DEFAULT } else { 0x01 } {
        input.sighash_type = Some(PsbtSighashType::from_u32(ht));
    }
    if !w.is_empty() && input.witness_utxo.is_none() {
        input.witness_utxo = Some(utxo);
    }
    if complete && finalize {
        input.partial_sigs.clear();
        input.bip32_derivation.clear();
        input.redeem_script = None;
        input.witness_script = None;
        input.sighash_type = None;
        input.tap_key_sig = None;
        input.tap_script_sigs.clear();
        input.tap_scripts.clear();
        input.tap_key_origins.clear();
        input.tap_internal_key = None;
        input.tap_merkle_root = None;
        input.ripemd160_preimages.clear();
        input.sha256_preimages.clear();
        input.hash160_preimages.clear();
        input.hash256_preimages.clear();
        input.final_script_sig = (!ss.is_empty()).then_some(ss);
        input.final_script_witness = (!w.is_empty()).then_some(w);
        return Ok(true);
    }
    for (k, s) in data.ecdsa_sigs() {
        let (Ok(pk), Ok(sig)) = (bitcoin::PublicKey::from_slice(k), bitcoin::ecdsa::Signature::from_slice(s)) else {
            continue;
        };
        input.partial_sigs.entry(pk).or_insert(sig);
    }
    if input.redeem_script.is_none() {
        input.redeem_script = data.redeem_script().cloned();
    }
    if input.witness_script.is_none() {
        input.witness_script = data.witness_script().cloned();
    }
    if input.tap_key_sig.is_none() {
        input.tap_key_sig = data.tap_key_sig().and_then(|s| bitcoin::taproot::Signature::from_slice(s).ok());
    }
    Ok(complete)
}

/// Core's `FinalizeAndExtractPSBT`: (complete, extracted transaction).
fn finalize_and_extract(psbt: &mut Psbt) -> (bool, Option<Transaction>) {
    let empty = Provider::default();
    let mut complete = true;
    for i in 0..psbt.inputs.len() {
        complete &= sign_input(psbt, i, &empty, None, true).unwrap_or(false);
    }
    if !complete {
        return (false, None);
    }
    let mut tx = psbt.unsigned_tx.clone();
    for (txin, input) in tx.input.iter_mut().zip(&psbt.inputs) {
        txin.script_sig = input.final_script_sig.clone().unwrap_or_default();
        txin.witness = input.final_script_witness.clone().unwrap_or_default();
    }
    (true, Some(tx))
}

/// `finalizepsbt "psbt" ( extract )`.
pub fn finalizepsbt(_node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let mut psbt = decode_psbt(p.str(0)?)?;
    let extract = p.opt_bool(1)?.unwrap_or(true);
    let (complete, tx) = finalize_and_extract(&mut psbt);
    let mut r = Map::new();
    match tx {
        Some(tx) if extract => r.insert("hex".into(), json!(hex(&serialize_core(&tx)))),
        _ => r.insert("psbt".into(), json!(encode_psbt(&psbt))),
    };
    r.insert("complete".into(), json!(complete));
    Ok(Value::Object(r))
}

/// The spent outputs the mempool, the transaction index or the UTXO set know, for the inputs
/// without a `non_witness_utxo` (Core's `ProcessPSBT` lookup).
fn fill_utxos(node: &Arc<RpcContext>, psbt: &mut Psbt, descs: &DescProvider) -> Result<(), RpcError> {
    let mut missing: Vec<usize> = Vec::new();
    for i in 0..psbt.inputs.len() {
        if psbt.inputs[i].non_witness_utxo.is_some() {
            continue;
        }
        let op = psbt.unsigned_tx.input[i].previous_output;
        let mut found = node.mempool().get(&op.txid).map(|t| (*t).clone());
        if found.is_none() {
            let c = node.chain_ref().lock().unwrap_or_else(|e| e.into_inner());
            if let Ok(Some((hash, _))) = c.indexed_transaction(&op.txid) {
                if let Ok(Some(block)) = c.read_block(&hash) {
                    found = block.txdata.into_iter().find(|t| t.compute_txid() == op.txid);
                }
            }
        }
        match found {
            Some(tx) => psbt.inputs[i].non_witness_utxo = Some(tx),
            None => missing.push(i),
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let mut c = node.chain_ref().lock().unwrap_or_else(|e| e.into_inner());
    for i in missing {
        let op: OutPoint = psbt.unsigned_tx.input[i].previous_output;
        let coin = c.get_coin(&op).map_err(|e| RpcError::new(code::DATABASE_ERROR, e.to_string()))?;
        if let Some(coin) = coin {
            if descs.is_segwit(&coin.output.script_pubkey) {
                psbt.inputs[i].witness_utxo = Some(coin.output);
            }
        }
    }
    Ok(())
}

/// Core's `RemoveUnnecessaryTransactions`: drops full previous transactions when every input
/// is segwit v1+ and none signs with ANYONECANPAY.
fn remove_unnecessary_transactions(psbt: &mut Psbt) {
    let droppable = psbt.inputs.iter().all(|i| {
        let v1 = i
            .witness_utxo
            .as_ref()
            .and_then(|u| u.script_pubkey.witness_version())
            .is_some_and(|v| v.to_num() >= 1);
        let acp = i.sighash_type.is_some_and(|t| t.to_u32() & 0x80 != 0);
        v1 && !acp
    });
    if droppable {
        for i in &mut psbt.inputs {
            i.non_witness_utxo = None;
        }
    }
}

/// Core's `ProcessPSBT`.
fn process_psbt(
    node: &Arc<RpcContext>,
    text: &str,
    descs: &DescProvider,
    with_secrets: bool,
    bip32derivs: bool,
    sighash: Option<u32>,
    finalize: bool,
) -> Result<Psbt, RpcError> {
    let mut psbt = decode_psbt(text)?;
    fill_utxos(node, &mut psbt, descs)?;
    let provider = descs.signer(with_secrets);
    for i in 0..psbt.inputs.len() {
        if input_signed(&psbt.inputs[i]) {
            continue;
        }
        if let Some(utxo) = input_utxo(&psbt, i) {
            let input = &mut psbt.inputs[i];
            let mut spk = utxo.script_pubkey.clone();
            descs.fill(
                &spk,
                &mut input.redeem_script,
                &mut input.witness_script,
                &mut input.bip32_derivation,
                &mut input.tap_internal_key,
                &mut input.tap_key_origins,
                bip32derivs,
            );
            // The keys of a P2SH or P2WSH inner script.
            for inner in [input.redeem_script.clone(), input.witness_script.clone()].into_iter().flatten() {
                spk = inner;
                let mut none = (None, None);
                descs.fill(
                    &ScriptBuf::new_p2wsh(&spk.wscript_hash()),
                    &mut none.0,
                    &mut none.1,
                    &mut input.bip32_derivation,
                    &mut input.tap_internal_key,
                    &mut input.tap_key_origins,
                    bip32derivs,
                );
                descs.fill(
                    &spk,
                    &mut none.0,
                    &mut none.1,
                    &mut input.bip32_derivation,
                    &mut input.tap_internal_key,
                    &mut input.tap_key_origins,
                    bip32derivs,
                );
            }
        }
        sign_input(&mut psbt, i, &provider, sighash, finalize)?;
    }
    for i in 0..psbt.outputs.len() {
        let spk = psbt.unsigned_tx.output[i].script_pubkey.clone();
        let out = &mut psbt.outputs[i];
        descs.fill(
            &spk,
            &mut out.redeem_script,
            &mut out.witness_script,
            &mut out.bip32_derivation,
            &mut out.tap_internal_key,
            &mut out.tap_key_origins,
            bip32derivs,
        );
    }
    remove_unnecessary_transactions(&mut psbt);
    Ok(psbt)
}

/// `utxoupdatepsbt "psbt" ( ["",{"desc":"str","range":n or [n,n]},...] )`.
pub fn utxoupdatepsbt(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let text = p.str(0)?.to_string();
    let descs = DescProvider::from_arg(p.get(1), network(node))?;
    let psbt = process_psbt(node, &text, &descs, false, true, Some(0x01), false)?;
    Ok(json!(encode_psbt(&psbt)))
}

/// Core's `ParseSighashString` (None when absent).
fn parse_sighash(v: Option<&Value>) -> Result<Option<u32>, RpcError> {
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

/// `descriptorprocesspsbt "psbt" ["",{"desc":"str","range":n or [n,n]},...] ( "sighashtype" bip32derivs finalize )`.
pub fn descriptorprocesspsbt(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let text = p.str(0)?.to_string();
    if p.get(1).is_none() {
        return Err(RpcError::new(
            code::INVALID_PARAMS,
            "Missing required argument \"descriptors\" (position 2)",
        ));
    }
    let descs = DescProvider::from_arg(p.get(1), network(node))?;
    let sighash = parse_sighash(p.get(2))?;
    let bip32derivs = p.opt_bool(3)?.unwrap_or(true);
    let finalize = p.opt_bool(4)?.unwrap_or(true);
    let psbt = process_psbt(node, &text, &descs, true, bip32derivs, sighash, finalize)?;
    let complete = psbt.inputs.iter().all(input_signed);
    let mut r = Map::new();
    r.insert("psbt".into(), json!(encode_psbt(&psbt)));
    r.insert("complete".into(), json!(complete));
    if complete {
        let mut copy = psbt.clone();
        if let (true, Some(tx)) = finalize_and_extract(&mut copy) {
            r.insert("hex".into(), json!(hex(&serialize_core(&tx))));
        }
    }
    Ok(Value::Object(r))
}

/// Core's `PSBTRole` names, in order.
const ROLES: [&str; 5] = ["creator", "updater", "signer", "finalizer", "extractor"];

/// What input `i` still lacks (Core's `SignatureData::missing_*`): (pubkeys, sigs, redeem
/// script hash, witness script hash), all as hex.
fn missing_parts(psbt: &Psbt, i: usize, utxo: &TxOut) -> (Vec<String>, Vec<String>, Option<String>, Option<String>) {
    let input = &psbt.inputs[i];
    let (mut pubkeys, mut sigs, mut redeem, mut witness) = (Vec::new(), Vec::new(), None, None);
    let known: Vec<bitcoin::PublicKey> = input
        .partial_sigs
        .keys()
        .copied()
        .chain(input.bip32_derivation.keys().map(|k| bitcoin::PublicKey::new(*k)))
        .collect();
    let has_sig = |pk: &[u8]| input.partial_sigs.keys().any(|k| k.to_bytes() == pk);
    let mut script = utxo.script_pubkey.clone();
    if script.is_p2sh() {
        match &input.redeem_script {
            Some(r) => script = r.clone(),
            None => {
                redeem = Some(hex(&script.as_bytes()[2..22]));
                return (pubkeys, sigs, redeem, witness);
            }
        }
    }
    if script.is_p2wsh() {
        match &input.witness_script {
            Some(w) => script = w.clone(),
            None => {
                witness = Some(hex(&script.as_bytes()[2..34]));
                return (pubkeys, sigs, redeem, witness);
            }
        }
    }
    let (t, sol) = super::super::descriptor::solver(script.as_bytes());
    use super::super::descriptor::TxoutType;
    match t {
        TxoutType::PubKeyHash | TxoutType::WitnessV0KeyHash => {
            let h = sol.first().cloned().unwrap_or_default();
            match known
                .iter()
                .find(|k| hash160::Hash::hash(&k.to_bytes()).as_byte_array().as_slice() == h)
            {
                Some(k) if !has_sig(&k.to_bytes()) => sigs.push(hex(&h)),
                Some(_) => {}
                None => pubkeys.push(hex(&h)),
            }
        }
        TxoutType::PubKey => {
            let k = sol.first().cloned().unwrap_or_default();
            if !has_sig(&k) {
                sigs.push(hex(hash160::Hash::hash(&k).as_byte_array()));
            }
        }
        TxoutType::Multisig if sol.len() >= 2 => {
            for k in &sol[1..sol.len() - 1] {
                if !has_sig(k) {
                    sigs.push(hex(hash160::Hash::hash(k).as_byte_array()));
                }
            }
        }
        _ => {}
    }
    (pubkeys, sigs, redeem, witness)
}

/// `analyzepsbt "psbt"`.
pub fn analyzepsbt(_node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let mut psbt = decode_psbt(p.str(0)?)?;
    let invalid = |msg: String| json!({"next": "creator", "error": msg});
    let mut in_amt = 0u64;
    let mut calc_fee = true;
    let mut inputs = Vec::new();
    let mut next_all = 4usize;
    let max = crate::validation::tx_check::MAX_MONEY;
    for i in 0..psbt.inputs.len() {
        let mut next = 4usize;
        let mut o = Map::new();
        let utxo = input_utxo(&psbt, i);
        let has_utxo = utxo.is_some();
        match &utxo {
            Some(u) => {
                let v = u.value.to_sat();
                if v > max || in_amt + v > max {
                    return Ok(invalid(format!("PSBT is not valid. Input {i} has invalid value")));
                }
                in_amt += v;
                if u.script_pubkey.is_op_return() {
                    return Ok(invalid(format!("PSBT is not valid. Input {i} spends unspendable output")));
                }
            }
            None => {
                next = 1;
                calc_fee = false;
            }
        }
        let mut is_final = false;
        let mut missing = Map::new();
        if let Some(u) = &utxo {
            let mut trial = psbt.clone();
            if input_signed(&psbt.inputs[i]) && sign_input(&mut trial, i, &Provider::default(), None, true).unwrap_or(false) {
                is_final = true;
            } else {
                let mut trial = psbt.clone();
                trial.inputs[i].final_script_sig = None;
                trial.inputs[i].final_script_witness = None;
                if sign_input(&mut trial, i, &Provider::default(), None, true).unwrap_or(false) {
                    next = 3;
                } else {
                    let (pks, sigs, rs, ws) = missing_parts(&psbt, i, u);
                    next = if pks.is_empty() && rs.is_none() && ws.is_none() && !sigs.is_empty() {
                        2
                    } else {
                        1
                    };
                    if !pks.is_empty() {
                        missing.insert("pubkeys".into(), json!(pks));
                    }
                    if let Some(r) = rs {
                        missing.insert("redeemscript".into(), json!(r));
                    }
                    if let Some(w) = ws {
                        missing.insert("witnessscript".into(), json!(w));
                    }
                    if !sigs.is_empty() {
                        missing.insert("signatures".into(), json!(sigs));
                    }
                }
            }
        }
        o.insert("has_utxo".into(), json!(has_utxo));
        o.insert("is_final".into(), json!(is_final));
        o.insert("next".into(), json!(ROLES[next]));
        if !missing.is_empty() {
            o.insert("missing".into(), Value::Object(missing));
        }
        next_all = next_all.min(next);
        inputs.push(Value::Object(o));
    }
    let mut r = Map::new();
    if !inputs.is_empty() {
        r.insert("inputs".into(), Value::Array(inputs));
    }
    if calc_fee {
        let out_amt = psbt.unsigned_tx.output.iter().try_fold(0u64, |t, o| {
            let v = o.value.to_sat();
            (v <= max && t + v <= max).then_some(t + v)
        });
        let Some(out_amt) = out_amt else {
            return Ok(invalid("PSBT is not valid. Output amount invalid".into()));
        };
        let fee = in_amt as i64 - out_amt as i64;
        if let (true, Some(tx)) = finalize_and_extract(&mut psbt) {
            let vsize = tx.weight().to_wu().div_ceil(4) as i64;
            r.insert("estimated_vsize".into(), json!(vsize));
            let per_k = if vsize > 0 { fee * 1000 / vsize } else { 0 };
            r.insert("estimated_feerate".into(), amount(per_k));
        }
        r.insert("fee".into(), amount(fee));
    }
    r.insert("next".into(), json!(ROLES[next_all]));
    Ok(Value::Object(r))
}

//! `decodepsbt`: a PSBT's global, input and output maps as Core's JSON.

use super::*;

/// Core's `WriteHDKeypath`: `m/0h/1/...`.
pub(super) fn keypath(path: &DerivationPath) -> String {
    let mut s = String::from("m");
    for c in path.as_ref() {
        match c {
            ChildNumber::Normal { index } => s.push_str(&format!("/{index}")),
            ChildNumber::Hardened { index } => s.push_str(&format!("/{index}h")),
        }
    }
    s
}

pub(super) fn origin_json(pubkey: String, src: &KeySource) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("pubkey".into(), json!(pubkey));
    o.insert("master_fingerprint".into(), json!(hex(src.0.as_bytes())));
    o.insert("path".into(), json!(keypath(&src.1)));
    o
}

pub(super) fn sighash_str(t: PsbtSighashType) -> String {
    let v = t.to_u32();
    if v == 0 {
        return "DEFAULT".into();
    }
    u8::try_from(v).ok().and_then(sighash_name).unwrap_or("").to_string()
}

pub(super) fn proprietary_json(map: &BTreeMap<bitcoin::psbt::raw::ProprietaryKey, Vec<u8>>) -> Value {
    Value::Array(
        map.iter()
            .map(|(k, v)| json!({"identifier": hex(&k.prefix), "subtype": k.subtype, "key": hex(&k.key), "value": hex(v)}))
            .collect(),
    )
}

pub(super) fn unknown_json(map: &BTreeMap<bitcoin::psbt::raw::Key, Vec<u8>>) -> Value {
    let mut o = Map::new();
    for (k, v) in map {
        let mut key = bitcoin::consensus::encode::serialize(&bitcoin::VarInt(u64::from(k.type_value)));
        key.extend_from_slice(&k.key);
        o.insert(hex(&key), json!(hex(v)));
    }
    Value::Object(o)
}

pub(super) fn script_json(s: &ScriptBuf, net: Network) -> Value {
    script_to_json(s.as_bytes(), net, true, false)
}

/// The output input `i` spends, from its witness or non-witness UTXO (Core's `GetInputUTXO`).
pub(super) fn input_utxo(psbt: &Psbt, i: usize) -> Option<TxOut> {
    let input = psbt.inputs.get(i)?;
    if let Some(tx) = &input.non_witness_utxo {
        let vout = psbt.unsigned_tx.input.get(i)?.previous_output.vout as usize;
        return tx.output.get(vout).cloned();
    }
    input.witness_utxo.clone()
}

pub(super) fn input_json(psbt: &Psbt, i: usize, net: Network, total_in: &mut Option<u64>) -> Value {
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
        (Some(v), Some(t)) if v <= bitcoin::Amount::MAX_MONEY.to_sat() && t + v <= bitcoin::Amount::MAX_MONEY.to_sat() => Some(t + v),
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
    type Preimages<'a> = Vec<(Vec<u8>, &'a Vec<u8>)>;
    let lists: [(&str, Preimages); 4] = [
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

pub(super) type TapOrigins = BTreeMap<bitcoin::XOnlyPublicKey, (Vec<bitcoin::TapLeafHash>, KeySource)>;

pub(super) fn tap_origins_json(m: &TapOrigins) -> Value {
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
pub(super) fn scripts_json(
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

pub(super) fn output_json(out: &Output, net: Network) -> Value {
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
            .filter(|s| *s <= bitcoin::Amount::MAX_MONEY.to_sat())
    });
    if let (Some(i), Some(o)) = (total_in, out_total) {
        r.insert("fee".into(), amount(i as i64 - o as i64));
    }
    Ok(Value::Object(r))
}

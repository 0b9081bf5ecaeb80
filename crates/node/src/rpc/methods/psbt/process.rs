//! Updating, signing and finalizing PSBTs from descriptors and the chain: utxoupdatepsbt,
//! descriptorprocesspsbt and finalizepsbt.

use super::*;

/// What the descriptors given to utxoupdatepsbt/descriptorprocesspsbt provide, one entry per
/// expanded descriptor (Core's `FlatSigningProvider`).
#[derive(Default)]
pub(super) struct DescProvider {
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
    fn fill(&self, spk: &ScriptBuf, to: Fields, bip32derivs: bool) {
        let Fields {
            redeem,
            witness,
            derivs,
            tap_key,
            tap_origins,
        } = to;
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

/// The PSBT fields a descriptor fills, borrowed from an input or an output (both have them).
struct Fields<'a> {
    redeem: &'a mut Option<ScriptBuf>,
    witness: &'a mut Option<ScriptBuf>,
    derivs: &'a mut BTreeMap<bitcoin::secp256k1::PublicKey, KeySource>,
    tap_key: &'a mut Option<bitcoin::XOnlyPublicKey>,
    tap_origins: &'a mut TapOrigins,
}

/// [`Fields`] of a PSBT input or output (the same field names in both).
macro_rules! fields_of {
    ($io:expr) => {
        Fields {
            redeem: &mut $io.redeem_script,
            witness: &mut $io.witness_script,
            derivs: &mut $io.bip32_derivation,
            tap_key: &mut $io.tap_internal_key,
            tap_origins: &mut $io.tap_key_origins,
        }
    };
}

/// Core's `PSBTInputSigned`.
pub(super) fn input_signed(i: &Input) -> bool {
    i.final_script_sig.is_some() || i.final_script_witness.is_some()
}

/// Core's `SignPSBTInput` for input `i`: signs what `provider` can (or only checks what the
/// PSBT already holds), finalizes when complete and `finalize`; returns whether it is complete.
pub(super) fn sign_input(psbt: &mut Psbt, i: usize, provider: &Provider, sighash: Option<u32>, finalize: bool) -> Result<bool, RpcError> {
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
pub(super) fn finalize_and_extract(psbt: &mut Psbt) -> (bool, Option<Transaction>) {
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
pub(super) fn fill_utxos(node: &Arc<RpcContext>, psbt: &mut Psbt, descs: &DescProvider) -> Result<(), RpcError> {
    let mut missing: Vec<usize> = Vec::new();
    for i in 0..psbt.inputs.len() {
        if psbt.inputs[i].non_witness_utxo.is_some() {
            continue;
        }
        let op = psbt.unsigned_tx.input[i].previous_output;
        let mut found = node.mempool().get(&op.txid).map(|t| (*t).clone());
        if found.is_none() {
            let c = node.lock_chain();
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
    let mut c = node.lock_chain();
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
pub(super) fn remove_unnecessary_transactions(psbt: &mut Psbt) {
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
pub(super) fn process_psbt(
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
            descs.fill(&spk, fields_of!(input), bip32derivs);
            // The keys of a P2SH or P2WSH inner script.
            for inner in [input.redeem_script.clone(), input.witness_script.clone()].into_iter().flatten() {
                spk = inner;
                let mut none = (None, None);
                for script in [ScriptBuf::new_p2wsh(&spk.wscript_hash()), spk.clone()] {
                    let to = Fields {
                        redeem: &mut none.0,
                        witness: &mut none.1,
                        derivs: &mut input.bip32_derivation,
                        tap_key: &mut input.tap_internal_key,
                        tap_origins: &mut input.tap_key_origins,
                    };
                    descs.fill(&script, to, bip32derivs);
                }
            }
        }
        sign_input(&mut psbt, i, &provider, sighash, finalize)?;
    }
    for i in 0..psbt.outputs.len() {
        let spk = psbt.unsigned_tx.output[i].script_pubkey.clone();
        let out = &mut psbt.outputs[i];
        descs.fill(&spk, fields_of!(out), bip32derivs);
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

/// `descriptorprocesspsbt "psbt" ["",{"desc":"str","range":n or [n,n]},...] ( "sighashtype" bip32derivs finalize )`.
pub fn descriptorprocesspsbt(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let text = p.str(0)?.to_string();
    p.value(1)?;
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

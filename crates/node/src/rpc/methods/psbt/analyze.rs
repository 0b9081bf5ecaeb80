//! `analyzepsbt`: what each input still needs and which role comes next, as Core.

use super::*;

/// Core's `PSBTRole` names, in order.
pub(super) const ROLES: [&str; 5] = ["creator", "updater", "signer", "finalizer", "extractor"];

/// What input `i` still lacks (Core's `SignatureData::missing_*`): (pubkeys, sigs, redeem
/// script hash, witness script hash), all as hex.
pub(super) fn missing_parts(psbt: &Psbt, i: usize, utxo: &TxOut) -> (Vec<String>, Vec<String>, Option<String>, Option<String>) {
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
    let (t, sol) = crate::rpc::descriptor::solver(script.as_bytes());
    use crate::rpc::descriptor::TxoutType;
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
    let max = bitcoin::Amount::MAX_MONEY.to_sat();
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

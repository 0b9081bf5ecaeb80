//! Input signing and signature merging for signrawtransactionwithkey and combinerawtransaction:
//! P2PK, P2PKH, P2WPKH, P2SH-P2WPKH, (P2SH/P2WSH/P2SH-P2WSH) multisig and P2TR key path.
//! Existing signatures are picked up from the inputs (checked against their keys) so partially
//! signed multisig inputs can be completed in several passes; every input is finally checked with
//! the consensus script interpreter (Core's, through libbitcoinkernel), which alone decides "complete".

use super::descriptor::{solver, witness_program, TxoutType};
use crate::validation::scripts::{PreparedTx, ScriptFlags, VERIFY_ALL, VERIFY_ALL_PRE_TAPROOT};
use bitcoin::hashes::{hash160, sha256, Hash};
use bitcoin::key::{Keypair, TapTweak};
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::{PublicKey, ScriptBuf, Transaction, TxOut, Witness};
use std::collections::HashMap;

/// Script flags signatures are checked with: every consensus rule the interpreter library knows.
pub const SIGN_CHECK_FLAGS: ScriptFlags = VERIFY_ALL;

/// Core's `SIGHASH_DEFAULT` (taproot only; ECDSA signs it as ALL).
pub const SIGHASH_DEFAULT: u32 = 0;

/// Keys and scripts the signer may use (Core's signing provider).
#[derive(Default)]
pub struct Provider {
    keys: Vec<(PublicKey, SecretKey)>,
    scripts: Vec<ScriptBuf>,
}

impl Provider {
    /// Adds a private key; like Core's keystore it also learns the key's P2WPKH script so
    /// P2SH-P2WPKH outputs can be signed without a redeemScript.
    pub fn add_key(&mut self, pk: PublicKey, sk: SecretKey) {
        if pk.compressed {
            if let Ok(c) = bitcoin::CompressedPublicKey::try_from(pk) {
                self.scripts.push(ScriptBuf::new_p2wpkh(&c.wpubkey_hash()));
            }
        }
        self.keys.push((pk, sk));
    }

    /// Adds a redeem or witness script.
    pub fn add_script(&mut self, s: ScriptBuf) {
        self.scripts.push(s);
    }

    fn key_for_pubkey(&self, pk: &[u8]) -> Option<&(PublicKey, SecretKey)> {
        self.keys.iter().find(|(p, _)| p.to_bytes() == pk)
    }

    fn key_for_hash(&self, h: &[u8]) -> Option<&(PublicKey, SecretKey)> {
        self.keys
            .iter()
            .find(|(p, _)| hash160::Hash::hash(&p.to_bytes()).as_byte_array().as_slice() == h)
    }

    fn script_for(&self, h: &[u8]) -> Option<ScriptBuf> {
        self.scripts
            .iter()
            .find(|s| match h.len() {
                20 => hash160::Hash::hash(s.as_bytes()).as_byte_array().as_slice() == h,
                32 => sha256::Hash::hash(s.as_bytes()).as_byte_array().as_slice() == h,
                _ => false,
            })
            .cloned()
    }
}

/// What is known about one input's signing (Core's `SignatureData`).
#[derive(Default, Clone)]
pub struct SigData {
    /// ECDSA signatures (with hash type byte) by public key bytes.
    sigs: HashMap<Vec<u8>, Vec<u8>>,
    /// Public keys seen in the input, by HASH160.
    pubkeys: HashMap<Vec<u8>, Vec<u8>>,
    redeem_script: Option<ScriptBuf>,
    witness_script: Option<ScriptBuf>,
    tap_key_sig: Option<Vec<u8>>,
    /// The input already satisfies its output: (scriptSig, witness) to keep.
    complete: Option<(ScriptBuf, Witness)>,
}

impl SigData {
    /// Signature data from a PSBT input's fields (Core's `PSBTInput::FillSignatureData`):
    /// ECDSA signatures and public keys (both by key bytes), scripts and the key-path signature.
    pub fn from_parts(
        sigs: Vec<(Vec<u8>, Vec<u8>)>,
        pubkeys: Vec<Vec<u8>>,
        redeem_script: Option<ScriptBuf>,
        witness_script: Option<ScriptBuf>,
        tap_key_sig: Option<Vec<u8>>,
    ) -> Self {
        let mut d = SigData {
            redeem_script,
            witness_script,
            tap_key_sig,
            ..SigData::default()
        };
        for pk in pubkeys.into_iter().chain(sigs.iter().map(|(k, _)| k.clone())) {
            d.pubkeys.insert(hash160::Hash::hash(&pk).as_byte_array().to_vec(), pk);
        }
        d.sigs.extend(sigs);
        d
    }

    /// The ECDSA signatures known, by public key bytes.
    pub fn ecdsa_sigs(&self) -> &HashMap<Vec<u8>, Vec<u8>> {
        &self.sigs
    }

    /// The redeem script learned, if any.
    pub fn redeem_script(&self) -> Option<&ScriptBuf> {
        self.redeem_script.as_ref()
    }

    /// The witness script learned, if any.
    pub fn witness_script(&self) -> Option<&ScriptBuf> {
        self.witness_script.as_ref()
    }

    /// The taproot key-path signature, if any.
    pub fn tap_key_sig(&self) -> Option<&[u8]> {
        self.tap_key_sig.as_deref()
    }

    /// Merges what `other` knows into this one (Core's `MergeSignatureData`).
    pub fn merge(&mut self, other: SigData) {
        if self.complete.is_some() {
            return;
        }
        if other.complete.is_some() {
            *self = other;
            return;
        }
        for (k, v) in other.sigs {
            self.sigs.entry(k).or_insert(v);
        }
        for (k, v) in other.pubkeys {
            self.pubkeys.entry(k).or_insert(v);
        }
        self.redeem_script = self.redeem_script.take().or(other.redeem_script);
        self.witness_script = self.witness_script.take().or(other.witness_script);
        self.tap_key_sig = self.tap_key_sig.take().or(other.tap_key_sig);
    }
}

/// The transaction being signed, with the outputs its inputs spend (None when unknown).
pub struct Signing<'a> {
    /// The unsigned or partly signed transaction (only its input `index` changes).
    pub tx: &'a Transaction,
    /// Spent outputs by input position.
    pub spent: &'a [Option<TxOut>],
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SigVersion {
    Base,
    WitnessV0,
}

fn push_all(stack: &[Vec<u8>]) -> ScriptBuf {
    let mut b = Builder::new();
    for item in stack {
        b = match item.len() {
            0 => b.push_opcode(bitcoin::opcodes::all::OP_PUSHBYTES_0),
            _ => match PushBytesBuf::try_from(item.clone()) {
                Ok(p) => b.push_slice(p),
                Err(_) => b,
            },
        };
    }
    b.into_script()
}

/// The pushes of a push-only script (None when it has other opcodes).
fn pushes(s: &bitcoin::Script) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for ins in s.instructions_minimal() {
        match ins.ok()? {
            bitcoin::script::Instruction::PushBytes(p) => out.push(p.as_bytes().to_vec()),
            bitcoin::script::Instruction::Op(op) => {
                let n = op.to_u8();
                if n == 0x4f {
                    out.push(vec![0x81]);
                } else if (0x51..=0x60).contains(&n) {
                    out.push(vec![n - 0x50]);
                } else {
                    return None;
                }
            }
        }
    }
    Some(out)
}

impl Signing<'_> {
    fn all_spent(&self) -> Option<Vec<TxOut>> {
        self.spent.iter().cloned().collect()
    }

    /// Whether input `i` as it stands satisfies the output it spends (consensus interpreter).
    pub fn input_verifies(&self, tx: &Transaction, i: usize) -> bool {
        let Some(prev) = self.spent.get(i).cloned().flatten() else {
            return false;
        };
        match self.all_spent() {
            Some(all) => PreparedTx::new(tx, &all).and_then(|p| p.verify_input(i, SIGN_CHECK_FLAGS)).is_ok(),
            // Without every spent output taproot cannot be checked: check the rest without it.
            None => PreparedTx::without_spent(tx)
                .and_then(|p| p.verify_input_against(i, &prev, VERIFY_ALL_PRE_TAPROOT))
                .is_ok(),
        }
    }

    fn ecdsa_sighash(&self, i: usize, sv: SigVersion, script_code: &bitcoin::Script, hash_type: u32) -> Option<[u8; 32]> {
        let mut cache = SighashCache::new(self.tx);
        match sv {
            SigVersion::Base => cache
                .legacy_signature_hash(i, script_code, hash_type)
                .ok()
                .map(|h| h.to_byte_array()),
            SigVersion::WitnessV0 => {
                let value = self.spent.get(i)?.as_ref()?.value;
                cache
                    .p2wsh_signature_hash(i, script_code, value, EcdsaSighashType::from_consensus(hash_type))
                    .ok()
                    .map(|h| h.to_byte_array())
            }
        }
    }

    fn check_ecdsa(&self, i: usize, sv: SigVersion, script_code: &bitcoin::Script, sig: &[u8], pubkey: &[u8]) -> bool {
        let (Some(&ht), Ok(pk)) = (sig.last(), PublicKey::from_slice(pubkey)) else {
            return false;
        };
        let Ok(s) = bitcoin::secp256k1::ecdsa::Signature::from_der_lax(&sig[..sig.len() - 1]) else {
            return false;
        };
        let Some(h) = self.ecdsa_sighash(i, sv, script_code, u32::from(ht)) else {
            return false;
        };
        let mut s = s;
        s.normalize_s();
        Secp256k1::verification_only()
            .verify_ecdsa(&Message::from_digest(h), &s, &pk.inner)
            .is_ok()
    }

    /// Signatures and scripts already present in input `i` (Core's `DataFromTransaction`).
    pub fn extract(&self, tx: &Transaction, i: usize) -> SigData {
        let mut d = SigData::default();
        let (Some(input), Some(Some(prev))) = (tx.input.get(i), self.spent.get(i)) else {
            return d;
        };
        if self.input_verifies(tx, i) {
            d.complete = Some((input.script_sig.clone(), input.witness.clone()));
            return d;
        }
        let Some(mut stack) = pushes(&input.script_sig) else { return d };
        let mut spk = prev.script_pubkey.clone();
        let mut sv = SigVersion::Base;
        if spk.is_p2sh() {
            let Some(redeem) = stack.pop().map(ScriptBuf::from_bytes) else {
                return d;
            };
            if ScriptBuf::new_p2sh(&redeem.script_hash()) != spk {
                return d;
            }
            d.redeem_script = Some(redeem.clone());
            spk = redeem;
        }
        if let Some((0, prog)) = witness_program(spk.as_bytes()) {
            sv = SigVersion::WitnessV0;
            stack = input.witness.to_vec();
            if prog.len() == 32 {
                let Some(ws) = stack.pop().map(ScriptBuf::from_bytes) else {
                    return d;
                };
                if sha256::Hash::hash(ws.as_bytes()).as_byte_array().as_slice() != prog {
                    return d;
                }
                d.witness_script = Some(ws.clone());
                spk = ws;
            } else if let Ok(h) = <[u8; 20]>::try_from(prog) {
                spk = ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::from_byte_array(h));
            }
        } else if spk.is_p2tr() {
            if let [sig] = input.witness.to_vec().as_slice() {
                if sig.len() == 64 || sig.len() == 65 {
                    d.tap_key_sig = Some(sig.clone());
                }
            }
            return d;
        }
        let (t, sol) = solver(spk.as_bytes());
        match t {
            TxoutType::PubKeyHash
                if stack.len() == 2
                    && hash160::Hash::hash(&stack[1]).as_byte_array().as_slice() == sol[0].as_slice()
                    && self.check_ecdsa(i, sv, &spk, &stack[0], &stack[1]) =>
            {
                d.pubkeys.insert(sol[0].clone(), stack[1].clone());
                d.sigs.insert(stack[1].clone(), stack[0].clone());
            }
            TxoutType::PubKey if stack.len() == 1 && self.check_ecdsa(i, sv, &spk, &stack[0], &sol[0]) => {
                d.sigs.insert(sol[0].clone(), stack[0].clone());
            }
            TxoutType::Multisig => {
                let keys = &sol[1..sol.len() - 1];
                for sig in stack.iter().filter(|s| !s.is_empty()) {
                    if let Some(k) = keys.iter().find(|k| self.check_ecdsa(i, sv, &spk, sig, k)) {
                        d.sigs.insert(k.clone(), sig.clone());
                    }
                }
            }
            _ => {}
        }
        d
    }

    /// Core's `CreateSig` for an ECDSA key: the signature already in `d`, else a new one when
    /// `p` holds the key (remembered in `d`).
    fn create_sig(&self, at: SigAt, p: &Provider, d: &mut SigData, pubkey: &[u8], code: &bitcoin::Script) -> Option<Vec<u8>> {
        let SigAt { i, sv, ht } = at;
        if let Some(s) = d.sigs.get(pubkey) {
            return Some(s.clone());
        }
        let (pk, sk) = p.key_for_pubkey(pubkey)?;
        if sv == SigVersion::WitnessV0 && !pk.compressed {
            return None;
        }
        let ht = if ht == SIGHASH_DEFAULT {
            EcdsaSighashType::All.to_u32()
        } else {
            ht
        };
        let h = self.ecdsa_sighash(i, sv, code, ht)?;
        let sig = Secp256k1::signing_only().sign_ecdsa_low_r(&Message::from_digest(h), sk);
        let mut out = sig.serialize_der().to_vec();
        out.push(ht as u8);
        d.sigs.insert(pubkey.to_vec(), out.clone());
        Some(out)
    }

    fn taproot_sig(&self, i: usize, p: &Provider, output_key: &[u8], ht: u32) -> Option<Vec<u8>> {
        let secp = Secp256k1::new();
        let all = self.all_spent()?;
        let (_, sk) = p.keys.iter().find(|(_, sk)| {
            let tweaked = Keypair::from_secret_key(&secp, sk).tap_tweak(&secp, None);
            tweaked.to_keypair().x_only_public_key().0.serialize().as_slice() == output_key
        })?;
        let tweaked = Keypair::from_secret_key(&secp, sk).tap_tweak(&secp, None).to_keypair();
        let ty = TapSighashType::from_consensus_u8(u8::try_from(ht).ok()?).ok()?;
        let h = SighashCache::new(self.tx)
            .taproot_key_spend_signature_hash(i, &Prevouts::All(&all), ty)
            .ok()?;
        let aux: [u8; 32] = rand::random();
        let sig = secp.sign_schnorr_with_aux_rand(&Message::from_digest(h.to_byte_array()), &tweaked, &aux);
        let mut out = sig.as_ref().to_vec();
        if ht != SIGHASH_DEFAULT {
            out.push(ht as u8);
        }
        Some(out)
    }

    /// Core's `SignStep`: (solved, stack, type) for `script`.
    fn step(
        &self,
        i: usize,
        p: &Provider,
        d: &mut SigData,
        script: &bitcoin::Script,
        sv: SigVersion,
        ht: u32,
    ) -> (bool, Vec<Vec<u8>>, TxoutType) {
        let (t, sol) = solver(script.as_bytes());
        let at = SigAt { i, sv, ht };
        let mut ret = Vec::new();
        let ok = match t {
            TxoutType::PubKey => match self.create_sig(at, p, d, &sol[0], script) {
                Some(s) => {
                    ret.push(s);
                    true
                }
                None => false,
            },
            TxoutType::PubKeyHash => {
                let pk = d
                    .pubkeys
                    .get(&sol[0])
                    .cloned()
                    .or_else(|| p.key_for_hash(&sol[0]).map(|(k, _)| k.to_bytes()));
                match pk.and_then(|pk| self.create_sig(at, p, d, &pk, script).map(|s| (s, pk))) {
                    Some((s, pk)) => {
                        ret.push(s);
                        ret.push(pk);
                        true
                    }
                    None => false,
                }
            }
            TxoutType::ScriptHash => {
                let s = p.script_for(&sol[0]).or_else(|| {
                    d.redeem_script
                        .clone()
                        .filter(|r| hash160::Hash::hash(r.as_bytes()).as_byte_array().as_slice() == sol[0].as_slice())
                });
                match s {
                    Some(s) => {
                        ret.push(s.into_bytes());
                        true
                    }
                    None => false,
                }
            }
            TxoutType::WitnessV0ScriptHash => {
                let s = p.script_for(&sol[0]).or_else(|| {
                    d.witness_script
                        .clone()
                        .filter(|w| sha256::Hash::hash(w.as_bytes()).as_byte_array().as_slice() == sol[0].as_slice())
                });
                match s {
                    Some(s) => {
                        ret.push(s.into_bytes());
                        true
                    }
                    None => false,
                }
            }
            TxoutType::WitnessV0KeyHash => {
                ret.push(sol[0].clone());
                true
            }
            TxoutType::Multisig => {
                let required = usize::from(sol[0].first().copied().unwrap_or(0));
                ret.push(Vec::new());
                for k in &sol[1..sol.len() - 1] {
                    // Always try every key so the signature data holds all we can make.
                    if let Some(s) = self.create_sig(at, p, d, k, script) {
                        if ret.len() < required + 1 {
                            ret.push(s);
                        }
                    }
                }
                let ok = ret.len() == required + 1;
                while ret.len() < required + 1 {
                    ret.push(Vec::new());
                }
                ok
            }
            TxoutType::WitnessV1Taproot => {
                let sig = d.tap_key_sig.clone().or_else(|| self.taproot_sig(i, p, &sol[0], ht));
                match sig {
                    Some(s) => {
                        d.tap_key_sig = Some(s.clone());
                        ret.push(s);
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        };
        (ok, ret, t)
    }

    /// Core's `ProduceSignature`: the input's new (scriptSig, witness); `old_witness` stays only
    /// on a taproot input that could not be signed.
    pub fn produce(&self, i: usize, p: &Provider, d: &mut SigData, old_witness: &Witness, ht: u32) -> (ScriptBuf, Witness) {
        if let Some(c) = &d.complete {
            return c.clone();
        }
        let Some(Some(prev)) = self.spent.get(i) else {
            return (ScriptBuf::new(), old_witness.clone());
        };
        let (mut solved, mut result, mut t) = self.step(i, p, d, &prev.script_pubkey, SigVersion::Base, ht);
        let mut witness = None;
        let mut p2sh_redeem = None;
        if solved && t == TxoutType::ScriptHash {
            let redeem = ScriptBuf::from_bytes(result.first().cloned().unwrap_or_default());
            d.redeem_script = Some(redeem.clone());
            let (s, r, t2) = self.step(i, p, d, &redeem, SigVersion::Base, ht);
            solved = s && t2 != TxoutType::ScriptHash;
            result = r;
            t = t2;
            p2sh_redeem = Some(redeem);
        }
        if solved && t == TxoutType::WitnessV0KeyHash {
            let h = <[u8; 20]>::try_from(result.first().map(Vec::as_slice).unwrap_or_default()).unwrap_or_default();
            let code = ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::from_byte_array(h));
            // Whether it solved is left to the final consensus check, as for every input.
            let (_, r, _) = self.step(i, p, d, &code, SigVersion::WitnessV0, ht);
            witness = Some(Witness::from_slice(&r));
            result.clear();
        } else if solved && t == TxoutType::WitnessV0ScriptHash {
            let ws = ScriptBuf::from_bytes(result.first().cloned().unwrap_or_default());
            d.witness_script = Some(ws.clone());
            let (_, mut r, _) = self.step(i, p, d, &ws, SigVersion::WitnessV0, ht);
            r.push(ws.into_bytes());
            witness = Some(Witness::from_slice(&r));
            result.clear();
        } else if solved && t == TxoutType::WitnessV1Taproot {
            witness = Some(Witness::from_slice(&result));
            result.clear();
        }
        if let Some(r) = p2sh_redeem {
            result.push(r.into_bytes());
        }
        // A witness is kept only on an unsigned taproot input; other outputs that produced none
        // must not carry one.
        let witness = witness.unwrap_or_else(|| {
            if prev.script_pubkey.is_p2tr() {
                old_witness.clone()
            } else {
                Witness::new()
            }
        });
        (push_all(&result), witness)
    }

    /// Core's message for an input that does not verify, from the shape of what it holds (the
    /// consensus library reports no script error code).
    pub fn failure_reason(&self, tx: &Transaction, i: usize) -> String {
        const STACK: &str = "Unable to sign input, invalid stack size (possibly missing key)";
        let (Some(input), Some(Some(prev))) = (tx.input.get(i), self.spent.get(i)) else {
            return "Input not found or already spent".into();
        };
        let stack = pushes(&input.script_sig).unwrap_or_default();
        let mut exec = prev.script_pubkey.clone();
        let mut items = stack.clone();
        if exec.is_p2sh() {
            match items.pop() {
                Some(r) => exec = ScriptBuf::from_bytes(r),
                None => return STACK.into(),
            }
        }
        if witness_program(exec.as_bytes()).is_some() {
            if input.witness.is_empty() {
                return "Witness program was passed an empty witness".into();
            }
            items = input.witness.to_vec();
            if exec.is_p2wsh() {
                exec = ScriptBuf::from_bytes(items.pop().unwrap_or_default());
            }
        } else if input.script_sig.is_empty() {
            return STACK.into();
        }
        if solver(exec.as_bytes()).0 == TxoutType::Multisig {
            if items.iter().skip(1).any(|s| !s.is_empty()) {
                return "CHECK(MULTI)SIG failing with non-zero signature (possibly need more signatures)".into();
            }
            return "Script evaluated without error but finished with a false/empty top stack element".into();
        }
        if items.is_empty() {
            return STACK.into();
        }
        "Signature must be zero for failed CHECK(MULTI)SIG operation".into()
    }
}

/// Which signature `create_sig` makes: input `i`, under sighash version `sv` and type `ht`.
#[derive(Clone, Copy)]
struct SigAt {
    i: usize,
    sv: SigVersion,
    ht: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, OutPoint, Sequence, TxIn};

    fn rng(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    fn bytes(state: &mut u64, max: u64) -> Vec<u8> {
        let n = rng(state) % (max + 1);
        (0..n).map(|_| rng(state) as u8).collect()
    }

    /// Garbage in scriptSigs and witnesses, against every output kind, never panics and never
    /// counts as signed.
    #[test]
    fn hostile_inputs_do_not_panic() {
        let secp = Secp256k1::new();
        let sk = SecretKey::from_slice(&[3; 32]).unwrap();
        let pk = PublicKey::new(sk.public_key(&secp));
        let cpk = bitcoin::CompressedPublicKey(sk.public_key(&secp));
        let ms = Builder::new()
            .push_int(1)
            .push_slice(cpk.to_bytes())
            .push_int(1)
            .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
            .into_script();
        let spks = [
            ScriptBuf::new_p2pkh(&pk.pubkey_hash()),
            ScriptBuf::new_p2wpkh(&cpk.wpubkey_hash()),
            ScriptBuf::new_p2sh(&ScriptBuf::new_p2wpkh(&cpk.wpubkey_hash()).script_hash()),
            ScriptBuf::new_p2wsh(&ms.wscript_hash()),
            ScriptBuf::new_p2sh(&ms.script_hash()),
            ScriptBuf::new_p2tr(&secp, cpk.0.x_only_public_key().0, None),
            ms.clone(),
            ScriptBuf::from_bytes(vec![0x6a]),
        ];
        let mut p = Provider::default();
        p.add_key(pk, sk);
        p.add_script(ms.clone());
        let mut state = 0x1234_5678_9abc_def1u64;
        for round in 0..400 {
            let spk = spks[round % spks.len()].clone();
            let mut witness = Witness::new();
            for _ in 0..rng(&mut state) % 4 {
                witness.push(bytes(&mut state, 80));
            }
            let tx = Transaction {
                version: Version::TWO,
                lock_time: LockTime::ZERO,
                input: vec![TxIn {
                    previous_output: OutPoint::null(),
                    script_sig: ScriptBuf::from_bytes(bytes(&mut state, 120)),
                    sequence: Sequence::MAX,
                    witness,
                }],
                output: vec![TxOut {
                    value: Amount::from_sat(1000),
                    script_pubkey: ScriptBuf::new(),
                }],
            };
            let spent = vec![Some(TxOut {
                value: Amount::from_sat(5000),
                script_pubkey: spk,
            })];
            let s = Signing { tx: &tx, spent: &spent };
            let mut d = s.extract(&tx, 0);
            assert!(d.complete.is_none(), "garbage never verifies");
            let _ = s.failure_reason(&tx, 0);
            // Signing with the right key over the garbage still yields a valid input.
            let ht = [0u32, 1, 2, 3, 0x81, 0x83][round % 6];
            let (ss, w) = s.produce(0, &p, &mut d, &tx.input[0].witness, ht);
            let mut signed = tx.clone();
            signed.input[0].script_sig = ss;
            signed.input[0].witness = w;
            let ok = Signing {
                tx: &signed,
                spent: &spent,
            }
            .input_verifies(&signed, 0);
            assert_eq!(ok, round % spks.len() != 7, "round {round}");
            // Out-of-range input index and unknown prevouts are errors, not panics.
            let _ = s.extract(&tx, 5);
            let _ = s.failure_reason(&tx, 5);
            let none = vec![None];
            let _ = Signing { tx: &tx, spent: &none }.produce(0, &p, &mut SigData::default(), &Witness::new(), ht);
        }
    }
}

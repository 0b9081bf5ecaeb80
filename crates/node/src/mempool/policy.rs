//! Standardness (Bitcoin Core's policy.cpp): output and input script types, dust, sizes, and the
//! policy script rules that can be checked without running the interpreter (push-only and
//! minimal-push scriptSigs, strict-DER low-S signatures in standard templates, no spends of
//! upgradable witness programs, standard witness sizes).
//!
//! The script interpreter (libbitcoinkernel) only takes consensus flags, so Core's other policy flags (NULLFAIL,
//! MINIMALIF, CONST_SCRIPTCODE, DISCOURAGE_UPGRADABLE_NOPS, ...) are not enforced; the list is in
//! docs/rpc-differences.md.

use super::entry::fee_at;
use crate::validation::Reject;
use bitcoin::{Transaction, TxOut};

/// Largest standard transaction weight.
pub const MAX_STANDARD_TX_WEIGHT: u64 = Transaction::MAX_STANDARD_WEIGHT.to_wu();
/// Smallest standard serialized size without witness (CVE-2017-12842).
pub const MIN_STANDARD_TX_NONWITNESS_SIZE: usize = 65;
/// Largest standard scriptSig.
pub const MAX_STANDARD_SCRIPTSIG_SIZE: usize = 1650;
/// Most sigops a P2SH redeem script may have.
pub const MAX_P2SH_SIGOPS: usize = 15;
/// Most sigop cost a standard transaction may have.
pub const MAX_STANDARD_TX_SIGOPS_COST: u64 = crate::validation::sigops::MAX_BLOCK_SIGOPS_COST / 5;
/// P2WSH: most stack items besides the witness script.
pub const MAX_STANDARD_P2WSH_STACK_ITEMS: usize = 100;
/// P2WSH: largest stack item.
pub const MAX_STANDARD_P2WSH_STACK_ITEM_SIZE: usize = 80;
/// P2WSH: largest witness script.
pub const MAX_STANDARD_P2WSH_SCRIPT_SIZE: usize = 3600;
/// Tapscript: largest stack item.
pub const MAX_STANDARD_TAPSCRIPT_STACK_ITEM_SIZE: usize = 80;
/// Highest standard transaction version (TRUC).
pub const TX_MAX_STANDARD_VERSION: i32 = 3;
/// Dust outputs a transaction may carry (ephemeral dust; the transaction must then pay no fee).
pub const MAX_DUST_OUTPUTS_PER_TX: usize = 1;

/// Output script classes, as Core's `Solver`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptType {
    /// Anything else.
    NonStandard,
    /// `<pubkey> OP_CHECKSIG`.
    PubKey(Vec<u8>),
    /// `OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG`.
    PubKeyHash,
    /// `OP_HASH160 <20> OP_EQUAL`.
    ScriptHash,
    /// `m <pubkeys> n OP_CHECKMULTISIG`.
    Multisig {
        /// Required signatures.
        m: u8,
        /// Keys.
        n: u8,
    },
    /// `OP_RETURN` followed by pushes only.
    NullData,
    /// Witness v0, 20-byte program.
    WitnessV0KeyHash,
    /// Witness v0, 32-byte program.
    WitnessV0ScriptHash,
    /// Witness v1, 32-byte program.
    WitnessV1Taproot,
    /// Pay-to-anchor `OP_1 <0x4e73>`.
    Anchor,
    /// A witness program of a version/length with no meaning yet.
    WitnessUnknown,
}

impl ScriptType {
    /// Core's type name (as in `decodescript`/`getrawtransaction` JSON).
    pub fn name(&self) -> &'static str {
        match self {
            ScriptType::NonStandard => "nonstandard",
            ScriptType::PubKey(_) => "pubkey",
            ScriptType::PubKeyHash => "pubkeyhash",
            ScriptType::ScriptHash => "scripthash",
            ScriptType::Multisig { .. } => "multisig",
            ScriptType::NullData => "nulldata",
            ScriptType::WitnessV0KeyHash => "witness_v0_keyhash",
            ScriptType::WitnessV0ScriptHash => "witness_v0_scripthash",
            ScriptType::WitnessV1Taproot => "witness_v1_taproot",
            ScriptType::Anchor => "anchor",
            ScriptType::WitnessUnknown => "witness_unknown",
        }
    }
}

/// One script operation: the opcode byte and, for pushes, the data.
#[derive(Debug, Clone, Copy)]
pub struct Op<'a> {
    /// Opcode byte.
    pub opcode: u8,
    /// Pushed data (for opcodes 0x00..=0x4e).
    pub data: Option<&'a [u8]>,
}

/// Splits a script into operations; None when a push runs past the end.
pub fn parse_ops(script: &[u8]) -> Option<Vec<Op<'_>>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < script.len() {
        let op = script[i];
        i += 1;
        let len = match op {
            0x01..=0x4b => op as usize,
            0x4c => {
                let l = *script.get(i)? as usize;
                i += 1;
                l
            }
            0x4d => {
                let b = script.get(i..i + 2)?;
                i += 2;
                u16::from_le_bytes([b[0], b[1]]) as usize
            }
            0x4e => {
                let b = script.get(i..i + 4)?;
                i += 4;
                u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
            }
            _ => {
                out.push(Op {
                    opcode: op,
                    data: if op == 0 { Some(&[]) } else { None },
                });
                continue;
            }
        };
        let data = script.get(i..i.checked_add(len)?)?;
        i += len;
        out.push(Op {
            opcode: op,
            data: Some(data),
        });
    }
    Some(out)
}

/// Core's IsPushOnly: every operation is a push or OP_1NEGATE/OP_RESERVED/OP_1..OP_16.
pub fn is_push_only(script: &[u8]) -> bool {
    match parse_ops(script) {
        Some(ops) => ops.iter().all(|o| o.opcode <= 0x60),
        None => false,
    }
}

/// Core's CheckMinimalPush for one push operation.
pub fn is_minimal_push(op: &Op<'_>) -> bool {
    let Some(data) = op.data else { return true };
    let len = data.len();
    if len == 0 {
        return op.opcode == 0x00;
    }
    if len == 1 && (1..=16).contains(&data[0]) {
        return false; // should be OP_1..OP_16
    }
    if len == 1 && data[0] == 0x81 {
        return false; // should be OP_1NEGATE
    }
    if len <= 75 {
        return op.opcode as usize == len;
    }
    if len <= 255 {
        return op.opcode == 0x4c;
    }
    if len <= 65535 {
        return op.opcode == 0x4d;
    }
    true
}

/// The stack a push-only script leaves (None when it is not push-only or fails to parse).
pub fn push_stack(script: &[u8]) -> Option<Vec<Vec<u8>>> {
    let ops = parse_ops(script)?;
    let mut stack = Vec::with_capacity(ops.len());
    for o in ops {
        match (o.opcode, o.data) {
            (_, Some(d)) => stack.push(d.to_vec()),
            (0x4f, None) => stack.push(vec![0x81]),
            (0x51..=0x60, None) => stack.push(vec![o.opcode - 0x50]),
            _ => return None, // OP_RESERVED fails evaluation; anything else is not a push
        }
    }
    Some(stack)
}

fn pubkey_valid_size(k: &[u8]) -> bool {
    let expected = match k.first() {
        Some(2) | Some(3) => 33,
        Some(4) | Some(6) | Some(7) => 65,
        _ => return false,
    };
    k.len() == expected
}

fn small_int(op: &Op<'_>, min: i64, max: i64) -> Option<u8> {
    let n = match (op.opcode, op.data) {
        (0x51..=0x60, None) => i64::from(op.opcode - 0x50),
        (_, Some(d)) if !d.is_empty() && d.len() <= 4 && is_minimal_push(op) => {
            if d[d.len() - 1] & 0x7f == 0 && (d.len() == 1 || d[d.len() - 2] & 0x80 == 0) {
                return None; // not minimally encoded as a number
            }
            let mut v: i64 = 0;
            for (i, b) in d.iter().enumerate() {
                v |= i64::from(*b) << (8 * i);
            }
            if d[d.len() - 1] & 0x80 != 0 {
                -(v & !(0x80i64 << (8 * (d.len() - 1))))
            } else {
                v
            }
        }
        _ => return None,
    };
    (min..=max).contains(&n).then_some(n as u8)
}

/// Witness version and program, if `spk` is a witness program (Core's IsWitnessProgram).
pub fn witness_program(spk: &[u8]) -> Option<(u8, &[u8])> {
    if spk.len() < 4 || spk.len() > 42 {
        return None;
    }
    let v = match spk[0] {
        0x00 => 0,
        0x51..=0x60 => spk[0] - 0x50,
        _ => return None,
    };
    (spk[1] as usize + 2 == spk.len()).then(|| (v, &spk[2..]))
}

/// Core's Solver: the class of an output script.
pub fn solve(spk: &[u8]) -> ScriptType {
    if spk.len() == 23 && spk[0] == 0xa9 && spk[1] == 0x14 && spk[22] == 0x87 {
        return ScriptType::ScriptHash;
    }
    if let Some((v, prog)) = witness_program(spk) {
        return match (v, prog.len()) {
            (0, 20) => ScriptType::WitnessV0KeyHash,
            (0, 32) => ScriptType::WitnessV0ScriptHash,
            (1, 32) => ScriptType::WitnessV1Taproot,
            (1, 2) if prog == [0x4e, 0x73] => ScriptType::Anchor,
            (0, _) => ScriptType::NonStandard,
            _ => ScriptType::WitnessUnknown,
        };
    }
    if spk.first() == Some(&0x6a) && is_push_only(&spk[1..]) {
        return ScriptType::NullData;
    }
    for size in [65usize, 33] {
        if spk.len() == size + 2 && spk[0] as usize == size && spk[size + 1] == 0xac && pubkey_valid_size(&spk[1..=size]) {
            return ScriptType::PubKey(spk[1..=size].to_vec());
        }
    }
    if spk.len() == 25 && spk[0] == 0x76 && spk[1] == 0xa9 && spk[2] == 0x14 && spk[23] == 0x88 && spk[24] == 0xac {
        return ScriptType::PubKeyHash;
    }
    if spk.last() == Some(&0xae) {
        if let Some(ops) = parse_ops(spk) {
            if ops.len() >= 3 {
                if let Some(m) = small_int(&ops[0], 1, 20) {
                    let keys: Vec<&Op<'_>> = ops[1..ops.len() - 2].iter().collect();
                    let n_op = &ops[ops.len() - 2];
                    if keys.iter().all(|k| k.data.map(pubkey_valid_size).unwrap_or(false)) {
                        if let Some(n) = small_int(n_op, i64::from(m), 20) {
                            if keys.len() == n as usize {
                                return ScriptType::Multisig { m, n };
                            }
                        }
                    }
                }
            }
        }
    }
    ScriptType::NonStandard
}

/// Core's IsUnspendable: OP_RETURN first, or larger than the script size limit.
pub fn is_unspendable(spk: &[u8]) -> bool {
    spk.first() == Some(&0x6a) || spk.len() > 10_000
}

/// Core's GetDustThreshold at `dust_relay_fee` sat/kvB.
pub fn dust_threshold(out: &TxOut, dust_relay_fee: u64) -> u64 {
    let spk = out.script_pubkey.as_bytes();
    if is_unspendable(spk) {
        return 0;
    }
    let mut size = 8 + bitcoin::VarInt(spk.len() as u64).size() as u64 + spk.len() as u64;
    size += if witness_program(spk).is_some() {
        32 + 4 + 1 + 107 / 4 + 4
    } else {
        32 + 4 + 1 + 107 + 4
    };
    fee_at(dust_relay_fee, size)
}

/// Indices of outputs below their dust threshold.
pub fn dust_outputs(tx: &Transaction, dust_relay_fee: u64) -> Vec<usize> {
    tx.output
        .iter()
        .enumerate()
        .filter(|(_, o)| o.value.to_sat() < dust_threshold(o, dust_relay_fee))
        .map(|(i, _)| i)
        .collect()
}

/// Knobs of the standardness rules.
#[derive(Debug, Clone)]
pub struct PolicyRules {
    /// Dust relay fee in sat/kvB.
    pub dust_relay_fee: u64,
    /// Total OP_RETURN script bytes allowed (None: data carrier outputs are non-standard).
    pub max_datacarrier_bytes: Option<u32>,
    /// Whether bare multisig outputs are standard.
    pub permit_bare_multisig: bool,
}

/// Core's IsStandardTx: version, weight, scriptSig size and push-only, output types, data
/// carrier budget, dust.
pub fn check_standard_tx(tx: &Transaction, rules: &PolicyRules) -> Result<(), Reject> {
    let v = tx.version.0;
    if !(1..=TX_MAX_STANDARD_VERSION).contains(&v) {
        return Err(Reject::new("version", ""));
    }
    if tx.weight().to_wu() > MAX_STANDARD_TX_WEIGHT {
        return Err(Reject::new("tx-size", ""));
    }
    for input in &tx.input {
        if input.script_sig.len() > MAX_STANDARD_SCRIPTSIG_SIZE {
            return Err(Reject::new("scriptsig-size", ""));
        }
        if !is_push_only(input.script_sig.as_bytes()) {
            return Err(Reject::new("scriptsig-not-pushonly", ""));
        }
    }
    let mut datacarrier_left = rules.max_datacarrier_bytes.unwrap_or(0) as usize;
    for out in &tx.output {
        let spk = out.script_pubkey.as_bytes();
        let t = solve(spk);
        match t {
            ScriptType::NonStandard => return Err(Reject::new("scriptpubkey", "")),
            ScriptType::Multisig { m, n } if !(1..=3).contains(&n) || m < 1 || m > n => return Err(Reject::new("scriptpubkey", "")),
            ScriptType::NullData => {
                if spk.len() > datacarrier_left {
                    return Err(Reject::new("datacarrier", ""));
                }
                datacarrier_left -= spk.len();
            }
            ScriptType::Multisig { .. } if !rules.permit_bare_multisig => return Err(Reject::new("bare-multisig", "")),
            _ => {}
        }
    }
    if dust_outputs(tx, rules.dust_relay_fee).len() > MAX_DUST_OUTPUTS_PER_TX {
        return Err(Reject::new("dust", ""));
    }
    Ok(())
}

fn nonstandard_input(i: usize, why: &str) -> Reject {
    Reject::new("bad-txns-nonstandard-inputs", format!("input {i}: {why}"))
}

/// Core's AreInputsStandard: no spends of non-standard or unknown-witness outputs, and P2SH
/// redeem scripts with at most 15 sigops.
pub fn check_inputs_standard(tx: &Transaction, spent: &[TxOut]) -> Result<(), Reject> {
    for (i, (input, prev)) in tx.input.iter().zip(spent).enumerate() {
        match solve(prev.script_pubkey.as_bytes()) {
            ScriptType::NonStandard => return Err(nonstandard_input(i, "script type nonstandard")),
            ScriptType::WitnessUnknown => return Err(nonstandard_input(i, "spends an upgradable witness program")),
            ScriptType::ScriptHash => {
                let Some(stack) = push_stack(input.script_sig.as_bytes()) else {
                    return Err(nonstandard_input(i, "scriptSig does not evaluate"));
                };
                let Some(redeem) = stack.last() else {
                    return Err(nonstandard_input(i, "empty P2SH scriptSig"));
                };
                if bitcoin::Script::from_bytes(redeem).count_sigops() > MAX_P2SH_SIGOPS {
                    return Err(nonstandard_input(i, "p2sh redeemscript sigops exceed limit"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Core's SpendsNonAnchorWitnessProg: whether an input spends a witness program other than
/// pay-to-anchor, directly or as a P2SH redeem script. A transaction without witnesses that does
/// and fails its scripts may be a valid one stripped of its witnesses (Core's
/// TX_WITNESS_STRIPPED), so its id must not be remembered as rejected.
pub fn spends_non_anchor_witness_program(tx: &Transaction, spent: &[TxOut]) -> bool {
    tx.input.iter().zip(spent).any(|(input, prev)| {
        let spk = prev.script_pubkey.as_bytes();
        if witness_program(spk).is_some() {
            return solve(spk) != ScriptType::Anchor;
        }
        if solve(spk) != ScriptType::ScriptHash {
            return false;
        }
        let redeem = push_stack(input.script_sig.as_bytes()).and_then(|mut stack| stack.pop());
        redeem.is_some_and(|r| witness_program(&r).is_some())
    })
}

/// Core's IsWitnessStandard: P2WSH and tapscript size limits, no annex, no witness stuffing on
/// P2A or non-witness spends.
pub fn is_witness_standard(tx: &Transaction, spent: &[TxOut]) -> bool {
    for (input, prev) in tx.input.iter().zip(spent) {
        if input.witness.is_empty() {
            continue;
        }
        let mut spk = prev.script_pubkey.to_bytes();
        if solve(&spk) == ScriptType::Anchor {
            return false;
        }
        let mut p2sh = false;
        if solve(&spk) == ScriptType::ScriptHash {
            let Some(stack) = push_stack(input.script_sig.as_bytes()) else {
                return false;
            };
            let Some(redeem) = stack.last() else { return false };
            spk = redeem.clone();
            p2sh = true;
        }
        let Some((version, program)) = witness_program(&spk) else {
            return false;
        };
        let items: Vec<&[u8]> = input.witness.iter().collect();
        if version == 0 && program.len() == 32 {
            let Some((script, rest)) = items.split_last() else { return false };
            if script.len() > MAX_STANDARD_P2WSH_SCRIPT_SIZE || rest.len() > MAX_STANDARD_P2WSH_STACK_ITEMS {
                return false;
            }
            if rest.iter().any(|x| x.len() > MAX_STANDARD_P2WSH_STACK_ITEM_SIZE) {
                return false;
            }
        }
        if version == 1 && program.len() == 32 && !p2sh {
            let mut stack = items.as_slice();
            if stack.len() >= 2 && stack.last().map(|a| a.first() == Some(&0x50)).unwrap_or(false) {
                return false; // annex
            }
            if stack.len() >= 2 {
                let control = stack[stack.len() - 1];
                stack = &stack[..stack.len() - 2];
                if control.is_empty() {
                    return false;
                }
                if control[0] & 0xfe == 0xc0 && stack.iter().any(|x| x.len() > MAX_STANDARD_TAPSCRIPT_STACK_ITEM_SIZE) {
                    return false;
                }
            } else if stack.is_empty() {
                return false;
            }
        }
    }
    true
}

const SECP256K1_HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4,
    0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

/// Core's IsValidSignatureEncoding (BIP66 strict DER, including the trailing hashtype byte).
pub fn is_strict_der(sig: &[u8]) -> bool {
    let n = sig.len();
    if !(9..=73).contains(&n) || sig[0] != 0x30 || sig[1] as usize != n - 3 {
        return false;
    }
    let len_r = sig[3] as usize;
    if 5 + len_r >= n {
        return false;
    }
    let len_s = sig[5 + len_r] as usize;
    if len_r + len_s + 7 != n || sig[2] != 0x02 || len_r == 0 || sig[4] & 0x80 != 0 {
        return false;
    }
    if len_r > 1 && sig[4] == 0 && sig[5] & 0x80 == 0 {
        return false;
    }
    if sig[len_r + 4] != 0x02 || len_s == 0 || sig[len_r + 6] & 0x80 != 0 {
        return false;
    }
    !(len_s > 1 && sig[len_r + 6] == 0 && sig[len_r + 7] & 0x80 == 0)
}

/// Whether a strict-DER signature has S at most half the curve order (BIP62 low S).
pub fn is_low_s(sig: &[u8]) -> bool {
    let len_r = sig[3] as usize;
    let len_s = sig[5 + len_r] as usize;
    let s = &sig[6 + len_r..6 + len_r + len_s];
    let s: Vec<u8> = s.iter().copied().skip_while(|b| *b == 0).collect();
    if s.len() > 32 {
        return false;
    }
    let mut padded = [0u8; 32];
    padded[32 - s.len()..].copy_from_slice(&s);
    padded <= SECP256K1_HALF_ORDER
}

/// Core's CheckSignatureEncoding with STRICTENC|DERSIG|LOW_S, returning the script error text.
pub fn check_signature_encoding(sig: &[u8]) -> Result<(), &'static str> {
    if sig.is_empty() {
        return Ok(());
    }
    if !is_strict_der(sig) {
        return Err("Non-canonical DER signature");
    }
    if !is_low_s(sig) {
        return Err("Non-canonical signature: S value is unnecessarily high");
    }
    let ht = sig[sig.len() - 1] & !0x80;
    if !(1..=3).contains(&ht) {
        return Err("Signature hash type missing or not understood");
    }
    Ok(())
}

fn check_pubkey(pk: &[u8], witness_v0: bool) -> Result<(), &'static str> {
    let compressed = pk.len() == 33 && (pk[0] == 2 || pk[0] == 3);
    let uncompressed = pk.len() == 65 && pk[0] == 4;
    if !compressed && !uncompressed {
        return Err("Public key is neither compressed or uncompressed");
    }
    if witness_v0 && !compressed {
        return Err("Using non-compressed keys in segwit");
    }
    Ok(())
}

/// Signature/pubkey encoding and clean-stack checks of `script` run on `stack`, for the
/// standard templates (P2PK, P2PKH, multisig). Other scripts are left to the interpreter.
fn check_template(script: &[u8], stack: &[Vec<u8>], witness_v0: bool) -> Result<(), &'static str> {
    match solve(script) {
        ScriptType::PubKey(pk) => {
            if let Some(sig) = stack.first() {
                check_signature_encoding(sig)?;
                check_pubkey(&pk, witness_v0)?;
            }
            if !witness_v0 && stack.len() != 1 {
                return Err("Stack size must be exactly one after execution");
            }
        }
        ScriptType::PubKeyHash => {
            if stack.len() >= 2 {
                check_signature_encoding(&stack[0])?;
                check_pubkey(&stack[1], witness_v0)?;
            }
            if !witness_v0 && stack.len() != 2 {
                return Err("Stack size must be exactly one after execution");
            }
        }
        ScriptType::Multisig { m, .. } => {
            for sig in stack.iter().skip(1) {
                check_signature_encoding(sig)?;
            }
            if !witness_v0 && stack.len() != m as usize + 1 {
                return Err("Stack size must be exactly one after execution");
            }
        }
        _ => {}
    }
    Ok(())
}

fn is_op_success(op: u8) -> bool {
    matches!(op, 80 | 98 | 126..=129 | 131..=134 | 137..=138 | 141..=142 | 149..=153 | 187..=254)
}

fn check_witness_program(version: u8, program: &[u8], witness: &[Vec<u8>], p2sh: bool) -> Result<(), &'static str> {
    match (version, program.len()) {
        (0, 20) => {
            if witness.len() == 2 {
                check_signature_encoding(&witness[0])?;
                check_pubkey(&witness[1], true)?;
            }
        }
        (0, 32) => {
            if let Some((script, rest)) = witness.split_last() {
                check_template(script, rest, true)?;
            }
        }
        (1, 32) if !p2sh => {
            let mut stack = witness;
            if stack.len() >= 2 && stack.last().map(|a| a.first() == Some(&0x50)).unwrap_or(false) {
                stack = &stack[..stack.len() - 1];
            }
            if stack.len() >= 2 {
                let control = &stack[stack.len() - 1];
                let script = &stack[stack.len() - 2];
                if control.first().map(|c| c & 0xfe) != Some(0xc0) {
                    return Err("Taproot version reserved for soft-fork upgrades");
                }
                if let Some(ops) = parse_ops(script) {
                    if ops.iter().any(|o| o.data.is_none() && is_op_success(o.opcode)) {
                        return Err("OP_SUCCESSx reserved for soft-fork upgrades");
                    }
                }
            }
        }
        (1, 2) if !p2sh && program == [0x4e, 0x73] => {}
        (0, _) => {}
        _ => return Err("Witness version reserved for soft-fork upgrades"),
    }
    Ok(())
}

/// The policy script rules that need no interpreter, for input `index` spending `prev`.
/// Returns Core's script error text on failure.
pub fn check_input_script_policy(tx: &Transaction, index: usize, prev: &TxOut) -> Result<(), &'static str> {
    let input = &tx.input[index];
    let sig_ops = parse_ops(input.script_sig.as_bytes()).ok_or("Only push operators allowed in signatures")?;
    if !sig_ops.iter().all(is_minimal_push) {
        return Err("Data push larger than necessary");
    }
    let stack = push_stack(input.script_sig.as_bytes()).ok_or("Only push operators allowed in signatures")?;
    let witness: Vec<Vec<u8>> = input.witness.iter().map(|w| w.to_vec()).collect();
    let spk = prev.script_pubkey.as_bytes();
    match solve(spk) {
        ScriptType::ScriptHash => {
            if let Some((redeem, inner)) = stack.split_last() {
                match witness_program(redeem) {
                    Some((v, prog)) => check_witness_program(v, prog, &witness, true)?,
                    None => check_template(redeem, inner, false)?,
                }
            }
        }
        ScriptType::PubKey(_) | ScriptType::PubKeyHash | ScriptType::Multisig { .. } => check_template(spk, &stack, false)?,
        _ => {
            if let Some((v, prog)) = witness_program(spk) {
                check_witness_program(v, prog, &witness, false)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solver_classifies_standard_templates() {
        assert_eq!(solve(&[0x51]), ScriptType::NonStandard);
        assert_eq!(solve(&bitcoin::ScriptBuf::new_p2a().to_bytes()), ScriptType::Anchor);
        let mut ms = vec![0x51, 33];
        ms.extend_from_slice(&[2u8; 33]);
        ms.extend_from_slice(&[0x51, 0xae]);
        assert_eq!(solve(&ms), ScriptType::Multisig { m: 1, n: 1 });
        assert_eq!(solve(&[0x6a, 0x01, 0xff]), ScriptType::NullData);
        assert_eq!(solve(&[0x52, 0x02, 0xab, 0xcd]), ScriptType::WitnessUnknown);
        assert_eq!(solve(&[0x00, 0x03, 1, 2, 3]), ScriptType::NonStandard);
    }

    /// Core's SpendsNonAnchorWitnessProg: witness programs of any version, directly or as a
    /// P2SH redeem script, but not pay-to-anchor and not other scripts.
    #[test]
    fn spends_of_witness_programs_are_told_apart() {
        use bitcoin::{OutPoint, ScriptBuf, Transaction, TxIn};
        let op_true = ScriptBuf::from_bytes(vec![0x51]);
        let p2wsh = ScriptBuf::new_p2wsh(&op_true.wscript_hash());
        let spending = |spk: ScriptBuf, script_sig: ScriptBuf| {
            let tx = Transaction {
                version: bitcoin::transaction::Version::TWO,
                lock_time: bitcoin::absolute::LockTime::ZERO,
                input: vec![TxIn {
                    previous_output: OutPoint::null(),
                    script_sig,
                    ..Default::default()
                }],
                output: vec![],
            };
            spends_non_anchor_witness_program(
                &tx,
                &[TxOut {
                    value: bitcoin::Amount::ZERO,
                    script_pubkey: spk,
                }],
            )
        };
        let push = |script: &ScriptBuf| {
            let bytes = bitcoin::script::PushBytesBuf::try_from(script.to_bytes()).unwrap();
            bitcoin::script::Builder::new().push_slice(bytes).into_script()
        };
        assert!(spending(p2wsh.clone(), ScriptBuf::new()));
        assert!(spending(ScriptBuf::from_bytes(vec![0x52, 0x02, 0xab, 0xcd]), ScriptBuf::new()));
        assert!(!spending(ScriptBuf::new_p2a(), ScriptBuf::new()));
        assert!(!spending(op_true.clone(), ScriptBuf::new()));
        assert!(spending(ScriptBuf::new_p2sh(&p2wsh.script_hash()), push(&p2wsh)));
        assert!(!spending(ScriptBuf::new_p2sh(&op_true.script_hash()), push(&op_true)));
        // A scriptSig that is not push-only yields no redeem script.
        assert!(!spending(
            ScriptBuf::new_p2sh(&p2wsh.script_hash()),
            ScriptBuf::from_bytes(vec![0x61])
        ));
    }

    #[test]
    fn dust_thresholds_match_core() {
        let out = |spk: Vec<u8>| TxOut {
            value: bitcoin::Amount::ZERO,
            script_pubkey: bitcoin::ScriptBuf::from_bytes(spk),
        };
        let mut p2pkh = vec![0x76, 0xa9, 0x14];
        p2pkh.extend_from_slice(&[0; 20]);
        p2pkh.extend_from_slice(&[0x88, 0xac]);
        assert_eq!(dust_threshold(&out(p2pkh), 3000), 546);
        let mut p2wpkh = vec![0x00, 0x14];
        p2wpkh.extend_from_slice(&[0; 20]);
        assert_eq!(dust_threshold(&out(p2wpkh), 3000), 294);
        let mut p2tr = vec![0x51, 0x20];
        p2tr.extend_from_slice(&[0; 32]);
        assert_eq!(dust_threshold(&out(p2tr), 3000), 330);
        assert_eq!(dust_threshold(&out(bitcoin::ScriptBuf::new_p2a().to_bytes()), 3000), 240);
        assert_eq!(dust_threshold(&out(vec![0x6a]), 3000), 0);
    }

    #[test]
    fn minimal_push_and_low_s() {
        assert!(!is_minimal_push(&Op {
            opcode: 0x4c,
            data: Some(&[7u8; 10])
        }));
        assert!(is_minimal_push(&Op {
            opcode: 10,
            data: Some(&[7u8; 10])
        }));
        assert!(!is_minimal_push(&Op {
            opcode: 1,
            data: Some(&[5])
        }));
        // r = 1, s = n - 1 (high), hashtype ALL.
        let mut high = vec![0x30, 0x26, 0x02, 0x01, 0x01, 0x02, 0x21, 0x00];
        high.extend_from_slice(&[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf,
            0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x40,
        ]);
        high.push(0x01);
        assert!(is_strict_der(&high));
        assert_eq!(
            check_signature_encoding(&high),
            Err("Non-canonical signature: S value is unnecessarily high")
        );
        let low = vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x01];
        assert_eq!(check_signature_encoding(&low), Ok(()));
        let bad_ht = vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x05];
        assert_eq!(
            check_signature_encoding(&bad_ht),
            Err("Signature hash type missing or not understood")
        );
    }
}

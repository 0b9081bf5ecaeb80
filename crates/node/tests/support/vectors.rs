//! Test-only re-implementations of the pieces of Bitcoin Core's test harness that the Core
//! vector files (`script_tests.json`, `tx_valid.json`, `tx_invalid.json`, `sighash.json`) rely
//! on: `ParseScript` (core_read.cpp), `ParseScriptFlags`/`TrimFlags`/`FillFlags`
//! (transaction_tests.cpp), `BuildCreditingTransaction`/`BuildSpendingTransaction`
//! (test/util/transaction_utils.cpp), the tapscript templating of script_tests.cpp, and the
//! scriptCode serialization of `CTransactionSignatureSerializer` (interpreter.cpp).

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::hex::FromHex;
use bitcoin::secp256k1::{Keypair, Secp256k1};
use bitcoin::taproot::{LeafVersion, TaprootBuilder, TaprootSpendInfo};
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness, XOnlyPublicKey};
use blvm_node::validation::scripts as bc;

// ---------------------------------------------------------------------------------------------
// Script verification flags
// ---------------------------------------------------------------------------------------------

/// Core's `SCRIPT_VERIFY_*` names and bit values (script/interpreter.h; `mapFlagNames` in
/// test/transaction_tests.cpp). The consensus ones are taken from the interpreter's own constants so
/// a disagreement between the two numberings cannot go unnoticed (see `flag_table_is_consistent`).
pub const FLAG_NAMES: &[(&str, u32)] = &[
    ("P2SH", bc::VERIFY_P2SH),
    ("STRICTENC", 1 << 1),
    ("DERSIG", bc::VERIFY_DERSIG),
    ("LOW_S", 1 << 3),
    ("NULLDUMMY", bc::VERIFY_NULLDUMMY),
    ("SIGPUSHONLY", 1 << 5),
    ("MINIMALDATA", 1 << 6),
    ("DISCOURAGE_UPGRADABLE_NOPS", 1 << 7),
    ("CLEANSTACK", 1 << 8),
    ("CHECKLOCKTIMEVERIFY", bc::VERIFY_CHECKLOCKTIMEVERIFY),
    ("CHECKSEQUENCEVERIFY", bc::VERIFY_CHECKSEQUENCEVERIFY),
    ("WITNESS", bc::VERIFY_WITNESS),
    ("DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM", 1 << 12),
    ("MINIMALIF", 1 << 13),
    ("NULLFAIL", 1 << 14),
    ("WITNESS_PUBKEYTYPE", 1 << 15),
    ("CONST_SCRIPTCODE", 1 << 16),
    ("TAPROOT", bc::VERIFY_TAPROOT),
    ("DISCOURAGE_UPGRADABLE_TAPROOT_VERSION", 1 << 18),
    ("DISCOURAGE_OP_SUCCESS", 1 << 19),
    ("DISCOURAGE_UPGRADABLE_PUBKEYTYPE", 1 << 20),
];

/// `SCRIPT_VERIFY_P2SH`.
pub const P2SH: u32 = bc::VERIFY_P2SH;
/// `SCRIPT_VERIFY_WITNESS`.
pub const WITNESS: u32 = bc::VERIFY_WITNESS;
/// `SCRIPT_VERIFY_CLEANSTACK`.
pub const CLEANSTACK: u32 = 1 << 8;

/// The flags the interpreter (libbitcoinkernel) accepts (`btck_ScriptVerificationFlags_ALL`):
/// P2SH, DERSIG, NULLDUMMY, CHECKLOCKTIMEVERIFY, CHECKSEQUENCEVERIFY, WITNESS, TAPROOT.
pub const CONSENSUS_FLAGS: u32 = bc::VERIFY_ALL;

/// Every flag Core's tests know (the complement base for tx_valid's "excluded" lists).
pub fn all_flags() -> u32 {
    FLAG_NAMES.iter().fold(0, |acc, (_, v)| acc | v)
}

/// Core's `ParseScriptFlags`: comma-separated names, "" and "NONE" mean no flags.
/// Unknown names panic (a vector we do not understand must not be silently reinterpreted).
pub fn parse_flags(s: &str) -> u32 {
    if s.is_empty() || s == "NONE" {
        return 0;
    }
    s.split(',').fold(0, |acc, name| {
        let bit = FLAG_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("unknown script flag {name:?} in {s:?}"));
        acc | bit
    })
}

/// Names of the flags set in `flags`, for messages.
pub fn flag_names(flags: u32) -> String {
    let v: Vec<&str> = FLAG_NAMES.iter().filter(|(_, b)| flags & b != 0).map(|(n, _)| *n).collect();
    if v.is_empty() {
        "NONE".into()
    } else {
        v.join(",")
    }
}

/// Core's `IsValidFlagCombination`: CLEANSTACK needs P2SH+WITNESS, WITNESS needs P2SH
/// (otherwise Core's `VerifyScript` asserts).
pub fn is_valid_combination(flags: u32) -> bool {
    if flags & CLEANSTACK != 0 && (flags & (P2SH | WITNESS)) != (P2SH | WITNESS) {
        return false;
    }
    if flags & WITNESS != 0 && flags & P2SH == 0 {
        return false;
    }
    true
}

/// Core's `TrimFlags`: drop flags whose prerequisites are missing.
pub fn trim_flags(mut flags: u32) -> u32 {
    if flags & P2SH == 0 {
        flags &= !WITNESS;
    }
    if flags & WITNESS == 0 {
        flags &= !CLEANSTACK;
    }
    assert!(is_valid_combination(flags));
    flags
}

/// Core's `FillFlags`: add the prerequisites of the flags present.
pub fn fill_flags(mut flags: u32) -> u32 {
    if flags & CLEANSTACK != 0 {
        flags |= WITNESS;
    }
    if flags & WITNESS != 0 {
        flags |= P2SH;
    }
    flags
}

/// Each single consensus flag (the iteration set for the consensus-restricted versions of
/// Core's "add/remove one flag" loops).
pub fn consensus_flag_bits() -> Vec<u32> {
    (0..32).map(|i| 1u32 << i).filter(|b| CONSENSUS_FLAGS & b != 0).collect()
}

// ---------------------------------------------------------------------------------------------
// Script assembly (Core's ParseScript, core_read.cpp)
// ---------------------------------------------------------------------------------------------

/// Core's `GetOpName` for the opcodes `ParseScript` knows by name: OP_RESERVED (0x50) and
/// OP_NOP (0x61) through OP_CHECKSIGADD (0xba, MAX_OPCODE). OP_0..OP_16 and OP_1NEGATE are not
/// in Core's name map (they are written as decimal numbers), nor are 0xbb..0xff.
/// 0xb1 and 0xb2 are named CHECKLOCKTIMEVERIFY / CHECKSEQUENCEVERIFY only (no NOP2/NOP3).
const OP_NAMES: &[(u8, &str)] = &[
    (0x50, "RESERVED"),
    (0x61, "NOP"),
    (0x62, "VER"),
    (0x63, "IF"),
    (0x64, "NOTIF"),
    (0x65, "VERIF"),
    (0x66, "VERNOTIF"),
    (0x67, "ELSE"),
    (0x68, "ENDIF"),
    (0x69, "VERIFY"),
    (0x6a, "RETURN"),
    (0x6b, "TOALTSTACK"),
    (0x6c, "FROMALTSTACK"),
    (0x6d, "2DROP"),
    (0x6e, "2DUP"),
    (0x6f, "3DUP"),
    (0x70, "2OVER"),
    (0x71, "2ROT"),
    (0x72, "2SWAP"),
    (0x73, "IFDUP"),
    (0x74, "DEPTH"),
    (0x75, "DROP"),
    (0x76, "DUP"),
    (0x77, "NIP"),
    (0x78, "OVER"),
    (0x79, "PICK"),
    (0x7a, "ROLL"),
    (0x7b, "ROT"),
    (0x7c, "SWAP"),
    (0x7d, "TUCK"),
    (0x7e, "CAT"),
    (0x7f, "SUBSTR"),
    (0x80, "LEFT"),
    (0x81, "RIGHT"),
    (0x82, "SIZE"),
    (0x83, "INVERT"),
    (0x84, "AND"),
    (0x85, "OR"),
    (0x86, "XOR"),
    (0x87, "EQUAL"),
    (0x88, "EQUALVERIFY"),
    (0x89, "RESERVED1"),
    (0x8a, "RESERVED2"),
    (0x8b, "1ADD"),
    (0x8c, "1SUB"),
    (0x8d, "2MUL"),
    (0x8e, "2DIV"),
    (0x8f, "NEGATE"),
    (0x90, "ABS"),
    (0x91, "NOT"),
    (0x92, "0NOTEQUAL"),
    (0x93, "ADD"),
    (0x94, "SUB"),
    (0x95, "MUL"),
    (0x96, "DIV"),
    (0x97, "MOD"),
    (0x98, "LSHIFT"),
    (0x99, "RSHIFT"),
    (0x9a, "BOOLAND"),
    (0x9b, "BOOLOR"),
    (0x9c, "NUMEQUAL"),
    (0x9d, "NUMEQUALVERIFY"),
    (0x9e, "NUMNOTEQUAL"),
    (0x9f, "LESSTHAN"),
    (0xa0, "GREATERTHAN"),
    (0xa1, "LESSTHANOREQUAL"),
    (0xa2, "GREATERTHANOREQUAL"),
    (0xa3, "MIN"),
    (0xa4, "MAX"),
    (0xa5, "WITHIN"),
    (0xa6, "RIPEMD160"),
    (0xa7, "SHA1"),
    (0xa8, "SHA256"),
    (0xa9, "HASH160"),
    (0xaa, "HASH256"),
    (0xab, "CODESEPARATOR"),
    (0xac, "CHECKSIG"),
    (0xad, "CHECKSIGVERIFY"),
    (0xae, "CHECKMULTISIG"),
    (0xaf, "CHECKMULTISIGVERIFY"),
    (0xb0, "NOP1"),
    (0xb1, "CHECKLOCKTIMEVERIFY"),
    (0xb2, "CHECKSEQUENCEVERIFY"),
    (0xb3, "NOP4"),
    (0xb4, "NOP5"),
    (0xb5, "NOP6"),
    (0xb6, "NOP7"),
    (0xb7, "NOP8"),
    (0xb8, "NOP9"),
    (0xb9, "NOP10"),
    (0xba, "CHECKSIGADD"),
];

fn opcode_by_name(word: &str) -> Option<u8> {
    let bare = word.strip_prefix("OP_").unwrap_or(word);
    OP_NAMES.iter().find(|(_, n)| *n == bare).map(|(op, _)| *op)
}

/// `CScriptNum::serialize`: minimal little-endian sign-magnitude encoding.
pub fn script_num_serialize(n: i64) -> Vec<u8> {
    if n == 0 {
        return Vec::new();
    }
    let neg = n < 0;
    let mut abs = n.unsigned_abs();
    let mut out = Vec::new();
    while abs > 0 {
        out.push((abs & 0xff) as u8);
        abs >>= 8;
    }
    let last = out.len() - 1;
    if out[last] & 0x80 != 0 {
        out.push(if neg { 0x80 } else { 0 });
    } else if neg {
        out[last] |= 0x80;
    }
    out
}

/// `CScript::operator<<(std::span<const uint8_t>)`: a data push with the smallest push opcode
/// that fits the length (never OP_N: a one-byte vector is `0x01 <b>`).
pub fn push_data(script: &mut Vec<u8>, data: &[u8]) {
    let n = data.len();
    if n < 0x4c {
        script.push(n as u8);
    } else if n <= 0xff {
        script.push(0x4c);
        script.push(n as u8);
    } else if n <= 0xffff {
        script.push(0x4d);
        script.extend_from_slice(&(n as u16).to_le_bytes());
    } else {
        script.push(0x4e);
        script.extend_from_slice(&(n as u32).to_le_bytes());
    }
    script.extend_from_slice(data);
}

/// `CScript::push_int64`: -1 and 1..=16 as OP_1NEGATE/OP_N, 0 as OP_0, otherwise a push of
/// the `CScriptNum` serialization.
pub fn push_int(script: &mut Vec<u8>, n: i64) {
    if n == -1 || (1..=16).contains(&n) {
        script.push((n + 0x50) as u8);
    } else if n == 0 {
        script.push(0x00);
    } else {
        push_data(script, &script_num_serialize(n));
    }
}

/// Core's `ParseScript` (core_read.cpp): words split on ' ', '\t' and '\n'; decimal numbers
/// (range -0xFFFFFFFF..=0xFFFFFFFF) pushed minimally; `0x<hex>` inserted verbatim (not pushed);
/// `'text'` pushed as data; opcode names with or without the `OP_` prefix.
pub fn parse_script(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for w in s.split([' ', '\t', '\n']) {
        if w.is_empty() {
            continue;
        }
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
        if digits(w) || (w.len() > 1 && w.starts_with('-') && digits(&w[1..])) {
            let n: i64 = w.parse().map_err(|_| format!("script parse error: bad number {w:?}"))?;
            if !(-0xffff_ffff..=0xffff_ffff).contains(&n) {
                return Err(format!("script parse error: decimal {w} out of range"));
            }
            push_int(&mut out, n);
        } else if let Some(raw) = w
            .strip_prefix("0x")
            .filter(|h| !h.is_empty())
            .and_then(|h| Vec::<u8>::from_hex(h).ok())
        {
            out.extend_from_slice(&raw);
        } else if w.len() >= 2 && w.starts_with('\'') && w.ends_with('\'') {
            push_data(&mut out, &w.as_bytes()[1..w.len() - 1]);
        } else if let Some(op) = opcode_by_name(w) {
            out.push(op);
        } else {
            return Err(format!("script parse error: unknown opcode {w:?}"));
        }
    }
    Ok(out)
}

/// Core's `GetScriptOp`: the opcode at `pos` and the position after it, or None when the
/// script is truncated there (Core's `GetOp` returns false).
pub fn get_op(script: &[u8], pos: usize) -> Option<(u8, usize)> {
    let op = *script.get(pos)?;
    let mut p = pos + 1;
    let len = match op {
        0x00..=0x4b => op as usize,
        0x4c => {
            let l = *script.get(p)? as usize;
            p += 1;
            l
        }
        0x4d => {
            let b = script.get(p..p + 2)?;
            p += 2;
            u16::from_le_bytes([b[0], b[1]]) as usize
        }
        0x4e => {
            let b = script.get(p..p + 4)?;
            p += 4;
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
        }
        _ => 0,
    };
    if script.len() - p < len {
        return None;
    }
    Some((op, p + len))
}

/// The scriptCode bytes that Core's `CTransactionSignatureSerializer::SerializeScriptCode`
/// hashes for a legacy signature: the script with every OP_CODESEPARATOR *opcode* removed
/// (bytes 0xab inside push data stay). Panics on a truncated script, where Core's serializer
/// would emit a length prefix that disagrees with the bytes written (no vector does this).
pub fn strip_codeseparators(script: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(script.len());
    let mut pos = 0;
    while pos < script.len() {
        let (op, next) = get_op(script, pos).unwrap_or_else(|| panic!("truncated script {}", hex(script)));
        if op != 0xab {
            out.extend_from_slice(&script[pos..next]);
        }
        pos = next;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------

/// Core's `BuildCreditingTransaction(scriptPubKey, nValue)`: version 1, locktime 0, one input
/// with a null prevout, scriptSig `OP_0 OP_0` (`CScript() << CScriptNum(0) << CScriptNum(0)`),
/// final sequence, one output of `value` paying `script_pubkey`.
pub fn build_crediting_tx(script_pubkey: &[u8], value: u64) -> Transaction {
    Transaction {
        version: Version(1),
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(vec![0x00, 0x00]),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(value),
            script_pubkey: ScriptBuf::from_bytes(script_pubkey.to_vec()),
        }],
    }
}

/// Core's `BuildSpendingTransaction(scriptSig, scriptWitness, txCredit)`: version 1,
/// locktime 0, one input spending `credit:0` with `script_sig`/`witness` and final sequence,
/// one output with the credited value and an empty scriptPubKey.
pub fn build_spending_tx(script_sig: &[u8], witness: Witness, credit: &Transaction) -> Transaction {
    Transaction {
        version: Version(1),
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: credit.compute_txid(),
                vout: 0,
            },
            script_sig: ScriptBuf::from_bytes(script_sig.to_vec()),
            sequence: Sequence::MAX,
            witness,
        }],
        output: vec![TxOut {
            value: credit.output[0].value,
            script_pubkey: ScriptBuf::new(),
        }],
    }
}

/// Core's `AmountFromValue` for a JSON number of BTC (8 decimals).
pub fn btc_to_sat(v: &serde_json::Value) -> u64 {
    let f = v.as_f64().unwrap_or_else(|| panic!("amount {v} is not a number"));
    let sat = (f * 100_000_000.0).round();
    assert!((0.0..=21e14).contains(&sat), "amount {v} out of money range");
    assert!(((sat / 100_000_000.0) - f).abs() < 1e-12, "amount {v} has more than 8 decimals");
    sat as u64
}

/// Parses a txid as Core's `Txid::FromHex` (display order, i.e. byte-reversed).
pub fn parse_txid(s: &str) -> Txid {
    let mut b = Vec::<u8>::from_hex(s).ok().unwrap_or_else(|| panic!("bad txid hex {s}"));
    assert_eq!(b.len(), 32, "txid {s} is not 32 bytes");
    b.reverse();
    Txid::from_slice(&b).expect("32 bytes")
}

/// Lower-case hex of `b`.
pub use super::p2p_peer::to_hex as hex;

// ---------------------------------------------------------------------------------------------
// Tapscript templating of script_tests.cpp
// ---------------------------------------------------------------------------------------------

/// The witness marker for an element written in script assembly.
pub const SCRIPT_MARK: &str = "#SCRIPT#";
/// The witness marker for an auto-generated control block.
pub const CONTROLBLOCK_MARK: &str = "#CONTROLBLOCK#";
/// The only scriptPubKey form Core's test recognizes for the auto-generated output.
pub const TAPROOT_OUTPUT_TEMPLATE: &str = "0x51 0x20 #TAPROOTOUTPUT#";

/// The internal key Core's script_tests.cpp finalizes its `TaprootBuilder` with:
/// `XOnlyPubKey(keys.key0.GetPubKey())`, where key0 is the private key 1 (`vchKey0`).
pub fn core_key0_xonly() -> XOnlyPublicKey {
    let secp = Secp256k1::new();
    let mut sk = [0u8; 32];
    sk[31] = 1;
    let kp = Keypair::from_seckey_slice(&secp, &sk).expect("key 1 is valid");
    kp.x_only_public_key().0
}

/// A script test's witness after template expansion, plus the taproot tree (if any) the
/// `#CONTROLBLOCK#` element committed to, used for `#TAPROOTOUTPUT#`.
pub struct ParsedWitness {
    /// Final witness stack.
    pub witness: Witness,
    /// Amount in satoshis (last element of the witness array).
    pub amount: u64,
    /// Spend info of the single-leaf tree built for `#CONTROLBLOCK#`.
    pub taproot: Option<TaprootSpendInfo>,
}

/// Expands a script test's `[wit..., amount]` array as script_tests.cpp does: `#SCRIPT# asm`
/// elements are parsed with `ParseScript`; `#CONTROLBLOCK#` builds a depth-0 single-leaf tree
/// (leaf version 0xc0) from the previous element, finalized with key0, and pushes its
/// control block; anything else is hex.
pub fn parse_witness(arr: &[serde_json::Value]) -> Result<ParsedWitness, String> {
    let (amount_v, elems) = arr.split_last().ok_or("empty witness array")?;
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut taproot = None;
    for e in elems {
        let s = e.as_str().ok_or("witness element is not a string")?;
        if let Some(asm) = s.strip_prefix(SCRIPT_MARK) {
            stack.push(parse_script(asm)?);
        } else if s == CONTROLBLOCK_MARK {
            if taproot.is_some() {
                return Err("two #CONTROLBLOCK# elements (Core's builder finalizes once)".into());
            }
            let leaf = ScriptBuf::from_bytes(stack.last().ok_or("#CONTROLBLOCK# with empty stack")?.clone());
            let secp = Secp256k1::verification_only();
            let info = TaprootBuilder::new()
                .add_leaf(0, leaf.clone())
                .map_err(|e| format!("taproot builder: {e:?}"))?
                .finalize(&secp, core_key0_xonly())
                .map_err(|_| "taproot builder incomplete".to_string())?;
            let cb = info
                .control_block(&(leaf, LeafVersion::TapScript))
                .ok_or("no control block for leaf")?;
            stack.push(cb.serialize());
            taproot = Some(info);
        } else {
            stack.push(
                Vec::<u8>::from_hex(s)
                    .ok()
                    .ok_or_else(|| format!("witness element {s:?} is not hex"))?,
            );
        }
    }
    Ok(ParsedWitness {
        witness: Witness::from_slice(&stack),
        amount: btc_to_sat(amount_v),
        taproot,
    })
}

/// Parses a script test's scriptPubKey: the exact template `0x51 0x20 #TAPROOTOUTPUT#` becomes
/// `OP_1 <output key>` of the tree built for `#CONTROLBLOCK#`; anything else is `ParseScript`.
pub fn parse_script_pubkey(s: &str, taproot: Option<&TaprootSpendInfo>) -> Result<Vec<u8>, String> {
    if s == TAPROOT_OUTPUT_TEMPLATE {
        let info = taproot.ok_or("#TAPROOTOUTPUT# without a #CONTROLBLOCK# tree")?;
        let mut spk = vec![0x51];
        push_data(&mut spk, &info.output_key().to_x_only_public_key().serialize());
        Ok(spk)
    } else {
        parse_script(s)
    }
}

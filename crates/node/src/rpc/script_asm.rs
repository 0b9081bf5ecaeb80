//! Bitcoin Core's script text forms: opcode parsing (`GetScriptOp`), opcode names
//! (`GetOpName`), `ScriptToAsmStr` with scriptSig sighash decoding, and the small script
//! predicates the RPC layer needs (`HasValidOps`, `IsPushOnly`, `IsUnspendable`, `IsOpSuccess`).

/// `OP_PUSHDATA1`.
pub const OP_PUSHDATA1: u8 = 0x4c;
/// `OP_PUSHDATA2`.
pub const OP_PUSHDATA2: u8 = 0x4d;
/// `OP_PUSHDATA4`.
pub const OP_PUSHDATA4: u8 = 0x4e;
/// `OP_1` (`OP_TRUE`).
pub const OP_1: u8 = 0x51;
/// `OP_16`.
pub const OP_16: u8 = 0x60;
/// `OP_RETURN`.
pub const OP_RETURN: u8 = 0x6a;
/// `OP_CHECKSIGADD` (tapscript).
pub const OP_CHECKSIGADD: u8 = 0xba;
/// Core's MAX_OPCODE (`OP_NOP10`).
pub const MAX_OPCODE: u8 = 0xb9;
/// Core's MAX_SCRIPT_SIZE.
pub const MAX_SCRIPT_SIZE: usize = 10_000;
/// Core's MAX_SCRIPT_ELEMENT_SIZE.
pub use bitcoin::constants::MAX_SCRIPT_ELEMENT_SIZE;

/// One parsed script operation: the opcode and, for pushes, the pushed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op<'a> {
    /// The opcode byte.
    pub opcode: u8,
    /// Data pushed by opcodes 0x00..=OP_PUSHDATA4 (empty otherwise).
    pub data: &'a [u8],
}

/// Iterates over a script's operations like Core's `GetScriptOp`; yields `Err(())` once at the
/// first malformed push (truncated length or data) and then stops.
pub struct Ops<'a> {
    script: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Ops<'a> {
    /// Starts at the beginning of `script`.
    pub fn new(script: &'a [u8]) -> Self {
        Ops {
            script,
            pos: 0,
            failed: false,
        }
    }

    /// Byte offset of the next operation.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Ops<'a> {
    type Item = Result<Op<'a>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.script.len() {
            return None;
        }
        let s = self.script;
        let opcode = s[self.pos];
        self.pos += 1;
        if opcode > OP_PUSHDATA4 {
            return Some(Ok(Op { opcode, data: &[] }));
        }
        let rest = s.len() - self.pos;
        let size = match opcode {
            OP_PUSHDATA1 => {
                if rest < 1 {
                    self.failed = true;
                    return Some(Err(()));
                }
                let n = usize::from(s[self.pos]);
                self.pos += 1;
                n
            }
            OP_PUSHDATA2 => {
                if rest < 2 {
                    self.failed = true;
                    return Some(Err(()));
                }
                let n = usize::from(u16::from_le_bytes([s[self.pos], s[self.pos + 1]]));
                self.pos += 2;
                n
            }
            OP_PUSHDATA4 => {
                if rest < 4 {
                    self.failed = true;
                    return Some(Err(()));
                }
                let n = u32::from_le_bytes([s[self.pos], s[self.pos + 1], s[self.pos + 2], s[self.pos + 3]]) as usize;
                self.pos += 4;
                n
            }
            n => usize::from(n),
        };
        if s.len() - self.pos < size {
            self.failed = true;
            return Some(Err(()));
        }
        let data = &s[self.pos..self.pos + size];
        self.pos += size;
        Some(Ok(Op { opcode, data }))
    }
}

/// Core's `GetOpName`.
pub fn op_name(op: u8) -> &'static str {
    const SMALL: [&str; 16] = [
        "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    ];
    match op {
        0x00 => "0",
        OP_PUSHDATA1 => "OP_PUSHDATA1",
        OP_PUSHDATA2 => "OP_PUSHDATA2",
        OP_PUSHDATA4 => "OP_PUSHDATA4",
        0x4f => "-1",
        0x50 => "OP_RESERVED",
        0x51..=0x60 => SMALL[usize::from(op - 0x51)],
        0x61 => "OP_NOP",
        0x62 => "OP_VER",
        0x63 => "OP_IF",
        0x64 => "OP_NOTIF",
        0x65 => "OP_VERIF",
        0x66 => "OP_VERNOTIF",
        0x67 => "OP_ELSE",
        0x68 => "OP_ENDIF",
        0x69 => "OP_VERIFY",
        0x6a => "OP_RETURN",
        0x6b => "OP_TOALTSTACK",
        0x6c => "OP_FROMALTSTACK",
        0x6d => "OP_2DROP",
        0x6e => "OP_2DUP",
        0x6f => "OP_3DUP",
        0x70 => "OP_2OVER",
        0x71 => "OP_2ROT",
        0x72 => "OP_2SWAP",
        0x73 => "OP_IFDUP",
        0x74 => "OP_DEPTH",
        0x75 => "OP_DROP",
        0x76 => "OP_DUP",
        0x77 => "OP_NIP",
        0x78 => "OP_OVER",
        0x79 => "OP_PICK",
        0x7a => "OP_ROLL",
        0x7b => "OP_ROT",
        0x7c => "OP_SWAP",
        0x7d => "OP_TUCK",
        0x7e => "OP_CAT",
        0x7f => "OP_SUBSTR",
        0x80 => "OP_LEFT",
        0x81 => "OP_RIGHT",
        0x82 => "OP_SIZE",
        0x83 => "OP_INVERT",
        0x84 => "OP_AND",
        0x85 => "OP_OR",
        0x86 => "OP_XOR",
        0x87 => "OP_EQUAL",
        0x88 => "OP_EQUALVERIFY",
        0x89 => "OP_RESERVED1",
        0x8a => "OP_RESERVED2",
        0x8b => "OP_1ADD",
        0x8c => "OP_1SUB",
        0x8d => "OP_2MUL",
        0x8e => "OP_2DIV",
        0x8f => "OP_NEGATE",
        0x90 => "OP_ABS",
        0x91 => "OP_NOT",
        0x92 => "OP_0NOTEQUAL",
        0x93 => "OP_ADD",
        0x94 => "OP_SUB",
        0x95 => "OP_MUL",
        0x96 => "OP_DIV",
        0x97 => "OP_MOD",
        0x98 => "OP_LSHIFT",
        0x99 => "OP_RSHIFT",
        0x9a => "OP_BOOLAND",
        0x9b => "OP_BOOLOR",
        0x9c => "OP_NUMEQUAL",
        0x9d => "OP_NUMEQUALVERIFY",
        0x9e => "OP_NUMNOTEQUAL",
        0x9f => "OP_LESSTHAN",
        0xa0 => "OP_GREATERTHAN",
        0xa1 => "OP_LESSTHANOREQUAL",
        0xa2 => "OP_GREATERTHANOREQUAL",
        0xa3 => "OP_MIN",
        0xa4 => "OP_MAX",
        0xa5 => "OP_WITHIN",
        0xa6 => "OP_RIPEMD160",
        0xa7 => "OP_SHA1",
        0xa8 => "OP_SHA256",
        0xa9 => "OP_HASH160",
        0xaa => "OP_HASH256",
        0xab => "OP_CODESEPARATOR",
        0xac => "OP_CHECKSIG",
        0xad => "OP_CHECKSIGVERIFY",
        0xae => "OP_CHECKMULTISIG",
        0xaf => "OP_CHECKMULTISIGVERIFY",
        0xb0 => "OP_NOP1",
        0xb1 => "OP_CHECKLOCKTIMEVERIFY",
        0xb2 => "OP_CHECKSEQUENCEVERIFY",
        0xb3 => "OP_NOP4",
        0xb4 => "OP_NOP5",
        0xb5 => "OP_NOP6",
        0xb6 => "OP_NOP7",
        0xb7 => "OP_NOP8",
        0xb8 => "OP_NOP9",
        0xb9 => "OP_NOP10",
        0xba => "OP_CHECKSIGADD",
        0xff => "OP_INVALIDOPCODE",
        _ => "OP_UNKNOWN",
    }
}

/// `CScriptNum(vch, fRequireMinimal=false).getint()` for pushes of at most 4 bytes.
pub fn script_num(data: &[u8]) -> i64 {
    if data.is_empty() {
        return 0;
    }
    let mut v: i64 = 0;
    for (i, b) in data.iter().enumerate() {
        v |= i64::from(*b) << (8 * i);
    }
    let last = data[data.len() - 1];
    if last & 0x80 != 0 {
        -(v & !(0x80i64 << (8 * (data.len() - 1))))
    } else {
        v
    }
}

/// Core's `IsValidSignatureEncoding` (strict DER, BIP66), including the sighash byte.
pub fn is_valid_signature_encoding(sig: &[u8]) -> bool {
    let n = sig.len();
    if !(9..=73).contains(&n) || sig[0] != 0x30 || usize::from(sig[1]) != n - 3 {
        return false;
    }
    let len_r = usize::from(sig[3]);
    if 5 + len_r >= n {
        return false;
    }
    let len_s = usize::from(sig[5 + len_r]);
    if len_r + len_s + 7 != n || sig[2] != 0x02 || len_r == 0 || sig[4] & 0x80 != 0 {
        return false;
    }
    if len_r > 1 && sig[4] == 0x00 && sig[5] & 0x80 == 0 {
        return false;
    }
    if sig[len_r + 4] != 0x02 || len_s == 0 || sig[len_r + 6] & 0x80 != 0 {
        return false;
    }
    !(len_s > 1 && sig[len_r + 6] == 0x00 && sig[len_r + 7] & 0x80 == 0)
}

/// Core's `mapSigHashTypes` lookup.
pub fn sighash_name(t: u8) -> Option<&'static str> {
    Some(match t {
        0x01 => "ALL",
        0x81 => "ALL|ANYONECANPAY",
        0x02 => "NONE",
        0x82 => "NONE|ANYONECANPAY",
        0x03 => "SINGLE",
        0x83 => "SINGLE|ANYONECANPAY",
        _ => return None,
    })
}

/// `CheckSignatureEncoding(vch, SCRIPT_VERIFY_STRICTENC)` for a non-empty push.
fn strictenc_signature(sig: &[u8]) -> bool {
    if sig.is_empty() {
        return true;
    }
    if !is_valid_signature_encoding(sig) {
        return false;
    }
    let t = sig[sig.len() - 1] & !0x80;
    (0x01..=0x03).contains(&t)
}

/// Core's `CScript::IsUnspendable`.
pub fn is_unspendable(script: &[u8]) -> bool {
    (!script.is_empty() && script[0] == OP_RETURN) || script.len() > MAX_SCRIPT_SIZE
}

/// Core's `ScriptToAsmStr(script, fAttemptSighashDecode)`.
pub fn script_to_asm(script: &[u8], attempt_sighash_decode: bool) -> String {
    let mut out = String::new();
    let unspendable = is_unspendable(script);
    for op in Ops::new(script) {
        if !out.is_empty() {
            out.push(' ');
        }
        let Ok(op) = op else {
            out.push_str("[error]");
            return out;
        };
        if op.opcode <= OP_PUSHDATA4 {
            if op.data.len() <= 4 {
                out.push_str(&script_num(op.data).to_string());
            } else if attempt_sighash_decode && !unspendable && strictenc_signature(op.data) {
                let (body, t) = op.data.split_at(op.data.len() - 1);
                match sighash_name(t[0]) {
                    Some(name) => {
                        out.push_str(&hex(body));
                        out.push('[');
                        out.push_str(name);
                        out.push(']');
                    }
                    None => out.push_str(&hex(op.data)),
                }
            } else {
                out.push_str(&hex(op.data));
            }
        } else {
            out.push_str(op_name(op.opcode));
        }
    }
    out
}

/// Core's `CScript::HasValidOps`.
pub fn has_valid_ops(script: &[u8]) -> bool {
    Ops::new(script).all(|op| matches!(op, Ok(o) if o.opcode <= MAX_OPCODE && o.data.len() <= MAX_SCRIPT_ELEMENT_SIZE))
}

/// Core's `CScript::IsPushOnly` from byte offset `from`.
pub fn is_push_only(script: &[u8], from: usize) -> bool {
    Ops::new(script.get(from..).unwrap_or(&[])).all(|op| matches!(op, Ok(o) if o.opcode <= OP_16))
}

/// Core's `IsOpSuccess` (BIP342 OP_SUCCESSx).
pub fn is_op_success(op: u8) -> bool {
    matches!(op, 80 | 98 | 126..=129 | 131..=134 | 137..=138 | 141..=142 | 149..=153 | 187..=254)
}

/// Lowercase hex of bytes (rust-bitcoin's `DisplayHex`), the RPC layer's one hex encoder.
pub fn hex(bytes: &[u8]) -> String {
    bitcoin::hex::DisplayHex::to_lower_hex_string(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_pushes_are_script_numbers() {
        // P2A anchor: OP_1 <0x4e73> prints the push as a little-endian number.
        assert_eq!(script_to_asm(&[0x51, 0x02, 0x4e, 0x73], false), "1 29518");
        // Negative numbers use the sign bit of the last byte; OP_0 and OP_1NEGATE.
        assert_eq!(script_to_asm(&[0x01, 0x81, 0x00, 0x4f, 0x02, 0xff, 0x7f], false), "-1 0 -1 32767");
        assert_eq!(script_to_asm(&[0x04, 0xff, 0xff, 0xff, 0xff], false), "-2147483647");
    }

    #[test]
    fn truncated_push_prints_error() {
        assert_eq!(script_to_asm(&[0x76, 0x4c], false), "OP_DUP [error]");
        assert_eq!(script_to_asm(&[0x05, 0x01], false), "[error]");
        assert_eq!(
            script_to_asm(&[0xbb, 0xff, 0xb1], false),
            "OP_UNKNOWN OP_INVALIDOPCODE OP_CHECKLOCKTIMEVERIFY"
        );
    }

    #[test]
    fn sighash_decoding_only_for_strict_der_in_spendable_scripts() {
        let sig = hex_to("3044022065d9af076e129bd88f7a6dfe44b09cc1d7a89062f18236fcc166c75e92becacb0220528ef2285a1b39dab511bd0739dd43b3554096c64f39cbe007840ecf1dd7b85e83");
        let mut script = vec![sig.len() as u8];
        script.extend_from_slice(&sig);
        let body = hex(&sig[..sig.len() - 1]);
        assert_eq!(script_to_asm(&script, true), format!("{body}[SINGLE|ANYONECANPAY]"));
        assert_eq!(script_to_asm(&script, false), hex(&sig));
        // Undefined hash type: printed raw.
        let mut bad = script.clone();
        *bad.last_mut().unwrap() = 0x04;
        assert_eq!(script_to_asm(&bad, true), hex(&bad[1..]));
        // OP_RETURN scripts never decode.
        let mut ret = vec![OP_RETURN];
        ret.extend_from_slice(&script);
        assert_eq!(script_to_asm(&ret, true), format!("OP_RETURN {}", hex(&sig)));
    }

    fn hex_to(s: &str) -> Vec<u8> {
        bitcoin::hex::FromHex::from_hex(s).expect("test hex")
    }
}

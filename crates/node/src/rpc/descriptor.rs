//! Output script classification and descriptors as Bitcoin Core prints them: `Solver` with the
//! `TxoutType` names, `ExtractDestination` (addresses), `InferDescriptor` with an empty signing
//! provider (plus the single-script provider `decodescript` uses), and the descriptor checksum.

use super::script_asm::{hex, is_push_only, Ops, OP_1, OP_16, OP_PUSHDATA4, OP_RETURN};
use bitcoin::address::Address;
use bitcoin::hashes::Hash;
use bitcoin::{Network, PubkeyHash, ScriptHash, WitnessProgram, WitnessVersion};

/// Core's `TxoutType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxoutType {
    /// Anything else.
    NonStandard,
    /// Pay-to-anchor (`OP_1 <4e73>`).
    Anchor,
    /// `<pubkey> OP_CHECKSIG`.
    PubKey,
    /// P2PKH.
    PubKeyHash,
    /// P2SH.
    ScriptHash,
    /// Bare `k <keys> n OP_CHECKMULTISIG`.
    Multisig,
    /// `OP_RETURN` followed by pushes only.
    NullData,
    /// P2WPKH.
    WitnessV0KeyHash,
    /// P2WSH.
    WitnessV0ScriptHash,
    /// P2TR.
    WitnessV1Taproot,
    /// Witness program of version 1..16 not otherwise known.
    WitnessUnknown,
}

impl TxoutType {
    /// Core's `GetTxnOutputType`.
    pub fn name(self) -> &'static str {
        match self {
            TxoutType::NonStandard => "nonstandard",
            TxoutType::Anchor => "anchor",
            TxoutType::PubKey => "pubkey",
            TxoutType::PubKeyHash => "pubkeyhash",
            TxoutType::ScriptHash => "scripthash",
            TxoutType::Multisig => "multisig",
            TxoutType::NullData => "nulldata",
            TxoutType::WitnessV0KeyHash => "witness_v0_keyhash",
            TxoutType::WitnessV0ScriptHash => "witness_v0_scripthash",
            TxoutType::WitnessV1Taproot => "witness_v1_taproot",
            TxoutType::WitnessUnknown => "witness_unknown",
        }
    }
}

/// `CPubKey::GetLen` of a header byte.
fn pubkey_len(header: u8) -> usize {
    match header {
        2 | 3 => 33,
        4 | 6 | 7 => 65,
        _ => 0,
    }
}

/// `CPubKey::ValidSize`.
pub fn pubkey_valid_size(k: &[u8]) -> bool {
    !k.is_empty() && pubkey_len(k[0]) == k.len()
}

/// `CPubKey::IsValidNonHybrid`.
fn pubkey_valid_non_hybrid(k: &[u8]) -> bool {
    pubkey_valid_size(k) && matches!(k[0], 2..=4)
}

/// `CScript::IsWitnessProgram`: (version, program).
pub fn witness_program(s: &[u8]) -> Option<(u8, &[u8])> {
    if !(4..=42).contains(&s.len()) {
        return None;
    }
    if s[0] != 0 && !(OP_1..=OP_16).contains(&s[0]) {
        return None;
    }
    if usize::from(s[1]) + 2 != s.len() {
        return None;
    }
    let v = if s[0] == 0 { 0 } else { s[0] - OP_1 + 1 };
    Some((v, &s[2..]))
}

/// `CScriptNum(data, fRequireMinimal=true)` within 4 bytes, for MatchMultisig's counts.
fn minimal_script_num(opcode: u8, data: &[u8]) -> Option<i64> {
    // CheckMinimalPush.
    let minimal_push = if data.is_empty() {
        opcode == 0
    } else if data.len() == 1 && ((1..=16).contains(&data[0]) || data[0] == 0x81) {
        // Should have used OP_1..OP_16 or OP_1NEGATE.
        false
    } else if data.len() <= 75 {
        usize::from(opcode) == data.len()
    } else if data.len() <= 255 {
        opcode == 0x4c
    } else if data.len() <= 65535 {
        opcode == 0x4d
    } else {
        true
    };
    if !minimal_push || data.len() > 4 {
        return None;
    }
    // Minimal number encoding.
    if let Some(&last) = data.last() {
        if last & 0x7f == 0 && (data.len() <= 1 || data[data.len() - 2] & 0x80 == 0) {
            return None;
        }
    }
    Some(super::script_asm::script_num(data))
}

fn script_number(opcode: u8, data: &[u8], min: i64, max: i64) -> Option<i64> {
    let n = if (OP_1..=OP_16).contains(&opcode) {
        i64::from(opcode - OP_1 + 1)
    } else if opcode > 0 && opcode <= OP_PUSHDATA4 {
        minimal_script_num(opcode, data)?
    } else {
        return None;
    };
    (min..=max).contains(&n).then_some(n)
}

/// `MatchMultisig`: (required, keys).
fn match_multisig(s: &[u8]) -> Option<(i64, Vec<&[u8]>)> {
    if s.last() != Some(&0xae) {
        return None;
    }
    let mut ops = Ops::new(s);
    let first = ops.next()?.ok()?;
    let required = script_number(first.opcode, first.data, 1, 20)?;
    let mut keys = Vec::new();
    let mut last = None;
    for op in ops.by_ref() {
        match op {
            Ok(o) if pubkey_valid_size(o.data) => keys.push(o.data),
            Ok(o) => {
                last = Some(o);
                break;
            }
            Err(()) => return None,
        }
    }
    let last = last?;
    let n = script_number(last.opcode, last.data, required, 20)?;
    if keys.len() as i64 != n {
        return None;
    }
    // The count must be followed by exactly one byte (OP_CHECKMULTISIG).
    (ops.position() + 1 == s.len()).then_some((required, keys))
}

/// Core's `Solver`: the type and its solutions (hashes, keys, program).
pub fn solver(s: &[u8]) -> (TxoutType, Vec<Vec<u8>>) {
    if s.len() == 23 && s[0] == 0xa9 && s[1] == 0x14 && s[22] == 0x87 {
        return (TxoutType::ScriptHash, vec![s[2..22].to_vec()]);
    }
    if let Some((v, p)) = witness_program(s) {
        return match (v, p.len()) {
            (0, 20) => (TxoutType::WitnessV0KeyHash, vec![p.to_vec()]),
            (0, 32) => (TxoutType::WitnessV0ScriptHash, vec![p.to_vec()]),
            (1, 32) => (TxoutType::WitnessV1Taproot, vec![p.to_vec()]),
            (1, 2) if p == [0x4e, 0x73] => (TxoutType::Anchor, vec![]),
            (0, _) => (TxoutType::NonStandard, vec![]),
            _ => (TxoutType::WitnessUnknown, vec![vec![v], p.to_vec()]),
        };
    }
    if !s.is_empty() && s[0] == OP_RETURN && is_push_only(s, 1) {
        return (TxoutType::NullData, vec![]);
    }
    for size in [65usize, 33] {
        if s.len() == size + 2 && usize::from(s[0]) == size && s[size + 1] == 0xac {
            let k = &s[1..=size];
            if pubkey_valid_size(k) {
                return (TxoutType::PubKey, vec![k.to_vec()]);
            }
        }
    }
    if s.len() == 25 && s[0] == 0x76 && s[1] == 0xa9 && s[2] == 20 && s[23] == 0x88 && s[24] == 0xac {
        return (TxoutType::PubKeyHash, vec![s[3..23].to_vec()]);
    }
    if let Some((req, keys)) = match_multisig(s) {
        let mut sol = vec![vec![req as u8]];
        sol.extend(keys.iter().map(|k| k.to_vec()));
        sol.push(vec![keys.len() as u8]);
        return (TxoutType::Multisig, sol);
    }
    (TxoutType::NonStandard, vec![])
}

/// Core's `ExtractDestination` + `EncodeDestination`: the address of an output script, for the
/// types that have one (never for bare pubkeys, multisig, null data or non-standard scripts).
pub fn address(s: &[u8], network: Network) -> Option<String> {
    let (t, sol) = solver(s);
    let addr = match t {
        TxoutType::PubKeyHash => Address::p2pkh(PubkeyHash::from_byte_array(sol[0].as_slice().try_into().ok()?), network),
        TxoutType::ScriptHash => Address::p2sh_from_hash(ScriptHash::from_byte_array(sol[0].as_slice().try_into().ok()?), network),
        TxoutType::WitnessV0KeyHash
        | TxoutType::WitnessV0ScriptHash
        | TxoutType::WitnessV1Taproot
        | TxoutType::Anchor
        | TxoutType::WitnessUnknown => {
            let (v, p) = witness_program(s)?;
            let program = WitnessProgram::new(WitnessVersion::try_from(v).ok()?, p).ok()?;
            Address::from_witness_program(program, network)
        }
        _ => return None,
    };
    Some(addr.to_string())
}

/// Where a script sits, as in Core's `ParseScriptContext` (the subset inference needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    P2wsh,
}

/// `InferScript` with a provider that knows at most the witness script `known` (by its SHA256).
fn infer(s: &[u8], ctx: Ctx, network: Network, known: Option<&[u8]>) -> Option<String> {
    let (t, sol) = solver(s);
    match t {
        TxoutType::PubKey => {
            let k = &sol[0];
            if pubkey_valid_non_hybrid(k) && (ctx == Ctx::Top || k.len() == 33) {
                return Some(format!("pk({})", hex(k)));
            }
        }
        TxoutType::Multisig => {
            let keys = &sol[1..sol.len() - 1];
            if keys
                .iter()
                .all(|k| pubkey_valid_non_hybrid(k) && (ctx == Ctx::Top || k.len() == 33))
            {
                let ks: Vec<String> = keys.iter().map(|k| hex(k)).collect();
                return Some(format!("multi({},{})", sol[0][0], ks.join(",")));
            }
        }
        TxoutType::WitnessV0ScriptHash if ctx == Ctx::Top => {
            if let Some(sub) = known.filter(|w| bitcoin::hashes::sha256::Hash::hash(w).as_byte_array().as_slice() == sol[0].as_slice()) {
                if let Some(d) = infer(sub, Ctx::P2wsh, network, None) {
                    return Some(format!("wsh({d})"));
                }
            }
        }
        TxoutType::WitnessV1Taproot if ctx == Ctx::Top && bitcoin::secp256k1::XOnlyPublicKey::from_slice(&sol[0]).is_ok() => {
            return Some(format!("rawtr({})", hex(&sol[0])));
        }
        _ => {}
    }
    if ctx != Ctx::Top {
        // Core would try miniscript here; scripts it parses print as wsh(<miniscript>), which
        // this node does not infer (they print as addr(...) instead).
        return None;
    }
    if let Some(a) = address(s, network) {
        return Some(format!("addr({a})"));
    }
    Some(format!("raw({})", hex(s)))
}

/// `InferDescriptor(script, DUMMY_SIGNING_PROVIDER)->ToString()`, with checksum.
pub fn infer_descriptor(s: &[u8], network: Network) -> String {
    with_checksum(&infer(s, Ctx::Top, network, None).unwrap_or_else(|| format!("raw({})", hex(s))))
}

/// `InferDescriptor` of a P2WSH output with a provider that knows its witness script.
pub fn infer_descriptor_with_witness_script(s: &[u8], witness_script: &[u8], network: Network) -> String {
    with_checksum(&infer(s, Ctx::Top, network, Some(witness_script)).unwrap_or_else(|| format!("raw({})", hex(s))))
}

fn poly_mod(mut c: u64, val: u64) -> u64 {
    let c0 = c >> 35;
    c = ((c & 0x7_ffff_ffff) << 5) ^ val;
    if c0 & 1 != 0 {
        c ^= 0xf5_dee5_1989;
    }
    if c0 & 2 != 0 {
        c ^= 0xa9_fdca_3312;
    }
    if c0 & 4 != 0 {
        c ^= 0x1b_ab10_e32d;
    }
    if c0 & 8 != 0 {
        c ^= 0x37_06b1_677a;
    }
    if c0 & 16 != 0 {
        c ^= 0x64_4d62_6ffd;
    }
    c
}

/// Core's `DescriptorChecksum` (empty when a character is outside the descriptor charset).
pub fn descriptor_checksum(desc: &str) -> String {
    const INPUT: &str = "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ ";
    const CHECKSUM: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    let mut c = 1u64;
    let mut cls = 0u64;
    let mut count = 0;
    for ch in desc.chars() {
        let Some(pos) = INPUT.find(ch) else { return String::new() };
        let pos = pos as u64;
        c = poly_mod(c, pos & 31);
        cls = cls * 3 + (pos >> 5);
        count += 1;
        if count == 3 {
            c = poly_mod(c, cls);
            cls = 0;
            count = 0;
        }
    }
    if count > 0 {
        c = poly_mod(c, cls);
    }
    for _ in 0..8 {
        c = poly_mod(c, 0);
    }
    c ^= 1;
    (0..8).map(|j| CHECKSUM[((c >> (5 * (7 - j))) & 31) as usize] as char).collect()
}

/// `desc#checksum`.
pub fn with_checksum(desc: &str) -> String {
    format!("{desc}#{}", descriptor_checksum(desc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        bitcoin::hex::FromHex::from_hex(s).expect("test hex")
    }

    #[test]
    fn checksum_matches_core_examples() {
        // From Core's descriptors.md / descriptor_tests.
        assert_eq!(descriptor_checksum("addr(mkmZxiEcEd8ZqjQWVZuC6so5dFMKEFpN2j)"), "02wpgw69");
        assert_eq!(with_checksum("raw(deadbeef)"), "raw(deadbeef)#89f8spxm");
    }

    #[test]
    fn classification_edge_cases() {
        // OP_0 with a 21-byte program: a witness program but not standard, no address.
        let mut s = vec![0x00, 21];
        s.extend([7u8; 21]);
        assert_eq!(solver(&s).0, TxoutType::NonStandard);
        assert_eq!(address(&s, Network::Regtest), None);
        assert!(infer_descriptor(&s, Network::Regtest).starts_with("raw("));
        // Anchor.
        assert_eq!(solver(&[0x51, 0x02, 0x4e, 0x73]).0, TxoutType::Anchor);
        assert_eq!(
            address(&[0x51, 0x02, 0x4e, 0x73], Network::Regtest).as_deref(),
            Some("bcrt1pfeesnyr2tx")
        );
        // Hybrid pubkey (0x06): a "pubkey" output whose descriptor falls back to raw().
        let mut h = vec![65, 0x06];
        h.extend([1u8; 64]);
        h.push(0xac);
        assert_eq!(solver(&h).0, TxoutType::PubKey);
        assert!(infer_descriptor(&h, Network::Regtest).starts_with("raw("));
        // Multisig with a non-minimal count push is non-standard.
        let key = unhex("02eebd1b784f09840a3ad1be26911d03295e0a6845fb1f5f36863e28e089dfc46a");
        let mut m = vec![0x51, 33];
        m.extend(&key);
        m.extend([0x51, 0xae]);
        assert_eq!(solver(&m).0, TxoutType::Multisig);
        assert!(infer_descriptor(&m, Network::Regtest).starts_with(&format!("multi(1,{})#", hex(&key))));
        let mut m2 = vec![0x01, 0x01, 33];
        m2.extend(&key);
        m2.extend([0x51, 0xae]);
        assert_eq!(solver(&m2).0, TxoutType::NonStandard);
        // Taproot output whose key is not on the curve: addr(), not rawtr().
        let mut tr = vec![0x51, 32];
        tr.extend([0u8; 32]);
        assert!(infer_descriptor(&tr, Network::Regtest).starts_with("addr(bcrt1p"));
        // OP_RETURN with a non-push is not null data.
        assert_eq!(solver(&[0x6a, 0x01, 0x01]).0, TxoutType::NullData);
        assert_eq!(solver(&[0x6a, 0x61]).0, TxoutType::NonStandard);
        assert_eq!(solver(&[0x6a]).0, TxoutType::NullData);
    }
}

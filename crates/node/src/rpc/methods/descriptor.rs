//! Output descriptors for the mining and descriptor RPCs (a BIP380 subset): `addr()`, `raw()`,
//! `pk()`, `pkh()`, `wpkh()`, `multi()`, `sortedmulti()`, `sh()`, `wsh()` and key-path-only
//! `tr()`, with hex public keys, WIF private keys or BIP32 extended keys (origin, path, ranged
//! `/*`; no multipath), and an optional (verified) `#checksum`.

use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint, Xpriv, Xpub};
use bitcoin::hashes::{hash160, Hash};
use bitcoin::hex::FromHex;
use bitcoin::key::{PrivateKey, PublicKey, XOnlyPublicKey};
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::secp256k1::SecretKey;
use bitcoin::{Network, ScriptBuf};
use std::str::FromStr;

/// The 8-character BIP380 checksum of `desc` (without `#`), or None for invalid characters.
pub fn checksum(desc: &str) -> Option<String> {
    Some(crate::rpc::descriptor::descriptor_checksum(desc)).filter(|c| !c.is_empty())
}

fn split_call(s: &str) -> Option<(&str, &str)> {
    let open = s.find('(')?;
    if !s.ends_with(')') {
        return None;
    }
    Some((&s[..open], &s[open + 1..s.len() - 1]))
}

/// Splits top-level comma-separated arguments.
fn split_args(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, ch) in s.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// A parsed key: the public key (at the requested range position), how Core prints it back,
/// and whether it was a private key.
struct Key {
    pk: PublicKey,
    text: String,
    private: bool,
    info: KeyInfo,
}

/// A descriptor key with what signing needs: its secret (when given) and its BIP32 origin.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// The public key at the requested range position.
    pub pk: PublicKey,
    /// The private key, when the descriptor held it.
    pub sk: Option<SecretKey>,
    /// Master fingerprint and full path (Core's `KeyOriginInfo`).
    pub origin: (Fingerprint, DerivationPath),
}

/// One BIP32 path element (`n`, `n'` or `nh`); sets `apostrophe` to the style of a hardened one.
fn path_step(e: &str, apostrophe: &mut bool) -> Result<ChildNumber, String> {
    let (num, hardened) = match e.strip_suffix('\'').or_else(|| e.strip_suffix('h')) {
        Some(n) => {
            *apostrophe = e.ends_with('\'');
            (n, true)
        }
        None => (e, false),
    };
    let v: u32 = num
        .parse()
        .ok()
        .filter(|_| num.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("Key path value '{num}' is not a valid uint32"))?;
    if v >= 0x8000_0000 {
        return Err(format!("Key path value {v} is out of range"));
    }
    let c = if hardened {
        ChildNumber::from_hardened_idx(v)
    } else {
        ChildNumber::from_normal_idx(v)
    };
    c.map_err(|_| format!("Key path value {v} is out of range"))
}

fn format_path(path: &[ChildNumber], apostrophe: bool) -> String {
    path.iter()
        .map(|c| match c {
            ChildNumber::Normal { index } => format!("/{index}"),
            ChildNumber::Hardened { index } => format!("/{index}{}", if apostrophe { "'" } else { "h" }),
        })
        .collect()
}

/// Parses a key expression: hex public key, WIF, or a BIP32 extended key (tpub/tprv on test
/// networks) with an optional `[fingerprint/path]` origin, a path and a final `*` (ranged, taken
/// at `pos`). Multipath (`<a;b>`) keys are refused.
fn parse_key(s: &str, net: Network, pos: u32) -> Result<Key, String> {
    if s.chars().any(char::is_whitespace) {
        return Err(format!("Key '{s}' is invalid due to whitespace"));
    }
    let mut apostrophe = false;
    let (origin, rest) = match s.strip_prefix('[') {
        Some(r) => {
            let (o, rest) = r
                .split_once(']')
                .ok_or_else(|| "Key origin start '[ character expected but not found, got ']' instead".to_string())?;
            let mut parts = o.split('/');
            let fp = parts.next().unwrap_or_default();
            if fp.len() != 8 {
                return Err(format!(
                    "Fingerprint is not 4 bytes ({} characters instead of 8 characters)",
                    fp.len()
                ));
            }
            if Vec::<u8>::from_hex(fp).ok().is_none() {
                return Err(format!("Fingerprint '{fp}' is not hex"));
            }
            let path = parts.map(|e| path_step(e, &mut apostrophe)).collect::<Result<Vec<_>, _>>()?;
            (Some((fp.to_lowercase(), path)), rest)
        }
        None => (None, s),
    };
    if rest.contains('<') {
        return Err(format!(
            "key '{s}' is not supported: multipath key expressions are not supported by this node"
        ));
    }
    let mut elems = rest.split('/');
    let key_str = elems.next().unwrap_or_default();
    let elems: Vec<&str> = elems.collect();
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let mut key = if elems.is_empty() && !key_str.starts_with("tp") && !key_str.starts_with("xp") {
        if let Ok(b) = Vec::<u8>::from_hex(key_str) {
            let pk = PublicKey::from_slice(&b).map_err(|_| format!("Pubkey '{key_str}' is invalid"))?;
            Key {
                text: crate::rpc::script_asm::hex(&b),
                pk,
                private: false,
                info: const_info(pk, None),
            }
        } else {
            match PrivateKey::from_wif(key_str) {
                Ok(k) if k.network == net.into() => {
                    let pk = k.public_key(&secp);
                    Key {
                        text: crate::rpc::script_asm::hex(&pk.to_bytes()),
                        pk,
                        private: true,
                        info: const_info(pk, Some(k.inner)),
                    }
                }
                _ => return Err(format!("key '{key_str}' is not valid")),
            }
        }
    } else {
        let (xpub, xpriv) = match (Xpub::from_str(key_str), Xpriv::from_str(key_str)) {
            (Ok(x), _) if x.network == net.into() => (x, None),
            (_, Ok(x)) if x.network == net.into() => (Xpub::from_priv(&secp, &x), Some(x)),
            _ => return Err(format!("key '{key_str}' is not valid")),
        };
        let mut path = Vec::new();
        let mut ranged = None;
        for (i, e) in elems.iter().enumerate() {
            let star = match *e {
                "*" => Some(false),
                "*'" | "*h" => {
                    apostrophe = e.ends_with('\'');
                    Some(true)
                }
                _ => None,
            };
            match star {
                Some(h) if i + 1 == elems.len() => ranged = Some(h),
                Some(_) => return Err("'*' may only appear as last element in a derivation path".into()),
                None => path.push(path_step(e, &mut apostrophe)?),
            }
        }
        let mut full = path.clone();
        if let Some(h) = ranged {
            let c = if h {
                ChildNumber::from_hardened_idx(pos)
            } else {
                ChildNumber::from_normal_idx(pos)
            };
            full.push(c.map_err(|_| format!("Key path value {pos} is out of range"))?);
        }
        let mut sk = None;
        let derived = match &xpriv {
            Some(x) => {
                let d = x.derive_priv(&secp, &full).map_err(|e| e.to_string())?;
                sk = Some(d.private_key);
                Xpub::from_priv(&secp, &d)
            }
            None => {
                if full.iter().any(|c| c.is_hardened()) {
                    return Err("Cannot derive script without private keys".into());
                }
                xpub.derive_pub(&secp, &full).map_err(|e| e.to_string())?
            }
        };
        let star = match ranged {
            None => String::new(),
            Some(false) => "/*".into(),
            Some(true) => format!("/*{}", if apostrophe { "'" } else { "h" }),
        };
        Key {
            pk: PublicKey::new(derived.public_key),
            text: format!("{xpub}{}{star}", format_path(&path, apostrophe)),
            private: xpriv.is_some(),
            info: KeyInfo {
                pk: PublicKey::new(derived.public_key),
                sk,
                origin: (xpub.fingerprint(), DerivationPath::from(full)),
            },
        }
    };
    if let Some((fp, path)) = origin {
        key.text = format!("[{fp}{}]{}", format_path(&path, apostrophe), key.text);
        let mut full = path.clone();
        // A key with an origin: the origin's path, then the key's own derivation.
        if !elems.is_empty() || key_str.starts_with("tp") || key_str.starts_with("xp") {
            full.extend(key.info.origin.1.as_ref().iter().copied());
        }
        key.info.origin = (fp.parse::<Fingerprint>().unwrap_or_default(), DerivationPath::from(full));
    }
    Ok(key)
}

/// The origin Core gives a key without one: the first 4 bytes of its HASH160, an empty path.
fn const_info(pk: PublicKey, sk: Option<SecretKey>) -> KeyInfo {
    let h = hash160::Hash::hash(&pk.to_bytes());
    let mut fp = [0u8; 4];
    fp.copy_from_slice(&h.as_byte_array()[..4]);
    KeyInfo {
        pk,
        sk,
        origin: (Fingerprint::from(fp), DerivationPath::master()),
    }
}

fn push(data: &[u8]) -> PushBytesBuf {
    PushBytesBuf::try_from(data.to_vec()).unwrap_or_default()
}

/// One parsed descriptor: its output script, Core's canonical text (public keys, no checksum),
/// whether it held private keys, and whether it is solvable (everything but `addr`/`raw`).
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The output script.
    pub script: ScriptBuf,
    /// `Descriptor::ToString()` without the checksum.
    pub canonical: String,
    /// Some key was given as a private key.
    pub has_private: bool,
    /// Core's `IsSolvable`.
    pub solvable: bool,
    /// Core's `IsRange`: some key ends in `/*`.
    pub ranged: bool,
    /// Every key, with secrets and origins (what Core's signing provider learns).
    pub keys: Vec<KeyInfo>,
    /// The P2SH redeem script, for `sh()`.
    pub redeem_script: Option<ScriptBuf>,
    /// The witness script, for `wsh()` and `sh(wsh())`.
    pub witness_script: Option<ScriptBuf>,
    /// The taproot internal key, for `tr()`.
    pub internal_key: Option<XOnlyPublicKey>,
}

fn multi(args: &[&str], sorted: bool, net: Network, witness: bool, pos: u32) -> Result<(ScriptBuf, Vec<Key>, i64), String> {
    let Some((k, keys)) = args.split_first() else {
        return Err("Multi: expected threshold and keys".into());
    };
    let k: i64 = k.trim().parse().map_err(|_| format!("Multi threshold '{k}' is not valid"))?;
    let parsed = keys
        .iter()
        .map(|s| parse_key(s, net, pos).map_err(|e| format!("Multi: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    if witness && parsed.iter().any(|p| !p.pk.compressed) {
        return Err("Uncompressed keys are not allowed".into());
    }
    if keys.is_empty() || keys.len() > 20 || k < 1 || k as usize > keys.len() {
        return Err(format!(
            "Multisig threshold cannot be {k}, must be at least 1 and at most the number of keys ({})",
            keys.len()
        ));
    }
    let mut pks: Vec<PublicKey> = parsed.iter().map(|p| p.pk).collect();
    if sorted {
        pks.sort_by_key(|p| p.to_bytes());
    }
    let mut b = Builder::new().push_int(k);
    for p in &pks {
        b = b.push_slice(push(&p.to_bytes()));
    }
    let script = b
        .push_int(pks.len() as i64)
        .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
        .into_script();
    Ok((script, parsed, k))
}

fn inner(s: &str, net: Network, ctx: &str, pos: u32) -> Result<Parsed, String> {
    let (name, arg) = split_call(s).ok_or_else(|| format!("'{s}' is not a valid descriptor function"))?;
    let args = split_args(arg);
    let witness = ctx == "wsh" || ctx == "sh-wsh";
    let done = |script: ScriptBuf, canonical: String, has_private: bool| Parsed {
        script,
        canonical,
        has_private,
        solvable: true,
        ranged: false,
        keys: Vec::new(),
        redeem_script: None,
        witness_script: None,
        internal_key: None,
    };
    let with_keys = |mut p: Parsed, keys: Vec<KeyInfo>| {
        p.keys = keys;
        p
    };
    match name {
        "addr" if ctx.is_empty() => {
            let script = super::super::address::decode(arg, net).map_err(|_| "Address is not valid".to_string())?;
            let a = super::super::descriptor::address(script.as_bytes(), net).unwrap_or_else(|| arg.to_string());
            Ok(Parsed {
                solvable: false,
                ..done(script, format!("addr({a})"), false)
            })
        }
        "raw" if ctx.is_empty() => {
            let b = Vec::<u8>::from_hex(arg).ok().ok_or_else(|| "Raw script is not hex".to_string())?;
            let canonical = format!("raw({})", crate::rpc::script_asm::hex(&b));
            Ok(Parsed {
                solvable: false,
                ..done(ScriptBuf::from_bytes(b), canonical, false)
            })
        }
        "pk" => {
            let k = parse_key(arg, net, pos).map_err(|e| format!("pk(): {e}"))?;
            if witness && !k.pk.compressed {
                return Err("Uncompressed keys are not allowed".into());
            }
            let script = Builder::new()
                .push_slice(push(&k.pk.to_bytes()))
                .push_opcode(bitcoin::opcodes::all::OP_CHECKSIG)
                .into_script();
            Ok(with_keys(done(script, format!("pk({})", k.text), k.private), vec![k.info]))
        }
        "pkh" => {
            let k = parse_key(arg, net, pos).map_err(|e| format!("pkh(): {e}"))?;
            if witness && !k.pk.compressed {
                return Err("Uncompressed keys are not allowed".into());
            }
            Ok(with_keys(
                done(ScriptBuf::new_p2pkh(&k.pk.pubkey_hash()), format!("pkh({})", k.text), k.private),
                vec![k.info],
            ))
        }
        "wpkh" if ctx.is_empty() || ctx == "sh" => {
            let k = parse_key(arg, net, pos).map_err(|e| format!("wpkh(): {e}"))?;
            let wk = bitcoin::CompressedPublicKey::try_from(k.pk).map_err(|_| "Uncompressed keys are not allowed".to_string())?;
            Ok(with_keys(
                done(ScriptBuf::new_p2wpkh(&wk.wpubkey_hash()), format!("wpkh({})", k.text), k.private),
                vec![k.info],
            ))
        }
        "multi" | "sortedmulti" => {
            let (script, keys, k) = multi(&args, name == "sortedmulti", net, witness, pos)?;
            let texts: Vec<&str> = keys.iter().map(|k| k.text.as_str()).collect();
            let d = done(script, format!("{name}({k},{})", texts.join(",")), keys.iter().any(|k| k.private));
            Ok(with_keys(d, keys.into_iter().map(|k| k.info).collect()))
        }
        "sh" if ctx.is_empty() => {
            let r = inner(arg, net, "sh", pos)?;
            let script = ScriptBuf::new_p2sh(&bitcoin::ScriptHash::from_raw_hash(hash160::Hash::hash(r.script.as_bytes())));
            let mut d = with_keys(done(script, format!("sh({})", r.canonical), r.has_private), r.keys);
            d.witness_script = r.witness_script;
            d.redeem_script = Some(r.script);
            Ok(d)
        }
        "wsh" if ctx.is_empty() || ctx == "sh" => {
            let w = inner(arg, net, if ctx == "sh" { "sh-wsh" } else { "wsh" }, pos)?;
            let mut d = with_keys(
                done(
                    ScriptBuf::new_p2wsh(&w.script.wscript_hash()),
                    format!("wsh({})", w.canonical),
                    w.has_private,
                ),
                w.keys,
            );
            d.witness_script = Some(w.script);
            Ok(d)
        }
        "tr" if ctx.is_empty() => {
            if args.len() != 1 {
                return Err("tr() with a script tree is not supported by this node".into());
            }
            let b = Vec::<u8>::from_hex(arg).ok();
            let (xonly, text, private, info) = match b.as_deref() {
                Some(x) if x.len() == 32 => (
                    XOnlyPublicKey::from_slice(x).map_err(|_| format!("Pubkey '{arg}' is invalid"))?,
                    crate::rpc::script_asm::hex(x),
                    false,
                    None,
                ),
                _ => {
                    let k = parse_key(arg, net, pos)?;
                    if !k.pk.compressed {
                        return Err("Uncompressed keys are not allowed".into());
                    }
                    (XOnlyPublicKey::from(k.pk.inner), k.text, k.private, Some(k.info))
                }
            };
            let secp = bitcoin::secp256k1::Secp256k1::verification_only();
            let mut d = with_keys(
                done(ScriptBuf::new_p2tr(&secp, xonly, None), format!("tr({text})"), private),
                info.into_iter().collect(),
            );
            d.internal_key = Some(xonly);
            Ok(d)
        }
        "combo" | "rawtr" | "musig" | "rawnode" => Err(format!("'{name}' descriptors are not supported by this node")),
        _ => Err(format!("'{name}(...)' is not valid in this context")),
    }
}

/// Core's `CheckChecksum`: the descriptor body, after checking a present (or required) checksum.
pub fn check_checksum(desc: &str, require: bool) -> Result<&str, String> {
    let mut parts = desc.split('#');
    let body = parts.next().unwrap_or_default();
    let sum = parts.next();
    if parts.next().is_some() {
        return Err("Multiple '#' symbols".into());
    }
    if sum.is_none() && require {
        return Err("Missing checksum".into());
    }
    if let Some(s) = sum {
        if s.len() != 8 {
            return Err(format!("Expected 8 character checksum, not {} characters", s.len()));
        }
    }
    let computed = checksum(body).ok_or_else(|| "Invalid characters in payload".to_string())?;
    if let Some(s) = sum {
        if s != computed {
            return Err(format!("Provided checksum '{s}' does not match computed checksum '{computed}'"));
        }
    }
    Ok(body)
}

/// Parses descriptor `desc` on `net` (checksum optional unless `require_checksum`); ranged keys
/// are taken at position `pos`.
pub fn parse_descriptor_at(desc: &str, net: Network, require_checksum: bool, pos: u32) -> Result<Parsed, String> {
    let body = check_checksum(desc, require_checksum)?;
    let mut p = inner(body.trim(), net, "", pos)?;
    p.ranged = p.canonical.contains('*');
    Ok(p)
}

/// Parses descriptor `desc` on `net` (ranged keys at position 0).
pub fn parse_descriptor(desc: &str, net: Network, require_checksum: bool) -> Result<Parsed, String> {
    parse_descriptor_at(desc, net, require_checksum, 0)
}

/// The single output script of descriptor `desc` on `net`, or Core-style error text.
pub fn descriptor_script(desc: &str, net: Network) -> Result<ScriptBuf, String> {
    let p = parse_descriptor(desc, net, false)?;
    if p.ranged {
        return Err("Ranged descriptor not accepted. Maybe pass through deriveaddresses first?".into());
    }
    Ok(p.script)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_bip380_examples() {
        // From BIP380 / Core's descriptor_tests.
        assert_eq!(checksum("raw(deadbeef)").as_deref(), Some("89f8spxm"));
        assert_eq!(checksum("addr(mkmZxiEcEd8ZqjQWVZuC6so5dFMKEFpN2j)").as_deref(), Some("02wpgw69"));
    }

    #[test]
    fn scripts_of_simple_descriptors() {
        let net = Network::Regtest;
        assert_eq!(descriptor_script("raw(51)", net).unwrap().as_bytes(), &[0x51]);
        assert!(descriptor_script("raw(deadbeef)#89f8spxm", net).is_ok());
        assert!(descriptor_script("raw(deadbeef)#89f8spxn", net)
            .unwrap_err()
            .contains("does not match"));
        let k = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
        let wpkh = descriptor_script(&format!("wpkh({k})"), net).unwrap();
        assert!(wpkh.is_p2wpkh());
        assert!(descriptor_script(&format!("sh(wpkh({k}))"), net).unwrap().is_p2sh());
        assert!(descriptor_script(&format!("tr({k})"), net).unwrap().is_p2tr());
        assert!(descriptor_script(&format!("wsh(multi(1,{k}))"), net).unwrap().is_p2wsh());
        assert!(descriptor_script("foo(51)", net).is_err());
    }

    /// Mutated descriptor texts (byte flips, cuts, insertions of syntax characters) never panic.
    #[test]
    fn mutated_descriptors_do_not_panic() {
        let net = Network::Regtest;
        let secp = bitcoin::secp256k1::Secp256k1::new();
        let tprv = Xpriv::new_master(bitcoin::NetworkKind::Test, &[9u8; 32]).unwrap();
        let tpub = Xpub::from_priv(&secp, &tprv);
        let seeds = [
            "wsh(multi(2,0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798,02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5))".to_string(),
            format!("tr([d34db33f/86h/1h/0h]{tpub}/1/*)"),
            format!("sh(wpkh({tprv}/0'/*h))"),
            "addr(bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080)#00000000".to_string(),
            "raw(deadbeef)#89f8spxm".to_string(),
        ];
        for seed in &seeds[..3] {
            assert!(parse_descriptor(seed, net, false).is_ok(), "{seed}");
        }
        let alphabet = b"()[],/*'h#<>;0123456789abcdef";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..3000 {
            let mut b = seeds[round % seeds.len()].clone().into_bytes();
            for _ in 0..1 + next() % 3 {
                let at = (next() as usize) % (b.len() + 1);
                match next() % 3 {
                    0 if at < b.len() => {
                        b.remove(at);
                    }
                    1 => b.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                    _ => b.truncate(at),
                }
            }
            let text = String::from_utf8_lossy(&b).into_owned();
            for pos in [0u32, 1, 0x7fff_ffff] {
                let _ = parse_descriptor_at(&text, net, round % 2 == 0, pos);
            }
        }
    }
}

//! Core's compressed coin encoding (compressor.h/cpp, `Coin::Serialize`): the form coins take
//! in UTXO snapshot files, so `dumptxoutset` writes and `loadtxoutset` reads Core's bytes.
//!
//! A coin is `VARINT(height*2 + coinbase)`, `VARINT(CompressAmount(value))`, then the script:
//! 21 bytes for P2PKH (`0x00` + hash) and P2SH (`0x01` + hash), 33 bytes for a P2PK key
//! (`0x02`/`0x03` + x for a compressed key, `0x04`/`0x05` + x for a valid uncompressed one,
//! the low bit giving y's parity), else `VARINT(len + 6)` and the script bytes.

use super::coin::Coin;
use crate::store::encoding::write_varint;
use bitcoin::opcodes::all::{OP_CHECKSIG, OP_DUP, OP_EQUAL, OP_EQUALVERIFY, OP_HASH160};
use bitcoin::secp256k1::PublicKey;
use bitcoin::ScriptBuf;

/// Script sizes below this are the special compressed forms (Core's `nSpecialScripts`).
pub const SPECIAL_SCRIPTS: u32 = 6;

/// Core's CompressAmount: strips trailing decimal zeros into an exponent so round amounts
/// take one or two bytes.
pub fn compress_amount(mut n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let mut e = 0u64;
    while n.is_multiple_of(10) && e < 9 {
        n /= 10;
        e += 1;
    }
    if e < 9 {
        let d = n % 10;
        n /= 10;
        1 + (n * 9 + d - 1) * 10 + e
    } else {
        1 + (n - 1) * 10 + 9
    }
}

/// Core's DecompressAmount, with Core's unsigned wrap-around on out-of-range input (the
/// caller checks the result against MAX_MONEY, as Core does).
pub fn decompress_amount(mut x: u64) -> u64 {
    if x == 0 {
        return 0;
    }
    x -= 1;
    let mut e = x % 10;
    x /= 10;
    let mut n = if e < 9 {
        let d = (x % 9) + 1;
        x /= 9;
        x.wrapping_mul(10).wrapping_add(d)
    } else {
        x.wrapping_add(1)
    };
    while e > 0 {
        n = n.wrapping_mul(10);
        e -= 1;
    }
    n
}

/// The compressed form of a script when it has one (Core's CompressScript).
fn compress_script(s: &[u8]) -> Option<Vec<u8>> {
    let op = |o: bitcoin::opcodes::Opcode| o.to_u8();
    if s.len() == 25
        && s[0] == op(OP_DUP)
        && s[1] == op(OP_HASH160)
        && s[2] == 20
        && s[23] == op(OP_EQUALVERIFY)
        && s[24] == op(OP_CHECKSIG)
    {
        return Some([&[0x00], &s[3..23]].concat());
    }
    if s.len() == 23 && s[0] == op(OP_HASH160) && s[1] == 20 && s[22] == op(OP_EQUAL) {
        return Some([&[0x01], &s[2..22]].concat());
    }
    if s.len() == 35 && s[0] == 33 && s[34] == op(OP_CHECKSIG) && (s[1] == 0x02 || s[1] == 0x03) {
        return Some(s[1..34].to_vec());
    }
    if s.len() == 67 && s[0] == 65 && s[66] == op(OP_CHECKSIG) && s[1] == 0x04 && PublicKey::from_slice(&s[1..66]).is_ok() {
        return Some([&[0x04 | (s[65] & 1)], &s[2..34]].concat());
    }
    None
}

/// Bytes that follow a special script size `n` (Core's GetSpecialScriptSize).
pub fn special_script_size(n: u32) -> usize {
    match n {
        0 | 1 => 20,
        2..=5 => 32,
        _ => 0,
    }
}

/// Rebuilds a special script from its kind `n` (< 6) and payload (Core's DecompressScript);
/// None for an x coordinate that is not on the curve.
pub fn decompress_script(n: u32, payload: &[u8]) -> Option<ScriptBuf> {
    let mut s = Vec::with_capacity(67);
    match n {
        0 => {
            s.extend_from_slice(&[OP_DUP.to_u8(), OP_HASH160.to_u8(), 20]);
            s.extend_from_slice(payload.get(..20)?);
            s.extend_from_slice(&[OP_EQUALVERIFY.to_u8(), OP_CHECKSIG.to_u8()]);
        }
        1 => {
            s.extend_from_slice(&[OP_HASH160.to_u8(), 20]);
            s.extend_from_slice(payload.get(..20)?);
            s.push(OP_EQUAL.to_u8());
        }
        2 | 3 => {
            s.extend_from_slice(&[33, n as u8]);
            s.extend_from_slice(payload.get(..32)?);
            s.push(OP_CHECKSIG.to_u8());
        }
        4 | 5 => {
            let mut key = [0u8; 33];
            key[0] = (n - 2) as u8;
            key[1..].copy_from_slice(payload.get(..32)?);
            let pk = PublicKey::from_slice(&key).ok()?;
            s.push(65);
            s.extend_from_slice(&pk.serialize_uncompressed());
            s.push(OP_CHECKSIG.to_u8());
        }
        _ => return None,
    }
    Some(ScriptBuf::from_bytes(s))
}

/// Appends `coin` in Core's compressed serialization (`Coin::Serialize`).
pub fn write_compressed_coin(out: &mut Vec<u8>, coin: &Coin) {
    write_varint(out, (u64::from(coin.height) << 1) | u64::from(coin.is_coinbase));
    write_varint(out, compress_amount(coin.output.value.to_sat()));
    let script = coin.output.script_pubkey.as_bytes();
    match compress_script(script) {
        Some(c) => out.extend_from_slice(&c),
        None => {
            write_varint(out, script.len() as u64 + u64::from(SPECIAL_SCRIPTS));
            out.extend_from_slice(script);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash as _;
    use bitcoin::{Amount, TxOut};

    /// Core's own amount compression vectors (compress_tests.cpp) round trip.
    #[test]
    fn amounts_match_core() {
        const COIN: u64 = 100_000_000;
        const CENT: u64 = 1_000_000;
        for (amount, compressed) in [
            (0, 0x0),
            (1, 0x1),
            (CENT, 0x7),
            (COIN, 0x9),
            (50 * COIN, 0x32),
            (21_000_000 * COIN, 0x1406f40),
        ] {
            assert_eq!(compress_amount(amount), compressed, "{amount}");
            assert_eq!(decompress_amount(compressed), amount, "{compressed}");
        }
        for n in (0..100_000u64).chain((0..100_000).map(|i| i * 10_000_001 + 7)) {
            assert_eq!(decompress_amount(compress_amount(n)), n);
        }
        // Untrusted input never panics.
        for x in [u64::MAX, u64::MAX - 1, u64::MAX / 9] {
            let _ = decompress_amount(x);
        }
    }

    fn coin_bytes(script: Vec<u8>) -> Vec<u8> {
        let coin = Coin {
            output: TxOut {
                value: Amount::from_sat(1),
                script_pubkey: ScriptBuf::from_bytes(script),
            },
            height: 1,
            is_coinbase: false,
        };
        let mut v = Vec::new();
        write_compressed_coin(&mut v, &coin);
        v
    }

    /// Each special form has Core's size and decompresses to the original script; others are
    /// written whole after their size plus 6.
    #[test]
    fn scripts_match_core_forms() {
        let secp = bitcoin::secp256k1::Secp256k1::new();
        let sk = bitcoin::secp256k1::SecretKey::from_slice(&[3; 32]).unwrap();
        let pk = PublicKey::from_secret_key(&secp, &sk);
        let p2pkh = ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::from_byte_array([9; 20]));
        let p2sh = ScriptBuf::new_p2sh(&bitcoin::ScriptHash::from_byte_array([8; 20]));
        let p2pk_c = [&[33u8][..], &pk.serialize(), &[0xac]].concat();
        let p2pk_u = [&[65u8][..], &pk.serialize_uncompressed(), &[0xac]].concat();
        for (script, kind, len) in [
            (p2pkh.to_bytes(), 0u8, 21usize),
            (p2sh.to_bytes(), 1, 21),
            (p2pk_c.clone(), p2pk_c[1], 33),
            (p2pk_u.clone(), 0x04 | (p2pk_u[65] & 1), 33),
        ] {
            let b = coin_bytes(script.clone());
            assert_eq!(b.len(), 2 + len);
            assert_eq!(b[2], kind);
            assert_eq!(special_script_size(u32::from(kind)), len - 1);
            assert_eq!(decompress_script(u32::from(kind), &b[3..]).unwrap().to_bytes(), script);
        }
        // An uncompressed key that is not on the curve stays whole.
        let mut bad = p2pk_u.clone();
        bad[2] ^= 1;
        let b = coin_bytes(bad.clone());
        assert_eq!(b[2], 67 + 6);
        assert_eq!(&b[3..], &bad[..]);
        assert!(decompress_script(4, &[0xff; 32]).is_none());
    }
}

//! Bitcoin Core's MuHash3072 UTXO set hash (`gettxoutsetinfo muhash`).
//!
//! Each element is hashed with SHA256, expanded with ChaCha20 (that hash as key, zero nonce,
//! counter 0) into 384 bytes read as a little-endian 3072-bit number, and multiplied into a
//! running product modulo the prime 2^3072 - 1103717. The result is SHA256 of the product's
//! 384-byte little-endian encoding, printed (like every uint256 in Core) byte-reversed.

use super::coin::{for_each_utxo, Coin};
use crate::store::db::{ChainDb, DbError};
use bitcoin::hashes::{sha256, Hash};

const LIMBS: usize = 48;
/// 2^3072 - MAX_PRIME_DIFF is the modulus.
const MAX_PRIME_DIFF: u64 = 1_103_717;

/// A 3072-bit number as 48 little-endian 64-bit limbs, kept below the modulus.
#[derive(Clone, PartialEq, Eq)]
struct Num3072([u64; LIMBS]);

impl Num3072 {
    fn one() -> Self {
        let mut l = [0u64; LIMBS];
        l[0] = 1;
        Num3072(l)
    }

    fn from_le_bytes(b: &[u8; 384]) -> Self {
        let mut l = [0u64; LIMBS];
        for (i, limb) in l.iter_mut().enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[8 * i..8 * i + 8]);
            *limb = u64::from_le_bytes(w);
        }
        Num3072(l)
    }

    fn to_le_bytes(&self) -> [u8; 384] {
        let mut b = [0u8; 384];
        for (i, limb) in self.0.iter().enumerate() {
            b[8 * i..8 * i + 8].copy_from_slice(&limb.to_le_bytes());
        }
        b
    }

    /// Adds `v` (< 2^64) with carry; returns the carry out of the top limb.
    fn add_small(l: &mut [u64; LIMBS], v: u64) -> bool {
        let mut carry = u128::from(v);
        for limb in l.iter_mut() {
            if carry == 0 {
                return false;
            }
            let cur = u128::from(*limb) + carry;
            *limb = cur as u64;
            carry = cur >> 64;
        }
        carry != 0
    }

    /// self = self * other mod (2^3072 - MAX_PRIME_DIFF).
    fn mul_assign(&mut self, other: &Num3072) {
        let a = &self.0;
        let b = &other.0;
        let mut t = [0u64; 2 * LIMBS];
        for i in 0..LIMBS {
            let mut carry: u128 = 0;
            for j in 0..LIMBS {
                let cur = u128::from(t[i + j]) + u128::from(a[i]) * u128::from(b[j]) + carry;
                t[i + j] = cur as u64;
                carry = cur >> 64;
            }
            t[i + LIMBS] = carry as u64;
        }
        // 2^3072 = MAX_PRIME_DIFF (mod p): fold the high half in.
        let mut r = [0u64; LIMBS];
        let mut carry: u128 = 0;
        for i in 0..LIMBS {
            let cur = u128::from(t[i]) + u128::from(t[i + LIMBS]) * u128::from(MAX_PRIME_DIFF) + carry;
            r[i] = cur as u64;
            carry = cur >> 64;
        }
        // carry < 2^21: fold once more; a final carry-out means the value wrapped past 2^3072.
        let top = (carry as u64) * MAX_PRIME_DIFF;
        if Self::add_small(&mut r, top) {
            // The wrapped value is tiny, so this cannot carry again.
            Self::add_small(&mut r, MAX_PRIME_DIFF);
        }
        // Canonical form: subtract p once if r >= p, i.e. if r + MAX_PRIME_DIFF >= 2^3072.
        let mut s = r;
        if Self::add_small(&mut s, MAX_PRIME_DIFF) {
            r = s;
        }
        self.0 = r;
    }
}

/// ChaCha20 (RFC 8439 layout) keystream with a zero nonce, starting at block 0.
fn chacha20_keystream(key: &[u8; 32], out: &mut [u8]) {
    fn qr(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
        s[a] = s[a].wrapping_add(s[b]);
        s[d] = (s[d] ^ s[a]).rotate_left(16);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_left(12);
        s[a] = s[a].wrapping_add(s[b]);
        s[d] = (s[d] ^ s[a]).rotate_left(8);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_left(7);
    }
    let mut input = [0u32; 16];
    input[0] = 0x6170_7865;
    input[1] = 0x3320_646e;
    input[2] = 0x7962_2d32;
    input[3] = 0x6b20_6574;
    for i in 0..8 {
        input[4 + i] = u32::from_le_bytes([key[4 * i], key[4 * i + 1], key[4 * i + 2], key[4 * i + 3]]);
    }
    for (counter, chunk) in out.chunks_mut(64).enumerate() {
        input[12] = counter as u32;
        let mut s = input;
        for _ in 0..10 {
            qr(&mut s, 0, 4, 8, 12);
            qr(&mut s, 1, 5, 9, 13);
            qr(&mut s, 2, 6, 10, 14);
            qr(&mut s, 3, 7, 11, 15);
            qr(&mut s, 0, 5, 10, 15);
            qr(&mut s, 1, 6, 11, 12);
            qr(&mut s, 2, 7, 8, 13);
            qr(&mut s, 3, 4, 9, 14);
        }
        let mut block = [0u8; 64];
        for i in 0..16 {
            block[4 * i..4 * i + 4].copy_from_slice(&s[i].wrapping_add(input[i]).to_le_bytes());
        }
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
}

/// A running MuHash3072 over a multiset of byte strings (insert only; the node recomputes
/// from the UTXO set instead of maintaining removals).
#[derive(Clone)]
pub struct MuHash3072 {
    numerator: Num3072,
}

impl Default for MuHash3072 {
    fn default() -> Self {
        MuHash3072 { numerator: Num3072::one() }
    }
}

impl MuHash3072 {
    /// Core's `ToNum3072`.
    fn element(data: &[u8]) -> Num3072 {
        let key = sha256::Hash::hash(data).to_byte_array();
        let mut tmp = [0u8; 384];
        chacha20_keystream(&key, &mut tmp);
        Num3072::from_le_bytes(&tmp)
    }

    /// Adds one element to the set.
    pub fn insert(&mut self, data: &[u8]) {
        let e = Self::element(data);
        self.numerator.mul_assign(&e);
    }

    /// The 32-byte digest (internal byte order).
    pub fn finalize(&self) -> [u8; 32] {
        sha256::Hash::hash(&self.numerator.to_le_bytes()).to_byte_array()
    }

    /// The digest as Core prints a uint256 (byte-reversed hex).
    pub fn finalize_hex(&self) -> String {
        let mut d = self.finalize();
        d.reverse();
        bitcoin::hex::DisplayHex::to_lower_hex_string(&d[..])
    }
}

/// Core's `TxOutSer`: outpoint, height*2+coinbase (u32 LE), then the output.
pub fn txout_ser(op: &bitcoin::OutPoint, coin: &Coin) -> Vec<u8> {
    let mut v = Vec::with_capacity(32 + 4 + 4 + 9 + coin.output.script_pubkey.len());
    v.extend_from_slice(op.txid.as_byte_array());
    v.extend_from_slice(&op.vout.to_le_bytes());
    v.extend_from_slice(&((coin.height << 1) | u32::from(coin.is_coinbase)).to_le_bytes());
    v.extend_from_slice(&bitcoin::consensus::serialize(&coin.output));
    v
}

/// MuHash3072 of the flushed UTXO set in `db`, as Core prints it.
pub fn compute_muhash(db: &ChainDb) -> Result<String, DbError> {
    let mut h = MuHash3072::default();
    for_each_utxo(db, |op, coin| {
        h.insert(&txout_ser(&op, &coin));
        Ok(())
    })?;
    Ok(h.finalize_hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chacha20_rfc8439_zero_key_block() {
        // RFC 8439 A.1 test vector #1: all-zero key and nonce, counter 0.
        let mut out = [0u8; 64];
        chacha20_keystream(&[0u8; 32], &mut out);
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(&hex[..64], "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7");
    }

    #[test]
    fn set_semantics() {
        // Order does not matter; an empty set hashes the number one.
        let mut a = MuHash3072::default();
        a.insert(b"x");
        a.insert(b"y");
        let mut b = MuHash3072::default();
        b.insert(b"y");
        b.insert(b"x");
        assert_eq!(a.finalize(), b.finalize());
        assert_ne!(a.finalize(), MuHash3072::default().finalize());
        let mut one = [0u8; 384];
        one[0] = 1;
        assert_eq!(MuHash3072::default().finalize(), sha256::Hash::hash(&one).to_byte_array());
    }

    #[test]
    fn reduction_near_the_modulus() {
        // (p - 1)^2 = 1 (mod p).
        let mut m = Num3072([u64::MAX; LIMBS]);
        m.0[0] = u64::MAX - MAX_PRIME_DIFF; // p - 1
        let mut sq = m.clone();
        sq.mul_assign(&m);
        assert!(sq == Num3072::one());
        // (p - 1) * 2 = p - 2.
        let mut two = Num3072::one();
        two.0[0] = 2;
        let mut d = m.clone();
        d.mul_assign(&two);
        let mut expect = m.clone();
        expect.0[0] -= 1;
        assert!(d == expect);
    }
}

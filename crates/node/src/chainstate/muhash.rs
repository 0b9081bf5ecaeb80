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

    /// The modulus 2^3072 - MAX_PRIME_DIFF.
    fn modulus() -> [u64; LIMBS] {
        let mut p = [u64::MAX; LIMBS];
        p[0] = u64::MAX - MAX_PRIME_DIFF + 1;
        p
    }

    /// `a -= b` over the limbs; returns the borrow out of the top limb.
    fn sub_limbs(a: &mut [u64; LIMBS], b: &[u64; LIMBS]) -> bool {
        let mut borrow = false;
        for (x, y) in a.iter_mut().zip(b) {
            let (d1, b1) = x.overflowing_sub(*y);
            let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
            *x = d2;
            borrow = b1 || b2;
        }
        borrow
    }

    /// `a += b` over the limbs; returns the carry out of the top limb.
    fn add_limbs(a: &mut [u64; LIMBS], b: &[u64; LIMBS]) -> bool {
        let mut carry = false;
        for (x, y) in a.iter_mut().zip(b) {
            let (s1, c1) = x.overflowing_add(*y);
            let (s2, c2) = s1.overflowing_add(u64::from(carry));
            *x = s2;
            carry = c1 || c2;
        }
        carry
    }

    /// Shifts right one bit, `top` entering as the highest bit.
    fn shr1(a: &mut [u64; LIMBS], top: bool) {
        for i in 0..LIMBS {
            let next = if i + 1 < LIMBS { a[i + 1] & 1 } else { u64::from(top) };
            a[i] = (a[i] >> 1) | (next << 63);
        }
    }

    /// `x / 2 mod p` for `x < p`.
    fn halve_mod(x: &mut [u64; LIMBS], p: &[u64; LIMBS]) {
        if x[0] & 1 == 0 {
            Self::shr1(x, false);
        } else {
            let carry = Self::add_limbs(x, p);
            Self::shr1(x, carry);
        }
    }

    /// `a - b mod p` for `a, b < p`.
    fn sub_mod(a: &mut [u64; LIMBS], b: &[u64; LIMBS], p: &[u64; LIMBS]) {
        if Self::sub_limbs(a, b) {
            Self::add_limbs(a, p);
        }
    }

    fn is_one(a: &[u64; LIMBS]) -> bool {
        a[0] == 1 && a[1..].iter().all(|&l| l == 0)
    }

    /// The multiplicative inverse mod p (binary extended Euclid; p is prime and odd). Zero,
    /// which has none, gives zero.
    fn inverse(&self) -> Num3072 {
        let p = Self::modulus();
        let mut u = self.0;
        if u.iter().all(|&l| l == 0) {
            return Num3072(u);
        }
        // Canonical input: a value in [p, 2^3072) is reduced first.
        let mut reduced = u;
        if !Self::sub_limbs(&mut reduced, &p) {
            u = reduced;
        }
        let mut v = p;
        let mut x1 = Num3072::one().0;
        let mut x2 = [0u64; LIMBS];
        while !Self::is_one(&u) && !Self::is_one(&v) {
            while u[0] & 1 == 0 {
                Self::shr1(&mut u, false);
                Self::halve_mod(&mut x1, &p);
            }
            while v[0] & 1 == 0 {
                Self::shr1(&mut v, false);
                Self::halve_mod(&mut x2, &p);
            }
            let mut d = u;
            if !Self::sub_limbs(&mut d, &v) {
                u = d;
                Self::sub_mod(&mut x1, &x2, &p);
            } else {
                Self::sub_limbs(&mut v, &u);
                Self::sub_mod(&mut x2, &x1, &p);
            }
        }
        Num3072(if Self::is_one(&u) { x1 } else { x2 })
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

/// A running MuHash3072 over a multiset of byte strings: inserted elements multiply the
/// numerator, removed ones the denominator (Core's MuHash3072), so the coin statistics index
/// can both connect and disconnect blocks.
#[derive(Clone, PartialEq, Eq)]
pub struct MuHash3072 {
    numerator: Num3072,
    denominator: Num3072,
}

impl std::fmt::Debug for MuHash3072 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MuHash3072(..)")
    }
}

impl Default for MuHash3072 {
    fn default() -> Self {
        MuHash3072 {
            numerator: Num3072::one(),
            denominator: Num3072::one(),
        }
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

    /// Removes one element from the set (Core's `Remove`: multiplies the denominator).
    pub fn remove(&mut self, data: &[u8]) {
        let e = Self::element(data);
        self.denominator.mul_assign(&e);
    }

    /// The 32-byte digest (internal byte order): SHA256 of numerator / denominator.
    pub fn finalize(&self) -> [u8; 32] {
        let mut n = self.numerator.clone();
        if self.denominator != Num3072::one() {
            n.mul_assign(&self.denominator.inverse());
        }
        sha256::Hash::hash(&n.to_le_bytes()).to_byte_array()
    }

    /// The running state as stored by the coin statistics index: numerator then denominator,
    /// each 384 bytes little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.numerator.to_le_bytes().to_vec();
        v.extend_from_slice(&self.denominator.to_le_bytes());
        v
    }

    /// Decodes [`MuHash3072::encode`]'s bytes; `None` unless exactly 768 bytes.
    pub fn decode(b: &[u8]) -> Option<MuHash3072> {
        let b: &[u8; 768] = b.try_into().ok()?;
        Some(MuHash3072 {
            numerator: Num3072::from_le_bytes(b[..384].try_into().ok()?),
            denominator: Num3072::from_le_bytes(b[384..].try_into().ok()?),
        })
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
    fn remove_undoes_insert_and_state_round_trips() {
        let mut a = MuHash3072::default();
        a.insert(b"x");
        let only_x = a.finalize();
        a.insert(b"y");
        a.remove(b"y");
        assert_eq!(a.finalize(), only_x);
        // Removing first, inserting later: the same set.
        let mut b = MuHash3072::default();
        b.remove(b"z");
        b.insert(b"x");
        b.insert(b"z");
        assert_eq!(b.finalize(), only_x);
        assert_eq!(MuHash3072::decode(&b.encode()), Some(b.clone()));
        assert_eq!(MuHash3072::decode(&[0; 767]), None);
    }

    #[test]
    fn inverse_times_value_is_one() {
        let e = MuHash3072::element(b"coin");
        let mut x = e.inverse();
        x.mul_assign(&e);
        assert!(x == Num3072::one());
        let mut two = Num3072::one();
        two.0[0] = 2;
        let mut y = two.inverse();
        y.mul_assign(&two);
        assert!(y == Num3072::one());
    }

    #[test]
    fn core_muhash_test_vector() {
        // Core's crypto_tests muhash_tests: insert(0), insert(1), remove(2) over 32-byte
        // elements whose first byte is the number.
        let elem = |i: u8| {
            let mut d = [0u8; 32];
            d[0] = i;
            d
        };
        let mut acc = MuHash3072::default();
        acc.insert(&elem(0));
        acc.insert(&elem(1));
        acc.remove(&elem(2));
        let mut d = acc.finalize();
        d.reverse();
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "10d312b100cbd32ada024a6646e40d3482fcff103668d2625f10002a607d5863");
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

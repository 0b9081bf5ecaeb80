//! The keyed hash of the coins cache's tables (Core's `SaltedOutpointHasher`).
//!
//! Why SipHash with random keys and not a faster unkeyed hash: an attacker picks outpoints
//! (by grinding txids) and could otherwise aim many at one bucket of a table every lookup
//! probes. Without the 128-bit key, chosen by the OS random generator for each table, no
//! colliding set can be computed offline. What makes it cheaper than std's `RandomState`
//! (also SipHash-1-3) is the shape of the input: an outpoint arrives as whole words (the
//! txid's length, its 32 bytes as four little-endian words, the vout), and each word is
//! compressed directly with no byte buffering or tail handling; 1 round per word and 3 final
//! rounds, as std's SipHash-1-3, which Rust's own `HashMap` relies on for DoS resistance.

use std::hash::{BuildHasher, Hasher};

/// SipHash's initialisation constants ("somepseudorandomlygeneratedbytes").
const INIT: [u64; 4] = [
    0x736f_6d65_7073_6575,
    0x646f_7261_6e64_6f6d,
    0x6c79_6765_6e65_7261,
    0x7465_6462_7974_6573,
];

/// Random SipHash keys for one table: builds the [`OutpointSipHasher`] of each key hashed.
#[derive(Clone, Copy, Debug)]
pub struct SaltedOutpointHasher {
    k0: u64,
    k1: u64,
}

impl SaltedOutpointHasher {
    /// New random keys (from the OS random generator, as `RandomState` takes its own).
    pub fn new() -> Self {
        SaltedOutpointHasher {
            k0: rand::random(),
            k1: rand::random(),
        }
    }
}

impl Default for SaltedOutpointHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl BuildHasher for SaltedOutpointHasher {
    type Hasher = OutpointSipHasher;

    fn build_hasher(&self) -> OutpointSipHasher {
        OutpointSipHasher {
            v: [INIT[0] ^ self.k0, INIT[1] ^ self.k1, INIT[2] ^ self.k0, INIT[3] ^ self.k1],
            words: 0,
        }
    }
}

/// SipHash-1-3 over a sequence of 64-bit words (see the module doc).
#[derive(Clone, Debug)]
pub struct OutpointSipHasher {
    v: [u64; 4],
    words: u64,
}

impl OutpointSipHasher {
    #[inline(always)]
    fn round(&mut self) {
        let [v0, v1, v2, v3] = &mut self.v;
        *v0 = v0.wrapping_add(*v1);
        *v1 = v1.rotate_left(13) ^ *v0;
        *v0 = v0.rotate_left(32);
        *v2 = v2.wrapping_add(*v3);
        *v3 = v3.rotate_left(16) ^ *v2;
        *v0 = v0.wrapping_add(*v3);
        *v3 = v3.rotate_left(21) ^ *v0;
        *v2 = v2.wrapping_add(*v1);
        *v1 = v1.rotate_left(17) ^ *v2;
        *v2 = v2.rotate_left(32);
    }

    #[inline(always)]
    fn compress(&mut self, m: u64) {
        self.v[3] ^= m;
        self.round();
        self.v[0] ^= m;
        self.words += 1;
    }
}

impl Hasher for OutpointSipHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.compress(u64::from_le_bytes(w));
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            // The tail's length in the top byte keeps different splits apart.
            let mut w = [0u8; 8];
            w[..tail.len()].copy_from_slice(tail);
            w[7] = tail.len() as u8;
            self.compress(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.compress(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.compress(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.compress(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mut s = self.clone();
        s.compress(self.words << 56);
        s.v[2] ^= 0xff;
        s.round();
        s.round();
        s.round();
        s.v[0] ^ s.v[1] ^ s.v[2] ^ s.v[3]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::{OutPoint, Txid};

    fn op(n: u8, vout: u32) -> OutPoint {
        OutPoint {
            txid: Txid::from_byte_array([n; 32]),
            vout,
        }
    }

    /// Two tables get different keys, so an outpoint hashes differently in each; one table
    /// hashes it the same way every time.
    #[test]
    fn salted_hashers_differ_between_instances() {
        let (a, b) = (SaltedOutpointHasher::new(), SaltedOutpointHasher::new());
        let ops: Vec<OutPoint> = (0..64).map(|i| op(i, u32::from(i))).collect();
        let differ = ops.iter().filter(|o| a.hash_one(o) != b.hash_one(o)).count();
        assert_eq!(differ, ops.len());
        assert!(ops.iter().all(|o| a.hash_one(o) == a.hash_one(o)));
    }

    /// Neighbouring outpoints (same txid, next vout; txids counting up) spread over the low
    /// bits a table indexes by: of 4,096 of them, nearly all differ in the low 24 bits (a
    /// random function leaves ~0.5 pairs equal there; a weak mix would leave hundreds).
    #[test]
    fn neighbouring_outpoints_spread() {
        let h = SaltedOutpointHasher::new();
        let mut seen = std::collections::HashSet::new();
        for vout in 0..2048u32 {
            seen.insert(h.hash_one(op(7, vout)) & 0xff_ffff);
        }
        for i in 0..2048u64 {
            let mut t = [0u8; 32];
            t[..8].copy_from_slice(&i.to_le_bytes());
            let o = OutPoint {
                txid: Txid::from_byte_array(t),
                vout: 1,
            };
            seen.insert(h.hash_one(o) & 0xff_ffff);
        }
        assert!(seen.len() > 4_080, "{} distinct of 4,096", seen.len());
    }
}

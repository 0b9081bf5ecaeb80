//! The coins table's record format: the unspent outputs of one transaction grouped into chunks
//! of [`CHUNK_COINS`] consecutive vouts, one database record per chunk.
//!
//! Why: the coins of a transaction share their 32-byte txid, and a per-output record repeated it
//! (plus LMDB's node header) for every coin, so the B-tree was several times Core's prefix
//! compressed LevelDB and every background commit rewrote most of its leaf pages (see
//! docs/BENCHMARKS.md, "Coins grouped by transaction"). A chunk record's key is the txid then
//! the big-endian `vout >> CHUNK_SHIFT` (36 bytes, so chunks sort as the per-output keys did);
//! its value is a bitmap of the vouts present (little-endian, bit `i` for `chunk * 16 + i`)
//! followed by each present coin's [`crate::chainstate::coin::Coin::encode`] bytes in vout
//! order. A chunk with no coin is deleted, so a txid has records only while it has coins.
//!
//! Cost bound: changing one coin rewrites its chunk, at most 16 coins; with scripts at the
//! 10,000-byte limit (larger ones are unspendable and never stored) that is ~160 KB, typically a
//! few hundred bytes.

use super::encoding::{DecodeError, Reader};

/// Bits of the vout that select a coin inside its chunk.
pub const CHUNK_SHIFT: u32 = 4;
/// Coins per chunk record (16).
pub const CHUNK_COINS: usize = 1 << CHUNK_SHIFT;
/// Bytes of the presence bitmap at the start of a chunk value.
const BITMAP_BYTES: usize = CHUNK_COINS / 8;
/// The format name recorded in the meta table (`coins_format`) for this layout.
pub const FORMAT: &[u8] = b"txid-chunk16-v1";

/// The chunk record key of an outpoint key (txid, big-endian vout) and the coin's slot in it.
pub fn chunk_key(key: &[u8; 36]) -> ([u8; 36], usize) {
    let vout = u32::from_be_bytes([key[32], key[33], key[34], key[35]]);
    let mut k = *key;
    k[32..].copy_from_slice(&(vout >> CHUNK_SHIFT).to_be_bytes());
    (k, (vout as usize) & (CHUNK_COINS - 1))
}

/// The outpoint key of the coin in `slot` of the chunk keyed `chunk`.
pub fn coin_key(chunk: &[u8], slot: usize) -> Result<[u8; 36], DecodeError> {
    let k: &[u8; 36] = chunk.try_into().map_err(|_| DecodeError("coin chunk key length"))?;
    let index = u32::from_be_bytes([k[32], k[33], k[34], k[35]]);
    let vout = index.checked_mul(CHUNK_COINS as u32).ok_or(DecodeError("coin chunk index"))? | slot as u32;
    let mut out = *k;
    out[32..].copy_from_slice(&vout.to_be_bytes());
    Ok(out)
}

/// Length of the encoded coin at the start of `bytes` (height code, value, script).
pub(super) fn coin_len(bytes: &[u8]) -> Result<usize, DecodeError> {
    let mut r = Reader::new(bytes);
    r.varint()?;
    r.varint()?;
    let len = usize::try_from(r.varint()?).map_err(|_| DecodeError("script length"))?;
    r.bytes(len)?;
    Ok(bytes.len() - r.remaining())
}

/// The presence bitmap and the coins of a stored chunk value.
fn split(value: &[u8]) -> Result<(u32, &[u8]), DecodeError> {
    if value.len() < BITMAP_BYTES {
        return Err(DecodeError("coin chunk header"));
    }
    let mut bits = 0u32;
    for (i, b) in value[..BITMAP_BYTES].iter().enumerate() {
        bits |= u32::from(*b) << (8 * i);
    }
    Ok((bits, &value[BITMAP_BYTES..]))
}

/// Calls `f` with each present slot of a stored chunk value and that coin's encoded bytes, in
/// slot (vout) order; fails on a value that does not parse exactly.
pub fn for_each_in<'a>(value: &'a [u8], mut f: impl FnMut(usize, &'a [u8]) -> Result<(), DecodeError>) -> Result<(), DecodeError> {
    let (bits, mut rest) = split(value)?;
    for slot in 0..CHUNK_COINS {
        if bits & (1 << slot) != 0 {
            let n = coin_len(rest)?;
            f(slot, &rest[..n])?;
            rest = &rest[n..];
        }
    }
    if !rest.is_empty() {
        return Err(DecodeError("coin chunk trailing bytes"));
    }
    Ok(())
}

/// The encoded coin in `slot` of a stored chunk value, if present (one pass over the coins
/// before it, no allocation).
pub fn coin_in(value: &[u8], slot: usize) -> Result<Option<&[u8]>, DecodeError> {
    let (bits, mut rest) = split(value)?;
    if bits & (1 << slot) == 0 {
        return Ok(None);
    }
    for _ in 0..(bits & ((1 << slot) - 1)).count_ones() {
        rest = &rest[coin_len(rest)?..];
    }
    Ok(Some(&rest[..coin_len(rest)?]))
}

/// One chunk being changed: its coins' bytes in one buffer, a span per slot. Reused from chunk
/// to chunk by the writer, so merging changes allocates only while the buffer grows.
#[derive(Default)]
pub struct ChunkEdit {
    data: Vec<u8>,
    /// Start and length of each present slot's coin in `data`.
    spans: [Option<(u32, u32)>; CHUNK_COINS],
}

impl ChunkEdit {
    /// Starts over from a stored value (`None`: no record).
    pub fn load(&mut self, value: Option<&[u8]>) -> Result<(), DecodeError> {
        self.data.clear();
        self.spans = [None; CHUNK_COINS];
        if let Some(v) = value {
            for_each_in(v, |slot, coin| {
                self.spans[slot] = Some((self.data.len() as u32, coin.len() as u32));
                self.data.extend_from_slice(coin);
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Puts the encoded coin in `slot` (`None`: removes it). A replaced coin's old bytes stay
    /// in the buffer until the next [`ChunkEdit::load`]; they are not written.
    pub fn set(&mut self, slot: usize, coin: Option<&[u8]>) {
        self.spans[slot] = coin.map(|c| {
            let at = self.data.len() as u32;
            self.data.extend_from_slice(c);
            (at, c.len() as u32)
        });
    }

    /// True when no slot holds a coin (the record is deleted).
    pub fn is_empty(&self) -> bool {
        self.spans.iter().all(Option::is_none)
    }

    /// The value to store: bitmap, then the present coins in slot order, into `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        let bits = self
            .spans
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .fold(0u32, |b, (i, _)| b | 1 << i);
        out.extend_from_slice(&bits.to_le_bytes()[..BITMAP_BYTES]);
        for (at, len) in self.spans.iter().flatten() {
            out.extend_from_slice(&self.data[*at as usize..(*at + *len) as usize]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(txid: u8, vout: u32) -> [u8; 36] {
        let mut k = [txid; 36];
        k[32..].copy_from_slice(&vout.to_be_bytes());
        k
    }

    /// A coin encoding of `n` with a script of `script` bytes.
    fn coin(n: u64, script: usize) -> Vec<u8> {
        let c = crate::chainstate::coin::Coin {
            output: bitcoin::TxOut {
                value: bitcoin::Amount::from_sat(n),
                script_pubkey: bitcoin::ScriptBuf::from_bytes(vec![0x51; script]),
            },
            height: n as u32,
            is_coinbase: n % 2 == 1,
        };
        let mut v = Vec::new();
        c.encode(&mut v);
        v
    }

    /// Keys round-trip through their chunk, and chunk keys keep the per-output key order.
    #[test]
    fn chunk_keys_sort_and_round_trip() {
        for vout in [0, 1, 15, 16, 17, 16_511, 16_512, u32::MAX] {
            let (c, slot) = chunk_key(&key(3, vout));
            assert_eq!(coin_key(&c, slot).unwrap(), key(3, vout));
        }
        let (a, _) = chunk_key(&key(3, 15));
        let (b, _) = chunk_key(&key(3, 16));
        let (z, _) = chunk_key(&key(2, u32::MAX));
        assert!(z < a && a < b);
        assert_eq!(chunk_key(&key(3, 0)).0, a);
        assert!(coin_key(&a[..35], 0).is_err());
    }

    /// A chunk holds coins of any size in any slots; each reads back alone and in order, and a
    /// damaged value is an error, never a panic.
    #[test]
    fn chunk_values_round_trip() {
        let mut e = ChunkEdit::default();
        e.load(None).unwrap();
        assert!(e.is_empty());
        let slots = [(0, coin(1, 1)), (5, coin(2, 10_000)), (15, coin(3, 0)), (7, coin(4, 25))];
        for (s, c) in &slots {
            e.set(*s, Some(c));
        }
        let mut v = Vec::new();
        e.encode(&mut v);
        assert_eq!(&v[..2], &((1u16 << 0) | (1 << 5) | (1 << 7) | (1 << 15)).to_le_bytes());
        for (s, c) in &slots {
            assert_eq!(coin_in(&v, *s).unwrap(), Some(c.as_slice()));
        }
        assert_eq!(coin_in(&v, 6).unwrap(), None);
        let mut seen = Vec::new();
        for_each_in(&v, |s, c| {
            seen.push((s, c.to_vec()));
            Ok(())
        })
        .unwrap();
        let mut want = slots.to_vec();
        want.sort();
        assert_eq!(seen, want);
        for cut in [0, 1, 2, 5, v.len() - 1] {
            assert!(for_each_in(&v[..cut], |_, _| Ok(())).is_err(), "cut at {cut}");
        }
        let mut longer = v.clone();
        longer.push(0);
        assert!(for_each_in(&longer, |_, _| Ok(())).is_err());
        assert!(coin_in(&v[..3], 15).is_err());
    }

    /// Loading a stored chunk and changing it: replace, remove, add; emptied means delete.
    #[test]
    fn edits_merge_into_a_stored_chunk() {
        let mut e = ChunkEdit::default();
        e.load(None).unwrap();
        e.set(1, Some(&coin(1, 1)));
        e.set(2, Some(&coin(2, 1)));
        let mut stored = Vec::new();
        e.encode(&mut stored);
        e.load(Some(&stored)).unwrap();
        e.set(1, Some(&coin(11, 3)));
        e.set(2, None);
        e.set(9, Some(&coin(9, 1)));
        let mut v = Vec::new();
        e.encode(&mut v);
        assert_eq!(coin_in(&v, 1).unwrap(), Some(coin(11, 3).as_slice()));
        assert_eq!(coin_in(&v, 2).unwrap(), None);
        assert_eq!(coin_in(&v, 9).unwrap(), Some(coin(9, 1).as_slice()));
        e.load(Some(&v)).unwrap();
        e.set(1, None);
        e.set(9, None);
        assert!(e.is_empty());
    }
}

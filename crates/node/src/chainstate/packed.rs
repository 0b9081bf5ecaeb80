//! One coins-cache entry, packed: the coin's fields and its flags in the hash-table slot, and
//! its script inline when short, so the cache of a typical UTXO set holds no allocation per
//! coin (nothing to clone on a lookup, to free on a spend, or to free when a generation goes).
//!
//! Why [`INLINE_SCRIPT_MAX`] is 25: measured with `size_of`, an entry with up to 25 inline
//! bytes is 40 bytes and its slot `(OutPoint, CacheEntry)` 80; 26-33 bytes make the slot 88
//! and 34 (P2WSH, P2TR) 96. 25 bytes hold P2PKH (25), P2SH (23), P2WPKH (22) and the short
//! scripts of test chains; longer scripts are one exact-size boxed allocation.

use super::coin::Coin;
use bitcoin::{Amount, ScriptBuf, TxOut};

/// Longest script kept in the slot itself (see the module doc).
pub const INLINE_SCRIPT_MAX: usize = 25;

const DIRTY: u8 = 1;
const FRESH: u8 = 2;

/// A cached outpoint's state: a coin (script inline or boxed) or a spent tombstone, with
/// Core's `dirty` (the database differs) and `fresh` (the database holds no unspent coin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry(Packed);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Packed {
    Spent {
        flags: u8,
    },
    Inline {
        value: u64,
        /// Height times two plus the coinbase flag, as Core's `nHeight`/`fCoinBase`.
        code: u32,
        flags: u8,
        len: u8,
        script: [u8; INLINE_SCRIPT_MAX],
    },
    Boxed {
        value: u64,
        code: u32,
        flags: u8,
        script: Box<[u8]>,
    },
}

/// A cached coin read in place: what a lookup needs without copying the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoinRef<'a> {
    /// The output's value.
    pub value: Amount,
    /// The locking script's bytes.
    pub script: &'a [u8],
    /// Height of the block that created it.
    pub height: u32,
    /// Whether a coinbase created it.
    pub is_coinbase: bool,
}

impl CoinRef<'_> {
    /// The owned [`Coin`] (one allocation for the script), for the API edges that keep it.
    pub fn to_coin(&self) -> Coin {
        Coin {
            output: TxOut {
                value: self.value,
                script_pubkey: ScriptBuf::from_bytes(self.script.to_vec()),
            },
            height: self.height,
            is_coinbase: self.is_coinbase,
        }
    }

    /// Writes this coin into `scratch` (reusing its script buffer), so a caller encoding many
    /// coins with [`Coin::encode`] allocates once, not per coin.
    pub fn fill(&self, scratch: &mut Coin) {
        let mut bytes = std::mem::take(&mut scratch.output.script_pubkey).into_bytes();
        bytes.clear();
        bytes.extend_from_slice(self.script);
        scratch.output = TxOut {
            value: self.value,
            script_pubkey: ScriptBuf::from_bytes(bytes),
        };
        scratch.height = self.height;
        scratch.is_coinbase = self.is_coinbase;
    }
}

fn flags_of(dirty: bool, fresh: bool) -> u8 {
    (if dirty { DIRTY } else { 0 }) | (if fresh { FRESH } else { 0 })
}

impl CacheEntry {
    /// An entry for `coin` (`None`: spent), taking the coin's script: copied inline when it is
    /// at most [`INLINE_SCRIPT_MAX`] bytes (the coin's buffer is freed), else kept boxed.
    pub fn new(coin: Option<Coin>, dirty: bool, fresh: bool) -> Self {
        let flags = flags_of(dirty, fresh);
        let Some(coin) = coin else {
            return CacheEntry(Packed::Spent { flags });
        };
        let value = coin.output.value.to_sat();
        let code = (coin.height << 1) | u32::from(coin.is_coinbase);
        let bytes = coin.output.script_pubkey.into_bytes();
        if bytes.len() <= INLINE_SCRIPT_MAX {
            return Self::inline(value, code, flags, &bytes);
        }
        CacheEntry(Packed::Boxed {
            value,
            code,
            flags,
            script: bytes.into_boxed_slice(),
        })
    }

    /// An entry for `output`, created at `height` (by a coinbase if `is_coinbase`), copying its
    /// script: no allocation unless the script is longer than [`INLINE_SCRIPT_MAX`].
    pub fn from_output(output: &TxOut, height: u32, is_coinbase: bool, dirty: bool, fresh: bool) -> Self {
        let flags = flags_of(dirty, fresh);
        let value = output.value.to_sat();
        let code = (height << 1) | u32::from(is_coinbase);
        let bytes = output.script_pubkey.as_bytes();
        if bytes.len() <= INLINE_SCRIPT_MAX {
            return Self::inline(value, code, flags, bytes);
        }
        CacheEntry(Packed::Boxed {
            value,
            code,
            flags,
            script: bytes.into(),
        })
    }

    /// A coin whose script (at most [`INLINE_SCRIPT_MAX`] bytes) is kept in the slot.
    fn inline(value: u64, code: u32, flags: u8, bytes: &[u8]) -> Self {
        let mut script = [0u8; INLINE_SCRIPT_MAX];
        script[..bytes.len()].copy_from_slice(bytes);
        CacheEntry(Packed::Inline {
            value,
            code,
            flags,
            len: bytes.len() as u8,
            script,
        })
    }

    /// A spent tombstone.
    pub fn spent(dirty: bool, fresh: bool) -> Self {
        CacheEntry::new(None, dirty, fresh)
    }

    /// The coin in place, or `None` for a spent entry.
    pub fn coin_ref(&self) -> Option<CoinRef<'_>> {
        let (value, code, script): (u64, u32, &[u8]) = match &self.0 {
            Packed::Spent { .. } => return None,
            Packed::Inline {
                value, code, len, script, ..
            } => (*value, *code, &script[..usize::from(*len)]),
            Packed::Boxed { value, code, script, .. } => (*value, *code, script),
        };
        Some(CoinRef {
            value: Amount::from_sat(value),
            script,
            height: code >> 1,
            is_coinbase: code & 1 == 1,
        })
    }

    /// The coin as an owned [`Coin`], or `None` for a spent entry.
    pub fn coin(&self) -> Option<Coin> {
        self.coin_ref().map(|c| c.to_coin())
    }

    /// True for a spent tombstone.
    pub fn is_spent(&self) -> bool {
        matches!(self.0, Packed::Spent { .. })
    }

    fn flags(&self) -> u8 {
        match &self.0 {
            Packed::Spent { flags } | Packed::Inline { flags, .. } | Packed::Boxed { flags, .. } => *flags,
        }
    }

    /// The database differs from this entry.
    pub fn is_dirty(&self) -> bool {
        self.flags() & DIRTY != 0
    }

    /// The database has no unspent coin for this outpoint.
    pub fn is_fresh(&self) -> bool {
        self.flags() & FRESH != 0
    }

    /// Sets both flags (a flush makes a coin clean and no longer fresh).
    pub fn set_flags(&mut self, dirty: bool, fresh: bool) {
        match &mut self.0 {
            Packed::Spent { flags } | Packed::Inline { flags, .. } | Packed::Boxed { flags, .. } => *flags = flags_of(dirty, fresh),
        }
    }

    /// Heap bytes this entry holds outside its slot: a boxed script's allocation as glibc's
    /// malloc rounds it (16-byte chunks with an 8-byte header, 32 at least), else none.
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Packed::Boxed { script, .. } => ((script.len() + 8 + 15) & !15).max(32),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::OutPoint;

    fn coin(script_len: usize, height: u32, is_coinbase: bool) -> Coin {
        Coin {
            output: TxOut {
                value: Amount::from_sat(u64::MAX - u64::from(height)),
                script_pubkey: ScriptBuf::from_bytes((0..script_len).map(|i| i as u8 ^ 0x5a).collect()),
            },
            height,
            is_coinbase,
        }
    }

    /// The slot stays at the size the module doc chose its inline bound by.
    #[test]
    fn slot_is_80_bytes() {
        assert_eq!(std::mem::size_of::<CacheEntry>(), 40);
        assert_eq!(std::mem::size_of::<(OutPoint, CacheEntry)>(), 80);
    }

    /// Scripts at and around the inline bound (and empty, and long) come back as they went in,
    /// with height and coinbase; only those above the bound use the heap.
    #[test]
    fn scripts_round_trip_inline_and_boxed() {
        for (len, heap) in [
            (0, 0),
            (1, 0),
            (22, 0),
            (24, 0),
            (25, 0),
            (26, 48),
            (34, 48),
            (41, 64),
            (10_000, 10_016),
        ] {
            for (height, cb) in [(0, false), (7, true), ((1 << 31) - 1, true)] {
                let c = coin(len, height, cb);
                let e = CacheEntry::new(Some(c.clone()), true, false);
                assert_eq!(e.coin(), Some(c.clone()), "len {len} height {height}");
                let r = e.coin_ref().unwrap();
                assert_eq!((r.script.len(), r.height, r.is_coinbase), (len, height, cb));
                assert_eq!(e.heap_bytes(), heap, "len {len}");
                assert!(!e.is_spent());
                let mut scratch = coin(3, 1, false);
                r.fill(&mut scratch);
                assert_eq!(scratch, c);
            }
        }
    }

    /// Flags are independent of the coin and survive `set_flags`; a tombstone has no coin.
    #[test]
    fn flags_and_spent_entries() {
        for (dirty, fresh) in [(false, false), (true, false), (false, true), (true, true)] {
            for e in [
                CacheEntry::new(Some(coin(25, 3, false)), dirty, fresh),
                CacheEntry::new(Some(coin(26, 3, false)), dirty, fresh),
                CacheEntry::spent(dirty, fresh),
            ] {
                assert_eq!((e.is_dirty(), e.is_fresh()), (dirty, fresh));
                let mut f = e.clone();
                f.set_flags(!dirty, !fresh);
                assert_eq!((f.is_dirty(), f.is_fresh()), (!dirty, !fresh));
                assert_eq!(f.coin(), e.coin(), "flags leave the coin alone");
            }
        }
        let s = CacheEntry::spent(true, false);
        assert!(s.is_spent());
        assert_eq!(s.coin(), None);
        assert_eq!(s.coin_ref(), None);
        assert_eq!(s.heap_bytes(), 0);
    }
}

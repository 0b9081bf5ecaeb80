//! Core's script execution cache (`m_script_execution_cache`): the transactions whose every
//! input script passed under a given set of script flags.
//!
//! An entry is a salted SHA-256 of the transaction's wtxid and the flags, so a transaction
//! checked under one set of flags is checked again under another (a block above a soft fork's
//! activation height), and nobody without the salt can aim a collision at an entry. The wtxid
//! commits to every spent outpoint and those to the spent outputs, so an entry holds whatever
//! block the transaction appears in. Only a whole transaction's success is ever recorded.
//!
//! Memory is a fixed table, as Core's cuckoo cache: 32 bytes per entry plus one byte that
//! marks an entry as used up (a block consumed it; it is overwritten first). Entries live in
//! buckets of [`BUCKET`] slots chosen by the key; a full bucket overwrites a used-up entry, else
//! the slot the key names (random eviction, the salt keeps it unpredictable). `-maxsigcachesize`
//! is split as in Core, half for this cache (Core's other half is its signature cache, which
//! the interpreter library keeps internal): the default 32 MiB gives 16 MiB, 508,400 entries.

use super::scripts::ScriptFlags;
use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::Wtxid;
use std::sync::Mutex;

/// Slots per bucket: a key lives in one bucket and is looked for in its slots only.
pub const BUCKET: usize = 8;
/// Bytes one entry takes: the 32-byte key and its used-up mark.
pub const ENTRY_BYTES: usize = 33;
/// Core's default `-maxsigcachesize`, in MiB.
pub const DEFAULT_MAX_SIG_CACHE_MIB: u64 = 32;

/// Bounded, thread-safe set of (wtxid, flags) whose scripts all passed.
pub struct ScriptCache {
    /// SHA-256 state after the 64-byte salt (Core writes its 32 random bytes twice).
    salted: sha256::HashEngine,
    table: Mutex<Table>,
}

struct Table {
    /// Slots the table has once allocated.
    slots: usize,
    /// Salted keys; all zeros is an empty slot. Allocated by the first insert, so a node that
    /// never accepts a transaction to its mempool (an import, `-blocksonly`) never writes the
    /// table's megabytes of zeros.
    keys: Vec<[u8; 32]>,
    /// Whether each entry was used up by a connected block.
    used: Vec<bool>,
    /// Occupied slots.
    len: usize,
}

impl ScriptCache {
    /// A cache holding as many entries as fit in `bytes` (none when fewer than one bucket).
    pub fn with_bytes(bytes: usize) -> Self {
        Self::with_entries(bytes / ENTRY_BYTES)
    }

    /// A cache of `entries` slots, rounded down to whole buckets (0: caches nothing).
    pub fn with_entries(entries: usize) -> Self {
        let slots = entries / BUCKET * BUCKET;
        let salt: [u8; 32] = rand::random();
        let mut salted = sha256::HashEngine::default();
        salted.input(&salt);
        salted.input(&salt);
        ScriptCache {
            salted,
            table: Mutex::new(Table {
                slots,
                keys: Vec::new(),
                used: Vec::new(),
                len: 0,
            }),
        }
    }

    /// The script-cache share of `-maxsigcachesize=<mib>` in bytes (half, as Core).
    pub fn bytes_for_max_sig_cache_mib(mib: u64) -> usize {
        usize::try_from(mib.saturating_mul(1 << 20) / 2).unwrap_or(usize::MAX)
    }

    /// How many entries the cache can hold.
    pub fn capacity(&self) -> usize {
        self.lock().slots
    }

    /// How many entries it holds now.
    pub fn len(&self) -> usize {
        self.lock().len
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records that every input script of `wtxid` passed under `flags`.
    pub fn insert(&self, wtxid: &Wtxid, flags: ScriptFlags) {
        let key = self.key(wtxid, flags);
        let mut t = self.lock();
        if t.keys.len() != t.slots {
            t.keys = vec![[0; 32]; t.slots];
            t.used = vec![false; t.slots];
        }
        let Some(bucket) = t.bucket(&key) else { return };
        if bucket.clone().any(|i| t.keys[i] == key) {
            return;
        }
        let free = bucket.clone().find(|&i| t.keys[i] == [0; 32]);
        let slot = free
            .or_else(|| bucket.clone().find(|&i| t.used[i]))
            .unwrap_or(bucket.start + key[8] as usize % BUCKET);
        if free.is_some() {
            t.len += 1;
        }
        t.keys[slot] = key;
        t.used[slot] = false;
    }

    /// Whether `wtxid` passed under `flags`; `use_up` marks the entry as the first to overwrite
    /// (Core's erase on block connection: the transaction is not expected to be checked again).
    pub fn contains(&self, wtxid: &Wtxid, flags: ScriptFlags, use_up: bool) -> bool {
        let key = self.key(wtxid, flags);
        let mut t = self.lock();
        let Some(mut bucket) = t.bucket(&key) else { return false };
        match bucket.find(|&i| t.keys[i] == key) {
            Some(i) => {
                t.used[i] |= use_up;
                true
            }
            None => false,
        }
    }

    fn key(&self, wtxid: &Wtxid, flags: ScriptFlags) -> [u8; 32] {
        let mut e = self.salted.clone();
        e.input(wtxid.as_byte_array());
        e.input(&flags.to_le_bytes());
        let key = sha256::Hash::from_engine(e).to_byte_array();
        // All zeros marks an empty slot; a salted hash is never that in practice.
        if key == [0; 32] {
            [1; 32]
        } else {
            key
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        crate::sync::lock(&self.table)
    }
}

impl Table {
    fn bucket(&self, key: &[u8; 32]) -> Option<std::ops::Range<usize>> {
        let buckets = self.keys.len() / BUCKET;
        if buckets == 0 {
            return None;
        }
        let mut first = [0u8; 8];
        first.copy_from_slice(&key[..8]);
        let start = (u64::from_le_bytes(first) % buckets as u64) as usize * BUCKET;
        Some(start..start + BUCKET)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::scripts::{VERIFY_ALL, VERIFY_ALL_PRE_TAPROOT, VERIFY_NULLDUMMY};

    fn wtxid(n: u32) -> Wtxid {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_le_bytes());
        Wtxid::from_byte_array(b)
    }

    #[test]
    fn the_table_is_allocated_by_the_first_insert() {
        let c = ScriptCache::with_entries(1024);
        assert_eq!(c.capacity(), 1024);
        assert!(c.lock().keys.is_empty(), "allocated before anything was inserted");
        assert!(!c.contains(&wtxid(1), VERIFY_ALL, true));
        assert!(c.lock().keys.is_empty(), "a lookup allocated the table");
        c.insert(&wtxid(1), VERIFY_ALL);
        let t = c.lock();
        assert_eq!((t.keys.len(), t.used.len()), (1024, 1024));
        drop(t);
        assert!(c.contains(&wtxid(1), VERIFY_ALL, false));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn entries_are_keyed_by_wtxid_and_flags() {
        let c = ScriptCache::with_entries(1024);
        let without_nulldummy = VERIFY_ALL & !VERIFY_NULLDUMMY;
        c.insert(&wtxid(1), without_nulldummy);
        assert!(c.contains(&wtxid(1), without_nulldummy, false));
        assert!(!c.contains(&wtxid(1), VERIFY_ALL, false));
        assert!(!c.contains(&wtxid(1), VERIFY_ALL_PRE_TAPROOT, false));
        assert!(!c.contains(&wtxid(2), without_nulldummy, false));
        c.insert(&wtxid(1), without_nulldummy);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn salts_differ_between_caches() {
        let (a, b) = (ScriptCache::with_entries(8), ScriptCache::with_entries(8));
        assert_ne!(a.key(&wtxid(1), VERIFY_ALL), b.key(&wtxid(1), VERIFY_ALL));
    }

    #[test]
    fn size_is_bounded() {
        let c = ScriptCache::with_entries(64 + 5);
        assert_eq!(c.capacity(), 64);
        for n in 0..10_000 {
            c.insert(&wtxid(n), VERIFY_ALL);
        }
        assert!(c.len() <= 64);
        let kept = (0..10_000).filter(|n| c.contains(&wtxid(*n), VERIFY_ALL, false)).count();
        assert_eq!(kept, c.len());
        // The newest entry is always kept.
        assert!(c.contains(&wtxid(9_999), VERIFY_ALL, false));
        let none = ScriptCache::with_entries(BUCKET - 1);
        none.insert(&wtxid(1), VERIFY_ALL);
        assert!(!none.contains(&wtxid(1), VERIFY_ALL, false));
        assert!(none.is_empty());
    }

    #[test]
    fn used_up_entries_are_overwritten_first() {
        let c = ScriptCache::with_entries(BUCKET);
        for n in 0..BUCKET as u32 {
            c.insert(&wtxid(n), VERIFY_ALL);
        }
        assert_eq!(c.len(), BUCKET);
        assert!(c.contains(&wtxid(3), VERIFY_ALL, true));
        assert!(c.contains(&wtxid(3), VERIFY_ALL, false), "a used-up entry still answers");
        c.insert(&wtxid(100), VERIFY_ALL);
        assert!(!c.contains(&wtxid(3), VERIFY_ALL, false));
        let kept = (0..BUCKET as u32).filter(|n| c.contains(&wtxid(*n), VERIFY_ALL, false)).count();
        assert_eq!(kept, BUCKET - 1);
        assert!(c.contains(&wtxid(100), VERIFY_ALL, false));
    }

    #[test]
    fn default_budget_is_half_of_cores_default() {
        let bytes = ScriptCache::bytes_for_max_sig_cache_mib(DEFAULT_MAX_SIG_CACHE_MIB);
        assert_eq!(bytes, 16 << 20);
        assert_eq!(bytes / ENTRY_BYTES / BUCKET * BUCKET, 508_400);
    }
}

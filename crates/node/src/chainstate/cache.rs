//! The in-memory write-back coins cache over the database, and the per-block overlay view.
//!
//! Entries follow Core's CCoinsViewCache semantics: `dirty` means the database differs from the
//! entry; `fresh` means the database holds no unspent coin for the outpoint, so spending a fresh
//! coin simply forgets it.

use super::coin::{outpoint_key, Coin};
use crate::store::db::{CoinReader, DbError};
use crate::store::encoding::Reader;
use bitcoin::OutPoint;
use std::collections::HashMap;

const ENTRY_OVERHEAD: usize = 80;

/// One cached outpoint.
#[derive(Debug, Clone)]
pub struct CacheEntry {
    /// The coin, or `None` for a spent coin not yet deleted from the database.
    pub coin: Option<Coin>,
    /// The database differs from this entry.
    pub dirty: bool,
    /// The database has no unspent coin for this outpoint.
    pub fresh: bool,
}

/// The coins cache, bounded by the caller through [`CoinsCache::memory_usage`].
#[derive(Default)]
pub struct CoinsCache {
    map: HashMap<OutPoint, CacheEntry>,
    usage: usize,
}

fn entry_usage(e: &CacheEntry) -> usize {
    ENTRY_OVERHEAD + e.coin.as_ref().map(Coin::memory_usage).unwrap_or(0)
}

/// Decodes a coin read from the database.
pub fn decode_db_coin(bytes: &[u8], path: &std::path::Path) -> Result<Coin, DbError> {
    Coin::decode(&mut Reader::new(bytes)).map_err(|e| DbError::Corrupt {
        path: path.to_path_buf(),
        what: e.to_string(),
    })
}

impl CoinsCache {
    /// The unspent coin at `op`, loading it from the database into the cache on a miss.
    pub fn get(&mut self, op: &OutPoint, reader: &CoinReader, db_path: &std::path::Path) -> Result<Option<Coin>, DbError> {
        if let Some(e) = self.map.get(op) {
            return Ok(e.coin.clone());
        }
        match reader.get(&outpoint_key(op))? {
            Some(bytes) => {
                let coin = decode_db_coin(&bytes, db_path)?;
                let e = CacheEntry {
                    coin: Some(coin.clone()),
                    dirty: false,
                    fresh: false,
                };
                self.usage += entry_usage(&e);
                self.map.insert(*op, e);
                Ok(Some(coin))
            }
            None => Ok(None),
        }
    }

    /// True when the cache holds an entry (coin or tombstone) for `op`.
    pub fn has_entry(&self, op: &OutPoint) -> bool {
        self.map.contains_key(op)
    }

    fn put(&mut self, op: OutPoint, e: CacheEntry) {
        self.usage += entry_usage(&e);
        if let Some(old) = self.map.insert(op, e) {
            self.usage -= entry_usage(&old);
        }
    }

    fn remove(&mut self, op: &OutPoint) {
        if let Some(old) = self.map.remove(op) {
            self.usage -= entry_usage(&old);
        }
    }

    /// Applies a block's changes: `Some(coin)` adds, `None` spends.
    pub fn apply(&mut self, changes: HashMap<OutPoint, ViewEntry>) {
        for (op, change) in changes {
            let existing = self.map.get(&op).map(|e| (e.fresh, e.dirty));
            match (change.coin, existing) {
                (Some(coin), Some((fresh, _))) => self.put(
                    op,
                    CacheEntry {
                        coin: Some(coin),
                        dirty: true,
                        fresh,
                    },
                ),
                (Some(coin), None) => self.put(
                    op,
                    CacheEntry {
                        coin: Some(coin),
                        dirty: true,
                        fresh: change.fresh,
                    },
                ),
                (None, Some((true, _))) => self.remove(&op),
                (None, Some((false, _))) => self.put(
                    op,
                    CacheEntry {
                        coin: None,
                        dirty: true,
                        fresh: false,
                    },
                ),
                (None, None) => {
                    if !change.fresh {
                        self.put(
                            op,
                            CacheEntry {
                                coin: None,
                                dirty: true,
                                fresh: false,
                            },
                        );
                    }
                }
            }
        }
    }

    /// Takes every dirty entry as a database write (`None` = delete), leaving clean entries.
    pub fn take_dirty(&mut self) -> Vec<([u8; 36], Option<Vec<u8>>)> {
        let out = self.dirty_writes();
        self.mark_flushed();
        out
    }

    /// Every dirty entry as a database write (`None` = delete), leaving the cache unchanged, so
    /// a failed commit loses nothing; call [`CoinsCache::mark_flushed`] once the commit succeeded.
    pub fn dirty_writes(&self) -> Vec<([u8; 36], Option<Vec<u8>>)> {
        let mut out = Vec::new();
        for (op, e) in self.map.iter() {
            if !e.dirty {
                continue;
            }
            match &e.coin {
                Some(c) => {
                    let mut buf = Vec::with_capacity(16 + c.output.script_pubkey.len());
                    c.encode(&mut buf);
                    out.push((outpoint_key(op), Some(buf)));
                }
                None => out.push((outpoint_key(op), None)),
            }
        }
        out
    }

    /// Records that every dirty entry is now in the database: coins become clean (and no longer
    /// fresh), tombstones are dropped.
    pub fn mark_flushed(&mut self) {
        let mut tombstones = Vec::new();
        for (op, e) in self.map.iter_mut() {
            if !e.dirty {
                continue;
            }
            if e.coin.is_some() {
                e.dirty = false;
                e.fresh = false;
            } else {
                tombstones.push(*op);
            }
        }
        for op in tombstones {
            self.remove(&op);
        }
    }

    /// Drops every entry; only valid right after a successful flush.
    pub fn clear(&mut self) {
        self.map.clear();
        self.map.shrink_to_fit();
        self.usage = 0;
    }

    /// Approximate bytes used by the cache.
    pub fn memory_usage(&self) -> usize {
        self.usage
    }

    /// Number of cached entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of dirty entries awaiting a flush.
    pub fn dirty_count(&self) -> usize {
        self.map.values().filter(|e| e.dirty).count()
    }
}

/// A change recorded by a [`BlockView`].
#[derive(Debug, Clone)]
pub struct ViewEntry {
    /// The coin after the change (`None` = spent).
    pub coin: Option<Coin>,
    /// The database is known to have no unspent coin at this outpoint.
    pub fresh: bool,
}

/// A throw-away overlay on the cache: a block is connected or disconnected into it and the
/// changes are applied to the cache only if every rule passed, so a bad block changes nothing.
pub struct BlockView<'a> {
    base: &'a mut CoinsCache,
    reader: &'a CoinReader,
    db_path: &'a std::path::Path,
    changes: HashMap<OutPoint, ViewEntry>,
}

impl<'a> BlockView<'a> {
    /// A view over `base`, reading misses through `reader`.
    pub fn new(base: &'a mut CoinsCache, reader: &'a CoinReader, db_path: &'a std::path::Path) -> Self {
        BlockView {
            base,
            reader,
            db_path,
            changes: HashMap::new(),
        }
    }

    /// The unspent coin at `op` as seen through the overlay.
    pub fn get(&mut self, op: &OutPoint) -> Result<Option<Coin>, DbError> {
        if let Some(e) = self.changes.get(op) {
            return Ok(e.coin.clone());
        }
        self.base.get(op, self.reader, self.db_path)
    }

    /// Whether the database certainly holds no coin at `op` (no cache entry and none on disk).
    pub fn known_absent_from_db(&mut self, op: &OutPoint) -> Result<bool, DbError> {
        if self.changes.contains_key(op) {
            return Ok(self.changes.get(op).map(|e| e.fresh).unwrap_or(false));
        }
        Ok(self.base.get(op, self.reader, self.db_path)?.is_none() && !self.base.has_entry(op))
    }

    /// Spends the coin at `op`, returning it, or `None` if it is missing or already spent.
    pub fn spend(&mut self, op: &OutPoint) -> Result<Option<Coin>, DbError> {
        let coin = self.get(op)?;
        if coin.is_some() {
            let fresh = self.changes.get(op).map(|e| e.fresh).unwrap_or(false);
            self.changes.insert(*op, ViewEntry { coin: None, fresh });
        }
        Ok(coin)
    }

    /// Adds a coin; `fresh` when the database is known to have none at `op`.
    pub fn add(&mut self, op: OutPoint, coin: Coin, fresh: bool) {
        let fresh = fresh || self.changes.get(&op).map(|e| e.fresh).unwrap_or(false);
        self.changes.insert(op, ViewEntry { coin: Some(coin), fresh });
    }

    /// The recorded changes, for [`CoinsCache::apply`].
    pub fn into_changes(self) -> HashMap<OutPoint, ViewEntry> {
        self.changes
    }
}

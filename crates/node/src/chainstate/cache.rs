//! The in-memory write-back coins cache over the database, and the per-block overlay view.
//!
//! Entries follow Core's CCoinsViewCache semantics: `dirty` means the database differs from the
//! entry; `fresh` means the database holds no unspent coin for the outpoint, so spending a fresh
//! coin simply forgets it.
//!
//! A background flush freezes the cache (see [`CoinsCache::freeze`]): its entries become an
//! immutable generation being written while a new live generation fills on top of it. Lookups
//! go live -> frozen -> database, and `fresh` then means "neither the frozen generation nor the
//! database holds an unspent coin", as for a cache layered over another cache in Core.

use super::coin::{outpoint_key, Coin};
use super::outpoint_hash::SaltedOutpointHasher;
pub use super::packed::CacheEntry;
use super::packed::CoinRef;
use super::prefetch::FetchSession;
use crate::store::db::{CoinPut, CoinReader, DbError, SortedCoinWrites};
use crate::store::encoding::Reader;
use bitcoin::hashes::Hash;
use bitcoin::OutPoint;
use std::collections::HashMap;
use std::sync::Arc;

/// Bytes of one hash-table slot: the key and entry stored inline, plus hashbrown's control byte.
const SLOT_BYTES: usize = std::mem::size_of::<(OutPoint, CacheEntry)>() + 1;
/// Bytes the writer of a frozen generation adds per dirty entry (a reference pair, sorted).
pub const WRITER_BYTES_PER_ENTRY: usize = 2 * std::mem::size_of::<usize>();

/// A generation of cached entries by outpoint, hashed with its own random keys.
pub type CoinMap = HashMap<OutPoint, CacheEntry, SaltedOutpointHasher>;

/// A block's changes recorded by a [`BlockView`], for [`CoinsCache::apply`].
pub type ViewChanges = HashMap<OutPoint, ViewEntry, SaltedOutpointHasher>;

/// A frozen generation of the cache: every entry (clean and dirty) it held when a background
/// flush froze it, shared with the writer thread that commits its dirty entries.
pub type FrozenCoins = Arc<CoinMap>;

/// The coins cache, bounded by the caller through [`CoinsCache::memory_usage`], which counts
/// what the heap really holds: the hash table by its allocated slots (not its entries) and each
/// script's allocation as the allocator rounds it.
#[derive(Default)]
pub struct CoinsCache {
    map: CoinMap,
    /// Heap bytes of the live entries' boxed scripts.
    usage: usize,
    /// The generation a background flush is writing (or failed to write), below `map`.
    frozen: Option<FrozenCoins>,
    frozen_usage: usize,
    /// Most changes one [`CoinsCache::apply`] carried: the room a block may need in the table.
    max_block_growth: usize,
    /// The last lookup found no live entry (it read the frozen generation or the database).
    last_missed: bool,
}

fn entry_usage(e: &CacheEntry) -> usize {
    e.heap_bytes()
}

/// Bytes of a hash table whose `capacity()` is `capacity` (hashbrown keeps a power-of-two slot
/// count filled to at most 7/8, below 8 slots to all but one).
fn table_bytes(capacity: usize) -> usize {
    let slots = match capacity {
        0 => 0,
        c if c < 8 => c + 1,
        c => c / 7 * 8,
    };
    slots * SLOT_BYTES
}

/// Bytes of the table hashbrown allocates to hold `items` entries (its slot count rule).
fn table_bytes_for(items: usize) -> usize {
    let slots = match items {
        0 => 0,
        i if i < 4 => 4,
        i if i < 8 => 8,
        i => (i.saturating_mul(8) / 7).next_power_of_two(),
    };
    slots * SLOT_BYTES
}

/// Bytes of a map: its table and its scripts (`heap`).
fn map_usage(map: &CoinMap, heap: usize) -> usize {
    table_bytes(map.capacity()) + heap
}

/// Decodes a coin read from the database.
pub fn decode_db_coin(bytes: &[u8], path: &std::path::Path) -> Result<Coin, DbError> {
    Coin::decode(&mut Reader::new(bytes)).map_err(|e| DbError::Corrupt {
        path: path.to_path_buf(),
        what: e.to_string(),
    })
}

impl CoinsCache {
    /// The unspent coin at `op`, loading it from the frozen generation or the database into the
    /// cache on a miss. A frozen tombstone means spent: the database (which still holds the coin
    /// until the frozen generation lands) is not consulted. A coin from the frozen generation
    /// enters as clean and not fresh: the database holds it once that generation is committed,
    /// and if that commit fails the next flush writes the frozen generation below this one.
    pub fn get(&mut self, op: &OutPoint, reader: &CoinReader, db_path: &std::path::Path) -> Result<Option<Coin>, DbError> {
        self.get_fetched(op, None, reader, db_path)
    }

    /// [`CoinsCache::get`], with the database's answer for `op` already read (`fetched`, by a
    /// prefetch worker) used in place of reading `reader`; only the database read is replaced.
    pub fn get_fetched(
        &mut self,
        op: &OutPoint,
        fetched: Option<Option<Coin>>,
        reader: &CoinReader,
        db_path: &std::path::Path,
    ) -> Result<Option<Coin>, DbError> {
        self.lookup(op, fetched, reader, db_path, |c| c.map(|c| c.to_coin()))
    }

    /// [`CoinsCache::get_fetched`] handing `f` the coin in place (no copy of its script), and
    /// returning what `f` makes of it.
    pub fn lookup<R>(
        &mut self,
        op: &OutPoint,
        fetched: Option<Option<Coin>>,
        reader: &CoinReader,
        db_path: &std::path::Path,
        f: impl FnOnce(Option<CoinRef<'_>>) -> R,
    ) -> Result<R, DbError> {
        if let Some(e) = self.map.get(op) {
            self.last_missed = false;
            return Ok(f(e.coin_ref()));
        }
        self.last_missed = true;
        let below = self.frozen.as_ref().and_then(|g| g.get(op)).map(|e| {
            let mut e = e.clone();
            e.set_flags(false, false);
            e
        });
        if let Some(e) = below {
            if e.is_spent() {
                return Ok(f(None));
            }
            let r = f(e.coin_ref());
            self.put(*op, e);
            return Ok(r);
        }
        let coin = match fetched {
            Some(coin) => coin,
            None => match reader.get(&outpoint_key(op))? {
                Some(bytes) => Some(decode_db_coin(&bytes, db_path)?),
                None => None,
            },
        };
        match coin {
            Some(coin) => {
                let e = CacheEntry::new(Some(coin), false, false);
                let r = f(e.coin_ref());
                self.put(*op, e);
                Ok(r)
            }
            None => Ok(f(None)),
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

    /// Applies a block's changes: a coin adds, a spent entry spends (one table probe each).
    /// Returns what it replaced, for [`CoinsCache::revert`]; dropping it keeps the changes.
    pub fn apply(&mut self, changes: ViewChanges) -> Applied {
        use std::collections::hash_map::Entry;
        let mut applied = Applied {
            replaced: Vec::with_capacity(changes.len()),
            usage: self.usage,
            max_block_growth: self.max_block_growth,
        };
        self.max_block_growth = self.max_block_growth.max(changes.len());
        for (op, change) in changes {
            let ViewEntry { coin: mut e, fresh } = change;
            match self.map.entry(op) {
                Entry::Occupied(mut slot) => {
                    let was_fresh = slot.get().is_fresh();
                    self.usage -= entry_usage(slot.get());
                    let old = if !e.is_spent() {
                        e.set_flags(true, was_fresh);
                        self.usage += entry_usage(&e);
                        slot.insert(e)
                    } else if was_fresh {
                        slot.remove()
                    } else {
                        slot.insert(CacheEntry::spent(true, false))
                    };
                    applied.replaced.push((op, Some(old)));
                }
                Entry::Vacant(slot) => {
                    if e.is_spent() {
                        if fresh {
                            continue;
                        }
                        e = CacheEntry::spent(true, false);
                    } else {
                        e.set_flags(true, fresh);
                    }
                    self.usage += entry_usage(&e);
                    slot.insert(e);
                    applied.replaced.push((op, None));
                }
            }
        }
        applied
    }

    /// Undoes an [`CoinsCache::apply`] (the last one: nothing may have changed the cache
    /// since), restoring every replaced entry: a block applied before its scripts were known
    /// to pass is taken back when one fails.
    pub fn revert(&mut self, applied: Applied) {
        for (op, old) in applied.replaced.into_iter().rev() {
            match old {
                Some(e) => {
                    self.map.insert(op, e);
                }
                None => {
                    self.map.remove(&op);
                }
            }
        }
        self.usage = applied.usage;
        self.max_block_growth = applied.max_block_growth;
    }

    /// Every dirty entry as a database write (`None` = delete), leaving the cache unchanged, so
    /// a failed commit loses nothing; call [`CoinsCache::mark_flushed`] once the commit succeeded.
    /// A frozen generation left by a failed background write comes first, the live one on top
    /// (the database applies writes in order), so the commit stores the state both describe.
    /// An encoded copy: only the flushes of a snapshot chainstate and its historical one use it
    /// (the node's usual flushes stream [`CoinsCache::sorted_writes`]).
    pub fn dirty_writes(&self) -> Vec<([u8; 36], Option<Vec<u8>>)> {
        let mut out = self.frozen.as_deref().map(dirty_writes_of).unwrap_or_default();
        out.extend(dirty_writes_of(&self.map));
        out
    }

    /// Every dirty entry (frozen generation first) as a write source reading the cache in
    /// place, for a synchronous flush: no encoded copy of the cache is built.
    pub fn sorted_writes(&self) -> CacheWrites<'_> {
        CacheWrites {
            frozen: self.frozen.as_deref(),
            live: &self.map,
        }
    }

    /// Moves every entry into a new frozen generation (returned for the writer) and starts an
    /// empty live one over it; `None` when a generation is already frozen (one at a time).
    pub fn freeze(&mut self) -> Option<FrozenCoins> {
        if self.frozen.is_some() {
            return None;
        }
        self.frozen_usage = self.live_usage() + WRITER_BYTES_PER_ENTRY * self.map.len();
        self.usage = 0;
        let frozen = Arc::new(std::mem::take(&mut self.map));
        self.frozen = Some(frozen.clone());
        Some(frozen)
    }

    /// Forgets the frozen generation once the database holds it (its commit succeeded and the
    /// next lookups use a reader taken after that commit); returned so the caller chooses where
    /// the (possibly large) deallocation happens.
    pub fn release_frozen(&mut self) -> Option<FrozenCoins> {
        self.frozen_usage = 0;
        self.frozen.take()
    }

    /// The frozen generation, if any (prefetch workers read it before the database).
    pub fn frozen(&self) -> Option<FrozenCoins> {
        self.frozen.clone()
    }

    /// True while a frozen generation is below the live one.
    pub fn has_frozen(&self) -> bool {
        self.frozen.is_some()
    }

    /// Bytes of the live generation alone (what a background flush freezes).
    pub fn live_usage(&self) -> usize {
        map_usage(&self.map, self.usage)
    }

    /// Bytes the live generation would hold, its writer included, at its largest before the
    /// next block is applied: now, or after the table doubles if the next block's entries (as
    /// many as the most one block added so far) may not fit in its slots. A resize holds the
    /// old and the new table at once, so that moment counts both.
    pub fn live_usage_next_block(&self) -> usize {
        let items = self.map.len() + self.max_block_growth;
        let now = self.live_usage() + WRITER_BYTES_PER_ENTRY * items;
        if items <= self.map.capacity() {
            return now;
        }
        now + table_bytes_for(items)
    }

    /// Gives the (just frozen, empty) live generation the largest table that, filled, fits
    /// `budget` bytes with its writer's references, so the generation fills it instead of
    /// being frozen at the first doubling that would not fit (a doubling holds old and new
    /// table at once). Entries that need more (boxed scripts) still freeze it earlier, through
    /// [`CoinsCache::live_usage_next_block`]. Does nothing to a table already that large.
    pub fn presize(&mut self, budget: usize) {
        let full = |slots: usize| slots * SLOT_BYTES + WRITER_BYTES_PER_ENTRY * (slots / 8 * 7);
        let mut slots = 0usize;
        while full((slots * 2).max(16)) <= budget {
            slots = (slots * 2).max(16);
        }
        let items = slots / 8 * 7;
        if items <= self.map.capacity() || self.live_usage() + full(slots) > budget {
            return;
        }
        self.map.reserve(items - self.map.len());
    }

    /// Records that every dirty live entry is now in the database: coins become clean (and no
    /// longer fresh), tombstones are dropped. The frozen generation is released separately.
    pub fn mark_flushed(&mut self) {
        let mut tombstones = Vec::new();
        for (op, e) in self.map.iter_mut() {
            if !e.is_dirty() {
                continue;
            }
            if !e.is_spent() {
                e.set_flags(false, false);
            } else {
                tombstones.push(*op);
            }
        }
        for op in tombstones {
            self.remove(&op);
        }
    }

    /// Drops every live entry; only valid right after a successful flush.
    pub fn clear(&mut self) {
        self.map = CoinMap::default();
        self.usage = 0;
    }

    /// Bytes used by the cache, frozen generation (and its writer) included.
    pub fn memory_usage(&self) -> usize {
        self.live_usage() + self.frozen_usage
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
        self.map.values().filter(|e| e.is_dirty()).count()
    }
}

/// The dirty entries of `map` as database writes (`None` = delete).
pub fn dirty_writes_of(map: &CoinMap) -> Vec<([u8; 36], Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut scratch = None;
    for (op, e) in map.iter() {
        if e.is_dirty() {
            out.push((outpoint_key(op), encode_entry(e, &mut scratch).map(<[u8]>::to_vec)));
        }
    }
    out
}

/// The database value of `e`'s coin (`None` for a tombstone), encoded by [`Coin::encode`]
/// through `scratch`, whose buffers are reused from one call to the next.
fn encode_entry<'s>(e: &CacheEntry, scratch: &'s mut Option<(Coin, Vec<u8>)>) -> Option<&'s [u8]> {
    let c = e.coin_ref()?;
    let (coin, buf) = scratch.get_or_insert_with(|| (c.to_coin(), Vec::new()));
    c.fill(coin);
    buf.clear();
    coin.encode(buf);
    Some(buf)
}

/// The dirty entries of a frozen generation as database writes, encoded one at a time while
/// the database takes them: the writer holds a sorted list of references (
/// [`WRITER_BYTES_PER_ENTRY`] each), not a copy of the coins.
pub struct FrozenWrites(pub FrozenCoins);

impl FrozenWrites {
    /// Number of dirty entries (the writes this source produces).
    pub fn len(&self) -> usize {
        self.0.values().filter(|e| e.is_dirty()).count()
    }

    /// True when the generation holds no dirty entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SortedCoinWrites for FrozenWrites {
    fn write_sorted(&self, put: &mut CoinPut<'_>) -> Result<(), DbError> {
        write_sorted_of(&self.0, put)
    }
}

/// Every dirty entry of a cache as database writes, read in place: a generation frozen by a
/// failed background write first, the live one on top (the database applies them in order).
pub struct CacheWrites<'a> {
    frozen: Option<&'a CoinMap>,
    live: &'a CoinMap,
}

impl CacheWrites<'_> {
    /// Number of writes this source produces.
    pub fn len(&self) -> usize {
        let dirty = |m: &CoinMap| m.values().filter(|e| e.is_dirty()).count();
        self.frozen.map(dirty).unwrap_or(0) + dirty(self.live)
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SortedCoinWrites for CacheWrites<'_> {
    fn write_sorted(&self, put: &mut CoinPut<'_>) -> Result<(), DbError> {
        if let Some(frozen) = self.frozen {
            write_sorted_of(frozen, put)?;
        }
        write_sorted_of(self.live, put)
    }
}

/// Writes the dirty entries of `map` through `put` in database key order (the txid's bytes,
/// then the big-endian vout), each coin encoded into one reused buffer.
fn write_sorted_of(map: &CoinMap, put: &mut CoinPut<'_>) -> Result<(), DbError> {
    let mut dirty: Vec<(&OutPoint, &CacheEntry)> = map.iter().filter(|(_, e)| e.is_dirty()).collect();
    dirty.sort_unstable_by(|a, b| (a.0.txid.as_byte_array(), a.0.vout).cmp(&(b.0.txid.as_byte_array(), b.0.vout)));
    let mut scratch = None;
    for (op, e) in dirty {
        put(&outpoint_key(op), encode_entry(e, &mut scratch))?;
    }
    Ok(())
}

/// What one [`CoinsCache::apply`] replaced (`None`: the outpoint had no entry), with the
/// accounting before it, so [`CoinsCache::revert`] restores the cache exactly.
#[must_use = "dropping it keeps the applied changes; pass it to CoinsCache::revert to undo them"]
pub struct Applied {
    replaced: Vec<(OutPoint, Option<CacheEntry>)>,
    usage: usize,
    max_block_growth: usize,
}

/// A change recorded by a [`BlockView`].
#[derive(Debug, Clone)]
pub struct ViewEntry {
    /// The coin after the change, packed as the cache keeps it (a spent entry: spent); its
    /// own flags are not used.
    pub coin: CacheEntry,
    /// The database is known to have no unspent coin at this outpoint.
    pub fresh: bool,
}

/// A throw-away overlay on the cache: a block is connected or disconnected into it and the
/// changes are applied to the cache only once every rule but the scripts passed (a script
/// failure then reverts them, see [`CoinsCache::revert`]), so a bad block changes nothing.
pub struct BlockView<'a> {
    base: &'a mut CoinsCache,
    reader: &'a CoinReader,
    db_path: &'a std::path::Path,
    changes: ViewChanges,
    /// The block's inputs read ahead by prefetch workers, if any.
    prefetch: Option<FetchSession>,
    /// Coins looked up through [`BlockView::get`] that the live cache did not hold.
    input_misses: usize,
}

impl<'a> BlockView<'a> {
    /// A view over `base`, reading misses through `reader`.
    pub fn new(base: &'a mut CoinsCache, reader: &'a CoinReader, db_path: &'a std::path::Path) -> Self {
        BlockView {
            base,
            reader,
            db_path,
            changes: ViewChanges::default(),
            prefetch: None,
            input_misses: 0,
        }
    }

    /// Uses `session`'s prefetched coins for the database reads of the block's inputs.
    pub fn with_prefetch(mut self, session: Option<FetchSession>) -> Self {
        self.prefetch = session;
        self
    }

    /// The unspent coin at `op` as seen through the overlay.
    pub fn get(&mut self, op: &OutPoint) -> Result<Option<Coin>, DbError> {
        if let Some(e) = self.changes.get(op) {
            return Ok(e.coin.coin());
        }
        let fetched = self.prefetch.as_mut().and_then(|p| p.take(op));
        let coin = self.base.get_fetched(op, fetched, self.reader, self.db_path);
        self.input_misses += usize::from(self.base.last_missed);
        coin
    }

    /// How many coins [`BlockView::get`] (and so [`BlockView::spend`]) found below the live cache.
    pub fn input_misses(&self) -> usize {
        self.input_misses
    }

    /// Whether the layers below the live cache certainly hold no unspent coin at `op` (no live
    /// entry, and a frozen tombstone or nothing frozen and nothing on disk): an output created
    /// there may be fresh. A frozen tombstone counts as absent because the live generation is
    /// only ever committed after (or together with, on top of) the frozen one.
    pub fn known_absent_from_db(&mut self, op: &OutPoint) -> Result<bool, DbError> {
        if self.changes.contains_key(op) {
            return Ok(self.changes.get(op).map(|e| e.fresh).unwrap_or(false));
        }
        let absent = self.base.lookup(op, None, self.reader, self.db_path, |c| c.is_none())?;
        Ok(absent && !self.base.has_entry(op))
    }

    /// BIP30 for an output the block creates at `op`, in one lookup: `None` when an unspent coin
    /// is already there (the block would overwrite it), else whether the coin may be fresh
    /// ([`BlockView::known_absent_from_db`], which would look `op` up a second time).
    /// `db_lacks_txid`: the database holds no coin of `op`'s transaction at all
    /// ([`BlockView::db_lacks_txid`]), so it need not be read for this output.
    pub fn probe_new_output(&mut self, op: &OutPoint, db_lacks_txid: bool) -> Result<Option<bool>, DbError> {
        if let Some(e) = self.changes.get(op) {
            return Ok(if e.coin.is_spent() { Some(e.fresh) } else { None });
        }
        let fetched = db_lacks_txid.then_some(None);
        if self.base.lookup(op, fetched, self.reader, self.db_path, |c| c.is_some())? {
            return Ok(None);
        }
        // Nothing unspent below: absent unless the live cache holds a (dirty) tombstone.
        Ok(Some(!self.base.has_entry(op)))
    }

    /// True when the database (this view's snapshot) holds no coin of the transaction `txid`:
    /// one seek for all of a new transaction's outputs (see [`BlockView::probe_new_output`]).
    pub fn db_lacks_txid(&self, txid: &bitcoin::Txid) -> Result<bool, DbError> {
        Ok(!self.reader.has_txid(txid.as_byte_array())?)
    }

    /// Spends the coin at `op`, returning it, or `None` if it is missing or already spent.
    pub fn spend(&mut self, op: &OutPoint) -> Result<Option<Coin>, DbError> {
        let coin = self.get(op)?;
        if coin.is_some() {
            let fresh = self.changes.get(op).map(|e| e.fresh).unwrap_or(false);
            self.changes.insert(
                *op,
                ViewEntry {
                    coin: CacheEntry::spent(false, false),
                    fresh,
                },
            );
        }
        Ok(coin)
    }

    /// Adds a coin; `fresh` when the database is known to have none at `op`.
    pub fn add(&mut self, op: OutPoint, coin: Coin, fresh: bool) {
        self.add_entry(op, CacheEntry::new(Some(coin), false, false), fresh);
    }

    /// [`BlockView::add`] for an output the block creates at `height`, copied from the block
    /// (no allocation for a script kept inline).
    pub fn add_output(&mut self, op: OutPoint, output: &bitcoin::TxOut, height: u32, is_coinbase: bool, fresh: bool) {
        self.add_entry(op, CacheEntry::from_output(output, height, is_coinbase, false, false), fresh);
    }

    fn add_entry(&mut self, op: OutPoint, coin: CacheEntry, fresh: bool) {
        use std::collections::hash_map::Entry;
        match self.changes.entry(op) {
            Entry::Occupied(mut slot) => {
                let fresh = fresh || slot.get().fresh;
                slot.insert(ViewEntry { coin, fresh });
            }
            Entry::Vacant(slot) => {
                slot.insert(ViewEntry { coin, fresh });
            }
        }
    }

    /// The recorded changes, for [`CoinsCache::apply`].
    pub fn into_changes(self) -> ViewChanges {
        self.changes
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::db::{ChainDb, FlushBatch};
    use bitcoin::hashes::Hash;
    use bitcoin::{Amount, ScriptBuf, TxOut, Txid};

    /// A test outpoint: txid of `n` bytes, output `n`.
    pub(crate) fn op(n: u8) -> OutPoint {
        OutPoint {
            txid: Txid::from_byte_array([n; 32]),
            vout: u32::from(n),
        }
    }

    /// A test coin worth `value` sat.
    pub(crate) fn coin(value: u64) -> Coin {
        Coin {
            output: TxOut {
                value: Amount::from_sat(value),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
            },
            height: 7,
            is_coinbase: false,
        }
    }

    /// Runs `f` on a block view over `cache` with a fresh reader of `db`, then applies it.
    fn block(cache: &mut CoinsCache, db: &ChainDb, f: impl FnOnce(&mut BlockView<'_>)) {
        let reader = db.coin_reader().unwrap();
        let mut view = BlockView::new(cache, &reader, db.path());
        f(&mut view);
        let changes = view.into_changes();
        drop(reader);
        let _kept = cache.apply(changes);
    }

    fn commit(db: &ChainDb, coins: Vec<([u8; 36], Option<Vec<u8>>)>) {
        db.commit(FlushBatch {
            coins,
            ..Default::default()
        })
        .unwrap();
    }

    /// The coin at `n` as a reader of the database alone sees it.
    fn on_disk(db: &ChainDb, n: u8) -> Option<Coin> {
        let bytes = db.coin_reader().unwrap().get(&outpoint_key(&op(n))).unwrap()?;
        Some(decode_db_coin(&bytes, db.path()).unwrap())
    }

    fn entry(cache: &CoinsCache, n: u8) -> Option<(Option<u64>, bool, bool)> {
        let e = cache.map.get(&op(n))?;
        Some((e.coin_ref().map(|c| c.value.to_sat()), e.is_dirty(), e.is_fresh()))
    }

    /// A database holding coins 1 and 2.
    fn db_with_coins_1_and_2(dir: &std::path::Path) -> ChainDb {
        let db = ChainDb::open(&dir.join("chainstate")).unwrap();
        let mut setup = CoinsCache::default();
        block(&mut setup, &db, |v| {
            v.add(op(1), coin(1), true);
            v.add(op(2), coin(2), true);
        });
        commit(&db, setup.dirty_writes());
        db
    }

    /// A database holding coins 1 and 2, and a cache that spent 1 and created 3 (fresh), frozen.
    fn frozen_over_db(dir: &std::path::Path) -> (ChainDb, CoinsCache) {
        let db = db_with_coins_1_and_2(dir);
        let mut cache = CoinsCache::default();
        block(&mut cache, &db, |v| {
            assert_eq!(v.spend(&op(1)).unwrap(), Some(coin(1)));
            assert!(v.known_absent_from_db(&op(3)).unwrap());
            v.add(op(3), coin(3), true);
        });
        assert!(cache.freeze().is_some());
        assert!(cache.freeze().is_none(), "one frozen generation at a time");
        assert_eq!(cache.live_usage(), 0);
        assert!(cache.memory_usage() > 0, "the frozen generation counts against the budget");
        (db, cache)
    }

    /// A block applied and then reverted (its scripts failed) leaves the cache as it was, in
    /// every case `apply` handles: a fresh coin spent (removed), a clean database coin spent (a
    /// tombstone), a coin added over a tombstone, new coins (one with a boxed script), a
    /// database coin read into the cache by the block, and a fresh spend of a new outpoint.
    #[test]
    fn a_reverted_block_leaves_the_cache_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let db = db_with_coins_1_and_2(dir.path());
        let mut cache = CoinsCache::default();
        block(&mut cache, &db, |v| {
            assert_eq!(v.spend(&op(2)).unwrap(), Some(coin(2)));
            v.add(op(3), coin(3), true);
            v.add(op(4), coin(4), false);
        });
        let (before, usage) = (cache.map.clone(), cache.usage);
        let reader = db.coin_reader().unwrap();
        let mut view = BlockView::new(&mut cache, &reader, db.path());
        assert_eq!(view.spend(&op(3)).unwrap(), Some(coin(3)), "fresh: removed by apply");
        assert_eq!(view.spend(&op(4)).unwrap(), Some(coin(4)), "not fresh: a tombstone");
        assert_eq!(view.spend(&op(1)).unwrap(), Some(coin(1)), "read from the database");
        view.add(op(2), coin(22), false);
        let long = Coin {
            output: TxOut {
                value: Amount::from_sat(5),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51; 40]),
            },
            height: 8,
            is_coinbase: true,
        };
        view.add(op(5), long, true);
        view.add(op(6), coin(6), true);
        assert_eq!(view.spend(&op(6)).unwrap(), Some(coin(6)), "created and spent in the block");
        let changes = view.into_changes();
        drop(reader);
        let applied = cache.apply(changes);
        assert_ne!(cache.map, before);
        assert!(cache.usage > usage, "the boxed script counts");
        cache.revert(applied);
        // Op 1 entered the cache through the block's lookup (clean): reverting takes the
        // block's spend back, leaving the clean copy a lookup would have left.
        assert_eq!(entry(&cache, 1), Some((Some(1), false, false)));
        cache.map.remove(&op(1));
        assert_eq!(cache.map, before);
        // The scripts' heap bytes are back; the table keeps any room it grew (it is counted).
        assert_eq!(cache.usage, usage);
    }

    #[test]
    fn lookups_go_live_then_frozen_then_database() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut cache) = frozen_over_db(dir.path());
        let reader = db.coin_reader().unwrap();
        // Spent in the frozen generation: the database still has it, but it is gone.
        assert_eq!(on_disk(&db, 1), Some(coin(1)));
        assert_eq!(cache.get(&op(1), &reader, db.path()).unwrap(), None);
        assert_eq!(entry(&cache, 1), None, "a frozen tombstone is not copied up");
        // Created in the frozen generation: found there, enters the live cache clean, not fresh.
        assert_eq!(on_disk(&db, 3), None);
        assert_eq!(cache.get(&op(3), &reader, db.path()).unwrap(), Some(coin(3)));
        assert_eq!(entry(&cache, 3), Some((Some(3), false, false)));
        // Untouched: read from the database.
        assert_eq!(cache.get(&op(2), &reader, db.path()).unwrap(), Some(coin(2)));
        assert_eq!(cache.get(&op(9), &reader, db.path()).unwrap(), None);
        drop(reader);
        // The writer's commit lands, then the generation is released: the database answers.
        let frozen = cache.release_frozen().unwrap();
        commit(&db, dirty_writes_of(&frozen));
        assert_eq!(on_disk(&db, 1), None);
        assert_eq!(on_disk(&db, 3), Some(coin(3)));
        assert!(cache.dirty_writes().is_empty(), "nothing changed in the live generation");
    }

    #[test]
    fn fresh_and_dirty_rules_hold_across_a_freeze() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut cache) = frozen_over_db(dir.path());
        block(&mut cache, &db, |v| {
            // Created before the freeze, spent after: a dirty tombstone, not fresh (the frozen
            // generation will put it in the database).
            assert_eq!(v.spend(&op(3)).unwrap(), Some(coin(3)));
            // Created and spent after the freeze: fresh, so it leaves no trace.
            assert!(v.known_absent_from_db(&op(4)).unwrap());
            v.add(op(4), coin(4), true);
        });
        block(&mut cache, &db, |v| {
            assert_eq!(v.spend(&op(4)).unwrap(), Some(coin(4)));
            // A database coin spent after the freeze.
            assert_eq!(v.spend(&op(2)).unwrap(), Some(coin(2)));
        });
        assert_eq!(entry(&cache, 3), Some((None, true, false)));
        assert_eq!(entry(&cache, 4), None);
        assert_eq!(entry(&cache, 2), Some((None, true, false)));
        let frozen = cache.release_frozen().unwrap();
        commit(&db, dirty_writes_of(&frozen));
        commit(&db, cache.dirty_writes());
        cache.mark_flushed();
        for n in 1..=4 {
            assert_eq!(on_disk(&db, n), None, "coin {n}");
        }
        assert!(cache.is_empty(), "flushed tombstones are dropped");
    }

    #[test]
    fn bip30_overwrites_across_a_freeze() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut cache) = frozen_over_db(dir.path());
        block(&mut cache, &db, |v| {
            // Spent in the frozen generation (still on disk): absent below the live cache, so a
            // new coin there may be fresh; the frozen delete lands first, the new coin on top.
            assert!(v.known_absent_from_db(&op(1)).unwrap());
            v.add(op(1), coin(11), true);
            // Unspent in the frozen generation: a duplicate coinbase overwrites it, not fresh.
            assert!(!v.known_absent_from_db(&op(3)).unwrap());
            v.add(op(3), coin(33), false);
        });
        assert_eq!(entry(&cache, 1), Some((Some(11), true, true)));
        assert_eq!(entry(&cache, 3), Some((Some(33), true, false)));
        // Spending the overwritten coin must delete it from the database, not forget it.
        block(&mut cache, &db, |v| assert_eq!(v.spend(&op(3)).unwrap(), Some(coin(33))));
        assert_eq!(entry(&cache, 3), Some((None, true, false)));
        let frozen = cache.release_frozen().unwrap();
        commit(&db, dirty_writes_of(&frozen));
        commit(&db, cache.dirty_writes());
        assert_eq!(on_disk(&db, 1), Some(coin(11)));
        assert_eq!(on_disk(&db, 3), None);
    }

    /// BIP30's probe of new outputs: a transaction the database has no coin of is answered by
    /// one seek, and one it has coins of is still looked up output by output.
    #[test]
    fn new_outputs_are_probed_with_one_seek_per_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut cache) = frozen_over_db(dir.path());
        let reader = db.coin_reader().unwrap();
        let mut view = BlockView::new(&mut cache, &reader, db.path());
        let with_vout = |n: u8, vout: u32| OutPoint { vout, ..op(n) };
        // The database holds 1 and 2 (1 spent in the frozen generation), not 0, 3 (frozen) or 4.
        assert!(view.db_lacks_txid(&op(0).txid).unwrap());
        assert!(!view.db_lacks_txid(&op(1).txid).unwrap());
        assert!(!view.db_lacks_txid(&op(2).txid).unwrap());
        assert!(view.db_lacks_txid(&op(3).txid).unwrap());
        assert!(view.db_lacks_txid(&op(4).txid).unwrap());
        // An unspent coin on disk or in the frozen generation: overwritten (BIP30).
        assert_eq!(view.probe_new_output(&op(2), false).unwrap(), None);
        assert_eq!(view.probe_new_output(&op(3), true).unwrap(), None);
        // Another output of a transaction on disk: absent, so fresh.
        assert_eq!(view.probe_new_output(&with_vout(2, 0), false).unwrap(), Some(true));
        // Spent in the frozen generation: absent below the live cache.
        assert_eq!(view.probe_new_output(&op(1), false).unwrap(), Some(true));
        assert_eq!(view.probe_new_output(&op(4), true).unwrap(), Some(true));
        // Created in this view, then spent: fresh as recorded.
        view.add(op(4), coin(4), true);
        assert_eq!(view.probe_new_output(&op(4), true).unwrap(), None);
        assert_eq!(view.spend(&op(4)).unwrap(), Some(coin(4)));
        assert_eq!(view.probe_new_output(&op(4), true).unwrap(), Some(true));
        let changes = view.into_changes();
        drop(reader);
        let _kept = cache.apply(changes);
        // A live tombstone (a database coin spent since): the database may still hold it.
        block(&mut cache, &db, |v| assert_eq!(v.spend(&op(2)).unwrap(), Some(coin(2))));
        let reader = db.coin_reader().unwrap();
        let mut view = BlockView::new(&mut cache, &reader, db.path());
        assert_eq!(view.probe_new_output(&op(2), false).unwrap(), Some(false));
    }

    /// A presized table is the largest whose filled slots and writer fit the budget, and the
    /// live generation fills it without a doubling (no freeze is needed before it is full).
    #[test]
    fn presized_table_fits_the_budget_and_fills_without_growing() {
        let budget = 1 << 20;
        let mut cache = CoinsCache::default();
        cache.presize(budget);
        let cap = cache.map.capacity();
        assert_eq!(cap, 8192 / 8 * 7, "8,192 slots of {SLOT_BYTES} bytes fit 1 MiB, 16,384 do not");
        let filled = cache.live_usage() + WRITER_BYTES_PER_ENTRY * cap;
        assert!(filled <= budget && filled + table_bytes(cap) > budget, "{filled}");
        let mut changes = ViewChanges::default();
        for i in 0..cap as u32 {
            let o = OutPoint { vout: i, ..op(1) };
            changes.insert(
                o,
                ViewEntry {
                    coin: CacheEntry::new(Some(coin(1)), false, false),
                    fresh: true,
                },
            );
        }
        let _kept = cache.apply(changes);
        assert_eq!(cache.map.capacity(), cap, "no doubling");
        cache.presize(budget);
        assert_eq!(cache.map.capacity(), cap, "a table already that large is left alone");
    }

    /// A failed background write keeps the frozen generation: one commit of frozen then live
    /// yields what the two separate commits would.
    #[test]
    fn a_kept_frozen_generation_is_written_below_the_live_one() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut cache) = frozen_over_db(dir.path());
        block(&mut cache, &db, |v| {
            assert_eq!(v.spend(&op(3)).unwrap(), Some(coin(3)));
            v.add(op(1), coin(11), true);
            v.add(op(5), coin(5), true);
        });
        commit(&db, cache.dirty_writes());
        cache.mark_flushed();
        drop(cache.release_frozen());
        let got: Vec<_> = (1..=5).map(|n| on_disk(&db, n)).collect();
        assert_eq!(got, vec![Some(coin(11)), Some(coin(2)), None, None, Some(coin(5))]);
    }
}

//! Transaction relay state: what each peer already knows (so nothing is announced twice),
//! announcements waiting for the peer's next trickle time (Poisson-distributed, as Core, so
//! the origin of a transaction is hard to tell), requested transactions, and the orphan pool.

use bitcoin::{Transaction, Txid, Wtxid};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Entries remembered per peer as already known to it.
pub const MAX_KNOWN_INVENTORY: usize = 50_000;
/// Transactions announced to one peer per trickle (Core's INVENTORY_BROADCAST_MAX).
pub const INVENTORY_BROADCAST_MAX: usize = 1_000;
/// Pending announcements per peer before the oldest are dropped.
pub const MAX_PENDING_ANNOUNCE: usize = 10_000;
/// Transactions requested from one peer at a time.
pub const MAX_TX_IN_FLIGHT: usize = 100;
/// How long a transaction request may stay unanswered.
pub const TX_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Orphan transactions kept (Core's DEFAULT_MAX_ORPHAN_TRANSACTIONS).
pub const MAX_ORPHANS: usize = 100;
/// Largest orphan kept (weight), as Core's MAX_STANDARD_TX_WEIGHT.
pub const MAX_ORPHAN_WEIGHT: u64 = 400_000;
/// Orphans expire after this long.
pub const ORPHAN_EXPIRY: Duration = Duration::from_secs(20 * 60);

/// A bounded set that forgets its oldest entries.
#[derive(Debug, Default)]
pub struct RollingSet {
    set: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
    cap: usize,
}

impl RollingSet {
    /// A set holding at most `cap` entries.
    pub fn new(cap: usize) -> Self {
        RollingSet {
            set: HashSet::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    /// Adds an entry; returns false if it was present.
    pub fn insert(&mut self, k: [u8; 32]) -> bool {
        if !self.set.insert(k) {
            return false;
        }
        self.order.push_back(k);
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    /// Whether the entry is present.
    pub fn contains(&self, k: &[u8; 32]) -> bool {
        self.set.contains(k)
    }
}

/// Relay state of one peer.
#[derive(Debug)]
pub struct PeerRelay {
    /// Hashes (txid or wtxid, as the peer relays) the peer knows.
    pub known: RollingSet,
    /// Waiting for the next trickle: (txid, wtxid).
    pub pending: VecDeque<(Txid, Wtxid)>,
    /// When the next trickle is due.
    pub next_trickle: Instant,
    /// Requested from this peer: hash -> when.
    pub in_flight: HashMap<[u8; 32], Instant>,
    /// The peer wants transaction announcements at all.
    pub relay_txs: bool,
    /// It announces and requests by wtxid (BIP339).
    pub wtxid: bool,
    /// Its fee filter (sat/kvB).
    pub fee_filter: u64,
    /// It asked for our mempool already.
    pub sent_mempool: bool,
}

impl PeerRelay {
    /// New state; `relay_txs` false for block-relay-only peers and peers that said relay=0.
    pub fn new(relay_txs: bool, wtxid: bool) -> Self {
        PeerRelay {
            known: RollingSet::new(MAX_KNOWN_INVENTORY),
            pending: VecDeque::new(),
            next_trickle: Instant::now(),
            in_flight: HashMap::new(),
            relay_txs,
            wtxid,
            fee_filter: 0,
            sent_mempool: false,
        }
    }

    /// The hash this peer uses for a transaction.
    pub fn key(&self, txid: &Txid, wtxid: &Wtxid) -> [u8; 32] {
        use bitcoin::hashes::Hash;
        if self.wtxid {
            wtxid.to_byte_array()
        } else {
            txid.to_byte_array()
        }
    }

    /// Queues an announcement unless the peer already knows the transaction or its fee rate
    /// (sat/kvB) is below the peer's fee filter.
    pub fn queue(&mut self, txid: Txid, wtxid: Wtxid, feerate: u64) {
        if !self.relay_txs || feerate < self.fee_filter || self.known.contains(&self.key(&txid, &wtxid)) {
            return;
        }
        if self.pending.len() >= MAX_PENDING_ANNOUNCE {
            self.pending.pop_front();
        }
        self.pending.push_back((txid, wtxid));
    }
}

/// Draws the delay to the next trickle: exponential with mean `mean` (a Poisson process).
pub fn poisson_delay(mean: Duration) -> Duration {
    let u: f64 = rand::random::<f64>().max(1e-12);
    mean.mul_f64(-u.ln()).min(mean * 4)
}

/// An orphan: a transaction whose inputs are not all known yet.
#[derive(Debug, Clone)]
pub struct Orphan {
    /// The transaction.
    pub tx: Transaction,
    /// Who sent it.
    pub from: u64,
    /// When it arrived.
    pub since: Instant,
}

/// The orphan pool, bounded in count and per-transaction size.
#[derive(Debug, Default)]
pub struct Orphans {
    by_wtxid: HashMap<Wtxid, Orphan>,
}

impl Orphans {
    /// Keeps `tx` (false if it is too big or already there); evicts a random orphan when full.
    pub fn add(&mut self, tx: Transaction, from: u64) -> bool {
        if tx.weight().to_wu() > MAX_ORPHAN_WEIGHT {
            return false;
        }
        let w = tx.compute_wtxid();
        if self.by_wtxid.contains_key(&w) {
            return false;
        }
        if self.by_wtxid.len() >= MAX_ORPHANS {
            if let Some(k) = self.by_wtxid.keys().nth(rand::random::<usize>() % self.by_wtxid.len()).copied() {
                self.by_wtxid.remove(&k);
            }
        }
        self.by_wtxid.insert(
            w,
            Orphan {
                tx,
                from,
                since: Instant::now(),
            },
        );
        true
    }

    /// Orphans spending an output of `parent`.
    pub fn children_of(&self, parent: &Txid) -> Vec<Wtxid> {
        self.by_wtxid
            .iter()
            .filter(|(_, o)| o.tx.input.iter().any(|i| i.previous_output.txid == *parent))
            .map(|(w, _)| *w)
            .collect()
    }

    /// Removes and returns an orphan.
    pub fn take(&mut self, w: &Wtxid) -> Option<Orphan> {
        self.by_wtxid.remove(w)
    }

    /// Whether an orphan with this wtxid or txid is held.
    pub fn contains(&self, key: &[u8; 32]) -> bool {
        use bitcoin::hashes::Hash;
        self.by_wtxid
            .iter()
            .any(|(w, o)| w.to_byte_array() == *key || o.tx.compute_txid().to_byte_array() == *key)
    }

    /// Drops expired orphans and those from `peer` when it misbehaved.
    pub fn expire(&mut self, now: Instant) {
        self.by_wtxid.retain(|_, o| now.duration_since(o.since) < ORPHAN_EXPIRY);
    }

    /// Drops everything a peer sent.
    pub fn erase_from(&mut self, peer: u64) {
        self.by_wtxid.retain(|_, o| o.from != peer);
    }

    /// Number held.
    pub fn len(&self) -> usize {
        self.by_wtxid.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.by_wtxid.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_set_forgets_oldest() {
        let mut s = RollingSet::new(2);
        assert!(s.insert([1; 32]));
        assert!(!s.insert([1; 32]));
        s.insert([2; 32]);
        s.insert([3; 32]);
        assert!(!s.contains(&[1; 32]));
        assert!(s.contains(&[3; 32]));
    }

    #[test]
    fn poisson_mean_is_close() {
        let mean = Duration::from_millis(100);
        let total: Duration = (0..2000).map(|_| poisson_delay(mean)).sum();
        let avg = total / 2000;
        assert!(avg > Duration::from_millis(80) && avg < Duration::from_millis(120), "{avg:?}");
    }
}

//! Transaction relay state: what each peer already knows (so nothing is announced twice),
//! announcements waiting for the peer's next trickle time (Poisson-distributed, as Core, so
//! the origin of a transaction is hard to tell), and requested transactions.

use bitcoin::{Txid, Wtxid};
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

/// A bounded set of 32-byte hashes that forgets its oldest entries. Each hash is kept as a
/// 64-bit keyed hash (a per-process random key, so collisions cannot be aimed): about 20 bytes
/// per entry instead of about 80, at a false-positive rate of `cap / 2^64`, far below the
/// rolling bloom filters Core uses for the same tables.
#[derive(Debug, Default)]
pub struct RollingSet {
    set: HashSet<u64>,
    order: VecDeque<u64>,
    cap: usize,
    key: std::hash::RandomState,
}

impl RollingSet {
    /// A set holding at most `cap` entries.
    pub fn new(cap: usize) -> Self {
        RollingSet {
            set: HashSet::new(),
            order: VecDeque::new(),
            cap,
            key: std::hash::RandomState::new(),
        }
    }

    fn short(&self, k: &[u8; 32]) -> u64 {
        use std::hash::BuildHasher;
        self.key.hash_one(k)
    }

    /// Adds an entry; returns false if it was present.
    pub fn insert(&mut self, k: [u8; 32]) -> bool {
        let s = self.short(&k);
        if !self.set.insert(s) {
            return false;
        }
        self.order.push_back(s);
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    /// Whether the entry is present.
    pub fn contains(&self, k: &[u8; 32]) -> bool {
        self.set.contains(&self.short(k))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

/// Relay state of one peer.
#[derive(Debug)]
pub struct PeerRelay {
    /// Hashes (txid or wtxid, as the peer relays) the peer knows.
    pub known: RollingSet,
    /// Waiting for the next trickle: (txid, wtxid, fee rate in sat/kvB).
    pub pending: VecDeque<(Txid, Wtxid, u64)>,
    /// When the next trickle is due (UNIX ms on the node's mockable clock, as Core's
    /// announcement timer, so tests move it with `setmocktime`).
    pub next_trickle: u64,
    /// The mempool sequence at the last trickle: transactions that entered since were not
    /// offered to this peer and are not served to it (Core's m_last_inv_sequence).
    pub last_inv_sequence: u64,
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
            next_trickle: 0,
            last_inv_sequence: 1,
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

    /// Queues an announcement unless the peer already knows the transaction. Its fee rate
    /// (sat/kvB) is kept and compared with the peer's fee filter when the announcement is sent,
    /// as Core's SendMessages does: a filter that changes in between (e.g. the peer's "send me
    /// nothing" filter of initial block download being replaced) applies to what is sent.
    pub fn queue(&mut self, txid: Txid, wtxid: Wtxid, feerate: u64) {
        if !self.relay_txs || self.known.contains(&self.key(&txid, &wtxid)) {
            return;
        }
        if self.pending.len() >= MAX_PENDING_ANNOUNCE {
            self.pending.pop_front();
        }
        self.pending.push_back((txid, wtxid, feerate));
    }
}

/// Draws the delay to the next trickle: exponential with mean `mean` (a Poisson process).
pub fn poisson_delay(mean: Duration) -> Duration {
    let u: f64 = rand::random::<f64>().max(1e-12);
    mean.mul_f64(-u.ln()).min(mean * 4)
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
        assert_eq!(s.len(), 2);
        let mut big = RollingSet::new(MAX_KNOWN_INVENTORY);
        for i in 0..(MAX_KNOWN_INVENTORY as u32 * 2) {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_le_bytes());
            big.insert(k);
        }
        assert_eq!(big.len(), MAX_KNOWN_INVENTORY);
    }

    #[test]
    fn poisson_mean_is_close() {
        let mean = Duration::from_millis(100);
        let total: Duration = (0..2000).map(|_| poisson_delay(mean)).sum();
        let avg = total / 2000;
        assert!(avg > Duration::from_millis(80) && avg < Duration::from_millis(120), "{avg:?}");
    }
}

//! The orphan pool: transactions whose parents we do not have yet, kept (bounded in count,
//! size and share per peer) until a parent arrives. Every lookup is by index: an `inv` item,
//! a parent's arrival and a peer's departure cost the size of what they touch, never a scan
//! of the pool (an attacker filling the pool must not make each announcement expensive).

use bitcoin::hashes::Hash;
use bitcoin::{Transaction, Txid, Wtxid};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Orphan transactions kept (Core's DEFAULT_MAX_ORPHAN_TRANSACTIONS).
pub const MAX_ORPHANS: usize = 100;
/// Orphans one peer may hold; past it the peer's own oldest orphan makes room, so one peer
/// cannot push out everyone else's.
pub const MAX_ORPHANS_PER_PEER: usize = 25;
/// Largest orphan kept (weight), as Core's MAX_STANDARD_TX_WEIGHT: with [`MAX_ORPHANS`] the
/// pool holds at most 10 MB of transactions.
pub const MAX_ORPHAN_WEIGHT: u64 = 400_000;
/// Orphans expire after this long.
pub const ORPHAN_EXPIRY: Duration = Duration::from_secs(20 * 60);

/// An orphan: a transaction whose inputs are not all known yet.
#[derive(Debug, Clone)]
pub struct Orphan {
    /// The transaction.
    pub tx: Transaction,
    /// Its txid (computed once, on arrival).
    pub txid: Txid,
    /// Who sent it.
    pub from: u64,
    /// When it arrived.
    pub since: Instant,
}

/// The orphan pool with its indexes (by txid, by parent, by peer).
#[derive(Debug, Default)]
pub struct Orphans {
    by_wtxid: HashMap<Wtxid, Orphan>,
    by_txid: HashMap<Txid, Wtxid>,
    by_parent: HashMap<Txid, HashSet<Wtxid>>,
    by_peer: HashMap<u64, VecDeque<Wtxid>>,
}

impl Orphans {
    /// Keeps `tx` from `from` (false if it is too big or already there). When the peer holds
    /// its share, its oldest orphan goes; when the pool is full, the oldest orphan of the peer
    /// holding the most goes.
    pub fn add(&mut self, tx: Transaction, from: u64) -> bool {
        if tx.weight().to_wu() > MAX_ORPHAN_WEIGHT {
            return false;
        }
        let w = tx.compute_wtxid();
        if self.by_wtxid.contains_key(&w) {
            return false;
        }
        let own = self.by_peer.get(&from).map_or(0, VecDeque::len);
        if own >= MAX_ORPHANS_PER_PEER {
            self.evict_oldest_of(from);
        } else if self.by_wtxid.len() >= MAX_ORPHANS {
            let biggest = self.by_peer.iter().max_by_key(|(p, q)| (q.len(), **p)).map(|(p, _)| *p);
            if let Some(p) = biggest {
                self.evict_oldest_of(p);
            }
        }
        let txid = tx.compute_txid();
        for i in &tx.input {
            self.by_parent.entry(i.previous_output.txid).or_default().insert(w);
        }
        self.by_txid.insert(txid, w);
        self.by_peer.entry(from).or_default().push_back(w);
        self.by_wtxid.insert(
            w,
            Orphan {
                tx,
                txid,
                from,
                since: Instant::now(),
            },
        );
        true
    }

    fn evict_oldest_of(&mut self, peer: u64) {
        if let Some(w) = self.by_peer.get(&peer).and_then(|q| q.front().copied()) {
            self.take(&w);
        }
    }

    /// Orphans spending an output of `parent`.
    pub fn children_of(&self, parent: &Txid) -> Vec<Wtxid> {
        self.by_parent.get(parent).map(|s| s.iter().copied().collect()).unwrap_or_default()
    }

    /// Removes and returns an orphan.
    pub fn take(&mut self, w: &Wtxid) -> Option<Orphan> {
        let o = self.by_wtxid.remove(w)?;
        self.by_txid.remove(&o.txid);
        for i in &o.tx.input {
            let p = i.previous_output.txid;
            if let Some(s) = self.by_parent.get_mut(&p) {
                s.remove(w);
                if s.is_empty() {
                    self.by_parent.remove(&p);
                }
            }
        }
        if let Some(q) = self.by_peer.get_mut(&o.from) {
            q.retain(|x| x != w);
            if q.is_empty() {
                self.by_peer.remove(&o.from);
            }
        }
        Some(o)
    }

    /// Whether an orphan with this wtxid or txid is held.
    pub fn contains(&self, key: &[u8; 32]) -> bool {
        self.by_wtxid.contains_key(&Wtxid::from_byte_array(*key)) || self.by_txid.contains_key(&Txid::from_byte_array(*key))
    }

    /// Drops orphans older than [`ORPHAN_EXPIRY`].
    pub fn expire(&mut self, now: Instant) {
        let old: Vec<Wtxid> = self
            .by_wtxid
            .iter()
            .filter(|(_, o)| now.duration_since(o.since) >= ORPHAN_EXPIRY)
            .map(|(w, _)| *w)
            .collect();
        for w in old {
            self.take(&w);
        }
    }

    /// Drops everything a peer sent.
    pub fn erase_from(&mut self, peer: u64) {
        for w in self.by_peer.get(&peer).cloned().unwrap_or_default() {
            self.take(&w);
        }
    }

    /// Number held.
    pub fn len(&self) -> usize {
        self.by_wtxid.len()
    }

    /// Number held from one peer.
    pub fn len_from(&self, peer: u64) -> usize {
        self.by_peer.get(&peer).map_or(0, VecDeque::len)
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.by_wtxid.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::{absolute, transaction, Amount, OutPoint, ScriptBuf, Sequence, TxIn, TxOut, Witness};

    fn tx(parent: u8, n: u32) -> Transaction {
        Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint {
                    txid: Txid::from_byte_array([parent; 32]),
                    vout: n,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1000),
                script_pubkey: ScriptBuf::new(),
            }],
        }
    }

    /// The indexes always describe exactly the orphans held.
    fn assert_consistent(o: &Orphans) {
        assert_eq!(o.by_txid.len(), o.by_wtxid.len());
        assert_eq!(o.by_peer.values().map(VecDeque::len).sum::<usize>(), o.by_wtxid.len());
        for (w, orphan) in &o.by_wtxid {
            assert_eq!(o.by_txid[&orphan.txid], *w);
            assert!(o.by_peer[&orphan.from].contains(w));
            for i in &orphan.tx.input {
                assert!(o.by_parent[&i.previous_output.txid].contains(w));
            }
        }
        let parent_links: usize = o.by_parent.values().map(HashSet::len).sum();
        assert_eq!(parent_links, o.by_wtxid.values().map(|x| x.tx.input.len()).sum::<usize>());
    }

    #[test]
    fn lookups_by_txid_wtxid_and_parent() {
        let mut o = Orphans::default();
        let t = tx(7, 0);
        assert!(o.add(t.clone(), 1));
        assert!(!o.add(t.clone(), 2), "duplicate");
        assert!(o.contains(&t.compute_txid().to_byte_array()));
        assert!(o.contains(&t.compute_wtxid().to_byte_array()));
        assert!(!o.contains(&[9; 32]));
        assert_eq!(o.children_of(&Txid::from_byte_array([7; 32])), vec![t.compute_wtxid()]);
        assert!(o.take(&t.compute_wtxid()).is_some());
        assert!(o.is_empty());
        assert!(o.children_of(&Txid::from_byte_array([7; 32])).is_empty());
        assert_consistent(&o);
    }

    #[test]
    fn one_peer_cannot_push_out_the_others() {
        let mut o = Orphans::default();
        for i in 0..10 {
            assert!(o.add(tx(1, i), 1));
        }
        // Peer 2 floods: it only ever replaces its own orphans.
        for i in 0..1_000 {
            o.add(tx(2, i), 2);
            assert_consistent(&o);
        }
        assert_eq!(o.len_from(1), 10);
        assert_eq!(o.len_from(2), MAX_ORPHANS_PER_PEER);
        // Many peers fill the pool: the global bound holds and the largest holder pays first.
        for p in 3..40u64 {
            for i in 0..5 {
                o.add(tx(p as u8, i), p);
            }
        }
        assert!(o.len() <= MAX_ORPHANS);
        assert!(o.len_from(2) < MAX_ORPHANS_PER_PEER, "the biggest holder was evicted first");
        assert_consistent(&o);
        o.erase_from(1);
        assert_eq!(o.len_from(1), 0);
        assert_consistent(&o);
    }
}

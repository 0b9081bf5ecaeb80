//! The orphan pool: transactions whose parents we do not have yet, kept (bounded in count,
//! size and share per peer) until a parent arrives. As Core's orphanage, each orphan keeps the
//! set of peers that announced or sent it: a peer's departure removes its announcements, and an
//! orphan nobody announces any more is erased. Every lookup is by index: an `inv` item, a
//! parent's arrival and a peer's departure cost the size of what they touch, never a scan of
//! the pool (an attacker filling the pool must not make each announcement expensive).

use bitcoin::hashes::Hash;
use bitcoin::{Block, OutPoint, Transaction, Txid, Wtxid};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Orphan transactions kept (Core's DEFAULT_MAX_ORPHAN_TRANSACTIONS).
pub const MAX_ORPHANS: usize = 100;
/// Orphan announcements one peer may hold; past it the peer's own oldest announcement makes
/// room, so one peer cannot push out everyone else's.
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
    /// The peers that sent or announced it (never empty while it is held).
    pub announcers: BTreeSet<u64>,
    /// When it arrived.
    pub since: Instant,
}

impl Orphan {
    /// The announcer it is attributed to when reconsidered (the lowest peer id).
    pub fn first_announcer(&self) -> u64 {
        self.announcers.first().copied().unwrap_or_default()
    }
}

/// The orphan pool with its indexes (by txid, by spent outpoint, by announcing peer).
#[derive(Debug, Default)]
pub struct Orphans {
    by_wtxid: HashMap<Wtxid, Orphan>,
    by_txid: HashMap<Txid, Wtxid>,
    /// Orphans spending each outpoint (Core's m_outpoint_to_orphan_it).
    by_outpoint: HashMap<OutPoint, HashSet<Wtxid>>,
    /// Each peer's announcements, oldest first.
    by_peer: HashMap<u64, VecDeque<Wtxid>>,
}

impl Orphans {
    /// Keeps `tx` announced by `from` (false if it is too big or already there, also with
    /// another witness: one orphan per txid keeps the txid index exact). When the peer
    /// holds its share, its oldest announcement goes; while the pool is full, the oldest
    /// announcement of the peer holding the most goes (an orphan goes with its last announcer).
    pub fn add(&mut self, tx: Transaction, from: u64) -> bool {
        if tx.weight().to_wu() > MAX_ORPHAN_WEIGHT {
            return false;
        }
        let (w, txid) = (tx.compute_wtxid(), tx.compute_txid());
        if self.by_wtxid.contains_key(&w) || self.by_txid.contains_key(&txid) {
            return false;
        }
        self.make_room_for(from);
        while self.by_wtxid.len() >= MAX_ORPHANS {
            let biggest = self.by_peer.iter().max_by_key(|(p, q)| (q.len(), **p)).map(|(p, _)| *p);
            match biggest {
                Some(p) => self.evict_oldest_of(p),
                None => break,
            }
        }
        for i in &tx.input {
            self.by_outpoint.entry(i.previous_output).or_default().insert(w);
        }
        self.by_txid.insert(txid, w);
        self.by_peer.entry(from).or_default().push_back(w);
        self.by_wtxid.insert(
            w,
            Orphan {
                tx,
                txid,
                announcers: BTreeSet::from([from]),
                since: Instant::now(),
            },
        );
        true
    }

    /// Records another peer announcing a held orphan (Core's AddAnnouncer); false if the orphan
    /// is not held or the peer announced it already.
    pub fn add_announcer(&mut self, w: &Wtxid, peer: u64) -> bool {
        if self.by_wtxid.get(w).is_none_or(|o| o.announcers.contains(&peer)) {
            return false;
        }
        self.make_room_for(peer);
        // Making room only drops this peer's announcements, which do not include `w`.
        let Some(o) = self.by_wtxid.get_mut(w) else { return false };
        o.announcers.insert(peer);
        self.by_peer.entry(peer).or_default().push_back(*w);
        true
    }

    /// Drops the peer's oldest announcement when it holds its share.
    fn make_room_for(&mut self, peer: u64) {
        if self.len_from(peer) >= MAX_ORPHANS_PER_PEER {
            self.evict_oldest_of(peer);
        }
    }

    fn evict_oldest_of(&mut self, peer: u64) {
        let Some(q) = self.by_peer.get_mut(&peer) else { return };
        let Some(w) = q.pop_front() else { return };
        if q.is_empty() {
            self.by_peer.remove(&peer);
        }
        self.drop_announcer(&w, peer);
    }

    /// Removes `peer` from the orphan's announcers (its queue entry must be gone already);
    /// the orphan is erased when nobody is left. Returns whether it was erased.
    fn drop_announcer(&mut self, w: &Wtxid, peer: u64) -> bool {
        let Some(o) = self.by_wtxid.get_mut(w) else { return false };
        o.announcers.remove(&peer);
        o.announcers.is_empty() && self.take(w).is_some()
    }

    /// Orphans spending an output of `parent` (each once).
    pub fn children_of(&self, parent: &Transaction) -> Vec<Wtxid> {
        let txid = parent.compute_txid();
        let mut seen = HashSet::new();
        (0..parent.output.len() as u32)
            .filter_map(|vout| self.by_outpoint.get(&OutPoint { txid, vout }))
            .flatten()
            .filter(|w| seen.insert(**w))
            .copied()
            .collect()
    }

    /// Orphans spending an output of `parent` that `peer` announced, newest first (Core's
    /// GetChildrenFromSamePeer: 1p1c package relay pairs a parent only with its sender's children).
    pub fn children_from_peer(&self, parent: &Transaction, peer: u64) -> Vec<Wtxid> {
        let mut v: Vec<(Instant, Wtxid)> = self
            .children_of(parent)
            .into_iter()
            .filter_map(|w| self.by_wtxid.get(&w).filter(|o| o.announcers.contains(&peer)).map(|o| (o.since, w)))
            .collect();
        v.sort_unstable_by_key(|(since, _)| std::cmp::Reverse(*since));
        v.into_iter().map(|(_, w)| w).collect()
    }

    /// The orphan with this wtxid.
    pub fn get(&self, w: &Wtxid) -> Option<&Orphan> {
        self.by_wtxid.get(w)
    }

    /// Removes and returns an orphan.
    pub fn take(&mut self, w: &Wtxid) -> Option<Orphan> {
        let o = self.by_wtxid.remove(w)?;
        self.by_txid.remove(&o.txid);
        for i in &o.tx.input {
            let p = i.previous_output;
            if let Some(s) = self.by_outpoint.get_mut(&p) {
                s.remove(w);
                if s.is_empty() {
                    self.by_outpoint.remove(&p);
                }
            }
        }
        for peer in &o.announcers {
            if let Some(q) = self.by_peer.get_mut(peer) {
                q.retain(|x| x != w);
                if q.is_empty() {
                    self.by_peer.remove(peer);
                }
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
        for w in &old {
            self.take(w);
        }
        if !old.is_empty() {
            tracing::debug!(target: "blvm::mempool", "Erased {} orphan tx due to expiration", old.len());
        }
    }

    /// Removes every announcement of a peer that is gone (Core's EraseForPeer); orphans left
    /// without announcer are erased. Returns how many were erased.
    pub fn erase_from(&mut self, peer: u64) -> usize {
        let mut erased = 0;
        for w in self.by_peer.remove(&peer).unwrap_or_default() {
            erased += usize::from(self.drop_announcer(&w, peer));
        }
        if erased > 0 {
            // Core's line, which Core's tests look for.
            tracing::debug!(target: "blvm::mempool", "Erased {erased} orphan transaction(s) from peer={peer}");
        }
        erased
    }

    /// Erases the orphans a connected block includes or conflicts with: those spending an
    /// output the block spends (Core's EraseForBlock). Returns how many were erased.
    pub fn erase_for_block(&mut self, block: &Block) -> usize {
        let gone: Vec<Wtxid> = block
            .txdata
            .iter()
            .flat_map(|t| &t.input)
            .filter_map(|i| self.by_outpoint.get(&i.previous_output))
            .flatten()
            .copied()
            .collect();
        let erased = gone.iter().filter(|w| self.take(w).is_some()).count();
        if erased > 0 {
            tracing::debug!(target: "blvm::mempool", "Erased {erased} orphan transaction(s) included or conflicted by block");
        }
        erased
    }

    /// Every orphan, in wtxid order (as Core's getorphantxs lists them).
    pub fn list(&self) -> Vec<Orphan> {
        let mut v: Vec<(&Wtxid, &Orphan)> = self.by_wtxid.iter().collect();
        v.sort_unstable_by_key(|(w, _)| w.to_byte_array());
        v.into_iter().map(|(_, o)| o.clone()).collect()
    }

    /// Number of distinct outpoints the orphans spend.
    pub fn outpoints(&self) -> usize {
        self.by_outpoint.len()
    }

    /// Number held.
    pub fn len(&self) -> usize {
        self.by_wtxid.len()
    }

    /// Number of announcements held from one peer.
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

    #[test]
    fn children_from_peer_keeps_that_peers_children_newest_first() {
        let parent = tx(9, 0);
        let child = |n: u32| {
            let mut c = tx(0, 0);
            c.input[0].previous_output = OutPoint::new(parent.compute_txid(), 0);
            c.lock_time = absolute::LockTime::from_consensus(n);
            c
        };
        let (a, b, c) = (child(1), child(2), child(3));
        let mut o = Orphans::default();
        for (t, peer) in [(&a, 1), (&b, 2), (&c, 1)] {
            assert!(o.add(t.clone(), peer));
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(o.children_from_peer(&parent, 1), vec![c.compute_wtxid(), a.compute_wtxid()]);
        assert_eq!(o.children_from_peer(&parent, 2), vec![b.compute_wtxid()]);
        assert!(o.children_from_peer(&parent, 3).is_empty());
    }

    /// The indexes always describe exactly the orphans held.
    fn assert_consistent(o: &Orphans) {
        assert_eq!(o.by_txid.len(), o.by_wtxid.len());
        assert_eq!(
            o.by_peer.values().map(VecDeque::len).sum::<usize>(),
            o.by_wtxid.values().map(|x| x.announcers.len()).sum::<usize>()
        );
        for (w, orphan) in &o.by_wtxid {
            assert_eq!(o.by_txid[&orphan.txid], *w);
            assert!(!orphan.announcers.is_empty());
            for a in &orphan.announcers {
                assert!(o.by_peer[a].contains(w));
            }
            for i in &orphan.tx.input {
                assert!(o.by_outpoint[&i.previous_output].contains(w));
            }
        }
        let parent_links: usize = o.by_outpoint.values().map(HashSet::len).sum();
        assert_eq!(parent_links, o.by_wtxid.values().map(|x| x.tx.input.len()).sum::<usize>());
    }

    #[test]
    fn lookups_by_txid_wtxid_and_parent() {
        let mut o = Orphans::default();
        let parent = tx(7, 0);
        let mut t = tx(0, 0);
        t.input[0].previous_output.txid = parent.compute_txid();
        assert!(o.add(t.clone(), 1));
        assert!(!o.add(t.clone(), 2), "duplicate");
        let mut malleated = t.clone();
        malleated.input[0].witness.push([1u8]);
        assert!(!o.add(malleated, 2), "same txid, other witness");
        assert!(o.contains(&t.compute_txid().to_byte_array()));
        assert!(o.contains(&t.compute_wtxid().to_byte_array()));
        assert!(!o.contains(&[9; 32]));
        assert_eq!(o.children_of(&parent), vec![t.compute_wtxid()]);
        assert!(o.children_of(&tx(7, 1)).is_empty(), "another transaction");
        assert!(o.take(&t.compute_wtxid()).is_some());
        assert!(o.is_empty());
        assert!(o.children_of(&parent).is_empty());
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

    #[test]
    fn announcers_are_kept_per_orphan_and_removed_per_peer() {
        let mut o = Orphans::default();
        let (a, b) = (tx(1, 0), tx(2, 0));
        let (wa, wb) = (a.compute_wtxid(), b.compute_wtxid());
        assert!(!o.add_announcer(&wb, 2), "already its announcer");
        assert!(o.add(a, 1));
        assert!(o.add(b, 2));
        assert!(o.add_announcer(&wa, 2));
        assert!(!o.add_announcer(&wa, 2), "announced twice");
        assert!(!o.add_announcer(&Wtxid::from_byte_array([5; 32]), 2), "not held");
        assert_eq!(o.get(&wa).unwrap().announcers, BTreeSet::from([1, 2]));
        assert_eq!(o.len_from(2), 2);
        assert_consistent(&o);
        // Peer 1 leaves: orphan a keeps peer 2 as announcer.
        assert_eq!(o.erase_from(1), 0);
        assert_eq!(o.get(&wa).unwrap().announcers, BTreeSet::from([2]));
        assert_consistent(&o);
        // Peer 2 leaves: nobody announces either orphan any more.
        assert_eq!(o.erase_from(2), 2);
        assert!(o.is_empty());
        assert_consistent(&o);
    }

    #[test]
    fn list_is_in_wtxid_byte_order() {
        let mut o = Orphans::default();
        for i in 0..10 {
            o.add(tx(i, 0), u64::from(i));
        }
        let keys: Vec<[u8; 32]> = o.list().iter().map(|x| x.tx.compute_wtxid().to_byte_array()).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
        assert_eq!(keys.len(), 10);
    }

    #[test]
    fn a_block_spending_an_orphans_input_erases_it() {
        use bitcoin::block::{Header, Version};
        use bitcoin::{BlockHash, CompactTarget, TxMerkleNode};
        let mut o = Orphans::default();
        let (a, b) = (tx(1, 0), tx(1, 1));
        o.add(a, 1);
        o.add(b.clone(), 1);
        let conflict = tx(1, 1);
        let block = Block {
            header: Header {
                version: Version::TWO,
                prev_blockhash: BlockHash::all_zeros(),
                merkle_root: TxMerkleNode::all_zeros(),
                time: 0,
                bits: CompactTarget::from_consensus(0),
                nonce: 0,
            },
            txdata: vec![conflict],
        };
        assert_eq!(o.erase_for_block(&block), 1);
        assert!(!o.contains(&b.compute_wtxid().to_byte_array()));
        assert_eq!(o.len(), 1);
        assert_consistent(&o);
    }
}

//! Inbound eviction, as Core's `SelectNodeToEvict`: which inbound peer gives up its slot when a
//! new connection needs one. Pure selection over a snapshot of per-peer facts ([`Candidate`]),
//! which the connection manager builds only when the slots are full (linear in peers).
//!
//! Peers that are hard for an attacker to imitate are protected, in this order: noban and
//! outbound peers; 4 by (keyed) network group; the 8 with the lowest ping; the 4 that most
//! recently gave us a new transaction; up to 8 block-relay-only peers that gave us blocks; the 4
//! that most recently gave us a new block; then half of the rest by connection age, up to half
//! of those slots kept for peers on local or privacy networks. Of the rest, discouraged peers go
//! first; the youngest peer of the network group with the most connections is evicted.

use super::PeerId;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The network a peer reached us through; peers on the slower privacy networks get a share of
/// the age-protected slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetClass {
    /// Clearnet IPv4 or IPv6.
    Ip,
    /// Tor.
    Onion,
    /// I2P.
    I2p,
    /// CJDNS.
    Cjdns,
}

/// What eviction knows about one connection (Core's NodeEvictionCandidate).
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The peer.
    pub id: PeerId,
    /// When it connected (later is younger).
    pub connected: Instant,
    /// Its best ping round trip (None before the first pong: the worst).
    pub min_ping: Option<Duration>,
    /// UNIX time of the last new block it gave us (0: never).
    pub last_block_time: i64,
    /// UNIX time of the last new transaction it gave us (0: never).
    pub last_tx_time: i64,
    /// It offers the services we want from a block source (Core's fRelevantServices).
    pub relevant_services: bool,
    /// It asked us to relay transactions to it.
    pub relay_txs: bool,
    /// It loaded a BIP37 bloom filter.
    pub bloom_filter: bool,
    /// Its network group hashed with a per-process key (an attacker cannot aim at protected groups).
    pub net_group: u64,
    /// Discouraged: evicted before anyone else that is left unprotected.
    pub prefer_evict: bool,
    /// It connected from the local host.
    pub is_local: bool,
    /// The network it came through.
    pub network: NetClass,
    /// It has the noban permission (never evicted).
    pub noban: bool,
    /// It is an inbound connection (only those are evicted).
    pub inbound: bool,
}

/// The peer to evict, or None when every candidate is protected.
pub fn select(mut c: Vec<Candidate>) -> Option<PeerId> {
    c.retain(|n| !n.noban && n.inbound);
    protect_last(&mut c, 4, |a, b| a.net_group.cmp(&b.net_group), |_| true);
    protect_last(&mut c, 8, |a, b| ping(b).cmp(&ping(a)), |_| true);
    protect_last(&mut c, 4, by_tx_time, |_| true);
    protect_last(&mut c, 8, by_block_relay_only_time, |n| !n.relay_txs && n.relevant_services);
    protect_last(&mut c, 4, by_block_time, |_| true);
    protect_by_ratio(&mut c);
    if c.is_empty() {
        return None;
    }
    if c.iter().any(|n| n.prefer_evict) {
        c.retain(|n| n.prefer_evict);
    }
    // `c` is sorted youngest first: the first member seen of a group is its youngest.
    let mut groups: HashMap<u64, (usize, Instant, PeerId)> = HashMap::new();
    let mut best: Option<(usize, Instant, PeerId)> = None;
    for n in &c {
        let g = groups.entry(n.net_group).or_insert((0, n.connected, n.id));
        g.0 += 1;
        if best.is_none_or(|(count, youngest, _)| g.0 > count || (g.0 == count && g.1 > youngest)) {
            best = Some(*g);
        }
    }
    best.map(|(_, _, id)| id)
}

/// The peer to evict so that a peer (`protect`) can relay transactions: only transaction-relaying
/// inbound peers other than `protect` are considered (Core's tx-relay-only eviction).
pub fn select_tx_relay(mut c: Vec<Candidate>, protect: PeerId) -> Option<PeerId> {
    c.retain(|n| n.relay_txs && n.id != protect);
    select(c)
}

fn ping(n: &Candidate) -> Duration {
    n.min_ping.unwrap_or(Duration::MAX)
}

/// Younger first (the end of a sort holds the longest connected).
fn younger_first(a: &Candidate, b: &Candidate) -> Ordering {
    b.connected.cmp(&a.connected)
}

fn by_tx_time(a: &Candidate, b: &Candidate) -> Ordering {
    a.last_tx_time
        .cmp(&b.last_tx_time)
        .then(a.relay_txs.cmp(&b.relay_txs))
        .then(b.bloom_filter.cmp(&a.bloom_filter))
        .then_with(|| younger_first(a, b))
}

fn by_block_relay_only_time(a: &Candidate, b: &Candidate) -> Ordering {
    b.relay_txs
        .cmp(&a.relay_txs)
        .then(a.last_block_time.cmp(&b.last_block_time))
        .then(a.relevant_services.cmp(&b.relevant_services))
        .then_with(|| younger_first(a, b))
}

fn by_block_time(a: &Candidate, b: &Candidate) -> Ordering {
    a.last_block_time
        .cmp(&b.last_block_time)
        .then(a.relevant_services.cmp(&b.relevant_services))
        .then_with(|| younger_first(a, b))
}

/// Sorts by `cmp` (best last) and removes from the last `k` those matching `pred` (Core's
/// EraseLastKElements).
fn protect_last(c: &mut Vec<Candidate>, k: usize, cmp: impl Fn(&Candidate, &Candidate) -> Ordering, pred: impl Fn(&Candidate) -> bool) {
    c.sort_by(|a, b| cmp(a, b));
    let tail = c.split_off(c.len() - k.min(c.len()));
    c.extend(tail.into_iter().filter(|n| !pred(n)));
}

/// A disadvantaged network whose peers may take age-protected slots ahead of their age.
#[derive(Clone, Copy)]
enum Disadvantaged {
    Local,
    Net(NetClass),
}

impl Disadvantaged {
    fn member(self, n: &Candidate) -> bool {
        match self {
            Disadvantaged::Local => n.is_local,
            Disadvantaged::Net(net) => n.network == net,
        }
    }
}

/// Protects half of the candidates by connection age, reserving up to half of those slots for
/// local, Tor, I2P and CJDNS peers (networks with fewer candidates choose first).
fn protect_by_ratio(c: &mut Vec<Candidate>) {
    let total = c.len() / 2;
    // Array order breaks ties between networks with equal counts.
    let mut nets: Vec<(Disadvantaged, usize)> = [
        Disadvantaged::Net(NetClass::Cjdns),
        Disadvantaged::Net(NetClass::I2p),
        Disadvantaged::Local,
        Disadvantaged::Net(NetClass::Onion),
    ]
    .into_iter()
    .map(|d| (d, c.iter().filter(|n| d.member(n)).count()))
    .collect();
    nets.sort_by_key(|(_, count)| *count);
    let max_by_network = total / 2;
    let mut protected = 0;
    'rounds: while protected < max_by_network {
        let with_peers = nets.iter().filter(|(_, count)| *count > 0).count();
        if with_peers == 0 {
            break;
        }
        let per_network = ((max_by_network - protected) / with_peers).max(1);
        let mut any = false;
        for (d, count) in nets.iter_mut() {
            if *count == 0 {
                continue;
            }
            let d = *d;
            let before = c.len();
            protect_last(
                c,
                per_network,
                |a, b| d.member(a).cmp(&d.member(b)).then_with(|| younger_first(a, b)),
                |n| d.member(n),
            );
            let delta = before - c.len();
            if delta > 0 {
                any = true;
                protected += delta;
                if protected >= max_by_network {
                    break 'rounds;
                }
                *count -= delta;
            }
        }
        if !any {
            break;
        }
    }
    protect_last(c, total - protected, younger_first, |_| true);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh inbound IPv4 peer from its own network group, connected `id` seconds after `t0`.
    fn cand(t0: Instant, id: PeerId) -> Candidate {
        Candidate {
            id,
            connected: t0 + Duration::from_secs(id),
            min_ping: None,
            last_block_time: 0,
            last_tx_time: 0,
            relevant_services: true,
            relay_txs: true,
            bloom_filter: false,
            net_group: 1000 + id,
            prefer_evict: false,
            is_local: false,
            network: NetClass::Ip,
            noban: false,
            inbound: true,
        }
    }

    /// `n` peers in one network group (so the group protection takes 4 arbitrary ones).
    fn same_group(n: u64) -> (Instant, Vec<Candidate>) {
        let t0 = Instant::now();
        let c = (0..n)
            .map(|i| Candidate {
                net_group: 7,
                ..cand(t0, i)
            })
            .collect();
        (t0, c)
    }

    /// 20 peers each protected by one ranked rule (ids 0..3 by network group, 4..11 by ping,
    /// 12..15 by transactions, 16..19 by blocks), then `plain` younger peers in group 1.
    fn ranked_then_plain(plain: u64) -> Vec<Candidate> {
        let t0 = Instant::now();
        let mut c: Vec<Candidate> = (0..20 + plain).map(|i| cand(t0, i)).collect();
        for n in &mut c {
            match n.id {
                0..=3 => n.net_group = 9_000 + n.id,
                4..=11 => n.min_ping = Some(Duration::from_millis(1)),
                12..=15 => n.last_tx_time = 1,
                16..=19 => n.last_block_time = 1,
                _ => n.net_group = 1,
            }
        }
        c
    }

    /// Whether someone other than `id` is evicted from `c` for every way ties may fall (the
    /// candidates rotated through the sort's tie order).
    fn never_evicted(c: &[Candidate], id: PeerId) -> bool {
        (0..c.len()).all(|r| {
            let mut v = c.to_vec();
            v.rotate_left(r);
            matches!(select(v), Some(x) if x != id)
        })
    }

    #[test]
    fn too_few_candidates_protects_everyone() {
        let (_, c) = same_group(20);
        assert_eq!(select(c), None, "4 + 8 + 4 + 4 are protected");
        assert_eq!(select(Vec::new()), None);
        assert!(select(ranked_then_plain(1)).is_some());
    }

    #[test]
    fn noban_and_outbound_peers_are_never_candidates() {
        let t0 = Instant::now();
        let mut c: Vec<Candidate> = (0..90).map(|i| cand(t0, i)).collect();
        for n in &mut c {
            n.net_group = 1;
            n.noban = n.id % 2 == 0;
            n.inbound = n.id % 3 != 0;
        }
        let chosen = select(c.clone()).unwrap();
        assert!(!chosen.is_multiple_of(2) && !chosen.is_multiple_of(3), "{chosen}");
        for n in &mut c {
            n.noban = true;
        }
        assert_eq!(select(c), None);
    }

    #[test]
    fn four_network_groups_are_protected() {
        // The 4 youngest peers, which would go first, sit in the 4 highest keyed groups.
        let (_, mut c) = same_group(24);
        for n in c.iter_mut().skip(20) {
            n.net_group = 9_000 + n.id;
        }
        for id in 20..24 {
            assert!(never_evicted(&c, id), "peer {id} of a protected group evicted");
        }
    }

    #[test]
    fn the_eight_lowest_pings_are_protected() {
        let (_, mut c) = same_group(24);
        for n in &mut c {
            n.min_ping = Some(Duration::from_millis(if n.id >= 16 { 1 + n.id } else { 100 + n.id }));
        }
        for id in 16..24 {
            assert!(never_evicted(&c, id), "fast peer {id} evicted");
        }
    }

    #[test]
    fn the_four_latest_transaction_senders_are_protected() {
        let (_, mut c) = same_group(24);
        for n in &mut c {
            n.last_tx_time = if n.id >= 20 { 1_000 + n.id as i64 } else { 0 };
        }
        for id in 20..24 {
            assert!(never_evicted(&c, id), "tx peer {id} evicted");
        }
        // Peers that relay no transactions or loaded a bloom filter rank below the others.
        let t0 = Instant::now();
        let (a, mut b, mut f) = (cand(t0, 1), cand(t0, 1), cand(t0, 1));
        b.relay_txs = false;
        f.bloom_filter = true;
        assert_eq!(by_tx_time(&b, &a), Ordering::Less);
        assert_eq!(by_tx_time(&f, &a), Ordering::Less);
    }

    #[test]
    fn block_relay_only_peers_that_gave_blocks_are_protected() {
        // 30 peers: 8 block-relay-only ones that gave us blocks, and 4 others that gave us the
        // latest blocks (the generic rule).
        let (_, mut c) = same_group(30);
        for n in &mut c {
            if n.id < 8 {
                n.relay_txs = false;
                n.last_block_time = 100 + n.id as i64;
            } else if n.id < 12 {
                n.last_block_time = 10_000 + n.id as i64;
            }
        }
        for id in 0..12 {
            assert!(never_evicted(&c, id), "block peer {id} evicted");
        }
        // Without the services we want, a block-relay-only peer is not protected by that rule.
        let t0 = Instant::now();
        let mut lonely = cand(t0, 1);
        lonely.relay_txs = false;
        lonely.relevant_services = false;
        let mut v = vec![lonely];
        protect_last(&mut v, 8, by_block_relay_only_time, |n| !n.relay_txs && n.relevant_services);
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn the_four_latest_block_senders_are_protected() {
        let (_, mut c) = same_group(24);
        for n in &mut c {
            n.last_block_time = if n.id >= 20 { 500 + n.id as i64 } else { 0 };
        }
        for id in 20..24 {
            assert!(never_evicted(&c, id), "block peer {id} evicted");
        }
    }

    #[test]
    fn half_of_the_rest_is_protected_by_age_and_the_youngest_goes() {
        // 8 plain peers after the ranked rules: the 4 oldest are protected, the youngest goes.
        assert_eq!(select(ranked_then_plain(8)), Some(27));
        let mut v = ranked_then_plain(8).split_off(20);
        protect_by_ratio(&mut v);
        let left: Vec<PeerId> = v.iter().map(|n| n.id).collect();
        assert_eq!(left, vec![27, 26, 25, 24]);
    }

    #[test]
    fn local_and_privacy_network_peers_get_age_slots() {
        // 8 candidates: 4 are protected, 2 of them (a quarter) kept for the disadvantaged
        // networks, 2 by age overall.
        let t0 = Instant::now();
        let mut c: Vec<Candidate> = (0..8).map(|i| cand(t0, i)).collect();
        c[7].network = NetClass::Onion;
        c[6].is_local = true;
        protect_by_ratio(&mut c);
        let left: Vec<PeerId> = c.iter().map(|n| n.id).collect();
        assert_eq!(left, vec![5, 4, 3, 2], "the onion and local peers and the two oldest are protected");
        // 16 candidates, 8 protected, 4 by network: the network with fewer candidates (the
        // lone CJDNS peer) chooses first, I2P takes the slots left (its longest connected), then
        // 4 by age.
        let mut c: Vec<Candidate> = (0..16).map(|i| cand(t0, i)).collect();
        for n in c.iter_mut().skip(8) {
            n.network = NetClass::I2p;
        }
        c[0].network = NetClass::Cjdns;
        let mut v = c.clone();
        protect_by_ratio(&mut v);
        let mut protected: Vec<PeerId> = c.iter().map(|n| n.id).filter(|id| !v.iter().any(|n| n.id == *id)).collect();
        protected.sort();
        assert_eq!(protected, vec![0, 1, 2, 3, 4, 8, 9, 10]);
    }

    #[test]
    fn discouraged_peers_go_first() {
        let mut c = ranked_then_plain(8);
        c[25].prefer_evict = true;
        assert_eq!(select(c), Some(25), "the discouraged peer, not the youngest");
        // A discouraged peer protected by age stays.
        let mut c = ranked_then_plain(8);
        c[21].prefer_evict = true;
        assert_eq!(select(c), Some(27));
    }

    #[test]
    fn the_largest_group_loses_its_youngest() {
        // After the ranked rules and the 4 oldest by age: 24..26 in group 1, 27 alone in group 2.
        let mut c = ranked_then_plain(8);
        c[27].net_group = 2;
        assert_eq!(select(c), Some(26));
    }

    #[test]
    fn tx_relay_eviction_considers_only_other_relaying_peers() {
        let (_, mut c) = same_group(26);
        for n in &mut c {
            n.relay_txs = n.id < 22;
        }
        // Of 21 relaying peers besides 21, 20 are protected: the one left is evicted.
        let chosen = select_tx_relay(c, 21).unwrap();
        assert!(chosen < 21, "{chosen}");
        // One relaying peer besides the newcomer: it is protected, nothing can be evicted.
        let (_, c) = same_group(2);
        assert_eq!(select_tx_relay(c, 1), None);
    }
}

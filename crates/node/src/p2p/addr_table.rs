//! One table of the address manager: a fixed grid of slots (buckets × positions, as Core's
//! addrman). The manager decides the one slot an address may take, so inserting, replacing,
//! removing and picking at random never scan the table: each is O(1).

use super::addrman::AddrInfo;
use rand::Rng;
use std::collections::HashMap;
use std::net::SocketAddr;

/// Positions per bucket (Core's ADDRMAN_BUCKET_SIZE).
pub const BUCKET_SIZE: usize = 64;

/// Where an entry lives: its slot in the grid and its index in the dense list.
#[derive(Debug)]
struct Entry {
    info: AddrInfo,
    slot: usize,
    index: usize,
}

/// A bucketed table of addresses.
#[derive(Debug)]
pub struct Table {
    slots: Vec<Option<SocketAddr>>,
    entries: HashMap<SocketAddr, Entry>,
    /// Every address once, for uniform random picks without scanning the slots.
    order: Vec<SocketAddr>,
}

impl Table {
    /// An empty table of `buckets` buckets.
    pub fn new(buckets: usize) -> Table {
        Table {
            slots: vec![None; buckets * BUCKET_SIZE],
            entries: HashMap::new(),
            order: Vec::new(),
        }
    }

    /// Number of slots (the table's capacity).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the table holds nothing.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The entry for `addr`.
    pub fn get(&self, addr: &SocketAddr) -> Option<&AddrInfo> {
        self.entries.get(addr).map(|e| &e.info)
    }

    /// The entry for `addr`, to update its times and counters (not its address).
    pub fn get_mut(&mut self, addr: &SocketAddr) -> Option<&mut AddrInfo> {
        self.entries.get_mut(addr).map(|e| &mut e.info)
    }

    /// Whether `addr` is held.
    pub fn contains(&self, addr: &SocketAddr) -> bool {
        self.entries.contains_key(addr)
    }

    /// The entry in `slot`, if any.
    pub fn occupant(&self, slot: usize) -> Option<&AddrInfo> {
        self.slots[slot].and_then(|a| self.get(&a))
    }

    /// Puts `info` in `slot` (the caller's hash of its address); the previous occupant, if
    /// any, is removed and returned. An address already held elsewhere is moved.
    pub fn insert(&mut self, slot: usize, info: AddrInfo) -> Option<AddrInfo> {
        self.remove(&info.addr);
        let evicted = self.slots[slot].and_then(|a| self.remove(&a));
        self.slots[slot] = Some(info.addr);
        self.order.push(info.addr);
        let index = self.order.len() - 1;
        self.entries.insert(info.addr, Entry { info, slot, index });
        evicted
    }

    /// Removes `addr`.
    pub fn remove(&mut self, addr: &SocketAddr) -> Option<AddrInfo> {
        let e = self.entries.remove(addr)?;
        self.slots[e.slot] = None;
        self.order.swap_remove(e.index);
        if let Some(moved) = self.order.get(e.index) {
            if let Some(m) = self.entries.get_mut(moved) {
                m.index = e.index;
            }
        }
        Some(e.info)
    }

    /// One entry chosen uniformly at random.
    pub fn random(&self, rng: &mut impl Rng) -> Option<&AddrInfo> {
        if self.order.is_empty() {
            return None;
        }
        self.get(&self.order[rng.gen_range(0..self.order.len())])
    }

    /// Every entry, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &AddrInfo> {
        self.entries.values().map(|e| &e.info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn info(i: u32) -> AddrInfo {
        AddrInfo {
            addr: SocketAddr::new(IpAddr::V4(i.into()), 8333),
            services: 1,
            time: 0,
            last_try: 0,
            last_success: 0,
            attempts: 0,
            source: IpAddr::V4(1.into()),
        }
    }

    /// The slot grid, the address map and the dense list agree after every operation.
    fn check(t: &Table) {
        assert_eq!(t.entries.len(), t.order.len());
        assert_eq!(t.slots.iter().flatten().count(), t.order.len());
        for (i, a) in t.order.iter().enumerate() {
            let e = &t.entries[a];
            assert_eq!(e.index, i);
            assert_eq!(t.slots[e.slot], Some(*a));
        }
    }

    #[test]
    fn insert_replace_move_remove() {
        let mut t = Table::new(2);
        assert_eq!(t.capacity(), 2 * BUCKET_SIZE);
        for i in 0..100u32 {
            assert!(t.insert(i as usize, info(i)).is_none());
        }
        check(&t);
        // A collision replaces the occupant and returns it.
        assert_eq!(t.insert(5, info(1000)).unwrap().addr, info(5).addr);
        assert!(!t.contains(&info(5).addr));
        // Moving an address frees its old slot.
        assert!(t.insert(120, info(7)).is_none());
        assert!(t.occupant(7).is_none());
        assert_eq!(t.occupant(120).unwrap().addr, info(7).addr);
        check(&t);
        for i in (0..100u32).step_by(3) {
            t.remove(&info(i).addr);
        }
        check(&t);
        // 100 entries, 34 of them (multiples of 3) removed.
        assert_eq!(t.len(), 66);
        let mut rng = rand::thread_rng();
        for _ in 0..100 {
            assert!(t.contains(&t.random(&mut rng).unwrap().addr));
        }
    }
}

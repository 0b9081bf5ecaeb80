//! Core's getaddr response cache (CConnman::GetAddresses for a requestor): peers asking
//! through the same local address and port get the same sample of the address manager until it
//! expires (21 to 27 hours), so repeated `getaddr`s cannot map the whole table, and peers on
//! different local addresses (e.g. a clearnet and a Tor bind) cannot link them by their answers.

use super::addrman::AddrInfo;
use rand::Rng;
use std::collections::HashMap;
use std::net::SocketAddr;

/// Shortest lifetime of a cached answer (Core: 21 hours)...
pub const CACHE_LIFETIME_MIN: i64 = 21 * 3600;
/// ...plus a random part of up to this (Core: 6 hours), so expiry times cannot be probed.
pub const CACHE_LIFETIME_SPREAD: i64 = 6 * 3600;
/// Most cached answers (one per local address a peer connected to): bounds the memory when the
/// node listens on many addresses.
pub const MAX_CACHE_ENTRIES: usize = 64;

/// One cached answer.
#[derive(Debug)]
struct Entry {
    addrs: Vec<AddrInfo>,
    expires: i64,
}

/// Cached `getaddr` answers by the local address (IP and port) the peer connected to.
#[derive(Debug, Default)]
pub struct AddrCache {
    entries: HashMap<Option<SocketAddr>, Entry>,
}

impl AddrCache {
    /// The answer for a peer connected to `local` at `now` (UNIX seconds, mockable): the cached
    /// one while it lasts, else a fresh one from `sample`, kept for 21-27 hours.
    pub fn get(&mut self, local: Option<SocketAddr>, now: i64, sample: impl FnOnce() -> Vec<AddrInfo>) -> &[AddrInfo] {
        let fresh = self.entries.get(&local).is_some_and(|e| e.expires >= now);
        if !fresh {
            if !self.entries.contains_key(&local) && self.entries.len() >= MAX_CACHE_ENTRIES {
                self.evict(now);
            }
            let expires = now + CACHE_LIFETIME_MIN + rand::thread_rng().gen_range(0..CACHE_LIFETIME_SPREAD);
            let addrs = sample();
            tracing::debug!(target: "blvm::net", local = ?local, addresses = addrs.len(), expires, "new getaddr answer cached");
            self.entries.insert(local, Entry { addrs, expires });
        }
        &self.entries[&local].addrs
    }

    /// Number of cached answers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Makes room: expired answers go, else the one expiring first.
    fn evict(&mut self, now: i64) {
        self.entries.retain(|_, e| e.expires >= now);
        if self.entries.len() >= MAX_CACHE_ENTRIES {
            if let Some(k) = self.entries.iter().min_by_key(|(_, e)| e.expires).map(|(k, _)| *k) {
                self.entries.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(i: u32) -> AddrInfo {
        AddrInfo {
            addr: SocketAddr::new(std::net::IpAddr::V4(i.into()), 8333),
            services: 1,
            time: 0,
            last_try: 0,
            last_success: 0,
            attempts: 0,
            source: std::net::IpAddr::V4(i.into()),
        }
    }

    #[test]
    fn cached_per_local_address_until_expiry_and_bounded() {
        let mut c = AddrCache::default();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let now = 1_700_000_000;
        assert_eq!(c.get(Some(a), now, || vec![info(1)]), &[info(1)]);
        assert_eq!(c.get(Some(a), now + CACHE_LIFETIME_MIN, || vec![info(2)]), &[info(1)]);
        assert_eq!(c.get(Some(b), now, || vec![info(3)]), &[info(3)]);
        let later = now + CACHE_LIFETIME_MIN + CACHE_LIFETIME_SPREAD + 1;
        assert_eq!(c.get(Some(a), later, || vec![info(4)]), &[info(4)]);
        for port in 0..1000u16 {
            c.get(Some(SocketAddr::new(a.ip(), port)), later, Vec::new);
        }
        assert_eq!(c.len(), MAX_CACHE_ENTRIES);
    }
}

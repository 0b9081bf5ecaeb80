//! The address manager: a "new" table of addresses heard about and a "tried" table of addresses
//! we connected to successfully, both bounded, with per-source-group limits so one source cannot
//! fill the tables. Persisted as `<net_dir>/peers.json`.

use super::ban::canonical;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Capacity of the new table.
pub const NEW_MAX: usize = 16_384;
/// Capacity of the tried table.
pub const TRIED_MAX: usize = 4_096;
/// Most new-table entries learned from one source group (/16 or /32).
pub const NEW_PER_SOURCE_GROUP: usize = 512;
/// Addresses returned for one `getaddr`.
pub const GETADDR_MAX: usize = 1_000;
/// Percentage of the tables returned for one `getaddr`.
pub const GETADDR_PCT: usize = 23;

/// What we know about one address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AddrInfo {
    /// The address.
    pub addr: SocketAddr,
    /// Advertised service bits.
    pub services: u64,
    /// Last-seen time claimed by the network (UNIX seconds).
    pub time: i64,
    /// Our last connection attempt.
    pub last_try: i64,
    /// Our last successful handshake.
    pub last_success: i64,
    /// Failed attempts since the last success.
    pub attempts: u32,
    /// Who told us about it.
    pub source: IpAddr,
}

impl AddrInfo {
    /// Core's IsTerrible: too old, too many failures, or from the future. (Saturating
    /// arithmetic: the times come from `peers.json`, which may be damaged.)
    pub fn is_terrible(&self, now: i64) -> bool {
        if self.last_try > 0 && now.saturating_sub(self.last_try) < 60 {
            return false;
        }
        if self.time > now.saturating_add(10 * 60) {
            return true;
        }
        if now.saturating_sub(self.time) > 30 * 86_400 {
            return true;
        }
        if self.last_success == 0 && self.attempts >= 3 {
            return true;
        }
        now.saturating_sub(self.last_success) > 7 * 86_400 && self.attempts >= 10
    }

    /// Relative chance of being selected (Core's GetChance).
    pub fn chance(&self, now: i64) -> f64 {
        let mut c = 1.0;
        if now.saturating_sub(self.last_try) < 10 * 60 {
            c *= 0.01;
        }
        c * 0.66f64.powi(self.attempts.min(8) as i32)
    }
}

/// The group an address belongs to for diversity: /16 for IPv4, /32 for IPv6.
pub fn group(ip: IpAddr) -> Vec<u8> {
    match canonical(ip) {
        IpAddr::V4(a) => vec![4, a.octets()[0], a.octets()[1]],
        IpAddr::V6(a) => {
            let o = a.octets();
            vec![6, o[0], o[1], o[2], o[3]]
        }
    }
}

/// Whether an address is worth storing: a real port, and routable unless `allow_local`.
pub fn is_usable(addr: &SocketAddr, allow_local: bool) -> bool {
    if addr.port() == 0 {
        return false;
    }
    let ip = canonical(addr.ip());
    if ip.is_unspecified() || ip.is_multicast() {
        return false;
    }
    if allow_local {
        return true;
    }
    match ip {
        IpAddr::V4(a) => {
            !(a.is_loopback() || a.is_private() || a.is_link_local() || a.is_broadcast() || a.is_documentation() || a.octets()[0] == 0)
        }
        IpAddr::V6(a) => !(a.is_loopback() || (a.segments()[0] & 0xfe00) == 0xfc00 || (a.segments()[0] & 0xffc0) == 0xfe80),
    }
}

#[derive(Serialize, Deserialize, Default)]
struct Persisted {
    version: u32,
    new: Vec<AddrInfo>,
    tried: Vec<AddrInfo>,
}

/// The two tables.
#[derive(Debug, Default)]
pub struct AddrMan {
    new: HashMap<SocketAddr, AddrInfo>,
    tried: HashMap<SocketAddr, AddrInfo>,
    path: Option<PathBuf>,
    allow_local: bool,
    dirty: bool,
}

impl AddrMan {
    /// Loads `path` (missing or damaged: empty, logged).
    pub fn load(path: &Path, allow_local: bool) -> AddrMan {
        let mut am = AddrMan {
            path: Some(path.to_path_buf()),
            allow_local,
            ..Default::default()
        };
        match std::fs::read_to_string(path) {
            Ok(text) => match serde_json::from_str::<Persisted>(&text) {
                Ok(p) => {
                    for a in p.tried.into_iter().take(TRIED_MAX) {
                        am.tried.insert(a.addr, a);
                    }
                    for a in p.new.into_iter().take(NEW_MAX) {
                        if !am.tried.contains_key(&a.addr) {
                            am.new.insert(a.addr, a);
                        }
                    }
                    tracing::info!(target: "blvm::net", new = am.new.len(), tried = am.tried.len(), "loaded address manager");
                }
                Err(e) => tracing::warn!(target: "blvm::net", "damaged {}: {e}; starting with an empty address manager", path.display()),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(target: "blvm::net", "cannot read {}: {e}", path.display()),
        }
        am
    }

    /// Writes the tables if they changed (temp file + rename).
    pub fn save(&mut self) {
        let Some(path) = &self.path else { return };
        if !self.dirty {
            return;
        }
        let p = Persisted {
            version: 1,
            new: self.new.values().cloned().collect(),
            tried: self.tried.values().cloned().collect(),
        };
        let tmp = path.with_extension("json.new");
        match serde_json::to_string(&p)
            .map_err(std::io::Error::other)
            .and_then(|t| std::fs::write(&tmp, t))
            .and_then(|_| std::fs::rename(&tmp, path))
        {
            Ok(()) => self.dirty = false,
            Err(e) => tracing::warn!(target: "blvm::net", "cannot write {}: {e}", path.display()),
        }
    }

    /// Entries in (new, tried) per network, Core's `getaddrmaninfo` counting: routable IPv4
    /// and IPv6 addresses under their network, every address under `all_networks`.
    pub fn network_counts(&self) -> Vec<(&'static str, usize, usize)> {
        let mut out = vec![("ipv4", 0, 0), ("ipv6", 0, 0), ("onion", 0, 0), ("i2p", 0, 0), ("cjdns", 0, 0)];
        for (table, tried) in [(&self.new, false), (&self.tried, true)] {
            for a in table.keys() {
                if !is_usable(a, false) {
                    continue;
                }
                let slot = if canonical(a.ip()).is_ipv4() { 0 } else { 1 };
                if tried {
                    out[slot].2 += 1;
                } else {
                    out[slot].1 += 1;
                }
            }
        }
        out.push(("all_networks", self.new.len(), self.tried.len()));
        out
    }

    /// Entries in (new, tried).
    pub fn size(&self) -> (usize, usize) {
        (self.new.len(), self.tried.len())
    }

    /// Adds addresses heard from `source`; returns how many were new.
    pub fn add(&mut self, addrs: &[(SocketAddr, u64, i64)], source: IpAddr, now: i64) -> usize {
        let mut added = 0;
        let src_group = group(source);
        for &(addr, services, time) in addrs {
            if !is_usable(&addr, self.allow_local) {
                continue;
            }
            // Claimed times in the future or far past are clamped (as Core's penalty).
            let time = if time <= 100_000_000 || time > now + 10 * 60 {
                now - 5 * 86_400
            } else {
                time
            };
            if let Some(t) = self.tried.get_mut(&addr) {
                t.time = t.time.max(time);
                t.services |= services;
                continue;
            }
            if let Some(n) = self.new.get_mut(&addr) {
                n.time = n.time.max(time);
                n.services |= services;
                continue;
            }
            let same_source = self.new.values().filter(|a| group(a.source) == src_group).count();
            if same_source >= NEW_PER_SOURCE_GROUP {
                self.evict_new(Some(&src_group), now);
            } else if self.new.len() >= NEW_MAX {
                self.evict_new(None, now);
            }
            self.new.insert(
                addr,
                AddrInfo {
                    addr,
                    services,
                    time,
                    last_try: 0,
                    last_success: 0,
                    attempts: 0,
                    source: canonical(source),
                },
            );
            added += 1;
        }
        if added > 0 {
            self.dirty = true;
        }
        added
    }

    fn evict_new(&mut self, source_group: Option<&Vec<u8>>, now: i64) {
        let candidates: Vec<&AddrInfo> = self
            .new
            .values()
            .filter(|a| source_group.is_none_or(|g| &group(a.source) == g))
            .collect();
        let victim = candidates
            .iter()
            .find(|a| a.is_terrible(now))
            .or_else(|| candidates.iter().min_by_key(|a| a.time))
            .map(|a| a.addr);
        if let Some(v) = victim {
            self.new.remove(&v);
        }
    }

    /// Records a connection attempt.
    pub fn attempt(&mut self, addr: &SocketAddr, now: i64) {
        if let Some(a) = self.new.get_mut(addr).or_else(|| self.tried.get_mut(addr)) {
            a.last_try = now;
            a.attempts = a.attempts.saturating_add(1);
            self.dirty = true;
        }
    }

    /// Records a successful handshake: the address moves to the tried table. Returns false for
    /// an address the tables do not take.
    pub fn good(&mut self, addr: &SocketAddr, services: u64, now: i64) -> bool {
        if !is_usable(addr, self.allow_local) {
            return false;
        }
        let mut info = self.new.remove(addr).or_else(|| self.tried.remove(addr)).unwrap_or(AddrInfo {
            addr: *addr,
            services,
            time: now,
            last_try: now,
            last_success: 0,
            attempts: 0,
            source: addr.ip(),
        });
        info.last_success = now;
        info.last_try = now;
        info.time = now;
        info.attempts = 0;
        info.services = services;
        if self.tried.len() >= TRIED_MAX {
            // The longest-unsuccessful tried entry goes back to the new table.
            if let Some(old) = self.tried.values().min_by_key(|a| a.last_success).map(|a| a.addr) {
                if let Some(o) = self.tried.remove(&old) {
                    if self.new.len() < NEW_MAX {
                        self.new.insert(old, o);
                    }
                }
            }
        }
        self.tried.insert(*addr, info);
        self.dirty = true;
        true
    }

    /// Forgets an address.
    pub fn remove(&mut self, addr: &SocketAddr) {
        if self.new.remove(addr).is_some() | self.tried.remove(addr).is_some() {
            self.dirty = true;
        }
    }

    /// Picks an address to connect to (tried or new, 50/50 when both have entries), weighted by
    /// Core's chance function, skipping addresses `skip` rejects. `new_only` is for feelers.
    pub fn select(&self, new_only: bool, now: i64, skip: impl Fn(&SocketAddr) -> bool) -> Option<SocketAddr> {
        let mut rng = rand::thread_rng();
        let use_tried = !new_only && !self.tried.is_empty() && (self.new.is_empty() || rng.gen_bool(0.5));
        let table = if use_tried { &self.tried } else { &self.new };
        let mut entries: Vec<&AddrInfo> = table.values().filter(|a| !skip(&a.addr)).collect();
        if entries.is_empty() {
            return None;
        }
        entries.shuffle(&mut rng);
        for _ in 0..200 {
            for a in &entries {
                if rng.gen_bool(a.chance(now).clamp(0.0, 1.0)) {
                    return Some(a.addr);
                }
            }
        }
        entries.first().map(|a| a.addr)
    }

    /// A random sample for a `getaddr` answer (23% of known addresses, at most 1000), excluding
    /// terrible ones.
    pub fn sample(&self, now: i64) -> Vec<AddrInfo> {
        let mut all: Vec<&AddrInfo> = self
            .new
            .values()
            .chain(self.tried.values())
            .filter(|a| !a.is_terrible(now))
            .collect();
        let n = (all.len() * GETADDR_PCT / 100).max(all.len().min(1)).min(GETADDR_MAX);
        all.shuffle(&mut rand::thread_rng());
        all.into_iter().take(n).cloned().collect()
    }

    /// Up to `max` (0 = all) known addresses that are not terrible, shuffled (`getnodeaddresses`).
    pub fn addresses(&self, max: usize, now: i64) -> Vec<AddrInfo> {
        let mut all: Vec<AddrInfo> = self
            .new
            .values()
            .chain(self.tried.values())
            .filter(|a| !a.is_terrible(now))
            .cloned()
            .collect();
        all.shuffle(&mut rand::thread_rng());
        if max > 0 {
            all.truncate(max);
        }
        all
    }

    /// Whether `addr` is in either table.
    pub fn contains(&self, addr: &SocketAddr) -> bool {
        self.new.contains_key(addr) || self.tried.contains_key(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_limits_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.json");
        let now = 1_700_000_000;
        let mut am = AddrMan::load(&path, false);
        let src: IpAddr = "8.8.8.8".parse().unwrap();
        let addrs: Vec<(SocketAddr, u64, i64)> = (0..600u32)
            .map(|i| (SocketAddr::new(IpAddr::V4((0x0b00_0000 + i * 256).into()), 8333), 1, now - 100))
            .collect();
        let added = am.add(&addrs, src, now);
        assert_eq!(added, 600);
        // One source group cannot exceed its share of the new table.
        assert_eq!(am.size().0, NEW_PER_SOURCE_GROUP);
        // Local addresses are refused unless allowed.
        assert_eq!(am.add(&[("127.0.0.1:1".parse().unwrap(), 1, now)], src, now), 0);
        let a = am.select(false, now, |_| false).unwrap();
        am.good(&a, 9, now);
        assert_eq!(am.size(), (NEW_PER_SOURCE_GROUP - 1, 1));
        am.save();
        let am2 = AddrMan::load(&path, false);
        assert_eq!(am2.size(), (NEW_PER_SOURCE_GROUP - 1, 1));
        assert!(am2.contains(&a));
        assert!(!am2.sample(now).is_empty());
    }

    #[test]
    fn extreme_times_in_peers_json() {
        // A damaged peers.json with extreme times and attempt counts: the time arithmetic of
        // is_terrible/chance and the attempt counter overflowed (a panic with overflow checks).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.json");
        let info = |ip: &str, t: i64| {
            format!(
                r#"{{"addr":"{ip}:8333","services":1,"time":{t},"last_try":{t},"last_success":{t},"attempts":4294967295,"source":"8.8.8.8"}}"#
            )
        };
        let text = format!(
            r#"{{"version":1,"new":[{}],"tried":[{}]}}"#,
            info("11.0.0.1", i64::MIN),
            info("12.0.0.1", i64::MAX)
        );
        std::fs::write(&path, text).unwrap();
        let mut am = AddrMan::load(&path, false);
        assert_eq!(am.size(), (1, 1));
        for now in [i64::MIN, 0, 1_700_000_000, i64::MAX] {
            let _ = am.sample(now);
            let _ = am.addresses(0, now);
            let _ = am.select(false, now, |_| false);
            for a in ["11.0.0.1:8333", "12.0.0.1:8333"] {
                am.attempt(&a.parse().unwrap(), now);
            }
        }
    }
}

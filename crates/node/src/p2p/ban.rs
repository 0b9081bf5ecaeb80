//! Time-limited bans of addresses and subnets, persisted in `<net_dir>/banlist.json`
//! (the same shape as Core's: `{"banned_nets": [{version, ban_created, banned_until, address}]}`).

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub use crate::config::subnet::{canonical, Subnet};

/// What a ban names: an IP subnet, or a Tor v3 address (Core bans those too; no connection
/// comes from one here, but the entry is listed and kept in `banlist.json` as Core's is).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BanTarget {
    /// An IPv4 or IPv6 subnet (a single address is a full-length prefix).
    Net(Subnet),
    /// A Tor v3 address (`<56 base32 chars>.onion`, lowercase).
    Onion(String),
}

impl BanTarget {
    /// Parses a subnet or a Tor v3 address, as Core's LookupSubNet.
    pub fn parse(s: &str) -> Option<BanTarget> {
        Subnet::parse(s)
            .map(BanTarget::Net)
            .or_else(|| super::onion::parse_v3(s.trim()).map(BanTarget::Onion))
    }

    fn is_range(&self) -> bool {
        matches!(self, BanTarget::Net(n) if !n.is_single())
    }
}

impl std::fmt::Display for BanTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BanTarget::Net(n) => n.fmt(f),
            BanTarget::Onion(a) => f.write_str(a),
        }
    }
}

/// One ban.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanEntry {
    /// UNIX time the ban was created.
    pub created: i64,
    /// UNIX time it ends.
    pub until: i64,
    /// Why (logged; not persisted by Core, kept here for listbanned).
    pub reason: String,
}

/// The ban list: the operator's `setban` entries (misbehaving peers are discouraged instead,
/// see [`super::discourage`]). Checking an address costs one map lookup plus a scan of the
/// range (subnet) entries only.
#[derive(Debug, Default)]
pub struct BanList {
    entries: BTreeMap<BanTarget, BanEntry>,
    ranges: usize,
    path: Option<PathBuf>,
}

impl BanList {
    /// Loads `path` (missing: empty; unreadable or damaged: logged, empty), dropping expired bans.
    pub fn load(path: &Path) -> BanList {
        let mut list = BanList {
            path: Some(path.to_path_buf()),
            ..Default::default()
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return list,
            Err(e) => {
                tracing::warn!(target: "blvm::net", "cannot read {}: {e}; starting with no bans", path.display());
                return list;
            }
        };
        let v: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(target: "blvm::net", "damaged {}: {e}; starting with no bans", path.display());
                return list;
            }
        };
        let t = crate::clock::unix_now();
        for e in v["banned_nets"].as_array().cloned().unwrap_or_default() {
            let (Some(addr), Some(until)) = (e["address"].as_str().and_then(BanTarget::parse), e["banned_until"].as_i64()) else {
                continue;
            };
            if until > t {
                let created = e["ban_created"].as_i64().unwrap_or(t);
                let reason = e["reason"].as_str().unwrap_or("").to_string();
                list.entries.insert(addr, BanEntry { created, until, reason });
            }
        }
        list.changed();
        tracing::info!(target: "blvm::net", bans = list.entries.len(), "loaded ban list");
        list
    }

    fn changed(&mut self) {
        self.ranges = self.entries.keys().filter(|s| s.is_range()).count();
    }

    /// Writes the list (atomically: temp file + rename).
    pub fn save(&self) {
        let Some(path) = &self.path else { return };
        let nets: Vec<Value> = self
            .entries
            .iter()
            .map(|(s, e)| json!({"version": 1, "ban_created": e.created, "banned_until": e.until, "address": s.to_string(), "reason": e.reason}))
            .collect();
        let text = json!({"banned_nets": nets}).to_string();
        let tmp = path.with_extension("json.new");
        if let Err(e) = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, path)) {
            tracing::warn!(target: "blvm::net", "cannot write {}: {e}", path.display());
        }
    }

    /// Adds (or extends) a ban and persists the list.
    pub fn ban(&mut self, subnet: BanTarget, until: i64, reason: &str) {
        let e = self.entries.entry(subnet).or_insert(BanEntry {
            created: crate::clock::unix_now(),
            until,
            reason: reason.to_string(),
        });
        e.until = e.until.max(until);
        e.reason = reason.to_string();
        self.changed();
        self.save();
    }

    /// Lifts a ban; false if there was none.
    pub fn unban(&mut self, subnet: &BanTarget) -> bool {
        let found = self.entries.remove(subnet).is_some();
        self.changed();
        if found {
            self.save();
        }
        found
    }

    /// Removes every ban.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.changed();
        self.save();
    }

    /// Drops expired bans (persisting when any expired).
    pub fn sweep(&mut self) {
        let t = crate::clock::unix_now();
        let before = self.entries.len();
        self.entries.retain(|_, e| e.until > t);
        self.changed();
        if self.entries.len() != before {
            self.save();
        }
    }

    /// Whether `ip` is banned now.
    pub fn is_banned(&self, ip: IpAddr) -> bool {
        let t = crate::clock::unix_now();
        if self.entries.get(&BanTarget::Net(Subnet::single(ip))).is_some_and(|e| e.until > t) {
            return true;
        }
        self.ranges > 0
            && self
                .entries
                .iter()
                .any(|(s, e)| matches!(s, BanTarget::Net(n) if !n.is_single() && n.contains(ip)) && e.until > t)
    }

    /// Whether this exact subnet has an entry.
    pub fn has(&self, subnet: &BanTarget) -> bool {
        self.entries.contains_key(subnet)
    }

    /// Current bans.
    pub fn list(&self) -> Vec<(BanTarget, BanEntry)> {
        let t = crate::clock::unix_now();
        self.entries
            .iter()
            .filter(|(_, e)| e.until > t)
            .map(|(s, e)| (s.clone(), e.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let s = Subnet::parse("10.1.2.3/16").unwrap();
        assert_eq!(s.to_string(), "10.1.0.0/16");
        assert!(s.contains("10.1.200.1".parse().unwrap()));
        assert!(!s.contains("10.2.0.1".parse().unwrap()));
        assert_eq!(Subnet::parse("10.1.2.3/255.255.0.0"), Some(s));
        assert!(Subnet::parse("10.1.2.3/33").is_none());
        assert!(Subnet::parse("10.1.2.3/255.0.255.0").is_none());
        assert!(Subnet::parse("nonsense").is_none());
        let one = Subnet::parse("127.0.0.2").unwrap();
        assert!(one.contains("::ffff:127.0.0.2".parse().unwrap()));
        assert!(!one.contains("127.0.0.1".parse().unwrap()));
        assert_eq!(Subnet::parse("[::1]"), Subnet::parse("::1"));
        assert_eq!(Subnet::parse("[fd00::]/8").map(|s| s.to_string()).as_deref(), Some("fd00::/8"));
        assert!(Subnet::parse("[::1").is_none());
    }

    #[test]
    fn persisted_with_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("banlist.json");
        let mut b = BanList::load(&path);
        b.ban(BanTarget::parse("1.2.3.4").unwrap(), crate::clock::unix_now() + 100, "test");
        b.ban(BanTarget::parse("5.6.7.8").unwrap(), crate::clock::unix_now() - 1, "expired");
        let b2 = BanList::load(&path);
        assert!(b2.is_banned("1.2.3.4".parse().unwrap()));
        assert!(!b2.is_banned("5.6.7.8".parse().unwrap()));
        assert_eq!(b2.list().len(), 1);
        let mut b3 = BanList::load(&path);
        b3.ban(BanTarget::parse("10.0.0.0/8").unwrap(), crate::clock::unix_now() + 100, "range");
        assert!(b3.is_banned("10.9.8.7".parse().unwrap()));
        assert!(b3.is_banned("::ffff:1.2.3.4".parse().unwrap()));
        b3.unban(&BanTarget::parse("10.0.0.0/8").unwrap());
        assert!(!b3.is_banned("10.9.8.7".parse().unwrap()));
        // A Tor v3 address is kept and listed like an IP (Core's banlist.json holds them too).
        let onion = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion";
        b3.ban(BanTarget::parse(onion).unwrap(), crate::clock::unix_now() + 100, "tor");
        let listed: Vec<String> = BanList::load(&path).list().iter().map(|(t, _)| t.to_string()).collect();
        assert_eq!(listed, vec!["1.2.3.4/32".to_string(), onion.to_string()]);
        assert!(BanTarget::parse("notanaddress.onion").is_none());
        std::fs::write(&path, "{not json").unwrap();
        assert!(BanList::load(&path).list().is_empty());
    }
}

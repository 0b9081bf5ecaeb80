//! Core's net permissions: `-whitelist=[permissions@]subnet` for peers from a subnet (inbound,
//! or outbound with the `out` direction) and `-whitebind=[permissions@]addr:port` for peers
//! connecting to that listening address. A peer's permissions are worked out once, when it
//! connects ([`super::P2pSettings::permissions`]).

use super::ban::Subnet;
use std::net::SocketAddr;

/// The permissions a peer can hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Permissions {
    /// May use BIP37 bloom filters without `-peerbloomfilters` (offered NODE_BLOOM).
    pub bloomfilter: bool,
    /// Never discouraged or disconnected for misbehaviour; headers skip the low-work check.
    pub noban: bool,
    /// May send transactions even under `-blocksonly`.
    pub relay: bool,
    /// Implies `relay`; is sent no `feefilter` (Core's ForceRelay).
    pub forcerelay: bool,
    /// May ask for our mempool with BIP35 `mempool`.
    pub mempool: bool,
    /// May download blocks whatever our upload limits (Core's Download; implied by `noban`).
    pub download: bool,
    /// Its `addr` messages skip the rate limit, and its `getaddr` is answered from the tables,
    /// not the cache (Core's Addr).
    pub addr: bool,
}

impl Permissions {
    /// Both sets of permissions together (a peer matching several entries).
    pub fn union(self, o: Permissions) -> Permissions {
        Permissions {
            bloomfilter: self.bloomfilter || o.bloomfilter,
            noban: self.noban || o.noban,
            relay: self.relay || o.relay,
            forcerelay: self.forcerelay || o.forcerelay,
            mempool: self.mempool || o.mempool,
            download: self.download || o.download,
            addr: self.addr || o.addr,
        }
    }

    /// Core's names, in its order, for getpeerinfo `permissions`.
    pub fn names(self) -> Vec<&'static str> {
        [
            ("bloomfilter", self.bloomfilter),
            ("noban", self.noban),
            ("forcerelay", self.forcerelay),
            ("relay", self.relay),
            ("mempool", self.mempool),
            ("download", self.download),
            ("addr", self.addr),
        ]
        .into_iter()
        .filter_map(|(n, on)| on.then_some(n))
        .collect()
    }

    /// Adds the permission `name` (Core's spellings); false for an unknown name.
    fn grant(&mut self, name: &str) -> bool {
        match name {
            "bloomfilter" | "bloom" => self.bloomfilter = true,
            // As Core's flags: noban includes download, forcerelay includes relay.
            "noban" => (self.noban, self.download) = (true, true),
            "forcerelay" => (self.forcerelay, self.relay) = (true, true),
            "relay" => self.relay = true,
            "mempool" => self.mempool = true,
            "download" => self.download = true,
            "addr" => self.addr = true,
            "all" => {
                for n in ["bloomfilter", "noban", "forcerelay", "mempool", "addr"] {
                    self.grant(n);
                }
            }
            _ => return false,
        }
        true
    }
}

/// The permissions of one entry: explicit ones, or Core's implicit set (an entry without `@`),
/// which depends on `-whitelistrelay` and `-whitelistforcerelay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Exactly these (`perm,perm@...`; `@...` alone grants none).
    Explicit(Permissions),
    /// noban, mempool, plus relay and forcerelay as their options say.
    Implicit,
}

/// The two options that shape the implicit grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImplicitRelay {
    /// `-whitelistrelay` (default on, off under `-blocksonly`).
    pub relay: bool,
    /// `-whitelistforcerelay` (default off).
    pub forcerelay: bool,
}

impl Grant {
    /// The permissions this grant gives.
    pub fn resolve(self, implicit: ImplicitRelay) -> Permissions {
        match self {
            Grant::Explicit(p) => p,
            Grant::Implicit => {
                let mut p = Permissions::default();
                p.grant("noban");
                p.grant("mempool");
                if implicit.relay {
                    p.grant("relay");
                }
                if implicit.forcerelay {
                    p.grant("forcerelay");
                }
                p
            }
        }
    }
}

/// One `-whitelist` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhitelistEntry {
    /// What it grants.
    pub grant: Grant,
    /// Whom: peers whose address is in this subnet.
    pub subnet: Subnet,
    /// Applies to inbound peers (the default, or `in`).
    pub inbound: bool,
    /// Applies to outbound peers (`out`).
    pub outbound: bool,
}

/// One `-whitebind` entry: an extra listening address whose peers get `grant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhitebindEntry {
    /// What it grants.
    pub grant: Grant,
    /// The address to listen on.
    pub addr: SocketAddr,
}

/// Splits `[perm,perm@]rest` as Core's TryParsePermissionFlags: the grant, the directions
/// (`in`, `out`) and the rest. Errors are Core's words.
fn split(entry: &str) -> Result<(Grant, bool, bool, &str), String> {
    let Some((list, rest)) = entry.split_once('@') else {
        return Ok((Grant::Implicit, true, false, entry));
    };
    let mut perms = Permissions::default();
    let (mut inbound, mut outbound) = (false, false);
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "in" => inbound = true,
            "out" => outbound = true,
            n if perms.grant(n) => {}
            n => return Err(format!("Invalid P2P permission: '{n}'")),
        }
    }
    if (inbound || outbound) && perms == Permissions::default() {
        return Err(format!("Only direction was set, no permissions: '{entry}'"));
    }
    if !inbound && !outbound {
        inbound = true;
    }
    Ok((Grant::Explicit(perms), inbound, outbound, rest))
}

/// Parses a `-whitelist` value (errors in Core's words).
pub fn parse_whitelist(entry: &str) -> Result<WhitelistEntry, String> {
    let (grant, inbound, outbound, net) = split(entry)?;
    let subnet = Subnet::parse(net).ok_or_else(|| format!("Invalid netmask specified in -whitelist: '{net}'"))?;
    Ok(WhitelistEntry {
        grant,
        subnet,
        inbound,
        outbound,
    })
}

/// Parses a `-whitebind` value (errors in Core's words): an IP address with a port.
pub fn parse_whitebind(entry: &str) -> Result<WhitebindEntry, String> {
    let (grant, _, _, bind) = split(entry)?;
    let addr = match (bind.parse::<SocketAddr>(), bind.parse::<std::net::IpAddr>()) {
        (Ok(a), _) => a,
        (_, Ok(ip)) => SocketAddr::new(ip, 0),
        _ => return Err(format!("Cannot resolve -whitebind address: '{bind}'")),
    };
    if addr.port() == 0 {
        return Err(format!("Need to specify a port with -whitebind: '{bind}'"));
    }
    Ok(WhitebindEntry { grant, addr })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: ImplicitRelay = ImplicitRelay {
        relay: true,
        forcerelay: false,
    };

    fn names(entry: &str, implicit: ImplicitRelay) -> Vec<&'static str> {
        parse_whitelist(entry).unwrap().grant.resolve(implicit).names()
    }

    #[test]
    fn grants_as_core() {
        assert_eq!(names("127.0.0.1", RELAY), ["noban", "relay", "mempool", "download"]);
        assert_eq!(names("@127.0.0.1", RELAY), Vec::<&str>::new());
        let no_relay = ImplicitRelay {
            relay: false,
            forcerelay: false,
        };
        assert_eq!(
            names("127.0.0.1", no_relay),
            ["noban", "mempool", "download"],
            "-blocksonly or -whitelistrelay=0"
        );
        let force = ImplicitRelay {
            relay: true,
            forcerelay: true,
        };
        assert_eq!(names("127.0.0.1", force), ["noban", "forcerelay", "relay", "mempool", "download"]);
        assert_eq!(names("noban,mempool@127.0.0.1", force), ["noban", "mempool", "download"]);
        assert_eq!(names("noban@127.0.0.0/8", RELAY), ["noban", "download"]);
        assert_eq!(names("addr@127.0.0.1", RELAY), ["addr"]);
        assert_eq!(names("bloom@127.0.0.1", RELAY), ["bloomfilter"]);
        assert_eq!(
            names("all@127.0.0.1", RELAY),
            ["bloomfilter", "noban", "forcerelay", "relay", "mempool", "download", "addr"]
        );
    }

    #[test]
    fn directions() {
        let e = parse_whitelist("noban@127.0.0.1").unwrap();
        assert!(e.inbound && !e.outbound);
        let e = parse_whitelist("noban,out@127.0.0.1").unwrap();
        assert!(!e.inbound && e.outbound);
        let e = parse_whitelist("noban,in,out@127.0.0.1").unwrap();
        assert!(e.inbound && e.outbound);
        assert!(parse_whitelist("127.0.0.1").unwrap().inbound);
    }

    #[test]
    fn errors_in_cores_words() {
        assert_eq!(
            parse_whitelist("in,out@127.0.0.1").unwrap_err(),
            "Only direction was set, no permissions: 'in,out@127.0.0.1'"
        );
        assert_eq!(parse_whitelist("oopsie@127.0.0.1").unwrap_err(), "Invalid P2P permission: 'oopsie'");
        assert_eq!(
            parse_whitelist("noban@127.0.0.1:230").unwrap_err(),
            "Invalid netmask specified in -whitelist: '127.0.0.1:230'"
        );
        assert_eq!(
            parse_whitebind("noban@127.0.0.1/10").unwrap_err(),
            "Cannot resolve -whitebind address: '127.0.0.1/10'"
        );
        assert_eq!(
            parse_whitebind("noban@127.0.0.1").unwrap_err(),
            "Need to specify a port with -whitebind: '127.0.0.1'"
        );
        let b = parse_whitebind("bloomfilter,forcerelay@127.0.0.1:18444").unwrap();
        assert_eq!(b.addr, "127.0.0.1:18444".parse().unwrap());
        assert_eq!(b.grant.resolve(RELAY).names(), ["bloomfilter", "forcerelay", "relay"]);
    }
}

//! `-whitelist=[permissions@]subnet` (Core's net permissions). `bloomfilter`, `noban`, `relay`
//! and `forcerelay` change behaviour here; the other permission names are accepted.

use super::ban::Subnet;

/// Core's permission names.
const KNOWN: &[&str] = &[
    "bloomfilter",
    "noban",
    "forcerelay",
    "relay",
    "mempool",
    "download",
    "addr",
    "all",
    "implicit",
    "in",
    "out",
];

/// The permissions blvm acts on, for one `-whitelist` entry or the union a peer holds.
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
}

impl Permissions {
    /// Both sets of permissions together (a peer matching several entries).
    pub fn union(self, o: Permissions) -> Permissions {
        Permissions {
            bloomfilter: self.bloomfilter || o.bloomfilter,
            noban: self.noban || o.noban,
            relay: self.relay || o.relay,
            forcerelay: self.forcerelay || o.forcerelay,
        }
    }

    /// Core's names, in its order, for getpeerinfo `permissions`.
    pub fn names(self) -> Vec<&'static str> {
        [
            ("bloomfilter", self.bloomfilter),
            ("noban", self.noban),
            ("forcerelay", self.forcerelay),
            ("relay", self.relay),
        ]
        .into_iter()
        .filter_map(|(n, on)| on.then_some(n))
        .collect()
    }
}

/// Parses `[perm,perm@]subnet`. Without permissions (or with `implicit`) Core grants its
/// defaults: noban, and relay when `whitelist_relay` (Core's -whitelistrelay, off under
/// -blocksonly).
pub fn parse(entry: &str, whitelist_relay: bool) -> Option<(Permissions, Subnet)> {
    let (perms, net) = match entry.rsplit_once('@') {
        Some((p, n)) => (Some(p), n),
        None => (None, entry),
    };
    let implicit = Permissions {
        bloomfilter: false,
        noban: true,
        relay: whitelist_relay,
        forcerelay: false,
    };
    let perms = match perms {
        None => implicit,
        Some(p) => {
            let names: Vec<&str> = p.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
            if names.iter().any(|n| !KNOWN.contains(n)) {
                return None;
            }
            let has = |want: &str| names.iter().any(|n| *n == want || *n == "all");
            let forcerelay = has("forcerelay");
            let granted = Permissions {
                bloomfilter: has("bloomfilter"),
                noban: has("noban"),
                relay: forcerelay || has("relay"),
                forcerelay,
            };
            if names.contains(&"implicit") {
                granted.union(implicit)
            } else {
                granted
            }
        }
    };
    Some((perms, Subnet::parse(net)?))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn entries() {
        assert!(parse("noban@127.0.0.1", true).unwrap().0.noban);
        assert!(!parse("addr@127.0.0.1", true).unwrap().0.noban);
        assert!(parse("127.0.0.0/8", true).unwrap().0.noban);
        assert!(parse("bogus@127.0.0.1", true).is_none());
        assert!(parse("noban,in,out@127.0.0.1", true).unwrap().0.noban);
    }

    #[test]
    fn relay_permissions() {
        let relay = parse("relay@127.0.0.1", false).unwrap().0;
        assert_eq!(relay.names(), ["relay"]);
        let force = parse("forcerelay@127.0.0.1", false).unwrap().0;
        assert!(force.relay && force.forcerelay && !force.noban);
        assert_eq!(parse("127.0.0.1", true).unwrap().0.names(), ["noban", "relay"]);
        assert_eq!(
            parse("127.0.0.1", false).unwrap().0.names(),
            ["noban"],
            "-blocksonly: no implicit relay"
        );
        assert_eq!(
            parse("all@127.0.0.1", false).unwrap().0.names(),
            ["bloomfilter", "noban", "forcerelay", "relay"]
        );
        let bloom = parse("bloomfilter@127.0.0.1", false).unwrap().0;
        assert_eq!(bloom.names(), ["bloomfilter"]);
        assert!(!parse("127.0.0.1", true).unwrap().0.bloomfilter, "not implicit");
    }
}

//! `-whitelist=[permissions@]subnet` (Core's net permissions). Only `noban` changes behaviour
//! here; the other permission names are accepted.

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

/// The permissions of one `-whitelist` entry that blvm acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    /// Never discouraged or disconnected for misbehaviour; headers skip the low-work check.
    pub noban: bool,
}

/// Parses `[perm,perm@]subnet`; without permissions Core grants its defaults (noban among them).
pub fn parse(entry: &str) -> Option<(Permissions, Subnet)> {
    let (perms, net) = match entry.rsplit_once('@') {
        Some((p, n)) => (Some(p), n),
        None => (None, entry),
    };
    let noban = match perms {
        None => true,
        Some(p) => {
            let names: Vec<&str> = p.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
            if names.iter().any(|n| !KNOWN.contains(n)) {
                return None;
            }
            names.iter().any(|n| matches!(*n, "noban" | "all"))
        }
    };
    Some((Permissions { noban }, Subnet::parse(net)?))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn entries() {
        assert!(parse("noban@127.0.0.1").unwrap().0.noban);
        assert!(!parse("addr@127.0.0.1").unwrap().0.noban);
        assert!(parse("127.0.0.0/8").unwrap().0.noban);
        assert!(parse("bogus@127.0.0.1").is_none());
        assert!(parse("noban,in,out@127.0.0.1").unwrap().0.noban);
    }
}

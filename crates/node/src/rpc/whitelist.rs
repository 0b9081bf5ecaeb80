//! Per-user RPC method whitelists (`-rpcwhitelist`, `-rpcwhitelistdefault`), as Core applies
//! them: a call by a user who may not make it is answered 403 Forbidden before it runs.

use std::collections::{BTreeSet, HashMap};

/// Which methods each authenticated user may call.
#[derive(Debug, Clone, Default)]
pub struct RpcWhitelist {
    /// Users without an entry may call nothing (Core's `g_rpc_whitelist_default`).
    default_deny: bool,
    /// The allowed methods of each listed user.
    users: HashMap<String, BTreeSet<String>>,
}

impl RpcWhitelist {
    /// Builds the whitelist from `-rpcwhitelist` entries (`user`, `user:m1,m2` or `user:m1 m2`;
    /// a user's later entries keep only the methods every entry lists) and
    /// `-rpcwhitelistdefault` (None: on when any entry is given).
    pub fn new(entries: &[String], default: Option<bool>) -> Self {
        let mut users: HashMap<String, BTreeSet<String>> = HashMap::new();
        for e in entries {
            let (user, methods) = match e.split_once(':') {
                Some((u, m)) => (u, Some(m)),
                None => (e.as_str(), None),
            };
            let seen = users.contains_key(user);
            let list = users.entry(user.to_string()).or_default();
            if let Some(m) = methods {
                let new: BTreeSet<String> = m.split([',', ' ']).filter(|s| !s.is_empty()).map(str::to_string).collect();
                *list = if seen { list.intersection(&new).cloned().collect() } else { new };
            }
        }
        RpcWhitelist {
            default_deny: default.unwrap_or(!entries.is_empty()),
            users,
        }
    }

    /// Whether `user` may call `method`.
    pub fn allows(&self, user: &str, method: &str) -> bool {
        match self.users.get(user) {
            Some(list) => list.contains(method),
            None => !self.default_deny,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wl(entries: &[&str], default: Option<bool>) -> RpcWhitelist {
        RpcWhitelist::new(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>(), default)
    }

    #[test]
    fn users_get_their_methods_and_repeated_entries_intersect() {
        let w = wl(
            &[
                "u1:getbestblockhash,getblockcount,",
                "u2:getblockcount, getbestblockhash",
                "u2:getblockcount",
                "u3",
                "u4:",
            ],
            None,
        );
        assert!(w.allows("u1", "getbestblockhash") && w.allows("u1", "getblockcount"));
        assert!(!w.allows("u1", "getnetworkinfo"));
        assert!(w.allows("u2", "getblockcount") && !w.allows("u2", "getbestblockhash"));
        assert!(!w.allows("u3", "getblockcount") && !w.allows("u4", "getblockcount"));
        // Listed entries make unlisted users default-deny, unless -rpcwhitelistdefault=0.
        assert!(!w.allows("nobody", "getblockcount"));
        let w = wl(&["u1:getblockcount"], Some(false));
        assert!(w.allows("nobody", "getblockcount") && !w.allows("u1", "stop"));
        // No entries: everyone may call everything; -rpcwhitelistdefault=1 alone denies all.
        assert!(wl(&[], None).allows("x", "stop"));
        assert!(!wl(&[], Some(true)).allows("x", "stop"));
    }
}

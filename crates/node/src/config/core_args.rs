//! Bitcoin Core options that blvm does not implement: accepted so that a `bitcoin.conf` or a
//! script written for `bitcoind` works unchanged, logged once as ignored, or refused with a clear
//! error when ignoring them would silently change what the operator asked for.

/// What blvm does with a Core option it does not implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Accepted with any value and ignored (logged once at startup).
    Ignore,
    /// Accepted when off (`0`, empty-negated, `-noX`); any other value is refused with this reason,
    /// because running without the feature would not be what the operator asked for.
    RefuseWhenOn(&'static str),
}

const NO_PROXY: &str = "blvm-node has no SOCKS5 proxy support; connecting without the proxy would reveal your IP address";
const NO_PRIVACY_NET: &str = "blvm-node only connects over IPv4/IPv6; Tor, I2P and CJDNS are not supported";
const NO_WALLET: &str = "blvm-node has no wallet (as bitcoind built without wallet support)";

/// Core's options (bitcoind -help, including debug and hidden ones) that blvm does not implement.
pub const CORE_ONLY: &[(&str, Policy)] = &[
    // General.
    ("allowignoredconf", Policy::Ignore),
    ("blockreconstructionextratxn", Policy::Ignore),
    ("dbbatchsize", Policy::Ignore),
    ("dbcrashratio", Policy::Ignore),
    ("forcecompactdb", Policy::Ignore),
    ("maxorphantx", Policy::Ignore),
    ("persistmempoolv1", Policy::Ignore),
    ("settings", Policy::Ignore),
    ("help-debug", Policy::Ignore),
    ("choosedatadir", Policy::Ignore),
    ("lang", Policy::Ignore),
    ("min", Policy::Ignore),
    ("resetguisettings", Policy::Ignore),
    ("splash", Policy::Ignore),
    ("uiplatform", Policy::Ignore),
    (
        "txospenderindex",
        Policy::RefuseWhenOn("the spending-transaction index is not implemented"),
    ),
    // Connections.
    ("asmap", Policy::Ignore),
    ("cjdnsreachable", Policy::RefuseWhenOn(NO_PRIVACY_NET)),
    ("discover", Policy::Ignore),
    ("dns", Policy::Ignore),
    ("fixedseeds", Policy::Ignore),
    ("forcednsseed", Policy::Ignore),
    ("i2pacceptincoming", Policy::Ignore),
    ("i2psam", Policy::RefuseWhenOn(NO_PRIVACY_NET)),
    ("listenonion", Policy::Ignore),
    ("maxreceivebuffer", Policy::Ignore),
    ("maxsendbuffer", Policy::Ignore),
    ("natpmp", Policy::Ignore),
    ("upnp", Policy::Ignore),
    ("networkactive", Policy::Ignore),
    ("onion", Policy::RefuseWhenOn(NO_PRIVACY_NET)),
    ("proxy", Policy::RefuseWhenOn(NO_PROXY)),
    ("proxyrandomize", Policy::Ignore),
    ("timeout", Policy::Ignore),
    ("torcontrol", Policy::Ignore),
    ("torpassword", Policy::Ignore),
    ("txreconciliation", Policy::Ignore),
    ("txsendrate", Policy::Ignore),
    ("privatebroadcast", Policy::RefuseWhenOn(NO_PRIVACY_NET)),
    // Debugging and testing.
    ("capturemessages", Policy::Ignore),
    ("checkaddrman", Policy::Ignore),
    ("checkblockindex", Policy::Ignore),
    ("checkmempool", Policy::Ignore),
    ("checkpoints", Policy::Ignore),
    ("deprecatedrpc", Policy::Ignore),
    ("printpriority", Policy::Ignore),
    ("stopafterblockimport", Policy::Ignore),
    ("stopatheight", Policy::Ignore),
    ("vbparams", Policy::Ignore),
    (
        "signetchallenge",
        Policy::RefuseWhenOn("custom signets are not supported; blvm-node knows the default signet only"),
    ),
    ("signetseednode", Policy::Ignore),
    ("rpcdoccheck", Policy::Ignore),
    ("logratelimit", Policy::Ignore),
    ("loglevelalways", Policy::Ignore),
    ("shrinkdebugfile", Policy::Ignore),
    ("ipcbind", Policy::Ignore),
    // Relay policy and block creation.
    ("acceptstalefeeestimates", Policy::Ignore),
    ("bytespersigop", Policy::Ignore),
    // RPC.
    ("rpccookieperms", Policy::Ignore),
    (
        "daemonwait",
        Policy::RefuseWhenOn("blvm-node does not fork; run it under a service manager (systemd, runit) or with nohup ... &"),
    ),
    // Wallet (blvm has none, like bitcoind built without a wallet).
    ("addresstype", Policy::Ignore),
    ("avoidpartialspends", Policy::Ignore),
    ("changetype", Policy::Ignore),
    ("consolidatefeerate", Policy::Ignore),
    ("disablewallet", Policy::Ignore),
    ("discardfee", Policy::Ignore),
    ("fallbackfee", Policy::Ignore),
    ("keypool", Policy::Ignore),
    ("maxapsfee", Policy::Ignore),
    ("maxtxfee", Policy::Ignore),
    ("mintxfee", Policy::Ignore),
    ("paytxfee", Policy::Ignore),
    ("signer", Policy::Ignore),
    ("spendzeroconfchange", Policy::Ignore),
    ("txconfirmtarget", Policy::Ignore),
    ("wallet", Policy::RefuseWhenOn(NO_WALLET)),
    ("walletbroadcast", Policy::Ignore),
    ("walletdir", Policy::Ignore),
    ("walletnotify", Policy::Ignore),
    ("walletrbf", Policy::Ignore),
    ("walletcrosschain", Policy::Ignore),
    ("walletrejectlongchains", Policy::Ignore),
    ("unsafesqlitesync", Policy::Ignore),
    ("dblogsize", Policy::Ignore),
    ("flushwallet", Policy::Ignore),
    ("privdb", Policy::Ignore),
];

/// The policy for a Core option blvm does not implement, or `None` when the name is not one.
pub fn policy(name: &str) -> Option<Policy> {
    CORE_ONLY.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// Refusable options that are switches: given bare (`-reindex`) they are on, as Core's
/// GetBoolArg reads an empty value; for the others a bare or empty value means none.
const SWITCHES: &[&str] = &[
    "txospenderindex",
    "cjdnsreachable",
    "i2pacceptincoming",
    "privatebroadcast",
    "daemonwait",
];

/// Whether a value means "off" for a refusable option (`-noproxy`, `-proxy=0`, `-onlynet=`,
/// `-reindex=0`; but a bare `-reindex` is on).
pub fn is_off(name: &str, value: &str, negated: bool) -> bool {
    let bare_switch = value.is_empty() && SWITCHES.contains(&name);
    negated || (!bare_switch && matches!(value, "0" | "" | "false" | "no"))
}

/// The sentence printed by `-help` after the option table.
pub fn help_paragraph() -> String {
    let names: Vec<String> = CORE_ONLY.iter().map(|(n, _)| format!("-{n}")).collect();
    let mut s = String::from(
        "\nBitcoin Core options that blvm-node accepts without implementing them (ignored with a log\n\
         line; those marked * are refused unless off, because ignoring them would change what you\n\
         asked for):\n",
    );
    let mut line = String::from("   ");
    for (name, (_, p)) in names.iter().zip(CORE_ONLY) {
        let item = match p {
            Policy::Ignore => format!(" {name}"),
            Policy::RefuseWhenOn(_) => format!(" {name}*"),
        };
        if line.len() + item.len() > 98 {
            s.push_str(&line);
            s.push('\n');
            line = String::from("   ");
        }
        line.push_str(&item);
    }
    s.push_str(&line);
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::is_off;

    #[test]
    fn a_bare_switch_is_on_and_a_bare_value_option_is_off() {
        assert!(!is_off("txospenderindex", "", false), "-txospenderindex alone asks for the index");
        assert!(is_off("txospenderindex", "0", false) && is_off("txospenderindex", "", true));
        assert!(!is_off("txospenderindex", "1", false));
        assert!(is_off("proxy", "", false) && is_off("proxy", "0", false));
        assert!(!is_off("proxy", "127.0.0.1:9050", false));
        let refused = crate::config::parse_args(["-txospenderindex".to_string()]).unwrap_err().to_string();
        assert!(refused.contains("txospenderindex"), "{refused}");
        assert!(crate::config::parse_args(["-notxospenderindex".to_string()]).is_ok());
        assert!(crate::config::parse_args(["-coinstatsindex".to_string()]).is_ok());
    }
}

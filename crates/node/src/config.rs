//! Command-line configuration in Bitcoin Core's style (`-regtest -datadir=D -dbcache=N`): one
//! declarative table of options ([`OPTIONS`], declared in `options.rs`) from which come the typed
//! fields of [`NodeConfig`], parsing, the configuration files, the environment, `-help` and
//! docs/configuration.md.

mod bitcoin_conf;
pub mod blockcreate;
pub mod byte_units;
pub mod core_args;
mod files;
mod help;
mod load;
mod logopts;
mod notify_args;
#[macro_use]
mod table;
mod options;
mod parse;
pub mod policy;
mod settings;
pub mod subnet;

use crate::params::ChainParams;
pub use help::{help_text, options_markdown};
pub use load::load_config;
pub use logopts::{active_debug, targets_of as logopts_targets, LogFormat, BLVM_CATEGORIES, CORE_DEBUG_CATEGORIES};
pub use notify_args::NotifyCommands;
pub use options::{NodeConfig, OPTIONS};
pub use parse::{parse_args, parse_rpc_bind, MIN_PRUNE_TARGET_MIB};
pub use settings::{env_var_name, is_repeatable, Source, CONFIG_SECTIONS};
use std::path::PathBuf;
pub use subnet::Subnet;
use thiserror::Error;

/// A configuration problem, naming the key, the value and what is allowed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The option is not one we know.
    #[error("Error parsing command line arguments: Invalid parameter -{0} (unknown option -{0}, see -help)")]
    Unknown(String),
    /// `-peertimeout` is not positive (Core's wording).
    #[error("peertimeout must be a positive integer.")]
    PeerTimeout,
    /// `-maxmempool` is below the floor that fits the largest cluster (Core's wording).
    #[error("-maxmempool must be at least {0} MB")]
    MaxMempoolTooSmall(u64),
    /// `-minimumchainwork` is not hex (Core's wording).
    #[error("Invalid minimum work specified ({0}), must be up to 64 hex digits")]
    InvalidMinimumWork(String),
    /// The value does not parse or is out of range.
    #[error("invalid value '{value}' for -{key}: expected {expected}")]
    BadValue {
        /// The option.
        key: String,
        /// What was given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// More than one network was selected.
    #[error("conflicting network options: {0}")]
    ConflictingNetworks(String),
    /// A subcommand is unknown or lacks its argument.
    #[error("{0}")]
    BadCommand(String),
    /// The option is known but the requested feature is not available.
    #[error("-{key}={value} is not supported: {reason}")]
    Unsupported {
        /// The option.
        key: String,
        /// What was given.
        value: String,
        /// Why, and what to do instead.
        reason: &'static str,
    },
    /// A setting from the environment or the configuration file is wrong; `source` says where.
    #[error("{origin}: {error}")]
    At {
        /// Where the setting came from (`/path/blvm.toml:3`, `environment variable BLVM_DBCACHE`).
        origin: String,
        /// What is wrong with it.
        error: Box<ConfigError>,
    },
    /// A startup error worded exactly as Bitcoin Core's (scripts and Core's tests match on it).
    #[error("{0}")]
    Core(String),
    /// The configuration file cannot be read or is not valid TOML.
    #[error("configuration file {path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong (TOML errors include the line and column).
        message: String,
    },
}

/// What the option's value looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptKind {
    /// A switch (`-name`, `-name=1`, `-noname`).
    Bool,
    /// A number.
    Int,
    /// A string or path.
    Str,
}

/// Where `-help` and docs/configuration.md file an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The network, the data directory, the process.
    General,
    /// Block validation, indexes and import.
    Chain,
    /// Block files, pruning and backups.
    Storage,
    /// Log output.
    Logging,
    /// Shell commands run on events.
    Notify,
    /// The transaction memory pool and relay policy.
    Mempool,
    /// Block templates.
    Mining,
    /// JSON-RPC, REST and metrics.
    Rpc,
    /// Peer-to-peer networking.
    P2p,
    /// Modules.
    Modules,
    /// Periodic maintenance and resource checks.
    Maintenance,
    /// ZMQ notifications.
    Zmq,
}

impl Section {
    /// The section's heading.
    pub fn title(self) -> &'static str {
        match self {
            Section::General => "general",
            Section::Chain => "chain",
            Section::Storage => "storage",
            Section::Logging => "logging",
            Section::Notify => "notification",
            Section::Mempool => "mempool",
            Section::Mining => "mining",
            Section::Rpc => "rpc",
            Section::P2p => "p2p",
            Section::Modules => "modules",
            Section::Maintenance => "maintenance",
            Section::Zmq => "zmq",
        }
    }
}

/// The networks an option may be used on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Networks {
    /// Every network.
    All,
    /// Regtest only (refused elsewhere, or without effect: `-blockversion`).
    Regtest,
    /// Every network but mainnet (Core refuses it there).
    TestNets,
}

impl Networks {
    /// How docs/configuration.md names the restriction.
    pub fn title(self) -> &'static str {
        match self {
            Networks::All => "all",
            Networks::Regtest => "regtest",
            Networks::TestNets => "not main",
        }
    }
}

/// One row of the option table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptSpec {
    /// The name, without dashes.
    pub name: &'static str,
    /// What its value looks like.
    pub kind: OptKind,
    /// The default as `-help` shows it (empty: none).
    pub default: &'static str,
    /// The `-help` text.
    pub help: &'static str,
    /// Where `-help` and the docs file it.
    pub section: Section,
    /// The networks it may be used on.
    pub networks: Networks,
    /// The allowed range of an integer option stored in a typed field.
    pub range: Option<(u64, u64)>,
}

/// The subcommand to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the node until stopped.
    Run,
    /// Import blocks from a file, then exit.
    Import(PathBuf),
    /// Print help.
    Help,
    /// Print the version.
    Version,
}

impl NodeConfig {
    /// The directory of the selected network (`<datadir>/regtest`, ... or `<datadir>` for mainnet).
    pub fn net_dir(&self) -> PathBuf {
        crate::datadir::network_dir(&self.datadir, ChainParams::for_network(self.network).data_subdir)
    }
}

/// Whether `s` looks like a P2P peer address: `host`, `host:port`, `IP`, `IP:port` or `[IPv6]:port`.
fn valid_host_port(s: &str) -> bool {
    if s.parse::<std::net::SocketAddr>().is_ok() || s.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return false;
    }
    !host.is_empty() && host.len() <= 253 && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// `~/.blvm`, the default `-datadir`.
fn default_datadir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".blvm")
}

/// A switch's value as Core reads it (empty: on).
fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v {
        "" | "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(ConfigError::BadValue {
            key: key.into(),
            value: v.into(),
            expected: "0 or 1",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::Network;

    fn parse(a: &[&str]) -> Result<(NodeConfig, Command), ConfigError> {
        parse_args(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn core_style_flags() {
        let (c, cmd) = parse(&["-regtest", "-datadir=/tmp/x", "--dbcache=10", "import", "f.hex"]).unwrap();
        assert_eq!(c.network, Network::Regtest);
        assert_eq!(c.datadir, PathBuf::from("/tmp/x"));
        assert_eq!(c.dbcache_mib, 10);
        assert_eq!(cmd, Command::Import(PathBuf::from("f.hex")));
        assert_eq!(c.net_dir(), PathBuf::from("/tmp/x/regtest"));
        let (c, _) = parse(&["-chain=main", "-noprinttoconsole"]).unwrap();
        assert_eq!(c.network, Network::Bitcoin);
        assert!(!c.printtoconsole);
        assert_eq!(c.net_dir(), c.datadir);
    }

    #[test]
    fn p2p_flags() {
        let (c, _) = parse(&[
            "-connect=127.0.0.1:18444",
            "-connect=[::1]:1",
            "-addnode=node.example:8333",
            "-seednode=1.2.3.4",
            "-bind=127.0.0.1:0",
            "-port=0",
            "-maxconnections=3",
            "-dnsseed=0",
            "-bantime=60",
            "-peertimeout=2",
        ])
        .unwrap();
        assert_eq!(c.connect, vec!["127.0.0.1:18444".to_string(), "[::1]:1".to_string()]);
        assert_eq!(c.addnode, vec!["node.example:8333".to_string()]);
        assert_eq!(c.seednode, vec!["1.2.3.4".to_string()]);
        assert_eq!(c.bind, vec!["127.0.0.1:0".to_string()]);
        assert_eq!((c.port, c.maxconnections, c.bantime, c.peertimeout), (Some(0), 3, 60, 2));
        assert_eq!((c.listen, c.dnsseed), (None, Some(false)));
        assert!(parse(&["-nolisten", "-dnsseed=0"]).unwrap().0.listen == Some(false));
        // As Core: an address to listen on contradicts -listen=0.
        for bind in ["-bind=127.0.0.1", "-whitebind=noban@127.0.0.1:1"] {
            let e = parse(&[bind, "-listen=0"]).unwrap_err().to_string();
            assert_eq!(e, "Cannot set -bind or -whitebind together with -listen=0");
        }
        let (c, _) = parse(&[]).unwrap();
        assert_eq!((c.port, c.maxconnections, c.bantime, c.peertimeout), (None, 125, 86400, 60));
        assert!(parse(&["-connect=no port:x"]).is_err());
        assert!(parse(&["-port=70000"]).is_err());
        assert!(parse(&["-bind=nonsense"]).is_err());
        assert!(parse(&["-peertimeout=0"]).is_err());
        assert!(is_repeatable("connect") && is_repeatable("addnode") && is_repeatable("seednode") && is_repeatable("bind"));
    }

    #[test]
    fn rpc_access_flags() {
        let (c, _) = parse(&[
            "-rpcallowip=10.0.0.0/8",
            "-rpcallowip=192.168.1.1/255.255.255.0",
            "-rpcservertimeout=5",
            "-sysperms",
        ])
        .unwrap();
        let shown: Vec<String> = c.rpc_allow_ip.iter().map(|s| s.to_string()).collect();
        assert_eq!(shown, vec!["10.0.0.0/8", "192.168.1.0/24"]);
        assert_eq!(c.rpcservertimeout, 5);
        assert!(c.sysperms);
        let (c, _) = parse(&[]).unwrap();
        assert_eq!((c.rpcservertimeout, c.sysperms, c.rpc_allow_ip.len()), (30, false, 0));
        for bad in [
            "-rpcallowip=10.0.0.0/33",
            "-rpcallowip=example.com",
            "-rpcallowip=1.2.3.4/255.0.255.0",
            "-rpcservertimeout=0",
        ] {
            assert!(parse(&[bad]).is_err(), "{bad}");
        }
        assert!(is_repeatable("rpcallowip"));
    }

    #[test]
    fn bad_input_names_the_key() {
        assert_eq!(parse(&["-bogus=1"]).unwrap_err(), ConfigError::Unknown("bogus".into()));
        let e = parse(&["-dbcache=lots"]).unwrap_err().to_string();
        assert!(e.contains("-dbcache") && e.contains("lots"), "{e}");
        assert!(matches!(parse(&["-testnet4", "-signet"]), Err(ConfigError::ConflictingNetworks(_))));
        assert!(matches!(parse(&["import"]), Err(ConfigError::BadCommand(_))));
    }

    #[test]
    fn help_lists_every_option() {
        let h = help_text();
        for o in OPTIONS {
            assert!(h.contains(&format!("-{}", o.name)), "help misses -{}", o.name);
        }
    }

    #[test]
    fn typed_defaults_are_the_defaults_help_shows() {
        let c = NodeConfig::default();
        let mut typed = 0;
        for o in OPTIONS {
            let Some(value) = c.bound_value(o.name) else { continue };
            typed += 1;
            match value {
                // Unset: the default depends on other options or the network.
                None => assert!(o.default.parse::<u64>().is_err() || o.range.is_some(), "-{}", o.name),
                Some(v) if o.kind == OptKind::Bool => assert_eq!(v == 1, o.default.starts_with('1'), "-{}", o.name),
                Some(v) => assert_eq!(v.to_string(), o.default, "-{}", o.name),
            }
            if let Some((lo, hi)) = o.range {
                assert!(lo <= hi && value.is_none_or(|v| (lo..=hi).contains(&v)), "-{}", o.name);
            }
        }
        assert!(typed > 50, "most options have a typed field ({typed})");
    }

    /// Core's `-prevoutfetchthreads`: negatives rejected, large values accepted (the fetcher
    /// clamps them to 16), 0 off.
    #[test]
    fn prevoutfetchthreads_rejects_negatives() {
        let (c, _) = parse(&["-prevoutfetchthreads=100"]).unwrap();
        assert_eq!(c.prevoutfetchthreads, 100);
        assert_eq!(parse(&[]).unwrap().0.prevoutfetchthreads, 8);
        let e = parse(&["-prevoutfetchthreads=-1"]).unwrap_err().to_string();
        assert!(e.contains("-prevoutfetchthreads") && e.contains("non-negative"), "{e}");
    }

    #[test]
    fn typed_integers_are_range_checked_with_the_table_words() {
        let (c, _) = parse(&["-maxconnections=7", "-zmqpubrawtxhwm=3", "-checklevel=4", "-maxmempool=5", "-par=2"]).unwrap();
        assert_eq!(
            (c.maxconnections, c.zmqpubrawtxhwm, c.checklevel, c.maxmempool, c.script_threads),
            (7, 3, 4, Some(5), 2)
        );
        let e = parse(&["-checklevel=5"]).unwrap_err().to_string();
        assert_eq!(e, "invalid value '5' for -checklevel: expected an integer in 0..=4");
        let e = parse(&["-flushinterval=0"]).unwrap_err().to_string();
        assert!(e.contains("a larger value"), "{e}");
        let e = parse(&["-flushinterval=x"]).unwrap_err().to_string();
        assert!(e.contains("a non-negative integer"), "{e}");
        assert_eq!(parse(&["-maxmempool=4"]).unwrap_err(), ConfigError::MaxMempoolTooSmall(5));
        assert_eq!(parse(&["-peertimeout=-1"]).unwrap_err(), ConfigError::PeerTimeout);
        let (c, _) = parse(&["-nolisten", "-nopersistmempool", "-rpcwhitelistdefault=0"]).unwrap();
        assert_eq!(
            (c.listen, c.persist_mempool, c.rpc_whitelist_default),
            (Some(false), false, Some(false))
        );
    }
}

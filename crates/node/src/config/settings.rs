//! Settings before precedence: where each `name[=value]` came from (command line, environment,
//! configuration file), how written names map to options, and the groups precedence applies to.

use super::{core_args, ConfigError, OPTIONS};
use bitcoin::Network;
use std::path::PathBuf;

/// Options that select the network; they take precedence as one group.
pub(super) const NETWORK_KEYS: &[&str] = &["chain", "regtest", "testnet", "testnet4", "signet", "mainnet"];

/// The network sections of the configuration file (as in Core's bitcoin.conf) and their networks.
pub const CONFIG_SECTIONS: &[(&str, Network)] = &[
    ("main", Network::Bitcoin),
    ("test", Network::Testnet),
    ("testnet4", Network::Testnet4),
    ("signet", Network::Signet),
    ("regtest", Network::Regtest),
];

/// Where a setting came from (for precedence and error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The command line (highest precedence).
    CommandLine,
    /// An environment variable `BLVM_<NAME>`.
    Env(String),
    /// The configuration file: its path, the line of the key if found, the network section if any.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line of the key.
        line: Option<usize>,
        /// `[regtest]`, ... (None: top level).
        section: Option<String>,
    },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::CommandLine => write!(f, "command line"),
            Source::Env(var) => write!(f, "environment variable {var}"),
            Source::File { path, line, section } => {
                write!(f, "{}", path.display())?;
                if let Some(l) = line {
                    write!(f, ":{l}")?;
                }
                if let Some(s) = section {
                    write!(f, " (section [{s}])")?;
                }
                Ok(())
            }
        }
    }
}

/// One `name[=value]` from some source, before precedence is applied.
#[derive(Debug, Clone)]
pub(super) struct Setting {
    /// As written (may carry a `no` prefix).
    pub(super) name: String,
    /// The value (None: the bare option, `-name`).
    pub(super) value: Option<String>,
    /// Where it came from.
    pub(super) source: Source,
    /// 0 file top level, 1 file network section, 2 environment, 3 command line.
    pub(super) layer: u8,
}

impl Setting {
    /// The setting as a command-line argument.
    pub(super) fn arg(&self) -> String {
        match &self.value {
            Some(v) => format!("-{}={v}", self.name),
            None => format!("-{}", self.name),
        }
    }
}

/// The option a written name refers to (`noprinttoconsole` -> `printtoconsole`, `h` -> `help`).
pub(super) fn canonical(name: &str) -> String {
    if name == "h" || name == "?" {
        return "help".into();
    }
    if known(name) {
        return name.into();
    }
    match name.strip_prefix("no") {
        Some(n) if known(n) => n.into(),
        _ => name.into(),
    }
}

/// Whether `name` is an option blvm implements or a Core option it accepts (see [`core_args`]).
pub(super) fn known(name: &str) -> bool {
    OPTIONS.iter().any(|o| o.name == name) || core_args::policy(name).is_some()
}

/// Core's options that only apply to the network of the section they are in: at the top of a
/// `bitcoin.conf` they apply to mainnet only (Core's NETWORK_ONLY flag).
pub(super) const NETWORK_ONLY: &[&str] = &["addnode", "bind", "connect", "port", "rpcbind", "rpcport", "wallet", "walletdir"];

/// Precedence group: the network options form one group, every other option its own.
pub(super) fn group_of(name: &str) -> String {
    let c = canonical(name);
    if NETWORK_KEYS.contains(&c.as_str()) {
        "<network>".into()
    } else {
        c
    }
}

/// List options whose values from every layer add up, as Core's GetArgs combines bitcoin.conf
/// and command-line values (Core's tests put `bind=127.0.0.1` in bitcoin.conf and add binds,
/// such as `-bind=...=onion`, on the command line).
pub(super) const COMBINED_LISTS: &[&str] = &["bind"];

/// Whether an option may be given more than once (its values accumulate).
pub fn is_repeatable(name: &str) -> bool {
    OPTIONS.iter().any(|o| o.name == name && o.help.ends_with("repeatable"))
}

/// The environment variable of an option: `BLVM_` and the name in upper case (`BLVM_DBCACHE`).
pub fn env_var_name(option: &str) -> String {
    // A `-` (as in -reindex-chainstate) is not valid in a shell variable name.
    format!("BLVM_{}", option.to_ascii_uppercase().replace('-', "_"))
}

/// Wraps an error from [`parse_args`] with the source of the setting it is about (unchanged for
/// the command line).
pub(super) fn attribute(e: ConfigError, chosen: &[Setting]) -> ConfigError {
    let (key, value) = match &e {
        ConfigError::Unknown(k) => (k.clone(), None),
        ConfigError::BadValue { key, value, .. } | ConfigError::Unsupported { key, value, .. } => (key.clone(), Some(value.clone())),
        ConfigError::ConflictingNetworks(_) => ("chain".to_string(), None),
        _ => return e,
    };
    let group = group_of(&key);
    let cands: Vec<&Setting> = chosen.iter().filter(|s| group_of(&s.name) == group).collect();
    let found = cands
        .iter()
        .rev()
        .find(|s| value.as_deref().is_some_and(|v| s.value.as_deref().unwrap_or("") == v))
        .or(cands.last());
    match found {
        Some(s) if s.source != Source::CommandLine => ConfigError::At {
            origin: s.source.to_string(),
            error: Box::new(e),
        },
        _ => e,
    }
}

/// The highest-precedence value given for `name` so far (command line, then environment).
pub(super) fn highest(settings: &[Setting], name: &str) -> Option<String> {
    let top = settings.iter().filter(|s| canonical(&s.name) == name).map(|s| s.layer).max()?;
    settings
        .iter()
        .rev()
        .find(|s| s.layer == top && canonical(&s.name) == name)
        .and_then(|s| s.value.clone())
}

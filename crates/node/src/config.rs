//! Command-line configuration in Bitcoin Core's style (`-regtest -datadir=D -dbcache=N`).

use crate::params::ChainParams;
use bitcoin::Network;
use std::path::PathBuf;
use thiserror::Error;

/// A configuration problem, naming the key, the value and what is allowed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The option is not one we know.
    #[error("unknown option -{0} (see -help)")]
    Unknown(String),
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

/// Every option the node accepts: name, kind, default shown in help, and help text.
pub const OPTIONS: &[(&str, OptKind, &str, &str)] = &[
    ("help", OptKind::Bool, "", "Print this help and exit (also -h, -?)"),
    ("version", OptKind::Bool, "", "Print version and exit"),
    ("datadir", OptKind::Str, "~/.blvm", "Data directory"),
    ("chain", OptKind::Str, "regtest", "Network: main, test (testnet3), testnet4, signet, regtest"),
    ("regtest", OptKind::Bool, "1", "Use the regression test network (the default)"),
    ("testnet", OptKind::Bool, "0", "Use testnet3"),
    ("testnet4", OptKind::Bool, "0", "Use testnet4"),
    ("signet", OptKind::Bool, "0", "Use signet"),
    ("mainnet", OptKind::Bool, "0", "Use mainnet (same as -chain=main)"),
    ("dbcache", OptKind::Int, "450", "UTXO cache size in MiB (4..=1048576)"),
    ("par", OptKind::Int, "0", "Script verification threads (0 = number of cores)"),
    ("printtoconsole", OptKind::Bool, "1", "Send log output to the console as well as debug.log"),
    ("debug", OptKind::Str, "", "Enable debug logging for a category (chain, import, modules, net, rpc) or 1 for all"),
];

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

/// Parsed node configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Selected network.
    pub network: Network,
    /// Base data directory (network subdirectories live inside).
    pub datadir: PathBuf,
    /// UTXO cache budget in MiB.
    pub dbcache_mib: u64,
    /// Script verification threads.
    pub script_threads: usize,
    /// Log to the console too.
    pub printtoconsole: bool,
    /// Debug log categories.
    pub debug: Vec<String>,
}

impl NodeConfig {
    /// The directory of the selected network (`<datadir>/regtest`, ... or `<datadir>` for mainnet).
    pub fn net_dir(&self) -> PathBuf {
        let sub = ChainParams::for_network(self.network).data_subdir;
        if sub.is_empty() {
            self.datadir.clone()
        } else {
            self.datadir.join(sub)
        }
    }
}

fn default_datadir() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".")).join(".blvm")
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v {
        "" | "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(ConfigError::BadValue { key: key.into(), value: v.into(), expected: "0 or 1" }),
    }
}

/// Parses command-line arguments (without the program name).
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<(NodeConfig, Command), ConfigError> {
    let mut cfg = NodeConfig {
        network: Network::Regtest,
        datadir: default_datadir(),
        dbcache_mib: 450,
        script_threads: 0,
        printtoconsole: true,
        debug: Vec::new(),
    };
    let mut networks: Vec<(String, Network)> = Vec::new();
    let mut positional: Vec<String> = Vec::new();
    let mut command = Command::Run;
    for arg in args {
        if !arg.starts_with('-') || arg == "-" {
            positional.push(arg);
            continue;
        }
        let body = arg.trim_start_matches('-');
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (body.to_string(), None),
        };
        if name == "h" || name == "?" {
            command = Command::Help;
            continue;
        }
        let (name, negated) = match OPTIONS.iter().find(|o| o.0 == name) {
            Some(_) => (name, false),
            None => match name.strip_prefix("no") {
                Some(n) if OPTIONS.iter().any(|o| o.0 == n && o.1 == OptKind::Bool) => (n.to_string(), true),
                _ => return Err(ConfigError::Unknown(name)),
            },
        };
        let kind = OPTIONS.iter().find(|o| o.0 == name).map(|o| o.1).unwrap_or(OptKind::Str);
        let v = value.unwrap_or_default();
        let flag = || -> Result<bool, ConfigError> { Ok(parse_bool(&name, &v)? != negated) };
        if kind != OptKind::Bool && v.is_empty() {
            return Err(ConfigError::BadValue { key: name, value: v, expected: "a value (-name=value)" });
        }
        match name.as_str() {
            "help" => {
                if flag()? {
                    command = Command::Help
                }
            }
            "version" => {
                if flag()? {
                    command = Command::Version
                }
            }
            "datadir" => cfg.datadir = PathBuf::from(&v),
            "chain" => {
                let n = ChainParams::network_from_chain_name(&v).ok_or_else(|| ConfigError::BadValue {
                    key: name.clone(),
                    value: v.clone(),
                    expected: "one of main, test, testnet4, signet, regtest",
                })?;
                networks.push((format!("-chain={v}"), n));
            }
            "regtest" | "testnet" | "testnet4" | "signet" | "mainnet" => {
                if flag()? {
                    let n = match name.as_str() {
                        "regtest" => Network::Regtest,
                        "testnet" => Network::Testnet,
                        "testnet4" => Network::Testnet4,
                        "signet" => Network::Signet,
                        _ => Network::Bitcoin,
                    };
                    networks.push((format!("-{name}"), n));
                }
            }
            "dbcache" => {
                cfg.dbcache_mib = v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (4..=1_048_576).contains(n))
                    .ok_or(ConfigError::BadValue { key: name.clone(), value: v.clone(), expected: "an integer MiB in 4..=1048576" })?
            }
            "par" => {
                cfg.script_threads = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n <= 256)
                    .ok_or(ConfigError::BadValue { key: name.clone(), value: v.clone(), expected: "an integer in 0..=256" })?
            }
            "printtoconsole" => cfg.printtoconsole = flag()?,
            "debug" => cfg.debug.push(v.clone()),
            _ => return Err(ConfigError::Unknown(name)),
        }
    }
    networks.dedup_by(|a, b| a.1 == b.1);
    if networks.len() > 1 {
        return Err(ConfigError::ConflictingNetworks(networks.iter().map(|n| n.0.clone()).collect::<Vec<_>>().join(", ")));
    }
    if let Some((_, n)) = networks.first() {
        cfg.network = *n;
    }
    if command == Command::Run {
        match positional.first().map(String::as_str) {
            None => {}
            Some("import") => {
                let file = positional.get(1).ok_or_else(|| ConfigError::BadCommand("import needs a FILE argument".into()))?;
                command = Command::Import(PathBuf::from(file));
            }
            Some(other) => return Err(ConfigError::BadCommand(format!("unknown command '{other}' (commands: import FILE)"))),
        }
    }
    Ok((cfg, command))
}

/// The `-help` text, generated from [`OPTIONS`] so it lists exactly what is accepted.
pub fn help_text() -> String {
    let mut s = String::from("Usage: blvm-node [options] [import FILE]\n\nCommands:\n  (none)        run the node until SIGINT/SIGTERM\n  import FILE   validate and connect blocks from FILE (hex lines or blk-framed), then exit\n\nOptions:\n");
    for (name, kind, default, help) in OPTIONS {
        let form = match kind {
            OptKind::Bool => format!("-{name}"),
            OptKind::Int => format!("-{name}=<n>"),
            OptKind::Str => format!("-{name}=<value>"),
        };
        let def = if default.is_empty() { String::new() } else { format!(" (default: {default})") };
        s.push_str(&format!("  {form:<24} {help}{def}\n"));
    }
    s.push_str("\nOptions may also be written with two dashes (--regtest).\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for (name, ..) in OPTIONS {
            assert!(h.contains(&format!("-{name}")), "help misses -{name}");
        }
    }
}

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
    ("server", OptKind::Bool, "1", "Accept JSON-RPC commands"),
    ("rpcport", OptKind::Int, "18443 on regtest", "JSON-RPC port (0 = any free port)"),
    ("rpcbind", OptKind::Str, "127.0.0.1", "Address to bind the JSON-RPC server to; repeatable"),
    ("rpcuser", OptKind::Str, "", "JSON-RPC user (with -rpcpassword; the cookie file is used otherwise)"),
    ("rpcpassword", OptKind::Str, "", "JSON-RPC password"),
    ("rpcauth", OptKind::Str, "", "JSON-RPC credentials user:salt$hmac-sha256 as produced by Core's rpcauth.py; repeatable"),
    ("rpccookiefile", OptKind::Str, "<datadir>/<network>/.cookie", "Location of the auth cookie"),
    ("rpcthreads", OptKind::Int, "4", "Threads serving RPC calls"),
    ("rpcworkqueue", OptKind::Int, "16", "Depth of the RPC work queue"),
    ("loadblock", OptKind::Str, "", "Import blocks from this file (hex lines or blk-framed) after startup; repeatable"),
    ("prune", OptKind::Int, "0", "Keep block files under this many MiB (0 = off, >= 550 as in Core)"),
    ("fastprune", OptKind::Bool, "0", "Use tiny (64 KiB) block files, for pruning tests"),
    ("shutdowntimeout", OptKind::Int, "30", "Seconds modules get to acknowledge NodeShutdown"),
    ("acktimeout", OptKind::Int, "10", "Seconds modules get to acknowledge StorageFlush, MaintenanceStarted, DataCleanup, DiskSpaceLow"),
    ("moduletimeout", OptKind::Int, "10", "Seconds autoloaded modules get to connect and subscribe at startup"),
    ("allowunauthmodules", OptKind::Bool, "0", "Accept module connections that present no token (read_chain only)"),
    ("modulemaxframe", OptKind::Int, "16777216", "Largest module protocol frame in bytes"),
    ("modulemaxrestarts", OptKind::Int, "5", "Restarts a crashing module gets before it is marked failed"),
    ("modulebackoffms", OptKind::Int, "500", "First module restart delay in ms (doubles per consecutive crash, max 30 s)"),
    ("flushinterval", OptKind::Int, "3600", "Seconds between periodic chainstate flushes"),
    ("healthinterval", OptKind::Int, "300", "Seconds between periodic health checks"),
    ("cleanupinterval", OptKind::Int, "86400", "Seconds between periodic DataCleanup events"),
    ("cleanupagedays", OptKind::Int, "30", "target_age_days sent with DataCleanup"),
    ("diskcheckinterval", OptKind::Int, "30", "Seconds between free-space checks of the datadir"),
    ("disklowpercent", OptKind::Int, "5", "DiskSpaceLow below this percentage of free space"),
    ("disklowmb", OptKind::Int, "1024", "DiskSpaceLow below this many MiB free"),
    ("diskcriticalmb", OptKind::Int, "100", "Flush and stop (reason error) below this many MiB free"),
    ("resourceinterval", OptKind::Int, "30", "Seconds between resource (memory, cpu, disk) checks"),
    ("maxmemorymb", OptKind::Int, "0", "Memory limit for ResourceLimitWarning in MiB (0 = physical memory)"),
    ("resourcewarnpercent", OptKind::Int, "90", "ResourceLimitWarning above this percentage of a limit"),
    ("maxdatadirmb", OptKind::Int, "0", "Datadir size limit for the disk ResourceLimitWarning in MiB (0 = none)"),
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
    /// Files to import after startup.
    pub loadblock: Vec<PathBuf>,
    /// Prune target in MiB (0 = off).
    pub prune_mib: u64,
    /// Tiny block files (tests).
    pub fastprune: bool,
    /// Accept token-less module connections.
    pub allow_unauth_modules: bool,
    /// Serve JSON-RPC.
    pub server: bool,
    /// RPC port (None: the network default).
    pub rpc_port: Option<u16>,
    /// RPC bind addresses.
    pub rpc_bind: Vec<String>,
    /// -rpcuser / -rpcpassword.
    pub rpc_user: Option<String>,
    /// -rpcpassword.
    pub rpc_password: Option<String>,
    /// -rpcauth entries.
    pub rpc_auth: Vec<String>,
    /// -rpccookiefile.
    pub rpc_cookie_file: Option<PathBuf>,
    /// Numeric lifecycle options by name (seconds, MiB, percent), validated.
    pub numbers: std::collections::HashMap<String, u64>,
}

impl NodeConfig {
    /// A numeric option's value, or its documented default.
    pub fn number(&self, name: &str) -> u64 {
        if let Some(v) = self.numbers.get(name) {
            return *v;
        }
        OPTIONS.iter().find(|o| o.0 == name).and_then(|o| o.2.parse().ok()).unwrap_or(0)
    }
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
        loadblock: Vec::new(),
        prune_mib: 0,
        fastprune: false,
        allow_unauth_modules: false,
        server: true,
        rpc_port: None,
        rpc_bind: Vec::new(),
        rpc_user: None,
        rpc_password: None,
        rpc_auth: Vec::new(),
        rpc_cookie_file: None,
        numbers: std::collections::HashMap::new(),
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
            "loadblock" => cfg.loadblock.push(PathBuf::from(&v)),
            "server" => cfg.server = flag()?,
            "rpcport" => {
                cfg.rpc_port = Some(v.parse::<u16>().map_err(|_| ConfigError::BadValue { key: name.clone(), value: v.clone(), expected: "a port number 0..=65535" })?)
            }
            "rpcbind" => {
                let ok = v.parse::<std::net::IpAddr>().is_ok() || v.parse::<std::net::SocketAddr>().is_ok() || v == "localhost";
                if !ok {
                    return Err(ConfigError::BadValue { key: name, value: v, expected: "an IP address or IP:port" });
                }
                cfg.rpc_bind.push(v.clone());
            }
            "rpcuser" => cfg.rpc_user = Some(v.clone()),
            "rpcpassword" => cfg.rpc_password = Some(v.clone()),
            "rpcauth" => {
                if !v.contains(':') || !v.contains('$') {
                    return Err(ConfigError::BadValue { key: name, value: v, expected: "user:salt$hash" });
                }
                cfg.rpc_auth.push(v.clone());
            }
            "rpccookiefile" => cfg.rpc_cookie_file = Some(PathBuf::from(&v)),
            "rpcthreads" | "rpcworkqueue" => {
                let n = v.parse::<u64>().ok().filter(|n| (1..=1024).contains(n)).ok_or(ConfigError::BadValue { key: name.clone(), value: v.clone(), expected: "an integer in 1..=1024" })?;
                cfg.numbers.insert(name.clone(), n);
            }
            "fastprune" => cfg.fastprune = flag()?,
            "allowunauthmodules" => cfg.allow_unauth_modules = flag()?,
            "prune" => {
                let n = v.parse::<u64>().ok().filter(|n| *n == 0 || *n == 1 || *n >= 550).ok_or(ConfigError::BadValue {
                    key: name.clone(),
                    value: v.clone(),
                    expected: "0 (off), 1 (manual pruneblockchain only) or a target >= 550 MiB",
                })?;
                cfg.prune_mib = n;
            }
            "disklowpercent" | "resourcewarnpercent" => {
                let n = v.parse::<u64>().ok().filter(|n| *n <= 100).ok_or(ConfigError::BadValue { key: name.clone(), value: v.clone(), expected: "a percentage 0..=100" })?;
                cfg.numbers.insert(name.clone(), n);
            }
            "shutdowntimeout" | "acktimeout" | "moduletimeout" | "modulemaxframe" | "modulemaxrestarts" | "modulebackoffms" | "flushinterval" | "healthinterval" | "cleanupinterval" | "cleanupagedays"
            | "diskcheckinterval" | "disklowmb" | "diskcriticalmb" | "resourceinterval" | "maxmemorymb" | "maxdatadirmb" => {
                let n = v.parse::<u64>().ok().filter(|n| *n <= 1 << 40).ok_or(ConfigError::BadValue { key: name.clone(), value: v.clone(), expected: "a non-negative integer" })?;
                let min = match name.as_str() {
                    "flushinterval" | "healthinterval" | "cleanupinterval" | "diskcheckinterval" | "resourceinterval" => 1,
                    "modulemaxframe" => 1024,
                    _ => 0,
                };
                if n < min {
                    return Err(ConfigError::BadValue { key: name.clone(), value: v.clone(), expected: "a larger value (intervals >= 1 s, frames >= 1024 bytes)" });
                }
                cfg.numbers.insert(name.clone(), n);
            }
            _ => return Err(ConfigError::Unknown(name)),
        }
    }
    if cfg.rpc_user.is_some() != cfg.rpc_password.is_some() {
        return Err(ConfigError::BadValue { key: "rpcpassword".into(), value: String::new(), expected: "-rpcuser and -rpcpassword to be given together" });
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

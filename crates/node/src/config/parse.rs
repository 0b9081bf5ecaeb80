//! `parse_args`: one pass over Core-style arguments, each stored in its typed field of
//! [`NodeConfig`] (generically for the options [`OPTIONS`] binds to a field, by a handler below
//! for the others), then the checks that need every option (Core's order and wording).

use super::load::split_arg;
use super::{core_args, logopts, parse_bool, valid_host_port, Command, ConfigError, NodeConfig, OptKind, OPTIONS};
use crate::params::ChainParams;
use bitcoin::Network;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Core's `-test=<option>` values (TEST_OPTIONS_DOC).
const TEST_OPTIONS: &[&str] = &["addrman", "reindex_after_failure_noninteractive_yes", "bip94"];

/// Blocks-file space Core keeps at least when pruning automatically (its
/// MIN_DISK_SPACE_FOR_BLOCK_FILES, 550 MiB): the floor of `-prune`.
pub const MIN_PRUNE_TARGET_MIB: u64 = 550;

/// One `-rpcbind` value as Core's SplitHostPort reads it: `host`, `host:port`, `[v6]`,
/// `[v6]:port` or a bare IPv6 address; `localhost` is 127.0.0.1.
pub fn parse_rpc_bind(b: &str, default_port: u16) -> Result<SocketAddr, String> {
    let bad_port = || format!("Invalid port specified in -rpcbind: '{b}'");
    let (host, port) = match b.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((h, "")) => (h, None),
        Some((h, rest)) => (h, Some(rest.strip_prefix(':').ok_or_else(bad_port)?)),
        None => match b.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (b, None),
        },
    };
    let port = match port {
        None => default_port,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad_port)?,
    };
    let ip = if host == "localhost" {
        IpAddr::from([127, 0, 0, 1])
    } else {
        host.parse().map_err(|_| format!("invalid -rpcbind address '{b}'"))?
    };
    Ok(SocketAddr::new(ip, port))
}

/// A `BadValue` error for option `key`.
fn bad(key: &str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::BadValue {
        key: key.to_string(),
        value: value.to_string(),
        expected,
    }
}

/// What is known while the arguments are read, besides the configuration itself.
struct Pass {
    cfg: NodeConfig,
    /// Each network chosen, as written (`-chain=main`, `-regtest`).
    networks: Vec<(String, Network)>,
    positional: Vec<String>,
    command: Command,
}

/// Parses command-line arguments (without the program name).
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<(NodeConfig, Command), ConfigError> {
    let mut p = Pass {
        cfg: NodeConfig::default(),
        networks: Vec::new(),
        positional: Vec::new(),
        command: Command::Run,
    };
    for arg in args {
        if !arg.starts_with('-') || arg == "-" {
            p.positional.push(arg);
            continue;
        }
        let (name, value) = split_arg(&arg);
        if name == "h" || name == "?" {
            p.command = Command::Help;
            continue;
        }
        read_option(&mut p, name, value)?;
    }
    check_combinations(&mut p.cfg, p.networks)?;
    let command = subcommand(p.command, &p.positional)?;
    Ok((p.cfg, command))
}

/// The option a written name means and whether it was negated (`-nolisten`), or `Unknown`.
fn resolve(name: String) -> Result<(String, bool), ConfigError> {
    let known = |n: &str| OPTIONS.iter().any(|o| o.name == n) || core_args::policy(n).is_some();
    if known(&name) {
        return Ok((name, false));
    }
    match name.strip_prefix("no") {
        Some(n) if known(n) => Ok((n.to_string(), true)),
        _ => Err(ConfigError::Unknown(name)),
    }
}

/// Records a Core option blvm accepts without implementing it, refusing it when ignoring it
/// would change what was asked for.
fn read_core_only(cfg: &mut NodeConfig, policy: core_args::Policy, name: String, v: String, negated: bool) -> Result<(), ConfigError> {
    if let core_args::Policy::RefuseWhenOn(reason) = policy {
        if !core_args::is_off(&name, &v, negated) {
            return Err(ConfigError::Unsupported {
                key: name,
                value: if v.is_empty() { "1".into() } else { v },
                reason,
            });
        }
    }
    cfg.ignored.push(if negated {
        format!("-no{name}")
    } else if v.is_empty() {
        format!("-{name}")
    } else {
        format!("-{name}={v}")
    });
    Ok(())
}

/// Reads one option into `p`.
fn read_option(p: &mut Pass, name: String, value: Option<String>) -> Result<(), ConfigError> {
    let (name, negated) = resolve(name)?;
    if let Some(policy) = core_args::policy(&name) {
        return read_core_only(&mut p.cfg, policy, name, value.unwrap_or_default(), negated);
    }
    let kind = OPTIONS.iter().find(|o| o.name == name).map(|o| o.kind).unwrap_or(OptKind::Str);
    let mut v = value.unwrap_or_default();
    if negated && kind != OptKind::Bool {
        // Core's -noX for a valued option: off (-nodebug, -noconnect, -nodebuglogfile, -nopid).
        if !matches!(v.as_str(), "" | "1") {
            return Err(bad(&format!("no{name}"), &v, "no value or 1"));
        }
        v = "0".into();
    }
    if name == "debug" && v.is_empty() {
        // Core: -debug without a category means every category.
        v = "1".into();
    }
    if name == "checkblocks" && v.strip_prefix('-').is_some_and(|n| n.parse::<u64>().is_ok()) {
        // Core's VerifyDB checks every block for a depth of 0 or below.
        v = "0".into();
    }
    let flag = || -> Result<bool, ConfigError> { Ok(parse_bool(&name, &v)? != negated) };
    // The test-chain options' own parsers answer an empty value in Core's words.
    let own_empty_error = matches!(name.as_str(), "testactivationheight" | "testassumeutxo");
    if kind != OptKind::Bool && v.is_empty() && !own_empty_error {
        return Err(bad(&name, &v, "a value (-name=value)"));
    }
    let cfg = &mut p.cfg;
    if cfg.policy.set(&name, &v, flag)? || cfg.notify.set(&name, &v) {
        return Ok(());
    }
    match name.as_str() {
        "peertimeout" if v.parse::<i64>().is_ok_and(|n| n <= 0) => return Err(ConfigError::PeerTimeout),
        // Core's floor: 40 x the 101 kvB descendant size limit, rounded up to whole MB.
        "maxmempool" if v.parse::<u64>().is_ok_and(|n| n < 5) => return Err(ConfigError::MaxMempoolTooSmall(5)),
        _ => {}
    }
    if cfg.set_bound(&name, &v, &flag)? {
        return Ok(());
    }
    match name.as_str() {
        "help" if flag()? => p.command = Command::Help,
        "version" if flag()? => p.command = Command::Version,
        "help" | "version" => {}
        "chain" => {
            let n =
                ChainParams::network_from_chain_name(&v).ok_or_else(|| bad(&name, &v, "one of main, test, testnet4, signet, regtest"))?;
            p.networks.push((format!("-chain={v}"), n));
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
                p.networks.push((format!("-{name}"), n));
            }
        }
        _ => {
            let handled = read_logging(cfg, &name, &v, &flag)?
                || read_network(cfg, &name, &v, negated)?
                || read_rpc(cfg, &name, &v)?
                || read_chain(cfg, &name, &v, negated, &flag)?;
            if !handled {
                return Err(ConfigError::Unknown(name));
            }
        }
    }
    Ok(())
}

/// The logging options and the other process-level ones (`-pid`, `-uacomment`).
fn read_logging(cfg: &mut NodeConfig, name: &str, v: &str, flag: &dyn Fn() -> Result<bool, ConfigError>) -> Result<bool, ConfigError> {
    match name {
        // -debug values are checked after parsing: Core disregards those before the last
        // 0/none/-nodebug, even unknown ones.
        "debug" => cfg.debug.push(v.to_string()),
        "debugexclude" => {
            if logopts::targets_of(v).is_none() {
                return Err(ConfigError::Core(format!("Unsupported logging category -{name}={v}.")));
            }
            cfg.debug_exclude.push(v.to_string())
        }
        "loglevel" => {
            logopts::check_level(v)?;
            cfg.log_level.push(v.to_string());
        }
        "logtimestamps" => cfg.log_format.timestamps = flag()?,
        "logtimemicros" => cfg.log_format.micros = flag()?,
        "logthreadnames" => cfg.log_format.thread_names = flag()?,
        "logsourcelocations" => cfg.log_format.source_locations = flag()?,
        "debuglogfile" => cfg.debug_log_file = (v != "0").then(|| PathBuf::from(v)),
        "pid" => cfg.pid_file = (v != "0").then(|| PathBuf::from(v)),
        "uacomment" => {
            if !v.chars().all(|c| c.is_ascii_alphanumeric() || " .,;-_?@".contains(c)) {
                return Err(ConfigError::Core(format!("User Agent comment ({v}) contains unsafe characters.")));
            }
            cfg.ua_comments.push(v.to_string());
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The P2P options that are not plain numbers or switches.
fn read_network(cfg: &mut NodeConfig, name: &str, v: &str, negated: bool) -> Result<bool, ConfigError> {
    match name {
        "maxuploadtarget" => {
            cfg.max_upload_target = if negated {
                0
            } else {
                super::byte_units::parse_target(v).map_err(|e| ConfigError::Core(e.to_string()))?
            };
        }
        // Checked against P2P's address rules by `launch::settings::check`.
        "externalip" => cfg.externalip.push(v.to_string()),
        "onlynet" => {
            let net = v.to_ascii_lowercase();
            if !matches!(net.as_str(), "ipv4" | "ipv6") {
                return Err(bad(name, v, "ipv4 or ipv6 (blvm-node has no Tor, I2P or CJDNS support)"));
            }
            cfg.onlynet.push(net);
        }
        // Checked once all options are read (Core checks -listen=0 against them first), and by
        // `launch::settings::check`.
        "whitelist" => cfg.whitelist.push(v.to_string()),
        "whitebind" => cfg.whitebind.push(v.to_string()),
        "connect" | "addnode" | "seednode" => {
            let disable_outbound = v == "0" && name == "connect";
            if !disable_outbound && !valid_host_port(v) {
                return Err(bad(name, v, "host:port, IP, or [IPv6]:port"));
            }
            match name {
                "connect" => cfg.connect.push(v.to_string()),
                "addnode" => cfg.addnode.push(v.to_string()),
                _ => cfg.seednode.push(v.to_string()),
            }
        }
        "bind" => {
            // Core's "=onion" tag marks the address for incoming Tor connections; blvm has no
            // Tor support and listens there as on any other address.
            let v = v.strip_suffix("=onion").unwrap_or(v);
            if v.parse::<IpAddr>().is_err() && v.parse::<SocketAddr>().is_err() {
                return Err(bad(name, v, "an IP address or IP:port"));
            }
            cfg.bind.push(v.to_string());
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The RPC options that are not plain numbers or switches.
fn read_rpc(cfg: &mut NodeConfig, name: &str, v: &str) -> Result<bool, ConfigError> {
    match name {
        "rpcbind" => {
            // Core checks every -rpcbind at startup, used or not (port 1 stands in for the
            // default port, which depends on options not read yet).
            parse_rpc_bind(v, 1).map_err(ConfigError::Core)?;
            cfg.rpc_bind.push(v.to_string());
        }
        "rpcuser" => cfg.rpc_user = Some(v.to_string()),
        "rpcpassword" => cfg.rpc_password = Some(v.to_string()),
        "rpcauth" => {
            if !v.contains(':') || !v.contains('$') {
                return Err(bad(name, v, "user:salt$hash"));
            }
            cfg.rpc_auth.push(v.to_string());
        }
        "rpcwhitelist" => cfg.rpc_whitelist.push(v.to_string()),
        "rpccookiefile" => cfg.rpc_cookie_file = Some(PathBuf::from(v)),
        "rpcallowip" => {
            let subnet = super::Subnet::parse(v).ok_or_else(|| {
                bad(
                    name,
                    v,
                    "a single IP (e.g. 1.2.3.4), a network/netmask (e.g. 1.2.3.4/255.255.255.0) or a network/CIDR (e.g. 1.2.3.4/24)",
                )
            })?;
            cfg.rpc_allow_ip.push(subnet);
        }
        "metricsbind" => {
            let addr = v
                .parse::<SocketAddr>()
                .ok()
                .or_else(|| {
                    v.strip_prefix("localhost:")
                        .and_then(|p| p.parse::<u16>().ok())
                        .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
                })
                .ok_or_else(|| bad(name, v, "IP:port (e.g. 127.0.0.1:9332)"))?;
            cfg.metrics_bind = Some(addr);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The chain, storage, module and test options that are not plain numbers or switches.
fn read_chain(
    cfg: &mut NodeConfig,
    name: &str,
    v: &str,
    negated: bool,
    flag: &dyn Fn() -> Result<bool, ConfigError>,
) -> Result<bool, ConfigError> {
    match name {
        "datadir" => cfg.datadir = PathBuf::from(v),
        "conf" => cfg.config_files = vec![PathBuf::from(v)],
        "loadblock" => cfg.loadblock.push(PathBuf::from(v)),
        "test" => {
            if !TEST_OPTIONS.contains(&v) {
                return Err(ConfigError::Core(format!("Unrecognized test option: {v}")));
            }
            cfg.test_options.push(v.to_string());
        }
        "testactivationheight" => {
            ChainParams::for_network(Network::Regtest)
                .set_test_activation_height(v)
                .map_err(ConfigError::Core)?;
            cfg.test_activation_heights.push(v.to_string());
        }
        "testassumeutxo" => {
            ChainParams::for_network(Network::Regtest)
                .add_test_assumeutxo(v)
                .map_err(ConfigError::Core)?;
            cfg.test_assumeutxo.push(v.to_string());
        }
        "modulehooktimeout" => cfg.module_hook_timeout.push(v.to_string()),
        "modulehookpolicy" => cfg.module_hook_policy.push(v.to_string()),
        "daemon" => {
            if flag()? {
                return Err(ConfigError::Unsupported {
                    key: name.to_string(),
                    value: if v.is_empty() { "1".into() } else { v.to_string() },
                    reason: "blvm-node does not fork; run it under a service manager (systemd, runit) or with nohup ... &",
                });
            }
        }
        "blockfilterindex" => {
            // Core's values: 0, 1 (every filter type) or a type name; "basic" is the only type.
            let on = v == "basic" || parse_bool(name, v).map_err(|_| bad(name, v, "0, 1 or basic"))?;
            cfg.blockfilterindex = on != negated;
        }
        "assumevalid" => {
            // Core's uint256::FromUserHex: up to 64 hex digits, optional 0x, zero-padded.
            let be = crate::params::parse_work(v).ok_or_else(|| {
                ConfigError::Core(format!(
                    "Invalid assumevalid block hash specified ({v}), must be up to 64 hex digits (or 0 to disable)"
                ))
            })?;
            let mut bytes = be.to_be_bytes();
            bytes.reverse();
            cfg.assume_valid = Some(<bitcoin::BlockHash as bitcoin::hashes::Hash>::from_byte_array(bytes));
        }
        "minimumchainwork" => {
            cfg.minimum_chain_work = Some(crate::params::parse_work(v).ok_or_else(|| ConfigError::InvalidMinimumWork(v.to_string()))?)
        }
        "blocksdir" if negated => cfg.blocksdir = None,
        "blocksdir" => {
            // As Core: relative to the working directory, and it must already exist.
            let dir = std::path::absolute(v).ok().filter(|d| d.is_dir());
            cfg.blocksdir = Some(dir.ok_or_else(|| ConfigError::Core(format!("Specified blocks directory \"{v}\" does not exist.")))?);
        }
        "prune" => {
            let n = v
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= 1 || *n >= MIN_PRUNE_TARGET_MIB)
                .ok_or_else(|| bad(name, v, "0 (off), 1 (manual pruneblockchain only) or a target >= 550 MiB"))?;
            cfg.prune_mib = n;
        }
        "backupdir" if negated => cfg.backup_dir = None,
        "backupdir" => cfg.backup_dir = Some(std::path::absolute(v).unwrap_or_else(|_| PathBuf::from(v))),
        "zmqpubhashblock" | "zmqpubhashtx" | "zmqpubrawblock" | "zmqpubrawtx" | "zmqpubsequence" => {
            cfg.zmq_pub.push((name.to_string(), v.to_string()));
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The checks that need every option, in Core's order and wording; sets the network.
fn check_combinations(cfg: &mut NodeConfig, mut networks: Vec<(String, Network)>) -> Result<(), ConfigError> {
    if let Some(bad) = logopts::active_debug(&cfg.debug)
        .iter()
        .find(|d| !["1", "all"].contains(&d.as_str()) && logopts::targets_of(d).is_none())
    {
        return Err(ConfigError::Core(format!("Unsupported logging category -debug={bad}.")));
    }
    if cfg.rpc_user.is_some() != cfg.rpc_password.is_some() {
        return Err(bad("rpcpassword", "", "-rpcuser and -rpcpassword to be given together"));
    }
    if cfg.txindex && (cfg.prune_mib > 0 || cfg.prunetargetkib > 0) {
        return Err(bad(
            "prune",
            &cfg.prune_mib.to_string(),
            "0 with -txindex: pruning is incompatible with the transaction index",
        ));
    }
    if (cfg.reindex || cfg.reindex_chainstate) && (cfg.prune_mib > 0 || cfg.prunetargetkib > 0) {
        let which = if cfg.reindex { "-reindex" } else { "-reindex-chainstate" };
        return Err(ConfigError::Core(format!(
            "blvm-node cannot {which} in prune mode: the pruned blocks are not in the block files to rebuild from"
        )));
    }
    // The network first: the checks below depend on it.
    networks.dedup_by(|a, b| a.1 == b.1);
    if networks.len() > 1 {
        return Err(ConfigError::ConflictingNetworks(
            networks.iter().map(|n| n.0.clone()).collect::<Vec<_>>().join(", "),
        ));
    }
    if let Some((_, n)) = networks.first() {
        cfg.network = *n;
    }
    if cfg.prunetargetkib > 0 && cfg.network != Network::Regtest {
        return Err(ConfigError::Core(
            "-prunetargetkib is only for regression testing (-regtest)".into(),
        ));
    }
    if cfg.listen == Some(false) && (!cfg.bind.is_empty() || !cfg.whitebind.is_empty()) {
        return Err(ConfigError::Core("Cannot set -bind or -whitebind together with -listen=0".into()));
    }
    // -externalip, -whitebind and -whitelist are checked against P2P's rules by
    // `launch::settings::check`, right after loading.
    if cfg.peer_block_filters && !cfg.blockfilterindex {
        return Err(ConfigError::Core("Cannot set -peerblockfilters without -blockfilterindex.".into()));
    }
    if !cfg.test_options.is_empty() && cfg.network != Network::Regtest {
        return Err(ConfigError::Core("-test=<option> can only be used with regtest".into()));
    }
    if !cfg.test_activation_heights.is_empty() && cfg.network != Network::Regtest {
        return Err(ConfigError::Core(
            "-testactivationheight is only for regression testing (-regtest)".into(),
        ));
    }
    if !cfg.test_assumeutxo.is_empty() && cfg.network != Network::Regtest {
        return Err(ConfigError::Core(
            "-testassumeutxo is only for regression testing (-regtest)".into(),
        ));
    }
    // Core refuses some policy options per network (-acceptnonstdtxn on mainnet).
    cfg.policy.check(cfg.network)
}

/// The subcommand the positional arguments name (`import FILE`), unless `-help`/`-version`.
fn subcommand(command: Command, positional: &[String]) -> Result<Command, ConfigError> {
    if command != Command::Run {
        return Ok(command);
    }
    match positional.first().map(String::as_str) {
        None => Ok(Command::Run),
        Some("import") => {
            let file = positional
                .get(1)
                .ok_or_else(|| ConfigError::BadCommand("import needs a FILE argument".into()))?;
            Ok(Command::Import(PathBuf::from(file)))
        }
        Some(other) => Err(ConfigError::BadCommand(format!(
            "unknown command '{other}' (commands: import FILE)"
        ))),
    }
}

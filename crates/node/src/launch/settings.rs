//! Each component's settings, built in one place from the parsed configuration: the chain,
//! the node's lifecycle, the mempool and its policy, P2P, ZMQ, logging and (through the RPC
//! server's own builder) JSON-RPC. The components receive these structs and never read
//! [`NodeConfig`] themselves.

use crate::chain::manager::autoprune::{self, PruneMode};
use crate::chain::manager::Reindex;
use crate::chain::ChainSettings;
use crate::config::blockcreate::BlockCreateArgs;
use crate::config::policy::PolicyArgs;
use crate::config::{ConfigError, NodeConfig};
use crate::logging::LogSettings;
use crate::mempool::template::BlockOptions;
use crate::mempool::MempoolSettings;
use crate::node::{LifecycleSettings, NodeSettings};
use crate::p2p::{local_addr, whitelist, P2pSettings};
use crate::params::ChainParams;
use crate::validation::script_cache::ScriptCache;
use crate::zmq::settings::normalize_address;
use crate::zmq::{NotifierSpec, Topic, ZmqSettings};
use bitcoin::hashes::Hash;
use bitcoin::Network;
use std::net::SocketAddr;
use std::time::Duration;

/// `-maxmempool`'s default in MB (Core's DEFAULT_MAX_MEMPOOL_SIZE_MB).
pub const DEFAULT_MAX_MEMPOOL_MB: u64 = 300;

/// Core's DEFAULT_BLOCKSONLY_MAX_MEMPOOL_SIZE_MB: the default -maxmempool under -blocksonly.
pub const BLOCKSONLY_MAX_MEMPOOL_MB: u64 = 5;

/// `-progressinterval`'s default in milliseconds.
pub const DEFAULT_PROGRESS_INTERVAL_MS: u64 = 2000;

/// Checks the options whose values are P2P types (`-externalip`, `-whitebind`, `-whitelist`),
/// with Core's wording, before anything starts.
pub fn check(cfg: &NodeConfig) -> Result<(), ConfigError> {
    if let Some(bad) = cfg.externalip.iter().find(|v| local_addr::LocalAddr::parse(v, 0).is_none()) {
        return Err(ConfigError::BadValue {
            key: "externalip".into(),
            value: bad.clone(),
            expected: "an IP address, IP:port or a Tor v3 .onion address",
        });
    }
    for w in &cfg.whitebind {
        whitelist::parse_whitebind(w).map_err(ConfigError::Core)?;
    }
    for w in &cfg.whitelist {
        whitelist::parse_whitelist(w).map_err(ConfigError::Core)?;
    }
    Ok(())
}

/// The network's parameters with `-testactivationheight` applied.
pub fn chain_params(cfg: &NodeConfig) -> Result<ChainParams, ConfigError> {
    let mut params = ChainParams::for_network(cfg.network);
    for a in &cfg.test_activation_heights {
        params.set_test_activation_height(a).map_err(ConfigError::Core)?;
    }
    for a in &cfg.test_assumeutxo {
        params.add_test_assumeutxo(a).map_err(ConfigError::Core)?;
    }
    if cfg.test_options.iter().any(|o| o == "bip94") {
        params.enforce_bip94 = true;
    }
    Ok(params)
}

/// The chain's settings: caches, indexes, script checks, startup verification, pruning.
pub fn chain_settings(cfg: &NodeConfig) -> ChainSettings {
    let params = ChainParams::for_network(cfg.network);
    // Core: -assumevalid=0 (the null hash) checks every script; unset takes the network's.
    let assume_valid = match cfg.assume_valid {
        Some(h) if h == bitcoin::BlockHash::all_zeros() => None,
        Some(h) => Some(h),
        None => params.default_assume_valid(),
    };
    let mut s = ChainSettings {
        dbcache_bytes: (cfg.dbcache_mib as usize) << 20,
        txindex: cfg.txindex,
        blockfilterindex: cfg.blockfilterindex,
        coinstatsindex: cfg.coinstatsindex,
        reindex: match (cfg.reindex, cfg.reindex_chainstate) {
            (true, _) => Reindex::Full,
            (false, true) => Reindex::Chainstate,
            _ => Reindex::No,
        },
        script_cache_bytes: ScriptCache::bytes_for_max_sig_cache_mib(cfg.maxsigcachesize),
        assume_valid,
        minimum_chain_work: cfg.minimum_chain_work.unwrap_or_else(|| params.default_minimum_chain_work()),
        check_blocks: cfg.checkblocks,
        check_level: cfg.checklevel,
        blocksdir: cfg.blocksdir.clone(),
        blocks_xor: cfg.blocks_xor,
        ..Default::default()
    };
    s.prevout_fetch_threads = cfg.prevoutfetchthreads;
    if cfg.script_threads > 0 {
        s.script_threads = cfg.script_threads;
    }
    if cfg.fastprune {
        s.max_block_file_size = autoprune::FASTPRUNE_FILE_SIZE;
    }
    s.prune = match (cfg.prune_mib, cfg.prunetargetkib) {
        (_, kib) if kib > 0 => PruneMode::Automatic {
            target_bytes: kib << 10,
            below_floor: true,
        },
        (0, _) => PruneMode::Off,
        (1, _) => PruneMode::Manual,
        (mib, _) => PruneMode::Automatic {
            target_bytes: mib << 20,
            below_floor: false,
        },
    };
    s
}

/// The node's periodic work, module acknowledgements, disk and resource checks, backups.
pub fn lifecycle_settings(cfg: &NodeConfig) -> LifecycleSettings {
    let secs = Duration::from_secs;
    let mib = |n: u64| n << 20;
    LifecycleSettings {
        shutdown_timeout: secs(cfg.shutdowntimeout),
        ack_timeout: secs(cfg.acktimeout),
        module_connect_timeout: secs(cfg.moduletimeout),
        flush_interval: secs(cfg.flushinterval),
        health_interval: secs(cfg.healthinterval),
        cleanup_interval: secs(cfg.cleanupinterval),
        cleanup_target_age_days: cfg.cleanupagedays,
        disk_check_interval: secs(cfg.diskcheckinterval),
        disk_low_percent: cfg.disklowpercent as f64,
        disk_low_bytes: mib(cfg.disklowmb),
        disk_critical_bytes: mib(cfg.diskcriticalmb),
        resource_check_interval: secs(cfg.resourceinterval),
        memory_limit_bytes: Some(mib(cfg.maxmemorymb)).filter(|n| *n > 0),
        resource_warn_percent: cfg.resourcewarnpercent as f64,
        datadir_max_bytes: Some(mib(cfg.maxdatadirmb)).filter(|n| *n > 0),
        backup_interval: Some(secs(cfg.backupinterval)).filter(|d| !d.is_zero()),
        backup_dir: Some(cfg.backup_dir.clone().unwrap_or_else(|| cfg.datadir.join("backups"))),
        backup_keep: cfg.backupkeep.max(1) as usize,
        compact_growth_percent: Some(cfg.compactgrowth).filter(|n| *n > 0),
        ..Default::default()
    }
}

/// Where and how the log is written.
pub fn log_settings(cfg: &NodeConfig) -> LogSettings {
    LogSettings {
        file: cfg.debug_log_file.as_ref().map(|f| cfg.net_dir().join(f)),
        max_bytes: cfg.logmaxsize << 20,
        keep: cfg.logmaxfiles,
        console: cfg.printtoconsole,
        debug: cfg.debug.clone(),
        exclude: cfg.debug_exclude.clone(),
        levels: cfg.log_level.clone(),
        format: cfg.log_format,
    }
}

/// How often import and `-loadblock` log their progress.
pub fn progress_interval(cfg: &NodeConfig) -> Duration {
    Duration::from_millis(cfg.progressinterval.unwrap_or(DEFAULT_PROGRESS_INTERVAL_MS))
}

/// Applies the block-creation options (checked as Core's init does) to the template options.
fn apply_block_args(a: &BlockCreateArgs, network: Network, o: &mut BlockOptions) -> Result<(), ConfigError> {
    let (max, reserved) = a.check()?;
    o.max_weight = max;
    o.reserved_weight = reserved;
    o.min_feerate = a.min_fee.unwrap_or(o.min_feerate);
    o.version = if network == Network::Regtest { a.version } else { None };
    Ok(())
}

/// Applies the relay-policy options to `s`, refusing what Core refuses on `network`.
pub fn apply_policy(p: &PolicyArgs, network: Network, s: &mut MempoolSettings) -> Result<(), ConfigError> {
    p.check(network)?;
    if let Some(accept) = p.accept_non_std {
        s.require_standard = !accept;
    }
    if let Some(b) = p.permit_bare_multisig {
        s.permit_bare_multisig = b;
    }
    if let Some(f) = p.min_relay_fee {
        s.min_relay_feerate = f;
    }
    if let Some(f) = p.incremental_relay_fee {
        s.incremental_relay_feerate = f;
    }
    // As Core: without -minrelaytxfee, a higher -incrementalrelayfee raises it too.
    if p.min_relay_fee.is_none() && s.incremental_relay_feerate > s.min_relay_feerate {
        s.min_relay_feerate = s.incremental_relay_feerate;
        tracing::info!(target: "blvm::config", sat_per_kvb = s.min_relay_feerate, "Increasing minrelaytxfee to match incrementalrelayfee");
    }
    if let Some(f) = p.dust_relay_fee {
        s.dust_relay_feerate = f;
    }
    if let Some(n) = p.datacarrier_size {
        s.max_datacarrier_bytes = Some(n);
    }
    if p.datacarrier == Some(false) {
        s.max_datacarrier_bytes = None;
    }
    apply_block_args(&p.block, network, &mut s.block)?;
    let l = &mut s.limits;
    l.cluster_count = p.cluster_count.unwrap_or(l.cluster_count);
    l.cluster_size_vbytes = p.cluster_size_kvb.map_or(l.cluster_size_vbytes, |k| k * 1000);
    Ok(())
}

/// The mempool's size, persistence, expiry and policy.
pub fn mempool_settings(cfg: &NodeConfig, s: &mut MempoolSettings) -> Result<(), ConfigError> {
    s.max_size_bytes = cfg.maxmempool.unwrap_or(DEFAULT_MAX_MEMPOOL_MB) * 1_000_000;
    if cfg.blocks_only && cfg.maxmempool.is_none() {
        // As Core: a blocks-only node's pool holds only its own transactions.
        s.max_size_bytes = BLOCKSONLY_MAX_MEMPOOL_MB * 1_000_000;
        tracing::info!("parameter interaction: -blocksonly=1 -> setting -maxmempool={BLOCKSONLY_MAX_MEMPOOL_MB}");
    }
    s.persist = cfg.persist_mempool;
    s.expiry = Duration::from_secs(cfg.mempoolexpiry * 3600);
    apply_policy(&cfg.policy, cfg.network, s)
}

/// P2P settings from the configuration (None when `-maxconnections=0`: no networking at all).
pub fn p2p_settings(cfg: &NodeConfig) -> Option<P2pSettings> {
    if cfg.maxconnections == 0 {
        return None;
    }
    let params = ChainParams::for_network(cfg.network);
    let regtest = cfg.network == bitcoin::Network::Regtest;
    let port = cfg.port.unwrap_or(params.default_port);
    let mut s = P2pSettings::new(regtest, port);
    let no_outbound = cfg.connect.iter().any(|c| c == "0");
    s.connect = cfg.connect.iter().filter(|c| *c != "0").cloned().collect();
    let connect_given = !cfg.connect.is_empty();
    // As Core: an explicit -bind or -whitebind means listening, even with -connect.
    let binds_given = !cfg.bind.is_empty() || !cfg.whitebind.is_empty();
    s.listen = cfg.listen.unwrap_or(!connect_given || binds_given);
    s.dnsseed = cfg.dnsseed.unwrap_or(!regtest && !connect_given);
    if no_outbound {
        s.max_outbound_full_relay = 0;
        s.max_outbound_block_relay = 0;
        s.dnsseed = false;
    }
    s.bind_explicit = binds_given || cfg.port.is_some();
    s.whitebind = cfg.whitebind.iter().filter_map(|w| whitelist::parse_whitebind(w).ok()).collect();
    // As Core: with -bind or -whitebind, exactly those addresses are listened on.
    if binds_given {
        s.bind = cfg
            .bind
            .iter()
            .filter_map(|b| {
                b.parse::<SocketAddr>()
                    .ok()
                    .or_else(|| b.parse::<std::net::IpAddr>().ok().map(|ip| SocketAddr::new(ip, port)))
            })
            .chain(s.whitebind.iter().map(|w| w.addr))
            .collect();
    }
    // Core's GetListenPort: the first -bind with a port, else -port, else the default.
    let listen_port = cfg
        .bind
        .iter()
        .filter_map(|b| b.parse::<SocketAddr>().ok())
        .map(|a| a.port())
        .find(|p| *p != 0)
        .unwrap_or(port);
    s.external = cfg
        .externalip
        .iter()
        .filter_map(|e| local_addr::LocalAddr::parse(e, listen_port))
        .collect();
    s.onlynet = cfg.onlynet.clone();
    s.addnode = cfg.addnode.clone();
    s.seednode = cfg.seednode.clone();
    s.max_connections = cfg.maxconnections;
    s.minimum_chain_work = cfg.minimum_chain_work.unwrap_or_else(|| params.default_minimum_chain_work());
    s.ban_time = Duration::from_secs(cfg.bantime);
    s.log_ips = cfg.log_ips;
    s.peer_timeout = Duration::from_secs(cfg.peertimeout);
    s.max_tip_age = Duration::from_secs(cfg.maxtipage);
    s.inbound_relay_percent = cfg.inboundrelaypercent;
    s.blocks_only = cfg.blocks_only;
    s.peer_bloom_filters = cfg.peer_bloom_filters;
    s.peer_block_filters = cfg.peer_block_filters;
    s.max_upload_target = cfg.max_upload_target;
    s.prune_mode = cfg.prune_mib > 0 || cfg.prunetargetkib > 0;
    s.v2transport = cfg.v2transport;
    // As Core: -blocksonly turns the implicit relay permission (-whitelistrelay) off.
    s.implicit_relay = whitelist::ImplicitRelay {
        relay: cfg.whitelist_relay.unwrap_or(!cfg.blocks_only),
        forcerelay: cfg.whitelist_forcerelay,
    };
    s.whitelist = cfg.whitelist.iter().filter_map(|w| whitelist::parse_whitelist(w).ok()).collect();
    Some(s)
}

/// The ZMQ notifiers, in Core's order: by topic, then as given.
pub fn zmq_settings(cfg: &NodeConfig) -> ZmqSettings {
    let mut notifiers = Vec::new();
    for topic in Topic::ALL {
        let option = topic.option();
        let hwm = match topic {
            Topic::HashBlock => cfg.zmqpubhashblockhwm,
            Topic::HashTx => cfg.zmqpubhashtxhwm,
            Topic::RawBlock => cfg.zmqpubrawblockhwm,
            Topic::RawTx => cfg.zmqpubrawtxhwm,
            Topic::Sequence => cfg.zmqpubsequencehwm,
        };
        for (name, address) in &cfg.zmq_pub {
            if *name == option {
                notifiers.push(NotifierSpec {
                    topic,
                    address: normalize_address(address),
                    hwm,
                });
            }
        }
    }
    ZmqSettings { notifiers }
}

/// Every component's settings for running the node (the process-wide side effects, the user
/// agent comments and the mock clock, stay with the caller).
pub fn node_settings(cfg: &NodeConfig) -> Result<NodeSettings, ConfigError> {
    let params = chain_params(cfg)?;
    let mut settings = NodeSettings::new(params, cfg.net_dir());
    settings.chain = chain_settings(cfg);
    settings.lifecycle = lifecycle_settings(cfg);
    mempool_settings(cfg, &mut settings.mempool)?;
    if cfg.mocktime != 0 && cfg.network != Network::Regtest {
        return Err(ConfigError::Core("-mocktime is for regression testing (-regtest mode) only".into()));
    }
    settings.allow_unauthenticated_modules = cfg.allow_unauth_modules;
    settings.module_max_frame = cfg.modulemaxframe.min(u64::from(u32::MAX)) as u32;
    settings.module_extensions.rpc_timeout = Duration::from_secs(cfg.modulerpctimeout.max(1));
    crate::modules::extensions::apply_hook_options(&mut settings.module_extensions, &cfg.module_hook_timeout, &cfg.module_hook_policy)
        .map_err(ConfigError::Core)?;
    settings.load_blocks = cfg.loadblock.clone();
    settings.module_max_restarts = cfg.modulemaxrestarts.min(1000) as u32;
    settings.module_backoff = Duration::from_millis(cfg.modulebackoffms);
    settings.metrics_bind = cfg.metrics_bind;
    settings.progress_interval = progress_interval(cfg);
    settings.p2p = p2p_settings(cfg);
    settings.zmq = zmq_settings(cfg);
    settings.notify = cfg.notify.clone();
    if let (Some(p2p), Some(ms)) = (settings.p2p.as_mut(), cfg.progressinterval) {
        p2p.progress_interval = Duration::from_millis(ms);
    }
    if cfg.server {
        // The RPC server's builder stays in rpc/server.rs, which the RPC work owns.
        settings.rpc = Some(crate::rpc::server::settings_from_config(cfg, settings.params.rpc_port).map_err(ConfigError::Core)?);
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_args, OPTIONS};

    fn cfg(args: &[&str]) -> NodeConfig {
        parse_args(args.iter().map(|s| s.to_string())).unwrap().0
    }

    fn table_default(name: &str) -> &'static str {
        OPTIONS.iter().find(|o| o.name == name).unwrap().default
    }

    #[test]
    fn constants_agree_with_the_table_and_the_components() {
        assert_eq!(DEFAULT_MAX_MEMPOOL_MB.to_string(), table_default("maxmempool"));
        assert_eq!(DEFAULT_PROGRESS_INTERVAL_MS.to_string(), table_default("progressinterval"));
        assert_eq!(
            crate::config::policy::MAX_CLUSTER_COUNT,
            crate::mempool::cluster_limits::MAX_CLUSTER_COUNT
        );
        assert_eq!(crate::config::MIN_PRUNE_TARGET_MIB, autoprune::MIN_DISK_SPACE_FOR_BLOCK_FILES >> 20);
        assert_eq!(BlockOptions::default().max_weight, bitcoin::Weight::MAX_BLOCK.to_wu());
    }

    #[test]
    fn policy_options_reach_the_mempool_settings() {
        let c = cfg(&[
            "-acceptnonstdtxn=1",
            "-permitbaremultisig=0",
            "-minrelaytxfee=0.00002",
            "-dustrelayfee=0",
            "-datacarriersize=42",
            "-limitancestorcount=3",
            "-limitclustercount=10",
            "-limitclustersize=50",
        ]);
        let mut s = MempoolSettings::default();
        apply_policy(&c.policy, Network::Regtest, &mut s).unwrap();
        assert!(!s.require_standard && !s.permit_bare_multisig);
        assert_eq!((s.min_relay_feerate, s.dust_relay_feerate), (2000, 0));
        assert_eq!(s.max_datacarrier_bytes, Some(42));
        assert_eq!((s.limits.cluster_count, s.limits.cluster_size_vbytes), (10, 50_000));
        // A higher incremental relay fee raises the minimum relay fee unless that was given.
        let mut t = MempoolSettings::default();
        apply_policy(&cfg(&["-incrementalrelayfee=0.00000234"]).policy, Network::Regtest, &mut t).unwrap();
        assert_eq!((t.incremental_relay_feerate, t.min_relay_feerate), (234, 234));
        let mut t = MempoolSettings::default();
        let both = cfg(&["-incrementalrelayfee=0.00000234", "-minrelaytxfee=0.000002"]);
        apply_policy(&both.policy, Network::Regtest, &mut t).unwrap();
        assert_eq!(t.min_relay_feerate, 200);
        apply_policy(&cfg(&["-datacarrier=0"]).policy, Network::Regtest, &mut s).unwrap();
        assert_eq!(s.max_datacarrier_bytes, None);
        let e = apply_policy(&c.policy, Network::Bitcoin, &mut MempoolSettings::default()).unwrap_err();
        assert_eq!(e.to_string(), "acceptnonstdtxn is not currently supported for main chain");
    }

    #[test]
    fn block_options_reach_the_template_options() {
        let args = [
            "-blockmaxweight=3996000",
            "-blockreservedweight=4000",
            "-blockmintxfee=0.00002",
            "-blockversion=1337",
        ];
        let mut s = MempoolSettings::default();
        apply_policy(&cfg(&args).policy, Network::Regtest, &mut s).unwrap();
        let want = BlockOptions {
            max_weight: 3_996_000,
            reserved_weight: 4_000,
            min_feerate: 2_000,
            version: Some(1337),
        };
        assert_eq!(s.block, want);
        // -blockversion only counts where blocks are mined on demand.
        let mut s = MempoolSettings::default();
        apply_policy(&cfg(&["-signet", "-blockversion=1337"]).policy, Network::Signet, &mut s).unwrap();
        assert_eq!(s.block.version, None);
    }

    #[test]
    fn mempool_size_follows_blocksonly_as_core() {
        let size = |args: &[&str]| {
            let mut s = MempoolSettings::default();
            mempool_settings(&cfg(args), &mut s).unwrap();
            s.max_size_bytes
        };
        assert_eq!(size(&[]), 300_000_000);
        assert_eq!(size(&["-blocksonly"]), 5_000_000);
        assert_eq!(size(&["-blocksonly", "-maxmempool=50"]), 50_000_000);
    }

    #[test]
    fn p2p_zmq_and_log_settings_come_from_the_typed_fields() {
        assert!(p2p_settings(&cfg(&["-maxconnections=0"])).is_none(), "no P2P at all");
        let p = p2p_settings(&cfg(&[
            "-port=0",
            "-maxconnections=9",
            "-bantime=60",
            "-peertimeout=3",
            "-prunetargetkib=1",
        ]))
        .unwrap();
        assert_eq!(
            (p.max_connections, p.ban_time, p.peer_timeout),
            (9, Duration::from_secs(60), Duration::from_secs(3))
        );
        assert!(p.bind_explicit && p.prune_mode);
        let z = zmq_settings(&cfg(&[
            "-zmqpubrawtx=unix:/tmp/z",
            "-zmqpubrawtxhwm=7",
            "-zmqpubhashblock=tcp://127.0.0.1:1",
        ]));
        let got: Vec<(Topic, &str, u32)> = z.notifiers.iter().map(|n| (n.topic, n.address.as_str(), n.hwm)).collect();
        assert_eq!(
            got,
            [(Topic::HashBlock, "tcp://127.0.0.1:1", 1000), (Topic::RawTx, "ipc:///tmp/z", 7)]
        );
        let l = log_settings(&cfg(&["-datadir=/d", "-logmaxsize=2", "-logmaxfiles=3", "-nodebuglogfile"]));
        assert_eq!((l.file, l.max_bytes, l.keep), (None, 2 << 20, 3));
        let l = log_settings(&cfg(&["-datadir=/d"]));
        assert_eq!(l.file, Some(std::path::PathBuf::from("/d/regtest/debug.log")));
    }

    #[test]
    fn p2p_typed_values_are_checked_with_cores_words() {
        assert!(check(&cfg(&[
            "-externalip=1.2.3.4",
            "-whitelist=noban@127.0.0.1",
            "-whitebind=127.0.0.1:1"
        ]))
        .is_ok());
        let e = check(&cfg(&["-externalip=nonsense"])).unwrap_err().to_string();
        assert!(e.contains("-externalip") && e.contains("nonsense"), "{e}");
        let e = check(&cfg(&["-whitelist=bogus@127.0.0.1"])).unwrap_err().to_string();
        assert!(e.contains("bogus"), "{e}");
        let e = check(&cfg(&["-whitelist=x"])).unwrap_err().to_string();
        assert_eq!(e, "Invalid netmask specified in -whitelist: 'x'");
    }

    #[test]
    fn network_restrictions_in_the_table_hold() {
        use crate::config::Networks;
        let value = |name: &str| {
            match name {
            "test" => "bip94",
            "testactivationheight" => "csv@1",
            "testassumeutxo" => "300:0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206:0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206:1395",
            _ => "1",
        }
        };
        let mut restricted = 0;
        for o in OPTIONS.iter().filter(|o| o.networks != Networks::All) {
            restricted += 1;
            let arg = format!("-{}={}", o.name, value(o.name));
            let mut refused_on = vec!["-chain=main"];
            if o.networks == Networks::Regtest {
                refused_on.push("-signet");
            }
            for net in refused_on {
                let refused = match parse_args([net.to_string(), arg.clone()]) {
                    Err(_) => true,
                    Ok((c, _)) => match node_settings(&c) {
                        Err(_) => true,
                        // -blockversion is accepted everywhere and used on regtest only.
                        Ok(s) => o.name == "blockversion" && s.mempool.block.version.is_none(),
                    },
                };
                assert!(refused, "{arg} {net}: the table says {:?}", o.networks);
            }
            let (c, _) = parse_args(["-regtest".to_string(), arg.clone()]).unwrap_or_else(|e| panic!("{arg} on regtest: {e}"));
            assert!(node_settings(&c).is_ok(), "{arg} on regtest");
        }
        assert_eq!(restricted, 7);
    }

    #[test]
    fn the_config_module_imports_no_component() {
        // config is a leaf: it may use the chain parameters, the clock and the datadir layout,
        // nothing that runs (p2p, mempool, chain, validation, notify, rpc, ...).
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![dir.join("config.rs")];
        files.extend(std::fs::read_dir(dir.join("config")).unwrap().map(|e| e.unwrap().path()));
        let allowed = ["crate::config", "crate::params", "crate::clock", "crate::datadir"];
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("//")) {
                for (at, _) in line.match_indices("crate::") {
                    if at > 0 && line[..at].ends_with('$') {
                        continue; // a macro's $crate path
                    }
                    let rest = &line[at..];
                    assert!(allowed.iter().any(|a| rest.starts_with(a)), "{}:{}: {line}", f.display(), i + 1);
                }
            }
        }
    }
}

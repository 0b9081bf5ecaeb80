//! The `blvm-node` binary: parses Core-style flags, sets up logging, and runs or imports.

use anyhow::Context;
use bitcoin::hashes::Hash;
use blvm_node::chain::manager::autoprune::{self, PruneMode};
use blvm_node::chain::{ChainManager, ChainSettings, FlushReason};
use blvm_node::config::{help_text, load_config, Command, NodeConfig};
use blvm_node::datadir::lock_directories;
use blvm_node::import::import_file;
use blvm_node::node::{LifecycleSettings, Node, NodeSettings, ShutdownReason};
use blvm_node::params::ChainParams;
use blvm_node::validation::script_cache::ScriptCache;
use std::time::Duration;

fn init_logging(cfg: &NodeConfig) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let net_dir = cfg.net_dir();
    std::fs::create_dir_all(&net_dir).with_context(|| format!("creating {}", net_dir.display()))?;
    let log_path = cfg.debug_log_file.as_ref().map(|f| net_dir.join(f));
    blvm_node::progress::enable_bar(cfg.printtoconsole && std::io::stderr().is_terminal());
    blvm_node::logging::init(&blvm_node::logging::LogSettings {
        file: log_path.clone(),
        max_bytes: cfg.logmaxsize << 20,
        keep: cfg.logmaxfiles,
        console: cfg.printtoconsole,
        debug: cfg.debug.clone(),
        exclude: cfg.debug_exclude.clone(),
        levels: cfg.log_level.clone(),
        format: cfg.log_format,
    })
    .map_err(|e| {
        // Core's wording, which scripts and Core's tests match.
        let shown = log_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        anyhow::anyhow!("Could not open debug log file {shown}: {e}")
    })?;
    for f in &cfg.config_files {
        tracing::info!("Config file: {}", f.display());
    }
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    if !cfg.ignored.is_empty() {
        tracing::info!(
            "Bitcoin Core options accepted but not implemented by blvm-node, ignored: {}",
            cfg.ignored.join(" ")
        );
    }
    Ok(())
}

fn chain_settings(cfg: &NodeConfig) -> ChainSettings {
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
        script_cache_bytes: ScriptCache::bytes_for_max_sig_cache_mib(cfg.maxsigcachesize),
        assume_valid,
        minimum_chain_work: cfg.minimum_chain_work.unwrap_or_else(|| params.default_minimum_chain_work()),
        check_blocks: cfg.checkblocks,
        check_level: cfg.checklevel,
        blocksdir: cfg.blocksdir.clone(),
        blocks_xor: cfg.blocks_xor,
        ..Default::default()
    };
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

fn lifecycle_settings(cfg: &NodeConfig) -> LifecycleSettings {
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

fn import(cfg: &NodeConfig, path: &std::path::Path) -> anyhow::Result<()> {
    let net_dir = cfg.net_dir();
    let params = chain_params(cfg)?;
    let settings = chain_settings(cfg);
    let _locks = lock_directories(&net_dir, &settings.blocks_dir(&net_dir, &params))?;
    let mut chain = ChainManager::open(params, &net_dir, settings).context("opening the chain")?;
    tracing::info!(height = chain.height(), tip = %chain.tip().hash, "chain loaded");
    let summary = import_file(
        &mut chain,
        path,
        Duration::from_millis(cfg.progressinterval.unwrap_or(DEFAULT_PROGRESS_INTERVAL_MS)),
    );
    let report = chain.flush(FlushReason::Shutdown).context("final flush")?;
    let summary = summary?;
    tracing::info!(
        accepted = summary.accepted,
        duplicates = summary.duplicates,
        height = chain.height(),
        tip = %chain.tip().hash,
        secs = summary.elapsed.as_secs_f64(),
        flush_ms = report.duration.as_millis() as u64,
        "import finished"
    );
    Ok(())
}

/// The network's parameters with `-testactivationheight` applied.
fn chain_params(cfg: &NodeConfig) -> anyhow::Result<ChainParams> {
    let mut params = ChainParams::for_network(cfg.network);
    for a in &cfg.test_activation_heights {
        params.set_test_activation_height(a).map_err(anyhow::Error::msg)?;
    }
    if cfg.test_options.iter().any(|o| o == "bip94") {
        params.enforce_bip94 = true;
    }
    Ok(params)
}

/// `-maxmempool`'s default in MB (Core's DEFAULT_MAX_MEMPOOL_SIZE_MB).
const DEFAULT_MAX_MEMPOOL_MB: u64 = 300;

/// `-progressinterval`'s default in milliseconds.
const DEFAULT_PROGRESS_INTERVAL_MS: u64 = 2000;

/// Core's DEFAULT_BLOCKSONLY_MAX_MEMPOOL_SIZE_MB: the default -maxmempool under -blocksonly.
const BLOCKSONLY_MAX_MEMPOOL_MB: u64 = 5;

async fn run(cfg: NodeConfig) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let params = chain_params(&cfg)?;
    let mut settings = NodeSettings::new(params, cfg.net_dir());
    settings.chain = chain_settings(&cfg);
    settings.lifecycle = lifecycle_settings(&cfg);
    settings.mempool.max_size_bytes = cfg.maxmempool.unwrap_or(DEFAULT_MAX_MEMPOOL_MB) * 1_000_000;
    if cfg.blocks_only && cfg.maxmempool.is_none() {
        // As Core: a blocks-only node's pool holds only its own transactions.
        settings.mempool.max_size_bytes = BLOCKSONLY_MAX_MEMPOOL_MB * 1_000_000;
        tracing::info!("parameter interaction: -blocksonly=1 -> setting -maxmempool={BLOCKSONLY_MAX_MEMPOOL_MB}");
    }
    settings.mempool.persist = cfg.persist_mempool;
    settings.mempool.expiry = Duration::from_secs(cfg.mempoolexpiry * 3600);
    cfg.policy.apply(cfg.network, &mut settings.mempool)?;
    blvm_node::p2p::set_user_agent_comments(cfg.ua_comments.clone());
    if cfg.mocktime != 0 {
        if cfg.network != bitcoin::Network::Regtest {
            anyhow::bail!("-mocktime is for regression testing (-regtest mode) only");
        }
        blvm_node::clock::set_mocktime(cfg.mocktime)?;
    }
    settings.allow_unauthenticated_modules = cfg.allow_unauth_modules;
    settings.module_max_frame = cfg.modulemaxframe.min(u64::from(u32::MAX)) as u32;
    settings.module_extensions.rpc_timeout = Duration::from_secs(cfg.modulerpctimeout.max(1));
    blvm_node::modules::extensions::apply_hook_options(&mut settings.module_extensions, &cfg.module_hook_timeout, &cfg.module_hook_policy)
        .map_err(anyhow::Error::msg)?;
    settings.load_blocks = cfg.loadblock.clone();
    settings.module_max_restarts = cfg.modulemaxrestarts.min(1000) as u32;
    settings.module_backoff = Duration::from_millis(cfg.modulebackoffms);
    settings.metrics_bind = cfg.metrics_bind;
    settings.progress_interval = Duration::from_millis(cfg.progressinterval.unwrap_or(DEFAULT_PROGRESS_INTERVAL_MS));
    settings.p2p = blvm_node::p2p::settings_from_config(&cfg);
    settings.zmq = blvm_node::zmq::ZmqSettings::from_config(&cfg);
    settings.notify = cfg.notify.clone();
    if let (Some(p2p), Some(ms)) = (settings.p2p.as_mut(), cfg.progressinterval) {
        p2p.progress_interval = Duration::from_millis(ms);
    }
    // Core-like layout: <datadir>/<network>/{blocks,chainstate,modules,debug.log,.cookie,.lock}.
    // Core's datadir has an empty wallets/ even without a wallet, and tools (Core's test framework
    // among them) expect it; modules/ is created by the operator when there are modules to install.
    std::fs::create_dir_all(cfg.net_dir().join("wallets")).context("creating the wallets directory")?;
    if cfg.server {
        settings.rpc = Some(blvm_node::rpc::server::settings_from_config(&cfg, settings.params.rpc_port).map_err(anyhow::Error::msg)?);
    }
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let node = match Node::start(settings).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!("startup failed: {e}");
            return Err(anyhow::Error::new(e));
        }
    };
    // Core's PID file (bitcoind.pid in the network directory unless -pid/-nopid say otherwise).
    let pid_file = cfg.pid_file.as_ref().map(|p| cfg.net_dir().join(p));
    if let Some(p) = &pid_file {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            tracing::warn!("Unable to create the PID file '{}': {e}", p.display());
        }
    }
    let reason = tokio::select! {
        _ = sigint.recv() => ShutdownReason::Signal,
        _ = sigterm.recv() => ShutdownReason::Signal,
        r = node.wait_for_shutdown_request() => r,
    };
    // A second signal while shutting down skips the remaining acknowledgement waits.
    let n2 = node.clone();
    let second = tokio::spawn(async move {
        tokio::select! {
            _ = sigint.recv() => {},
            _ = sigterm.recv() => {},
        }
        n2.force_fast_shutdown();
    });
    let report = node.shutdown(reason.clone()).await;
    second.abort();
    if let Some(p) = &pid_file {
        let _ = std::fs::remove_file(p);
    }
    if let ShutdownReason::Error(e) = reason {
        // Core's AbortNode wording, which Core's tests and operators' scripts match.
        anyhow::bail!("A fatal internal error occurred, see debug.log for details: {e}");
    }
    if !report.flush_ok {
        anyhow::bail!("final chainstate flush failed");
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    // As bitcoind: one "Error: ..." line on stderr and exit status 1.
    match run_command() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_command() -> anyhow::Result<()> {
    let (cfg, command) = load_config(std::env::args().skip(1), &|k| std::env::var(k).ok())?;
    if !cfg.sysperms {
        // As Core: files the node creates (cookie, databases, logs, the module socket) are
        // readable by their owner only, unless -sysperms.
        // SAFETY: umask only changes this process's file creation mask.
        unsafe {
            libc::umask(0o077);
        }
    }
    match command {
        Command::Help => {
            print!("{}", help_text());
            Ok(())
        }
        Command::Version => {
            println!("blvm-node version v{}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Import(path) => {
            init_logging(&cfg)?;
            import(&cfg, &path)
        }
        Command::Run => {
            init_logging(&cfg)?;
            tracing::info!(network = ?cfg.network, datadir = %cfg.net_dir().display(), "blvm-node {} starting", env!("CARGO_PKG_VERSION"));
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().worker_threads(2).build()?;
            rt.block_on(run(cfg))
        }
    }
}

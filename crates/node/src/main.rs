//! The `blvm-node` binary: parses Core-style flags, sets up logging, and runs or imports.

use anyhow::Context;
use blvm_node::chain::{ChainManager, FlushReason};
use blvm_node::config::{help_text, load_config, Command, NodeConfig};
use blvm_node::datadir::lock_directories;
use blvm_node::import::import_file;
use blvm_node::launch::settings;
use blvm_node::node::ShutdownReason;

fn init_logging(cfg: &NodeConfig) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let net_dir = cfg.net_dir();
    std::fs::create_dir_all(&net_dir).with_context(|| format!("creating {}", net_dir.display()))?;
    let log = settings::log_settings(cfg);
    let log_path = log.file.clone();
    blvm_node::progress::enable_bar(cfg.printtoconsole && std::io::stderr().is_terminal());
    blvm_node::logging::init(&log).map_err(|e| {
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

fn import(cfg: &NodeConfig, path: &std::path::Path) -> anyhow::Result<()> {
    let net_dir = cfg.net_dir();
    let params = settings::chain_params(cfg)?;
    let settings = settings::chain_settings(cfg);
    let _locks = lock_directories(&net_dir, &settings.blocks_dir(&net_dir, &params))?;
    let mut chain = ChainManager::open(params, &net_dir, settings).context("opening the chain")?;
    tracing::info!(height = chain.height(), tip = %chain.tip().hash, "chain loaded");
    let summary = import_file(&mut chain, path, settings::progress_interval(cfg));
    let report = chain.flush(FlushReason::Shutdown).context("final flush")?;
    let summary = summary?;
    tracing::info!(
        accepted = summary.accepted,
        duplicates = summary.duplicates,
        cache_flushes = summary.cache_flushes,
        height = chain.height(),
        tip = %chain.tip().hash,
        secs = summary.elapsed.as_secs_f64(),
        flush_ms = report.duration.as_millis() as u64,
        "import finished"
    );
    Ok(())
}

async fn run(cfg: NodeConfig) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let settings = settings::node_settings(&cfg)?;
    blvm_node::p2p::set_user_agent_comments(cfg.ua_comments.clone());
    if cfg.mocktime != 0 {
        blvm_node::clock::set_mocktime(cfg.mocktime)?;
    }
    // Core-like layout: <datadir>/<network>/{blocks,chainstate,modules,debug.log,.cookie,.lock}.
    // Core's datadir has an empty wallets/ even without a wallet, and tools (Core's test framework
    // among them) expect it; modules/ is created by the operator when there are modules to install.
    std::fs::create_dir_all(cfg.net_dir().join("wallets")).context("creating the wallets directory")?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let node = match blvm_node::launch::start(settings).await {
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

/// Where the link sends libbitcoinkernel's eager `RandomInit()` (see `build.rs`): nothing, so
/// the binary does not spend 100 ms seeding Core's RNG before `main`. Core's RNG still seeds
/// itself in full on its first use.
#[cfg(target_os = "linux")]
#[no_mangle]
#[allow(non_snake_case)]
pub extern "C" fn __wrap__Z10RandomInitv() {}

fn main() -> std::process::ExitCode {
    // As bitcoind: one "Error: ..." line on stderr and exit status 1.
    match run_command() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Core asks whether to rebuild after a chainstate load failure; without a UI that
            // question is printed without the "Error: " caption.
            let question = matches!(
                e.downcast_ref::<blvm_node::node::NodeError>(),
                Some(blvm_node::node::NodeError::FutureTip(_))
            );
            let caption = if question { "" } else { "Error: " };
            eprintln!("{caption}{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_command() -> anyhow::Result<()> {
    let (cfg, command) = load_config(std::env::args().skip(1), &|k| std::env::var(k).ok())?;
    settings::check(&cfg)?;
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

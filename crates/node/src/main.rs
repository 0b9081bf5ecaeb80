//! The `blvm-node` binary: parses Core-style flags, sets up logging, and runs or imports.

use anyhow::Context;
use blvm_node::chain::{ChainManager, ChainSettings, FlushReason};
use blvm_node::config::{help_text, parse_args, Command, NodeConfig};
use blvm_node::datadir::DatadirLock;
use blvm_node::import::import_file;
use blvm_node::params::ChainParams;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tracing_subscriber::prelude::*;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn init_logging(cfg: &NodeConfig) -> anyhow::Result<()> {
    let mut filter = String::from("info");
    for d in &cfg.debug {
        if d == "1" || d == "all" {
            filter = "debug".into();
        } else {
            filter.push_str(&format!(",blvm::{d}=debug,blvm_node::{d}=debug"));
        }
    }
    let net_dir = cfg.net_dir();
    std::fs::create_dir_all(&net_dir).with_context(|| format!("creating {}", net_dir.display()))?;
    let log_path = net_dir.join("debug.log");
    let file = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).with_context(|| format!("opening {}", log_path.display()))?;
    let file_layer = tracing_subscriber::fmt::layer().with_ansi(false).with_writer(Mutex::new(file));
    let console = cfg.printtoconsole.then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")))
        .with(file_layer)
        .with(console)
        .try_init()
        .ok();
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let (cfg, command) = match parse_args(std::env::args().skip(1)) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::exit(1);
        }
    };
    match command {
        Command::Help => {
            print!("{}", help_text());
            return Ok(());
        }
        Command::Version => {
            println!("blvm-node {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        _ => {}
    }
    init_logging(&cfg)?;
    let net_dir = cfg.net_dir();
    let _lock = DatadirLock::acquire(&net_dir)?;
    let params = ChainParams::for_network(cfg.network);
    let mut settings = ChainSettings { dbcache_bytes: (cfg.dbcache_mib as usize) << 20, ..Default::default() };
    if cfg.script_threads > 0 {
        settings.script_threads = cfg.script_threads;
    }
    tracing::info!(network = params.chain_name, datadir = %net_dir.display(), "blvm-node {} starting", env!("CARGO_PKG_VERSION"));
    let mut chain = ChainManager::open(params, &net_dir, settings).context("opening the chain")?;
    tracing::info!(height = chain.height(), tip = %chain.tip().hash, "chain loaded");
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as libc::sighandler_t);
    }
    match command {
        Command::Import(path) => {
            let summary = import_file(&mut chain, &path, Duration::from_secs(2));
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
        }
        _ => {
            while !STOP.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                if chain.since_last_flush() > Duration::from_secs(3600) {
                    chain.flush(FlushReason::Periodic)?;
                }
            }
            tracing::info!("shutdown requested by signal");
            let report = chain.flush(FlushReason::Shutdown)?;
            tracing::info!(ms = report.duration.as_millis() as u64, "chainstate flushed; shutdown complete");
        }
    }
    Ok(())
}

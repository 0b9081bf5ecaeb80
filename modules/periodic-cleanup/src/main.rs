//! periodic-cleanup: the seed's "Periodic Data Cleanup" example as a working module.
//!
//! It keeps dated records in `<data_dir>/records/*.json` (data dir = `BLVM_MODULE_DATA_DIR`;
//! a record's age is its file's modification time): with the `read_chain` capability one
//! record per new block (`block-<height>.json` with hash, height, tx_count, received_at), and
//! at startup the records listed in `prefill_ages_days` (`aged-<N>d.json`, dated N days ago).
//!
//! On `DataCleanup{cleanup_type, target_age_days}` it deletes the records older than
//! `target_age_days` (or `default_age_days` when the node sends none), appends one JSON line
//! `{sequence, cleanup_type, target_age_days, age_days, deleted, kept, freed_bytes, at}` to
//! `<data_dir>/cleanup.log` (fsynced); the SDK acks when the handler returns.
//!
//! Configuration (`[config]` in module.toml):
//! - `default_age_days` (int, default 30): age limit when DataCleanup carries none.
//! - `prefill_ages_days` (list of ints, default []): records to create at startup.
//! - `record_blocks` (bool, default true): keep a record per new block (needs `read_chain`).
//!
//! Exit status: 0 when the node closes the connection; 1 when the records directory cannot
//! be used; 2 when it cannot connect to the node, the config is invalid or subscribing fails.

mod records;

use blvm_module::{run_with_handler, EventContext, EventHandler, EventMessage, EventPayload, EventType, HandlerError, ModuleClient};
use serde::Deserialize;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// `[config]` of the module manifest.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    default_age_days: u64,
    prefill_ages_days: Vec<u64>,
    record_blocks: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_age_days: 30,
            prefill_ages_days: Vec::new(),
            record_blocks: true,
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Appends one JSON line to `path` and fsyncs it.
fn append_line(path: &Path, value: &serde_json::Value) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(format!("{value}\n").as_bytes())?;
    f.sync_data()
}

/// The module's event handler: its config, records directory and data directory.
struct Cleaner {
    config: Config,
    dir: PathBuf,
    data_dir: PathBuf,
}

impl EventHandler for Cleaner {
    async fn on_event(&mut self, ev: &EventMessage, _ctx: &mut EventContext<'_>) -> Result<(), HandlerError> {
        match &ev.payload {
            EventPayload::NewBlock { hash, height, tx_count } => {
                let body = json!({"hash": hash, "height": height, "tx_count": tx_count, "received_at": unix_now()});
                records::write(&self.dir, &format!("block-{height:010}.json"), &body, 0)?;
            }
            EventPayload::DataCleanup {
                cleanup_type,
                target_age_days,
            } => {
                let age_days = target_age_days.unwrap_or(self.config.default_age_days);
                let s = records::sweep(&self.dir, age_days, SystemTime::now())?;
                println!(
                    "{cleanup_type} cleanup: deleted {} records older than {age_days} days, kept {}",
                    s.deleted.len(),
                    s.kept.len()
                );
                let line = json!({
                    "sequence": ev.sequence,
                    "cleanup_type": cleanup_type,
                    "target_age_days": target_age_days,
                    "age_days": age_days,
                    "deleted": s.deleted,
                    "kept": s.kept,
                    "freed_bytes": s.freed_bytes,
                    "at": unix_now(),
                });
                append_line(&self.data_dir.join("cleanup.log"), &line)?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn on_lagged(&mut self, _from: u64, _to: u64, count: u64) {
        eprintln!("periodic-cleanup: missed {count} events (some blocks not recorded)");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    std::process::exit(run().await);
}

async fn run() -> i32 {
    blvm_module::init_logging();
    let (mut client, config, data_dir) = match ModuleClient::start::<Config>().await {
        Ok(started) => started,
        Err(e) => {
            eprintln!("periodic-cleanup: cannot start: {e}");
            return 2;
        }
    };
    let dir = data_dir.join("records");
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| records::prefill(&dir, &config.prefill_ages_days)) {
        eprintln!("periodic-cleanup: cannot prepare {}: {e}", dir.display());
        return 1;
    }

    let mut types = vec![EventType::DataCleanup];
    if config.record_blocks && client.handshake().capabilities.iter().any(|c| c == "read_chain") {
        types.push(EventType::NewBlock);
    }
    if let Err(e) = client.subscribe_events(types).await {
        eprintln!("periodic-cleanup: subscribe failed: {e}");
        return 2;
    }
    println!("ready: records={} default_age_days={}", dir.display(), config.default_age_days);

    run_with_handler(&mut client, &mut Cleaner { config, dir, data_dir }).await;
    0
}

//! disk-space: the seed's "Disk Space Management" example as a working module.
//!
//! It keeps a cache directory `<data_dir>/cache/` (data dir = `BLVM_MODULE_DATA_DIR`): with the
//! `read_chain` capability it stores the raw 80-byte header of every new block there
//! (`hdr-<height>-<hash>.bin`, fetched with `GetBlockHeader`), and at startup it can prefill
//! the cache with `prefill_files` files (`prefill-NNNN.bin`, dated one minute apart).
//!
//! On `DiskSpaceLow` it deletes its oldest cached files, keeping the `keep_newest` newest,
//! writes `<data_dir>/cleanup.json` durably:
//! `{cleanup, sequence, available_bytes, total_bytes, percent_free, disk_path, keep_newest,
//! deleted_files, freed_bytes, kept_files, at}` (`cleanup` counts the cleanups of this run;
//! the disk figures are the node's, from the event); the SDK acks when the handler returns.
//!
//! Configuration (`[config]` in module.toml):
//! - `keep_newest` (int, default 16): cached files that survive a low-disk cleanup.
//! - `prefill_files` (int, default 0): files to create in the cache at startup.
//! - `prefill_bytes` (int, default 65536): size of each prefilled file.
//! - `cache_headers` (bool, default true): cache new block headers (needs `read_chain`).
//!
//! Exit status: 0 when the node closes the connection; 1 when the cache directory cannot be
//! used; 2 when it cannot connect to the node, the config is invalid or subscribing fails.
//! The cache is prepared before subscribing, so it exists by the node's first disk check.

mod cache;

use blvm_module::{run_with_handler, EventContext, EventHandler, EventMessage, EventPayload, EventType, HandlerError, ModuleClient};
use serde::Deserialize;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `[config]` of the module manifest.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    keep_newest: usize,
    prefill_files: u64,
    prefill_bytes: u64,
    cache_headers: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            keep_newest: 16,
            prefill_files: 0,
            prefill_bytes: 65536,
            cache_headers: true,
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes `value` to `path` via temp file, fsync and rename.
fn write_json(path: &Path, value: &serde_json::Value) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(value.to_string().as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(tmp, path)
}

/// The module's event handler: config, cache and data directories, cleanups so far.
struct Evictor {
    config: Config,
    cache_dir: PathBuf,
    data_dir: PathBuf,
    cleanups: u64,
}

impl EventHandler for Evictor {
    async fn on_event(&mut self, ev: &EventMessage, ctx: &mut EventContext<'_>) -> Result<(), HandlerError> {
        match &ev.payload {
            EventPayload::NewBlock { hash, height, .. } => {
                let h = ctx.client().get_block_header(hash.as_str()).await?;
                cache::put(&self.cache_dir, &format!("hdr-{height:010}-{hash}.bin"), &h.raw)?;
            }
            EventPayload::DiskSpaceLow {
                available_bytes,
                total_bytes,
                percent_free,
                disk_path,
            } => {
                self.cleanups += 1;
                let ev_out = cache::evict(&self.cache_dir, self.config.keep_newest)?;
                println!(
                    "disk low ({percent_free:.2}% free): deleted {} cached files, freed {} bytes",
                    ev_out.deleted_files.len(),
                    ev_out.freed_bytes
                );
                let report = json!({
                    "cleanup": self.cleanups,
                    "sequence": ev.sequence,
                    "available_bytes": available_bytes,
                    "total_bytes": total_bytes,
                    "percent_free": percent_free,
                    "disk_path": disk_path,
                    "keep_newest": self.config.keep_newest,
                    "deleted_files": ev_out.deleted_files,
                    "freed_bytes": ev_out.freed_bytes,
                    "kept_files": ev_out.kept_files,
                    "at": unix_now(),
                });
                write_json(&self.data_dir.join("cleanup.json"), &report)?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn on_lagged(&mut self, _from: u64, _to: u64, count: u64) {
        eprintln!("disk-space: missed {count} events (some headers not cached)");
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
            eprintln!("disk-space: cannot start: {e}");
            return 2;
        }
    };
    let cache_dir = data_dir.join("cache");
    if let Err(e) = std::fs::create_dir_all(&cache_dir).and_then(|_| cache::prefill(&cache_dir, config.prefill_files, config.prefill_bytes))
    {
        eprintln!("disk-space: cannot prepare cache {}: {e}", cache_dir.display());
        return 1;
    }

    let mut types = vec![EventType::DiskSpaceLow];
    let headers = config.cache_headers && client.handshake().capabilities.iter().any(|c| c == "read_chain");
    if headers {
        types.push(EventType::NewBlock);
    }
    if let Err(e) = client.subscribe_events(types).await {
        eprintln!("disk-space: subscribe failed: {e}");
        return 2;
    }
    println!("ready: cache={} keep_newest={}", cache_dir.display(), config.keep_newest);

    let mut evictor = Evictor {
        config,
        cache_dir,
        data_dir,
        cleanups: 0,
    };
    run_with_handler(&mut client, &mut evictor).await;
    0
}

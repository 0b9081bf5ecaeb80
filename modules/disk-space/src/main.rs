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
//! the disk figures are the node's, from the event), then acks.
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

use blvm_module::{error_code, EventPayload, EventType, ModuleClient, ModuleMessage, ResponseResult};
use serde::Deserialize;
use serde_json::json;
use std::io::Write;
use std::path::Path;

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

#[tokio::main(flavor = "current_thread")]
async fn main() {
    std::process::exit(run().await);
}

async fn run() -> i32 {
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

    let mut cleanups = 0u64;
    while let Some(msg) = client.next_event().await {
        match msg {
            ModuleMessage::Event(ev) => match &ev.payload {
                EventPayload::NewBlock { hash, height, .. } => match client.get_block_header(hash.as_str()).await {
                    Ok(h) => {
                        if let Err(e) = cache::put(&cache_dir, &format!("hdr-{height:010}-{hash}.bin"), &h.raw) {
                            eprintln!("disk-space: caching header {height} failed: {e}");
                        }
                    }
                    Err(e) => eprintln!("disk-space: GetBlockHeader {hash} failed: {e}"),
                },
                EventPayload::DiskSpaceLow {
                    available_bytes,
                    total_bytes,
                    percent_free,
                    disk_path,
                } => {
                    cleanups += 1;
                    match cache::evict(&cache_dir, config.keep_newest) {
                        Ok(ev_out) => {
                            println!(
                                "disk low ({percent_free:.2}% free): deleted {} cached files, freed {} bytes",
                                ev_out.deleted_files.len(),
                                ev_out.freed_bytes
                            );
                            let report = json!({
                                "cleanup": cleanups,
                                "sequence": ev.sequence,
                                "available_bytes": available_bytes,
                                "total_bytes": total_bytes,
                                "percent_free": percent_free,
                                "disk_path": disk_path,
                                "keep_newest": config.keep_newest,
                                "deleted_files": ev_out.deleted_files,
                                "freed_bytes": ev_out.freed_bytes,
                                "kept_files": ev_out.kept_files,
                                "at": unix_now(),
                            });
                            if let Err(e) = write_json(&data_dir.join("cleanup.json"), &report) {
                                eprintln!("disk-space: writing cleanup.json failed: {e}");
                            }
                        }
                        Err(e) => eprintln!("disk-space: evicting cache failed: {e}"),
                    }
                    if let Err(e) = client.ack(ev.sequence).await {
                        eprintln!("disk-space: ack failed: {e}");
                    }
                }
                _ => {}
            },
            ModuleMessage::Request { id, .. } => {
                let refusal = ResponseResult::Err {
                    code: error_code::MALFORMED,
                    message: "this module serves no requests".into(),
                };
                let _ = client.respond(id, refusal).await;
            }
            ModuleMessage::Lagged { count, .. } => eprintln!("disk-space: missed {count} events (some headers not cached)"),
            _ => {}
        }
    }
    0
}

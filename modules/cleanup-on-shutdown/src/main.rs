//! cleanup-on-shutdown: the seed's "Module Cleanup on Shutdown" example as a working module.
//!
//! It keeps a small block counter in its data directory (`BLVM_MODULE_DATA_DIR`): every
//! `NewBlock` is appended to a write-ahead log `pending.log`; the counter snapshot
//! `state.json` (`blocks_seen`, `tip_height`, `tip_hash`, `last_sequence`, `flushes`,
//! `last_flush_reason`, `flush_history`, ...) is rewritten atomically (temp file + fsync +
//! rename) only when the node asks for it, after which the log is truncated.
//!
//! * `StorageFlush{reason}`: fold the pending writes into `state.json` (recording `reason` as
//!   `last_flush_reason`), then ack.
//! * `NodeShutdown{reason, timeout_seconds}`: save state (reason `node_shutdown`), write
//!   `shutdown.json` `{reason, timeout_seconds, saved_at, blocks_seen, sequence}` durably,
//!   then ack. The module keeps running: the node still sends `StorageFlush{"shutdown"}`.
//! * `NewBlock` (only with the `read_chain` capability): logged to `pending.log`.
//!
//! The module acks even when saving failed (the error goes to stderr, i.e. the node log):
//! holding the node up until its deadline would not make the disk work again.
//!
//! Configuration (`[config]` in module.toml):
//! - `flush_every_blocks` (int, default 0 = never): also snapshot after this many new blocks.
//!
//! Exit status: 0 when the node closes the connection (after a last save if anything is
//! still pending); 1 when the data directory cannot be used; 2 when it cannot connect to
//! the node (e.g. started outside a node), the config is invalid or subscribing fails.

mod store;

use blvm_module::{error_code, EventPayload, EventType, ModuleClient, ModuleMessage, ResponseResult};
use serde::Deserialize;
use serde_json::json;
use store::{unix_now, write_atomic, Store};

/// `[config]` of the module manifest.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    flush_every_blocks: u64,
}

/// Saves the store, logging (not propagating) failures.
fn save(store: &mut Store, reason: &str, sequence: u64) {
    match store.flush(reason, sequence) {
        Ok(st) => println!("saved state: reason={reason} blocks_seen={} flushes={}", st.blocks_seen, st.flushes),
        Err(e) => eprintln!("cleanup-on-shutdown: saving state ({reason}) failed: {e}"),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    std::process::exit(run().await);
}

async fn run() -> i32 {
    let (mut client, config, data_dir) = match ModuleClient::start::<Config>().await {
        Ok(started) => started,
        Err(e) => {
            eprintln!("cleanup-on-shutdown: cannot start: {e}");
            return 2;
        }
    };
    let mut store = match Store::open(&data_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cleanup-on-shutdown: cannot open state in {}: {e}", data_dir.display());
            return 1;
        }
    };
    if store.pending() > 0 {
        // Blocks logged before a crash: make them durable right away.
        save(&mut store, "recovery", 0);
    }

    let mut types = vec![EventType::NodeShutdown, EventType::StorageFlush];
    if client.handshake().capabilities.iter().any(|c| c == "read_chain") {
        types.push(EventType::NewBlock);
    }
    if let Err(e) = client.subscribe_events(types).await {
        eprintln!("cleanup-on-shutdown: subscribe failed: {e}");
        return 2;
    }
    println!("ready: blocks_seen={} flushes={}", store.state().blocks_seen, store.state().flushes);

    while let Some(msg) = client.next_event().await {
        match msg {
            ModuleMessage::Event(ev) => match &ev.payload {
                EventPayload::NewBlock { hash, height, .. } => {
                    if let Err(e) = store.record_block(ev.sequence, *height, hash) {
                        eprintln!("cleanup-on-shutdown: logging block {height} failed: {e}");
                    }
                    if config.flush_every_blocks > 0 && store.pending() as u64 >= config.flush_every_blocks {
                        save(&mut store, "blocks", ev.sequence);
                    }
                }
                EventPayload::StorageFlush { reason } => {
                    save(&mut store, reason, ev.sequence);
                    if let Err(e) = client.ack(ev.sequence).await {
                        eprintln!("cleanup-on-shutdown: ack failed: {e}");
                    }
                }
                EventPayload::NodeShutdown { reason, timeout_seconds } => {
                    save(&mut store, "node_shutdown", ev.sequence);
                    let note = json!({
                        "reason": reason,
                        "timeout_seconds": timeout_seconds,
                        "saved_at": unix_now(),
                        "blocks_seen": store.state().blocks_seen,
                        "sequence": ev.sequence,
                    });
                    if let Err(e) = write_atomic(&data_dir.join("shutdown.json"), note.to_string().as_bytes()) {
                        eprintln!("cleanup-on-shutdown: writing shutdown.json failed: {e}");
                    }
                    if let Err(e) = client.ack(ev.sequence).await {
                        eprintln!("cleanup-on-shutdown: ack failed: {e}");
                    }
                }
                _ => {}
            },
            ModuleMessage::Lagged {
                from_sequence,
                to_sequence,
                count,
            } => {
                eprintln!("cleanup-on-shutdown: missed {count} events in {from_sequence}..={to_sequence}; blocks_seen undercounts");
                store.note_missed(count);
            }
            ModuleMessage::Request { id, .. } => {
                let refusal = ResponseResult::Err {
                    code: error_code::MALFORMED,
                    message: "this module serves no requests".into(),
                };
                let _ = client.respond(id, refusal).await;
            }
            _ => {}
        }
    }
    if store.pending() > 0 {
        save(&mut store, "disconnect", 0);
    }
    0
}

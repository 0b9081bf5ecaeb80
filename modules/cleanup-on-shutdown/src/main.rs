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
//! Written as a `blvm_module::EventHandler`: the SDK acks `StorageFlush` and `NodeShutdown`
//! when the handler returns, also when saving failed (the error goes to stderr, i.e. the node
//! log): holding the node up until its deadline would not make the disk work again.
//!
//! Configuration (`[config]` in module.toml):
//! - `flush_every_blocks` (int, default 0 = never): also snapshot after this many new blocks.
//!
//! Exit status: 0 when the node closes the connection (after a last save if anything is
//! still pending); 1 when the data directory cannot be used; 2 when it cannot connect to
//! the node (e.g. started outside a node), the config is invalid or subscribing fails.

mod store;

use std::path::PathBuf;

use blvm_module::{run_with_handler, EventContext, EventHandler, EventMessage, EventPayload, EventType, HandlerError, ModuleClient};
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

/// The module's event handler: the store, its config and where `shutdown.json` goes.
struct Saver {
    store: Store,
    config: Config,
    data_dir: PathBuf,
}

impl EventHandler for Saver {
    async fn on_event(&mut self, ev: &EventMessage, _ctx: &mut EventContext<'_>) -> Result<(), HandlerError> {
        let store = &mut self.store;
        match &ev.payload {
            EventPayload::NewBlock { hash, height, .. } => {
                store.record_block(ev.sequence, *height, hash)?;
                if self.config.flush_every_blocks > 0 && store.pending() as u64 >= self.config.flush_every_blocks {
                    save(store, "blocks", ev.sequence);
                }
            }
            EventPayload::StorageFlush { reason } => save(store, reason, ev.sequence),
            EventPayload::NodeShutdown { reason, timeout_seconds } => {
                save(store, "node_shutdown", ev.sequence);
                let note = json!({
                    "reason": reason,
                    "timeout_seconds": timeout_seconds,
                    "saved_at": unix_now(),
                    "blocks_seen": store.state().blocks_seen,
                    "sequence": ev.sequence,
                });
                write_atomic(&self.data_dir.join("shutdown.json"), note.to_string().as_bytes())?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn on_lagged(&mut self, from_sequence: u64, to_sequence: u64, count: u64) {
        eprintln!("cleanup-on-shutdown: missed {count} events in {from_sequence}..={to_sequence}; blocks_seen undercounts");
        self.store.note_missed(count);
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

    let mut saver = Saver { store, config, data_dir };
    run_with_handler(&mut client, &mut saver).await;
    let Saver { mut store, .. } = saver;
    if store.pending() > 0 {
        save(&mut store, "disconnect", 0);
    }
    0
}

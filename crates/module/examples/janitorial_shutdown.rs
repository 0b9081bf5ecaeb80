//! The seed specification's "Module Cleanup on Shutdown" example (`JANITORIAL_EVENTS.md`), with
//! only the handler wrapper added: the spec's match body is `on_event`'s body unchanged, and the
//! SDK's runner replaces the hand-written event loop and acks when the handler returns.
//!
//! Run by a node as a module (the node sets `BLVM_MODULE_*`). `cleanup_resources` and
//! `flush_data` write `cleanup.json` / `flush.json` in the module's data directory so a test
//! can see that the cleanup finished before the node exited.

use std::path::PathBuf;

use blvm_module::{run_with_handler, EventContext, EventHandler, EventMessage, EventPayload, EventType, HandlerError, ModuleClient};
use tracing::info;

/// The module's own storage, flushed on `StorageFlush`.
struct ModuleStorage {
    dir: PathBuf,
    flushes: u64,
}

impl ModuleStorage {
    /// Makes the module's data durable (here: a counter file written and fsynced).
    async fn flush(&mut self) -> std::io::Result<()> {
        self.flushes += 1;
        write_durably(&self.dir.join("flush.json"), &format!("{{\"flushes\":{}}}", self.flushes))
    }
}

/// Writes `text` to `path` via a temp file, fsync and rename.
fn write_durably(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

/// The spec's handler state: its storage and where cleanup notes go.
struct Cleanup {
    module_storage: ModuleStorage,
    dir: PathBuf,
}

impl EventHandler for Cleanup {
    async fn on_event(&mut self, event_msg: &EventMessage, _ctx: &mut EventContext<'_>) -> Result<(), HandlerError> {
        let dir = self.dir.clone();
        let cleanup_resources = || async move { write_durably(&dir.join("cleanup.json"), &format!("{{\"cleaned_at_ms\":{}}}", unix_ms())) };
        let flush_data = || async { Ok::<(), std::io::Error>(()) };
        let module_storage = &mut self.module_storage;
        // --- the specification's body, unchanged ---
        match event_msg.event_type {
            EventType::NodeShutdown => {
                if let EventPayload::NodeShutdown { reason, timeout_seconds } = &event_msg.payload {
                    info!("Node shutting down: reason={}, timeout={}s", reason, timeout_seconds);
                    // Clean up gracefully
                    cleanup_resources().await?;
                    flush_data().await?;
                }
            }
            EventType::StorageFlush => {
                if let EventPayload::StorageFlush { reason } = &event_msg.payload {
                    info!("Storage flush requested: reason={}", reason);
                    // Flush module data
                    module_storage.flush().await?;
                }
            }
            _ => {}
        }
        // --- end of the specification's body ---
        Ok(())
    }
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), HandlerError> {
    blvm_module::init_logging();
    let mut client = ModuleClient::connect_from_env().await?;
    let dir = client.data_dir().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    // Subscribe to shutdown events
    let event_types = vec![EventType::NodeShutdown, EventType::StorageFlush];
    client.subscribe_events(event_types).await?;
    let mut handler = Cleanup {
        module_storage: ModuleStorage {
            dir: dir.clone(),
            flushes: 0,
        },
        dir,
    };
    let summary = run_with_handler(&mut client, &mut handler).await;
    info!("node closed the connection after {} events", summary.events);
    Ok(())
}

//! The seed specification's "Disk Space Management" example (`JANITORIAL_EVENTS.md`), with only
//! the handler wrapper added: the spec's match body is `on_event`'s body unchanged.

use std::path::PathBuf;

use blvm_module::{run_with_handler, EventContext, EventHandler, EventMessage, EventPayload, EventType, HandlerError, ModuleClient};
use tracing::warn;

/// Deletes the files of `dir/cache` when disk space is low, keeping more when more is free.
struct DiskSpace {
    cache: PathBuf,
}

/// Removes every file in `cache` when less than 1 % is free, otherwise the older half.
async fn cleanup_old_data(cache: PathBuf, percent_free: &f64) -> std::io::Result<()> {
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(&cache)? {
        let entry = entry?;
        files.push((entry.metadata()?.modified()?, entry.path()));
    }
    files.sort();
    let n = if *percent_free < 1.0 { files.len() } else { files.len() / 2 };
    for (_, path) in files.into_iter().take(n) {
        std::fs::remove_file(path)?;
    }
    Ok(())
}

impl EventHandler for DiskSpace {
    async fn on_event(&mut self, event_msg: &EventMessage, _ctx: &mut EventContext<'_>) -> Result<(), HandlerError> {
        let cache = self.cache.clone();
        let cleanup_old_data = |percent_free| cleanup_old_data(cache, percent_free);
        // --- the specification's body, unchanged ---
        if event_msg.event_type == EventType::DiskSpaceLow {
            if let EventPayload::DiskSpaceLow {
                available_bytes,
                percent_free,
                ..
            } = &event_msg.payload
            {
                warn!("Disk space low: {} bytes available ({:.2}% free)", available_bytes, percent_free);
                // Clean up old data
                cleanup_old_data(percent_free).await?;
            }
        }
        // --- end of the specification's body ---
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), HandlerError> {
    blvm_module::init_logging();
    let mut client = ModuleClient::connect_from_env().await?;
    let cache = client
        .data_dir()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join("cache");
    std::fs::create_dir_all(&cache)?;
    // Subscribe to disk space events
    let event_types = vec![EventType::DiskSpaceLow];
    client.subscribe_events(event_types).await?;
    run_with_handler(&mut client, &mut DiskSpace { cache }).await;
    Ok(())
}

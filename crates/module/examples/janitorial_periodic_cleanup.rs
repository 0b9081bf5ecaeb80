//! The seed specification's "Periodic Data Cleanup" example (`JANITORIAL_EVENTS.md`), with only
//! the handler wrapper added: the spec's match body is `on_event`'s body unchanged.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use blvm_module::{run_with_handler, EventContext, EventHandler, EventMessage, EventPayload, EventType, HandlerError, ModuleClient};
use tracing::info;

/// Deletes files in `dir/records` older than the node's `target_age_days`.
struct PeriodicCleanup {
    records: PathBuf,
}

/// Removes the files in `records` last modified more than `age_days` days ago.
async fn cleanup_data_older_than(records: PathBuf, age_days: u64) -> std::io::Result<()> {
    let cutoff = SystemTime::now()
        .checked_sub(Duration::from_secs(age_days.saturating_mul(86_400)))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for entry in std::fs::read_dir(&records)? {
        let entry = entry?;
        if entry.metadata()?.modified()? < cutoff {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

impl EventHandler for PeriodicCleanup {
    async fn on_event(&mut self, event_msg: &EventMessage, _ctx: &mut EventContext<'_>) -> Result<(), HandlerError> {
        let records = self.records.clone();
        let cleanup_data_older_than = |age_days| cleanup_data_older_than(records, age_days);
        // --- the specification's body, unchanged ---
        if event_msg.event_type == EventType::DataCleanup {
            if let EventPayload::DataCleanup {
                cleanup_type,
                target_age_days,
            } = &event_msg.payload
            {
                info!("Data cleanup: type={}, target_age={:?} days", cleanup_type, target_age_days);
                // Clean up old data
                let age_days = target_age_days.unwrap_or(30);
                cleanup_data_older_than(age_days).await?;
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
    let records = client
        .data_dir()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join("records");
    std::fs::create_dir_all(&records)?;
    // Subscribe to cleanup events
    let event_types = vec![EventType::DataCleanup];
    client.subscribe_events(event_types).await?;
    run_with_handler(&mut client, &mut PeriodicCleanup { records }).await;
    Ok(())
}

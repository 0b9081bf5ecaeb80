//! Pairs every `StorageFlush` with a `StorageFlushCompleted` and every `MaintenanceStarted` with a
//! `MaintenanceCompleted`, on every path: a guard created right after the start event publishes
//! the completion with `success: false` when it is dropped without being completed (an early
//! return, a `?`, a panic unwinding through the caller, or the caller's future being dropped).

use crate::modules::bus::EventBus;
use blvm_module::EventPayload;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::runtime::ceil_ms;

/// Which completion event the guard owes.
#[derive(Debug)]
enum Owed {
    /// `StorageFlushCompleted`.
    Flush,
    /// `MaintenanceCompleted` of this `maintenance_type`.
    Maintenance(String),
}

/// Owes one completion event from its creation until [`CompletionGuard::complete`] or drop.
#[must_use = "dropping the guard immediately publishes a failed completion"]
pub(crate) struct CompletionGuard {
    bus: Arc<EventBus>,
    owed: Option<Owed>,
    start: Instant,
}

impl CompletionGuard {
    /// Owes a `StorageFlushCompleted` for a `StorageFlush` just published.
    pub(crate) fn flush(bus: &Arc<EventBus>) -> Self {
        Self::new(bus, Owed::Flush)
    }

    /// Owes a `MaintenanceCompleted{maintenance_type}` for a `MaintenanceStarted` just published.
    pub(crate) fn maintenance(bus: &Arc<EventBus>, maintenance_type: &str) -> Self {
        Self::new(bus, Owed::Maintenance(maintenance_type.to_string()))
    }

    fn new(bus: &Arc<EventBus>, owed: Owed) -> Self {
        CompletionGuard {
            bus: bus.clone(),
            owed: Some(owed),
            start: Instant::now(),
        }
    }

    /// Restarts the duration clock (the work begins after the acks were awaited).
    pub(crate) fn restart_clock(&mut self) {
        self.start = Instant::now();
    }

    /// Time since the guard was created or its clock restarted.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Publishes the completion with its real outcome; `results` is used by maintenance only.
    pub(crate) fn complete(mut self, success: bool, results: serde_json::Value) -> u64 {
        let owed = self.owed.take().expect("a guard completes once");
        publish(&self.bus, owed, success, self.start.elapsed(), results)
    }
}

impl Drop for CompletionGuard {
    fn drop(&mut self) {
        let Some(owed) = self.owed.take() else { return };
        let error = if std::thread::panicking() {
            "the operation panicked before it completed"
        } else {
            "the operation was abandoned before it completed"
        };
        tracing::error!(?owed, "{error}; publishing a failed completion");
        publish(&self.bus, owed, false, self.start.elapsed(), json!({ "error": error }));
    }
}

fn publish(bus: &Arc<EventBus>, owed: Owed, success: bool, took: Duration, results: serde_json::Value) -> u64 {
    let duration_ms = ceil_ms(took);
    bus.publish(match owed {
        Owed::Flush => EventPayload::StorageFlushCompleted { success, duration_ms },
        Owed::Maintenance(maintenance_type) => EventPayload::MaintenanceCompleted {
            maintenance_type,
            success,
            duration_ms,
            results: Some(results.to_string()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::bus::Outgoing;
    use blvm_module::EventType;

    async fn next_payload(sub: &crate::modules::bus::Subscriber) -> EventPayload {
        match sub.next().await.expect("event") {
            Outgoing::Event(e) => e.payload.clone(),
            other => panic!("{other:?}"),
        }
    }

    /// A worker panicking inside `spawn_blocking`, propagated with `?`, still yields the pair.
    #[tokio::test]
    async fn a_panicking_worker_still_publishes_a_failed_completion() {
        let bus = EventBus::new(1, 16, 0);
        let sub = bus.register("watcher");
        bus.subscribe(&sub, &[EventType::MaintenanceStarted, EventType::MaintenanceCompleted], None);
        async fn op(bus: &Arc<EventBus>) -> Result<(), String> {
            bus.publish(EventPayload::MaintenanceStarted {
                maintenance_type: "backup".into(),
                estimated_duration_seconds: None,
            });
            let guard = CompletionGuard::maintenance(bus, "backup");
            tokio::task::spawn_blocking(|| panic!("worker blew up"))
                .await
                .map_err(|e| e.to_string())?;
            guard.complete(true, json!({}));
            Ok(())
        }
        assert!(op(&bus).await.is_err());
        assert!(matches!(next_payload(&sub).await, EventPayload::MaintenanceStarted { .. }));
        match next_payload(&sub).await {
            EventPayload::MaintenanceCompleted {
                maintenance_type,
                success,
                results,
                ..
            } => {
                assert_eq!(maintenance_type, "backup");
                assert!(!success);
                assert!(results.unwrap().contains("abandoned"));
            }
            other => panic!("{other:?}"),
        }
    }

    /// A panic unwinding through the owner itself, and a completed guard publishing exactly once.
    #[tokio::test]
    async fn unwinding_owner_and_completed_guard() {
        let bus = EventBus::new(1, 16, 0);
        let sub = bus.register("watcher");
        bus.subscribe(&sub, &[EventType::StorageFlushCompleted], None);
        let b = bus.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let _guard = CompletionGuard::flush(&b);
            panic!("flush worker blew up");
        })
        .await;
        assert!(joined.is_err());
        assert!(matches!(
            next_payload(&sub).await,
            EventPayload::StorageFlushCompleted { success: false, .. }
        ));
        CompletionGuard::flush(&bus).complete(true, json!(null));
        assert!(matches!(
            next_payload(&sub).await,
            EventPayload::StorageFlushCompleted { success: true, .. }
        ));
        assert_eq!(sub.queued(), 0, "exactly one completion per guard");
    }
}

//! The one shutdown path: stop requests from every cause, the acknowledgement waits (cut short
//! by a repeated request), the chainstate flush with its events, and the final report.

use super::completion::CompletionGuard;
use super::runtime::{ceil_ms, Node, NodeError};
use crate::chain::{FlushReason, FlushReport};
use crate::modules::bus::{AckOutcome, AckWaiter};
use crate::sync::lock;
use blvm_module::EventPayload;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Why the node stops; the string goes into NodeShutdown.reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShutdownReason {
    /// A library caller asked for an orderly stop.
    Graceful,
    /// SIGINT or SIGTERM.
    Signal,
    /// The `stop` RPC.
    Rpc,
    /// A fatal condition (database failure, disk critically full); the detail is logged.
    Error(String),
}

impl ShutdownReason {
    /// "graceful", "signal", "rpc" or "error".
    pub fn as_str(&self) -> &'static str {
        match self {
            ShutdownReason::Graceful => "graceful",
            ShutdownReason::Signal => "signal",
            ShutdownReason::Rpc => "rpc",
            ShutdownReason::Error(_) => "error",
        }
    }
}

/// What a shutdown did, for logs and tests.
#[derive(Debug, Clone)]
pub struct ShutdownReport {
    /// The reason.
    pub reason: ShutdownReason,
    /// Total duration.
    pub duration: Duration,
    /// Acks for NodeShutdown.
    pub shutdown_acks: AckOutcome,
    /// Acks for StorageFlush.
    pub flush_acks: AckOutcome,
    /// Whether the final chainstate flush succeeded.
    pub flush_ok: bool,
}

impl Node {
    /// Asks the node to stop; the owner's [`Node::wait_for_shutdown_request`] returns the reason.
    pub fn request_shutdown(&self, reason: ShutdownReason) {
        if self.shutting_down.load(Ordering::SeqCst) {
            // A repeated stop request (a second Ctrl-C or `stop`) skips the remaining waits. An
            // error reported while stopping does not: one fatal failure reaches both the chain's
            // fatal handler and its caller, and must not cut the modules' acknowledgements short.
            if !matches!(reason, ShutdownReason::Error(_)) {
                self.force_fast_shutdown();
            }
            return;
        }
        let _ = self.shutdown_tx.send(reason);
    }

    /// Skips the remaining acknowledgement waits of a shutdown in progress (the final flush
    /// still runs, so the chainstate stays consistent).
    pub fn force_fast_shutdown(&self) {
        tracing::warn!("second stop request: skipping remaining module acknowledgement waits");
        self.forced.store(true, Ordering::SeqCst);
        self.force.notify_waiters();
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Waits for the first shutdown request.
    pub async fn wait_for_shutdown_request(&self) -> ShutdownReason {
        match self.shutdown_rx.lock().await.recv().await {
            Some(r) => r,
            None => ShutdownReason::Graceful,
        }
    }

    pub(crate) async fn wait_acks(&self, waiter: AckWaiter, deadline: Duration) -> AckOutcome {
        if self.forced.load(Ordering::SeqCst) {
            return waiter.wait(Duration::ZERO).await;
        }
        let forced = self.force.notified();
        tokio::pin!(forced);
        let seq = waiter.sequence();
        tokio::select! {
            out = waiter.wait(deadline) => out,
            _ = &mut forced => {
                tracing::warn!(sequence = seq, "acknowledgement wait cut short by forced shutdown");
                AckOutcome::default()
            }
        }
    }

    /// StorageFlush (acks awaited), chainstate flush, StorageFlushCompleted.
    pub async fn flush_chainstate(&self, reason: FlushReason) -> Result<FlushReport, NodeError> {
        let waiter = self.bus.publish_with_acks(EventPayload::StorageFlush {
            reason: reason.as_str().to_string(),
        });
        // From here on a StorageFlushCompleted is owed, whatever happens to this future.
        let mut completion = CompletionGuard::flush(&self.bus);
        self.wait_acks(waiter, self.settings.lifecycle.ack_timeout).await;
        completion.restart_clock();
        let result = self.run_chain(move |c| c.flush(reason)).await;
        self.metrics.observe_flush(completion.elapsed());
        match result {
            Ok(Ok(report)) => {
                completion.complete(true, serde_json::Value::Null);
                // As Core's FlushStateToDisk: a flush is when pruning (and compaction) is looked at.
                self.after_blocks(true).await;
                Ok(report)
            }
            Ok(Err(e)) => {
                completion.complete(false, serde_json::Value::Null);
                self.request_shutdown(ShutdownReason::Error(format!("chainstate flush failed: {e}")));
                Err(NodeError::Chain(e))
            }
            Err(e) => {
                // The flush worker panicked: the chainstate may be half-written, so stop as for a failure.
                completion.complete(false, serde_json::Value::Null);
                self.request_shutdown(ShutdownReason::Error(format!("chainstate flush task failed: {e}")));
                Err(e)
            }
        }
    }

    /// The one shutdown path: NodeShutdown (acks), stop services, StorageFlush (acks), flush,
    /// StorageFlushCompleted, NodeShutdownCompleted, close module connections, stop modules.
    pub async fn shutdown(&self, reason: ShutdownReason) -> ShutdownReport {
        let t0 = Instant::now();
        if self.shutting_down.swap(true, Ordering::SeqCst) {
            self.force_fast_shutdown();
        }
        self.tip_seq.send_modify(|s| *s = s.wrapping_add(1));
        if let ShutdownReason::Error(detail) = &reason {
            tracing::error!("shutting down because of an error: {detail}");
        }
        tracing::info!(reason = reason.as_str(), "shutdown started");
        let notifier = self.notifier.clone();
        let _ = tokio::task::spawn_blocking(move || notifier.shutdown()).await;
        let lc = self.settings.lifecycle.clone();
        let w = self.bus.publish_with_acks(EventPayload::NodeShutdown {
            reason: reason.as_str().to_string(),
            timeout_seconds: lc.shutdown_timeout.as_secs(),
        });
        let shutdown_acks = self.wait_acks(w, lc.shutdown_timeout).await;

        let _ = self.stop_tx.send(true);
        let tasks: Vec<_> = lock(&self.tasks).drain(..).collect();
        for t in tasks {
            if tokio::time::timeout(Duration::from_secs(5), t).await.is_err() {
                tracing::warn!("a background task did not stop in time");
            }
        }

        // NodeShutdown and the shutdown StorageFlush share one budget: timeout_seconds in total.
        let remaining = lc.shutdown_timeout.saturating_sub(t0.elapsed()).min(lc.ack_timeout);
        let w = self.bus.publish_with_acks(EventPayload::StorageFlush { reason: "shutdown".into() });
        let mut completion = CompletionGuard::flush(&self.bus);
        let flush_acks = self.wait_acks(w, remaining).await;
        if self.settings.mempool.persist && self.mempool.is_loaded() {
            let mp = self.mempool.clone();
            match tokio::task::spawn_blocking(move || mp.save()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!("mempool dump failed: {e}"),
                Err(e) => tracing::error!("mempool dump task failed: {e}"),
            }
        }
        completion.restart_clock();
        let flush = self.run_chain(|c| c.flush(FlushReason::Shutdown)).await;
        self.metrics.observe_flush(completion.elapsed());
        let flush_ok = matches!(flush, Ok(Ok(_)));
        match &flush {
            Ok(Err(e)) => tracing::error!("final chainstate flush failed: {e}"),
            Err(e) => tracing::error!("final chainstate flush task failed: {e}"),
            Ok(Ok(_)) => {}
        }
        completion.complete(flush_ok, serde_json::Value::Null);
        let duration = t0.elapsed();
        self.bus.publish(EventPayload::NodeShutdownCompleted {
            duration_ms: ceil_ms(duration),
        });

        self.bus.close_all();
        if !self.server.wait_idle(Duration::from_secs(2)).await {
            tracing::warn!("some module connections did not close in time");
        }
        self.manager.stop_all("shutdown").await;
        tracing::info!(reason = reason.as_str(), ms = ceil_ms(t0.elapsed()), "shutdown complete");
        ShutdownReport {
            reason,
            duration: t0.elapsed(),
            shutdown_acks,
            flush_acks,
            flush_ok,
        }
    }
}

#[cfg(test)]
mod shutdown_request_tests {
    use super::*;
    use crate::node::NodeSettings;

    /// While stopping, a second stop request forces the fast path; an error report (the same
    /// fatal failure seen by a second caller) does not.
    #[test]
    fn only_a_repeated_stop_request_forces_a_fast_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let s = NodeSettings::new(
            crate::params::ChainParams::for_network(bitcoin::Network::Regtest),
            dir.path().to_path_buf(),
        );
        let node = rt.block_on(Node::open(s)).unwrap();
        rt.block_on(node.finish_startup());
        node.shutting_down.store(true, Ordering::SeqCst);
        node.request_shutdown(ShutdownReason::Error("chainstate flush failed".into()));
        assert!(!node.forced.load(Ordering::SeqCst), "an error while stopping must not force");
        node.request_shutdown(ShutdownReason::Signal);
        assert!(node.forced.load(Ordering::SeqCst), "a second stop request forces");
        node.shutting_down.store(false, Ordering::SeqCst);
        rt.block_on(node.shutdown(ShutdownReason::Graceful));
    }
}

//! Node -> module calls on one module connection: the node sends a `Request` with its own id,
//! the connection's reader hands the module's `Response` back here. Bounded in-flight calls,
//! a deadline per call, and every waiter released when the connection closes.

use crate::sync::lock;
use blvm_module::{ModuleMessage, Request, ResponseResult};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

/// Calls at most waiting for one module's answer at once; more fail with [`CallError::Busy`].
pub const MAX_CALLS_IN_FLIGHT: usize = 64;

/// Why a call to a module has no answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CallError {
    /// The module did not answer within the deadline.
    #[error("module {module} did not answer within {ms} ms")]
    Timeout {
        /// The module's name.
        module: String,
        /// The deadline in milliseconds.
        ms: u128,
    },
    /// The module's connection is closed (stopped, crashed, disconnected).
    #[error("module {0} disconnected")]
    Disconnected(String),
    /// Too many calls are waiting for this module already.
    #[error("module {0} is busy: too many calls in flight")]
    Busy(String),
}

/// Where an answer goes: an async caller or a blocking (validation) thread.
enum Waiter {
    Async(oneshot::Sender<ResponseResult>),
    Blocking(std::sync::mpsc::SyncSender<ResponseResult>),
}

/// One module connection seen from the node's side, for calls into the module.
pub struct ModuleLink {
    name: String,
    tx: Mutex<Option<mpsc::Sender<ModuleMessage>>>,
    pending: Mutex<HashMap<u64, Waiter>>,
    next_id: AtomicU64,
}

/// Removes a call's waiter when the caller stops waiting (deadline, cancellation).
struct PendingGuard<'a> {
    link: &'a ModuleLink,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(&self.link.pending).remove(&self.id);
    }
}

impl ModuleLink {
    /// A link for module `name` whose frames go out through `tx` (the connection's writer).
    pub fn new(name: String, tx: mpsc::Sender<ModuleMessage>) -> Self {
        ModuleLink {
            name,
            tx: Mutex::new(Some(tx)),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        }
    }

    /// The module's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Hands a module's `Response` to whoever waits for it (unknown or late ids are dropped).
    pub fn complete(&self, id: u64, result: ResponseResult) {
        match lock(&self.pending).remove(&id) {
            Some(Waiter::Async(tx)) => {
                let _ = tx.send(result);
            }
            Some(Waiter::Blocking(tx)) => {
                let _ = tx.try_send(result);
            }
            None => tracing::debug!(target: "blvm::modules", module = %self.name, id, "response to no pending call"),
        }
    }

    /// The connection closed: every waiting call fails as disconnected, and no new call starts.
    pub fn close(&self) {
        lock(&self.tx).take();
        lock(&self.pending).clear();
    }

    /// Registers the waiter and queues the request frame without waiting (a full queue counts
    /// as busy).
    fn start(&self, request: Request, waiter: Waiter) -> Result<u64, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tx = lock(&self.tx).clone().ok_or_else(|| CallError::Disconnected(self.name.clone()))?;
        {
            let mut pending = lock(&self.pending);
            if pending.len() >= MAX_CALLS_IN_FLIGHT {
                return Err(CallError::Busy(self.name.clone()));
            }
            pending.insert(id, waiter);
        }
        match tx.try_send(ModuleMessage::Request { id, request }) {
            Ok(()) => Ok(id),
            Err(e) => {
                lock(&self.pending).remove(&id);
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => CallError::Busy(self.name.clone()),
                    mpsc::error::TrySendError::Closed(_) => CallError::Disconnected(self.name.clone()),
                })
            }
        }
    }

    /// Calls the module and waits (asynchronously) up to `deadline` for its answer.
    pub async fn call(&self, request: Request, deadline: Duration) -> Result<ResponseResult, CallError> {
        let (tx, rx) = oneshot::channel();
        let id = self.start(request, Waiter::Async(tx))?;
        let _guard = PendingGuard { link: self, id };
        match tokio::time::timeout(deadline, rx).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Err(CallError::Disconnected(self.name.clone())),
            Err(_) => Err(self.timeout(deadline)),
        }
    }

    /// Calls the module and blocks this thread up to `deadline` for its answer. For code that
    /// already runs on a blocking thread (transaction validation); never call it on an async
    /// worker.
    pub fn call_blocking(&self, request: Request, deadline: Duration) -> Result<ResponseResult, CallError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let id = self.start(request, Waiter::Blocking(tx))?;
        let _guard = PendingGuard { link: self, id };
        match rx.recv_timeout(deadline) {
            Ok(r) => Ok(r),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(CallError::Disconnected(self.name.clone())),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(self.timeout(deadline)),
        }
    }

    fn timeout(&self, deadline: Duration) -> CallError {
        CallError::Timeout {
            module: self.name.clone(),
            ms: deadline.as_millis(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blvm_module::ResponseBody;
    use std::sync::Arc;

    fn done() -> ResponseResult {
        ResponseResult::Ok { body: ResponseBody::Done }
    }

    #[tokio::test]
    async fn calls_are_bounded_answered_by_id_and_released_on_close() {
        let (tx, mut rx) = mpsc::channel(256);
        let link = Arc::new(ModuleLink::new("m".into(), tx));
        let mut calls = Vec::new();
        for _ in 0..MAX_CALLS_IN_FLIGHT {
            let l = link.clone();
            calls.push(tokio::spawn(
                async move { l.call(Request::GetChainTip, Duration::from_secs(60)).await },
            ));
        }
        let mut ids = Vec::new();
        for _ in 0..MAX_CALLS_IN_FLIGHT {
            match rx.recv().await {
                Some(ModuleMessage::Request { id, .. }) => ids.push(id),
                other => panic!("expected a request, got {other:?}"),
            }
        }
        // All slots taken: the next call fails at once.
        assert_eq!(
            link.call(Request::GetChainTip, Duration::from_secs(60)).await,
            Err(CallError::Busy("m".into()))
        );
        // An answer reaches its caller; an unknown id is ignored.
        link.complete(ids[0], done());
        link.complete(u64::MAX, done());
        assert_eq!(calls.remove(0).await.unwrap(), Ok(done()));
        // Closing fails every other waiter as disconnected, and new calls too.
        link.close();
        for c in calls {
            assert_eq!(c.await.unwrap(), Err(CallError::Disconnected("m".into())));
        }
        assert_eq!(
            link.call(Request::GetChainTip, Duration::from_secs(1)).await,
            Err(CallError::Disconnected("m".into()))
        );
    }

    #[test]
    fn a_blocking_call_times_out_and_frees_its_slot() {
        let (tx, _rx) = mpsc::channel(4);
        let link = ModuleLink::new("m".into(), tx);
        let r = link.call_blocking(Request::GetChainTip, Duration::from_millis(1));
        assert_eq!(r, Err(CallError::Timeout { module: "m".into(), ms: 1 }));
        assert!(lock(&link.pending).is_empty(), "a timed-out call leaves no waiter behind");
    }
}

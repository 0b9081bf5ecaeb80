//! The chain engine as async code reaches it: a shared `ChainManager` whose lock is never waited
//! for on a runtime worker thread. Block connection and flushes hold the lock for long stretches;
//! a task that waited for it in place would stall every other task on that worker (peers' pings,
//! RPC), and on a two-worker runtime two such waits stop the node's networking outright.

use super::ChainManager;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use tokio::runtime::{Handle, RuntimeFlavor};

/// The node's chain engine, shared between the node, P2P, RPC and the maintenance tasks.
#[derive(Clone)]
pub struct SharedChain {
    inner: Arc<Mutex<ChainManager>>,
}

impl SharedChain {
    /// Wraps the engine the node opened.
    pub fn new(inner: Arc<Mutex<ChainManager>>) -> Self {
        SharedChain { inner }
    }

    /// The underlying lock, for code that already runs off the async runtime.
    pub fn mutex(&self) -> &Arc<Mutex<ChainManager>> {
        &self.inner
    }

    /// Runs `f` on the chain in one trip. When the lock is free it is taken at once; when another
    /// thread holds it (a block being connected, a flush), the wait is moved off the runtime
    /// (`tokio::task::block_in_place`) so the worker's other tasks keep running.
    pub fn read<T>(&self, f: impl FnOnce(&ChainManager) -> T) -> T {
        f(&self.guard())
    }

    /// As [`SharedChain::read`], on tokio's blocking pool: for work that reads the disk (serving
    /// blocks and filters to peers), which must not run on a runtime worker either. An error
    /// means `f` panicked or the runtime is shutting down.
    pub async fn read_on_blocking_thread<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ChainManager) -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        let chain = self.clone();
        tokio::task::spawn_blocking(move || chain.read(f)).await
    }

    /// As [`SharedChain::read`] for synchronous code that reads the disk through the chain
    /// (a block from the block files): the lock wait and the read both run off the runtime.
    pub fn read_from_disk<T>(&self, f: impl FnOnce(&ChainManager) -> T) -> T {
        off_runtime(|| f(&self.inner.lock().unwrap_or_else(|p| p.into_inner())))
    }

    /// As [`SharedChain::read`], for changes (accepting headers, marking blocks).
    pub fn write<T>(&self, f: impl FnOnce(&mut ChainManager) -> T) -> T {
        f(&mut self.guard())
    }

    fn guard(&self) -> MutexGuard<'_, ChainManager> {
        match self.inner.try_lock() {
            Ok(g) => g,
            // A panic while the lock was held leaves the engine as it was at that panic; the
            // node's own paths continue the same way (`into_inner`).
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => off_runtime(|| self.inner.lock().unwrap_or_else(|p| p.into_inner())),
        }
    }
}

/// Runs a blocking wait without stalling the async runtime's worker: on a multi-thread runtime
/// the worker's other tasks are handed to another thread first. A current-thread runtime (tests)
/// or a plain thread has nothing to hand over and just waits.
fn off_runtime<T>(f: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::ChainSettings;
    use crate::params::ChainParams;
    use bitcoin::Network;
    use std::time::{Duration, Instant};

    fn open() -> (tempfile::TempDir, SharedChain) {
        let dir = tempfile::tempdir().unwrap();
        let params = ChainParams::for_network(Network::Regtest);
        let chain = ChainManager::open(params, dir.path(), ChainSettings::default()).unwrap();
        (dir, SharedChain::new(Arc::new(Mutex::new(chain))))
    }

    /// While one thread holds the chain, a task waiting for it does not stop the other tasks on
    /// its worker: on a one-worker runtime, a ticker keeps ticking while the waiter waits.
    #[test]
    fn a_task_waiting_for_the_chain_leaves_the_runtime_running() {
        let (_dir, chain) = open();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let held = chain.mutex().clone();
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let _g = held.lock().unwrap();
            locked_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(800));
        });
        locked_rx.recv().unwrap();
        let start = Instant::now();
        let (ticks, height) = rt.block_on(async move {
            // Both tasks run on the runtime's only worker thread.
            let waiter = tokio::spawn(async move { chain.read(|c| c.height()) });
            let ticker = tokio::spawn(async move {
                let mut n = 0u32;
                while start.elapsed() < Duration::from_millis(500) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    n += 1;
                }
                n
            });
            (ticker.await.unwrap(), waiter.await.unwrap())
        });
        holder.join().unwrap();
        assert_eq!(height, 0);
        // Had the waiter blocked the worker in place, the ticker could not have run before the
        // holder let go (800 ms), after its 500 ms window: zero ticks.
        assert!(ticks >= 10, "ticker ran {ticks} times while the chain was held");
    }

    #[test]
    fn read_and_write_see_the_same_engine_without_a_runtime() {
        let (_dir, chain) = open();
        let before = chain.read(|c| c.tip().hash);
        let again = chain.write(|c| c.tip().hash);
        assert_eq!(before, again);
    }
}

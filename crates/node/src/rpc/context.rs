//! The narrow handle RPC and REST work through: the shared components they read (chain,
//! mempool, P2P, modules, metrics) and a [`NodeControl`] trait for the few node operations they
//! trigger, implemented by the launcher, so neither layer depends on the node itself.

use super::active::ActiveCommands;
use crate::chain::{BlockOutcome, ChainManager, FlushReport};
use crate::mempool::Mempool;
use crate::params::ChainParams;
use bitcoin::{Block, BlockHash};
use serde_json::Value;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// A boxed future returned by [`NodeControl`] operations (the trait stays object safe).
pub type ControlFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A node operation that failed; its text is what the RPC error reports.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ControlError(pub String);

/// A maintenance operation the node runs, asked for by RPC (`runmaintenance`,
/// `pruneblockchain`) or scheduled by the node itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Maintenance {
    /// Copy the chainstate, block index and block files to a directory usable to start a node.
    Backup {
        /// Destination base datadir (the network subdirectory is created inside).
        destination: PathBuf,
    },
    /// Compact the database and remove stale temporary files.
    Cleanup,
    /// Compact the database only (scheduled by `-compactgrowth`).
    Compact,
    /// Delete old block and undo files (never the last 288 blocks).
    Prune {
        /// Prune files whose blocks are all at or below this height.
        height: Option<u32>,
        /// Or: prune until block storage is below this many bytes (both None: the node's target).
        target_bytes: Option<u64>,
    },
}

impl Maintenance {
    /// The `maintenance_type` string of the events.
    pub fn kind(&self) -> &'static str {
        match self {
            Maintenance::Backup { .. } => "backup",
            Maintenance::Cleanup => "cleanup",
            Maintenance::Compact => "compaction",
            Maintenance::Prune { .. } => "prune",
        }
    }
}

/// What a maintenance operation reports back to the RPC caller.
#[derive(Debug, Clone)]
pub struct MaintenanceDone {
    /// Whether it succeeded.
    pub success: bool,
    /// Wall time, in milliseconds rounded up.
    pub duration_ms: u64,
    /// Statistics (or the error under `"error"`) as JSON.
    pub results: Value,
}

/// The node operations RPC methods trigger; implemented for the node by the launcher, so the
/// RPC layer sees only this surface.
pub trait NodeControl: Send + Sync {
    /// Asks the node to stop (the `stop` RPC).
    fn request_stop(&self);
    /// Whether shutdown has begun.
    fn is_shutting_down(&self) -> bool;
    /// Time since the node started.
    fn uptime(&self) -> Duration;
    /// Warnings raised since startup.
    fn warnings(&self) -> Vec<String>;
    /// Core's IsInitialBlockDownload, judged on the locked chain `c`.
    fn is_initial_block_download(&self, c: &ChainManager) -> bool;
    /// Wakes on every active-chain change and when shutdown begins.
    fn tip_watch(&self) -> watch::Receiver<u64>;
    /// RPC calls in progress (kept by the node so every handle sees the same list).
    fn rpc_active(&self) -> &ActiveCommands;
    /// The metrics registry (per-method RPC timings).
    fn metrics(&self) -> &crate::metrics::Registry;
    /// Validates and stores a block, publishing its chain events.
    fn submit_block(&self, block: Block) -> ControlFuture<'_, Result<BlockOutcome, ControlError>>;
    /// `preciousblock`; false when the block is unknown.
    fn precious_block(&self, hash: BlockHash) -> ControlFuture<'_, Result<bool, ControlError>>;
    /// `invalidateblock`; false when the block is unknown.
    fn invalidate_block(&self, hash: BlockHash) -> ControlFuture<'_, Result<bool, ControlError>>;
    /// `reconsiderblock`; false when the block is unknown.
    fn reconsider_block(&self, hash: BlockHash) -> ControlFuture<'_, Result<bool, ControlError>>;
    /// Flushes the chainstate on an operator's request.
    fn flush_chainstate(&self) -> ControlFuture<'_, Result<FlushReport, ControlError>>;
    /// A manual health check, merged with the modules' answers given `wait`.
    fn manual_health(&self, wait: Duration) -> ControlFuture<'_, Value>;
    /// Removes stale files older than `target_age_days`; returns how many.
    fn cleanup_data(&self, cleanup_type: &'static str, target_age_days: Option<u64>) -> ControlFuture<'_, usize>;
    /// Runs one maintenance operation.
    fn run_maintenance(&self, op: Maintenance) -> ControlFuture<'_, Result<MaintenanceDone, ControlError>>;
    /// The process's resident memory in bytes (`getmemoryinfo`), when the OS reports it.
    fn process_rss(&self) -> Option<u64>;
    /// Bytes under `dir` (`size_on_disk` of the block files).
    fn dir_size(&self, dir: &std::path::Path) -> u64;
}

/// The node's settings RPC and REST read.
#[derive(Debug, Clone)]
pub struct RpcNodeSettings {
    /// Network parameters.
    pub params: ChainParams,
    /// `<datadir>/<network>` (where `debug.log` lives).
    pub net_dir: PathBuf,
    /// Default age of `cleanupdata`.
    pub cleanup_target_age_days: u64,
}

/// Everything an RPC method or REST endpoint reads or calls.
pub struct RpcContext {
    /// The chain engine.
    pub chain: Arc<Mutex<ChainManager>>,
    /// The mempool.
    pub mempool: Arc<Mempool>,
    /// The P2P handle.
    pub net: Arc<crate::p2p::Net>,
    /// RPC methods and hooks registered by modules.
    pub extensions: Arc<crate::modules::extensions::Extensions>,
    /// The module manager.
    pub modules: Arc<crate::modules::manager::ModuleManager>,
    /// The ZMQ publisher when `-zmqpub*` notifiers run.
    pub zmq: Option<Arc<crate::zmq::ZmqPublisher>>,
    /// Settings RPC reads.
    pub settings: Arc<RpcNodeSettings>,
    /// Node operations.
    pub control: Arc<dyn NodeControl>,
}

/// Gives the server a context per request, or None once the node is gone (the server then
/// answers 503 instead of keeping the node's components alive).
pub type ContextSource = Arc<dyn Fn() -> Option<Arc<RpcContext>> + Send + Sync>;

impl RpcContext {
    /// The chain engine, shared.
    pub fn chain(&self) -> Arc<Mutex<ChainManager>> {
        self.chain.clone()
    }

    /// The chain engine, borrowed.
    pub fn chain_ref(&self) -> &Mutex<ChainManager> {
        &self.chain
    }

    /// The chain engine, locked: what most methods want. A poisoned lock still yields the
    /// chain, whose every mutation commits or rolls back as a whole.
    pub fn lock_chain(&self) -> std::sync::MutexGuard<'_, ChainManager> {
        crate::sync::lock(&self.chain)
    }

    /// The mempool, shared.
    pub fn mempool(&self) -> Arc<Mempool> {
        self.mempool.clone()
    }

    /// The P2P handle, shared.
    pub fn net(&self) -> Arc<crate::p2p::Net> {
        self.net.clone()
    }

    /// Module RPC methods and hooks.
    pub fn extensions(&self) -> &Arc<crate::modules::extensions::Extensions> {
        &self.extensions
    }

    /// The module manager, shared.
    pub fn modules(&self) -> Arc<crate::modules::manager::ModuleManager> {
        self.modules.clone()
    }

    /// The ZMQ publisher, when running.
    pub fn zmq(&self) -> Option<Arc<crate::zmq::ZmqPublisher>> {
        self.zmq.clone()
    }

    /// Settings RPC reads.
    pub fn settings(&self) -> &RpcNodeSettings {
        &self.settings
    }

    /// Node operations.
    pub fn control(&self) -> &dyn NodeControl {
        &*self.control
    }
}

impl std::ops::Deref for RpcContext {
    type Target = dyn NodeControl;

    /// Node operations read as the context's own (`ctx.warnings()`), as the methods did on the node.
    fn deref(&self) -> &Self::Target {
        &*self.control
    }
}

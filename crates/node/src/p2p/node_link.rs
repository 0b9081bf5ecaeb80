//! The P2P layer's narrow handle on the rest of the node: chain reads, the mempool, block
//! submission, the IBD state and the module bus and hooks. P2P never sees `Node`; the launcher builds
//! this handle and gives P2P a [`BlockSink`] that runs the node's block submission.

use crate::chain::ibd::IbdStatus;
use crate::chain::{BlockOutcome, ChainManager, SharedChain};
use crate::mempool::Mempool;
use crate::modules::bus::EventBus;
use crate::modules::extensions::Extensions;
use crate::params::ChainParams;
use crate::validation::prepared::PreparedBlock;
use bitcoin::Block;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future of a block submission's outcome.
pub type SubmitFuture<'a> = Pin<Box<dyn Future<Output = Result<BlockOutcome, String>> + Send + 'a>>;

/// Where blocks received from peers go: validation, connection and the chain events that
/// follow (the node's block submission). An error means the node could not process blocks.
pub trait BlockSink: Send + Sync {
    /// Validates and connects `block`, publishing what changed.
    fn submit_block(&self, block: Block) -> SubmitFuture<'_>;
    /// [`Self::submit_block`] for a block whose context-free work was done ahead: the same
    /// outcome and events.
    fn submit_prepared(&self, block: PreparedBlock) -> SubmitFuture<'_>;
}

/// What P2P reads and calls outside itself.
pub struct NodeLink {
    /// The chain engine; P2P reaches it only through [`SharedChain::read`] and
    /// [`SharedChain::write`], which never wait for the lock on a runtime worker.
    pub chain: SharedChain,
    /// The mempool.
    pub mempool: Arc<Mempool>,
    /// Network parameters.
    pub params: ChainParams,
    /// `<datadir>/<network>`, where `peers.json` and `anchors.dat` live.
    pub net_dir: PathBuf,
    /// Initial block download, shared with the node and RPC.
    pub ibd: Arc<IbdStatus>,
    /// The module event bus (PeerConnected, PeerDisconnected).
    pub bus: Arc<EventBus>,
    /// Module hooks (`peer_connected`).
    pub extensions: Arc<Extensions>,
    /// Block submission.
    pub blocks: Arc<dyn BlockSink>,
}

impl NodeLink {
    /// The mempool.
    pub fn mempool(&self) -> Arc<Mempool> {
        self.mempool.clone()
    }

    /// Core's IsInitialBlockDownload.
    pub fn is_initial_block_download(&self, c: &ChainManager) -> bool {
        self.ibd.is_initial_block_download(c)
    }

    /// Module hooks.
    pub fn extensions(&self) -> &Arc<Extensions> {
        &self.extensions
    }

    /// Validates and connects a block from a peer.
    pub async fn submit_block(&self, block: Block) -> Result<BlockOutcome, String> {
        self.blocks.submit_block(block).await
    }

    /// Validates and connects a block from a peer that was prepared on its reader task.
    pub async fn submit_prepared(&self, block: PreparedBlock) -> Result<BlockOutcome, String> {
        self.blocks.submit_prepared(block).await
    }
}

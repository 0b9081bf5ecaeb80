//! Block submission for P2P: the node's [`Node::submit_block`] behind P2P's
//! [`BlockSink`], holding the node weakly so P2P never keeps a stopped node alive.

use crate::node::Node;
use crate::p2p::node_link::{BlockSink, SubmitFuture};
use crate::validation::prepared::PreparedBlock;
use bitcoin::Block;
use std::sync::{Arc, Weak};

/// The node as P2P's block sink.
pub(super) struct NodeBlocks(Weak<Node>);

impl NodeBlocks {
    /// A sink submitting to `node` while it lives.
    pub(super) fn new(node: &Arc<Node>) -> Self {
        NodeBlocks(Arc::downgrade(node))
    }
}

impl BlockSink for NodeBlocks {
    fn submit_block(&self, block: Block) -> SubmitFuture<'_> {
        Box::pin(async move {
            let node = self.0.upgrade().ok_or_else(|| "node shutting down".to_string())?;
            node.submit_block(block).await.map_err(|e| e.to_string())
        })
    }

    fn submit_prepared(&self, block: PreparedBlock) -> SubmitFuture<'_> {
        Box::pin(async move {
            let node = self.0.upgrade().ok_or_else(|| "node shutting down".to_string())?;
            node.submit_prepared(block).await.map_err(|e| e.to_string())
        })
    }
}

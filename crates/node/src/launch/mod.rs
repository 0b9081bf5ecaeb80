//! The launcher: opens the node core, then starts the services around it (RPC, metrics, P2P),
//! each with a narrow handle on the node, and hands their tasks to the node for shutdown. It is
//! the one module that knows every component (RPC and REST through `rpc_ops`); nothing below
//! it imports it. [`settings`] builds
//! each component's settings from the configuration.

mod blocks;
pub mod rpc_ops;
pub mod settings;

use crate::metrics::MetricsSource;
use crate::node::{Node, NodeError, NodeSettings};
use crate::p2p::node_link::NodeLink;
use std::sync::Arc;

/// Starts a node and its services in Core's order; the node is ready when this returns.
pub async fn start(settings: NodeSettings) -> Result<Arc<Node>, NodeError> {
    let node = Node::open(settings).await?;
    if let Some(rpc) = node.settings().rpc.clone() {
        let (addrs, handle) = rpc_ops::start_rpc(&node, rpc, node.stop_signal())
            .await
            .map_err(|e| NodeError::Rpc(e.to_string()))?;
        tracing::info!(target: "blvm::rpc", addrs = ?addrs, "RPC server listening");
        node.set_rpc_addrs(addrs);
        node.adopt("rpc_server", handle);
    }
    if let Some(addr) = node.settings().metrics_bind {
        let (bound, handle) = crate::metrics::server::start(&Arc::new(metrics_source(&node)), addr, node.stop_signal())
            .await
            .map_err(|e| NodeError::Metrics(format!("{addr}: {e}")))?;
        tracing::info!(target: "blvm::metrics", addr = %bound, "metrics endpoint listening on http://{bound}/metrics");
        node.set_metrics_addr(bound);
        node.adopt("metrics", handle);
    }
    if node.settings().p2p.is_some() {
        let handle = crate::p2p::start(Arc::new(node_link(&node)), node.net(), node.stop_signal())
            .await
            .map_err(NodeError::P2p)?;
        node.adopt("p2p", handle);
    }
    node.finish_startup().await;
    Ok(node)
}

/// What the metrics endpoint reads.
fn metrics_source(node: &Arc<Node>) -> MetricsSource {
    MetricsSource {
        chain: node.chain(),
        api: node.module_api(),
        registry: node.metrics_registry(),
        started: node.started_at(),
        bus: node.bus(),
        modules: node.modules(),
    }
}

/// What P2P reads and calls: the chain, the mempool, block submission, IBD, bus and hooks.
fn node_link(node: &Arc<Node>) -> NodeLink {
    NodeLink {
        chain: crate::chain::SharedChain::new(node.chain()),
        mempool: node.mempool(),
        params: node.settings().params.clone(),
        net_dir: node.settings().net_dir.clone(),
        ibd: node.ibd(),
        bus: node.bus(),
        extensions: node.extensions().clone(),
        blocks: Arc::new(blocks::NodeBlocks::new(node)),
    }
}

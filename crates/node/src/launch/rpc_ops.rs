//! The node behind RPC and REST's narrow handle: [`NodeControl`] for [`Node`], the per-request
//! [`RpcContext`], and the server start that hands it the REST interface.

use crate::chain::{BlockOutcome, FlushReason, FlushReport};
use crate::node::runtime::ceil_ms;
use crate::node::{Node, NodeError, ShutdownReason};
use crate::rpc::active::ActiveCommands;
use crate::rpc::context::{
    ContextSource, ControlError, ControlFuture, Maintenance, MaintenanceDone, NodeControl, RpcContext, RpcNodeSettings,
};
use crate::rpc::server::RpcSettings;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

fn control_error(e: NodeError) -> ControlError {
    ControlError(e.to_string())
}

impl NodeControl for Node {
    fn request_stop(&self) {
        self.request_shutdown(ShutdownReason::Rpc);
    }

    fn is_shutting_down(&self) -> bool {
        Node::is_shutting_down(self)
    }

    fn uptime(&self) -> Duration {
        Node::uptime(self)
    }

    fn warnings(&self) -> Vec<String> {
        Node::warnings(self)
    }

    fn is_initial_block_download(&self, c: &crate::chain::ChainManager) -> bool {
        Node::is_initial_block_download(self, c)
    }

    fn tip_watch(&self) -> watch::Receiver<u64> {
        Node::tip_watch(self)
    }

    fn rpc_active(&self) -> &ActiveCommands {
        Node::rpc_active(self)
    }

    fn metrics(&self) -> &crate::metrics::Registry {
        Node::metrics(self)
    }

    fn submit_block(&self, block: bitcoin::Block) -> ControlFuture<'_, Result<BlockOutcome, ControlError>> {
        Box::pin(async move { Node::submit_block(self, block).await.map_err(control_error) })
    }

    fn precious_block(&self, hash: bitcoin::BlockHash) -> ControlFuture<'_, Result<bool, ControlError>> {
        Box::pin(async move { Node::precious_block(self, hash).await.map_err(control_error) })
    }

    fn invalidate_block(&self, hash: bitcoin::BlockHash) -> ControlFuture<'_, Result<bool, ControlError>> {
        Box::pin(async move { Node::invalidate_block(self, hash).await.map_err(control_error) })
    }

    fn reconsider_block(&self, hash: bitcoin::BlockHash) -> ControlFuture<'_, Result<bool, ControlError>> {
        Box::pin(async move { Node::reconsider_block(self, hash).await.map_err(control_error) })
    }

    fn flush_chainstate(&self) -> ControlFuture<'_, Result<FlushReport, ControlError>> {
        Box::pin(async move { Node::flush_chainstate(self, FlushReason::Manual).await.map_err(control_error) })
    }

    fn manual_health(&self, wait: Duration) -> ControlFuture<'_, serde_json::Value> {
        Box::pin(async move { Node::manual_health(self, wait).await.report })
    }

    fn cleanup_data(&self, cleanup_type: &'static str, target_age_days: Option<u64>) -> ControlFuture<'_, usize> {
        Box::pin(async move { Node::cleanup_data(self, cleanup_type, target_age_days).await })
    }

    fn run_maintenance(&self, op: Maintenance) -> ControlFuture<'_, Result<MaintenanceDone, ControlError>> {
        Box::pin(async move {
            let out = Node::run_maintenance(self, op).await.map_err(control_error)?;
            Ok(MaintenanceDone {
                success: out.success,
                duration_ms: ceil_ms(out.duration),
                results: out.results,
            })
        })
    }

    fn process_rss(&self) -> Option<u64> {
        crate::node::monitors::process_rss()
    }

    fn dir_size(&self, dir: &std::path::Path) -> u64 {
        crate::node::monitors::dir_size(dir)
    }
}

/// The settings RPC reads, taken from the node's.
fn rpc_settings(node: &Node) -> Arc<RpcNodeSettings> {
    let s = node.settings();
    Arc::new(RpcNodeSettings {
        params: s.params.clone(),
        net_dir: s.net_dir.clone(),
        cleanup_target_age_days: s.lifecycle.cleanup_target_age_days,
    })
}

fn context_with(node: &Arc<Node>, settings: Arc<RpcNodeSettings>) -> Arc<RpcContext> {
    Arc::new(RpcContext {
        chain: node.chain(),
        mempool: node.mempool(),
        net: node.net(),
        extensions: node.extensions().clone(),
        modules: node.modules(),
        zmq: node.zmq(),
        settings,
        control: node.clone(),
    })
}

/// The RPC handle of `node` (for in-process callers of `rpc::methods::dispatch`: tests, benches).
pub fn context(node: &Arc<Node>) -> Arc<RpcContext> {
    context_with(node, rpc_settings(node))
}

/// A context per request while the node lives; holds the node weakly so an open RPC connection
/// never keeps a stopped node's components (and its database) alive.
pub fn source(node: &Arc<Node>) -> ContextSource {
    let weak = Arc::downgrade(node);
    let settings = rpc_settings(node);
    Arc::new(move || weak.upgrade().map(|n| context_with(&n, settings.clone())))
}

/// Starts the RPC server (with the REST interface) for `node`.
pub async fn start_rpc(
    node: &Arc<Node>,
    settings: RpcSettings,
    stop: watch::Receiver<bool>,
) -> std::io::Result<(Vec<SocketAddr>, tokio::task::JoinHandle<()>)> {
    crate::rpc::server::start(source(node), crate::rest::handle, settings, stop).await
}

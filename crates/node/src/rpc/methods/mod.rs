//! RPC methods: the handlers by concern, the one method table (`table.rs`) and dispatch.

mod addconnection;
mod blockchain;
mod blockstats;
mod chainctl;
mod control;
mod descriptor;
mod descriptor_activity;
mod descriptor_util;
mod mempool;
mod mempool_pkg;
mod message;
mod mining;
mod module_rpc;
mod netctl;
mod network;
mod node_ops;
mod openrpc;
mod orphans;
mod psbt;
mod rawtransaction;
mod scan;
mod scanblocks;
mod signing;
mod table;
mod txoutproof;
mod txoutsetinfo;
mod usage;
mod utxo_snapshot;
mod wait;
mod zmq;

use super::error::{code, RpcError};
use super::params::Params;
use super::request_json::RepeatedKey;
use crate::rpc::context::RpcContext;
use serde_json::Value;
use std::sync::Arc;

pub use blockchain::header_json;
pub use table::{find, Arg, ArgType, Handler, Method, METHODS};

/// Whether `name` is a built-in method (module methods are not).
pub fn is_builtin(name: &str) -> bool {
    find(name).is_some()
}

/// Runs `method` with raw JSON `params`.
pub async fn dispatch(node: &Arc<RpcContext>, method: &str, params: Option<&Value>) -> Result<Value, RpcError> {
    dispatch_request(node, method, params, &[]).await
}

/// Runs `method` with raw JSON `params` whose body repeated the keys `repeated` (pointers
/// relative to `params`), as the RPC server reads a request.
pub async fn dispatch_request(
    node: &Arc<RpcContext>,
    method: &str,
    params: Option<&Value>,
    repeated: &[RepeatedKey],
) -> Result<Value, RpcError> {
    let Some(m) = find(method) else {
        if let Some(m) = node.extensions().method(method) {
            let _running = node.rpc_active().begin(method);
            return module_rpc::call(&m, node, params).await;
        }
        return Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found"));
    };
    let gathered = m.gather_named_options(params)?;
    let p = Params::from_request(gathered.as_ref().or(params), &m.names(), repeated)?;
    usage::check_count(m, p.len())?;
    let _running = node.rpc_active().begin(method);
    match m.handler {
        Handler::Inline(f) => f(node, &p),
        Handler::Async(f) => f(node, &p).await,
        Handler::Blocking(f) => {
            let node = node.clone();
            tokio::task::spawn_blocking(move || f(&node, &p))
                .await
                .map_err(|e| RpcError::new(code::INTERNAL_ERROR, e.to_string()))?
        }
    }
}

/// Runs one of the methods that back REST endpoints (getblock, getblockchaininfo,
/// getdeploymentinfo, getmempoolinfo, getrawmempool) on the calling (blocking) thread, so both
/// interfaces answer from the same code.
pub fn call_blocking(node: &Arc<RpcContext>, method: &str, params: &Value) -> Result<Value, RpcError> {
    let Some(m) = find(method) else {
        return Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found"));
    };
    let gathered = m.gather_named_options(Some(params))?;
    let p = Params::from_request(Some(gathered.as_ref().unwrap_or(params)), &m.names(), &[])?;
    match m.handler {
        Handler::Inline(f) | Handler::Blocking(f) => f(node, &p),
        Handler::Async(_) => Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found")),
    }
}

//! `addconnection` (regtest only, for tests): one outbound connection of a chosen type.

use super::super::error::{code, RpcError};
use super::super::params::Params;
use super::network::net;
use crate::p2p::{Command, ConnType};
use crate::rpc::context::RpcContext;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Core's RPC_CLIENT_NODE_CAPACITY_REACHED.
const NODE_CAPACITY_REACHED: i64 = -34;

/// `addconnection "address" "connection_type" ( v2transport )`.
pub async fn addconnection(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    if node.settings().params.network != bitcoin::Network::Regtest {
        return Err(RpcError::new(
            code::MISC_ERROR,
            "addconnection is for regression testing (-regtest mode) only.",
        ));
    }
    let address = p.str(0)?.to_string();
    let type_name = p.str(1)?.to_string();
    let conn_type = match ConnType::from_name(&type_name) {
        Some(t @ (ConnType::OutboundFullRelay | ConnType::BlockRelayOnly | ConnType::AddrFetch | ConnType::Feeler)) => t,
        _ => return Err(RpcError::param(format!("Error: Invalid connection_type \"{type_name}\""))),
    };
    let n = net(node)?;
    let v2 = p.get(2).and_then(Value::as_bool) == Some(true);
    if v2 && !n.settings().is_some_and(|s| s.v2transport) {
        return Err(RpcError::param(
            "Error: Adding v2transport connections requires -v2transport init flag to be set.",
        ));
    }
    let (tx, rx) = oneshot::channel();
    n.command(Command::AddConnection {
        addr: address.clone(),
        conn_type,
        v2,
        reply: tx,
    })
    .await
    .map_err(|e| RpcError::new(code::MISC_ERROR, e))?;
    match rx.await {
        Ok(true) => Ok(json!({"address": address, "connection_type": type_name})),
        Ok(false) => Err(RpcError::new(
            NODE_CAPACITY_REACHED,
            "Error: Already at capacity for specified connection type.",
        )),
        Err(_) => Err(RpcError::new(code::MISC_ERROR, "P2P networking is shutting down")),
    }
}

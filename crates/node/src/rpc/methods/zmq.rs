//! `getzmqnotifications`.

use super::super::error::RpcError;
use super::super::params::Params;
use crate::rpc::context::RpcContext;
use serde_json::{json, Value};
use std::sync::Arc;

/// Core's answer: `[{type: "pubhashblock", address, hwm}, ...]`, empty when ZMQ is off.
pub fn getzmqnotifications(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    let list: Vec<Value> = node
        .zmq()
        .map(|z| z.notifiers())
        .unwrap_or_default()
        .into_iter()
        .map(|n| json!({"type": n.topic.rpc_type(), "address": n.address, "hwm": n.hwm}))
        .collect();
    Ok(Value::Array(list))
}

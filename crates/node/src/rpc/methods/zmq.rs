//! `getzmqnotifications`.

use crate::rpc::context::RpcContext;
use serde_json::{json, Value};

/// Core's answer: `[{type: "pubhashblock", address, hwm}, ...]`, empty when ZMQ is off.
pub fn getzmqnotifications(node: &RpcContext) -> Value {
    let list: Vec<Value> = node
        .zmq()
        .map(|z| z.notifiers())
        .unwrap_or_default()
        .into_iter()
        .map(|n| json!({"type": n.topic.rpc_type(), "address": n.address, "hwm": n.hwm}))
        .collect();
    Value::Array(list)
}

//! `getopenrpcinfo` and `rpc.discover`: an OpenRPC document of the methods this node serves,
//! generated from the same method table that `help` and argument checking use, so client
//! generators and discovery tools see exactly what the node answers.

use super::super::error::RpcError;
use super::super::params::Params;
use super::table::{ArgType, METHODS};
use super::usage::summary;
use crate::rpc::context::RpcContext;
use serde_json::{json, Value};
use std::sync::Arc;

/// The OpenRPC specification version Core's document declares.
const OPENRPC_VERSION: &str = "1.4.1";

/// `getopenrpcinfo ( show_hidden )`: hidden (testing) methods only when asked, as Core.
pub fn getopenrpcinfo(_node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    Ok(document(p.opt_bool(0)?.unwrap_or(false)))
}

/// The JSON Schema of an argument of Core's type `ty`.
fn schema(ty: ArgType) -> Value {
    match ty {
        ArgType::Str | ArgType::Hex => json!({"type": "string"}),
        ArgType::Num | ArgType::Amount => json!({"type": "number"}),
        ArgType::Range => json!({"type": ["number", "array"]}),
        ArgType::Bool => json!({"type": "boolean"}),
        ArgType::Obj | ArgType::ObjNamed(_) | ArgType::ObjUserKeys => json!({"type": "object"}),
        ArgType::Arr => json!({"type": "array"}),
    }
}

/// `rpc.discover`: OpenRPC's standard discovery method, the public document.
pub fn discover(_node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    Ok(document(false))
}

/// The document: `info`, then one entry per method with its parameters in positional order.
/// Parameter schemas give each argument's JSON type; result schemas are left open (`{}`).
fn document(show_hidden: bool) -> Value {
    let methods: Vec<Value> = METHODS
        .iter()
        .filter(|m| show_hidden || m.category != "Hidden")
        .map(|method| {
            let n = method.required();
            let params: Vec<Value> = method
                .args
                .iter()
                .enumerate()
                .map(|(i, a)| json!({"name": a.name(), "required": i < n, "schema": schema(a.ty)}))
                .collect();
            let name = method.name;
            let mut m = json!({
                "name": name,
                "tags": [{"name": method.category}],
                "params": params,
                "result": {"name": "result", "schema": {}},
            });
            if let Some(text) = summary(name) {
                m["description"] = json!(text);
            }
            m
        })
        .collect();
    json!({
        "openrpc": OPENRPC_VERSION,
        "info": {
            "title": "blvm-node JSON-RPC",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The JSON-RPC interface of blvm-node, with Bitcoin Core's method names and arguments.",
        },
        "methods": methods,
    })
}

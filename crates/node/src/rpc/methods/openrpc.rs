//! `getopenrpcinfo` and `rpc.discover`: an OpenRPC document of the methods this node serves,
//! generated from the same method table that `help` and argument checking use, so client
//! generators and discovery tools see exactly what the node answers.

use super::super::error::RpcError;
use super::super::params::Params;
use super::usage::{required, summary};
use super::METHODS;
use serde_json::{json, Value};

/// The OpenRPC specification version Core's document declares.
const OPENRPC_VERSION: &str = "1.4.1";

/// `getopenrpcinfo ( show_hidden )`: hidden (testing) methods only when asked, as Core.
pub fn getopenrpcinfo(p: &Params) -> Result<Value, RpcError> {
    Ok(document(p.opt_bool(0)?.unwrap_or(false)))
}

/// `rpc.discover`: OpenRPC's standard discovery method, the public document.
pub fn discover() -> Value {
    document(false)
}

/// The document: `info`, then one entry per method with its parameters in positional order.
/// Parameter and result schemas are left open (`{}`): the table holds names and whether an
/// argument is required, not its type.
fn document(show_hidden: bool) -> Value {
    let methods: Vec<Value> = METHODS
        .iter()
        .filter(|(_, category, _)| show_hidden || *category != "Hidden")
        .map(|(name, category, args)| {
            let n = required(name);
            let params: Vec<Value> = args
                .iter()
                .enumerate()
                .map(|(i, a)| json!({"name": a.split('|').next().unwrap_or(a), "required": i < n, "schema": {}}))
                .collect();
            let mut m = json!({
                "name": name,
                "tags": [{"name": category}],
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

//! RPC method table (names and Core's argument names) and dispatch.

mod blockchain;
mod control;
mod node_ops;

use super::error::{code, RpcError};
use super::params::Params;
use crate::node::Node;
use serde_json::Value;
use std::sync::Arc;

/// Every method: name, category, Core's argument names.
pub const METHODS: &[(&str, &str, &[&str])] = &[
    ("getbestblockhash", "Blockchain", &[]),
    ("getblock", "Blockchain", &["blockhash", "verbosity"]),
    ("getblockchaininfo", "Blockchain", &[]),
    ("getblockcount", "Blockchain", &[]),
    ("getblockhash", "Blockchain", &["height"]),
    ("getblockheader", "Blockchain", &["blockhash", "verbose"]),
    ("getchaintips", "Blockchain", &[]),
    ("getdifficulty", "Blockchain", &[]),
    ("gettxout", "Blockchain", &["txid", "n", "include_mempool"]),
    ("gettxoutsetinfo", "Blockchain", &["hash_type", "hash_or_height", "use_index"]),
    ("pruneblockchain", "Blockchain", &["height"]),
    ("verifychain", "Blockchain", &["checklevel", "nblocks"]),
    ("submitblock", "Mining", &["hexdata", "dummy"]),
    ("help", "Control", &["command"]),
    ("stop", "Control", &["wait"]),
    ("uptime", "Control", &[]),
    ("getmemoryinfo", "Control", &["mode"]),
    ("listmodules", "Modules", &[]),
    ("loadmodule", "Modules", &["name"]),
    ("unloadmodule", "Modules", &["name"]),
    ("reloadmodule", "Modules", &["name"]),
    ("flushchainstate", "Maintenance", &[]),
    ("gethealth", "Maintenance", &[]),
    ("runmaintenance", "Maintenance", &["type", "arg"]),
    ("cleanupdata", "Maintenance", &["target_age_days"]),
];

/// Runs `method` with raw JSON `params`.
pub async fn dispatch(node: &Arc<Node>, method: &str, params: Option<&Value>) -> Result<Value, RpcError> {
    let Some((_, _, names)) = METHODS.iter().find(|m| m.0 == method) else {
        return Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found"));
    };
    let p = Params::from_request(params, names)?;
    match method {
        "help" => control::help(&p),
        "stop" => control::stop(node),
        "uptime" => Ok(control::uptime(node)),
        "getmemoryinfo" => Ok(control::memory_info()),
        "listmodules" | "loadmodule" | "unloadmodule" | "reloadmodule" => node_ops::modules(node, method, &p).await,
        "flushchainstate" | "gethealth" | "runmaintenance" | "cleanupdata" | "pruneblockchain" => node_ops::maintenance(node, method, &p).await,
        "submitblock" => blockchain::submitblock(node, &p).await,
        _ => {
            let node = node.clone();
            let method = method.to_string();
            tokio::task::spawn_blocking(move || blockchain::read_only(&node, &method, &p))
                .await
                .map_err(|e| RpcError::new(code::INTERNAL_ERROR, e.to_string()))?
        }
    }
}

//! RPC method table (names and Core's argument names) and dispatch.

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
mod txoutproof;
mod usage;
mod wait;
mod zmq;

use super::error::{code, RpcError};
use super::params::Params;
use super::request_json::RepeatedKey;
use crate::rpc::context::RpcContext;
use serde_json::Value;
use std::sync::Arc;

pub use blockchain::header_json;

/// Every method: name, category, Core's argument names.
pub const METHODS: &[(&str, &str, &[&str])] = &[
    ("getbestblockhash", "Blockchain", &[]),
    ("getblock", "Blockchain", &["blockhash", "verbosity|verbose"]),
    ("getblockchaininfo", "Blockchain", &[]),
    ("getblockcount", "Blockchain", &[]),
    ("getblockfilter", "Blockchain", &["blockhash", "filtertype"]),
    ("getblockfrompeer", "Blockchain", &["blockhash", "peer_id"]),
    ("getblockhash", "Blockchain", &["height"]),
    ("getblockheader", "Blockchain", &["blockhash", "verbose"]),
    ("getblockstats", "Blockchain", &["hash_or_height", "stats"]),
    ("getchaintips", "Blockchain", &[]),
    ("getchaintxstats", "Blockchain", &["nblocks", "blockhash"]),
    ("getdeploymentinfo", "Blockchain", &["blockhash"]),
    ("getdifficulty", "Blockchain", &[]),
    ("gettxout", "Blockchain", &["txid", "n", "include_mempool"]),
    ("getmempoolancestors", "Blockchain", &["txid", "verbose"]),
    ("getmempooldescendants", "Blockchain", &["txid", "verbose"]),
    ("getmempoolentry", "Blockchain", &["txid"]),
    ("getmempoolinfo", "Blockchain", &[]),
    ("getrawmempool", "Blockchain", &["verbose", "mempool_sequence"]),
    ("gettxoutproof", "Blockchain", &["txids", "blockhash"]),
    ("gettxspendingprevout", "Blockchain", &["outputs"]),
    ("verifytxoutproof", "Blockchain", &["proof"]),
    ("gettxoutsetinfo", "Blockchain", &["hash_type", "hash_or_height", "use_index"]),
    ("scantxoutset", "Blockchain", &["action", "scanobjects"]),
    (
        "getdescriptoractivity",
        "Blockchain",
        &["blockhashes", "scanobjects", "include_mempool"],
    ),
    (
        "scanblocks",
        "Blockchain",
        &["action", "scanobjects", "start_height", "stop_height", "filtertype", "options"],
    ),
    ("preciousblock", "Blockchain", &["blockhash"]),
    ("invalidateblock", "Blockchain", &["blockhash"]),
    ("reconsiderblock", "Blockchain", &["blockhash"]),
    ("pruneblockchain", "Blockchain", &["height"]),
    ("savemempool", "Blockchain", &[]),
    // Prioritisation, packages and mempool import (mempool_pkg.rs).
    ("prioritisetransaction", "Mining", &["txid", "dummy", "fee_delta"]),
    ("getprioritisedtransactions", "Mining", &[]),
    ("submitpackage", "Rawtransactions", &["package", "maxfeerate", "maxburnamount"]),
    ("importmempool", "Blockchain", &["filepath", "options"]),
    ("getmempoolcluster", "Blockchain", &["txid"]),
    ("verifychain", "Blockchain", &["checklevel", "nblocks"]),
    ("waitforblock", "Blockchain", &["blockhash", "timeout"]),
    ("waitforblockheight", "Blockchain", &["height", "timeout"]),
    ("waitfornewblock", "Blockchain", &["timeout", "current_tip"]),
    ("getblocktemplate", "Mining", &["template_request"]),
    ("getmininginfo", "Mining", &[]),
    ("getnetworkhashps", "Mining", &["nblocks", "height"]),
    ("submitblock", "Mining", &["hexdata", "dummy"]),
    ("submitheader", "Mining", &["hexdata"]),
    ("generateblock", "Generating", &["output", "transactions", "submit"]),
    ("generatetoaddress", "Generating", &["nblocks", "address", "maxtries"]),
    ("generatetodescriptor", "Generating", &["num_blocks", "descriptor", "maxtries"]),
    (
        "createrawtransaction",
        "Rawtransactions",
        &["inputs", "outputs", "locktime", "replaceable", "version"],
    ),
    ("decoderawtransaction", "Rawtransactions", &["hexstring", "iswitness"]),
    ("decodescript", "Rawtransactions", &["hexstring"]),
    ("getrawtransaction", "Rawtransactions", &["txid", "verbosity|verbose", "blockhash"]),
    (
        "sendrawtransaction",
        "Rawtransactions",
        &["hexstring", "maxfeerate", "maxburnamount"],
    ),
    ("testmempoolaccept", "Rawtransactions", &["rawtxs", "maxfeerate"]),
    (
        "signrawtransactionwithkey",
        "Rawtransactions",
        &["hexstring", "privkeys", "prevtxs", "sighashtype"],
    ),
    ("combinerawtransaction", "Rawtransactions", &["txs"]),
    ("estimatesmartfee", "Util", &["conf_target", "estimate_mode"]),
    ("getindexinfo", "Util", &["index_name"]),
    ("validateaddress", "Util", &["address"]),
    ("createmultisig", "Util", &["nrequired", "keys", "address_type"]),
    ("getdescriptorinfo", "Util", &["descriptor"]),
    ("deriveaddresses", "Util", &["descriptor", "range"]),
    ("addnode", "Network", &["node", "command", "v2transport"]),
    // Test-only methods Core leaves out of `help` (category "Hidden").
    ("addconnection", "Hidden", &["address", "connection_type", "v2transport"]),
    ("getorphantxs", "Hidden", &["verbosity"]),
    ("addpeeraddress", "Hidden", &["address", "port", "tried"]),
    ("clearbanned", "Network", &[]),
    ("disconnectnode", "Network", &["address", "nodeid"]),
    ("getaddednodeinfo", "Network", &["node"]),
    ("getconnectioncount", "Network", &[]),
    ("getnettotals", "Network", &[]),
    ("getnetworkinfo", "Network", &[]),
    ("getnodeaddresses", "Network", &["count", "network"]),
    ("getpeerinfo", "Network", &[]),
    ("listbanned", "Network", &[]),
    ("ping", "Network", &[]),
    ("setban", "Network", &["subnet", "command", "bantime", "absolute"]),
    ("setnetworkactive", "Network", &["state"]),
    ("help", "Control", &["command"]),
    ("getopenrpcinfo", "Control", &["show_hidden"]),
    ("rpc.discover", "Control", &[]),
    ("stop", "Control", &["wait"]),
    ("uptime", "Control", &[]),
    ("getmemoryinfo", "Control", &["mode"]),
    ("getrpcinfo", "Control", &[]),
    ("setmocktime", "Control", &["timestamp"]),
    ("logging", "Control", &["include", "exclude"]),
    ("syncwithvalidationinterfacequeue", "Control", &[]),
    (
        "echo",
        "Control",
        &["arg0", "arg1", "arg2", "arg3", "arg4", "arg5", "arg6", "arg7", "arg8", "arg9"],
    ),
    (
        "echojson",
        "Control",
        &["arg0", "arg1", "arg2", "arg3", "arg4", "arg5", "arg6", "arg7", "arg8", "arg9"],
    ),
    ("listmodules", "Modules", &[]),
    ("loadmodule", "Modules", &["name"]),
    ("unloadmodule", "Modules", &["name"]),
    ("reloadmodule", "Modules", &["name"]),
    ("flushchainstate", "Maintenance", &[]),
    ("gethealth", "Maintenance", &[]),
    ("runmaintenance", "Maintenance", &["type", "arg"]),
    ("cleanupdata", "Maintenance", &["target_age_days"]),
    ("getzmqnotifications", "Zmq", &[]),
    // PSBT and message signing (rpc/methods/psbt.rs, message.rs).
    (
        "createpsbt",
        "Rawtransactions",
        &["inputs", "outputs", "locktime", "replaceable", "version", "psbt_version"],
    ),
    ("decodepsbt", "Rawtransactions", &["psbt"]),
    ("analyzepsbt", "Rawtransactions", &["psbt"]),
    ("combinepsbt", "Rawtransactions", &["txs"]),
    (
        "converttopsbt",
        "Rawtransactions",
        &["hexstring", "permitsigdata", "iswitness", "psbt_version"],
    ),
    ("joinpsbts", "Rawtransactions", &["txs"]),
    ("utxoupdatepsbt", "Rawtransactions", &["psbt", "descriptors"]),
    (
        "descriptorprocesspsbt",
        "Rawtransactions",
        &["psbt", "descriptors", "sighashtype", "bip32derivs", "finalize"],
    ),
    ("finalizepsbt", "Rawtransactions", &["psbt", "extract"]),
    ("signmessagewithprivkey", "Util", &["privkey", "message"]),
    ("verifymessage", "Util", &["address", "signature", "message"]),
    ("getaddrmaninfo", "Network", &[]),
];

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
    let Some((_, _, names)) = METHODS.iter().find(|m| m.0 == method) else {
        if let Some(m) = node.extensions().method(method) {
            let _running = node.rpc_active().begin(method);
            return module_rpc::call(&m, node, params).await;
        }
        return Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found"));
    };
    let p = Params::from_request(params, names, repeated)?;
    usage::check_count(method, p.len())?;
    let _running = node.rpc_active().begin(method);
    match method {
        "getrpcinfo" => Ok(control::rpcinfo(node)),
        "help" => module_rpc::help(node, &p),
        "getopenrpcinfo" => openrpc::getopenrpcinfo(&p),
        "rpc.discover" => Ok(openrpc::discover()),
        "stop" => control::stop(node),
        "uptime" => Ok(control::uptime(node)),
        "getzmqnotifications" => Ok(zmq::getzmqnotifications(node)),
        "getmemoryinfo" => Ok(control::memory_info(node)),
        "setmocktime" => control::setmocktime(node, &p).await,
        "logging" => control::logging(&p),
        // Chain and mempool notifications are delivered before the call that caused them returns.
        "syncwithvalidationinterfacequeue" => Ok(Value::Null),
        "echo" | "echojson" => control::echo(&p),
        "listmodules" | "loadmodule" | "unloadmodule" | "reloadmodule" => node_ops::modules(node, method, &p).await,
        "flushchainstate" | "gethealth" | "runmaintenance" | "cleanupdata" | "pruneblockchain" => {
            node_ops::maintenance(node, method, &p).await
        }
        "submitblock" => blockchain::submitblock(node, &p).await,
        "scantxoutset" | "scanblocks" | "getdescriptoractivity" => {
            let node = node.clone();
            let scan = match method {
                "scanblocks" => scanblocks::scanblocks,
                "getdescriptoractivity" => descriptor_activity::getdescriptoractivity,
                _ => scan::scantxoutset,
            };
            tokio::task::spawn_blocking(move || scan(&node, &p))
                .await
                .map_err(|e| RpcError::new(code::INTERNAL_ERROR, e.to_string()))?
        }
        "waitfornewblock" | "waitforblock" | "waitforblockheight" => wait::call(node, method, &p).await,
        "setnetworkactive" | "getaddednodeinfo" | "getnodeaddresses" | "getaddrmaninfo" | "addpeeraddress" | "getblockfrompeer" => {
            netctl::call(node, method, &p).await
        }
        "preciousblock" => chainctl::preciousblock(node, &p).await,
        "invalidateblock" | "reconsiderblock" => chainctl::invalidate_or_reconsider(node, method, &p).await,
        "getblockstats" | "getdeploymentinfo" | "submitheader" => {
            let node = node.clone();
            let method = method.to_string();
            tokio::task::spawn_blocking(move || match method.as_str() {
                "getblockstats" => blockstats::getblockstats(&node, &p),
                "getdeploymentinfo" => chainctl::getdeploymentinfo(&node, &p),
                _ => chainctl::submitheader(&node, &p),
            })
            .await
            .map_err(|e| RpcError::new(code::INTERNAL_ERROR, e.to_string()))?
        }
        "createmultisig" => descriptor_util::createmultisig(node, &p),
        "getdescriptorinfo" => descriptor_util::getdescriptorinfo(node, &p),
        "deriveaddresses" => descriptor_util::deriveaddresses(node, &p),
        "addconnection" => addconnection::addconnection(node, &p).await,
        "getorphantxs" => orphans::getorphantxs(node, &p).await,
        "addnode" | "clearbanned" | "disconnectnode" | "getconnectioncount" | "getnettotals" | "getnetworkinfo" | "getpeerinfo"
        | "listbanned" | "ping" | "setban" => network::call(node, method, &p).await,
        "generatetoaddress" | "generatetodescriptor" | "generateblock" | "getblocktemplate" | "getmininginfo" | "getnetworkhashps" => {
            mining::call(node, method, &p).await
        }
        "getmempoolinfo"
        | "getrawmempool"
        | "getmempoolentry"
        | "getmempoolancestors"
        | "getmempooldescendants"
        | "savemempool"
        | "sendrawtransaction"
        | "testmempoolaccept"
        | "validateaddress"
        | "estimatesmartfee" => {
            let relay = method == "sendrawtransaction";
            let node2 = node.clone();
            let method = method.to_string();
            let r = tokio::task::spawn_blocking(move || mempool::call(&node2, &method, &p))
                .await
                .map_err(|e| RpcError::new(code::INTERNAL_ERROR, e.to_string()))?;
            let txid = r
                .as_ref()
                .ok()
                .filter(|_| relay)
                .and_then(|v| v.as_str()?.parse::<bitcoin::Txid>().ok());
            if let Some(txid) = txid {
                // As Core: the call returns with the transaction queued for every peer.
                let (tx, rx) = tokio::sync::oneshot::channel();
                if node.net().command(crate::p2p::Command::RelayTx { txid, reply: tx }).await.is_ok() {
                    let _ = rx.await;
                }
            }
            r
        }
        "prioritisetransaction" | "getprioritisedtransactions" | "submitpackage" | "importmempool" | "getmempoolcluster" => {
            let node = node.clone();
            let method = method.to_string();
            tokio::task::spawn_blocking(move || mempool_pkg::call(&node, &method, &p))
                .await
                .map_err(|e| RpcError::new(code::INTERNAL_ERROR, e.to_string()))?
        }
        "gettxoutproof" | "verifytxoutproof" | "gettxspendingprevout" => {
            let node = node.clone();
            let method = method.to_string();
            tokio::task::spawn_blocking(move || match method.as_str() {
                "gettxoutproof" => txoutproof::gettxoutproof(&node, &p),
                "verifytxoutproof" => txoutproof::verifytxoutproof(&node, &p),
                _ => txoutproof::gettxspendingprevout(&node, &p),
            })
            .await
            .map_err(|e| RpcError::new(code::INTERNAL_ERROR, e.to_string()))?
        }
        "signrawtransactionwithkey" | "combinerawtransaction" => {
            let node = node.clone();
            let method = method.to_string();
            tokio::task::spawn_blocking(move || match method.as_str() {
                "signrawtransactionwithkey" => signing::signrawtransactionwithkey(&node, &p),
                _ => signing::combinerawtransaction(&node, &p),
            })
            .await
            .map_err(|e| RpcError::new(code::INTERNAL_ERROR, e.to_string()))?
        }
        "signmessagewithprivkey" => message::signmessagewithprivkey(node.settings().params.network.into(), &p),
        "verifymessage" => message::verifymessage(node.settings().params.network, &p),
        "createpsbt"
        | "decodepsbt"
        | "analyzepsbt"
        | "combinepsbt"
        | "converttopsbt"
        | "joinpsbts"
        | "utxoupdatepsbt"
        | "descriptorprocesspsbt"
        | "finalizepsbt" => {
            let node = node.clone();
            let method = method.to_string();
            tokio::task::spawn_blocking(move || match method.as_str() {
                "createpsbt" => psbt::createpsbt(&node, &p),
                "decodepsbt" => psbt::decodepsbt(&node, &p),
                "analyzepsbt" => psbt::analyzepsbt(&node, &p),
                "combinepsbt" => psbt::combinepsbt(&node, &p),
                "converttopsbt" => psbt::converttopsbt(&node, &p),
                "joinpsbts" => psbt::joinpsbts(&node, &p),
                "utxoupdatepsbt" => psbt::utxoupdatepsbt(&node, &p),
                "descriptorprocesspsbt" => psbt::descriptorprocesspsbt(&node, &p),
                _ => psbt::finalizepsbt(&node, &p),
            })
            .await
            .map_err(|e| RpcError::new(code::INTERNAL_ERROR, e.to_string()))?
        }
        "getrawtransaction" | "decoderawtransaction" | "decodescript" | "createrawtransaction" => {
            let node = node.clone();
            let method = method.to_string();
            tokio::task::spawn_blocking(move || match method.as_str() {
                "getrawtransaction" => rawtransaction::getrawtransaction(&node, &p),
                "decoderawtransaction" => rawtransaction::decoderawtransaction(&node, &p),
                "decodescript" => rawtransaction::decodescript(&node, &p),
                _ => rawtransaction::createrawtransaction(&node, &p),
            })
            .await
            .map_err(|e| RpcError::new(code::INTERNAL_ERROR, e.to_string()))?
        }
        _ => {
            let node = node.clone();
            let method = method.to_string();
            tokio::task::spawn_blocking(move || blockchain::read_only(&node, &method, &p))
                .await
                .map_err(|e| RpcError::new(code::INTERNAL_ERROR, e.to_string()))?
        }
    }
}

/// Runs one of the read-only methods that back REST endpoints (getblock, getblockchaininfo,
/// getdeploymentinfo, getmempoolinfo, getrawmempool) on the calling (blocking) thread, so both
/// interfaces answer from the same code.
pub fn call_blocking(node: &Arc<RpcContext>, method: &str, params: &Value) -> Result<Value, RpcError> {
    let Some((_, _, names)) = METHODS.iter().find(|m| m.0 == method) else {
        return Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found"));
    };
    let p = Params::from_request(Some(params), names, &[])?;
    match method {
        "getblock" | "getblockchaininfo" => blockchain::read_only(node, method, &p),
        "getdeploymentinfo" => chainctl::getdeploymentinfo(node, &p),
        "getmempoolinfo" | "getrawmempool" => mempool::call(node, method, &p),
        _ => Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found")),
    }
}

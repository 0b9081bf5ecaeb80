//! Network control and address methods: setnetworkactive, getaddednodeinfo, getnodeaddresses,
//! getaddrmaninfo, addpeeraddress, and getblockfrompeer.

use super::super::error::{code, RpcError};
use super::super::params::{type_error, Params};
use super::network::{ask, net};
use crate::p2p::Command;
use crate::rpc::context::RpcContext;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;

/// Core's RPC_CLIENT_NODE_NOT_ADDED.
const NODE_NOT_ADDED: i64 = -24;

/// Core's network name of an address.
fn network_name(a: &SocketAddr) -> &'static str {
    match a {
        SocketAddr::V4(_) => "ipv4",
        SocketAddr::V6(v6) if v6.ip().to_ipv4_mapped().is_some() => "ipv4",
        SocketAddr::V6(_) => "ipv6",
    }
}

/// `setnetworkactive`.
pub(super) async fn setnetworkactive(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let n = net(node)?;
    let state = match p.get(0) {
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(type_error(v, "bool")),
        None => {
            return Err(RpcError::new(
                code::INVALID_PARAMS,
                "Missing required argument \"state\" (position 1)",
            ))
        }
    };
    n.set_network_enabled(state);
    Ok(json!(n.network_enabled()))
}

/// `getaddednodeinfo`.
pub(super) async fn getaddednodeinfo(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let n = net(node)?;
    let added = n.added_nodes();
    let wanted: Vec<String> = match p.opt_str(0)? {
        Some(one) => {
            if !added.iter().any(|a| a == one) {
                return Err(RpcError::new(NODE_NOT_ADDED, "Error: Node has not been added."));
            }
            vec![one.to_string()]
        }
        None => added,
    };
    let peers = n.peer_list();
    let out: Vec<Value> = wanted
        .into_iter()
        .map(|target| {
            let parsed = target.parse::<SocketAddr>().ok();
            let peer = peers
                .iter()
                .find(|p| !p.inbound && (Some(p.addr) == parsed || p.addr.to_string() == target));
            match peer {
                Some(p) => json!({
                    "addednode": target,
                    "connected": true,
                    "addresses": [{"address": p.addr.to_string(), "connected": "outbound"}],
                }),
                None => json!({"addednode": target, "connected": false, "addresses": []}),
            }
        })
        .collect();
    Ok(Value::Array(out))
}

/// `getnodeaddresses`.
pub(super) async fn getnodeaddresses(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let n = net(node)?;
    let count = match p.get(0) {
        None => 1,
        Some(v) => match v.as_i64() {
            Some(c) if c >= 0 => c as usize,
            Some(_) => return Err(RpcError::param("Address count out of range")),
            None => return Err(type_error(v, "number")),
        },
    };
    let network = p.opt_str(1)?;
    if let Some(name) = network {
        if !matches!(name, "ipv4" | "ipv6" | "onion" | "i2p" | "cjdns") {
            return Err(RpcError::param(format!("Network not recognized: {name}")));
        }
    }
    // With a network filter, ask for all and cut after filtering.
    let wanted = if network.is_some() { 0 } else { count };
    let addrs = ask(&n, |reply| Command::NodeAddresses { count: wanted, reply }).await?;
    let mut out: Vec<Value> = addrs
        .iter()
        .filter(|a| network.is_none_or(|w| w == network_name(&a.addr)))
        .map(|a| {
            json!({
                "time": a.time,
                "services": a.services,
                "address": a.addr.ip().to_canonical().to_string(),
                "port": a.addr.port(),
                "network": network_name(&a.addr),
            })
        })
        .collect();
    if count > 0 {
        out.truncate(count);
    }
    Ok(Value::Array(out))
}

/// `getaddrmaninfo`.
pub(super) async fn getaddrmaninfo(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    let n = net(node).map_err(|_| {
        RpcError::new(
            code::CLIENT_P2P_DISABLED,
            "Error: Address manager functionality missing or disabled",
        )
    })?;
    let counts = ask(&n, |reply| Command::AddrmanInfo { reply }).await?;
    let mut out = serde_json::Map::new();
    for (name, new, tried) in counts {
        out.insert(name.into(), json!({"new": new, "tried": tried, "total": new + tried}));
    }
    Ok(Value::Object(out))
}

/// `addpeeraddress "address" port ( tried )` (Core's test-only RPC): puts an IP address in the
/// address manager as if it had announced itself; `{"success": bool}` plus Core's "error" when
/// the new or tried table refused it. A string that is not an IP address gives success false.
pub(super) async fn addpeeraddress(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let n = net(node).map_err(|_| {
        RpcError::new(
            code::CLIENT_P2P_DISABLED,
            "Error: Address manager functionality missing or disabled",
        )
    })?;
    let host = p.str(0)?;
    let port = match p.get(1) {
        Some(v) => match v.as_i64() {
            Some(x) if (0..=i64::from(u16::MAX)).contains(&x) => x as u16,
            // As Core, where UniValue's range check throws a plain error.
            Some(_) => return Err(RpcError::new(code::MISC_ERROR, "JSON integer out of range")),
            None => return Err(type_error(v, "number")),
        },
        None => return Err(RpcError::param("Missing required argument \"port\"")),
    };
    let tried = p.opt_bool(2)?.unwrap_or(false);
    let Ok(ip) = host.parse::<std::net::IpAddr>() else {
        return Ok(json!({"success": false}));
    };
    let addr = SocketAddr::new(ip, port);
    let outcome = ask(&n, |reply| Command::AddPeerAddress { addr, tried, reply }).await?;
    Ok(match outcome {
        Ok(()) => json!({"success": true}),
        Err(e) => json!({"success": false, "error": e}),
    })
}

/// `getblockfrompeer "blockhash" peer_id`: asks one peer for a block whose header is known and
/// whose data is not; `{}` once the request is sent, Core's errors otherwise.
pub(super) async fn getblockfrompeer(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let hash = super::blockchain::chain_hash(p, 0)?;
    let peer = p.i64(1)?;
    {
        let c = node.lock_chain();
        let Some(entry) = c.entry(&hash) else {
            return Err(RpcError::new(code::MISC_ERROR, "Block header missing"));
        };
        // Fetching ahead of the tip would pin block files against pruning, as Core says.
        if c.prune_height().is_some() && entry.height > c.height() {
            return Err(RpcError::new(
                code::MISC_ERROR,
                "In prune mode, only blocks that the node has already synced previously can be fetched from a peer",
            ));
        }
        if entry.have_data() {
            return Err(RpcError::new(code::MISC_ERROR, "Block already downloaded"));
        }
    }
    let n = net(node)?;
    let Ok(peer) = u64::try_from(peer) else {
        return Err(RpcError::new(code::MISC_ERROR, "Peer does not exist"));
    };
    ask(&n, |reply| Command::FetchBlock { hash, peer, reply })
        .await?
        .map_err(|e| RpcError::new(code::MISC_ERROR, e))?;
    Ok(json!({}))
}

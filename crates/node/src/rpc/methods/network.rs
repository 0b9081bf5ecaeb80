//! Network methods with Core's result shapes: getnetworkinfo, getpeerinfo, getconnectioncount,
//! addnode, disconnectnode, setban, listbanned, clearbanned, getnettotals, ping.

use super::super::error::{code, RpcError};
use super::super::params::Params;
use crate::clock::unix_now;
use crate::p2p::ban::BanTarget;
use crate::p2p::{Command, Net};
use crate::rpc::context::RpcContext;
use bitcoin::p2p::ServiceFlags;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Core's RPC_CLIENT_NODE_ALREADY_ADDED.
const NODE_ALREADY_ADDED: i64 = -23;
/// Core's RPC_CLIENT_NODE_NOT_ADDED.
const NODE_NOT_ADDED: i64 = -24;
/// Core's RPC_CLIENT_NODE_NOT_CONNECTED.
const NODE_NOT_CONNECTED: i64 = -29;
/// Core's RPC_CLIENT_INVALID_IP_OR_SUBNET.
const INVALID_IP_OR_SUBNET: i64 = -30;

/// The P2P layer, or Core's "P2P disabled" error.
pub(super) fn net(node: &Arc<RpcContext>) -> Result<Arc<Net>, RpcError> {
    let n = node.net();
    if n.settings().is_none() {
        return Err(RpcError::new(
            code::CLIENT_P2P_DISABLED,
            "Error: Peer-to-peer functionality missing or disabled",
        ));
    }
    Ok(n)
}

/// Sends the connection manager a command built around a reply channel and waits for the
/// answer, so each RPC asking the P2P layer for data does not repeat the plumbing.
pub(super) async fn ask<T>(n: &Net, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, RpcError> {
    let (tx, rx) = oneshot::channel();
    n.command(make(tx)).await.map_err(|e| RpcError::new(code::MISC_ERROR, e))?;
    rx.await
        .map_err(|_| RpcError::new(code::MISC_ERROR, "P2P networking is shutting down"))
}

/// Names of service bits, as Core's `servicesnames`.
fn service_names(bits: u64) -> Vec<&'static str> {
    let mut v = Vec::new();
    for (bit, name) in [
        (ServiceFlags::NETWORK, "NETWORK"),
        (ServiceFlags::BLOOM, "BLOOM"),
        (ServiceFlags::WITNESS, "WITNESS"),
        (ServiceFlags::COMPACT_FILTERS, "COMPACT_FILTERS"),
        (ServiceFlags::NETWORK_LIMITED, "NETWORK_LIMITED"),
        (ServiceFlags::P2P_V2, "P2P_V2"),
    ] {
        if bits & bit.to_u64() != 0 {
            v.push(name);
        }
    }
    v
}

fn secs(d: Option<std::time::Duration>) -> Value {
    d.map(|d| json!(d.as_secs_f64())).unwrap_or(Value::Null)
}

/// `getconnectioncount`.
pub(super) async fn getconnectioncount(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    let n = net(node)?;
    let (i, o) = n.connection_count();
    Ok(json!(i + o))
}

/// `getnetworkinfo`.
pub(super) async fn getnetworkinfo(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    Ok(networkinfo(node))
}

/// `getpeerinfo`.
pub(super) async fn getpeerinfo(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    Ok(peerinfo(&*net(node)?))
}

/// `getnettotals`.
pub(super) async fn getnettotals(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    let n = net(node)?;
    let ms = crate::clock::unix_now_ms();
    Ok(json!({
        "totalbytesrecv": n.totals().recv.load(Ordering::Relaxed),
        "totalbytessent": n.totals().sent.load(Ordering::Relaxed),
        "timemillis": ms,
        "uploadtarget": n.totals().upload.json(crate::clock::unix_now()),
    }))
}

/// `ping`.
pub(super) async fn ping(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    net(node)?.ping_all();
    Ok(Value::Null)
}

/// `addnode`.
pub(super) async fn addnode(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let n = net(node)?;
    let target = p.str(0)?.to_string();
    let command = p.str(1)?;
    let enabled = n.settings().is_some_and(|s| s.v2transport);
    let v2 = p.get(2).and_then(Value::as_bool).unwrap_or(enabled);
    if v2 && !enabled {
        return Err(RpcError::new(
            code::MISC_ERROR,
            "Error: v2transport requested but not enabled (see -v2transport)",
        ));
    }
    let (tx, rx) = oneshot::channel();
    let c = match command {
        "add" => Command::AddNode {
            addr: target,
            permanent: true,
            v2,
            reply: tx,
        },
        "onetry" => Command::AddNode {
            addr: target,
            permanent: false,
            v2,
            reply: tx,
        },
        "remove" => Command::RemoveNode { addr: target, reply: tx },
        _ => return Err(RpcError::param("Error: command must be one of add, remove, onetry")),
    };
    n.command(c).await.map_err(|e| RpcError::new(code::MISC_ERROR, e))?;
    match rx.await {
        Ok(Ok(())) => Ok(Value::Null),
        Ok(Err(e)) if command == "remove" => Err(RpcError::new(NODE_NOT_ADDED, format!("Error: {e}"))),
        Ok(Err(e)) => Err(RpcError::new(NODE_ALREADY_ADDED, format!("Error: {e}"))),
        Err(_) => Err(RpcError::new(code::MISC_ERROR, "P2P networking is shutting down")),
    }
}

/// `disconnectnode`.
pub(super) async fn disconnectnode(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let n = net(node)?;
    let addr = p.opt_str(0)?.filter(|s| !s.is_empty());
    let id = p.opt_u64(1)?;
    let (addr, id) = match (addr, id) {
        (Some(a), None) => (
            Some(
                a.parse::<SocketAddr>()
                    .map_err(|_| RpcError::new(NODE_NOT_CONNECTED, "Node not found in connected nodes"))?,
            ),
            None,
        ),
        (None, Some(i)) => (None, Some(i)),
        _ => return Err(RpcError::param("Only one of address and nodeid should be provided.")),
    };
    let (tx, rx) = oneshot::channel();
    n.command(Command::Disconnect { addr, id, reply: tx })
        .await
        .map_err(|e| RpcError::new(code::MISC_ERROR, e))?;
    match rx.await {
        Ok(true) => Ok(Value::Null),
        _ => Err(RpcError::new(NODE_NOT_CONNECTED, "Node not found in connected nodes")),
    }
}

/// `setban`.
pub(super) async fn setban(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let n = net(node)?;
    let target = p.str(0)?;
    let command = p.str(1)?;
    let subnet = BanTarget::parse(target).ok_or_else(|| RpcError::new(INVALID_IP_OR_SUBNET, "Error: Invalid IP/Subnet"))?;
    match command {
        "add" => {
            if n.bans().has(&subnet) {
                return Err(RpcError::new(NODE_ALREADY_ADDED, "Error: IP/Subnet already banned"));
            }
            let default = n.settings().map(|s| s.ban_time.as_secs() as i64).unwrap_or(86_400);
            let t = p.get(2).and_then(|v| v.as_i64()).filter(|t| *t > 0).unwrap_or(default);
            let absolute = p.opt_bool(3)?.unwrap_or(false);
            let until = if absolute { t } else { unix_now() + t };
            if until <= unix_now() {
                return Err(RpcError::param("Error: Absolute timestamp is in the past"));
            }
            tracing::info!(target: "blvm::net", %subnet, until, "setban add");
            n.bans().ban(subnet, until, "manually added (setban)");
            let _ = n.command(Command::EnforceBans).await;
            Ok(Value::Null)
        }
        "remove" => {
            if !n.bans().unban(&subnet) {
                return Err(RpcError::new(
                    INVALID_IP_OR_SUBNET,
                    "Error: Unban failed. Requested address/subnet was not previously manually banned.",
                ));
            }
            Ok(Value::Null)
        }
        _ => Err(RpcError::param("Error: command must be one of add, remove")),
    }
}

/// `listbanned`.
pub(super) async fn listbanned(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    let n = net(node)?;
    let t = unix_now();
    let v: Vec<Value> = n
            .bans()
            .list()
            .into_iter()
            .map(|(s, e)| json!({"address": s.to_string(), "ban_created": e.created, "banned_until": e.until, "ban_duration": e.until - e.created, "time_remaining": (e.until - t).max(0), "reason": e.reason}))
            .collect();
    Ok(Value::Array(v))
}

/// `clearbanned`.
pub(super) async fn clearbanned(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    // As Core: also forgets the discouraged addresses.
    let n = net(node)?;
    n.bans().clear();
    n.discouraged().clear();
    Ok(Value::Null)
}

fn networkinfo(node: &Arc<RpcContext>) -> Value {
    let n = node.net();
    let (i, o) = n.connection_count();
    // The -externalip addresses (Core's mapLocalHost); without any, the listening addresses
    // (Core would list discovered interface addresses, which blvm does not look up).
    let external = n.settings().map(|s| s.external.clone()).unwrap_or_default();
    let local: Vec<Value> = if external.is_empty() {
        n.listening()
            .iter()
            .map(|a| json!({"address": a.ip().to_string(), "port": a.port(), "score": 1}))
            .collect()
    } else {
        external
            .iter()
            .map(|a| json!({"address": a.host(), "port": a.port(), "score": crate::p2p::local_addr::LOCAL_MANUAL}))
            .collect()
    };
    let local_services = crate::p2p::peer::local_services(
        n.settings().is_some_and(|s| s.peer_bloom_filters),
        n.settings().is_some_and(|s| s.v2transport),
        n.settings().is_some_and(|s| s.peer_block_filters),
        n.serves_limited(),
    )
    .to_u64();
    let v4 = n.is_reachable(std::net::Ipv4Addr::LOCALHOST.into());
    let v6 = n.is_reachable(std::net::Ipv6Addr::LOCALHOST.into());
    json!({
        "version": 10000,
        "subversion": crate::p2p::user_agent(),
        "protocolversion": crate::p2p::PROTOCOL_VERSION,
        "localservices": format!("{local_services:016x}"),
        "localservicesnames": service_names(local_services),
        // As Core: false under -blocksonly (we ask peers for no transactions).
        "localrelay": !n.settings().is_some_and(|s| s.blocks_only),
        "timeoffset": 0,
        "networkactive": n.is_active(),
        "connections": i + o,
        "connections_in": i,
        "connections_out": o,
        "networks": [
            {"name": "ipv4", "limited": !v4, "reachable": v4, "proxy": "", "proxy_randomize_credentials": false},
            {"name": "ipv6", "limited": !v6, "reachable": v6, "proxy": "", "proxy_randomize_credentials": false},
            {"name": "onion", "limited": true, "reachable": false, "proxy": "", "proxy_randomize_credentials": false},
            {"name": "i2p", "limited": true, "reachable": false, "proxy": "", "proxy_randomize_credentials": false},
            {"name": "cjdns", "limited": true, "reachable": false, "proxy": "", "proxy_randomize_credentials": false},
        ],
        "relayfee": super::blockchain::amount(node.mempool().settings().min_relay_feerate),
        "incrementalfee": super::blockchain::amount(node.mempool().settings().incremental_relay_feerate),
        "localaddresses": local,
        "warnings": node.warnings(),
    })
}

fn peerinfo(n: &Net) -> Value {
    let peers: Vec<Value> = n
        .peer_list()
        .into_iter()
        .map(|p| {
            let info = p.info();
            let services = info.as_ref().map(|i| i.services).unwrap_or(0);
            let transport = p.transport.lock().unwrap_or_else(|e| e.into_inner()).clone();
            json!({
                "id": p.id,
                "addr": p.addr.to_string(),
                "addrbind": p.local_addr.map(|a| a.to_string()),
                "network": if p.addr.is_ipv4() { "ipv4" } else { "ipv6" },
                "services": format!("{services:016x}"),
                "servicesnames": service_names(services),
                "relaytxes": (info.as_ref().is_some_and(|i| i.relay) || p.filter_relay.load(Ordering::Relaxed)) && p.conn_type.relays_txs(),
                "last_inv_sequence": p.last_inv_sequence.load(Ordering::Relaxed),
                "inv_to_send": p.inv_to_send.load(Ordering::Relaxed),
                "lastsend": p.last_send.load(Ordering::Relaxed),
                "lastrecv": p.last_recv.load(Ordering::Relaxed),
                "last_transaction": p.last_tx_time.load(Ordering::Relaxed),
                "last_block": p.last_block_time.load(Ordering::Relaxed),
                "bytessent": p.bytes_sent.load(Ordering::Relaxed),
                "bytesrecv": p.bytes_recv.load(Ordering::Relaxed),
                "bytessent_per_msg": p.sent_per_msg.to_json(),
                "bytesrecv_per_msg": p.recv_per_msg.to_json(),
                "conntime": p.connected_at,
                "timeoffset": info.as_ref().map(|i| i.time_offset).unwrap_or(0),
                "pingtime": secs(p.ping_time()),
                "minping": secs(p.min_ping()),
                "pingwait": secs(p.ping_wait()),
                "version": info.as_ref().map(|i| i.version).unwrap_or(0),
                "subver": info.as_ref().map(|i| i.user_agent.clone()).unwrap_or_default(),
                "inbound": p.inbound,
                "bip152_hb_to": p.bip152.hb_to.load(Ordering::Relaxed),
                "bip152_hb_from": p.bip152.hb_from.load(Ordering::Relaxed),
                "inflight": p.blocks_in_flight.lock().map(|v| v.clone()).unwrap_or_default(),
                "startingheight": info.as_ref().map(|i| i.start_height).unwrap_or(-1),
                "presynced_headers": p.presynced_headers.load(Ordering::Relaxed),
                "synced_headers": p.synced_headers.load(Ordering::Relaxed),
                "synced_blocks": p.synced_blocks.load(Ordering::Relaxed),
                "misbehavior": p.misbehavior.load(Ordering::Relaxed),
                "wtxid_relay": info.as_ref().is_some_and(|i| i.wtxid_relay),
                "addr_relay_enabled": p.conn_type.relays_txs(),
                "permissions": p.permissions.names(),
                "minfeefilter": super::blockchain::amount(p.fee_filter_received.load(Ordering::Relaxed)),
                "connection_type": p.conn_type.as_str(),
                "transport_protocol_type": transport.name(),
                "session_id": transport.session_id(),
            })
        })
        .collect();
    Value::Array(peers)
}

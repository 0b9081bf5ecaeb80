//! policy-example: a policy module showing module RPC methods and hooks.
//!
//! With `register_rpc` it serves:
//! - `policyblock "txid" ( "reason" )`: refuse this transaction from now on (reason defaults to
//!   `blocked-by-policy`); a txid that is not 64 hex digits is error -8.
//! - `policylist`: the blocked txids and how many transactions and peers were refused.
//! - `policystall`: never answers (shows the node's `-modulerpctimeout`).
//!
//! With `hooks` it takes part in `mempool_accept` (refuses blocked txids with their reason) and
//! `peer_connected` (refuses inbound peers when `refuse_inbound = true` in `[config]`).
//! `hook_delay_ms` (default 0) delays every hook answer, to show the node's hook deadline.
//! `refuse_all` (string, optional) refuses every transaction with this reason.
//! `register_delay_ms` (default 0) waits this long before registering anything.
//! `also_register` (string, optional) first tries to register one more method of that name
//! (e.g. a built-in one, to see the node refuse it). A refused registration is printed to
//! stderr (the node log) and the module goes on without those methods.
//! It acknowledges `NodeShutdown` and exits.

use blvm_module::{
    hook_allow, hook_refuse, rpc_error, rpc_result, Capability, EventType, HookCall, HookKind, ModuleClient, ModuleMessage, Request,
    RpcMethodSpec,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// `[config]` of the module.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct Config {
    refuse_inbound: bool,
    hook_delay_ms: u64,
    also_register: Option<String>,
    refuse_all: Option<String>,
    register_delay_ms: u64,
}

/// What the module remembers.
#[derive(Default)]
struct State {
    blocked: BTreeMap<String, String>,
    refused_txs: u64,
    refused_peers: u64,
}

fn methods() -> Vec<RpcMethodSpec> {
    let spec = |name: &str, help: &str, params: &[&str]| RpcMethodSpec {
        name: name.into(),
        help: help.into(),
        params: params.iter().map(|p| p.to_string()).collect(),
    };
    vec![
        spec(
            "policyblock",
            "Refuse a transaction from the mempool from now on.\n\nArguments:\n1. txid (string, required) the transaction id\n2. reason (string, optional, default=blocked-by-policy) the reject reason",
            &["txid", "reason"],
        ),
        spec("policylist", "List blocked transactions and refusal counts.", &[]),
        spec("policystall", "Never answers (for testing the node's timeout).", &[]),
    ]
}

/// Answers one RPC call; None means "do not answer".
fn rpc(state: &mut State, name: &str, params: &str) -> Option<blvm_module::ResponseResult> {
    let args: Vec<Value> = serde_json::from_str(params).unwrap_or_default();
    Some(match name {
        "policyblock" => {
            let txid = args.first().and_then(Value::as_str).unwrap_or_default();
            if txid.len() != 64 || !txid.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Some(rpc_error(-8, "txid must be 64 hex digits"));
            }
            let reason = args.get(1).and_then(Value::as_str).unwrap_or("blocked-by-policy");
            state.blocked.insert(txid.to_lowercase(), reason.to_string());
            rpc_result(&json!({"txid": txid, "reason": reason, "blocked": state.blocked.len()}))
        }
        "policylist" => rpc_result(&json!({
            "blocked": state.blocked.iter().map(|(t, r)| json!({"txid": t, "reason": r})).collect::<Vec<_>>(),
            "refused_txs": state.refused_txs,
            "refused_peers": state.refused_peers,
        })),
        "policystall" => return None,
        other => rpc_error(-32601, format!("policy-example has no method {other}")),
    })
}

fn hook(state: &mut State, config: &Config, call: &HookCall) -> blvm_module::ResponseResult {
    match call {
        HookCall::MempoolAccept { txid, .. } => match state.blocked.get(txid).or(config.refuse_all.as_ref()) {
            Some(reason) => {
                state.refused_txs += 1;
                hook_refuse(reason.clone())
            }
            None => hook_allow(),
        },
        HookCall::PeerConnected { inbound: true, .. } if config.refuse_inbound => {
            state.refused_peers += 1;
            hook_refuse("inbound-refused-by-policy")
        }
        HookCall::PeerConnected { .. } => hook_allow(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut client, config, _dir) = ModuleClient::start::<Config>().await?;
    let caps = client.handshake().clone();
    tokio::time::sleep(Duration::from_millis(config.register_delay_ms)).await;
    if caps.has_capability(Capability::RegisterRpc) {
        if let Some(name) = &config.also_register {
            let extra = RpcMethodSpec {
                name: name.clone(),
                help: String::new(),
                params: vec![],
            };
            if let Err(e) = client.register_rpc_methods(vec![extra]).await {
                eprintln!("policy-example: registering {name} refused: {e}");
            }
        }
        if let Err(e) = client.register_rpc_methods(methods()).await {
            eprintln!("policy-example: RPC methods refused: {e}");
        }
    }
    if caps.has_capability(Capability::Hooks) {
        client
            .register_hooks(vec![HookKind::MempoolAccept, HookKind::PeerConnected])
            .await?;
    }
    client.subscribe_events(vec![EventType::NodeShutdown]).await?;
    let mut state = State::default();
    while let Some(msg) = client.next_event().await {
        match msg {
            ModuleMessage::Request { id, request } => {
                let answer = match &request {
                    Request::RpcCall { name, params } => rpc(&mut state, name, params),
                    Request::Hook { call } => {
                        if config.hook_delay_ms > 0 {
                            tokio::time::sleep(Duration::from_millis(config.hook_delay_ms)).await;
                        }
                        Some(hook(&mut state, &config, call))
                    }
                    other => Some(blvm_module::ResponseResult::Err {
                        code: blvm_module::error_code::MALFORMED,
                        message: format!("policy-example does not serve {}", other.method()),
                    }),
                };
                if let Some(a) = answer {
                    client.respond(id, a).await?;
                }
            }
            ModuleMessage::Event(e) if e.event_type == EventType::NodeShutdown => {
                client.ack(e.sequence).await?;
                break;
            }
            _ => {}
        }
    }
    client.close().await?;
    Ok(())
}

//! Module-provided JSON-RPC methods and decision hooks: the shared types and limits, and the
//! SDK calls that register them. The node calls back with `Request::RpcCall` and
//! `Request::Hook`, delivered through `ModuleClient::next_event`; answer with
//! `ModuleClient::respond` (see [`rpc_result`], [`rpc_error`], [`hook_allow`], [`hook_refuse`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::client::{ClientError, ModuleClient};
use crate::request::{Request, ResponseBody, ResponseResult};

/// Most RPC methods one module may register (in total, over all its registrations).
pub const MAX_RPC_METHODS_PER_MODULE: usize = 32;
/// Longest RPC method name, in bytes.
pub const MAX_RPC_NAME_LEN: usize = 64;
/// Longest help text, in bytes.
pub const MAX_RPC_HELP_LEN: usize = 4096;
/// Most parameter names per method.
pub const MAX_RPC_PARAMS: usize = 16;
/// Longest parameter name, in bytes.
pub const MAX_RPC_PARAM_NAME_LEN: usize = 64;
/// Longest hook refusal reason the node keeps, in bytes (longer ones are cut).
pub const MAX_HOOK_REASON_LEN: usize = 256;

/// One JSON-RPC method a module serves, as registered with `RegisterRpcMethods`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpcMethodSpec {
    /// Method name: `[a-z0-9_]`, 1..=64 bytes, not a built-in method nor another module's.
    pub name: String,
    /// Text `help <name>` shows.
    pub help: String,
    /// Parameter names, in positional order; named parameters are mapped to these.
    pub params: Vec<String>,
}

/// Whether `name` is an acceptable module RPC method or parameter name.
pub fn valid_rpc_name(name: &str, max: usize) -> bool {
    !name.is_empty() && name.len() <= max && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A decision point modules can take part in with the `hooks` capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookKind {
    /// A transaction is about to be validated for the mempool (RPC, P2P or module submission).
    MempoolAccept,
    /// A peer completed its version handshake; refusing disconnects it.
    PeerConnected,
}

impl HookKind {
    /// Every hook.
    pub const ALL: [HookKind; 2] = [HookKind::MempoolAccept, HookKind::PeerConnected];

    /// The snake_case name used on the wire and in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            HookKind::MempoolAccept => "mempool_accept",
            HookKind::PeerConnected => "peer_connected",
        }
    }
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Returned when a string is not the name of any [`HookKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown hook {0:?}")]
pub struct UnknownHook(pub String);

impl FromStr for HookKind {
    type Err = UnknownHook;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HookKind::ALL
            .iter()
            .copied()
            .find(|h| h.as_str() == s)
            .ok_or_else(|| UnknownHook(s.to_string()))
    }
}

/// What the node asks a hook module to decide about (node -> module, in `Request::Hook`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "hook", rename_all = "snake_case")]
pub enum HookCall {
    /// May this transaction enter the mempool?
    MempoolAccept {
        /// Transaction id, hex, display order.
        txid: String,
        /// Witness transaction id, hex, display order.
        wtxid: String,
        /// Consensus-serialized transaction with witness (msgpack bin).
        #[serde(with = "serde_bytes")]
        raw: Vec<u8>,
    },
    /// May this peer stay connected?
    PeerConnected {
        /// Node-local peer id (as in `PeerConnected` events).
        peer_id: u64,
        /// Remote address "ip:port".
        addr: String,
        /// Whether the peer connected to us.
        inbound: bool,
        /// User agent from its `version` message.
        user_agent: String,
    },
}

impl HookCall {
    /// Which hook this call is for.
    pub fn kind(&self) -> HookKind {
        match self {
            HookCall::MempoolAccept { .. } => HookKind::MempoolAccept,
            HookCall::PeerConnected { .. } => HookKind::PeerConnected,
        }
    }
}

/// Success answer to an `RpcCall`: `result` is the method's JSON result.
pub fn rpc_result(result: &serde_json::Value) -> ResponseResult {
    ResponseResult::Ok {
        body: ResponseBody::RpcResult {
            result: result.to_string(),
        },
    }
}

/// Error answer to an `RpcCall`: the JSON-RPC caller gets exactly this code and message.
pub fn rpc_error(code: i64, message: impl Into<String>) -> ResponseResult {
    ResponseResult::Ok {
        body: ResponseBody::RpcError {
            code,
            message: message.into(),
        },
    }
}

/// Answer to a `Hook` call letting the action go ahead.
pub fn hook_allow() -> ResponseResult {
    ResponseResult::Ok {
        body: ResponseBody::HookVerdict { allow: true, reason: None },
    }
}

/// Answer to a `Hook` call refusing the action with a reason (a mempool reject reason, or
/// why the peer is disconnected).
pub fn hook_refuse(reason: impl Into<String>) -> ResponseResult {
    ResponseResult::Ok {
        body: ResponseBody::HookVerdict {
            allow: false,
            reason: Some(reason.into()),
        },
    }
}

impl ModuleClient {
    /// Registers JSON-RPC methods (needs `register_rpc`); the node serves them until this
    /// connection closes.
    pub async fn register_rpc_methods(&self, methods: Vec<RpcMethodSpec>) -> Result<(), ClientError> {
        self.done(Request::RegisterRpcMethods { methods }).await
    }

    /// Takes part in the listed hooks (needs `hooks`) until this connection closes.
    pub async fn register_hooks(&self, hooks: Vec<HookKind>) -> Result<(), ClientError> {
        self.done(Request::RegisterHooks { hooks }).await
    }

    async fn done(&self, request: Request) -> Result<(), ClientError> {
        match self.request(request).await? {
            ResponseBody::Done => Ok(()),
            other => Err(ClientError::Remote {
                code: crate::request::error_code::MALFORMED,
                message: format!("expected Done, got {}", other.kind()),
            }),
        }
    }
}

//! RPC errors with Bitcoin Core's numeric codes.

use serde_json::{json, Value};

/// Core's RPC error codes used by this node.
pub mod code {
    /// Standard JSON-RPC: invalid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// Standard JSON-RPC: method not found.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Standard JSON-RPC: invalid parameters (Core uses it for wrong argument counts).
    pub const INVALID_PARAMS: i64 = -32602;
    /// Standard JSON-RPC: internal error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Standard JSON-RPC: the body is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Generic failure.
    pub const MISC_ERROR: i64 = -1;
    /// A value has the wrong JSON type.
    pub const TYPE_ERROR: i64 = -3;
    /// Invalid address or key; also "block not found".
    pub const INVALID_ADDRESS_OR_KEY: i64 = -5;
    /// Invalid, missing or duplicate parameter.
    pub const INVALID_PARAMETER: i64 = -8;
    /// Database error.
    pub const DATABASE_ERROR: i64 = -20;
    /// Error parsing or validating structure in raw format.
    pub const DESERIALIZATION_ERROR: i64 = -22;
    /// General error during transaction or block submission.
    pub const VERIFY_ERROR: i64 = -25;
    /// Transaction or block rejected by network rules.
    pub const VERIFY_REJECTED: i64 = -26;
    /// Transaction already in chain.
    pub const VERIFY_ALREADY_IN_CHAIN: i64 = -27;
    /// Node is still warming up.
    pub const IN_WARMUP: i64 = -28;
    /// P2P functionality missing or disabled.
    pub const CLIENT_P2P_DISABLED: i64 = -31;
}

/// An error returned to the RPC client.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// Core's code.
    pub code: i64,
    /// Message.
    pub message: String,
}

impl RpcError {
    /// An error with a code and message.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
        }
    }

    /// `-8` invalid parameter.
    pub fn param(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_PARAMETER, message)
    }

    /// The JSON error object.
    pub fn to_json(&self) -> Value {
        json!({"code": self.code, "message": self.message})
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

//! A REST error: an HTTP status and Core's message (sent as text, ending in CRLF).

/// An HTTP error answer of the REST interface.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct RestError {
    /// HTTP status code.
    pub status: u16,
    /// Core's message, without the trailing CRLF.
    pub message: String,
}

impl RestError {
    /// An error with a status and message.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        RestError {
            status,
            message: message.into(),
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }

    /// 500 Internal Server Error (e.g. stored data that cannot be read).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }

    /// 400 "Invalid hash: <s>".
    pub fn invalid_hash(s: &str) -> Self {
        Self::bad_request(format!("Invalid hash: {s}"))
    }
}

impl From<crate::rpc::error::RpcError> for RestError {
    /// An RPC method's failure behind a REST endpoint: 500 with its message.
    fn from(e: crate::rpc::error::RpcError) -> Self {
        Self::internal(e.message)
    }
}

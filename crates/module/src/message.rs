//! The single top-level frame type exchanged between node and module.

use serde::{Deserialize, Serialize};

use crate::event::EventMessage;
use crate::request::{Request, ResponseResult};

/// The protocol version this crate speaks; modules offer it in `Handshake`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Every frame in either direction is one of these.
///
/// Serialized as a msgpack map with a `"type"` key naming the variant and the
/// variant's fields as further keys. `Event` is a newtype variant whose
/// [`EventMessage`] fields (`sequence`, `timestamp_ms`, `event_type`,
/// `payload`) sit directly next to `"type"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ModuleMessage {
    /// Module -> node, first frame: who the module is and which versions it speaks.
    Handshake {
        /// Protocol versions the module speaks; the node picks the highest common one.
        protocol_versions: Vec<u32>,
        /// The module's name (its namespace for published events).
        module_name: String,
        /// The module's version string.
        module_version: String,
        /// Secret from `BLVM_MODULE_TOKEN`, proving the node launched this module.
        token: Option<String>,
    },
    /// Node -> module, answer to `Handshake`: the session is established.
    HandshakeAck {
        /// The version chosen for this connection.
        protocol_version: u32,
        /// The node's software version.
        node_version: String,
        /// Node-assigned id of this module connection.
        module_id: u64,
        /// Capability names granted to the module (see `Capability`).
        capabilities: Vec<String>,
    },
    /// Module -> node (or node -> module): a call expecting one `Response` with the same id.
    Request {
        /// Correlation id chosen by the sender, unique among its outstanding requests.
        id: u64,
        /// What is being asked.
        request: Request,
    },
    /// Answer to the `Request` with the same id.
    Response {
        /// The id of the request being answered.
        id: u64,
        /// The outcome.
        result: ResponseResult,
    },
    /// Node -> module: a published event the module subscribed to.
    Event(EventMessage),
    /// Module -> node: the module finished handling the event with this sequence.
    Ack {
        /// The acknowledged event's sequence.
        sequence: u64,
    },
    /// Node -> module: subscribed events in `from_sequence..=to_sequence` were dropped.
    Lagged {
        /// First missed sequence (inclusive).
        from_sequence: u64,
        /// Last missed sequence (inclusive).
        to_sequence: u64,
        /// How many events addressed to this module were dropped in that range.
        count: u64,
    },
    /// A protocol-level failure, sent just before the sender closes the connection.
    Error {
        /// One of the `error_code` constants.
        code: u32,
        /// Human-readable explanation.
        message: String,
    },
    /// Either side: an orderly close is coming.
    Goodbye {
        /// Why the sender is closing.
        reason: String,
    },
}

impl ModuleMessage {
    /// The variant name as written in the `"type"` key, for logs.
    pub fn type_name(&self) -> &'static str {
        match self {
            ModuleMessage::Handshake { .. } => "Handshake",
            ModuleMessage::HandshakeAck { .. } => "HandshakeAck",
            ModuleMessage::Request { .. } => "Request",
            ModuleMessage::Response { .. } => "Response",
            ModuleMessage::Event(_) => "Event",
            ModuleMessage::Ack { .. } => "Ack",
            ModuleMessage::Lagged { .. } => "Lagged",
            ModuleMessage::Error { .. } => "Error",
            ModuleMessage::Goodbye { .. } => "Goodbye",
        }
    }
}

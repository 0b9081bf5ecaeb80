//! # blvm-module
//!
//! Protocol types, wire codec and async client SDK for blvm modules: separate
//! processes the node launches and talks to over a Unix domain socket.
//!
//! The wire protocol (framing, message layout, handshake, acks, lag, error
//! codes) is specified in `docs/module-protocol.md` so modules can be written
//! in any language; this crate is the Rust implementation of the module side
//! plus the shared message types the node uses.
//!
//! The recommended way to write a module is an [`EventHandler`] run by [`run_with_handler`],
//! which runs the loop below for you and acks each event when the handler has finished with it
//! (see the `examples/` directory). The hand-written loop, for full control:
//!
//! ```no_run
//! use blvm_module::{EventPayload, EventType, ModuleClient, ModuleMessage};
//!
//! # async fn run() -> Result<(), blvm_module::ClientError> {
//! // The node sets BLVM_MODULE_SOCKET, BLVM_MODULE_NAME, BLVM_MODULE_TOKEN, ...
//! let mut client = ModuleClient::connect_from_env().await?;
//!
//! // Subscribe to shutdown events
//! let event_types = vec![EventType::NodeShutdown, EventType::StorageFlush];
//! client.subscribe_events(event_types).await?;
//!
//! // Event loop: `None` means the node closed the connection.
//! while let Some(event) = client.next_event().await {
//!     match event {
//!         ModuleMessage::Event(event_msg) => {
//!             match event_msg.event_type {
//!                 EventType::NodeShutdown => {
//!                     if let EventPayload::NodeShutdown { reason, timeout_seconds } = &event_msg.payload {
//!                         println!("Node shutting down: reason={reason}, timeout={timeout_seconds}s");
//!                         // ... save state, then tell the node we are done:
//!                         client.ack(event_msg.sequence).await?;
//!                         break;
//!                     }
//!                 }
//!                 EventType::StorageFlush => {
//!                     if let EventPayload::StorageFlush { reason } = &event_msg.payload {
//!                         println!("Storage flush requested: reason={reason}");
//!                         // ... flush module data ...
//!                         client.ack(event_msg.sequence).await?;
//!                     }
//!                 }
//!                 _ => {}
//!             }
//!         }
//!         ModuleMessage::Lagged { from_sequence, to_sequence, count } => {
//!             eprintln!("missed {count} events in {from_sequence}..={to_sequence}");
//!         }
//!         _ => {}
//!     }
//! }
//! client.close().await?;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod client;
pub mod codec;
pub mod env;
pub mod event;
pub mod extend;
pub mod handler;
pub mod message;
pub mod node_api;
pub mod request;

pub use client::{ClientConfig, ClientError, HandshakeInfo, ModuleClient, Subscription, DEFAULT_EVENT_BUFFER, DEFAULT_REQUEST_TIMEOUT};
pub use codec::{
    decode_payload, encode, encode_payload, read_frame, write_frame, CodecError, FrameReader, DEFAULT_MAX_FRAME, LENGTH_PREFIX_LEN,
};
pub use env::{ModuleEnv, ENV_CONFIG, ENV_DATA_DIR, ENV_NAME, ENV_SOCKET, ENV_TOKEN, ENV_VERSION};
pub use event::{EventMessage, EventPayload, EventType, UnknownEventType};
pub use extend::{
    hook_allow, hook_refuse, rpc_error, rpc_result, HookCall, HookKind, RpcMethodSpec, UnknownHook, MAX_RPC_METHODS_PER_MODULE,
};
pub use handler::{init_logging, run_with_handler, EventContext, EventHandler, HandlerError, RunSummary};
pub use message::{ModuleMessage, PROTOCOL_VERSION};
pub use node_api::BlockId;
pub use request::{
    error_code, BlockData, BlockHeaderData, BlockchainInfo, Capability, ChainTip, MempoolInfo, PeerInfo, Request, ResponseBody,
    ResponseResult, SyncStatus, TransactionData, UnknownCapability, UtxoEntry,
};

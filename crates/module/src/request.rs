//! Requests a module sends to the node and the node's responses.
//!
//! Every enum here is internally tagged: a msgpack map whose discriminator key
//! (`method` for [`Request`], `status` for [`ResponseResult`], `kind` for
//! [`ResponseBody`]) sits next to the variant's named fields.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::event::EventType;

/// Numeric error codes shared by `Response` errors and protocol `Error` messages.
pub mod error_code {
    /// The frame could not be decoded, or names an unknown method or message type.
    pub const MALFORMED: u32 = 1;
    /// The module lacks the capability the request needs.
    pub const PERMISSION_DENIED: u32 = 2;
    /// The requested block, transaction, UTXO or peer does not exist.
    pub const NOT_FOUND: u32 = 3;
    /// An argument is out of range, badly formatted, or a required one is missing.
    pub const INVALID_ARGUMENT: u32 = 4;
    /// The node failed while serving the request.
    pub const INTERNAL: u32 = 5;
    /// The module sent too many requests; retry later.
    pub const RATE_LIMITED: u32 = 6;
    /// Handshake token missing or wrong, or a message arrived before the handshake.
    pub const UNAUTHORIZED: u32 = 7;
    /// No protocol version in the module's `Handshake` is spoken by the node.
    pub const UNSUPPORTED_VERSION: u32 = 8;
    /// A frame's length prefix exceeded the receiver's maximum frame size.
    pub const FRAME_TOO_LARGE: u32 = 9;

    /// Human-readable name of a code, for logs and error messages.
    pub fn name(code: u32) -> &'static str {
        match code {
            MALFORMED => "malformed",
            PERMISSION_DENIED => "permission_denied",
            NOT_FOUND => "not_found",
            INVALID_ARGUMENT => "invalid_argument",
            INTERNAL => "internal",
            RATE_LIMITED => "rate_limited",
            UNAUTHORIZED => "unauthorized",
            UNSUPPORTED_VERSION => "unsupported_version",
            FRAME_TOO_LARGE => "frame_too_large",
            _ => "unknown",
        }
    }
}

/// A permission the node grants a module; requests check it before running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Read blocks, headers, transactions, UTXOs and chain state; chain events.
    ReadChain,
    /// Read mempool contents; mempool and transaction events.
    ReadMempool,
    /// Read peer information; peer events.
    ReadNetwork,
    /// Submit transactions for relay.
    SubmitTransactions,
    /// Publish `ModuleEvent`s in the module's namespace.
    PublishEvents,
    /// Report the module's health to the node.
    ReportHealth,
    /// Register JSON-RPC methods the node serves by calling the module.
    RegisterRpc,
    /// Take part in node decisions (hooks such as `mempool_accept`, `peer_connected`).
    Hooks,
}

impl Capability {
    /// Every capability, for granting all of them or iterating in tests.
    pub const ALL: [Capability; 8] = [
        Capability::ReadChain,
        Capability::ReadMempool,
        Capability::ReadNetwork,
        Capability::SubmitTransactions,
        Capability::PublishEvents,
        Capability::ReportHealth,
        Capability::RegisterRpc,
        Capability::Hooks,
    ];

    /// The snake_case name used in `HandshakeAck.capabilities` and config files.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::ReadChain => "read_chain",
            Capability::ReadMempool => "read_mempool",
            Capability::ReadNetwork => "read_network",
            Capability::SubmitTransactions => "submit_transactions",
            Capability::PublishEvents => "publish_events",
            Capability::ReportHealth => "report_health",
            Capability::RegisterRpc => "register_rpc",
            Capability::Hooks => "hooks",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Returned when a string is not the name of any [`Capability`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability {0:?}")]
pub struct UnknownCapability(pub String);

impl FromStr for Capability {
    type Err = UnknownCapability;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCapability(s.to_string()))
    }
}

/// A call from a module to the node; answered by exactly one `Response` with the same id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method")]
pub enum Request {
    /// Start receiving the listed event types (added to any existing subscription).
    SubscribeEvents {
        /// Event types to add.
        event_types: Vec<EventType>,
        /// Replay retained replayable events with `sequence >= from_sequence` first.
        from_sequence: Option<u64>,
    },
    /// Stop receiving the listed event types.
    Unsubscribe {
        /// Event types to remove.
        event_types: Vec<EventType>,
    },
    /// Best block hash, height and chainwork.
    GetChainTip,
    /// A full block by hash or by active-chain height (exactly one must be set).
    GetBlock {
        /// Block hash, hex, display order.
        hash: Option<String>,
        /// Height on the active chain.
        height: Option<u64>,
    },
    /// An 80-byte block header by hash or by height (exactly one must be set).
    GetBlockHeader {
        /// Block hash, hex, display order.
        hash: Option<String>,
        /// Height on the active chain.
        height: Option<u64>,
    },
    /// A transaction from the mempool or (if indexed) the chain.
    GetTransaction {
        /// Transaction id, hex, display order.
        txid: String,
    },
    /// An unspent output of the active chain's UTXO set.
    GetUtxo {
        /// Transaction id, hex, display order.
        txid: String,
        /// Output index.
        vout: u32,
    },
    /// Mempool size statistics.
    GetMempoolInfo,
    /// Ids of all mempool transactions.
    GetMempoolTxids,
    /// Currently connected peers.
    GetPeers,
    /// Chain summary similar to Bitcoin Core's `getblockchaininfo`.
    GetBlockchainInfo,
    /// Whether the node is syncing and how far it has come.
    GetSyncStatus,
    /// Validate a raw transaction, add it to the mempool and relay it.
    SubmitTransaction {
        /// Consensus-serialized transaction, hex.
        hex: String,
    },
    /// Tell the node whether the module is healthy (e.g. in reply to `HealthCheck`).
    ReportHealth {
        /// The module's own verdict.
        healthy: bool,
        /// Free-form or JSON details.
        report: Option<String>,
    },
    /// Publish a `ModuleEvent` in this module's namespace to all subscribers.
    PublishEvent {
        /// Event name chosen by the module.
        name: String,
        /// Event data as a JSON string.
        data: String,
    },
    /// Module -> node: serve these JSON-RPC methods by calling this module.
    RegisterRpcMethods {
        /// The methods (names, help texts, parameter names).
        methods: Vec<crate::extend::RpcMethodSpec>,
    },
    /// Module -> node: ask this module at these hooks.
    RegisterHooks {
        /// The hooks to take part in.
        hooks: Vec<crate::extend::HookKind>,
    },
    /// Node -> module: a JSON-RPC client called one of the module's methods.
    RpcCall {
        /// The method name.
        name: String,
        /// The parameters as a JSON array (named ones mapped to positions; missing ones null).
        params: String,
    },
    /// Node -> module: a decision the module registered for.
    Hook {
        /// What is being decided.
        call: crate::extend::HookCall,
    },
}

impl Request {
    /// The capability the node checks before serving this request (`None`: always allowed).
    pub fn required_capability(&self) -> Option<Capability> {
        match self {
            Request::SubscribeEvents { .. } | Request::Unsubscribe { .. } => None,
            Request::GetChainTip
            | Request::GetBlock { .. }
            | Request::GetBlockHeader { .. }
            | Request::GetTransaction { .. }
            | Request::GetUtxo { .. }
            | Request::GetBlockchainInfo
            | Request::GetSyncStatus => Some(Capability::ReadChain),
            Request::GetMempoolInfo | Request::GetMempoolTxids => Some(Capability::ReadMempool),
            Request::GetPeers => Some(Capability::ReadNetwork),
            Request::SubmitTransaction { .. } => Some(Capability::SubmitTransactions),
            Request::ReportHealth { .. } => Some(Capability::ReportHealth),
            Request::PublishEvent { .. } => Some(Capability::PublishEvents),
            Request::RegisterRpcMethods { .. } => Some(Capability::RegisterRpc),
            Request::RegisterHooks { .. } => Some(Capability::Hooks),
            // Sent by the node, never served by it.
            Request::RpcCall { .. } | Request::Hook { .. } => None,
        }
    }

    /// The method name as it appears in the `method` key, for logs and metrics.
    pub fn method(&self) -> &'static str {
        match self {
            Request::SubscribeEvents { .. } => "SubscribeEvents",
            Request::Unsubscribe { .. } => "Unsubscribe",
            Request::GetChainTip => "GetChainTip",
            Request::GetBlock { .. } => "GetBlock",
            Request::GetBlockHeader { .. } => "GetBlockHeader",
            Request::GetTransaction { .. } => "GetTransaction",
            Request::GetUtxo { .. } => "GetUtxo",
            Request::GetMempoolInfo => "GetMempoolInfo",
            Request::GetMempoolTxids => "GetMempoolTxids",
            Request::GetPeers => "GetPeers",
            Request::GetBlockchainInfo => "GetBlockchainInfo",
            Request::GetSyncStatus => "GetSyncStatus",
            Request::SubmitTransaction { .. } => "SubmitTransaction",
            Request::ReportHealth { .. } => "ReportHealth",
            Request::PublishEvent { .. } => "PublishEvent",
            Request::RegisterRpcMethods { .. } => "RegisterRpcMethods",
            Request::RegisterHooks { .. } => "RegisterHooks",
            Request::RpcCall { .. } => "RpcCall",
            Request::Hook { .. } => "Hook",
        }
    }
}

/// Outcome of a request: a body or an error code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status")]
pub enum ResponseResult {
    /// The request succeeded.
    Ok {
        /// The method-specific result.
        body: ResponseBody,
    },
    /// The request failed; `code` is one of [`error_code`].
    Err {
        /// One of the [`error_code`] constants.
        code: u32,
        /// Human-readable explanation.
        message: String,
    },
}

/// Best-chain tip, returned by `GetChainTip`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainTip {
    /// Tip hash, hex, display order.
    pub hash: String,
    /// Tip height.
    pub height: u64,
    /// Cumulative chain work, big-endian hex (as in Bitcoin Core RPC).
    pub chainwork: String,
}

/// A full block, returned by `GetBlock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockData {
    /// Block hash, hex, display order.
    pub hash: String,
    /// Height if the block is on the active chain.
    pub height: Option<u64>,
    /// Consensus-serialized block (msgpack bin).
    #[serde(with = "serde_bytes")]
    pub raw: Vec<u8>,
}

/// A block header, returned by `GetBlockHeader`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeaderData {
    /// Block hash, hex, display order.
    pub hash: String,
    /// Height of the block.
    pub height: u64,
    /// The 80-byte consensus-serialized header (msgpack bin).
    #[serde(with = "serde_bytes")]
    pub raw: Vec<u8>,
}

/// A transaction, returned by `GetTransaction`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionData {
    /// Transaction id, hex, display order.
    pub txid: String,
    /// Consensus-serialized transaction including witness (msgpack bin).
    #[serde(with = "serde_bytes")]
    pub raw: Vec<u8>,
    /// Containing block if confirmed, `None` if it is in the mempool.
    pub block_hash: Option<String>,
}

/// An unspent transaction output, returned by `GetUtxo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UtxoEntry {
    /// Output value in satoshis.
    pub value_sat: u64,
    /// The output's locking script (msgpack bin).
    #[serde(with = "serde_bytes")]
    pub script_pubkey: Vec<u8>,
    /// Height of the block that created it.
    pub height: u64,
    /// Whether it was created by a coinbase transaction.
    pub coinbase: bool,
}

/// Mempool statistics, returned by `GetMempoolInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MempoolInfo {
    /// Number of transactions.
    pub size: u64,
    /// Sum of transaction virtual sizes in vbytes.
    pub bytes: u64,
    /// Memory used by the mempool in bytes.
    pub usage: u64,
    /// Sum of fees of all mempool transactions in satoshis.
    pub total_fee_sat: u64,
    /// Minimum fee rate for acceptance, sat/vB.
    pub min_fee_rate: f64,
}

/// One connected peer, in `GetPeers` responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Node-local peer id (same as in `PeerConnected`).
    pub id: u64,
    /// Remote address as "ip:port".
    pub addr: String,
    /// Whether the peer connected to us.
    pub inbound: bool,
    /// Protocol version from the peer's `version` message.
    pub version: u32,
    /// User agent from the peer's `version` message.
    pub subver: String,
    /// Best height the peer has announced.
    pub height: u64,
}

/// Chain summary, returned by `GetBlockchainInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockchainInfo {
    /// "main", "test", "testnet4", "signet" or "regtest".
    pub chain: String,
    /// Height of the active tip.
    pub blocks: u64,
    /// Height of the best known header.
    pub headers: u64,
    /// Active tip hash, hex, display order.
    pub best_block_hash: String,
    /// Cumulative chain work, big-endian hex.
    pub chainwork: String,
    /// Estimated fraction of validation done, 0.0 to 1.0.
    pub verification_progress: f64,
    /// Whether the node is in initial block download.
    pub initial_block_download: bool,
    /// Whether old block data is being pruned.
    pub pruned: bool,
}

/// Sync progress, returned by `GetSyncStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// Whether the node is still catching up.
    pub syncing: bool,
    /// Height of the active tip.
    pub height: u64,
    /// Height the node is syncing towards (best header / peer height).
    pub target_height: u64,
}

/// The method-specific result of a successful request.
///
/// Newtype variants wrap a struct whose fields are flattened next to `kind`;
/// lists and optional values use a named field (`txids`, `peers`, `utxo`)
/// so every body is a map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum ResponseBody {
    /// Answer to `SubscribeEvents` / `Unsubscribe`.
    Subscribed {
        /// The module's full subscription after the change.
        event_types: Vec<EventType>,
        /// Sequence of the newest event published so far (0 if none); live events are newer.
        current_sequence: u64,
    },
    /// Answer to `GetChainTip`.
    ChainTip(ChainTip),
    /// Answer to `GetBlock`.
    Block(BlockData),
    /// Answer to `GetBlockHeader`.
    BlockHeader(BlockHeaderData),
    /// Answer to `GetTransaction`.
    Transaction(TransactionData),
    /// Answer to `GetUtxo`; `None` when the output is spent or never existed.
    Utxo {
        /// The output, if unspent.
        utxo: Option<UtxoEntry>,
    },
    /// Answer to `GetMempoolInfo`.
    MempoolInfo(MempoolInfo),
    /// Answer to `GetMempoolTxids`.
    Txids {
        /// Transaction ids, hex, display order.
        txids: Vec<String>,
    },
    /// Answer to `GetPeers`.
    Peers {
        /// Connected peers.
        peers: Vec<PeerInfo>,
    },
    /// Answer to `GetBlockchainInfo`.
    BlockchainInfo(BlockchainInfo),
    /// Answer to `GetSyncStatus`.
    SyncStatus(SyncStatus),
    /// Answer to `SubmitTransaction`: accepted into the mempool.
    Submitted {
        /// Id of the accepted transaction.
        txid: String,
    },
    /// Answer to requests that return nothing (`ReportHealth`, `PublishEvent`, registrations).
    Done,
    /// Module's answer to `RpcCall`: the method's result.
    RpcResult {
        /// The result as a JSON document.
        result: String,
    },
    /// Module's answer to `RpcCall`: a JSON-RPC error for the caller.
    RpcError {
        /// JSON-RPC error code (e.g. -8 for an invalid parameter).
        code: i64,
        /// Error message.
        message: String,
    },
    /// Module's answer to `Hook`.
    HookVerdict {
        /// Whether the action may go ahead.
        allow: bool,
        /// Why not (reject reason or disconnect reason).
        reason: Option<String>,
    },
}

impl ResponseBody {
    /// The `kind` name, for error messages when a body does not match its request.
    pub fn kind(&self) -> &'static str {
        match self {
            ResponseBody::Subscribed { .. } => "Subscribed",
            ResponseBody::ChainTip(_) => "ChainTip",
            ResponseBody::Block(_) => "Block",
            ResponseBody::BlockHeader(_) => "BlockHeader",
            ResponseBody::Transaction(_) => "Transaction",
            ResponseBody::Utxo { .. } => "Utxo",
            ResponseBody::MempoolInfo(_) => "MempoolInfo",
            ResponseBody::Txids { .. } => "Txids",
            ResponseBody::Peers { .. } => "Peers",
            ResponseBody::BlockchainInfo(_) => "BlockchainInfo",
            ResponseBody::SyncStatus(_) => "SyncStatus",
            ResponseBody::Submitted { .. } => "Submitted",
            ResponseBody::Done => "Done",
            ResponseBody::RpcResult { .. } => "RpcResult",
            ResponseBody::RpcError { .. } => "RpcError",
            ResponseBody::HookVerdict { .. } => "HookVerdict",
        }
    }
}

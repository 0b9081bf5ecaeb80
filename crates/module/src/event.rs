//! Events the node publishes to subscribed modules.
//!
//! Wire layout (see `docs/module-protocol.md`): an [`EventMessage`] is a
//! msgpack map `{sequence, timestamp_ms, event_type, payload}` where
//! `event_type` is the PascalCase [`EventType`] name and `payload` is a map
//! holding exactly the named fields of the matching [`EventPayload`] variant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::request::Capability;

/// Identifies a kind of event; modules subscribe by listing these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    /// The node is about to stop its components.
    NodeShutdown,
    /// The node finished shutting down.
    NodeShutdownCompleted,
    /// Every node component is initialised and running.
    NodeStartupCompleted,
    /// The node is about to flush its storage.
    StorageFlush,
    /// The node finished flushing its storage.
    StorageFlushCompleted,
    /// A maintenance operation (backup, cleanup, prune) is starting.
    MaintenanceStarted,
    /// A maintenance operation finished.
    MaintenanceCompleted,
    /// An opportunity for modules to delete old data.
    DataCleanup,
    /// The node ran a health check.
    HealthCheck,
    /// Free disk space dropped below the node's threshold.
    DiskSpaceLow,
    /// A resource (memory, cpu, disk, network) is close to its limit.
    ResourceLimitWarning,
    /// A block was connected to the active chain.
    NewBlock,
    /// A block was disconnected from the active chain.
    BlockDisconnected,
    /// The active chain switched to a different branch.
    ChainReorg,
    /// A transaction was seen (relayed or submitted).
    NewTransaction,
    /// A transaction entered the mempool.
    MempoolTransactionAdded,
    /// A transaction left the mempool.
    MempoolTransactionRemoved,
    /// A peer connection was established.
    PeerConnected,
    /// A peer connection was closed.
    PeerDisconnected,
    /// A module finished its handshake.
    ModuleLoaded,
    /// A module was stopped or disconnected.
    ModuleUnloaded,
    /// A module process exited unexpectedly.
    ModuleCrashed,
    /// An event published by a module in its own namespace.
    ModuleEvent,
}

impl EventType {
    /// Every event type, so callers can subscribe to everything or iterate in tests.
    pub const ALL: [EventType; 23] = [
        EventType::NodeShutdown,
        EventType::NodeShutdownCompleted,
        EventType::NodeStartupCompleted,
        EventType::StorageFlush,
        EventType::StorageFlushCompleted,
        EventType::MaintenanceStarted,
        EventType::MaintenanceCompleted,
        EventType::DataCleanup,
        EventType::HealthCheck,
        EventType::DiskSpaceLow,
        EventType::ResourceLimitWarning,
        EventType::NewBlock,
        EventType::BlockDisconnected,
        EventType::ChainReorg,
        EventType::NewTransaction,
        EventType::MempoolTransactionAdded,
        EventType::MempoolTransactionRemoved,
        EventType::PeerConnected,
        EventType::PeerDisconnected,
        EventType::ModuleLoaded,
        EventType::ModuleUnloaded,
        EventType::ModuleCrashed,
        EventType::ModuleEvent,
    ];

    /// The PascalCase name used on the wire, for logs and config files.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::NodeShutdown => "NodeShutdown",
            EventType::NodeShutdownCompleted => "NodeShutdownCompleted",
            EventType::NodeStartupCompleted => "NodeStartupCompleted",
            EventType::StorageFlush => "StorageFlush",
            EventType::StorageFlushCompleted => "StorageFlushCompleted",
            EventType::MaintenanceStarted => "MaintenanceStarted",
            EventType::MaintenanceCompleted => "MaintenanceCompleted",
            EventType::DataCleanup => "DataCleanup",
            EventType::HealthCheck => "HealthCheck",
            EventType::DiskSpaceLow => "DiskSpaceLow",
            EventType::ResourceLimitWarning => "ResourceLimitWarning",
            EventType::NewBlock => "NewBlock",
            EventType::BlockDisconnected => "BlockDisconnected",
            EventType::ChainReorg => "ChainReorg",
            EventType::NewTransaction => "NewTransaction",
            EventType::MempoolTransactionAdded => "MempoolTransactionAdded",
            EventType::MempoolTransactionRemoved => "MempoolTransactionRemoved",
            EventType::PeerConnected => "PeerConnected",
            EventType::PeerDisconnected => "PeerDisconnected",
            EventType::ModuleLoaded => "ModuleLoaded",
            EventType::ModuleUnloaded => "ModuleUnloaded",
            EventType::ModuleCrashed => "ModuleCrashed",
            EventType::ModuleEvent => "ModuleEvent",
        }
    }

    /// Whether the node waits for each subscribed module's `Ack` before proceeding.
    pub fn requires_ack(self) -> bool {
        matches!(
            self,
            EventType::NodeShutdown
                | EventType::StorageFlush
                | EventType::MaintenanceStarted
                | EventType::DataCleanup
                | EventType::DiskSpaceLow
        )
    }

    /// Whether the node retains these events so a subscriber can replay them with `from_sequence`.
    pub fn is_replayable(self) -> bool {
        matches!(self, EventType::NewBlock | EventType::BlockDisconnected | EventType::ChainReorg)
    }

    /// The capability a module must hold to subscribe to this event type, if any.
    pub fn required_capability(self) -> Option<Capability> {
        match self {
            EventType::NewBlock | EventType::BlockDisconnected | EventType::ChainReorg => Some(Capability::ReadChain),
            EventType::NewTransaction | EventType::MempoolTransactionAdded | EventType::MempoolTransactionRemoved => {
                Some(Capability::ReadMempool)
            }
            EventType::PeerConnected | EventType::PeerDisconnected => Some(Capability::ReadNetwork),
            _ => None,
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Returned when a string is not the name of any [`EventType`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type {0:?}")]
pub struct UnknownEventType(pub String);

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_string()))
    }
}

/// The data carried by an event; one variant per [`EventType`], same name.
///
/// Standalone it serializes as `{event_type: "<Name>", payload: {fields...}}`;
/// inside an [`EventMessage`] those two keys sit next to `sequence` and `timestamp_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum EventPayload {
    /// The node is shutting down; modules should save state (ack required).
    NodeShutdown {
        /// "graceful", "signal", "rpc" or "error".
        reason: String,
        /// How long the node waits for modules before stopping anyway.
        timeout_seconds: u64,
    },
    /// Shutdown finished.
    NodeShutdownCompleted {
        /// How long the shutdown took.
        duration_ms: u64,
    },
    /// Startup finished; the node is fully operational.
    NodeStartupCompleted {
        /// How long startup took.
        duration_ms: u64,
        /// Names of the components that were initialised.
        components: Vec<String>,
    },
    /// Storage is about to be flushed; modules should flush too (ack required).
    StorageFlush {
        /// "shutdown", "periodic" or "manual".
        reason: String,
    },
    /// The storage flush finished.
    StorageFlushCompleted {
        /// Whether the flush succeeded.
        success: bool,
        /// How long the flush took.
        duration_ms: u64,
    },
    /// Maintenance is starting; modules should pause non-critical work (ack required).
    MaintenanceStarted {
        /// "backup", "cleanup" or "prune".
        maintenance_type: String,
        /// The node's estimate of how long it takes, if known.
        estimated_duration_seconds: Option<u64>,
    },
    /// Maintenance finished.
    MaintenanceCompleted {
        /// Same value as in the matching `MaintenanceStarted`.
        maintenance_type: String,
        /// Whether the maintenance succeeded.
        success: bool,
        /// How long it took.
        duration_ms: u64,
        /// Results or statistics as a JSON string.
        results: Option<String>,
    },
    /// Modules may delete old data now (ack required).
    DataCleanup {
        /// "periodic", "manual" or "low_disk".
        cleanup_type: String,
        /// Suggested maximum age of data to keep, if the node has an opinion.
        target_age_days: Option<u64>,
    },
    /// A health check ran; modules may answer with `ReportHealth`.
    HealthCheck {
        /// "periodic", "manual" or "startup".
        check_type: String,
        /// The node's own health verdict.
        node_healthy: bool,
        /// The node's health report as a JSON string.
        health_report: Option<String>,
    },
    /// Disk space is low; modules should free space (ack required).
    DiskSpaceLow {
        /// Bytes available to the node.
        available_bytes: u64,
        /// Size of the filesystem in bytes.
        total_bytes: u64,
        /// `available_bytes / total_bytes * 100`.
        percent_free: f64,
        /// The path whose filesystem is low.
        disk_path: String,
    },
    /// A resource is near its limit; modules should reduce usage.
    ResourceLimitWarning {
        /// "memory", "cpu", "disk" or "network".
        resource_type: String,
        /// Current usage as a percentage of `limit`.
        usage_percent: f64,
        /// Current usage in the resource's unit.
        current_usage: u64,
        /// The limit in the resource's unit.
        limit: u64,
        /// The percentage at which this warning fires.
        threshold_percent: f64,
    },
    /// A block was connected to the active chain.
    NewBlock {
        /// Block hash, hex, display (RPC) byte order.
        hash: String,
        /// Height of the block.
        height: u64,
        /// Number of transactions in the block.
        tx_count: u64,
    },
    /// A block was disconnected from the active chain.
    BlockDisconnected {
        /// Block hash, hex, display byte order.
        hash: String,
        /// Height the block had.
        height: u64,
    },
    /// The active chain switched branches.
    ChainReorg {
        /// Tip before the reorg (hex).
        old_tip: String,
        /// Tip after the reorg (hex).
        new_tip: String,
        /// Height of the last block common to both branches.
        fork_height: u64,
        /// Hashes disconnected, old tip first.
        disconnected: Vec<String>,
        /// Hashes connected, lowest height first.
        connected: Vec<String>,
    },
    /// A transaction was seen.
    NewTransaction {
        /// Transaction id (hex, display order).
        txid: String,
        /// Witness transaction id (hex, display order).
        wtxid: String,
    },
    /// A transaction entered the mempool.
    MempoolTransactionAdded {
        /// Transaction id (hex).
        txid: String,
        /// Absolute fee in satoshis.
        fee_sat: u64,
        /// Virtual size in vbytes.
        vsize: u64,
    },
    /// A transaction left the mempool.
    MempoolTransactionRemoved {
        /// Transaction id (hex).
        txid: String,
        /// "block", "conflict", "expiry", "size_limit", "replaced", ...
        reason: String,
    },
    /// A peer connected.
    PeerConnected {
        /// Node-local peer id.
        peer_id: u64,
        /// Remote address as "ip:port".
        addr: String,
        /// Whether the peer connected to us.
        inbound: bool,
    },
    /// A peer disconnected.
    PeerDisconnected {
        /// Node-local peer id.
        peer_id: u64,
        /// Remote address as "ip:port".
        addr: String,
        /// Why the connection closed.
        reason: String,
    },
    /// A module completed its handshake.
    ModuleLoaded {
        /// The module's name.
        name: String,
        /// The module's version.
        version: String,
    },
    /// A module was stopped or went away.
    ModuleUnloaded {
        /// The module's name.
        name: String,
        /// Why it was unloaded.
        reason: String,
    },
    /// A module process exited unexpectedly.
    ModuleCrashed {
        /// The module's name.
        name: String,
        /// Process exit code, `None` if killed by a signal.
        exit_code: Option<i32>,
        /// How many times it has been restarted so far.
        restarts: u32,
        /// Whether the node will restart it.
        will_restart: bool,
    },
    /// An event a module published with `PublishEvent`.
    ModuleEvent {
        /// Name of the publishing module (its namespace), set by the node.
        module: String,
        /// Event name chosen by the publisher.
        name: String,
        /// Event data as a JSON string.
        data: String,
    },
}

impl EventPayload {
    /// The [`EventType`] this payload belongs to, so the two can never disagree.
    pub fn event_type(&self) -> EventType {
        match self {
            EventPayload::NodeShutdown { .. } => EventType::NodeShutdown,
            EventPayload::NodeShutdownCompleted { .. } => EventType::NodeShutdownCompleted,
            EventPayload::NodeStartupCompleted { .. } => EventType::NodeStartupCompleted,
            EventPayload::StorageFlush { .. } => EventType::StorageFlush,
            EventPayload::StorageFlushCompleted { .. } => EventType::StorageFlushCompleted,
            EventPayload::MaintenanceStarted { .. } => EventType::MaintenanceStarted,
            EventPayload::MaintenanceCompleted { .. } => EventType::MaintenanceCompleted,
            EventPayload::DataCleanup { .. } => EventType::DataCleanup,
            EventPayload::HealthCheck { .. } => EventType::HealthCheck,
            EventPayload::DiskSpaceLow { .. } => EventType::DiskSpaceLow,
            EventPayload::ResourceLimitWarning { .. } => EventType::ResourceLimitWarning,
            EventPayload::NewBlock { .. } => EventType::NewBlock,
            EventPayload::BlockDisconnected { .. } => EventType::BlockDisconnected,
            EventPayload::ChainReorg { .. } => EventType::ChainReorg,
            EventPayload::NewTransaction { .. } => EventType::NewTransaction,
            EventPayload::MempoolTransactionAdded { .. } => EventType::MempoolTransactionAdded,
            EventPayload::MempoolTransactionRemoved { .. } => EventType::MempoolTransactionRemoved,
            EventPayload::PeerConnected { .. } => EventType::PeerConnected,
            EventPayload::PeerDisconnected { .. } => EventType::PeerDisconnected,
            EventPayload::ModuleLoaded { .. } => EventType::ModuleLoaded,
            EventPayload::ModuleUnloaded { .. } => EventType::ModuleUnloaded,
            EventPayload::ModuleCrashed { .. } => EventType::ModuleCrashed,
            EventPayload::ModuleEvent { .. } => EventType::ModuleEvent,
        }
    }
}

/// One published event as delivered to a module.
///
/// `event_type` always equals `payload.event_type()`: on the wire it is written
/// from the payload and on decode it is derived from it, so a mismatching
/// struct built by hand is sent with the payload's type.
#[derive(Debug, Clone, PartialEq)]
pub struct EventMessage {
    /// Node-wide, strictly increasing number of this event (starts at 1).
    pub sequence: u64,
    /// Unix time in milliseconds when the node published the event.
    pub timestamp_ms: u64,
    /// The kind of event, mirrored from the payload for easy matching.
    pub event_type: EventType,
    /// The event's data.
    pub payload: EventPayload,
}

impl EventMessage {
    /// Builds a message whose `event_type` is taken from `payload`.
    pub fn new(sequence: u64, timestamp_ms: u64, payload: EventPayload) -> Self {
        EventMessage {
            sequence,
            timestamp_ms,
            event_type: payload.event_type(),
            payload,
        }
    }

    /// Whether the node expects an `Ack { sequence }` for this event.
    pub fn requires_ack(&self) -> bool {
        self.event_type.requires_ack()
    }
}

/// Borrowed wire form: `sequence`, `timestamp_ms`, then `event_type` + `payload`.
#[derive(Serialize)]
struct EventMessageWireRef<'a> {
    sequence: u64,
    timestamp_ms: u64,
    #[serde(flatten)]
    payload: &'a EventPayload,
}

/// Owned wire form used when decoding.
#[derive(Deserialize)]
struct EventMessageWire {
    sequence: u64,
    timestamp_ms: u64,
    #[serde(flatten)]
    payload: EventPayload,
}

impl Serialize for EventMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        EventMessageWireRef {
            sequence: self.sequence,
            timestamp_ms: self.timestamp_ms,
            payload: &self.payload,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for EventMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = EventMessageWire::deserialize(deserializer)?;
        Ok(EventMessage::new(wire.sequence, wire.timestamp_ms, wire.payload))
    }
}

"""Events the node publishes (protocol section 7), one frozen dataclass per event type.

The field names and types are exactly the wire payload's, so a handler reads
``event.payload.timeout_seconds`` with a type checker's help instead of indexing a dict; the
same table is in ``crates/module/src/event.rs`` (``EventPayload``), which the node publishes.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Dict, List, Optional, Type, Union

from ._wire import WireError, from_wire


class EventType(str, enum.Enum):
    """Names of event types; modules subscribe by listing these (a ``str``, usable as one)."""

    NODE_SHUTDOWN = "NodeShutdown"
    NODE_SHUTDOWN_COMPLETED = "NodeShutdownCompleted"
    NODE_STARTUP_COMPLETED = "NodeStartupCompleted"
    STORAGE_FLUSH = "StorageFlush"
    STORAGE_FLUSH_COMPLETED = "StorageFlushCompleted"
    MAINTENANCE_STARTED = "MaintenanceStarted"
    MAINTENANCE_COMPLETED = "MaintenanceCompleted"
    DATA_CLEANUP = "DataCleanup"
    HEALTH_CHECK = "HealthCheck"
    DISK_SPACE_LOW = "DiskSpaceLow"
    RESOURCE_LIMIT_WARNING = "ResourceLimitWarning"
    NEW_BLOCK = "NewBlock"
    BLOCK_DISCONNECTED = "BlockDisconnected"
    CHAIN_REORG = "ChainReorg"
    NEW_TRANSACTION = "NewTransaction"
    MEMPOOL_TRANSACTION_ADDED = "MempoolTransactionAdded"
    MEMPOOL_TRANSACTION_REMOVED = "MempoolTransactionRemoved"
    PEER_CONNECTED = "PeerConnected"
    PEER_DISCONNECTED = "PeerDisconnected"
    MODULE_LOADED = "ModuleLoaded"
    MODULE_UNLOADED = "ModuleUnloaded"
    MODULE_CRASHED = "ModuleCrashed"
    MODULE_EVENT = "ModuleEvent"

    def __str__(self) -> str:
        return self.value

    @property
    def requires_ack(self) -> bool:
        """Whether the node waits for an Ack of this event (section 8.3)."""
        return self in ACK_REQUIRED

    @property
    def is_replayable(self) -> bool:
        """Whether ``from_sequence`` can replay this event (section 8.5)."""
        return self in REPLAYABLE

    @property
    def required_capability(self) -> Optional[str]:
        """The capability needed to subscribe, or None when every module may (section 10)."""
        return _CAPABILITY.get(self)


#: Events the node waits for an ack of: the SDK acks them when the handler returns.
ACK_REQUIRED = frozenset(
    {
        EventType.NODE_SHUTDOWN,
        EventType.STORAGE_FLUSH,
        EventType.MAINTENANCE_STARTED,
        EventType.DATA_CLEANUP,
        EventType.DISK_SPACE_LOW,
    }
)
#: Chain events the node retains for replay.
REPLAYABLE = frozenset({EventType.NEW_BLOCK, EventType.BLOCK_DISCONNECTED, EventType.CHAIN_REORG})
_CAPABILITY: Dict[EventType, str] = {
    EventType.NEW_BLOCK: "read_chain",
    EventType.BLOCK_DISCONNECTED: "read_chain",
    EventType.CHAIN_REORG: "read_chain",
    EventType.NEW_TRANSACTION: "read_mempool",
    EventType.MEMPOOL_TRANSACTION_ADDED: "read_mempool",
    EventType.MEMPOOL_TRANSACTION_REMOVED: "read_mempool",
    EventType.PEER_CONNECTED: "read_network",
    EventType.PEER_DISCONNECTED: "read_network",
}
#: Lifecycle, storage, maintenance, health and resource events (every module may subscribe).
LIFECYCLE_EVENTS = tuple(t for t in EventType if t not in _CAPABILITY and not t.value.startswith("Module"))


@dataclass(frozen=True)
class NodeShutdown:
    """The node is stopping; save state within ``timeout_seconds`` (ack required)."""

    reason: str
    timeout_seconds: int


@dataclass(frozen=True)
class NodeShutdownCompleted:
    """The node finished shutting down; the connection closes next."""

    duration_ms: int


@dataclass(frozen=True)
class NodeStartupCompleted:
    """Every node component is running; ``components`` lists them in start order."""

    duration_ms: int
    components: List[str]


@dataclass(frozen=True)
class StorageFlush:
    """The node is about to flush; flush the module's own data too (ack required)."""

    reason: str


@dataclass(frozen=True)
class StorageFlushCompleted:
    """The flush announced by the last StorageFlush finished (or failed)."""

    success: bool
    duration_ms: int


@dataclass(frozen=True)
class MaintenanceStarted:
    """A backup, cleanup, compaction or prune is starting; pause work it disturbs (ack required)."""

    maintenance_type: str
    estimated_duration_seconds: Optional[int] = None


@dataclass(frozen=True)
class MaintenanceCompleted:
    """The maintenance announced by MaintenanceStarted ended; ``results`` is JSON statistics."""

    maintenance_type: str
    success: bool
    duration_ms: int
    results: Optional[str] = None


@dataclass(frozen=True)
class DataCleanup:
    """A chance to delete data older than ``target_age_days`` (ack required)."""

    cleanup_type: str
    target_age_days: Optional[int] = None


@dataclass(frozen=True)
class HealthCheck:
    """The node checked its health; answer with ``ModuleClient.report_health``."""

    check_type: str
    node_healthy: bool
    health_report: Optional[str] = None


@dataclass(frozen=True)
class DiskSpaceLow:
    """Free space fell below the node's threshold; free what the module can (ack required)."""

    available_bytes: int
    total_bytes: int
    percent_free: float
    disk_path: str


@dataclass(frozen=True)
class ResourceLimitWarning:
    """Memory, cpu, disk or network use passed the node's warning threshold."""

    resource_type: str
    usage_percent: float
    current_usage: int
    limit: int
    threshold_percent: float


@dataclass(frozen=True)
class NewBlock:
    """A block was connected to the active chain."""

    hash: str
    height: int
    tx_count: int


@dataclass(frozen=True)
class BlockDisconnected:
    """A block was disconnected from the active chain."""

    hash: str
    height: int


@dataclass(frozen=True)
class ChainReorg:
    """The active chain switched branches at ``fork_height``."""

    old_tip: str
    new_tip: str
    fork_height: int
    disconnected: List[str]
    connected: List[str]


@dataclass(frozen=True)
class NewTransaction:
    """A transaction was seen (relayed or submitted)."""

    txid: str
    wtxid: str


@dataclass(frozen=True)
class MempoolTransactionAdded:
    """A transaction entered the mempool."""

    txid: str
    fee_sat: int
    vsize: int


@dataclass(frozen=True)
class MempoolTransactionRemoved:
    """A transaction left the mempool (block, conflict, expiry, size_limit, replaced, ...)."""

    txid: str
    reason: str


@dataclass(frozen=True)
class PeerConnected:
    """A peer connection was established."""

    peer_id: int
    addr: str
    inbound: bool


@dataclass(frozen=True)
class PeerDisconnected:
    """A peer connection was closed."""

    peer_id: int
    addr: str
    reason: str


@dataclass(frozen=True)
class ModuleLoaded:
    """A module finished its handshake."""

    name: str
    version: str


@dataclass(frozen=True)
class ModuleUnloaded:
    """A module was stopped or disconnected."""

    name: str
    reason: str


@dataclass(frozen=True)
class ModuleCrashed:
    """A module process exited unexpectedly (``exit_code`` None when killed by a signal)."""

    name: str
    exit_code: Optional[int]
    restarts: int
    will_restart: bool


@dataclass(frozen=True)
class ModuleEvent:
    """An event another module published (``module`` is set by the node, ``data`` is JSON)."""

    module: str
    name: str
    data: str


#: Any event payload.
EventPayload = Union[
    NodeShutdown,
    NodeShutdownCompleted,
    NodeStartupCompleted,
    StorageFlush,
    StorageFlushCompleted,
    MaintenanceStarted,
    MaintenanceCompleted,
    DataCleanup,
    HealthCheck,
    DiskSpaceLow,
    ResourceLimitWarning,
    NewBlock,
    BlockDisconnected,
    ChainReorg,
    NewTransaction,
    MempoolTransactionAdded,
    MempoolTransactionRemoved,
    PeerConnected,
    PeerDisconnected,
    ModuleLoaded,
    ModuleUnloaded,
    ModuleCrashed,
    ModuleEvent,
]

#: Payload class of each event type (the class is named like the type).
PAYLOAD_TYPES: Dict[EventType, Type[EventPayload]] = {
    t: globals()[t.value] for t in EventType
}


@dataclass(frozen=True)
class EventMessage:
    """One delivered event: its node-wide sequence, publish time and typed payload."""

    sequence: int
    timestamp_ms: int
    event_type: EventType
    payload: EventPayload

    @property
    def requires_ack(self) -> bool:
        """Whether the node waits for this event's Ack."""
        return self.event_type.requires_ack


def parse_event(msg: Dict[str, object]) -> EventMessage:
    """An EventMessage from an ``Event`` frame; unknown types and bad payloads are WireError."""
    name = msg.get("event_type")
    try:
        event_type = EventType(name)
    except ValueError:
        raise WireError(f"unknown event type {name!r}") from None
    sequence, timestamp_ms = msg.get("sequence"), msg.get("timestamp_ms")
    if not isinstance(sequence, int) or not isinstance(timestamp_ms, int):
        raise WireError("Event: sequence and timestamp_ms must be integers")
    payload = from_wire(PAYLOAD_TYPES[event_type], msg.get("payload", {}), event_type.value)
    return EventMessage(sequence, timestamp_ms, event_type, payload)

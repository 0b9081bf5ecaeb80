"""blvm_module: asyncio SDK for blvm node modules (docs/module-protocol.md).

A module subclasses ``EventHandler`` and hands it to ``run`` (from a script) or ``run_module`` /
``run_with_handler`` (from async code). The SDK handshakes, subscribes, delivers typed events
(``events``), acks ack-required events when the handler returns (also when it raises), serves
JSON-RPC methods and hooks, and offers the node API on ``ModuleClient``.
"""
from .client import (
    DEFAULT_EVENT_BUFFER,
    DEFAULT_REQUEST_TIMEOUT,
    PROTOCOL_VERSIONS,
    ClientError,
    Disconnected,
    Goodbye,
    HandshakeInfo,
    HandshakeRefused,
    Incoming,
    Lagged,
    ModuleClient,
    ModuleEnv,
    NodeError,
    NodeRequest,
    RemoteError,
    RequestTimeout,
)
from .codec import DEFAULT_MAX_FRAME, FrameTooLarge, ProtocolError
from .events import ACK_REQUIRED, LIFECYCLE_EVENTS, PAYLOAD_TYPES, EventMessage, EventPayload, EventType
from .extend import (
    HookCall,
    HookVerdict,
    MempoolAcceptCall,
    PeerConnectedCall,
    RpcError,
    RpcMethodSpec,
)
from .handler import EventContext, EventHandler, RunSummary, init_logging, run, run_module, run_with_handler
from .responses import ErrorCode
from . import events

__all__ = [
    "ACK_REQUIRED",
    "ClientError",
    "DEFAULT_EVENT_BUFFER",
    "DEFAULT_MAX_FRAME",
    "DEFAULT_REQUEST_TIMEOUT",
    "Disconnected",
    "ErrorCode",
    "EventContext",
    "EventHandler",
    "EventMessage",
    "EventPayload",
    "EventType",
    "FrameTooLarge",
    "Goodbye",
    "HandshakeInfo",
    "HandshakeRefused",
    "HookCall",
    "HookVerdict",
    "Incoming",
    "LIFECYCLE_EVENTS",
    "Lagged",
    "MempoolAcceptCall",
    "ModuleClient",
    "ModuleEnv",
    "NodeError",
    "NodeRequest",
    "PAYLOAD_TYPES",
    "PROTOCOL_VERSIONS",
    "PeerConnectedCall",
    "ProtocolError",
    "RemoteError",
    "RequestTimeout",
    "RpcError",
    "RpcMethodSpec",
    "RunSummary",
    "events",
    "init_logging",
    "run",
    "run_module",
    "run_with_handler",
]
__version__ = "0.1.0"

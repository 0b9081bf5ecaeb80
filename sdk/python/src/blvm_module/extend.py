"""Module JSON-RPC methods and decision hooks (protocol section 9.1): the limits, the calls the
node sends, and the answers a module gives.

Names are validated here with the node's own rules so a bad registration fails in the module
with a clear message instead of as a remote ``invalid_argument``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

#: Most RPC methods one module may register.
MAX_RPC_METHODS_PER_MODULE = 32
#: Longest method name, in bytes.
MAX_RPC_NAME_LEN = 64
#: Longest help text, in bytes.
MAX_RPC_HELP_LEN = 4096
#: Most parameter names per method.
MAX_RPC_PARAMS = 16
#: Longest parameter name, in bytes.
MAX_RPC_PARAM_NAME_LEN = 64
#: Longest hook refusal reason the node keeps, in bytes.
MAX_HOOK_REASON_LEN = 256
#: Hooks a module may register for.
HOOKS = ("mempool_accept", "peer_connected")

_NAME = re.compile(r"[a-z0-9_]+")


def valid_rpc_name(name: str, max_len: int = MAX_RPC_NAME_LEN) -> bool:
    """Whether ``name`` is an acceptable method or parameter name (``[a-z0-9_]``, 1..=max bytes)."""
    return 0 < len(name.encode()) <= max_len and _NAME.fullmatch(name) is not None


@dataclass(frozen=True)
class RpcMethodSpec:
    """One JSON-RPC method the module serves; ``params`` name the positions named calls map to."""

    name: str
    help: str
    params: List[str] = field(default_factory=list)

    def check(self) -> None:
        """Raises ValueError if the node would refuse this registration."""
        if not valid_rpc_name(self.name):
            raise ValueError(f"RPC method name {self.name!r} must be 1..64 bytes of [a-z0-9_]")
        if len(self.help.encode()) > MAX_RPC_HELP_LEN:
            raise ValueError(f"help of {self.name} exceeds {MAX_RPC_HELP_LEN} bytes")
        if len(self.params) > MAX_RPC_PARAMS:
            raise ValueError(f"{self.name} has more than {MAX_RPC_PARAMS} parameters")
        for p in self.params:
            if not valid_rpc_name(p, MAX_RPC_PARAM_NAME_LEN):
                raise ValueError(f"parameter name {p!r} of {self.name} must be 1..64 bytes of [a-z0-9_]")


class RpcError(Exception):
    """Raise from an RPC method: the JSON-RPC caller gets exactly this code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class MempoolAcceptCall:
    """Hook ``mempool_accept``: may this transaction (``raw``, with witness) enter the mempool?"""

    txid: str
    wtxid: str
    raw: bytes


@dataclass(frozen=True)
class PeerConnectedCall:
    """Hook ``peer_connected``: may this peer stay connected?"""

    peer_id: int
    addr: str
    inbound: bool
    user_agent: str


#: What the node asks a hook module about.
HookCall = Union[MempoolAcceptCall, PeerConnectedCall]
#: Hook name of each call type.
HOOK_CALL_TYPES = {"mempool_accept": MempoolAcceptCall, "peer_connected": PeerConnectedCall}


@dataclass(frozen=True)
class HookVerdict:
    """A hook answer: go ahead, or refuse with a reason (the mempool reject reason, say)."""

    allow: bool
    reason: Optional[str] = None

    @classmethod
    def allowed(cls) -> "HookVerdict":
        """Lets the action go ahead."""
        return cls(True)

    @classmethod
    def refused(cls, reason: str) -> "HookVerdict":
        """Refuses the action; the node keeps the first 256 bytes of ``reason``."""
        return cls(False, reason)


def rpc_result(result: Any) -> Dict[str, Any]:
    """Response result for an RpcCall that succeeded: ``result`` as the JSON-RPC result."""
    return {"status": "Ok", "body": {"kind": "RpcResult", "result": json.dumps(result)}}


def rpc_error(code: int, message: str) -> Dict[str, Any]:
    """Response result for an RpcCall that failed with a JSON-RPC error code and message."""
    return {"status": "Ok", "body": {"kind": "RpcError", "code": code, "message": message}}


def hook_answer(verdict: HookVerdict) -> Dict[str, Any]:
    """Response result carrying a hook verdict."""
    return {"status": "Ok", "body": {"kind": "HookVerdict", "allow": verdict.allow, "reason": verdict.reason}}


def error_result(code: int, message: str) -> Dict[str, Any]:
    """Response result for a request the module cannot serve (code from ErrorCode)."""
    return {"status": "Err", "code": code, "message": message}

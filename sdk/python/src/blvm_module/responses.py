"""Bodies of the node's answers to module requests (protocol section 9), as dataclasses.

Named after the Rust SDK's types (``crates/module/src/request.rs``) so a reader of either SDK
finds the same shapes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional


class ErrorCode:
    """Error codes of ``Response`` errors and ``Error`` messages (section 11)."""

    MALFORMED = 1
    PERMISSION_DENIED = 2
    NOT_FOUND = 3
    INVALID_ARGUMENT = 4
    INTERNAL = 5
    RATE_LIMITED = 6
    UNAUTHORIZED = 7
    UNSUPPORTED_VERSION = 8
    FRAME_TOO_LARGE = 9

    _NAMES = {
        1: "malformed",
        2: "permission_denied",
        3: "not_found",
        4: "invalid_argument",
        5: "internal",
        6: "rate_limited",
        7: "unauthorized",
        8: "unsupported_version",
        9: "frame_too_large",
    }

    @classmethod
    def name(cls, code: int) -> str:
        """The snake_case name of ``code`` for log lines ("unknown" for codes not listed)."""
        return cls._NAMES.get(code, "unknown")


@dataclass(frozen=True)
class Subscription:
    """The module's whole subscription after SubscribeEvents/Unsubscribe."""

    event_types: List[str]
    current_sequence: int


@dataclass(frozen=True)
class ChainTip:
    """The active chain's tip."""

    hash: str
    height: int
    chainwork: str


@dataclass(frozen=True)
class BlockData:
    """A consensus-serialized block (``height`` None when not on the active chain)."""

    hash: str
    height: Optional[int]
    raw: bytes


@dataclass(frozen=True)
class BlockHeaderData:
    """An 80-byte block header."""

    hash: str
    height: int
    raw: bytes


@dataclass(frozen=True)
class TransactionData:
    """A transaction with witness (``block_hash`` None when it is in the mempool)."""

    txid: str
    raw: bytes
    block_hash: Optional[str] = None


@dataclass(frozen=True)
class UtxoEntry:
    """An unspent output."""

    value_sat: int
    script_pubkey: bytes
    height: int
    coinbase: bool


@dataclass(frozen=True)
class MempoolInfo:
    """Mempool size and fees."""

    size: int
    bytes: int
    usage: int
    total_fee_sat: int
    min_fee_rate: float


@dataclass(frozen=True)
class PeerInfo:
    """One connected peer."""

    id: int
    addr: str
    inbound: bool
    version: int
    subver: str
    height: int


@dataclass(frozen=True)
class BlockchainInfo:
    """A summary of the chain state, as getblockchaininfo."""

    chain: str
    blocks: int
    headers: int
    best_block_hash: str
    chainwork: str
    verification_progress: float
    initial_block_download: bool
    pruned: bool


@dataclass(frozen=True)
class SyncStatus:
    """Whether the node is still catching up."""

    syncing: bool
    height: int
    target_height: int

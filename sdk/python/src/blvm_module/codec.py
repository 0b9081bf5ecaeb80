"""Frame codec (docs/module-protocol.md sections 3 and 4): a 4-byte big-endian length, then one
MessagePack map.

The length is checked against the receiver's limit *before* the body is read, so a hostile or
broken peer cannot make the module allocate more than ``max_frame`` bytes.
"""
from __future__ import annotations

import asyncio
import struct
from typing import Any, Dict, Optional

import msgpack

#: Default largest frame payload in bytes (16 MiB), the protocol's default limit in both directions.
DEFAULT_MAX_FRAME = 16 * 1024 * 1024
#: Bytes of the length prefix.
LENGTH_PREFIX_LEN = 4
#: Largest Handshake frame the node accepts before authentication (64 KiB).
MAX_HANDSHAKE_FRAME = 64 * 1024

Message = Dict[str, Any]


class ProtocolError(Exception):
    """The peer broke the wire protocol (bad length, undecodable frame, cut mid-frame)."""


class FrameTooLarge(ProtocolError):
    """A length prefix exceeded the limit: the stream cannot be resynchronised, so it is closed."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"frame of {length} bytes exceeds the {limit}-byte limit")
        self.length = length
        self.limit = limit


def encode(msg: Message, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    """One frame for ``msg``; refuses to build a frame the receiver would reject."""
    payload = msgpack.packb(msg, use_bin_type=True)
    if len(payload) > max_frame:
        raise FrameTooLarge(len(payload), max_frame)
    return struct.pack(">I", len(payload)) + payload


def decode_payload(payload: bytes) -> Message:
    """Decodes one frame body into a message map (string keys, ``type`` present)."""
    try:
        msg = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except Exception as e:  # msgpack raises several unrelated types on bad input
        raise ProtocolError(f"undecodable frame: {e}") from e
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError("frame is not a message map with a string 'type'")
    return msg


async def read_frame(reader: asyncio.StreamReader, max_frame: int = DEFAULT_MAX_FRAME) -> Optional[Message]:
    """The next message, or None on a clean close between frames.

    A close inside a frame, a zero length or a length above ``max_frame`` is a ProtocolError.
    """
    try:
        prefix = await reader.readexactly(LENGTH_PREFIX_LEN)
    except asyncio.IncompleteReadError as e:
        if not e.partial:
            return None
        raise ProtocolError("connection closed inside a length prefix") from e
    (length,) = struct.unpack(">I", prefix)
    if length == 0:
        raise ProtocolError("zero-length frame")
    if length > max_frame:
        raise FrameTooLarge(length, max_frame)
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as e:
        raise ProtocolError(f"connection closed after {len(e.partial)} of {length} frame bytes") from e
    return decode_payload(body)

"""Unit tests of the SDK's wire handling against a scripted peer on a real Unix socket pair:
bounded reads (an oversized length prefix is refused before the body is read), clean and
broken closes, local lag reporting, and the auto-ack rule of run_with_handler.

Run: `PYTHONPATH=sdk/python/src python3 -m unittest discover -s sdk/python/tests` (the node's
test python_modules.rs runs it).
"""
import asyncio
import socket
import struct
import unittest
from typing import Any, Dict, List, Optional

import msgpack

from blvm_module import (
    EventContext,
    EventHandler,
    EventMessage,
    FrameTooLarge,
    Lagged,
    ModuleClient,
    ProtocolError,
    run_with_handler,
)
from blvm_module import codec


def frame(msg: Dict[str, Any]) -> bytes:
    payload = msgpack.packb(msg, use_bin_type=True)
    return struct.pack(">I", len(payload)) + payload


def event(seq: int, event_type: str = "StorageFlush", payload: Optional[Dict[str, Any]] = None) -> bytes:
    return frame({"type": "Event", "sequence": seq, "timestamp_ms": 1, "event_type": event_type,
                  "payload": payload if payload is not None else {"reason": "manual"}})


class Peer:
    """The node's end of a socket pair, written and read with blocking calls."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    async def next(self) -> Dict[str, Any]:
        """The next frame, read off the event loop's thread (the client must keep running)."""
        return await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, self.recv), 5)

    def recv(self) -> Dict[str, Any]:
        length = struct.unpack(">I", self._exact(4))[0]
        return msgpack.unpackb(self._exact(length), raw=False)

    def _exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf


async def connected(buffer: int = 1024, max_frame: int = codec.DEFAULT_MAX_FRAME) -> "tuple[ModuleClient, Peer]":
    """A client handshaken with a scripted peer."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    peer = Peer(theirs)
    peer.send(frame({"type": "HandshakeAck", "protocol_version": 1, "node_version": "t", "module_id": 7,
                     "capabilities": ["read_chain"]}))
    reader, writer = await asyncio.open_unix_connection(sock=ours)
    # Reuse connect's handshake path on an existing socket: send Handshake, read the ack.
    writer.write(codec.encode({"type": "Handshake", "protocol_versions": [1], "module_name": "t",
                               "module_version": "0", "token": None}))
    from blvm_module.client import _handshake_info
    info = _handshake_info(await codec.read_frame(reader, max_frame))
    client = ModuleClient(reader, writer, info, None, max_frame, 5.0, buffer)
    assert (await peer.next())["type"] == "Handshake"
    return client, peer


class CodecTests(unittest.IsolatedAsyncioTestCase):
    async def read(self, data: bytes, max_frame: int = 64) -> Optional[Dict[str, Any]]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await codec.read_frame(reader, max_frame)

    async def test_oversized_prefix_is_refused_before_the_body(self) -> None:
        # Only the prefix is there: a reader that waited for the body would hit EOF instead.
        with self.assertRaises(FrameTooLarge) as e:
            await self.read(struct.pack(">I", 65))
        self.assertEqual((e.exception.length, e.exception.limit), (65, 64))

    async def test_clean_close_zero_length_and_cut_frames(self) -> None:
        self.assertIsNone(await self.read(b""))
        for bad in (struct.pack(">I", 0), b"\x00\x00", frame({"type": "Ack", "sequence": 1})[:-1]):
            with self.assertRaises(ProtocolError):
                await self.read(bad)
        with self.assertRaises(ProtocolError):
            await self.read(frame({"no_type": 1}))  # type: ignore[dict-item]

    def test_encode_refuses_frames_the_receiver_would_reject(self) -> None:
        with self.assertRaises(FrameTooLarge):
            codec.encode({"type": "PublishEvent", "data": "x" * 100}, max_frame=64)


class ClientTests(unittest.IsolatedAsyncioTestCase):
    async def test_events_beyond_the_buffer_become_one_lagged_in_order(self) -> None:
        client, peer = await connected(buffer=2)
        peer.send(b"".join(event(s) for s in range(10, 16)))
        await asyncio.sleep(0.2)  # let the reader queue 2 and drop 4
        got: List[Any] = [await client.next_event() for _ in range(3)]
        self.assertEqual([g.sequence for g in got[:2]], [10, 11])
        self.assertEqual(got[2], Lagged(12, 15, 4))
        peer.send(event(16))
        later = await client.next_event()
        assert isinstance(later, EventMessage)
        self.assertEqual(later.sequence, 16)
        peer.sock.close()
        self.assertIsNone(await client.next_event())
        await client.close()

    async def test_an_oversized_frame_from_the_node_closes_with_error_9(self) -> None:
        client, peer = await connected(max_frame=1024)
        peer.send(struct.pack(">I", 1025))
        self.assertEqual((await peer.next())["code"], 9)
        self.assertIsNone(await client.next_event())
        self.assertTrue(client.is_closed)
        await client.close()

    async def test_undecodable_events_are_skipped(self) -> None:
        client, peer = await connected()
        peer.send(event(1, "NoSuchEvent") + event(2, "NodeShutdown", {"reason": 5}) + event(3))
        got = await client.next_event()
        assert isinstance(got, EventMessage)
        self.assertEqual(got.sequence, 3)
        await client.close()


class Raising(EventHandler):
    def __init__(self) -> None:
        self.seen: List[int] = []

    async def on_event(self, event: EventMessage, ctx: EventContext) -> None:
        self.seen.append(event.sequence)
        if event.sequence == 2:
            await ctx.ack()
        if event.sequence == 3:
            raise RuntimeError("boom")


class HandlerTests(unittest.IsolatedAsyncioTestCase):
    async def test_acks_after_the_handler_once_also_when_it_raises_never_for_others(self) -> None:
        client, peer = await connected()
        # 1 needs an ack; 2 is acked by the handler; 3 raises; 4 needs none.
        peer.send(event(1) + event(2) + event(3) + event(4, "StorageFlushCompleted",
                                                          {"success": True, "duration_ms": 3}))
        handler = Raising()
        with self.assertLogs("blvm_module", "ERROR") as logs:
            run = asyncio.ensure_future(run_with_handler(client, handler))
            acks = [await peer.next() for _ in range(3)]
            peer.sock.close()
            summary = await run
        self.assertEqual([a["sequence"] for a in acks], [1, 2, 3])
        self.assertEqual((summary.events, summary.failed), (4, 1))
        self.assertEqual(handler.seen, [1, 2, 3, 4])
        self.assertIn("handling StorageFlush (sequence 3) failed", logs.output[0])
        await client.close()


if __name__ == "__main__":
    unittest.main()

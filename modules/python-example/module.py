#!/usr/bin/env python3
"""blvm example module in Python, written from docs/module-protocol.md alone.

What it does: connects to the node (BLVM_MODULE_SOCKET), handshakes with its token
(BLVM_MODULE_TOKEN), subscribes to NodeShutdown, StorageFlush and HealthCheck, reports its
health on every HealthCheck (if the node granted `report_health`), acknowledges NodeShutdown
and StorageFlush, and records every message it receives, and every ack it sends, as one JSON
line in `received.jsonl` in its data directory (BLVM_MODULE_DATA_DIR).

Configuration (BLVM_MODULE_CONFIG, the `[config]` table of module.toml):
  healthy (bool, default true): what to report on HealthCheck.

Exit status: 0 when the node closes the connection; 1 on a protocol error (bad frame,
connection cut mid-frame); 2 when it cannot connect or the node refuses the handshake.

Needs only the standard library and `pip install msgpack`.
"""
import json
import os
import socket
import struct
import sys
import time

import msgpack

PROTOCOL_VERSIONS = [1]
MAX_FRAME = 16 * 1024 * 1024
ACK_REQUIRED = {"NodeShutdown", "StorageFlush", "MaintenanceStarted", "DataCleanup", "DiskSpaceLow"}
SUBSCRIBE = ["NodeShutdown", "StorageFlush", "HealthCheck"]
MALFORMED = 1


class ProtocolError(Exception):
    """The node sent something the protocol does not allow."""


class Connection:
    """Length-prefixed MessagePack frames over a Unix stream socket (sections 3 and 4)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)

    def send(self, msg):
        payload = msgpack.packb(msg, use_bin_type=True)
        if len(payload) > MAX_FRAME:
            raise ProtocolError(f"refusing to send a {len(payload)}-byte frame")
        self.sock.sendall(struct.pack(">I", len(payload)) + payload)

    def _read_exact(self, n, at_boundary):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                if at_boundary and not buf:
                    return None  # clean close between frames
                raise ProtocolError("connection closed in the middle of a frame")
            buf += chunk
        return bytes(buf)

    def recv(self):
        """The next message as a dict, or None when the node closed the connection."""
        prefix = self._read_exact(4, at_boundary=True)
        if prefix is None:
            return None
        (length,) = struct.unpack(">I", prefix)
        if length == 0 or length > MAX_FRAME:
            raise ProtocolError(f"invalid frame length {length}")
        msg = msgpack.unpackb(self._read_exact(length, at_boundary=False), raw=False)
        if not isinstance(msg, dict) or "type" not in msg:
            raise ProtocolError(f"frame is not a message map: {msg!r}")
        return msg

    def close(self):
        self.sock.close()


def jsonable(value):
    """bin values (bytes) are written as hex."""
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot serialize {type(value).__name__}")


class Recorder:
    """Appends one JSON object per line to received.jsonl."""

    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8")

    def write(self, kind, **fields):
        fields = {"kind": kind, "t": round(time.time(), 3), **fields}
        self.file.write(json.dumps(fields, default=jsonable) + "\n")
        self.file.flush()


def main():
    socket_path = os.environ.get("BLVM_MODULE_SOCKET")
    name = os.environ.get("BLVM_MODULE_NAME")
    if not socket_path or not name:
        print("python-example: cannot connect: BLVM_MODULE_SOCKET and BLVM_MODULE_NAME must be set", file=sys.stderr)
        return 2
    data_dir = os.environ.get("BLVM_MODULE_DATA_DIR") or "."
    os.makedirs(data_dir, exist_ok=True)
    try:
        config = json.loads(os.environ.get("BLVM_MODULE_CONFIG") or "{}")
    except ValueError as e:
        print(f"python-example: invalid BLVM_MODULE_CONFIG: {e}", file=sys.stderr)
        return 2
    healthy = bool(config.get("healthy", True))
    rec = Recorder(os.path.join(data_dir, "received.jsonl"))

    try:
        conn = Connection(socket_path)
    except OSError as e:
        print(f"python-example: cannot connect to {socket_path}: {e}", file=sys.stderr)
        return 2

    # Handshake (5.1, 5.2): first frame; an empty or unset token is sent as nil.
    conn.send({
        "type": "Handshake",
        "protocol_versions": PROTOCOL_VERSIONS,
        "module_name": name,
        "module_version": os.environ.get("BLVM_MODULE_VERSION") or "0.1.0",
        "token": os.environ.get("BLVM_MODULE_TOKEN") or None,
    })
    ack = conn.recv()
    if ack is None or ack["type"] != "HandshakeAck":
        print(f"python-example: handshake refused: {ack}", file=sys.stderr)
        return 2
    if ack["protocol_version"] not in PROTOCOL_VERSIONS:
        print(f"python-example: node chose unoffered version {ack['protocol_version']}", file=sys.stderr)
        return 2
    capabilities = ack.get("capabilities") or []
    rec.write("connected", module_id=ack["module_id"], protocol_version=ack["protocol_version"],
              node_version=ack["node_version"], capabilities=capabilities)

    # Requests are correlated by id (section 9); responses may interleave with events.
    next_id = 1
    pending = {}

    def request(method, **params):
        nonlocal next_id
        rid, next_id = next_id, next_id + 1
        pending[rid] = method
        conn.send({"type": "Request", "id": rid, "request": {"method": method, **params}})
        return rid

    request("SubscribeEvents", event_types=SUBSCRIBE, from_sequence=None)
    events_seen = 0

    try:
        while True:
            msg = conn.recv()
            if msg is None:
                break
            kind = msg["type"]
            if kind == "Event":
                events_seen += 1
                event_type = msg["event_type"]
                rec.write("event", sequence=msg["sequence"], timestamp_ms=msg["timestamp_ms"],
                          event_type=event_type, payload=msg.get("payload") or {})
                if event_type == "HealthCheck" and "report_health" in capabilities:
                    report = json.dumps({"events_seen": events_seen, "pid": os.getpid()})
                    request("ReportHealth", healthy=healthy, report=report)
                if event_type in ACK_REQUIRED:
                    # Nothing to save in this example; a real module would persist state here.
                    conn.send({"type": "Ack", "sequence": msg["sequence"]})
                    rec.write("acked", sequence=msg["sequence"], event_type=event_type)
            elif kind == "Response":
                method = pending.pop(msg["id"], None)
                rec.write("response", id=msg["id"], method=method, result=msg["result"])
                if method == "SubscribeEvents" and msg["result"]["status"] != "Ok":
                    print(f"python-example: subscribe failed: {msg['result']}", file=sys.stderr)
                    return 2
            elif kind == "Request":
                # Protocol version 1 defines no node -> module requests.
                conn.send({"type": "Response", "id": msg["id"],
                           "result": {"status": "Err", "code": MALFORMED, "message": "no requests served"}})
            elif kind == "Lagged":
                rec.write("lagged", from_sequence=msg["from_sequence"], to_sequence=msg["to_sequence"], count=msg["count"])
            elif kind in ("Goodbye", "Error"):
                # The node closes right after these; keep reading until EOF.
                rec.write(kind.lower(), message=msg)
            else:
                rec.write("unexpected", message=msg)
    except (ProtocolError, OSError, ValueError, KeyError, TypeError) as e:
        rec.write("failed", error=str(e))
        print(f"python-example: {e}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    rec.write("closed", events_seen=events_seen)
    return 0


if __name__ == "__main__":
    sys.exit(main())

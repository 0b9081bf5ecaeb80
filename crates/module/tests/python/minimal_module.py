#!/usr/bin/env python3
"""Minimal blvm module: handshake, subscribe to NodeShutdown, ack it, exit."""
import os
import socket
import struct

import msgpack  # pip install msgpack

MAX_FRAME = 16 * 1024 * 1024


def send(sock, msg):
    payload = msgpack.packb(msg, use_bin_type=True)
    sock.sendall(struct.pack(">I", len(payload)) + payload)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("node closed the connection")
        buf += chunk
    return buf


def recv(sock):
    (length,) = struct.unpack(">I", recv_exact(sock, 4))
    if length > MAX_FRAME:
        raise ValueError(f"frame of {length} bytes exceeds {MAX_FRAME}")
    return msgpack.unpackb(recv_exact(sock, length), raw=False)


def main():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ["BLVM_MODULE_SOCKET"])

    # 1. Handshake: must be the first frame.
    send(sock, {
        "type": "Handshake",
        "protocol_versions": [1],
        "module_name": os.environ.get("BLVM_MODULE_NAME", "py-example"),
        "module_version": os.environ.get("BLVM_MODULE_VERSION", "0.1.0"),
        "token": os.environ.get("BLVM_MODULE_TOKEN"),  # None -> nil
    })
    reply = recv(sock)
    if reply["type"] != "HandshakeAck":
        raise SystemExit(f"handshake refused: {reply}")
    print(f"connected: module_id={reply['module_id']} "
          f"protocol={reply['protocol_version']} caps={reply['capabilities']}")

    # 2. Subscribe to NodeShutdown (request id 1).
    send(sock, {
        "type": "Request",
        "id": 1,
        "request": {
            "method": "SubscribeEvents",
            "event_types": ["NodeShutdown"],
            "from_sequence": None,
        },
    })

    # 3. Event loop.
    while True:
        msg = recv(sock)
        kind = msg["type"]
        if kind == "Response" and msg["id"] == 1:
            result = msg["result"]
            if result["status"] != "Ok":
                raise SystemExit(f"subscribe failed: {result['code']} {result['message']}")
            print(f"subscribed, current_sequence={result['body']['current_sequence']}")
        elif kind == "Event" and msg["event_type"] == "NodeShutdown":
            p = msg["payload"]
            print(f"shutdown: reason={p['reason']} timeout={p['timeout_seconds']}s")
            # ... save state here, within timeout_seconds ...
            send(sock, {"type": "Ack", "sequence": msg["sequence"]})
            send(sock, {"type": "Goodbye", "reason": "shutdown acknowledged"})
            break
        elif kind == "Lagged":
            print(f"missed {msg['count']} events in "
                  f"{msg['from_sequence']}..={msg['to_sequence']}")
        elif kind in ("Error", "Goodbye"):
            print(f"node closing: {msg}")
            break
    sock.close()


if __name__ == "__main__":
    main()

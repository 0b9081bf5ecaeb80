#!/usr/bin/env python3
"""blvm module in Python serving a JSON-RPC method (docs/module-protocol.md section 9.1).

Registers `pygreet ( "name" "times" )`: returns {"greeting": "hello <name>", "times": n};
a missing name is JSON-RPC error -8. Acks NodeShutdown and exits; exits on EOF.
Needs msgpack; reuses the framing of crates/module/tests/python/minimal_module.py.
"""
import json
import os
import socket
import sys

# Framing (length prefix + msgpack) as in the protocol document's example module.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../module/tests/python"))
from minimal_module import recv, send  # noqa: E402


def answer(params):
    args = json.loads(params)
    name = args[0] if args else None
    if not isinstance(name, str) or not name:
        return {"status": "Ok", "body": {"kind": "RpcError", "code": -8, "message": "name is required"}}
    times = args[1] if len(args) > 1 and args[1] is not None else 1
    result = {"greeting": "hello " + name, "times": times}
    return {"status": "Ok", "body": {"kind": "RpcResult", "result": json.dumps(result)}}


def main():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ["BLVM_MODULE_SOCKET"])
    send(sock, {
        "type": "Handshake",
        "protocol_versions": [1],
        "module_name": os.environ["BLVM_MODULE_NAME"],
        "module_version": "0.1.0",
        "token": os.environ.get("BLVM_MODULE_TOKEN"),
    })
    if recv(sock)["type"] != "HandshakeAck":
        raise SystemExit("handshake refused")
    send(sock, {"type": "Request", "id": 1, "request": {
        "method": "RegisterRpcMethods",
        "methods": [{"name": "pygreet", "help": "Greets someone from Python.", "params": ["name", "times"]}],
    }})
    send(sock, {"type": "Request", "id": 2, "request": {
        "method": "SubscribeEvents", "event_types": ["NodeShutdown"], "from_sequence": None,
    }})
    try:
        while True:
            msg = recv(sock)
            kind = msg["type"]
            if kind == "Response" and msg["result"]["status"] != "Ok":
                raise SystemExit(f"request {msg['id']} failed: {msg['result']}")
            if kind == "Request":
                req = msg["request"]
                if req["method"] == "RpcCall" and req["name"] == "pygreet":
                    result = answer(req["params"])
                else:
                    result = {"status": "Err", "code": 1, "message": "not served"}
                send(sock, {"type": "Response", "id": msg["id"], "result": result})
            elif kind == "Event" and msg["event_type"] == "NodeShutdown":
                send(sock, {"type": "Ack", "sequence": msg["sequence"]})
                break
            elif kind in ("Error", "Goodbye"):
                break
    except EOFError:
        pass
    sock.close()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A libzmq subscriber (pyzmq) for tests/zmq.rs: one SUB socket per `topic=address` argument,
each subscribed to its topic; every message is printed as one JSON line
{"topic", "body" (hex), "seq" (the 4-byte LE sequence), "parts"}. Runs until stdin closes."""
import json
import select
import struct
import sys

import zmq


def main():
    ctx = zmq.Context()
    poller = zmq.Poller()
    for arg in sys.argv[1:]:
        topic, address = arg.split("=", 1)
        s = ctx.socket(zmq.SUB)
        s.setsockopt(zmq.SUBSCRIBE, topic.encode())
        s.connect(address)
        poller.register(s, zmq.POLLIN)
    print(json.dumps({"ready": True}), flush=True)
    while True:
        if select.select([sys.stdin], [], [], 0)[0] and not sys.stdin.read(1):
            break
        for s, _ in poller.poll(100):
            parts = s.recv_multipart()
            seq = struct.unpack("<I", parts[2])[0] if len(parts) == 3 and len(parts[2]) == 4 else None
            print(json.dumps({"topic": parts[0].decode(), "body": parts[1].hex(), "seq": seq, "parts": len(parts)}), flush=True)
    ctx.destroy(linger=0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""An independent P2P peer built on python-bitcoinlib (PyPI: python-bitcoinlib, module `bitcoin`).

Usage: p2p_client.py HOST:PORT CHAIN_HEX_FILE

Connects to a blvm node on regtest, performs the version/verack handshake, requests headers
(getheaders from genesis) and blocks (getdata MSG_BLOCK and MSG_WITNESS_BLOCK), and checks
everything it receives against the shared chain file (one block per line, hex, genesis first).
Exits 0 and prints "OK ..." on success; any mismatch raises and exits non-zero.

The node's framing and payloads are decoded with python-bitcoinlib, except `headers`: the
library reads each entry as a bare 80-byte header and does not skip the transaction-count byte
that follows it on the wire, so those entries are cut here and each one is decoded with the
library's CBlockHeader.
"""

import hashlib
import io
import socket
import struct
import sys
import time

import bitcoin
from bitcoin.core import CBlock, CBlockHeader, b2lx
from bitcoin.messages import (
    MsgSerializable,
    msg_getdata,
    msg_getheaders,
    msg_ping,
    msg_pong,
    msg_verack,
    msg_version,
)
from bitcoin.net import CInv

MSG_BLOCK = 2
MSG_WITNESS_BLOCK = 0x40000002


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("node closed the connection")
        buf += chunk
    return buf


def read_frame(sock):
    """Returns (command, message object or None, raw payload)."""
    head = read_exact(sock, 24)
    if head[:4] != bitcoin.params.MESSAGE_START:
        raise ValueError("wrong magic %r" % head[:4])
    command = head[4:16].split(b"\x00", 1)[0]
    (length,) = struct.unpack("<I", head[16:20])
    payload = read_exact(sock, length)
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != head[20:24]:
        raise ValueError("bad checksum on %r" % command)
    if command == b"headers":
        return command, None, payload
    return command, MsgSerializable.from_bytes(head + payload), payload


def read_varint(f):
    b = f.read(1)[0]
    if b < 0xFD:
        return b
    size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[b]
    return int.from_bytes(f.read(size), "little")


def parse_headers(payload):
    f = io.BytesIO(payload)
    n = read_varint(f)
    out = []
    for _ in range(n):
        out.append(CBlockHeader.stream_deserialize(f))
        if read_varint(f) != 0:
            raise ValueError("headers entry with transactions")
    if f.read(1):
        raise ValueError("trailing bytes in headers")
    return out


def expect(sock, wanted, timeout=30):
    """Reads until a message with command `wanted` arrives (answering pings)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        cmd, msg, payload = read_frame(sock)
        if cmd == b"ping" and msg is not None:
            sock.sendall(msg_pong(nonce=msg.nonce).to_bytes())
            continue
        if cmd == wanted:
            return msg, payload
    raise TimeoutError("no %r within %ss" % (wanted, timeout))


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    chain = [bytes.fromhex(line.strip()) for line in open(sys.argv[2]) if line.strip()]
    bitcoin.SelectParams("regtest")
    hashes = [CBlock.deserialize(raw).GetHash() for raw in chain]

    sock = socket.create_connection((host, int(port)), timeout=30)
    version = msg_version()
    version.nVersion = 70015
    version.nServices = 1 | 8
    version.addrTo.ip, version.addrTo.port = host, int(port)
    version.nStartingHeight = 0
    sock.sendall(version.to_bytes())
    theirs, _ = expect(sock, b"version")
    assert theirs.nVersion >= 70015, theirs
    assert theirs.strSubVer.startswith(b"/blvm:"), theirs.strSubVer
    assert theirs.nServices & 1 and theirs.nServices & 8, "node must offer NODE_NETWORK and NODE_WITNESS"
    assert theirs.nStartingHeight == len(chain) - 1, theirs.nStartingHeight
    sock.sendall(msg_verack().to_bytes())
    expect(sock, b"verack")

    # Headers from genesis: all 300, each linking to the previous, hashes as in the file.
    gh = msg_getheaders()
    gh.locator.nVersion = 70015
    gh.locator.vHave = [hashes[0]]
    sock.sendall(gh.to_bytes())
    _, payload = expect(sock, b"headers")
    headers = parse_headers(payload)
    assert len(headers) == len(chain) - 1, len(headers)
    for i, h in enumerate(headers, start=1):
        assert h.GetHash() == hashes[i], "header %d: %s != %s" % (i, b2lx(h.GetHash()), b2lx(hashes[i]))
        assert h.hashPrevBlock == hashes[i - 1], "header %d does not link" % i

    # A locator from the middle gives the rest of the chain.
    gh.locator.vHave = [hashes[200], hashes[100], hashes[0]]
    sock.sendall(gh.to_bytes())
    _, payload = expect(sock, b"headers")
    rest = parse_headers(payload)
    assert [h.GetHash() for h in rest] == hashes[201:], "headers after height 200"

    # Blocks with witness data: byte-identical to the file.
    heights = [1, 100, 150, 299, 300]
    gd = msg_getdata()
    gd.inv = []
    for h in heights:
        inv = CInv()
        inv.type = MSG_WITNESS_BLOCK
        inv.hash = hashes[h]
        gd.inv.append(inv)
    sock.sendall(gd.to_bytes())
    for h in heights:
        msg, payload = expect(sock, b"block")
        assert msg.block.GetHash() == hashes[h], "witness block %d" % h
        assert payload == chain[h], "witness block %d differs from the shared chain" % h

    # The same blocks without witness data (MSG_BLOCK): same header and txids, no witnesses.
    for inv in gd.inv:
        inv.type = MSG_BLOCK
    sock.sendall(gd.to_bytes())
    stripped_smaller = 0
    for h in heights:
        msg, payload = expect(sock, b"block")
        full = CBlock.deserialize(chain[h])
        assert msg.block.GetHash() == hashes[h], "block %d" % h
        assert [tx.GetTxid() for tx in msg.block.vtx] == [tx.GetTxid() for tx in full.vtx], "txids of block %d" % h
        assert not any(tx.has_witness() for tx in msg.block.vtx), "MSG_BLOCK %d carried witness data" % h
        if len(payload) < len(chain[h]):
            stripped_smaller += 1
    assert stripped_smaller > 0, "no block lost witness bytes: MSG_BLOCK was not stripped"

    # A ping is answered with the same nonce.
    sock.sendall(msg_ping(nonce=0x1234_5678).to_bytes())
    pong, _ = expect(sock, b"pong")
    assert pong.nonce == 0x1234_5678
    sock.close()
    print("OK handshake, %d headers, %d witness blocks, %d stripped blocks, tip %s" % (len(headers), len(heights), len(heights), b2lx(hashes[-1])))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Python peer for benches/block_propagation.rs, built on Bitcoin Core's functional test
framework (P2PInterface, HeaderAndShortIDs, AuthServiceProxy).

Usage: cmpct_peer.py CORE_FUNCTIONAL_DIR SPEC.json

SPEC: {"p2p": "127.0.0.1:PORT", "rpc_port": N, "cookie": "user:pass",
       "reps": [{"mode": "cmpctblock" | "block", "txs": [hex, ...], "block": hex}, ...]}

Connects to the node, asks for high-bandwidth compact block announcements (sendcmpct 1, v2),
gives it the "warmup" rep's block whole and waits to be made a high-bandwidth peer (Core takes
an unasked cmpctblock only from one), then for each other rep: puts the transactions in the node's mempool over RPC, sends the block as a
BIP152 cmpctblock (coinbase prefilled, wtxid short ids) or as a full block, and times from the
send until the node's waitforblock for that hash returns. Prints one JSON line per rep.
"""
import json
import os
import sys
import time

sys.path.insert(0, sys.argv[1])

from test_framework.authproxy import AuthServiceProxy  # noqa: E402
from test_framework.messages import (  # noqa: E402
    CBlock,
    HeaderAndShortIDs,
    from_hex,
    msg_block,
    msg_cmpctblock,
    msg_sendcmpct,
)
from test_framework.p2p import NetworkThread, P2PInterface  # noqa: E402


class Peer(P2PInterface):
    """Ignores transaction announcements (the default peer would fetch every one)."""

    def on_inv(self, message):
        pass


def main():
    spec = json.load(open(sys.argv[2]))
    host, port = spec["p2p"].rsplit(":", 1)
    rpc = AuthServiceProxy("http://%s@127.0.0.1:%d" % (spec["cookie"], spec["rpc_port"]), timeout=120)
    thread = NetworkThread()
    thread.start()
    while NetworkThread.network_event_loop is None or not NetworkThread.network_event_loop.is_running():
        time.sleep(0.01)
    peer = Peer()
    peer.peer_connect(dstaddr=host, dstport=int(port), net="regtest", timeout_factor=1,
                      supports_v2_p2p=False, send_version=True)()
    peer.wait_for_connect()
    peer.wait_for_verack()
    peer.send_and_ping(msg_sendcmpct(announce=True, version=2))
    for rep in spec["reps"]:
        for tx in rep["txs"]:
            rpc.sendrawtransaction(tx)
        assert rpc.getmempoolinfo()["size"] == len(rep["txs"])
        block = from_hex(CBlock(), rep["block"])
        want = block.hash_hex
        if rep["mode"] == "warmup":
            peer.send_without_ping(msg_block(block))
            assert rpc.waitforblock(want, 60000)["hash"] == want
            # The node now asks us for high-bandwidth announcements, so takes our cmpctblock.
            peer.wait_until(lambda: "sendcmpct" in peer.last_message and peer.last_message["sendcmpct"].announce)
            continue
        if rep["mode"] == "cmpctblock":
            cmpct = HeaderAndShortIDs()
            cmpct.initialize_from_block(block, nonce=0, prefill_list=[0], use_witness=True)
            msg = msg_cmpctblock(cmpct.to_p2p())
        else:
            msg = msg_block(block)
        # Serialized before the clock starts: Python's serialization of a large block is not
        # the node's time.
        raw = peer.build_message(msg)
        peer.sync_with_ping()
        time.sleep(0.2)
        t0 = time.perf_counter()
        peer.send_raw_message(raw)
        got = rpc.waitforblock(want, 60000)
        ms = (time.perf_counter() - t0) * 1000.0
        assert got["hash"] == want, "node did not connect %s: %s" % (want, got)
        assert rpc.getmempoolinfo()["size"] == 0
        print(json.dumps({"mode": rep["mode"], "ms": ms, "hash": want}), flush=True)
    peer.peer_disconnect()
    peer.wait_for_disconnect()
    thread.close(timeout=10)


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        import traceback
        traceback.print_exc()
        sys.stderr.flush()
        # The framework's network thread would keep a failed run alive.
        os._exit(1)

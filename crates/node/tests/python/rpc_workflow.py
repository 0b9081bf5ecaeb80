#!/usr/bin/env python3
"""A wallet-less regtest workflow through a third-party JSON-RPC client (python-bitcoinrpc's
AuthServiceProxy), authenticated with the node's cookie: generate blocks to an anyone-can-spend
P2WSH(OP_TRUE) address, build and send a transaction spending a mature coinbase, see it in the
mempool, mine it, and fetch it with getrawtransaction.

Usage: rpc_workflow.py http://__cookie__:<password>@127.0.0.1:<port>
Exits non-zero (with a message) on the first check that fails.
"""

import hashlib
import sys
from decimal import Decimal

from bitcoinrpc.authproxy import AuthServiceProxy, JSONRPCException

# --- BIP173 bech32 (segwit v0 addresses) ---------------------------------------------------
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32_polymod(values):
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((b >> i) & 1) else 0
    return chk


def bech32_hrp_expand(hrp):
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def convertbits(data, frombits, tobits):
    acc, bits, ret, maxv = 0, 0, [], (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            ret.append((acc >> bits) & maxv)
    if bits:
        ret.append((acc << (tobits - bits)) & maxv)
    return ret


def segwit_v0_address(hrp, program):
    data = [0] + convertbits(program, 8, 5)
    polymod = bech32_polymod(bech32_hrp_expand(hrp) + data + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in data + checksum)


# --- transaction serialization (one input, one output) -------------------------------------
def compact_size(n):
    assert n < 0xFD
    return bytes([n])


def unsigned_tx(txid_hex, vout, value_sat, spk, sequence=0xFFFFFFFD):
    return (
        (2).to_bytes(4, "little")
        + compact_size(1)
        + bytes.fromhex(txid_hex)[::-1]
        + vout.to_bytes(4, "little")
        + compact_size(0)
        + sequence.to_bytes(4, "little")
        + compact_size(1)
        + value_sat.to_bytes(8, "little")
        + compact_size(len(spk))
        + spk
        + (0).to_bytes(4, "little")
    )


def with_op_true_witness(raw):
    """Adds the segwit marker/flag and the witness [OP_TRUE] to a one-input transaction."""
    return raw[:4] + b"\x00\x01" + raw[4:-4] + b"\x01\x01\x51" + raw[-4:]


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    rpc = AuthServiceProxy(sys.argv[1], timeout=300)

    witness_script = b"\x51"
    program = hashlib.sha256(witness_script).digest()
    spk = b"\x00\x20" + program
    addr = segwit_v0_address("bcrt", program)
    info = rpc.validateaddress(addr)
    check(info["isvalid"] and info["iswitness"] and info["witness_program"] == program.hex(), f"validateaddress {addr}")
    check(info["scriptPubKey"] == spk.hex(), "address script is P2WSH(OP_TRUE)")

    start = rpc.getblockcount()
    hashes = rpc.generatetoaddress(101, addr)
    check(len(hashes) == 101 and rpc.getblockcount() == start + 101, "generatetoaddress 101 blocks")
    check(rpc.getbestblockhash() == hashes[-1], "best block is the last generated one")

    block = rpc.getblock(hashes[0], 2)
    coinbase = block["tx"][0]
    value = coinbase["vout"][0]["value"]
    check(coinbase["vout"][0]["scriptPubKey"]["hex"] == spk.hex(), "coinbase pays our address")
    fee = Decimal("0.00010000")
    out_sat = int((value - fee) * 100_000_000)
    try:
        raw_hex = rpc.createrawtransaction([{"txid": coinbase["txid"], "vout": 0}], [{addr: value - fee}])
        raw = bytes.fromhex(raw_hex)
        check(raw == unsigned_tx(coinbase["txid"], 0, out_sat, spk), "createrawtransaction matches a hand-built transaction (BIP125 sequence)")
    except JSONRPCException as e:
        if e.error.get("code") != -32601:
            raise
        raw = unsigned_tx(coinbase["txid"], 0, out_sat, spk)
    tx_hex = with_op_true_witness(raw).hex()

    accept = rpc.testmempoolaccept([tx_hex])[0]
    check(accept["allowed"] is True and accept["fees"]["base"] == fee, f"testmempoolaccept allows it: {accept}")
    txid = rpc.sendrawtransaction(tx_hex)
    check(txid == accept["txid"], "sendrawtransaction returns the txid")
    check(txid in rpc.getrawmempool(), "transaction is in getrawmempool")
    entry = rpc.getmempoolentry(txid)
    check(entry["fees"]["base"] == fee and entry["vsize"] == accept["vsize"], "getmempoolentry fee and vsize")
    check(rpc.getmempoolinfo()["size"] == 1, "getmempoolinfo size 1")
    check(rpc.getrawtransaction(txid) == tx_hex, "getrawtransaction finds it in the mempool")
    check(rpc.sendrawtransaction(tx_hex) == txid, "re-sending a mempool transaction returns its txid")
    cheaper = with_op_true_witness(unsigned_tx(coinbase["txid"], 0, out_sat + 1, spk)).hex()
    try:
        rpc.sendrawtransaction(cheaper)
        check(False, "a lower-fee conflicting spend is rejected")
    except JSONRPCException as e:
        check(e.error["code"] == -26 and e.error["message"].startswith("insufficient fee"), f"replacement refused: {e.error}")

    mined = rpc.generatetoaddress(1, addr)[0]
    check(rpc.getrawmempool() == [], "mempool empty after mining")
    check(txid in [t for t in rpc.getblock(mined)["tx"]], "the block contains the transaction")
    tx = rpc.getrawtransaction(txid, True, mined)
    check(tx["txid"] == txid and tx["blockhash"] == mined and tx["confirmations"] == 1, "getrawtransaction with the block hash")
    check(tx["vout"][0]["value"] == value - fee, "output value")
    print("rpc workflow passed")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes fuzz/seeds/module_handshake/: first byte = what the harness sends first (0 nothing,
1 an unauthenticated handshake, 2 a token handshake), then MessagePack frames as rmp_serde
writes them (u32 big-endian length + named map). Run from fuzz/."""
import struct
def mp(v):
    if v is None: return b'\xc0'
    if v is True: return b'\xc3'
    if v is False: return b'\xc2'
    if isinstance(v, int):
        assert v >= 0
        if v < 128: return bytes([v])
        if v < 256: return b'\xcc' + bytes([v])
        if v < 65536: return b'\xcd' + struct.pack('>H', v)
        if v < 2**32: return b'\xce' + struct.pack('>I', v)
        return b'\xcf' + struct.pack('>Q', v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32: return bytes([0xa0 | len(b)]) + b
        if len(b) < 256: return b'\xd9' + bytes([len(b)]) + b
        return b'\xda' + struct.pack('>H', len(b)) + b
    if isinstance(v, list):
        assert len(v) < 16
        return bytes([0x90 | len(v)]) + b''.join(mp(x) for x in v)
    if isinstance(v, dict):
        assert len(v) < 16
        return bytes([0x80 | len(v)]) + b''.join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(v)
def frame(msg):
    p = mp(msg)
    return struct.pack('>I', len(p)) + p
def req(i, r): return frame({"Request": {"id": i, "request": r}})
d = 'seeds/module_handshake/'
hs = frame({"Handshake": {"protocol_versions": [1], "module_name": "seed", "module_version": "0.1", "token": None}})
txhex = '02000000'+'01'+'11'*32+'00000000'+'00'+'fdffffff'+'01'+'e803000000000000'+'04'+'51024e73'+'00000000'
reads = b''.join([
    req(1, {"method": "GetChainTip"}),
    req(2, {"method": "GetBlock", "hash": None, "height": 0}),
    req(3, {"method": "GetBlockHeader", "hash": "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206", "height": None}),
    req(4, {"method": "GetUtxo", "txid": "11"*32, "vout": 0}),
    req(5, {"method": "GetTransaction", "txid": "11"*32}),
    req(6, {"method": "GetMempoolInfo"}),
    req(7, {"method": "GetMempoolTxids"}),
    req(8, {"method": "GetPeers"}),
    req(9, {"method": "GetBlockchainInfo"}),
    req(10, {"method": "GetSyncStatus"}),
])
writes = b''.join([
    req(1, {"method": "SubscribeEvents", "event_types": ["NewBlock", "ModuleEvent"], "from_sequence": 0}),
    req(2, {"method": "PublishEvent", "name": "tick", "data": "{\"n\":1}"}),
    frame({"Ack": {"sequence": 1}}),
    req(3, {"method": "SubmitTransaction", "hex": txhex}),
    req(4, {"method": "ReportHealth", "healthy": False, "report": "seed"}),
    req(5, {"method": "Unsubscribe", "event_types": ["NewBlock"]}),
    frame({"Goodbye": {"reason": "done"}}),
])
open(d + 'own-handshake-reads', 'wb').write(b'\x00' + hs + reads)
open(d + 'unauth-reads', 'wb').write(b'\x01' + reads)
open(d + 'unauth-writes', 'wb').write(b'\x01' + writes)
open(d + 'token-reads-writes', 'wb').write(b'\x02' + reads + writes)
open(d + 'wrong-first-message', 'wb').write(b'\x00' + req(1, {"method": "GetChainTip"}))
open(d + 'bad-version', 'wb').write(b'\x00' + frame({"Handshake": {"protocol_versions": [99], "module_name": "seed", "module_version": "0", "token": "00"}}))

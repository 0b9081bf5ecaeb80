#!/usr/bin/env python3
"""Writes fuzz/seeds/p2p_stateful/: messages as [command index][u16 LE length][payload] (the
index into COMMANDS of the target; others mean the payload's first 12 bytes are the command).
Run from fuzz/."""
import struct
C = ["headers", "inv", "getdata", "addr", "addrv2", "tx", "block", "getheaders", "getblocks", "ping", "pong", "sendheaders",
     "sendcmpct", "feefilter", "mempool", "notfound", "getaddr", "wtxidrelay", "sendaddrv2", "cmpctblock", "getblocktxn", "blocktxn"]
def m(cmd, payload=b''): return bytes([C.index(cmd)]) + struct.pack('<H', len(payload)) + payload
d = 'seeds/p2p_stateful/'
genesis = bytes.fromhex('0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206')[::-1]
tx = bytes.fromhex('02000000' + '01' + '11' * 32 + '00000000' + '00' + 'fdffffff' + '01' + 'e803000000000000' + '04' + '51024e73' + '00000000')
txid = bytes(32)
header = struct.pack('<i', 0x20000000) + genesis + b'\x22' * 32 + struct.pack('<III', 1296688700, 0x207fffff, 0)
addr = struct.pack('<I', 1700000000) + struct.pack('<Q', 9) + bytes(10) + b'\xff\xff' + bytes([198, 51, 100, 7]) + struct.pack('>H', 18444)
open(d + 'ping-getheaders', 'wb').write(m('ping', struct.pack('<Q', 7)) + m('getheaders', struct.pack('<I', 70016) + b'\x01' + genesis + bytes(32)) + m('sendheaders') + m('getaddr'))
open(d + 'inv-getdata-tx', 'wb').write(m('wtxidrelay') + m('inv', b'\x01' + struct.pack('<I', 1) + b'\x33' * 32) + m('tx', tx) + m('getdata', b'\x01' + struct.pack('<I', 1) + txid) + m('mempool') + m('notfound', b'\x01' + struct.pack('<I', 1) + b'\x33' * 32))
open(d + 'headers-addr', 'wb').write(m('headers', b'\x01' + header + b'\x00') + m('addr', b'\x01' + addr) + m('feefilter', struct.pack('<Q', 1000)) + m('sendcmpct', b'\x00' + struct.pack('<Q', 2)))
open(d + 'getdata-block', 'wb').write(m('getdata', b'\x01' + struct.pack('<I', 0x40000002) + genesis) + m('getblocks', struct.pack('<I', 70016) + b'\x01' + genesis + bytes(32)))

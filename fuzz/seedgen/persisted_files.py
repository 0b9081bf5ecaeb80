#!/usr/bin/env python3
"""Writes fuzz/seeds/persisted_files/: first byte = file kind (0 mempool.dat, 1 peers.json,
2 banlist.json, 3 module.toml), then the file. Run from fuzz/."""
import json, struct
d = 'seeds/persisted_files/'
tx = bytes.fromhex('02000000' + '01' + '11' * 32 + '01000000' + '00' + 'ffffffff' + '01' + 'e803000000000000' + '04' + '51024e73' + '00000000')
body = struct.pack('<Q', 1) + tx + struct.pack('<q', 1700000000) + struct.pack('<q', 0) + b'\x00\x00'
open(d + 'mempool-dat-v1', 'wb').write(b'\x00' + struct.pack('<Q', 1) + body)
key = bytes([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88])
v2 = bytearray(struct.pack('<Q', 2) + b'\x08' + key)
for i, b in enumerate(body):
    v2.append(b ^ key[(17 + i) % 8])  # XOR over absolute file offsets, as Core
open(d + 'mempool-dat-v2', 'wb').write(b'\x00' + bytes(v2))
peers = {"version": 1,
         "new": [{"addr": "198.51.100.7:8333", "services": 9, "time": 1699999000, "last_try": 0, "last_success": 0, "attempts": 0, "source": "203.0.113.1"}],
         "tried": [{"addr": "[2001:db8::1]:18444", "services": 1033, "time": 1699999900, "last_try": 1699999900, "last_success": 1699999900, "attempts": 1, "source": "2001:db8::2"}]}
open(d + 'peers-json', 'wb').write(b'\x01' + json.dumps(peers).encode())
ban = {"banned_nets": [
    {"version": 1, "ban_created": 1700000000, "banned_until": 4102444800, "address": "10.0.0.0/8", "reason": "manual"},
    {"version": 1, "ban_created": 1700000000, "banned_until": 4102444800, "address": "2001:db8::/255.255.255.0"},
    {"version": 1, "ban_created": 1700000000, "banned_until": 4102444800, "address": "192.0.2.1/32"}]}
open(d + 'banlist-json', 'wb').write(b'\x02' + json.dumps(ban).encode())
toml = b'''name = "fee-watch"
version = "0.1.0"
entry = "python3"
args = ["watch.py", "--quiet"]
capabilities = ["read_chain", "read_mempool"]
autoload = false

[config]
threshold = 5
names = ["a", "b"]
'''
open(d + 'module-toml', 'wb').write(b'\x03' + toml)

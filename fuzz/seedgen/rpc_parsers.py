#!/usr/bin/env python3
"""Writes fuzz/seeds/rpc_parsers/: first byte = method index (see METHODS in the target), plus
len(METHODS) when the rest is JSON params rather than one string parameter. Run from fuzz/."""
import hashlib, json, struct
d = 'seeds/rpc_parsers/'
# BIP380 descriptor checksum, written from the specification.
INPUT_CHARSET = "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
CHECKSUM_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
GEN = [0xf5dee51989, 0xa9fdca3312, 0x1bab10e32d, 0x3706b1677a, 0x644d626ffd]
def polymod(c, val):
    c0 = c >> 35
    c = ((c & 0x7ffffffff) << 5) ^ val
    for i in range(5):
        if (c0 >> i) & 1:
            c ^= GEN[i]
    return c
def checksum(s):
    c, cls, n = 1, 0, 0
    for ch in s:
        pos = INPUT_CHARSET.find(ch)
        c = polymod(c, pos & 31)
        cls, n = cls * 3 + (pos >> 5), n + 1
        if n == 3:
            c, cls, n = polymod(c, cls), 0, 0
    if n > 0:
        c = polymod(c, cls)
    for _ in range(8):
        c = polymod(c, 0)
    c ^= 1
    return s + '#' + ''.join(CHECKSUM_CHARSET[(c >> (5 * (7 - i))) & 31] for i in range(8))
M = ["decoderawtransaction", "decodescript", "createrawtransaction", "combinerawtransaction", "signrawtransactionwithkey", "createmultisig",
     "getdescriptorinfo", "deriveaddresses", "verifytxoutproof", "validateaddress", "testmempoolaccept", "gettxspendingprevout"]
def s(name, text): open(d + name, 'wb').write(bytes([M.index(name.split('-')[0])]) + text.encode())
def j(name, v): open(d + name, 'wb').write(bytes([M.index(name.split('-')[0]) + len(M)]) + json.dumps(v).encode())
G = '0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798'
G2 = '02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5'
txhex = '02000000' + '01' + '11' * 32 + '00000000' + '00' + 'fdffffff' + '01' + 'e803000000000000' + '16' + '0014' + '22' * 20 + '00000000'
segwit = '02000000' + '0001' + '01' + '11' * 32 + '00000000' + '00' + 'fdffffff' + '01' + 'e803000000000000' + '04' + '51024e73' + '0101' + '51' + '00000000'
tpub = 'tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp'
s('decoderawtransaction-legacy', txhex)
s('decoderawtransaction-segwit', segwit)
s('decodescript-multisig', '52' + '21' + G + '21' + G2 + '52ae')
j('createrawtransaction-data', [[{"txid": '11' * 32, "vout": 0, "sequence": 1}], [{"data": "00ff"}], 0, True])
j('combinerawtransaction-two', [[txhex, txhex]])
j('signrawtransactionwithkey-p2wpkh', [txhex, ["cVt4o7BGAig1UXywgGSmARhxMdzP5qvQsxKkSsc1XEkw3tDTQFpy"], [{"txid": '11' * 32, "vout": 0, "scriptPubKey": "0014" + '22' * 20, "amount": 1}]])
j('createmultisig-bech32', [2, [G, G2], "bech32"])
s('getdescriptorinfo-wsh-multi', 'wsh(sortedmulti(1,' + G + ',' + G2 + '))')
s('getdescriptorinfo-tr', 'tr(' + G[2:] + ',{pk(' + G2 + '),pk(' + G + ')})')
j('deriveaddresses-ranged', [checksum('wpkh(' + tpub + "/0h/*)"), [0, 2]])
j('deriveaddresses-sh-wpkh', [checksum('sh(wpkh(' + G + '))')])
# A merkle block with one transaction (the root is its txid).
txid = hashlib.sha256(hashlib.sha256(bytes.fromhex(txhex)).digest()).digest()
header = struct.pack('<i', 0x20000000) + b'\x00' * 32 + txid + struct.pack('<III', 1296688602, 0x207fffff, 0)
s('verifytxoutproof-one', (header + struct.pack('<I', 1) + b'\x01' + txid + b'\x01\x01').hex())
s('validateaddress-bech32', 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080')
s('validateaddress-two-errors', 'bcrt1qax9suht3qv95sw33xavx8crpxduefdrsvgsklu')
j('testmempoolaccept-one', [[segwit]])
j('gettxspendingprevout-one', [[{"txid": '11' * 32, "vout": 0}]])

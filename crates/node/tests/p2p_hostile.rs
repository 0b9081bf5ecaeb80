//! Hostile peers against a real node holding the shared 300-block chain: malformed messages,
//! bad checksums, wrong magic, oversized payloads, unknown commands, messages before the
//! handshake, headers that do not connect, invalid headers, blocks and transactions, floods
//! and slowloris peers. Each hostile peer connects from its own loopback address (127.0.0.N)
//! so that discouragement can be checked per address; after every case an honest peer on
//! 127.0.0.1 must still be served headers and blocks, and the chain state must be unchanged.
//! Misbehaving peers are discouraged (Core's "Disconnecting and discouraging peer"), never added
//! to the ban list; `setban` bans survive a restart.

mod support;

use support::{http, mining, node_proc, p2p_peer};

use bitcoin::block::Header;
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::{GetHeadersMessage, Inventory};
use bitcoin::{Amount, Block, BlockHash, OutPoint, Sequence, Transaction, TxIn, TxOut, Witness};
use node_proc::NodeProc;
use p2p_peer::{raw_frame, rpc, Recv, TestPeer};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

struct Ctx {
    node: NodeProc,
    rpc_port: u16,
    addr: SocketAddr,
    blocks: Vec<Block>,
    utxo_hash: String,
}

impl Ctx {
    fn rpc(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
        rpc(&self.node, self.rpc_port, method, params)
    }

    fn banned(&self) -> Vec<String> {
        self.rpc("listbanned", json!([]))
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["address"].as_str().unwrap().to_string())
            .collect()
    }

    fn peer(&self, from: &str) -> TestPeer {
        TestPeer::connect_from(self.addr, from).unwrap_or_else(|e| panic!("connect from {from}: {e}"))
    }

    fn ready_peer(&self, from: &str) -> TestPeer {
        let mut p = self.peer(from);
        p.handshake(0);
        p
    }

    /// The node closes the connection; its log gives `reason`.
    fn assert_dropped(&self, p: &mut TestPeer, from: &str, reason: &str) {
        assert!(
            p.wait_closed(Duration::from_secs(10)),
            "node kept the connection from {from} open (expected: {reason})\n{}",
            self.node.log()
        );
        self.node.wait_until(Duration::from_secs(5), reason, |n| n.log().contains(reason));
    }

    /// Misbehaviour discourages the address (Core's "Disconnecting and discouraging peer N!")
    /// without adding it to the operator's ban list.
    fn assert_discouraged(&self, from: &str) {
        let needle = format!("addr={from}:");
        self.node.wait_until(Duration::from_secs(5), &format!("{from} discouraged"), |n| {
            n.log()
                .lines()
                .any(|l| l.contains("Disconnecting and discouraging peer") && l.contains(&needle))
        });
        assert!(
            self.banned().is_empty(),
            "misbehaviour must not fill the ban list: {:?}",
            self.banned()
        );
    }

    fn assert_banned(&self, from: &str) {
        // A banned address is refused: the connection is closed without a version.
        let mut p = self.peer(from);
        let _ = p.send(NetworkMessage::Version(p.version_msg(0)));
        match p.recv(Duration::from_secs(5)) {
            Recv::Closed => {}
            other => panic!("banned {from} was served: {other:?}"),
        }
    }

    fn assert_not_banned(&self, from: &str) {
        assert!(
            !self.banned().contains(&format!("{from}/32")),
            "{from} should not be banned: {:?}",
            self.banned()
        );
        let mut p = self.peer(from);
        p.handshake(0);
    }

    /// An honest peer is still served headers and blocks, and the chain is untouched.
    fn assert_serving(&self) {
        let mut p = self.ready_peer("127.0.0.1");
        let genesis = self.blocks[0].block_hash();
        p.send(NetworkMessage::GetHeaders(GetHeadersMessage::new(
            vec![genesis],
            BlockHash::all_zeros(),
        )))
        .unwrap();
        let headers = p.expect(Duration::from_secs(10), "headers", |m| match m {
            NetworkMessage::Headers(h) => Some(h.clone()),
            _ => None,
        });
        assert_eq!(headers.len(), 300);
        for (i, h) in headers.iter().enumerate() {
            assert_eq!(h.block_hash(), self.blocks[i + 1].block_hash(), "header {}", i + 1);
        }
        let want = self.blocks[150].block_hash();
        p.send(NetworkMessage::GetData(vec![Inventory::WitnessBlock(want)])).unwrap();
        let got = p.expect(Duration::from_secs(10), "block 150", |m| match m {
            NetworkMessage::Block(b) => Some(b.clone()),
            _ => None,
        });
        assert_eq!(got, self.blocks[150]);
        assert_eq!(self.rpc("getblockcount", json!([])), 300);
        assert_eq!(self.rpc("getbestblockhash", json!([])), self.blocks[300].block_hash().to_string());
        assert_eq!(self.rpc("gettxoutsetinfo", json!([]))["hash_serialized_3"], self.utxo_hash);
    }
}

fn start(datadir: &std::path::Path, rpc_port: u16) -> NodeProc {
    node_proc::start_node_in(
        datadir,
        &[
            &format!("-rpcport={rpc_port}"),
            "-port=0",
            "-bind=127.0.0.1",
            "-peertimeout=2",
            "-debug=net",
            // The shared chain's tip is days old: without this the node would be in initial
            // block download and ignore relayed transactions, as Core does.
            "-maxtipage=3153600000",
        ],
        &[],
    )
}

fn tip_parent(blocks: &[Block]) -> mining::Parent {
    let times: Vec<u32> = blocks[blocks.len() - 11..blocks.len() - 1].iter().map(|b| b.header.time).collect();
    mining::Parent::from_block(&blocks[300], 300, &times)
}

#[test]
fn hostile_peers_are_dropped_or_discouraged_and_honest_peers_still_served() {
    let tmp = tempfile::tempdir().unwrap();
    node_proc::import_offline(tmp.path(), &support::chain_hex_path());
    let rpc_port = http::free_port();
    let node = start(tmp.path(), rpc_port);
    node.wait_started();
    let addr = p2p_peer::p2p_addr(&node);
    let core = support::core_json();
    let utxo_hash = core["gettxoutsetinfo"]["hash_serialized_3"]["hash_serialized_3"]
        .as_str()
        .unwrap()
        .to_string();
    let ctx = Ctx {
        node,
        rpc_port,
        addr,
        blocks: support::chain_blocks(),
        utxo_hash,
    };
    ctx.assert_serving();

    // 1. Wrong network magic (mainnet): disconnect, no ban.
    let mut p = ctx.peer("127.0.0.2");
    let mut f = raw_frame("version", &[0u8; 10]);
    f[..4].copy_from_slice(&[0xf9, 0xbe, 0xb4, 0xd9]);
    p.send_raw(&f).unwrap();
    ctx.assert_dropped(&mut p, "127.0.0.2", "Header error: Wrong MessageStart f9beb4d9 received");
    ctx.assert_not_banned("127.0.0.2");

    // 2. Bad checksum: the message is dropped, as Core's transport does (it costs what a
    //    valid message costs; the byte budget and rate limit apply), the connection stays.
    let mut p = ctx.ready_peer("127.0.0.3");
    let mut f = p2p_peer::frame(NetworkMessage::Ping(42));
    f[20] ^= 0xff;
    p.send_raw(&f).unwrap();
    assert_still_served(&mut p, 43);
    ctx.node.wait_until(Duration::from_secs(5), "checksum log", |n| {
        n.log().contains("Header error: Wrong checksum (ping, 8 bytes)")
    });

    // 3. Oversized payload (announced 4,000,001 bytes): ban before anything is read.
    let mut p = ctx.ready_peer("127.0.0.4");
    let mut f = raw_frame("block", &[]);
    f[16..20].copy_from_slice(&4_000_001u32.to_le_bytes());
    p.send_raw(&f).unwrap();
    ctx.assert_dropped(&mut p, "127.0.0.4", "Header error: Size too large (block, 4000001 bytes)");
    ctx.assert_discouraged("127.0.0.4");

    // 4. Malformed payload with a correct checksum (a ping too short for its nonce): skipped
    //    and logged as Core's ProcessMessages exception, the connection stays.
    let mut p = ctx.ready_peer("127.0.0.5");
    p.send_raw(&raw_frame("ping", &[1, 2, 3])).unwrap();
    assert_still_served(&mut p, 44);
    ctx.node.wait_until(Duration::from_secs(5), "exception log", |n| {
        n.log().contains("ProcessMessages(ping, 3 bytes): Exception")
    });

    // 5. Unknown command after the handshake: disconnect, no ban.
    let mut p = ctx.ready_peer("127.0.0.6");
    p.send_raw(&raw_frame("bogus", b"xyz")).unwrap();
    ctx.assert_dropped(&mut p, "127.0.0.6", "unknown command 'bogus'");
    ctx.assert_not_banned("127.0.0.6");

    // 6. Anything but version first: ignored and never answered (as Core); the handshake
    //    deadline (-peertimeout) still drops the peer, without a ban.
    let mut p = ctx.peer("127.0.0.7");
    p.send(NetworkMessage::GetHeaders(GetHeadersMessage::new(vec![], BlockHash::all_zeros())))
        .unwrap();
    ctx.assert_dropped(&mut p, "127.0.0.7", "socket no message in first 2 seconds, never sent to peer");
    ctx.assert_not_banned("127.0.0.7");

    // 7. Headers that never connect: each is answered with a getheaders for the gap and the
    //    peer is kept (Core >= 28 dropped the penalty: a header announcement that does not
    //    connect is benign, e.g. after we ignored a low-work header). One getheaders is
    //    outstanding at a time: the peer's empty reply releases the next.
    let mut p = ctx.ready_peer("127.0.0.8");
    p.send(NetworkMessage::Headers(vec![])).unwrap();
    for i in 0..11u8 {
        let mut h = ctx.blocks[5].header;
        h.prev_blockhash = BlockHash::from_byte_array([i + 1; 32]);
        mining::mine(&mut h);
        p.send(NetworkMessage::Headers(vec![h])).unwrap();
        p.expect(Duration::from_secs(10), "getheaders for the gap", |m| match m {
            NetworkMessage::GetHeaders(_) => Some(()),
            _ => None,
        });
        p.send(NetworkMessage::Headers(vec![])).unwrap();
    }
    assert_still_served(&mut p, 8);
    assert!(
        !ctx.node
            .log()
            .lines()
            .any(|l| l.contains("discouraging") && l.contains("addr=127.0.0.8:")),
        "unconnecting headers must not discourage"
    );
    drop(p);

    // 8. A header on our tip with too little work (mainnet difficulty bits): ban.
    let mut p = ctx.ready_peer("127.0.0.9");
    let parent = tip_parent(&ctx.blocks);
    let mut bad = mining::build_block(&parent, 9, vec![], Amount::ZERO, mining::op_true());
    bad.header.bits = bitcoin::CompactTarget::from_consensus(0x1d00_ffff);
    p.send(NetworkMessage::Headers(vec![bad.header])).unwrap();
    ctx.assert_dropped(&mut p, "127.0.0.9", "header with invalid proof of work");
    ctx.assert_discouraged("127.0.0.9");

    // 9. A well-formed, well-mined block that breaks a consensus rule (coinbase claims 1 BTC
    //    of fees that do not exist): ban, block marked invalid, chain unchanged.
    let mut p = ctx.ready_peer("127.0.0.10");
    let overpay = mining::build_block(&parent, 10, vec![], Amount::from_btc(1.0).unwrap(), mining::op_true());
    p.send(NetworkMessage::Block(overpay.clone())).unwrap();
    ctx.assert_dropped(&mut p, "127.0.0.10", "bad-cb-amount");
    ctx.assert_discouraged("127.0.0.10");
    let hdr = p2p_peer::rpc_raw(&ctx.node, ctx.rpc_port, "getblockheader", json!([overpay.block_hash().to_string()]));
    assert_eq!(hdr["result"]["confirmations"], -1, "invalid block must not be active: {hdr}");

    // 10. A mutated block: valid header of a block we do not have yet, transactions that do
    //     not match its merkle root: ban, and the real block is still accepted later.
    let mut p = ctx.ready_peer("127.0.0.11");
    let good = mining::build_block(&parent, 11, vec![], Amount::ZERO, mining::op_true());
    let mut mutated = good.clone();
    mutated.txdata[0].output[0].value = Amount::from_sat(1);
    p.send(NetworkMessage::Block(mutated)).unwrap();
    ctx.assert_dropped(&mut p, "127.0.0.11", "bad-txnmrklroot");
    ctx.assert_discouraged("127.0.0.11");

    // 11. A consensus-invalid transaction (the same input twice): ban.
    let mut p = ctx.ready_peer("127.0.0.12");
    let op = OutPoint {
        txid: ctx.blocks[1].txdata[0].compute_txid(),
        vout: 0,
    };
    let input = TxIn {
        previous_output: op,
        script_sig: bitcoin::ScriptBuf::new(),
        sequence: Sequence::MAX,
        witness: Witness::new(),
    };
    let dup = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![input.clone(), input],
        output: vec![TxOut {
            value: Amount::from_sat(1000),
            script_pubkey: mining::p2wsh_op_true(),
        }],
    };
    p.send(NetworkMessage::Tx(dup)).unwrap();
    ctx.assert_dropped(&mut p, "127.0.0.12", "bad-txns-inputs-duplicate");
    ctx.assert_discouraged("127.0.0.12");

    // 12. An inv with more than 50,000 entries: ban.
    let mut p = ctx.ready_peer("127.0.0.13");
    let inv: Vec<Inventory> = (0..50_001u32)
        .map(|i| Inventory::WTx(bitcoin::Wtxid::from_byte_array([(i % 251) as u8; 32])))
        .collect();
    let _ = p.send(NetworkMessage::Inv(inv));
    ctx.assert_dropped(&mut p, "127.0.0.13", "inv message size = 50001");
    ctx.assert_discouraged("127.0.0.13");

    // 13. Slowloris: connect and say nothing -> dropped after -peertimeout, no ban.
    let t = Instant::now();
    let mut p = ctx.peer("127.0.0.14");
    ctx.assert_dropped(
        &mut p,
        "127.0.0.14",
        "socket no message in first 2 seconds, never received from peer, never sent to peer",
    );
    assert!(t.elapsed() < Duration::from_secs(8), "silent peer kept for {:?}", t.elapsed());
    ctx.assert_not_banned("127.0.0.14");

    // 14. Slowloris: start a message and never finish it -> dropped after -peertimeout.
    let mut p = ctx.ready_peer("127.0.0.15");
    let f = p2p_peer::frame(NetworkMessage::Ping(7));
    let t = Instant::now();
    p.send_raw(&f[..10]).unwrap();
    assert!(p.wait_closed_silent(Duration::from_secs(10)), "half-sent header kept open");
    ctx.node.wait_until(Duration::from_secs(5), "slowloris log", |n| {
        n.log().contains("message not completed within 2s")
    });
    assert!(t.elapsed() < Duration::from_secs(8));
    let mut p = ctx.ready_peer("127.0.0.15");
    let f = p2p_peer::frame(NetworkMessage::Ping(8));
    p.send_raw(&f[..26]).unwrap();
    assert!(p.wait_closed_silent(Duration::from_secs(10)), "half-sent payload kept open");
    ctx.assert_not_banned("127.0.0.15");

    // 15. Non-continuous headers (second does not follow the first): ban.
    let mut p = ctx.ready_peer("127.0.0.16");
    let h1: Header = ctx.blocks[1].header;
    let h3: Header = ctx.blocks[3].header;
    p.send(NetworkMessage::Headers(vec![h1, h3])).unwrap();
    ctx.assert_dropped(&mut p, "127.0.0.16", "non-continuous headers sequence");
    ctx.assert_discouraged("127.0.0.16");

    // 16. A message flood (15,000 pings at once, far above 2,000/s with a 10,000 burst): ban.
    let mut p = ctx.ready_peer("127.0.0.17");
    let one = p2p_peer::frame(NetworkMessage::Ping(1));
    let flood: Vec<u8> = one.iter().copied().cycle().take(one.len() * 15_000).collect();
    let _ = p.send_raw(&flood);
    ctx.assert_dropped(&mut p, "127.0.0.17", "message flood");
    ctx.assert_discouraged("127.0.0.17");

    // After all of it the honest peer is served, the chain and UTXO set are intact, and the
    // valid block that the mutated copy imitated is still accepted.
    ctx.assert_serving();
    let mut honest = ctx.ready_peer("127.0.0.1");
    honest.send(NetworkMessage::Block(good.clone())).unwrap();
    ctx.node.wait_until(Duration::from_secs(10), "the genuine block to connect", |_| {
        ctx.rpc("getbestblockhash", json!([])) == json!(good.block_hash().to_string())
    });
    drop(honest);

    // Misbehaviour left the operator's ban list alone; setban entries are persisted: after a
    // restart they are still listed and enforced.
    assert!(ctx.banned().is_empty());
    ctx.rpc("setban", json!(["127.0.0.3", "add", 3600]));
    ctx.rpc("setban", json!(["127.0.0.128/25", "add"]));
    ctx.assert_banned("127.0.0.3");
    ctx.assert_banned("127.0.0.200");
    let before = ctx.banned();
    assert_eq!(before.len(), 2, "{before:?}");
    let Ctx {
        mut node,
        blocks,
        utxo_hash,
        ..
    } = ctx;
    let (st, _) = node.stop(Duration::from_secs(30));
    assert!(st.success());
    let banlist: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("regtest/banlist.json")).unwrap()).unwrap();
    assert_eq!(banlist["banned_nets"].as_array().unwrap().len(), before.len());
    let rpc_port = http::free_port();
    let node = start(tmp.path(), rpc_port);
    node.wait_until(Duration::from_secs(30), "second startup", |n| {
        n.log().matches("node startup completed").count() == 2
    });
    let addr = p2p_peer::p2p_addr(&node);
    let ctx = Ctx {
        node,
        rpc_port,
        addr,
        blocks,
        utxo_hash,
    };
    let mut after = ctx.banned();
    let mut b = before.clone();
    after.sort();
    b.sort();
    assert_eq!(after, b);
    ctx.assert_banned("127.0.0.3");
    ctx.assert_banned("127.0.0.130");
    // setban/clearbanned manage the list.
    ctx.rpc("setban", json!(["127.0.0.99", "add", 600]));
    assert!(ctx.banned().contains(&"127.0.0.99/32".to_string()));
    assert_eq!(
        p2p_peer::rpc_raw(&ctx.node, ctx.rpc_port, "setban", json!(["127.0.0.99", "add"]))["error"]["code"],
        -23
    );
    ctx.rpc("setban", json!(["127.0.0.99", "remove"]));
    assert_eq!(
        p2p_peer::rpc_raw(&ctx.node, ctx.rpc_port, "setban", json!(["not-an-ip", "add"]))["error"]["code"],
        -30
    );
    ctx.rpc("clearbanned", json!([]));
    assert!(ctx.banned().is_empty());
    ctx.assert_not_banned("127.0.0.3");
}

/// The connection still answers a ping with `nonce`.
fn assert_still_served(p: &mut TestPeer, nonce: u64) {
    p.send(NetworkMessage::Ping(nonce)).unwrap();
    p.expect(Duration::from_secs(10), "pong", |m| match m {
        NetworkMessage::Pong(n) if *n == nonce => Some(()),
        _ => None,
    });
}

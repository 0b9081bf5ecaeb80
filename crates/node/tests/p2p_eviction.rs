//! Inbound eviction at the connection limit, as Core's: which peer gives up its slot (block
//! relayers and the fastest pingers are protected), and the share of inbound slots
//! transaction-relaying peers may hold (`-inboundrelaypercent`), with Core's log lines.

mod support;

use support::{node_proc, p2p_peer};

use bitcoin::consensus::encode::deserialize_hex;
use bitcoin::p2p::message::NetworkMessage;
use node_proc::NodeProc;
use p2p_peer::{rpc, Recv, TestPeer};
use serde_json::json;
use std::time::{Duration, Instant};

fn start(args: &[&str]) -> (NodeProc, u16) {
    p2p_peer::start_listening(args)
}

/// Whether the node closed the connection within `timeout` (the peer reads but never answers).
fn closed(p: &mut TestPeer, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match p.recv(deadline.saturating_duration_since(Instant::now())) {
            Recv::Closed => return true,
            Recv::Timeout => return false,
            Recv::Msg(_) => {}
        }
    }
}

/// Core's p2p_eviction scenario: with every inbound slot taken, a newcomer evicts an
/// unprotected peer, never the peer that gave us a block nor one of the 8 fastest pingers
/// (all peers share one network group, so 4 arbitrary ones are protected by group).
#[test]
fn eviction_spares_block_relayers_and_fast_pingers() {
    // 32 connections less Core's 11 outbound slots: 21 inbound, all allowed to relay txs.
    let (n, port) = start(&["-maxconnections=32", "-inboundrelaypercent=100"]);
    let addr = p2p_peer::p2p_addr(&n);
    let connect = |i: u8| {
        let mut p = TestPeer::connect_from(addr, &format!("127.0.0.{}", 10 + i)).unwrap();
        p.handshake(0);
        p
    };
    // Peer 0 gives us a new block.
    let mut peers = vec![connect(0)];
    let block = rpc(
        &n,
        port,
        "generateblock",
        json!(["bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", [], false]),
    );
    let block: bitcoin::Block = deserialize_hex(block["hex"].as_str().unwrap()).unwrap();
    peers[0].send(NetworkMessage::Block(block)).unwrap();
    n.wait_until(Duration::from_secs(10), "the block from peer 0", |n| {
        rpc(n, port, "getblockcount", json!([])) == json!(1)
    });
    // Peers 1..=12 never answer a ping; peers 13..=20 answer at once.
    for i in 1..=20 {
        let mut p = connect(i);
        if i > 12 {
            let nonce = p.expect(Duration::from_secs(10), "ping", |m| match m {
                NetworkMessage::Ping(nonce) => Some(*nonce),
                _ => None,
            });
            p.send(NetworkMessage::Pong(nonce)).unwrap();
        }
        peers.push(p);
    }
    n.wait_until(Duration::from_secs(10), "21 peers, 8 with a ping time", |n| {
        let info = rpc(n, port, "getpeerinfo", json!([]));
        let info = info.as_array().unwrap();
        info.len() == 21 && info.iter().filter(|p| p["minping"].is_number()).count() == 8
    });
    let info = rpc(&n, port, "getpeerinfo", json!([]));
    let block_peer = info
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["addr"].as_str().unwrap().starts_with("127.0.0.10:"));
    assert!(block_peer.unwrap()["last_block"].as_i64().unwrap() > 0, "{info}");

    let mut newcomer = TestPeer::connect_from(addr, "127.0.0.99").unwrap();
    newcomer.handshake(0);
    n.wait_until(Duration::from_secs(10), "eviction", |n| {
        n.log().contains("selected inbound connection for eviction")
    });
    let evicted: Vec<usize> = peers
        .iter_mut()
        .enumerate()
        .filter_map(|(i, p)| closed(p, Duration::from_millis(200)).then_some(i))
        .collect();
    assert_eq!(evicted.len(), 1, "exactly one peer is evicted: {evicted:?}");
    assert!((1..=12).contains(&evicted[0]), "peer {} was protected", evicted[0]);
    assert!(!closed(&mut newcomer, Duration::from_millis(200)), "the newcomer stays");
}

/// With 2 inbound slots (13 connections less 11 outbound) and the default 50 %, one peer may
/// relay transactions: a second one is dropped when no other can be evicted, a block-relay-only
/// one is accepted, and a newcomer finding every slot held by protected peers is refused.
#[test]
fn transaction_relaying_peers_hold_their_share_of_inbound_slots() {
    let (n, port) = start(&["-maxconnections=13"]);
    let addr = p2p_peer::p2p_addr(&n);
    let mut full = TestPeer::connect_from(addr, "127.0.0.10").unwrap();
    full.handshake(0);
    // Its handshake is complete on the node's side too (it now holds the tx-relay slot).
    n.wait_until(Duration::from_secs(10), "first peer connected", |n| {
        n.log().contains("peer connected peer=0")
    });

    let mut second = TestPeer::connect_from(addr, "127.0.0.11").unwrap();
    let v = second.version_msg(0);
    second.send(NetworkMessage::Version(v)).unwrap();
    second.send(NetworkMessage::Verack).ok();
    assert!(closed(&mut second, Duration::from_secs(10)), "a second tx-relaying peer is dropped");
    assert!(n
        .log()
        .contains("failed to find a tx-relaying eviction candidate - connection dropped after version message"));

    let mut blocks_only = TestPeer::connect_from(addr, "127.0.0.12").unwrap();
    let mut v = blocks_only.version_msg(0);
    v.relay = false;
    blocks_only.send(NetworkMessage::Version(v)).unwrap();
    blocks_only.send(NetworkMessage::Verack).unwrap();
    blocks_only.expect(Duration::from_secs(10), "verack", |m| {
        matches!(m, NetworkMessage::Verack).then_some(())
    });
    n.wait_until(Duration::from_secs(10), "2 peers", |n| {
        rpc(n, port, "getconnectioncount", json!([])) == json!(2)
    });

    // Slots full, both peers protected (by network group): the newcomer is refused.
    let mut third = TestPeer::connect_from(addr, "127.0.0.13").unwrap();
    assert!(closed(&mut third, Duration::from_secs(10)), "the third inbound peer is refused");
    assert!(n.log().contains("failed to find an eviction candidate - connection dropped (full)"));
    assert!(!closed(&mut full, Duration::from_millis(200)) && !closed(&mut blocks_only, Duration::from_millis(200)));
}

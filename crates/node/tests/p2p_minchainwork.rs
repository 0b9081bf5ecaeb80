//! Low-work header chains (issue 11 item 2) against real node processes: with
//! `-minimumchainwork`, a peer's min-difficulty header chain below the threshold is pre-synced in
//! bounded memory and nothing of it is stored (Core's HeadersSyncState), while an honest chain
//! with enough work is pre-synced, downloaded again, stored and its blocks synced.

mod support;

use support::{http, mining, node_proc, p2p_peer};

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::{CompactTarget, TxMerkleNode};
use node_proc::NodeProc;
use p2p_peer::TestPeer;
use serde_json::json;
use std::time::Duration;

/// A min-difficulty regtest header chain of `n` headers on genesis (valid proof of work).
fn header_chain(n: usize, tag: u8) -> Vec<Header> {
    let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
    let mut prev = genesis.block_hash();
    let mut time = genesis.header.time;
    (0..n)
        .map(|i| {
            time += 1;
            let mut h = Header {
                version: Version::from_consensus(0x2000_0000),
                prev_blockhash: prev,
                merkle_root: TxMerkleNode::from_byte_array([tag; 32]),
                time,
                bits: CompactTarget::from_consensus(0x207f_ffff),
                nonce: i as u32,
            };
            mining::mine(&mut h);
            prev = h.block_hash();
            h
        })
        .collect()
}

/// Answers the node's `getheaders` from `chain` (2,000 at a time after the locator's first
/// known entry) until the chain is exhausted; returns how many messages were served.
fn serve_headers(p: &mut TestPeer, chain: &[Header]) -> usize {
    let mut served = 0;
    loop {
        let loc = p.expect(Duration::from_secs(30), "getheaders", |m| match m {
            NetworkMessage::GetHeaders(g) => Some(g.locator_hashes.clone()),
            _ => None,
        });
        let from = loc
            .iter()
            .find_map(|h| chain.iter().position(|x| x.block_hash() == *h).map(|i| i + 1))
            .unwrap_or(0);
        let batch = &chain[from.min(chain.len())..(from + 2000).min(chain.len())];
        p.send(NetworkMessage::Headers(batch.to_vec())).unwrap();
        served += 1;
        if batch.len() < 2000 {
            return served;
        }
    }
}

fn start(min_work: &str, extra: &[&str]) -> (NodeProc, u16) {
    let port = http::free_port();
    let mut args = vec![
        format!("-rpcport={port}"),
        "-port=0".into(),
        "-bind=127.0.0.1".into(),
        "-debug=net".into(),
    ];
    args.push(format!("-minimumchainwork={min_work}"));
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let node = node_proc::start_node(&refs, &[]);
    node.wait_started();
    (node, port)
}

/// 50,001 min-difficulty headers (work 100,002) against a threshold of 120,000: served in full,
/// none stored, memory flat.
#[test]
fn a_long_low_work_header_chain_is_presynced_and_dropped() {
    let (node, port) = start("1d4c0", &[]);
    let chain = header_chain(50_001, 1);
    let addr = p2p_peer::p2p_addr(&node);
    let before = node_proc::rss_kib(node.child.as_ref().unwrap().id());
    let mut p = TestPeer::connect_from(addr, "127.0.0.2").unwrap();
    p.handshake(0);
    let served = serve_headers(&mut p, &chain);
    assert_eq!(served, 26, "the node asked for the whole chain");
    node.wait_until(Duration::from_secs(20), "pre-sync to end", |n| {
        n.log().contains("incomplete headers message at height=50001 (presync phase)")
    });
    let grown_mib = (node_proc::rss_kib(node.child.as_ref().unwrap().id()).saturating_sub(before)) as f64 / 1024.0;
    eprintln!("50,001-header low-work chain: RSS +{grown_mib:.1} MiB");
    assert!(grown_mib <= 16.0, "RSS grew by {grown_mib:.1} MiB");
    let tips = p2p_peer::rpc(&node, port, "getchaintips", json!([]));
    assert_eq!(tips.as_array().unwrap().len(), 1, "a low-work branch was indexed: {tips}");
    assert_eq!(tips[0]["height"], 0);
    for h in [&chain[0], &chain[25_000], &chain[50_000]] {
        let r = p2p_peer::rpc_raw(&node, port, "getblockheader", json!([h.block_hash().to_string()]));
        assert_eq!(r["error"]["code"], -5, "{r}");
    }
}

/// Threshold 4,100 (2,050 blocks): a 2,001-header chain is dropped after pre-sync; an honest
/// 2,100-block node is pre-synced (its first 2,000 headers are below the threshold), its
/// headers downloaded again and stored, and its blocks synced.
#[test]
fn an_honest_chain_with_enough_work_syncs_after_presync() {
    let (node, port) = start("1004", &[]);
    let addr = p2p_peer::p2p_addr(&node);
    let low = header_chain(2_001, 2);
    let mut p = TestPeer::connect_from(addr, "127.0.0.3").unwrap();
    p.handshake(0);
    assert_eq!(serve_headers(&mut p, &low), 2);
    node.wait_until(Duration::from_secs(20), "low-work pre-sync to end", |n| {
        n.log().contains("incomplete headers message at height=2001 (presync phase)")
    });
    assert_eq!(p2p_peer::rpc(&node, port, "getchaintips", json!([])).as_array().unwrap().len(), 1);
    drop(p);

    // The honest node mines 2,100 blocks.
    let hp = http::free_port();
    let honest = node_proc::start_node(&[&format!("-rpcport={hp}"), "-port=0", "-bind=127.0.0.1"], &[]);
    honest.wait_started();
    let address = bitcoin::Address::from_script(&mining::p2wsh_op_true(), bitcoin::Network::Regtest).unwrap();
    for _ in 0..3 {
        p2p_peer::rpc(&honest, hp, "generatetoaddress", json!([700, address.to_string()]));
    }
    let honest_tip = p2p_peer::rpc(&honest, hp, "getbestblockhash", json!([]));
    let honest_addr = p2p_peer::p2p_addr(&honest);
    p2p_peer::rpc(&node, port, "addnode", json!([honest_addr.to_string(), "onetry"]));
    node.wait_until(Duration::from_secs(120), "sync to the honest tip", |_| {
        p2p_peer::rpc(&node, port, "getbestblockhash", json!([])) == honest_tip
    });
    let log = node.log();
    assert!(
        log.contains("starting headers pre-sync of a low-work chain"),
        "honest chain was not pre-synced"
    );
    assert!(log.contains("headers pre-sync reached sufficient work; redownloading"));
    assert_eq!(p2p_peer::rpc(&node, port, "getblockcount", json!([])), 2_100);
}

/// A low-work chain announced one header at a time, with a header announced while the node's
/// `getheaders` is outstanding: the reply (which predates it) is ignored as low-work and the
/// node asks again, so the newest announcement is judged too (Core's hashLastUnknownBlock;
/// `p2p_headers_sync_with_minchainwork.py` waits for exactly that log line).
#[test]
fn a_header_announced_during_an_ignored_reply_is_asked_for_again() {
    let (node, _port) = start("1004", &[]);
    let chain = header_chain(3, 3);
    let mut p = TestPeer::connect_from(p2p_peer::p2p_addr(&node), "127.0.0.4").unwrap();
    p.handshake(0);
    serve_headers(&mut p, &[]);
    let getheaders = |p: &mut TestPeer| {
        p.expect(Duration::from_secs(10), "getheaders", |m| {
            matches!(m, NetworkMessage::GetHeaders(_)).then_some(())
        })
    };
    p.send(NetworkMessage::Headers(vec![chain[0]])).unwrap();
    node.wait_until(Duration::from_secs(10), "first header ignored", |n| {
        n.log().contains("Ignoring low-work chain (height=1)")
    });
    p.send(NetworkMessage::Headers(vec![chain[1]])).unwrap();
    getheaders(&mut p);
    // Announced while that request is outstanding; then the (older) reply.
    p.send(NetworkMessage::Headers(vec![chain[2]])).unwrap();
    p.send(NetworkMessage::Headers(chain[..2].to_vec())).unwrap();
    getheaders(&mut p);
    p.send(NetworkMessage::Headers(chain.clone())).unwrap();
    node.wait_until(Duration::from_secs(10), "the newest header judged", |n| {
        n.log().contains("Ignoring low-work chain (height=3)")
    });
}

/// A block announced by `inv` while the node's `getheaders` to that peer is outstanding, and
/// missing from the reply (which predates it), is asked for once the reply is in: the node
/// sends another `getheaders` and ends up knowing the announced header. (Dropping the
/// announcement left nodes one block short of a peer's tip until its next block, a
/// `p2p_headers_sync_with_minchainwork.py` timeout under load.)
#[test]
fn a_block_announced_by_inv_during_a_getheaders_is_asked_for_after_the_reply() {
    let (node, port) = start("0", &[]);
    let chain = header_chain(3, 4);
    let mut p = TestPeer::connect_from(p2p_peer::p2p_addr(&node), "127.0.0.5").unwrap();
    p.handshake(0);
    let getheaders = |p: &mut TestPeer| {
        p.expect(Duration::from_secs(10), "getheaders", |m| match m {
            NetworkMessage::GetHeaders(g) => Some(g.locator_hashes.clone()),
            _ => None,
        })
    };
    // The node's first request: left unanswered while the peer announces its third block.
    getheaders(&mut p);
    let newest = chain[2].block_hash();
    p.send(NetworkMessage::Inv(vec![bitcoin::p2p::message_blockdata::Inventory::Block(newest)]))
        .unwrap();
    // The reply, written before that block existed: only the first two headers.
    p.send(NetworkMessage::Headers(chain[..2].to_vec())).unwrap();
    getheaders(&mut p);
    p.send(NetworkMessage::Headers(vec![chain[2]])).unwrap();
    node.wait_until(Duration::from_secs(10), "the announced header stored", |n| {
        p2p_peer::rpc_raw(n, port, "getblockheader", json!([newest.to_string()]))["error"].is_null()
    });
}

/// The pre-sync count behind `getpeerinfo`'s `presynced_headers` (-1 when none runs).
fn presyncing_peers(node: &NodeProc, port: u16) -> usize {
    let peers = p2p_peer::rpc(node, port, "getpeerinfo", json!([]));
    peers
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["presynced_headers"].as_i64() >= Some(0))
        .count()
}

/// At most 8 inbound peers pre-sync at once, so inbound peers cannot make the node hold more
/// than 8 pre-sync states (about 2 MB each at worst): twelve inbound peers send a full
/// low-work `headers` message; 8 pre-syncs start, the other 4 are ignored; when a pre-syncing
/// peer leaves, the next full message from a waiting peer starts one.
#[test]
fn inbound_presyncs_are_capped() {
    let (node, port) = start("1d4c0", &["-maxconnections=40"]);
    let chain = header_chain(2_000, 3);
    let addr = p2p_peer::p2p_addr(&node);
    let mut peers: Vec<TestPeer> = (0..12)
        .map(|i| {
            let mut p = TestPeer::connect_from(addr, &format!("127.0.0.{}", 10 + i)).unwrap();
            p.handshake(0);
            p.send(NetworkMessage::Headers(chain.clone())).unwrap();
            p
        })
        .collect();
    node.wait_until(Duration::from_secs(30), "12 low-work headers messages handled", |n| {
        n.log().matches("starting headers pre-sync").count() + n.log().matches("inbound peers are already pre-syncing").count() >= 12
    });
    assert_eq!(presyncing_peers(&node, port), 8);
    assert_eq!(node.log().matches("inbound peers are already pre-syncing").count(), 4);
    // A pre-syncing peer leaves: a waiting one can start.
    let info = p2p_peer::rpc(&node, port, "getpeerinfo", json!([]));
    let presyncing = |ip: &str| {
        info.as_array()
            .unwrap()
            .iter()
            .any(|p| p["addr"].as_str().unwrap().starts_with(&format!("{ip}:")) && p["presynced_headers"].as_i64() >= Some(0))
    };
    let ips: Vec<String> = (0..12).map(|i| format!("127.0.0.{}", 10 + i)).collect();
    let leaving = ips.iter().position(|ip| presyncing(ip)).unwrap();
    let waiting = ips.iter().position(|ip| !presyncing(ip)).unwrap();
    drop(peers.remove(leaving));
    let waiting = if waiting > leaving { waiting - 1 } else { waiting };
    node.wait_until(Duration::from_secs(10), "the pre-syncing peer's disconnection", |_| {
        presyncing_peers(&node, port) == 7
    });
    peers[waiting].send(NetworkMessage::Headers(chain.clone())).unwrap();
    node.wait_until(Duration::from_secs(10), "a pre-sync for a waiting peer", |_| {
        presyncing_peers(&node, port) == 8
    });
}

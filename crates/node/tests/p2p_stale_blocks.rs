//! Fingerprinting protection (Core's BlockRequestAllowed) against a real node process: a block
//! off the active chain is served (`getdata`, `getheaders` by `hash_stop`) while it is recent,
//! and withheld without an answer once the best header is more than a month newer; old blocks
//! of the active chain are always served.

mod support;

use support::{http, node_proc, p2p_peer};

use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::{GetHeadersMessage, Inventory};
use bitcoin::BlockHash;
use p2p_peer::{rpc, TestPeer};
use serde_json::json;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ADDR: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

/// What the node sent in answer to `msg`, up to the `pong` of a ping sent right after it.
fn answers(p: &mut TestPeer, msg: NetworkMessage) -> Vec<NetworkMessage> {
    let nonce: u64 = rand::random();
    p.send(msg).unwrap();
    p.send(NetworkMessage::Ping(nonce)).unwrap();
    let mut got = Vec::new();
    p.expect(Duration::from_secs(10), "pong", |m| match m {
        NetworkMessage::Pong(n) if *n == nonce => Some(()),
        NetworkMessage::Ping(_) => None,
        other => {
            got.push(other.clone());
            None
        }
    });
    got
}

/// Whether `h` is served: asks for it and then for `marker` (a block that is served) in one
/// `getdata`; served blocks go out in order, so `h` arrives before `marker` or not at all.
fn block_served(p: &mut TestPeer, h: BlockHash, marker: BlockHash) -> bool {
    p.send(NetworkMessage::GetData(vec![
        Inventory::WitnessBlock(h),
        Inventory::WitnessBlock(marker),
    ]))
    .unwrap();
    let mut got_h = false;
    p.expect(Duration::from_secs(10), "the marker block", |m| match m {
        NetworkMessage::Block(b) if b.block_hash() == marker => Some(()),
        NetworkMessage::Block(b) if b.block_hash() == h => {
            got_h = true;
            None
        }
        _ => None,
    });
    got_h
}

fn header_served(p: &mut TestPeer, h: BlockHash) -> bool {
    let got = answers(p, NetworkMessage::GetHeaders(GetHeadersMessage::new(vec![], h)));
    assert!(
        got.iter().all(|m| !matches!(m, NetworkMessage::Headers(v) if v.is_empty())),
        "no empty headers answer for a withheld hash_stop: {got:?}"
    );
    got.iter()
        .any(|m| matches!(m, NetworkMessage::Headers(v) if v.len() == 1 && v[0].block_hash() == h))
}

#[test]
fn stale_blocks_older_than_a_month_are_withheld_active_ones_served() {
    let port = http::free_port();
    let mut n = node_proc::start_node(&[&format!("-rpcport={port}"), "-port=0", "-bind=127.0.0.1", "-debug=net"], &[]);
    n.wait_started();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    rpc(&n, port, "setmocktime", json!([now - 60 * 24 * 3600]));
    let hashes = rpc(&n, port, "generatetoaddress", json!([3, ADDR]));
    let hash = |v: &serde_json::Value| BlockHash::from_str(v.as_str().unwrap()).unwrap();
    let old_active = hash(&hashes[0]);
    let marker = hash(&hashes[1]);
    let stale = hash(&hashes[2]);
    // Make the third block stale: a longer branch replaces it, then it is valid again.
    rpc(&n, port, "invalidateblock", json!([stale.to_string()]));
    // (a later time, so the branch does not rebuild the invalidated block)
    rpc(&n, port, "setmocktime", json!([now - 60 * 24 * 3600 + 100]));
    rpc(&n, port, "generatetoaddress", json!([2, ADDR]));
    rpc(&n, port, "reconsiderblock", json!([stale.to_string()]));
    assert_eq!(rpc(&n, port, "getblockcount", json!([])), 4);

    let mut p = TestPeer::connect_from(p2p_peer::p2p_addr(&n), "127.0.0.1").unwrap();
    p.handshake(4);
    assert!(block_served(&mut p, stale, marker), "a recent stale block is served");
    assert!(header_served(&mut p, stale), "a recent stale header is served");

    // The best chain moves two months on: the stale block is now more than a month behind.
    rpc(&n, port, "setmocktime", json!([0]));
    rpc(&n, port, "generatetoaddress", json!([1, ADDR]));
    assert!(!block_served(&mut p, stale, marker), "an old stale block is withheld");
    assert!(!header_served(&mut p, stale), "an old stale header is withheld");
    assert!(
        n.log().contains("ignoring request from peer=") && n.log().contains("for old block that isn't in the main chain"),
        "Core's log line for the withheld block"
    );
    assert!(block_served(&mut p, old_active, marker), "an old active-chain block is served");
    assert!(header_served(&mut p, old_active), "an old active-chain header is served");
    // An unknown hash_stop gets no answer either, as Core.
    assert!(!header_served(&mut p, BlockHash::all_zeros()));
    let (status, _) = n.stop(Duration::from_secs(20));
    assert!(status.success());
}

//! `getblockfrompeer` against the real `blvm-node` binary and a test peer over 127.0.0.1: a
//! stale fork block whose header was submitted is requested from the chosen peer with
//! `getdata`, and stored when it arrives although it has less work than the tip (the same
//! block sent unasked is ignored); Core's errors for an unknown header, a block already stored
//! and an unknown peer.

mod support;

use support::{mining, p2p_peer};

use bitcoin::consensus::serialize;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::{Amount, BlockHash};
use mining::{build_block, op_true, Parent};
use p2p_peer::{p2p_addr, rpc, rpc_raw, start_listening, to_hex, TestPeer};
use serde_json::json;
use std::str::FromStr;
use std::time::{Duration, Instant};

#[test]
fn getblockfrompeer_fetches_a_stale_block_from_the_chosen_peer() {
    let (n, port) = start_listening(&[]);
    let genesis = rpc(&n, port, "getblockheader", json!([rpc(&n, port, "getblockhash", json!([0]))]));
    rpc(
        &n,
        port,
        "generatetoaddress",
        json!([3, "bcrt1qjqmxmkpmxt80xz4y3746zgt0q3u3ferr34acd5"]),
    );
    let parent = Parent {
        hash: BlockHash::from_str(genesis["hash"].as_str().unwrap()).unwrap(),
        height: 0,
        time: genesis["time"].as_u64().unwrap() as u32,
        mtp: genesis["mediantime"].as_i64().unwrap(),
    };
    // Two one-block forks from genesis, both with less work than the 3-block tip.
    let fetched = build_block(&parent, 1, vec![], Amount::ZERO, op_true());
    let unasked = build_block(&parent, 2, vec![], Amount::ZERO, op_true());
    for b in [&fetched, &unasked] {
        rpc(&n, port, "submitheader", json!([to_hex(&serialize(&b.header))]));
    }
    let hash = fetched.block_hash().to_string();

    let mut peer = TestPeer::connect_from(p2p_addr(&n), "127.0.0.1").expect("connect");
    peer.handshake(0);
    let peers = rpc(&n, port, "getpeerinfo", json!([]));
    let id = peers[0]["id"].as_u64().unwrap();

    // Core's errors first.
    let err = |params: serde_json::Value| rpc_raw(&n, port, "getblockfrompeer", params)["error"].clone();
    let e = |m: &str| json!({"code": -1, "message": m});
    assert_eq!(err(json!(["11".repeat(32), id])), e("Block header missing"));
    let tip = rpc(&n, port, "getbestblockhash", json!([]));
    assert_eq!(err(json!([tip, id])), e("Block already downloaded"));
    assert_eq!(err(json!([hash, id + 100])), e("Peer does not exist"));
    assert_eq!(err(json!([hash]))["code"], -1, "peer_id is required");

    // The unasked block is ignored: less work than the tip and nobody requested it.
    peer.send_and_ping(NetworkMessage::Block(unasked.clone()), Duration::from_secs(10));
    let unasked_hash = unasked.block_hash().to_string();
    assert_eq!(
        rpc_raw(&n, port, "getblock", json!([unasked_hash]))["error"]["message"],
        "Block not available (not fully downloaded)"
    );

    // The requested one is asked of this peer, then stored.
    assert_eq!(rpc(&n, port, "getblockfrompeer", json!([hash, id])), json!({}));
    peer.expect(Duration::from_secs(10), "getdata for the block", |m| match m {
        NetworkMessage::GetData(items) if items.contains(&Inventory::WitnessBlock(fetched.block_hash())) => Some(()),
        _ => None,
    });
    peer.send(NetworkMessage::Block(fetched.clone())).expect("send block");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = rpc_raw(&n, port, "getblock", json!([hash, 0]));
        if r["error"].is_null() {
            assert_eq!(r["result"], to_hex(&serialize(&fetched)));
            break;
        }
        assert!(Instant::now() < deadline, "the fetched block was not stored: {r}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        rpc(&n, port, "getbestblockhash", json!([])),
        tip,
        "the stale block does not become the tip"
    );
    assert_eq!(err(json!([hash, id])), e("Block already downloaded"));
}

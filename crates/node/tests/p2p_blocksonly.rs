//! `-blocksonly` against a real node process, as Core's p2p_blocksonly.py: our `version` asks
//! for no transactions, a peer that sends a transaction or announces one anyway is disconnected
//! with Core's log line, a peer with the relay permission may send them and they are relayed,
//! and the node's own `sendrawtransaction` is still announced and served to peers; a new block
//! from a compact block peer is fetched whole (Core asks no `cmpctblock` under `-blocksonly`).

mod support;

use support::{coins, mining, p2p_peer};

use bitcoin::consensus::serialize;
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::p2p::message_compact_blocks::SendCmpct;
use bitcoin::{Amount, Transaction, Wtxid};
use p2p_peer::{to_hex, TestPeer};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Waits for the node to announce `wtxid`, asks for it and checks the transaction served.
fn expect_relayed(p: &mut TestPeer, tx: &Transaction) {
    let wtxid = tx.compute_wtxid();
    p.expect(WAIT, "inv of the transaction", |m| match m {
        NetworkMessage::Inv(v) => v.contains(&Inventory::WTx(wtxid)).then_some(()),
        _ => None,
    });
    p.send(NetworkMessage::GetData(vec![Inventory::WTx(wtxid)])).expect("send getdata");
    let got = p.expect(WAIT, "tx", |m| match m {
        NetworkMessage::Tx(t) => Some(t.clone()),
        _ => None,
    });
    assert_eq!(got.compute_wtxid(), wtxid);
}

#[test]
fn blocksonly_refuses_peer_txs_but_relays_its_own() {
    let (n, port) = p2p_peer::start_listening(&["-blocksonly", "-whitelist=relay@127.0.0.5"]);
    let rpc = |m: &str, p: Value| p2p_peer::rpc(&n, port, m, p);
    let addr = p2p_peer::p2p_addr(&n);
    assert_eq!(rpc("getnetworkinfo", json!([]))["localrelay"], json!(false));
    assert_eq!(
        rpc("getmempoolinfo", json!([]))["maxmempool"],
        json!(5_000_000),
        "Core's blocksonly default"
    );
    let coins = coins::fund(rpc, 2);
    let (tx, relayed) = (coins::spend_coin(coins[0]), coins::spend_coin(coins[1]));

    // A peer without the relay permission is told not to send transactions, and dropped for one.
    let mut a = TestPeer::connect_from(addr, "127.0.0.2").unwrap();
    assert!(!a.handshake(0).relay, "version relay flag under -blocksonly");
    a.send(NetworkMessage::Tx(tx.clone())).unwrap();
    assert!(a.wait_closed(WAIT), "a peer sending a transaction is disconnected");
    n.wait_until(WAIT, "Core's tx violation line", |n| {
        n.log().contains("transaction sent in violation of protocol, disconnecting peer=")
    });
    assert_eq!(rpc("getmempoolinfo", json!([]))["size"], json!(0));

    // An announcement is a violation too.
    let mut b = TestPeer::connect_from(addr, "127.0.0.3").unwrap();
    b.handshake(0);
    b.send(NetworkMessage::Inv(vec![Inventory::WTx(Wtxid::from_byte_array([0x34; 32]))]))
        .unwrap();
    assert!(b.wait_closed(WAIT), "a peer announcing a transaction is disconnected");
    let line = format!(
        "transaction ({}) inv sent in violation of protocol, disconnecting peer=",
        Wtxid::from_byte_array([0x34; 32])
    );
    n.wait_until(WAIT, "Core's inv violation line", |n| n.log().contains(&line));

    // The node's own transaction is still announced and served.
    let mut c = TestPeer::connect_from(addr, "127.0.0.4").unwrap();
    c.handshake(0);
    rpc("sendrawtransaction", json!([to_hex(&serialize(&tx))]));
    expect_relayed(&mut c, &tx);
    let line = format!("received getdata for: wtx {} peer=", tx.compute_wtxid());
    n.wait_until(WAIT, "Core's getdata line", |n| n.log().contains(&line));

    // A peer with the relay permission may send transactions; they are relayed to others.
    let mut d = TestPeer::connect_from(addr, "127.0.0.5").unwrap();
    assert!(d.handshake(0).relay, "a relay-permission peer is asked for transactions");
    let perms: Vec<Value> = rpc("getpeerinfo", json!([]))
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["permissions"].clone())
        .collect();
    assert!(perms.contains(&json!(["relay"])), "{perms:?}");
    d.send_and_ping(NetworkMessage::Tx(relayed.clone()), WAIT);
    assert_eq!(rpc("getmempoolinfo", json!([]))["size"], json!(2));
    expect_relayed(&mut c, &relayed);
}

/// As Core's direct fetch: a blocksonly node ignores `cmpctblock`, so it asks even a compact
/// block peer for a lone new block on its tip as a full (witness) block, not MSG_CMPCT_BLOCK.
#[test]
fn blocksonly_fetches_a_new_block_whole_from_a_compact_block_peer() {
    let (n, port) = p2p_peer::start_listening(&["-blocksonly"]);
    let rpc = |m: &str, p: Value| p2p_peer::rpc(&n, port, m, p);
    let addr = p2p_peer::p2p_addr(&n);
    let to = bitcoin::Address::from_script(&mining::p2wsh_op_true(), bitcoin::Network::Regtest).unwrap();
    rpc("generatetoaddress", json!([1, to.to_string()]));
    let tip = rpc("getbestblockhash", json!([]));
    let h = rpc("getblockheader", json!([tip]));
    let parent = mining::Parent {
        hash: tip.as_str().unwrap().parse().unwrap(),
        height: h["height"].as_u64().unwrap() as u32,
        time: h["time"].as_u64().unwrap() as u32,
        mtp: h["mediantime"].as_i64().unwrap(),
    };
    let mut p = TestPeer::connect_from(addr, "127.0.0.2").unwrap();
    p.handshake(parent.height as i32);
    p.send_and_ping(
        NetworkMessage::SendCmpct(SendCmpct {
            send_compact: false,
            version: 2,
        }),
        WAIT,
    );
    let block = mining::build_block(&parent, 1, vec![], Amount::ZERO, mining::op_true());
    p.send(NetworkMessage::Headers(vec![block.header])).unwrap();
    let asked = p.expect(WAIT, "getdata for the announced block", |m| match m {
        NetworkMessage::GetData(v) => v.first().copied(),
        _ => None,
    });
    assert_eq!(asked, Inventory::WitnessBlock(block.block_hash()));
    p.send_and_ping(NetworkMessage::Block(block.clone()), WAIT);
    assert_eq!(rpc("getbestblockhash", json!([])), json!(block.block_hash().to_string()));
}

//! Serving the tip block's transactions to `getdata`, as Core does (a peer reconstructing a
//! compact block may ask for one that just left the mempool): a transaction mined into the tip
//! is still served, by wtxid and by txid; once the tip moves on it is not (`notfound`), and a
//! transaction the node never had is `notfound` too. The block is read from disk once per tip,
//! off the async runtime.

mod support;

use support::{coins, mining, p2p_peer};

use bitcoin::consensus::serialize;
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::{Transaction, Txid};
use p2p_peer::{to_hex, TestPeer};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(40);

/// Asks for `inv` and returns the transaction served, or `None` for a `notfound` of it.
fn ask(p: &mut TestPeer, inv: Inventory) -> Option<Transaction> {
    p.send(NetworkMessage::GetData(vec![inv])).unwrap();
    p.expect(WAIT, "tx or notfound", |m| match m {
        NetworkMessage::Tx(t) => Some(Some(t.clone())),
        NetworkMessage::NotFound(v) if v.contains(&inv) => Some(None),
        _ => None,
    })
}

#[test]
fn the_tip_blocks_transactions_are_served_until_the_tip_moves() {
    let (n, port) = p2p_peer::start_listening(&[]);
    let rpc = |m: &str, p: Value| p2p_peer::rpc(&n, port, m, p);
    let coins = coins::fund(rpc, 1);
    let tx = coins::spend_coin(coins[0]);
    let (txid, wtxid) = (tx.compute_txid(), tx.compute_wtxid());

    let mut peer = TestPeer::connect_from(p2p_peer::p2p_addr(&n), "127.0.0.2").unwrap();
    peer.handshake(0);
    peer.send_and_ping(NetworkMessage::SendHeaders, WAIT);
    rpc("sendrawtransaction", json!([to_hex(&serialize(&tx))]));
    let to = bitcoin::Address::from_script(&mining::p2wsh_op_true(), bitcoin::Network::Regtest).unwrap();
    rpc("generatetoaddress", json!([1, to.to_string()]));
    assert_eq!(rpc("getmempoolinfo", json!([]))["size"], json!(0), "the transaction left the pool");

    let served = ask(&mut peer, Inventory::WTx(wtxid)).expect("served from the tip block by wtxid");
    assert_eq!(served.compute_wtxid(), wtxid);
    assert!(served.input.iter().all(|i| !i.witness.is_empty()), "MSG_WTX is served with witness");
    let served = ask(&mut peer, Inventory::Transaction(txid)).expect("served from the tip block by txid");
    assert_eq!(served.compute_txid(), txid);
    assert!(
        served.input.iter().all(|i| i.witness.is_empty()),
        "MSG_TX is served without witness"
    );
    let unknown = Txid::from_byte_array([7; 32]);
    assert_eq!(ask(&mut peer, Inventory::WitnessTransaction(unknown)), None, "unknown: notfound");

    rpc("generatetoaddress", json!([1, to.to_string()]));
    peer.send_and_ping(NetworkMessage::SendHeaders, WAIT);
    assert_eq!(ask(&mut peer, Inventory::WTx(wtxid)), None, "no longer in the tip block: notfound");
}

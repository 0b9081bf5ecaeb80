//! `getorphantxs` against a real node process with P2P test peers over TCP on 127.0.0.1, as
//! Core's rpc_orphans.py: orphans sent by two peers, verbosity 0/1/2 (fields, sizes, hex and
//! the announcing peer ids), the verbosity errors, a second announcer by `inv`, a parent's
//! arrival resolving its orphan, a peer's departure removing its announcements (the orphan
//! goes with its last announcer), and a block conflicting with an orphan erasing it.

mod support;

use support::{coins, mining, p2p_peer, p2p_target};

use bitcoin::consensus::serialize;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::{Amount, OutPoint, Transaction};
use coins::hex_bytes;
use p2p_peer::{to_hex, TestPeer};
use p2p_target::{Target, WAIT};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::Shutdown;

impl Target {
    /// The RPC error (code, message) of a call that must fail.
    fn rpc_err(&self, method: &str, params: Value) -> (i64, String) {
        let r = p2p_peer::rpc_raw(&self.node, self.port, method, params);
        let e = &r["error"];
        assert!(!e.is_null(), "{method} succeeded: {r}");
        (e["code"].as_i64().unwrap(), e["message"].as_str().unwrap().to_string())
    }

    fn orphans(&self, verbosity: u64) -> Vec<Value> {
        self.rpc("getorphantxs", json!([verbosity])).as_array().unwrap().clone()
    }

    /// The sets of announcers of the orphans held, by txid.
    fn announcers(&self) -> Vec<(String, BTreeSet<u64>)> {
        self.orphans(1)
            .iter()
            .map(|o| {
                let from = o["from"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
                (o["txid"].as_str().unwrap().to_string(), from)
            })
            .collect()
    }
}

/// A one-output spend of `coin` to P2WSH(OP_TRUE) paying `fee` sats.
fn spend(coin: (OutPoint, Amount), fee: u64) -> Transaction {
    coins::spend_coins(&[coin], fee)
}

/// A parent spending `coin` and a child spending the parent's output.
fn family(coin: (OutPoint, Amount)) -> (Transaction, Transaction) {
    let parent = spend(coin, 10_000);
    let out = (
        OutPoint {
            txid: parent.compute_txid(),
            vout: 0,
        },
        parent.output[0].value,
    );
    let child = spend(out, 10_000);
    (parent, child)
}

/// Core's send_and_ping: the message, then a ping whose pong shows the node handled it.
fn send_and_ping(p: &mut TestPeer, msg: NetworkMessage) {
    p.send(msg).expect("send");
    let nonce = rand::random();
    p.send(NetworkMessage::Ping(nonce)).expect("send ping");
    p.expect(WAIT, "pong", |m| matches!(m, NetworkMessage::Pong(n) if *n == nonce).then_some(()));
}

fn close(p: TestPeer) {
    let _ = p.stream.shutdown(Shutdown::Both);
}

#[test]
fn getorphantxs_follows_core() {
    let t = Target::start();
    let coins = coins::fund(|m, p| t.rpc(m, p), 3);
    let (parent_1, child_1) = family(coins[0]);
    let (parent_2, child_2) = family(coins[1]);
    let (mut peer_1, id_1) = t.peer(2);
    let (mut peer_2, id_2) = t.peer(3);
    assert_ne!(id_1, id_2);

    // Only the children: both are orphans, one from each peer.
    send_and_ping(&mut peer_1, NetworkMessage::Tx(child_1.clone()));
    send_and_ping(&mut peer_2, NetworkMessage::Tx(child_2.clone()));
    assert_eq!(t.rpc("getmempoolinfo", json!([]))["size"], json!(0));
    let txids: BTreeSet<String> = t.orphans(0).iter().map(|v| v.as_str().unwrap().to_string()).collect();
    let want: BTreeSet<String> = [&child_1, &child_2].iter().map(|c| c.compute_txid().to_string()).collect();
    assert_eq!(txids, want);
    assert_eq!(
        t.rpc("getorphantxs", json!([])),
        t.rpc("getorphantxs", json!([0])),
        "default verbosity is 0"
    );
    t.node.wait_until(WAIT, "Core's stored-orphan line", |n| {
        n.log().contains(&format!("stored orphan tx {}", child_1.compute_txid()))
    });

    // Core's errors.
    for v in [-1, 3] {
        assert_eq!(t.rpc_err("getorphantxs", json!([v])), (-8, format!("Invalid verbosity value {v}")));
    }
    for v in [true, false] {
        assert_eq!(
            t.rpc_err("getorphantxs", json!({ "verbosity": v })),
            (-3, "Verbosity was boolean but only integer allowed".to_string())
        );
    }
    assert_eq!(t.rpc_err("getorphantxs", json!(["1"])).0, -3);
    // A hidden RPC: not listed by help, but help for it exists.
    assert!(!t.rpc("help", json!([])).as_str().unwrap().contains("getorphantxs"));
    assert!(t
        .rpc("help", json!(["getorphantxs"]))
        .as_str()
        .unwrap()
        .starts_with("getorphantxs ( "));

    // Verbosity 1 and 2: Core's fields, in wtxid order, each orphan from its own peer.
    let detailed = t.orphans(2);
    assert_eq!(detailed.len(), 2);
    let wtxids: Vec<&str> = detailed.iter().map(|o| o["wtxid"].as_str().unwrap()).collect();
    let mut sorted: Vec<[u8; 32]> = wtxids
        .iter()
        .map(|w| {
            let mut b: [u8; 32] = hex_bytes(w).try_into().unwrap();
            b.reverse();
            b
        })
        .collect();
    let as_listed = sorted.clone();
    sorted.sort_unstable();
    assert_eq!(as_listed, sorted, "listed in wtxid byte order as Core");
    for (tx, id) in [(&child_1, id_1), (&child_2, id_2)] {
        let o = detailed.iter().find(|o| o["txid"] == json!(tx.compute_txid().to_string())).unwrap();
        let raw = serialize(tx);
        let weight = tx.weight().to_wu();
        assert_eq!(o["wtxid"], json!(tx.compute_wtxid().to_string()));
        assert_eq!(o["bytes"], json!(raw.len()));
        assert_eq!(o["weight"], json!(weight));
        assert_eq!(o["vsize"], json!(weight.div_ceil(4)));
        assert_eq!(o["from"], json!([id]));
        assert_eq!(o["hex"], json!(to_hex(&raw)));
        let keys: BTreeSet<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["txid", "wtxid", "bytes", "vsize", "weight", "from", "hex"]));
        let brief = t.orphans(1).into_iter().find(|b| b["txid"] == o["txid"]).unwrap();
        let mut without_hex = o.clone();
        without_hex.as_object_mut().unwrap().remove("hex");
        assert_eq!(brief, without_hex, "verbosity 1 is verbosity 2 without hex");
    }

    // Parent 2 arrives: child 2 leaves the orphanage for the mempool.
    send_and_ping(&mut peer_2, NetworkMessage::Tx(parent_2.clone()));
    let mempool = t.rpc("getrawmempool", json!([]));
    for tx in [&parent_2, &child_2] {
        assert!(
            mempool.as_array().unwrap().contains(&json!(tx.compute_txid().to_string())),
            "{mempool}"
        );
    }
    assert_eq!(t.orphans(0), vec![json!(child_1.compute_txid().to_string())]);

    // Peer 2 announces child 1 by wtxid: it becomes an announcer and is asked for parent 1.
    peer_2
        .send(NetworkMessage::Inv(vec![Inventory::WTx(child_1.compute_wtxid())]))
        .unwrap();
    let parent_1_txid = parent_1.compute_txid();
    peer_2.expect(WAIT, "getdata for parent 1", |m| match m {
        NetworkMessage::GetData(items) => items
            .iter()
            .any(|i| matches!(i, Inventory::WitnessTransaction(t) | Inventory::Transaction(t) if *t == parent_1_txid))
            .then_some(()),
        _ => None,
    });
    let child_1_txid = child_1.compute_txid().to_string();
    assert_eq!(t.announcers(), vec![(child_1_txid.clone(), BTreeSet::from([id_1, id_2]))]);

    // Peer 1 leaves: its announcement goes, the orphan stays with peer 2.
    close(peer_1);
    t.node.wait_until(WAIT, "peer 1's announcement removed", |_| {
        t.announcers() == vec![(child_1_txid.clone(), BTreeSet::from([id_2]))]
    });
    // Peer 2 leaves: nobody announces child 1 any more, it is erased.
    close(peer_2);
    t.node.wait_until(WAIT, "orphanage empty", |_| t.orphans(0).is_empty());
    t.node.wait_until(WAIT, "Core's erase line", |n| {
        n.log().contains(&format!("Erased 1 orphan transaction(s) from peer={id_2}"))
    });
    assert!(!t.node.log().contains(&format!("orphan transaction(s) from peer={id_1}")));

    // An orphan whose input a block spends (a conflicting transaction) is erased.
    let (parent_3, child_3) = family(coins[2]);
    let conflict = spend(
        (
            OutPoint {
                txid: parent_3.compute_txid(),
                vout: 0,
            },
            parent_3.output[0].value,
        ),
        20_000,
    );
    let (mut peer_3, id_3) = t.peer(4);
    send_and_ping(&mut peer_3, NetworkMessage::Tx(child_3.clone()));
    assert_eq!(t.announcers(), vec![(child_3.compute_txid().to_string(), BTreeSet::from([id_3]))]);
    for tx in [&parent_3, &conflict] {
        t.rpc("sendrawtransaction", json!([to_hex(&serialize(tx))]));
    }
    let spk = mining::p2wsh_op_true();
    let address = bitcoin::Address::from_script(&spk, bitcoin::Network::Regtest).unwrap();
    t.rpc("generatetoaddress", json!([1, address.to_string()]));
    t.node.wait_until(WAIT, "conflicted orphan erased", |_| t.orphans(0).is_empty());
    t.node.wait_until(WAIT, "Core's block erase line", |n| {
        n.log().contains("Erased 1 orphan transaction(s) included or conflicted by block")
    });
    close(peer_3);
}

//! Opportunistic 1-parent-1-child package relay against a real node process, with P2P test
//! peers over TCP on 127.0.0.1 (as Core's p2p_opportunistic_1p1c.py): a parent below the
//! minimum relay feerate is refused alone and not requested again on `inv`, then accepted
//! with its child from the same peer and relayed to the other peers; a parent from another
//! peer than the orphan child's is not paired with it; an orphan with two low-feerate parents
//! is rejected without asking for them.

mod support;

use support::{coins, mining, p2p_peer, p2p_target};

use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::{Amount, OutPoint, Transaction, TxOut, Txid};
use p2p_peer::TestPeer;
use p2p_target::{Target, WAIT};
use serde_json::json;

impl Target {
    fn in_mempool(&self, tx: &Transaction) -> bool {
        let pool = self.rpc("getrawmempool", json!([]));
        pool.as_array().unwrap().contains(&json!(tx.compute_txid().to_string()))
    }

    fn orphan_count(&self) -> usize {
        self.rpc("getorphantxs", json!([])).as_array().unwrap().len()
    }
}

/// A one-output spend of `coins` to P2WSH(OP_TRUE) paying `fee` sats.
fn spend(coins: &[(OutPoint, Amount)], fee: u64) -> Transaction {
    coins::spend_coins(coins, fee)
}

fn output(tx: &Transaction) -> (OutPoint, Amount) {
    (OutPoint::new(tx.compute_txid(), 0), tx.output[0].value)
}

/// A parent paying no fee (below the minimum relay feerate) and a child paying for both.
fn low_parent_high_child(coin: (OutPoint, Amount)) -> (Transaction, Transaction) {
    let parent = spend(&[coin], 0);
    let child = spend(&[output(&parent)], 50_000);
    (parent, child)
}

/// Sends `msg` and a ping; returns the txids of the `getdata` items the node sent before the pong.
fn send_collect_getdata(p: &mut TestPeer, msg: NetworkMessage) -> Vec<Txid> {
    p.send(msg).expect("send");
    let nonce = rand::random();
    p.send(NetworkMessage::Ping(nonce)).expect("send ping");
    let mut asked = Vec::new();
    p.expect(WAIT, "pong", |m| match m {
        NetworkMessage::GetData(items) => {
            asked.extend(items.iter().filter_map(|i| match i {
                Inventory::WitnessTransaction(t) | Inventory::Transaction(t) => Some(*t),
                Inventory::WTx(w) => Some(Txid::from_raw_hash(w.to_raw_hash())),
                _ => None,
            }));
            None
        }
        NetworkMessage::Pong(n) if *n == nonce => Some(()),
        _ => None,
    });
    asked
}

#[test]
fn low_fee_parent_enters_with_its_child_from_the_same_peer() {
    let t = Target::start();
    let coins = coins::fund(|m, p| t.rpc(m, p), 3);
    let (mut sender, _) = t.peer(2);
    let (mut other, _) = t.peer(3);

    // Parent first: refused for its feerate, and another peer's announcement of it is ignored.
    let (parent, child) = low_parent_high_child(coins[0]);
    assert!(send_collect_getdata(&mut sender, NetworkMessage::Tx(parent.clone())).is_empty());
    assert!(!t.in_mempool(&parent));
    let inv = NetworkMessage::Inv(vec![Inventory::WTx(parent.compute_wtxid())]);
    assert!(
        send_collect_getdata(&mut other, inv).is_empty(),
        "a low-feerate parent is not requested again"
    );

    // The child is an orphan; the node asks its sender for the parent, which the sender
    // sends again: the pair enters as a package.
    let asked = send_collect_getdata(&mut sender, NetworkMessage::Tx(child.clone()));
    assert_eq!(asked, vec![parent.compute_txid()]);
    assert_eq!(t.orphan_count(), 1);
    sender.send_and_ping(NetworkMessage::Tx(parent.clone()), WAIT);
    assert!(t.in_mempool(&parent) && t.in_mempool(&child));
    assert_eq!(t.orphan_count(), 0);
    // The child is announced to the other peer (which knows the parent: it announced it).
    let child_wtxid = child.compute_wtxid();
    other.expect(WAIT, "the child's announcement", |m| match m {
        NetworkMessage::Inv(items) => items.contains(&Inventory::WTx(child_wtxid)).then_some(()),
        _ => None,
    });

    // Child first, parent from another peer: not paired (only the orphan's own announcers
    // are); the child's sender then sends the parent and the pair enters.
    let (parent, child) = low_parent_high_child(coins[1]);
    let asked = send_collect_getdata(&mut sender, NetworkMessage::Tx(child.clone()));
    assert_eq!(asked, vec![parent.compute_txid()]);
    other.send_and_ping(NetworkMessage::Tx(parent.clone()), WAIT);
    assert!(!t.in_mempool(&parent) && !t.in_mempool(&child));
    assert_eq!(t.orphan_count(), 1);
    sender.send_and_ping(NetworkMessage::Tx(parent.clone()), WAIT);
    assert!(t.in_mempool(&parent) && t.in_mempool(&child));
    t.node.wait_until(WAIT, "the package evaluation line", |n| {
        n.log()
            .contains(&format!("package evaluation for parent {}", parent.compute_txid()))
    });

    // Two low-feerate parents: a child spending both cannot enter as a 1p1c package, so it is
    // rejected and neither parent is requested.
    // The parents carry no witness (txid = wtxid), as in Core's test: they spend
    // P2SH(OP_TRUE) outputs.
    let op_true = bitcoin::ScriptBuf::from_bytes(vec![0x51]);
    let p2sh = bitcoin::ScriptBuf::new_p2sh(&op_true.script_hash());
    let mut split = spend(&[coins[2]], 10_000);
    let half = split.output[0].value / 2;
    split.output = vec![
        TxOut {
            value: half,
            script_pubkey: p2sh.clone(),
        };
        2
    ];
    sender.send_and_ping(NetworkMessage::Tx(split.clone()), WAIT);
    assert!(t.in_mempool(&split));
    let witnessless = |vout: u32| Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn {
            previous_output: OutPoint::new(split.compute_txid(), vout),
            script_sig: bitcoin::script::Builder::new().push_slice([0x51]).into_script(),
            sequence: bitcoin::Sequence::MAX,
            witness: bitcoin::Witness::new(),
        }],
        output: vec![TxOut {
            value: half,
            script_pubkey: mining::p2wsh_op_true(),
        }],
    };
    let (p1, p2) = (witnessless(0), witnessless(1));
    assert_eq!(p1.compute_txid().to_raw_hash(), p1.compute_wtxid().to_raw_hash());
    let both = spend(&[output(&p1), output(&p2)], 100_000);
    for p in [&p1, &p2] {
        assert!(send_collect_getdata(&mut sender, NetworkMessage::Tx(p.clone())).is_empty());
        assert!(!t.in_mempool(p));
    }
    assert!(send_collect_getdata(&mut sender, NetworkMessage::Tx(both.clone())).is_empty());
    assert!(!t.in_mempool(&both));
    assert_eq!(t.orphan_count(), 0);
}

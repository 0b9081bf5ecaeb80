//! Two real node processes on 127.0.0.1: B starts empty and syncs the shared 300-block chain
//! from A over P2P to A's exact tip and UTXO set hash; a block mined on A reaches B; a
//! transaction relays in both directions.

mod support;

use support::p2p_peer::to_hex;
use support::{http, mining, node_proc, p2p_peer};

use bitcoin::consensus::serialize;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::{Amount, Block, OutPoint, Transaction, TxOut};
use node_proc::{wait_for, NodeProc};
use p2p_peer::{p2p_addr, rpc};
use serde_json::json;
use std::time::{Duration, Instant};

/// Mines a block on `n`'s tip paying to P2WSH(OP_TRUE), submits it, returns it.
fn mine_on(n: &NodeProc, port: u16, tag: u64, txs: Vec<Transaction>, fees: Amount) -> Block {
    let parent = mining::tip_parent(&|m, p| rpc(n, port, m, p));
    let b = mining::build_block(&parent, tag, txs, fees, mining::p2wsh_op_true());
    let r = rpc(n, port, "submitblock", json!([to_hex(&serialize(&b))]));
    assert!(r.is_null(), "submitblock: {r}");
    b
}

fn best(n: &NodeProc, port: u16) -> String {
    rpc(n, port, "getbestblockhash", json!([])).as_str().unwrap().to_string()
}

fn utxo_hash(n: &NodeProc, port: u16) -> String {
    rpc(n, port, "gettxoutsetinfo", json!([]))["hash_serialized_3"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The shared chain's tip (and blocks mined on it here) are days old: without a larger
/// `-maxtipage` both nodes would stay in initial block download and, as Core, ignore relayed
/// transactions.
const NOT_IBD: &str = "-maxtipage=3153600000";

#[test]
fn two_nodes_sync_relay_blocks_and_transactions() {
    let core = support::core_json();
    let (pa, pb) = (http::free_port(), http::free_port());
    let a = node_proc::start_node_with_chain(
        &support::chain_hex_path(),
        &[&format!("-rpcport={pa}"), "-port=0", "-bind=127.0.0.1", NOT_IBD],
        &[],
    );
    a.wait_started();
    let a_addr = p2p_addr(&a);
    assert_eq!(best(&a, pa), core["tip_hash"].as_str().unwrap());

    // B starts empty and syncs from A.
    let started = Instant::now();
    let b = node_proc::start_node(&[&format!("-rpcport={pb}"), &format!("-connect={a_addr}"), NOT_IBD], &[]);
    b.wait_started();
    wait_for("B to sync 300 blocks from A", Duration::from_secs(60), &[&a, &b], || {
        rpc(&b, pb, "getblockcount", json!([])) == json!(300)
    });
    let sync_secs = started.elapsed().as_secs_f64();
    assert_eq!(best(&b, pb), core["tip_hash"].as_str().unwrap());
    let expected_utxo = core["gettxoutsetinfo"]["hash_serialized_3"]["hash_serialized_3"].as_str().unwrap();
    assert_eq!(utxo_hash(&b, pb), expected_utxo);
    assert_eq!(utxo_hash(&a, pa), expected_utxo);
    eprintln!("B synced 300 blocks from A in {sync_secs:.2}s");

    // Both sides see each other in getpeerinfo, with a completed handshake and our agent.
    let peers_b = rpc(&b, pb, "getpeerinfo", json!([]));
    assert_eq!(peers_b.as_array().unwrap().len(), 1, "{peers_b}");
    assert_eq!(peers_b[0]["addr"], a_addr.to_string());
    assert_eq!(peers_b[0]["inbound"], false);
    assert_eq!(peers_b[0]["connection_type"], "manual");
    assert!(peers_b[0]["subver"].as_str().unwrap().starts_with("/blvm:"));
    assert_eq!(peers_b[0]["synced_headers"], 300);
    let peers_a = rpc(&a, pa, "getpeerinfo", json!([]));
    assert_eq!(peers_a[0]["inbound"], true);
    assert_eq!(rpc(&a, pa, "getconnectioncount", json!([])), 1);
    b.wait_until(Duration::from_secs(5), "the sync-complete progress line", |n| {
        n.log().contains("sync complete: height=300")
    });

    // A block mined on A reaches B.
    let t0 = Instant::now();
    let blk = mine_on(&a, pa, 1, vec![], Amount::ZERO);
    let want = blk.block_hash().to_string();
    wait_for("the new block to reach B", Duration::from_secs(10), &[&a, &b], || {
        best(&b, pb) == want
    });
    eprintln!("block propagation A -> B: {:.1} ms", t0.elapsed().as_secs_f64() * 1000.0);

    // Mature three coinbases paying to P2WSH(OP_TRUE): 101 more blocks on B this time (relayed to A).
    let spendable = [blk.txdata[0].clone()];
    let mut second = None;
    let mut third = None;
    for i in 0..101u64 {
        let b2 = mine_on(&b, pb, 1000 + i, vec![], Amount::ZERO);
        match i {
            0 => second = Some(b2.txdata[0].clone()),
            1 => third = Some(b2.txdata[0].clone()),
            _ => {}
        }
    }
    let tip_b = best(&b, pb);
    wait_for("A to follow B's 101 blocks", Duration::from_secs(30), &[&a, &b], || {
        best(&a, pa) == tip_b
    });

    // A transaction sent to A reaches B's mempool, and one sent to B reaches A's.
    let spend = |cb: &Transaction| {
        let value = cb.output[0].value - Amount::from_sat(10_000);
        mining::spend(
            &[(
                OutPoint {
                    txid: cb.compute_txid(),
                    vout: 0,
                },
                mining::p2wsh_op_true(),
            )],
            vec![TxOut {
                value,
                script_pubkey: mining::p2wsh_op_true(),
            }],
        )
    };
    let tx1 = spend(&spendable[0]);
    let tx2 = spend(second.as_ref().unwrap());
    let txid1 = rpc(&a, pa, "sendrawtransaction", json!([to_hex(&serialize(&tx1))]));
    assert_eq!(txid1, tx1.compute_txid().to_string());
    wait_for("tx1 to reach B's mempool", Duration::from_secs(30), &[&a, &b], || {
        rpc(&b, pb, "getrawmempool", json!([])).as_array().unwrap().contains(&txid1)
    });
    let txid2 = rpc(&b, pb, "sendrawtransaction", json!([to_hex(&serialize(&tx2))]));
    wait_for("tx2 to reach A's mempool", Duration::from_secs(30), &[&a, &b], || {
        rpc(&a, pa, "getrawmempool", json!([])).as_array().unwrap().contains(&txid2)
    });

    // Orphan handling: a peer sends a child before its parent; A keeps the orphan, asks that
    // peer for the parent, accepts both, and relays both to B.
    let parent = spend(third.as_ref().unwrap());
    let child = mining::spend(
        &[(
            OutPoint {
                txid: parent.compute_txid(),
                vout: 0,
            },
            mining::p2wsh_op_true(),
        )],
        vec![TxOut {
            value: parent.output[0].value - Amount::from_sat(10_000),
            script_pubkey: mining::p2wsh_op_true(),
        }],
    );
    let mut p = p2p_peer::TestPeer::connect_from(a_addr, "127.0.0.1").unwrap();
    p.handshake(0);
    p.send(NetworkMessage::Tx(child.clone())).unwrap();
    let want = parent.compute_txid();
    p.expect(Duration::from_secs(10), "getdata for the orphan's parent", |m| match m {
        NetworkMessage::GetData(items) => items
            .iter()
            .any(|i| matches!(i, Inventory::WitnessTransaction(t) | Inventory::Transaction(t) if *t == want))
            .then_some(()),
        _ => None,
    });
    assert!(
        !rpc(&a, pa, "getrawmempool", json!([]))
            .as_array()
            .unwrap()
            .contains(&json!(child.compute_txid().to_string())),
        "child accepted without its parent"
    );
    p.send(NetworkMessage::Tx(parent.clone())).unwrap();
    for (node, port, name) in [(&a, pa, "A"), (&b, pb, "B")] {
        wait_for(
            &format!("parent and child in {name}'s mempool"),
            Duration::from_secs(30),
            &[&a, &b],
            || {
                let m = rpc(node, port, "getrawmempool", json!([]));
                let m = m.as_array().unwrap();
                m.contains(&json!(want.to_string())) && m.contains(&json!(child.compute_txid().to_string()))
            },
        );
    }
}

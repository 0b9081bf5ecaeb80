//! BIP152 compact blocks against a real node process: the node offers version 2 after the
//! handshake, announces new blocks as `cmpctblock` to a peer that asked for high-bandwidth
//! mode, answers `getblocktxn` and `getdata(MSG_CMPCT_BLOCK)`, punishes out-of-range
//! `getblocktxn` indexes, chooses a peer that delivered a new block as high-bandwidth,
//! reconstructs a block from its mempool and the `blocktxn` answering its `getblocktxn`, and
//! between two blvm-node processes relays a block of mempool transactions by `cmpctblock` alone.

mod support;

use support::{coins, mining, p2p_peer};

use bitcoin::bip152::{BlockTransactions, BlockTransactionsRequest, HeaderAndShortIds};
use bitcoin::consensus::serialize;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::p2p::message_compact_blocks::{BlockTxn, CmpctBlock, GetBlockTxn, SendCmpct};
use bitcoin::{Amount, BlockHash};

use p2p_peer::{peer_info, to_hex, TestPeer};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(40);

/// Connects from `ip`, completes the handshake and checks the node offers compact blocks
/// version 2 without asking for announcements.
fn connect(addr: std::net::SocketAddr, ip: &str, height: i32) -> TestPeer {
    let mut p = TestPeer::connect_from(addr, ip).unwrap();
    p.handshake(height);
    let offer = p.expect(WAIT, "sendcmpct", |m| match m {
        NetworkMessage::SendCmpct(s) => Some(*s),
        _ => None,
    });
    assert_eq!((offer.send_compact, offer.version), (false, 2));
    p
}

fn send_cmpct(high_bandwidth: bool) -> NetworkMessage {
    NetworkMessage::SendCmpct(SendCmpct {
        send_compact: high_bandwidth,
        version: 2,
    })
}

fn best(rpc: &dyn Fn(&str, Value) -> Value) -> BlockHash {
    rpc("getbestblockhash", json!([])).as_str().unwrap().parse().unwrap()
}

#[test]
fn high_bandwidth_announcement_and_getblocktxn() {
    let (n, port) = p2p_peer::start_listening(&[]);
    let rpc = |m: &str, p: Value| p2p_peer::rpc(&n, port, m, p);
    let addr = p2p_peer::p2p_addr(&n);
    let coins = coins::fund(rpc, 1);
    let height = rpc("getblockcount", json!([])).as_i64().unwrap() as i32;

    let mut hb = connect(addr, "127.0.0.2", height);
    hb.send_and_ping(send_cmpct(true), WAIT);
    let info = peer_info(&rpc, "127.0.0.2");
    assert_eq!(
        (info["bip152_hb_from"].clone(), info["bip152_hb_to"].clone()),
        (json!(true), json!(false))
    );

    // A new block with one mempool transaction is announced as a cmpctblock: the coinbase
    // prefilled, the transaction by short id.
    let tx = coins::spend_coin(coins[0]);
    rpc("sendrawtransaction", json!([to_hex(&serialize(&tx))]));
    let to = bitcoin::Address::from_script(&mining::p2wsh_op_true(), bitcoin::Network::Regtest).unwrap();
    let hash: BlockHash = rpc("generatetoaddress", json!([1, to.to_string()]))[0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let c = hb.expect(WAIT, "cmpctblock", |m| match m {
        NetworkMessage::CmpctBlock(c) => Some(c.compact_block.clone()),
        _ => None,
    });
    assert_eq!(c.header.block_hash(), hash);
    assert_eq!((c.prefilled_txs.len(), c.short_ids.len()), (1, 1));

    // getblocktxn is answered with the requested transaction, witness included.
    hb.send(NetworkMessage::GetBlockTxn(GetBlockTxn {
        txs_request: BlockTransactionsRequest {
            block_hash: hash,
            indexes: vec![1],
        },
    }))
    .unwrap();
    let txn = hb.expect(WAIT, "blocktxn", |m| match m {
        NetworkMessage::BlockTxn(b) => Some(b.transactions.clone()),
        _ => None,
    });
    assert_eq!(txn.block_hash, hash);
    assert_eq!(txn.transactions, vec![tx]);

    // getdata(MSG_CMPCT_BLOCK) for a recent block: a cmpctblock.
    hb.send(NetworkMessage::GetData(vec![Inventory::CompactBlock(hash)])).unwrap();
    let again = hb.expect(WAIT, "cmpctblock for getdata", |m| match m {
        NetworkMessage::CmpctBlock(c) => Some(c.compact_block.header.block_hash()),
        _ => None,
    });
    assert_eq!(again, hash);

    // An index past the block's end is misbehaviour.
    hb.send(NetworkMessage::GetBlockTxn(GetBlockTxn {
        txs_request: BlockTransactionsRequest {
            block_hash: hash,
            indexes: vec![5],
        },
    }))
    .unwrap();
    assert!(hb.wait_closed(WAIT), "out-of-range getblocktxn disconnects");
}

#[test]
fn reconstructs_from_mempool_and_blocktxn() {
    let (n, port) = p2p_peer::start_listening(&[]);
    let rpc = |m: &str, p: Value| p2p_peer::rpc(&n, port, m, p);
    let addr = p2p_peer::p2p_addr(&n);
    let coins = coins::fund(rpc, 2);
    let height = rpc("getblockcount", json!([])).as_i64().unwrap() as i32;
    let mut p = connect(addr, "127.0.0.2", height);
    p.send_and_ping(send_cmpct(false), WAIT);

    // Delivering a new block first makes us one of the node's high-bandwidth peers. A lone
    // new block on the tip is asked of a compact block peer as MSG_CMPCT_BLOCK (as Core); the
    // full block answers it too.
    let b1 = mining::build_block(&mining::tip_parent(&rpc), 1, vec![], Amount::ZERO, mining::op_true());
    p.send(NetworkMessage::Headers(vec![b1.header])).unwrap();
    let asked_for = p.expect(WAIT, "getdata for the announced block", |m| match m {
        NetworkMessage::GetData(v) => v.first().copied(),
        _ => None,
    });
    assert_eq!(asked_for, Inventory::CompactBlock(b1.block_hash()));
    p.send(NetworkMessage::Block(b1.clone())).unwrap();
    let asked = p.expect(WAIT, "sendcmpct(1)", |m| match m {
        NetworkMessage::SendCmpct(s) => Some(*s),
        _ => None,
    });
    assert_eq!((asked.send_compact, asked.version), (true, 2));
    assert_eq!(best(&rpc), b1.block_hash());
    assert_eq!(peer_info(&rpc, "127.0.0.2")["bip152_hb_to"], json!(true));

    // A block of a mempool transaction and one the node has never seen: the compact block
    // makes it ask for the unknown one only, and the blocktxn completes the block.
    let known = coins::spend_coin(coins[0]);
    let unknown = coins::spend_coin(coins[1]);
    rpc("sendrawtransaction", json!([to_hex(&serialize(&known))]));
    let b2 = mining::build_block(
        &mining::tip_parent(&rpc),
        2,
        vec![known, unknown.clone()],
        Amount::from_sat(20_000),
        mining::op_true(),
    );
    let cmpct = HeaderAndShortIds::from_block(&b2, 7, 2, &[]).unwrap();
    p.send(NetworkMessage::CmpctBlock(CmpctBlock { compact_block: cmpct })).unwrap();
    let req = p.expect(WAIT, "getblocktxn", |m| match m {
        NetworkMessage::GetBlockTxn(g) => Some(g.txs_request.clone()),
        _ => None,
    });
    assert_eq!((req.block_hash, req.indexes.clone()), (b2.block_hash(), vec![2]));
    assert_eq!(peer_info(&rpc, "127.0.0.2")["inflight"], json!([b1_height(&rpc) + 1]));
    p.send_and_ping(
        NetworkMessage::BlockTxn(BlockTxn {
            transactions: BlockTransactions {
                block_hash: b2.block_hash(),
                transactions: vec![unknown],
            },
        }),
        WAIT,
    );
    n.wait_until(WAIT, "the reconstructed block becomes the tip", |_| best(&rpc) == b2.block_hash());
    assert_eq!(peer_info(&rpc, "127.0.0.2")["inflight"], json!([]));
}

/// The height of the current tip.
fn b1_height(rpc: &dyn Fn(&str, Value) -> Value) -> u64 {
    rpc("getblockcount", json!([])).as_u64().unwrap()
}

/// Two blvm-node processes: once the receiver has a block's transactions in its mempool, the
/// block reaches it as a `cmpctblock` and it asks for nothing (no `getdata`, no `getblocktxn`,
/// no full `block`), counted from the receiver's own per-message byte counters.
#[test]
fn two_nodes_relay_a_block_of_mempool_transactions_by_compact_block_alone() {
    let (a, port_a) = p2p_peer::start_listening(&[]);
    let rpc_a = |m: &str, p: Value| p2p_peer::rpc(&a, port_a, m, p);
    let coins = coins::fund(rpc_a, 10);
    let (b, port_b) = p2p_peer::start_listening(&[]);
    let rpc_b = |m: &str, p: Value| p2p_peer::rpc(&b, port_b, m, p);
    rpc_b("addnode", json!([p2p_peer::p2p_addr(&a).to_string(), "onetry"]));
    b.wait_until(WAIT, "B syncs A's chain", |_| best(&rpc_b) == best(&rpc_a));
    let txids: Vec<String> = coins
        .iter()
        .map(|c| {
            rpc_a("sendrawtransaction", json!([to_hex(&serialize(&coins::spend_coin(*c)))]))
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    b.wait_until(WAIT, "B's mempool holds the transactions", |_| {
        let pool = rpc_b("getrawmempool", json!([]));
        txids.iter().all(|t| pool.as_array().unwrap().contains(&json!(t)))
    });
    let counters = |dir: &str, msg: &str| peer_info(&rpc_b, "127.0.0.1")[dir][msg].as_u64().unwrap_or(0);
    let before = ["getdata", "getblocktxn"].map(|m| counters("bytessent_per_msg", m));
    let (cmpct_before, block_before) = (counters("bytesrecv_per_msg", "cmpctblock"), counters("bytesrecv_per_msg", "block"));
    let address = bitcoin::Address::from_script(&mining::p2wsh_op_true(), bitcoin::Network::Regtest).unwrap();
    let mined = rpc_a("generatetoaddress", json!([1, address.to_string()]));
    let tip: BlockHash = mined[0].as_str().unwrap().parse().unwrap();
    assert_eq!(rpc_a("getblock", json!([tip.to_string()]))["nTx"], json!(11));
    b.wait_until(WAIT, "B connects the block", |_| best(&rpc_b) == tip);
    assert!(rpc_b("getrawmempool", json!([])).as_array().unwrap().is_empty());
    assert_eq!(
        ["getdata", "getblocktxn"].map(|m| counters("bytessent_per_msg", m)),
        before,
        "B asked A for something"
    );
    assert!(counters("bytesrecv_per_msg", "cmpctblock") > cmpct_before, "no cmpctblock from A");
    assert_eq!(counters("bytesrecv_per_msg", "block"), block_before, "a full block was sent");
}

/// A compact block whose parent the node does not know, announced while the node's
/// `getheaders` to that peer is outstanding, is asked for once the (older) reply is in: the
/// node sends another `getheaders` and ends up knowing the block. (Dropping it left a node
/// five blocks short of its only peer until the peer's next block, a `p2p_1p1c_network.py`
/// timeout.)
#[test]
fn a_compact_block_announced_during_a_getheaders_is_asked_for_after_the_reply() {
    let (n, port) = p2p_peer::start_listening(&[]);
    let rpc = |m: &str, p: Value| p2p_peer::rpc(&n, port, m, p);
    // A fresh tip takes the node out of initial block download, where an unconnecting compact
    // block is ignored (as Core).
    let to = bitcoin::Address::from_script(&mining::p2wsh_op_true(), bitcoin::Network::Regtest).unwrap();
    rpc("generatetoaddress", json!([1, to.to_string()]));
    let tip = mining::tip_parent(&rpc);
    let b2 = mining::build_block(&tip, 1, vec![], Amount::ZERO, mining::op_true());
    let b3 = mining::build_block(
        &mining::Parent::from_block(&b2, tip.height + 1, &[tip.time]),
        1,
        vec![],
        Amount::ZERO,
        mining::op_true(),
    );

    let mut p = TestPeer::connect_from(p2p_peer::p2p_addr(&n), "127.0.0.3").unwrap();
    p.handshake(0);
    let getheaders = |p: &mut TestPeer| p.expect(WAIT, "getheaders", |m| matches!(m, NetworkMessage::GetHeaders(_)).then_some(()));
    // The node's first request, left unanswered while the peer announces b3 (parent unknown).
    getheaders(&mut p);
    p.send_and_ping(send_cmpct(false), WAIT);
    let cmpct = HeaderAndShortIds::from_block(&b3, 7, 2, &[]).unwrap();
    p.send_and_ping(NetworkMessage::CmpctBlock(CmpctBlock { compact_block: cmpct }), WAIT);
    // The reply, written before b3 existed: b2 only.
    p.send(NetworkMessage::Headers(vec![b2.header])).unwrap();
    getheaders(&mut p);
    p.send(NetworkMessage::Headers(vec![b3.header])).unwrap();
    n.wait_until(WAIT, "the announced block's header stored", |n| {
        p2p_peer::rpc_raw(n, port, "getblockheader", json!([b3.block_hash().to_string()]))["error"].is_null()
    });
}

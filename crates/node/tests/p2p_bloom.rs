//! BIP37 bloom filters against a real node process, as Core serves them: filter messages
//! disconnect a peer we offer no NODE_BLOOM (unless `-peerbloomfilters` or the bloomfilter
//! permission), a loaded filter limits transaction announcements to matching transactions and
//! turns relay on for a relay=0 peer, `filteradd`/`filterclear` change what is announced,
//! MSG_FILTERED_BLOCK is answered with a `merkleblock` proving the matched transactions followed
//! by those transactions, and oversized filters or elements are punished.

mod support;

use support::{coins, mining, p2p_peer};

use bitcoin::consensus::serialize;
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::p2p::message_bloom::{BloomFlags, FilterAdd, FilterLoad};
use bitcoin::p2p::ServiceFlags;
use bitcoin::{Amount, BlockHash, OutPoint, ScriptBuf, Transaction, TxOut, Txid, WPubkeyHash, Wtxid};
use blvm_node::p2p::bloom::{BloomFilter, BLOOM_UPDATE_ALL, MAX_BLOOM_FILTER_SIZE, MAX_HASH_FUNCS};
use p2p_peer::{peer_info, to_hex, TestPeer};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(40);

/// A P2WPKH output script for a made-up key hash (its 20-byte push is what filters match).
fn p2wpkh(byte: u8) -> ScriptBuf {
    ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([byte; 20]))
}

/// A one-output spend of a P2WSH(OP_TRUE) `coin` to `to`, paying 10,000 sats fee.
fn spend_to(coin: (OutPoint, Amount), to: ScriptBuf) -> Transaction {
    let out = TxOut {
        value: coin.1 - Amount::from_sat(10_000),
        script_pubkey: to,
    };
    mining::spend(&[(coin.0, mining::p2wsh_op_true())], vec![out])
}

/// Reads announcements until `want` is announced; returns every wtxid announced on the way.
fn announced_until(p: &mut TestPeer, want: Wtxid) -> HashSet<Wtxid> {
    let mut seen = HashSet::new();
    p.expect(WAIT, "inv of the transaction", |m| {
        if let NetworkMessage::Inv(v) = m {
            seen.extend(v.iter().filter_map(|i| match i {
                Inventory::WTx(w) => Some(*w),
                _ => None,
            }));
        }
        seen.contains(&want).then_some(())
    });
    seen
}

/// A filter holding the push `[byte; 20]` (the key hash of [`p2wpkh`]), updating on matches.
fn filter_for(byte: u8) -> FilterLoad {
    let mut f = BloomFilter::new(10, 0.000_001, 0, BLOOM_UPDATE_ALL);
    f.insert(&[byte; 20]);
    f.to_filterload()
}

fn has_bloom(v: &bitcoin::p2p::message_network::VersionMessage) -> bool {
    v.services.has(ServiceFlags::BLOOM)
}

#[test]
fn filter_messages_disconnect_unless_bloom_is_offered() {
    let (n, port) = p2p_peer::start_listening(&["-whitelist=bloomfilter@127.0.0.5"]);
    let rpc = |m: &str, p: Value| p2p_peer::rpc(&n, port, m, p);
    let addr = p2p_peer::p2p_addr(&n);
    let names = rpc("getnetworkinfo", json!([]))["localservicesnames"].clone();
    assert!(!names.as_array().unwrap().contains(&json!("BLOOM")), "{names}");

    let messages = [
        ("127.0.0.2", NetworkMessage::FilterLoad(filter_for(0xaa))),
        ("127.0.0.3", NetworkMessage::FilterAdd(FilterAdd { data: vec![1; 20] })),
        ("127.0.0.4", NetworkMessage::FilterClear),
    ];
    for (ip, msg) in messages {
        let command = msg.command().to_string();
        let mut p = TestPeer::connect_from(addr, ip).unwrap();
        assert!(!has_bloom(&p.handshake(0)), "NODE_BLOOM offered without -peerbloomfilters");
        p.send(msg).unwrap();
        assert!(p.wait_closed(WAIT), "{command} without NODE_BLOOM: disconnected");
        let line = format!("{command} received despite not offering bloom services, disconnecting peer=");
        n.wait_until(WAIT, "Core's line", |n| n.log().contains(&line));
    }

    // The bloomfilter permission offers NODE_BLOOM to that peer alone, and its filter is kept.
    let mut w = TestPeer::connect_from(addr, "127.0.0.5").unwrap();
    assert!(has_bloom(&w.handshake(0)), "NODE_BLOOM offered to a bloomfilter-permission peer");
    w.send_and_ping(NetworkMessage::FilterLoad(filter_for(0xaa)), WAIT);
    w.send_and_ping(NetworkMessage::FilterAdd(FilterAdd { data: vec![2; 32] }), WAIT);
    assert_eq!(peer_info(&rpc, "127.0.0.5")["permissions"], json!(["bloomfilter"]));
}

#[test]
fn filtered_relay_and_filtered_blocks() {
    let (n, port) = p2p_peer::start_listening(&["-peerbloomfilters"]);
    let rpc = |m: &str, p: Value| p2p_peer::rpc(&n, port, m, p);
    let addr = p2p_peer::p2p_addr(&n);
    let names = rpc("getnetworkinfo", json!([]))["localservicesnames"].clone();
    assert!(names.as_array().unwrap().contains(&json!("BLOOM")), "{names}");
    let coins = coins::fund(rpc, 3);
    let miss = spend_to(coins[0], mining::p2wsh_op_true());
    let hit = spend_to(coins[1], p2wpkh(0xaa));
    let added = spend_to(coins[2], p2wpkh(0xbb));
    let after_clear = spend_to(
        (OutPoint::new(miss.compute_txid(), 0), miss.output[0].value),
        mining::p2wsh_op_true(),
    );

    // A relay=0 peer asks for transactions by loading a filter (Core sets m_relay_txs).
    let mut spv = TestPeer::connect_from(addr, "127.0.0.2").unwrap();
    let mut v = spv.version_msg(0);
    v.relay = false;
    assert!(has_bloom(&spv.handshake_with(v)), "NODE_BLOOM under -peerbloomfilters");
    assert_eq!(peer_info(&rpc, "127.0.0.2")["relaytxes"], json!(false));
    spv.send_and_ping(NetworkMessage::FilterLoad(filter_for(0xaa)), WAIT);
    assert_eq!(peer_info(&rpc, "127.0.0.2")["relaytxes"], json!(true), "filterload turns relay on");
    let mut full = TestPeer::connect_from(addr, "127.0.0.3").unwrap();
    full.handshake(0);
    // As Core, a transaction accepted before the node has handled our verack is never
    // announced to us: a forwarded message and its pong show the handshake was handled (the
    // node's verack alone does not; this raced under load and `miss` never reached `full`).
    full.send_and_ping(NetworkMessage::SendHeaders, WAIT);

    // Only the matching transaction is announced to the filtered peer; both to the other.
    rpc("sendrawtransaction", json!([to_hex(&serialize(&miss))]));
    rpc("sendrawtransaction", json!([to_hex(&serialize(&hit))]));
    let seen = announced_until(&mut spv, hit.compute_wtxid());
    assert!(
        !seen.contains(&miss.compute_wtxid()),
        "a transaction the filter does not match was announced"
    );
    let seen = announced_until(&mut full, hit.compute_wtxid());
    let seen_full: HashSet<Wtxid> = if seen.contains(&miss.compute_wtxid()) {
        seen
    } else {
        announced_until(&mut full, miss.compute_wtxid())
    };
    assert!(seen_full.contains(&miss.compute_wtxid()));

    // The filtered block proves the matched transaction, which follows without witness.
    let to = bitcoin::Address::from_script(&mining::p2wsh_op_true(), bitcoin::Network::Regtest).unwrap();
    let hash: BlockHash = rpc("generatetoaddress", json!([1, to.to_string()]))[0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let block_txs = rpc("getblock", json!([hash.to_string(), 1]))["tx"].clone();
    assert_eq!(block_txs.as_array().unwrap().len(), 3, "{block_txs}");
    spv.send(NetworkMessage::GetData(vec![Inventory::Unknown {
        inv_type: 3,
        hash: hash.to_byte_array(),
    }]))
    .unwrap();
    let mb = spv.expect(WAIT, "merkleblock", |m| match m {
        NetworkMessage::MerkleBlock(mb) => Some(mb.clone()),
        _ => None,
    });
    assert_eq!(mb.header.block_hash(), hash);
    let (mut matches, mut indexes) = (Vec::<Txid>::new(), Vec::new());
    mb.extract_matches(&mut matches, &mut indexes)
        .expect("partial merkle tree proves against the header");
    assert_eq!(matches, [hit.compute_txid()]);
    assert_eq!(mb.txn.num_transactions(), 3);
    let tx = spv.expect(WAIT, "the matched tx", |m| match m {
        NetworkMessage::Tx(t) => Some(t.clone()),
        _ => None,
    });
    assert_eq!(tx.compute_txid(), hit.compute_txid());
    assert!(tx.input.iter().all(|i| i.witness.is_empty()), "sent without witness, as Core");

    // filteradd extends the filter to a new output script.
    spv.send_and_ping(NetworkMessage::FilterAdd(FilterAdd { data: vec![0xbb; 20] }), WAIT);
    rpc("sendrawtransaction", json!([to_hex(&serialize(&added))]));
    announced_until(&mut spv, added.compute_wtxid());

    // filterclear: every transaction is announced again.
    spv.send_and_ping(NetworkMessage::FilterClear, WAIT);
    rpc("sendrawtransaction", json!([to_hex(&serialize(&after_clear))]));
    announced_until(&mut spv, after_clear.compute_wtxid());
    // Without a filter, a filtered block gets no answer (the pong comes first).
    let nonce = rand::random();
    spv.send(NetworkMessage::GetData(vec![Inventory::Unknown {
        inv_type: 3,
        hash: hash.to_byte_array(),
    }]))
    .unwrap();
    spv.send(NetworkMessage::Ping(nonce)).unwrap();
    spv.expect(WAIT, "pong", |m| match m {
        NetworkMessage::MerkleBlock(_) => panic!("merkleblock without a filter"),
        NetworkMessage::Pong(p) => (*p == nonce).then_some(()),
        _ => None,
    });
}

#[test]
fn oversized_filters_and_elements_are_misbehaviour() {
    let (n, port) = p2p_peer::start_listening(&["-peerbloomfilters"]);
    let rpc = |m: &str, p: Value| p2p_peer::rpc(&n, port, m, p);
    let addr = p2p_peer::p2p_addr(&n);
    let load = |filter: Vec<u8>, hash_funcs: u32| {
        NetworkMessage::FilterLoad(FilterLoad {
            filter,
            hash_funcs,
            tweak: 0,
            flags: BloomFlags::None,
        })
    };
    let cases: Vec<(&str, Vec<NetworkMessage>, &str)> = vec![
        (
            "127.0.0.2",
            vec![load(vec![0xbb; MAX_BLOOM_FILTER_SIZE + 1], 1)],
            "too-large bloom filter",
        ),
        (
            "127.0.0.3",
            vec![load(vec![0xbb; 100], MAX_HASH_FUNCS + 1)],
            "too-large bloom filter",
        ),
        (
            "127.0.0.4",
            vec![load(vec![0; 100], 5), NetworkMessage::FilterAdd(FilterAdd { data: vec![1; 521] })],
            "bad filteradd message",
        ),
        (
            "127.0.0.5",
            vec![NetworkMessage::FilterAdd(FilterAdd { data: vec![1; 20] })],
            "bad filteradd message",
        ),
    ];
    for (ip, msgs, reason) in cases {
        let mut p = TestPeer::connect_from(addr, ip).unwrap();
        p.handshake(0);
        for m in msgs {
            p.send(m).unwrap();
        }
        assert!(p.wait_closed(WAIT), "{ip}: {reason}: disconnected");
        n.wait_until(WAIT, "misbehaving line", |n| {
            n.log()
                .lines()
                .any(|l| l.contains("Misbehaving: peer=") && l.contains(reason) && l.contains(ip))
        });
    }
    // At the limits a filter and an element are accepted.
    let mut ok = TestPeer::connect_from(addr, "127.0.0.6").unwrap();
    ok.handshake(0);
    ok.send_and_ping(load(vec![0; MAX_BLOOM_FILTER_SIZE], MAX_HASH_FUNCS), WAIT);
    ok.send_and_ping(NetworkMessage::FilterAdd(FilterAdd { data: vec![1; 520] }), WAIT);
    assert_eq!(peer_info(&rpc, "127.0.0.6")["relaytxes"], json!(true));
}

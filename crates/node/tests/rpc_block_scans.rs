//! `scanblocks` and `getdescriptoractivity` against the real `blvm-node` binary with
//! `-blockfilterindex`: the blocks paying to an address and the block spending from it are
//! found through the BIP158 filters, with `filter_false_positives` giving exactly those blocks,
//! height bounds honoured; the activity in those blocks and in the mempool lists every payment
//! and spend; Core's errors for bad arguments and a node without the index.

mod support;

use support::p2p_peer::to_hex;
use support::{http, mining, node_proc, p2p_peer};

use bitcoin::consensus::serialize;
use bitcoin::{Address, Amount, Network, OutPoint, TxOut, Txid};
use p2p_peer::{rpc, rpc_raw};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::str::FromStr;

fn hashes(v: &Value) -> BTreeSet<String> {
    v["relevant_blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn scanblocks_and_descriptor_activity_find_payments_and_spends() {
    let port = http::free_port();
    let n = node_proc::start_node(&[&format!("-rpcport={port}"), "-listen=0", "-blockfilterindex=1"], &[]);
    n.wait_started();
    let anyone = mining::p2wsh_op_true();
    let anyone_addr = Address::from_script(&anyone, Network::Regtest).unwrap().to_string();
    let other = "bcrt1qjqmxmkpmxt80xz4y3746zgt0q3u3ferr34acd5";

    // Heights 1..=5 pay `other`, 6..=105 pay the anyone-can-spend script; block 106 spends the
    // coinbase of block 6 to `other`.
    rpc(&n, port, "generatetoaddress", json!([5, other]));
    let anyone_blocks = rpc(&n, port, "generatetoaddress", json!([100, anyone_addr]));
    let cb = rpc(&n, port, "getblock", json!([anyone_blocks[0], 1]))["tx"][0]
        .as_str()
        .unwrap()
        .to_string();
    let spend = mining::spend(
        &[(OutPoint::new(Txid::from_str(&cb).unwrap(), 0), anyone.clone())],
        vec![TxOut {
            value: Amount::from_sat(50 * 100_000_000 - 1_000),
            script_pubkey: Address::from_str(other).unwrap().assume_checked().script_pubkey(),
        }],
    );
    rpc(&n, port, "sendrawtransaction", json!([to_hex(&serialize(&spend))]));
    let spending_block = rpc(&n, port, "generatetoaddress", json!([1, other]))[0]
        .as_str()
        .unwrap()
        .to_string();
    let hash_at = |h: u64| rpc(&n, port, "getblockhash", json!([h])).as_str().unwrap().to_string();

    // The anyone-can-spend script: paid in 6..=105 (coinbases), spent in 106.
    let desc = format!("addr({anyone_addr})");
    let exact = rpc(
        &n,
        port,
        "scanblocks",
        json!(["start", [desc], 0, null, "basic", {"filter_false_positives": true}]),
    );
    let mut want: BTreeSet<String> = (6..=105).map(hash_at).collect();
    want.insert(spending_block.clone());
    assert_eq!(hashes(&exact), want);
    assert_eq!(exact["from_height"], 0);
    assert_eq!(exact["to_height"], 106);
    assert_eq!(exact["completed"], true);
    let keys: Vec<&str> = exact.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["from_height", "to_height", "relevant_blocks", "completed"]);
    // Without the check, filters may add false positives but never miss a block.
    let loose = rpc(&n, port, "scanblocks", json!(["start", [desc]]));
    assert!(hashes(&loose).is_superset(&want), "{loose}");

    // `other`: paid in 1..=5 and 106 (coinbase and the spend's output).
    let other_exact = rpc(
        &n,
        port,
        "scanblocks",
        json!({"action": "start", "scanobjects": [format!("addr({other})")], "options": {"filter_false_positives": true}}),
    );
    let mut want_other: BTreeSet<String> = (1..=5).map(hash_at).collect();
    want_other.insert(spending_block.clone());
    assert_eq!(hashes(&other_exact), want_other);

    // Height bounds: only [100, 105] of the anyone-can-spend blocks; then just the spend.
    let bounded = rpc(
        &n,
        port,
        "scanblocks",
        json!(["start", [desc], 100, 105, "basic", {"filter_false_positives": true}]),
    );
    assert_eq!(hashes(&bounded), (100..=105).map(hash_at).collect());
    assert_eq!(
        (bounded["from_height"].clone(), bounded["to_height"].clone()),
        (json!(100), json!(105))
    );
    let last = rpc(
        &n,
        port,
        "scanblocks",
        json!(["start", [desc], 106, 106, "basic", {"filter_false_positives": true}]),
    );
    assert_eq!(hashes(&last), BTreeSet::from([spending_block]));

    // No scan runs between calls.
    assert_eq!(rpc(&n, port, "scanblocks", json!(["status"])), Value::Null);
    assert_eq!(rpc(&n, port, "scanblocks", json!(["abort"])), json!(false));

    // Core's errors.
    let err = |params: Value| rpc_raw(&n, port, "scanblocks", params)["error"].clone();
    let e = |code: i64, message: &str| json!({"code": code, "message": message});
    assert_eq!(err(json!(["foobar"])), e(-8, "Invalid action 'foobar'"));
    assert_eq!(err(json!(["start", [desc], 0, 10, "extended"])), e(-5, "Unknown filtertype"));
    assert_eq!(err(json!(["start", [desc], 107])), e(-1, "Invalid start_height"));
    assert_eq!(err(json!(["start", [desc], -1])), e(-1, "Invalid start_height"));
    assert_eq!(err(json!(["start", [desc], 10, 9])), e(-1, "Invalid stop_height"));
    assert_eq!(err(json!(["start", [desc], 10, 107])), e(-1, "Invalid stop_height"));
    assert_eq!(
        err(json!(["start", null])),
        e(-1, "scanobjects argument is required for the start action")
    );
    assert_eq!(err(json!(["start", ["wpkh(nonsense)"]]))["code"], -5);
    assert_eq!(err(json!([]))["code"], -1, "the action is required");

    // The activity in the relevant blocks: 100 coinbase payments, then the spend.
    let relevant: Vec<String> = hashes(&exact).into_iter().collect();
    let act = rpc(&n, port, "getdescriptoractivity", json!([relevant, [desc], false]))["activity"].clone();
    let act = act.as_array().unwrap();
    assert_eq!(act.len(), 101, "{act:?}");
    for (i, ev) in act[..100].iter().enumerate() {
        let height = 6 + i as u64;
        assert_eq!(ev["type"], "receive");
        assert_eq!(
            (ev["height"].as_u64(), ev["blockhash"].as_str()),
            (Some(height), Some(hash_at(height).as_str()))
        );
        assert_eq!(ev["vout"], 0);
        assert_eq!(ev["amount"], 50.0);
        assert_eq!(ev["output_spk"]["address"], anyone_addr.as_str());
        assert_eq!(ev["output_spk"]["hex"], to_hex(anyone.as_bytes()));
    }
    let spend_ev = &act[100];
    let keys: Vec<&str> = spend_ev.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "type",
            "amount",
            "blockhash",
            "height",
            "spend_txid",
            "spend_vin",
            "prevout_txid",
            "prevout_vout",
            "prevout_spk"
        ]
    );
    assert_eq!(spend_ev["spend_txid"], spend.compute_txid().to_string());
    assert_eq!(
        (spend_ev["prevout_txid"].as_str(), spend_ev["prevout_vout"].as_u64()),
        (Some(cb.as_str()), Some(0))
    );
    assert_eq!(spend_ev["height"], 106);

    // An unconfirmed spend of block 7's coinbase to `other`, and its child paying back to the
    // anyone script: a spend and a receive without block fields, the child's input spending a
    // mempool parent's output that pays `other`.
    let cb7 = rpc(&n, port, "getblock", json!([hash_at(7), 1]))["tx"][0]
        .as_str()
        .unwrap()
        .to_string();
    let parent = mining::spend(
        &[(OutPoint::new(Txid::from_str(&cb7).unwrap(), 0), anyone.clone())],
        vec![TxOut {
            value: Amount::from_sat(50 * 100_000_000 - 1_000),
            script_pubkey: anyone.clone(),
        }],
    );
    rpc(&n, port, "sendrawtransaction", json!([to_hex(&serialize(&parent))]));
    let in_pool = rpc(&n, port, "getdescriptoractivity", json!([[], [desc]]))["activity"].clone();
    assert_eq!(in_pool.as_array().unwrap().len(), 2, "{in_pool}");
    assert_eq!(in_pool[0]["type"], "spend");
    assert_eq!(in_pool[0]["spend_txid"], parent.compute_txid().to_string());
    assert_eq!(in_pool[1]["type"], "receive");
    assert!(in_pool[0].get("blockhash").is_none() && in_pool[1].get("height").is_none());
    let child = mining::spend(
        &[(OutPoint::new(parent.compute_txid(), 0), anyone.clone())],
        vec![TxOut {
            value: Amount::from_sat(50 * 100_000_000 - 2_000),
            script_pubkey: Address::from_str(other).unwrap().assume_checked().script_pubkey(),
        }],
    );
    rpc(&n, port, "sendrawtransaction", json!([to_hex(&serialize(&child))]));
    let both = rpc(&n, port, "getdescriptoractivity", json!([[], [desc], true]))["activity"].clone();
    let child_spend = both
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["spend_txid"] == child.compute_txid().to_string());
    assert_eq!(
        child_spend.expect("the child spends a mempool output")["prevout_txid"],
        parent.compute_txid().to_string()
    );
    let aerr = |params: Value| rpc_raw(&n, port, "getdescriptoractivity", params)["error"].clone();
    assert_eq!(aerr(json!([["00".repeat(32)], [desc]])), e(-5, "Block not found"));
    assert_eq!(aerr(json!([[]]))["code"], -1, "scanobjects are required");
    assert_eq!(aerr(json!([["zz"], [desc]]))["code"], -8);
    let stale = hash_at(106);
    rpc(&n, port, "invalidateblock", json!([stale]));
    assert_eq!(aerr(json!([[stale], [desc]])), e(-8, "Block is not in main chain"));

    // A node without the index.
    let port2 = http::free_port();
    let plain = node_proc::start_node(&[&format!("-rpcport={port2}"), "-listen=0"], &[]);
    plain.wait_started();
    assert_eq!(
        rpc_raw(&plain, port2, "scanblocks", json!(["start", [desc]]))["error"],
        e(-1, "Index is not enabled for filtertype basic")
    );
}

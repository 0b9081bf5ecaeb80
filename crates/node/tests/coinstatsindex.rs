//! The coin statistics index (`-coinstatsindex`) on a real node process and on-disk datadir:
//! enabled on a datadir that already holds Core's 301-block chain it catches up (and its MuHash
//! at the tip is Core's); at several heights, its MuHash and totals equal `gettxoutsetinfo`
//! computed from the UTXO set at that tip (reached with `invalidateblock`, which disconnects
//! blocks through the index too), after reorganisations, after a clean restart and after a kill.

mod support;

use bitcoin::hashes::Hash;
use serde_json::{json, Value};
use std::time::Duration;
use support::rpc_node::RpcNode;
use support::{coins, node_proc};

/// The fields the index and the UTXO set scan both answer.
const SHARED: [&str; 6] = ["height", "bestblock", "txouts", "bogosize", "muhash", "total_amount"];

fn shared_fields(v: &Value) -> Value {
    Value::Object(SHARED.iter().map(|k| (k.to_string(), v[*k].clone())).collect())
}

/// The index's answer at the tip equals the UTXO set's; returns the index's whole answer.
fn assert_index_matches_utxo_set(n: &RpcNode, what: &str) -> Value {
    let indexed = n.call("gettxoutsetinfo", json!(["muhash"]));
    let scanned = n.call("gettxoutsetinfo", json!(["muhash", null, false]));
    assert!(indexed.get("block_info").is_some(), "{what}: the index answered: {indexed}");
    assert!(scanned.get("block_info").is_none(), "{what}: the UTXO set answered: {scanned}");
    assert_eq!(shared_fields(&indexed), shared_fields(&scanned), "{what}");
    let info = n.call("getindexinfo", json!(["coinstatsindex"]));
    assert_eq!(
        info,
        json!({"coinstatsindex": {"synced": true, "best_block_height": indexed["height"]}}),
        "{what}"
    );
    indexed
}

fn height(n: &RpcNode) -> u64 {
    n.call("getblockcount", json!([])).as_u64().unwrap()
}

#[test]
fn index_equals_the_utxo_set_across_heights_reorgs_and_restarts() {
    let core = support::core_json();
    // Core's chain imported without the index, then the node started with it: it catches up.
    let n = RpcNode::start_with_chain(&support::chain_hex_path(), &["-coinstatsindex"]);
    let at_tip = assert_index_matches_utxo_set(&n, "caught up at 300");
    assert_eq!(at_tip["muhash"], core["gettxoutsetinfo"]["muhash"]["muhash"], "Core's MuHash");
    assert_eq!(at_tip["txouts"], core["gettxoutsetinfo"]["muhash"]["txouts"]);
    let tip_hash = at_tip["bestblock"].clone();

    // Several heights: the tip moved back by invalidateblock (disconnecting through the index),
    // each compared with a scan of the UTXO set there and with the index's answer by height.
    let mut by_height = Vec::new();
    let mut invalidated = Vec::new();
    for h in [250u64, 180, 120, 1] {
        let next = n.call("getblockhash", json!([h + 1]));
        n.call("invalidateblock", json!([next]));
        invalidated.push(next);
        assert_eq!(height(&n), h);
        let indexed = assert_index_matches_utxo_set(&n, &format!("height {h}"));
        by_height.push((h, indexed));
    }
    for hash in invalidated.iter().rev() {
        n.call("reconsiderblock", json!([hash]));
    }
    assert_eq!(height(&n), 300);
    assert_eq!(assert_index_matches_utxo_set(&n, "reconnected")["muhash"], at_tip["muhash"]);
    for (h, want) in &by_height {
        let got = n.call("gettxoutsetinfo", json!(["muhash", h]));
        assert_eq!(&got, want, "the record of height {h} after reconnecting");
    }

    // A reorganisation onto a new branch with spends: the replaced tip's record stays
    // readable by hash, the new tip's matches the UTXO set.
    let rpc = |m: &str, p: Value| n.call(m, p);
    let funded = coins::fund(rpc, 2);
    let tx = coins::spend_coin(funded[0]);
    n.call("sendrawtransaction", json!([bitcoin::consensus::encode::serialize_hex(&tx)]));
    let addr = bitcoin::Address::from_script(&blvm_testkit::mining::p2wsh_op_true(), bitcoin::Network::Regtest)
        .unwrap()
        .to_string();
    n.call("generatetoaddress", json!([1, addr]));
    let spent = assert_index_matches_utxo_set(&n, "a block with a spend");
    assert!(spent["block_info"]["prevout_spent"].as_f64().unwrap() > 0.0, "{spent}");
    let old_tip = spent["bestblock"].clone();
    n.call("invalidateblock", json!([old_tip]));
    // Another payout, so the new branch's first block is not the invalidated one again.
    let other = bitcoin::ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::hash(&[0x52]));
    let other = bitcoin::Address::from_script(&other, bitcoin::Network::Regtest)
        .unwrap()
        .to_string();
    n.call("generatetoaddress", json!([2, other]));
    let reorged = assert_index_matches_utxo_set(&n, "after a reorganisation");
    assert_ne!(reorged["muhash"], spent["muhash"]);
    let stale = n.call("gettxoutsetinfo", json!(["muhash", old_tip]));
    assert_eq!(stale, spent, "the replaced block's record by hash");
    assert_eq!(n.call("gettxoutsetinfo", json!(["none", 300]))["bestblock"], tip_hash);

    // A clean restart keeps the index where it was.
    let mut node = n.node;
    node.stop(Duration::from_secs(30));
    let datadir = node.datadir.clone();
    let restart = |extra: &[&str]| {
        let port = support::http::free_port();
        let rpcport = format!("-rpcport={port}");
        let mut args = vec![rpcport.as_str(), "-listen=0", "-coinstatsindex"];
        args.extend_from_slice(extra);
        let node = node_proc::start_node_in(&datadir, &args, &[]);
        node.wait_started();
        RpcNode { node, port }
    };
    let n = restart(&[]);
    assert_eq!(assert_index_matches_utxo_set(&n, "after a restart"), reorged);

    // Killed after more blocks: the index resumes from what it last wrote and catches up.
    n.call("generatetoaddress", json!([3, addr]));
    let before_kill = assert_index_matches_utxo_set(&n, "before the kill");
    let mut node = n.node;
    node.signal(libc::SIGKILL);
    node.wait_exit(Duration::from_secs(10));
    let n = restart(&[]);
    let after_kill = assert_index_matches_utxo_set(&n, "after the kill");
    assert_eq!(after_kill["height"], before_kill["height"], "the block files were replayed");
    assert_eq!(after_kill, before_kill);

    // -reindex rebuilds the chainstate from the block files and the index from scratch.
    let mut node = n.node;
    node.stop(Duration::from_secs(30));
    let n = restart(&["-reindex"]);
    assert_eq!(assert_index_matches_utxo_set(&n, "after -reindex"), before_kill);
    assert!(
        n.node.net_dir().join("indexes/coinstatsindex/db/data.mdb").exists(),
        "Core's layout"
    );
    // -reindex-chainstate rebuilds the chainstate and keeps the index, which still matches.
    let mut node = n.node;
    node.stop(Duration::from_secs(30));
    let n = restart(&["-reindex-chainstate"]);
    assert_eq!(assert_index_matches_utxo_set(&n, "after -reindex-chainstate"), before_kill);
}

#[test]
fn block_heights_need_the_index_and_hash_serialized_3_is_refused_with_it() {
    let plain = RpcNode::start(&[]);
    assert_eq!(
        plain.call_err("gettxoutsetinfo", json!(["muhash", 0])),
        (-8, "Querying specific block heights requires coinstatsindex".into())
    );
    assert_eq!(plain.call("getindexinfo", json!([])), json!({}));
    let n = RpcNode::start(&["-coinstatsindex"]);
    assert_eq!(
        n.call_err("gettxoutsetinfo", json!(["hash_serialized_3", 0])),
        (-8, "hash_serialized_3 hash type cannot be queried for a specific block".into())
    );
    assert_eq!(
        n.call_err("gettxoutsetinfo", json!(["muhash", 0, false])),
        (-8, "Cannot set use_index to false when querying for a specific block".into())
    );
    assert_eq!(
        n.call_err("gettxoutsetinfo", json!(["muhash", 5])),
        (-8, "Target block height 5 after current tip 0".into())
    );
    assert_eq!(
        n.call_err("gettxoutsetinfo", json!(["none", "ff".repeat(32)])),
        (-5, "Block not found".into())
    );
    // Genesis: its subsidy is unspendable, nothing is in the UTXO set.
    let g = n.call("gettxoutsetinfo", json!(["none", 0]));
    assert_eq!(g["txouts"], 0);
    assert_eq!(g["total_unspendable_amount"], json!(50.0));
    assert_eq!(g["block_info"]["unspendables"]["genesis_block"], json!(50.0));
    // hash_serialized_3 at the tip is still answered, from the UTXO set.
    assert!(n.call("gettxoutsetinfo", json!([]))["hash_serialized_3"].is_string());
}

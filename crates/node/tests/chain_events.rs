//! Chain events through real processes: a competing branch submitted over RPC makes the node
//! reorganise, and a module receives BlockDisconnected, NewBlock and ChainReorg exactly.

mod support;

use support::p2p_peer::to_hex;
use support::{http, mining, node_proc};

use bitcoin::consensus::serialize;
use bitcoin::BlockHash;
use node_proc::ModuleSpec;
use serde_json::json;
use std::str::FromStr;
use std::time::Duration;

#[test]
fn reorg_through_submitblock_reaches_modules_as_exact_events() {
    let port = http::free_port();
    let mut n = node_proc::start_node_with_chain(
        &support::chain_hex_path(),
        &[&format!("-rpcport={port}")],
        &[ModuleSpec::recorder("rec", "")],
    );
    n.wait_started();
    let addr = format!("127.0.0.1:{port}");
    let c = std::fs::read_to_string(n.net_dir().join(".cookie")).unwrap();
    let core = support::core_json();
    let rpc = |m: &str, p: serde_json::Value| {
        let r = http::call(&addr, &c, m, p);
        assert!(r["error"].is_null(), "{m}: {r}");
        r["result"].clone()
    };

    // Fork below the tip: B1 on block 299 ties with 300 (no switch), B2 on B1 wins.
    let h299 = core["blocks"][299]["hash"].as_str().unwrap().to_string();
    let hdr = rpc("getblockheader", json!([h299]));
    let parent = mining::Parent {
        hash: BlockHash::from_str(&h299).unwrap(),
        height: 299,
        time: hdr["time"].as_u64().unwrap() as u32,
        mtp: hdr["mediantime"].as_i64().unwrap(),
    };
    let b1 = mining::build_block(&parent, 777_001, vec![], bitcoin::Amount::ZERO, mining::op_true());
    let earlier: Vec<u32> = (289..=299).map(|h| core["blocks"][h]["time"].as_u64().unwrap() as u32).collect();
    let p1 = mining::Parent::from_block(&b1, 300, &earlier);
    let b2 = mining::build_block(&p1, 777_002, vec![], bitcoin::Amount::ZERO, mining::op_true());

    // Stored on a side branch, not connected: Core's "inconclusive".
    assert_eq!(rpc("submitblock", json!([to_hex(&serialize(&b1))])), json!("inconclusive"));
    assert_eq!(
        rpc("getbestblockhash", json!([])),
        core["getblockchaininfo"]["bestblockhash"],
        "equal work keeps the first-seen tip"
    );
    assert_eq!(rpc("submitblock", json!([to_hex(&serialize(&b2))])), serde_json::Value::Null);
    assert_eq!(rpc("getbestblockhash", json!([])), json!(b2.block_hash().to_string()));
    assert_eq!(rpc("submitblock", json!([to_hex(&serialize(&b2))])), json!("duplicate"));
    let tips = rpc("getchaintips", json!([]));
    assert!(
        tips.as_array()
            .unwrap()
            .iter()
            .any(|t| t["status"] == "valid-fork" && t["hash"] == core["getblockchaininfo"]["bestblockhash"]),
        "{tips}"
    );

    n.wait_until(Duration::from_secs(10), "ChainReorg recorded", |n| {
        n.recorded_events("rec").iter().any(|(t, _)| t == "ChainReorg")
    });
    let chain: Vec<(String, serde_json::Value)> = n
        .recorded_events("rec")
        .into_iter()
        .filter(|(t, _)| matches!(t.as_str(), "NewBlock" | "BlockDisconnected" | "ChainReorg"))
        .map(|(t, e)| (t, e["payload"].clone()))
        .collect();
    let old_tip = core["getblockchaininfo"]["bestblockhash"].clone();
    assert_eq!(chain.len(), 4, "{chain:?}");
    assert_eq!(chain[0], ("BlockDisconnected".to_string(), json!({"hash": old_tip, "height": 300})));
    assert_eq!(
        chain[1],
        (
            "NewBlock".to_string(),
            json!({"hash": b1.block_hash().to_string(), "height": 300, "tx_count": 1})
        )
    );
    assert_eq!(
        chain[2],
        (
            "NewBlock".to_string(),
            json!({"hash": b2.block_hash().to_string(), "height": 301, "tx_count": 1})
        )
    );
    assert_eq!(
        chain[3],
        (
            "ChainReorg".to_string(),
            json!({
                "old_tip": old_tip,
                "new_tip": b2.block_hash().to_string(),
                "fork_height": 299,
                "disconnected": [old_tip],
                "connected": [b1.block_hash().to_string(), b2.block_hash().to_string()],
            })
        )
    );
    // An invalid block over RPC gets Core's reason and changes nothing.
    let mut bad = mining::build_block(
        &mining::Parent::from_block(&b2, 301, &earlier[1..]),
        777_003,
        vec![],
        bitcoin::Amount::from_sat(1),
        mining::op_true(),
    );
    mining::finish(&mut bad);
    assert_eq!(rpc("submitblock", json!([to_hex(&serialize(&bad))])), json!("bad-cb-amount"));
    assert_eq!(rpc("getbestblockhash", json!([])), json!(b2.block_hash().to_string()));
    n.stop(Duration::from_secs(20));
}

/// Blocks connected while the chainstate opens (here a `-reindex` of the 300 imported blocks)
/// are connected before any module could subscribe: their events are not published afterwards
/// in one late burst. The first new block reaches the module as the only NewBlock.
#[test]
fn a_reindex_at_startup_is_not_published_with_the_next_block() {
    let port = http::free_port();
    let mut n = node_proc::start_node_with_chain(
        &support::chain_hex_path(),
        &[&format!("-rpcport={port}"), "-reindex"],
        &[ModuleSpec::recorder("rec", "")],
    );
    n.wait_started();
    let addr = format!("127.0.0.1:{port}");
    let c = std::fs::read_to_string(n.net_dir().join(".cookie")).unwrap();
    let rpc = |m: &str, p: serde_json::Value| {
        let r = http::call(&addr, &c, m, p);
        assert!(r["error"].is_null(), "{m}: {r}");
        r["result"].clone()
    };
    assert_eq!(rpc("getblockcount", json!([])), json!(300), "the reindex rebuilt the chain");
    let b301 = mining::build_block(&mining::tip_parent(&rpc), 777_301, vec![], bitcoin::Amount::ZERO, mining::op_true());
    assert_eq!(rpc("submitblock", json!([to_hex(&serialize(&b301))])), serde_json::Value::Null);
    n.wait_until(Duration::from_secs(10), "NewBlock recorded", |n| {
        n.recorded_events("rec").iter().any(|(t, _)| t == "NewBlock")
    });
    let new_blocks: Vec<serde_json::Value> = n
        .recorded_events("rec")
        .into_iter()
        .filter(|(t, _)| t == "NewBlock")
        .map(|(_, e)| e["payload"].clone())
        .collect();
    assert_eq!(
        new_blocks,
        vec![json!({"hash": b301.block_hash().to_string(), "height": 301, "tx_count": 1})]
    );
    n.stop(Duration::from_secs(20));
}

//! The basic block filter index (`-blockfilterindex`, BIP158): every filter and filter header of
//! Core's 301-block regtest chain equal Core's own (`getblockfilter` over RPC of the real binary,
//! and the chain engine directly), and the index follows reorganisations and catches up after
//! runs without it, on a real on-disk datadir.

mod support;

use support::p2p_peer::to_hex;
use support::{http, mining, node_proc, p2p_peer};

use bitcoin::bip158::BlockFilter;
use bitcoin::hex::FromHex;
use bitcoin::{Block, BlockHash};
use blvm_node::chain::{ChainManager, ChainSettings, FlushReason};
use blvm_node::params::ChainParams;
use p2p_peer::{rpc, rpc_raw};
use serde_json::{json, Value};
use std::path::Path;
use std::str::FromStr;

/// Core's (filter, header) for each height of the shared chain.
fn core_filters() -> Vec<(String, String)> {
    let core = support::core_json();
    core["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let s = |k: &str| b[k].as_str().unwrap_or_else(|| panic!("{k} in Core's JSON")).to_string();
            (s("basic_filter"), s("basic_filter_header"))
        })
        .collect()
}

#[test]
fn getblockfilter_matches_core_for_every_block() {
    let core = core_filters();
    let blocks = support::chain_blocks();
    let port = http::free_port();
    let n = node_proc::start_node_with_chain(
        &support::chain_hex_path(),
        &[&format!("-rpcport={port}"), "-blockfilterindex=basic", "-listen=0"],
        &[],
    );
    n.wait_started();
    for (h, block) in blocks.iter().enumerate() {
        let got = rpc(&n, port, "getblockfilter", json!([block.block_hash().to_string()]));
        assert_eq!(got, json!({"filter": core[h].0, "header": core[h].1}), "height {h}");
    }
    let info = rpc(&n, port, "getindexinfo", json!([]));
    assert_eq!(
        info,
        json!({"basic block filter index": {"synced": true, "best_block_height": 300}})
    );
    // Core's errors.
    let err = |params: Value| rpc_raw(&n, port, "getblockfilter", params)["error"].clone();
    assert_eq!(err(json!(["00".repeat(32)])), json!({"code": -5, "message": "Block not found"}));
    let tip = blocks[300].block_hash().to_string();
    assert_eq!(err(json!([tip, "extended"])), json!({"code": -5, "message": "Unknown filtertype"}));
    assert_eq!(err(json!(["zz"]))["code"], -8);
    // A new block gets its filter at once, chained on its parent's header.
    let payout = mining::p2wsh_op_true();
    let addr = bitcoin::Address::from_script(&payout, bitcoin::Network::Regtest)
        .unwrap()
        .to_string();
    let mined = rpc(&n, port, "generatetoaddress", json!([1, addr]));
    let next = rpc(&n, port, "getblockfilter", json!([mined[0]]));
    let filter = BlockFilter::new(&Vec::<u8>::from_hex(next["filter"].as_str().unwrap()).expect("hex"));
    let parent_header = bitcoin::bip158::FilterHeader::from_str(&core[300].1).unwrap();
    assert_eq!(next["header"], json!(filter.filter_header(&parent_header).to_string()));
    let mined_hash = BlockHash::from_str(mined[0].as_str().unwrap()).unwrap();
    assert!(filter.match_any(&mined_hash, [payout.as_bytes()].into_iter()).unwrap());
    drop(n);

    // Without the index: Core's error.
    let n = node_proc::start_node_with_chain(&support::chain_hex_path(), &[&format!("-rpcport={port}"), "-listen=0"], &[]);
    n.wait_started();
    assert_eq!(
        rpc_raw(&n, port, "getblockfilter", json!([tip]))["error"],
        json!({"code": -1, "message": "Index is not enabled for filtertype basic"})
    );
}

fn open(dir: &Path, index: bool) -> ChainManager {
    let settings = ChainSettings {
        blockfilterindex: index,
        ..support::test_settings()
    };
    ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), dir, settings).expect("open chain")
}

/// Core's blocks have Core's filters; every active block's header chains on its parent's, and its
/// filter matches its coinbase output script.
fn assert_filters(c: &ChainManager, core: &[(String, String)], core_blocks: &[Block], what: &str) {
    for (h, b) in core_blocks.iter().enumerate() {
        if let Some(r) = c.block_filter(&b.block_hash()).unwrap() {
            assert_eq!((to_hex(&r.filter), r.header.to_string()), core[h], "{what}: Core block at {h}");
        }
    }
    for h in 1..=c.height() {
        let hash = c.hash_at(h).unwrap();
        let r = c.block_filter(&hash).unwrap().unwrap_or_else(|| panic!("{what}: no filter at {h}"));
        let parent = c.block_filter(&c.hash_at(h - 1).unwrap()).unwrap().unwrap();
        let filter = BlockFilter::new(&r.filter);
        assert_eq!(filter.filter_header(&parent.header), r.header, "{what}: header chain at {h}");
        let block = c.read_block(&hash).unwrap().unwrap();
        let spk = block.txdata[0].output[0].script_pubkey.as_bytes();
        assert!(
            filter.match_any(&hash, [spk].into_iter()).unwrap(),
            "{what}: coinbase script at {h}"
        );
    }
    assert_eq!(c.filter_index_height(), Some(c.height()), "{what}");
}

#[test]
fn filter_index_follows_reorgs_and_catches_up_after_pauses() {
    let core = core_filters();
    let blocks = support::chain_blocks();
    let dir = tempfile::tempdir().unwrap();
    {
        let mut c = open(dir.path(), false);
        mining::submit_all(&mut c, &blocks[1..]);
        c.flush(FlushReason::Manual).unwrap();
    }
    // Built on first use, equal to Core's for all 301 blocks.
    let mut c = open(dir.path(), true);
    for (h, b) in blocks.iter().enumerate() {
        let r = c.block_filter(&b.block_hash()).unwrap().expect("filter");
        assert_eq!((to_hex(&r.filter), r.header.to_string()), core[h], "height {h}");
    }
    // A reorg to a longer branch from 250; then a pause without the index.
    let fork = mining::branch(&c, blocks[250].block_hash(), 52, 5);
    mining::submit_all(&mut c, &fork);
    assert_eq!(c.height(), 302);
    assert_filters(&c, &core, &blocks, "after a reorg");
    c.flush(FlushReason::Manual).unwrap();
    let tip = c.tip().hash;
    drop(c);
    {
        let mut c = open(dir.path(), false);
        let more = mining::branch(&c, tip, 3, 6);
        mining::submit_all(&mut c, &more);
        c.flush(FlushReason::Manual).unwrap();
    }
    let c = open(dir.path(), true);
    assert_eq!(c.height(), 305);
    assert_filters(&c, &core, &blocks, "caught up");
    drop(c);
    // Without the index, back to Core's branch (longer): the index resumes from the fork point.
    {
        let mut c = open(dir.path(), false);
        let longer = mining::branch(&c, blocks[300].block_hash(), 6, 7);
        mining::submit_all(&mut c, &longer);
        c.flush(FlushReason::Manual).unwrap();
    }
    let c = open(dir.path(), true);
    assert_eq!(c.height(), 306);
    assert_eq!(c.hash_at(300), Some(blocks[300].block_hash()));
    assert_filters(&c, &core, &blocks, "after a reorg while off");
}

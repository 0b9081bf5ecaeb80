//! Regtest block building for integration tests: `blvm_testkit::mining` (shared with the
//! differential oracle) plus what needs the chain engine.
#![allow(unused_imports)]

pub use blvm_testkit::mining::*;

use bitcoin::{Amount, Block, BlockHash};
use blvm_node::chain::{BlockOutcome, ChainManager};
use serde_json::{json, Value};

/// The parent `hash` as known to `chain` (any branch).
pub fn parent_of(chain: &ChainManager, hash: &BlockHash) -> Parent {
    let e = chain.entry(hash).expect("parent is in the block index");
    Parent {
        hash: *hash,
        height: e.height,
        time: e.header.time,
        mtp: chain.median_time_past(hash),
    }
}

/// `n` coinbase-only blocks (anyone-can-spend payout, `tag` making them unique) extending
/// `parent` as known to `chain`.
pub fn branch(chain: &ChainManager, parent: BlockHash, n: usize, tag: u64) -> Vec<Block> {
    let mut p = parent_of(chain, &parent);
    let mut times = Vec::new();
    let mut out = Vec::new();
    for _ in 0..n {
        let b = build_block(&p, tag, vec![], Amount::ZERO, op_true());
        times.push(p.time);
        p = Parent::from_block(&b, p.height + 1, &times);
        out.push(b);
    }
    out
}

/// Hands `blocks` to the chain engine in order, asserting each is accepted.
pub fn submit_all(chain: &mut ChainManager, blocks: &[Block]) {
    for b in blocks {
        let out = chain.process_block(b).expect("process_block");
        assert!(matches!(out, BlockOutcome::Accepted { .. }), "{out:?}");
    }
}

/// A transaction spending output 0 of the coinbase `cb` (worth `value_btc`, paid to the
/// anyone-can-spend `payout`, such as [`p2wsh_op_true`]) back to `payout`, paying a 10,000 sat fee.
pub fn spend_coinbase_to(cb: bitcoin::Txid, value_btc: f64, payout: &bitcoin::ScriptBuf) -> bitcoin::Transaction {
    spend(
        &[(bitcoin::OutPoint::new(cb, 0), payout.clone())],
        vec![bitcoin::TxOut {
            value: Amount::from_sat((value_btc * 1e8).round() as u64 - 10_000),
            script_pubkey: payout.clone(),
        }],
    )
}

/// The tip of a node reached through `rpc` (`getbestblockhash`, `getblockheader`) as the
/// parent of a new block.
pub fn tip_parent(rpc: &dyn Fn(&str, Value) -> Value) -> Parent {
    let hash = rpc("getbestblockhash", json!([]));
    let h = rpc("getblockheader", json!([hash]));
    Parent {
        hash: hash.as_str().unwrap().parse().unwrap(),
        height: h["height"].as_u64().unwrap() as u32,
        time: h["time"].as_u64().unwrap() as u32,
        mtp: h["mediantime"].as_i64().unwrap(),
    }
}

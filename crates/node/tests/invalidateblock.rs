//! `invalidateblock` and `reconsiderblock` against the real `blvm-node` binary with a module
//! recording the bus: the invalidated block leaves the chain and its transaction returns to the
//! mempool, a new branch grows, reconsidering keeps the chain with more work, and invalidating
//! that branch switches back with a `ChainReorg` event carrying the true tips.

mod support;

use support::p2p_peer::to_hex;
use support::{http, mining, node_proc, p2p_peer};

use bitcoin::consensus::serialize;
use bitcoin::{Address, Amount, Network, OutPoint, TxOut, Txid};
use node_proc::ModuleSpec;
use p2p_peer::{rpc, rpc_raw};
use serde_json::{json, Value};
use std::str::FromStr;
use std::time::Duration;

fn tip_status(tips: &Value, hash: &Value) -> Value {
    tips.as_array()
        .unwrap()
        .iter()
        .find(|t| t["hash"] == *hash)
        .map(|t| t["status"].clone())
        .unwrap_or(Value::Null)
}

#[test]
fn invalidate_and_reconsider_move_the_chain_mempool_and_events() {
    let port = http::free_port();
    let n = node_proc::start_node(&[&format!("-rpcport={port}"), "-listen=0"], &[ModuleSpec::recorder("rec", "")]);
    n.wait_started();
    let payout = mining::p2wsh_op_true();
    let addr = Address::from_script(&payout, Network::Regtest).unwrap().to_string();
    let mined = rpc(&n, port, "generatetoaddress", json!([101, addr]));
    let block101 = mined[100].clone();
    let cb = rpc(&n, port, "getblock", json!([mined[0], 1]))["tx"][0]
        .as_str()
        .unwrap()
        .to_string();
    let tx = mining::spend(
        &[(OutPoint::new(Txid::from_str(&cb).unwrap(), 0), payout.clone())],
        vec![TxOut {
            value: Amount::from_sat(50_0000_0000 - 10_000),
            script_pubkey: payout.clone(),
        }],
    );
    let txid = rpc(&n, port, "sendrawtransaction", json!([to_hex(&serialize(&tx))]));
    let old102 = rpc(&n, port, "generatetoaddress", json!([1, addr]))[0].clone();
    assert_eq!(rpc(&n, port, "getrawmempool", json!([])), json!([]));

    // Invalidate 102: back to 101, the transaction returns to the mempool.
    assert_eq!(rpc(&n, port, "invalidateblock", json!([old102])), Value::Null);
    assert_eq!(rpc(&n, port, "getbestblockhash", json!([])), block101);
    assert_eq!(rpc(&n, port, "getrawmempool", json!([])), json!([txid]));
    assert_eq!(tip_status(&rpc(&n, port, "getchaintips", json!([])), &old102), "invalid");
    n.wait_until(Duration::from_secs(10), "BlockDisconnected of 102", |n| {
        n.recorded_events("rec")
            .iter()
            .any(|(t, e)| t == "BlockDisconnected" && e["payload"]["hash"] == old102 && e["payload"]["height"] == 102)
    });

    // A new branch of two blocks (the first one mines the transaction again), paying another
    // address so its first block is not the invalidated one again.
    let other = bitcoin::ScriptBuf::new_p2wsh(&bitcoin::ScriptBuf::from_bytes(vec![0x52]).wscript_hash());
    let other_addr = Address::from_script(&other, Network::Regtest).unwrap().to_string();
    let new = rpc(&n, port, "generatetoaddress", json!([2, other_addr]));
    assert_eq!(rpc(&n, port, "getrawmempool", json!([])), json!([]));
    // Reconsidering 102 makes it valid again, but the new branch has more work and stays.
    assert_eq!(rpc(&n, port, "reconsiderblock", json!([old102])), Value::Null);
    assert_eq!(rpc(&n, port, "getbestblockhash", json!([])), new[1]);
    assert_eq!(tip_status(&rpc(&n, port, "getchaintips", json!([])), &old102), "valid-fork");

    // Invalidating the new branch switches back to the old 102: a reorg with its true tips.
    assert_eq!(rpc(&n, port, "invalidateblock", json!([new[0]])), Value::Null);
    assert_eq!(rpc(&n, port, "getbestblockhash", json!([])), old102);
    assert_eq!(rpc(&n, port, "getblockcount", json!([])), 102);
    n.wait_until(Duration::from_secs(10), "ChainReorg back to 102", |n| {
        n.recorded_events("rec")
            .iter()
            .any(|(t, e)| t == "ChainReorg" && e["payload"]["new_tip"] == old102)
    });
    let (_, reorg) = n
        .recorded_events("rec")
        .into_iter()
        .find(|(t, e)| t == "ChainReorg" && e["payload"]["new_tip"] == old102)
        .unwrap();
    let p = &reorg["payload"];
    assert_eq!(p["old_tip"], new[1]);
    assert_eq!(p["fork_height"], 101);
    assert_eq!(p["disconnected"], json!([new[1], new[0]]));
    assert_eq!(p["connected"], json!([old102]));

    // Unknown blocks: Core's error.
    let err = rpc_raw(&n, port, "invalidateblock", json!(["00".repeat(32)]));
    assert_eq!(err["error"], json!({"code": -5, "message": "Block not found"}));
    let err = rpc_raw(&n, port, "reconsiderblock", json!(["00".repeat(32)]));
    assert_eq!(err["error"]["code"], -5);
}

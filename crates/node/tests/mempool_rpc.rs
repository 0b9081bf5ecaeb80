//! The mempool, raw-submission, mining and util RPCs through the node's real dispatcher:
//! Core's result shapes and error codes for generatetoaddress/generatetodescriptor/
//! generateblock, getblocktemplate, getmininginfo, testmempoolaccept (single and package),
//! sendrawtransaction (maxfeerate, maxburnamount, missing inputs, already confirmed),
//! getrawmempool, getmempoolentry/ancestors/descendants, savemempool, validateaddress and
//! estimatesmartfee.

mod support;

use support::mining;
use support::p2p_peer::to_hex;
use support::rpc_node::sat;

use bitcoin::consensus::serialize;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::{Amount, OutPoint, ScriptBuf, TxOut, Txid};
use blvm_node::node::{Node, NodeSettings};
use blvm_node::params::ChainParams;
use blvm_node::rpc::methods::dispatch;
use serde_json::{json, Value};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

async fn call(node: &Arc<Node>, m: &str, p: Value) -> Value {
    match dispatch(&blvm_node::launch::rpc_ops::context(node), m, Some(&p)).await {
        Ok(v) => v,
        Err(e) => panic!("{m} {p}: {e}"),
    }
}

async fn call_err(node: &Arc<Node>, m: &str, p: Value) -> (i64, String) {
    match dispatch(&blvm_node::launch::rpc_ops::context(node), m, Some(&p)).await {
        Ok(v) => panic!("{m} {p} succeeded: {v}"),
        Err(e) => (e.code, e.message),
    }
}

fn op_true_out(value: u64) -> TxOut {
    TxOut {
        value: Amount::from_sat(value),
        script_pubkey: mining::p2wsh_op_true(),
    }
}

fn spend(op: OutPoint, outs: Vec<TxOut>) -> bitcoin::Transaction {
    mining::spend(&[(op, mining::p2wsh_op_true())], outs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mining_and_mempool_rpcs_have_cores_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = NodeSettings::new(ChainParams::for_network(bitcoin::Network::Regtest), dir.path().join("regtest"));
    s.chain = support::test_settings();
    s.lifecycle.ack_timeout = Duration::from_secs(1);
    s.lifecycle.shutdown_timeout = Duration::from_secs(1);
    let node = blvm_node::launch::start(s).await.unwrap();

    let program = sha256::Hash::hash(&[0x51]).to_byte_array();
    let spk_hex = format!("0020{}", to_hex(&program));
    let addr = bitcoin::Address::from_script(&mining::p2wsh_op_true(), bitcoin::Network::Regtest)
        .unwrap()
        .to_string();

    // Generating.
    assert_eq!(
        call_err(&node, "generatetoaddress", json!([1, "notanaddress"])).await,
        (-5, "Error: Invalid address".into())
    );
    assert_eq!(call_err(&node, "generatetodescriptor", json!([1, "raw(51)#00000000"])).await.0, -5);
    let hashes = call(&node, "generatetodescriptor", json!([100, format!("raw({spk_hex})")])).await;
    assert_eq!(hashes.as_array().unwrap().len(), 100);
    let more = call(&node, "generatetoaddress", json!([2, addr])).await;
    assert_eq!(call(&node, "getblockcount", json!([])).await, json!(102));
    assert_eq!(call(&node, "getbestblockhash", json!([])).await, more[1]);
    let b1 = call(&node, "getblock", json!([hashes[0], 2])).await;
    let cb1 = &b1["tx"][0];
    assert_eq!(cb1["vout"][0]["scriptPubKey"]["hex"], json!(spk_hex));
    assert_eq!(sat(&cb1["vout"][0]["value"]), 50 * 100_000_000);
    assert_eq!(
        cb1["vin"][0]["coinbase"].as_str().unwrap(),
        "5100",
        "BIP34 height 1 then OP_0, as Core's miner"
    );
    let coinbase = |b: &Value| OutPoint {
        txid: Txid::from_str(b["tx"][0]["txid"].as_str().unwrap()).unwrap(),
        vout: 0,
    };
    let b2 = call(&node, "getblock", json!([hashes[1], 2])).await;
    let b3 = call(&node, "getblock", json!([hashes[2], 2])).await;

    // getblocktemplate needs the segwit rule.
    let (code, msg) = call_err(&node, "getblocktemplate", json!([])).await;
    assert_eq!(code, -8);
    assert!(msg.contains("segwit rule set"), "{msg}");
    let t = call(&node, "getblocktemplate", json!([{"rules": ["segwit"]}])).await;
    assert_eq!(t["height"], json!(103));
    assert_eq!(t["previousblockhash"], more[1]);
    assert_eq!(t["coinbasevalue"], json!(5_000_000_000u64));
    assert_eq!(t["bits"], json!("207fffff"));
    assert_eq!(t["transactions"], json!([]));
    assert!(t["default_witness_commitment"].as_str().unwrap().starts_with("6a24aa21a9ed"));
    assert!(t["curtime"].as_i64().unwrap() >= t["mintime"].as_i64().unwrap());
    assert_eq!(t["rules"], json!(["csv", "!segwit", "taproot"]));

    // Submission checks.
    let parent = spend(coinbase(&b1), vec![op_true_out(50 * 100_000_000 - 10_000)]);
    let parent_hex = to_hex(&serialize(&parent));
    let r = call(&node, "testmempoolaccept", json!([[parent_hex]])).await;
    assert_eq!(r[0]["allowed"], json!(true), "{r}");
    assert_eq!(r[0]["vsize"], json!(parent.vsize()));
    assert_eq!(sat(&r[0]["fees"]["base"]), 10_000);
    assert_eq!(r[0]["fees"]["effective-includes"], json!([parent.compute_wtxid().to_string()]));
    let r = call(&node, "testmempoolaccept", json!([[parent_hex], 0.00000001])).await;
    assert_eq!(r[0]["reject-reason"], json!("max-fee-exceeded"));
    assert_eq!(
        call_err(&node, "sendrawtransaction", json!([parent_hex, 0.00000001])).await,
        (-25, "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)".into())
    );
    let (code, msg) = call_err(&node, "sendrawtransaction", json!([parent_hex, 1])).await;
    assert_eq!(
        (code, msg.as_str()),
        (-8, "Fee rates larger than or equal to 1BTC/kvB are not accepted")
    );
    assert_eq!(call_err(&node, "sendrawtransaction", json!(["00"])).await.0, -22);
    let missing = spend(
        OutPoint {
            txid: Txid::from_byte_array([3; 32]),
            vout: 0,
        },
        vec![op_true_out(1_000)],
    );
    assert_eq!(
        call_err(&node, "sendrawtransaction", json!([to_hex(&serialize(&missing))])).await,
        (-25, "bad-txns-inputs-missingorspent".into())
    );
    let r = call(&node, "testmempoolaccept", json!([[to_hex(&serialize(&missing))]])).await;
    assert_eq!(
        (r[0]["allowed"].clone(), r[0]["reject-reason"].clone()),
        (json!(false), json!("missing-inputs"))
    );
    let burn = spend(
        coinbase(&b2),
        vec![
            op_true_out(1_000_000),
            TxOut {
                value: Amount::from_sat(5_000),
                script_pubkey: ScriptBuf::from_bytes(vec![0x6a, 0x01, 0x01]),
            },
        ],
    );
    assert_eq!(
        call_err(&node, "sendrawtransaction", json!([to_hex(&serialize(&burn))])).await,
        (-25, "Unspendable output exceeds maximum configured by user (maxburnamount)".into())
    );
    let zero_fee = spend(coinbase(&b2), vec![op_true_out(50 * 100_000_000)]);
    let (code, msg) = call_err(&node, "sendrawtransaction", json!([to_hex(&serialize(&zero_fee))])).await;
    assert_eq!(code, -26);
    assert!(msg.starts_with("min relay fee not met, 0 < "), "{msg}");
    let r = call(&node, "testmempoolaccept", json!([[to_hex(&serialize(&zero_fee))]])).await;
    assert_eq!(r[0]["reject-reason"], json!("min relay fee not met"));
    assert!(r[0]["reject-details"].as_str().unwrap().starts_with("min relay fee not met, 0 < "));

    let parent_id = call(&node, "sendrawtransaction", json!([parent_hex])).await;
    assert_eq!(parent_id, json!(parent.compute_txid().to_string()));
    let child = spend(
        OutPoint {
            txid: parent.compute_txid(),
            vout: 0,
        },
        vec![op_true_out(50 * 100_000_000 - 30_000)],
    );
    let child_id = call(&node, "sendrawtransaction", json!([to_hex(&serialize(&child))])).await;
    // Package test-accept: parent then child, and the unsorted order.
    let p2 = spend(coinbase(&b3), vec![op_true_out(50 * 100_000_000 - 5_000)]);
    let c2 = spend(
        OutPoint {
            txid: p2.compute_txid(),
            vout: 0,
        },
        vec![op_true_out(50 * 100_000_000 - 10_000)],
    );
    let r = call(
        &node,
        "testmempoolaccept",
        json!([[to_hex(&serialize(&p2)), to_hex(&serialize(&c2))]]),
    )
    .await;
    assert_eq!(
        (r[0]["allowed"].clone(), r[1]["allowed"].clone()),
        (json!(true), json!(true)),
        "{r}"
    );
    let r = call(
        &node,
        "testmempoolaccept",
        json!([[to_hex(&serialize(&c2)), to_hex(&serialize(&p2))]]),
    )
    .await;
    assert_eq!(r[0]["package-error"], json!("package-not-sorted"));
    assert_eq!(
        call(&node, "getrawmempool", json!([])).await.as_array().unwrap().len(),
        2,
        "package test did not add"
    );

    // Mempool views.
    let verbose = call(&node, "getrawmempool", json!([true])).await;
    let pe = &verbose[parent_id.as_str().unwrap()];
    assert_eq!(sat(&pe["fees"]["base"]), 10_000);
    assert_eq!(sat(&pe["fees"]["descendant"]), 30_000);
    assert_eq!(pe["descendantcount"], json!(2));
    assert_eq!(pe["spentby"], json!([child_id]));
    assert_eq!(pe["height"], json!(102));
    assert_eq!(pe["bip125-replaceable"], json!(false));
    let seq = call(&node, "getrawmempool", json!([false, true])).await;
    assert_eq!(seq["txids"].as_array().unwrap().len(), 2);
    assert!(seq["mempool_sequence"].as_u64().unwrap() >= 2);
    assert_eq!(call_err(&node, "getrawmempool", json!([true, true])).await.0, -8);
    assert_eq!(call(&node, "getmempoolancestors", json!([child_id])).await, json!([parent_id]));
    let desc = call(&node, "getmempooldescendants", json!([parent_id, true])).await;
    assert_eq!(desc[child_id.as_str().unwrap()]["depends"], json!([parent_id]));
    let ce = call(&node, "getmempoolentry", json!([child_id])).await;
    assert_eq!((ce["ancestorcount"].clone(), ce["vsize"].clone()), (json!(2), json!(child.vsize())));
    assert_eq!(
        call_err(&node, "getmempoolentry", json!([Txid::from_byte_array([1; 32]).to_string()])).await,
        (-5, "Transaction not in mempool".into())
    );
    let info = call(&node, "getmempoolinfo", json!([])).await;
    assert_eq!(
        (info["loaded"].clone(), info["size"].clone(), info["fullrbf"].clone()),
        (json!(true), json!(2), json!(true))
    );
    assert_eq!(sat(&info["total_fee"]), 30_000);
    assert_eq!(sat(&info["minrelaytxfee"]), 100);

    // The template carries both, the child depending on the parent.
    let t = call(&node, "getblocktemplate", json!([{"rules": ["segwit"]}])).await;
    let txs = t["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 2);
    assert_eq!((txs[0]["txid"].clone(), txs[1]["depends"].clone()), (parent_id.clone(), json!([1])));
    assert_eq!(t["coinbasevalue"], json!(5_000_000_000u64 + 30_000));
    let mi = call(&node, "getmininginfo", json!([])).await;
    assert_eq!(
        (
            mi["blocks"].clone(),
            mi["pooledtx"].clone(),
            mi["currentblocktx"].clone(),
            mi["chain"].clone()
        ),
        (json!(102), json!(2), json!(2), json!("regtest"))
    );
    assert_eq!(mi["next"]["height"], json!(103));

    // generateblock with one mempool transaction: only it is mined, the child stays.
    let g = call(&node, "generateblock", json!([addr, [parent_id]])).await;
    let blk = call(&node, "getblock", json!([g["hash"], 1])).await;
    assert_eq!(blk["tx"].as_array().unwrap().len(), 2);
    assert_eq!(blk["tx"][1], parent_id);
    assert_eq!(call(&node, "getrawmempool", json!([])).await, json!([child_id]));
    assert_eq!(
        call_err(&node, "generateblock", json!([addr, [Txid::from_byte_array([2; 32]).to_string()]]))
            .await
            .0,
        -5
    );
    let dry = call(&node, "generateblock", json!([format!("raw({spk_hex})"), [], false])).await;
    assert!(dry["hex"].as_str().unwrap().len() > 160);
    assert_eq!(
        call(&node, "getbestblockhash", json!([])).await,
        g["hash"],
        "submit=false does not connect"
    );
    assert_eq!(
        call_err(&node, "sendrawtransaction", json!([parent_hex])).await,
        (-27, "Transaction outputs already in utxo set".into())
    );

    // Util and persistence.
    let v = call(&node, "validateaddress", json!([addr])).await;
    assert_eq!(
        (
            v["isvalid"].clone(),
            v["iswitness"].clone(),
            v["isscript"].clone(),
            v["witness_version"].clone()
        ),
        (json!(true), json!(true), json!(true), json!(0))
    );
    let bad = call(
        &node,
        "validateaddress",
        json!(["tb1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqs2g9am"]),
    )
    .await;
    assert_eq!(bad["isvalid"], json!(false));
    assert_eq!(bad["error"], json!("Invalid or unsupported Segwit (Bech32) or Base58 encoding."));
    assert_eq!(
        call(&node, "estimatesmartfee", json!([6])).await,
        json!({"errors": ["Insufficient data or no feerate found"], "blocks": 0})
    );
    assert_eq!(call_err(&node, "estimatesmartfee", json!([0])).await.0, -8);
    let saved = call(&node, "savemempool", json!([])).await;
    let path = std::path::PathBuf::from(saved["filename"].as_str().unwrap());
    assert!(path.ends_with("mempool.dat") && path.exists());
    let help = call(&node, "help", json!([])).await;
    for m in [
        "generateblock",
        "getblocktemplate",
        "testmempoolaccept",
        "getmempoolentry",
        "estimatesmartfee",
    ] {
        assert!(help.as_str().unwrap().contains(m), "help lists {m}");
    }
    // Mined blocks respect the median-time-past rule and the future limit.
    let tip = call(&node, "getblockheader", json!([g["hash"]])).await;
    assert!(
        tip["time"].as_i64().unwrap()
            > call(&node, "getblockheader", json!([tip["previousblockhash"]])).await["mediantime"]
                .as_i64()
                .unwrap()
    );
    node.shutdown(blvm_node::node::ShutdownReason::Graceful).await;
}

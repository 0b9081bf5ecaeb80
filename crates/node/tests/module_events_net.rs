//! Mempool and peer events reach a real module process: a transaction sent over RPC
//! (NewTransaction, MempoolTransactionAdded, then MempoolTransactionRemoved when mined) and a
//! second node connecting over P2P (PeerConnected, then PeerDisconnected when it stops).

mod support;

use support::p2p_peer::to_hex;
use support::{http, mining, node_proc};

use bitcoin::consensus::serialize;
use bitcoin::{Amount, OutPoint, TxOut, Txid};
use node_proc::ModuleSpec;
use serde_json::{json, Value};
use std::str::FromStr;
use std::time::Duration;

#[test]
fn mempool_and_peer_events_reach_a_module_process() {
    let rpc_port = http::free_port();
    let p2p_port = http::free_port();
    let mut a = node_proc::start_node(
        &[&format!("-rpcport={rpc_port}"), &format!("-port={p2p_port}"), "-listen=1"],
        &[ModuleSpec::recorder("rec", "")],
    );
    a.wait_started();
    let addr = format!("127.0.0.1:{rpc_port}");
    let cookie = std::fs::read_to_string(a.net_dir().join(".cookie")).unwrap();
    let rpc = |m: &str, p: Value| {
        let r = http::call(&addr, &cookie, m, p);
        assert!(r["error"].is_null(), "{m}: {r}");
        r["result"].clone()
    };
    let payout = mining::p2wsh_op_true();
    let address = bitcoin::Address::from_script(&payout, bitcoin::Network::Regtest)
        .unwrap()
        .to_string();
    let hashes = rpc("generatetoaddress", json!([101, address]));
    let first = rpc("getblock", json!([hashes[0], 1]));
    let cb = Txid::from_str(first["tx"][0].as_str().unwrap()).unwrap();
    let out = rpc("gettxout", json!([cb.to_string(), 0]));
    assert_eq!(out["scriptPubKey"]["hex"], json!(payout.to_hex_string()));
    let value = Amount::from_sat((out["value"].as_f64().unwrap() * 1e8).round() as u64);
    let tx = mining::spend(
        &[(OutPoint { txid: cb, vout: 0 }, payout.clone())],
        vec![TxOut {
            value: value - Amount::from_sat(100_000),
            script_pubkey: payout.clone(),
        }],
    );
    let txid = rpc("sendrawtransaction", json!([to_hex(&serialize(&tx))]));
    assert_eq!(txid, json!(tx.compute_txid().to_string()));
    rpc("generatetoaddress", json!([1, address]));

    // A second node connects to A over P2P, then stops.
    let mut b = node_proc::start_node(&[&format!("-connect=127.0.0.1:{p2p_port}"), "-listen=0"], &[]);
    b.wait_started();
    a.wait_until(Duration::from_secs(20), "PeerConnected", |n| {
        n.recorded_events("rec").iter().any(|(t, _)| t == "PeerConnected")
    });
    b.stop(Duration::from_secs(20));
    a.wait_until(Duration::from_secs(20), "PeerDisconnected", |n| {
        n.recorded_events("rec").iter().any(|(t, _)| t == "PeerDisconnected")
    });

    let ev = a.recorded_events("rec");
    let find = |ty: &str| ev.iter().find(|(t, _)| t == ty).unwrap_or_else(|| panic!("no {ty}")).1["payload"].clone();
    let txid = tx.compute_txid().to_string();
    assert_eq!(
        find("NewTransaction"),
        json!({"txid": txid, "wtxid": tx.compute_wtxid().to_string()})
    );
    let added = find("MempoolTransactionAdded");
    assert_eq!(added["txid"], json!(txid));
    assert_eq!(added["fee_sat"], 100_000);
    assert_eq!(added["vsize"], tx.vsize() as u64);
    assert_eq!(find("MempoolTransactionRemoved"), json!({"txid": txid, "reason": "block"}));
    let connected = find("PeerConnected");
    assert_eq!(connected["inbound"], true);
    assert!(connected["addr"].as_str().unwrap().starts_with("127.0.0.1:"));
    let gone = find("PeerDisconnected");
    assert_eq!(gone["peer_id"], connected["peer_id"]);
    // Order: the tx is added before it is mined out, and the peer connects before it leaves.
    let pos = |ty: &str| ev.iter().position(|(t, _)| t == ty).unwrap();
    assert!(pos("MempoolTransactionAdded") < pos("MempoolTransactionRemoved"));
    assert!(pos("PeerConnected") < pos("PeerDisconnected"));
    a.stop(Duration::from_secs(20));
}

//! A real `blvm-node` over RPC (TCP) names a failing script's error as Core does, with the text
//! of Core's own interpreter: a P2SH output whose redeem script is a bare
//! `OP_CHECKLOCKTIMEVERIFY` spent with no locktime operand is refused by testmempoolaccept and
//! sendrawtransaction with "mempool-script-verify-flag-failed (Operation not valid with the
//! current stack size)" and Core's detail naming the input.

mod support;

use support::{http, node_proc, p2p_peer};

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hashes::hex::FromHex;
use bitcoin::script::PushBytesBuf;
use bitcoin::{absolute::LockTime, transaction::Version, Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use p2p_peer::{rpc, rpc_raw};
use serde_json::json;
use std::str::FromStr;

const EXPECTED: &str = "mempool-script-verify-flag-failed (Operation not valid with the current stack size)";

#[test]
fn mempool_rejection_names_cores_script_error() {
    let port = http::free_port();
    let n = node_proc::start_node(&[&format!("-rpcport={port}"), "-listen=0"], &[]);
    n.wait_started();
    // Coinbases paying P2SH(OP_CHECKLOCKTIMEVERIFY); the first matures after 100 more blocks.
    let redeem = ScriptBuf::from_bytes(vec![0xb1]);
    let spk = ScriptBuf::new_p2sh(&redeem.script_hash());
    let desc = format!("raw({})", spk.to_hex_string());
    let hashes = rpc(&n, port, "generatetodescriptor", json!([101, desc]));
    let first = rpc(&n, port, "getblock", json!([hashes[0], 2]));
    let cb = &first["tx"][0];
    let txid = Txid::from_str(cb["txid"].as_str().unwrap()).unwrap();
    let value = Amount::from_btc(cb["vout"][0]["value"].as_f64().unwrap()).unwrap();
    assert_eq!(cb["vout"][0]["scriptPubKey"]["hex"], json!(spk.to_hex_string()));
    // The scriptSig pushes only the redeem script: CLTV then runs on an empty stack.
    let mut sig = ScriptBuf::new();
    sig.push_slice(PushBytesBuf::try_from(redeem.to_bytes()).unwrap());
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(txid, 0),
            script_sig: sig,
            sequence: Sequence::ENABLE_LOCKTIME_NO_RBF,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: value - Amount::from_sat(10_000),
            script_pubkey: ScriptBuf::new_p2wsh(&ScriptBuf::from(Vec::from_hex("51").unwrap()).wscript_hash()),
        }],
    };
    let detail = format!("input 0 of {} (wtxid {}), spending {txid}:0", tx.compute_txid(), tx.compute_wtxid());
    let r = rpc(&n, port, "testmempoolaccept", json!([[serialize_hex(&tx)]]));
    assert_eq!(r[0]["allowed"], json!(false), "{r}");
    assert_eq!(r[0]["reject-reason"], json!(EXPECTED), "{r}");
    assert_eq!(r[0]["reject-details"], json!(format!("{EXPECTED}, {detail}")), "{r}");
    let e = rpc_raw(&n, port, "sendrawtransaction", json!([serialize_hex(&tx)]));
    assert_eq!(e["error"]["code"], json!(-26), "{e}");
    assert_eq!(e["error"]["message"], json!(format!("{EXPECTED}, {detail}")), "{e}");
    assert_eq!(rpc(&n, port, "getrawmempool", json!([])), json!([]));
}

//! Test support for real-node mempool tests: confirmed P2WSH(OP_TRUE) coins fanned out from a
//! matured coinbase, and one-output spends of them.

use super::{mining, node_proc, p2p_peer::rpc};
use bitcoin::consensus::encode::serialize_hex;
use bitcoin::{Address, Amount, Network, OutPoint, Transaction, TxOut, Txid};
use serde_json::json;
use std::str::FromStr;

/// Coins from [`fund`]: outputs `0..n` of `fan`, each worth `per_output`.
pub struct Funded {
    /// The confirmed fan-out transaction.
    pub fan: Txid,
    /// Value of each of its outputs.
    pub per_output: u64,
}

/// A one-output transaction spending `prevs` (P2WSH(OP_TRUE) outputs worth `value` in total),
/// paying `fee`.
pub fn pay(prevs: &[OutPoint], value: u64, fee: u64) -> Transaction {
    let payout = mining::p2wsh_op_true();
    let ins: Vec<(OutPoint, bitcoin::ScriptBuf)> = prevs.iter().map(|p| (*p, payout.clone())).collect();
    mining::spend(
        &ins,
        vec![TxOut {
            value: Amount::from_sat(value - fee),
            script_pubkey: payout,
        }],
    )
}

/// The regtest address of the P2WSH(OP_TRUE) output the helpers pay to.
pub fn op_true_address() -> String {
    Address::from_script(&mining::p2wsh_op_true(), Network::Regtest)
        .unwrap()
        .to_string()
}

/// Matures a coinbase and fans it out to `outputs` confirmed coins.
pub fn fund(n: &node_proc::NodeProc, port: u16, outputs: usize) -> Funded {
    let payout = mining::p2wsh_op_true();
    let addr = op_true_address();
    let mined = rpc(n, port, "generatetoaddress", json!([101, addr]));
    let cb = rpc(n, port, "getblock", json!([mined[0], 1]))["tx"][0]
        .as_str()
        .unwrap()
        .to_string();
    let per_output = (50_0000_0000 - 100_000) / outputs as u64;
    let fan = mining::spend(
        &[(OutPoint::new(Txid::from_str(&cb).unwrap(), 0), payout.clone())],
        (0..outputs)
            .map(|_| TxOut {
                value: Amount::from_sat(per_output),
                script_pubkey: payout.clone(),
            })
            .collect(),
    );
    rpc(n, port, "sendrawtransaction", json!([serialize_hex(&fan)]));
    rpc(n, port, "generatetoaddress", json!([1, addr]));
    assert_eq!(rpc(n, port, "getrawmempool", json!([])), json!([]));
    Funded {
        fan: fan.compute_txid(),
        per_output,
    }
}

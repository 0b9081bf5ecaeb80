//! Spendable coins for tests driving a node process over RPC: coinbases paying
//! P2WSH(OP_TRUE), mined and matured.

use bitcoin::{Amount, OutPoint, Transaction, TxOut};
use blvm_testkit::mining;
use serde_json::{json, Value};

/// Mines `n + 100` blocks paying P2WSH(OP_TRUE) through `rpc` and returns the first `n`
/// coinbase outputs (mature once the call returns).
pub fn fund(rpc: impl Fn(&str, Value) -> Value, n: usize) -> Vec<(OutPoint, Amount)> {
    let spk = mining::p2wsh_op_true();
    let address = bitcoin::Address::from_script(&spk, bitcoin::Network::Regtest).unwrap();
    let hashes = rpc("generatetoaddress", json!([n + 100, address.to_string()]));
    hashes.as_array().unwrap()[..n]
        .iter()
        .map(|h| {
            let hex = rpc("getblock", json!([h, 0]));
            let block: bitcoin::Block = bitcoin::consensus::deserialize(&hex_bytes(hex.as_str().unwrap())).unwrap();
            let cb = &block.txdata[0];
            (
                OutPoint {
                    txid: cb.compute_txid(),
                    vout: 0,
                },
                cb.output[0].value,
            )
        })
        .collect()
}

/// A transaction spending `coin` back to P2WSH(OP_TRUE), paying a 10,000 sat fee.
pub fn spend_coin(coin: (OutPoint, Amount)) -> Transaction {
    spend_coins(&[coin], 10_000)
}

/// A one-output transaction spending all of `coins` (P2WSH(OP_TRUE) outputs) back to
/// P2WSH(OP_TRUE), paying `fee` sats.
pub fn spend_coins(coins: &[(OutPoint, Amount)], fee: u64) -> Transaction {
    let total: Amount = coins.iter().map(|c| c.1).sum();
    let out = TxOut {
        value: total - Amount::from_sat(fee),
        script_pubkey: mining::p2wsh_op_true(),
    };
    let ins: Vec<(OutPoint, bitcoin::ScriptBuf)> = coins.iter().map(|c| (c.0, mining::p2wsh_op_true())).collect();
    mining::spend(&ins, vec![out])
}

/// Bytes from lowercase hex.
pub fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

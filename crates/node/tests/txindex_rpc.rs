//! `-txindex` seen by an RPC client of the real `blvm-node` binary: `getrawtransaction` by txid
//! alone for every transaction of Core's chain (indexed when the node starts on a datadir that
//! was imported without the index), a transaction's way from the mempool into a block and across
//! a restart, `gettxoutproof` of a transaction whose outputs are all spent, `getindexinfo`, and
//! Core's error messages with and without the index.

mod support;

use support::p2p_peer::to_hex;
use support::{http, mining, node_proc, p2p_peer};

use bitcoin::consensus::serialize;
use bitcoin::{Address, Network, Txid};
use p2p_peer::{rpc, rpc_raw};
use serde_json::json;
use std::str::FromStr;
use std::time::Duration;

#[test]
fn getrawtransaction_finds_every_confirmed_transaction_with_txindex() {
    let blocks = support::chain_blocks();
    let dir = tempfile::tempdir().unwrap();
    node_proc::import_offline(dir.path(), &support::chain_hex_path());
    let port = http::free_port();
    let rpcport = format!("-rpcport={port}");
    let mut n = node_proc::start_node_in(dir.path(), &[&rpcport, "-txindex", "-listen=0"], &[]);
    n.wait_started();
    assert!(n.log().contains("building the transaction index"), "{}", n.log());
    assert_eq!(
        rpc(&n, port, "getindexinfo", json!([])),
        json!({"txindex": {"synced": true, "best_block_height": 300}})
    );
    assert_eq!(
        rpc(&n, port, "getindexinfo", json!(["txindex"]))["txindex"]["best_block_height"],
        300
    );
    assert_eq!(rpc(&n, port, "getindexinfo", json!(["coinstatsindex"])), json!({}));

    // Every transaction after genesis, by txid alone: raw hex, and verbose with its block.
    let mut checked = 0;
    for (height, block) in blocks.iter().enumerate().skip(1) {
        let hash = block.block_hash().to_string();
        for tx in &block.txdata {
            let txid = tx.compute_txid().to_string();
            assert_eq!(rpc(&n, port, "getrawtransaction", json!([txid])), json!(to_hex(&serialize(tx))));
            let v = rpc(&n, port, "getrawtransaction", json!([txid, 1]));
            assert_eq!(v["txid"], txid);
            assert_eq!(v["blockhash"], hash, "{txid}");
            assert_eq!(v["confirmations"], 300 - height as u64 + 1);
            assert_eq!(v["blocktime"], block.header.time);
            assert!(v.get("in_active_chain").is_none(), "only when the block hash is given, as in Core");
            checked += 1;
        }
    }
    assert_eq!(checked, blocks.iter().skip(1).map(|b| b.txdata.len()).sum::<usize>());

    // Core's errors: unknown transaction with the index on; genesis coinbase.
    let unknown = rpc_raw(&n, port, "getrawtransaction", json!(["11".repeat(32)]));
    assert_eq!(
        unknown["error"],
        json!({"code": -5, "message": "No such mempool or blockchain transaction. Use gettransaction for wallet transactions."})
    );
    let genesis = rpc_raw(
        &n,
        port,
        "getrawtransaction",
        json!([blocks[0].txdata[0].compute_txid().to_string()]),
    );
    assert_eq!(genesis["error"]["code"], -5);

    // A transaction of ours: in the mempool (no block fields), then mined, then after a restart.
    let payout = mining::p2wsh_op_true();
    let addr = Address::from_script(&payout, Network::Regtest).unwrap().to_string();
    let mined = rpc(&n, port, "generatetoaddress", json!([101, addr]));
    let first = mined[0].as_str().unwrap();
    let cb = rpc(&n, port, "getblock", json!([first, 2]))["tx"][0]["txid"]
        .as_str()
        .unwrap()
        .to_string();
    let value = rpc(&n, port, "gettxout", json!([cb, 0]))["value"].as_f64().unwrap();
    let tx = mining::spend_coinbase_to(Txid::from_str(&cb).unwrap(), value, &payout);
    let txid = rpc(&n, port, "sendrawtransaction", json!([to_hex(&serialize(&tx))]))
        .as_str()
        .unwrap()
        .to_string();
    let in_pool = rpc(&n, port, "getrawtransaction", json!([txid, true]));
    assert_eq!(in_pool["txid"], txid);
    assert!(in_pool.get("blockhash").is_none(), "{in_pool}");
    let tip = rpc(&n, port, "generatetoaddress", json!([1, addr]))[0]
        .as_str()
        .unwrap()
        .to_string();
    let confirmed = rpc(&n, port, "getrawtransaction", json!([txid, true]));
    assert_eq!(confirmed["blockhash"], tip);
    assert_eq!(confirmed["confirmations"], 1);
    assert_eq!(rpc(&n, port, "getindexinfo", json!([]))["txindex"]["best_block_height"], 402);
    // The coinbase we spent has no unspent output left: only the index finds its block.
    let proof = rpc(&n, port, "gettxoutproof", json!([[cb]]));
    assert_eq!(rpc(&n, port, "verifytxoutproof", json!([proof])), json!([cb]));
    n.stop(Duration::from_secs(30));

    let n = node_proc::start_node_in(dir.path(), &[&rpcport, "-txindex", "-listen=0"], &[]);
    n.wait_started();
    let after = rpc(&n, port, "getrawtransaction", json!([txid, true]));
    assert_eq!(after["blockhash"], tip);
    assert_eq!(after["hex"], confirmed["hex"]);
    drop(n);

    // Without the index, the same query gets Core's hint to use -txindex.
    let n = node_proc::start_node_in(dir.path(), &[&rpcport, "-listen=0"], &[]);
    n.wait_started();
    let err = rpc_raw(&n, port, "getrawtransaction", json!([txid]));
    assert_eq!(err["error"]["code"], -5);
    assert!(err["error"]["message"].as_str().unwrap().contains("Use -txindex"), "{err}");
    assert_eq!(rpc(&n, port, "getindexinfo", json!([])), json!({}));
    assert_eq!(
        rpc_raw(&n, port, "gettxoutproof", json!([[cb]]))["error"],
        json!({"code": -5, "message": "Transaction not yet in block"})
    );
}

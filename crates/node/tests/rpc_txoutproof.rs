//! gettxoutproof / verifytxoutproof / gettxspendingprevout against the real binary: proofs of
//! mined transactions (block found through an unspent output, or given) decode as BIP37
//! merkleblocks whose header is the block's and whose matches are the requested txids;
//! tampered proofs are refused; mempool spenders of outputs are reported. On Bitcoin Core's
//! 300-block chain, proofs carry Core's block hash, merkle root and transaction count.

mod common;
#[path = "support/http.rs"]
mod http;
#[path = "support/node_proc.rs"]
mod node_proc;
#[path = "support/p2p_peer.rs"]
mod p2p_peer;

use bitcoin::key::{CompressedPublicKey, PrivateKey};
use bitcoin::merkle_tree::MerkleBlock;
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::{Address, Network, Txid};
use p2p_peer::{rpc, rpc_error};
use serde_json::{json, Value};
use std::str::FromStr;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn btc(sat: u64) -> String {
    format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000)
}

#[test]
fn txout_proofs_and_mempool_spenders() {
    let port = http::free_port();
    let n = node_proc::start_node(&[&format!("-rpcport={port}"), "-listen=0"], &[]);
    n.wait_started();
    n.wait_until(std::time::Duration::from_secs(10), "cookie file", |n| {
        n.net_dir().join(".cookie").exists()
    });
    let call = |m: &str, p: Value| rpc(&n, port, m, p);
    let err = |m: &str, p: Value| rpc_error(&n, port, m, p);
    let sk = SecretKey::from_slice(&[7; 32]).unwrap();
    let wif = PrivateKey::new(sk, Network::Regtest).to_wif();
    let pk = CompressedPublicKey::from_private_key(&Secp256k1::new(), &PrivateKey::new(sk, Network::Regtest)).unwrap();
    let addr = Address::p2wpkh(&pk, Network::Regtest).to_string();
    call("generatetoaddress", json!([101, addr]));
    let block_at = |h: u32| call("getblock", json!([call("getblockhash", json!([h])), 2]));
    let cb1 = block_at(1)["tx"][0]["txid"].as_str().unwrap().to_string();
    let cb2 = block_at(2)["tx"][0]["txid"].as_str().unwrap().to_string();

    // A parent with two outputs and a child, both in the mempool.
    let raw = call(
        "createrawtransaction",
        json!([[{"txid": cb1, "vout": 0}], [{addr.clone(): btc(20 * 100_000_000)}, {"data": "00"}]]),
    );
    let s = call("signrawtransactionwithkey", json!([raw, [wif]]));
    let parent = call("sendrawtransaction", json!([s["hex"], 0])).as_str().unwrap().to_string();
    let raw = call(
        "createrawtransaction",
        json!([[{"txid": parent, "vout": 0}], [{addr.clone(): btc(20 * 100_000_000 - 10_000)}]]),
    );
    let s = call("signrawtransactionwithkey", json!([raw, [wif]]));
    let child = call("sendrawtransaction", json!([s["hex"]])).as_str().unwrap().to_string();
    let spenders = call(
        "gettxspendingprevout",
        json!([[{"txid": cb1, "vout": 0}, {"txid": cb2, "vout": 0}, {"txid": parent, "vout": 0}, {"txid": parent, "vout": 1}]]),
    );
    assert_eq!(
        spenders,
        json!([
            {"txid": cb1, "vout": 0, "spendingtxid": parent},
            {"txid": cb2, "vout": 0},
            {"txid": parent, "vout": 0, "spendingtxid": child},
            {"txid": parent, "vout": 1},
        ])
    );
    assert_eq!(
        err("gettxspendingprevout", json!([[]])),
        (-8, "Invalid parameter, outputs are missing".into())
    );
    assert_eq!(err("gettxspendingprevout", json!([[{"txid": cb1}]])), (-3, "Missing vout".into()));
    assert_eq!(
        err("gettxspendingprevout", json!([[{"txid": cb1, "vout": -1}]])),
        (-8, "Invalid parameter, vout cannot be negative".into())
    );
    assert_eq!(
        err("gettxspendingprevout", json!([[{"txid": cb1, "vout": 0, "x": 1}]])),
        (-3, "Unexpected key x".into())
    );
    assert_eq!(err("gettxoutproof", json!([[parent]])), (-5, "Transaction not yet in block".into()));

    call("generatetoaddress", json!([1, addr]));
    let tip = call("getbestblockhash", json!([]));
    let tip_block = call("getblock", json!([tip, 1]));
    let tip_txids: Vec<String> = tip_block["tx"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    assert_eq!(tip_txids.len(), 3, "coinbase, parent, child: {tip_block}");
    assert_eq!(
        call("gettxspendingprevout", json!([[{"txid": parent, "vout": 0}]])),
        json!([{"txid": parent, "vout": 0}])
    );

    // The parent's outputs are spent or unspendable, so the block is found through the child's
    // unspent output.
    let proof = call("gettxoutproof", json!([[parent, child]])).as_str().unwrap().to_string();
    let mb: MerkleBlock = bitcoin::consensus::deserialize(&unhex(&proof)).expect("BIP37 merkleblock");
    assert_eq!(mb.header.block_hash().to_string(), tip.as_str().unwrap());
    assert_eq!(
        hex(&bitcoin::consensus::serialize(&mb.header)),
        call("getblockheader", json!([tip, false])).as_str().unwrap()
    );
    let (mut matches, mut idx) = (vec![], vec![]);
    assert_eq!(mb.txn.extract_matches(&mut matches, &mut idx).unwrap(), mb.header.merkle_root);
    assert_eq!(matches, vec![Txid::from_str(&parent).unwrap(), Txid::from_str(&child).unwrap()]);
    assert_eq!(idx, vec![1, 2]);
    assert_eq!(call("verifytxoutproof", json!([proof])), json!([parent, child]));

    // Only the parent: not findable without the block (no unspent output); with it, it is.
    assert_eq!(err("gettxoutproof", json!([[parent]])), (-5, "Transaction not yet in block".into()));
    let p1 = call("gettxoutproof", json!([[parent], tip])).as_str().unwrap().to_string();
    assert_eq!(call("verifytxoutproof", json!([p1])), json!([parent]));
    assert_ne!(p1, proof);
    // Coinbase of block 2 (unspent) is found through the UTXO set.
    let p2 = call("gettxoutproof", json!([[cb2]])).as_str().unwrap().to_string();
    let mb2: MerkleBlock = bitcoin::consensus::deserialize(&unhex(&p2)).unwrap();
    assert_eq!(
        mb2.header.block_hash().to_string(),
        call("getblockhash", json!([2])).as_str().unwrap()
    );
    assert_eq!(call("verifytxoutproof", json!([p2])), json!([cb2]));

    // Core's errors.
    assert_eq!(err("gettxoutproof", json!([[]])), (-8, "Parameter 'txids' cannot be empty".into()));
    assert_eq!(
        err("gettxoutproof", json!([[cb2, cb2]])),
        (-8, format!("Invalid parameter, duplicated txid: {cb2}"))
    );
    assert_eq!(
        err("gettxoutproof", json!([[cb2], "00".repeat(32)])),
        (-5, "Block not found".into())
    );
    assert_eq!(
        err("gettxoutproof", json!([[cb2], tip])),
        (-5, "Not all transactions found in specified or retrieved block".into())
    );
    assert_eq!(err("verifytxoutproof", json!(["zz"])).0, -8);
    // A header not in the chain (nonce changed): the merkle proof holds but the block is unknown.
    let mut bad = mb.clone();
    bad.header.nonce ^= 1;
    assert_eq!(
        err("verifytxoutproof", json!([hex(&bitcoin::consensus::serialize(&bad))])),
        (-5, "Block not found in chain".into())
    );
    // A hash in the partial tree altered: the root no longer matches, nothing is proven.
    let mut raw = unhex(&proof);
    let len = raw.len();
    raw[len - 10] ^= 0xff;
    assert_eq!(call("verifytxoutproof", json!([hex(&raw)])), json!([]));
}

/// Proofs for transactions of Core's chain: the header is Core's block (hash, merkle root) and the
/// partial tree covers Core's transaction count; verifytxoutproof returns the chosen txids.
#[test]
fn proofs_on_cores_chain_carry_cores_block_data() {
    let core = common::core_json();
    let port = http::free_port();
    let n = node_proc::start_node_with_chain(&common::chain_hex_path(), &[&format!("-rpcport={port}"), "-listen=0"], &[]);
    n.wait_started();
    n.wait_until(std::time::Duration::from_secs(10), "cookie file", |n| {
        n.net_dir().join(".cookie").exists()
    });
    let call = |m: &str, p: Value| rpc(&n, port, m, p);
    let mut checked = 0;
    for b in core["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["ntx"].as_u64().unwrap() >= 3)
        .step_by(7)
    {
        let hash = b["hash"].as_str().unwrap();
        let txids: Vec<String> = call("getblock", json!([hash, 1]))["tx"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        assert_eq!(txids.len() as u64, b["ntx"].as_u64().unwrap());
        // First, last and one in the middle, requested out of order.
        let chosen = vec![txids[txids.len() - 1].clone(), txids[0].clone(), txids[txids.len() / 2].clone()];
        let proof = call("gettxoutproof", json!([chosen, hash])).as_str().unwrap().to_string();
        let mb: MerkleBlock = bitcoin::consensus::deserialize(&unhex(&proof)).expect("merkleblock");
        assert_eq!(mb.header.block_hash().to_string(), hash);
        assert_eq!(mb.header.merkle_root.to_string(), b["merkleroot"].as_str().unwrap());
        assert_eq!(u64::from(mb.txn.num_transactions()), b["ntx"].as_u64().unwrap());
        let mut in_order: Vec<&String> = txids.iter().filter(|t| chosen.contains(t)).collect();
        in_order.dedup();
        assert_eq!(call("verifytxoutproof", json!([proof])), json!(in_order));
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} blocks checked");
}

//! `scantxoutset` against the real `blvm-node` binary: coins mined to an address, to a ranged
//! BIP32 descriptor at a derived index, and a spent coin that must no longer be found; every
//! field checked against what the node says elsewhere (getblockhash, gettxout, gettxoutsetinfo).

mod support;

use support::p2p_peer::to_hex;
use support::{http, mining, node_proc, p2p_peer};

use bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use bitcoin::consensus::serialize;
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{Address, Amount, CompressedPublicKey, Network, NetworkKind, OutPoint, TxOut, Txid};
use p2p_peer::{rpc, rpc_raw};
use serde_json::{json, Value};
use std::str::FromStr;

#[test]
fn scantxoutset_finds_coins_by_address_and_ranged_descriptor() {
    let port = http::free_port();
    let n = node_proc::start_node(&[&format!("-rpcport={port}"), "-listen=0"], &[]);
    n.wait_started();
    let secp = Secp256k1::new();
    let tpub = Xpub::from_priv(&secp, &Xpriv::new_master(NetworkKind::Test, &[7u8; 32]).unwrap());
    let derived = tpub.derive_pub(&secp, &DerivationPath::from_str("m/0/17").unwrap()).unwrap();
    let at_17 = Address::p2wpkh(&CompressedPublicKey(derived.public_key), Network::Regtest).to_string();
    let anyone = mining::p2wsh_op_true();
    let anyone_addr = Address::from_script(&anyone, Network::Regtest).unwrap().to_string();

    // 3 coinbases to the anyone-can-spend address, 2 to index 17 of the descriptor, then 100
    // more to the address so the first coinbase matures and can be spent.
    let first = rpc(&n, port, "generatetoaddress", json!([3, anyone_addr]));
    rpc(&n, port, "generatetoaddress", json!([2, at_17]));
    rpc(&n, port, "generatetoaddress", json!([100, anyone_addr]));
    let cb = rpc(&n, port, "getblock", json!([first[0], 1]))["tx"][0]
        .as_str()
        .unwrap()
        .to_string();
    let value = rpc(&n, port, "gettxout", json!([cb, 0]))["value"].as_f64().unwrap();
    let spend = mining::spend(
        &[(OutPoint::new(Txid::from_str(&cb).unwrap(), 0), anyone.clone())],
        vec![TxOut {
            value: Amount::from_sat((value * 1e8).round() as u64 - 1_000),
            script_pubkey: Address::from_str(&at_17).unwrap().assume_checked().script_pubkey(),
        }],
    );
    let spend_txid = rpc(&n, port, "sendrawtransaction", json!([to_hex(&serialize(&spend))]))
        .as_str()
        .unwrap()
        .to_string();
    rpc(&n, port, "generatetoaddress", json!([1, anyone_addr]));
    let tip_height = 106u64;

    // The descriptor, ranged, default range (0..=1000) and an explicit one.
    let desc = format!("wpkh({tpub}/0/*)");
    let by_desc = rpc(&n, port, "scantxoutset", json!(["start", [desc]]));
    assert_eq!(by_desc["success"], true);
    assert_eq!(by_desc["height"], tip_height);
    assert_eq!(by_desc["bestblock"], rpc(&n, port, "getbestblockhash", json!([])));
    assert_eq!(by_desc["txouts"], rpc(&n, port, "gettxoutsetinfo", json!(["none"]))["txouts"]);
    let keys: Vec<&str> = by_desc.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["success", "txouts", "height", "bestblock", "unspents", "total_amount"]);
    let unspents = by_desc["unspents"].as_array().unwrap();
    assert_eq!(unspents.len(), 3, "two coinbases and the spend's output: {by_desc}");
    let mut total = 0u64;
    for u in unspents {
        let h = u["height"].as_u64().unwrap();
        assert_eq!(u["blockhash"], rpc(&n, port, "getblockhash", json!([h])));
        assert_eq!(u["confirmations"], tip_height - h + 1);
        let out = rpc(&n, port, "gettxout", json!([u["txid"], u["vout"]]));
        assert_eq!(u["amount"], out["value"]);
        assert_eq!(u["scriptPubKey"], out["scriptPubKey"]["hex"]);
        assert_eq!(u["coinbase"], out["coinbase"]);
        assert!(u["desc"].as_str().unwrap().starts_with(&format!("addr({at_17})#")), "{u}");
        total += (u["amount"].as_f64().unwrap() * 1e8).round() as u64;
    }
    assert_eq!((by_desc["total_amount"].as_f64().unwrap() * 1e8).round() as u64, total);
    let spent_to = unspents.iter().find(|u| u["txid"] == spend_txid).expect("the spend's output");
    assert_eq!(spent_to["coinbase"], false);
    assert_eq!(spent_to["height"], tip_height);
    // A range that stops before 17 finds nothing; [17, 17] finds the same three.
    let short = rpc(&n, port, "scantxoutset", json!(["start", [{"desc": desc, "range": 16}]]));
    assert_eq!(short["unspents"], json!([]));
    let exact = rpc(&n, port, "scantxoutset", json!(["start", [{"desc": desc, "range": [17, 17]}]]));
    assert_eq!(exact["unspents"], by_desc["unspents"]);

    // By address: 104 coinbases paid it, the first one was spent.
    let by_addr = rpc(&n, port, "scantxoutset", json!(["start", [format!("addr({anyone_addr})")]]));
    let found: Vec<&Value> = by_addr["unspents"].as_array().unwrap().iter().collect();
    assert_eq!(found.len(), 103);
    assert!(found.iter().all(|u| u["coinbase"] == true));
    assert!(!found.iter().any(|u| u["txid"] == cb), "a spent coin is not unspent");

    // The other actions and Core's errors.
    assert_eq!(rpc(&n, port, "scantxoutset", json!(["abort"])), json!(false));
    assert_eq!(rpc(&n, port, "scantxoutset", json!(["status"])), Value::Null);
    let err = |params: Value| rpc_raw(&n, port, "scantxoutset", params)["error"].clone();
    assert_eq!(err(json!(["bogus"]))["code"], -8);
    assert_eq!(
        err(json!(["start"])),
        json!({"code": -1, "message": "scanobjects argument is required for the start action"})
    );
    assert_eq!(
        err(json!(["start", [{"range": 3}]]))["message"],
        "Descriptor needs to be provided in scan object"
    );
    assert_eq!(err(json!(["start", ["wpkh(nonsense)"]]))["code"], -5);
    assert_eq!(err(json!(["start", [{"desc": desc, "range": [5, 1]}]]))["code"], -8);
}

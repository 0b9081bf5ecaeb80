//! The PSBT RPCs against the real binary: Core's own PSBT test vectors (rpc_psbt.json, read in
//! place from the shared directory) through decodepsbt, createpsbt, combinepsbt, finalizepsbt
//! and descriptorprocesspsbt; then a live flow where a mined coin is spent through createpsbt,
//! utxoupdatepsbt, analyzepsbt, descriptorprocesspsbt and sendrawtransaction; and Core's errors.

mod support;

use support::rpc_node::RpcNode;

use bitcoin::key::{CompressedPublicKey, PrivateKey};
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::{Address, Network};
use serde_json::{json, Value};

fn start() -> RpcNode {
    RpcNode::start(&[])
}

fn vectors() -> Value {
    let path = support::shared_dir().join("core-functional/data/rpc_psbt.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("rpc_psbt.json")).expect("json")
}

/// Whether a base64 PSBT declares version 2 (PSBT_GLOBAL_VERSION = 2), which rust-bitcoin's
/// BIP174 implementation does not read.
fn is_v2(b64: &str) -> bool {
    use base64::Engine;
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64) else {
        return false;
    };
    raw.windows(6).any(|w| w == [0x01, 0xfb, 0x04, 0x02, 0x00, 0x00])
}

#[test]
fn core_psbt_vectors() {
    let r = start();
    let v = vectors();
    // Every invalid PSBT is refused with Core's code and prefix.
    let invalid = v["invalid"].as_array().unwrap().iter();
    let with_msg = v["invalid_with_msg"].as_array().unwrap().iter().map(|p| &p[0]);
    let mut accepted = Vec::new();
    for b64 in invalid.chain(with_msg) {
        let reply = r.raw("decodepsbt", json!([b64]));
        let err = &reply["error"];
        let refused = err["code"] == json!(-22) && err["message"].as_str().is_some_and(|m| m.starts_with("TX decode failed"));
        if !refused {
            accepted.push(b64.clone());
        }
    }
    assert!(accepted.is_empty(), "accepted {} invalid PSBTs: {accepted:?}", accepted.len());
    // Every valid version-0 PSBT decodes, with Core's top-level shape.
    let mut decoded = 0;
    for b64 in v["valid"].as_array().unwrap() {
        if is_v2(b64.as_str().unwrap()) {
            continue;
        }
        let d = r.call("decodepsbt", json!([b64]));
        for k in ["tx", "global_xpubs", "psbt_version", "proprietary", "unknown", "inputs", "outputs"] {
            assert!(d.get(k).is_some(), "{k} missing in {d}");
        }
        assert_eq!(d["inputs"].as_array().unwrap().len(), d["tx"]["vin"].as_array().unwrap().len());
        assert_eq!(d["outputs"].as_array().unwrap().len(), d["tx"]["vout"].as_array().unwrap().len());
        decoded += 1;
    }
    assert!(decoded >= 20, "only {decoded} valid vectors decoded");

    // Creator.
    for c in v["creator"].as_array().unwrap() {
        let got = r.call(
            "createpsbt",
            json!({"inputs": c["inputs"], "outputs": c["outputs"], "replaceable": false, "psbt_version": c["version"]}),
        );
        assert_eq!(got, c["result"]);
    }
    // Combiner. rust-bitcoin writes partial signatures in public key order where Core writes
    // them in key-id order, so the PSBTs are compared decoded.
    let same = |a: &Value, b: &Value| {
        assert_eq!(r.call("decodepsbt", json!([a])), r.call("decodepsbt", json!([b])));
    };
    for c in v["combiner"].as_array().unwrap() {
        same(&r.call("combinepsbt", json!([c["combine"]])), &c["result"]);
    }
    // Finalizer and extractor.
    for c in v["finalizer"].as_array().unwrap() {
        let got = r.call("finalizepsbt", json!([c["finalize"], false]));
        same(&got["psbt"], &c["result"]);
        assert_eq!(got["complete"], json!(true));
    }
    for c in v["extractor"].as_array().unwrap() {
        let got = r.call("finalizepsbt", json!([c["extract"]]));
        assert_eq!(got["hex"], c["result"], "{got}");
    }
    // Signer: the keys given as descriptors add the same partial signatures Core's wallet adds.
    for c in v["signer"].as_array().unwrap() {
        let descs: Vec<Value> = c["privkeys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| json!(format!("pkh({})", k.as_str().unwrap())))
            .collect();
        let got = r.call("descriptorprocesspsbt", json!([c["psbt"], descs, "ALL", true, false]));
        let want = r.call("decodepsbt", json!([c["result"]]));
        let have = r.call("decodepsbt", json!([got["psbt"]]));
        for (a, b) in have["inputs"].as_array().unwrap().iter().zip(want["inputs"].as_array().unwrap()) {
            assert_eq!(a["partial_signatures"], b["partial_signatures"], "{}", c["psbt"]);
        }
    }
}

fn key(n: u8) -> (String, CompressedPublicKey) {
    let sk = SecretKey::from_slice(&[n; 32]).expect("valid secret");
    let pk = PrivateKey::new(sk, Network::Regtest);
    (
        pk.to_wif(),
        CompressedPublicKey::from_private_key(&Secp256k1::new(), &pk).expect("compressed"),
    )
}

#[test]
fn psbt_flow_spends_a_mined_coin() {
    let r = start();
    let (wif, pk) = key(7);
    let addr = Address::p2wpkh(&pk, Network::Regtest).to_string();
    let sink = Address::p2wpkh(&key(8).1, Network::Regtest).to_string();
    r.call("generatetoaddress", json!([101, addr]));
    let b = r.call("getblock", json!([r.call("getblockhash", json!([1])), 2]));
    let txid = b["tx"][0]["txid"].as_str().unwrap().to_string();
    let value = b["tx"][0]["vout"][0]["value"].as_f64().unwrap();
    let pay = format!("{:.8}", value - 0.0001);

    let created = r.call("createpsbt", json!([[{"txid": txid, "vout": 0}], [{&sink: pay}]]));
    // converttopsbt of the same raw transaction gives the same PSBT.
    let raw = r.call("createrawtransaction", json!([[{"txid": txid, "vout": 0}], [{&sink: pay}]]));
    assert_eq!(r.call("converttopsbt", json!([raw])), created);

    let d = r.call("decodepsbt", json!([created]));
    assert_eq!(d["psbt_version"], json!(0));
    assert!(d.get("fee").is_none(), "no fee without UTXOs: {d}");
    let a = r.call("analyzepsbt", json!([created]));
    assert_eq!(a["next"], json!("updater"), "{a}");
    assert_eq!(a["inputs"][0]["has_utxo"], json!(false));

    // The updater finds the coin in the UTXO set and the key origin in the descriptor.
    let pubdesc = format!("wpkh({pk})");
    let updated = r.call("utxoupdatepsbt", json!([created, [pubdesc]]));
    let d = r.call("decodepsbt", json!([updated]));
    let inp = &d["inputs"][0];
    assert_eq!(inp["witness_utxo"]["scriptPubKey"]["address"], json!(addr), "{d}");
    assert_eq!(inp["bip32_derivs"][0]["pubkey"], json!(pk.to_string()), "{d}");
    assert!((d["fee"].as_f64().unwrap() - 0.0001).abs() < 1e-9, "{d}");
    let a = r.call("analyzepsbt", json!([updated]));
    assert_eq!(a["next"], json!("signer"), "{a}");
    assert_eq!(a["inputs"][0]["missing"]["signatures"].as_array().unwrap().len(), 1, "{a}");

    // Signing without finalizing leaves a partial signature for the finalizer.
    let signed = r.call(
        "descriptorprocesspsbt",
        json!([updated, [format!("wpkh({wif})")], "ALL", true, false]),
    );
    assert_eq!(signed["complete"], json!(false), "{signed}");
    let d = r.call("decodepsbt", json!([signed["psbt"]]));
    assert!(d["inputs"][0]["partial_signatures"].get(pk.to_string()).is_some(), "{d}");
    let a = r.call("analyzepsbt", json!([signed["psbt"]]));
    assert_eq!(a["next"], json!("finalizer"), "{a}");
    assert!(a["estimated_vsize"].as_i64().unwrap() > 100, "{a}");
    let fin = r.call("finalizepsbt", json!([signed["psbt"]]));
    assert_eq!(fin["complete"], json!(true));

    // Signing with finalizing gives the transaction at once; both are the same and accepted.
    let done = r.call("descriptorprocesspsbt", json!([updated, [format!("wpkh({wif})")]]));
    assert_eq!(done["complete"], json!(true), "{done}");
    assert_eq!(done["hex"], fin["hex"]);
    let a = r.call("analyzepsbt", json!([done["psbt"]]));
    assert_eq!(a["next"], json!("extractor"), "{a}");
    assert_eq!(a["inputs"][0]["is_final"], json!(true), "{a}");
    let sent = r.call("sendrawtransaction", json!([done["hex"]]));
    assert_eq!(sent.as_str().unwrap().len(), 64);

    // combinepsbt of the unsigned and the signed PSBT keeps the signature.
    let combined = r.call("combinepsbt", json!([[updated, signed["psbt"]]]));
    assert_eq!(r.call("finalizepsbt", json!([combined]))["hex"], fin["hex"]);

    // joinpsbts puts the inputs of two PSBTs in one.
    let other = r.call("createpsbt", json!([[{"txid": txid, "vout": 1}], [{&sink: "0.1"}]]));
    let joined = r.call("joinpsbts", json!([[created, other]]));
    let d = r.call("decodepsbt", json!([joined]));
    assert_eq!(d["tx"]["vin"].as_array().unwrap().len(), 2);
    assert_eq!(d["tx"]["vout"].as_array().unwrap().len(), 2);

    // Core's errors.
    let (c, m) = r.call_err("decodepsbt", json!(["not base64!"]));
    assert_eq!((c, m.as_str()), (-22, "TX decode failed invalid base64"));
    let (c, m) = r.call_err("combinepsbt", json!([[]]));
    assert_eq!((c, m.as_str()), (-8, "Parameter 'txs' cannot be empty"));
    let (c, m) = r.call_err("combinepsbt", json!([[created, other]]));
    assert_eq!((c, m.as_str()), (-8, "PSBTs not compatible (different transactions)"));
    let (c, m) = r.call_err("joinpsbts", json!([[created]]));
    assert_eq!((c, m.as_str()), (-8, "At least two PSBTs are required to join PSBTs."));
    let (c, m) = r.call_err("joinpsbts", json!([[created, created]]));
    assert_eq!(c, -8);
    assert!(m.ends_with(":0 exists in multiple PSBTs"), "{m}");
    let (c, m) = r.call_err("converttopsbt", json!([done["hex"]]));
    assert_eq!((c, m.as_str()), (-22, "Inputs must not have scriptSigs and scriptWitnesses"));
    assert!(r.call("converttopsbt", json!([done["hex"], true])).is_string());
    let (c, m) = r.call_err("converttopsbt", json!(["00"]));
    assert_eq!((c, m.as_str()), (-22, "TX decode failed"));
    let (c, _) = r.call_err("descriptorprocesspsbt", json!([updated, ["wpkh(nonsense)"]]));
    assert_eq!(c, -5);
    let (c, m) = r.call_err("descriptorprocesspsbt", json!([updated, [], "ALL|FOO"]));
    assert_eq!((c, m.as_str()), (-8, "'ALL|FOO' is not a valid sighash parameter."));
}

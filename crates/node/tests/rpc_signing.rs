//! Wallet-less signing against the real binary: coins mined to P2PKH, P2WPKH, P2SH-P2WPKH,
//! P2TR (BIP86), P2WSH and P2SH 2-of-3 multisig keys are spent with signrawtransactionwithkey
//! (prevouts from the UTXO set, the mempool or `prevtxs`), accepted by sendrawtransaction, mined,
//! and seen to move with gettxout. Multisig is signed in two halves (re-signing the partial
//! transaction, and combinerawtransaction of two partial ones); wrong keys give complete:false
//! with Core's per-input errors.

mod support;

use support::p2p_peer::to_hex;
use support::rpc_node::{btc, sat, RpcNode};

use bitcoin::key::{CompressedPublicKey, PrivateKey};
use bitcoin::opcodes::all::OP_CHECKMULTISIG;
use bitcoin::script::Builder;
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::{Address, Network, ScriptBuf};
use serde_json::{json, Value};

struct Key {
    wif: String,
    pubkey: CompressedPublicKey,
}

fn key(n: u8) -> Key {
    let sk = SecretKey::from_slice(&[n; 32]).expect("valid secret");
    let pk = PrivateKey::new(sk, Network::Regtest);
    Key {
        wif: pk.to_wif(),
        pubkey: CompressedPublicKey::from_private_key(&Secp256k1::new(), &pk).expect("compressed"),
    }
}

fn multisig_2of3(keys: &[&Key]) -> ScriptBuf {
    let mut b = Builder::new().push_int(2);
    for k in keys {
        b = b.push_slice(k.pubkey.to_bytes());
    }
    b.push_int(keys.len() as i64).push_opcode(OP_CHECKMULTISIG).into_script()
}

/// The node and the address mined blocks pay to.
struct Rig {
    node: RpcNode,
    sink: String,
}

impl std::ops::Deref for Rig {
    type Target = RpcNode;

    fn deref(&self) -> &RpcNode {
        &self.node
    }
}

impl Rig {
    fn mine(&self, n: u32) {
        self.call("generatetoaddress", json!([n, self.sink]));
    }

    /// The coinbase output of the block at `height`: (txid, value in sat).
    fn coinbase(&self, height: u32) -> (String, u64) {
        let h = self.call("getblockhash", json!([height]));
        let b = self.call("getblock", json!([h, 2]));
        (
            b["tx"][0]["txid"].as_str().unwrap().to_string(),
            sat(&b["tx"][0]["vout"][0]["value"]),
        )
    }

    /// An unsigned transaction spending (txid, vout) of `value` to `to`, paying a 10,000 sat fee.
    fn unsigned(&self, txid: &str, vout: u32, value: u64, to: &str) -> String {
        let raw = self.call(
            "createrawtransaction",
            json!([[{"txid": txid, "vout": vout}], [{to: btc(value - 10_000)}]]),
        );
        raw.as_str().unwrap().to_string()
    }

    fn sign(&self, hex: &str, keys: &[&Key], rest: &[Value]) -> Value {
        let mut p = vec![json!(hex), json!(keys.iter().map(|k| k.wif.clone()).collect::<Vec<_>>())];
        p.extend(rest.iter().cloned());
        self.call("signrawtransactionwithkey", Value::Array(p))
    }

    /// Sends a complete signed transaction, mines it and checks the coins moved.
    fn send_and_confirm(&self, signed: &Value, spent: (&str, u32), paid: u64) -> String {
        assert_eq!(signed["complete"], json!(true), "{signed}");
        assert!(signed.get("errors").is_none(), "{signed}");
        let txid = self.call("sendrawtransaction", json!([signed["hex"]]));
        let txid = txid.as_str().unwrap().to_string();
        // Before it is mined (Core's mempool view, the default): the spent output is gone and the
        // new one has no confirmations; without the mempool the UTXO set still has the spent one.
        assert_eq!(
            self.call("gettxout", json!([spent.0, spent.1])),
            Value::Null,
            "spent in the mempool"
        );
        assert!(!self.call("gettxout", json!([spent.0, spent.1, false])).is_null());
        let pending = self.call("gettxout", json!([txid, 0]));
        assert_eq!(
            (sat(&pending["value"]), pending["confirmations"].clone()),
            (paid, json!(0)),
            "{pending}"
        );
        assert!(pending["scriptPubKey"]["desc"].is_string(), "{pending}");
        assert_eq!(self.call("gettxout", json!([txid, 0, false])), Value::Null);
        self.mine(1);
        assert_eq!(self.call("gettxout", json!([spent.0, spent.1])), Value::Null, "spent output gone");
        let out = self.call("gettxout", json!([txid, 0]));
        assert_eq!(sat(&out["value"]), paid, "{out}");
        assert_eq!(out["confirmations"], json!(1));
        txid
    }
}

fn start() -> Rig {
    let node = RpcNode::start(&[]);
    let sink = Address::p2wpkh(&key(99).pubkey, Network::Regtest).to_string();
    Rig { node, sink }
}

#[test]
fn signrawtransactionwithkey_spends_every_output_type() {
    let r = start();
    let secp = Secp256k1::new();
    let (k1, k2, k3, k4, k5, k6, k7, k8) = (key(1), key(2), key(3), key(4), key(5), key(6), key(7), key(8));
    let ms = multisig_2of3(&[&k4, &k5, &k6]);
    let addrs = [
        Address::p2pkh(k1.pubkey, Network::Regtest),
        Address::p2wpkh(&k2.pubkey, Network::Regtest),
        Address::p2shwpkh(&k3.pubkey, Network::Regtest),
        Address::p2tr(&secp, k8.pubkey.0.x_only_public_key().0, None, Network::Regtest),
        Address::p2wsh(&ms, Network::Regtest),
        Address::p2sh(&ms, Network::Regtest).unwrap(),
        Address::p2wpkh(&k7.pubkey, Network::Regtest),
    ];
    for a in &addrs {
        r.call("generatetoaddress", json!([1, a.to_string()]));
    }
    r.mine(100);
    let dest = Address::p2wpkh(&key(50).pubkey, Network::Regtest).to_string();

    // P2PKH, default sighash, prevout from the UTXO set.
    let (t, v) = r.coinbase(1);
    let s = r.sign(&r.unsigned(&t, 0, v, &dest), &[&k1], &[]);
    r.send_and_confirm(&s, (&t, 0), v - 10_000);

    // P2WPKH with ALL|ANYONECANPAY, paying back to the same key; its child is signed while the
    // parent is only in the mempool (prevout found there), then both are mined.
    let (t, v) = r.coinbase(2);
    let k2_addr = addrs[1].to_string();
    let s = r.sign(&r.unsigned(&t, 0, v, &k2_addr), &[&k2], &[Value::Null, json!("ALL|ANYONECANPAY")]);
    assert_eq!(s["complete"], json!(true), "{s}");
    let d = r.call("decoderawtransaction", json!([s["hex"]]));
    assert!(d["vin"][0]["txinwitness"][0].as_str().unwrap().ends_with("81"), "{d}");
    let parent = r.call("sendrawtransaction", json!([s["hex"]])).as_str().unwrap().to_string();
    let child = r.sign(&r.unsigned(&parent, 0, v - 10_000, &dest), &[&k2], &[]);
    assert_eq!(child["complete"], json!(true), "{child}");
    r.call("sendrawtransaction", json!([child["hex"]]));
    assert_eq!(r.call("getrawmempool", json!([])).as_array().unwrap().len(), 2);
    r.mine(1);
    assert_eq!(r.call("getrawmempool", json!([])), json!([]));
    assert_eq!(r.call("gettxout", json!([t, 0])), Value::Null);

    // P2SH-P2WPKH without a redeemScript (learned from the key), SIGHASH_NONE.
    let (t, v) = r.coinbase(3);
    let s = r.sign(&r.unsigned(&t, 0, v, &dest), &[&k3], &[json!([]), json!("NONE")]);
    r.send_and_confirm(&s, (&t, 0), v - 10_000);

    // P2TR key path (BIP86 key): default sighash makes a 64-byte signature.
    let (t, v) = r.coinbase(4);
    let s = r.sign(&r.unsigned(&t, 0, v, &dest), &[&k8], &[]);
    let d = r.call("decoderawtransaction", json!([s["hex"]]));
    assert_eq!(d["vin"][0]["txinwitness"][0].as_str().unwrap().len(), 128, "{d}");
    r.send_and_confirm(&s, (&t, 0), v - 10_000);

    // P2WSH 2-of-3 signed in two passes; the witnessScript and amount come from prevtxs.
    let (t, v) = r.coinbase(5);
    let spk = addrs[4].script_pubkey();
    let prev =
        json!([{"txid": t, "vout": 0, "scriptPubKey": to_hex(spk.as_bytes()), "witnessScript": to_hex(ms.as_bytes()), "amount": btc(v)}]);
    let unsigned = r.unsigned(&t, 0, v, &dest);
    let half = r.sign(&unsigned, &[&k4], std::slice::from_ref(&prev));
    assert_eq!(half["complete"], json!(false), "{half}");
    let e = &half["errors"][0];
    assert_eq!(e["txid"], json!(t));
    assert_eq!(e["vout"], json!(0));
    assert_eq!(e["sequence"], json!(0xffff_fffdu32));
    assert_eq!(e["scriptSig"], json!(""));
    assert_eq!(
        e["error"],
        json!("CHECK(MULTI)SIG failing with non-zero signature (possibly need more signatures)")
    );
    let w = e["witness"].as_array().unwrap();
    assert_eq!(w.len(), 4, "OP_0 dummy, one signature, one empty slot, witness script: {e}");
    assert_eq!(w[3], json!(to_hex(ms.as_bytes())));
    let bad = r.call("testmempoolaccept", json!([[half["hex"]]]));
    assert_eq!(bad[0]["allowed"], json!(false), "half-signed is not valid: {bad}");
    let full = r.sign(half["hex"].as_str().unwrap(), &[&k6], &[prev]);
    r.send_and_confirm(&full, (&t, 0), v - 10_000);

    // P2SH 2-of-3 signed separately by two holders, merged by combinerawtransaction.
    let (t, v) = r.coinbase(6);
    let spk = addrs[5].script_pubkey();
    let prev = json!([{"txid": t, "vout": 0, "scriptPubKey": to_hex(spk.as_bytes()), "redeemScript": to_hex(ms.as_bytes())}]);
    let unsigned = r.unsigned(&t, 0, v, &dest);
    let a = r.sign(&unsigned, &[&k5], std::slice::from_ref(&prev));
    let b = r.sign(&unsigned, &[&k4], &[prev]);
    assert_eq!((a["complete"].clone(), b["complete"].clone()), (json!(false), json!(false)));
    let combined = r.call("combinerawtransaction", json!([[a["hex"], b["hex"]]]));
    let ok = r.call("testmempoolaccept", json!([[combined]]));
    assert_eq!(ok[0]["allowed"], json!(true), "{ok}");
    r.send_and_confirm(&json!({"hex": combined, "complete": true}), (&t, 0), v - 10_000);

    // A wrong key leaves the input unsigned with Core's error, and the node refuses it.
    let (t, v) = r.coinbase(7);
    let unsigned = r.unsigned(&t, 0, v, &dest);
    let wrong = r.sign(&unsigned, &[&k1], &[]);
    assert_eq!(wrong["complete"], json!(false));
    assert_eq!(wrong["errors"][0]["error"], json!("Witness program was passed an empty witness"));
    assert_eq!(wrong["errors"][0]["witness"], json!([]));
    assert!(r.raw("sendrawtransaction", json!([wrong["hex"]]))["error"].is_object());
    let s = r.sign(&unsigned, &[&k1, &k7], &[Value::Null, json!("SINGLE")]);
    r.send_and_confirm(&s, (&t, 0), v - 10_000);
}

/// Bare P2PK and bare 1-of-2 multisig outputs (mined with generatetodescriptor), signed with
/// named arguments.
#[test]
fn signrawtransactionwithkey_bare_pubkey_and_multisig() {
    let r = start();
    let (k1, k2, k3) = (key(31), key(32), key(33));
    r.call("generatetodescriptor", json!([1, format!("pk({})", k1.pubkey)]));
    r.call("generatetodescriptor", json!([1, format!("multi(1,{},{})", k2.pubkey, k3.pubkey)]));
    r.mine(100);
    for (height, signer) in [(1, &k1), (2, &k3)] {
        let (t, v) = r.coinbase(height);
        let unsigned = r.unsigned(&t, 0, v, &r.sink);
        let wrong = r.call(
            "signrawtransactionwithkey",
            json!({"hexstring": unsigned, "privkeys": [key(34).wif]}),
        );
        assert_eq!(wrong["complete"], json!(false), "{wrong}");
        let s = r.call(
            "signrawtransactionwithkey",
            json!({"hexstring": unsigned, "privkeys": [signer.wif], "sighashtype": "ALL"}),
        );
        r.send_and_confirm(&s, (&t, 0), v - 10_000);
    }
}

#[test]
fn signrawtransactionwithkey_errors_like_core() {
    let r = start();
    let k = key(1);
    let fake = "11".repeat(32);
    let unsigned = r.unsigned(&fake, 0, 100_000, &r.sink);
    // Unknown input: not signed, reported per input.
    let s = r.sign(&unsigned, &[&k], &[]);
    assert_eq!(s["complete"], json!(false));
    assert_eq!(s["errors"][0]["error"], json!("Input not found or already spent"));
    assert_eq!(s["hex"], json!(unsigned));
    // Keys: bad text and another network's WIF.
    assert_eq!(
        r.call_err("signrawtransactionwithkey", json!([unsigned, ["notakey"]])),
        (-5, "Invalid private key".into())
    );
    let mainnet = PrivateKey::new(SecretKey::from_slice(&[1; 32]).unwrap(), Network::Bitcoin).to_wif();
    assert_eq!(r.call_err("signrawtransactionwithkey", json!([unsigned, [mainnet]])).0, -5);
    assert_eq!(
        r.call_err("signrawtransactionwithkey", json!(["zz", [k.wif]])),
        (-22, "TX decode failed. Make sure the tx has at least one input.".into())
    );
    assert_eq!(
        r.call_err("signrawtransactionwithkey", json!([unsigned, [k.wif], [], "ALLL"])),
        (-8, "'ALLL' is not a valid sighash parameter.".into())
    );
    // A witness prevout given without an amount.
    let spk = Address::p2wpkh(&k.pubkey, Network::Regtest).script_pubkey();
    let (code, msg) = r.call_err(
        "signrawtransactionwithkey",
        json!([unsigned, [k.wif], [{"txid": fake, "vout": 0, "scriptPubKey": to_hex(spk.as_bytes())}]]),
    );
    assert_eq!(code, -3);
    assert_eq!(
        msg,
        format!(
            "Missing amount for CTxOut(nValue=21000000.00000000, scriptPubKey={})",
            &to_hex(spk.as_bytes())[..30]
        )
    );
    // With the amount the same prevout signs completely (verified by the consensus library).
    let s = r.sign(
        &unsigned,
        &[&k],
        &[json!([{"txid": fake, "vout": 0, "scriptPubKey": to_hex(spk.as_bytes()), "amount": 0.001}])],
    );
    assert_eq!(s["complete"], json!(true), "{s}");
    // P2WSH prevout without its script.
    let wsh = Address::p2wsh(&multisig_2of3(&[&k, &key(2), &key(3)]), Network::Regtest).script_pubkey();
    assert_eq!(
        r.call_err(
            "signrawtransactionwithkey",
            json!([unsigned, [k.wif], [{"txid": fake, "vout": 0, "scriptPubKey": to_hex(wsh.as_bytes())}]])
        ),
        (-8, "Missing redeemScript/witnessScript".into())
    );
    assert_eq!(
        r.call_err(
            "signrawtransactionwithkey",
            json!([unsigned, [k.wif], [{"txid": fake, "vout": 0, "scriptPubKey": to_hex(wsh.as_bytes()), "witnessScript": "51"}]])
        ),
        (-8, "redeemScript/witnessScript does not match scriptPubKey".into())
    );
    assert_eq!(
        r.call_err(
            "signrawtransactionwithkey",
            json!([unsigned, [k.wif], [{"txid": fake, "scriptPubKey": "51"}]])
        ),
        (-3, "Missing vout".into())
    );
    // combinerawtransaction: Core's errors.
    assert_eq!(
        r.call_err("combinerawtransaction", json!([[]])),
        (-22, "Missing transactions".into())
    );
    assert_eq!(
        r.call_err("combinerawtransaction", json!([[unsigned, "00"]])),
        (-22, "TX decode failed for tx 1. Make sure the tx has at least one input.".into())
    );
    assert_eq!(
        r.call_err("combinerawtransaction", json!([[unsigned]])),
        (-25, "Input not found or already spent".into())
    );
}

/// createmultisig's addresses are real: coins mined to each are spent with its redeemScript.
/// Its descriptor agrees with getdescriptorinfo, deriveaddresses and decodescript.
#[test]
fn createmultisig_addresses_spend_and_descriptors_agree() {
    let r = start();
    let secp = Secp256k1::new();
    let keys = [key(11), key(12), key(13)];
    let pubs: Vec<String> = keys.iter().map(|k| k.pubkey.to_string()).collect();
    let mut made = Vec::new();
    for kind in ["legacy", "p2sh-segwit", "bech32"] {
        let m = r.call("createmultisig", json!([2, pubs, kind]));
        let ms = multisig_2of3(&[&keys[0], &keys[1], &keys[2]]);
        assert_eq!(m["redeemScript"], json!(to_hex(ms.as_bytes())), "{m}");
        let desc = m["descriptor"].as_str().unwrap().to_string();
        assert_eq!(r.call("deriveaddresses", json!([desc])), json!([m["address"]]));
        let info = r.call("getdescriptorinfo", json!([desc]));
        assert_eq!(info["descriptor"], json!(desc));
        assert_eq!(info["checksum"], json!(&desc[desc.len() - 8..]));
        assert_eq!(
            (info["isrange"].clone(), info["issolvable"].clone(), info["hasprivatekeys"].clone()),
            (json!(false), json!(true), json!(false))
        );
        // Mining to the descriptor pays the address's script.
        let spk = r.call("validateaddress", json!([m["address"]]))["scriptPubKey"].clone();
        r.call("generatetodescriptor", json!([1, desc]));
        let tip = r.call("getbestblockhash", json!([]));
        assert_eq!(r.call("getblock", json!([tip, 2]))["tx"][0]["vout"][0]["scriptPubKey"]["hex"], spk);
        made.push((kind, m, spk));
    }
    // decodescript infers the same P2WSH descriptor from the redeem script.
    let ds = r.call("decodescript", json!([made[2].1["redeemScript"]]));
    assert_eq!(ds["segwit"]["desc"], made[2].1["descriptor"]);
    assert_eq!(ds["p2sh"], made[0].1["address"]);
    assert_eq!(ds["segwit"]["p2sh-segwit"], made[1].1["address"]);
    r.mine(100);
    let dest = r.sink.clone();
    for (i, (kind, m, spk)) in made.iter().enumerate() {
        let (t, v) = r.coinbase(i as u32 + 1);
        let script_key = if *kind == "legacy" { "redeemScript" } else { "witnessScript" };
        let mut prev = json!({"txid": t, "vout": 0, "scriptPubKey": spk, "amount": btc(v)});
        prev[script_key] = m["redeemScript"].clone();
        if *kind == "p2sh-segwit" {
            // Core accepts the witness script together with the P2WSH program as redeemScript.
            let wsh = Address::p2wsh(&multisig_2of3(&[&keys[0], &keys[1], &keys[2]]), Network::Regtest).script_pubkey();
            prev["redeemScript"] = json!(to_hex(wsh.as_bytes()));
        }
        let s = r.sign(&r.unsigned(&t, 0, v, &dest), &[&keys[0], &keys[2]], &[json!([prev])]);
        r.send_and_confirm(&s, (&t, 0), v - 10_000);
    }

    // Single-key descriptors against rust-bitcoin's addresses.
    let k = key(21);
    let pk = k.pubkey.to_string();
    let derive = |d: String| {
        let info = r.call("getdescriptorinfo", json!([d]));
        r.call("deriveaddresses", json!([info["descriptor"]]))[0]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        derive(format!("wpkh({pk})")),
        Address::p2wpkh(&k.pubkey, Network::Regtest).to_string()
    );
    assert_eq!(
        derive(format!("sh(wpkh({pk}))")),
        Address::p2shwpkh(&k.pubkey, Network::Regtest).to_string()
    );
    assert_eq!(derive(format!("pkh({pk})")), Address::p2pkh(k.pubkey, Network::Regtest).to_string());
    let bip86 = Address::p2tr(&secp, k.pubkey.0.x_only_public_key().0, None, Network::Regtest).to_string();
    assert_eq!(derive(format!("tr({pk})")), bip86);
    assert_eq!(derive(format!("tr({})", &pk[2..])), bip86);
    // A private key: shown as its public key, checksum of the text as given.
    let info = r.call("getdescriptorinfo", json!([format!("wpkh({})", k.wif)]));
    assert_eq!(info["hasprivatekeys"], json!(true));
    let canon = info["descriptor"].as_str().unwrap();
    assert!(canon.starts_with(&format!("wpkh({pk})#")), "{info}");
    let with_sum = format!("wpkh({})#{}", k.wif, info["checksum"].as_str().unwrap());
    assert_eq!(r.call("getdescriptorinfo", json!([with_sum]))["descriptor"], json!(canon));
    assert_ne!(info["checksum"], json!(&canon[canon.len() - 8..]));

    // Core's errors.
    let err = |m: &str, p: Value| r.call_err(m, p);
    assert_eq!(
        err("deriveaddresses", json!([format!("wpkh({pk})")])),
        (-5, "Missing checksum".into())
    );
    let (code, msg) = err("getdescriptorinfo", json!([format!("wpkh({pk})#aaaaaaaa")]));
    assert_eq!(code, -5);
    assert!(
        msg.starts_with("Provided checksum 'aaaaaaaa' does not match computed checksum '"),
        "{msg}"
    );
    assert_eq!(
        err("getdescriptorinfo", json!(["raw(51)#abc"])),
        (-5, "Expected 8 character checksum, not 3 characters".into())
    );
    let pk_desc = r.call("getdescriptorinfo", json!([format!("pk({pk})")]))["descriptor"].clone();
    assert_eq!(
        err("deriveaddresses", json!([pk_desc])),
        (-5, "Descriptor does not have a corresponding address".into())
    );
    let w = r.call("getdescriptorinfo", json!([format!("wpkh({pk})")]))["descriptor"].clone();
    assert_eq!(
        err("deriveaddresses", json!([w, 2])),
        (-8, "Range should not be specified for an un-ranged descriptor".into())
    );
    assert_eq!(
        err("deriveaddresses", json!([w, [3, 1]])),
        (-8, "Range specified as [begin,end] must not have begin after end".into())
    );
    assert_eq!(
        err("createmultisig", json!([2, ["zz"]])),
        (-5, "Pubkey \"zz\" must be a hex string".into())
    );
    assert_eq!(
        err("createmultisig", json!([1, ["0011"]])),
        (-5, "Pubkey \"0011\" must have a length of either 33 or 65 bytes".into())
    );
    let off_curve = format!("02{}", "00".repeat(32));
    assert_eq!(
        err("createmultisig", json!([1, [off_curve]])),
        (-5, format!("Pubkey \"{off_curve}\" must be cryptographically valid."))
    );
    assert_eq!(
        err("createmultisig", json!([0, pubs])),
        (-8, "a multisignature address must require at least one key to redeem".into())
    );
    assert_eq!(
        err("createmultisig", json!([4, pubs])),
        (-8, "not enough keys supplied (got 3 keys, but need at least 4 to redeem)".into())
    );
    assert_eq!(
        err("createmultisig", json!([2, pubs, "bech32m"])),
        (-5, "createmultisig cannot create bech32m multisig addresses".into())
    );
    assert_eq!(
        err("createmultisig", json!([2, pubs, "foo"])),
        (-5, "Unknown address type 'foo'".into())
    );
    // Size limits: 16 keys do not fit a P2SH redeem script, 20 fit a P2WSH witness script.
    let many: Vec<String> = (100..120u8).map(|i| key(i).pubkey.to_string()).collect();
    assert_eq!(
        err("createmultisig", json!([2, &many[..16]])),
        (-8, "redeemScript exceeds size limit: 547 > 520".into())
    );
    let wide = r.call("createmultisig", json!([2, many, "bech32"]));
    assert_eq!(r.call("deriveaddresses", json!([wide["descriptor"]])), json!([wide["address"]]));
    let too_many = [many.clone(), vec![pk.clone()]].concat();
    assert_eq!(
        err("createmultisig", json!([2, too_many, "bech32"])),
        (
            -8,
            "Number of keys involved in the multisignature address creation > 20\nReduce the number".into()
        )
    );
    // An uncompressed key forces a legacy address, with Core's warning.
    let unc = bitcoin::PublicKey::new_uncompressed(k.pubkey.0).to_string();
    let m = r.call("createmultisig", json!([1, [unc], "bech32"]));
    assert!(m["descriptor"].as_str().unwrap().starts_with("sh(multi(1,04"), "{m}");
    assert_eq!(
        m["warnings"][0],
        json!("Unable to make chosen address type, please ensure no uncompressed public keys are present.")
    );
}

/// BIP32 descriptors: ranged tpub/tprv keys derive the addresses rust-bitcoin derives, with
/// origins and hardened steps printed as given; a derived address receives coins that the
/// derived key then spends.
#[test]
fn extended_key_descriptors_derive_spendable_addresses() {
    use bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
    use bitcoin::NetworkKind;
    use std::str::FromStr;
    let r = start();
    let secp = Secp256k1::new();
    let master = Xpriv::new_master(NetworkKind::Test, &[42u8; 32]).unwrap();
    let tpub = Xpub::from_priv(&secp, &master);
    let child_pub = |path: &str| tpub.derive_pub(&secp, &DerivationPath::from_str(path).unwrap()).unwrap();
    let child_priv = |path: &str| master.derive_priv(&secp, &DerivationPath::from_str(path).unwrap()).unwrap();

    // wpkh(tpub/0/*): ranged, solvable, public; canonical form is the input.
    let info = r.call("getdescriptorinfo", json!([format!("wpkh({tpub}/0/*)")]));
    let desc = info["descriptor"].as_str().unwrap().to_string();
    assert_eq!(desc, format!("wpkh({tpub}/0/*)#{}", info["checksum"].as_str().unwrap()));
    assert_eq!(
        (info["isrange"].clone(), info["issolvable"].clone(), info["hasprivatekeys"].clone()),
        (json!(true), json!(true), json!(false))
    );
    let want: Vec<String> = (0..3)
        .map(|i| Address::p2wpkh(&CompressedPublicKey(child_pub(&format!("m/0/{i}")).public_key), Network::Regtest).to_string())
        .collect();
    assert_eq!(r.call("deriveaddresses", json!([desc, 2])), json!(want));
    assert_eq!(r.call("deriveaddresses", json!([desc, [1, 2]])), json!(want[1..]));
    assert_eq!(
        r.call_err("deriveaddresses", json!([desc])),
        (-8, "Range must be specified for a ranged descriptor".into())
    );
    assert_eq!(
        r.call_err("generatetodescriptor", json!([1, desc])),
        (
            -8,
            "Ranged descriptor not accepted. Maybe pass through deriveaddresses first?".into()
        )
    );

    // A private root with an origin and hardened steps: printed with the public root, the
    // origin and the hardened marker style as given.
    let tprv_desc = format!("tr([d34db33f/86h/1h/0h]{master}/1h/*h)");
    let info = r.call("getdescriptorinfo", json!([tprv_desc]));
    assert_eq!(info["hasprivatekeys"], json!(true));
    assert!(
        info["descriptor"]
            .as_str()
            .unwrap()
            .starts_with(&format!("tr([d34db33f/86h/1h/0h]{tpub}/1h/*h)#")),
        "{info}"
    );
    let canon = info["descriptor"].as_str().unwrap().to_string();
    let with_sum = format!("{tprv_desc}#{}", info["checksum"].as_str().unwrap());
    let addrs = r.call("deriveaddresses", json!([with_sum, [0, 1]]));
    let bip86 = |i: u32| {
        let k = child_priv(&format!("m/1h/{i}h"));
        Address::p2tr(&secp, k.private_key.x_only_public_key(&secp).0, None, Network::Regtest).to_string()
    };
    assert_eq!(addrs, json!([bip86(0), bip86(1)]));
    // The public form cannot derive hardened steps.
    assert_eq!(
        r.call_err("deriveaddresses", json!([canon, 1])),
        (-5, "Cannot derive script without private keys".into())
    );
    // Apostrophes are kept as apostrophes.
    let info = r.call("getdescriptorinfo", json!([format!("pkh({master}/7'/*')")]));
    assert!(
        info["descriptor"].as_str().unwrap().starts_with(&format!("pkh({tpub}/7'/*')#")),
        "{info}"
    );
    // Wrong network, bad origin, multipath.
    let mainnet = Xpub::from_priv(&secp, &Xpriv::new_master(NetworkKind::Main, &[42u8; 32]).unwrap());
    assert_eq!(
        r.call_err("getdescriptorinfo", json!([format!("wpkh({mainnet}/0/*)")])),
        (-5, format!("wpkh(): key '{mainnet}' is not valid"))
    );
    assert_eq!(
        r.call_err("getdescriptorinfo", json!([format!("wpkh([d34db33]{tpub}/0/*)")])),
        (
            -5,
            "wpkh(): Fingerprint is not 4 bytes (7 characters instead of 8 characters)".into()
        )
    );
    assert_eq!(r.call_err("getdescriptorinfo", json!([format!("wpkh({tpub}/<0;1>/*)")])).0, -5);

    // Coins mined to derived address 1 are spent with the key rust-bitcoin derives for it.
    r.call("generatetoaddress", json!([1, want[1]]));
    r.mine(100);
    let (t, v) = r.coinbase(1);
    let sk = child_priv("m/0/1").private_key;
    let signer = Key {
        wif: PrivateKey::new(sk, Network::Regtest).to_wif(),
        pubkey: CompressedPublicKey(sk.public_key(&secp)),
    };
    let s = r.sign(&r.unsigned(&t, 0, v, &r.sink), &[&signer], &[]);
    r.send_and_confirm(&s, (&t, 0), v - 10_000);
}

//! RPC answers about the shared 300-block chain compared with Bitcoin Core's own answers in
//! `regtest-core-300.json`, field by field as JSON values, over real HTTP JSON-RPC calls to an
//! in-process node: getblockchaininfo, getblockhash, getblock (verbosity 1, 2 and 3),
//! gettxoutsetinfo (hash_serialized_3, muhash, none), getrawtransaction, decoderawtransaction,
//! decodescript and createrawtransaction.

mod support;

use support::in_process::InProcessNode;

use serde_json::{json, Value};

/// Compares `ours` with Core's `core` recursively: same keys in the same order, same array lengths, equal
/// strings/booleans/integers; non-integer numbers within a relative 1e-15, because Core prints
/// doubles with 16 significant digits (`%.16g`) and the parser may round the last bit
/// differently. Amounts are printed by both with 8 decimals and compare exactly anyway.
fn diff(ours: &Value, core: &Value, path: &str, out: &mut Vec<String>) {
    match (ours, core) {
        (Value::Object(a), Value::Object(b)) => {
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{path}.{k}: missing (Core: {})", b[k]));
            }
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                out.push(format!("{path}.{k}: extra key (ours: {})", a[k]));
            }
            // Core's key order too (serde_json's preserve_order keeps ours as the code writes it).
            let order_a: Vec<&String> = a.keys().filter(|k| b.contains_key(*k)).collect();
            let order_b: Vec<&String> = b.keys().filter(|k| a.contains_key(*k)).collect();
            if order_a != order_b {
                out.push(format!("{path}: key order {order_a:?}, Core {order_b:?}"));
            }
            for (k, v) in a {
                if let Some(w) = b.get(k) {
                    diff(v, w, &format!("{path}.{k}"), out);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                out.push(format!("{path}: {} items, Core has {}", a.len(), b.len()));
            }
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                diff(v, w, &format!("{path}[{i}]"), out);
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            let same = if x.is_f64() || y.is_f64() {
                let (p, q) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                p == q || (p - q).abs() <= 1e-15 * p.abs().max(q.abs())
            } else {
                x == y
            };
            if !same {
                out.push(format!("{path}: ours {x}, Core {y}"));
            }
        }
        _ => {
            if ours != core {
                out.push(format!("{path}: ours {ours}, Core {core}"));
            }
        }
    }
}

fn assert_same(ours: &Value, core: &Value, what: &str) {
    let mut out = Vec::new();
    diff(ours, core, what, &mut out);
    assert!(
        out.is_empty(),
        "{} differences in {what}:\n{}",
        out.len(),
        out.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}

fn sample_blocks(core: &Value) -> Vec<Value> {
    let s = core["sample_blocks"].as_array().expect("sample_blocks").clone();
    assert_eq!(s.len(), 5, "Core's JSON has five sample blocks");
    s.into_iter().map(|b| b["getblock_2"].clone()).collect()
}

/// `v` without the listed keys.
fn without(v: &Value, keys: &[&str]) -> Value {
    let mut v = v.clone();
    if let Value::Object(o) = &mut v {
        for k in keys {
            o.shift_remove(*k);
        }
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_info_block_hashes_and_utxo_set_match_core() {
    let core = support::core_json();
    let n = InProcessNode::start(true).await;

    // getblockchaininfo: every field Core returns, compared by value except three that depend
    // on the moment or the machine rather than on the chain:
    // - verificationprogress: Core estimates it from the current wall-clock time against the
    //   tip's time and chain tx rate, so Core's own answer changes from second to second;
    // - size_on_disk: bytes of block/undo files, which depend on the storage layout (Core's
    //   blk/rev files with its allocation chunks vs this node's files);
    // - warnings: Core's answer is its pre-release build warning ("This is a pre-release test
    //   build..."), a property of the binary, not of the chain;
    // - initialblockdownload: true while the tip is older than -maxtipage (24 h) by the current
    //   clock; Core's answer was recorded while its tip was recent.
    let ours = n.call("getblockchaininfo", json!([]));
    let theirs = &core["getblockchaininfo"];
    assert!(ours["initialblockdownload"].is_boolean());
    let excluded = ["verificationprogress", "size_on_disk", "warnings", "initialblockdownload"];
    assert_same(&without(&ours, &excluded), &without(theirs, &excluded), "getblockchaininfo");
    for k in excluded {
        assert!(ours.get(k).is_some(), "getblockchaininfo lacks {k}");
    }
    let progress = ours["verificationprogress"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&progress), "verificationprogress {progress}");
    assert!(
        ours["size_on_disk"].as_u64().unwrap() > 1_000_000,
        "the chain's blocks take over 1 MB"
    );
    assert!(ours["warnings"].is_array());
    // Core prints doubles with 16 significant digits: the same text for difficulty.
    let raw = n.raw("getblockchaininfo", json!([]));
    assert!(raw.contains("\"difficulty\":4.656542373906925e-10"), "{raw}");

    // getblockhash for every height, and Core's error just past the tip.
    let blocks = core["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 301);
    for b in blocks {
        let h = b["height"].as_u64().unwrap();
        assert_eq!(n.call("getblockhash", json!([h])), b["hash"], "getblockhash {h}");
    }
    assert_eq!(
        n.try_call("getblockhash", json!([301])).unwrap_err(),
        json!({"code": -8, "message": "Block height out of range"})
    );

    // gettxoutsetinfo for each hash type. disk_size is excluded: it is the size of the
    // database holding the UTXO set (LevelDB's estimate in Core, LMDB's data file here).
    for kind in ["hash_serialized_3", "muhash", "none"] {
        let ours = n.call("gettxoutsetinfo", json!([kind]));
        assert!(ours.get("disk_size").is_some(), "{kind}: disk_size present");
        assert_same(
            &without(&ours, &["disk_size"]),
            &without(&core["gettxoutsetinfo"][kind], &["disk_size"]),
            &format!("gettxoutsetinfo {kind}"),
        );
    }
    // Amounts are printed like Core's ValueFromAmount.
    let raw = n.raw("gettxoutsetinfo", json!(["none"]));
    assert!(raw.contains("\"total_amount\":11212.50000000"), "{raw}");
    assert_eq!(
        n.try_call("gettxoutsetinfo", json!(["sha256"])).unwrap_err(),
        json!({"code": -8, "message": "'sha256' is not a valid hash_type"})
    );
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn getblock_matches_core_for_the_sample_blocks() {
    let core = support::core_json();
    let n = InProcessNode::start(true).await;
    for g2 in sample_blocks(&core) {
        let hash = g2["hash"].as_str().unwrap().to_string();
        let height = g2["height"].as_u64().unwrap();

        // Verbosity 2: Core's answer, every key recursively.
        let ours2 = n.call("getblock", json!([hash, 2]));
        assert_same(&ours2, &g2, &format!("getblock {height} 2"));

        // Verbosity 1: Core's JSON only holds the verbosity-2 answer; Core's verbosity 1 is the
        // same object with each transaction object replaced by its txid.
        let mut g1 = g2.clone();
        g1["tx"] = Value::Array(g2["tx"].as_array().unwrap().iter().map(|t| t["txid"].clone()).collect());
        assert_same(&n.call("getblock", json!([hash, 1])), &g1, &format!("getblock {height} 1"));
        assert_same(
            &n.call("getblock", json!({"blockhash": hash, "verbose": true})),
            &g1,
            &format!("getblock {height} verbose=true"),
        );

        // Verbosity 0 is the block hex: its transactions are Core's tx hex in order.
        let hex0 = n.call("getblock", json!([hash, 0]));
        let tx_hex: String = g2["tx"].as_array().unwrap().iter().map(|t| t["hex"].as_str().unwrap()).collect();
        assert!(hex0.as_str().unwrap().ends_with(&tx_hex), "block hex ends with the transactions");

        // Verbosity 3 adds `prevout` to every non-coinbase input and is otherwise verbosity 2.
        let ours3 = n.call("getblock", json!([hash, 3]));
        let mut stripped = ours3.clone();
        for tx in stripped["tx"].as_array_mut().unwrap() {
            for vin in tx["vin"].as_array_mut().unwrap() {
                let had = vin.as_object_mut().unwrap().remove("prevout").is_some();
                assert_eq!(had, vin.get("coinbase").is_none(), "prevout on exactly the non-coinbase inputs");
            }
        }
        assert_same(&stripped, &g2, &format!("getblock {height} 3 without prevout"));
        // Each fee equals the prevout values minus the outputs, in satoshis.
        for tx in ours3["tx"].as_array().unwrap().iter().skip(1) {
            let sat = |v: &Value| (v.as_f64().unwrap() * 1e8).round() as i64;
            let inputs: i64 = tx["vin"].as_array().unwrap().iter().map(|i| sat(&i["prevout"]["value"])).sum();
            let outputs: i64 = tx["vout"].as_array().unwrap().iter().map(|o| sat(&o["value"])).sum();
            assert_eq!(inputs - outputs, sat(&tx["fee"]), "fee of {}", tx["txid"]);
        }
    }

    // Prevouts checked against the funding transactions themselves (first sample block):
    // value, script and coinbase flag of the spent output, found via its height.
    let g2 = &sample_blocks(&core)[0];
    let ours3 = n.call("getblock", json!([g2["hash"], 3]));
    let mut checked = 0;
    for tx in ours3["tx"].as_array().unwrap().iter().skip(1) {
        for vin in tx["vin"].as_array().unwrap() {
            let prev = &vin["prevout"];
            let bh = n.call("getblockhash", json!([prev["height"]]));
            let funding = n.call("getrawtransaction", json!([vin["txid"], 1, bh]));
            let out = &funding["vout"][vin["vout"].as_u64().unwrap() as usize];
            assert_same(&prev["scriptPubKey"], &out["scriptPubKey"], "prevout scriptPubKey");
            assert_eq!(prev["value"], out["value"]);
            let funding_is_coinbase = funding["vin"][0].get("coinbase").is_some();
            assert_eq!(prev["generated"], json!(funding_is_coinbase));
            checked += 1;
        }
    }
    assert!(checked > 20, "checked {checked} prevouts");

    // Core's text for amounts: 8 decimals, also for zero and small fees.
    let raw = n.raw("getblock", json!([g2["hash"], 2]));
    assert!(
        raw.contains("\"value\":0.00000000") && raw.contains("\"fee\":0.00002240"),
        "amount formatting"
    );
    assert_eq!(
        n.try_call("getblock", json!(["00".repeat(32), 2])).unwrap_err(),
        json!({"code": -5, "message": "Block not found"})
    );
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_transaction_methods_match_core() {
    let core = support::core_json();
    let n = InProcessNode::start(true).await;
    let samples = sample_blocks(&core);
    let mut decoded = 0;
    for g2 in &samples {
        let bh = g2["hash"].clone();
        for (i, tx) in g2["tx"].as_array().unwrap().iter().enumerate() {
            // decoderawtransaction is TxToUniv without hex and without fee (no undo data).
            let d = n.call("decoderawtransaction", json!([tx["hex"]]));
            assert_same(&d, &without(tx, &["hex", "fee"]), &format!("decoderawtransaction {}", tx["txid"]));
            let iswitness = tx["txid"] != tx["hash"];
            assert_same(
                &n.call("decoderawtransaction", json!([tx["hex"], iswitness])),
                &d,
                "decoderawtransaction with iswitness",
            );
            decoded += 1;
            if i >= 4 {
                continue;
            }
            // getrawtransaction with the block hash (no -txindex here, as in Core without it).
            let context = json!({"in_active_chain": true, "blockhash": bh, "confirmations": g2["confirmations"], "time": g2["time"], "blocktime": g2["time"]});
            let with_ctx = |mut v: Value| {
                for (k, x) in context.as_object().unwrap() {
                    v[k] = x.clone();
                }
                v
            };
            assert_eq!(n.call("getrawtransaction", json!([tx["txid"], 0, bh])), tx["hex"]);
            let v1 = n.call("getrawtransaction", json!([tx["txid"], 1, bh]));
            assert_same(
                &v1,
                &with_ctx(without(tx, &["fee"])),
                &format!("getrawtransaction {} 1", tx["txid"]),
            );
            let named = n.call("getrawtransaction", json!({"txid": tx["txid"], "verbose": true, "blockhash": bh}));
            assert_same(&named, &v1, "named parameters with the verbose alias");
            // Verbosity 2: fee and prevouts (coinbase: neither, like Core).
            let mut v2 = n.call("getrawtransaction", json!([tx["txid"], 2, bh]));
            for vin in v2["vin"].as_array_mut().unwrap() {
                let had = vin.as_object_mut().unwrap().remove("prevout").is_some();
                assert_eq!(had, i > 0);
            }
            assert_same(&v2, &with_ctx(tx.clone()), &format!("getrawtransaction {} 2", tx["txid"]));
        }
    }
    assert!(decoded > 40, "decoded {decoded} transactions");

    // Core's errors.
    let t0 = &samples[0]["tx"][1];
    let err = |method: &str, params: Value| n.try_call(method, params).unwrap_err();
    assert_eq!(
        err("getrawtransaction", json!([t0["txid"]])),
        json!({"code": -5, "message": "No such mempool transaction. Use -txindex or provide a block hash to enable blockchain transaction queries. Use gettransaction for wallet transactions."})
    );
    assert_eq!(
        err("getrawtransaction", json!([t0["txid"], 1, samples[1]["hash"]])),
        json!({"code": -5, "message": "No such transaction found in the provided block. Use gettransaction for wallet transactions."})
    );
    assert_eq!(
        err("getrawtransaction", json!([t0["txid"], 1, "11".repeat(32)])),
        json!({"code": -5, "message": "Block hash not found"})
    );
    assert_eq!(
        err("getrawtransaction", json!(["abc"])),
        json!({"code": -8, "message": "parameter 1 must be of length 64 (not 3, for 'abc')"})
    );
    let genesis_cb = core["blocks"][0]["merkleroot"].clone();
    assert_eq!(
        err("getrawtransaction", json!([genesis_cb, 1, core["blocks"][0]["hash"]])),
        json!({"code": -5, "message": "The genesis block coinbase is not considered an ordinary transaction and cannot be retrieved"})
    );
    assert_eq!(
        err("decoderawtransaction", json!(["zz"])),
        json!({"code": -22, "message": "TX decode failed"})
    );
    assert_eq!(
        err("decoderawtransaction", json!([format!("{}00", t0["hex"].as_str().unwrap())])),
        json!({"code": -22, "message": "TX decode failed"})
    );
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decodescript_and_createrawtransaction_agree_with_core() {
    let core = support::core_json();
    let n = InProcessNode::start(true).await;
    let samples = sample_blocks(&core);

    // decodescript of every distinct output script in the sample blocks: Core's ScriptToUniv
    // without hex, i.e. the scriptPubKey object minus "hex"; p2sh/segwit only where Core adds them.
    let mut seen = std::collections::HashSet::new();
    for g2 in &samples {
        for tx in g2["tx"].as_array().unwrap() {
            for out in tx["vout"].as_array().unwrap() {
                let spk = &out["scriptPubKey"];
                if !seen.insert(spk["hex"].as_str().unwrap().to_string()) {
                    continue;
                }
                let mut d = n.call("decodescript", json!([spk["hex"]]));
                let kind = spk["type"].as_str().unwrap();
                let wrappable = matches!(
                    kind,
                    "pubkey" | "pubkeyhash" | "multisig" | "witness_v0_keyhash" | "witness_v0_scripthash"
                );
                let p2sh = d.as_object_mut().unwrap().remove("p2sh");
                let segwit = d.as_object_mut().unwrap().remove("segwit");
                assert_eq!(p2sh.is_some(), wrappable, "p2sh for {kind}");
                assert_eq!(
                    segwit.is_some(),
                    matches!(kind, "pubkey" | "pubkeyhash" | "multisig"),
                    "segwit for {kind}"
                );
                if let Some(sw) = segwit {
                    let want = if kind == "multisig" {
                        "witness_v0_scripthash"
                    } else {
                        "witness_v0_keyhash"
                    };
                    assert_eq!(sw["type"], want);
                    // The segwit script decodes to itself (minus hex) through decodescript too.
                    let again = n.call("decodescript", json!([sw["hex"]]));
                    assert_eq!(again["address"], sw["address"]);
                    if kind == "multisig" {
                        let inner = spk["desc"].as_str().unwrap().split('#').next().unwrap();
                        assert!(
                            sw["desc"].as_str().unwrap().starts_with(&format!("wsh({inner})#")),
                            "{}",
                            sw["desc"]
                        );
                    }
                }
                assert_same(&d, &without(spk, &["hex"]), &format!("decodescript {}", spk["hex"]));
            }
        }
    }
    assert!(seen.len() > 100, "decoded {} scripts", seen.len());

    // createrawtransaction rebuilds the unsigned form of Core's transactions: inputs with their
    // sequences, outputs by address (or "data" for one single-push OP_RETURN), locktime, version.
    let mut rebuilt = 0;
    for g2 in &samples {
        for tx in g2["tx"].as_array().unwrap().iter().skip(1) {
            let mut outputs = Vec::new();
            let mut ok = true;
            let mut addrs = std::collections::HashSet::new();
            let mut data = 0;
            for o in tx["vout"].as_array().unwrap() {
                let spk = &o["scriptPubKey"];
                if let Some(a) = spk["address"].as_str() {
                    ok &= addrs.insert(a.to_string());
                    outputs.push(json!({ a: o["value"] }));
                } else if spk["type"] == "nulldata"
                    && o["value"].as_f64() == Some(0.0)
                    && spk["asm"].as_str().unwrap().split(' ').count() == 2
                {
                    let h = spk["hex"].as_str().unwrap();
                    // A direct push of 1..75 bytes: 6a <len> <data>.
                    let len = usize::from_str_radix(&h[2..4], 16).unwrap();
                    ok &= (1..0x4c).contains(&len) && h.len() == 4 + 2 * len;
                    outputs.push(json!({"data": &h[4..]}));
                    data += 1;
                } else {
                    ok = false;
                }
            }
            if !ok || data > 1 || rebuilt >= 12 {
                continue;
            }
            let inputs: Vec<Value> = tx["vin"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| json!({"txid": i["txid"], "vout": i["vout"], "sequence": i["sequence"]}))
                .collect();
            let hex = n.call(
                "createrawtransaction",
                json!([inputs, outputs, tx["locktime"], null, tx["version"]]),
            );
            let d = n.call("decoderawtransaction", json!([hex]));
            assert_eq!(d["version"], tx["version"]);
            assert_eq!(d["locktime"], tx["locktime"]);
            assert_eq!(d["vin"].as_array().unwrap().len(), tx["vin"].as_array().unwrap().len());
            for (a, b) in d["vin"].as_array().unwrap().iter().zip(tx["vin"].as_array().unwrap()) {
                assert_eq!((&a["txid"], &a["vout"], &a["sequence"]), (&b["txid"], &b["vout"], &b["sequence"]));
                assert_eq!(a["scriptSig"], json!({"asm": "", "hex": ""}));
            }
            assert_same(&d["vout"], &tx["vout"], &format!("createrawtransaction outputs of {}", tx["txid"]));
            rebuilt += 1;
        }
    }
    assert!(rebuilt >= 5, "rebuilt {rebuilt} transactions");

    // Defaults and Core's errors.
    let input = json!([{"txid": "aa".repeat(32), "vout": 1}]);
    let addr = "bcrt1qwau5nddmqcjwavu4saku9quy7acccgtfdyglq9";
    let d = n.call(
        "decoderawtransaction",
        json!([n.call("createrawtransaction", json!([input, {addr: 0.1}]))]),
    );
    assert_eq!(
        (d["version"].clone(), d["locktime"].clone(), d["vin"][0]["sequence"].clone()),
        (json!(2), json!(0), json!(4294967293u32))
    );
    let d = n.call(
        "decoderawtransaction",
        json!([n.call("createrawtransaction", json!([input, {addr: 0.1}, 5, false]))]),
    );
    assert_eq!(d["vin"][0]["sequence"], json!(4294967294u32));
    let err = |params: Value| n.try_call("createrawtransaction", params).unwrap_err();
    assert_eq!(
        err(json!([input, [{addr: 1}, {addr: 2}]])),
        json!({"code": -8, "message": format!("Invalid parameter, duplicated address: {addr}")})
    );
    assert_eq!(
        err(json!([input, {"bc1qnotregtest": 1}])),
        json!({"code": -5, "message": "Invalid Bitcoin address: bc1qnotregtest"})
    );
    assert_eq!(
        err(json!([input, [{"data": "00"}, {"data": "01"}]])),
        json!({"code": -8, "message": "Invalid parameter, duplicate key: data"})
    );
    assert_eq!(
        err(json!([input, {addr: 0.000000001}])),
        json!({"code": -3, "message": "Invalid amount"})
    );
    assert_eq!(
        err(json!([[{"txid": "aa".repeat(32), "vout": 1, "sequence": 4294967295u32}], {addr: 1}, 0, true])),
        json!({"code": -8, "message": "Invalid parameter combination: Sequence number(s) contradict replaceable option"})
    );
    assert_eq!(
        err(json!([input, {addr: 1}, 0, null, 4])),
        json!({"code": -8, "message": "Invalid parameter, version out of range(1~3)"})
    );
    n.stop().await;
}

#[test]
fn the_comparison_reports_every_kind_of_difference() {
    let core = json!({"a": 1, "b": [1.0, "x"], "c": {"d": 4.656542373906925e-10}, "gone": null});
    let mut out = Vec::new();
    diff(
        &json!({"a": 1, "b": [1.0, "x"], "c": {"d": 4.6565423739069247e-10}, "gone": null}),
        &core,
        "v",
        &mut out,
    );
    assert!(out.is_empty(), "last-bit float differences are tolerated: {out:?}");
    diff(
        &json!({"a": 2, "b": [1.0000001, "y", 3], "c": {"d": 4.7e-10}, "new": 1}),
        &core,
        "v",
        &mut out,
    );
    assert_eq!(out.len(), 7, "{out:#?}"); // a, b length, b[0], b[1], c.d, missing gone, extra new
    out.clear();
    diff(
        &json!({"b": [1.0, "x"], "a": 1, "c": {"d": 4.656542373906925e-10}, "gone": null}),
        &core,
        "v",
        &mut out,
    );
    assert_eq!(out.len(), 1, "{out:#?}"); // key order
}

//! `dumptxoutset` and `getchainstates` on a real `blvm-node` process holding Bitcoin Core's
//! 301-block chain, over real JSON-RPC: the snapshot file is byte-for-byte Core's own
//! (`regtest-core-300.utxo-snapshot.dat`, sha256 from `regtest-core-300.json`), the answer is
//! Core's, Core's argument checks and errors hold, and the file reads back through the snapshot
//! reader to the same coins and the hash `gettxoutsetinfo` reports.

mod support;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::Network;
use blvm_node::chainstate::snapshot::open_snapshot;
use serde_json::{json, Value};
use support::p2p_peer::{rpc, rpc_error};
use support::{http, node_proc};

fn core_snapshot() -> Vec<u8> {
    std::fs::read(support::shared_dir().join("chains/regtest-core-300.utxo-snapshot.dat")).expect("Core's snapshot")
}

#[test]
fn dumptxoutset_writes_cores_snapshot_bytes() {
    let port = http::free_port();
    let mut n = node_proc::start_node_with_chain(&support::chain_hex_path(), &[&format!("-rpcport={port}"), "-listen=0"], &[]);
    n.wait_started();
    let core = support::core_json();
    let want = &core["dumptxoutset"];
    let call = |m: &str, p: Value| rpc(&n, port, m, p);
    let err = |m: &str, p: Value| rpc_error(&n, port, m, p);

    // A relative path lands in the network datadir; the answer is Core's, plus the path.
    let got = call("dumptxoutset", json!(["utxo.dat", "latest"]));
    let path = n.net_dir().join("utxo.dat");
    let mut expected = want["result"].clone();
    expected["path"] = json!(path.display().to_string());
    assert_eq!(got, expected);
    assert!(!n.net_dir().join("utxo.dat.incomplete").exists(), "the temporary file was renamed");

    // The file is Core's, byte for byte.
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, want["file_bytes"].as_u64().unwrap());
    assert_eq!(sha256::Hash::hash(&bytes).to_string(), want["file_sha256"].as_str().unwrap());
    assert!(bytes == core_snapshot(), "dumptxoutset differs from Core's snapshot");

    // It reads back to the UTXO set gettxoutsetinfo describes.
    let info = call("gettxoutsetinfo", json!([]));
    let mut r = open_snapshot(&path, Network::Regtest).unwrap();
    assert_eq!(r.metadata().base_blockhash.to_string(), core["tip_hash"].as_str().unwrap());
    let mut coins = 0u64;
    let mut amount = 0u64;
    while let Some((_, coin)) = r.next_coin().unwrap() {
        coins += 1;
        amount += coin.output.value.to_sat();
    }
    assert_eq!(coins, info["txouts"].as_u64().unwrap());
    assert_eq!(amount as f64 / 1e8, info["total_amount"].as_f64().unwrap());
    assert_eq!(
        r.hash_serialized_3().unwrap().to_string(),
        info["hash_serialized_3"].as_str().unwrap()
    );

    // Core's argument checks.
    let (code, msg) = err("dumptxoutset", json!(["utxo.dat", "latest"]));
    assert_eq!(code, -8);
    assert_eq!(
        msg,
        format!(
            "{} already exists. If you are sure this is what you want, move it out of the way first",
            path.display()
        )
    );
    assert_eq!(
        err("dumptxoutset", json!(["other.dat"])),
        (
            -8,
            "Invalid snapshot type \"\" specified. Please specify \"rollback\" or \"latest\"".to_string()
        )
    );
    assert_eq!(
        err("dumptxoutset", json!(["other.dat", "latest", {"rollback": 300}])),
        (-8, "Invalid snapshot type \"latest\" specified with rollback option".to_string())
    );
    assert_eq!(
        err("dumptxoutset", json!(["other.dat", "", {"rollback": 301}])),
        (-8, "Target block height 301 after current tip 300".to_string())
    );
    // Rolling back: type "rollback" alone means Core's highest regtest assumeutxo height (299).
    let rolled = call("dumptxoutset", json!(["rolled299.dat", "rollback"]));
    assert_eq!(rolled["base_height"], json!(299));
    assert_eq!(rolled["base_hash"], core["blocks"][299]["hash"]);
    let ntx300 = core["blocks"][300]["ntx"].as_u64().unwrap();
    assert_eq!(rolled["nchaintx"], json!(want["result"]["nchaintx"].as_u64().unwrap() - ntx300));
    // A rollback equals the set the node has after really disconnecting the blocks above it.
    let rolled150 = call("dumptxoutset", json!(["rolled150.dat", "", {"rollback": 150, "in_memory": true}]));
    assert_eq!(rolled150["base_height"], json!(150));
    call("invalidateblock", json!([core["blocks"][151]["hash"]]));
    assert_eq!(call("getblockcount", json!([])), json!(150));
    let at150 = call("gettxoutsetinfo", json!([]));
    assert_eq!(rolled150["txoutset_hash"], at150["hash_serialized_3"]);
    assert_eq!(rolled150["coins_written"], at150["txouts"]);
    let latest150 = call("dumptxoutset", json!(["latest150.dat", "latest"]));
    assert_eq!(latest150, {
        let mut v = rolled150.clone();
        v["path"] = json!(n.net_dir().join("latest150.dat").display().to_string());
        v
    });
    assert!(std::fs::read(n.net_dir().join("rolled150.dat")).unwrap() == std::fs::read(n.net_dir().join("latest150.dat")).unwrap());
    // A block off the active chain cannot be the base.
    let (code, msg) = err("dumptxoutset", json!(["off.dat", "", {"rollback": core["blocks"][200]["hash"]}]));
    assert_eq!(code, -32603, "{msg}");
    assert!(msg.contains("not on the active chain"), "{msg}");
    assert!(!n.net_dir().join("off.dat").exists() && !n.net_dir().join("off.dat.incomplete").exists());
    call("reconsiderblock", json!([core["blocks"][151]["hash"]]));
    assert_eq!(call("getbestblockhash", json!([])), core["tip_hash"]);
    let after = call("gettxoutsetinfo", json!([]));
    assert_eq!(
        after["hash_serialized_3"], info["hash_serialized_3"],
        "the node's own UTXO set is untouched"
    );
    // A rollback target that is the tip (by hash) is the latest set: the same bytes, at an
    // absolute path.
    let abs = n.net_dir().join("again.dat");
    let got = call(
        "dumptxoutset",
        json!([abs.display().to_string(), "rollback", {"rollback": core["tip_hash"]}]),
    );
    assert_eq!(got["txoutset_hash"], want["result"]["txoutset_hash"]);
    assert!(std::fs::read(&abs).unwrap() == bytes);

    n.stop(std::time::Duration::from_secs(20));
}

#[test]
fn getchainstates_reports_the_validated_chainstate() {
    let port = http::free_port();
    let mut n = node_proc::start_node_with_chain(
        &support::chain_hex_path(),
        &[&format!("-rpcport={port}"), "-listen=0", "-dbcache=50"],
        &[],
    );
    n.wait_started();
    let core = support::core_json();
    let info = rpc(&n, port, "getblockchaininfo", json!([]));
    let got = rpc(&n, port, "getchainstates", json!([]));
    assert_eq!(got["headers"], json!(300));
    let cs = got["chainstates"].as_array().expect("chainstates array");
    assert_eq!(cs.len(), 1);
    let keys: Vec<&str> = cs[0].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "blocks",
            "bestblockhash",
            "bits",
            "target",
            "difficulty",
            "verificationprogress",
            "coins_db_cache_bytes",
            "coins_tip_cache_bytes",
            "validated"
        ]
    );
    for (k, core_key) in [
        ("blocks", "blocks"),
        ("bestblockhash", "bestblockhash"),
        ("bits", "bits"),
        ("target", "target"),
        ("difficulty", "difficulty"),
    ] {
        assert_eq!(cs[0][k], core["getblockchaininfo"][core_key], "{k}");
    }
    // Both estimate progress from the clock, read a moment apart.
    let progress = |v: &Value| v["verificationprogress"].as_f64().unwrap();
    assert!((progress(&cs[0]) - progress(&info)).abs() < 1e-3, "{} vs {}", cs[0], info);
    assert_eq!(cs[0]["coins_tip_cache_bytes"], json!(50 * 1024 * 1024));
    assert_eq!(cs[0]["validated"], json!(true));
    n.stop(std::time::Duration::from_secs(20));
}

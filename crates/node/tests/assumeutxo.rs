//! AssumeUTXO on real `blvm-node` processes over real JSON-RPC: a node that has only the headers
//! of Bitcoin Core's 301-block chain loads Core's snapshot of it
//! (`regtest-core-300.utxo-snapshot.dat`, admitted with `-testassumeutxo`) with `loadtxoutset`,
//! answers at the snapshot's base as Core does (advertising NODE_NETWORK_LIMITED instead of
//! NODE_NETWORK), mines on top of it and reopens the snapshot chainstate after a restart (refusing
//! a base no assumeutxo entry names, as Core); damaged snapshots get Core's errors and leave no
//! `chainstate_snapshot` directory behind.

mod support;

use bitcoin::hashes::Hash;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use support::p2p_peer::{rpc, rpc_error};
use support::{http, mining, node_proc, p2p_peer};

/// Core's snapshot of the shared chain, and the hex of each block (genesis first).
fn shared() -> (Vec<u8>, Vec<String>) {
    let snapshot = std::fs::read(support::shared_dir().join("chains/regtest-core-300.utxo-snapshot.dat")).expect("Core's snapshot");
    let blocks = std::fs::read_to_string(support::chain_hex_path()).expect("chain hex");
    (snapshot, blocks.lines().map(str::to_string).collect())
}

/// `-testassumeutxo` admitting the shared chain's snapshot at height 300, from Core's answers.
fn testassumeutxo_arg(core: &Value) -> String {
    let d = &core["dumptxoutset"]["result"];
    format!(
        "-testassumeutxo=300:{}:{}:{}",
        d["base_hash"].as_str().unwrap(),
        d["txoutset_hash"].as_str().unwrap(),
        d["nchaintx"]
    )
}

/// Writes `bytes` to `name` in `dir`, returning the path as loadtxoutset takes it.
fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

/// The gettxoutsetinfo fields Core's answer and ours share (disk_size is the database's).
fn utxo_fields(v: &Value) -> Value {
    json!([
        v["height"],
        v["bestblock"],
        v["txouts"],
        v["bogosize"],
        v["hash_serialized_3"],
        v["total_amount"],
        v["transactions"]
    ])
}

/// A node B in a fresh datadir admitting the shared chain's snapshot, its RPC port and args
/// (for restarts), and the snapshot written to a file of its own.
struct Setup {
    dir: tempfile::TempDir,
    files: tempfile::TempDir,
    port: u16,
    args: Vec<String>,
    good: String,
}

impl Setup {
    fn new(core: &Value, snapshot: &[u8]) -> (Setup, node_proc::NodeProc) {
        Setup::with_args(core, snapshot, &[])
    }

    /// As `new`, with `extra` arguments for the node.
    fn with_args(core: &Value, snapshot: &[u8], extra: &[&str]) -> (Setup, node_proc::NodeProc) {
        let dir = tempfile::tempdir().unwrap();
        let port = http::free_port();
        let mut args = vec![format!("-rpcport={port}"), testassumeutxo_arg(core)];
        // Not listening unless the test binds a P2P port.
        if !extra.iter().any(|a| a.starts_with("-bind=")) {
            args.push("-listen=0".to_string());
        }
        args.extend(extra.iter().map(|a| a.to_string()));
        let files = tempfile::tempdir().unwrap();
        let good = write(files.path(), "utxo.dat", snapshot);
        let s = Setup {
            dir,
            files,
            port,
            args,
            good,
        };
        let n = s.start();
        (s, n)
    }

    /// Starts (or restarts) the node in its datadir.
    fn start(&self) -> node_proc::NodeProc {
        let argv: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let n = node_proc::start_node_in(self.dir.path(), &argv, &[]);
        n.wait_started();
        n
    }
}

#[test]
fn loadtxoutset_makes_the_snapshot_chainstate_current_and_refuses_damaged_snapshots() {
    let (snapshot, blocks) = shared();
    let core = support::core_json();
    let (setup, mut n) = Setup::new(&core, &snapshot);
    let (port, files, good) = (setup.port, &setup.files, setup.good.clone());
    let call = |n: &node_proc::NodeProc, m: &str, p: Value| rpc(n, port, m, p);
    let base = core["tip_hash"].as_str().unwrap();
    let snapshot_dir = n.net_dir().join("chainstate_snapshot");
    let load_err = |n: &node_proc::NodeProc, path: &str| rpc_error(n, port, "loadtxoutset", json!([path]));
    let refused = |reason: &str, path: &str| (-32603, format!("Unable to load UTXO snapshot: {reason}. ({path})"));

    // Before the headers: Core's refusal, then the file errors of Core's RPC.
    assert_eq!(
        load_err(&n, &good),
        refused(
            &format!("The base block header ({base}) must appear in the headers chain. Make sure all headers are syncing, and call loadtxoutset again"),
            &good
        )
    );
    let missing = files.path().join("none.dat").display().to_string();
    assert_eq!(load_err(&n, &missing), (-8, format!("Couldn't open file {missing} for reading.")));
    let mut bad_magic = snapshot.clone();
    bad_magic[0] ^= 0xff;
    let p = write(files.path(), "magic.dat", &bad_magic);
    assert_eq!(load_err(&n, &p), (-22, "Unable to parse metadata: Invalid UTXO set snapshot magic bytes. Please check if this is indeed a snapshot file or if you are using an outdated snapshot format.".to_string()));

    let services = |n: &node_proc::NodeProc| call(n, "getnetworkinfo", json!([]))["localservicesnames"].clone();
    assert!(services(&n).as_array().unwrap().contains(&json!("NETWORK")), "{}", services(&n));
    for hex in &blocks[1..] {
        assert_eq!(call(&n, "submitheader", json!([&hex[..160]])), Value::Null);
    }
    assert_eq!(call(&n, "getblockcount", json!([])), json!(0));

    // A base block with no assumeutxo entry (the block below the base).
    let mut wrong_base = snapshot.clone();
    let header_bytes = <Vec<u8> as bitcoin::hex::FromHex>::from_hex(&blocks[299][..160]).unwrap();
    let prev = bitcoin::consensus::deserialize::<bitcoin::block::Header>(&header_bytes)
        .unwrap()
        .block_hash();
    wrong_base[11..43].copy_from_slice(&bitcoin::hashes::Hash::to_byte_array(prev));
    let p = write(files.path(), "base.dat", &wrong_base);
    assert_eq!(
        load_err(&n, &p),
        refused(&format!("assumeutxo block hash in snapshot metadata not recognized (hash: {prev}). The following snapshot heights are available: 110, 200, 299, 300"), &p)
    );
    // Parsable coins with another hash: a changed vout of the first coin.
    let mut other_coins = snapshot.clone();
    other_coins[51 + 33] = 0x01;
    let p = write(files.path(), "hash.dat", &other_coins);
    let (code, msg) = load_err(&n, &p);
    assert_eq!(code, -32603);
    let expected = core["dumptxoutset"]["result"]["txoutset_hash"].as_str().unwrap();
    assert!(
        msg.starts_with(&format!(
            "Unable to load UTXO snapshot: Population failed: Bad snapshot content hash: expected {expected}, got "
        )),
        "{msg}"
    );
    assert!(!snapshot_dir.exists(), "a refused snapshot leaves no chainstate_snapshot behind");
    // Truncated: the last coin cut short.
    let p = write(files.path(), "short.dat", &snapshot[..snapshot.len() - 3]);
    let (code, msg) = load_err(&n, &p);
    assert_eq!(code, -32603);
    assert!(
        msg.starts_with("Unable to load UTXO snapshot: Population failed: Bad snapshot format or truncated snapshot after deserializing "),
        "{msg}"
    );
    assert!(!snapshot_dir.exists());
    assert_eq!(call(&n, "getblockcount", json!([])), json!(0));

    // Core's snapshot loads: the node answers at the base as Core does.
    let got = call(&n, "loadtxoutset", json!([good]));
    assert_eq!(
        got,
        json!({"coins_loaded": 1708, "tip_hash": base, "base_height": 300, "path": good})
    );
    assert!(snapshot_dir.is_dir());
    let check_at_base = |n: &node_proc::NodeProc| {
        assert_eq!(call(n, "getblockcount", json!([])), json!(300));
        assert_eq!(call(n, "getbestblockhash", json!([])), json!(base));
        let info = call(n, "gettxoutsetinfo", json!([]));
        assert_eq!(utxo_fields(&info), utxo_fields(&core["gettxoutsetinfo"]["hash_serialized_3"]));
        let states = call(n, "getchainstates", json!([]));
        assert_eq!(states["headers"], json!(300));
        let list = states["chainstates"].as_array().unwrap();
        assert_eq!(list.len(), 2, "{states}");
        assert_eq!((list[0]["blocks"].clone(), list[0]["validated"].clone()), (json!(0), json!(true)));
        assert!(list[0].get("snapshot_blockhash").is_none());
        assert_eq!(
            (
                list[1]["blocks"].clone(),
                list[1]["snapshot_blockhash"].clone(),
                list[1]["validated"].clone()
            ),
            (json!(300), json!(base), json!(false))
        );
        assert_eq!(
            call(n, "getchaintxstats", json!([1]))["txcount"],
            core["getchaintxstats"]["txcount"]
        );
        // Core's report of the background validation: nothing validated yet below the base.
        let bv = &call(n, "getblockchaininfo", json!([]))["backgroundvalidation"];
        assert_eq!(
            (bv["snapshotheight"].clone(), bv["blocks"].clone(), bv["bestblockhash"].clone()),
            (json!(300), json!(0), list[0]["bestblockhash"].clone()),
            "{bv}"
        );
        assert!(bv["verificationprogress"].as_f64().unwrap() < 0.01, "{bv}");
    };
    check_at_base(&n);
    assert_eq!(
        load_err(&n, &good),
        refused("Can't activate a snapshot-based chainstate more than once", &good)
    );

    // A restart reopens the snapshot chainstate.
    n.stop(Duration::from_secs(30));
    let mut n = setup.start();
    check_at_base(&n);

    // Mined blocks connect on top of the snapshot chainstate and survive another restart.
    let addr = bitcoin::Address::from_script(&mining::p2wsh_op_true(), bitcoin::Network::Regtest)
        .unwrap()
        .to_string();
    let mined = call(&n, "generatetoaddress", json!([2, addr]));
    assert_eq!(mined.as_array().unwrap().len(), 2);
    assert_eq!(call(&n, "getblockcount", json!([])), json!(302));
    let info = call(&n, "gettxoutsetinfo", json!([]));
    n.stop(Duration::from_secs(30));
    let n = setup.start();
    assert_eq!(call(&n, "getblockcount", json!([])), json!(302));
    assert_eq!(call(&n, "gettxoutsetinfo", json!([])), info);
    assert_eq!(call(&n, "getchainstates", json!([]))["chainstates"][0]["blocks"], json!(0));

    // Core's layout: the base block hash in chainstate_snapshot/base_blockhash. One that no
    // assumeutxo entry names stops startup with Core's fatal error (feature_assumeutxo.py).
    let base_file = snapshot_dir.join("base_blockhash");
    let base_hash: bitcoin::BlockHash = base.parse().unwrap();
    assert_eq!(std::fs::read(&base_file).unwrap(), base_hash.to_byte_array());
    let mut n = n;
    n.stop(Duration::from_secs(30));
    std::fs::write(&base_file, [b'z'; 32]).unwrap();
    let out = std::process::Command::new(support::node_bin())
        .arg("-regtest")
        .arg(format!("-datadir={}", setup.dir.path().display()))
        .args(&setup.args)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let fatal = format!(
        "Error: A fatal internal error occurred, see debug.log for details: Assumeutxo data not found for the given blockhash '{}'.",
        "7a".repeat(32)
    );
    assert!(stderr.contains(&fatal), "{stderr}");
}

#[test]
fn testassumeutxo_is_regtest_only() {
    let core = support::core_json();
    let out = std::process::Command::new(support::node_bin())
        .args(["-testnet4", "-datadir=/nonexistent-blvm", &testassumeutxo_arg(&core)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("-testassumeutxo is only for regression testing (-regtest)"), "{text}");
}

#[test]
fn blocks_below_the_base_validate_the_snapshot_and_retire_the_historical_chainstate() {
    let (snapshot, blocks) = shared();
    let core = support::core_json();
    let (setup, mut n) = Setup::new(&core, &snapshot);
    let (port, good) = (setup.port, setup.good.clone());
    let call = |n: &node_proc::NodeProc, m: &str, p: Value| rpc(n, port, m, p);
    for hex in &blocks[1..] {
        call(&n, "submitheader", json!([&hex[..160]]));
    }
    call(&n, "loadtxoutset", json!([good]));
    // Core's transaction counts: unknown below the base (no txcount, no window count, nTx 0),
    // the snapshot's count at the base, whose own nTx is 0 until its block arrives.
    let stats = |n: &node_proc::NodeProc, h: usize| {
        let hash = call(n, "getblockhash", json!([h]));
        let s = call(n, "getchaintxstats", json!([1, hash]));
        let n_tx = call(n, "getblockheader", json!([hash]))["nTx"].clone();
        (s["txcount"].clone(), s["window_tx_count"].clone(), n_tx)
    };
    assert_eq!(stats(&n, 150), (Value::Null, Value::Null, json!(0)));
    // Transactions in the chain up to each height, from the blocks themselves.
    let chain_tx: Vec<usize> = blocks
        .iter()
        .scan(0, |total, hex| {
            let bytes = <Vec<u8> as bitcoin::hex::FromHex>::from_hex(hex).unwrap();
            *total += bitcoin::consensus::deserialize::<bitcoin::Block>(&bytes).unwrap().txdata.len();
            Some(*total)
        })
        .collect();
    let snapshot_tx = core["dumptxoutset"]["result"]["nchaintx"].clone();
    assert_eq!(snapshot_tx, json!(chain_tx[300]));
    assert_eq!(stats(&n, 300), (snapshot_tx.clone(), Value::Null, json!(0)));
    // The blocks below the base connect to the historical chainstate only: the node stays at
    // the base while they do.
    for (h, hex) in blocks.iter().enumerate().skip(1).take(299) {
        if h == 150 {
            // A restart halfway keeps both chainstates where they were.
            n.stop(Duration::from_secs(30));
            n = setup.start();
            let states = call(&n, "getchainstates", json!([]));
            assert_eq!(states["chainstates"][0]["blocks"], json!(149), "{states}");
            assert_eq!(states["chainstates"][1]["blocks"], json!(300), "{states}");
            // Counts known up to the last block here, as before the restart.
            assert_eq!(stats(&n, 149).0, json!(chain_tx[149]));
            assert_eq!(stats(&n, 150).0, Value::Null);
        }
        call(&n, "submitblock", json!([hex]));
        let states = call(&n, "getchainstates", json!([]));
        assert_eq!(states["chainstates"][0]["blocks"], json!(h), "{states}");
        assert_eq!(call(&n, "getblockcount", json!([])), json!(300));
    }
    // The base block completes background validation: one chainstate, validated, and NODE_NETWORK
    // advertised again.
    call(&n, "submitblock", json!([blocks[300]]));
    let one_validated = |n: &node_proc::NodeProc| {
        let states = call(n, "getchainstates", json!([]));
        let list = states["chainstates"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{states}");
        assert_eq!((list[0]["blocks"].clone(), list[0]["validated"].clone()), (json!(300), json!(true)));
        let info = call(n, "gettxoutsetinfo", json!([]));
        assert_eq!(utxo_fields(&info), utxo_fields(&core["gettxoutsetinfo"]["hash_serialized_3"]));
    };
    one_validated(&n);
    assert!(n.log().contains("has been fully validated"));
    // Every count known now; the base keeps the snapshot's, which the blocks confirm.
    let (txcount, window, n_tx) = stats(&n, 150);
    assert_eq!((txcount, window), (json!(chain_tx[150]), n_tx));
    let (txcount, window, n_tx) = stats(&n, 300);
    assert_eq!((txcount, window), (snapshot_tx, n_tx));
    let names = call(&n, "getnetworkinfo", json!([]))["localservicesnames"].clone();
    assert!(names.as_array().unwrap().contains(&json!("NETWORK")), "{names}");
    // A restart keeps it, and the node serves all blocks again. As Core's
    // ValidatedSnapshotCleanup, the snapshot's coins become the main chainstate's and
    // chainstate_snapshot/ is gone.
    let snapshot_dir = n.net_dir().join("chainstate_snapshot");
    assert!(snapshot_dir.is_dir());
    n.stop(Duration::from_secs(30));
    n = setup.start();
    assert!(n.log().contains("cleaning up unneeded background chainstate"));
    assert!(!snapshot_dir.exists());
    one_validated(&n);
    let names = call(&n, "getnetworkinfo", json!([]))["localservicesnames"].clone();
    assert!(names.as_array().unwrap().contains(&json!("NETWORK")), "{names}");
    // The merged chainstate is an ordinary one: blocks connect on it and survive a restart.
    let addr = bitcoin::Address::from_script(&mining::p2wsh_op_true(), bitcoin::Network::Regtest)
        .unwrap()
        .to_string();
    call(&n, "generatetoaddress", json!([1, addr]));
    let info = call(&n, "gettxoutsetinfo", json!([]));
    assert_eq!(info["height"], json!(301));
    n.stop(Duration::from_secs(30));
    n = setup.start();
    assert_eq!(call(&n, "gettxoutsetinfo", json!([])), info);
    let states = call(&n, "getchainstates", json!([]));
    assert_eq!(states["chainstates"].as_array().unwrap().len(), 1, "{states}");
}

#[test]
fn indexes_follow_the_validated_chainstate_and_catch_up_after_background_validation() {
    let (snapshot, blocks) = shared();
    let core = support::core_json();
    let (setup, mut n) = Setup::with_args(&core, &snapshot, &["-txindex", "-blockfilterindex", "-coinstatsindex"]);
    let (port, good) = (setup.port, setup.good.clone());
    let call = |n: &node_proc::NodeProc, m: &str, p: Value| rpc(n, port, m, p);
    let heights = |n: &node_proc::NodeProc| {
        let info = call(n, "getindexinfo", json!([]));
        ["txindex", "basic block filter index", "coinstatsindex"].map(|i| info[i]["best_block_height"].clone())
    };
    for hex in &blocks[1..] {
        call(&n, "submitheader", json!([&hex[..160]]));
    }
    call(&n, "loadtxoutset", json!([good]));
    // Blocks mined on the snapshot chainstate are not indexed: the indexes follow the
    // historical chainstate, as Core's.
    let addr = bitcoin::Address::from_script(&mining::p2wsh_op_true(), bitcoin::Network::Regtest)
        .unwrap()
        .to_string();
    let mined = call(&n, "generatetoaddress", json!([2, addr]));
    assert_eq!(heights(&n), [json!(0), json!(0), json!(0)]);
    for (h, hex) in blocks.iter().enumerate().skip(1).take(150) {
        call(&n, "submitblock", json!([hex]));
        assert_eq!(heights(&n), [json!(h), json!(h), json!(h)]);
    }
    // A restart while background validation runs: the indexes stay with the historical tip.
    n.stop(Duration::from_secs(30));
    n = setup.start();
    assert_eq!(heights(&n), [json!(150), json!(150), json!(150)]);
    for hex in &blocks[151..] {
        call(&n, "submitblock", json!([hex]));
    }
    assert_eq!(call(&n, "getchainstates", json!([]))["chainstates"].as_array().unwrap().len(), 1);
    // Validation complete: the indexes caught up with the blocks mined above the base.
    assert_eq!(heights(&n), [json!(302), json!(302), json!(302)]);
    let tip = mined[1].clone();
    let coinbase = call(&n, "getblock", json!([tip]))["tx"][0].clone();
    let tx = call(&n, "getrawtransaction", json!([coinbase, true]));
    assert_eq!(tx["blockhash"], tip);
    let filter = call(&n, "getblockfilter", json!([tip]));
    assert!(!filter["filter"].as_str().unwrap().is_empty(), "{filter}");
    let by_index = call(&n, "gettxoutsetinfo", json!(["muhash", Value::Null, true]));
    let by_set = call(&n, "gettxoutsetinfo", json!(["muhash", Value::Null, false]));
    assert_eq!(
        (by_index["height"].clone(), by_index["muhash"].clone()),
        (json!(302), by_set["muhash"].clone())
    );
    n.stop(Duration::from_secs(30));
    let n = setup.start();
    assert_eq!(heights(&n), [json!(302), json!(302), json!(302)]);
}

#[test]
fn background_validation_downloads_the_blocks_below_the_base_from_a_peer() {
    let (snapshot, blocks) = shared();
    let core = support::core_json();
    // Node A holds Core's chain and serves it over P2P.
    let a_port = http::free_port();
    let a_rpc = format!("-rpcport={a_port}");
    let a = node_proc::start_node_with_chain(&support::chain_hex_path(), &[&a_rpc, "-port=0", "-bind=127.0.0.1"], &[]);
    a.wait_started();
    let a_addr = p2p_peer::p2p_addr(&a);
    assert_eq!(rpc(&a, a_port, "getblockcount", json!([])), json!(300));
    // Node B loads the snapshot at A's tip: nothing is missing above it, only below.
    let (setup, n) = Setup::with_args(&core, &snapshot, &["-debug=net"]);
    let (port, good) = (setup.port, setup.good.clone());
    let call = |n: &node_proc::NodeProc, m: &str, p: Value| rpc(n, port, m, p);
    for hex in &blocks[1..] {
        call(&n, "submitheader", json!([&hex[..160]]));
    }
    call(&n, "loadtxoutset", json!([good]));
    assert_eq!(call(&n, "getchainstates", json!([]))["chainstates"].as_array().unwrap().len(), 2);
    call(&n, "addnode", json!([a_addr.to_string(), "onetry"]));
    // The historical chainstate's blocks come from A, background validation completes, and B
    // advertises NODE_NETWORK again.
    n.wait_until(Duration::from_secs(60), "background validation from a peer", |n| {
        call(n, "getchainstates", json!([]))["chainstates"].as_array().unwrap().len() == 1
    });
    let states = call(&n, "getchainstates", json!([]));
    assert_eq!(
        (
            states["chainstates"][0]["blocks"].clone(),
            states["chainstates"][0]["validated"].clone()
        ),
        (json!(300), json!(true))
    );
    assert!(n.log().contains("has been fully validated"));
    let names = call(&n, "getnetworkinfo", json!([]))["localservicesnames"].clone();
    assert!(names.as_array().unwrap().contains(&json!("NETWORK")), "{names}");
    // Every block below the base is stored now, and counted as Core counts.
    let genesis_child = call(&n, "getblockhash", json!([1]));
    assert_eq!(call(&n, "getblock", json!([genesis_child]))["height"], json!(1));
    let stats = call(&n, "getchaintxstats", json!([1, call(&n, "getblockhash", json!([299]))]));
    assert!(stats["window_tx_count"].as_u64().is_some(), "{stats}");
}

#[test]
fn a_historical_chainstate_on_its_own_branch_moves_to_the_base_chain() {
    let (snapshot, blocks) = shared();
    let core = support::core_json();
    let (setup, n) = Setup::new(&core, &snapshot);
    let (port, good) = (setup.port, setup.good.clone());
    let call = |n: &node_proc::NodeProc, m: &str, p: Value| rpc(n, port, m, p);
    // The node's own chain of 20 blocks, forking from the shared chain at genesis, with less
    // work than the snapshot's base (feature_assumeutxo.py's divergent chain).
    let addr = bitcoin::Address::from_script(&mining::p2wsh_op_true(), bitcoin::Network::Regtest)
        .unwrap()
        .to_string();
    call(&n, "generatetoaddress", json!([20, addr]));
    for hex in &blocks[1..] {
        call(&n, "submitheader", json!([&hex[..160]]));
    }
    call(&n, "loadtxoutset", json!([good]));
    let states = call(&n, "getchainstates", json!([]));
    assert_eq!(states["chainstates"][0]["blocks"], json!(20), "{states}");
    // The base chain's blocks arrive: the historical chainstate leaves its branch, connects
    // them and validates the snapshot.
    for hex in &blocks[1..] {
        call(&n, "submitblock", json!([hex]));
    }
    let states = call(&n, "getchainstates", json!([]));
    let list = states["chainstates"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{states}");
    assert_eq!((list[0]["blocks"].clone(), list[0]["validated"].clone()), (json!(300), json!(true)));
    assert!(n.log().contains("has been fully validated"));
}

#[test]
fn an_ibd_node_asks_no_blocks_of_a_snapshot_node() {
    let (snapshot, blocks) = shared();
    let core = support::core_json();
    let (setup, b) = Setup::with_args(&core, &snapshot, &["-port=0", "-bind=127.0.0.1"]);
    let call = |n: &node_proc::NodeProc, port: u16, m: &str, p: Value| rpc(n, port, m, p);
    for hex in &blocks[1..] {
        call(&b, setup.port, "submitheader", json!([&hex[..160]]));
    }
    call(&b, setup.port, "loadtxoutset", json!([setup.good]));
    let b_addr = p2p_peer::p2p_addr(&b);
    // A fresh node in initial block download learns the headers from the snapshot node, which
    // advertises NODE_NETWORK_LIMITED, and asks it for no block (it lacks those below its base).
    let c_port = http::free_port();
    let c_rpc = format!("-rpcport={c_port}");
    let c = node_proc::start_node(&[&c_rpc, "-listen=0", "-debug=net"], &[]);
    c.wait_started();
    call(&c, c_port, "addnode", json!([b_addr.to_string(), "onetry"]));
    let base = core["tip_hash"].clone();
    c.wait_until(Duration::from_secs(30), "the base header from the snapshot node", |c| {
        call(c, c_port, "getchaintips", json!([]))
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["hash"] == base && t["status"] == json!("headers-only"))
    });
    let peers = call(&c, c_port, "getpeerinfo", json!([]));
    assert!(
        peers[0]["servicesnames"].as_array().unwrap().contains(&json!("NETWORK_LIMITED")),
        "{peers}"
    );
    for _ in 0..6 {
        let peers = call(&c, c_port, "getpeerinfo", json!([]));
        assert_eq!(peers[0]["inflight"], json!([]), "{peers}");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(call(&c, c_port, "getblockcount", json!([])), json!(0));
    assert!(!c.log().contains("requesting blocks"));
}

#[test]
fn an_invalid_snapshot_stops_the_node_and_the_next_start_uses_the_historical_chainstate() {
    let (snapshot, blocks) = shared();
    let core = support::core_json();
    // A snapshot with one coin changed (so a set that is not the chain's), and the content hash
    // the node reports for it: admitted by a -testassumeutxo entry naming that hash, it loads,
    // and only background validation can tell.
    let mut changed = snapshot.clone();
    changed[51 + 33] = 0x01;
    let (probe, n) = Setup::new(&core, &snapshot);
    for hex in &blocks[1..] {
        rpc(&n, probe.port, "submitheader", json!([&hex[..160]]));
    }
    let p = write(probe.files.path(), "changed.dat", &changed);
    let (_, msg) = rpc_error(&n, probe.port, "loadtxoutset", json!([p]));
    let bad_hash = msg.split("got ").nth(1).unwrap()[..64].to_string();
    drop(n);
    let d = &core["dumptxoutset"]["result"];
    let entry = format!(
        "-testassumeutxo=300:{}:{bad_hash}:{}",
        d["base_hash"].as_str().unwrap(),
        d["nchaintx"]
    );
    let (setup, n) = Setup::with_args(&core, &changed, &[&entry]);
    let call = |n: &node_proc::NodeProc, m: &str, p: Value| rpc(n, setup.port, m, p);
    for hex in &blocks[1..] {
        call(&n, "submitheader", json!([&hex[..160]]));
    }
    assert_eq!(call(&n, "loadtxoutset", json!([setup.good]))["coins_loaded"], json!(1708));
    // The blocks below the base: at the base the hashes differ, Core's error, the node stops.
    let mut n = n;
    for hex in &blocks[1..300] {
        call(&n, "submitblock", json!([hex]));
    }
    // The node may stop before it answers.
    let port = setup.port;
    let cookie = node_proc::cookie(&n);
    let _ = std::panic::catch_unwind(|| http::call(&format!("127.0.0.1:{port}"), &cookie, "submitblock", json!([blocks[300]])));
    n.wait_exit(Duration::from_secs(30));
    let log = n.log();
    assert!(log.contains("blvm failed to validate the -assumeutxo snapshot state."), "{log}");
    assert!(log.contains("resetting the chain height from 300 to 300. On the next restart, the node will resume syncing from 300 without using any snapshot data."));
    assert!(log.contains("[snapshot] deleting snapshot, reverting to validated chain, and stopping node"));
    let net = n.net_dir();
    assert!(!net.join("chainstate_snapshot").exists());
    assert!(net.join("chainstate_snapshot_INVALID").join("base_blockhash").exists());
    // The next start has only the validated chainstate, with the chain's own coins.
    let n = setup.start();
    let states = call(&n, "getchainstates", json!([]));
    let list = states["chainstates"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{states}");
    assert_eq!((list[0]["blocks"].clone(), list[0]["validated"].clone()), (json!(300), json!(true)));
    assert!(list[0].get("snapshot_blockhash").is_none());
    let info = call(&n, "gettxoutsetinfo", json!([]));
    assert_eq!(utxo_fields(&info), utxo_fields(&core["gettxoutsetinfo"]["hash_serialized_3"]));
}

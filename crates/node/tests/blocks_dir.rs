//! Where block files live and how they are stored, on the real binary: `-blocksdir` moves the
//! block and undo files to `<blocksdir>/<network>/blocks` (Core's layout) and the node restarts
//! from there; a second node is kept out of a blocks directory in use with Core's lock error;
//! `-blocksxor` obfuscates the files of a new blocks directory, and an obfuscated datadir (or an
//! older plain one) restarts and serves its blocks over RPC and P2P.

mod support;

use support::{http, node_proc, p2p_peer};

use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use node_proc::NodeProc;
use p2p_peer::{rpc, TestPeer};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

/// Regtest's message start, the first bytes of an unobfuscated block file.
const REGTEST_MAGIC: [u8; 4] = [0xfa, 0xbf, 0xb5, 0xda];

/// Runs the binary to completion (a start expected to fail) and returns its stderr.
fn failed_start(datadir: &Path, args: &[&str]) -> String {
    let mut n = node_proc::start_node_in(datadir, args, &[]);
    let out = n.child.take().unwrap().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr
}

fn stop(n: &mut NodeProc) {
    assert!(n.stop(Duration::from_secs(30)).0.success(), "{}", n.run_log());
}

#[test]
fn blocksdir_holds_the_block_files_and_the_node_restarts_from_it() {
    let datadir = tempfile::tempdir().unwrap();
    let base = tempfile::tempdir().unwrap();
    let blocksdir = base.path().join("blocksdir");
    let arg = format!("-blocksdir={}", blocksdir.display());

    // As Core: the directory must exist.
    let stderr = failed_start(datadir.path(), &[&arg]);
    assert_eq!(
        stderr,
        format!("Error: Specified blocks directory \"{}\" does not exist.\n", blocksdir.display())
    );

    std::fs::create_dir(&blocksdir).unwrap();
    let port = http::free_port();
    let rpcport = format!("-rpcport={port}");
    let mut n = node_proc::start_node_in(datadir.path(), &[&rpcport, "-listen=0", &arg], &[]);
    n.wait_started();
    let addr = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
    let mined = rpc(&n, port, "generatetoaddress", json!([10, addr]));
    let tip = mined[9].as_str().unwrap().to_string();
    let tip_hex = rpc(&n, port, "getblock", json!([tip, 0]));
    stop(&mut n);

    let blocks = blocksdir.join("regtest").join("blocks");
    assert!(blocks.join("blk00000.dat").is_file());
    assert!(blocks.join("rev00000.dat").is_file());
    assert!(blocks.join("xor.dat").is_file());
    assert!(!datadir.path().join("regtest/blocks/blk00000.dat").exists());
    assert!(
        datadir.path().join("regtest/chainstate").is_dir(),
        "the chainstate stays in the datadir"
    );

    // Restarted with the same -blocksdir, the node reads its blocks back from there.
    let port = http::free_port();
    let rpcport = format!("-rpcport={port}");
    let mut n = node_proc::start_node_in(datadir.path(), &[&rpcport, "-listen=0", &arg], &[]);
    n.wait_started();
    assert_eq!(rpc(&n, port, "getblockcount", json!([])), json!(10));
    assert_eq!(rpc(&n, port, "getblock", json!([tip, 0])), tip_hex);
    assert_eq!(rpc(&n, port, "verifychain", json!([4, 0])), json!(true));
    stop(&mut n);
}

#[test]
fn a_second_node_is_refused_by_either_lock_with_cores_error() {
    let first_dir = tempfile::tempdir().unwrap();
    let mut first = node_proc::start_node_in(first_dir.path(), &["-listen=0"], &[]);
    first.wait_started();
    let net_dir = first_dir.path().join("regtest");

    // The same datadir: the network directory's lock.
    let stderr = failed_start(first_dir.path(), &["-listen=0", "-noserver"]);
    assert_eq!(
        stderr,
        format!(
            "Error: Cannot obtain a lock on directory {}. blvm-node is probably already running.\n",
            net_dir.display()
        )
    );

    // Another datadir whose -blocksdir resolves to the running node's blocks directory.
    let second_dir = tempfile::tempdir().unwrap();
    let arg = format!("-blocksdir={}", first_dir.path().display());
    let stderr = failed_start(second_dir.path(), &["-listen=0", "-noserver", &arg]);
    assert_eq!(
        stderr,
        format!(
            "Error: Cannot obtain a lock on directory {}. blvm-node is probably already running.\n",
            net_dir.join("blocks").display()
        )
    );
    // The refused node touched nothing of the running one.
    assert!(net_dir.join(".cookie").exists());
    stop(&mut first);
}

/// Starts a listening node on `datadir` with `args`, returning it and its RPC port.
fn start_serving(datadir: &Path, args: &[&str]) -> (NodeProc, u16) {
    let port = http::free_port();
    let rpcport = format!("-rpcport={port}");
    let mut all = vec![rpcport.as_str(), "-port=0", "-bind=127.0.0.1", "-connect=0", "-listen=1"];
    all.extend_from_slice(args);
    let n = node_proc::start_node_in(datadir, &all, &[]);
    n.wait_started();
    (n, port)
}

/// Checks that the node serves the shared chain's blocks by RPC and P2P, and that its undo data
/// reads back (verifychain from level 2 reads and checks it).
fn assert_serves_chain(n: &NodeProc, port: u16) {
    let blocks = support::chain_blocks();
    assert_eq!(rpc(n, port, "getblockcount", json!([])), json!(blocks.len() - 1));
    for h in [0, 1, 150, blocks.len() - 1] {
        let hex = rpc(n, port, "getblock", json!([blocks[h].block_hash().to_string(), 0]));
        assert_eq!(hex, json!(bitcoin::consensus::encode::serialize_hex(&blocks[h])), "block {h}");
    }
    assert_eq!(rpc(n, port, "verifychain", json!([4, 10])), json!(true));
    let mut p = TestPeer::connect_from(p2p_peer::p2p_addr(n), "127.0.0.1").unwrap();
    p.handshake(0);
    let want = &blocks[200];
    p.send(NetworkMessage::GetData(vec![Inventory::WitnessBlock(want.block_hash())]))
        .unwrap();
    let got = p.expect(Duration::from_secs(10), "block 200", |m| match m {
        NetworkMessage::Block(b) => Some(b.clone()),
        _ => None,
    });
    assert_eq!(&got, want);
}

#[test]
fn an_obfuscated_datadir_restarts_and_serves_its_blocks() {
    let dir = tempfile::tempdir().unwrap();
    node_proc::import_offline(dir.path(), &support::chain_hex_path());
    let blocks = dir.path().join("regtest/blocks");
    let key = std::fs::read(blocks.join("xor.dat")).unwrap();
    assert_eq!(key.len(), 8);
    assert_ne!(key, vec![0; 8], "a new blocks directory gets a random key");
    let raw = std::fs::read(blocks.join("blk00000.dat")).unwrap();
    assert_ne!(raw[..4], REGTEST_MAGIC, "block file stored in the clear");
    let plain: Vec<u8> = raw[..4].iter().zip(&key).map(|(b, k)| b ^ k).collect();
    assert_eq!(plain, REGTEST_MAGIC, "XORed with xor.dat from offset 0, as Core");

    let (mut n, port) = start_serving(dir.path(), &[]);
    assert_serves_chain(&n, port);
    stop(&mut n);

    // The key cannot be switched off for files written with it.
    let stderr = failed_start(dir.path(), &["-blocksxor=0"]);
    assert!(
        stderr.contains("The blocksdir XOR-key can not be disabled when a random key was already stored!"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(blocks.join("xor.dat")).unwrap(), key);
}

#[test]
fn a_plain_datadir_keeps_a_zero_key_and_stays_readable() {
    // Written without obfuscation (as before -blocksxor existed), then the key file removed.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_blvm-node"))
        .arg("-regtest")
        .arg(format!("-datadir={}", dir.path().display()))
        .args(["-noprinttoconsole", "-blocksxor=0", "import"])
        .arg(support::chain_hex_path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let blocks = dir.path().join("regtest/blocks");
    std::fs::remove_file(blocks.join("xor.dat")).unwrap();

    // The default (-blocksxor=1) does not obfuscate a directory that already holds blocks.
    let (mut n, port) = start_serving(dir.path(), &[]);
    assert_serves_chain(&n, port);
    stop(&mut n);
    assert_eq!(std::fs::read(blocks.join("xor.dat")).unwrap(), vec![0; 8]);
    assert_eq!(std::fs::read(blocks.join("blk00000.dat")).unwrap()[..4], REGTEST_MAGIC);
}

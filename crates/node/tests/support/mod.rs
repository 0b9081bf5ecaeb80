//! The one test support module of this crate's integration tests: each `tests/<name>.rs` says
//! `mod support;` and `use support::{http, node_proc, ...};` for what it needs. This root locates
//! `../shared` and loads the Core-made chain; the submodules hold the rest (one concept each).
//! Benches include the same module (see `benches/*.rs`). Each test uses a subset, hence
//! `dead_code` is allowed for the whole tree.
#![allow(dead_code)]

/// Spendable coins for tests driving a node process over RPC.
pub mod coins;
/// What crash tests read back: a datadir's final state, the debug.log, blk-framed files.
pub mod crash;
/// Confirmed fan-out coins and one-output spends for real-node mempool tests.
pub mod fanout;
/// A minimal HTTP/1.1 JSON-RPC client over TCP.
pub mod http;
/// An in-process node with its RPC server, next to the chain engine.
pub mod in_process;
/// Regtest block building (`blvm_testkit::mining` plus the chain engine).
pub mod mining;
/// The module protocol's framing, spoken by hand.
pub mod module_wire;
/// A real `blvm-node` process in a temp datadir, with module processes.
pub mod node_proc;
/// A scripted P2P peer over TCP, and a node's P2P address and RPC.
pub mod p2p_peer;
/// A node listening for P2P test peers, with RPC.
pub mod p2p_target;
/// Python modules on the repository's SDK.
pub mod python;
/// A node process reached over RPC only.
pub mod rpc_node;
/// Core's script/transaction test harness pieces for Core's vector files.
pub mod vectors;

use bitcoin::consensus::deserialize;
use bitcoin::hex::FromHex;
use bitcoin::Block;
use blvm_node::chain::{ChainManager, ChainSettings};
use blvm_node::params::ChainParams;
use std::path::{Path, PathBuf};

/// Where the shared data is (`$BLVM_SHARED_DIR` or `../shared`), checked to hold Core's chain;
/// and that chain's hex file.
pub use blvm_testkit::shared::{chain_hex_path, expect_shared_dir as shared_dir};

/// Core's answers about that chain.
pub fn core_json() -> serde_json::Value {
    read_json(&shared_dir().join("chains/regtest-core-300.json"))
}

/// A JSON file, parsed; panics naming the file when it is missing or not JSON.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

/// All 301 blocks (genesis first).
pub fn chain_blocks() -> Vec<Block> {
    std::fs::read_to_string(chain_hex_path())
        .expect("read chain")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| deserialize(&Vec::<u8>::from_hex(l.trim()).expect("hex")).expect("block"))
        .collect()
}

/// Settings for tests: small cache, two script threads.
pub fn test_settings() -> ChainSettings {
    ChainSettings {
        dbcache_bytes: 8 << 20,
        script_threads: 2,
        ..Default::default()
    }
}

/// Opens a regtest chain in `dir`.
pub fn open_regtest(dir: &Path) -> ChainManager {
    ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), dir, test_settings()).expect("open chain")
}

/// Path of a built binary of this package.
pub fn node_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_blvm-node"))
}

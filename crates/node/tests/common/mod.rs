//! Shared helpers for integration tests: locating `../shared` and loading the Core-made chain.
#![allow(dead_code)]

use bitcoin::consensus::deserialize;
use bitcoin::hex::FromHex;
use bitcoin::Block;
use blvm_node::chain::{ChainManager, ChainSettings};
use blvm_node::params::ChainParams;
use std::path::{Path, PathBuf};

/// The shared data directory: `$BLVM_SHARED_DIR` or `../shared` from the repository root.
/// Panics loudly when missing: CI must never silently skip these tests.
pub fn shared_dir() -> PathBuf {
    let dir = match std::env::var_os("BLVM_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    assert!(
        dir.join("chains/regtest-core-300.hex").exists(),
        "shared test data not found at {} (set BLVM_SHARED_DIR)",
        dir.display()
    );
    dir
}

/// Path of the 301-block Core regtest chain (hex lines).
pub fn chain_hex_path() -> PathBuf {
    shared_dir().join("chains/regtest-core-300.hex")
}

/// Core's answers about that chain.
pub fn core_json() -> serde_json::Value {
    let text = std::fs::read_to_string(shared_dir().join("chains/regtest-core-300.json")).expect("read core json");
    serde_json::from_str(&text).expect("parse core json")
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

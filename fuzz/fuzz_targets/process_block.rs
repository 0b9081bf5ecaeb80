//! The chain engine's entry point: `ChainManager::process_block` on a regtest chain (opened once
//! per process in a temporary directory). Regtest proof of work passes for about half of all
//! headers, so fuzzed blocks get deep into validation; a valid one extends the chain.
#![no_main]

use bitcoin::consensus::deserialize;
use bitcoin::Block;
use blvm_node::chain::{ChainManager, ChainSettings};
use blvm_node::params::ChainParams;
use libfuzzer_sys::fuzz_target;
use std::sync::{Mutex, OnceLock};

struct Chain {
    chain: ChainManager,
    _dir: tempfile::TempDir,
}

fn chain() -> &'static Mutex<Chain> {
    static C: OnceLock<Mutex<Chain>> = OnceLock::new();
    C.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = ChainSettings {
            dbcache_bytes: 8 << 20,
            script_threads: 1,
            ..Default::default()
        };
        let chain = ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), dir.path(), settings).expect("open chain");
        Mutex::new(Chain { chain, _dir: dir })
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut block) = deserialize::<Block>(data) else { return };
    let mut c = chain().lock().unwrap_or_else(|e| e.into_inner());
    // Point most blocks at the current tip so they reach contextual and UTXO checks.
    if data.first().map(|b| b & 3 != 0).unwrap_or(false) {
        block.header.prev_blockhash = c.chain.tip().hash;
    }
    let tip_before = c.chain.tip().hash;
    match c.chain.process_block(&block) {
        Ok(blvm_node::chain::BlockOutcome::Invalid(_)) => assert_eq!(c.chain.tip().hash, tip_before, "an invalid block moved the tip"),
        Ok(_) => {}
        Err(e) => panic!("engine error on a fuzzed block: {e}"),
    }
});

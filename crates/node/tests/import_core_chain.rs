//! Acceptance: importing Core's 301-block regtest chain ends at Core's tip, chainwork and UTXO set.

mod support;

use blvm_node::import::import_file;
use std::time::Duration;

fn btc_to_sat(v: &serde_json::Value) -> u64 {
    // Core prints amounts with at most 8 decimals; round to avoid float error.
    (v.as_f64().expect("amount") * 1e8).round() as u64
}

#[test]
fn import_matches_core_tip_chainwork_and_utxo_set() {
    let dir = tempfile::tempdir().unwrap();
    let core = support::core_json();
    let mut chain = support::open_regtest(dir.path());
    let summary = import_file(&mut chain, &support::chain_hex_path(), Duration::from_secs(60)).expect("import");
    assert_eq!(summary.accepted, 300);
    // Nobody consumes an import's chain events: they are dropped per block, not kept (one per
    // block would grow without bound over a long import).
    assert!(chain.take_notifications().is_empty());
    assert!(chain.take_flush_reports().is_empty());

    let info = &core["getblockchaininfo"];
    assert_eq!(chain.height() as u64, info["blocks"].as_u64().unwrap());
    assert_eq!(chain.tip().hash.to_string(), info["bestblockhash"].as_str().unwrap());
    let work_hex: String = chain.tip().chainwork.to_be_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(work_hex, info["chainwork"].as_str().unwrap());
    assert_eq!(chain.median_time_past(&chain.tip().hash), info["mediantime"].as_i64().unwrap());

    for (height, expected) in core["blocks"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            chain.hash_at(height as u32).unwrap().to_string(),
            expected["hash"].as_str().unwrap(),
            "hash at {height}"
        );
    }

    let stats = chain.utxo_stats().expect("stats");
    let core_stats = &core["gettxoutsetinfo"]["hash_serialized_3"];
    assert_eq!(stats.txouts, core_stats["txouts"].as_u64().unwrap());
    assert_eq!(stats.transactions, core_stats["transactions"].as_u64().unwrap());
    assert_eq!(stats.bogosize, core_stats["bogosize"].as_u64().unwrap());
    assert_eq!(stats.total_amount_sat, btc_to_sat(&core_stats["total_amount"]));
    assert_eq!(stats.hash_serialized_3, core_stats["hash_serialized_3"].as_str().unwrap());
}

#[test]
fn reopen_after_import_keeps_tip_and_utxo_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (tip, hash) = {
        let mut chain = support::open_regtest(dir.path());
        import_file(&mut chain, &support::chain_hex_path(), Duration::from_secs(60)).expect("import");
        let s = chain.utxo_stats().unwrap();
        (chain.tip().hash, s.hash_serialized_3)
    };
    let mut chain = support::open_regtest(dir.path());
    assert_eq!(chain.tip().hash, tip);
    assert_eq!(chain.utxo_stats().unwrap().hash_serialized_3, hash);
    // Importing again is idempotent: every block is a duplicate.
    let again = import_file(&mut chain, &support::chain_hex_path(), Duration::from_secs(60)).expect("reimport");
    assert_eq!(again.accepted, 0);
    assert_eq!(again.duplicates, 300);
}

//! Startup verification (Core's VerifyDB: `-checkblocks`, `-checklevel`) and `verifychain`, on
//! the real binary over the shared 301-block Core chain: an intact datadir starts and says what
//! it checked; undo data deleted behind the node's back stops startup with Core's "Corrupted
//! block database detected" (a reorg would otherwise find it and abort mid-way); a level that
//! does not read undo data starts, and `verifychain` then tells the levels apart.

mod common;
#[path = "support/http.rs"]
mod http;
#[path = "support/node_proc.rs"]
mod node_proc;
#[path = "support/p2p_peer.rs"]
mod p2p_peer;

use p2p_peer::rpc;
use serde_json::json;
use std::time::Duration;

#[test]
fn missing_undo_data_stops_startup_unless_the_level_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    node_proc::import_offline(dir.path(), &common::chain_hex_path());
    let net_dir = dir.path().join("regtest");

    // Intact: starts, having checked the last 6 blocks and all their transactions.
    let txs: usize = common::chain_blocks().iter().rev().take(6).map(|b| b.txdata.len()).sum();
    let port = http::free_port();
    let mut n = node_proc::start_node_in(dir.path(), &[&format!("-rpcport={port}"), "-listen=0"], &[]);
    n.wait_started();
    let log = n.run_log();
    assert!(log.contains("Verifying last 6 blocks at level 3"), "{log}");
    assert!(
        log.contains(&format!(
            "Verification: No coin database inconsistencies in last 6 blocks ({txs} transactions)"
        )),
        "{log}"
    );
    assert_eq!(rpc(&n, port, "verifychain", json!([])), json!(true));
    assert!(n.stop(Duration::from_secs(30)).0.success());

    // The undo file goes missing: the default level reads undo data, so startup refuses.
    std::fs::remove_file(net_dir.join("blocks/rev00000.dat")).unwrap();
    let mut n = node_proc::start_node_in(dir.path(), &["-listen=0"], &[]);
    let out = n.child.take().unwrap().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("Error: Corrupted block database detected: "), "{stderr}");
    assert!(stderr.contains("rev00000.dat"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one error line, no backtrace: {stderr}");

    // Level 1 reads and checks the blocks only: the node starts; verifychain reports the damage
    // at level 2 and none at levels 0 and 1 (0 blocks = the whole chain).
    let port = http::free_port();
    let mut n = node_proc::start_node_in(dir.path(), &[&format!("-rpcport={port}"), "-listen=0", "-checklevel=1"], &[]);
    n.wait_started();
    assert!(n.run_log().contains("Verifying last 6 blocks at level 1"));
    assert_eq!(rpc(&n, port, "verifychain", json!([2, 6])), json!(false));
    assert_eq!(rpc(&n, port, "verifychain", json!([1, 6])), json!(true));
    assert_eq!(rpc(&n, port, "verifychain", json!([0, 0])), json!(true));
    assert!(n.stop(Duration::from_secs(30)).0.success());
}

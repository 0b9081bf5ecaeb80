//! Startup verification (Core's VerifyDB: `-checkblocks`, `-checklevel`) and `verifychain`, on
//! the real binary over the shared 301-block Core chain: an intact datadir starts and says what
//! it checked; undo data deleted behind the node's back stops startup with Core's "Corrupted
//! block database detected" (a reorg would otherwise find it and abort mid-way); a level that
//! does not read undo data starts, and `verifychain` then tells the levels apart.

mod support;

use support::{http, node_proc, p2p_peer};

use p2p_peer::rpc;
use serde_json::json;
use std::time::Duration;

#[test]
fn missing_undo_data_stops_startup_unless_the_level_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    node_proc::import_offline(dir.path(), &support::chain_hex_path());
    let net_dir = dir.path().join("regtest");

    // Intact: starts, having checked the last 6 blocks and all their transactions.
    let txs: usize = support::chain_blocks().iter().rev().take(6).map(|b| b.txdata.len()).sum();
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

#[test]
fn a_tip_from_the_future_stops_startup_and_progress_follows_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    node_proc::import_offline(dir.path(), &support::chain_hex_path());
    let blocks = support::chain_blocks();
    let tip_time = i64::from(blocks.last().unwrap().header.time);
    let total_txs: usize = blocks.iter().map(|b| b.txdata.len()).sum();

    // A clock more than two hours behind the tip: Core's refusal, one line on stderr.
    let mut n = node_proc::start_node_in(dir.path(), &["-listen=0", &format!("-mocktime={}", tip_time - 7201)], &[]);
    let out = n.child.take().unwrap().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // Core's question (rebuild?), printed without the "Error: " caption as bitcoind does.
    assert!(
        stderr.starts_with("The block database contains a block which appears to be from the future."),
        "{stderr}"
    );
    assert!(
        stderr
            .trim_end()
            .ends_with("correct.\nPlease restart with -reindex or -reindex-chainstate to recover."),
        "{stderr}"
    );

    // Exactly two hours is fine; the tip is then recent, so progress is exactly 1.
    let port = http::free_port();
    let args = [
        format!("-rpcport={port}"),
        "-listen=0".into(),
        format!("-mocktime={}", tip_time - 7200),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut n = node_proc::start_node_in(dir.path(), &args, &[]);
    n.wait_started();
    let progress = |n: &node_proc::NodeProc| {
        rpc(n, port, "getblockchaininfo", json!([]))["verificationprogress"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(progress(&n), 1.0);
    // More than two hours after the tip, the estimate counts the time since (regtest's rate).
    rpc(&n, port, "setmocktime", json!([tip_time + 7201]));
    let p = progress(&n);
    assert!(p < 1.0 && p > 0.9, "{p}");
    rpc(&n, port, "setmocktime", json!([tip_time + 7200]));
    assert_eq!(progress(&n), 1.0);
    // The running transaction totals behind it are the chain's.
    assert_eq!(rpc(&n, port, "getchaintxstats", json!([]))["txcount"], json!(total_txs));
    assert!(n.stop(Duration::from_secs(30)).0.success());
}

//! Automatic maintenance with its real triggers, on a real node process with a real module
//! (event-recorder) subscribed: pruning as blocks connect (`-prune` target kept, the files the
//! events report are exactly the files gone from disk), scheduled backups (`-backupinterval`,
//! `-backupkeep`) and compaction after database growth (`-compactgrowth`).

mod support;

use support::p2p_peer::rpc_raw;
use support::{http, node_proc};

use node_proc::{start_node, start_node_in, ModuleSpec, NodeProc};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The first `n` blocks of the bench chain (blk framing) written to `dir`.
fn bench_prefix(dir: &Path, n: usize) -> PathBuf {
    let data = std::fs::read(support::shared_dir().join("bench/bench-chain.blk")).expect("read bench chain");
    let mut pos = 0usize;
    for _ in 0..n {
        let len = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().unwrap()) as usize;
        pos += 8 + len;
    }
    let path = dir.join(format!("bench-{n}.blk"));
    std::fs::write(&path, &data[..pos]).unwrap();
    path
}

/// Block and undo files in the blocks directory: name -> size.
fn block_files(n: &NodeProc) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = std::fs::read_dir(n.net_dir().join("blocks"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    let is_data = (name.starts_with("blk") || name.starts_with("rev")) && name.ends_with(".dat");
                    Some((name, e.metadata().ok()?.len())).filter(|_| is_data)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Recorded (MaintenanceStarted payload, MaintenanceCompleted payload) pairs of one type, in order.
fn maintenance_pairs(n: &NodeProc, module: &str, kind: &str) -> Vec<(Value, Value)> {
    let mut pairs = Vec::new();
    let mut open: Option<Value> = None;
    for (t, e) in n.recorded_events(module) {
        let p = &e["payload"];
        if p["maintenance_type"] != kind {
            continue;
        }
        match t.as_str() {
            "MaintenanceStarted" => {
                assert!(open.is_none(), "two MaintenanceStarted({kind}) without a Completed between");
                open = Some(p.clone());
            }
            "MaintenanceCompleted" => {
                let s = open.take().expect("MaintenanceCompleted without MaintenanceStarted");
                pairs.push((s, p.clone()));
            }
            _ => {}
        }
    }
    pairs
}

fn results(completed: &Value) -> Value {
    serde_json::from_str(completed["results"].as_str().expect("results string")).expect("results JSON")
}

/// Imports `blocks` of the bench chain with `-loadblock` under an automatic prune target of
/// `target_kib`, sampling the blocks directory while blocks connect; checks the target, the
/// events and the files, and Core's RPC answers for the pruned chain.
fn prune_while_importing(blocks: usize, target_kib: u64, max_block_bytes: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let file = bench_prefix(tmp.path(), blocks);
    let port = http::free_port();
    let target = target_kib << 10;
    let args = [
        "-fastprune".to_string(),
        format!("-prunetargetkib={target_kib}"),
        format!("-loadblock={}", file.display()),
        format!("-rpcport={port}"),
        "-acktimeout=5".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let n = start_node(&args, &[ModuleSpec::recorder("rec", "")]);
    n.wait_started();
    // Sample storage as blocks connect: it may pass the target only by the block just written
    // (checked before the next block), never by more.
    let mut max_seen = 0u64;
    let start = std::time::Instant::now();
    while !n.run_log().contains("loaded blocks") {
        assert!(start.elapsed() < Duration::from_secs(600), "import did not finish\n{}", n.log());
        max_seen = max_seen.max(block_files(&n).iter().map(|f| f.1).sum());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(rpc_raw(&n, port, "getblockcount", json!([]))["result"], blocks as u64);
    let on_disk = block_files(&n);
    let usage: u64 = on_disk.iter().map(|f| f.1).sum();
    assert!(usage < target, "block storage {usage} is not under the target {target}");
    assert!(
        max_seen <= target + 2 * max_block_bytes,
        "block storage reached {max_seen}, more than one block over the target {target}"
    );

    // Every prune is a Started/Completed pair whose results name exactly the files gone.
    n.wait_until(Duration::from_secs(10), "last prune recorded", |n| {
        n.recorded_events("rec")
            .iter()
            .filter(|(t, _)| t.starts_with("Maintenance"))
            .count()
            % 2
            == 0
    });
    let pairs = maintenance_pairs(&n, "rec", "prune");
    assert!(pairs.len() >= 2, "expected several automatic prunes, got {}", pairs.len());
    let mut deleted = BTreeSet::new();
    let mut freed = 0;
    for (i, (started, completed)) in pairs.iter().enumerate() {
        assert_eq!(completed["success"], true, "{completed}");
        let r = results(completed);
        assert_eq!(r["automatic"], true);
        let names: Vec<String> = serde_json::from_value(r["deleted_files"].clone()).unwrap();
        assert!(!names.is_empty(), "a prune that deleted nothing: {r}");
        assert_eq!(r["files_deleted"].as_u64().unwrap() as usize * 2, names.len(), "{r}");
        for name in names {
            assert!(deleted.insert(name.clone()), "{name} reported deleted twice");
        }
        freed += r["bytes_freed"].as_u64().unwrap();
        // The first prune has no measurement to estimate from; later ones do.
        if i == 0 {
            assert!(started["estimated_duration_seconds"].is_null(), "{started}");
        } else {
            assert!(started["estimated_duration_seconds"].is_u64(), "{started}");
        }
    }
    let present: BTreeSet<String> = on_disk.iter().map(|f| f.0.clone()).collect();
    let highest: u32 = present
        .iter()
        .filter_map(|f| f.strip_prefix("blk")?.strip_suffix(".dat")?.parse().ok())
        .max()
        .unwrap();
    let gone: BTreeSet<String> = (0..highest)
        .flat_map(|i| [format!("blk{i:05}.dat"), format!("rev{i:05}.dat")])
        .filter(|f| !present.contains(f))
        .collect();
    assert_eq!(deleted, gone, "the events' deleted files are exactly the files missing from disk");
    assert!(freed > 0);

    // Core's answers for a pruned chain.
    let info = rpc_raw(&n, port, "getblockchaininfo", json!([]))["result"].clone();
    assert_eq!(info["pruned"], true);
    assert_eq!(info["automatic_pruning"], true);
    assert_eq!(info["prune_target_size"], target);
    let prune_height = info["pruneheight"].as_u64().unwrap();
    assert!(prune_height > 1 && prune_height <= blocks as u64 - 288, "{info}");
    let old = rpc_raw(&n, port, "getblockhash", json!([prune_height - 1]))["result"].clone();
    let err = rpc_raw(&n, port, "getblock", json!([old]))["error"].clone();
    assert_eq!(err, json!({"code": -1, "message": "Block not available (pruned data)"}));
    let kept = rpc_raw(&n, port, "getblockhash", json!([blocks - 287]))["result"].clone();
    assert!(rpc_raw(&n, port, "getblock", json!([kept]))["error"].is_null());
    let services = rpc_raw(&n, port, "getnetworkinfo", json!([]))["result"]["localservicesnames"].clone();
    assert!(services.as_array().unwrap().contains(&json!("NETWORK_LIMITED")), "{services}");
    assert!(!services.as_array().unwrap().contains(&json!("NETWORK")), "{services}");
}

#[test]
fn automatic_prune_keeps_storage_under_target_and_reports_the_deleted_files() {
    // 600 blocks: 15.6 MB of block and undo files, the last 288 about 9 MB; blocks up to 114 KB.
    prune_while_importing(600, 11 * 1024, 114_340);
}

/// The whole bench chain (1,300 blocks, 41 MB of blocks, blocks up to 1.57 MB; any 288
/// consecutive blocks at most 15.5 MB, so the target leaves room for them and their undo data);
/// opt-in because it takes about a minute on a 2-core machine (docs/testing.md).
#[test]
#[ignore]
fn automatic_prune_over_the_whole_bench_chain() {
    prune_while_importing(1300, 24 * 1024, 1_571_267);
}

#[test]
fn scheduled_backups_keep_the_newest_and_start_a_node() {
    let tmp = tempfile::tempdir().unwrap();
    let backups = tmp.path().join("backups");
    let port = http::free_port();
    let args = [
        "-backupinterval=1".to_string(),
        format!("-backupdir={}", backups.display()),
        "-backupkeep=2".into(),
        format!("-rpcport={port}"),
        "-acktimeout=5".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let chain = tmp.path().join("chain");
    std::fs::create_dir(&chain).unwrap();
    node_proc::import_offline(&chain, &support::chain_hex_path());
    let mut n = start_node_in(&chain, &args, &[ModuleSpec::recorder("rec", "")]);
    n.wait_started();
    n.wait_until(Duration::from_secs(60), "four scheduled backups", |n| {
        maintenance_pairs(n, "rec", "backup").len() >= 4
    });
    n.stop(Duration::from_secs(30));
    let pairs = maintenance_pairs(&n, "rec", "backup");
    let mut dirs = Vec::new();
    for (i, (started, completed)) in pairs.iter().enumerate() {
        assert_eq!(completed["success"], true, "{completed}");
        let r = results(completed);
        assert_eq!(r["height"], 300);
        dirs.push(PathBuf::from(r["destination"].as_str().unwrap()));
        assert_eq!(started["estimated_duration_seconds"].is_null(), i == 0, "{started}");
    }
    let left: Vec<PathBuf> = std::fs::read_dir(&backups).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(left.len(), 2, "-backupkeep=2 keeps two: {left:?}");
    for d in &dirs[..dirs.len() - 2] {
        assert!(!d.parent().unwrap().exists(), "old backup {} still there", d.display());
    }
    // The newest backup is a datadir a node starts from at the same tip.
    let newest = dirs.last().unwrap().parent().unwrap().to_path_buf();
    let port2 = http::free_port();
    let b = start_node_in(&newest, &[&format!("-rpcport={port2}")], &[]);
    b.wait_started();
    let tip = support::core_json()["getblockchaininfo"]["bestblockhash"].clone();
    assert_eq!(rpc_raw(&b, port2, "getbestblockhash", json!([]))["result"], tip);
}

#[test]
fn database_growth_triggers_a_compaction() {
    let port = http::free_port();
    let args = ["-compactgrowth=5".to_string(), format!("-rpcport={port}"), "-acktimeout=5".into()];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let n = start_node(&args, &[ModuleSpec::recorder("rec", "")]);
    n.wait_started();
    // Nothing grew yet: a flush compacts nothing.
    assert!(rpc_raw(&n, port, "flushchainstate", json!([]))["error"].is_null());
    assert!(maintenance_pairs(&n, "rec", "compaction").is_empty());
    // The database grows by the whole 301-block chain; the next flush compacts.
    for line in std::fs::read_to_string(support::chain_hex_path()).unwrap().lines().skip(1) {
        let r = rpc_raw(&n, port, "submitblock", json!([line]));
        assert!(r["error"].is_null() && r["result"].is_null(), "{r}");
    }
    assert!(rpc_raw(&n, port, "flushchainstate", json!([]))["error"].is_null());
    n.wait_until(Duration::from_secs(20), "compaction recorded", |n| {
        !maintenance_pairs(n, "rec", "compaction").is_empty()
    });
    let (started, completed) = maintenance_pairs(&n, "rec", "compaction").remove(0);
    assert_eq!(completed["success"], true, "{completed}");
    assert!(started["estimated_duration_seconds"].is_null(), "first compaction: no basis");
    let r = results(&completed);
    let before = r["db_bytes_before"].as_u64().unwrap();
    let on_disk = std::fs::metadata(n.net_dir().join("chainstate")).map(|_| ()).is_ok();
    assert!(on_disk && before > 0 && r["db_bytes_after"].as_u64().unwrap() <= before, "{r}");
}

//! Maintenance operations and manual triggers through the library API of a running node:
//! backup (usable to start a node), prune (last 288 blocks kept), cleanup, manual flush,
//! manual health, manual data cleanup, and a library ("graceful") shutdown.

mod support;

use support::mining;

use blvm_module::{EventPayload, EventType};
use blvm_node::chain::{ChainManager, ChainSettings, FlushReason};
use blvm_node::import::import_file;
use blvm_node::modules::bus::{Outgoing, Subscriber};
use blvm_node::node::maintenance::Maintenance;
use blvm_node::node::{Node, NodeSettings, ShutdownReason};
use blvm_node::params::ChainParams;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn settings(net_dir: &Path, chain: ChainSettings) -> NodeSettings {
    let mut s = NodeSettings::new(ChainParams::for_network(bitcoin::Network::Regtest), net_dir.to_path_buf());
    s.chain = chain;
    s.lifecycle.ack_timeout = Duration::from_secs(2);
    s.lifecycle.shutdown_timeout = Duration::from_secs(2);
    s
}

fn import_shared_chain(net_dir: &Path, chain: ChainSettings) {
    let mut c = ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), net_dir, chain).unwrap();
    import_file(&mut c, &support::chain_hex_path(), Duration::from_secs(60)).unwrap();
    c.flush(FlushReason::Manual).unwrap();
}

async fn drain(sub: &Subscriber) -> Vec<EventPayload> {
    let mut out = Vec::new();
    while sub.queued() > 0 {
        if let Some(Outgoing::Event(e)) = sub.next().await {
            out.push(e.payload.clone());
        }
    }
    out
}

fn watch(node: &Arc<Node>, types: &[EventType]) -> Arc<Subscriber> {
    let sub = node.bus().register("test-observer");
    node.bus().subscribe(&sub, types, None);
    sub
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_starts_a_node_at_the_same_tip_and_utxo_hash() {
    let dir = tempfile::tempdir().unwrap();
    let net_dir = dir.path().join("regtest");
    import_shared_chain(&net_dir, support::test_settings());
    let node = blvm_node::launch::start(settings(&net_dir, support::test_settings()))
        .await
        .unwrap();
    let sub = watch(
        &node,
        &[
            EventType::MaintenanceStarted,
            EventType::MaintenanceCompleted,
            EventType::NodeShutdown,
        ],
    );
    let dest = dir.path().join("backup");
    let out = node
        .run_maintenance(Maintenance::Backup { destination: dest.clone() })
        .await
        .unwrap();
    assert!(out.success, "{}", out.results);
    assert!(out.results["files"].as_u64().unwrap() >= 3);
    assert!(out.results["bytes"].as_u64().unwrap() > 1_000_000);
    assert_eq!(out.results["height"], 300);

    let ev = drain(&sub).await;
    match &ev[..2] {
        [EventPayload::MaintenanceStarted {
            maintenance_type,
            estimated_duration_seconds,
        }, EventPayload::MaintenanceCompleted {
            maintenance_type: t2,
            success,
            duration_ms,
            results,
        }] => {
            assert_eq!(maintenance_type, "backup");
            // The first backup has no measured run to estimate from.
            assert_eq!(*estimated_duration_seconds, None);
            assert_eq!(t2, "backup");
            assert!(*success);
            assert!(*duration_ms >= 1);
            let r: serde_json::Value = serde_json::from_str(results.as_ref().unwrap()).unwrap();
            assert_eq!(r, out.results);
        }
        other => panic!("unexpected events {other:?}"),
    }
    // A backup refuses to overwrite an existing chainstate.
    let again = node
        .run_maintenance(Maintenance::Backup { destination: dest.clone() })
        .await
        .unwrap();
    assert!(!again.success);
    assert!(again.results["error"].as_str().unwrap().contains("already holds a chainstate"));
    // A second backup is estimated from the first one's measured duration.
    let second = node
        .run_maintenance(Maintenance::Backup {
            destination: dir.path().join("backup2"),
        })
        .await
        .unwrap();
    assert!(second.success, "{}", second.results);
    let ev = drain(&sub).await;
    let estimates: Vec<Option<u64>> = ev
        .iter()
        .filter_map(|e| match e {
            EventPayload::MaintenanceStarted {
                estimated_duration_seconds,
                ..
            } => Some(*estimated_duration_seconds),
            _ => None,
        })
        .collect();
    assert!(matches!(estimates.last(), Some(Some(_))), "{estimates:?}");

    let report = node.shutdown(ShutdownReason::Graceful).await;
    assert!(report.flush_ok);
    let ev = drain(&sub).await;
    assert!(
        ev.iter()
            .any(|e| matches!(e, EventPayload::NodeShutdown { reason, .. } if reason == "graceful")),
        "{ev:?}"
    );
    drop(node);

    let core = support::core_json();
    let mut restored = support::open_regtest(&dest.join("regtest"));
    assert_eq!(
        restored.tip().hash.to_string(),
        core["getblockchaininfo"]["bestblockhash"].as_str().unwrap()
    );
    assert_eq!(
        restored.utxo_stats().unwrap().hash_serialized_3,
        core["gettxoutsetinfo"]["hash_serialized_3"]["hash_serialized_3"].as_str().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_old_files_keeps_the_last_288_blocks_and_the_chainstate() {
    let dir = tempfile::tempdir().unwrap();
    let net_dir = dir.path().join("regtest");
    let small_files = ChainSettings {
        max_block_file_size: 64 * 1024,
        ..support::test_settings()
    };
    import_shared_chain(&net_dir, small_files.clone());
    // Mine 300 more blocks so that whole block files fall below tip - 288.
    {
        let mut c = ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), &net_dir, small_files.clone()).unwrap();
        for i in 0..300u64 {
            let tip = c.tip().hash;
            let parent = mining::parent_of(&c, &tip);
            let block = mining::build_block(&parent, 9000 + i, vec![], bitcoin::Amount::ZERO, mining::op_true());
            assert!(matches!(
                c.process_block(&block).unwrap(),
                blvm_node::chain::BlockOutcome::Accepted { connected: true }
            ));
        }
        c.flush(FlushReason::Manual).unwrap();
    }
    let node = blvm_node::launch::start(settings(&net_dir, small_files.clone())).await.unwrap();
    let chain = node.chain();
    let (tip_height, utxo_before, files_before) = {
        let mut c = chain.lock().unwrap();
        (
            c.height(),
            c.utxo_stats().unwrap().hash_serialized_3,
            std::fs::read_dir(c.blocks_dir()).unwrap().count(),
        )
    };
    assert_eq!(tip_height, 600);
    let out = node
        .run_maintenance(Maintenance::Prune {
            height: None,
            target_bytes: None,
        })
        .await
        .unwrap();
    assert!(out.success, "{}", out.results);
    let deleted = out.results["files_deleted"].as_u64().unwrap();
    let prune_height = out.results["prune_height"].as_u64().unwrap() as u32;
    assert!(deleted >= 2, "{}", out.results);
    assert!(prune_height <= tip_height - 288, "{}", out.results);
    {
        let mut c = chain.lock().unwrap();
        let files_after = std::fs::read_dir(c.blocks_dir()).unwrap().count();
        assert_eq!(
            files_after as u64,
            files_before as u64 - 2 * deleted,
            "block and undo file per pair"
        );
        // The last 288 blocks (and everything above the pruned files) are still served.
        for h in (tip_height - 287)..=tip_height {
            let hash = c.hash_at(h).unwrap();
            assert!(c.read_block(&hash).unwrap().is_some(), "block {h} must remain");
        }
        let pruned = c.hash_at(1).unwrap();
        assert!(c.read_block(&pruned).unwrap().is_none());
        assert_eq!(c.prune_height(), Some(prune_height));
        assert_eq!(
            c.utxo_stats().unwrap().hash_serialized_3,
            utxo_before,
            "pruning never touches the UTXO set"
        );
    }
    // Asking to prune into the last 288 blocks prunes nothing more.
    let again = node
        .run_maintenance(Maintenance::Prune {
            height: Some(tip_height),
            target_bytes: None,
        })
        .await
        .unwrap();
    assert_eq!(again.results["files_deleted"], 0);
    node.shutdown(ShutdownReason::Graceful).await;
    drop(chain);
    drop(node);
    // After a restart the node is at the same tip with the same UTXO set.
    let mut c = ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), &net_dir, small_files).unwrap();
    assert_eq!(c.height(), tip_height);
    assert_eq!(c.utxo_stats().unwrap().hash_serialized_3, utxo_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_flush_health_and_data_cleanup_manual_triggers() {
    let dir = tempfile::tempdir().unwrap();
    let net_dir = dir.path().join("regtest");
    import_shared_chain(&net_dir, support::test_settings());
    let node = blvm_node::launch::start(settings(&net_dir, support::test_settings()))
        .await
        .unwrap();
    let sub = watch(
        &node,
        &[
            EventType::MaintenanceCompleted,
            EventType::StorageFlush,
            EventType::StorageFlushCompleted,
            EventType::HealthCheck,
            EventType::DataCleanup,
        ],
    );
    std::fs::write(net_dir.join("peers.dat.tmp"), b"stale").unwrap();
    let out = node.run_maintenance(Maintenance::Cleanup).await.unwrap();
    assert!(out.success);
    assert_eq!(out.results["temp_files_removed"], 1);
    assert!(!net_dir.join("peers.dat.tmp").exists());
    assert!(out.results["db_bytes_after"].as_u64().unwrap() > 0);

    let flush = node.flush_chainstate(FlushReason::Manual).await.unwrap();
    assert!(flush.success);
    let health = node.manual_health(Duration::from_millis(200)).await;
    assert!(health.healthy, "{}", health.report);
    assert_eq!(health.report["tip"]["height"], 300);
    assert_eq!(health.report["database_writable"], true);
    let removed = node.cleanup_data("manual", Some(3)).await;
    assert_eq!(removed, 0);

    let ev = drain(&sub).await;
    let kinds: Vec<String> = ev
        .iter()
        .map(|e| match e {
            EventPayload::MaintenanceCompleted {
                maintenance_type, success, ..
            } => format!("MaintenanceCompleted:{maintenance_type}:{success}"),
            EventPayload::StorageFlush { reason } => format!("StorageFlush:{reason}"),
            EventPayload::StorageFlushCompleted { success, .. } => format!("StorageFlushCompleted:{success}"),
            EventPayload::HealthCheck {
                check_type, node_healthy, ..
            } => format!("HealthCheck:{check_type}:{node_healthy}"),
            EventPayload::DataCleanup {
                cleanup_type,
                target_age_days,
            } => format!("DataCleanup:{cleanup_type}:{target_age_days:?}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "MaintenanceCompleted:cleanup:true",
            "StorageFlush:manual",
            "StorageFlushCompleted:true",
            "HealthCheck:manual:true",
            "DataCleanup:manual:Some(3)"
        ]
    );
    node.shutdown(ShutdownReason::Graceful).await;
}

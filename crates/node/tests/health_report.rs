//! HealthCheck tells the truth: `health_report.peers` counts the real inbound and outbound
//! connections of a node process and the time a peer last delivered a block, and a health check
//! (manual and periodic) waits for the modules' `ReportHealth` answers to that very check.

mod support;

use support::{http, mining, node_proc, p2p_peer};

use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use node_proc::{start_node, ModuleSpec, NodeProc};
use p2p_peer::{p2p_addr, rpc, TestPeer};
use serde_json::{json, Value};
use std::time::Duration;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A listening node (no outbound dialing of its own) with an event-recorder module.
fn listening_node(extra: &[&str], recorder_config: &str) -> (NodeProc, u16) {
    let port = http::free_port();
    let rpcport = format!("-rpcport={port}");
    let mut args = vec![rpcport.as_str(), "-port=0", "-bind=127.0.0.1", "-connect=0", "-listen=1"];
    args.extend_from_slice(extra);
    let n = start_node(&args, &[ModuleSpec::recorder("rec", recorder_config)]);
    n.wait_started();
    (n, port)
}

/// Announces block 1 by header from `peer`, serves it on request, waits until it is the tip.
fn deliver_block_one(n: &NodeProc, port: u16, peer: &mut TestPeer) {
    let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
    let parent = mining::Parent::from_block(&genesis, 0, &[]);
    let block = mining::build_block(&parent, 1, vec![], bitcoin::Amount::ZERO, mining::op_true());
    peer.send(NetworkMessage::Headers(vec![block.header])).unwrap();
    peer.expect(Duration::from_secs(10), "getdata for block 1", |m| match m {
        NetworkMessage::GetData(inv) => inv
            .iter()
            .any(|i| matches!(i, Inventory::Block(h) | Inventory::WitnessBlock(h) if *h == block.block_hash()))
            .then_some(()),
        _ => None,
    });
    peer.send(NetworkMessage::Block(block.clone())).unwrap();
    n.wait_until(Duration::from_secs(10), "block 1 connected", |n| {
        rpc(n, port, "getblockcount", json!([])) == json!(1)
    });
}

#[test]
fn health_report_counts_real_peers_and_the_last_block_a_peer_delivered() {
    let (n, port) = listening_node(&[], "");
    let addr = p2p_addr(&n);
    let peers = |n: &NodeProc| rpc(n, port, "gethealth", json!([]))["peers"].clone();
    let before = peers(&n);
    assert_eq!(before["p2p_enabled"], true, "{before}");
    assert_eq!(before["connected"], 0);
    assert_eq!(before["last_block_received"], Value::Null);
    assert_eq!(before["ok"], true, "being alone is normal on regtest");

    // Two inbound peers and one outbound (the node dials our listener).
    let mut a = TestPeer::connect_from(addr, "127.0.0.2").unwrap();
    a.handshake(0);
    let mut b = TestPeer::connect_from(addr, "127.0.0.3").unwrap();
    b.handshake(0);
    let listener = p2p_peer::listen_on("127.0.0.4");
    rpc(&n, port, "addnode", json!([listener.local_addr().unwrap().to_string(), "onetry"]));
    let mut out = p2p_peer::accept_from(&listener, Duration::from_secs(10)).expect("the node did not dial");
    out.accept_handshake(0);
    n.wait_until(Duration::from_secs(10), "three peers", |n| {
        rpc(n, port, "getconnectioncount", json!([])) == json!(3)
    });
    let p = peers(&n);
    assert_eq!(
        (p["connected"].clone(), p["inbound"].clone(), p["outbound"].clone()),
        (json!(3), json!(2), json!(1)),
        "{p}"
    );
    assert_eq!(p["last_block_received"], Value::Null, "no peer delivered a block yet: {p}");

    let t0 = unix_now();
    deliver_block_one(&n, port, &mut a);
    let p = peers(&n);
    let last = p["last_block_received"].as_i64().expect("a peer delivered a block");
    assert!(last >= t0 && last <= unix_now(), "last_block_received {last}, delivered after {t0}");

    // One inbound peer leaves: the next report says so, and the module's HealthCheck agrees.
    drop(b);
    n.wait_until(Duration::from_secs(10), "two peers", |n| {
        rpc(n, port, "getconnectioncount", json!([])) == json!(2)
    });
    let full = rpc(&n, port, "gethealth", json!([]));
    assert_eq!(
        (full["peers"]["inbound"].clone(), full["peers"]["outbound"].clone()),
        (json!(1), json!(1)),
        "{full}"
    );
    n.wait_until(Duration::from_secs(10), "manual HealthCheck recorded", |n| {
        n.recorded_events("rec")
            .iter()
            .any(|(t, e)| t == "HealthCheck" && e["payload"]["check_type"] == "manual")
    });
    let (_, ev) = n
        .recorded_events("rec")
        .into_iter()
        .rfind(|(t, e)| t == "HealthCheck" && e["payload"]["check_type"] == "manual")
        .unwrap();
    let sent: Value = serde_json::from_str(ev["payload"]["health_report"].as_str().unwrap()).unwrap();
    assert_eq!(sent["peers"]["connected"], 2, "{sent}");
    assert_eq!(sent["peers"]["last_block_received"], last);
    // The module's answer in the merged report is its answer to this check.
    let answer: Value = serde_json::from_str(full["modules"]["rec"]["report"].as_str().unwrap()).unwrap();
    assert_eq!(answer["events_seen_at"], ev["sequence"], "{full}");
    assert_eq!(full["modules"]["rec"]["answered"], true);
    drop((a, out));
}

#[test]
fn periodic_health_check_waits_for_the_module_answer_to_that_check() {
    // The module reports unhealthy: the periodic verdict can only say so if it waited for it.
    let (n, _port) = listening_node(&["-healthinterval=1", "-acktimeout=5"], "healthy = false");
    n.wait_until(Duration::from_secs(20), "a periodic verdict with the module's answer", |n| {
        n.log()
            .lines()
            .any(|l| l.contains("health check: node unhealthy") && l.contains("periodic") && l.contains(r#""answered":true"#))
    });
    let line = n
        .log()
        .lines()
        .find(|l| l.contains("health check: node unhealthy") && l.contains("periodic"))
        .unwrap()
        .to_string();
    // The first periodic verdict already includes the answer: it waited instead of using an older one.
    assert!(line.contains(r#""answered":true"#), "{line}");
    assert!(!n.log().contains("did not answer the health check"), "{}", n.log());
}

//! A `version` message with an extreme timestamp (i64::MIN, i64::MAX) must not overflow the
//! peer's time offset: the real node completes the handshake and reports a saturated
//! `timeoffset` in getpeerinfo.

mod support;

use support::{http, node_proc, p2p_peer};

use bitcoin::p2p::message::NetworkMessage;
use p2p_peer::{rpc, TestPeer};
use serde_json::json;
use std::time::Duration;

#[test]
fn extreme_version_timestamps_saturate_the_time_offset() {
    let rpc_port = http::free_port();
    let mut n = node_proc::start_node(&[&format!("-rpcport={rpc_port}"), "-port=0", "-bind=127.0.0.1"], &[]);
    n.wait_started();
    let addr = p2p_peer::p2p_addr(&n);
    let mut peers = Vec::new();
    for (from, ts) in [("127.0.0.1", i64::MIN), ("127.0.0.2", i64::MAX)] {
        let mut p = TestPeer::connect_from(addr, from).expect("connect");
        let mut v = p.version_msg(0);
        v.timestamp = ts;
        p.send(NetworkMessage::Version(v)).unwrap();
        p.expect(Duration::from_secs(10), "version", |m| {
            matches!(m, NetworkMessage::Version(_)).then_some(())
        });
        p.send(NetworkMessage::Verack).unwrap();
        p.expect(Duration::from_secs(10), "verack", |m| {
            matches!(m, NetworkMessage::Verack).then_some(())
        });
        peers.push(p);
    }
    let mut offsets = Vec::new();
    n.wait_until(Duration::from_secs(10), "both peers in getpeerinfo", |n| {
        let info = rpc(n, rpc_port, "getpeerinfo", json!([]));
        offsets = info.as_array().unwrap().iter().filter_map(|p| p["timeoffset"].as_i64()).collect();
        offsets.len() == 2
    });
    offsets.sort();
    assert_eq!(offsets[0], i64::MIN, "saturated at the bottom");
    assert!(
        offsets[1] > i64::MAX - 4_000_000_000,
        "i64::MAX minus the current time: {}",
        offsets[1]
    );
    let (status, _) = n.stop(Duration::from_secs(20));
    assert!(status.success());
}

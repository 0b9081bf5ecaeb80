//! `addconnection` (regtest) against a real node process dialling scripted peers over TCP:
//! Core's per-type limits and errors, a feeler closed right after the peer's `version` (no
//! `verack` needed, relay=0 in our `version`), and an addr-fetch connection kept after a
//! one-address `addr` (a self-announcement) but closed after a larger one.

mod support;

use support::{node_proc, p2p_peer};

use bitcoin::p2p::address::Address;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::ServiceFlags;
use p2p_peer::{rpc, rpc_raw, start_listening, TestPeer};
use serde_json::json;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// Asks the node to dial a fresh listener on `ip` as `kind`; returns the accepted connection.
fn dial(n: &node_proc::NodeProc, port: u16, ip: &str, kind: &str) -> (TcpListener, TestPeer) {
    let l = p2p_peer::listen_on(ip);
    let target = l.local_addr().unwrap().to_string();
    let r = rpc(n, port, "addconnection", json!([target, kind, false]));
    assert_eq!(r, json!({"address": target, "connection_type": kind}));
    let (sock, _) = l.accept().unwrap();
    (l, TestPeer::from_stream(sock))
}

fn peer_count(n: &node_proc::NodeProc, port: u16) -> usize {
    rpc(n, port, "getpeerinfo", json!([])).as_array().unwrap().len()
}

#[test]
fn addconnection_limits_feeler_and_addr_fetch() {
    let (n, port) = start_listening(&[]);

    let bad = rpc_raw(&n, port, "addconnection", json!(["127.0.0.1:1", "inbound", false]));
    assert_eq!(bad["error"]["code"], -8, "{bad}");
    assert_eq!(bad["error"]["message"], "Error: Invalid connection_type \"inbound\"");

    // Feeler: the node's version says relay=0; our version alone completes it and the node
    // closes the connection without waiting for our verack.
    let (_l, mut feeler) = dial(&n, port, "127.0.0.2", "feeler");
    let theirs = feeler.expect(T, "version", |m| match m {
        NetworkMessage::Version(v) => Some(v.clone()),
        _ => None,
    });
    assert!(!theirs.relay, "a feeler does not ask for transactions");
    feeler.send(NetworkMessage::Version(feeler.version_msg(0))).unwrap();
    assert!(feeler.wait_closed_silent(T), "feeler closed after our version");
    n.wait_until(T, "feeler gone", |_| peer_count(&n, port) == 0);
    assert!(n.log().contains("feeler connection completed"), "Core's debug line");

    // Addr-fetch: getaddr sent, no getheaders; one address keeps it, two close it.
    let (_l, mut fetch) = dial(&n, port, "127.0.0.3", "addr-fetch");
    fetch.accept_handshake(0);
    fetch.expect(T, "getaddr", |m| matches!(m, NetworkMessage::GetAddr).then_some(()));
    let one = |ip: [u8; 4]| {
        (
            1_700_000_000u32,
            Address::new(&SocketAddr::from((ip, 18444)), ServiceFlags::NETWORK),
        )
    };
    fetch.send_and_ping(NetworkMessage::Addr(vec![one([192, 0, 0, 8])]), T);
    let info = rpc(&n, port, "getpeerinfo", json!([]));
    assert_eq!(info[0]["connection_type"], "addr-fetch", "{info}");
    fetch
        .send(NetworkMessage::Addr(vec![one([192, 0, 0, 8]), one([192, 0, 0, 9])]))
        .unwrap();
    assert!(fetch.wait_closed(T), "addr-fetch closed after a larger addr");
    assert!(n.log().contains("addrfetch connection completed"));

    // Per-type limit: two block-relay-only connections, the third is refused as Core's.
    let _b1 = dial(&n, port, "127.0.0.4", "block-relay-only");
    let _b2 = dial(&n, port, "127.0.0.5", "block-relay-only");
    n.wait_until(T, "two block-relay-only peers", |_| peer_count(&n, port) == 2);
    let l = p2p_peer::listen_on("127.0.0.6");
    let target = l.local_addr().unwrap().to_string();
    let full = rpc_raw(&n, port, "addconnection", json!([target, "block-relay-only", false]));
    assert_eq!(full["error"]["code"], -34, "{full}");
    assert_eq!(
        full["error"]["message"],
        "Error: Already at capacity for specified connection type."
    );
    // Other types still have room (8 full-relay, 11 automatic outbound in all).
    let _f = dial(&n, port, "127.0.0.7", "outbound-full-relay");
}

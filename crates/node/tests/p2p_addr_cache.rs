//! Address RPC and getaddr answers against a real node: Core's test-only `addpeeraddress`
//! (results and errors), and the getaddr response cache: peers connecting to the same local
//! address within the cache lifetime get the same answer, bounded to 23% of the known addresses
//! and 1,000 entries; the answer changes after the lifetime, and differs on another bind.

mod support;

use support::{http, node_proc, p2p_peer};

use bitcoin::p2p::message::NetworkMessage;
use node_proc::NodeProc;
use p2p_peer::{rpc, rpc_raw, TestPeer};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;

/// The node's listening addresses, from its log.
fn listening(n: &NodeProc, want: usize) -> Vec<SocketAddr> {
    let mut found = Vec::new();
    n.wait_until(Duration::from_secs(30), "P2P listeners", |n| {
        found = n
            .log()
            .lines()
            .filter_map(|l| l.split("P2P listening on ").nth(1))
            .filter_map(|r| r.split_whitespace().next()?.parse().ok())
            .collect();
        found.len() >= want
    });
    found
}

/// Connects from `from`, asks for addresses, returns the answer (addr or addrv2) in order.
fn getaddr(to: SocketAddr, from: &str) -> Vec<SocketAddr> {
    let mut p = TestPeer::connect_from(to, from).unwrap();
    p.handshake(0);
    p.send(NetworkMessage::GetAddr).unwrap();
    p.expect(Duration::from_secs(10), "addr answer", |m| match m {
        NetworkMessage::AddrV2(v) => Some(v.iter().filter_map(|a| a.socket_addr().ok()).collect()),
        NetworkMessage::Addr(v) => Some(v.iter().filter_map(|(_, a)| a.socket_addr().ok()).collect()),
        _ => None,
    })
}

/// Adds addresses in distinct /16 groups; returns how many the new table took (as in Core, an
/// address whose slot holds another one is refused with "failed-adding-to-new").
fn add_many(n: &NodeProc, port: u16, range: std::ops::Range<u32>) -> usize {
    let mut added = 0;
    for i in range {
        let a = format!("{}.{}.1.1", 1 + (i >> 8), i % 256);
        let r = rpc(n, port, "addpeeraddress", json!([a, 8333]));
        if r == json!({"success": true}) {
            added += 1;
        } else {
            assert_eq!(r, json!({"success": false, "error": "failed-adding-to-new"}), "{a}");
        }
    }
    added
}

#[test]
fn addpeeraddress_and_cached_getaddr_answers() {
    let port = http::free_port();
    let tmp = tempfile::tempdir().unwrap();
    let n = node_proc::start_node_in(
        tmp.path(),
        &[&format!("-rpcport={port}"), "-port=0", "-bind=127.0.0.1:0", "-bind=127.0.0.4:0"],
        &[],
    );
    n.wait_started();
    let binds = listening(&n, 2);
    let (first, second) = (binds[0], binds[1]);

    // addpeeraddress: Core's results.
    assert_eq!(rpc(&n, port, "addpeeraddress", json!(["1.2.3.4", 8333])), json!({"success": true}));
    assert_eq!(
        rpc(&n, port, "addpeeraddress", json!(["1.2.3.4", 8333])),
        json!({"success": false, "error": "failed-adding-to-new"})
    );
    assert_eq!(
        rpc(&n, port, "addpeeraddress", json!(["not-an-ip", 8333])),
        json!({"success": false})
    );
    assert_eq!(
        rpc(&n, port, "addpeeraddress", json!(["5.6.7.8", 8333, true])),
        json!({"success": true})
    );
    let info = rpc(&n, port, "getaddrmaninfo", json!([]));
    assert_eq!(info["ipv4"], json!({"new": 1, "tried": 1, "total": 2}), "{info}");
    assert_eq!(rpc_raw(&n, port, "addpeeraddress", json!(["1.2.3.4"]))["error"]["code"], -1);
    assert_eq!(rpc_raw(&n, port, "addpeeraddress", json!(["1.2.3.4", 70000]))["error"]["code"], -1);

    // About 100 addresses: the answer is 23% of them, and it is cached for this bind.
    let known = 2 + add_many(&n, port, 0..98);
    assert!(known >= 90, "{known}");
    let a = getaddr(first, "127.0.0.2");
    assert_eq!(a.len(), known * 23 / 100);
    // Many more addresses, another connection within the lifetime: the same answer.
    let known = known + add_many(&n, port, 98..5000);
    assert!(known > 1000 * 100 / 23, "{known}");
    assert_eq!(
        getaddr(first, "127.0.0.3"),
        a,
        "a second getaddr within the lifetime gets the cached answer"
    );

    // After the lifetime (at most 27 h): a new answer, capped at 1,000.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    rpc(&n, port, "setmocktime", json!([now + 28 * 3600]));
    let b = getaddr(first, "127.0.0.5");
    assert_eq!(b.len(), 1000);
    assert_ne!(b, a);
    assert_eq!(getaddr(first, "127.0.0.6"), b);
    // Another local address has its own cache.
    let c = getaddr(second, "127.0.0.7");
    assert_eq!(c.len(), 1000);
    assert_ne!(c, b);
    assert_eq!(getaddr(second, "127.0.0.8"), c);
}

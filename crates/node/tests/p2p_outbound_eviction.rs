//! Outbound peers on a stale chain (Core's ConsiderEviction) against a real node process, with
//! the node dialling scripted peers (`addconnection`) and time moved by `setmocktime`: an
//! outbound peer that shows no chain with our tip's work within 20 minutes gets one
//! `getheaders` and 2 more minutes, then is disconnected; a full-relay peer that had our tip is
//! protected, a block-relay-only one is not; a peer that answers the `getheaders` with a good
//! enough chain is kept.

mod support;

use support::{http, node_proc, p2p_peer};

use bitcoin::block::Header;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::BlockHash;
use node_proc::NodeProc;
use p2p_peer::{rpc, TestPeer};
use serde_json::json;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ADDR: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
const CHAIN_SYNC_TIMEOUT: i64 = 20 * 60;
const HEADERS_RESPONSE_TIME: i64 = 2 * 60;

/// Has the node dial a scripted peer on `ip` as `conn_type`; returns it after the handshake and
/// the node's initial `getheaders`, with the node's peer id.
fn dialled_peer(n: &NodeProc, port: u16, ip: &str, conn_type: &str) -> (TestPeer, u64) {
    let l = p2p_peer::listen_on(ip);
    let target = l.local_addr().unwrap().to_string();
    rpc(n, port, "addconnection", json!([target, conn_type, false]));
    let (sock, _) = l.accept().unwrap();
    let mut p = TestPeer::from_stream(sock);
    let local = p.stream.local_addr().unwrap().to_string();
    p.accept_handshake(0);
    p.expect(Duration::from_secs(10), "initial getheaders", |m| {
        matches!(m, NetworkMessage::GetHeaders(_)).then_some(())
    });
    let peers = rpc(n, port, "getpeerinfo", json!([]));
    let id = peers
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["addr"] == local.as_str())
        .and_then(|x| x["id"].as_u64())
        .expect("peer in getpeerinfo");
    (p, id)
}

/// A ping round trip: everything the peer sent before was handled.
fn sync(p: &mut TestPeer) {
    let nonce: u64 = rand::random();
    p.send(NetworkMessage::Ping(nonce)).unwrap();
    p.expect(Duration::from_secs(10), "pong", |m| {
        matches!(m, NetworkMessage::Pong(x) if *x == nonce).then_some(())
    });
}

/// Waits for a `getheaders` whose locator starts at `from`.
fn expect_getheaders_from(p: &mut TestPeer, from: BlockHash) {
    p.expect(Duration::from_secs(10), "getheaders to verify chain work", |m| match m {
        NetworkMessage::GetHeaders(g) if g.locator_hashes.first() == Some(&from) => Some(()),
        _ => None,
    });
}

fn header(n: &NodeProc, port: u16, hash: &BlockHash) -> Header {
    let hex = rpc(n, port, "getblockheader", json!([hash.to_string(), false]));
    bitcoin::consensus::encode::deserialize_hex(hex.as_str().unwrap()).unwrap()
}

fn tip(n: &NodeProc, port: u16) -> BlockHash {
    BlockHash::from_str(rpc(n, port, "getbestblockhash", json!([])).as_str().unwrap()).unwrap()
}

#[test]
fn outbound_peers_on_a_stale_chain_are_evicted_unless_protected_or_caught_up() {
    let port = http::free_port();
    let mut n = node_proc::start_node(&[&format!("-rpcport={port}"), "-port=0", "-bind=127.0.0.1", "-debug=net"], &[]);
    n.wait_started();
    let mut now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    rpc(&n, port, "setmocktime", json!([now]));
    // A recent tip: every outbound peer gets its headers sync started (a condition of the check).
    rpc(&n, port, "generatetoaddress", json!([2, ADDR]));
    let old_tip = tip(&n, port);
    let old = header(&n, port, &old_tip);
    let parent = header(&n, port, &old.prev_blockhash);

    // A full-relay peer with our tip: protected.
    let (mut protected, protected_id) = dialled_peer(&n, port, "127.0.0.2", "outbound-full-relay");
    protected.send(NetworkMessage::Headers(vec![old])).unwrap();
    sync(&mut protected);
    assert!(n.log().contains(&format!("Protecting outbound peer={protected_id} from eviction")));
    // A full-relay peer one block behind, which stays behind.
    let (mut lagging, lagging_id) = dialled_peer(&n, port, "127.0.0.3", "outbound-full-relay");
    lagging.send(NetworkMessage::Headers(vec![parent])).unwrap();
    sync(&mut lagging);
    // A block-relay-only peer with our tip: never protected.
    let (mut blocks_only, blocks_only_id) = dialled_peer(&n, port, "127.0.0.4", "block-relay-only");
    blocks_only.send(NetworkMessage::Headers(vec![old])).unwrap();
    sync(&mut blocks_only);
    // A full-relay peer one block behind that catches up when asked.
    let (mut catching_up, catching_up_id) = dialled_peer(&n, port, "127.0.0.5", "outbound-full-relay");
    catching_up.send(NetworkMessage::Headers(vec![parent])).unwrap();
    sync(&mut catching_up);
    assert!(!n.log().contains(&format!("Protecting outbound peer={blocks_only_id} ")));
    assert!(!n.log().contains(&format!("Protecting outbound peer={lagging_id} ")));

    // Our chain moves on; nobody tells us of the new block.
    rpc(&n, port, "generatetoaddress", json!([1, ADDR]));
    let new_tip = header(&n, port, &tip(&n, port));
    for p in [&mut protected, &mut lagging, &mut blocks_only, &mut catching_up] {
        sync(p);
    }

    // 20 minutes on: the unprotected peers get their last chance, a getheaders from the parent
    // of the tip they had to reach (the tip when their timeout started).
    now += CHAIN_SYNC_TIMEOUT + 1;
    rpc(&n, port, "setmocktime", json!([now]));
    expect_getheaders_from(&mut lagging, old.prev_blockhash);
    expect_getheaders_from(&mut catching_up, old.prev_blockhash);
    expect_getheaders_from(&mut blocks_only, old_tip);
    catching_up.send(NetworkMessage::Headers(vec![old, new_tip])).unwrap();
    sync(&mut catching_up);
    assert!(n
        .log()
        .contains(&format!("sending getheaders to outbound peer={lagging_id} to verify chain work")));

    // 2 more minutes: those that did not answer with enough work are gone.
    now += HEADERS_RESPONSE_TIME + 1;
    rpc(&n, port, "setmocktime", json!([now]));
    assert!(lagging.wait_closed(Duration::from_secs(10)), "the lagging peer is evicted");
    assert!(
        blocks_only.wait_closed(Duration::from_secs(10)),
        "the block-relay-only peer is evicted"
    );
    let log = n.log();
    assert!(log.contains(&format!(
        "Disconnecting outbound peer {lagging_id} for old chain, best known block = {}",
        parent.block_hash()
    )));
    assert!(log.contains(&format!("Disconnecting outbound peer {blocks_only_id} for old chain")));
    sync(&mut protected);
    sync(&mut catching_up);
    assert!(!log.contains(&format!("Disconnecting outbound peer {protected_id} ")));
    assert!(!log.contains(&format!("Disconnecting outbound peer {catching_up_id} ")));
    let (status, _) = n.stop(Duration::from_secs(20));
    assert!(status.success());
}

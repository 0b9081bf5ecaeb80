//! The connection manager seen from outside: PeerConnected/PeerDisconnected on the module bus,
//! the network RPCs (getpeerinfo, getnetworkinfo, getconnectioncount, getnettotals, ping,
//! disconnectnode, addnode), address handling (addr in, getaddr out, peers.json, automatic
//! outbound connections to learned addresses, -seednode). Inbound eviction: `p2p_eviction.rs`.

mod support;

use support::{http, node_proc, p2p_peer};

use bitcoin::p2p::address::{AddrV2, AddrV2Message};
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::ServiceFlags;
use node_proc::{wait_for, ModuleSpec};
use p2p_peer::{accept_from, rpc, rpc_raw, TestPeer};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;

fn addrv2(addr: SocketAddr) -> AddrV2Message {
    let SocketAddr::V4(v4) = addr else { panic!("ipv4 only") };
    AddrV2Message {
        time: 1_790_000_000,
        services: ServiceFlags::NETWORK | ServiceFlags::WITNESS,
        addr: AddrV2::Ipv4(*v4.ip()),
        port: v4.port(),
    }
}

#[test]
fn events_rpcs_and_address_handling() {
    let port = http::free_port();
    let tmp = tempfile::tempdir().unwrap();
    let n = node_proc::start_node_in(
        tmp.path(),
        &[&format!("-rpcport={port}"), "-port=0", "-bind=127.0.0.1"],
        &[ModuleSpec::recorder("rec", "")],
    );
    n.wait_started();
    let addr = p2p_peer::p2p_addr(&n);

    // getnetworkinfo before any peer.
    let info = rpc(&n, port, "getnetworkinfo", json!([]));
    assert_eq!(info["connections"], 0);
    assert_eq!(info["protocolversion"], 70016);
    assert!(info["subversion"].as_str().unwrap().starts_with("/blvm:"));
    assert_eq!(info["localaddresses"][0]["port"], addr.port());
    assert_eq!(info["networkactive"], true);

    // An inbound peer: PeerConnected on the bus, visible in getpeerinfo, answers our ping.
    let mut p = TestPeer::connect_from(addr, "127.0.0.1").unwrap();
    p.handshake(0);
    let local = p.stream.local_addr().unwrap();
    wait_for("PeerConnected", Duration::from_secs(10), &[&n], || {
        n.recorded_events("rec").iter().any(|(t, _)| t == "PeerConnected")
    });
    let (_, ev) = n.recorded_events("rec").into_iter().find(|(t, _)| t == "PeerConnected").unwrap();
    let data = &ev["payload"];
    assert_eq!(data["addr"], local.to_string(), "{ev}");
    assert_eq!(data["inbound"], true);
    let peer_id = data["peer_id"].as_u64().unwrap();
    assert_eq!(rpc(&n, port, "getconnectioncount", json!([])), 1);
    // The node pings right after the handshake; answer it, then ask for another by RPC.
    let x = p.expect(Duration::from_secs(5), "the handshake ping", |m| match m {
        NetworkMessage::Ping(x) => Some(*x),
        _ => None,
    });
    p.send(NetworkMessage::Pong(x)).unwrap();
    wait_for("first pong recorded", Duration::from_secs(5), &[&n], || {
        rpc(&n, port, "getpeerinfo", json!([]))[0]["pingtime"].is_number()
    });
    rpc(&n, port, "ping", json!([]));
    let y = p.expect(Duration::from_secs(5), "the RPC ping", |m| match m {
        NetworkMessage::Ping(y) => Some(*y),
        _ => None,
    });
    assert_ne!(x, y, "a fresh nonce per ping");
    p.send(NetworkMessage::Pong(y)).unwrap();
    wait_for("pingtime in getpeerinfo", Duration::from_secs(5), &[&n], || {
        rpc(&n, port, "getpeerinfo", json!([]))[0]["pingtime"].is_number()
    });
    let pi = rpc(&n, port, "getpeerinfo", json!([]));
    assert_eq!(pi[0]["id"], peer_id);
    assert_eq!(pi[0]["subver"], "/blvm-test-peer:0.1/");
    assert_eq!(pi[0]["inbound"], true);
    assert_eq!(pi[0]["connection_type"], "inbound");
    assert_eq!(pi[0]["version"], 70016);
    assert!(pi[0]["bytesrecv"].as_u64().unwrap() > 100 && pi[0]["bytessent"].as_u64().unwrap() > 100);
    let totals = rpc(&n, port, "getnettotals", json!([]));
    assert!(totals["totalbytesrecv"].as_u64().unwrap() >= pi[0]["bytesrecv"].as_u64().unwrap());

    // The peer tells us about a listener it knows; the node stores it, hands it out on
    // getaddr to another inbound peer, and (having no outbound peers) dials it.
    let listener = p2p_peer::listen_on("127.0.0.3");
    let learned = listener.local_addr().unwrap();
    p.send(NetworkMessage::AddrV2(vec![addrv2(learned)])).unwrap();
    let mut dialled =
        accept_from(&listener, Duration::from_secs(15)).unwrap_or_else(|| panic!("node never dialled the learned address\n{}", n.log()));
    let v = dialled.accept_handshake(0);
    assert!(v.user_agent.starts_with("/blvm:"));
    // Outbound full-relay peers are asked for addresses.
    dialled.expect(Duration::from_secs(5), "getaddr", |m| {
        matches!(m, NetworkMessage::GetAddr).then_some(())
    });
    wait_for("the outbound peer in getpeerinfo", Duration::from_secs(5), &[&n], || {
        rpc(&n, port, "getpeerinfo", json!([]))
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["connection_type"] == "outbound-full-relay" && x["addr"] == learned.to_string())
    });
    let mut asker = TestPeer::connect_from(addr, "127.0.0.2").unwrap();
    asker.handshake(0);
    asker.send(NetworkMessage::GetAddr).unwrap();
    let got: Vec<SocketAddr> = asker.expect(Duration::from_secs(5), "addrv2", |m| match m {
        NetworkMessage::AddrV2(v) => Some(v.iter().filter_map(|a| a.socket_addr().ok()).collect()),
        _ => None,
    });
    assert_eq!(got, vec![learned]);

    // disconnectnode by id: the peer is closed and PeerDisconnected says why.
    rpc(&n, port, "disconnectnode", json!(["", peer_id]));
    assert!(p.wait_closed(Duration::from_secs(5)));
    wait_for("PeerDisconnected", Duration::from_secs(10), &[&n], || {
        n.recorded_events("rec")
            .iter()
            .any(|(t, e)| t == "PeerDisconnected" && e["payload"]["peer_id"] == peer_id)
    });
    let (_, ev) = n
        .recorded_events("rec")
        .into_iter()
        .find(|(t, e)| t == "PeerDisconnected" && e["payload"]["peer_id"] == peer_id)
        .unwrap();
    assert_eq!(ev["payload"]["reason"], "disconnectnode RPC");
    assert_eq!(rpc_raw(&n, port, "disconnectnode", json!(["", 9999]))["error"]["code"], -29);
    assert_eq!(rpc_raw(&n, port, "disconnectnode", json!(["127.0.0.1:1", 1]))["error"]["code"], -8);

    // addnode: onetry dials; add/remove keep a list with Core's errors.
    let l2 = p2p_peer::listen_on("127.0.0.4");
    let a2 = l2.local_addr().unwrap();
    rpc(&n, port, "addnode", json!([a2.to_string(), "onetry"]));
    let mut m = accept_from(&l2, Duration::from_secs(10)).expect("onetry dial");
    m.accept_handshake(0);
    wait_for("the manual peer", Duration::from_secs(5), &[&n], || {
        rpc(&n, port, "getpeerinfo", json!([]))
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["connection_type"] == "manual" && x["addr"] == a2.to_string())
    });
    rpc(&n, port, "addnode", json!(["127.0.0.9:1", "add"]));
    assert_eq!(rpc_raw(&n, port, "addnode", json!(["127.0.0.9:1", "add"]))["error"]["code"], -23);
    rpc(&n, port, "addnode", json!(["127.0.0.9:1", "remove"]));
    assert_eq!(rpc_raw(&n, port, "addnode", json!(["127.0.0.9:1", "remove"]))["error"]["code"], -24);
    assert_eq!(rpc_raw(&n, port, "addnode", json!(["127.0.0.9:1", "bogus"]))["error"]["code"], -8);

    // The learned address is persisted in peers.json at shutdown.
    drop((dialled, asker, m));
    let mut n = n;
    let (st, _) = n.stop(Duration::from_secs(30));
    assert!(st.success());
    let peers: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(tmp.path().join("regtest/peers.json")).unwrap()).unwrap();
    let all: Vec<&str> = peers["tried"]
        .as_array()
        .unwrap()
        .iter()
        .chain(peers["new"].as_array().unwrap())
        .map(|a| a["addr"].as_str().unwrap())
        .collect();
    assert!(all.contains(&learned.to_string().as_str()), "{peers}");
}

#[test]
fn seednode_is_asked_for_addresses_then_dropped() {
    let seed = p2p_peer::listen_on("127.0.0.5");
    let seed_addr = seed.local_addr().unwrap();
    let target = p2p_peer::listen_on("127.0.0.6");
    let target_addr = target.local_addr().unwrap();
    let port = http::free_port();
    let n = node_proc::start_node(
        &[
            &format!("-rpcport={port}"),
            "-port=0",
            "-bind=127.0.0.1",
            &format!("-seednode={seed_addr}"),
        ],
        &[],
    );
    n.wait_started();
    let mut s = accept_from(&seed, Duration::from_secs(10)).expect("seednode dialled");
    s.accept_handshake(0);
    s.expect(Duration::from_secs(5), "getaddr", |m| {
        matches!(m, NetworkMessage::GetAddr).then_some(())
    });
    // As Core, more than one address completes it (one may be a self-announcement).
    let other: SocketAddr = "192.0.2.7:18444".parse().unwrap();
    s.send(NetworkMessage::AddrV2(vec![addrv2(target_addr), addrv2(other)])).unwrap();
    assert!(s.wait_closed(Duration::from_secs(5)), "addr-fetch connection not closed");
    n.wait_until(Duration::from_secs(5), "addr fetch completed", |n| {
        n.log().contains("addrfetch connection completed")
    });
    // The learned address becomes an automatic outbound connection.
    let mut t = accept_from(&target, Duration::from_secs(15)).unwrap_or_else(|| panic!("learned address not dialled\n{}", n.log()));
    t.accept_handshake(0);
}

#[test]
fn network_resource_warning_when_connections_near_the_limit() {
    // 16 connections less Core's 11 outbound slots (kept even with -connect=0): 5 inbound.
    let port = http::free_port();
    let n = node_proc::start_node(
        &[
            &format!("-rpcport={port}"),
            "-port=0",
            "-bind=127.0.0.1",
            "-connect=0",
            "-listen=1",
            "-maxconnections=16",
            "-resourceinterval=1",
            "-resourcewarnpercent=10",
        ],
        &[ModuleSpec::recorder("rec", "")],
    );
    n.wait_started();
    let addr = p2p_peer::p2p_addr(&n);
    let network_warnings = || {
        n.recorded_events("rec")
            .into_iter()
            .filter(|(t, e)| t == "ResourceLimitWarning" && e["payload"]["resource_type"] == "network")
            .map(|(_, e)| e["payload"].clone())
            .collect::<Vec<_>>()
    };
    // One peer of 16 is 6.25 %: under the threshold for two whole check intervals.
    let mut a = TestPeer::connect_from(addr, "127.0.0.1").unwrap();
    a.handshake(0);
    wait_for("one connection", Duration::from_secs(10), &[&n], || {
        rpc(&n, port, "getconnectioncount", json!([])) == 1
    });
    std::thread::sleep(Duration::from_millis(2200));
    assert!(network_warnings().is_empty(), "{:?}", network_warnings());
    // Two of 16 is 12.5 %: one warning with the real figures.
    let mut b = TestPeer::connect_from(addr, "127.0.0.1").unwrap();
    b.handshake(0);
    wait_for("network warning", Duration::from_secs(10), &[&n], || !network_warnings().is_empty());
    let w = network_warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0]["current_usage"], 2);
    assert_eq!(w[0]["limit"], 16);
    assert_eq!(w[0]["usage_percent"], 12.5);
    assert_eq!(w[0]["threshold_percent"], 10.0);
}

/// BIP133 both ways, as Core: in initial block download the node asks peers for no
/// transactions (the top filter bucket, 9,936,506 sat/kvB); once out of it, its filter drops
/// to `-minrelaytxfee` (the mempool is empty). The filter a peer sends shows in getpeerinfo.
#[test]
fn feefilter_in_and_out_of_initial_block_download() {
    let port = http::free_port();
    let n = node_proc::start_node(
        &[
            &format!("-rpcport={port}"),
            "-port=0",
            "-bind=127.0.0.1",
            "-minrelaytxfee=0.00000010",
        ],
        &[],
    );
    n.wait_started();
    assert_eq!(rpc(&n, port, "getblockchaininfo", json!([]))["initialblockdownload"], json!(true));
    let mut p = TestPeer::connect_from(p2p_peer::p2p_addr(&n), "127.0.0.1").unwrap();
    p.handshake(0);
    let filter = |p: &mut TestPeer| {
        p.expect(Duration::from_secs(10), "feefilter", |m| match m {
            NetworkMessage::FeeFilter(f) => Some(*f),
            _ => None,
        })
    };
    assert_eq!(filter(&mut p), 9_936_506);
    p.send(NetworkMessage::FeeFilter(2_500)).unwrap();
    wait_for("minfeefilter in getpeerinfo", Duration::from_secs(10), &[&n], || {
        rpc(&n, port, "getpeerinfo", json!([]))[0]["minfeefilter"] == json!(0.000025)
    });
    // A new block with the current time ends initial block download.
    rpc(
        &n,
        port,
        "generatetoaddress",
        json!([1, "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"]),
    );
    assert_eq!(rpc(&n, port, "getblockchaininfo", json!([]))["initialblockdownload"], json!(false));
    assert_eq!(filter(&mut p), 10);
}

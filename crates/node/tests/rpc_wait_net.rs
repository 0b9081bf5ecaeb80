//! Real `blvm-node` processes: the blocking waits (waitfornewblock, waitforblock,
//! waitforblockheight) woken by blocks mined from another thread, their timeouts and their end
//! at shutdown; getrpcinfo while a wait runs; setnetworkactive (peers dropped, connections
//! refused, networkactive reported), getaddednodeinfo and getnodeaddresses.

mod support;

use support::{http, mining, node_proc, p2p_peer};

use bitcoin::p2p::address::{AddrV2, AddrV2Message};
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::ServiceFlags;
use node_proc::{wait_for, NodeProc};
use p2p_peer::{accept_from, rpc, rpc_raw, TestPeer};
use serde_json::{json, Value};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn address() -> String {
    bitcoin::Address::from_script(&mining::p2wsh_op_true(), bitcoin::Network::Regtest)
        .unwrap()
        .to_string()
}

/// Runs `method` on another thread; the receiver yields (reply, elapsed).
fn call_async(n: &NodeProc, port: u16, method: &str, params: Value) -> mpsc::Receiver<(Value, Duration)> {
    let creds = p2p_peer::cookie(n);
    let method = method.to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let t = Instant::now();
        let r = http::call(&format!("127.0.0.1:{port}"), &creds, &method, params);
        let _ = tx.send((r, t.elapsed()));
    });
    rx
}

fn tip(n: &NodeProc, port: u16) -> Value {
    let hash = rpc(n, port, "getbestblockhash", json!([]));
    let height = rpc(n, port, "getblockcount", json!([]));
    json!({"hash": hash, "height": height})
}

#[test]
fn waits_end_on_new_blocks_timeouts_and_shutdown() {
    let port = http::free_port();
    let mut n = node_proc::start_node(&[&format!("-rpcport={port}"), "-listen=0"], &[]);
    n.wait_started();
    let addr = address();
    rpc(&n, port, "generatetoaddress", json!([1, addr]));
    let start = tip(&n, port);

    // waitfornewblock (no timeout) sleeps until another client mines a block.
    let waiting = call_async(&n, port, "waitfornewblock", json!([]));
    assert!(
        waiting.recv_timeout(Duration::from_millis(700)).is_err(),
        "returns before any block"
    );
    let mined = rpc(&n, port, "generatetoaddress", json!([1, addr]));
    let (reply, _) = waiting.recv_timeout(Duration::from_secs(10)).expect("woken by the new block");
    assert_eq!(reply["result"], json!({"hash": mined[0], "height": 2}), "{reply}");
    let info = rpc(&n, port, "getrpcinfo", json!([]));
    assert_eq!(
        info["active_commands"].as_array().unwrap().len(),
        1,
        "finished calls leave the list: {info}"
    );

    // With a timeout and no block: the current tip after about the timeout.
    let now = tip(&n, port);
    assert_ne!(now, start);
    let t = Instant::now();
    let r = rpc(&n, port, "waitfornewblock", json!([400]));
    let took = t.elapsed();
    assert_eq!(r, now);
    assert!(took >= Duration::from_millis(390) && took < Duration::from_secs(5), "{took:?}");
    // current_tip different from the tip: returns at once.
    let t = Instant::now();
    assert_eq!(
        rpc(&n, port, "waitfornewblock", json!({"timeout": 20000, "current_tip": start["hash"]})),
        now
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    // A timeout too large for the clock waits like no timeout (and does not crash the node).
    let huge = call_async(&n, port, "waitfornewblock", json!([i64::MAX]));
    assert!(huge.recv_timeout(Duration::from_millis(300)).is_err());
    assert_eq!(rpc(&n, port, "getblockcount", json!([])), 2, "node still answers");
    assert_eq!(
        rpc_raw(&n, port, "waitfornewblock", json!([-1]))["error"],
        json!({"code": -1, "message": "Negative timeout"})
    );

    // waitforblockheight: not woken by a block below the target, woken by the one reaching it.
    let waiting = call_async(&n, port, "waitforblockheight", json!([4, 20000]));
    assert!(waiting.recv_timeout(Duration::from_millis(500)).is_err());
    rpc(&n, port, "generatetoaddress", json!([1, addr]));
    assert!(waiting.recv_timeout(Duration::from_millis(700)).is_err(), "height 3 is not enough");
    let mined = rpc(&n, port, "generatetoaddress", json!([1, addr]));
    let (reply, took) = waiting.recv_timeout(Duration::from_secs(10)).expect("woken at height 4");
    assert_eq!(reply["result"], json!({"hash": mined[0], "height": 4}));
    assert!(took < Duration::from_secs(15));
    // A height already reached answers at once; an unreachable one times out with the tip.
    assert_eq!(rpc(&n, port, "waitforblockheight", json!([2, 20000]))["height"], 4);
    let t = Instant::now();
    assert_eq!(
        rpc(&n, port, "waitforblockheight", json!({"height": 100, "timeout": 300}))["height"],
        4
    );
    assert!(t.elapsed() >= Duration::from_millis(290));

    // waitforblock: the tip's hash at once; another hash until the timeout.
    let now = tip(&n, port);
    assert_eq!(rpc(&n, port, "waitforblock", json!([now["hash"], 20000])), now);
    let t = Instant::now();
    assert_eq!(rpc(&n, port, "waitforblock", json!(["ab".repeat(32), 300])), now);
    assert!(t.elapsed() >= Duration::from_millis(290));
    assert_eq!(rpc_raw(&n, port, "waitforblock", json!(["xyz"]))["error"]["code"], -8);
    // waitforblock woken by exactly that block: built here, so its hash is known in advance.
    let header = rpc(&n, port, "getblockheader", json!([now["hash"]]));
    let parent = mining::Parent {
        hash: now["hash"].as_str().unwrap().parse().unwrap(),
        height: header["height"].as_u64().unwrap() as u32,
        time: header["time"].as_u64().unwrap() as u32,
        mtp: header["mediantime"].as_i64().unwrap(),
    };
    let block = mining::build_block(&parent, 42, vec![], bitcoin::Amount::ZERO, mining::op_true());
    let want = block.block_hash().to_string();
    let waiting = call_async(&n, port, "waitforblock", json!({"blockhash": want, "timeout": 20000}));
    assert!(waiting.recv_timeout(Duration::from_millis(500)).is_err());
    assert_eq!(
        rpc(&n, port, "submitblock", json!([bitcoin::consensus::encode::serialize_hex(&block)])),
        Value::Null
    );
    let (reply, took) = waiting.recv_timeout(Duration::from_secs(10)).expect("woken by the block");
    assert_eq!(reply["result"], json!({"hash": want, "height": 5}));
    assert!(took < Duration::from_secs(15));
    let now = tip(&n, port);

    // A wait without timeout ends promptly when the node is stopped, with the tip.
    let waiting = call_async(&n, port, "waitfornewblock", json!([0]));
    assert!(waiting.recv_timeout(Duration::from_millis(500)).is_err());
    let t = Instant::now();
    rpc(&n, port, "stop", json!([]));
    let (reply, _) = waiting.recv_timeout(Duration::from_secs(10)).expect("wait ends at shutdown");
    assert_eq!(reply["result"], now, "{reply}");
    let status = n.wait_exit(Duration::from_secs(30));
    assert!(status.success());
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}

fn addrv2(ip: [u8; 4], port: u16) -> AddrV2Message {
    AddrV2Message {
        time: (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 3600) as u32,
        services: ServiceFlags::NETWORK | ServiceFlags::WITNESS,
        addr: AddrV2::Ipv4(Ipv4Addr::from(ip)),
        port,
    }
}

#[test]
fn setnetworkactive_addednodeinfo_and_nodeaddresses() {
    let port = http::free_port();
    let n = node_proc::start_node(&[&format!("-rpcport={port}"), "-port=0", "-bind=127.0.0.1"], &[]);
    n.wait_started();
    let p2p = p2p_peer::p2p_addr(&n);

    // getnodeaddresses: addresses a peer told us about, with Core's keys.
    let mut p = TestPeer::connect_from(p2p, "127.0.0.1").unwrap();
    p.handshake(0);
    // One address per peer: a new inbound peer may send one address at once (Core's token bucket).
    let sent = [addrv2([10, 1, 2, 3], 8333), addrv2([10, 4, 5, 6], 18444)];
    p.send(NetworkMessage::AddrV2(vec![sent[0].clone()])).unwrap();
    let mut p2 = TestPeer::connect_from(p2p, "127.0.0.2").unwrap();
    p2.handshake(0);
    p2.send(NetworkMessage::AddrV2(vec![sent[1].clone()])).unwrap();
    wait_for("addresses stored", Duration::from_secs(10), &[&n], || {
        rpc(&n, port, "getnodeaddresses", json!([0])).as_array().unwrap().len() == 2
    });
    let all = rpc(&n, port, "getnodeaddresses", json!([0]));
    for a in all.as_array().unwrap() {
        let keys: Vec<&String> = a.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["time", "services", "address", "port", "network"]);
        assert_eq!(a["network"], "ipv4");
        assert_eq!(a["services"], (ServiceFlags::NETWORK | ServiceFlags::WITNESS).to_u64());
        let m = sent
            .iter()
            .find(|s| {
                s.socket_addr().unwrap()
                    == format!("{}:{}", a["address"].as_str().unwrap(), a["port"])
                        .parse::<SocketAddr>()
                        .unwrap()
            })
            .expect("one of the sent addresses");
        assert_eq!(a["time"], m.time);
    }
    assert_eq!(
        rpc(&n, port, "getnodeaddresses", json!([])).as_array().unwrap().len(),
        1,
        "count defaults to 1"
    );
    assert_eq!(rpc(&n, port, "getnodeaddresses", json!({"count": 0, "network": "ipv6"})), json!([]));
    assert_eq!(rpc(&n, port, "getnodeaddresses", json!([0, "ipv4"])).as_array().unwrap().len(), 2);
    assert_eq!(
        rpc_raw(&n, port, "getnodeaddresses", json!([-1]))["error"],
        json!({"code": -8, "message": "Address count out of range"})
    );
    assert_eq!(
        rpc_raw(&n, port, "getnodeaddresses", json!([1, "avian"]))["error"],
        json!({"code": -8, "message": "Network not recognized: avian"})
    );

    // getaddednodeinfo: an added node we accept the node's connection from.
    let listener = p2p_peer::listen_on("127.0.0.5");
    let target = listener.local_addr().unwrap().to_string();
    assert_eq!(rpc(&n, port, "getaddednodeinfo", json!([])), json!([]));
    rpc(&n, port, "addnode", json!([target, "add"]));
    let mut manual = accept_from(&listener, Duration::from_secs(10)).expect("node dials the added node");
    manual.accept_handshake(0);
    wait_for("added node connected", Duration::from_secs(10), &[&n], || {
        rpc(&n, port, "getaddednodeinfo", json!([]))[0]["connected"] == json!(true)
    });
    let info = rpc(&n, port, "getaddednodeinfo", json!([target]));
    assert_eq!(
        info,
        json!([{"addednode": target, "connected": true, "addresses": [{"address": target, "connected": "outbound"}]}])
    );
    assert_eq!(
        rpc_raw(&n, port, "getaddednodeinfo", json!(["127.0.0.9:1"]))["error"],
        json!({"code": -24, "message": "Error: Node has not been added."})
    );

    // setnetworkactive false: every peer is dropped, new connections are refused.
    assert!(rpc(&n, port, "getconnectioncount", json!([])).as_u64().unwrap() >= 3);
    assert_eq!(rpc(&n, port, "setnetworkactive", json!([false])), json!(false));
    assert!(p.wait_closed(Duration::from_secs(10)), "inbound peer dropped");
    assert!(p2.wait_closed(Duration::from_secs(10)), "second inbound peer dropped");
    assert!(manual.wait_closed(Duration::from_secs(10)), "outbound peer dropped");
    assert_eq!(rpc(&n, port, "getnetworkinfo", json!([]))["networkactive"], false);
    wait_for("no connections", Duration::from_secs(10), &[&n], || {
        rpc(&n, port, "getconnectioncount", json!([])) == json!(0)
    });
    if let Ok(mut q) = TestPeer::connect_from(p2p, "127.0.0.6") {
        assert!(q.wait_closed(Duration::from_secs(10)), "connection refused while inactive");
    }
    // The added node is not redialled while inactive.
    assert!(
        accept_from(&listener, Duration::from_secs(2)).is_none(),
        "no outbound dial while inactive"
    );
    assert_eq!(rpc(&n, port, "getconnectioncount", json!([])), 0);
    assert_eq!(rpc(&n, port, "getaddednodeinfo", json!([]))[0]["connected"], false);

    // setnetworkactive true: connections work again.
    assert_eq!(rpc(&n, port, "setnetworkactive", json!({"state": true})), json!(true));
    assert_eq!(rpc(&n, port, "getnetworkinfo", json!([]))["networkactive"], true);
    let mut q = TestPeer::connect_from(p2p, "127.0.0.3").unwrap();
    q.handshake(0);
    wait_for("inbound peer accepted again", Duration::from_secs(10), &[&n], || {
        rpc(&n, port, "getpeerinfo", json!([]))
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["inbound"] == true)
    });
    assert_eq!(rpc_raw(&n, port, "setnetworkactive", json!(["yes"]))["error"]["code"], -3);
}

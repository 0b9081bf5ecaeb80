//! Hostile RPC clients against the real server, all on loopback: connections that send nothing
//! or half a request are closed after `-rpcservertimeout`; at most `4 x (rpcthreads +
//! rpcworkqueue)` connections stay open (idle ones make room for new ones, a connection beyond
//! a cap of busy ones is refused); memory stays bounded and an honest call is still answered
//! during the attack; `-rpcallowip`/`-rpcbind` work as in Core and a client outside the allow
//! list is disconnected before anything is read.

mod support;

use support::{http, node_proc, p2p_peer};

use node_proc::start_node;
use node_proc::{cookie, rss_kib};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn closed(s: &mut TcpStream) -> bool {
    node_proc::closed(s, TcpStream::set_nonblocking)
}

/// Everything the server sends until it closes (or `timeout`).
fn read_all(s: &mut TcpStream, timeout: Duration) -> String {
    s.set_read_timeout(Some(timeout)).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).to_string()
}

/// A timed `getblockcount` from a fresh connection: (result, latency).
fn timed_blockcount(addr: &str, creds: &str) -> (serde_json::Value, Duration) {
    let t = Instant::now();
    let r = http::call(addr, creds, "getblockcount", json!([]));
    (r, t.elapsed())
}

#[test]
fn idle_and_half_sent_connections_are_capped_and_closed_after_rpcservertimeout() {
    const ATTACK: usize = 500;
    // Defaults -rpcthreads=4 -rpcworkqueue=16: at most 4 x 20 = 80 open connections.
    const CAP: usize = 80;
    let port = http::free_port();
    let mut n = start_node(&[&format!("-rpcport={port}"), "-rpcservertimeout=5"], &[]);
    n.wait_started();
    let addr = format!("127.0.0.1:{port}");
    let c = cookie(&n);
    let pid = n.child.as_ref().unwrap().id();
    assert_eq!(http::call(&addr, &c, "getblockcount", json!([]))["result"], 0);
    let rss_before = rss_kib(pid);

    // Half of them send nothing, half send an unfinished request head.
    let t0 = Instant::now();
    let mut attack: Vec<TcpStream> = (0..ATTACK)
        .map(|i| {
            let mut s = TcpStream::connect(&addr).expect("connect");
            if i % 2 == 1 {
                s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Len").unwrap();
            }
            s
        })
        .collect();
    // An honest client is served during the attack (its connection evicts an idle one).
    let (r, took) = timed_blockcount(&addr, &c);
    assert_eq!(r["result"], 0, "{r}");
    assert!(took < Duration::from_secs(3), "getblockcount took {took:?} under attack");

    // The server accepts them all quickly; wait (up to 4 s, before the 5 s timeout) until the
    // excess is closed.
    let open = loop {
        let open = attack.iter_mut().map(closed).filter(|c| !c).count();
        if open <= CAP || t0.elapsed() > Duration::from_secs(4) {
            break open;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let rss_during = rss_kib(pid);
    assert!(open <= CAP, "{open} idle connections kept open, more than {CAP}");
    assert!(open > 0, "connections closed before -rpcservertimeout");
    // 500 hostile connections (only 80 held) cost well under 16 MiB.
    let grew = rss_during.saturating_sub(rss_before);
    eprintln!("{ATTACK} hostile connections: {open} kept open, RSS +{grew} KiB, getblockcount during the attack took {took:?}");
    assert!(grew < 16 * 1024, "RSS grew by {grew} KiB during the attack");

    // The kept ones are closed once -rpcservertimeout (5 s) has passed, not before 4 s.
    let mut last_closed = t0.elapsed();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let still = attack.iter_mut().map(closed).filter(|c| !c).count();
        if still == 0 {
            break;
        }
        last_closed = t0.elapsed();
        assert!(Instant::now() < deadline, "{still} connections still open after {:?}", t0.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        last_closed >= Duration::from_secs(4),
        "closed after {last_closed:?}, before the timeout"
    );
    let (r, took) = timed_blockcount(&addr, &c);
    assert_eq!(r["result"], 0, "{r}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(n.child.as_mut().unwrap().try_wait().unwrap().is_none(), "node still running");
    let (status, _) = n.stop(Duration::from_secs(20));
    assert!(status.success());
}

#[test]
fn a_connection_beyond_a_cap_of_busy_ones_is_refused_and_half_sent_bodies_time_out() {
    // -rpcthreads=1 -rpcworkqueue=1: 4 x 2 = 8, raised to the minimum of 16 connections.
    const CAP: usize = 16;
    let port = http::free_port();
    let mut n = start_node(
        &[
            &format!("-rpcport={port}"),
            "-rpcthreads=1",
            "-rpcworkqueue=1",
            "-rpcservertimeout=8",
        ],
        &[],
    );
    n.wait_started();
    let addr = format!("127.0.0.1:{port}");
    let c = cookie(&n);
    // Authenticated requests whose body never completes: each connection is busy.
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\nContent-Length: 100\r\n\r\n{{\"method\":",
        http::b64(&c)
    );
    let t0 = Instant::now();
    let mut busy: Vec<TcpStream> = (0..CAP)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).expect("connect");
            s.write_all(head.as_bytes()).unwrap();
            s
        })
        .collect();
    // Give the server time to read their heads (they are busy from then on).
    std::thread::sleep(Duration::from_millis(2000));
    assert!(busy.iter_mut().all(|s| !closed(s)), "busy connections must not be evicted");
    // One more: refused at once (closed without an answer).
    let mut extra = TcpStream::connect(&addr).expect("connect is accepted by the kernel");
    let _ = extra.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
    let t = Instant::now();
    let got = read_all(&mut extra, Duration::from_secs(3));
    assert!(got.is_empty(), "refused connection got an answer: {got:?}");
    assert!(t.elapsed() < Duration::from_secs(2), "not refused promptly: {:?}", t.elapsed());
    assert!(t0.elapsed() < Duration::from_secs(7), "the check ran late ({:?})", t0.elapsed());
    // After -rpcservertimeout (8 s) the half-sent bodies are answered 408 and closed.
    for s in &mut busy {
        let got = read_all(s, Duration::from_secs(15));
        assert!(got.starts_with("HTTP/1.1 408"), "{got:?}");
    }
    assert!(
        t0.elapsed() >= Duration::from_secs(3),
        "closed after {:?}, before the timeout",
        t0.elapsed()
    );
    let (r, _) = timed_blockcount(&addr, &c);
    assert_eq!(r["result"], 0, "{r}");
    n.stop(Duration::from_secs(20));
}

#[test]
fn rpcbind_needs_rpcallowip_as_in_core() {
    let [p1, p2] = [http::free_port(), http::free_port()];
    // -rpcbind alone is ignored: the server stays on loopback at -rpcport.
    let mut n = start_node(&[&format!("-rpcbind=127.0.0.1:{p1}"), &format!("-rpcport={p2}")], &[]);
    n.wait_started();
    let log = n.run_log();
    assert!(
        log.contains("option -rpcbind was ignored because -rpcallowip was not specified, refusing to allow everyone to connect"),
        "{log}"
    );
    assert!(TcpStream::connect(("127.0.0.1", p1)).is_err(), "-rpcbind must be ignored");
    assert_eq!(
        http::call(&format!("127.0.0.1:{p2}"), &cookie(&n), "getblockcount", json!([]))["result"],
        0
    );
    n.stop(Duration::from_secs(20));

    // Together they are used.
    let mut n = start_node(
        &[
            "-rpcallowip=127.0.0.0/255.0.0.0",
            &format!("-rpcbind=127.0.0.1:{p1}"),
            &format!("-rpcport={p2}"),
        ],
        &[],
    );
    n.wait_started();
    assert!(!n.run_log().contains("-rpcbind was ignored"));
    assert_eq!(
        http::call(&format!("127.0.0.1:{p1}"), &cookie(&n), "getblockcount", json!([]))["result"],
        0
    );
    n.stop(Duration::from_secs(20));

    // -rpcallowip alone: a warning, loopback only.
    let mut n = start_node(&["-rpcallowip=10.0.0.0/8", &format!("-rpcport={p2}")], &[]);
    n.wait_started();
    assert!(
        n.run_log()
            .contains("option -rpcallowip was specified without -rpcbind; this doesn't usually make sense"),
        "{}",
        n.run_log()
    );
    n.stop(Duration::from_secs(20));

    // A bad subnet stops startup with Core's explanation.
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_blvm-node"))
        .args(["-regtest", &format!("-datadir={}", tmp.path().display()), "-rpcallowip=10.0.0.0/33"])
        .output()
        .expect("run blvm-node");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("-rpcallowip") && err.contains("network/CIDR (e.g. 1.2.3.4/24)"),
        "{err}"
    );
}

#[test]
fn a_client_outside_the_allow_list_is_disconnected_before_auth() {
    use blvm_node::node::NodeSettings;
    use blvm_node::p2p::ban::Subnet;
    use blvm_node::params::ChainParams;
    use blvm_node::rpc::server::RpcSettings;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let net_dir = dir.path().join("regtest");
    let mut s = NodeSettings::new(ChainParams::for_network(bitcoin::Network::Regtest), net_dir.clone());
    s.chain = support::test_settings();
    s.lifecycle.ack_timeout = Duration::from_secs(2);
    s.lifecycle.shutdown_timeout = Duration::from_secs(2);
    // Only 127.0.0.2 (in the binary loopback is always allowed, as in Core; this list is what
    // the server gets, so a loopback client can stand for an outside one).
    s.rpc = Some(RpcSettings {
        cookie_path: Some(net_dir.join(".cookie")),
        allow: vec![Subnet::parse("127.0.0.2").unwrap()],
        ..Default::default()
    });
    let node = rt.block_on(blvm_node::launch::start(s)).expect("node starts");
    let addr: SocketAddr = node.rpc_addrs()[0];
    let creds = std::fs::read_to_string(net_dir.join(".cookie")).unwrap();
    let body = json!({"method": "getblockcount", "id": 1}).to_string();
    let request = |auth: bool| {
        let a = if auth {
            format!("Authorization: Basic {}\r\n", http::b64(&creds))
        } else {
            String::new()
        };
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\n{a}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };

    // From 127.0.0.1: disconnected whether or not the credentials are right, with no answer.
    for auth in [false, true] {
        let mut s = TcpStream::connect(addr).unwrap();
        let t = Instant::now();
        let got = read_all(&mut s, Duration::from_secs(10));
        assert_eq!(got, "", "nothing is answered");
        assert!(t.elapsed() < Duration::from_secs(5), "closing took {:?}", t.elapsed());
        // Whatever the client sends then goes nowhere.
        let _ = s.write_all(request(auth).as_bytes());
        assert_eq!(read_all(&mut s, Duration::from_secs(2)), "");
    }

    // From 127.0.0.2: served.
    let mut p = p2p_peer::TestPeer::connect_from(addr, "127.0.0.2").expect("connect from 127.0.0.2");
    p.stream.write_all(request(true).as_bytes()).unwrap();
    let got = read_all(&mut p.stream, Duration::from_secs(10));
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got:?}");
    assert!(got.contains("\"result\":0"), "{got:?}");

    rt.block_on(node.shutdown(blvm_node::node::ShutdownReason::Graceful));
}

//! Hostile input to the module system of a real node process: module names that would leave the
//! modules directory (`../x`, absolute paths, separators, NUL) are refused by every RPC that takes
//! one, and a local process opening many module-socket connections is bounded (at most
//! `MAX_PENDING_HANDSHAKES` = 64 connections in their handshake, 64 token-less ones, a 64 KiB
//! handshake frame, the 10 s handshake deadline) while the node stays responsive.

mod support;

use support::module_wire::{self, frame};
use support::{http, node_proc};

use node_proc::start_node;
use node_proc::{cookie, rss_kib};
use serde_json::{json, Value};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// A manifest in `dir` that would start `/bin/sleep 60` with every capability.
fn write_manifest(dir: &std::path::Path, name: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("module.toml"),
        format!(
            "name = \"{name}\"\nversion = \"1\"\nentry = \"/bin/sleep\"\nargs = [\"60\"]\nautoload = false\n\
             capabilities = [\"read_chain\", \"read_mempool\", \"read_network\", \"submit_transactions\", \"publish_events\", \"report_health\"]\n"
        ),
    )
    .unwrap();
}

#[test]
fn module_names_cannot_leave_the_modules_directory() {
    let port = http::free_port();
    let mut n = start_node(&[&format!("-rpcport={port}")], &[]);
    n.wait_started();
    let addr = format!("127.0.0.1:{port}");
    let c = cookie(&n);
    // Manifests outside <net_dir>/modules: one next to it, one anywhere (absolute path).
    write_manifest(&n.net_dir().join("evil"), "evil");
    let outside = n.datadir.join("elsewhere").join("outside");
    write_manifest(&outside, "outside");
    let abs = outside.display().to_string();
    let long = "a".repeat(65);
    let bad: Vec<&str> = vec![
        "../evil",
        "../../regtest/evil",
        &abs,
        "/etc",
        "",
        ".",
        "..",
        "a/b",
        "a\\b",
        "ev\0il",
        "evil/",
        &long,
    ];
    for name in &bad {
        for method in ["loadmodule", "reloadmodule", "unloadmodule"] {
            let r = http::call(&addr, &c, method, json!([name]));
            assert_eq!(r["error"]["code"], -8, "{method} {name:?}: {r}");
            let msg = r["error"]["message"].as_str().unwrap();
            assert!(msg.starts_with("invalid module name"), "{method} {name:?}: {msg}");
        }
    }
    let list = http::call(&addr, &c, "listmodules", json!([]));
    assert_eq!(list["result"], json!([]), "nothing was loaded: {list}");
    assert!(!n.run_log().contains("module process started"), "{}", n.run_log());

    // A directory whose manifest names another module is refused too.
    write_manifest(&n.net_dir().join("modules").join("alias"), "other");
    let r = http::call(&addr, &c, "loadmodule", json!(["alias"]));
    assert_eq!(r["error"]["code"], -1, "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("must match"), "{r}");

    // A valid name inside the modules directory still loads.
    write_manifest(&n.net_dir().join("modules").join("good"), "good");
    let r = http::call(&addr, &c, "loadmodule", json!(["good"]));
    assert_eq!(r["error"], Value::Null, "{r}");
    assert_eq!(r["result"]["name"], "good");
    let r = http::call(&addr, &c, "unloadmodule", json!(["good"]));
    assert_eq!(r["result"]["status"], "stopped", "{r}");
    n.stop(Duration::from_secs(30));
}

fn closed(s: &mut UnixStream) -> bool {
    node_proc::closed(s, UnixStream::set_nonblocking)
}

fn read_frame(s: &mut UnixStream) -> Option<Value> {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    module_wire::read_frame(s)
}

fn handshake(name: &str) -> Vec<u8> {
    frame(&json!({"type": "Handshake", "protocol_versions": [1], "module_name": name, "module_version": "1", "token": null}))
}

#[test]
fn module_socket_connections_are_bounded() {
    const ATTACK: usize = 300;
    const PENDING_CAP: usize = 64;
    let port = http::free_port();
    let mut n = start_node(&[&format!("-rpcport={port}"), "-allowunauthmodules"], &[]);
    n.wait_started();
    let addr = format!("127.0.0.1:{port}");
    let c = cookie(&n);
    let pid = n.child.as_ref().unwrap().id();
    let sock = n.net_dir().join("modules.sock");
    let rss_before = rss_kib(pid);

    // A handshake frame larger than 64 KiB is refused before its body is read.
    let mut s = UnixStream::connect(&sock).unwrap();
    s.write_all(&(1u32 << 20).to_be_bytes()).unwrap();
    let reply = read_frame(&mut s).expect("error frame");
    assert_eq!(reply["code"], 9, "FRAME_TOO_LARGE: {reply}");
    drop(s);

    // Many connections that never send their handshake.
    let t0 = Instant::now();
    let mut attack: Vec<UnixStream> = (0..ATTACK).map(|_| UnixStream::connect(&sock).expect("connect")).collect();
    let took = Instant::now();
    assert_eq!(http::call(&addr, &c, "getblockcount", json!([]))["result"], 0);
    assert!(
        took.elapsed() < Duration::from_secs(3),
        "RPC took {:?} during the attack",
        took.elapsed()
    );
    // Wait (up to 8 s, before the 10 s deadline) until the excess is closed.
    let open = loop {
        let open = attack.iter_mut().map(closed).filter(|c| !c).count();
        if open <= PENDING_CAP || t0.elapsed() > Duration::from_secs(8) {
            break open;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(open <= PENDING_CAP, "{open} handshaking connections kept, more than {PENDING_CAP}");
    assert!(open > 0, "all closed before the handshake deadline");
    let grew = rss_kib(pid).saturating_sub(rss_before);
    eprintln!("{ATTACK} silent module connections: {open} kept, RSS +{grew} KiB");
    assert!(grew < 16 * 1024, "RSS grew by {grew} KiB");

    // The kept ones are closed at the 10 s handshake deadline.
    let deadline = Instant::now() + Duration::from_secs(25);
    while attack.iter_mut().any(|s| !closed(s)) {
        assert!(Instant::now() < deadline, "handshaking connections outlived the deadline");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(t0.elapsed() >= Duration::from_secs(9), "closed after {:?}", t0.elapsed());
    drop(attack);

    // Token-less connections (allowed here) are capped at 64 as well.
    let mut ok = Vec::new();
    for i in 0..64 {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.write_all(&handshake(&format!("ext{i}"))).unwrap();
        let ack = read_frame(&mut s).expect("ack");
        assert_eq!(ack["type"], "HandshakeAck", "{i}: {ack}");
        ok.push(s);
    }
    let mut s = UnixStream::connect(&sock).unwrap();
    s.write_all(&handshake("ext64")).unwrap();
    let reply = read_frame(&mut s).expect("error frame");
    assert_eq!(reply["type"], "Error", "{reply}");
    assert_eq!(reply["code"], 6, "RATE_LIMITED: {reply}");
    drop(ok);
    // Room again once they are gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.write_all(&handshake("late")).unwrap();
        let r = read_frame(&mut s).expect("reply");
        if r["type"] == "HandshakeAck" {
            break;
        }
        assert!(Instant::now() < deadline, "no room after the others closed: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _) = n.stop(Duration::from_secs(20));
    assert!(status.success());
}

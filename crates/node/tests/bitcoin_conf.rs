//! A `bitcoin.conf` written for Bitcoin Core starts blvm-node with the same meaning: the
//! `[regtest]` section, `rpcport`, `rpcuser`/`rpcpassword`, `txindex=1`, `zmqpubrawblock`, Core's
//! options blvm does not implement (accepted and logged), a refused one, Core's network-only rule
//! and Core's error wording, with the real binary and RPC over TCP.

mod support;

use support::http;

use serde_json::json;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn command(datadir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_blvm-node"));
    for (k, _) in std::env::vars() {
        if k.starts_with("BLVM_") {
            c.env_remove(k);
        }
    }
    c.arg(format!("-datadir={}", datadir.display())).args(args).stdin(Stdio::null());
    c
}

/// Runs the binary until it exits (it is expected to refuse to start).
fn refused(datadir: &Path, args: &[&str]) -> Output {
    let out = command(datadir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `getblockcount` answers with these credentials at `addr`.
fn wait_rpc(node: &mut Node, addr: &str, creds: &str) {
    let start = Instant::now();
    loop {
        if let Some(st) = node.0.try_wait().unwrap() {
            panic!("node exited early: {st}");
        }
        if std::net::TcpStream::connect(addr).is_ok() && http::call(addr, creds, "getblockcount", json!([]))["result"] == json!(0) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "RPC never answered at {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_core_bitcoin_conf_starts_the_node_with_the_same_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let rpc = http::free_port();
    let p2p = http::free_port();
    let zmq = http::free_port();
    std::fs::write(
        dir.path().join("bitcoin.conf"),
        format!(
            "# written for bitcoind\nregtest=1\nserver=1\nnatpmp=0\nfallbackfee=0.0002\nlistenonion=0\n\
             rpcport=1\n\
             [regtest]\nrpcport={rpc}\nport={p2p}\nrpcuser=alice\nrpcpassword=s3cret\ntxindex=1\n\
             zmqpubrawblock=tcp://127.0.0.1:{zmq}\nprinttoconsole=0\nincludeconf=extra.conf\n\
             [main]\nrpcport=2\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("extra.conf"), "uacomment=fromconf\nsomefutureoption=1\n").unwrap();
    let mut node = Node(
        command(dir.path(), &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr = format!("127.0.0.1:{rpc}");
    wait_rpc(&mut node, &addr, "alice:s3cret");
    // The wrong password is refused: the file's credentials are the ones in force.
    assert_eq!(http::post(&addr, Some("alice:wrong"), "{}").status, 401);
    let info = http::call(&addr, "alice:s3cret", "getindexinfo", json!([]))["result"].clone();
    assert!(info.get("txindex").is_some(), "txindex=1 from the [regtest] section: {info}");
    let zmqs = http::call(&addr, "alice:s3cret", "getzmqnotifications", json!([]))["result"].clone();
    assert_eq!(zmqs[0]["type"], "pubrawblock", "{zmqs}");
    assert_eq!(zmqs[0]["address"], format!("tcp://127.0.0.1:{zmq}"), "{zmqs}");
    let net = http::call(&addr, "alice:s3cret", "getnetworkinfo", json!([]))["result"].clone();
    assert!(
        net["subversion"].as_str().unwrap().ends_with("(fromconf)/"),
        "includeconf's uacomment: {net}"
    );
    assert!(http::call(&addr, "alice:s3cret", "getblockchaininfo", json!([]))["result"]["chain"] == "regtest");
    let log = std::fs::read_to_string(dir.path().join("regtest/debug.log")).unwrap();
    assert!(
        log.contains(&format!("Config file: {}", dir.path().join("bitcoin.conf").display())),
        "{log}"
    );
    assert!(log.contains("Ignoring unknown configuration value somefutureoption"), "{log}");
    assert!(log.contains("ignored: -natpmp=0 -fallbackfee=0.0002 -listenonion=0"), "{log}");
    assert!(dir.path().join("regtest/bitcoind.pid").exists(), "Core's PID file");
    assert_eq!(http::call(&addr, "alice:s3cret", "stop", json!([]))["error"], json!(null));
    let start = Instant::now();
    while node.0.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(30), "node did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!dir.path().join("regtest/bitcoind.pid").exists(), "the PID file is removed at exit");
}

#[test]
fn core_rules_and_wording_for_bad_configurations() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bitcoin.conf");
    let err = |args: &[&str]| String::from_utf8_lossy(&refused(dir.path(), args).stderr).to_string();
    // A network-only option at the top of the file applies to mainnet only, as in Core.
    std::fs::write(&conf, "regtest=1\nrpcport=18000\n").unwrap();
    assert!(
        err(&[]).contains("Error: Config setting for -rpcport only applied on regtest network when in [regtest] section."),
        "{}",
        err(&[])
    );
    std::fs::write(&conf, "-regtest=1\n").unwrap();
    assert!(err(&[]).contains("options in configuration file must be specified without leading hyphen"));
    std::fs::write(&conf, "regtest=1\n").unwrap();
    // Options whose silent absence would betray the operator are refused.
    assert!(err(&["-proxy=127.0.0.1:9050"]).contains("-proxy=127.0.0.1:9050 is not supported"));
    assert!(err(&["-fakearg"]).contains("Error parsing command line arguments: Invalid parameter -fakearg"));
    assert!(err(&["-debug=abc"]).contains("Error: Unsupported logging category -debug=abc."));
    assert!(err(&["-includeconf=x.conf"]).contains("-includeconf cannot be used from commandline"));
    // -conf names a bitcoin.conf-format file (TOML only when it ends in .toml).
    std::fs::write(dir.path().join("other.conf"), "regtest=1\n[regtest]\nmaxmempool=1\n").unwrap();
    assert!(err(&["-conf=other.conf"]).contains("-maxmempool"), "{}", err(&["-conf=other.conf"]));
}

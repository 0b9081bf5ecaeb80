//! RPC load benchmark: a second process on loopback makes a bounded loop of JSON-RPC calls over
//! one keep-alive HTTP/1.1 connection per client thread against a node holding Core's 300-block
//! chain. Reports calls/s and p50/p99 latency for `getblock <hash> 2` (a heavy call) against
//! `getblockcount` (the baseline: HTTP + auth + dispatch only) in the same invocation.
//!
//! Run: `cargo bench -p blvm-node --bench rpc_load` (env BLVM_RPC_CALLS, default 3000 per method).

#[path = "../tests/support/mod.rs"]
mod support;

use support::http;

use blvm_node::chain::{ChainManager, ChainSettings, FlushReason};
use blvm_node::node::{NodeSettings, ShutdownReason};
use blvm_node::params::ChainParams;
use blvm_node::rpc::auth::RpcAuth;
use blvm_node::rpc::server::RpcSettings;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Client mode: `rpc_load client ADDR COOKIE METHOD PARAMS_JSON CALLS` prints one line of latencies (µs).
fn client(args: &[String]) {
    let (addr, cookie, method, params, calls) = (&args[2], &args[3], &args[4], &args[5], args[6].parse::<usize>().unwrap_or(1000));
    let auth = http::b64(cookie);
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).ok();
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut lat = Vec::with_capacity(calls);
    for i in 0..calls {
        let body = format!("{{\"jsonrpc\":\"1.0\",\"id\":{i},\"method\":\"{method}\",\"params\":{params}}}");
        let req = format!("POST / HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        let t = Instant::now();
        s.write_all(req.as_bytes()).expect("write");
        let mut len = 0usize;
        let mut status = String::new();
        r.read_line(&mut status).expect("status");
        assert!(status.contains(" 200 "), "HTTP status {status}");
        loop {
            let mut h = String::new();
            r.read_line(&mut h).expect("header");
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut buf = vec![0u8; len];
        r.read_exact(&mut buf).expect("body");
        lat.push(t.elapsed().as_micros() as u64);
        assert!(
            buf.starts_with(b"{\"error\":null") || buf.windows(12).any(|w| w == b"\"error\":null"),
            "RPC error: {}",
            String::from_utf8_lossy(&buf)
        );
    }
    println!("{}", lat.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","));
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("client") {
        return client(&args);
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let calls: usize = std::env::var("BLVM_RPC_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let dir = tempfile::tempdir().expect("tempdir");
    let net_dir = dir.path().join("regtest");
    let params = ChainParams::for_network(bitcoin::Network::Regtest);
    {
        let mut c = ChainManager::open(params.clone(), &net_dir, ChainSettings::default()).expect("open");
        blvm_node::import::import_file(&mut c, &support::chain_hex_path(), Duration::from_secs(60)).expect("import");
        c.flush(FlushReason::Manual).expect("flush");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut s = NodeSettings::new(params, net_dir.clone());
        s.rpc = Some(RpcSettings {
            bind: vec!["127.0.0.1:0".parse().expect("addr")],
            threads: 4,
            work_queue: 64,
            auth: RpcAuth::new(None, &[]).expect("auth"),
            cookie_path: Some(net_dir.join(".cookie")),
            ..Default::default()
        });
        let node = blvm_node::launch::start(s).await.expect("node");
        let addr = node.rpc_addrs()[0].to_string();
        let cookie = std::fs::read_to_string(net_dir.join(".cookie")).expect("cookie");
        let tip = node.chain().lock().expect("chain").tip().hash.to_string();
        println!(
            "rpc_load: {calls} calls per method, one keep-alive connection from a second process, machine: {} cores",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        );
        println!(
            "{:<24} {:>10} {:>10} {:>10} {:>10}",
            "method", "calls/s", "p50 µs", "p99 µs", "ratio"
        );
        let mut base = 0.0;
        for (method, p) in [
            ("getblockcount", "[]".to_string()),
            ("getblock", format!("[\"{tip}\",2]")),
            ("getblock", format!("[\"{tip}\",1]")),
            ("getblockchaininfo", "[]".to_string()),
        ] {
            let exe = std::env::current_exe().expect("exe");
            let t = Instant::now();
            let out = tokio::task::spawn_blocking({
                let (addr, cookie, p) = (addr.clone(), cookie.clone(), p.clone());
                move || {
                    std::process::Command::new(exe)
                        .args(["client", &addr, &cookie, method, &p, &calls.to_string()])
                        .output()
                        .expect("client")
                }
            })
            .await
            .expect("join");
            let wall = t.elapsed().as_secs_f64();
            assert!(out.status.success(), "client failed: {}", String::from_utf8_lossy(&out.stderr));
            let mut lat: Vec<u64> = String::from_utf8_lossy(&out.stdout)
                .trim()
                .split(',')
                .filter_map(|x| x.parse().ok())
                .collect();
            lat.sort_unstable();
            let rate = calls as f64 / wall;
            if base == 0.0 {
                base = rate;
            }
            let label = if method == "getblock" {
                format!("getblock v{}", &p[p.len() - 2..p.len() - 1])
            } else {
                method.to_string()
            };
            println!(
                "{:<24} {:>10.0} {:>10} {:>10} {:>10.2}",
                label,
                rate,
                pct(&lat, 0.5),
                pct(&lat, 0.99),
                rate / base
            );
        }
        node.shutdown(ShutdownReason::Graceful).await;
    });
}

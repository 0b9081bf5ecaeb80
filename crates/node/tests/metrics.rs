//! The Prometheus endpoint of a real node process (`-metricsbind`), scraped over HTTP and parsed
//! with the `prometheus-parse` crate: chain height after `-loadblock` of the shared Core chain,
//! per-module event counters, module states and restarts, events by type, RPC latency and flush
//! histograms; off by default.

mod support;

use support::{http, node_proc};

use node_proc::{start_node, ModuleSpec, NodeProc};
use prometheus_parse::{Scrape, Value};
use serde_json::json;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// GET `path` from `addr`: (status, content type, body).
fn get(addr: &str, path: &str) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let ctype = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    (status, ctype, body.to_string())
}

fn scrape(addr: &str) -> Scrape {
    let (status, ctype, body) = get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text format")
}

/// The value of the one sample of `metric` whose labels include `labels`.
fn value(s: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let hits: Vec<f64> = s
        .samples
        .iter()
        .filter(|x| x.metric == metric && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .filter_map(|x| match &x.value {
            Value::Gauge(v) | Value::Counter(v) | Value::Untyped(v) => Some(*v),
            _ => None,
        })
        .collect();
    assert!(hits.len() <= 1, "{metric}{labels:?} matches {} samples", hits.len());
    hits.first().copied()
}

/// The `+Inf` bucket (total count) of a histogram series.
fn histogram_count(s: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .filter(|x| x.metric == metric && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .find_map(|x| match &x.value {
            Value::Histogram(b) => b.iter().find(|c| c.less_than.is_infinite()).map(|c| c.count),
            _ => None,
        })
}

fn rpc_addr(n: &NodeProc) -> String {
    let log = n.log();
    let line = log.lines().find(|l| l.contains("RPC server listening")).expect("RPC line");
    line.split("addrs=[")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .unwrap()
        .split(", ")
        .next()
        .unwrap()
        .to_string()
}

fn metrics_addr(n: &NodeProc) -> String {
    let log = n.log();
    let line = log
        .lines()
        .find(|l| l.contains("metrics endpoint listening"))
        .unwrap_or_else(|| panic!("no metrics line:\n{log}"));
    line.split("http://").nth(1).and_then(|r| r.split('/').next()).unwrap().to_string()
}

#[test]
fn scrape_reports_chain_modules_events_and_rpc_latency() {
    let chain = support::chain_hex_path();
    let tip = support::core_json()["getblockchaininfo"]["blocks"].as_f64().expect("Core's tip");
    let mut crasher = ModuleSpec::recorder("crasher", "crash_after_ms = 300");
    crasher.capabilities = vec![];
    let mut n = start_node(
        &[
            "-metricsbind=127.0.0.1:0",
            &format!("-loadblock={}", chain.display()),
            "-modulemaxrestarts=1",
            "-modulebackoffms=50",
        ],
        &[ModuleSpec::recorder("rec", ""), crasher],
    );
    n.wait_started();
    assert!(n.log().contains("\"metrics\""), "metrics is a startup component:\n{}", n.log());
    let addr = metrics_addr(&n);
    n.wait_until(Duration::from_secs(60), "-loadblock finished", |n| {
        n.log().contains("loaded blocks")
    });

    // RPC calls feed the latency histogram; flushchainstate feeds the flush histogram.
    let rpc = rpc_addr(&n);
    let cookie = std::fs::read_to_string(n.net_dir().join(".cookie")).expect("cookie");
    assert_eq!(http::call(&rpc, &cookie, "getblockcount", json!([]))["result"], json!(tip as u64));
    assert_eq!(http::call(&rpc, &cookie, "getblockcount", json!([]))["result"], json!(tip as u64));
    assert!(http::call(&rpc, &cookie, "flushchainstate", json!([]))["error"].is_null());
    assert!(!http::call(&rpc, &cookie, "nosuchmethod", json!([]))["error"].is_null());

    // The crashing module exits twice (start + one restart) and is then marked failed; the
    // recorder's queue drains. Poll until both are visible.
    let start = Instant::now();
    let s = loop {
        let s = scrape(&addr);
        let delivered = value(&s, "blvm_module_events_delivered_total", &[("module", "rec")]).unwrap_or(0.0);
        let failed = value(&s, "blvm_module_up", &[("module", "crasher"), ("status", "failed")]).is_some();
        if delivered >= tip && failed {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "metrics did not settle: delivered={delivered} crasher failed={failed}\n{}",
            get(&addr, "/metrics").2
        );
        std::thread::sleep(Duration::from_millis(50));
    };

    assert_eq!(value(&s, "blvm_chain_height", &[]), Some(tip));
    assert_eq!(value(&s, "blvm_headers", &[]), Some(tip));
    assert!(value(&s, "blvm_utxo_cache_bytes", &[]).unwrap() > 0.0);
    assert_eq!(value(&s, "blvm_peers", &[]).map(|v| v >= 0.0), Some(true));
    assert!(value(&s, "blvm_mempool_size", &[]).is_some() && value(&s, "blvm_mempool_bytes", &[]).is_some());
    // Every block of the file was published once, and the recorder (read_chain) got each.
    assert_eq!(value(&s, "blvm_events_published_total", &[("type", "NewBlock")]), Some(tip));
    assert_eq!(
        value(&s, "blvm_events_published_total", &[("type", "NodeStartupCompleted")]),
        Some(1.0)
    );
    let delivered = value(&s, "blvm_module_events_delivered_total", &[("module", "rec")]).unwrap();
    assert!(delivered >= tip, "rec got {delivered} events");
    assert_eq!(value(&s, "blvm_module_events_dropped_total", &[("module", "rec")]), Some(0.0));
    assert_eq!(value(&s, "blvm_module_up", &[("module", "rec"), ("status", "running")]), Some(1.0));
    assert_eq!(value(&s, "blvm_module_restarts_total", &[("module", "rec")]), Some(0.0));
    assert_eq!(
        value(&s, "blvm_module_up", &[("module", "crasher"), ("status", "failed")]),
        Some(0.0)
    );
    assert_eq!(
        value(&s, "blvm_module_restarts_total", &[("module", "crasher")]),
        Some(2.0),
        "two unexpected exits with -modulemaxrestarts=1"
    );
    assert_eq!(value(&s, "blvm_events_published_total", &[("type", "ModuleCrashed")]), Some(2.0));

    assert_eq!(
        histogram_count(&s, "blvm_rpc_request_duration_seconds", &[("method", "getblockcount")]),
        Some(2.0)
    );
    assert_eq!(
        histogram_count(&s, "blvm_rpc_request_duration_seconds", &[("method", "unknown")]),
        Some(1.0)
    );
    let sum = value(&s, "blvm_rpc_request_duration_seconds_sum", &[("method", "getblockcount")]).unwrap();
    assert!(sum > 0.0 && sum < 10.0, "{sum}");
    assert!(histogram_count(&s, "blvm_flush_duration_seconds", &[]).unwrap() >= 1.0);
    assert!(value(&s, "blvm_last_flush_duration_seconds", &[]).unwrap() > 0.0);
    // HELP and TYPE for the families the issue names.
    for m in [
        "blvm_chain_height",
        "blvm_module_events_delivered_total",
        "blvm_rpc_request_duration_seconds",
        "blvm_module_up",
    ] {
        assert!(s.docs.contains_key(m), "no HELP for {m}");
    }

    let (status, _, _) = get(&addr, "/");
    assert_eq!(status, 404);
    let (st, _) = n.stop(Duration::from_secs(30));
    assert!(st.success());
    assert!(std::net::TcpStream::connect(&addr).is_err(), "endpoint closed at shutdown");
}

#[test]
fn metrics_are_off_by_default() {
    let mut n = start_node(&[], &[]);
    n.wait_started();
    let log = n.log();
    assert!(!log.contains("metrics endpoint"), "{log}");
    let line = log.lines().find(|l| l.contains("node startup completed")).unwrap();
    assert!(!line.contains("\"metrics\""), "{line}");
    n.stop(Duration::from_secs(30));
}

//! The README's 5-minute tour, run as written: every ```sh block between `<!-- tour:begin -->` and
//! `<!-- tour:end -->` in README.md, in order, in one bash process, on a fresh datadir, with the
//! built binaries on PATH (the README's build step is what `cargo test --workspace` already did).
//! The environment only moves the datadir, the RPC port and the metrics port off their defaults
//! (the tour reads `BLVM_DATADIR`, `BLVM_RPCPORT` and `BLVM_METRICSBIND` for exactly that).

mod support;

use support::http;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

/// The shell code of the tour section of a README.
fn tour_script(readme: &str) -> String {
    let begin = readme.find("<!-- tour:begin -->").expect("README has <!-- tour:begin -->");
    let end = readme[begin..].find("<!-- tour:end -->").expect("README has <!-- tour:end -->") + begin;
    let mut script = String::new();
    let mut in_block = false;
    for line in readme[begin..end].lines() {
        if !in_block && line.trim_start().starts_with("```sh") {
            in_block = true;
        } else if in_block && line.trim_start().starts_with("```") {
            in_block = false;
            script.push('\n');
        } else if in_block {
            script.push_str(line);
            script.push('\n');
        }
    }
    assert!(!in_block, "unterminated code block in the tour");
    script
}

#[test]
fn readme_tour_works_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let tour = tour_script(&readme);
    for step in [
        "blvm-node -regtest",
        "generatetoaddress",
        "sendrawtransaction",
        "loadmodule",
        "events.jsonl",
        "/metrics",
        "rpc stop",
    ] {
        assert!(tour.contains(step), "the tour lost its step {step:?}");
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_blvm-node")).parent().unwrap().to_path_buf();
    assert!(
        bin_dir.join("event-recorder").exists(),
        "event-recorder not built: run `cargo test --workspace` (or `cargo build --workspace --bins`)"
    );

    let tmp = tempfile::tempdir().unwrap();
    let datadir = tmp.path().join("blvm-tour");
    let script_path = tmp.path().join("tour.sh");
    // Fail at the first failing command; never leave the background node behind.
    let script = format!("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{tour}");
    std::fs::write(&script_path, script).unwrap();
    let (rpc_port, metrics_port) = (http::free_port(), http::free_port());
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "5", "180", "bash"])
        .arg(&script_path)
        .current_dir(&root)
        .stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("BLVM_") {
            cmd.env_remove(k);
        }
    }
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    cmd.env("PATH", path)
        .env("BLVM_DATADIR", &datadir)
        .env("BLVM_RPCPORT", rpc_port.to_string())
        .env("BLVM_METRICSBIND", format!("127.0.0.1:{metrics_port}"));
    let out = cmd.output().expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let log = std::fs::read_to_string(datadir.join("regtest/debug.log")).unwrap_or_default();
    let ctx = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- debug.log\n{log}");
    assert!(out.status.success(), "the tour failed ({}):\n{ctx}", out.status);

    // What the README says each step prints.
    let lines: Vec<&str> = stdout.lines().collect();
    let pos = |want: &str| {
        lines
            .iter()
            .position(|l| l.trim() == want)
            .unwrap_or_else(|| panic!("the tour did not print {want:?}:\n{ctx}"))
    };
    let chain = pos("regtest");
    let count = pos("101");
    assert!(chain < count);
    assert!(
        lines.iter().any(|l| l.len() == 64 && l.chars().all(|c| c.is_ascii_hexdigit())),
        "block hashes printed:\n{ctx}"
    );
    assert!(pos("running") > count);
    assert!(pos("blvm-node stopping") > count);
    assert!(stdout.contains("blvm_chain_height 102"), "metrics show the tip:\n{ctx}");
    let delivered = lines
        .iter()
        .find_map(|l| l.strip_prefix("blvm_module_events_delivered_total{module=\"recorder\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no delivered counter for the recorder:\n{ctx}"));
    assert!(delivered >= 2.0, "{delivered}");
    assert_eq!(lines.last().map(|l| l.trim()), Some("1"), "one NodeShutdown recorded:\n{ctx}");

    // The module saw the block that confirmed the transaction and the transaction leaving the
    // mempool for that reason; the node wrote everything on a clean shutdown.
    let events: Vec<Value> = std::fs::read_to_string(datadir.join("regtest/modules/recorder/data/events.jsonl"))
        .expect("events.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &Value| v["kind"] == "event")
        .map(|v| v["event"].clone())
        .collect();
    let of = |t: &str| events.iter().filter(|e| e["event_type"] == t).cloned().collect::<Vec<_>>();
    let blocks = of("NewBlock");
    assert_eq!(blocks.len(), 1, "{events:?}");
    assert_eq!(blocks[0]["payload"]["height"], 102);
    assert_eq!(blocks[0]["payload"]["tx_count"], 2, "coinbase + the tour's transaction");
    let removed = of("MempoolTransactionRemoved");
    assert_eq!(removed.len(), 1, "{events:?}");
    assert_eq!(removed[0]["payload"]["reason"], "block");
    let txid = removed[0]["payload"]["txid"].as_str().unwrap();
    assert!(stdout.contains(txid), "the tour printed the removal of its own transaction:\n{ctx}");
    assert_eq!(of("NodeShutdown").len(), 1);
    assert!(log.contains("shutdown complete"), "{log}");
}

//! Python modules on the repository's SDK (`sdk/python`, package `blvm_module`) under real
//! `blvm-node` processes: typed lifecycle events and the auto-ack rule, a JSON-RPC method, a
//! `mempool_accept` hook, and `modules/python-example`. The modules run as
//! `python3 tests/python/sdk_run.py <script>` (support/python.rs), so no `pip install` is needed.
//!
//! Needs python3 with msgpack (skipped without, outside CI) and the event-recorder binary
//! (`cargo build -p blvm-event-recorder`, or `cargo test --workspace`).

mod support;

use support::{coins, http, node_proc, p2p_peer, python};

use bitcoin::consensus::serialize;
use bitcoin::Transaction;
use coins::spend_coin;
use node_proc::{read_jsonl, start_node, ModuleSpec, NodeProc};
use p2p_peer::to_hex;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// The node's `-debug=modules` record of an ack from `module` for `sequence`.
fn node_saw_ack(log: &str, module: &str, sequence: u64) -> bool {
    let line = format!("[modules] ack module={module} sequence={sequence} event=");
    log.lines().any(|l| l.contains(&line))
}

/// One lifecycle trigger of each kind through the RPC: manual health check, flush, cleanup
/// maintenance and data cleanup.
fn trigger_lifecycle_events(n: &NodeProc, port: u16) {
    let rpc = |m: &str, p: Value| p2p_peer::rpc(n, port, m, p);
    let health = rpc("gethealth", json!([]));
    assert_eq!(health["modules"]["py"]["answered"], json!(true), "{health}");
    assert_eq!(rpc("flushchainstate", json!([]))["success"], json!(true));
    assert_eq!(rpc("runmaintenance", json!(["cleanup"]))["compacted"], json!(true));
    rpc("cleanupdata", json!([7]));
}

#[test]
fn sdk_module_gets_typed_lifecycle_events_and_its_acks_let_the_node_stop_in_under_a_second() {
    let test = "sdk_module_gets_typed_lifecycle_events_and_its_acks_let_the_node_stop_in_under_a_second";
    let script = python::test_script("sdk_lifecycle.py");
    let Some(py) = python::sdk_module(test, "py", &script, &["report_health"], "") else {
        return;
    };
    // The Rust event-recorder sees the same events: its payloads are the reference.
    let modules = [py, ModuleSpec::recorder("rec", "")];
    let port = http::free_port();
    let args = [
        format!("-rpcport={port}"),
        "-debug=modules".into(),
        "-shutdowntimeout=30".into(),
        "-acktimeout=30".into(),
        "-disklowpercent=100".into(),
        "-diskcriticalmb=0".into(),
        "-maxmemorymb=1".into(),
        "-resourceinterval=1".into(),
    ];
    let mut n = start_node(&args.iter().map(String::as_str).collect::<Vec<_>>(), &modules);
    let data = n.module_data("py");
    n.wait_started();
    n.wait_until(WAIT, "low-disk cleanup and memory warning seen", |_| {
        let types: Vec<Value> = read_jsonl(&data.join("events.jsonl"))
            .iter()
            .map(|l| l["event_type"].clone())
            .collect();
        types.contains(&json!("ResourceLimitWarning")) && types.contains(&json!("DiskSpaceLow"))
    });
    trigger_lifecycle_events(&n, port);

    let (signalled_ms, exited_ms) = n.stop_promptly(Duration::from_secs(1));
    let log = n.log();
    // The handler raised on the manual StorageFlush: the SDK logged it (stderr reaches the log).
    assert!(log.contains("RuntimeError: python handler failed on purpose"), "{log}");
    assert!(log.contains("handling StorageFlush (sequence"), "{log}");
    // NodeShutdown's work was done between the signal and the exit, before the ack.
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(data.join("shutdown.json")).unwrap()).unwrap();
    let saved = saved["saved_at_ms"].as_u64().unwrap();
    assert!(
        (signalled_ms..=exited_ms).contains(&saved),
        "saved {saved}, signal {signalled_ms}, exit {exited_ms}"
    );

    let seen = read_jsonl(&data.join("events.jsonl"));
    let reference: std::collections::HashMap<u64, Value> = n
        .recorded_events("rec")
        .into_iter()
        .map(|(_, e)| (e["sequence"].as_u64().unwrap(), e["payload"].clone()))
        .collect();
    for line in &seen {
        let seq = line["sequence"].as_u64().unwrap();
        assert_eq!(line["class"], line["event_type"], "payload class named after its type: {line}");
        assert_eq!(
            Some(&line["payload"]),
            reference.get(&seq),
            "payload of sequence {seq} differs from Rust's"
        );
        let needs_ack = ["NodeShutdown", "StorageFlush", "MaintenanceStarted", "DataCleanup", "DiskSpaceLow"];
        assert_eq!(
            line["requires_ack"],
            json!(needs_ack.contains(&line["event_type"].as_str().unwrap())),
            "{line}"
        );
        if line["requires_ack"] == json!(true) {
            assert!(node_saw_ack(&log, "py", seq), "node saw no ack of {line}\n{log}");
        }
    }
    let payloads = |ty: &str| -> Vec<Value> {
        seen.iter()
            .filter(|l| l["event_type"] == ty)
            .map(|l| l["payload"].clone())
            .collect()
    };
    let one = |ty: &str| -> Value {
        let all = payloads(ty);
        assert!(!all.is_empty(), "no {ty}: {seen:?}");
        all[0].clone()
    };
    assert!(one("NodeStartupCompleted")["components"]
        .as_array()
        .unwrap()
        .contains(&json!("module:py")));
    let checks: Vec<Value> = payloads("HealthCheck").iter().map(|p| p["check_type"].clone()).collect();
    assert_eq!(checks[..2], [json!("startup"), json!("manual")], "{checks:?}");
    let flushes: Vec<Value> = payloads("StorageFlush").iter().map(|p| p["reason"].clone()).collect();
    assert_eq!(flushes, [json!("manual"), json!("shutdown")]);
    assert_eq!(payloads("StorageFlushCompleted").len(), 2);
    assert_eq!(
        one("MaintenanceStarted"),
        json!({"maintenance_type": "cleanup", "estimated_duration_seconds": null})
    );
    assert_eq!(one("MaintenanceCompleted")["success"], json!(true));
    let cleanups = payloads("DataCleanup");
    assert!(
        cleanups.contains(&json!({"cleanup_type": "low_disk", "target_age_days": 30})),
        "{cleanups:?}"
    );
    assert!(
        cleanups.contains(&json!({"cleanup_type": "manual", "target_age_days": 7})),
        "{cleanups:?}"
    );
    // DataCleanup was acked by the handler itself (ctx.ack()), the others by the SDK.
    assert!(seen
        .iter()
        .filter(|l| l["event_type"] == "DataCleanup")
        .all(|l| l["acked_early"] == json!(true)));
    assert!(seen
        .iter()
        .filter(|l| l["event_type"] != "DataCleanup")
        .all(|l| l["acked_early"] == json!(false)));
    let low = one("DiskSpaceLow");
    assert!(low["percent_free"].as_f64().unwrap() < 100.0 && low["available_bytes"].as_u64() <= low["total_bytes"].as_u64());
    let mem = one("ResourceLimitWarning");
    assert_eq!(
        (mem["resource_type"].clone(), mem["limit"].clone()),
        (json!("memory"), json!(1024 * 1024))
    );
    assert_eq!(one("NodeShutdown"), json!({"reason": "signal", "timeout_seconds": 30}));
    assert_eq!(seen.last().unwrap()["event_type"], "NodeShutdownCompleted");
    let mut types: Vec<&str> = seen.iter().map(|l| l["event_type"].as_str().unwrap()).collect();
    types.sort();
    types.dedup();
    let lifecycle = [
        "DataCleanup",
        "DiskSpaceLow",
        "HealthCheck",
        "MaintenanceCompleted",
        "MaintenanceStarted",
        "NodeShutdown",
        "NodeShutdownCompleted",
        "NodeStartupCompleted",
        "ResourceLimitWarning",
        "StorageFlush",
        "StorageFlushCompleted",
    ];
    assert_eq!(types, lifecycle, "every lifecycle event type was delivered");
}

/// A node listening for P2P on 127.0.0.1 with `module` connected; returns it and its RPC port.
fn start_with(module: ModuleSpec) -> (NodeProc, u16) {
    let (n, port) = p2p_peer::start_listening_with(&[], &[module]);
    n.wait_until(WAIT, "module connected", |n| n.log().contains("module connected"));
    (n, port)
}

#[test]
fn sdk_module_serves_an_rpc_method_with_positional_and_named_params_and_errors() {
    let test = "sdk_module_serves_an_rpc_method_with_positional_and_named_params_and_errors";
    let Some(spec) = python::sdk_module(test, "py", &python::test_script("rpc_module.py"), &["register_rpc"], "") else {
        return;
    };
    let (mut n, port) = start_with(spec);
    n.wait_until(WAIT, "pygreet registered", |n| n.log().contains("method=pygreet"));
    let ok = |m: &str, p: Value| p2p_peer::rpc(&n, port, m, p);
    assert_eq!(ok("pygreet", json!(["ada"])), json!({"greeting": "hello ada", "times": 1}));
    assert_eq!(
        ok("pygreet", json!({"times": 3, "name": "bob"})),
        json!({"greeting": "hello bob", "times": 3})
    );
    let e = p2p_peer::rpc_raw(&n, port, "pygreet", json!([]));
    assert_eq!(e["error"], json!({"code": -8, "message": "name is required"}), "{e}");
    let e = p2p_peer::rpc_raw(&n, port, "pygreet", json!({"nope": 1}));
    assert_eq!(e["error"]["message"], json!("Unknown named parameter nope"), "{e}");
    let help = ok("help", json!(["pygreet"]));
    assert_eq!(help, json!("pygreet ( \"name\" \"times\" )\n\nGreets someone from Python."));
    let (status, _) = n.stop(WAIT);
    assert!(status.success(), "{}", n.log());
    assert!(!n.log().contains("sending SIGTERM"), "the Python module exits by itself");
}

#[test]
fn sdk_hook_module_refuses_a_transaction_and_the_rpc_caller_sees_its_reason() {
    let test = "sdk_hook_module_refuses_a_transaction_and_the_rpc_caller_sees_its_reason";
    let script = python::test_script("hook_module.py");
    let caps = ["register_rpc", "hooks"];
    let Some(spec) = python::sdk_module(test, "pyhook", &script, &caps, "reason = \"no-python-today\"") else {
        return;
    };
    let (mut n, port) = start_with(spec);
    n.wait_until(WAIT, "hook registered", |n| n.log().contains("module hook registered"));
    let ok = |m: &str, p: Value| p2p_peer::rpc(&n, port, m, p);
    let coins = coins::fund(ok, 2);
    let (blocked, allowed) = (spend_coin(coins[0]), spend_coin(coins[1]));
    let blocked_txid = blocked.compute_txid().to_string();
    assert_eq!(ok("pyblock", json!([blocked_txid])), json!(1));

    let r = ok("testmempoolaccept", json!([[to_hex(&serialize(&blocked))]]));
    assert_eq!(
        (r[0]["allowed"].clone(), r[0]["reject-reason"].clone()),
        (json!(false), json!("no-python-today")),
        "{r}"
    );
    let e = p2p_peer::rpc_raw(&n, port, "sendrawtransaction", json!([to_hex(&serialize(&blocked))]));
    assert_eq!(e["error"]["code"], json!(-26), "{e}");
    assert_eq!(e["error"]["message"], json!("no-python-today, refused by module pyhook"), "{e}");
    // The module allows what it did not block.
    let txid = ok("sendrawtransaction", json!([to_hex(&serialize(&allowed))]));
    assert_eq!(txid, json!(allowed.compute_txid().to_string()));
    assert_eq!(ok("getrawmempool", json!([])), json!([allowed.compute_txid().to_string()]));

    // The hook saw typed calls with the transaction's ids and its serialization.
    let calls = read_jsonl(&n.module_data("pyhook").join("hook_calls.jsonl"));
    let expect = |tx: &Transaction| json!({"txid": tx.compute_txid().to_string(), "wtxid": tx.compute_wtxid().to_string(), "raw_len": serialize(tx).len()});
    assert_eq!(calls, [expect(&blocked), expect(&blocked), expect(&allowed)]);
    let (status, _) = n.stop(WAIT);
    assert!(status.success(), "{}", n.log());
}

#[test]
fn python_example_module_reports_health_and_the_sdk_acks_its_events() {
    let test = "python_example_module_reports_health_and_the_sdk_acks_its_events";
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../modules/python-example/module.py")
        .canonicalize()
        .expect("module.py");
    let Some(spec) = python::sdk_module(test, "py", &script, &["report_health"], "") else {
        return;
    };
    let mut n = start_node(&["-rpcport=0", "-debug=modules", "-shutdowntimeout=5", "-acktimeout=5"], &[spec]);
    let received = n.module_data("py").join("received.jsonl");
    n.wait_started();
    n.wait_until(WAIT, "health reported on the startup HealthCheck", |_| {
        read_jsonl(&received).iter().any(|l| l["kind"] == "health_reported")
    });
    // The module acks at once: far below the 5 s the node would wait.
    n.stop_promptly(Duration::from_secs(2));
    let log = n.log();

    let lines = read_jsonl(&received);
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"connected"), "{kinds:?}");
    assert_eq!(lines[0]["capabilities"], json!(["report_health"]));
    assert_eq!(kinds.last(), Some(&"closed"), "module must exit cleanly on EOF: {kinds:?}");
    let subscribed = lines.iter().find(|l| l["kind"] == "subscribed").expect("subscribed");
    let mut types: Vec<&str> = subscribed["event_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(types, ["HealthCheck", "NodeShutdown", "StorageFlush"]);
    let event = |ty: &str| {
        lines
            .iter()
            .find(|l| l["kind"] == "event" && l["event_type"] == ty)
            .unwrap_or_else(|| panic!("no {ty} event: {kinds:?}"))
    };
    let shutdown = event("NodeShutdown");
    assert_eq!(shutdown["payload"], json!({"reason": "signal", "timeout_seconds": 5}));
    let flush = event("StorageFlush");
    assert_eq!(flush["payload"]["reason"], "shutdown");
    assert!(flush["sequence"].as_u64().unwrap() > shutdown["sequence"].as_u64().unwrap());
    for e in [shutdown, flush] {
        assert!(node_saw_ack(&log, "py", e["sequence"].as_u64().unwrap()), "no ack of {e}\n{log}");
    }
    assert_eq!(event("HealthCheck")["payload"]["check_type"], "startup");
    assert_eq!(
        lines.last().unwrap()["events"],
        json!(kinds.iter().filter(|k| **k == "event").count())
    );
}

#[test]
fn sdk_module_calls_the_node_api_with_typed_answers() {
    let test = "sdk_module_calls_the_node_api_with_typed_answers";
    let caps = [
        "read_chain",
        "read_mempool",
        "read_network",
        "publish_events",
        "submit_transactions",
    ];
    let Some(spec) = python::sdk_module(test, "py", &python::test_script("sdk_api.py"), &caps, "") else {
        return;
    };
    let port = http::free_port();
    let mut n = start_node(&[&format!("-rpcport={port}")], &[spec, ModuleSpec::recorder("rec", "")]);
    let api = n.module_data("py").join("api.json");
    n.wait_started();
    n.wait_until(WAIT, "api.json written", |_| api.exists());
    let a: Value = serde_json::from_str(&std::fs::read_to_string(&api).unwrap()).unwrap();
    let rpc = |m: &str, p: Value| p2p_peer::rpc(&n, port, m, p);
    let genesis = rpc("getblockhash", json!([0]));
    let chain = rpc("getblockchaininfo", json!([]));
    assert_eq!(a["chain_tip"]["hash"], genesis, "{a}");
    assert_eq!(a["chain_tip"]["height"], json!(0));
    assert_eq!(a["blockchain_info"]["chain"], json!("regtest"));
    assert_eq!(a["blockchain_info"]["best_block_hash"], genesis);
    assert_eq!(a["blockchain_info"]["chainwork"], chain["chainwork"]);
    assert_eq!(a["sync_status"]["height"], json!(0));
    assert_eq!(a["block_0"]["hash"], genesis);
    assert_eq!(a["block_0"]["raw"], rpc("getblock", json!([genesis, 0])));
    assert_eq!(a["header_0"]["raw"], rpc("getblockheader", json!([genesis, false])));
    assert_eq!(a["utxo_missing"], Value::Null, "GetUtxo answers nil for an unknown output");
    assert_eq!(a["transaction_missing"], json!({"error": 3}), "not_found");
    assert_eq!(a["block_both_ids"], json!({"error": 4}), "invalid_argument");
    assert_eq!(
        a["submit_garbage"],
        json!({"error": 4}),
        "an undecodable transaction is invalid_argument"
    );
    assert_eq!(a["mempool_info"]["size"], json!(0));
    assert_eq!((a["mempool_txids"].clone(), a["peers"].clone()), (json!([]), json!([])));
    assert_eq!(a["publish"], Value::Null, "PublishEvent answers Done");
    n.wait_until(WAIT, "the recorder got the published event", |n| {
        n.recorded_events("rec")
            .iter()
            .any(|(t, e)| t == "ModuleEvent" && e["payload"] == json!({"module": "py", "name": "started", "data": "{\"ok\": true}"}))
    });
    n.stop_promptly(Duration::from_secs(2));
}

#[test]
fn sdk_unit_tests_pass() {
    // Bounded reads, lag merging and the auto-ack rule against a scripted peer (sdk/python/tests).
    let Some(python) = python::python_with_msgpack("sdk_unit_tests_pass") else {
        return;
    };
    let tests = python::sdk_src().join("../tests");
    let out = std::process::Command::new(python)
        .args(["-B", "-m", "unittest", "discover", "-s"])
        .arg(&tests)
        .env("PYTHONPATH", python::sdk_src())
        .output()
        .expect("run python3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Ran 7 tests"), "{stderr}");
}

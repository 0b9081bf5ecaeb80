//! The RPC server of a real node process: cookie auth (0600, removed at stop), user/password,
//! 401s, Core's JSON-RPC 1.0/2.0 framing and statuses, bad input, and `stop` with reason "rpc".

mod support;

use support::{http, node_proc};

use node_proc::{cookie, start_node, ModuleSpec};
use serde_json::json;
use std::time::Duration;

#[test]
fn cookie_auth_and_401s() {
    let port = http::free_port();
    let mut n = start_node(&[&format!("-rpcport={port}")], &[]);
    n.wait_started();
    let addr = format!("127.0.0.1:{port}");
    let c = cookie(&n);
    assert!(c.starts_with("__cookie__:") && c.len() == 11 + 64);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(n.net_dir().join(".cookie")).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let ok = http::call(&addr, &c, "getblockcount", json!([]));
    assert_eq!(ok, json!({"result": 0, "error": null, "id": "t"}));
    let body = json!({"method": "getblockcount", "id": 1}).to_string();
    for creds in [
        None,
        Some("__cookie__:wrong".to_string()),
        Some(format!("{}x", c)),
        Some("user:pass".into()),
    ] {
        let r = http::post(&addr, creds.as_deref(), &body);
        assert_eq!(r.status, 401, "credentials {creds:?}");
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"jsonrpc\""));
        assert!(r.body.is_empty());
    }
    let (status, _) = n.stop(Duration::from_secs(20));
    assert!(status.success());
    assert!(!n.net_dir().join(".cookie").exists(), "cookie removed at stop");
}

#[test]
fn user_password_replaces_cookie() {
    let port = http::free_port();
    let mut n = start_node(&[&format!("-rpcport={port}"), "-rpcuser=alice", "-rpcpassword=s3cret"], &[]);
    n.wait_started();
    let addr = format!("127.0.0.1:{port}");
    assert!(!n.net_dir().join(".cookie").exists());
    assert_eq!(http::call(&addr, "alice:s3cret", "getblockcount", json!([]))["result"], 0);
    assert_eq!(http::post(&addr, Some("alice:wrong"), "{}").status, 401);
    n.stop(Duration::from_secs(20));
}

#[test]
fn jsonrpc_framing_errors_and_statuses_match_core() {
    let port = http::free_port();
    let mut n = node_proc::start_node_with_chain(&support::chain_hex_path(), &[&format!("-rpcport={port}")], &[]);
    n.wait_started();
    let addr = format!("127.0.0.1:{port}");
    let c = cookie(&n);
    let core = support::core_json();
    // Positional and named parameters.
    assert_eq!(
        http::call(&addr, &c, "getblockhash", json!([1]))["result"],
        core["blocks"][1]["hash"]
    );
    assert_eq!(
        http::call(&addr, &c, "getblockhash", json!({"height": 2}))["result"],
        core["blocks"][2]["hash"]
    );
    // Keys repeated in the body, read as Core's UniValue: the first value counts for the
    // request; a named argument given twice and an output address given twice are refused.
    let r = http::post(
        &addr,
        Some(&c),
        r#"{"method":"getblockhash","params":{"height":1,"height":2},"id":1}"#,
    );
    assert_eq!(
        r.json()["error"],
        json!({"code": -8, "message": "Parameter height specified multiple times"})
    );
    let r = http::post(
        &addr,
        Some(&c),
        r#"{"method":"getblockhash","params":[1],"method":"getblockcount","id":1}"#,
    );
    assert_eq!(r.json()["result"], core["blocks"][1]["hash"]);
    let a = "bcrt1qtmp74ayg7p24uslctssvjm06q5phz4yrxucgnv";
    for (outputs, message) in [
        (
            format!(r#"{{"{a}":1,"{a}":1}}"#),
            format!("Invalid parameter, duplicated address: {a}"),
        ),
        (
            r#"{"data":"aa","data":"bb"}"#.to_string(),
            "Invalid parameter, duplicate key: data".to_string(),
        ),
    ] {
        let body = format!(r#"{{"method":"createrawtransaction","params":[[],{outputs}],"id":1}}"#);
        let r = http::post(&addr, Some(&c), &body);
        assert_eq!(r.json()["error"], json!({"code": -8, "message": message}), "{body}");
    }
    let body = format!(r#"{{"method":"createrawtransaction","params":[[],{{"{a}":1,"data":"aa"}}],"id":1}}"#);
    assert!(http::post(&addr, Some(&c), &body).json()["result"].is_string());
    // Legacy errors: 404 for unknown method, 500 for others, with Core's codes.
    let r = http::post(&addr, Some(&c), &json!({"method": "nosuchmethod", "id": 1}).to_string());
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], -32601);
    let r = http::post(
        &addr,
        Some(&c),
        &json!({"method": "getblockhash", "params": [1000], "id": 1}).to_string(),
    );
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"], json!({"code": -8, "message": "Block height out of range"}));
    let r = http::post(
        &addr,
        Some(&c),
        &json!({"method": "getblockhash", "params": ["x"], "id": 1}).to_string(),
    );
    assert_eq!(r.json()["error"]["code"], -3);
    let r = http::post(
        &addr,
        Some(&c),
        &json!({"method": "getblockhash", "params": {"bogus": 1}, "id": 1}).to_string(),
    );
    assert_eq!(r.json()["error"]["message"], "Unknown named parameter bogus");
    let r = http::post(
        &addr,
        Some(&c),
        &json!({"method": "getblockheader", "params": ["00".repeat(32)], "id": 1}).to_string(),
    );
    assert_eq!(r.json()["error"], json!({"code": -5, "message": "Block not found"}));
    let r = http::post(&addr, Some(&c), &json!({"method": 5, "id": 1}).to_string());
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], -32600);
    // Malformed JSON and a non-object top level.
    let r = http::post(&addr, Some(&c), "{\"method\": ");
    assert_eq!((r.status, r.json()["error"]["code"].clone()), (500, json!(-32700)));
    let r = http::post(&addr, Some(&c), "42");
    assert_eq!(r.json()["error"]["code"], -32700);
    // JSON-RPC 2.0: HTTP 200 even on errors, no "error" key on success, notifications omitted.
    let r = http::post(
        &addr,
        Some(&c),
        &json!({"jsonrpc": "2.0", "method": "nosuchmethod", "id": 9}).to_string(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": 9})
    );
    let r = http::post(
        &addr,
        Some(&c),
        &json!({"jsonrpc": "2.0", "method": "getblockcount", "id": 3}).to_string(),
    );
    assert_eq!(r.json(), json!({"jsonrpc": "2.0", "result": 300, "id": 3}));
    let r = http::post(&addr, Some(&c), &json!({"jsonrpc": "2.0", "method": "getblockcount"}).to_string());
    assert_eq!(r.status, 204);
    // Batches: one reply per non-notification, in order, HTTP 200.
    let batch =
        json!([{"method": "getblockcount", "id": 1}, {"method": "nosuch", "id": 2}, {"jsonrpc": "2.0", "method": "getblockcount"}, 7]);
    let r = http::post(&addr, Some(&c), &batch.to_string());
    assert_eq!(r.status, 200);
    let arr = r.json();
    assert_eq!(arr.as_array().unwrap().len(), 3);
    assert_eq!(arr[0]["result"], 300);
    assert_eq!(arr[1]["error"]["code"], -32601);
    assert_eq!(arr[2]["error"]["code"], -32600);
    // GET is refused.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::{Read, Write};
    s.write_all(
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\nConnection: close\r\n\r\n",
            http::b64(&c)
        )
        .as_bytes(),
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 405"), "{out}");
    // The node is still fine.
    assert_eq!(
        http::call(&addr, &c, "getbestblockhash", json!([]))["result"],
        core["getblockchaininfo"]["bestblockhash"]
    );
    // getchaintxstats equals Core's answer about the same chain (txrate compared as a float).
    let mut ours = http::call(&addr, &c, "getchaintxstats", json!([]))["result"].clone();
    let mut want = core["getchaintxstats"].clone();
    let (a, b) = (ours["txrate"].as_f64().unwrap(), want["txrate"].as_f64().unwrap());
    assert!((a - b).abs() <= b * 1e-15, "txrate {a} vs {b}");
    ours.as_object_mut().unwrap().remove("txrate");
    want.as_object_mut().unwrap().remove("txrate");
    assert_eq!(ours, want);
    let r = http::call(&addr, &c, "getchaintxstats", json!([300]));
    assert_eq!(r["error"]["code"], -8);
    n.stop(Duration::from_secs(20));
}

#[test]
fn stop_rpc_runs_the_shutdown_sequence_with_reason_rpc() {
    let port = http::free_port();
    let mut n = start_node(
        &[&format!("-rpcport={port}"), "-shutdowntimeout=5"],
        &[ModuleSpec::recorder("rec", "")],
    );
    n.wait_started();
    let addr = format!("127.0.0.1:{port}");
    let r = http::call(&addr, &cookie(&n), "stop", json!([]));
    assert_eq!(r["result"], "blvm-node stopping");
    let status = n.wait_exit(Duration::from_secs(20));
    assert!(status.success());
    let ev = n.recorded_events("rec");
    let sd = ev.iter().find(|(t, _)| t == "NodeShutdown").expect("NodeShutdown");
    assert_eq!(sd.1["payload"]["reason"], "rpc");
    assert!(ev.iter().any(|(t, _)| t == "NodeShutdownCompleted"));
}

#[test]
fn module_and_maintenance_rpcs() {
    let port = http::free_port();
    let mut n = node_proc::start_node_with_chain(
        &support::chain_hex_path(),
        &[&format!("-rpcport={port}"), "-acktimeout=2"],
        &[ModuleSpec::recorder("rec", "")],
    );
    n.wait_started();
    let addr = format!("127.0.0.1:{port}");
    let c = cookie(&n);
    let list = http::call(&addr, &c, "listmodules", json!([]))["result"].clone();
    assert_eq!(list[0]["name"], "rec");
    assert_eq!(list[0]["status"], "running");
    let pid = list[0]["pid"].as_u64().unwrap() as u32;
    assert!(node_proc::pid_alive(pid));
    let r = http::call(&addr, &c, "unloadmodule", json!(["rec"]));
    assert_eq!(r["result"]["status"], "stopped", "{r}");
    assert!(
        !node_proc::pid_alive(pid)
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(" Z "))
                .unwrap_or(true)
    );
    let r = http::call(&addr, &c, "loadmodule", json!(["rec"]));
    assert_eq!(r["error"], serde_json::Value::Null, "{r}");
    // Events published before the relaunched module subscribes are not its to receive: wait.
    n.wait_until(Duration::from_secs(10), "module resubscribed", |n| {
        n.recorded("rec").iter().filter(|l| l["kind"] == "subscribed").count() >= 2
    });
    let r = http::call(&addr, &c, "loadmodule", json!(["nosuch"]));
    assert_eq!(r["error"]["code"], -1);
    let r = http::call(&addr, &c, "flushchainstate", json!([]));
    assert_eq!(r["result"]["success"], true);
    let r = http::call(&addr, &c, "gethealth", json!([]));
    assert_eq!(r["result"]["healthy"], true, "{r}");
    assert_eq!(r["result"]["tip"]["height"], 300);
    let dest = n.datadir.join("bk");
    let r = http::call(&addr, &c, "runmaintenance", json!(["backup", dest.display().to_string()]));
    assert!(r["result"]["files"].as_u64().unwrap() > 0, "{r}");
    let r = http::call(&addr, &c, "runmaintenance", json!(["defrag"]));
    assert_eq!(r["error"]["code"], -8);
    let r = http::call(&addr, &c, "cleanupdata", json!([5]));
    assert_eq!(r["result"]["target_age_days"], 5);
    n.wait_until(Duration::from_secs(10), "manual events recorded", |n| {
        let ev = n.recorded_events("rec");
        ev.iter()
            .any(|(t, e)| t == "DataCleanup" && e["payload"]["cleanup_type"] == "manual")
            && ev
                .iter()
                .any(|(t, e)| t == "MaintenanceCompleted" && e["payload"]["maintenance_type"] == "backup")
            && ev.iter().any(|(t, e)| t == "StorageFlush" && e["payload"]["reason"] == "manual")
            && ev.iter().any(|(t, e)| t == "HealthCheck" && e["payload"]["check_type"] == "manual")
    });
    n.stop(Duration::from_secs(20));
}

#[test]
fn openrpc_document_describes_every_method_the_node_serves() {
    let port = http::free_port();
    let mut n = start_node(&[&format!("-rpcport={port}"), "-listen=0"], &[]);
    n.wait_started();
    let addr = format!("127.0.0.1:{port}");
    let c = cookie(&n);
    let result = |method: &str, params: serde_json::Value| {
        let r = http::call(&addr, &c, method, params);
        assert_eq!(r["error"], serde_json::Value::Null, "{method}: {r}");
        r["result"].clone()
    };
    let doc = result("getopenrpcinfo", json!([]));
    assert!(doc["openrpc"].is_string() && doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert_eq!(result("rpc.discover", json!([])), doc, "rpc.discover is the public document");
    let names = |d: &serde_json::Value| -> Vec<String> {
        d["methods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_string())
            .collect()
    };
    // The public document lists exactly the methods `help` lists, each of which is served.
    let help = result("help", json!([]));
    let listed: Vec<String> = help
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("=="))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    let mut public = names(&doc);
    let mut sorted_help = listed.clone();
    public.sort();
    sorted_help.sort();
    assert_eq!(public, sorted_help);
    // Parameters follow `help <method>`: names in order, required ones first, and as in Core's
    // usage lines only string arguments quoted (arrays and objects are written by their shape,
    // so methods taking them are left out of this comparison).
    let mut compared = 0;
    for m in doc["methods"].as_array().unwrap() {
        let name = m["name"].as_str().unwrap();
        let text = result("help", json!([name]));
        let usage = text.as_str().unwrap().lines().next().unwrap().to_string();
        let params = m["params"].as_array().unwrap();
        if params
            .iter()
            .any(|p| matches!(p["schema"]["type"].as_str(), Some("array" | "object")))
        {
            assert!(usage.starts_with(name), "{name}: {usage}");
            continue;
        }
        let shown = |p: &&serde_json::Value| {
            let n = p["name"].as_str().unwrap();
            if p["schema"]["type"] == "string" {
                format!("\"{n}\"")
            } else {
                n.to_string()
            }
        };
        let mut expect = name.to_string();
        let (req, opt): (Vec<_>, Vec<_>) = params.iter().partition(|p| p["required"] == true);
        for p in &req {
            expect.push(' ');
            expect.push_str(&shown(p));
        }
        if !opt.is_empty() {
            let o: Vec<String> = opt.iter().map(shown).collect();
            expect.push_str(&format!(" ( {} )", o.join(" ")));
        }
        assert_eq!(usage, expect, "{name}");
        compared += 1;
    }
    assert!(compared > 50, "most methods take scalar arguments ({compared})");
    let text = result("help", json!(["getblockstats"]));
    assert!(
        text.as_str().unwrap().starts_with("getblockstats hash_or_height ( stats )\n"),
        "{text}"
    );
    let scan = doc["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "scanblocks")
        .unwrap();
    assert_eq!(
        scan["params"][0],
        json!({"name": "action", "required": true, "schema": {"type": "string"}})
    );
    // Hidden (testing) methods only with show_hidden.
    assert!(!public.contains(&"addconnection".to_string()));
    let all = names(&result("getopenrpcinfo", json!([true])));
    assert!(all.contains(&"addconnection".to_string()) && all.len() > public.len());
    assert_eq!(http::call(&addr, &c, "getopenrpcinfo", json!(["yes"]))["error"]["code"], -3);
    n.stop(Duration::from_secs(20));
}

#[test]
fn logging_rpc_turns_categories_on_and_off() {
    let port = http::free_port();
    let mut n = start_node(&[&format!("-rpcport={port}"), "-listen=0"], &[]);
    n.wait_started();
    let addr = format!("127.0.0.1:{port}");
    let c = cookie(&n);
    let state = http::call(&addr, &c, "logging", json!([]))["result"].clone();
    let cats = state.as_object().expect("an object of categories");
    assert!(cats.len() > 10 && cats.values().all(|v| v.is_boolean()), "{state}");
    assert_eq!(state["net"], false);
    let on = http::call(&addr, &c, "logging", json!([["net", "mempool"]]))["result"].clone();
    assert_eq!((on["net"].clone(), on["mempool"].clone()), (json!(true), json!(true)));
    let off = http::call(&addr, &c, "logging", json!([[], ["net"]]))["result"].clone();
    assert_eq!((off["net"].clone(), off["mempool"].clone()), (json!(false), json!(true)));
    assert_eq!(http::call(&addr, &c, "logging", json!([]))["result"], off, "the state persists");
    let bad = http::call(&addr, &c, "logging", json!([["nosuchcategory"]]));
    assert_eq!(
        bad["error"],
        json!({"code": -8, "message": "unknown logging category nosuchcategory"})
    );
    n.stop(Duration::from_secs(20));
}

//! Hostile input to the module system of a real node process: module names that would leave the
//! modules directory (`../x`, absolute paths, separators, NUL) are refused by every RPC that takes
//! one.

#[path = "support/http.rs"]
mod http;
#[path = "support/node_proc.rs"]
mod node_proc;

use node_proc::{start_node, NodeProc};
use serde_json::{json, Value};
use std::time::Duration;

fn cookie(n: &NodeProc) -> String {
    std::fs::read_to_string(n.net_dir().join(".cookie")).expect("cookie")
}

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

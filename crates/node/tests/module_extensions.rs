//! Module RPC methods and hooks with real processes: a `blvm-node` with the policy-example
//! module (modules/policy-example), called over JSON-RPC/HTTP with the `.cookie` credentials as
//! bitcoin-cli does; its hooks refuse a transaction (RPC and P2P) and a real TCP peer.
//!
//! Needs the module binary: `cargo build -p blvm-policy-example`.

mod support;

use support::{coins, http, node_proc, p2p_peer};

use bitcoin::consensus::serialize;
use bitcoin::p2p::message::NetworkMessage;
use coins::spend_coin;
use node_proc::{module_bin, ModuleSpec, NodeProc};
use p2p_peer::{to_hex, TestPeer};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn policy_module(capabilities: &[&str], config: &str) -> ModuleSpec {
    ModuleSpec {
        name: "policy".into(),
        entry: module_bin("policy-example"),
        args: vec![],
        capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
        config: config.into(),
        autoload: true,
    }
}

/// A node listening for P2P on 127.0.0.1 with the policy module; returns it and its RPC port.
fn start(extra: &[&str], module: ModuleSpec) -> (NodeProc, u16) {
    let (n, port) = p2p_peer::start_listening_with(extra, &[module]);
    n.wait_until(WAIT, "module connected", |n| n.log().contains("module connected"));
    (n, port)
}

/// The whole JSON-RPC reply (result or error), over HTTP with the cookie.
fn call(n: &NodeProc, port: u16, method: &str, params: Value) -> Value {
    p2p_peer::rpc_raw(n, port, method, params)
}

fn ok(n: &NodeProc, port: u16, method: &str, params: Value) -> Value {
    p2p_peer::rpc(n, port, method, params)
}

#[test]
fn module_rpc_methods_take_positional_and_named_params_errors_help_timeout_and_vanish_on_unload() {
    let (mut n, port) = start(&["-modulerpctimeout=2"], policy_module(&["register_rpc"], ""));
    let a = "aa".repeat(32);
    let b = "bb".repeat(32);

    let r = ok(&n, port, "policyblock", json!([a]));
    assert_eq!(r, json!({"txid": a, "reason": "blocked-by-policy", "blocked": 1}));
    let r = ok(&n, port, "policyblock", json!({"reason": "custom", "txid": b}));
    assert_eq!(r, json!({"txid": b, "reason": "custom", "blocked": 2}));
    // The module's own error reaches the caller with its code and message.
    let e = call(&n, port, "policyblock", json!({"reason": "x"}));
    assert_eq!(e["error"], json!({"code": -8, "message": "txid must be 64 hex digits"}), "{e}");
    let e = call(&n, port, "policyblock", json!({"nope": 1}));
    assert_eq!(e["error"]["code"], json!(-8), "{e}");
    assert_eq!(e["error"]["message"], json!("Unknown named parameter nope"));
    let e = call(&n, port, "policyblock", json!([a, "r", 3]));
    assert_eq!(e["error"]["code"], json!(-1), "too many parameters: {e}");
    let list = ok(&n, port, "policylist", json!([]));
    assert_eq!(list["blocked"].as_array().unwrap().len(), 2, "{list}");

    let help = ok(&n, port, "help", json!([]));
    let help = help.as_str().unwrap();
    assert!(
        help.contains("== Module policy ==\npolicyblock ( \"txid\" \"reason\" )\npolicylist\npolicystall"),
        "{help}"
    );
    assert!(help.contains("== Blockchain =="), "built-in methods still listed");
    let one = ok(&n, port, "help", json!(["policyblock"]));
    assert!(
        one.as_str()
            .unwrap()
            .starts_with("policyblock ( \"txid\" \"reason\" )\n\nRefuse a transaction"),
        "{one}"
    );

    // A module that does not answer: an error after -modulerpctimeout, not a hang.
    let t0 = std::time::Instant::now();
    let e = call(&n, port, "policystall", json!([]));
    assert_eq!(e["error"]["code"], json!(-1), "{e}");
    assert_eq!(e["error"]["message"], json!("module policy did not answer within 2000 ms"));
    assert!(t0.elapsed() < Duration::from_secs(20));

    ok(&n, port, "unloadmodule", json!(["policy"]));
    let e = call(&n, port, "policylist", json!([]));
    assert_eq!(e["error"], json!({"code": -32601, "message": "Method not found"}), "{e}");
    let help = ok(&n, port, "help", json!([]));
    assert!(!help.as_str().unwrap().contains("policyblock"));
    let (status, _) = n.stop(WAIT);
    assert!(status.success(), "{}", n.log());
}

#[test]
fn mempool_accept_hook_refuses_a_transaction_for_rpc_and_p2p_with_the_modules_reason() {
    let (mut n, port) = start(&["-debug=mempool"], policy_module(&["register_rpc", "hooks"], ""));
    let rpc = |m: &str, p: Value| ok(&n, port, m, p);
    let coins = coins::fund(rpc, 2);
    let (blocked, fine) = (spend_coin(coins[0]), spend_coin(coins[1]));
    let txid = blocked.compute_txid().to_string();
    ok(&n, port, "policyblock", json!([txid, "no-thanks"]));

    let hex = to_hex(&serialize(&blocked));
    let r = ok(&n, port, "testmempoolaccept", json!([[hex]]));
    assert_eq!(r[0]["allowed"], json!(false), "{r}");
    assert_eq!(r[0]["reject-reason"], json!("no-thanks"), "{r}");
    let e = call(&n, port, "sendrawtransaction", json!([hex]));
    assert_eq!(e["error"]["code"], json!(-26), "{e}");
    assert!(e["error"]["message"].as_str().unwrap().starts_with("no-thanks"), "{e}");
    // A transaction the module does not block enters as usual.
    let fine_txid = ok(&n, port, "sendrawtransaction", json!([to_hex(&serialize(&fine))]));
    assert_eq!(fine_txid, json!(fine.compute_txid().to_string()));

    // The same transaction relayed by a peer is refused the same way.
    let mut peer = TestPeer::connect_from(p2p_peer::p2p_addr(&n), "127.0.0.2").unwrap();
    peer.handshake(0);
    peer.send_and_ping(NetworkMessage::Tx(blocked.clone()), WAIT);
    n.wait_until(WAIT, "the module's third refusal", |n| {
        ok(n, port, "policylist", json!([]))["refused_txs"] == json!(3)
    });
    let pool = ok(&n, port, "getrawmempool", json!([]));
    assert_eq!(
        pool,
        json!([fine.compute_txid().to_string()]),
        "only the unblocked transaction is in the pool"
    );
    assert!(
        n.log().contains("was not accepted: no-thanks"),
        "P2P reject line names the module's reason"
    );
    let (status, _) = n.stop(WAIT);
    assert!(status.success(), "{}", n.log());
}

#[test]
fn peer_connected_hook_disconnects_a_refused_inbound_peer() {
    let (mut n, port) = start(&[], policy_module(&["register_rpc", "hooks"], "refuse_inbound = true"));
    let mut peer = TestPeer::connect_from(p2p_peer::p2p_addr(&n), "127.0.0.3").unwrap();
    peer.handshake(0);
    assert!(peer.wait_closed(WAIT), "the refused peer is disconnected");
    n.wait_until(WAIT, "refusal logged", |n| {
        n.log().contains("peer refused by a module hook; disconnecting")
    });
    assert_eq!(ok(&n, port, "policylist", json!([]))["refused_peers"], json!(1));
    assert_eq!(ok(&n, port, "getconnectioncount", json!([])), json!(0));
    let (status, _) = n.stop(WAIT);
    assert!(status.success(), "{}", n.log());
}

#[test]
fn a_hook_module_that_answers_too_late_gets_the_configured_policy() {
    let args = ["-modulehooktimeout=mempool_accept:200", "-modulehookpolicy=mempool_accept:refuse"];
    let (mut n, port) = start(&args, policy_module(&["register_rpc", "hooks"], "hook_delay_ms = 2000"));
    let rpc = |m: &str, p: Value| ok(&n, port, m, p);
    let coins = coins::fund(rpc, 1);
    let e = call(&n, port, "sendrawtransaction", json!([to_hex(&serialize(&spend_coin(coins[0])))]));
    assert_eq!(e["error"]["code"], json!(-26), "{e}");
    assert!(e["error"]["message"].as_str().unwrap().starts_with("module-hook-timeout"), "{e}");
    let (status, _) = n.stop(WAIT);
    assert!(status.success(), "{}", n.log());
}

#[test]
fn module_methods_cannot_shadow_builtin_or_another_modules_methods() {
    let named = |name: &str, config: &str| ModuleSpec {
        name: name.into(),
        ..policy_module(&["register_rpc"], config)
    };
    let port = http::free_port();
    let rpcport = format!("-rpcport={port}");
    let mods = [named("pa", "also_register = \"getblockcount\""), named("pb", "")];
    let mut n = node_proc::start_node(&[rpcport.as_str()], &mods);
    n.wait_started();
    n.wait_until(WAIT, "both registrations answered", |n| {
        n.log().matches("module RPC method registered").count() == 3 && n.log().contains("is already registered by module")
    });
    let log = n.log();
    assert!(
        log.contains(
            "registering getblockcount refused: node error 4 (invalid_argument): RPC method getblockcount is a built-in method of the node"
        ),
        "{log}"
    );
    // Whichever module connected second was refused the three names the first one holds.
    let second_refused = [
        "RPC method policyblock is already registered by module pa",
        "RPC method policyblock is already registered by module pb",
    ];
    assert_eq!(second_refused.iter().filter(|m| log.contains(*m)).count(), 1, "{log}");
    assert_eq!(ok(&n, port, "getblockcount", json!([])), json!(0), "the built-in still answers");
    assert_eq!(ok(&n, port, "policylist", json!([]))["refused_txs"], json!(0));
    let (status, _) = n.stop(WAIT);
    assert!(status.success(), "{}", n.log());
}

#[test]
fn hook_modules_are_asked_in_module_name_order_and_the_first_refusal_decides() {
    // "aa" registers half a second after "zz", but sorts first, so its reason is the one reported.
    let named = |name: &str, config: &str| ModuleSpec {
        name: name.into(),
        ..policy_module(&["hooks"], config)
    };
    let mods = [
        named("zz", "refuse_all = \"from-zz\""),
        named("aa", "refuse_all = \"from-aa\"\nregister_delay_ms = 500"),
    ];
    let (mut n, port) = p2p_peer::start_listening_with(&[], &mods);
    n.wait_until(WAIT, "both hooks registered", |n| {
        n.log().matches("module hook registered").count() == 4
    });
    let log = n.log();
    let at = |m: &str| log.find(&format!("module={m} hook=mempool_accept")).expect("registration logged");
    assert!(at("zz") < at("aa"), "zz registered first: {log}");
    let coins = coins::fund(|m: &str, p: Value| ok(&n, port, m, p), 1);
    let r = ok(&n, port, "testmempoolaccept", json!([[to_hex(&serialize(&spend_coin(coins[0])))]]));
    assert_eq!(r[0]["reject-reason"], json!("from-aa"), "{r}");
    let (status, _) = n.stop(WAIT);
    assert!(status.success(), "{}", n.log());
}

#[test]
fn a_crashed_modules_methods_and_hooks_are_gone() {
    let (mut n, port) = start(
        &["-modulemaxrestarts=0"],
        policy_module(&["register_rpc", "hooks"], "refuse_all = \"nope\""),
    );
    ok(&n, port, "policylist", json!([]));
    let pid = ok(&n, port, "listmodules", json!([]))[0]["pid"].as_u64().expect("module pid") as i32;
    // SAFETY: kill(2) on the module process this node started for this test.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    n.wait_until(WAIT, "the method is gone", |n| {
        call(n, port, "policylist", json!([]))["error"]["code"] == json!(-32601)
    });
    // Its mempool_accept hook no longer refuses anything.
    let coins = coins::fund(|m: &str, p: Value| ok(&n, port, m, p), 1);
    let r = ok(&n, port, "testmempoolaccept", json!([[to_hex(&serialize(&spend_coin(coins[0])))]]));
    assert_eq!(r[0]["allowed"], json!(true), "{r}");
    let (status, _) = n.stop(WAIT);
    assert!(status.success(), "{}", n.log());
}

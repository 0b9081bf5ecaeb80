//! The RPC methods that parse hex, scripts, descriptors, keys, addresses and proofs, called
//! through `rpc::methods::dispatch_request` (as the server does after `request_json::parse`) on a
//! regtest node started once per process without RPC, P2P or modules; and the pure helpers
//! under them on the raw input: `txjson::decode_tx`, `script_asm::script_to_asm`,
//! `descriptor::{infer_descriptor, solver, address, descriptor_checksum}`, `address::decode`.
//!
//! Input: the first byte picks the method and whether the rest is the JSON `params` (array or
//! object) or a single string parameter (so hex and descriptors are reached without quoting).
//! Besides no panic (also none inside `spawn_blocking`, which would otherwise surface only as an
//! internal error), every result must serialize with the server's Core-compatible writer.
#![no_main]

use bitcoin::Network;
use blvm_node::node::{Node, NodeSettings};
use blvm_node::params::ChainParams;
use blvm_node::rpc::error::code;
use blvm_node::rpc::{address, corejson, descriptor, methods, request_json, script_asm, txjson};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};

/// Methods whose arguments are parsed from untrusted text and that change no state.
const METHODS: &[&str] = &[
    "decoderawtransaction",
    "decodescript",
    "createrawtransaction",
    "combinerawtransaction",
    "signrawtransactionwithkey",
    "createmultisig",
    "getdescriptorinfo",
    "deriveaddresses",
    "verifytxoutproof",
    "validateaddress",
    "testmempoolaccept",
    "gettxspendingprevout",
];

struct Fixture {
    rt: tokio::runtime::Runtime,
    node: Arc<Node>,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let mut s = NodeSettings::new(ChainParams::for_network(Network::Regtest), dir.path().to_path_buf());
        s.chain.dbcache_bytes = 8 << 20;
        s.chain.script_threads = 1;
        s.mempool.persist = false;
        let node = rt.block_on(blvm_node::launch::start(s)).expect("start node");
        Fixture { rt, node, _dir: dir }
    })
}

/// The `range` argument of deriveaddresses, when it asks for more than a few addresses (each
/// is a derivation; Core allows a million per call, far beyond a fuzz iteration's budget).
fn wide_range(params: &Value) -> bool {
    let r = match params {
        Value::Array(a) => a.get(1),
        Value::Object(o) => o.get("range"),
        _ => None,
    };
    let (lo, hi) = match r {
        Some(Value::Number(n)) => (0, n.as_i64().unwrap_or(0)),
        Some(Value::Array(a)) if a.len() == 2 => (a[0].as_i64().unwrap_or(0), a[1].as_i64().unwrap_or(0)),
        _ => return false,
    };
    hi.saturating_sub(lo) > 64
}

fn pure_helpers(bytes: &[u8], text: &str) {
    let _ = txjson::decode_tx(bytes, true, true);
    let _ = txjson::decode_tx(bytes, true, false);
    if let Some(raw) = txjson::parse_hex(text) {
        if let Some(tx) = txjson::decode_tx(&raw, true, true) {
            let _ = txjson::tx_to_json(&tx, None, txjson::TxVerbosity::Details, true, Network::Regtest);
        }
    }
    let _ = script_asm::script_to_asm(bytes, true);
    let _ = descriptor::infer_descriptor(bytes, Network::Regtest);
    let _ = descriptor::solver(bytes);
    let _ = descriptor::address(bytes, Network::Regtest);
    let _ = address::decode(text, Network::Regtest);
    let _ = descriptor::descriptor_checksum(text);
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    pure_helpers(rest, &text);
    let method = METHODS[usize::from(sel) % METHODS.len()];
    // JSON params are read as the server reads a body (repeated keys kept for the method).
    let (params, repeated) = if sel as usize / METHODS.len() % 2 == 1 {
        match request_json::parse(rest) {
            Ok(r @ request_json::RequestJson { value: Value::Array(_) | Value::Object(_), .. }) => (r.value, r.repeated),
            _ => return,
        }
    } else {
        (json!([text]), Vec::new())
    };
    if method == "deriveaddresses" && wide_range(&params) {
        return;
    }
    let f = fixture();
    match f.rt.block_on(methods::dispatch_request(&blvm_node::launch::rpc_ops::context(&f.node), method, Some(&params), &repeated)) {
        Ok(v) => {
            let _ = corejson::to_string(&v);
        }
        Err(e) => assert!(
            !(e.code == code::INTERNAL_ERROR && e.message.contains("panicked")),
            "{method} panicked: {}",
            e.message
        ),
    }
});

//! A node process reached over RPC only (no P2P listening): the rig of tests that drive a node
//! through its JSON-RPC interface with the cookie.

use super::node_proc::{self, NodeProc};
use super::{http, p2p_peer};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// The node process and its RPC port.
pub struct RpcNode {
    /// The node process.
    pub node: NodeProc,
    /// Its RPC port.
    pub port: u16,
}

/// `sat` satoshis as RPC JSON writes a BTC amount (8 decimals), for request parameters.
pub fn btc(sat: u64) -> String {
    format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000)
}

/// A BTC amount from RPC JSON in satoshis.
pub fn sat(v: &Value) -> u64 {
    (v.as_f64().expect("amount") * 1e8).round() as u64
}

impl RpcNode {
    /// Starts a node with `-rpcport` on a free port, `-listen=0` and `extra`, and waits until
    /// it is up and its cookie is written.
    pub fn start(extra: &[&str]) -> RpcNode {
        Self::start_from(None, extra)
    }

    /// As [`RpcNode::start`], after importing the blocks of `chain` offline.
    pub fn start_with_chain(chain: &Path, extra: &[&str]) -> RpcNode {
        Self::start_from(Some(chain), extra)
    }

    fn start_from(chain: Option<&Path>, extra: &[&str]) -> RpcNode {
        let port = http::free_port();
        let rpcport = format!("-rpcport={port}");
        let mut args = vec![rpcport.as_str(), "-listen=0"];
        args.extend_from_slice(extra);
        let node = match chain {
            Some(file) => node_proc::start_node_with_chain(file, &args, &[]),
            None => node_proc::start_node(&args, &[]),
        };
        node.wait_started();
        node.wait_until(Duration::from_secs(10), "cookie file", |n| n.net_dir().join(".cookie").exists());
        RpcNode { node, port }
    }

    /// The result of a call that must succeed.
    pub fn call(&self, method: &str, params: Value) -> Value {
        p2p_peer::rpc(&self.node, self.port, method, params)
    }

    /// The whole reply (result or error) of a call.
    pub fn raw(&self, method: &str, params: Value) -> Value {
        p2p_peer::rpc_raw(&self.node, self.port, method, params)
    }

    /// The error (code, message) of a call that must fail.
    pub fn call_err(&self, method: &str, params: Value) -> (i64, String) {
        let r = self.raw(method, params.clone());
        assert!(r["error"].is_object(), "{method} {params} should fail: {r}");
        (
            r["error"]["code"].as_i64().unwrap(),
            r["error"]["message"].as_str().unwrap().to_string(),
        )
    }
}

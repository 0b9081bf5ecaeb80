//! An in-process node (`blvm_node::launch::start`) with its RPC server on an ephemeral port and
//! the cookie, optionally on the shared Core chain imported first: for tests that need the
//! node's internals (the chain engine) next to its RPC answers.

use super::http;
use blvm_node::chain::{ChainManager, ChainSettings, FlushReason};
use blvm_node::import::import_file;
use blvm_node::node::{Node, NodeSettings, ShutdownReason};
use blvm_node::params::ChainParams;
use blvm_node::rpc::auth::RpcAuth;
use blvm_node::rpc::server::RpcSettings;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The running node, where its RPC listens and the cookie credentials.
pub struct InProcessNode {
    /// The node.
    pub node: Arc<Node>,
    /// RPC address (`127.0.0.1:port`).
    pub addr: String,
    /// Cookie credentials (`user:password`).
    pub creds: String,
    _dir: tempfile::TempDir,
}

impl InProcessNode {
    /// Starts a node in a fresh datadir with the test chain settings; `with_chain` imports the
    /// shared Core chain (301 blocks) first.
    pub async fn start(with_chain: bool) -> InProcessNode {
        Self::start_in(tempfile::tempdir().unwrap(), with_chain, super::test_settings()).await
    }

    /// As [`InProcessNode::start`], in `dir`, with `chain` settings (blocks already in `dir`
    /// are kept).
    pub async fn start_in(dir: tempfile::TempDir, with_chain: bool, chain: ChainSettings) -> InProcessNode {
        let net_dir = dir.path().join("regtest");
        if with_chain {
            let mut c = ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), &net_dir, chain.clone()).unwrap();
            let summary = import_file(&mut c, &super::chain_hex_path(), Duration::from_secs(60)).expect("import");
            assert_eq!(c.height(), 300, "{summary:?}");
            c.flush(FlushReason::Manual).unwrap();
        }
        let mut s = NodeSettings::new(ChainParams::for_network(bitcoin::Network::Regtest), net_dir.clone());
        s.chain = chain;
        s.lifecycle.ack_timeout = Duration::from_secs(2);
        s.lifecycle.shutdown_timeout = Duration::from_secs(2);
        s.rpc = Some(RpcSettings {
            bind: vec!["127.0.0.1:0".parse().unwrap()],
            threads: 4,
            work_queue: 16,
            auth: RpcAuth::default(),
            cookie_path: Some(net_dir.join(".cookie")),
            ..Default::default()
        });
        let node = blvm_node::launch::start(s).await.expect("node starts");
        let addr = node.rpc_addrs().first().expect("RPC bound").to_string();
        let creds = std::fs::read_to_string(net_dir.join(".cookie")).expect("cookie written");
        InProcessNode {
            node,
            addr,
            creds,
            _dir: dir,
        }
    }

    /// The raw HTTP reply body of a JSON-RPC 1.0 call. Blocking: call it from the test's own
    /// thread (a `#[tokio::test]` body), not from a task on the runtime's workers.
    pub fn raw(&self, method: &str, params: Value) -> String {
        let body = json!({"jsonrpc": "1.0", "id": "t", "method": method, "params": params}).to_string();
        http::post(&self.addr, Some(&self.creds), &body).body
    }

    /// `result` or the `error` object.
    pub fn try_call(&self, method: &str, params: Value) -> Result<Value, Value> {
        let reply: Value = serde_json::from_str(&self.raw(method, params)).expect("JSON reply");
        if reply["error"].is_null() {
            Ok(reply["result"].clone())
        } else {
            Err(reply["error"].clone())
        }
    }

    /// The `result` of a call, panicking with the error object otherwise.
    pub fn call(&self, method: &str, params: Value) -> Value {
        match self.try_call(method, params.clone()) {
            Ok(v) => v,
            Err(e) => panic!("{method} {params}: {e}"),
        }
    }

    /// Shuts the node down, asserting the final flush succeeded.
    pub async fn stop(self) {
        let report = self.node.shutdown(ShutdownReason::Graceful).await;
        assert!(report.flush_ok);
    }
}

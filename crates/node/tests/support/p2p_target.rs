//! A node process listening for P2P test peers on 127.0.0.1, with RPC: shared by the tests
//! that drive transaction relay through [`super::p2p_peer::TestPeer`]s.

use super::node_proc::{self, NodeProc};
use super::p2p_peer::{self, TestPeer};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

/// How long the helpers wait for the node.
pub const WAIT: Duration = Duration::from_secs(30);

/// The node, its RPC port and its P2P address.
pub struct Target {
    /// The node process.
    pub node: NodeProc,
    /// Its RPC port.
    pub port: u16,
    /// Its P2P address.
    pub addr: SocketAddr,
}

impl Target {
    /// Starts a node with net and mempool debug logging and waits until it is up.
    pub fn start() -> Target {
        Self::start_with(&["-debug=mempool"])
    }

    /// Starts a node with net debug logging and `extra` arguments and waits until it is up.
    pub fn start_with(extra: &[&str]) -> Target {
        let port = super::http::free_port();
        let rpcport = format!("-rpcport={port}");
        let mut args = vec![rpcport.as_str(), "-port=0", "-bind=127.0.0.1", "-debug=net"];
        args.extend_from_slice(extra);
        let node = node_proc::start_node(&args, &[]);
        node.wait_started();
        let addr = p2p_peer::p2p_addr(&node);
        Target { node, port, addr }
    }

    /// An RPC call that must succeed: its result.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        p2p_peer::rpc(&self.node, self.port, method, params)
    }

    /// A ready peer from 127.0.0.`octet` and its id in getpeerinfo.
    pub fn peer(&self, octet: u8) -> (TestPeer, u64) {
        let mut p = TestPeer::connect_from(self.addr, &format!("127.0.0.{octet}")).expect("connect");
        p.handshake(0);
        let local = p.stream.local_addr().unwrap().to_string();
        let mut id = None;
        self.node.wait_until(WAIT, "peer in getpeerinfo", |_| {
            id = self
                .rpc("getpeerinfo", json!([]))
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["addr"] == json!(local))
                .and_then(|e| e["id"].as_u64());
            id.is_some()
        });
        (p, id.unwrap())
    }
}

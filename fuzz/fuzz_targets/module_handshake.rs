//! The module IPC server end to end: `modules::server::run` listening on a Unix socket in a
//! temporary directory (started once per process) with a `NodeApi` over a real regtest chain,
//! mempool and event bus. Each input is one connection: the bytes after the first are written
//! to the socket as the module's side (handshake, requests, acks, anything), while the node's
//! answers are read until it closes. The first byte's low bits choose what goes first: nothing
//! (the raw bytes must carry their own handshake), an unauthenticated handshake (the server
//! allows those here, with every capability, so requests reach `NodeApi::handle`), or a
//! handshake with a freshly issued token.
//!
//! Invariants: no panic (the request handlers run in `spawn_blocking`, where libFuzzer's panic
//! hook still aborts); every connection is closed by the node within 5 s after the module stops
//! sending; everything the node sends back is a sequence of well-formed frames.
#![no_main]

use blvm_module::codec::{decode_payload, encode, LENGTH_PREFIX_LEN};
use blvm_module::{Capability, ModuleMessage, PROTOCOL_VERSION};
use blvm_node::chain::{ChainManager, ChainSettings};
use blvm_node::mempool::{Mempool, MempoolSettings};
use blvm_node::modules::api::{NoPeers, NodeApi};
use blvm_node::modules::bus::EventBus;
use blvm_node::modules::health::HealthRegistry;
use blvm_node::modules::server::{self, Authenticator, Grant, ServerContext, ServerSettings};
use blvm_node::params::ChainParams;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Fixture {
    rt: tokio::runtime::Runtime,
    ctx: Arc<ServerContext>,
    auth: Arc<Authenticator>,
    socket: PathBuf,
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let settings = ChainSettings {
            dbcache_bytes: 8 << 20,
            script_threads: 1,
            ..Default::default()
        };
        let chain = ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), dir.path(), settings).expect("open chain");
        let chain = Arc::new(Mutex::new(chain));
        let bus = EventBus::new(1, 1024, 256);
        let mempool = Mempool::new(
            MempoolSettings {
                persist: false,
                ..Default::default()
            },
            chain.clone(),
            Some(bus.clone()),
            dir.path(),
        );
        mempool.set_loaded();
        let api = Arc::new(NodeApi {
            chain,
            health: Arc::new(HealthRegistry::default()),
            bus: bus.clone(),
            mempool,
            peers: Arc::new(NoPeers),
        });
        let socket = dir.path().join("modules.sock");
        let mut s = ServerSettings::new(socket.clone());
        s.allow_unauthenticated = true;
        s.unauthenticated_capabilities = Capability::ALL.to_vec();
        s.handshake_timeout = Duration::from_secs(2);
        s.max_frame = 1 << 20;
        let auth = Arc::new(Authenticator::default());
        let extensions = blvm_node::modules::extensions::Extensions::new(Default::default(), Box::new(|_| false));
        let ctx = ServerContext::new(bus, api, auth.clone(), s, extensions);
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let listener = rt.block_on(async { server::bind(&socket) }).expect("bind module socket");
        rt.spawn(server::run(listener, ctx.clone(), stop_rx));
        Fixture {
            rt,
            ctx,
            auth,
            socket,
            _stop: stop,
            _dir: dir,
        }
    })
}

fn handshake(name: &str, token: Option<String>) -> Vec<u8> {
    encode(&ModuleMessage::Handshake {
        protocol_versions: vec![PROTOCOL_VERSION],
        module_name: name.into(),
        module_version: "0.1".into(),
        token,
    })
    .expect("encode handshake")
}

/// Splits the node's output into frames and decodes each (a trailing partial frame is allowed:
/// the node may close mid-write when it gives up on a connection).
fn check_output(mut out: &[u8]) {
    while out.len() >= LENGTH_PREFIX_LEN {
        let len = u32::from_be_bytes([out[0], out[1], out[2], out[3]]) as usize;
        let Some(payload) = out.get(LENGTH_PREFIX_LEN..LENGTH_PREFIX_LEN + len) else {
            return;
        };
        if let Err(e) = decode_payload(payload) {
            panic!("the node sent an undecodable frame: {e}");
        }
        out = &out[LENGTH_PREFIX_LEN + len..];
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let f = fixture();
    let mut input = match flags % 3 {
        0 => Vec::new(),
        1 => handshake("fuzz", None),
        _ => {
            let token = f.auth.issue(Grant {
                // Not "fuzz": a name that ever had a token may no longer connect without one.
                name: "fuzz-token".into(),
                version: "0.1".into(),
                capabilities: Capability::ALL.to_vec(),
            });
            handshake("fuzz-token", Some(token))
        }
    };
    input.extend_from_slice(rest);
    let out = f.rt.block_on(async {
        let stream = tokio::net::UnixStream::connect(&f.socket)
            .await
            .expect("connect to the module socket");
        let (mut rd, mut wr) = stream.into_split();
        let write = async move {
            let _ = wr.write_all(&input).await;
            let _ = wr.shutdown().await;
        };
        let read = async move {
            let mut out = Vec::new();
            let r = tokio::time::timeout(Duration::from_secs(5), rd.read_to_end(&mut out)).await;
            assert!(r.is_ok(), "the node kept a finished module connection open");
            out
        };
        let ((), out) = tokio::join!(write, read);
        assert!(f.ctx.wait_idle(Duration::from_secs(5)).await, "a module connection did not finish");
        out
    });
    check_output(&out);
});

//! The P2P layer as a stateful session: a regtest node with P2P (listening on an ephemeral
//! loopback port, no outbound connections) and a mempool, started once per process. Each input
//! is one inbound TCP session: the harness sends a valid `version` and `verack`, then the input
//! as a sequence of messages (`[command index][u16 length][payload]`, framed with the right
//! magic, length and checksum; commands from a fixed table: headers, inv, getdata, addr, addrv2,
//! tx, block, getheaders, getblocks, ping, pong, sendheaders, sendcmpct, feefilter, mempool,
//! notfound, getaddr, wtxidrelay, sendaddrv2, cmpctblock, getblocktxn, blocktxn, or the raw
//! bytes of an unknown command), and reads what the node answers until it closes or 2 s pass.
//!
//! Invariants: no panic in any node task; after the session the node drops the peer (no
//! connection is left behind) within 5 s.
#![no_main]

use bitcoin::consensus::serialize;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::p2p::message::{NetworkMessage, RawNetworkMessage};
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::{Address, Magic, ServiceFlags};
use blvm_node::node::{Node, NodeSettings};
use blvm_node::p2p::P2pSettings;
use blvm_node::params::ChainParams;
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const COMMANDS: &[&str] = &[
    "headers",
    "inv",
    "getdata",
    "addr",
    "addrv2",
    "tx",
    "block",
    "getheaders",
    "getblocks",
    "ping",
    "pong",
    "sendheaders",
    "sendcmpct",
    "feefilter",
    "mempool",
    "notfound",
    "getaddr",
    "wtxidrelay",
    "sendaddrv2",
    "cmpctblock",
    "getblocktxn",
    "blocktxn",
];

struct Fixture {
    rt: tokio::runtime::Runtime,
    node: Arc<Node>,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let mut s = NodeSettings::new(ChainParams::for_network(bitcoin::Network::Regtest), dir.path().to_path_buf());
        s.chain.dbcache_bytes = 8 << 20;
        s.chain.script_threads = 1;
        s.mempool.persist = false;
        let mut p = P2pSettings::new(true, 0);
        p.bind = vec![SocketAddr::from(([127, 0, 0, 1], 0))];
        p.bind_explicit = true;
        p.dnsseed = false;
        p.peer_timeout = Duration::from_secs(2);
        s.p2p = Some(p);
        let node = rt.block_on(Node::start(s)).expect("start node");
        let addr = *node.net().listening().first().expect("the node listens");
        Fixture { rt, node, addr, _dir: dir }
    })
}

fn frame(command: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Magic::REGTEST.to_bytes().to_vec();
    let mut cmd = [0u8; 12];
    let n = command.len().min(12);
    cmd[..n].copy_from_slice(&command[..n]);
    out.extend_from_slice(&cmd);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&sha256d::Hash::hash(payload).to_byte_array()[..4]);
    out.extend_from_slice(payload);
    out
}

fn handshake(peer: SocketAddr, node: SocketAddr) -> Vec<u8> {
    let version = VersionMessage::new(
        ServiceFlags::NETWORK | ServiceFlags::WITNESS,
        1_700_000_000,
        Address::new(&node, ServiceFlags::NONE),
        Address::new(&peer, ServiceFlags::NONE),
        0x5eed,
        "/blvm-fuzz:0.1/".into(),
        0,
    );
    let mut out = serialize(&RawNetworkMessage::new(Magic::REGTEST, NetworkMessage::Version(version)));
    out.extend(serialize(&RawNetworkMessage::new(Magic::REGTEST, NetworkMessage::Verack)));
    out
}

/// The input as framed messages.
fn messages(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while data.len() >= 3 {
        let sel = usize::from(data[0]);
        let len = usize::from(u16::from_le_bytes([data[1], data[2]])).min(data.len() - 3);
        let payload = &data[3..3 + len];
        data = &data[3 + len..];
        match COMMANDS.get(sel) {
            Some(c) => out.extend(frame(c.as_bytes(), payload)),
            None => out.extend(frame(&payload[..payload.len().min(12)], payload)),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let body = messages(data);
    f.rt.block_on(async {
        let stream = tokio::net::TcpStream::connect(f.addr).await.expect("connect to the node");
        let local = stream.local_addr().expect("local address");
        let mut input = handshake(local, f.addr);
        input.extend(body);
        let (mut rd, mut wr) = stream.into_split();
        let write = async move {
            let _ = wr.write_all(&input).await;
            // Give the node time to answer before the session ends.
            tokio::time::sleep(Duration::from_millis(1)).await;
            let _ = wr.shutdown().await;
        };
        let read = async move {
            let mut buf = vec![0u8; 64 * 1024];
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            loop {
                match tokio::time::timeout_at(deadline, rd.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                    Ok(Ok(_)) => {}
                }
            }
        };
        tokio::join!(write, read);
        // The peer must be gone soon after its connection closed.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while f.node.net().connection_count().0 > 0 {
            assert!(tokio::time::Instant::now() < deadline, "an inbound peer outlived its connection");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
});

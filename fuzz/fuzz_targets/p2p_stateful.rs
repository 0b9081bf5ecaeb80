//! The P2P layer as a stateful session: a regtest node with P2P (listening on an ephemeral
//! loopback port, no outbound connections), a 110-block chain and a mempool of 5 transactions,
//! started once per process. Each input is one inbound TCP session: the harness sends a valid
//! `version` and `verack`, then the input as a sequence of messages (`[command index][u16
//! length][payload]`, framed with the right magic, length and checksum; commands from a fixed
//! table: headers, inv, getdata, addr, addrv2, tx, block, getheaders, getblocks, ping, pong,
//! sendheaders, sendcmpct, feefilter, mempool, notfound, getaddr, wtxidrelay, sendaddrv2,
//! cmpctblock, getblocktxn, blocktxn; or one of the harness's own messages about the node's
//! real state, which random bytes would never hit: `getdata`/`inv` of known blocks and mempool
//! transactions, and mined `headers` or a mined `block` on a known block; or the raw bytes of an
//! unknown command), and reads what the node answers until it closes or 2 s pass.
//!
//! Invariants: no panic in any node task; after the session the node drops the peer (no
//! connection is left behind) within 5 s.
#![no_main]

use bitcoin::consensus::serialize;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::p2p::message::{NetworkMessage, RawNetworkMessage};
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::{Address, Magic, ServiceFlags};
use bitcoin::{Amount, Block, OutPoint, Transaction, TxOut};
use blvm_node::mempool::AcceptOptions;
use blvm_node::node::{Node, NodeSettings};
use blvm_node::p2p::P2pSettings;
use blvm_node::params::ChainParams;
use blvm_testkit::mining::{self, Parent};
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

/// The harness's own messages, after `COMMANDS` in the selector byte's range.
const KNOWN_GETDATA: usize = COMMANDS.len();
const KNOWN_INV: usize = COMMANDS.len() + 1;
const MINED_HEADERS: usize = COMMANDS.len() + 2;
const MINED_BLOCK: usize = COMMANDS.len() + 3;

/// Blocks mined on top of genesis at startup (coinbases mature after 100).
const CHAIN_LEN: usize = 110;

struct Fixture {
    rt: tokio::runtime::Runtime,
    node: Arc<Node>,
    addr: SocketAddr,
    /// Genesis and the blocks mined at startup, by height.
    blocks: Vec<Block>,
    /// The transactions put in the mempool at startup.
    txs: Vec<Transaction>,
    _dir: tempfile::TempDir,
}

/// The parent for a block on `blocks[height]`.
fn parent(blocks: &[Block], height: usize) -> Parent {
    let earlier: Vec<u32> = blocks[height.saturating_sub(10)..height].iter().map(|b| b.header.time).collect();
    Parent::from_block(&blocks[height], height as u32, &earlier)
}

/// Mines the startup chain and fills the mempool: 5 transactions, each spending a mature
/// coinbase to two outputs.
fn populate(rt: &tokio::runtime::Runtime, node: &Node) -> (Vec<Block>, Vec<Transaction>) {
    let mut blocks = vec![bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest)];
    for h in 0..CHAIN_LEN {
        let b = mining::build_block(&parent(&blocks, h), h as u64, vec![], Amount::ZERO, mining::p2wsh_op_true());
        rt.block_on(node.submit_block(b.clone())).expect("startup block");
        blocks.push(b);
    }
    let txs: Vec<Transaction> = blocks[1..6]
        .iter()
        .map(|b| {
            let cb = &b.txdata[0];
            let half = Amount::from_sat(cb.output[0].value.to_sat() / 2 - 1_000);
            Transaction {
                version: bitcoin::transaction::Version::TWO,
                lock_time: bitcoin::absolute::LockTime::ZERO,
                input: vec![mining::unlock(OutPoint::new(cb.compute_txid(), 0), &mining::p2wsh_op_true())],
                output: vec![TxOut { value: half, script_pubkey: mining::p2wsh_op_true() }; 2],
            }
        })
        .collect();
    for tx in &txs {
        node.mempool().accept(tx.clone(), AcceptOptions::default()).expect("startup transaction");
    }
    (blocks, txs)
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
        let node = rt.block_on(blvm_node::launch::start(s)).expect("start node");
        let addr = *node.net().listening().first().expect("the node listens");
        let (blocks, txs) = populate(&rt, &node);
        Fixture {
            rt,
            node,
            addr,
            blocks,
            txs,
            _dir: dir,
        }
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

/// Inventory of the fixture's real blocks and transactions, one per selector byte (its low
/// bits pick the kind, the rest the item).
fn known_inventory(f: &Fixture, sel: &[u8]) -> Vec<Inventory> {
    sel.iter()
        .map(|&b| {
            let i = usize::from(b >> 2);
            let block = f.blocks[i % f.blocks.len()].block_hash();
            let tx = f.txs[i % f.txs.len()].compute_txid();
            match b & 3 {
                0 => Inventory::Block(block),
                1 => Inventory::WitnessBlock(block),
                2 => Inventory::Transaction(tx),
                _ => Inventory::WitnessTransaction(tx),
            }
        })
        .collect()
}

/// Up to 16 mined blocks on the fixture block `payload[0]` picks (`payload[1]` says how many,
/// `payload[2]` tags the coinbases so branches differ between inputs).
fn mined_branch(f: &Fixture, payload: &[u8]) -> Vec<Block> {
    let base = usize::from(payload.first().copied().unwrap_or(0)) % f.blocks.len();
    let n = usize::from(payload.get(1).copied().unwrap_or(1)) % 16 + 1;
    let tag = u64::from(payload.get(2).copied().unwrap_or(0)) << 32;
    let mut chain: Vec<Block> = f.blocks[..=base].to_vec();
    for h in base..base + n {
        let b = mining::build_block(&parent(&chain, h), tag | h as u64, vec![], Amount::ZERO, mining::p2wsh_op_true());
        chain.push(b);
    }
    chain.split_off(base + 1)
}

/// The input as framed messages.
fn messages(f: &Fixture, mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while data.len() >= 3 {
        let sel = usize::from(data[0]);
        let len = usize::from(u16::from_le_bytes([data[1], data[2]])).min(data.len() - 3);
        let payload = &data[3..3 + len];
        data = &data[3 + len..];
        let msg = match sel {
            KNOWN_GETDATA => NetworkMessage::GetData(known_inventory(f, payload)),
            KNOWN_INV => NetworkMessage::Inv(known_inventory(f, payload)),
            MINED_HEADERS => NetworkMessage::Headers(mined_branch(f, payload).iter().map(|b| b.header).collect()),
            MINED_BLOCK => match mined_branch(f, payload).pop() {
                Some(b) => NetworkMessage::Block(b),
                None => continue,
            },
            _ => {
                match COMMANDS.get(sel) {
                    Some(c) => out.extend(frame(c.as_bytes(), payload)),
                    None => out.extend(frame(&payload[..payload.len().min(12)], payload)),
                }
                continue;
            }
        };
        out.extend(serialize(&RawNetworkMessage::new(Magic::REGTEST, msg)));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let body = messages(f, data);
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

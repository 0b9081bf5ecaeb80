//! `-maxuploadtarget` as Core's, against a real node process over TCP: `getnettotals`'
//! `uploadtarget` fields; near the target a historical block (over a week older than the best
//! header) is refused with a disconnect, except to a peer with the download permission, while a
//! recent block is still served, also once the target itself is reached, when a `mempool`
//! request disconnects a peer without the mempool permission; a bad value stops startup with
//! Core's error.

mod support;

use support::{http, mining, node_proc, p2p_peer};

use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::BlockHash;
use p2p_peer::{p2p_addr, rpc, TestPeer};
use serde_json::json;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
const TARGET: u64 = 20_000;

fn get_block(p: &mut TestPeer, h: BlockHash) {
    p.send(NetworkMessage::GetData(vec![Inventory::WitnessBlock(h)])).unwrap();
}

fn served(p: &mut TestPeer, h: BlockHash) {
    get_block(p, h);
    p.expect(T, "block", |m| match m {
        NetworkMessage::Block(b) if b.block_hash() == h => Some(()),
        _ => None,
    });
}

fn peer(a: SocketAddr, from: &str) -> TestPeer {
    let mut p = TestPeer::connect_from(a, from).unwrap();
    p.handshake(0);
    p
}

#[test]
fn a_bad_target_stops_startup() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_blvm-node"))
        .args(["-regtest", &format!("-datadir={}", dir.path().display()), "-maxuploadtarget=12x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Unable to parse -maxuploadtarget: '12x'"), "{err}");
}

#[test]
fn historical_blocks_not_served_near_the_target() {
    let port = http::free_port();
    let rpcport = format!("-rpcport={port}");
    let mut args = vec![
        rpcport.as_str(),
        "-maxuploadtarget=20k",
        "-whitelist=download@127.0.0.3",
        "-whitelist=bloomfilter@127.0.0.5",
    ];
    args.extend_from_slice(p2p_peer::LISTEN_ARGS);
    let n = node_proc::start_node_with_chain(&support::chain_hex_path(), &args, &[]);
    n.wait_started();
    let totals = |n: &node_proc::NodeProc| rpc(n, port, "getnettotals", json!([]))["uploadtarget"].clone();
    let t = totals(&n);
    assert_eq!(t["timeframe"], 86400);
    assert_eq!(t["target"], TARGET);
    assert_eq!(t["target_reached"], false);
    // A day of 4 MB blocks' room exceeds the whole target: no historical blocks from the start.
    assert_eq!(t["serve_historical_blocks"], false);
    assert!(t["time_left_in_cycle"].as_i64().unwrap() <= 86400);

    // A block eight days after the chain's tip makes the chain's blocks historical.
    let old = BlockHash::from_str(rpc(&n, port, "getblockhash", json!([1])).as_str().unwrap()).unwrap();
    let tip_time = rpc(&n, port, "getblockheader", json!([rpc(&n, port, "getbestblockhash", json!([]))]))["time"]
        .as_i64()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    rpc(&n, port, "setmocktime", json!([now.max(tip_time) + 8 * 24 * 3600]));
    let addr = bitcoin::Address::from_script(&mining::p2wsh_op_true(), bitcoin::Network::Regtest)
        .unwrap()
        .to_string();
    let new = rpc(&n, port, "generatetoaddress", json!([1, addr]))[0]
        .as_str()
        .unwrap()
        .to_string();
    let new = BlockHash::from_str(&new).unwrap();
    let a = p2p_addr(&n);

    // Historical: refused with a disconnect; a recent block is served.
    let mut p = peer(a, "127.0.0.2");
    served(&mut p, new);
    get_block(&mut p, old);
    assert!(p.wait_closed(T), "historical block request not refused");
    assert!(n.log().contains("historical block serving limit reached, disconnecting peer="));
    // The download permission lifts the limit.
    let mut d = peer(a, "127.0.0.3");
    served(&mut d, old);

    // Recent blocks go on being served until, and after, the target is reached.
    let mut q = peer(a, "127.0.0.4");
    for _ in 0..1000 {
        if totals(&n)["target_reached"] == true {
            break;
        }
        served(&mut q, new);
    }
    let t = totals(&n);
    assert_eq!(t["target_reached"], true, "{t}");
    assert_eq!(t["bytes_left_in_cycle"], 0);
    served(&mut q, new);
    let sent = rpc(&n, port, "getnettotals", json!([]))["totalbytessent"].as_u64().unwrap();
    assert!(sent >= TARGET, "{sent}");
    // With the target reached, BIP35 `mempool` from a peer without the mempool permission
    // (offered bloom filters, so normally answered) disconnects it.
    let mut m = peer(a, "127.0.0.5");
    m.send(NetworkMessage::MemPool).unwrap();
    assert!(m.wait_closed(T), "mempool request not refused");
    assert!(n
        .log()
        .contains("mempool request with bandwidth limit reached, disconnecting peer="));
}

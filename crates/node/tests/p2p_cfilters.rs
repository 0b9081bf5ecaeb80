//! BIP157 serving (`-peerblockfilters`) against a real node process over TCP, with a scripted
//! Rust peer: NODE_COMPACT_FILTERS in `version` and `getnetworkinfo`; `cfilter`, `cfheaders` and
//! `cfcheckpt` answers equal to `getblockfilter`'s filters and headers; Core's limits and
//! disconnections (unsupported type, unknown stop block, start after stop, over 1,000 filters or
//! 2,000 headers) without discouragement; the option refused without `-blockfilterindex`; a node
//! without it disconnects filter requests.

mod support;

use support::{http, mining, node_proc, p2p_peer};

use bitcoin::bip158::{FilterHash, FilterHeader};
use bitcoin::hashes::Hash;
use bitcoin::hex::FromHex;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_filter::{GetCFCheckpt, GetCFHeaders, GetCFilters};
use bitcoin::p2p::ServiceFlags;
use bitcoin::BlockHash;
use p2p_peer::{p2p_addr, rpc, TestPeer};
use serde_json::json;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn peer(addr: SocketAddr, from: &str) -> TestPeer {
    let mut p = TestPeer::connect_from(addr, from).expect("connect");
    let theirs = p.handshake(0);
    assert!(theirs.services.has(ServiceFlags::COMPACT_FILTERS), "NODE_COMPACT_FILTERS offered");
    p
}

fn getcfilters(start: u32, stop: BlockHash) -> NetworkMessage {
    NetworkMessage::GetCFilters(GetCFilters {
        filter_type: 0,
        start_height: start,
        stop_hash: stop,
    })
}

fn getcfheaders(start: u32, stop: BlockHash) -> NetworkMessage {
    NetworkMessage::GetCFHeaders(GetCFHeaders {
        filter_type: 0,
        start_height: start,
        stop_hash: stop,
    })
}

/// Sends `msg` from a fresh peer on `from` and expects the node to close the connection.
fn refused(addr: SocketAddr, from: &str, msg: NetworkMessage) {
    let mut p = peer(addr, from);
    p.send(msg).unwrap();
    assert!(p.wait_closed(T), "request from {from} not refused");
}

#[test]
fn peerblockfilters_needs_the_filter_index() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_blvm-node"))
        .args(["-regtest", &format!("-datadir={}", dir.path().display()), "-peerblockfilters"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Cannot set -peerblockfilters without -blockfilterindex."), "{err}");
}

#[test]
fn bip157_requests_answered_from_the_filter_index() {
    let port = http::free_port();
    let rpcport = format!("-rpcport={port}");
    let mut args = vec![rpcport.as_str(), "-blockfilterindex", "-peerblockfilters"];
    args.extend_from_slice(p2p_peer::LISTEN_ARGS);
    let n = node_proc::start_node_with_chain(&support::chain_hex_path(), &args, &[]);
    n.wait_started();
    let info = rpc(&n, port, "getnetworkinfo", json!([]));
    assert!(
        info["localservicesnames"].as_array().unwrap().contains(&json!("COMPACT_FILTERS")),
        "{info}"
    );
    // Past 2,001 blocks, so the 2,000-header limit and a checkpoint can be exercised.
    let addr = bitcoin::Address::from_script(&mining::p2wsh_op_true(), bitcoin::Network::Regtest)
        .unwrap()
        .to_string();
    rpc(&n, port, "generatetoaddress", json!([1750, addr]));
    let tip_height = 2050u32;
    let hash_at = |h: u32| BlockHash::from_str(rpc(&n, port, "getblockhash", json!([h])).as_str().unwrap()).unwrap();
    let rpc_filter = |h: &BlockHash| {
        let f = rpc(&n, port, "getblockfilter", json!([h.to_string()]));
        let filter = Vec::<u8>::from_hex(f["filter"].as_str().unwrap()).expect("hex");
        let header = FilterHeader::from_str(f["header"].as_str().unwrap()).unwrap();
        (filter, header)
    };
    let hashes: Vec<BlockHash> = (0..=tip_height).map(hash_at).collect();
    let a = p2p_addr(&n);

    // getcfilters: 1,000 filters (the limit), each equal to getblockfilter's, in height order.
    let mut p = peer(a, "127.0.0.2");
    p.send(getcfilters(1001, hashes[2000])).unwrap();
    for h in &hashes[1001..=2000] {
        let got = p.expect(T, "cfilter", |m| match m {
            NetworkMessage::CFilter(f) => Some(f.clone()),
            _ => None,
        });
        assert_eq!((got.filter_type, got.block_hash), (0, *h));
        assert_eq!(got.filter, rpc_filter(h).0, "filter of {h}");
    }

    // getcfheaders from genesis: 2,000 hashes chaining to getblockfilter's headers.
    p.send(getcfheaders(0, hashes[1999])).unwrap();
    let hs = p.expect(T, "cfheaders", |m| match m {
        NetworkMessage::CFHeaders(h) => Some(h.clone()),
        _ => None,
    });
    assert_eq!((hs.filter_type, hs.stop_hash), (0, hashes[1999]));
    assert_eq!(hs.previous_filter_header, FilterHeader::all_zeros());
    assert_eq!(hs.filter_hashes.len(), 2000);
    let mut prev = hs.previous_filter_header;
    for (i, fh) in hs.filter_hashes.iter().enumerate() {
        let (filter, header) = rpc_filter(&hashes[i]);
        assert_eq!(*fh, FilterHash::hash(&filter), "filter hash at {i}");
        prev = fh.filter_header(&prev);
        assert_eq!(prev, header, "filter header at {i}");
    }
    // From a later start: the previous header is the one below it.
    p.send(getcfheaders(2000, hashes[2050])).unwrap();
    let hs = p.expect(T, "cfheaders", |m| match m {
        NetworkMessage::CFHeaders(h) => Some(h.clone()),
        _ => None,
    });
    assert_eq!(hs.previous_filter_header, rpc_filter(&hashes[1999]).1);
    assert_eq!(hs.filter_hashes.len(), 51);

    // getcfcheckpt: the headers at 1,000 and 2,000.
    p.send(NetworkMessage::GetCFCheckpt(GetCFCheckpt {
        filter_type: 0,
        stop_hash: hashes[2050],
    }))
    .unwrap();
    let cp = p.expect(T, "cfcheckpt", |m| match m {
        NetworkMessage::CFCheckpt(c) => Some(c.clone()),
        _ => None,
    });
    assert_eq!(cp.stop_hash, hashes[2050]);
    assert_eq!(cp.filter_headers, vec![rpc_filter(&hashes[1000]).1, rpc_filter(&hashes[2000]).1]);
    p.send_and_ping(NetworkMessage::Verack, T);

    // A stop block that left the active chain (a valid branch with less work) is still
    // answered along its own chain.
    let stale = hashes[2050];
    let (stale_filter, _) = rpc_filter(&stale);
    rpc(&n, port, "invalidateblock", json!([hashes[2046].to_string()]));
    let other = bitcoin::Address::p2wsh(&bitcoin::ScriptBuf::from_bytes(vec![0x51, 0x51]), bitcoin::Network::Regtest);
    rpc(&n, port, "generatetoaddress", json!([6, other.to_string()]));
    rpc(&n, port, "reconsiderblock", json!([hashes[2046].to_string()]));
    assert_eq!(rpc(&n, port, "getblockcount", json!([])), json!(2051));
    assert_ne!(hash_at(2050), stale);
    p.send(getcfheaders(2045, stale)).unwrap();
    let hs = p.expect(T, "cfheaders for a stale stop", |m| match m {
        NetworkMessage::CFHeaders(h) => Some(h.clone()),
        _ => None,
    });
    assert_eq!(hs.previous_filter_header, rpc_filter(&hashes[2044]).1);
    assert_eq!(hs.filter_hashes.len(), 6);
    assert_eq!(hs.filter_hashes[5], FilterHash::hash(&stale_filter));
    p.send(NetworkMessage::GetCFCheckpt(GetCFCheckpt {
        filter_type: 0,
        stop_hash: stale,
    }))
    .unwrap();
    let cp = p.expect(T, "cfcheckpt for a stale stop", |m| match m {
        NetworkMessage::CFCheckpt(c) => Some(c.clone()),
        _ => None,
    });
    assert_eq!(cp.filter_headers, vec![rpc_filter(&hashes[1000]).1, rpc_filter(&hashes[2000]).1]);

    // Core's refusals: the connection is closed, the address not discouraged.
    refused(a, "127.0.0.3", getcfilters(1000, hashes[2000]));
    refused(a, "127.0.0.4", getcfheaders(0, hashes[2000]));
    refused(a, "127.0.0.5", getcfilters(11, hashes[10]));
    refused(a, "127.0.0.6", getcfilters(0, BlockHash::from_byte_array([7; 32])));
    refused(
        a,
        "127.0.0.7",
        NetworkMessage::GetCFCheckpt(GetCFCheckpt {
            filter_type: 1,
            stop_hash: hashes[10],
        }),
    );
    let log = n.log();
    for line in [
        "peer requested too many cfilters/cfheaders: 1001 / 1000",
        "peer requested too many cfilters/cfheaders: 2001 / 2000",
        "peer sent invalid getcfilters/getcfheaders with start height 11 and stop height 10",
        "peer requested invalid block hash",
        "peer requested unsupported block filter type: 1",
    ] {
        assert!(log.contains(line), "missing {line:?}");
    }
    assert!(!log.contains("discouraging"), "refusals do not discourage");
    let mut again = peer(a, "127.0.0.3");
    again.send(getcfilters(5, hashes[5])).unwrap();
    again.expect(T, "cfilter after a refusal", |m| {
        matches!(m, NetworkMessage::CFilter(_)).then_some(())
    });
}

#[test]
fn filter_requests_disconnect_without_peerblockfilters() {
    let (n, _port) = p2p_peer::start_listening(&["-blockfilterindex"]);
    let mut p = TestPeer::connect_from(p2p_addr(&n), "127.0.0.2").unwrap();
    let theirs = p.handshake(0);
    assert!(!theirs.services.has(ServiceFlags::COMPACT_FILTERS));
    let genesis = bitcoin::constants::genesis_block(bitcoin::Network::Regtest).block_hash();
    p.send(getcfilters(0, genesis)).unwrap();
    assert!(p.wait_closed(T));
    assert!(n.log().contains("peer requested unsupported block filter type: 0"));
}

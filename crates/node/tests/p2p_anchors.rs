//! `anchors.dat` as Core's, with two real node processes: node A holds a block-relay-only
//! connection to node B; a clean stop of A writes B's address to `<net_dir>/anchors.dat` in
//! Core's layout (read back here independently); a restarted A reads and deletes the file and
//! dials B first, again as block-relay-only.

mod support;

use support::{http, node_proc, p2p_peer};

use bitcoin::hashes::{sha256d, Hash};
use p2p_peer::{p2p_addr, rpc, start_listening};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// Core's anchors.dat layout, decoded by hand: regtest magic, one addrv2 disk entry, sha256d.
fn decode_anchors(b: &[u8]) -> Vec<(SocketAddr, u64)> {
    assert_eq!(&b[..4], &[0xfa, 0xbf, 0xb5, 0xda], "regtest magic");
    let (body, hash) = b.split_at(b.len() - 32);
    assert_eq!(sha256d::Hash::hash(body).as_byte_array(), hash, "trailing sha256d");
    let mut out = Vec::new();
    let mut i = 5;
    for _ in 0..body[4] {
        let version = u32::from_le_bytes(body[i..i + 4].try_into().unwrap());
        assert_eq!(version, 220_000 | 1 << 29, "CAddress disk version with addrv2");
        i += 8; // version, time
        let services = match body[i] {
            0xfd => {
                i += 3;
                u64::from(u16::from_le_bytes([body[i - 2], body[i - 1]]))
            }
            x => {
                i += 1;
                u64::from(x)
            }
        };
        assert_eq!((body[i], body[i + 1]), (1, 4), "IPv4 network id and length");
        let ip = [body[i + 2], body[i + 3], body[i + 4], body[i + 5]];
        let port = u16::from_be_bytes([body[i + 6], body[i + 7]]);
        i += 8;
        out.push((SocketAddr::from((ip, port)), services));
    }
    assert_eq!(i, body.len(), "no trailing bytes");
    out
}

fn peers(n: &node_proc::NodeProc, port: u16) -> Vec<Value> {
    rpc(n, port, "getpeerinfo", json!([])).as_array().unwrap().clone()
}

#[test]
fn block_relay_only_peers_are_anchors_across_a_restart() {
    let (b, b_port) = start_listening(&[]);
    let b_addr = p2p_addr(&b);
    let a_port = http::free_port();
    let a_args = [format!("-rpcport={a_port}"), "-listen=0".into(), "-debug=net".into()];
    let a_args: Vec<&str> = a_args.iter().map(String::as_str).collect();
    let mut a = node_proc::start_node(&a_args, &[]);
    a.wait_started();
    let anchors = a.net_dir().join("anchors.dat");
    assert!(!anchors.exists());
    rpc(&a, a_port, "addconnection", json!([b_addr.to_string(), "block-relay-only", false]));
    a.wait_until(T, "block-relay-only connection to B", |_| {
        peers(&a, a_port).iter().any(|p| {
            p["addr"] == b_addr.to_string() && p["connection_type"] == "block-relay-only" && p["version"].as_u64().unwrap_or(0) > 0
        })
    });

    a.stop(T);
    let bytes = std::fs::read(&anchors).expect("anchors.dat written at shutdown");
    let written = decode_anchors(&bytes);
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].0, b_addr);
    assert_eq!(written[0].1 & 0x9, 0x9, "B's NODE_NETWORK | NODE_WITNESS recorded");
    b.wait_until(T, "B sees A leave", |_| peers(&b, b_port).is_empty());

    // Restart: the file is consumed and B dialled first, as block-relay-only.
    let a = node_proc::start_node_in(&a.datadir.clone(), &a_args, &[]);
    a.wait_started();
    a.wait_until(T, "anchor connection to B", |_| {
        peers(&a, a_port)
            .iter()
            .any(|p| p["addr"] == b_addr.to_string() && p["connection_type"] == "block-relay-only")
    });
    assert!(!anchors.exists(), "anchors.dat removed once read");
    let log = a.run_log();
    assert!(log.contains("1 block-relay-only anchors will be tried for connections."), "{log}");
    assert!(log.contains(&format!("Trying to make an anchor connection to {b_addr}")));
    b.wait_until(T, "B has A inbound again", |_| {
        peers(&b, b_port).iter().any(|p| p["inbound"] == true)
    });
}

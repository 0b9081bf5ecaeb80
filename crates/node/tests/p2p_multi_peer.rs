//! Sync from several peers: a real node A holding the shared chain plus a scripted peer C
//! (listening on 127.0.0.2, dialled by B through -connect). In one test C announces the chain
//! but never delivers the blocks it is asked for (stalling); in the other C offers a longer
//! fork whose first block breaks a consensus rule. Either way B must drop C (and ban it for the
//! invalid block) and finish the sync from A, at A's exact tip and UTXO hash.

mod support;

use support::{http, mining, node_proc, p2p_peer};

use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::{Amount, Block, BlockHash};
use node_proc::{wait_for, NodeProc};
use p2p_peer::{rpc, Recv, TestPeer};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the scripted peer does with block requests.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Answers getheaders, ignores getdata.
    Stall,
    /// Serves every block it has.
    Serve,
}

/// Handles of a scripted peer running in a thread.
struct Scripted {
    addr: std::net::SocketAddr,
    requested: Arc<Mutex<Vec<BlockHash>>>,
    closed: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A peer on 127.0.0.2 that serves `chain` (genesis first) as its best chain.
fn scripted_peer(chain: Vec<Block>, behaviour: Behaviour) -> Scripted {
    let listener = p2p_peer::listen_on("127.0.0.2");
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let requested = Arc::new(Mutex::new(Vec::new()));
    let closed = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (req, cl, st) = (requested.clone(), closed.clone(), stop.clone());
    let thread = std::thread::spawn(move || {
        let stream = loop {
            if st.load(Ordering::SeqCst) {
                return;
            }
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        stream.set_nonblocking(false).unwrap();
        let mut p = TestPeer::from_stream(stream);
        let height = (chain.len() - 1) as i32;
        p.accept_handshake(height);
        let by_hash: HashMap<BlockHash, &Block> = chain.iter().map(|b| (b.block_hash(), b)).collect();
        let headers: Vec<_> = chain[1..].iter().map(|b| b.header).collect();
        // Announce the whole chain right away.
        let _ = p.send(NetworkMessage::Headers(headers.clone()));
        while !st.load(Ordering::SeqCst) {
            match p.recv(Duration::from_millis(100)) {
                Recv::Closed => {
                    cl.store(true, Ordering::SeqCst);
                    return;
                }
                Recv::Timeout => {}
                Recv::Msg(NetworkMessage::Ping(n)) => {
                    let _ = p.send(NetworkMessage::Pong(n));
                }
                Recv::Msg(NetworkMessage::GetHeaders(_)) => {
                    let _ = p.send(NetworkMessage::Headers(headers.clone()));
                }
                Recv::Msg(NetworkMessage::GetData(items)) => {
                    for inv in items {
                        if let Inventory::WitnessBlock(h) | Inventory::Block(h) = inv {
                            req.lock().unwrap().push(h);
                            if behaviour == Behaviour::Serve {
                                if let Some(b) = by_hash.get(&h) {
                                    let _ = p.send(NetworkMessage::Block((*b).clone()));
                                }
                            }
                        }
                    }
                }
                Recv::Msg(_) => {}
            }
        }
    });
    Scripted {
        addr,
        requested,
        closed,
        stop,
        thread: Some(thread),
    }
}

fn start_a() -> (NodeProc, u16, std::net::SocketAddr) {
    let pa = http::free_port();
    let a = node_proc::start_node_with_chain(
        &support::chain_hex_path(),
        &[&format!("-rpcport={pa}"), "-port=0", "-bind=127.0.0.1"],
        &[],
    );
    a.wait_started();
    let addr = p2p_peer::p2p_addr(&a);
    (a, pa, addr)
}

/// `-mocktime` an hour after the shared chain's tip. As Core, headers are synced from one peer
/// at a time until the best header is within a day of now; with this clock B counts as caught
/// up once it has the chain's headers, and then syncs headers with every peer.
fn caught_up_clock() -> String {
    let tip_time = support::core_json()["getblockchaininfo"]["time"].as_i64().unwrap();
    format!("-mocktime={}", tip_time + 3600)
}

fn assert_synced_to_core(b: &NodeProc, pb: u16) {
    let core = support::core_json();
    assert_eq!(rpc(b, pb, "getbestblockhash", json!([])), core["tip_hash"]);
    assert_eq!(
        rpc(b, pb, "gettxoutsetinfo", json!([]))["hash_serialized_3"],
        core["gettxoutsetinfo"]["hash_serialized_3"]["hash_serialized_3"]
    );
}

#[test]
fn stalling_peer_is_dropped_and_its_blocks_reassigned() {
    let blocks = support::chain_blocks();
    let (a, _pa, a_addr) = start_a();
    let c = scripted_peer(blocks.clone(), Behaviour::Stall);
    let pb = http::free_port();
    let b = node_proc::start_node(&[&format!("-rpcport={pb}"), &format!("-connect={}", c.addr)], &[]);
    b.wait_started();
    // C announces the chain, so B asks C for the first blocks, which never come.
    wait_for("B to request blocks from C", Duration::from_secs(20), &[&b], || {
        c.requested.lock().unwrap().len() >= 16
    });
    let asked: Vec<BlockHash> = c.requested.lock().unwrap().clone();
    assert_eq!(
        asked[0],
        blocks[1].block_hash(),
        "downloads start right after the fork point (genesis)"
    );
    // Now A joins; it gets the rest of the window, and after the stall timeout C's blocks.
    let t = Instant::now();
    rpc(&b, pb, "addnode", json!([a_addr.to_string(), "onetry"]));
    wait_for("B to sync 300 blocks", Duration::from_secs(40), &[&a, &b], || {
        rpc(&b, pb, "getblockcount", json!([])) == json!(300)
    });
    assert_synced_to_core(&b, pb);
    let log = b.log();
    assert!(
        log.contains("block download stalled: 16 blocks in flight"),
        "no stall detected:\n{log}"
    );
    assert!(
        c.closed.load(Ordering::SeqCst) || c.thread.as_ref().is_some_and(|t| t.is_finished()),
        "B kept the stalling peer"
    );
    // The stalled blocks were requested from A afterwards; A served everything.
    let peers = rpc(&b, pb, "getpeerinfo", json!([]));
    let peers = peers.as_array().unwrap();
    assert_eq!(peers.len(), 1, "only A is left: {peers:?}");
    assert_eq!(peers[0]["addr"], a_addr.to_string());
    // Stalling is not misbehaviour: C is not banned.
    assert!(rpc(&b, pb, "listbanned", json!([])).as_array().unwrap().is_empty());
    eprintln!(
        "sync with a stalling peer finished {:.1}s after A joined",
        t.elapsed().as_secs_f64()
    );
    drop(a);
}

#[test]
fn manual_peer_serving_an_invalid_block_is_not_punished_and_sync_completes_from_the_honest_one() {
    let blocks = support::chain_blocks();
    let (a, _pa, a_addr) = start_a();
    // C's chain: the shared blocks up to 149, then a 160-block fork (more work than A's 300)
    // whose first block's coinbase claims a fee that does not exist.
    let fork_at = 149usize;
    let mut fork: Vec<Block> = blocks[..=fork_at].to_vec();
    let mut times: Vec<u32> = fork.iter().map(|b| b.header.time).collect();
    for i in 0..160u64 {
        let h = fork.len() - 1;
        let parent = mining::Parent::from_block(&fork[h], h as u32, &times[..h]);
        let fee = if i == 0 { Amount::from_btc(1.0).unwrap() } else { Amount::ZERO };
        let blk = mining::build_block(&parent, 7000 + i, vec![], fee, mining::op_true());
        times.push(blk.header.time);
        fork.push(blk);
    }
    let bad = fork[fork_at + 1].block_hash();
    let c = scripted_peer(fork, Behaviour::Serve);
    let pb = http::free_port();
    // Once C's headers are in, B is caught up (see `caught_up_clock`) and asks A as well.
    let b = node_proc::start_node(
        &[
            &format!("-rpcport={pb}"),
            &format!("-connect={}", c.addr),
            &format!("-connect={a_addr}"),
            &caught_up_clock(),
        ],
        &[],
    );
    b.wait_started();
    wait_for("B to sync A's 300 blocks", Duration::from_secs(40), &[&a, &b], || {
        rpc(&b, pb, "getblockcount", json!([])) == json!(300)
    });
    assert_synced_to_core(&b, pb);
    // C was asked for the bad block (its chain had the most work) and served it. C is a manual
    // (-connect) peer, so as in Core it is warned about rather than disconnected or discouraged,
    // and nothing enters the ban list.
    assert!(c.requested.lock().unwrap().contains(&bad), "B never downloaded the fork");
    let banned = rpc(&b, pb, "listbanned", json!([]));
    assert!(banned.as_array().unwrap().is_empty(), "{banned}");
    let log = b.log();
    // The fork's first bad block is rejected with Core's reason; the misbehaviour may be triggered
    // by it or by a descendant the peer already sent ("duplicate-invalid"), whichever arrives first.
    assert!(
        log.contains(&format!("block={bad} reason=bad-cb-amount")) || log.contains(&format!("invalid block {bad}: bad-cb-amount")),
        "rejection not logged:\n{log}"
    );
    assert!(log.contains("Misbehaving: peer="), "misbehaviour not logged:\n{log}");
    assert!(
        log.contains("Warning: not punishing manually connected peer"),
        "manual peer punished:\n{log}"
    );
    let hdr = rpc(&b, pb, "getblockheader", json!([bad.to_string()]));
    assert_eq!(hdr["confirmations"], -1);
    drop(a);
}

#[test]
fn syncs_from_two_honest_nodes_in_parallel() {
    let (a, pa, a_addr) = start_a();
    let (c, pc, c_addr) = start_a();
    let pb = http::free_port();
    // Once A's headers are in, B is caught up (see `caught_up_clock`) and C is synced with
    // too, so both serve blocks.
    let b = node_proc::start_node(
        &[
            &format!("-rpcport={pb}"),
            &format!("-connect={a_addr}"),
            &format!("-connect={c_addr}"),
            &caught_up_clock(),
        ],
        &[],
    );
    b.wait_started();
    wait_for("B to sync 300 blocks from A and C", Duration::from_secs(40), &[&a, &c, &b], || {
        rpc(&b, pb, "getblockcount", json!([])) == json!(300)
    });
    assert_synced_to_core(&b, pb);
    // Both served blocks: each one's getpeerinfo shows B, and B got blocks from both.
    let peers = rpc(&b, pb, "getpeerinfo", json!([]));
    let peers = peers.as_array().unwrap();
    assert_eq!(peers.len(), 2, "{peers:?}");
    for p in peers {
        assert!(
            p["last_block"].as_i64().unwrap() > 0,
            "peer {} delivered no block: {peers:?}",
            p["addr"]
        );
        assert!(p["synced_blocks"].as_i64().unwrap() > 0);
    }
    for (n, port) in [(&a, pa), (&c, pc)] {
        let theirs = rpc(n, port, "getpeerinfo", json!([]));
        assert!(theirs[0]["bytessent"].as_u64().unwrap() > 10_000, "{theirs}");
    }
}

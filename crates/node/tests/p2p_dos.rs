//! Resource-exhaustion attacks by peers against a real node process, each with a stated bound:
//! the node's resident memory (VmRSS from /proc) may grow by at most a stated figure, RPC keeps
//! answering within a stated latency while the attack runs, and the attacker is disconnected or
//! gets nothing more than an honest peer would. One test per attack (docs/security.md lists
//! them with their bounds). Every attacker connects from its own loopback address.

mod support;

use support::{coins, http, mining, node_proc, p2p_peer, p2p_target};

use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, TxOut, Txid};
use coins::hex_bytes;
use node_proc::rss_kib;
use p2p_peer::{Recv, TestPeer};
use p2p_target::Target;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Latency bound for `getblockcount` and manager-served RPCs while an attack runs (a loaded
/// 2-core machine included).
const RPC_LATENCY_BOUND: Duration = Duration::from_secs(2);

impl Target {
    /// A node (no outbound connections, listening) whose `peers.json` held 20,000 new-table
    /// entries: 256 address groups heard from 256 source groups, spread over the buckets; those
    /// whose slot is already taken are dropped at load. Returns the node, its datadir and how
    /// many entries it loaded (at least 16,384).
    fn start_with_addresses(extra: &[&str]) -> (Target, tempfile::TempDir, usize) {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("regtest");
        std::fs::create_dir_all(&net).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        // Loopback addresses on port 1 (nothing listens there): nothing outside this machine.
        let new: Vec<serde_json::Value> = (0..20_000u32)
            .map(|i| {
                json!({"addr": format!("127.{}.{}.{}:1", i % 256, i / 256 % 256, 1 + i / 65_536), "services": 9,
                       "time": now - 3_600, "last_try": 0, "last_success": 0, "attempts": 0,
                       "source": format!("10.{}.{}.1", i / 256 % 256, i % 256)})
            })
            .collect();
        std::fs::write(net.join("peers.json"), json!({"version": 1, "new": new, "tried": []}).to_string()).unwrap();
        let port = http::free_port();
        let node = node_proc::start_node_in(
            dir.path(),
            &[
                &format!("-rpcport={port}"),
                "-port=0",
                "-bind=127.0.0.1",
                "-connect=0",
                "-listen=1",
                "-debug=net",
            ]
            .into_iter()
            .chain(extra.iter().copied())
            .collect::<Vec<_>>(),
            &[],
        );
        node.wait_started();
        let addr = p2p_peer::p2p_addr(&node);
        let t = Target { node, port, addr };
        let loaded: usize = t
            .node
            .log()
            .split("new=")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
            .expect("address manager load logged");
        assert!(loaded >= 16_384, "address manager loaded only {loaded} of 20,000 entries");
        (t, dir, loaded)
    }

    /// Mines a block so the node leaves initial block download (as Core, it neither requests
    /// nor processes relayed transactions before).
    fn leave_ibd(&self) {
        self.rpc("generatetoaddress", json!([1, "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"]));
        assert_eq!(self.rpc("getblockchaininfo", json!([]))["initialblockdownload"], json!(false));
    }

    fn pid(&self) -> u32 {
        self.node.child.as_ref().expect("running").id()
    }

    fn peer_from(&self, from: &str) -> TestPeer {
        let mut p = TestPeer::connect_from(self.addr, from).unwrap_or_else(|e| panic!("connect from {from}: {e}"));
        p.handshake(0);
        p
    }

    /// Ready peers from 127.0.0.N for each N in `last_octets`, each with a thread draining
    /// what the node sends it (until `stop`).
    fn drained_peers(&self, last_octets: std::ops::Range<u8>, stop: &Arc<AtomicBool>) -> Vec<(TestPeer, std::thread::JoinHandle<u64>)> {
        last_octets
            .map(|i| {
                let p = self.peer_from(&format!("127.0.0.{i}"));
                let d = drain(p.stream.try_clone().unwrap(), stop.clone());
                (p, d)
            })
            .collect()
    }

    /// Mines `n` blocks paying to P2WSH(OP_TRUE) and returns their coinbase outputs.
    fn fund(&self, n: usize) -> Vec<(OutPoint, ScriptBuf, Amount)> {
        coins::fund(|m, p| self.rpc(m, p), n)
            .into_iter()
            .map(|(o, v)| (o, mining::p2wsh_op_true(), v))
            .collect()
    }

    /// Runs `attack` while sampling the node's RSS and `probe`'s latency every 50 ms; returns
    /// (RSS growth over the baseline in MiB, worst probe latency).
    fn measure(&self, probe: impl Fn(&Target) + Sync, attack: impl FnOnce()) -> (f64, Duration) {
        let base = rss_kib(self.pid());
        let peak = AtomicU64::new(base);
        let worst = AtomicU64::new(0);
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(self.pid()), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
            s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    probe(self);
                    worst.fetch_max(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
            attack();
            done.store(true, Ordering::Relaxed);
        });
        let growth = (peak.load(Ordering::Relaxed).saturating_sub(base)) as f64 / 1024.0;
        (growth, Duration::from_micros(worst.load(Ordering::Relaxed)))
    }
}

/// A standard transaction of about `outputs * 43` bytes spending `coin`.
fn big_tx(coin: &(OutPoint, ScriptBuf, Amount), outputs: usize) -> Transaction {
    let each = Amount::from_sat(1_000);
    let fee = Amount::from_sat(200_000);
    let mut outs = vec![TxOut {
        value: coin.2 - fee - each * (outputs as u64 - 1),
        script_pubkey: mining::p2wsh_op_true(),
    }];
    outs.extend((1..outputs).map(|_| TxOut {
        value: each,
        script_pubkey: mining::p2wsh_op_true(),
    }));
    mining::spend(&[(coin.0, coin.1.clone())], outs)
}

/// A well-formed transaction whose parent does not exist (an orphan), about `outputs * 43` bytes.
fn orphan_tx(tag: u32, outputs: usize) -> Transaction {
    let mut parent = [0u8; 32];
    parent[..4].copy_from_slice(&tag.to_le_bytes());
    parent[4] = 0xee;
    let outs = (0..outputs)
        .map(|_| TxOut {
            value: Amount::from_sat(1_000),
            script_pubkey: mining::p2wsh_op_true(),
        })
        .collect();
    mining::spend(
        &[(
            OutPoint {
                txid: Txid::from_byte_array(parent),
                vout: 0,
            },
            mining::p2wsh_op_true(),
        )],
        outs,
    )
}

fn getblockcount(t: &Target) {
    t.rpc("getblockcount", json!([]));
}

/// `getnodeaddresses` is answered by the connection manager's own loop: its latency shows
/// whether peer messages are monopolising that loop.
fn manager_probe(t: &Target) {
    t.rpc("getnodeaddresses", json!([1]));
}

/// Keeps reading (and discarding) whatever the node sends to `p`, until `stop`.
fn drain(mut stream: std::net::TcpStream, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    use std::io::Read;
    stream.set_read_timeout(Some(Duration::from_millis(100))).ok();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        while !stop.load(Ordering::Relaxed) {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => total += n as u64,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        total
    })
}

/// Issue item 1: one `getdata` listing the same 90 kB mempool transaction 50,000 times used to
/// build the whole 4.5 GB reply in memory. Ten such peers at once: RSS grows by at most 64 MiB,
/// RPC answers within the latency bound, and a peer that reads gets the transaction once.
#[test]
fn getdata_of_one_big_transaction_50000_times() {
    let t = Target::start_with(&[]);
    let coin = t.fund(1).remove(0);
    let tx = big_tx(&coin, 2_100);
    let size = bitcoin::consensus::serialize(&tx).len();
    assert!(size > 90_000, "{size}");
    let txid = tx.compute_txid();
    t.rpc("sendrawtransaction", json!([bitcoin::consensus::encode::serialize_hex(&tx)]));
    let request = NetworkMessage::GetData(vec![Inventory::WitnessTransaction(txid); 50_000]);
    let mut attackers: Vec<TestPeer> = (0..10).map(|i| t.peer_from(&format!("127.0.0.{}", 20 + i))).collect();
    let (growth, latency) = t.measure(getblockcount, || {
        for p in &mut attackers {
            let _ = p.send(request.clone());
        }
        std::thread::sleep(Duration::from_secs(6));
    });
    eprintln!("getdata amplification, 10 peers: RSS +{growth:.1} MiB, worst getblockcount {latency:?}");
    assert!(
        growth <= 64.0,
        "RSS grew by {growth:.1} MiB under 10 getdata amplification peers\n{}",
        t.node.log()
    );
    assert!(latency <= RPC_LATENCY_BOUND, "getblockcount took {latency:?} during the attack");
    drop(attackers);

    // A peer that reads gets the transaction exactly once, then nothing more for it.
    let mut reader = t.peer_from("127.0.0.40");
    reader.send(request).unwrap();
    let got = reader.expect(Duration::from_secs(20), "the transaction", |m| match m {
        NetworkMessage::Tx(x) => Some(x.compute_txid()),
        _ => None,
    });
    assert_eq!(got, txid);
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if let Recv::Msg(NetworkMessage::Tx(_)) = reader.recv(Duration::from_millis(200)) {
            panic!("the same transaction was served twice for one getdata");
        }
    }
}

/// Issue item 3: an announced transaction the announcer then reports `notfound` must be
/// fetchable from the next peer that announces it (the request table forgets it), and
/// inv/notfound cycles at the message-rate limit do not grow the node's memory.
#[test]
fn inv_then_notfound_cycles_leave_no_state_behind() {
    let t = Target::start_with(&[]);
    t.leave_ibd();
    let x = Txid::from_byte_array([0x5a; 32]);
    let mut a = t.peer_from("127.0.0.30");
    a.send(NetworkMessage::Inv(vec![Inventory::Transaction(x)])).unwrap();
    a.expect(Duration::from_secs(10), "getdata from A", |m| match m {
        NetworkMessage::GetData(v)
            if v.iter()
                .any(|i| matches!(i, Inventory::WitnessTransaction(t) | Inventory::Transaction(t) if *t == x)) =>
        {
            Some(())
        }
        _ => None,
    });
    a.send(NetworkMessage::NotFound(vec![Inventory::WitnessTransaction(x)])).unwrap();
    let mut b = t.peer_from("127.0.0.31");
    // Give the node time to process A's notfound before B's announcement.
    std::thread::sleep(Duration::from_millis(300));
    b.send(NetworkMessage::Inv(vec![Inventory::Transaction(x)])).unwrap();
    b.expect(Duration::from_secs(5), "getdata from B after A's notfound", |m| match m {
        NetworkMessage::GetData(v)
            if v.iter()
                .any(|i| matches!(i, Inventory::WitnessTransaction(t) | Inventory::Transaction(t) if *t == x)) =>
        {
            Some(())
        }
        _ => None,
    });
    drop((a, b));

    // Eight peers cycle inv(100 new txids) + notfound(them) 2,000 times each.
    let stop = Arc::new(AtomicBool::new(false));
    let mut peers = t.drained_peers(50..58, &stop);
    let (growth, latency) = t.measure(manager_probe, || {
        std::thread::scope(|s| {
            for (i, (p, _)) in peers.iter_mut().enumerate() {
                s.spawn(move || {
                    for c in 0..2_000u32 {
                        let items: Vec<Inventory> = (0..100u32)
                            .map(|k| {
                                let mut h = [0u8; 32];
                                h[..4].copy_from_slice(&c.to_le_bytes());
                                h[4..8].copy_from_slice(&k.to_le_bytes());
                                h[8] = i as u8;
                                Inventory::Transaction(Txid::from_byte_array(h))
                            })
                            .collect();
                        let nf = items.iter().map(|i| match i {
                            Inventory::Transaction(t) => Inventory::WitnessTransaction(*t),
                            o => *o,
                        });
                        if p.send(NetworkMessage::Inv(items.clone())).is_err() || p.send(NetworkMessage::NotFound(nf.collect())).is_err() {
                            break;
                        }
                        // Stay under the 2,000 messages/s flood limit.
                        if c % 100 == 99 {
                            std::thread::sleep(Duration::from_millis(120));
                        }
                    }
                });
            }
        });
        std::thread::sleep(Duration::from_secs(1));
    });
    stop.store(true, Ordering::Relaxed);
    for (_, d) in peers.drain(..) {
        d.join().unwrap();
    }
    // Per peer the node remembers up to 50,000 announced hashes (what the peer knows), so the
    // bound is that table for eight peers plus margin; the request table itself stays at
    // most 100 entries per peer.
    eprintln!("inv/notfound cycles, 8 peers: RSS +{growth:.1} MiB, worst getnodeaddresses {latency:?}");
    assert!(growth <= 64.0, "RSS grew by {growth:.1} MiB under inv/notfound cycles");
    assert!(
        latency <= RPC_LATENCY_BOUND,
        "manager-served RPC took {latency:?} during the attack"
    );
}

/// Issue item 5: with the orphan pool full of 90 kB orphans, an `inv` of 50,000 unknown
/// transactions used to hash every orphan once per item (hours of CPU); the connection manager
/// must keep answering, and one peer holds at most 25 orphans.
#[test]
fn inv_flood_against_a_full_orphan_pool() {
    let t = Target::start_with(&[]);
    t.leave_ibd();
    let orphans: Vec<Transaction> = (0..100).map(|i| orphan_tx(i, 2_200)).collect();
    assert!(orphans[0].weight().to_wu() <= 400_000 && orphans[0].weight().to_wu() > 350_000);
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = t.drained_peers(70..74, &stop);
    for (i, o) in orphans.iter().enumerate() {
        senders[i % 4].0.send(NetworkMessage::Tx(o.clone())).unwrap();
    }
    t.node.wait_until(Duration::from_secs(30), "100 orphans kept", |n| {
        n.log().matches("orphan transaction kept").count() >= 100
    });
    // The flooder's first 100 hashes get requested; then 50,000-item invs repeat them, so
    // every item is looked up in the orphan pool before being skipped as already requested.
    let mut flooder = t.peer_from("127.0.0.80");
    let d = drain(flooder.stream.try_clone().unwrap(), stop.clone());
    let hash = |k: u32| {
        let mut h = [0u8; 32];
        h[..4].copy_from_slice(&k.to_le_bytes());
        h[9] = 0x77;
        Inventory::Transaction(Txid::from_byte_array(h))
    };
    flooder.send(NetworkMessage::Inv((0..100).map(hash).collect())).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let (_, latency) = t.measure(manager_probe, || {
        for _ in 0..4 {
            flooder
                .send(NetworkMessage::Inv((0..50_000u32).map(|k| hash(k % 100)).collect()))
                .unwrap();
        }
        std::thread::sleep(Duration::from_secs(3));
    });
    eprintln!("inv flood against 100 orphans: worst getnodeaddresses {latency:?}");
    assert!(
        latency <= RPC_LATENCY_BOUND,
        "manager-served RPC took {latency:?} during the inv flood"
    );
    // One peer's share is capped: a fifth peer sending 40 orphans holds at most 25 at a time.
    let mut greedy = t.peer_from("127.0.0.81");
    let before = t.node.log().matches("orphan transaction kept").count();
    for i in 0..40 {
        greedy.send(NetworkMessage::Tx(orphan_tx(1_000 + i, 10))).unwrap();
    }
    t.node.wait_until(Duration::from_secs(20), "40 more orphans handled", |n| {
        n.log().matches("orphan transaction kept").count() >= before + 40
    });
    let shares: Vec<u64> = t
        .node
        .log()
        .lines()
        .filter(|l| l.contains("orphan transaction kept"))
        .filter_map(|l| l.split("peer_orphans=").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(shares.iter().max(), Some(&25), "per-peer orphan shares seen: {shares:?}");
    stop.store(true, Ordering::Relaxed);
    d.join().unwrap();
    for (_, d) in senders {
        d.join().unwrap();
    }
}

/// Issue item 6: BIP35 `mempool` is answered only with permission (Core: the `mempool`
/// permission or bloom filters); an ordinary inbound peer is disconnected before the node
/// walks its mempool.
#[test]
fn mempool_request_without_permission_disconnects() {
    let t = Target::start_with(&[]);
    let mut p = t.peer_from("127.0.0.90");
    p.send(NetworkMessage::MemPool).unwrap();
    assert!(p.wait_closed(Duration::from_secs(10)), "peer sending mempool kept");
    t.node.wait_until(Duration::from_secs(5), "disconnect reason", |n| {
        n.log().contains("mempool request without permission")
    });
}

/// Issue item 6: with a large address manager (at least 16,384 entries), 9,000 `getaddr` from one peer
/// used to sample the tables 9,000 times before the once-per-connection check; now the check
/// comes first: one answer, and the connection manager keeps answering within the bound.
#[test]
fn getaddr_flood_is_answered_once_without_sampling_again() {
    let (t, _dir, loaded) = Target::start_with_addresses(&[]);
    let mut p = t.peer_from("127.0.0.85");
    let cpu_before = node_proc::cpu_time(t.pid());
    let (_, latency) = t.measure(manager_probe, || {
        let one = p2p_peer::frame(NetworkMessage::GetAddr);
        let burst: Vec<u8> = one.iter().copied().cycle().take(one.len() * 9_000).collect();
        p.send_raw(&burst).unwrap();
        std::thread::sleep(Duration::from_secs(3));
    });
    let cpu = node_proc::cpu_time(t.pid()) - cpu_before;
    eprintln!("9,000 getaddr against {loaded} addresses: node CPU {cpu:?}, worst getnodeaddresses {latency:?}");
    // Reading 9,000 small messages costs milliseconds; sampling the tables for each cost seconds.
    assert!(
        cpu <= Duration::from_millis(1_500),
        "the node spent {cpu:?} of CPU on the getaddr flood"
    );
    assert!(
        latency <= RPC_LATENCY_BOUND,
        "manager-served RPC took {latency:?} during the getaddr flood"
    );
    let mut answers = 0;
    while let Recv::Msg(m) = p.recv(Duration::from_millis(500)) {
        if matches!(m, NetworkMessage::Addr(_) | NetworkMessage::AddrV2(_)) {
            answers += 1;
        }
    }
    assert_eq!(answers, 1, "getaddr is answered once per connection");
}

/// `count` distinct routable IPv4 addresses starting at `first` (spread over many /16 groups),
/// as `addr` messages of 1,000 entries each.
fn addr_messages(first: u32, count: u32) -> Vec<NetworkMessage> {
    use bitcoin::p2p::address::Address;
    use bitcoin::p2p::ServiceFlags;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let addrs: Vec<(u32, Address)> = (0..count)
        .map(|i| {
            let ip = std::net::Ipv4Addr::from(first.wrapping_add(i.wrapping_mul(65_537)));
            (now - 600, Address::new(&SocketAddr::new(ip.into(), 8333), ServiceFlags::NETWORK))
        })
        .collect();
    addrs.chunks(1_000).map(|c| NetworkMessage::Addr(c.to_vec())).collect()
}

/// Waits until the node has processed everything `p` sent before (a ping's pong).
fn sync_ping(p: &mut TestPeer, timeout: Duration) {
    p.send(NetworkMessage::Ping(7)).unwrap();
    p.expect(timeout, "pong", |m| matches!(m, NetworkMessage::Pong(7)).then_some(()));
}

/// Entries in the address manager's new table (Core's `getaddrmaninfo`).
fn new_table_size(t: &Target) -> u64 {
    t.rpc("getaddrmaninfo", json!([]))["all_networks"]["new"].as_u64().unwrap()
}

/// Address manager floods, against a table loaded with at least 16,384 entries. A peer without
/// the `addr` permission gets 1 address through and then 0.1 per second (Core's token bucket),
/// however many it sends. Ten peers with the permission (no rate limit) push 300,000 addresses
/// from one source group: every one goes through the address manager, whose insertion is O(1)
/// (a keyed hash gives its slot; it used to scan the whole new table for every address), so
/// the node's CPU stays within a stated bound; the source group reaches at most 64 buckets ×
/// 64 slots; memory and the manager-served RPC stay within their bounds.
#[test]
fn addr_floods_cost_constant_work_per_address() {
    let (t, _dir, loaded) = Target::start_with_addresses(&["-whitelist=addr@127.0.0.0/25"]);
    assert_eq!(new_table_size(&t), loaded as u64);
    // Rate limit: 10,000 addresses from a peer without the permission.
    let mut limited = t.peer_from("127.0.0.200");
    for m in addr_messages(0x1e00_0000, 10_000) {
        limited.send(m).unwrap();
    }
    sync_ping(&mut limited, Duration::from_secs(30));
    let through = new_table_size(&t) - loaded as u64;
    assert!(through <= 3, "{through} addresses got through the rate limit");

    // (The node sends these peers next to nothing: 1,000-address messages are not relayed.)
    let mut flooders: Vec<TestPeer> = (10..20).map(|i| t.peer_from(&format!("127.0.0.{i}"))).collect();
    let before = new_table_size(&t);
    let cpu_before = node_proc::cpu_time(t.pid());
    let (growth, latency) = t.measure(manager_probe, || {
        std::thread::scope(|s| {
            for (n, p) in flooders.iter_mut().enumerate() {
                s.spawn(move || {
                    for m in addr_messages(0x1400_0000 + n as u32 * 30_000, 30_000) {
                        p.send(m).unwrap();
                    }
                    sync_ping(p, Duration::from_secs(300));
                });
            }
        });
    });
    let cpu = node_proc::cpu_time(t.pid()) - cpu_before;
    let added = new_table_size(&t) - before;
    eprintln!(
        "addr flood, 10 peers × 30,000 addresses into {before} entries: node CPU {cpu:?} ({:.1} µs per address), {added} added, RSS +{growth:.1} MiB, worst getnodeaddresses {latency:?}",
        cpu.as_secs_f64() * 1e6 / 300_000.0
    );
    // Decoding plus one keyed-hash insertion per address: 50 µs each is far above what that
    // costs even in a debug build on a loaded 2-core machine (the old scan took milliseconds).
    assert!(cpu <= Duration::from_secs(15), "the node spent {cpu:?} of CPU on 300,000 addresses");
    assert!(
        added > 1_000 && added <= 64 * 64,
        "one source group added {added} new-table entries"
    );
    assert!(growth <= 64.0, "RSS grew by {growth:.1} MiB during the addr flood");
    assert!(
        latency <= RPC_LATENCY_BOUND,
        "manager-served RPC took {latency:?} during the addr flood"
    );
}

/// Issue item 4: misbehaving peers are discouraged in memory (bounded), never written to
/// `banlist.json`; a discouraged address is refused while inbound slots are nearly full and
/// an honest address is still accepted.
#[test]
fn misbehaviour_discourages_without_growing_the_ban_list() {
    // -maxconnections=12 leaves one inbound slot (11 are kept for outbound connections); all
    // inbound slots may relay transactions, so only the misbehaviour ends each connection (at
    // the default 50% a lone slot takes no transaction-relaying peer, and such a peer could be
    // dropped after its version message before its bad message is read).
    let mut t = Target::start_with(&["-maxconnections=12", "-inboundrelaypercent=100"]);
    // A header announcing more than 4,000,000 bytes (a bad checksum only drops the message,
    // as in Core).
    let bad_ping = {
        let mut f = p2p_peer::frame(NetworkMessage::Ping(1));
        f[16..20].copy_from_slice(&4_000_001u32.to_le_bytes());
        f
    };
    for i in 0..60u32 {
        let from = format!("127.0.{}.{}", 100 + i / 250, 1 + i % 250);
        let mut p = t.peer_from(&from);
        p.send_raw(&bad_ping).unwrap();
        assert!(p.wait_closed(Duration::from_secs(10)), "misbehaving {from} kept");
        // The single inbound slot is free again before the next connection.
        t.node.wait_until(Duration::from_secs(10), "slot released", |_| {
            t.rpc("getconnectioncount", json!([])) == 0
        });
    }
    t.node.wait_until(Duration::from_secs(10), "60 discouraged", |n| {
        n.log().matches("Disconnecting and discouraging peer").count() >= 60
    });
    assert_eq!(t.rpc("listbanned", json!([])), json!([]));
    // The discouraged address is refused (slots nearly full); a fresh one is served.
    let mut again = TestPeer::connect_from(t.addr, "127.0.100.1").unwrap();
    let _ = again.send(NetworkMessage::Version(again.version_msg(0)));
    assert!(
        matches!(again.recv(Duration::from_secs(5)), Recv::Closed),
        "discouraged address accepted"
    );
    t.node.wait_until(Duration::from_secs(5), "refusal logged", |n| {
        n.log().contains("dropped (discouraged)")
    });
    let _honest = t.peer_from("127.0.99.1");
    let (st, _) = t.node.stop(Duration::from_secs(30));
    assert!(st.success());
    let banlist = std::fs::read_to_string(t.node.net_dir().join("banlist.json")).unwrap_or_else(|_| "{}".into());
    let v: serde_json::Value = serde_json::from_str(&banlist).unwrap();
    assert!(
        v["banned_nets"].as_array().is_none_or(|a| a.is_empty()),
        "banlist.json grew: {banlist}"
    );
}

/// Issue item 2 (AcceptBlock's rule for unrequested blocks): blocks nobody asked for that have
/// less work than our tip (here a min-difficulty fork from genesis, nearly free to make on
/// testnet) are neither stored nor indexed; an unrequested block with more work is accepted.
#[test]
fn unrequested_low_work_blocks_are_not_stored() {
    let t = Target::start_with(&[]);
    t.fund(0);
    let blocks_dir = t.node.net_dir().join("blocks");
    // Block records are written by a writer thread; a flush waits for it, so the sizes are of
    // everything connected so far.
    let disk = || -> u64 {
        assert_eq!(t.rpc("flushchainstate", json!([]))["success"], json!(true));
        std::fs::read_dir(&blocks_dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    let before = disk();
    let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
    let on_genesis = mining::Parent::from_block(&genesis, 0, &[]);
    let mut p = t.peer_from("127.0.0.95");
    let fork: Vec<bitcoin::Block> = (0..50)
        .map(|tag| mining::build_block(&on_genesis, 9_000 + tag, vec![], Amount::ZERO, mining::op_true()))
        .collect();
    for b in &fork {
        p.send(NetworkMessage::Block(b.clone())).unwrap();
    }
    // A new block on our tip, also unrequested, is accepted: it has more work.
    let tip_height = t.rpc("getblockcount", json!([])).as_u64().unwrap() as u32;
    let block_at = |h: u32| -> bitcoin::Block {
        let hash = t.rpc("getblockhash", json!([h]));
        bitcoin::consensus::deserialize(&hex_bytes(t.rpc("getblock", json!([hash, 0])).as_str().unwrap())).unwrap()
    };
    let times: Vec<u32> = (tip_height - 10..tip_height).map(|h| block_at(h).header.time).collect();
    let tip = mining::Parent::from_block(&block_at(tip_height), tip_height, &times);
    let next = mining::build_block(&tip, 7, vec![], Amount::ZERO, mining::op_true());
    p.send(NetworkMessage::Block(next.clone())).unwrap();
    t.node.wait_until(Duration::from_secs(20), "the more-work block to connect", |_| {
        t.rpc("getbestblockhash", json!([])) == json!(next.block_hash().to_string())
    });
    for b in &fork {
        let r = p2p_peer::rpc_raw(&t.node, t.port, "getblockheader", json!([b.block_hash().to_string()]));
        assert_eq!(r["error"]["code"], -5, "low-work unrequested block was indexed: {r}");
    }
    assert_eq!(t.node.log().matches("ignoring unrequested block").count(), 50);
    let grown = disk() - before;
    assert!(grown < 4_000, "block files grew by {grown} bytes for one small block");
}

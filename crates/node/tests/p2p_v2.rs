//! BIP324 v2 transport against the real node binary over 127.0.0.1: a v2 peer (the `bip324`
//! crate's handshake, packets framed here by hand) completes the handshake, exchanges
//! version/verack and ping/pong, and getpeerinfo shows `v2` with the same session id; a v1 peer
//! still works with `-v2transport`; the node's outbound connections speak v2 to a v2 peer and
//! retry with v1 when the peer closes on the v2 key (Core's fallback); peers flooding garbage past BIP324's 4095-byte limit are
//! disconnected while the node's memory stays bounded.

mod support;

use support::{node_proc, p2p_peer};

use bip324::{GarbageResult, Handshake, Initialized, PacketType, Role, VersionResult};
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::{Address, ServiceFlags};
use p2p_peer::{rpc, MAGIC};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// BIP324 short message ids used here.
const PING: u8 = 18;
const PONG: u8 = 19;

/// A v2 peer after its handshake.
struct V2Peer {
    stream: TcpStream,
    cipher: bip324::CipherSession,
}

fn read_exact(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).expect("read from node");
    b
}

impl V2Peer {
    /// Connects and runs the initiator side of the handshake.
    fn connect(addr: SocketAddr) -> V2Peer {
        V2Peer::handshake(TcpStream::connect(addr).expect("connect"), Role::Initiator)
    }

    /// Runs our side of the handshake as `role`, with some garbage and a decoy.
    fn handshake(mut stream: TcpStream, role: Role) -> V2Peer {
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let garbage = vec![7u8; 100];
        let hs = Handshake::<Initialized>::new(MAGIC.to_bytes(), role).unwrap();
        let mut out = vec![0u8; Handshake::<Initialized>::send_key_len(Some(&garbage))];
        let hs = hs.send_key(Some(&garbage), &mut out).unwrap();
        stream.write_all(&out).unwrap();
        let key: [u8; 64] = read_exact(&mut stream, 64).try_into().unwrap();
        let hs = hs.receive_key(key).unwrap();
        let decoy: &[u8] = &[1, 2, 3];
        let mut out = vec![0u8; Handshake::send_version_len(Some(&[decoy]))];
        let mut hs = hs.send_version(&mut out, Some(&[decoy])).unwrap();
        stream.write_all(&out).unwrap();
        // The node's garbage (up to 4095 bytes) and terminator, one byte at a time so that
        // nothing after the terminator is consumed.
        let mut buf = Vec::new();
        let (mut hs, consumed) = loop {
            buf.extend(read_exact(&mut stream, 1));
            if buf.len() < 16 {
                continue;
            }
            match hs.receive_garbage(&buf).unwrap() {
                GarbageResult::FoundGarbage { handshake, consumed_bytes } => break (handshake, consumed_bytes),
                GarbageResult::NeedMoreData(h) => hs = h,
            }
        };
        assert_eq!(consumed, buf.len());
        let cipher = loop {
            let len: [u8; 3] = read_exact(&mut stream, 3).try_into().unwrap();
            let n = hs.decrypt_packet_len(len).unwrap();
            let mut packet = read_exact(&mut stream, n);
            match hs.receive_version(&mut packet).unwrap() {
                VersionResult::Complete { cipher } => break cipher,
                VersionResult::Decoy(h) => hs = h,
            }
        };
        V2Peer { stream, cipher }
    }

    /// Sends `contents` (message type encoding + payload) as one packet.
    fn send(&mut self, contents: &[u8], kind: PacketType) {
        let p = self.cipher.outbound().encrypt_to_vec(contents, kind, None);
        self.stream.write_all(&p).unwrap();
    }

    /// Sends a message with BIP324's long (12-byte command) encoding.
    fn send_long(&mut self, command: &str, payload: &[u8]) {
        let mut c = vec![0u8; 13];
        c[1..1 + command.len()].copy_from_slice(command.as_bytes());
        c.extend_from_slice(payload);
        self.send(&c, PacketType::Genuine);
    }

    /// The next genuine packet's contents (header byte stripped).
    fn recv(&mut self) -> Vec<u8> {
        loop {
            let len: [u8; 3] = read_exact(&mut self.stream, 3).try_into().unwrap();
            let n = self.cipher.inbound().decrypt_packet_len(len);
            let packet = read_exact(&mut self.stream, n);
            let (kind, plain) = self.cipher.inbound().decrypt_to_vec(&packet, None).unwrap();
            if kind == PacketType::Genuine {
                return plain[1..].to_vec();
            }
        }
    }

    /// Waits for a message with the long encoding of `command`.
    fn expect_long(&mut self, command: &str) -> Vec<u8> {
        let mut want = [0u8; 12];
        want[..command.len()].copy_from_slice(command.as_bytes());
        loop {
            let c = self.recv();
            if c.len() >= 13 && c[0] == 0 && c[1..13] == want {
                return c[13..].to_vec();
            }
        }
    }
}

fn version_payload(s: &TcpStream) -> Vec<u8> {
    let services = ServiceFlags::NETWORK | ServiceFlags::WITNESS;
    let mut v = VersionMessage::new(
        services,
        1_700_000_000,
        Address::new(&s.peer_addr().unwrap(), ServiceFlags::NONE),
        Address::new(&s.local_addr().unwrap(), services),
        rand::random(),
        "/blvm-v2-test:0.1/".into(),
        0,
    );
    v.version = 70016;
    serialize(&v)
}

fn start() -> (node_proc::NodeProc, u16, SocketAddr) {
    let (n, port) = p2p_peer::start_listening(&["-v2transport=1"]);
    let addr = p2p_peer::p2p_addr(&n);
    (n, port, addr)
}

#[test]
fn v2_peer_handshake_ping_and_session_id() {
    let (n, port, addr) = start();
    let names = rpc(&n, port, "getnetworkinfo", json!([]))["localservicesnames"].clone();
    assert!(names.as_array().unwrap().contains(&json!("P2P_V2")), "{names}");

    let mut p = V2Peer::connect(addr);
    // A decoy before version is ignored.
    p.send(&[PING, 0, 0, 0, 0, 0, 0, 0, 9], PacketType::Decoy);
    let payload = version_payload(&p.stream);
    p.send_long("version", &payload);
    let theirs: VersionMessage = deserialize(&p.expect_long("version")).unwrap();
    assert!(theirs.services.has(ServiceFlags::P2P_V2), "the node advertises NODE_P2P_V2");
    p.expect_long("verack");
    p.send_long("verack", &[]);
    let nonce = 0x1122_3344_5566_7788u64;
    let mut ping = vec![PING];
    ping.extend_from_slice(&nonce.to_le_bytes());
    p.send(&ping, PacketType::Genuine);
    let pong = loop {
        let c = p.recv();
        if c[0] == PONG {
            break c;
        }
    };
    assert_eq!(pong[1..], nonce.to_le_bytes(), "pong echoes the nonce (short id 19)");

    let peers = rpc(&n, port, "getpeerinfo", json!([]));
    let peer = &peers.as_array().unwrap()[0];
    assert_eq!(peer["transport_protocol_type"], "v2");
    let id: String = p.cipher.id().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(peer["session_id"], id.as_str());
}

#[test]
fn v1_peer_still_works_with_v2transport() {
    let (n, port, addr) = start();
    let mut p = p2p_peer::TestPeer::connect_from(addr, "127.0.0.1").unwrap();
    p.handshake(0);
    p.send_and_ping(bitcoin::p2p::message::NetworkMessage::SendHeaders, Duration::from_secs(10));
    let peers = rpc(&n, port, "getpeerinfo", json!([]));
    let peer = &peers.as_array().unwrap()[0];
    assert_eq!(peer["transport_protocol_type"], "v1");
    assert_eq!(peer["session_id"], "");
}

#[test]
fn garbage_flood_is_disconnected_with_bounded_memory() {
    let (n, port, addr) = start();
    let pid = n.child.as_ref().unwrap().id();
    let before = node_proc::rss_kib(pid);
    let started = Instant::now();
    let mut sent_total = 0usize;
    // 200 peers, each a key and then up to 1 MB of garbage without a terminator: the node reads
    // no more than 4095 + 16 bytes of it and disconnects.
    let peers: Vec<_> = (0..200)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut key = [0u8; 64];
                key.iter_mut().for_each(|b| *b = rand::random());
                key[0] = 0x42; // not the v1 magic
                let mut sent = 0;
                if s.write_all(&key).is_err() {
                    return (sent, true);
                }
                let chunk = vec![0xabu8; 16 * 1024];
                while sent < 1_000_000 {
                    match s.write(&chunk) {
                        Ok(k) => sent += k,
                        Err(_) => return (sent, true),
                    }
                }
                // Everything was accepted by the socket buffers: the node must still close.
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut b = [0u8; 8192];
                loop {
                    match s.read(&mut b) {
                        Ok(0) | Err(_) => return (sent, true),
                        Ok(_) => {}
                    }
                }
            })
        })
        .collect();
    for t in peers {
        let (sent, closed) = t.join().unwrap();
        sent_total += sent;
        assert!(closed, "the node closed the flooding connection");
    }
    let log = n.log();
    assert!(log.contains("V2 transport error: missing garbage terminator"), "Core's log line");
    n.wait_until(Duration::from_secs(20), "flooders gone", |n| {
        rpc(n, port, "getpeerinfo", json!([])).as_array().unwrap().is_empty()
    });
    let after = node_proc::rss_kib(pid);
    eprintln!(
        "garbage flood: {sent_total} bytes offered by 200 peers in {:?}; RSS {before} KiB -> {after} KiB",
        started.elapsed()
    );
    assert!(after < before + 64 * 1024, "RSS grew from {before} KiB to {after} KiB");
    // The node still serves a v2 peer afterwards.
    let mut p = V2Peer::connect(addr);
    let payload = version_payload(&p.stream);
    p.send_long("version", &payload);
    p.expect_long("version");
}

/// Waits until getpeerinfo lists `addr` with this transport and session id.
fn wait_for_transport(n: &node_proc::NodeProc, port: u16, addr: &str, kind: &str, session: &str) {
    n.wait_until(Duration::from_secs(10), &format!("{kind} peer {addr}"), |n| {
        let peers = rpc(n, port, "getpeerinfo", json!([]));
        peers
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["addr"] == addr && p["transport_protocol_type"] == kind && p["session_id"] == session)
    });
}

#[test]
fn outbound_v2_and_the_v1_retry() {
    let (n, port, _) = start();
    // A v1-only peer: it reads the node's first bytes (a v2 key) and closes; the node retries
    // with v1 and the handshake completes.
    let v1_only = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = v1_only.local_addr().unwrap().to_string();
    rpc(&n, port, "addconnection", json!([target, "outbound-full-relay", true]));
    let (mut first, _) = v1_only.accept().unwrap();
    let key = read_exact(&mut first, 64);
    assert_ne!(key[..4], MAGIC.to_bytes(), "the node opened with a v2 key, not a v1 version");
    drop(first);
    let (second, _) = v1_only.accept().unwrap();
    let mut p = p2p_peer::TestPeer::from_stream(second);
    p.accept_handshake(0);
    wait_for_transport(&n, port, &target, "v1", "");

    // A v2 peer: the node is the initiator and sends its version once the handshake is done.
    let v2 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = v2.local_addr().unwrap().to_string();
    rpc(&n, port, "addconnection", json!([target, "outbound-full-relay", true]));
    let (s, _) = v2.accept().unwrap();
    let mut q = V2Peer::handshake(s, Role::Responder);
    q.expect_long("version");
    let payload = version_payload(&q.stream);
    q.send_long("version", &payload);
    q.send_long("verack", &[]);
    q.expect_long("verack");
    let id: String = q.cipher.id().iter().map(|b| format!("{b:02x}")).collect();
    wait_for_transport(&n, port, &target, "v2", &id);
}

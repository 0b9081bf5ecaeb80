//! Test support for P2P tests: a scripted peer speaking the wire protocol over a blocking TCP
//! socket (rust-bitcoin messages, framing written here independently of the node's codec), and
//! helpers to find a node's P2P address and call its RPC.

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::p2p::message::{NetworkMessage, RawNetworkMessage};
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::{Address, Magic, ServiceFlags};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Lowercase hex of `b` (for raw transactions and blocks sent over RPC).
pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Regtest magic.
pub const MAGIC: Magic = Magic::REGTEST;

/// Frames `msg` for regtest.
pub fn frame(msg: NetworkMessage) -> Vec<u8> {
    serialize(&RawNetworkMessage::new(MAGIC, msg))
}

/// A frame with an arbitrary command and payload and a correct checksum.
pub fn raw_frame(command: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_bytes().to_vec();
    let mut cmd = [0u8; 12];
    cmd[..command.len()].copy_from_slice(command.as_bytes());
    out.extend_from_slice(&cmd);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&sha256d::Hash::hash(payload).to_byte_array()[..4]);
    out.extend_from_slice(payload);
    out
}

/// The node's P2P listening address, from its log ("P2P listening on ADDR", the latest).
pub fn p2p_addr(n: &super::node_proc::NodeProc) -> SocketAddr {
    let mut found = None;
    n.wait_until(Duration::from_secs(30), "P2P listener", |n| {
        found = n.log().lines().rev().find_map(|l| {
            l.split("P2P listening on ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|a| a.parse().ok())
        });
        found.is_some()
    });
    found.expect("listening address")
}

/// Node options for P2P tests: listen on 127.0.0.1 (a free port), no outbound connections,
/// `-debug=net`.
pub const LISTEN_ARGS: &[&str] = &["-port=0", "-bind=127.0.0.1", "-connect=0", "-listen=1", "-debug=net"];

/// Starts a node listening for P2P on 127.0.0.1 (a free port), with no outbound connections
/// and `-debug=net`, plus `extra`; returns it with its RPC port once started.
pub fn start_listening(extra: &[&str]) -> (super::node_proc::NodeProc, u16) {
    start_listening_with(extra, &[])
}

/// [`start_listening`] with `modules` installed.
pub fn start_listening_with(extra: &[&str], modules: &[super::node_proc::ModuleSpec]) -> (super::node_proc::NodeProc, u16) {
    let port = super::http::free_port();
    let rpcport = format!("-rpcport={port}");
    let mut all = vec![rpcport.as_str()];
    all.extend_from_slice(LISTEN_ARGS);
    all.extend_from_slice(extra);
    let n = super::node_proc::start_node(&all, modules);
    n.wait_started();
    (n, port)
}

/// RPC credentials from the node's cookie.
pub fn cookie(n: &super::node_proc::NodeProc) -> String {
    super::node_proc::cookie(n)
}

/// Calls `method` on the node's RPC at `port`, panicking on an RPC error.
pub fn rpc(n: &super::node_proc::NodeProc, port: u16, method: &str, params: serde_json::Value) -> serde_json::Value {
    let r = super::http::call(&format!("127.0.0.1:{port}"), &cookie(n), method, params);
    assert!(r["error"].is_null(), "{method} failed: {r}");
    r["result"].clone()
}

/// Calls `method`, returning the whole reply (result or error).
pub fn rpc_raw(n: &super::node_proc::NodeProc, port: u16, method: &str, params: serde_json::Value) -> serde_json::Value {
    super::http::call(&format!("127.0.0.1:{port}"), &cookie(n), method, params)
}

/// Calls `method`, which must fail; returns the error's code and message.
pub fn rpc_error(n: &super::node_proc::NodeProc, port: u16, method: &str, params: serde_json::Value) -> (i64, String) {
    let r = rpc_raw(n, port, method, params.clone());
    assert!(r["error"].is_object(), "{method} {params} should fail: {r}");
    (
        r["error"]["code"].as_i64().expect("error code"),
        r["error"]["message"].as_str().expect("error message").to_string(),
    )
}

/// A scripted peer.
pub struct TestPeer {
    /// The socket.
    pub stream: TcpStream,
    /// The remote address.
    pub remote: SocketAddr,
    buf: Vec<u8>,
}

/// What reading a message gave.
#[derive(Debug)]
pub enum Recv {
    /// A message.
    Msg(NetworkMessage),
    /// Nothing within the timeout.
    Timeout,
    /// The node closed the connection.
    Closed,
}

impl TestPeer {
    /// Connects to `addr` from the loopback address `from` (e.g. "127.0.0.2", so that a ban of
    /// this peer does not affect honest peers on 127.0.0.1).
    pub fn connect_from(addr: SocketAddr, from: &str) -> std::io::Result<TestPeer> {
        let sock = socket2_like_bind(from)?;
        let stream = sock(addr)?;
        stream.set_nodelay(true).ok();
        Ok(TestPeer {
            stream,
            remote: addr,
            buf: Vec::new(),
        })
    }

    /// Wraps an accepted connection (for peers the node dials).
    pub fn from_stream(stream: TcpStream) -> TestPeer {
        let remote = stream.peer_addr().expect("peer addr");
        stream.set_nodelay(true).ok();
        TestPeer {
            stream,
            remote,
            buf: Vec::new(),
        }
    }

    /// Sends raw bytes (errors are returned, not panicked on: the node may have closed).
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends a message.
    pub fn send(&mut self, msg: NetworkMessage) -> std::io::Result<()> {
        self.send_raw(&frame(msg))
    }

    /// Reads the next message within `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Recv {
        let deadline = Instant::now() + timeout;
        loop {
            if self.buf.len() >= 24 {
                let len = u32::from_le_bytes([self.buf[16], self.buf[17], self.buf[18], self.buf[19]]) as usize;
                if self.buf.len() >= 24 + len {
                    let bytes: Vec<u8> = self.buf.drain(..24 + len).collect();
                    let m: RawNetworkMessage = deserialize(&bytes).expect("node sent a malformed message");
                    assert_eq!(*m.magic(), MAGIC, "node used the wrong magic");
                    return Recv::Msg(m.into_payload());
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Recv::Timeout;
            }
            self.stream.set_read_timeout(Some(left.max(Duration::from_millis(1)))).ok();
            let mut tmp = [0u8; 65536];
            match self.stream.read(&mut tmp) {
                Ok(0) => return Recv::Closed,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return Recv::Timeout,
                Err(_) => return Recv::Closed,
            }
        }
    }

    /// Reads until a message matching `f` arrives (answering pings), or panics after `timeout`.
    pub fn expect<T>(&mut self, timeout: Duration, what: &str, mut f: impl FnMut(&NetworkMessage) -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left) {
                Recv::Msg(m) => {
                    if let Some(t) = f(&m) {
                        return t;
                    }
                    if let NetworkMessage::Ping(n) = m {
                        let _ = self.send(NetworkMessage::Pong(n));
                    }
                }
                Recv::Timeout => panic!("timed out waiting for {what}"),
                Recv::Closed => panic!("node closed the connection while waiting for {what}"),
            }
        }
    }

    /// Core's send_and_ping: sends `msg`, then a ping, and waits (up to `timeout`) for the pong
    /// that shows the node handled the message.
    pub fn send_and_ping(&mut self, msg: NetworkMessage, timeout: Duration) {
        self.send(msg).expect("send");
        let nonce = rand::random();
        self.send(NetworkMessage::Ping(nonce)).expect("send ping");
        self.expect(timeout, "pong", |m| {
            matches!(m, NetworkMessage::Pong(n) if *n == nonce).then_some(())
        });
    }

    /// Waits until the node closes the connection (answering pings, ignoring other messages);
    /// true if it did within `timeout`.
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.recv(left) {
                Recv::Closed => return true,
                Recv::Timeout => return false,
                Recv::Msg(NetworkMessage::Ping(n)) => {
                    let _ = self.send(NetworkMessage::Pong(n));
                }
                Recv::Msg(_) => {}
            }
        }
    }

    /// Waits until the node closes the connection without sending anything (a stalled peer
    /// must not answer pings); true if it did within `timeout`.
    pub fn wait_closed_silent(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.recv(left) {
                Recv::Closed => return true,
                Recv::Timeout => return false,
                Recv::Msg(_) => {}
            }
        }
    }

    /// Our `version` message (protocol 70016, NODE_NETWORK | NODE_WITNESS, height `height`).
    pub fn version_msg(&self, height: i32) -> VersionMessage {
        let local = self.stream.local_addr().expect("local addr");
        let services = ServiceFlags::NETWORK | ServiceFlags::WITNESS;
        let mut v = VersionMessage::new(
            services,
            1_700_000_000,
            Address::new(&self.remote, ServiceFlags::NONE),
            Address::new(&local, services),
            rand::random(),
            "/blvm-test-peer:0.1/".into(),
            height,
        );
        v.version = 70016;
        v.relay = true;
        v
    }

    /// Full handshake as the connecting side: version, wtxidrelay, sendaddrv2, verack; waits
    /// for the node's version and verack. Returns the node's version message.
    pub fn handshake(&mut self, height: i32) -> VersionMessage {
        let v = self.version_msg(height);
        self.handshake_with(v)
    }

    /// [`Self::handshake`] with our `version` as given (e.g. relay=0).
    pub fn handshake_with(&mut self, v: VersionMessage) -> VersionMessage {
        self.send(NetworkMessage::Version(v)).expect("send version");
        let theirs = self.expect(Duration::from_secs(10), "version", |m| match m {
            NetworkMessage::Version(v) => Some(v.clone()),
            _ => None,
        });
        self.send(NetworkMessage::WtxidRelay).expect("send wtxidrelay");
        self.send(NetworkMessage::SendAddrV2).expect("send sendaddrv2");
        self.send(NetworkMessage::Verack).expect("send verack");
        self.expect(Duration::from_secs(10), "verack", |m| {
            matches!(m, NetworkMessage::Verack).then_some(())
        });
        theirs
    }

    /// Handshake as the accepting side (the node dialed us).
    pub fn accept_handshake(&mut self, height: i32) -> VersionMessage {
        let theirs = self.expect(Duration::from_secs(10), "version", |m| match m {
            NetworkMessage::Version(v) => Some(v.clone()),
            _ => None,
        });
        let v = self.version_msg(height);
        self.send(NetworkMessage::Version(v)).expect("send version");
        self.send(NetworkMessage::WtxidRelay).expect("send wtxidrelay");
        self.send(NetworkMessage::SendAddrV2).expect("send sendaddrv2");
        self.send(NetworkMessage::Verack).expect("send verack");
        self.expect(Duration::from_secs(10), "verack", |m| {
            matches!(m, NetworkMessage::Verack).then_some(())
        });
        theirs
    }
}

/// Returns a connector bound to `from` (any free port) — std has no bind-before-connect, so
/// this uses libc directly.
fn socket2_like_bind(from: &str) -> std::io::Result<impl Fn(SocketAddr) -> std::io::Result<TcpStream>> {
    let from: std::net::Ipv4Addr = from
        .parse()
        .map_err(|_| std::io::Error::new(ErrorKind::InvalidInput, "from must be an IPv4 address"))?;
    Ok(move |to: SocketAddr| -> std::io::Result<TcpStream> {
        use std::os::fd::FromRawFd;
        let SocketAddr::V4(to) = to else {
            return Err(std::io::Error::new(ErrorKind::InvalidInput, "IPv4 only"));
        };
        // SAFETY: plain socket syscalls on a descriptor we own; on error it is closed.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let sa = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: port.to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(ip.octets()),
                },
                sin_zero: [0; 8],
            };
            let local = sa(from, 0);
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            if libc::bind(fd, &local as *const _ as *const libc::sockaddr, len) != 0 {
                let e = std::io::Error::last_os_error();
                libc::close(fd);
                return Err(e);
            }
            let remote = sa(*to.ip(), to.port());
            if libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len) != 0 {
                let e = std::io::Error::last_os_error();
                libc::close(fd);
                return Err(e);
            }
            Ok(TcpStream::from_raw_fd(fd))
        }
    })
}

/// A listener on `ip` (a loopback address) with an ephemeral port, for peers the node dials.
pub fn listen_on(ip: &str) -> TcpListener {
    TcpListener::bind((ip, 0)).expect("bind test listener")
}

/// The first connection the node makes to `listener` within `timeout`, as a peer (the test
/// answers the node's handshake); `None` if it never dials.
pub fn accept_from(listener: &TcpListener, timeout: Duration) -> Option<TestPeer> {
    listener.set_nonblocking(true).unwrap();
    let t = Instant::now();
    while t.elapsed() < timeout {
        if let Ok((s, _)) = listener.accept() {
            s.set_nonblocking(false).unwrap();
            return Some(TestPeer::from_stream(s));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// getpeerinfo's entry for the peer connected from `ip` (through `rpc`).
pub fn peer_info(rpc: &dyn Fn(&str, serde_json::Value) -> serde_json::Value, ip: &str) -> serde_json::Value {
    rpc("getpeerinfo", serde_json::json!([]))
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["addr"].as_str().is_some_and(|a| a.starts_with(&format!("{ip}:"))))
        .cloned()
        .unwrap_or_else(|| panic!("no peer from {ip}"))
}

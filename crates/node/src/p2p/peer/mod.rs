//! One peer connection: a reader task (framing, handshake, ping answers, serving headers and
//! blocks) and a writer task (a bounded control queue, a small bulk queue for served blocks,
//! pings and their timeout), supervised by a third small task that reports the close reason.

use super::codec::{self};
use super::node_link::NodeLink;
use super::{P2pSettings, PeerId, Totals};
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::{Magic, ServiceFlags};
use bytes::Bytes;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit};

mod reader;
mod serve;
mod serve_filters;

use reader::read_loop;
pub use serve::{headers_after, locator, locator_fork, servable_block, strip_witness, BlockAnswer};

/// Queued control messages per peer before the peer counts as not reading.
pub const CTL_QUEUE: usize = 4096;
/// Bytes of queued control messages per peer before the peer counts as not reading.
pub const CTL_QUEUE_BYTES: usize = 8_000_000;
/// Served blocks waiting to be written (bounds memory while serving a syncing peer).
pub const BULK_QUEUE: usize = 2;
/// Sustained messages per second a peer may send (token bucket refill) ...
pub const MSG_RATE: f64 = 2_000.0;
/// ... and the bucket size (burst).
pub const MSG_BURST: f64 = 10_000.0;
/// Most blocks returned for one `getblocks`.
pub const MAX_BLOCKS_INV: usize = 500;
/// Requested blocks that may be prepared on the peers' reader tasks or wait for the chain
/// prepared, all peers together: each holds its bytes and two decodings of them (several times
/// the block's size), so a reader waits for a slot before preparing. Two keep the next block
/// ready while the chain connects the current one.
pub const PREPARED_BLOCKS_AHEAD: usize = 2;

/// How a connection came about (Core's connection types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnType {
    /// They connected to us.
    Inbound,
    /// Automatic outbound, relaying blocks, transactions and addresses.
    OutboundFullRelay,
    /// Automatic outbound, blocks only.
    BlockRelayOnly,
    /// `-connect`, `-addnode` or the `addnode` RPC.
    Manual,
    /// Short-lived: test that an address works, then disconnect.
    Feeler,
    /// Short-lived: ask for addresses (`-seednode`), then disconnect.
    AddrFetch,
}

impl ConnType {
    /// Core's name for `getpeerinfo`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnType::Inbound => "inbound",
            ConnType::OutboundFullRelay => "outbound-full-relay",
            ConnType::BlockRelayOnly => "block-relay-only",
            ConnType::Manual => "manual",
            ConnType::Feeler => "feeler",
            ConnType::AddrFetch => "addr-fetch",
        }
    }

    /// Parses Core's name (as `addconnection` takes it).
    pub fn from_name(name: &str) -> Option<ConnType> {
        [
            ConnType::Inbound,
            ConnType::OutboundFullRelay,
            ConnType::BlockRelayOnly,
            ConnType::Manual,
            ConnType::Feeler,
            ConnType::AddrFetch,
        ]
        .into_iter()
        .find(|t| t.as_str() == name)
    }

    /// Most connections of this type that `addconnection` keeps open (Core's per-type limits;
    /// none for the short-lived addr-fetch and feeler connections).
    pub fn addconnection_limit(self) -> Option<usize> {
        match self {
            ConnType::OutboundFullRelay => Some(8),
            ConnType::BlockRelayOnly => Some(2),
            _ => None,
        }
    }

    /// Whether this connection takes one of the automatic outbound slots (Core's semOutbound).
    pub fn is_automatic_outbound(self) -> bool {
        !matches!(self, ConnType::Inbound | ConnType::Manual)
    }

    /// Whether transactions and addresses are relayed on this connection.
    pub fn relays_txs(self) -> bool {
        !matches!(self, ConnType::BlockRelayOnly | ConnType::Feeler | ConnType::AddrFetch)
    }
}

/// What the peer said in its `version` and the features it negotiated.
#[derive(Debug, Clone)]
pub struct VersionInfo {
    /// Protocol version.
    pub version: u32,
    /// Service bits.
    pub services: u64,
    /// User agent.
    pub user_agent: String,
    /// Best height at connection time.
    pub start_height: i32,
    /// Whether it wants transaction announcements (BIP37 relay flag).
    pub relay: bool,
    /// Its clock minus ours, seconds.
    pub time_offset: i64,
    /// BIP339: announce transactions by wtxid.
    pub wtxid_relay: bool,
    /// BIP155: send addrv2.
    pub addrv2: bool,
}

/// Per-connection state shared between the connection's tasks, the manager, RPC and modules.
pub struct PeerShared {
    /// Node-local id.
    pub id: PeerId,
    /// Remote address.
    pub addr: SocketAddr,
    /// Local address of the socket.
    pub local_addr: Option<SocketAddr>,
    /// They connected to us.
    pub inbound: bool,
    /// Connection type.
    pub conn_type: ConnType,
    /// What `-whitelist`/`-whitebind` grant this peer, worked out when it connected.
    pub permissions: super::whitelist::Permissions,
    /// UNIX time of connection.
    pub connected_at: i64,
    started: Instant,
    info: Mutex<Option<VersionInfo>>,
    /// Bytes sent.
    pub bytes_sent: AtomicU64,
    /// Bytes received.
    pub bytes_recv: AtomicU64,
    /// Bytes sent per message type.
    pub sent_per_msg: super::msg_stats::MsgBytes,
    /// Bytes received per message type.
    pub recv_per_msg: super::msg_stats::MsgBytes,
    /// UNIX time of the last send.
    pub last_send: AtomicI64,
    /// UNIX time of the last receive.
    pub last_recv: AtomicI64,
    ping_nonce: AtomicU64,
    ping_started_us: AtomicU64,
    last_ping_us: AtomicU64,
    min_ping_us: AtomicU64,
    last_block_rx_ms: AtomicU64,
    waiting_budget: AtomicBool,
    /// Height reached by a low-work headers pre-sync with the peer (-1: none running); Core's
    /// getpeerinfo `presynced_headers`.
    pub presynced_headers: AtomicI64,
    /// The `feefilter` the peer sent us (sat/kvB; getpeerinfo `minfeefilter`).
    pub fee_filter_received: AtomicU64,
    /// Mempool sequence when the peer was last sent transaction announcements (getpeerinfo
    /// `last_inv_sequence`).
    pub last_inv_sequence: AtomicU64,
    /// Transactions waiting for the peer's next announcement (getpeerinfo `inv_to_send`).
    pub inv_to_send: AtomicU64,
    /// Best header height we know the peer has.
    pub synced_headers: AtomicI64,
    /// Best block height we know the peer has.
    pub synced_blocks: AtomicI64,
    /// Misbehaviour score (0..100).
    pub misbehavior: AtomicU32,
    /// UNIX time of the last block it gave us first.
    pub last_block_time: AtomicI64,
    /// UNIX time of the last transaction it gave us first.
    pub last_tx_time: AtomicI64,
    /// Its BIP37 filter (`filterload`), at most one: set and cleared by the manager, read for
    /// transaction announcements and, by the connection, for filtered blocks.
    pub bloom: Mutex<Option<super::bloom::BloomFilter>>,
    /// A `filterload` or `filterclear` turned transaction relay on (getpeerinfo `relaytxes`).
    pub filter_relay: AtomicBool,
    /// The transport (v1 or v2, getpeerinfo `transport_protocol_type` and `session_id`).
    pub transport: Mutex<super::transport::TransportInfo>,
    /// BIP152 high-bandwidth mode in each direction (getpeerinfo `bip152_hb_to`/`_from`).
    pub bip152: super::compact_relay::Bip152Flags,
    /// Heights of the blocks requested from the peer (getpeerinfo `inflight`), published by
    /// the manager.
    pub blocks_in_flight: Mutex<Vec<u32>>,
    /// Hashes of the blocks requested from the peer, published by the manager: the reader task
    /// prepares these ahead of the chain (others reach the manager decoded only).
    pub requested_blocks: Mutex<Vec<bitcoin::BlockHash>>,
    ping_now: Notify,
    close: watch::Sender<Option<String>>,
    ctl_bytes: AtomicUsize,
}

impl PeerShared {
    fn new(
        id: PeerId,
        addr: SocketAddr,
        local_addr: Option<SocketAddr>,
        conn_type: ConnType,
        permissions: super::whitelist::Permissions,
    ) -> Self {
        PeerShared {
            id,
            addr,
            local_addr,
            inbound: conn_type == ConnType::Inbound,
            conn_type,
            permissions,
            connected_at: crate::clock::unix_now(),
            started: Instant::now(),
            info: Mutex::new(None),
            bytes_sent: AtomicU64::new(0),
            bytes_recv: AtomicU64::new(0),
            sent_per_msg: Default::default(),
            recv_per_msg: Default::default(),
            last_send: AtomicI64::new(0),
            last_recv: AtomicI64::new(0),
            ping_nonce: AtomicU64::new(0),
            ping_started_us: AtomicU64::new(0),
            last_ping_us: AtomicU64::new(0),
            min_ping_us: AtomicU64::new(u64::MAX),
            last_block_rx_ms: AtomicU64::new(0),
            waiting_budget: AtomicBool::new(false),
            presynced_headers: AtomicI64::new(-1),
            fee_filter_received: AtomicU64::new(0),
            last_inv_sequence: AtomicU64::new(1),
            inv_to_send: AtomicU64::new(0),
            synced_headers: AtomicI64::new(-1),
            synced_blocks: AtomicI64::new(-1),
            misbehavior: AtomicU32::new(0),
            last_block_time: AtomicI64::new(0),
            last_tx_time: AtomicI64::new(0),
            bloom: Mutex::new(None),
            filter_relay: AtomicBool::new(false),
            transport: Mutex::new(super::transport::TransportInfo::Detecting),
            bip152: Default::default(),
            blocks_in_flight: Mutex::new(Vec::new()),
            requested_blocks: Mutex::new(Vec::new()),
            ping_now: Notify::new(),
            close: watch::channel(None).0,
            ctl_bytes: AtomicUsize::new(0),
        }
    }

    /// The version information, once the peer's `version` arrived.
    pub fn info(&self) -> Option<VersionInfo> {
        crate::sync::lock(&self.info).clone()
    }

    /// Best height known for the peer (headers).
    pub fn synced_height(&self) -> i64 {
        self.synced_headers.load(Ordering::Relaxed)
    }

    /// Last ping round trip (None before the first pong).
    pub fn ping_time(&self) -> Option<Duration> {
        Some(self.last_ping_us.load(Ordering::Relaxed))
            .filter(|v| *v > 0)
            .map(Duration::from_micros)
    }

    /// Best ping round trip.
    pub fn min_ping(&self) -> Option<Duration> {
        Some(self.min_ping_us.load(Ordering::Relaxed))
            .filter(|v| *v != u64::MAX)
            .map(Duration::from_micros)
    }

    /// How long the outstanding ping has waited.
    pub fn ping_wait(&self) -> Option<Duration> {
        let s = self.ping_started_us.load(Ordering::Relaxed);
        (s > 0).then(|| self.elapsed_us().saturating_sub(s)).map(Duration::from_micros)
    }

    fn elapsed_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64 + 1
    }

    /// Time since the last block message arrived from the peer (or since connection).
    pub fn since_last_block_rx(&self) -> Duration {
        let at = self.last_block_rx_ms.load(Ordering::Relaxed);
        Duration::from_millis((self.started.elapsed().as_millis() as u64).saturating_sub(at))
    }

    /// Whether the reader is waiting for us to process earlier messages (we are the bottleneck).
    pub fn is_waiting_for_us(&self) -> bool {
        self.waiting_budget.load(Ordering::Relaxed)
    }

    /// Asks the connection to send a ping now.
    pub fn request_ping(&self) {
        self.ping_now.notify_one();
    }

    /// Closes the connection with `reason` (the first reason wins).
    pub fn disconnect(&self, reason: &str) {
        self.close.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason.to_string());
                true
            } else {
                false
            }
        });
    }

    /// Bytes of control messages queued for the peer and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.ctl_bytes.load(Ordering::Relaxed)
    }

    /// Whether the connection is closing.
    pub fn is_closing(&self) -> bool {
        self.close.borrow().is_some()
    }

    /// The peer's BIP37 filter slot.
    pub fn bloom(&self) -> std::sync::MutexGuard<'_, Option<super::bloom::BloomFilter>> {
        crate::sync::lock(&self.bloom)
    }
}

/// Something a connection tells the manager.
#[derive(Debug)]
pub enum Event {
    /// The handshake completed.
    Ready {
        /// Peer id.
        id: PeerId,
        /// What it told us.
        info: VersionInfo,
    },
    /// A message for the manager (everything the connection does not answer itself).
    Message {
        /// Peer id.
        id: PeerId,
        /// The message.
        msg: NetworkMessage,
        /// Holds the peer's receive budget until the manager is done with the message.
        permit: Option<OwnedSemaphorePermit>,
    },
    /// A requested block, prepared on the reader task (hashes, context-free checks, the
    /// interpreter's parse) while the chain connected the blocks before it.
    Block {
        /// Peer id.
        id: PeerId,
        /// The block and what was computed for it.
        block: Box<crate::validation::prepared::PreparedBlock>,
        /// The peer's receive budget and a slot of [`PREPARED_BLOCKS_AHEAD`], held until the
        /// manager is done with the block.
        permits: [OwnedSemaphorePermit; 2],
    },
    /// The connection ended.
    Closed {
        /// Peer id.
        id: PeerId,
        /// Why (logged and published in PeerDisconnected).
        reason: String,
        /// The peer misbehaved: ban it.
        ban: bool,
    },
}

/// What every connection needs from the node.
pub struct PeerEnv {
    /// Network magic.
    pub magic: Magic,
    /// Settings.
    pub settings: P2pSettings,
    /// The rest of the node (for serving from the chain).
    pub node: Arc<NodeLink>,
    /// The P2P layer's shared state (our height for `version`).
    pub net: Arc<super::Net>,
    /// Where events go.
    pub events: mpsc::Sender<Event>,
    /// Nonces of our own outbound `version` messages (self-connection detection).
    pub local_nonces: Mutex<HashSet<u64>>,
    /// Network totals.
    pub totals: Arc<Totals>,
    /// The slots of [`PREPARED_BLOCKS_AHEAD`], shared by every connection.
    pub prepared_blocks: Arc<tokio::sync::Semaphore>,
}

/// The manager's handle on one connection.
pub struct PeerHandle {
    /// Shared state.
    pub shared: Arc<PeerShared>,
    ctl: mpsc::Sender<Bytes>,
}

impl PeerHandle {
    /// Queues an encoded frame without waiting; a peer whose queue is full is disconnected
    /// (it is not reading what we send). Returns false in that case.
    pub fn send_frame(&self, frame: Bytes) -> bool {
        let len = frame.len();
        if self.shared.ctl_bytes.load(Ordering::Relaxed) + len > CTL_QUEUE_BYTES {
            self.shared.disconnect("send queue full (peer is not reading)");
            return false;
        }
        self.shared.ctl_bytes.fetch_add(len, Ordering::Relaxed);
        match self.ctl.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared.ctl_bytes.fetch_sub(len, Ordering::Relaxed);
                self.shared.disconnect("send queue full (peer is not reading)");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.shared.ctl_bytes.fetch_sub(len, Ordering::Relaxed);
                false
            }
        }
    }
}

/// Starts the tasks of a new connection; an outbound one starts with v2 when `v2` is set.
pub fn spawn(stream: TcpStream, id: PeerId, addr: SocketAddr, conn_type: ConnType, v2: bool, env: Arc<PeerEnv>) -> PeerHandle {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().ok();
    let permissions = env.settings.permissions(addr.ip(), conn_type == ConnType::Inbound, local);
    let shared = Arc::new(PeerShared::new(id, addr, local, conn_type, permissions));
    let (ctl_tx, ctl_rx) = mpsc::channel::<Bytes>(CTL_QUEUE);
    let (bulk_tx, bulk_rx) = mpsc::channel::<Bytes>(BULK_QUEUE);
    let (rd, wr) = stream.into_split();
    let out = Outbox {
        ctl: ctl_tx.clone(),
        bulk: bulk_tx,
        shared: shared.clone(),
        magic: env.magic,
    };
    let handle = PeerHandle {
        shared: shared.clone(),
        ctl: ctl_tx,
    };
    let plan = super::transport::plan(conn_type == ConnType::Inbound, v2, env.settings.v2transport);
    tokio::spawn(supervise(rd, wr, plan, ctl_rx, bulk_rx, out, env));
    handle
}

/// Outgoing queues as seen by the connection's own reader.
struct Outbox {
    ctl: mpsc::Sender<Bytes>,
    bulk: mpsc::Sender<Bytes>,
    shared: Arc<PeerShared>,
    magic: Magic,
}

impl Outbox {
    /// Queues a control message without waiting: a peer that lets its queue fill up is not
    /// reading what we send (answering its requests must not let it grow our memory).
    async fn send(&self, msg: NetworkMessage) -> Result<(), Exit> {
        let frame = Bytes::from(codec::encode(self.magic, msg));
        let len = frame.len();
        if self.shared.ctl_bytes.load(Ordering::Relaxed) + len > CTL_QUEUE_BYTES {
            return Err(Exit::disconnect("send queue full (peer is not reading)"));
        }
        self.shared.ctl_bytes.fetch_add(len, Ordering::Relaxed);
        match self.ctl.try_send(frame) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared.ctl_bytes.fetch_sub(len, Ordering::Relaxed);
                Err(Exit::disconnect("send queue full (peer is not reading)"))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Exit::quiet("connection closing")),
        }
    }

    async fn send_bulk(&self, msg: NetworkMessage) -> Result<(), Exit> {
        let frame = Bytes::from(codec::encode(self.magic, msg));
        self.bulk.send(frame).await.map_err(|_| Exit::quiet("connection closing"))
    }
}

/// Why a reader stopped.
#[derive(Debug)]
struct Exit {
    reason: String,
    ban: bool,
}

impl Exit {
    fn quiet(r: &str) -> Exit {
        Exit {
            reason: r.to_string(),
            ban: false,
        }
    }
    fn ban(r: impl Into<String>) -> Exit {
        Exit {
            reason: r.into(),
            ban: true,
        }
    }
    fn disconnect(r: impl Into<String>) -> Exit {
        Exit {
            reason: r.into(),
            ban: false,
        }
    }
}

async fn supervise(
    rd: OwnedReadHalf,
    mut wr: OwnedWriteHalf,
    plan: super::transport::Plan,
    ctl_rx: mpsc::Receiver<Bytes>,
    bulk_rx: mpsc::Receiver<Bytes>,
    out: Outbox,
    env: Arc<PeerEnv>,
) {
    let shared = out.shared.clone();
    let mut close_rx = shared.close.subscribe();
    let timer = super::handshake_timer::HandshakeTimer::start(env.settings.peer_timeout);
    let est = tokio::select! {
        biased;
        e = super::transport::start(plan, rd, &mut wr, &shared, &env, &timer) => e,
        _ = close_rx.wait_for(|r| r.is_some()) => Err(shared.close.borrow().clone().unwrap_or_default()),
    };
    let (est, wr) = match est {
        Ok(Some(est)) => (est, wr),
        Ok(None) => match super::transport::retry_v1(&shared, &env).await {
            Ok(r) => r,
            Err(reason) => return close(&shared, &env, reason, false).await,
        },
        Err(reason) => return close(&shared, &env, reason, false).await,
    };
    let mut writer = tokio::spawn(write_loop(wr, est.writer, ctl_rx, bulk_rx, shared.clone(), env.clone()));
    let mut reader = tokio::spawn(read_loop(est.reader, timer, out, env.clone()));
    let exit = tokio::select! {
        biased;
        r = &mut reader => r.unwrap_or_else(|e| Exit::disconnect(format!("reader task failed: {e}"))),
        w = &mut writer => Exit::disconnect(w.unwrap_or_else(|e| format!("writer task failed: {e}"))),
        _ = close_rx.wait_for(|r| r.is_some()) => Exit::disconnect(shared.close.borrow().clone().unwrap_or_default()),
    };
    reader.abort();
    writer.abort();
    let reason = shared.close.borrow().clone().filter(|_| !exit.ban).unwrap_or(exit.reason);
    close(&shared, &env, reason, exit.ban).await;
}

/// Marks the connection closed and tells the manager.
async fn close(shared: &PeerShared, env: &PeerEnv, reason: String, ban: bool) {
    shared.disconnect(&reason);
    let _ = env
        .events
        .send(Event::Closed {
            id: shared.id,
            reason,
            ban,
        })
        .await;
}

async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut transport: super::transport::FrameWriter,
    mut ctl: mpsc::Receiver<Bytes>,
    mut bulk: mpsc::Receiver<Bytes>,
    shared: Arc<PeerShared>,
    env: Arc<PeerEnv>,
) -> String {
    let s = &env.settings;
    let mut ping_timer = tokio::time::interval(s.ping_interval);
    ping_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping_timer.tick().await;
    let mut check = tokio::time::interval(Duration::from_secs(1));
    let write_timeout = s.inactivity_timeout;
    let mut handshake_done = false;
    let mut bulk_open = true;
    loop {
        let frame = tokio::select! {
            biased;
            f = ctl.recv() => match f {
                Some(f) => {
                    shared.ctl_bytes.fetch_sub(f.len(), Ordering::Relaxed);
                    f
                }
                None => return "connection closing".into(),
            },
            f = bulk.recv(), if bulk_open => match f {
                Some(f) => f,
                None => {
                    // The reader is gone; its exit reason is what counts.
                    bulk_open = false;
                    continue;
                }
            },
            _ = ping_timer.tick() => {
                if !handshake_done {
                    handshake_done = shared.info().is_some();
                }
                if handshake_done && shared.ping_started_us.load(Ordering::Relaxed) == 0 {
                    start_ping(&shared, env.magic)
                } else {
                    continue;
                }
            }
            _ = shared.ping_now.notified() => {
                if shared.ping_started_us.load(Ordering::Relaxed) == 0 && shared.info().is_some() {
                    start_ping(&shared, env.magic)
                } else {
                    continue;
                }
            }
            _ = check.tick() => {
                if let Some(w) = shared.ping_wait() {
                    if w > s.ping_timeout {
                        return format!("ping timeout: {}s", w.as_secs());
                    }
                }
                continue;
            }
        };
        let bytes = transport.wire_bytes(&frame);
        match tokio::time::timeout(write_timeout, wr.write_all(&bytes)).await {
            Ok(Ok(())) => {
                shared.bytes_sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                shared.sent_per_msg.add_frame(&frame);
                env.totals.record_sent(bytes.len());
                shared.last_send.store(crate::clock::unix_now(), Ordering::Relaxed);
            }
            Ok(Err(e)) => return format!("write failed: {e}"),
            Err(_) => return "write timed out (peer is not reading)".into(),
        }
    }
}

fn start_ping(shared: &PeerShared, magic: Magic) -> Bytes {
    let nonce = rand::random::<u64>().max(1);
    shared.ping_nonce.store(nonce, Ordering::Relaxed);
    shared.ping_started_us.store(shared.elapsed_us(), Ordering::Relaxed);
    Bytes::from(codec::encode(magic, NetworkMessage::Ping(nonce)))
}

/// The services we offer, in `version` and in our self-announcements; NODE_BLOOM when we serve
/// BIP37 filters (to everyone, or to this peer by its permission), NODE_COMPACT_FILTERS with
/// `-peerblockfilters`; as Core, a node in prune mode offers NODE_NETWORK_LIMITED (the last 288
/// blocks) but not NODE_NETWORK.
pub(crate) fn local_services(bloom: bool, v2: bool, cfilters: bool, pruned: bool) -> ServiceFlags {
    let mut flags = ServiceFlags::WITNESS | ServiceFlags::NETWORK_LIMITED;
    if !pruned {
        flags |= ServiceFlags::NETWORK;
    }
    if bloom {
        flags |= ServiceFlags::BLOOM;
    }
    if cfilters {
        flags |= ServiceFlags::COMPACT_FILTERS;
    }
    if v2 {
        flags |= ServiceFlags::P2P_V2;
    }
    flags
}

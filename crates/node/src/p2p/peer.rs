//! One peer connection: a reader task (framing, handshake, ping answers, serving headers and
//! blocks) and a writer task (a bounded control queue, a small bulk queue for served blocks,
//! pings and their timeout), supervised by a third small task that reports the close reason.

use super::codec::{self, FrameError, HEADER_LEN, MAX_HEADERS_RESULTS, MAX_INV_SIZE, MAX_LOCATOR_SZ};
use super::node_link::NodeLink;
use super::{P2pSettings, PeerId, Totals, MIN_PEER_PROTO_VERSION, PROTOCOL_VERSION, SENDHEADERS_VERSION, WTXID_RELAY_VERSION};
use crate::chain::ChainManager;
use bitcoin::block::Header;
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::{Address, Magic, ServiceFlags};
use bitcoin::{Block, BlockHash};
use bytes::Bytes;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};

#[path = "peer_serve_filters.rs"]
mod serve_filters;

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
    ping_now: Notify,
    close: watch::Sender<Option<String>>,
    ctl_bytes: AtomicUsize,
}

fn unix_now() -> i64 {
    super::ban::now()
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
            connected_at: unix_now(),
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
            ping_now: Notify::new(),
            close: watch::channel(None).0,
            ctl_bytes: AtomicUsize::new(0),
        }
    }

    /// The version information, once the peer's `version` arrived.
    pub fn info(&self) -> Option<VersionInfo> {
        self.info.lock().unwrap_or_else(|p| p.into_inner()).clone()
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
        self.bloom.lock().unwrap_or_else(|p| p.into_inner())
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
                shared.last_send.store(unix_now(), Ordering::Relaxed);
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

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    AwaitVersion,
    AwaitVerack,
    Ready,
}

struct Reader {
    out: Outbox,
    env: Arc<PeerEnv>,
    phase: Phase,
    info: Option<VersionInfo>,
    our_nonce: u64,
    tokens: f64,
    last_refill: Instant,
    sent_version: bool,
}

/// Core's CInv::ToString: the inventory type's message name and the hash.
fn inv_string(inv: &Inventory) -> String {
    use bitcoin::hashes::Hash;
    match inv {
        Inventory::Transaction(t) => format!("tx {t}"),
        Inventory::WitnessTransaction(t) => format!("witness-tx {t}"),
        Inventory::WTx(w) => format!("wtx {w}"),
        Inventory::Block(b) => format!("block {b}"),
        Inventory::WitnessBlock(b) => format!("witness-block {b}"),
        Inventory::CompactBlock(b) => format!("cmpctblock {b}"),
        Inventory::Error => format!("0x00000000 {}", bitcoin::BlockHash::all_zeros()),
        Inventory::Unknown { inv_type, hash } => format!("0x{inv_type:08x} {}", bitcoin::BlockHash::from_byte_array(*hash)),
    }
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

impl Reader {
    fn shared(&self) -> &Arc<PeerShared> {
        &self.out.shared
    }

    async fn send_version(&mut self) -> Result<(), Exit> {
        let shared = self.shared().clone();
        let height = self.env.net.height() as i32;
        let receiver = Address::new(&shared.addr, ServiceFlags::NONE);
        let services = local_services(
            self.env.settings.offers_bloom(shared.permissions),
            self.env.settings.v2transport,
            self.env.settings.peer_block_filters,
            self.env.settings.prune_mode,
        );
        // As Core: our own address is not disclosed (0.0.0.0:0).
        let sender = Address::new(&SocketAddr::from(([0, 0, 0, 0], 0)), services);
        let mut v = VersionMessage::new(services, unix_now(), receiver, sender, self.our_nonce, super::user_agent(), height);
        v.version = PROTOCOL_VERSION;
        // As Core: fRelay false when we would refuse the peer's transactions (block-relay-only,
        // or -blocksonly without the relay permission).
        v.relay = !self.env.settings.rejects_incoming_txs(shared.conn_type, shared.permissions);
        self.sent_version = true;
        self.out.send(NetworkMessage::Version(v)).await
    }

    /// Core's GetDesirableServiceFlags: NODE_NETWORK | NODE_WITNESS, or for a peer offering
    /// NODE_NETWORK_LIMITED, NODE_NETWORK_LIMITED | NODE_WITNESS while our tip is less than a
    /// day old (a pruned peer can then serve us).
    async fn desirable_services(&self, offered: u64) -> Result<u64, Exit> {
        if offered & ServiceFlags::NETWORK_LIMITED.to_u64() == 0 {
            return Ok(ServiceFlags::NETWORK.to_u64() | ServiceFlags::WITNESS.to_u64());
        }
        let tip_time = self.chain(|c| i64::from(c.tip().header.time)).await?;
        let recent = tip_time > crate::clock::unix_now() - 24 * 3600;
        let base = if recent {
            ServiceFlags::NETWORK_LIMITED
        } else {
            ServiceFlags::NETWORK
        };
        Ok(base.to_u64() | ServiceFlags::WITNESS.to_u64())
    }

    fn rate_limit(&mut self) -> Result<(), Exit> {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last_refill).as_secs_f64() * MSG_RATE).min(MSG_BURST);
        self.last_refill = now;
        if self.tokens < 1.0 {
            return Err(Exit::ban(format!("message flood (more than {MSG_RATE} messages/s sustained)")));
        }
        self.tokens -= 1.0;
        Ok(())
    }

    async fn forward(&self, msg: NetworkMessage, permit: Option<OwnedSemaphorePermit>) -> Result<(), Exit> {
        self.env
            .events
            .send(Event::Message {
                id: self.shared().id,
                msg,
                permit,
            })
            .await
            .map_err(|_| Exit::quiet("node shutting down"))
    }

    async fn handle(&mut self, msg: NetworkMessage, permit: OwnedSemaphorePermit) -> Result<(), Exit> {
        self.rate_limit()?;
        match self.phase {
            Phase::AwaitVersion => match msg {
                NetworkMessage::Version(v) => self.on_version(v).await,
                // As Core: ignored; the handshake deadline still ends the connection.
                other => {
                    tracing::debug!(target: "blvm::net", "non-version message before version handshake. Message \"{}\" from peer={}", other.command(), self.shared().id);
                    Ok(())
                }
            },
            Phase::AwaitVerack => match msg {
                NetworkMessage::Verack => self.on_verack().await,
                NetworkMessage::WtxidRelay => {
                    if let Some(i) = &mut self.info {
                        i.wtxid_relay = i.version >= WTXID_RELAY_VERSION;
                    }
                    Ok(())
                }
                NetworkMessage::SendAddrV2 => {
                    if let Some(i) = &mut self.info {
                        i.addrv2 = true;
                    }
                    Ok(())
                }
                NetworkMessage::Version(_) => {
                    tracing::debug!(target: "blvm::net", "redundant version message from peer={}", self.shared().id);
                    Ok(())
                }
                other => {
                    tracing::debug!(target: "blvm::net", "Unsupported message \"{}\" prior to verack from peer={}", other.command(), self.shared().id);
                    Ok(())
                }
            },
            Phase::Ready => self.on_message(msg, permit).await,
        }
    }

    async fn on_version(&mut self, v: VersionMessage) -> Result<(), Exit> {
        let shared = self.shared().clone();
        if v.version < MIN_PEER_PROTO_VERSION {
            return Err(Exit::disconnect(format!(
                "using obsolete version {}, disconnecting peer={}",
                v.version, shared.id
            )));
        }
        if shared.inbound && self.env.local_nonces.lock().unwrap_or_else(|p| p.into_inner()).contains(&v.nonce) {
            return Err(Exit::disconnect(format!("connected to self at {}, disconnecting", shared.addr)));
        }
        let services = v.services.to_u64();
        let needs_services = matches!(
            shared.conn_type,
            ConnType::OutboundFullRelay | ConnType::BlockRelayOnly | ConnType::AddrFetch
        );
        if needs_services {
            let desirable = self.desirable_services(services).await?;
            if services & desirable != desirable {
                let why = format!("does not offer the expected services ({services:08x} offered, {desirable:08x} expected)");
                tracing::debug!(target: "blvm::net", "peer={} {why}; disconnecting", shared.id);
                return Err(Exit::disconnect(format!("peer {why}")));
            }
        }
        if v.user_agent.len() > 256 {
            return Err(Exit::ban("user agent longer than 256 bytes"));
        }
        let info = VersionInfo {
            version: v.version.min(PROTOCOL_VERSION),
            services,
            user_agent: v.user_agent.chars().filter(|c| !c.is_control()).collect(),
            start_height: v.start_height,
            relay: v.relay,
            time_offset: v.timestamp.saturating_sub(unix_now()),
            wtxid_relay: false,
            addrv2: false,
        };
        *shared.info.lock().unwrap_or_else(|p| p.into_inner()) = Some(info.clone());
        shared.synced_headers.store(-1, Ordering::Relaxed);
        if !self.sent_version {
            self.send_version().await?;
        }
        if info.version >= WTXID_RELAY_VERSION {
            self.out.send(NetworkMessage::WtxidRelay).await?;
        }
        // BIP155: signalled, as BIP339, only to peers from version 70016 on (as Core).
        if info.version >= WTXID_RELAY_VERSION {
            self.out.send(NetworkMessage::SendAddrV2).await?;
        }
        self.out.send(NetworkMessage::Verack).await?;
        self.info = Some(info.clone());
        self.phase = Phase::AwaitVerack;
        // As Core: a feeler only checks that the address answers; its `version` completes it
        // (the manager marks the address good and disconnects, without waiting for `verack`).
        if shared.conn_type == ConnType::Feeler {
            return self
                .env
                .events
                .send(Event::Ready { id: shared.id, info })
                .await
                .map_err(|_| Exit::quiet("node shutting down"));
        }
        Ok(())
    }

    async fn on_verack(&mut self) -> Result<(), Exit> {
        let Some(info) = self.info.clone() else {
            return Err(Exit::ban("verack before version"));
        };
        if self.shared().conn_type == ConnType::Feeler {
            return Ok(()); // completed at its `version`, being closed
        }
        *self.shared().info.lock().unwrap_or_else(|p| p.into_inner()) = Some(info.clone());
        self.phase = Phase::Ready;
        if info.version >= SENDHEADERS_VERSION {
            self.out.send(NetworkMessage::SendHeaders).await?;
        }
        // BIP152: we can serve version 2 compact blocks, but do not ask for announcements yet.
        if info.version >= super::compact_relay::SHORT_IDS_BLOCKS_VERSION {
            self.out.send(super::compact_relay::sendcmpct_message(false)).await?;
        }
        if matches!(
            self.shared().conn_type,
            ConnType::OutboundFullRelay | ConnType::AddrFetch | ConnType::Manual
        ) {
            self.out.send(NetworkMessage::GetAddr).await?;
        }
        self.shared().request_ping();
        self.env
            .events
            .send(Event::Ready {
                id: self.shared().id,
                info,
            })
            .await
            .map_err(|_| Exit::quiet("node shutting down"))
    }

    async fn on_message(&mut self, msg: NetworkMessage, permit: OwnedSemaphorePermit) -> Result<(), Exit> {
        let shared = self.shared().clone();
        match msg {
            NetworkMessage::Ping(n) => self.out.send(NetworkMessage::Pong(n)).await,
            NetworkMessage::Pong(n) => {
                let expected = shared.ping_nonce.load(Ordering::Relaxed);
                let started = shared.ping_started_us.load(Ordering::Relaxed);
                if n != 0 && n == expected && started > 0 {
                    let rtt = shared.elapsed_us().saturating_sub(started).max(1);
                    shared.last_ping_us.store(rtt, Ordering::Relaxed);
                    shared.min_ping_us.fetch_min(rtt, Ordering::Relaxed);
                    shared.ping_started_us.store(0, Ordering::Relaxed);
                }
                Ok(())
            }
            NetworkMessage::Version(_) => {
                tracing::debug!(target: "blvm::net", "redundant version message from peer={}", shared.id);
                Ok(())
            }
            NetworkMessage::Verack => {
                tracing::debug!(target: "blvm::net", "ignoring redundant verack message from peer={}", shared.id);
                Ok(())
            }
            NetworkMessage::WtxidRelay | NetworkMessage::SendAddrV2 => Err(Exit::disconnect(format!("{} after verack", msg.command()))),
            NetworkMessage::GetHeaders(g) => {
                if g.locator_hashes.len() > MAX_LOCATOR_SZ {
                    return Err(Exit::ban(format!(
                        "getheaders locator of {} entries (limit {MAX_LOCATOR_SZ})",
                        g.locator_hashes.len()
                    )));
                }
                let null_locator = g.locator_hashes.is_empty();
                let headers = self
                    .chain(move |c| headers_after(c, &g.locator_hashes, g.stop_hash, MAX_HEADERS_RESULTS))
                    .await?;
                if null_locator && headers.is_empty() {
                    // As Core: an unknown or withheld `hash_stop` gets no answer at all.
                    tracing::debug!(target: "blvm::net", "ProcessMessage: ignoring request from peer={} for old block header that isn't in the main chain", shared.id);
                    return Ok(());
                }
                self.out.send(NetworkMessage::Headers(headers)).await
            }
            NetworkMessage::GetBlocks(g) => {
                if g.locator_hashes.len() > MAX_LOCATOR_SZ {
                    return Err(Exit::ban(format!(
                        "getblocks locator of {} entries (limit {MAX_LOCATOR_SZ})",
                        g.locator_hashes.len()
                    )));
                }
                let hashes = self
                    .chain(move |c| headers_after(c, &g.locator_hashes, g.stop_hash, MAX_BLOCKS_INV))
                    .await?;
                if hashes.is_empty() {
                    return Ok(());
                }
                self.out
                    .send(NetworkMessage::Inv(
                        hashes.iter().map(|h| Inventory::Block(h.block_hash())).collect(),
                    ))
                    .await
            }
            NetworkMessage::GetData(items) => {
                if items.len() > MAX_INV_SIZE {
                    return Err(Exit::ban(format!("getdata message size = {}", items.len())));
                }
                // Core's line (its tests wait for it).
                match items.as_slice() {
                    [one] => tracing::debug!(target: "blvm::net", "received getdata for: {} peer={}", inv_string(one), shared.id),
                    _ => tracing::debug!(target: "blvm::net", "received getdata ({} invsz) peer={}", items.len(), shared.id),
                }
                let mut rest = Vec::new();
                let mut missing = Vec::new();
                let limited = self.env.settings.prune_mode && !shared.permissions.noban;
                for inv in items {
                    if self.historical_limit_reached(&inv).await? {
                        tracing::debug!(target: "blvm::net", "historical block serving limit reached, disconnecting peer={}", shared.id);
                        return Err(Exit::disconnect("historical block serving limit reached"));
                    }
                    if limited {
                        if let Some(h) = super::pruned_serving::block_of(&inv) {
                            if self.chain(move |c| super::pruned_serving::below_threshold(c, &h)).await? {
                                tracing::debug!(target: "blvm::net", "Ignore block request below NODE_NETWORK_LIMITED threshold, disconnecting peer={}", shared.id);
                                return Err(Exit::disconnect("block request below the NODE_NETWORK_LIMITED threshold"));
                            }
                        }
                    }
                    match inv {
                        Inventory::Block(h) | Inventory::WitnessBlock(h) => {
                            let witness = matches!(inv, Inventory::WitnessBlock(_));
                            match self.chain(move |c| servable_block(c, &h)).await? {
                                BlockAnswer::Block(b) => {
                                    self.out
                                        .send_bulk(NetworkMessage::Block(if witness { b } else { strip_witness(b) }))
                                        .await?
                                }
                                BlockAnswer::Missing => missing.push(inv),
                                BlockAnswer::Withheld => {
                                    tracing::debug!(target: "blvm::net", "ProcessGetBlockData: ignoring request from peer={} for old block that isn't in the main chain", shared.id);
                                }
                            }
                        }
                        Inventory::Transaction(_) | Inventory::WTx(_) | Inventory::WitnessTransaction(_) => rest.push(inv),
                        Inventory::Unknown {
                            inv_type: super::bloom::MSG_FILTERED_BLOCK,
                            hash,
                        } => {
                            let h = BlockHash::from_byte_array(hash);
                            match self.chain(move |c| servable_block(c, &h)).await? {
                                BlockAnswer::Block(b) => self.send_filtered_block(&b).await?,
                                BlockAnswer::Missing => missing.push(inv),
                                BlockAnswer::Withheld => {
                                    tracing::debug!(target: "blvm::net", "ProcessGetBlockData: ignoring request from peer={} for old block that isn't in the main chain", shared.id);
                                }
                            }
                        }
                        Inventory::CompactBlock(h) => match self.chain(move |c| super::compact_relay::compact_source(c, &h)).await? {
                            (BlockAnswer::Block(b), true) => self.out.send_bulk(super::compact_relay::cmpctblock_message(&b)).await?,
                            (BlockAnswer::Block(b), false) => self.out.send_bulk(NetworkMessage::Block(b)).await?,
                            (BlockAnswer::Missing, _) => missing.push(inv),
                            (BlockAnswer::Withheld, _) => {
                                tracing::debug!(target: "blvm::net", "ProcessGetBlockData: ignoring request from peer={} for old block that isn't in the main chain", shared.id);
                            }
                        },
                        _ => {}
                    }
                }
                if !missing.is_empty() {
                    self.out.send(NetworkMessage::NotFound(missing)).await?;
                }
                if !rest.is_empty() {
                    self.forward(NetworkMessage::GetData(rest), Some(permit)).await?;
                }
                Ok(())
            }
            NetworkMessage::Inv(ref v) | NetworkMessage::NotFound(ref v) if v.len() > MAX_INV_SIZE => {
                Err(Exit::ban(format!("{} message size = {}", msg.command(), v.len())))
            }
            NetworkMessage::Headers(ref h) if h.len() > MAX_HEADERS_RESULTS => {
                Err(Exit::ban(format!("headers message size = {}", h.len())))
            }
            NetworkMessage::Addr(ref a) if a.len() > codec::MAX_ADDR_TO_SEND => Err(Exit::ban(format!("addr message size = {}", a.len()))),
            NetworkMessage::AddrV2(ref a) if a.len() > codec::MAX_ADDR_TO_SEND => {
                Err(Exit::ban(format!("addrv2 message size = {}", a.len())))
            }
            NetworkMessage::Block(_) => {
                shared
                    .last_block_rx_ms
                    .store(shared.started.elapsed().as_millis() as u64, Ordering::Relaxed);
                self.forward(msg, Some(permit)).await
            }
            NetworkMessage::Headers(_)
            | NetworkMessage::Inv(_)
            | NetworkMessage::NotFound(_)
            | NetworkMessage::Tx(_)
            | NetworkMessage::Addr(_)
            | NetworkMessage::AddrV2(_)
            | NetworkMessage::GetAddr
            | NetworkMessage::SendHeaders
            | NetworkMessage::FeeFilter(_)
            | NetworkMessage::MemPool
            | NetworkMessage::FilterLoad(_)
            | NetworkMessage::FilterAdd(_)
            | NetworkMessage::FilterClear => self.forward(msg, Some(permit)).await,
            NetworkMessage::GetBlockTxn(g) => self.on_getblocktxn(g.txs_request).await,
            NetworkMessage::CmpctBlock(_) => {
                shared
                    .last_block_rx_ms
                    .store(shared.started.elapsed().as_millis() as u64, Ordering::Relaxed);
                self.forward(msg, Some(permit)).await
            }
            NetworkMessage::SendCmpct(_) | NetworkMessage::BlockTxn(_) => self.forward(msg, Some(permit)).await,
            NetworkMessage::GetCFilters(_) | NetworkMessage::GetCFHeaders(_) | NetworkMessage::GetCFCheckpt(_) => {
                self.on_cfilter_request(msg).await
            }
            NetworkMessage::MerkleBlock(_)
            | NetworkMessage::CFilter(_)
            | NetworkMessage::CFHeaders(_)
            | NetworkMessage::CFCheckpt(_)
            | NetworkMessage::Alert(_)
            | NetworkMessage::Reject(_) => Ok(()),
            NetworkMessage::Unknown { command, .. } => {
                Err(Exit::disconnect(format!("unknown command '{}'", command.as_ref().escape_debug())))
            }
        }
    }

    /// Core's answer to MSG_FILTERED_BLOCK: with a filter loaded, the `merkleblock` (matching
    /// updates the filter) and then each matched transaction without witness, in order on the
    /// bulk queue; without a filter, nothing.
    async fn send_filtered_block(&self, block: &Block) -> Result<(), Exit> {
        let answer = self.shared().bloom().as_mut().map(|f| f.merkle_block(block));
        let Some((merkle, matched)) = answer else { return Ok(()) };
        self.out.send_bulk(NetworkMessage::MerkleBlock(merkle)).await?;
        for i in matched {
            let mut tx = block.txdata[i].clone();
            tx.input.iter_mut().for_each(|i| i.witness.clear());
            self.out.send_bulk(NetworkMessage::Tx(tx)).await?;
        }
        Ok(())
    }

    /// A `getblocktxn`: the requested transactions of a recent block as `blocktxn`, a deeper
    /// block whole, an unknown one ignored; an index past the block's end is misbehaviour.
    async fn on_getblocktxn(&self, req: bitcoin::bip152::BlockTransactionsRequest) -> Result<(), Exit> {
        use super::compact_relay::BlockTxnSource;
        let id = self.shared().id;
        if req.indexes.is_empty() {
            return Err(Exit::ban("getblocktxn received with no transaction indexes"));
        }
        let r = req.clone();
        match self.chain(move |c| super::compact_relay::blocktxn_source(c, &r)).await? {
            BlockTxnSource::Recent(b) => {
                let answer = super::compact_blocks::block_txn(&b, &req).map_err(|e| Exit::ban(e.to_string()))?;
                tracing::debug!(target: "blvm::cmpctblock", "peer={id} sent us a GETBLOCKTXN for block {}, sending a BLOCKTXN with {} txns.", req.block_hash, answer.transactions.len());
                self.out
                    .send_bulk(NetworkMessage::BlockTxn(bitcoin::p2p::message_compact_blocks::BlockTxn {
                        transactions: answer,
                    }))
                    .await
            }
            BlockTxnSource::Deep(b) => {
                tracing::debug!(target: "blvm::net", "Peer {id} sent us a getblocktxn for a block > {} deep", super::compact_relay::MAX_BLOCKTXN_DEPTH);
                self.out.send_bulk(NetworkMessage::Block(b)).await
            }
            BlockTxnSource::Missing => {
                tracing::debug!(target: "blvm::net", "Peer {id} sent us a getblocktxn for a block we don't have");
                Ok(())
            }
        }
    }

    async fn chain<T: Send + 'static>(&self, f: impl FnOnce(&ChainManager) -> T + Send + 'static) -> Result<T, Exit> {
        let node = self.env.node.clone();
        tokio::task::spawn_blocking(move || {
            let c = node.chain_ref().lock().unwrap_or_else(|p| p.into_inner());
            f(&c)
        })
        .await
        .map_err(|e| Exit::disconnect(format!("internal error: {e}")))
    }
}

/// Removes witness data (for peers asking with MSG_BLOCK / MSG_TX).
pub fn strip_witness(mut b: Block) -> Block {
    for tx in &mut b.txdata {
        for i in &mut tx.input {
            i.witness.clear();
        }
    }
    b
}

/// How a `getdata` for a block is answered.
pub enum BlockAnswer {
    /// Served.
    Block(Block),
    /// Not stored (or known invalid): `notfound`.
    Missing,
    /// A stale block kept from the peer against fingerprinting (Core sends nothing).
    Withheld,
}

/// A block we can serve: stored, not known invalid, and on the active chain or a recent stale
/// one ([`super::stale_blocks::block_request_allowed`]).
pub fn servable_block(c: &ChainManager, h: &BlockHash) -> BlockAnswer {
    let Some(e) = c.entry(h) else { return BlockAnswer::Missing };
    if e.is_failed() || !e.have_data() {
        return BlockAnswer::Missing;
    }
    if !super::stale_blocks::block_request_allowed(c, e) {
        return BlockAnswer::Withheld;
    }
    match c.read_block(h) {
        Ok(Some(b)) => BlockAnswer::Block(b),
        Ok(None) => BlockAnswer::Missing,
        Err(e) => {
            tracing::error!(target: "blvm::net", block = %h, "cannot read block to serve: {e}");
            BlockAnswer::Missing
        }
    }
}

/// The active-chain fork point of a locator (Core's FindForkInGlobalIndex): the first locator
/// entry on the active chain, our tip if the entry descends from it, else genesis.
pub fn locator_fork(c: &ChainManager, locator: &[BlockHash]) -> u32 {
    let tip = c.tip();
    for h in locator {
        if let Some(e) = c.entry(h) {
            if c.is_active(h) {
                return e.height;
            }
            if e.height > tip.height && c.ancestor(h, tip.height).map(|a| a.hash) == Some(tip.hash) {
                return tip.height;
            }
        }
    }
    0
}

/// Active-chain headers after the locator's fork point, up to `max` or `stop` (Core's
/// getheaders answer; with an empty locator, just the header of `stop` when it may be served:
/// see [`super::stale_blocks::block_request_allowed`]).
pub fn headers_after(c: &ChainManager, locator: &[BlockHash], stop: BlockHash, max: usize) -> Vec<Header> {
    if locator.is_empty() {
        return c
            .entry(&stop)
            .filter(|e| !e.is_failed() && super::stale_blocks::block_request_allowed(c, e))
            .map(|e| vec![e.header])
            .unwrap_or_default();
    }
    let mut out = Vec::new();
    let mut h = locator_fork(c, locator) + 1;
    while out.len() < max {
        let Some(hash) = c.hash_at(h) else { break };
        let Some(e) = c.entry(&hash) else { break };
        out.push(e.header);
        if hash == stop {
            break;
        }
        h += 1;
    }
    out
}

/// A block locator for `hash` (dense for the last 10, then exponentially sparser, genesis last).
pub fn locator(c: &ChainManager, hash: &BlockHash) -> Vec<BlockHash> {
    let Some(start) = c.entry(hash) else {
        return vec![c.params().genesis().block_hash()];
    };
    let mut out = Vec::new();
    let mut height = i64::from(start.height);
    let mut step = 1i64;
    while height >= 0 {
        match c.ancestor(hash, height as u32) {
            Some(e) => out.push(e.hash),
            None => break,
        }
        if height == 0 {
            break;
        }
        if out.len() >= 10 {
            step *= 2;
        }
        height = (height - step).max(0);
    }
    out
}

async fn read_loop(
    mut rd: super::transport::FrameReader,
    handshake: super::handshake_timer::HandshakeTimer,
    out: Outbox,
    env: Arc<PeerEnv>,
) -> Exit {
    let s = env.settings.clone();
    let shared = out.shared.clone();
    let capacity = s
        .recv_budget
        .max(codec::MAX_PROTOCOL_MESSAGE_LENGTH + HEADER_LEN)
        .min(u32::MAX as usize);
    let budget = Arc::new(Semaphore::new(capacity));
    let our_nonce = rand::random::<u64>();
    if !shared.inbound {
        env.local_nonces.lock().unwrap_or_else(|p| p.into_inner()).insert(our_nonce);
    }
    let mut r = Reader {
        out,
        env: env.clone(),
        phase: Phase::AwaitVersion,
        info: None,
        our_nonce,
        tokens: MSG_BURST,
        last_refill: Instant::now(),
        sent_version: false,
    };
    let exit = async {
        if !shared.inbound {
            r.send_version().await?;
        }
        loop {
            let idle = if r.phase == Phase::Ready {
                s.inactivity_timeout
            } else {
                super::handshake_timer::POLL
            };
            let header = match rd.read_header(env.magic, idle, s.peer_timeout).await {
                Ok(Some(h)) => h,
                Ok(None) if r.phase == Phase::Ready => {
                    return Err(Exit::disconnect(format!("no message for {}s (inactivity)", idle.as_secs())))
                }
                Ok(None) if handshake.expired() => return Err(Exit::disconnect(handshake.message(&shared))),
                Ok(None) => continue,
                Err(e) => return Err(frame_exit(e)),
            };
            let size = HEADER_LEN + header.len;
            shared.waiting_budget.store(true, Ordering::Relaxed);
            let permit = budget.clone().acquire_many_owned(size as u32).await;
            shared.waiting_budget.store(false, Ordering::Relaxed);
            let permit = permit.map_err(|_| Exit::quiet("closing"))?;
            let frame = rd.read_payload(&header, s.peer_timeout).await.map_err(frame_exit)?;
            shared.last_recv.store(unix_now(), Ordering::Relaxed);
            // As Core: a wrong checksum or message type drops the message (counted as
            // "*other*"), a payload that does not parse is logged and skipped; the byte budget
            // and the message rate limit still apply to both.
            if let Some(why) = codec::rejection(&frame, &header) {
                shared.recv_per_msg.add("", size as u64);
                tracing::debug!(target: "blvm::net", "{why}, peer={}", shared.id);
                r.rate_limit()?;
                continue;
            }
            shared.recv_per_msg.add(&header.command, size as u64);
            tracing::debug!(target: "blvm::net", "received: {} ({} bytes) peer={}", header.command, header.len, shared.id);
            // Checked on the raw byte: rust-bitcoin refuses to decode it.
            if r.phase == Phase::Ready && super::compact_relay::invalid_sendcmpct(&header.command, &frame[HEADER_LEN..]) {
                return Err(Exit::ban("invalid sendcmpct announce field"));
            }
            let msg = match codec::decode(&frame, &header) {
                Ok(m) => m,
                Err(e) => {
                    let what = match e {
                        FrameError::Decode { error, .. } => error,
                        other => other.to_string(),
                    };
                    tracing::debug!(target: "blvm::net", "ProcessMessages({}, {} bytes): Exception '{what}' caught, peer={}", header.command, header.len, shared.id);
                    r.rate_limit()?;
                    continue;
                }
            };
            drop(frame);
            if r.phase != Phase::Ready && handshake.expired() {
                return Err(Exit::disconnect(handshake.message(&shared)));
            }
            if r.phase == Phase::Ready && (matches!(msg, NetworkMessage::Ping(_)) || asks_filtered_block(&msg)) {
                // As Core, which handles a peer's messages in order: the pong goes out only once
                // the manager has handled every message forwarded before the ping (each holds
                // its share of the budget until then), so a pong tells the peer they were processed.
                // Likewise a filtered block is answered with the filter the manager installed
                // from an earlier `filterload`/`filteradd`.
                let rest = (capacity - size) as u32;
                drop(budget.clone().acquire_many_owned(rest).await.map_err(|_| Exit::quiet("closing"))?);
            }
            r.handle(msg, permit).await?;
        }
    }
    .await;
    env.local_nonces.lock().unwrap_or_else(|p| p.into_inner()).remove(&our_nonce);
    match exit {
        Ok(()) => Exit::quiet("closed"),
        Err(e) => e,
    }
}

/// Whether a message is a `getdata` asking for a filtered block (BIP37 MSG_FILTERED_BLOCK).
fn asks_filtered_block(msg: &NetworkMessage) -> bool {
    matches!(msg, NetworkMessage::GetData(items) if items.iter().any(|i| matches!(i, Inventory::Unknown { inv_type: super::bloom::MSG_FILTERED_BLOCK, .. })))
}

fn frame_exit(e: FrameError) -> Exit {
    let ban = e.is_misbehaviour();
    Exit {
        reason: e.to_string(),
        ban,
    }
}

//! The peer-to-peer layer: Bitcoin's wire protocol over tokio TCP, with messages from
//! rust-bitcoin's `p2p` module.
//!
//! One concept per file: [`codec`] (framing, limits), [`peer`] (one connection: handshake, ping,
//! serving), [`addrman`] (address tables), [`addr_cache`] (cached `getaddr` answers), [`ban`] (persisted bans), [`discourage`] (misbehaving addresses, in memory), [`sync`] (headers-first
//! download scheduling), [`relay`] (transaction relay state), [`orphans`] (the orphan pool), [`seeds`] (DNS seeds), [`compact_blocks`] (BIP152 encoding
//! and reconstruction), [`compact_relay`] (BIP152 relay between peers).
//! The connection manager, the event loop owning peers, slots, dialer and listener, is one
//! struct whose `impl` is split by concern: [`manager`] (state, loop, dispatch), [`connections`]
//! (slots, dialer, eviction), [`header_sync`], [`block_download`], [`tx_relay`], [`addr_relay`].
//! Design and limits are described in docs/p2p.md.

pub mod addr_cache;
pub mod addr_relay;
pub mod addr_table;
pub mod addrman;
pub mod addrv2_check;
pub mod anchors;
pub mod ban;
pub mod block_download;
pub mod bloom;
pub mod bloom_relay;
pub mod cfilters;
pub mod codec;
pub mod compact_blocks;
pub mod compact_relay;
pub mod connections;
pub mod counting;
pub mod discourage;
pub mod eviction;
pub mod fee_filter;
pub mod fetch_block;
pub mod handshake_timer;
pub mod header_sync;
pub mod headers_presync;
pub mod initial_headers;
pub mod local_addr;
pub mod manager;
pub mod msg_stats;
pub mod node_link;
pub mod onion;
pub mod orphans;
pub mod outbound_eviction;
pub mod package_relay;
pub mod peer;
pub mod pruned_serving;
pub mod relay;
pub mod seeds;
pub mod self_announce;
pub mod stale_blocks;
pub mod sync;
pub mod transport;
pub mod tx_relay;
pub mod upload_target;
pub mod v2_message_ids;
pub mod v2_transport;
pub mod whitelist;

use crate::modules::api::PeerView;
use crate::sync::lock;
use ban::BanList;
use blvm_module::PeerInfo;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};

pub use manager::start;
pub use peer::{ConnType, PeerShared};

/// Node-local peer identifier (never reused while the process runs).
pub type PeerId = u64;

/// The protocol version we speak (Core 0.21+: wtxidrelay, sendaddrv2).
pub const PROTOCOL_VERSION: u32 = 70016;
/// Oldest peer protocol version we accept (as Core's MIN_PEER_PROTO_VERSION).
pub const MIN_PEER_PROTO_VERSION: u32 = 31800;
/// The version from which peers understand `wtxidrelay` (BIP339).
pub const WTXID_RELAY_VERSION: u32 = 70016;
/// The version from which peers understand `sendheaders` (BIP130).
pub const SENDHEADERS_VERSION: u32 = 70012;
/// `-uacomment` values, set once at startup (the user agent is process-wide, as Core's).
static UA_COMMENTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Sets the `-uacomment` values shown in our user agent; only the first call has an effect.
pub fn set_user_agent_comments(comments: Vec<String>) {
    let _ = UA_COMMENTS.set(comments);
}

/// Our user agent, in BIP14 form with comments as Core: `/blvm:0.1.0(c1; c2)/`.
pub fn user_agent() -> String {
    match UA_COMMENTS.get().filter(|c| !c.is_empty()) {
        Some(c) => format!("/blvm:{}({})/", env!("CARGO_PKG_VERSION"), c.join("; ")),
        None => format!("/blvm:{}/", env!("CARGO_PKG_VERSION")),
    }
}

/// Settings of the P2P layer (from `-listen -port -bind -connect -addnode -seednode
/// -maxconnections -dnsseed -bantime -peertimeout`).
#[derive(Debug, Clone)]
pub struct P2pSettings {
    /// Accept inbound connections.
    pub listen: bool,
    /// Addresses to listen on (port 0 = an ephemeral port, logged and reported by RPC).
    pub bind: Vec<SocketAddr>,
    /// `-bind`/`-port` were given: failing to bind is fatal (otherwise a warning, and the node
    /// runs without listening, so several default nodes can share a machine).
    pub bind_explicit: bool,
    /// `-connect`: connect only to these (no automatic outbound connections when non-empty).
    pub connect: Vec<String>,
    /// `-addnode`: keep a connection to these in addition to automatic ones.
    pub addnode: Vec<String>,
    /// `-seednode`: connect, ask for addresses, disconnect.
    pub seednode: Vec<String>,
    /// Query DNS seeds when the address manager is empty.
    pub dnsseed: bool,
    /// Total connection limit (inbound + outbound).
    pub max_connections: usize,
    /// Automatic outbound full-relay connections.
    pub max_outbound_full_relay: usize,
    /// Automatic outbound block-relay-only connections.
    pub max_outbound_block_relay: usize,
    /// Default ban duration of `setban` without a time.
    pub ban_time: Duration,
    /// Handshake deadline, and the time one started message may take to arrive (slowloris).
    pub peer_timeout: Duration,
    /// No message at all for this long disconnects the peer.
    pub inactivity_timeout: Duration,
    /// Interval between pings.
    pub ping_interval: Duration,
    /// A ping not answered within this long disconnects the peer.
    pub ping_timeout: Duration,
    /// Initial block stall timeout (doubles after each stall, up to 64 s).
    pub stall_timeout: Duration,
    /// Mean interval of transaction announcements to inbound peers (outbound: half of it).
    pub trickle_interval: Duration,
    /// Per-peer budget of received but not yet processed message bytes.
    pub recv_budget: usize,
    /// Interval between progress lines while syncing.
    pub progress_interval: Duration,
    /// Mean interval between feeler connections.
    pub feeler_interval: Duration,
    /// Header chains with less work (and not near our tip) are pre-synced before being stored.
    pub minimum_chain_work: bitcoin::Work,
    /// Peers from these subnets have these permissions (`-whitelist`).
    pub whitelist: Vec<whitelist::WhitelistEntry>,
    /// Extra listening addresses whose peers have these permissions (`-whitebind`).
    pub whitebind: Vec<whitelist::WhitebindEntry>,
    /// What the implicit grant (an entry without `@`) includes.
    pub implicit_relay: whitelist::ImplicitRelay,
    /// `-blocksonly`: we ask for no transactions (version relay flag false, no `feefilter`) and
    /// disconnect peers without the relay permission that send them (Core's ignore_incoming_txs).
    pub blocks_only: bool,
    /// `-peerbloomfilters`: BIP37 bloom filters are served to every peer and NODE_BLOOM offered.
    pub peer_bloom_filters: bool,
    /// `-peerblockfilters`: BIP157 filters served to peers, NODE_COMPACT_FILTERS advertised.
    pub peer_block_filters: bool,
    /// `-maxuploadtarget` in bytes per 24 h (0: none).
    pub max_upload_target: u64,
    /// `-prune` is on: advertise NODE_NETWORK_LIMITED without NODE_NETWORK and serve only the
    /// last 288 (+2) blocks, as Core.
    pub prune_mode: bool,
    /// `-v2transport`: BIP324 encrypted transport is offered (NODE_P2P_V2) and used.
    pub v2transport: bool,
    /// `-logips`: peer log lines name the peer's address (Core's `peer=N, peeraddr=...`).
    pub log_ips: bool,
    /// A tip older than this keeps the node in initial block download (`-maxtipage`).
    pub max_tip_age: Duration,
    /// Percentage of the inbound slots transaction-relaying peers may hold
    /// (`-inboundrelaypercent`, 0..=100); the rest are for block-relay-only peers.
    pub inbound_relay_percent: usize,
    /// Our public addresses (`-externalip`), listed and announced to peers.
    pub external: Vec<local_addr::LocalAddr>,
    /// `-onlynet`: networks ("ipv4", "ipv6") automatic outbound connections go to (empty: all).
    pub onlynet: Vec<String>,
}

impl P2pSettings {
    /// Core's RejectIncomingTxs: block-relay-only, feeler and addr-fetch peers may never send us
    /// transactions, and under `-blocksonly` only peers with the relay permission may. Also our
    /// `version` relay flag (false exactly when we reject).
    pub fn rejects_incoming_txs(&self, conn_type: peer::ConnType, perms: whitelist::Permissions) -> bool {
        !conn_type.relays_txs() || (self.blocks_only && !perms.relay)
    }

    /// Whether we offer BIP37 bloom filters (NODE_BLOOM) to a peer holding `perms`: with
    /// `-peerbloomfilters`, or to a peer with the bloomfilter permission (as Core, which adds
    /// NODE_BLOOM to that peer's services). Filter messages from anyone else disconnect.
    pub fn offers_bloom(&self, perms: whitelist::Permissions) -> bool {
        self.peer_bloom_filters || perms.bloomfilter
    }

    /// The permissions of a peer at `ip` (Core's AddWhitelistPermissionFlags): for an inbound
    /// one those of the `-whitebind` address it connected to (`local`) plus the inbound
    /// `-whitelist` entries covering it; for an outbound one the `out` entries covering it.
    /// Worked out once per connection.
    pub fn permissions(&self, ip: std::net::IpAddr, inbound: bool, local: Option<SocketAddr>) -> whitelist::Permissions {
        let bound = self.whitebind.iter().filter(|b| inbound && Some(b.addr) == local).map(|b| b.grant);
        let listed = self
            .whitelist
            .iter()
            .filter(|w| if inbound { w.inbound } else { w.outbound } && w.subnet.contains(ip))
            .map(|w| w.grant);
        bound.chain(listed).fold(whitelist::Permissions::default(), |acc, g| {
            acc.union(g.resolve(self.implicit_relay))
        })
    }

    /// Defaults for a node on `default_port` (bind 127.0.0.1 on regtest, all interfaces elsewhere).
    pub fn new(regtest: bool, default_port: u16) -> Self {
        let ip: std::net::IpAddr = if regtest { [127, 0, 0, 1].into() } else { [0, 0, 0, 0].into() };
        P2pSettings {
            listen: true,
            bind: vec![SocketAddr::new(ip, default_port)],
            bind_explicit: false,
            connect: Vec::new(),
            addnode: Vec::new(),
            seednode: Vec::new(),
            dnsseed: !regtest,
            max_connections: 125,
            max_outbound_full_relay: 8,
            max_outbound_block_relay: 2,
            ban_time: Duration::from_secs(24 * 3600),
            peer_timeout: Duration::from_secs(60),
            inactivity_timeout: Duration::from_secs(20 * 60),
            ping_interval: Duration::from_secs(120),
            ping_timeout: Duration::from_secs(20 * 60),
            stall_timeout: Duration::from_secs(5),
            trickle_interval: Duration::from_secs(5),
            recv_budget: 5_000_000 + codec::MAX_PROTOCOL_MESSAGE_LENGTH,
            progress_interval: Duration::from_secs(5),
            feeler_interval: Duration::from_secs(120),
            minimum_chain_work: bitcoin::Work::from_be_bytes([0; 32]),
            max_tip_age: Duration::from_secs(24 * 3600),
            whitelist: Vec::new(),
            whitebind: Vec::new(),
            implicit_relay: whitelist::ImplicitRelay {
                relay: true,
                forcerelay: false,
            },
            blocks_only: false,
            peer_bloom_filters: false,
            peer_block_filters: false,
            max_upload_target: 0,
            prune_mode: false,
            v2transport: false,
            log_ips: false,
            inbound_relay_percent: 50,
            external: Vec::new(),
            onlynet: Vec::new(),
        }
    }
}

/// A request from RPC to the connection manager.
#[derive(Debug)]
pub enum Command {
    /// `addnode add|onetry`: connect to this address (kept when `permanent`).
    AddNode {
        /// "host:port".
        addr: String,
        /// Keep reconnecting (`add`) rather than once (`onetry`).
        permanent: bool,
        /// Try the BIP324 v2 transport first.
        v2: bool,
        /// Result.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// `addconnection` (regtest): one outbound connection of a given type, if below that type's
    /// limit.
    AddConnection {
        /// "host:port".
        addr: String,
        /// The connection type.
        conn_type: ConnType,
        /// Try the BIP324 v2 transport first.
        v2: bool,
        /// Whether the connection was started (false: at capacity for this type).
        reply: oneshot::Sender<bool>,
    },
    /// `addnode remove`.
    RemoveNode {
        /// "host:port".
        addr: String,
        /// Result.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Disconnect peers matching an address or id.
    Disconnect {
        /// By address.
        addr: Option<SocketAddr>,
        /// By id.
        id: Option<PeerId>,
        /// Whether any peer matched.
        reply: oneshot::Sender<bool>,
    },
    /// Disconnect every peer inside a banned subnet.
    EnforceBans,
    /// The clock was moved (`setmocktime`): run the headers-sync timeout check now, then
    /// reply, so the caller sees its effect as with Core.
    ClockChanged {
        /// The new mock time (0: the system clock), set by the manager once everything that
        /// happened before the call (queued peer events, a new tip) was handled at the old time.
        time: i64,
        /// Sent once the timers ran.
        reply: oneshot::Sender<()>,
    },
    /// `sendrawtransaction` accepted a transaction, or found it (or one with the same
    /// non-witness data) in the mempool: queue new entries' announcements and this one's to every
    /// peer that does not know it yet, then reply, as Core's BroadcastTransaction.
    RelayTx {
        /// The transaction's txid (its pool entry gives the wtxid announced).
        txid: bitcoin::Txid,
        /// Sent once the announcements are queued.
        reply: oneshot::Sender<()>,
    },
    /// `getnodeaddresses`: up to `count` (0 = all) known, not terrible addresses, shuffled.
    NodeAddresses {
        /// Maximum number of addresses (0 = no limit).
        count: usize,
        /// The addresses.
        reply: oneshot::Sender<Vec<addrman::AddrInfo>>,
    },
    /// `getorphantxs`: the orphan pool, in wtxid order, with each orphan's announcers.
    OrphanTxs {
        /// The orphans.
        reply: oneshot::Sender<Vec<orphans::Orphan>>,
    },
    /// `addpeeraddress`: an address announced by itself goes to the new table, then to tried
    /// when asked.
    AddPeerAddress {
        /// The address.
        addr: SocketAddr,
        /// Also move it to the tried table.
        tried: bool,
        /// Ok, or Core's error string ("failed-adding-to-new", "failed-adding-to-tried").
        reply: oneshot::Sender<Result<(), &'static str>>,
    },
    /// `getblockfrompeer`: request a block whose header is known from one peer.
    FetchBlock {
        /// The block.
        hash: bitcoin::BlockHash,
        /// The peer to ask.
        peer: PeerId,
        /// Ok once requested, or Core's error message.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// `getaddrmaninfo`: (network, new, tried) counts.
    AddrmanInfo {
        /// The counts, Core's networks then `all_networks`.
        reply: oneshot::Sender<Vec<(&'static str, usize, usize)>>,
    },
}

/// Byte counters for `getnettotals`.
#[derive(Debug, Default)]
pub struct Totals {
    /// Bytes received from all peers.
    pub recv: AtomicU64,
    /// Bytes sent to all peers.
    pub sent: AtomicU64,
    /// `-maxuploadtarget` and the bytes sent in its current cycle.
    pub upload: upload_target::UploadTarget,
}

impl Totals {
    /// Counts `n` bytes sent to a peer, in the total and in the upload cycle.
    pub fn record_sent(&self, n: usize) {
        self.sent.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        self.upload.record(n as u64, crate::clock::unix_now());
    }
}

/// The P2P layer's shared state: what RPC, modules and the connection manager all see.
pub struct Net {
    settings: Option<P2pSettings>,
    peers: Mutex<BTreeMap<PeerId, Arc<PeerShared>>>,
    bans: Mutex<BanList>,
    discouraged: Mutex<discourage::Discouraged>,
    totals: Arc<Totals>,
    commands: OnceLock<mpsc::Sender<Command>>,
    tip_changed: Notify,
    listening: Mutex<Vec<SocketAddr>>,
    added: Mutex<Vec<String>>,
    active: AtomicBool,
    enabled: AtomicBool,
    height: std::sync::atomic::AtomicU32,
    /// Serving only recent blocks because the chainstate is a snapshot not yet validated.
    snapshot_limited: AtomicBool,
}

impl Net {
    /// Shared state for a node; loads `banlist.json` from `net_dir` (a damaged file is logged
    /// and ignored).
    pub fn new(settings: Option<P2pSettings>, net_dir: &Path) -> Self {
        let bans = BanList::load(&net_dir.join("banlist.json"));
        let added = settings.as_ref().map(|s| s.addnode.clone()).unwrap_or_default();
        let totals = Totals::default();
        totals.upload.set_limit(settings.as_ref().map_or(0, |s| s.max_upload_target));
        Net {
            settings,
            peers: Mutex::new(BTreeMap::new()),
            bans: Mutex::new(bans),
            discouraged: Mutex::new(discourage::Discouraged::default()),
            totals: Arc::new(totals),
            commands: OnceLock::new(),
            tip_changed: Notify::new(),
            listening: Mutex::new(Vec::new()),
            added: Mutex::new(added),
            active: AtomicBool::new(false),
            enabled: AtomicBool::new(true),
            height: std::sync::atomic::AtomicU32::new(0),
            snapshot_limited: AtomicBool::new(false),
        }
    }

    /// The P2P settings (None: P2P disabled).
    pub fn settings(&self) -> Option<&P2pSettings> {
        self.settings.as_ref()
    }

    /// Whether automatic outbound connections may go to `ip`'s network (`-onlynet`), and
    /// `getnetworkinfo`'s `reachable`.
    pub fn is_reachable(&self, ip: std::net::IpAddr) -> bool {
        let name = if ip.to_canonical().is_ipv4() { "ipv4" } else { "ipv6" };
        self.settings
            .as_ref()
            .is_none_or(|s| s.onlynet.is_empty() || s.onlynet.iter().any(|n| n == name))
    }

    /// Whether the connection manager is running and networking is enabled
    /// (`getnetworkinfo.networkactive`).
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst) && self.network_enabled()
    }

    /// Whether networking is enabled (`setnetworkactive`); while false no connection is made
    /// or accepted.
    pub fn network_enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// `setnetworkactive`: turning networking off drops every connection at once.
    pub fn set_network_enabled(&self, on: bool) {
        let was = self.enabled.swap(on, Ordering::SeqCst);
        if was != on {
            tracing::info!(target: "blvm::net", active = on, "setnetworkactive");
        }
        if !on {
            for p in self.peer_list() {
                p.disconnect("network disabled (setnetworkactive false)");
            }
        }
    }

    /// Called by the node whenever the active chain changed (new tip, reorg).
    pub fn notify_tip(&self) {
        self.tip_changed.notify_one();
    }

    /// Connected peers (handshake complete or not), by id.
    pub fn peer_list(&self) -> Vec<Arc<PeerShared>> {
        lock(&self.peers).values().cloned().collect()
    }

    /// Number of connections.
    pub fn connection_count(&self) -> (usize, usize) {
        let peers = lock(&self.peers);
        let inbound = peers.values().filter(|p| p.inbound).count();
        (inbound, peers.len() - inbound)
    }

    /// Addresses the listener is bound to.
    pub fn listening(&self) -> Vec<SocketAddr> {
        lock(&self.listening).clone()
    }

    /// Network byte totals.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// The ban list.
    pub fn bans(&self) -> MutexGuard<'_, BanList> {
        lock(&self.bans)
    }

    /// Addresses of peers that misbehaved recently.
    pub fn discouraged(&self) -> MutexGuard<'_, discourage::Discouraged> {
        lock(&self.discouraged)
    }

    /// Whether connections to/from `ip` are refused (banned) or unwelcome (discouraged).
    pub fn is_banned_or_discouraged(&self, ip: std::net::IpAddr) -> bool {
        self.bans().is_banned(ip) || self.discouraged().contains(ip)
    }

    /// `-addnode` entries and those added by RPC.
    pub fn added_nodes(&self) -> Vec<String> {
        lock(&self.added).clone()
    }

    /// Sends a command to the connection manager.
    pub async fn command(&self, c: Command) -> Result<(), String> {
        let tx = self.commands.get().ok_or_else(|| "P2P networking is disabled".to_string())?;
        tx.send(c).await.map_err(|_| "P2P networking is shutting down".to_string())
    }

    /// Asks every peer's connection for a ping now (the `ping` RPC).
    pub fn ping_all(&self) {
        for p in self.peer_list() {
            p.request_ping();
        }
    }

    pub(crate) fn register_peer(&self, p: Arc<PeerShared>) {
        lock(&self.peers).insert(p.id, p);
    }

    pub(crate) fn unregister_peer(&self, id: PeerId) {
        lock(&self.peers).remove(&id);
    }

    /// Whether the node advertises NODE_NETWORK_LIMITED without NODE_NETWORK: `-prune`, or a
    /// snapshot chainstate not yet validated (Core drops NODE_NETWORK after `loadtxoutset`).
    pub fn serves_limited(&self) -> bool {
        self.settings.as_ref().is_some_and(|s| s.prune_mode) || self.snapshot_limited.load(Ordering::Relaxed)
    }

    /// Records that the chainstate is (or is no longer) an unvalidated snapshot.
    pub fn set_snapshot_limited(&self, limited: bool) {
        self.snapshot_limited.store(limited, Ordering::Relaxed);
    }

    /// Active chain height as last seen by the connection manager (sent in `version`).
    pub fn height(&self) -> u32 {
        self.height.load(Ordering::Relaxed)
    }

    pub(crate) fn set_height(&self, h: u32) {
        self.height.store(h, Ordering::Relaxed);
    }

    pub(crate) fn set_listening(&self, addrs: Vec<SocketAddr>) {
        *lock(&self.listening) = addrs;
    }

    pub(crate) fn set_added(&self, v: Vec<String>) {
        *lock(&self.added) = v;
    }

    pub(crate) fn totals_arc(&self) -> Arc<Totals> {
        self.totals.clone()
    }
}

impl PeerView for Net {
    fn peers(&self) -> Vec<PeerInfo> {
        self.peer_list()
            .into_iter()
            .map(|p| {
                let info = p.info();
                PeerInfo {
                    id: p.id,
                    addr: p.addr.to_string(),
                    inbound: p.inbound,
                    version: info.as_ref().map(|i| i.version).unwrap_or(0),
                    subver: info.as_ref().map(|i| i.user_agent.clone()).unwrap_or_default(),
                    height: info
                        .as_ref()
                        .map(|i| i.start_height.max(0) as u64)
                        .unwrap_or(0)
                        .max(p.synced_height().max(0) as u64),
                }
            })
            .collect()
    }
}

//! The connection manager: one task owning every peer's protocol state, the connection slots,
//! the outbound dialer (`-connect`, `-addnode`, `-seednode`, automatic and feeler connections),
//! the inbound listener (`-listen`, `-port`, `-bind`) with eviction, bans, block sync and relay.

use super::addrman::{self, AddrMan};
use super::ban;
use super::codec;
use super::fee_filter::{FeeFilterRounder, PeerFeeFilter, FEEFILTER_VERSION};
use super::headers_presync::{ChainStart, HeadersPresync, PresyncRules};
use super::initial_headers::{Deadline, InitialHeadersSync, PeerHeadersSync, Stalled};
use super::orphans::Orphans;
use super::peer::{self, ConnType, Event, PeerEnv, PeerHandle, VersionInfo};
use super::relay::{self, PeerRelay};
use super::sync::{self, BlockSync, HeadersOutcome, PeerSync};
use super::{Command, Net, P2pSettings, PeerId};
use crate::chain::manager::MIN_BLOCKS_TO_KEEP;
use crate::chain::{BlockOutcome, ChainManager};
use crate::mempool::entry::feerate_per_kvb;
use crate::node::Node;
use bitcoin::block::Header;
use bitcoin::hashes::Hash;
use bitcoin::p2p::address::{AddrV2, AddrV2Message, Address};
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::{GetHeadersMessage, Inventory};
use bitcoin::p2p::{Magic, ServiceFlags};
use bitcoin::{Block, BlockHash, Network, Work};
use blvm_module::EventPayload;
use bytes::Bytes;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Announcements by `headers` carry at most this many headers; longer runs use `inv`.
pub const MAX_BLOCKS_TO_ANNOUNCE: usize = 8;
/// Connection attempt timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Wait between attempts to reach a `-connect`/`-addnode` peer.
pub const MANUAL_RETRY: Duration = Duration::from_secs(2);
/// Addr-fetch connections are closed after this long at the latest.
pub const ADDR_FETCH_TIMEOUT: Duration = Duration::from_secs(120);
/// Addresses a peer may send per second (token bucket refill), as Core's MAX_ADDR_RATE_PER_SECOND.
pub const ADDR_RATE: f64 = 0.1;
/// Transactions are served from a peer's `getdata` queue only while less than this many bytes
/// wait in its send queue (Core's send-buffer pause); the rest waits for the peer to read.
pub const GETDATA_SEND_PAUSE: usize = 1_000_000;
/// Items waiting in one peer's `getdata` queue (one full `getdata`); more are dropped.
pub const MAX_GETDATA_QUEUE: usize = codec::MAX_INV_SIZE;
/// A `getheaders` unanswered for this long no longer blocks the next one (Core's
/// HEADERS_RESPONSE_TIME, on the mockable clock).
pub const HEADERS_RESPONSE_TIME_MS: i64 = 2 * 60 * 1000;

struct Peer {
    handle: PeerHandle,
    conn_type: ConnType,
    ready: bool,
    published: bool,
    info: Option<VersionInfo>,
    sync: PeerSync,
    relay: PeerRelay,
    prefers_headers: bool,
    target: Option<String>,
    addr_tokens: f64,
    addr_refill: Instant,
    answered_getaddr: bool,
    connected: Instant,
    /// Pre-sync of a low-work header chain this peer is serving (at most one).
    presync: Option<Box<HeadersPresync>>,
    /// Whether and since when we sync headers with it (Core's fSyncStarted and timeout).
    headers_sync: PeerHeadersSync,
    /// The `feefilter` we sent it and when the next is due.
    fee_filter: PeerFeeFilter,
    /// Transaction `getdata` items not served yet (each item once).
    getdata: VecDeque<Inventory>,
    getdata_queued: HashSet<Inventory>,
}

impl Peer {
    fn addr(&self) -> SocketAddr {
        self.handle.shared.addr
    }
}

enum Async {
    Dialed {
        target: String,
        conn_type: ConnType,
        result: Result<(TcpStream, SocketAddr), String>,
    },
    Seeds(Vec<SocketAddr>),
}

struct Manager {
    node: Weak<Node>,
    net: Arc<Net>,
    env: Arc<PeerEnv>,
    s: P2pSettings,
    network: Network,
    default_port: u16,
    peers: HashMap<PeerId, Peer>,
    next_id: PeerId,
    addrman: AddrMan,
    sync: BlockSync,
    initial_headers: InitialHeadersSync,
    fee_rounder: FeeFilterRounder,
    orphans: Orphans,
    dialing: HashSet<String>,
    manual_retry: HashMap<String, Instant>,
    onetry: Vec<String>,
    last_tip: BlockHash,
    next_feeler: Instant,
    dns_done: bool,
    seeds_done: bool,
    async_tx: mpsc::Sender<Async>,
    last_save: Instant,
    last_sweep: Instant,
    tx_requested: HashMap<[u8; 32], (PeerId, Instant)>,
    rejects: relay::RollingSet,
    mempool_seen: u64,
    mempool_updates: u64,
}

/// Binds the listeners, starts the connection manager, and returns its task (which ends, with
/// every connection closed and the address manager saved, when `stop` fires).
pub async fn start(node: &Arc<Node>, stop: watch::Receiver<bool>) -> Result<JoinHandle<()>, String> {
    let net = node.net();
    let s = net.settings().cloned().ok_or_else(|| "P2P networking is disabled".to_string())?;
    let params = node.settings().params.clone();
    let mut listeners = Vec::new();
    if s.listen {
        for b in &s.bind {
            match TcpListener::bind(b).await {
                Ok(l) => listeners.push(l),
                Err(e) if s.bind_explicit => return Err(format!("cannot bind P2P listener on {b}: {e}")),
                Err(e) => {
                    tracing::warn!(target: "blvm::net", "cannot listen on {b}: {e}; running without inbound connections (use -port or -bind to choose another address)")
                }
            }
        }
    }
    let bound: Vec<SocketAddr> = listeners.iter().filter_map(|l| l.local_addr().ok()).collect();
    for a in &bound {
        tracing::info!(target: "blvm::net", "P2P listening on {a}");
    }
    net.set_listening(bound);
    let (events_tx, events_rx) = mpsc::channel(1024);
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (accept_tx, accept_rx) = mpsc::channel(64);
    let (async_tx, async_rx) = mpsc::channel(64);
    net.commands.set(cmd_tx).map_err(|_| "P2P networking already started".to_string())?;
    let env = Arc::new(PeerEnv {
        magic: Magic::from_bytes(params.magic()),
        settings: s.clone(),
        node: Arc::downgrade(node),
        events: events_tx,
        local_nonces: Mutex::new(HashSet::new()),
        totals: net.totals_arc(),
    });
    let regtest = params.network == Network::Regtest;
    let (sync_state, tip) = {
        let c = node.chain_ref().lock().unwrap_or_else(|p| p.into_inner());
        net.set_height(c.height());
        (BlockSync::new(&c, s.stall_timeout), c.tip().hash)
    };
    let mgr = Manager {
        node: Arc::downgrade(node),
        net: net.clone(),
        env,
        network: params.network,
        default_port: params.default_port,
        peers: HashMap::new(),
        next_id: 0,
        addrman: AddrMan::load(&node.settings().net_dir.join("peers.json"), regtest),
        sync: sync_state,
        initial_headers: InitialHeadersSync::default(),
        fee_rounder: FeeFilterRounder::new(node.mempool().settings().incremental_relay_feerate),
        orphans: Orphans::default(),
        dialing: HashSet::new(),
        manual_retry: HashMap::new(),
        onetry: Vec::new(),
        last_tip: tip,
        next_feeler: Instant::now() + s.feeler_interval,
        dns_done: !s.dnsseed || !s.connect.is_empty(),
        seeds_done: false,
        async_tx,
        last_save: Instant::now(),
        last_sweep: Instant::now(),
        tx_requested: HashMap::new(),
        rejects: relay::RollingSet::new(50_000),
        mempool_seen: mempool_seen(node),
        mempool_updates: u64::MAX,
        s,
    };
    net.active.store(true, std::sync::atomic::Ordering::SeqCst);
    Ok(tokio::spawn(async move {
        let mut accepts = tokio::task::JoinSet::new();
        for l in listeners {
            let tx = accept_tx.clone();
            let mut stop = stop.clone();
            accepts.spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        r = l.accept() => match r {
                            Ok((sock, addr)) => {
                                if tx.send((sock, addr)).await.is_err() {
                                    break;
                                }
                            }
                            Err(e) => {
                                tracing::warn!(target: "blvm::net", "accept failed: {e}");
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                    }
                }
            });
        }
        drop(accept_tx);
        mgr.run(events_rx, cmd_rx, accept_rx, async_rx, stop).await;
        accepts.shutdown().await;
    }))
}

/// Highest entry sequence already in the mempool at startup (those are not announced again).
fn mempool_seen(node: &Arc<Node>) -> u64 {
    node.mempool().pool().entries().map(|e| e.sequence).max().unwrap_or(0)
}

fn encode(magic: Magic, msg: NetworkMessage) -> Bytes {
    Bytes::from(codec::encode(magic, msg))
}

impl Manager {
    async fn run(
        mut self,
        mut events: mpsc::Receiver<Event>,
        mut commands: mpsc::Receiver<Command>,
        mut accepts: mpsc::Receiver<(TcpStream, SocketAddr)>,
        mut asyncs: mpsc::Receiver<Async>,
        mut stop: watch::Receiver<bool>,
    ) {
        let net = self.net.clone();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.seed_and_dial();
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                Some(ev) = events.recv() => self.on_event(ev).await,
                Some(c) = commands.recv() => self.on_command(c),
                Some((sock, addr)) = accepts.recv() => self.on_inbound(sock, addr),
                Some(a) = asyncs.recv() => self.on_async(a),
                _ = net.tip_changed.notified() => self.on_tip_changed(),
                _ = tick.tick() => self.on_tick(),
            }
            if *stop.borrow() {
                break;
            }
        }
        // Close every connection, wait (bounded) for their tasks, save state.
        for p in self.peers.values() {
            p.handle.shared.disconnect("node shutting down");
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while !self.peers.is_empty() {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(Event::Closed { id, reason, .. })) => self.on_closed(id, reason, false),
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        self.addrman.save();
        self.net.bans().save();
        self.net.active.store(false, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(target: "blvm::net", "P2P stopped");
    }

    fn node(&self) -> Option<Arc<Node>> {
        self.node.upgrade()
    }

    fn magic(&self) -> Magic {
        self.env.magic
    }

    fn send(&self, id: PeerId, msg: NetworkMessage) {
        if let Some(p) = self.peers.get(&id) {
            p.handle.send_frame(encode(self.magic(), msg));
        }
    }

    fn connect_mode(&self) -> bool {
        !self.s.connect.is_empty()
    }

    fn outbound_reserved(&self) -> usize {
        let added = self.net.added_nodes().len();
        let r = if self.connect_mode() {
            self.s.connect.len() + added
        } else {
            self.s.max_outbound_full_relay + self.s.max_outbound_block_relay + 1 + added
        };
        r.min(self.s.max_connections)
    }

    fn max_inbound(&self) -> usize {
        self.s.max_connections.saturating_sub(self.outbound_reserved())
    }

    // ---- connections -------------------------------------------------------------------

    fn register(&mut self, sock: TcpStream, addr: SocketAddr, conn_type: ConnType, target: Option<String>) -> PeerId {
        // As Core, peer ids count from 0.
        let id = self.next_id;
        self.next_id += 1;
        let handle = peer::spawn(sock, id, addr, conn_type, self.env.clone());
        self.net.register_peer(handle.shared.clone());
        tracing::debug!(target: "blvm::net", "Added connection peer={id}");
        tracing::debug!(target: "blvm::net", peer = id, %addr, kind = conn_type.as_str(), "connection established");
        self.peers.insert(
            id,
            Peer {
                handle,
                conn_type,
                ready: false,
                published: false,
                info: None,
                sync: PeerSync::default(),
                relay: PeerRelay::new(false, false),
                prefers_headers: false,
                target,
                addr_tokens: 1.0,
                addr_refill: Instant::now(),
                answered_getaddr: false,
                connected: Instant::now(),
                presync: None,
                headers_sync: PeerHeadersSync::default(),
                fee_filter: PeerFeeFilter::default(),
                getdata: VecDeque::new(),
                getdata_queued: HashSet::new(),
            },
        );
        id
    }

    fn on_inbound(&mut self, sock: TcpStream, addr: SocketAddr) {
        if !self.net.network_enabled() {
            tracing::debug!(target: "blvm::net", %addr, "refused inbound connection: network disabled");
            return;
        }
        if self.net.bans().is_banned(addr.ip()) {
            tracing::info!(target: "blvm::net", %addr, "refused inbound connection from banned address");
            return;
        }
        let inbound = self.peers.values().filter(|p| p.conn_type == ConnType::Inbound).count();
        // As Core: a discouraged address gets a slot only while slots are plentiful.
        if inbound + 1 >= self.max_inbound() && self.net.discouraged().contains(addr.ip()) {
            tracing::debug!(target: "blvm::net", %addr, "connection from {addr} dropped (discouraged)");
            return;
        }
        if inbound >= self.max_inbound() {
            match self.select_eviction() {
                Some(victim) => {
                    if let Some(p) = self.peers.get(&victim) {
                        tracing::info!(target: "blvm::net", peer = victim, addr = %p.addr(), "evicting inbound peer to make room for {addr}");
                        p.handle.shared.disconnect("evicted to make room for a new inbound connection");
                    }
                }
                None => {
                    tracing::info!(target: "blvm::net", %addr, "refused inbound connection: all inbound slots are full and no peer can be evicted");
                    return;
                }
            }
        }
        self.register(sock, addr, ConnType::Inbound, None);
    }

    /// Core's eviction: protect the best peers by ping, by recent blocks, by recent
    /// transactions and by connection age; then evict the newest connection of the network
    /// group with the most connections.
    fn select_eviction(&self) -> Option<PeerId> {
        let mut cands: Vec<&Peer> = self
            .peers
            .values()
            .filter(|p| p.conn_type == ConnType::Inbound && !p.handle.shared.is_closing())
            .collect();
        fn protect<F: Fn(&&Peer) -> K, K: Ord>(c: &mut Vec<&Peer>, n: usize, key: F) {
            c.sort_by_key(|p| std::cmp::Reverse(key(p)));
            let keep = c.len().saturating_sub(n);
            c.drain(..c.len() - keep);
        }
        protect(&mut cands, 4, |p| {
            std::cmp::Reverse(p.handle.shared.min_ping().unwrap_or(Duration::MAX))
        });
        protect(&mut cands, 4, |p| {
            p.handle.shared.last_tx_time.load(std::sync::atomic::Ordering::Relaxed)
        });
        protect(&mut cands, 4, |p| {
            p.handle.shared.last_block_time.load(std::sync::atomic::Ordering::Relaxed)
        });
        let half = cands.len() / 2;
        protect(&mut cands, half, |p| std::cmp::Reverse(p.connected));
        if cands.is_empty() {
            return None;
        }
        // Discouraged peers go first (Core's m_prefer_evict).
        {
            let d = self.net.discouraged();
            if cands.iter().any(|p| d.contains(p.addr().ip())) {
                cands.retain(|p| d.contains(p.addr().ip()));
            }
        }
        let mut groups: HashMap<Vec<u8>, Vec<&Peer>> = HashMap::new();
        for p in cands {
            groups.entry(addrman::group(p.addr().ip())).or_default().push(p);
        }
        let biggest = groups
            .into_values()
            .max_by_key(|g| (g.len(), g.iter().map(|p| p.connected).max()))?;
        biggest.into_iter().max_by_key(|p| p.connected).map(|p| p.handle.shared.id)
    }

    fn dial(&mut self, target: String, conn_type: ConnType) {
        if !self.net.network_enabled() {
            return;
        }
        if !self.dialing.insert(target.clone()) {
            return;
        }
        let tx = self.async_tx.clone();
        let port = self.default_port;
        tokio::spawn(async move {
            let result = async {
                let addr = match target.parse::<SocketAddr>() {
                    Ok(a) => a,
                    Err(_) => {
                        let (host, p) = match target.rsplit_once(':') {
                            Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().unwrap_or(port)),
                            _ => (target.clone(), port),
                        };
                        super::seeds::resolve(&host, p)
                            .await
                            .into_iter()
                            .next()
                            .ok_or_else(|| format!("cannot resolve {target}"))?
                    }
                };
                match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                    Ok(Ok(s)) => Ok((s, addr)),
                    Ok(Err(e)) => Err(format!("connect to {addr}: {e}")),
                    Err(_) => Err(format!("connect to {addr}: timed out")),
                }
            }
            .await;
            let _ = tx.send(Async::Dialed { target, conn_type, result }).await;
        });
    }

    fn on_async(&mut self, a: Async) {
        match a {
            Async::Seeds(addrs) => {
                let now = ban::now();
                let entries: Vec<(SocketAddr, u64, i64)> = addrs
                    .into_iter()
                    .map(|a| (a, (ServiceFlags::NETWORK | ServiceFlags::WITNESS).to_u64(), now - 3 * 86_400))
                    .collect();
                let n = self.addrman.add(&entries, IpAddr::from([0, 0, 0, 0]), now);
                tracing::info!(target: "blvm::net", added = n, "addresses from DNS seeds");
            }
            Async::Dialed { target, conn_type, result } => {
                self.dialing.remove(&target);
                match result {
                    Ok((sock, addr)) => {
                        if !self.net.network_enabled() {
                            return;
                        }
                        let refused = if conn_type == ConnType::Manual {
                            self.net.bans().is_banned(addr.ip())
                        } else {
                            self.net.is_banned_or_discouraged(addr.ip())
                        };
                        if refused {
                            tracing::info!(target: "blvm::net", %addr, "not connecting to banned or discouraged address");
                            return;
                        }
                        if self.peers.values().any(|p| !p.handle.shared.inbound && p.addr() == addr) {
                            return;
                        }
                        self.addrman.attempt(&addr, ban::now());
                        let manual = matches!(conn_type, ConnType::Manual);
                        self.register(sock, addr, conn_type, manual.then_some(target));
                    }
                    Err(e) => {
                        tracing::debug!(target: "blvm::net", %target, kind = conn_type.as_str(), "outbound connection failed: {e}");
                        if let Ok(a) = target.parse::<SocketAddr>() {
                            self.addrman.attempt(&a, ban::now());
                        }
                        if conn_type == ConnType::Manual {
                            self.manual_retry.insert(target, Instant::now() + MANUAL_RETRY);
                        }
                    }
                }
            }
        }
    }

    fn seed_and_dial(&mut self) {
        for s in self.s.seednode.clone() {
            self.dial(s, ConnType::AddrFetch);
        }
        self.seeds_done = true;
        if !self.dns_done {
            self.dns_done = true;
            let (new, tried) = self.addrman.size();
            let seeds = super::seeds::dns_seeds(self.network);
            if new + tried < 1000 && !seeds.is_empty() {
                let tx = self.async_tx.clone();
                let port = self.default_port;
                tokio::spawn(async move {
                    let mut all = Vec::new();
                    for s in seeds {
                        all.extend(super::seeds::resolve(s, port).await);
                    }
                    let fixed = super::seeds::fixed_seeds(Network::Bitcoin);
                    if all.is_empty() {
                        all.extend(fixed);
                    }
                    let _ = tx.send(Async::Seeds(all)).await;
                });
            }
        }
        self.maintain_outbound();
    }

    fn manual_connected(&self, target: &str) -> bool {
        self.peers.values().any(|p| p.target.as_deref() == Some(target))
    }

    fn maintain_outbound(&mut self) {
        let now = Instant::now();
        let mut manual: Vec<String> = self.s.connect.clone();
        manual.extend(self.net.added_nodes());
        manual.append(&mut self.onetry);
        for t in manual {
            if self.manual_connected(&t) || self.dialing.contains(&t) || self.manual_retry.get(&t).is_some_and(|r| *r > now) {
                continue;
            }
            if let Ok(a) = t.parse::<SocketAddr>() {
                if self.net.bans().is_banned(a.ip()) {
                    continue;
                }
            }
            self.dial(t, ConnType::Manual);
        }
        if self.connect_mode() {
            return;
        }
        let count = |t: ConnType| self.peers.values().filter(|p| p.conn_type == t).count();
        let want_full = self.s.max_outbound_full_relay.saturating_sub(count(ConnType::OutboundFullRelay));
        let want_block = self.s.max_outbound_block_relay.saturating_sub(count(ConnType::BlockRelayOnly));
        let in_progress = self.dialing.len();
        let mut plan = Vec::new();
        if want_full > in_progress {
            plan.push(ConnType::OutboundFullRelay);
        } else if want_block > 0 && in_progress == 0 {
            plan.push(ConnType::BlockRelayOnly);
        } else if want_full == 0 && want_block == 0 && now >= self.next_feeler {
            self.next_feeler = now + relay::poisson_delay(self.s.feeler_interval);
            plan.push(ConnType::Feeler);
        }
        for kind in plan {
            let connected: HashSet<SocketAddr> = self.peers.values().map(|p| p.addr()).collect();
            let listening = self.net.listening();
            let bans = self.net.bans();
            let discouraged = self.net.discouraged();
            let pick = self.addrman.select(kind == ConnType::Feeler, ban::now(), |a| {
                connected.contains(a)
                    || listening.contains(a)
                    || bans.is_banned(a.ip())
                    || discouraged.contains(a.ip())
                    || self.dialing.contains(&a.to_string())
            });
            drop(bans);
            drop(discouraged);
            if let Some(a) = pick {
                self.dial(a.to_string(), kind);
            }
        }
    }

    fn on_closed(&mut self, id: PeerId, reason: String, ban_it: bool) {
        let Some(mut p) = self.peers.remove(&id) else { return };
        self.net.unregister_peer(id);
        self.initial_headers.peer_gone(&p.headers_sync);
        let released = self.sync.release(id, &mut p.sync);
        self.tx_requested.retain(|_, (pid, _)| *pid != id);
        let addr = p.addr();
        if ban_it {
            tracing::debug!(target: "blvm::net", "Misbehaving: peer={id}: {reason}");
            if p.conn_type == ConnType::Manual {
                tracing::warn!(target: "blvm::net", "Warning: not punishing manually connected peer {id}!");
            } else {
                self.discourage(id, addr);
            }
        }
        if let Some(t) = &p.target {
            self.manual_retry.insert(t.clone(), Instant::now() + MANUAL_RETRY);
        }
        if p.ready || ban_it {
            tracing::info!(target: "blvm::net", peer = id, %addr, kind = p.conn_type.as_str(), released, "peer disconnected: {reason}");
        } else {
            tracing::debug!(target: "blvm::net", peer = id, %addr, "connection closed before handshake: {reason}");
        }
        if p.published {
            if let Some(n) = self.node() {
                n.bus().publish(EventPayload::PeerDisconnected {
                    peer_id: id,
                    addr: addr.to_string(),
                    reason,
                });
            }
        }
        if released > 0 {
            self.schedule();
        }
    }

    /// Remembers a misbehaving peer's address as discouraged (memory only, bounded) and
    /// forgets what it sent us; `banlist.json` is left to the operator's `setban`.
    fn discourage(&mut self, id: PeerId, addr: SocketAddr) {
        tracing::info!(target: "blvm::net", %addr, "Disconnecting and discouraging peer {id}!");
        self.net.discouraged().insert(addr.ip());
        self.addrman.remove(&addr);
        self.orphans.erase_from(id);
    }

    /// Core's Misbehaving: the peer broke a protocol or consensus rule; it is disconnected and
    /// discouraged (Core dropped misbehaviour scores in v27: any misbehaviour counts), unless
    /// it is a manual connection.
    /// Returns whether the peer was disconnected (false for a peer that is kept).
    fn misbehaving(&mut self, id: PeerId, reason: &str) -> bool {
        let Some(p) = self.peers.get(&id) else { return false };
        if p.handle.shared.is_closing() {
            return true;
        }
        p.handle.shared.misbehavior.store(100, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(target: "blvm::net", peer = id, addr = %p.addr(), "Misbehaving: peer={id}: {reason}");
        // As Core: the operator chose a manual peer, so it is kept (and warned about).
        if p.conn_type == ConnType::Manual {
            tracing::warn!(target: "blvm::net", "Warning: not punishing manually connected peer {id}!");
            return false;
        }
        if self.is_noban(id) {
            tracing::warn!(target: "blvm::net", "Warning: not punishing noban peer {id}!");
            return false;
        }
        let addr = p.addr();
        p.handle.shared.disconnect(&format!("misbehaving: {reason}"));
        self.discourage(id, addr);
        true
    }

    /// Whether the peer has the noban permission (an inbound peer from a `-whitelist` subnet).
    fn is_noban(&self, id: PeerId) -> bool {
        self.peers
            .get(&id)
            .is_some_and(|p| p.conn_type == ConnType::Inbound && self.s.noban.iter().any(|n| n.contains(p.addr().ip())))
    }

    fn disconnect(&self, id: PeerId, reason: &str) {
        if let Some(p) = self.peers.get(&id) {
            p.handle.shared.disconnect(reason);
        }
    }

    // ---- events ------------------------------------------------------------------------

    async fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Ready { id, info } => self.on_ready(id, info),
            Event::Closed { id, reason, ban } => self.on_closed(id, reason, ban),
            Event::Message { id, msg, permit } => {
                if self.peers.get(&id).is_some_and(|p| p.ready && !p.handle.shared.is_closing()) {
                    self.on_message(id, msg).await;
                    self.check_headers_sync_of(id);
                }
                drop(permit);
            }
        }
    }

    fn on_ready(&mut self, id: PeerId, info: VersionInfo) {
        // Headers may have come from elsewhere (submitheader): start from the best one known.
        if let Some(node) = self.node() {
            let c = node.chain_ref().lock().unwrap_or_else(|p| p.into_inner());
            self.sync.on_new_header(&c, &c.best_header().hash);
        }
        let node = self.node();
        let Some(p) = self.peers.get_mut(&id) else { return };
        p.ready = true;
        p.published = true;
        p.relay = PeerRelay::new(p.conn_type.relays_txs() && info.relay, info.wtxid_relay);
        p.sync.witness = info.services & ServiceFlags::WITNESS.to_u64() != 0;
        p.info = Some(info.clone());
        let addr = p.addr();
        let kind = p.conn_type;
        tracing::info!(target: "blvm::net", peer = id, %addr, kind = kind.as_str(), version = info.version, agent = %info.user_agent, height = info.start_height, "peer connected");
        if let Some(n) = &node {
            n.bus().publish(EventPayload::PeerConnected {
                peer_id: id,
                addr: addr.to_string(),
                inbound: kind == ConnType::Inbound,
            });
        }
        if kind != ConnType::Inbound {
            self.addrman.good(&addr, info.services, ban::now());
        }
        match kind {
            ConnType::Feeler => {
                self.disconnect(id, "feeler connection completed");
                return;
            }
            ConnType::AddrFetch => return,
            _ => {}
        }
        self.maybe_start_headers_sync(id);
    }

    /// Whether the peer can serve blocks (NODE_NETWORK or NODE_NETWORK_LIMITED).
    fn can_serve_blocks(p: &Peer) -> bool {
        let flags = (ServiceFlags::NETWORK | ServiceFlags::NETWORK_LIMITED).to_u64();
        p.info.as_ref().is_some_and(|i| i.services & flags != 0)
    }

    /// Core's fPreferredDownload: outbound (or noban) peers that serve blocks, not addr-fetch.
    fn preferred_download(&self, id: PeerId) -> bool {
        self.peers.get(&id).is_some_and(|p| {
            p.ready
                && (p.conn_type != ConnType::Inbound || self.is_noban(id))
                && p.conn_type != ConnType::AddrFetch
                && Self::can_serve_blocks(p)
        })
    }

    fn preferred_download_peers(&self) -> usize {
        self.peers.keys().filter(|i| self.preferred_download(**i)).count()
    }

    /// The best header's time and whether it is within a day of now (then every peer is synced
    /// with, as Core).
    fn best_header_age(&self) -> Option<(i64, bool)> {
        let node = self.node()?;
        let c = node.chain_ref().lock().unwrap_or_else(|p| p.into_inner());
        let t = i64::from(c.best_header().header.time);
        Some((t, super::initial_headers::caught_up(t, crate::clock::unix_now())))
    }

    /// Sends the peer its initial `getheaders` when Core would: while far behind, only to one
    /// peer at a time (one we download blocks from), to every peer once caught up.
    fn maybe_start_headers_sync(&mut self, id: PeerId) {
        let Some(p) = self.peers.get(&id) else { return };
        if p.headers_sync.started || !p.ready || !Self::can_serve_blocks(p) || p.handle.shared.is_closing() {
            return;
        }
        if matches!(p.conn_type, ConnType::Feeler | ConnType::AddrFetch) {
            return;
        }
        let Some((best_time, caught_up)) = self.best_header_age() else {
            return;
        };
        // While behind with a sync peer already chosen, nothing to do (and no walk over the
        // peers: this runs after every message).
        if !caught_up && self.initial_headers.started_peers() > 0 {
            return;
        }
        let eligible = caught_up || self.preferred_download(id) || self.sync.requested.is_empty() || self.preferred_download_peers() == 0;
        let Some(p) = self.peers.get(&id) else { return };
        if !self.initial_headers.should_start(&p.headers_sync, eligible, caught_up) {
            return;
        }
        let start_height = self.sync.header_chain.len().saturating_sub(2);
        let locator = self.sync.locator_before_best();
        let spacing = self
            .node()
            .map(|n| n.settings().params.consensus.pow_target_spacing as i64)
            .unwrap_or(600);
        if !self.maybe_send_getheaders(id, locator, BlockHash::all_zeros()) {
            return;
        }
        let Some(p) = self.peers.get_mut(&id) else { return };
        self.initial_headers
            .start(&mut p.headers_sync, crate::clock::unix_now_ms() as i64, best_time, spacing);
        let startheight = p.info.as_ref().map(|i| i.start_height).unwrap_or(-1);
        tracing::debug!(target: "blvm::net", "initial getheaders ({start_height}) to peer={id} (startheight:{startheight})");
    }

    /// Core's MaybeSendGetHeaders: at most one `getheaders` outstanding per peer; another goes
    /// only after a connecting (or empty) `headers` reply or [`HEADERS_RESPONSE_TIME_MS`].
    /// Returns whether it was sent.
    fn maybe_send_getheaders(&mut self, id: PeerId, locator: Vec<BlockHash>, stop: BlockHash) -> bool {
        let now = crate::clock::unix_now_ms() as i64;
        let Some(p) = self.peers.get_mut(&id) else { return false };
        if p.sync.headers_asked.is_some_and(|t| now - t < HEADERS_RESPONSE_TIME_MS) {
            return false;
        }
        p.sync.headers_asked = Some(now);
        self.send(id, NetworkMessage::GetHeaders(GetHeadersMessage::new(locator, stop)));
        true
    }

    /// The sync progress line, if one is due ("sync started" as soon as headers put us behind,
    /// then at the progress interval, "sync complete" at the end).
    fn log_progress(&mut self) {
        let Some(node) = self.node() else { return };
        let ready = self.peers.values().filter(|p| p.ready).count();
        let line = {
            let c = node.chain_ref().lock().unwrap_or_else(|p| p.into_inner());
            self.sync.progress_line(&c, ready, self.s.progress_interval)
        };
        if let Some(l) = line {
            tracing::info!(target: "blvm::net", "{l}");
        }
    }

    /// Sends each transaction-relaying peer our `feefilter` when due (BIP133, version 70013+).
    fn send_fee_filters(&mut self) {
        let Some(node) = self.node() else { return };
        let in_ibd = node.is_initial_block_download(&node.chain_ref().lock().unwrap_or_else(|p| p.into_inner()));
        let mempool = node.mempool();
        let current = mempool.stats().rolling_min_fee;
        let min_relay = mempool.settings().min_relay_feerate;
        let now_ms = crate::clock::unix_now_ms() as i64;
        let mut rng = rand::thread_rng();
        let mut due = Vec::new();
        for (id, p) in self.peers.iter_mut() {
            let version = p.info.as_ref().map(|i| i.version).unwrap_or(0);
            if !p.ready || !p.conn_type.relays_txs() || version < FEEFILTER_VERSION {
                continue;
            }
            if let Some(f) = p.fee_filter.due(&self.fee_rounder, current, in_ibd, min_relay, now_ms, &mut rng) {
                due.push((*id, f));
            }
        }
        for (id, f) in due {
            self.send(id, NetworkMessage::FeeFilter(f as i64));
        }
    }

    /// Core's headers-sync stall check for every peer (in peer order, as Core's message
    /// handler), then peers without a sync get their chance.
    fn check_headers_sync(&mut self) {
        let Some((_, caught_up)) = self.best_header_age() else { return };
        let n_preferred = self.preferred_download_peers();
        let mut ids: Vec<PeerId> = self.peers.iter().filter(|(_, p)| p.ready).map(|(i, _)| *i).collect();
        ids.sort_unstable();
        for &id in &ids {
            self.check_headers_stall(id, caught_up, n_preferred);
        }
        for id in ids {
            self.maybe_start_headers_sync(id);
        }
    }

    /// The same for one peer after each of its messages (Core runs it in SendMessages), cheap
    /// unless the peer's deadline has passed or its sync has not started.
    fn check_headers_sync_of(&mut self, id: PeerId) {
        let Some(hs) = self.peers.get(&id).map(|p| p.headers_sync) else {
            return;
        };
        if matches!(hs.deadline, Deadline::At(d) if crate::clock::unix_now_ms() as i64 > d) {
            if let Some((_, caught_up)) = self.best_header_age() {
                let n_preferred = self.preferred_download_peers();
                self.check_headers_stall(id, caught_up, n_preferred);
            }
        }
        if !hs.started {
            self.maybe_start_headers_sync(id);
        }
    }

    /// A sync peer that has not brought us within a day of now by its deadline is replaced
    /// when another preferred peer exists; a noban peer is kept but stops being the sync peer.
    fn check_headers_stall(&mut self, id: PeerId, caught_up: bool, n_preferred: usize) {
        let now_ms = crate::clock::unix_now_ms() as i64;
        let others = n_preferred - usize::from(self.preferred_download(id)) >= 1;
        let noban = self.is_noban(id);
        let Some(p) = self.peers.get_mut(&id) else { return };
        match self.initial_headers.check(&mut p.headers_sync, now_ms, caught_up, others, noban) {
            Stalled::No => {}
            Stalled::Disconnect => {
                tracing::info!(target: "blvm::net", "Timeout downloading headers, disconnecting peer={id}");
                p.handle.shared.disconnect("timeout downloading headers");
            }
            Stalled::Restart => {
                tracing::info!(target: "blvm::net", "Timeout downloading headers from noban peer, not disconnecting peer={id}");
            }
        }
    }

    async fn on_message(&mut self, id: PeerId, msg: NetworkMessage) {
        match msg {
            NetworkMessage::Headers(h) => self.on_headers(id, h),
            NetworkMessage::Block(b) => self.on_block(id, b).await,
            NetworkMessage::Inv(items) => self.on_inv(id, items),
            NetworkMessage::NotFound(items) => self.on_notfound(id, items),
            NetworkMessage::SendHeaders => {
                if let Some(p) = self.peers.get_mut(&id) {
                    p.prefers_headers = true;
                }
            }
            NetworkMessage::FeeFilter(f) => {
                if let Some(p) = self.peers.get_mut(&id) {
                    // As Core: only a valid amount (0..=MAX_MONEY) replaces the filter.
                    if (0..=super::fee_filter::MAX_MONEY_SAT as i64).contains(&f) {
                        p.relay.fee_filter = f as u64;
                        p.handle
                            .shared
                            .fee_filter_received
                            .store(f as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
            NetworkMessage::GetAddr => self.on_getaddr(id),
            NetworkMessage::Addr(a) => {
                let v: Vec<(SocketAddr, u64, i64)> = a
                    .iter()
                    .filter_map(|(t, a)| a.socket_addr().ok().map(|s| (s, a.services.to_u64(), i64::from(*t))))
                    .collect();
                self.on_addr(id, v);
            }
            NetworkMessage::AddrV2(a) => {
                let v: Vec<(SocketAddr, u64, i64)> = a
                    .iter()
                    .filter_map(|m| m.socket_addr().ok().map(|s| (s, m.services.to_u64(), i64::from(m.time))))
                    .collect();
                self.on_addr(id, v);
            }
            NetworkMessage::Tx(tx) => self.on_tx(id, tx).await,
            NetworkMessage::GetData(items) => self.on_getdata_tx(id, items),
            NetworkMessage::MemPool => self.on_mempool_request(id),
            _ => {}
        }
    }

    /// A `headers` message: continues the peer's pre-sync if one runs; a chain below the
    /// anti-DoS work threshold starts one (full message) or is ignored (Core's "Ignoring
    /// low-work chain"); anything else is validated and stored.
    fn on_headers(&mut self, id: PeerId, headers: Vec<Header>) {
        let full = headers.len() == codec::MAX_HEADERS_RESULTS;
        if !self.headers_well_formed(id, &headers) {
            return;
        }
        // As Core: an empty message, one continuing a pre-sync, or one that connects to our
        // index answers our last getheaders; an unconnecting one (an announcement) does not.
        let Some(node) = self.node() else { return };
        let answers = headers.first().is_none_or(|h| {
            self.peers.get(&id).is_some_and(|p| p.presync.is_some())
                || node
                    .chain_ref()
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(&h.prev_blockhash)
                    .is_some()
        });
        if answers {
            if let Some(p) = self.peers.get_mut(&id) {
                p.sync.headers_asked = None;
            }
        }
        if self.peers.get(&id).is_some_and(|p| p.presync.is_some()) {
            self.on_presync_headers(id, headers, full);
            return;
        }
        let Some(node) = self.node() else { return };
        // As Core: a noban peer is trusted with its headers (no anti-DoS work check).
        let verdict = if self.is_noban(id) {
            LowWork::Enough
        } else {
            let c = node.chain_ref().lock().unwrap_or_else(|p| p.into_inner());
            low_work_verdict(&c, &headers, self.s.minimum_chain_work)
        };
        match verdict {
            LowWork::Enough => self.accept_headers_from(id, headers, full),
            LowWork::Ignore(height) => {
                tracing::debug!(target: "blvm::net", "Ignoring low-work chain (height={height}) from peer={id}");
            }
            LowWork::Presync(state) => {
                tracing::debug!(target: "blvm::net", peer = id, from = state.start().height, "starting headers pre-sync of a low-work chain");
                if let Some(p) = self.peers.get_mut(&id) {
                    p.presync = Some(state);
                }
                self.on_presync_headers(id, headers, full);
            }
        }
    }

    /// Core's first checks of a `headers` message, before anything else: each header's proof
    /// of work meets its own target, and each follows the previous one. A peer failing them
    /// misbehaves.
    fn headers_well_formed(&mut self, id: PeerId, headers: &[Header]) -> bool {
        let Some(node) = self.node() else { return false };
        let params = node.settings().params.clone();
        if let Some(h) = headers
            .iter()
            .find(|h| crate::validation::block_check::check_proof_of_work(h, &params).is_err())
        {
            self.misbehaving(id, &format!("header with invalid proof of work ({})", h.block_hash()));
            return false;
        }
        if headers.windows(2).any(|w| w[1].prev_blockhash != w[0].block_hash()) {
            self.misbehaving(id, "non-continuous headers sequence");
            return false;
        }
        true
    }

    /// Feeds a `headers` message to the peer's pre-sync (after Core's continuity and
    /// proof-of-work checks), stores what it releases and asks for what it needs next.
    fn on_presync_headers(&mut self, id: PeerId, headers: Vec<Header>, full: bool) {
        let Some(node) = self.node() else { return };
        let Some(p) = self.peers.get_mut(&id) else { return };
        let Some(state) = p.presync.as_mut() else { return };
        let step = state.process(&headers, full);
        let start = state.start().hash;
        let finished = state.is_finished();
        let height = if finished { -1 } else { i64::from(state.presync_height()) };
        p.handle
            .shared
            .presynced_headers
            .store(height, std::sync::atomic::Ordering::Relaxed);
        if finished {
            p.presync = None;
        }
        if let Some(e) = &step.failed {
            tracing::debug!(target: "blvm::net", "Initial headers sync aborted with peer={id}: {e}");
        }
        if !step.release.is_empty() {
            // Once the pre-sync is over, the usual follow-up request applies.
            let more = finished && step.failed.is_none() && full;
            self.accept_headers_from(id, step.release, more);
        }
        if let Some(from) = step.request_more {
            let mut loc = vec![from];
            {
                let c = node.chain_ref().lock().unwrap_or_else(|p| p.into_inner());
                loc.extend(peer::locator(&c, &start));
            }
            self.maybe_send_getheaders(id, loc, BlockHash::all_zeros());
        }
    }

    fn accept_headers_from(&mut self, id: PeerId, headers: Vec<Header>, full: bool) {
        let Some(node) = self.node() else { return };
        let (outcome, peer_best, locator) = {
            let mut c = node.chain_ref().lock().unwrap_or_else(|p| p.into_inner());
            let outcome = match sync::accept_headers(&mut c, &headers) {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(target: "blvm::net", "block index error while accepting headers: {e}");
                    return;
                }
            };
            let mut peer_best = None;
            let mut locator = None;
            if let HeadersOutcome::Accepted { last, height } = &outcome {
                let before = self.sync.best_header().0;
                self.sync.on_new_header(&c, last);
                if self.sync.best_header().0 != before && node.is_initial_block_download(&c) {
                    log_header_sync(&c, last, *height);
                }
                let current = self.peers.get(&id).and_then(|p| p.sync.best);
                let better = match current.and_then(|(h, _)| c.entry(&h)) {
                    Some(cur) => c.entry(last).is_some_and(|n| n.chainwork > cur.chainwork),
                    None => true,
                };
                if better {
                    peer_best = Some((*last, *height));
                }
                if full {
                    locator = Some(if self.sync.best_header().0 == *last {
                        self.sync.locator()
                    } else {
                        peer::locator(&c, last)
                    });
                }
            }
            (outcome, peer_best, locator)
        };
        let Some(p) = self.peers.get_mut(&id) else { return };
        match outcome {
            HeadersOutcome::Accepted { .. } => {
                if let Some(b) = peer_best {
                    p.sync.best = Some(b);
                    p.handle
                        .shared
                        .synced_headers
                        .store(i64::from(b.1), std::sync::atomic::Ordering::Relaxed);
                }
                if let Some(loc) = locator {
                    self.maybe_send_getheaders(id, loc, BlockHash::all_zeros());
                }
                self.log_progress();
                self.schedule();
            }
            HeadersOutcome::Unconnecting => {
                // As Core >= 28: not misbehaviour (we may have ignored its parent as low-work);
                // ask for the gap.
                let loc = self.sync.locator_before_best();
                if self.maybe_send_getheaders(id, loc, BlockHash::all_zeros()) {
                    tracing::debug!(target: "blvm::net", "received headers that do not connect; sending getheaders to peer={id}");
                }
            }
            HeadersOutcome::Invalid(r) => {
                self.misbehaving(id, &r);
            }
            HeadersOutcome::TimeTooNew(r) => {
                tracing::info!(target: "blvm::net", peer = id, "disconnecting: {r}");
                self.disconnect(id, &r);
            }
            HeadersOutcome::Empty => {}
        }
    }

    async fn on_block(&mut self, id: PeerId, block: Block) {
        let Some(node) = self.node() else { return };
        let hash = block.block_hash();
        let requested = match self.peers.get_mut(&id) {
            Some(p) => self.sync.received(id, &mut p.sync, &hash),
            None => false,
        };
        let prev = block.header.prev_blockhash;
        if !requested {
            let verdict = {
                let c = node.chain_ref().lock().unwrap_or_else(|p| p.into_inner());
                unrequested_block_verdict(&c, &block)
            };
            if let Some(why) = verdict {
                tracing::debug!(target: "blvm::net", peer = id, block = %hash, "ignoring unrequested block: {why}");
                return;
            }
        }
        let outcome = match node.submit_block(block).await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(target: "blvm::net", block = %hash, "block processing failed: {e}");
                return;
            }
        };
        match outcome {
            BlockOutcome::Accepted { connected } => {
                if let Some(p) = self.peers.get_mut(&id) {
                    p.handle
                        .shared
                        .last_block_time
                        .store(ban::now(), std::sync::atomic::Ordering::Relaxed);
                    let height = node.chain_ref().lock().map(|c| c.entry(&hash).map(|e| e.height)).unwrap_or(None);
                    if let Some(h) = height {
                        if p.sync.best.is_none_or(|(_, bh)| bh < h) {
                            p.sync.best = Some((hash, h));
                        }
                        p.handle
                            .shared
                            .synced_blocks
                            .fetch_max(i64::from(h), std::sync::atomic::Ordering::Relaxed);
                    }
                }
                if connected {
                    self.sync.progressed();
                }
                {
                    let c = node.chain_ref().lock().unwrap_or_else(|p| p.into_inner());
                    self.sync.on_new_header(&c, &hash);
                }
            }
            BlockOutcome::Duplicate => {}
            BlockOutcome::Orphan => {
                if !requested {
                    // An unsolicited block whose parent we lack: fetch the headers in between.
                    let loc = self.sync.locator();
                    tracing::debug!(target: "blvm::net", peer = id, block = %hash, parent = %prev, "unconnecting block; asking for headers");
                    self.maybe_send_getheaders(id, loc, hash);
                }
            }
            BlockOutcome::Invalid(r) => {
                if r.reason == "time-too-new" {
                    self.disconnect(id, &format!("block {hash}: {r}"));
                } else {
                    self.misbehaving(id, &format!("invalid block {hash}: {r}"));
                    if !r.may_be_mutated {
                        let c = node.chain_ref().lock().unwrap_or_else(|p| p.into_inner());
                        self.sync.rebuild(&c);
                        // Forget the peer's claims on the invalid branch.
                        let failed: HashSet<PeerId> = self
                            .peers
                            .iter()
                            .filter(|(_, p)| p.sync.best.is_some_and(|(b, _)| c.entry(&b).is_some_and(|e| e.is_failed())))
                            .map(|(i, _)| *i)
                            .collect();
                        for pid in failed {
                            if let Some(p) = self.peers.get_mut(&pid) {
                                p.sync.best = None;
                            }
                        }
                    }
                }
            }
        }
        self.schedule();
    }

    fn on_inv(&mut self, id: PeerId, items: Vec<Inventory>) {
        let Some(node) = self.node() else { return };
        let mut unknown_block = None;
        let mut txs = Vec::new();
        {
            let c = node.chain_ref().lock().unwrap_or_else(|p| p.into_inner());
            for inv in &items {
                match inv {
                    Inventory::Block(h) | Inventory::WitnessBlock(h) => match c.entry(h) {
                        Some(e) => {
                            let (hash, height, work) = (e.hash, e.height, e.chainwork);
                            if let Some(p) = self.peers.get_mut(&id) {
                                let better = p.sync.best.and_then(|(b, _)| c.entry(&b)).is_none_or(|cur| work > cur.chainwork);
                                if better && !e.is_failed() {
                                    p.sync.best = Some((hash, height));
                                }
                            }
                        }
                        None => unknown_block = Some(*h),
                    },
                    Inventory::Transaction(_) | Inventory::WTx(_) | Inventory::WitnessTransaction(_) => txs.push(*inv),
                    _ => {}
                }
            }
        }
        if let Some(h) = unknown_block {
            // As Core: a peer we sync headers with is asked; otherwise one new peer per newly
            // announced block.
            let ask = self
                .peers
                .get(&id)
                .is_some_and(|p| self.initial_headers.inv_should_ask(&p.headers_sync, &h));
            if ask {
                let loc = self.sync.locator();
                self.maybe_send_getheaders(id, loc, h);
                if let Some(p) = self.peers.get_mut(&id) {
                    self.initial_headers.inv_asked(&mut p.headers_sync, &h);
                }
            }
        }
        if !txs.is_empty() {
            self.on_tx_inv(id, txs);
        }
        self.schedule();
    }

    fn on_notfound(&mut self, id: PeerId, items: Vec<Inventory>) {
        let mut released = false;
        for inv in &items {
            let key = match inv {
                Inventory::Block(h) | Inventory::WitnessBlock(h) => {
                    if let Some(p) = self.peers.get_mut(&id) {
                        released |= self.sync.received(id, &mut p.sync, h);
                    }
                    continue;
                }
                Inventory::Transaction(t) | Inventory::WitnessTransaction(t) => t.to_byte_array(),
                Inventory::WTx(w) => w.to_byte_array(),
                _ => continue,
            };
            // Only the peer that was asked can release a request.
            if self.tx_requested.get(&key).is_some_and(|(owner, _)| *owner == id) {
                self.forget_request(&key);
            }
        }
        if released {
            self.schedule();
        }
    }

    fn on_getaddr(&mut self, id: PeerId) {
        let Some(p) = self.peers.get_mut(&id) else { return };
        // Only inbound peers are answered, once per connection (as Core, against fingerprinting),
        // and the flag is checked before the address manager is sampled.
        if p.conn_type != ConnType::Inbound || p.answered_getaddr {
            return;
        }
        p.answered_getaddr = true;
        let sample = self.addrman.sample(ban::now());
        let Some(p) = self.peers.get_mut(&id) else { return };
        let addrv2 = p.info.as_ref().is_some_and(|i| i.addrv2);
        let msg = if addrv2 {
            NetworkMessage::AddrV2(
                sample
                    .iter()
                    .map(|a| AddrV2Message {
                        time: a.time.clamp(0, i64::from(u32::MAX)) as u32,
                        services: ServiceFlags::from(a.services),
                        addr: match ban::canonical(a.addr.ip()) {
                            IpAddr::V4(v4) => AddrV2::Ipv4(v4),
                            IpAddr::V6(v6) => AddrV2::Ipv6(v6),
                        },
                        port: a.addr.port(),
                    })
                    .collect(),
            )
        } else {
            NetworkMessage::Addr(
                sample
                    .iter()
                    .map(|a| {
                        (
                            a.time.clamp(0, i64::from(u32::MAX)) as u32,
                            Address::new(&a.addr, ServiceFlags::from(a.services)),
                        )
                    })
                    .collect(),
            )
        };
        self.send(id, msg);
    }

    fn on_addr(&mut self, id: PeerId, addrs: Vec<(SocketAddr, u64, i64)>) {
        let Some(p) = self.peers.get_mut(&id) else { return };
        if !p.conn_type.relays_txs() && p.conn_type != ConnType::AddrFetch {
            return;
        }
        // Token bucket (Core's MAX_ADDR_RATE_PER_SECOND): a burst of 1000 after our getaddr,
        // 0.1 per second after that; the excess is ignored.
        let now = Instant::now();
        let cap = codec::MAX_ADDR_TO_SEND as f64;
        p.addr_tokens = (p.addr_tokens + now.duration_since(p.addr_refill).as_secs_f64() * ADDR_RATE).min(cap);
        if !p.answered_getaddr && p.conn_type != ConnType::Inbound && p.addr_tokens < cap && p.addr_refill == p.connected {
            p.addr_tokens = cap;
        }
        p.addr_refill = now;
        let allowed = (p.addr_tokens.floor() as usize).min(addrs.len());
        p.addr_tokens -= allowed as f64;
        let source = p.addr().ip();
        let kind = p.conn_type;
        for (a, _, _) in &addrs[..allowed] {
            tracing::debug!(target: "blvm::net", "address {a} from peer={id}");
        }
        let n = self.addrman.add(&addrs[..allowed], source, ban::now());
        tracing::debug!(target: "blvm::net", peer = id, received = addrs.len(), processed = allowed, added = n, "addresses received");
        if n > 0 {
            tracing::debug!(target: "blvm::net", "Added {n} addresses (of {allowed}) from {source}");
        }
        if kind == ConnType::AddrFetch {
            self.disconnect(id, "addr fetch completed");
        }
    }

    // ---- block sync --------------------------------------------------------------------

    /// Hands out block requests to every peer with room.
    fn schedule(&mut self) {
        let Some(node) = self.node() else { return };
        let mut requests: Vec<(PeerId, Vec<BlockHash>)> = Vec::new();
        {
            let c = node.chain_ref().lock().unwrap_or_else(|p| p.into_inner());
            if !self.sync.is_syncing(&c) && self.sync.requested.is_empty() {
                return;
            }
            let now = Instant::now();
            let mut ids: Vec<PeerId> = self
                .peers
                .iter()
                .filter(|(_, p)| p.ready && !p.handle.shared.is_closing() && !matches!(p.conn_type, ConnType::Feeler | ConnType::AddrFetch))
                .map(|(i, _)| *i)
                .collect();
            ids.sort_unstable();
            for id in ids {
                if let Some(p) = self.peers.get_mut(&id) {
                    // As Core: blocks are fetched only along a chain with the minimum chain work
                    // (headers from a noban peer below it stay headers-only).
                    let enough = p
                        .sync
                        .best
                        .and_then(|(h, _)| c.entry(&h))
                        .is_some_and(|e| e.chainwork >= self.s.minimum_chain_work);
                    if !enough {
                        continue;
                    }
                    let got = self.sync.assign(&c, id, &mut p.sync, now);
                    if !got.is_empty() {
                        requests.push((id, got));
                    }
                }
            }
        }
        for (id, hashes) in requests {
            tracing::debug!(target: "blvm::net", peer = id, n = hashes.len(), first = %hashes[0], "requesting blocks");
            self.send(
                id,
                NetworkMessage::GetData(hashes.into_iter().map(Inventory::WitnessBlock).collect()),
            );
        }
    }

    fn check_stalls(&mut self) {
        let now = Instant::now();
        let mut stalled = Vec::new();
        for (id, p) in &self.peers {
            if p.handle.shared.is_closing() {
                continue;
            }
            if let Some((n, waited)) = self.sync.is_stalling(
                &p.sync,
                p.handle.shared.since_last_block_rx(),
                p.handle.shared.is_waiting_for_us(),
                now,
            ) {
                stalled.push((*id, n, waited));
            }
        }
        for (id, n, waited) in stalled {
            let reason = format!(
                "block download stalled: {n} blocks in flight, nothing delivered for {:.1}s",
                waited.as_secs_f64()
            );
            tracing::warn!(target: "blvm::net", peer = id, "disconnecting: {reason}");
            self.disconnect(id, &reason);
            // Release now so the blocks go to other peers without waiting for the close.
            if let Some(p) = self.peers.get_mut(&id) {
                self.sync.release(id, &mut p.sync);
            }
            self.sync.stalled();
        }
    }

    fn on_tip_changed(&mut self) {
        let Some(node) = self.node() else { return };
        let (tip, headers, syncing) = {
            let c = node.chain_ref().lock().unwrap_or_else(|p| p.into_inner());
            let tip = c.tip().clone();
            if tip.hash == self.last_tip {
                return;
            }
            self.sync.on_new_header(&c, &tip.hash);
            // The blocks connected since the last announcement (fork point of the old tip).
            let mut fork = self.last_tip;
            while !c.is_active(&fork) {
                match c.entry(&fork) {
                    Some(e) if e.height > 0 => fork = e.header.prev_blockhash,
                    _ => break,
                }
            }
            let fork_h = c.entry(&fork).map(|e| e.height).unwrap_or(0);
            let mut headers = Vec::new();
            if tip.height > fork_h && (tip.height - fork_h) as usize <= MAX_BLOCKS_TO_ANNOUNCE && !self.sync.is_syncing(&c) {
                for h in fork_h + 1..=tip.height {
                    if let Some(e) = c.hash_at(h).and_then(|x| c.entry(&x)) {
                        headers.push(e.header);
                    }
                }
            }
            let syncing = self.sync.is_syncing(&c);
            self.net.set_height(tip.height);
            // Peers that already have the tip do not need it announced (not computed while
            // syncing: nothing is announced then).
            let mut have = HashSet::new();
            for (id, p) in self.peers.iter().filter(|_| !syncing) {
                if let Some((b, bh)) = p.sync.best {
                    if bh >= tip.height && c.ancestor(&b, tip.height).map(|a| a.hash) == Some(tip.hash) {
                        have.insert(*id);
                    }
                }
            }
            let headers_by_peer = (headers, have);
            (tip, headers_by_peer, syncing)
        };
        self.last_tip = tip.hash;
        self.rejects = relay::RollingSet::new(50_000);
        let (headers, have) = headers;
        if !syncing {
            let magic = self.magic();
            let by_headers = (!headers.is_empty()).then(|| encode(magic, NetworkMessage::Headers(headers)));
            let by_inv = encode(magic, NetworkMessage::Inv(vec![Inventory::Block(tip.hash)]));
            for (id, p) in &self.peers {
                if !p.ready || have.contains(id) || matches!(p.conn_type, ConnType::Feeler | ConnType::AddrFetch) {
                    continue;
                }
                match (&by_headers, p.prefers_headers) {
                    (Some(f), true) => p.handle.send_frame(f.clone()),
                    _ => p.handle.send_frame(by_inv.clone()),
                };
            }
            tracing::debug!(target: "blvm::net", tip = %tip.hash, height = tip.height, "announced new tip");
        }
        self.schedule();
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        if !self.net.network_enabled() {
            // Catches a connection registered while setnetworkactive false was dropping peers.
            for p in self.peers.values() {
                p.handle.shared.disconnect("network disabled (setnetworkactive false)");
            }
        }
        self.check_stalls();
        self.check_headers_sync();
        self.schedule();
        self.maintain_outbound();
        // Addr-fetch connections do not linger.
        let stale: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.conn_type == ConnType::AddrFetch && p.connected.elapsed() > ADDR_FETCH_TIMEOUT)
            .map(|(i, _)| *i)
            .collect();
        for id in stale {
            self.disconnect(id, "addr fetch timed out");
        }
        self.poll_mempool();
        self.send_fee_filters();
        self.trickle(now);
        self.log_progress();
        self.expire_tx_requests(now);
        let ids: Vec<PeerId> = self.peers.iter().filter(|(_, p)| !p.getdata.is_empty()).map(|(i, _)| *i).collect();
        for id in ids {
            self.serve_getdata(id);
        }
        if now.duration_since(self.last_sweep) > Duration::from_secs(60) {
            self.last_sweep = now;
            self.net.bans().sweep();
            self.orphans.expire(now);
        }
        if now.duration_since(self.last_save) > Duration::from_secs(15 * 60) {
            self.last_save = now;
            self.addrman.save();
        }
    }

    // ---- RPC commands ------------------------------------------------------------------

    fn on_command(&mut self, c: Command) {
        match c {
            Command::ClockChanged { reply } => {
                self.check_headers_sync();
                let _ = reply.send(());
            }
            Command::AddNode { addr, permanent, reply } => {
                let mut added = self.net.added_nodes();
                if permanent {
                    if added.contains(&addr) {
                        let _ = reply.send(Err(format!("Node {addr} already added")));
                        return;
                    }
                    added.push(addr.clone());
                    self.net.set_added(added);
                } else {
                    self.onetry.push(addr.clone());
                }
                self.manual_retry.remove(&addr);
                self.maintain_outbound();
                let _ = reply.send(Ok(()));
            }
            Command::AddConnection { addr, conn_type, reply } => {
                let open = self.peers.values().filter(|p| p.conn_type == conn_type).count() + self.dialing.len();
                let started = open < conn_type.addconnection_limit();
                if started {
                    self.dial(addr, conn_type);
                }
                let _ = reply.send(started);
            }
            Command::RemoveNode { addr, reply } => {
                let mut added = self.net.added_nodes();
                let before = added.len();
                added.retain(|a| *a != addr);
                if added.len() == before {
                    let _ = reply.send(Err("Node could not be removed. It has not been added previously.".into()));
                    return;
                }
                self.net.set_added(added);
                let _ = reply.send(Ok(()));
            }
            Command::Disconnect { addr, id, reply } => {
                let mut any = false;
                for (pid, p) in &self.peers {
                    if Some(*pid) == id || Some(p.addr()) == addr {
                        p.handle.shared.disconnect("disconnectnode RPC");
                        any = true;
                    }
                }
                let _ = reply.send(any);
            }
            Command::NodeAddresses { count, reply } => {
                let _ = reply.send(self.addrman.addresses(count, ban::now()));
            }
            Command::AddrmanInfo { reply } => {
                let _ = reply.send(self.addrman.network_counts());
            }
            Command::EnforceBans => {
                let bans = self.net.bans();
                for p in self.peers.values() {
                    if bans.is_banned(p.addr().ip()) {
                        p.handle.shared.disconnect("banned by setban");
                    }
                }
            }
        }
    }

    // ---- transaction relay -------------------------------------------------------------

    fn announce_tx(&mut self, txid: bitcoin::Txid, wtxid: bitcoin::Wtxid, feerate: u64, except: Option<PeerId>) {
        for (id, p) in self.peers.iter_mut() {
            if Some(*id) == except || !p.ready {
                continue;
            }
            p.relay.queue(txid, wtxid, feerate);
        }
    }

    fn trickle(&mut self, now: Instant) {
        let magic = self.magic();
        let mean_in = self.s.trickle_interval;
        for p in self.peers.values_mut() {
            if !p.ready || p.relay.pending.is_empty() || now < p.relay.next_trickle {
                continue;
            }
            let mean = if p.conn_type == ConnType::Inbound { mean_in } else { mean_in / 2 };
            p.relay.next_trickle = now + relay::poisson_delay(mean);
            let mut inv = Vec::new();
            while inv.len() < relay::INVENTORY_BROADCAST_MAX {
                let Some((txid, wtxid)) = p.relay.pending.pop_front() else { break };
                let key = p.relay.key(&txid, &wtxid);
                if !p.relay.known.insert(key) {
                    continue;
                }
                inv.push(if p.relay.wtxid {
                    Inventory::WTx(wtxid)
                } else {
                    Inventory::Transaction(txid)
                });
            }
            if !inv.is_empty() {
                p.handle.send_frame(encode(magic, NetworkMessage::Inv(inv)));
            }
        }
    }

    /// Announces mempool transactions added since the last look (from RPC, modules, reorgs or
    /// peers), in entry order.
    fn poll_mempool(&mut self) {
        let Some(node) = self.node() else { return };
        let mempool = node.mempool();
        let fresh: Vec<(u64, bitcoin::Txid, bitcoin::Wtxid, u64)> = {
            let pool = mempool.pool();
            if pool.updates() == self.mempool_updates {
                return;
            }
            self.mempool_updates = pool.updates();
            let mut v: Vec<_> = pool
                .entries()
                .filter(|e| e.sequence > self.mempool_seen)
                .map(|e| (e.sequence, e.txid, e.wtxid, feerate_per_kvb(e.fee, e.vsize)))
                .collect();
            v.sort_unstable_by_key(|x| x.0);
            v
        };
        for (seq, txid, wtxid, rate) in fresh {
            self.mempool_seen = self.mempool_seen.max(seq);
            self.announce_tx(txid, wtxid, rate, None);
        }
    }

    fn on_tx_inv(&mut self, id: PeerId, items: Vec<Inventory>) {
        let Some(node) = self.node() else { return };
        let Some(p) = self.peers.get(&id) else { return };
        if !p.conn_type.relays_txs() {
            self.disconnect(id, "transaction announcement on a block-relay-only connection");
            return;
        }
        // As Core: no transaction is requested while in initial block download.
        if node.is_initial_block_download(&node.chain_ref().lock().unwrap_or_else(|p| p.into_inner())) {
            return;
        }
        let witness = p.info.as_ref().is_some_and(|i| i.services & ServiceFlags::WITNESS.to_u64() != 0);
        let mempool = node.mempool();
        let now = Instant::now();
        let mut want = Vec::new();
        {
            let pool = mempool.pool();
            let Some(p) = self.peers.get_mut(&id) else { return };
            for inv in items {
                let (key, have) = match inv {
                    Inventory::WTx(w) => (w.to_byte_array(), pool.txid_of_wtxid(&w).is_some()),
                    Inventory::Transaction(t) | Inventory::WitnessTransaction(t) => (t.to_byte_array(), pool.contains(&t)),
                    _ => continue,
                };
                p.relay.known.insert(key);
                if have || self.rejects.contains(&key) || self.orphans.contains(&key) {
                    continue;
                }
                // Asked elsewhere already (expired requests leave the table on the tick).
                if self.tx_requested.contains_key(&key) {
                    continue;
                }
                if p.relay.in_flight.len() >= relay::MAX_TX_IN_FLIGHT {
                    break;
                }
                p.relay.in_flight.insert(key, now);
                self.tx_requested.insert(key, (id, now));
                want.push(match inv {
                    Inventory::WTx(w) => Inventory::WTx(w),
                    Inventory::Transaction(t) | Inventory::WitnessTransaction(t) if witness => Inventory::WitnessTransaction(t),
                    other => other,
                });
            }
        }
        if !want.is_empty() {
            self.send(id, NetworkMessage::GetData(want));
        }
    }

    async fn on_tx(&mut self, id: PeerId, tx: bitcoin::Transaction) {
        let Some(node) = self.node() else { return };
        let (txid, wtxid) = (tx.compute_txid(), tx.compute_wtxid());
        let keys = [txid.to_byte_array(), wtxid.to_byte_array()];
        let Some(p) = self.peers.get_mut(&id) else { return };
        if !p.conn_type.relays_txs() {
            self.disconnect(id, "transaction on a block-relay-only connection");
            return;
        }
        // As Core: a transaction during initial block download cannot be validated yet; it is
        // ignored (unsolicited transactions are not misbehaviour).
        if node.is_initial_block_download(&node.chain_ref().lock().unwrap_or_else(|p| p.into_inner())) {
            return;
        }
        let Some(p) = self.peers.get_mut(&id) else { return };
        for k in &keys {
            p.relay.known.insert(*k);
        }
        for k in &keys {
            self.forget_request(k);
        }
        if let Err(r) = crate::validation::tx_check::check_transaction(&tx) {
            self.misbehaving(id, &format!("invalid transaction {txid}: {r}"));
            return;
        }
        let mempool = node.mempool();
        if mempool.contains(&txid) || self.rejects.contains(&wtxid.to_byte_array()) {
            return;
        }
        let mut queue = vec![(tx, id)];
        while let Some((tx, from)) = queue.pop() {
            let (txid, wtxid) = (tx.compute_txid(), tx.compute_wtxid());
            let mp = mempool.clone();
            let tx2 = tx.clone();
            let r = match tokio::task::spawn_blocking(move || mp.accept(tx2, crate::mempool::AcceptOptions::default())).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(target: "blvm::net", "transaction validation task failed: {e}");
                    return;
                }
            };
            // Core's lines, which scripts and Core's tests look for.
            if let Err(r) = &r {
                tracing::debug!(target: "blvm::mempool", "{txid} (wtxid={wtxid}) from peer={from} was not accepted: {r}");
            }
            match r {
                Ok(acc) => {
                    tracing::debug!(target: "blvm::mempool", "AcceptToMemoryPool: peer={from}: accepted {txid} (wtxid={wtxid}) (poolsz {} txn)", mempool.len());
                    if let Some(p) = self.peers.get(&from) {
                        p.handle.shared.last_tx_time.store(ban::now(), std::sync::atomic::Ordering::Relaxed);
                    }
                    self.announce_tx(txid, wtxid, feerate_per_kvb(acc.fee, acc.vsize), Some(from));
                    for w in self.orphans.children_of(&txid) {
                        if let Some(o) = self.orphans.take(&w) {
                            queue.push((o.tx, o.from));
                        }
                    }
                }
                Err(r) if r.reason == "bad-txns-inputs-missingorspent" => {
                    let parents: Vec<bitcoin::Txid> = tx.input.iter().map(|i| i.previous_output.txid).collect();
                    if parents.iter().any(|t| self.rejects.contains(&t.to_byte_array())) {
                        self.rejects.insert(wtxid.to_byte_array());
                        continue;
                    }
                    if self.orphans.add(tx, from) {
                        tracing::debug!(target: "blvm::net", peer = from, %txid, orphans = self.orphans.len(), peer_orphans = self.orphans.len_from(from), "orphan transaction kept; asking for its parents");
                        let ask: Vec<Inventory> = parents
                            .into_iter()
                            .filter(|t| !mempool.contains(t))
                            .map(Inventory::WitnessTransaction)
                            .collect();
                        if !ask.is_empty() {
                            self.send(from, NetworkMessage::GetData(ask));
                        }
                    }
                }
                Err(r) => {
                    self.rejects.insert(wtxid.to_byte_array());
                    if matches!(r.reason.as_str(), "bad-txns-in-belowout" | "bad-txns-inputvalues-outofrange") {
                        self.misbehaving(from, &format!("invalid transaction {txid}: {r}"));
                    }
                }
            }
        }
    }

    /// Forgets an outstanding transaction request, at the peer that was asked and in the
    /// global table together (the table never holds more than the peers' in-flight sets).
    fn forget_request(&mut self, key: &[u8; 32]) {
        if let Some((owner, _)) = self.tx_requested.remove(key) {
            if let Some(p) = self.peers.get_mut(&owner) {
                p.relay.in_flight.remove(key);
            }
        }
    }

    /// Drops transaction requests unanswered for [`relay::TX_REQUEST_TIMEOUT`], so the
    /// transaction can be fetched from another peer that announces it.
    fn expire_tx_requests(&mut self, now: Instant) {
        let expired: Vec<[u8; 32]> = self
            .tx_requested
            .iter()
            .filter(|(_, (_, t))| now.duration_since(*t) >= relay::TX_REQUEST_TIMEOUT)
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            self.forget_request(&k);
        }
    }

    /// Queues a peer's transaction `getdata` items (each once, at most [`MAX_GETDATA_QUEUE`])
    /// and serves what its send queue has room for.
    fn on_getdata_tx(&mut self, id: PeerId, items: Vec<Inventory>) {
        let Some(p) = self.peers.get_mut(&id) else { return };
        let mut dropped = 0usize;
        for inv in items {
            if p.getdata.len() >= MAX_GETDATA_QUEUE {
                dropped += 1;
                continue;
            }
            if p.getdata_queued.insert(inv) {
                p.getdata.push_back(inv);
            }
        }
        if dropped > 0 {
            tracing::debug!(target: "blvm::net", peer = id, dropped, "getdata queue full; items dropped");
        }
        self.serve_getdata(id);
    }

    /// Serves queued transaction requests while the peer's send queue holds less than
    /// [`GETDATA_SEND_PAUSE`] bytes: each reply is encoded straight from the mempool entry, so
    /// memory used is bounded by the send queue whatever the request lists. The rest waits
    /// for the peer to read (the tick resumes it).
    fn serve_getdata(&mut self, id: PeerId) {
        let Some(node) = self.node() else { return };
        let magic = self.magic();
        let mempool = node.mempool();
        let Some(p) = self.peers.get_mut(&id) else { return };
        let mut missing = Vec::new();
        {
            let pool = mempool.pool();
            while p.handle.shared.queued_bytes() < GETDATA_SEND_PAUSE && !p.handle.shared.is_closing() {
                let Some(inv) = p.getdata.pop_front() else { break };
                p.getdata_queued.remove(&inv);
                let (txid, witness) = match inv {
                    Inventory::WTx(w) => (pool.txid_of_wtxid(&w), true),
                    Inventory::WitnessTransaction(t) => (Some(t), true),
                    Inventory::Transaction(t) => (Some(t), false),
                    _ => continue,
                };
                match txid.and_then(|t| pool.get(&t)) {
                    Some(e) => {
                        let payload = if witness || !e.tx.input.iter().any(|i| !i.witness.is_empty()) {
                            bitcoin::consensus::serialize(&*e.tx)
                        } else {
                            let mut tx = (*e.tx).clone();
                            tx.input.iter_mut().for_each(|i| i.witness.clear());
                            bitcoin::consensus::serialize(&tx)
                        };
                        p.handle.send_frame(Bytes::from(codec::frame(magic, "tx", &payload)));
                    }
                    None => missing.push(inv),
                }
            }
        }
        if !missing.is_empty() {
            p.handle.send_frame(encode(magic, NetworkMessage::NotFound(missing)));
        }
    }

    /// BIP35 `mempool`. As Core, only answered for a peer with the `mempool` permission
    /// (blvm grants it to manual connections, which the operator chose); anyone else is
    /// disconnected, since without bloom filters the request only serves to fingerprint or to
    /// make us walk the pool. Answered once per connection, the flag checked before any work.
    fn on_mempool_request(&mut self, id: PeerId) {
        let Some(p) = self.peers.get_mut(&id) else { return };
        if p.conn_type != ConnType::Manual {
            tracing::debug!(target: "blvm::net", peer = id, "mempool request with bloom filters disabled, disconnect peer={id}");
            p.handle.shared.disconnect("mempool request without permission");
            return;
        }
        if p.relay.sent_mempool || !p.relay.relay_txs {
            return;
        }
        p.relay.sent_mempool = true;
        let Some(node) = self.node() else { return };
        let all: Vec<(bitcoin::Txid, bitcoin::Wtxid, u64)> = node
            .mempool()
            .pool()
            .entries_by_sequence()
            .iter()
            .map(|e| (e.txid, e.wtxid, feerate_per_kvb(e.fee, e.vsize)))
            .collect();
        let Some(p) = self.peers.get_mut(&id) else { return };
        for (t, w, r) in all {
            p.relay.queue(t, w, r);
        }
    }
}

/// What the anti-DoS check says of a `headers` message.
pub enum LowWork {
    /// Enough work (or already known, or not connecting): process normally.
    Enough,
    /// Below the threshold and the peer's chain ends here: ignore, at this height.
    Ignore(usize),
    /// Below the threshold in a full message (the peer has more): pre-sync it.
    Presync(Box<HeadersPresync>),
}

/// Core's GetAntiDoSWorkThreshold: the minimum chain work, or our tip's work less 144 blocks of
/// it (so forks near the tip are accepted directly), whichever is greater.
pub fn anti_dos_threshold(c: &ChainManager, minimum_chain_work: Work) -> Work {
    let tip = c.tip();
    let proof = tip.header.work();
    let mut buffer = Work::from_be_bytes([0; 32]);
    for _ in 0..144 {
        buffer = buffer + proof;
    }
    let near_tip = if buffer < tip.chainwork {
        tip.chainwork - buffer
    } else {
        Work::from_be_bytes([0; 32])
    };
    near_tip.max(minimum_chain_work)
}

/// Core's TryLowWorkHeadersSync decision for `headers` (which connect to our index at their
/// first header's parent, or are left to the normal path).
pub fn low_work_verdict(c: &ChainManager, headers: &[Header], minimum_chain_work: Work) -> LowWork {
    let (Some(first), Some(last)) = (headers.first(), headers.last()) else {
        return LowWork::Enough;
    };
    let Some(start) = c.entry(&first.prev_blockhash) else {
        return LowWork::Enough;
    };
    if c.entry(&last.block_hash()).is_some_and(|e| !e.is_failed()) {
        return LowWork::Enough;
    }
    let threshold = anti_dos_threshold(c, minimum_chain_work);
    let total = headers.iter().fold(start.chainwork, |w, h| w + h.work());
    if total >= threshold {
        return LowWork::Enough;
    }
    let p = c.params();
    let rules = PresyncRules {
        allow_min_difficulty: p.consensus.allow_min_difficulty_blocks,
        adjustment_interval: p.difficulty_adjustment_interval(),
        pow_limit: p.consensus.max_attainable_target,
    };
    let cs = ChainStart {
        hash: start.hash,
        height: start.height,
        chainwork: start.chainwork,
        bits: start.header.bits,
        mtp: c.median_time_past(&start.hash),
    };
    if headers.len() < codec::MAX_HEADERS_RESULTS {
        return LowWork::Ignore(start.height as usize + headers.len());
    }
    LowWork::Presync(Box::new(HeadersPresync::new(cs, threshold, rules, ban::now())))
}

/// Core's AcceptBlock rule for blocks nobody asked for: such a block is stored only if it
/// has at least the work of our tip and is not more than [`MIN_BLOCKS_TO_KEEP`] blocks ahead of
/// it, so that a peer cannot fill the disk with cheap low-work blocks (a min-difficulty fork
/// from genesis). Returns why the block is ignored, or None to process it (blocks whose parent
/// we lack are processed: that asks for the headers in between).
pub fn unrequested_block_verdict(c: &ChainManager, block: &Block) -> Option<&'static str> {
    let hash = block.block_hash();
    if c.entry(&hash).is_some_and(|e| e.have_data()) {
        return Some("already stored");
    }
    let parent = c.entry(&block.header.prev_blockhash)?;
    let tip = c.tip();
    if parent.chainwork + block.header.work() < tip.chainwork {
        return Some("less work than our tip");
    }
    if parent.height + 1 > tip.height + MIN_BLOCKS_TO_KEEP {
        return Some("too far ahead of our tip");
    }
    None
}

/// Core's `getheaders` locator for the active tip (used by tests and tools).
pub fn tip_locator(c: &ChainManager) -> Vec<BlockHash> {
    peer::locator(c, &c.tip().hash)
}

/// Core's "Synchronizing blockheaders" progress line (new best header during IBD), with the
/// share of the chain the header's age suggests is still missing.
fn log_header_sync(c: &ChainManager, last: &BlockHash, height: u32) {
    let time = c.entry(last).map(|e| i64::from(e.header.time)).unwrap_or(0);
    let left = ((crate::clock::unix_now() - time) / 600).max(0) as f64;
    let progress = 100.0 * f64::from(height) / (f64::from(height) + left).max(1.0);
    tracing::info!(target: "blvm::net", "Synchronizing blockheaders, height: {height} (~{progress:.2}%)");
}

//! The connection manager: one task owning every peer's protocol state, the connection slots,
//! the listener, the dialer, block sync and relay. This file holds its state, the event loop and
//! the dispatch of events, messages, ticks and RPC commands, with the helpers every concern uses;
//! the handling itself is split by concern: [`super::connections`] (slots, dialer, eviction),
//! [`super::header_sync`], [`super::block_download`], [`super::tx_relay`] and
//! [`super::addr_relay`], each an `impl Manager` block.

use super::addr_cache::AddrCache;
use super::addrman::AddrMan;
use super::block_download::Received;
use super::codec;
use super::connections::{Async, ADDR_FETCH_TIMEOUT_SECS};
use super::fee_filter::{FeeFilterRounder, PeerFeeFilter};
use super::headers_presync::HeadersPresync;
use super::initial_headers::{InitialHeadersSync, PeerHeadersSync};
use super::node_link::NodeLink;
use super::orphans::Orphans;
use super::outbound_eviction::ChainSync;
use super::peer::{ConnType, Event, PeerEnv, PeerHandle, VersionInfo};
use super::relay::{self, PeerRelay};
use super::sync::{BlockSync, PeerSync};
use super::tx_relay::TipBlockTxs;
use super::{Command, Net, P2pSettings, PeerId};
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::p2p::Magic;
use bitcoin::{BlockHash, Network};
use bytes::Bytes;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// One connection's protocol state, owned by the manager.
pub(super) struct Peer {
    pub(super) handle: PeerHandle,
    pub(super) conn_type: ConnType,
    pub(super) ready: bool,
    pub(super) published: bool,
    pub(super) info: Option<VersionInfo>,
    pub(super) sync: PeerSync,
    pub(super) relay: PeerRelay,
    pub(super) prefers_headers: bool,
    pub(super) target: Option<String>,
    pub(super) addr_tokens: f64,
    pub(super) addr_refill: Instant,
    pub(super) answered_getaddr: bool,
    /// Whether we send it addresses (Core's m_addr_relay_enabled): outbound peers other than
    /// block-relay-only from the handshake, inbound ones once they send addr, addrv2 or getaddr.
    pub(super) addr_relay: bool,
    /// When our next self-announcement to it is due (UNIX seconds, mockable; None: none sent).
    pub(super) next_self_announce: Option<i64>,
    pub(super) connected: Instant,
    /// Pre-sync of a low-work header chain this peer is serving (at most one).
    pub(super) presync: Option<Box<HeadersPresync>>,
    /// Whether and since when we sync headers with it (Core's fSyncStarted and timeout).
    pub(super) headers_sync: PeerHeadersSync,
    /// The `feefilter` we sent it and when the next is due.
    pub(super) fee_filter: PeerFeeFilter,
    /// Transaction `getdata` items not served yet (each item once).
    pub(super) getdata: VecDeque<Inventory>,
    pub(super) getdata_queued: HashSet<Inventory>,
    /// Its stale-chain timeout, if it is an automatic outbound peer (Core's m_chain_sync).
    pub(super) chain_sync: ChainSync,
    /// BIP152 compact block state (its mode, the block being reconstructed from it).
    pub(super) cmpct: super::compact_relay::PeerCompact,
}

impl Peer {
    pub(super) fn addr(&self) -> SocketAddr {
        self.handle.shared.addr
    }
}

/// The connection manager's state; its `impl` is split by concern over the sibling modules.
pub(super) struct Manager {
    /// The rest of the node: chain, mempool, block submission, bus.
    pub(super) node: Arc<NodeLink>,
    pub(super) net: Arc<Net>,
    pub(super) env: Arc<PeerEnv>,
    pub(super) s: P2pSettings,
    pub(super) network: Network,
    pub(super) default_port: u16,
    pub(super) peers: HashMap<PeerId, Peer>,
    pub(super) next_id: PeerId,
    pub(super) addrman: AddrMan,
    /// `getaddr` answers per local address (Core's addr response cache).
    pub(super) addr_cache: AddrCache,
    pub(super) sync: BlockSync,
    pub(super) initial_headers: InitialHeadersSync,
    pub(super) fee_rounder: FeeFilterRounder,
    pub(super) orphans: Orphans,
    pub(super) dialing: HashSet<String>,
    pub(super) manual_retry: HashMap<String, Instant>,
    pub(super) onetry: Vec<String>,
    /// Whether a dial target is to be tried with v2 (addnode/addconnection's `v2transport`).
    pub(super) v2_targets: HashMap<String, bool>,
    pub(super) last_tip: BlockHash,
    pub(super) next_feeler: Instant,
    pub(super) dns_done: bool,
    pub(super) seeds_done: bool,
    pub(super) async_tx: mpsc::Sender<Async>,
    pub(super) last_save: Instant,
    pub(super) last_sweep: Instant,
    pub(super) tx_requested: HashMap<[u8; 32], (PeerId, Instant)>,
    pub(super) rejects: relay::RollingSet,
    /// Wtxids rejected for their feerate alone, and failed 1p1c package hashes.
    pub(super) reconsiderable: relay::RollingSet,
    pub(super) mempool_seen: u64,
    pub(super) mempool_updates: u64,
    pub(super) tip_txs: TipBlockTxs,
    /// Our BIP152 high-bandwidth peers (at most three).
    pub(super) hb_peers: super::compact_relay::HbPeers,
    /// Outbound peers exempt from the stale-chain check (at most MAX_PROTECTED_OUTBOUND).
    pub(super) protected_outbound: usize,
    /// Per-process key for network groups in eviction, so an attacker cannot tell which groups
    /// are protected.
    pub(super) netgroup_key: std::collections::hash_map::RandomState,
    /// `<net_dir>/anchors.dat` when automatic outbound connections are made (no `-connect`):
    /// read at startup, written at a clean shutdown.
    pub(super) anchors_path: Option<std::path::PathBuf>,
    /// Anchors from the last run still to be dialled as block-relay-only, last first.
    pub(super) anchors: Vec<super::anchors::Anchor>,
}

/// Binds the listeners, starts the connection manager, and returns its task (which ends, with
/// every connection closed and the address manager saved, when `stop` fires).
pub async fn start(node: Arc<NodeLink>, net: Arc<Net>, stop: watch::Receiver<bool>) -> Result<JoinHandle<()>, String> {
    let s = net.settings().cloned().ok_or_else(|| "P2P networking is disabled".to_string())?;
    let params = node.params.clone();
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
        node: node.clone(),
        net: net.clone(),
        events: events_tx,
        local_nonces: Mutex::new(HashSet::new()),
        totals: net.totals_arc(),
        prepared_blocks: Arc::new(tokio::sync::Semaphore::new(super::peer::PREPARED_BLOCKS_AHEAD)),
    });
    let regtest = params.network == Network::Regtest;
    // As Core: anchors are used (and the file consumed) only when the address manager picks
    // outbound peers (no -connect).
    let anchors_path = (s.connect.is_empty() && s.max_outbound_block_relay > 0).then(|| node.net_dir.join(super::anchors::ANCHORS_FILE));
    let anchors = match &anchors_path {
        Some(path) => {
            let mut a = super::anchors::read(path, env.magic);
            tracing::info!(target: "blvm::net", "{} block-relay-only anchors will be tried for connections.", a.len());
            a.reverse();
            a
        }
        None => Vec::new(),
    };
    let (sync_state, tip) = node.chain.read(|c| {
        net.set_height(c.height());
        (BlockSync::new(c, s.stall_timeout), c.tip().hash)
    });
    let mgr = Manager {
        mempool_seen: mempool_seen(&node),
        addrman: AddrMan::load(&node.net_dir.join("peers.json"), regtest),
        fee_rounder: FeeFilterRounder::new(node.mempool().settings().incremental_relay_feerate),
        node,
        net: net.clone(),
        env,
        network: params.network,
        default_port: params.default_port,
        peers: HashMap::new(),
        next_id: 0,
        addr_cache: AddrCache::default(),
        sync: sync_state,
        initial_headers: InitialHeadersSync::default(),
        orphans: Orphans::default(),
        dialing: HashSet::new(),
        manual_retry: HashMap::new(),
        onetry: Vec::new(),
        v2_targets: HashMap::new(),
        last_tip: tip,
        next_feeler: Instant::now() + s.feeler_interval,
        dns_done: !s.dnsseed || !s.connect.is_empty(),
        seeds_done: false,
        async_tx,
        last_save: Instant::now(),
        last_sweep: Instant::now(),
        tx_requested: HashMap::new(),
        rejects: relay::RollingSet::new(50_000),
        reconsiderable: relay::RollingSet::new(super::package_relay::MAX_RECONSIDERABLE_REJECTS),
        mempool_updates: u64::MAX,
        tip_txs: TipBlockTxs::default(),
        hb_peers: Default::default(),
        protected_outbound: 0,
        netgroup_key: Default::default(),
        anchors_path,
        anchors,
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
fn mempool_seen(node: &NodeLink) -> u64 {
    node.mempool().pool().entries().map(|e| e.sequence).max().unwrap_or(0)
}

/// One message, framed for the wire.
pub(super) fn encode(magic: Magic, msg: NetworkMessage) -> Bytes {
    Bytes::from(codec::encode(magic, msg))
}

impl Manager {
    /// The event loop: events from peers, RPC commands, inbound connections, dial results, tip
    /// changes and the 250 ms tick, until `stop`; then every connection is closed and state saved.
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
                Some(c) = commands.recv() => {
                    if matches!(c, Command::ClockChanged { .. }) {
                        // What peers sent before the clock moved is handled at the old time (as
                        // Core's message handler would have, before the call); only what is
                        // queued now, so a busy peer cannot hold the call up.
                        for _ in 0..events.len() {
                            let Ok(ev) = events.try_recv() else { break };
                            self.on_event(ev).await;
                        }
                    }
                    self.on_command(c)
                }
                Some((sock, addr)) = accepts.recv() => self.on_inbound(sock, addr),
                Some(a) = asyncs.recv() => self.on_async(a),
                _ = net.tip_changed.notified() => self.on_tip_changed(),
                _ = tick.tick() => self.on_tick(),
            }
            if *stop.borrow() {
                break;
            }
        }
        // As Core's StopNodes: the block-relay-only peers become next run's anchors.
        self.dump_anchors();
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

    /// The network's message start bytes.
    pub(super) fn magic(&self) -> Magic {
        self.env.magic
    }

    /// Queues a message to a peer (nothing if it is gone).
    pub(super) fn send(&self, id: PeerId, msg: NetworkMessage) {
        if let Some(p) = self.peers.get(&id) {
            p.handle.send_frame(encode(self.magic(), msg));
        }
    }

    /// Core's Misbehaving: the peer broke a protocol or consensus rule; it is disconnected and
    /// discouraged (Core dropped misbehaviour scores in v27: any misbehaviour counts), unless
    /// it is a manual connection.
    /// Returns whether the peer was disconnected (false for a peer that is kept).
    pub(super) fn misbehaving(&mut self, id: PeerId, reason: &str) -> bool {
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
    pub(super) fn is_noban(&self, id: PeerId) -> bool {
        self.permissions(id).noban
    }

    /// The `-whitelist`/`-whitebind` permissions of a peer (none for an unknown id).
    pub(super) fn permissions(&self, id: PeerId) -> super::whitelist::Permissions {
        self.peers.get(&id).map(|p| p.handle.shared.permissions).unwrap_or_default()
    }

    /// Asks a peer's connection to close, with the reason logged.
    pub(super) fn disconnect(&self, id: PeerId, reason: &str) {
        if let Some(p) = self.peers.get(&id) {
            p.handle.shared.disconnect(reason);
        }
    }

    // ---- events ------------------------------------------------------------------------

    /// A peer's event: handshake done, connection closed, or a message (then the headers-sync
    /// check runs for that peer, as Core's SendMessages).
    async fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Ready { id, info } => self.on_ready(id, info),
            Event::Closed { id, reason, ban } => self.on_closed(id, reason, ban),
            Event::Message { id, msg, permit } => {
                if self.takes_messages_from(id) {
                    self.on_message(id, msg).await;
                    self.after_message(id);
                }
                drop(permit);
            }
            Event::Block { id, block, permits } => {
                if self.takes_messages_from(id) {
                    self.on_block(id, Received::Prepared(block)).await;
                    self.after_message(id);
                }
                drop(permits);
            }
        }
    }

    /// Whether the peer's messages are handled: its handshake is done and it is not closing.
    fn takes_messages_from(&self, id: PeerId) -> bool {
        self.peers.get(&id).is_some_and(|p| p.ready && !p.handle.shared.is_closing())
    }

    /// What follows each handled message, as Core's SendMessages: the blocks in flight are
    /// published, the headers sync and eviction looked at.
    fn after_message(&mut self, id: PeerId) {
        self.publish_in_flight(id);
        self.check_headers_sync_of(id);
        self.consider_eviction(id);
    }

    /// Routes a message from a ready peer to its concern's handler.
    async fn on_message(&mut self, id: PeerId, msg: NetworkMessage) {
        match msg {
            NetworkMessage::Headers(h) => self.on_headers(id, h),
            NetworkMessage::Block(b) => self.on_block(id, Received::Decoded(b)).await,
            NetworkMessage::Inv(items) => self.on_inv(id, items),
            NetworkMessage::NotFound(items) => self.on_notfound(id, items),
            NetworkMessage::SendHeaders => {
                if let Some(p) = self.peers.get_mut(&id) {
                    p.prefers_headers = true;
                }
            }
            NetworkMessage::FeeFilter(f) => self.on_fee_filter(id, f),
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
            NetworkMessage::FilterLoad(f) => self.on_filter_load(id, f),
            NetworkMessage::FilterAdd(f) => self.on_filter_add(id, f),
            NetworkMessage::FilterClear => self.on_filter_clear(id),
            NetworkMessage::SendCmpct(m) => self.on_sendcmpct(id, m),
            NetworkMessage::CmpctBlock(m) => self.on_cmpctblock(id, m).await,
            NetworkMessage::BlockTxn(m) => self.on_blocktxn(id, m.transactions).await,
            _ => {}
        }
    }

    /// The periodic work: stalls, headers sync, block requests, outbound slots, relay timers,
    /// sweeps and saves.
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
        self.consider_eviction_all();
        self.schedule();
        self.maintain_outbound();
        self.expire_addr_fetch();
        self.poll_mempool();
        self.send_fee_filters();
        self.trickle();
        self.self_announce_all();
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

    /// Addr-fetch connections do not linger: as Core, closed once open longer than
    /// [`ADDR_FETCH_TIMEOUT_SECS`] on the mockable clock.
    fn expire_addr_fetch(&mut self) {
        let now = crate::clock::unix_now();
        let stale: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.conn_type == ConnType::AddrFetch && now - p.handle.shared.connected_at > ADDR_FETCH_TIMEOUT_SECS)
            .map(|(i, _)| *i)
            .collect();
        for id in stale {
            tracing::debug!(target: "blvm::net", "addrfetch connection timeout, disconnecting peer={id}");
            self.disconnect(id, "addrfetch connection timeout");
        }
    }

    // ---- RPC commands ------------------------------------------------------------------

    /// An RPC request (`addnode`, `disconnectnode`, `setban`, `setmocktime`...).
    fn on_command(&mut self, c: Command) {
        match c {
            Command::ClockChanged { time, reply } => {
                // A new tip, and the timeouts it starts, count from the old time.
                self.on_tip_changed();
                self.consider_eviction_all();
                if let Err(e) = crate::clock::set_mocktime(time) {
                    tracing::warn!(target: "blvm::net", "{e}");
                }
                self.check_headers_sync();
                self.consider_eviction_all();
                self.expire_addr_fetch();
                self.poll_mempool();
                self.trickle();
                self.self_announce_all();
                let _ = reply.send(());
            }
            Command::RelayTx { txid, reply } => {
                self.poll_mempool();
                self.relay_pool_tx(&txid);
                let _ = reply.send(());
            }
            Command::AddNode {
                addr,
                permanent,
                v2,
                reply,
            } => {
                self.v2_targets.insert(addr.clone(), v2);
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
            Command::AddConnection {
                addr,
                conn_type,
                v2,
                reply,
            } => {
                // As Core's AddConnection: the type's own limit, then the automatic outbound
                // slots (11), counting connections still being dialled against both.
                let dialing = self.dialing.len();
                let of_type = self.peers.values().filter(|p| p.conn_type == conn_type).count() + dialing;
                let automatic = self.peers.values().filter(|p| p.conn_type.is_automatic_outbound()).count() + dialing;
                let started = conn_type.addconnection_limit().is_none_or(|max| of_type < max)
                    && automatic < super::connections::MAX_AUTOMATIC_OUTBOUND;
                if started {
                    self.v2_targets.insert(addr.clone(), v2);
                    self.dial(addr, conn_type);
                }
                let _ = reply.send(started);
            }
            Command::RemoveNode { addr, reply } => {
                let mut added = self.net.added_nodes();
                let before = added.len();
                added.retain(|a| *a != addr);
                self.v2_targets.remove(&addr);
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
                let _ = reply.send(self.addrman.addresses(count, crate::clock::unix_now()));
            }
            Command::OrphanTxs { reply } => {
                let _ = reply.send(self.orphans.list());
            }
            Command::AddPeerAddress { addr, tried, reply } => {
                let _ = reply.send(self.add_peer_address(addr, tried));
            }
            Command::FetchBlock { hash, peer, reply } => {
                let _ = reply.send(self.fetch_block(peer, hash));
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
}

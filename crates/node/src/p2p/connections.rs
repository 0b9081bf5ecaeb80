//! Connections: inbound admission and eviction, the outbound dialer (`-connect`, `-addnode`,
//! `-seednode`, DNS seeds, automatic, block-relay-only and feeler connections), the handshake's
//! completion and the close of a connection (with discouragement of misbehaving peers).

use super::addrman;
use super::ban;
use super::eviction;
use super::fee_filter::PeerFeeFilter;
use super::initial_headers::PeerHeadersSync;
use super::manager::{Manager, Peer};
use super::peer::{self, ConnType, VersionInfo};
use super::relay::{self, PeerRelay};
use super::sync::PeerSync;
use super::PeerId;
use bitcoin::p2p::ServiceFlags;
use bitcoin::Network;
use blvm_module::EventPayload;
use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Connection attempt timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Wait between attempts to reach a `-connect`/`-addnode` peer.
pub const MANUAL_RETRY: Duration = Duration::from_secs(2);
/// Addr-fetch connections are closed after this many seconds (mockable clock) at the latest:
/// Core's 10 * AVG_ADDRESS_BROADCAST_INTERVAL.
pub const ADDR_FETCH_TIMEOUT_SECS: i64 = 300;
/// Automatic outbound full-relay connections Core keeps slots for.
const MAX_OUTBOUND_FULL_RELAY: usize = 8;
/// Automatic outbound block-relay-only connections Core keeps slots for.
const MAX_BLOCK_RELAY_ONLY: usize = 2;
/// All automatic outbound connections at once (full-relay, block-relay-only, one feeler), as
/// Core's semOutbound; `addconnection` is held to it.
pub const MAX_AUTOMATIC_OUTBOUND: usize = MAX_OUTBOUND_FULL_RELAY + MAX_BLOCK_RELAY_ONLY + 1;

/// Results of background work (dials, DNS seed lookups), sent back to the event loop.
pub(super) enum Async {
    /// A dial finished.
    Dialed {
        target: String,
        conn_type: ConnType,
        result: Result<(TcpStream, SocketAddr), String>,
    },
    /// Addresses from the DNS seeds (or the fixed seeds).
    Seeds(Vec<SocketAddr>),
}

/// Core's HasAllDesirableServiceFlags: a full, witness-serving node (a pruned one once we are
/// out of initial block download).
fn has_desirable_services(services: u64, ibd: bool) -> bool {
    let has = |f: ServiceFlags| services & f.to_u64() == f.to_u64();
    has(ServiceFlags::WITNESS) && (has(ServiceFlags::NETWORK) || (!ibd && has(ServiceFlags::NETWORK_LIMITED)))
}

impl Manager {
    /// Whether `-connect` was given (then only those peers are dialed).
    fn connect_mode(&self) -> bool {
        !self.s.connect.is_empty()
    }

    /// Slots kept for automatic outbound connections, as Core (whatever `-connect` says): 8
    /// full-relay, 2 block-relay-only and a feeler, within the connection limit.
    fn outbound_reserved(&self) -> usize {
        let max = self.s.max_connections;
        let full_relay = MAX_OUTBOUND_FULL_RELAY.min(max);
        let block_relay = MAX_BLOCK_RELAY_ONLY.min(max - full_relay);
        full_relay + block_relay + 1
    }

    /// Inbound connections allowed: the connection limit less the outbound reserve.
    fn max_inbound(&self) -> usize {
        self.s.max_connections.saturating_sub(self.outbound_reserved())
    }

    /// Inbound slots transaction-relaying peers may hold (`-inboundrelaypercent`); the rest are
    /// for block-relay-only peers, which cost us far less.
    fn max_inbound_tx_relay(&self) -> usize {
        self.max_inbound() * self.s.inbound_relay_percent.min(100) / 100
    }

    /// Starts a connection's task and records the peer (ids count from 0).
    fn register(&mut self, sock: TcpStream, addr: SocketAddr, conn_type: ConnType, target: Option<String>, v2: bool) -> PeerId {
        // As Core, peer ids count from 0.
        let id = self.next_id;
        self.next_id += 1;
        let handle = peer::spawn(sock, id, addr, conn_type, v2, self.env.clone());
        self.net.register_peer(handle.shared.clone());
        tracing::debug!(target: "blvm::net", "Added connection {}", self.peer_label(id, addr));
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
                addr_relay: false,
                next_self_announce: None,
                connected: Instant::now(),
                presync: None,
                headers_sync: PeerHeadersSync::default(),
                fee_filter: PeerFeeFilter::default(),
                getdata: VecDeque::new(),
                getdata_queued: HashSet::new(),
                chain_sync: Default::default(),
                cmpct: Default::default(),
            },
        );
        id
    }

    /// An accepted inbound connection: refused while networking is off, from a banned (or, with few
    /// slots left, discouraged) address, or when no peer can be evicted for it.
    pub(super) fn on_inbound(&mut self, sock: TcpStream, addr: SocketAddr) {
        if !self.net.network_enabled() {
            tracing::debug!(target: "blvm::net", %addr, "refused inbound connection: network disabled");
            return;
        }
        // As Core: the noban permission (-whitelist) lets a banned address in.
        let noban = self.s.permissions(addr.ip(), true, sock.local_addr().ok()).noban;
        if !noban && self.net.bans().is_banned(addr.ip()) {
            // Core's wording, which Core's tests and operators' log filters match.
            tracing::debug!(target: "blvm::net", "connection from {addr} dropped (banned)");
            return;
        }
        // Closing peers no longer hold a slot (Core drops them before accepting).
        let inbound = self
            .peers
            .values()
            .filter(|p| p.conn_type == ConnType::Inbound && !p.handle.shared.is_closing())
            .count();
        // As Core: a discouraged address gets a slot only while slots are plentiful.
        if !noban && inbound + 1 >= self.max_inbound() && self.net.discouraged().contains(addr.ip()) {
            tracing::debug!(target: "blvm::net", %addr, "connection from {addr} dropped (discouraged)");
            return;
        }
        if inbound >= self.max_inbound() {
            match eviction::select(self.eviction_candidates()) {
                Some(victim) => self.evict(victim),
                None => {
                    // Core's wording, which Core's tests look for.
                    tracing::debug!(target: "blvm::net", %addr, "failed to find an eviction candidate - connection dropped (full)");
                    return;
                }
            }
        }
        self.register(sock, addr, ConnType::Inbound, None, false);
    }

    /// Disconnects a peer chosen for eviction.
    fn evict(&self, victim: PeerId) {
        if let Some(p) = self.peers.get(&victim) {
            tracing::debug!(target: "blvm::net", "selected {} connection for eviction, disconnecting {}", p.conn_type.as_str(), self.peer_label(victim, p.addr()));
            p.handle.shared.disconnect("evicted to make room for a new inbound connection");
        }
    }

    /// Core's tx-relay capacity check for an inbound peer that now relays transactions (after its
    /// `msg` message): when they exceed their share of the inbound slots, another
    /// transaction-relaying inbound peer is evicted, or else this one is dropped. Returns whether
    /// the peer stays.
    pub(super) fn make_tx_relay_room(&mut self, id: PeerId, msg: &str) -> bool {
        let relaying = self
            .peers
            .iter()
            .filter(|(pid, p)| p.conn_type == ConnType::Inbound && !p.handle.shared.is_closing() && (p.relay.relay_txs || **pid == id))
            .count();
        if relaying <= self.max_inbound_tx_relay() {
            return true;
        }
        match eviction::select_tx_relay(self.eviction_candidates(), id) {
            Some(victim) => {
                self.evict(victim);
                true
            }
            None => {
                tracing::debug!(target: "blvm::net", "failed to find a tx-relaying eviction candidate - connection dropped after {msg} message, disconnecting peer={id}");
                self.disconnect(id, "no inbound transaction-relay slot and no peer to evict");
                false
            }
        }
    }

    /// The facts eviction weighs for every live connection (built only when slots are full).
    fn eviction_candidates(&self) -> Vec<eviction::Candidate> {
        let ibd = self.in_ibd();
        let discouraged = self.net.discouraged();
        self.peers
            .values()
            .filter(|p| !p.handle.shared.is_closing())
            .map(|p| {
                let sh = &p.handle.shared;
                let ip = ban::canonical(p.addr().ip());
                let services = p.info.as_ref().or(sh.info().as_ref()).map_or(0, |i| i.services);
                eviction::Candidate {
                    id: sh.id,
                    connected: p.connected,
                    min_ping: sh.min_ping(),
                    last_block_time: sh.last_block_time.load(std::sync::atomic::Ordering::Relaxed),
                    last_tx_time: sh.last_tx_time.load(std::sync::atomic::Ordering::Relaxed),
                    relevant_services: has_desirable_services(services, ibd),
                    relay_txs: p.relay.relay_txs,
                    bloom_filter: sh.bloom().is_some(),
                    net_group: self.netgroup_key.hash_one(addrman::group(ip)),
                    prefer_evict: discouraged.contains(ip),
                    is_local: match ip {
                        IpAddr::V4(a) => a.octets()[0] == 127 || a.octets()[0] == 0,
                        IpAddr::V6(a) => a.is_loopback(),
                    },
                    // Inbound connections come over TCP only (no Tor, I2P or CJDNS listener).
                    network: eviction::NetClass::Ip,
                    noban: p.handle.shared.permissions.noban,
                    inbound: p.conn_type == ConnType::Inbound,
                }
            })
            .collect()
    }

    /// Connects to `target` (an address or a host name) in the background; the result comes back as
    /// [`Async::Dialed`].
    pub(super) fn dial(&mut self, target: String, conn_type: ConnType) {
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

    /// The result of background work: addresses from the DNS seeds, or a finished dial.
    pub(super) fn on_async(&mut self, a: Async) {
        match a {
            Async::Seeds(addrs) => {
                let now = crate::clock::unix_now();
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
                        self.addrman.attempt(&addr, crate::clock::unix_now());
                        let manual = matches!(conn_type, ConnType::Manual);
                        // As Core: v2 when asked by addnode/addconnection, by default for
                        // manual connections (-connect, -addnode), and to addresses known to
                        // offer NODE_P2P_V2.
                        let offers_v2 = self.addrman.services(&addr) & ServiceFlags::P2P_V2.to_u64() != 0;
                        let v2 = self.v2_targets.get(&target).copied().unwrap_or(manual || offers_v2);
                        // Kept only for `addnode add` peers, dialed again when they drop.
                        if !self.net.added_nodes().contains(&target) {
                            self.v2_targets.remove(&target);
                        }
                        self.register(sock, addr, conn_type, manual.then_some(target), v2);
                    }
                    Err(e) => {
                        tracing::debug!(target: "blvm::net", %target, kind = conn_type.as_str(), "outbound connection failed: {e}");
                        if let Ok(a) = target.parse::<SocketAddr>() {
                            self.addrman.attempt(&a, crate::clock::unix_now());
                        }
                        if conn_type == ConnType::Manual {
                            self.manual_retry.insert(target, Instant::now() + MANUAL_RETRY);
                        } else {
                            self.v2_targets.remove(&target);
                        }
                    }
                }
            }
        }
    }

    /// At startup: `-seednode` connections, the DNS seeds if the address manager is nearly empty,
    /// then the outbound connections.
    pub(super) fn seed_and_dial(&mut self) {
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

    /// Whether a `-connect`/`-addnode` target is connected.
    fn manual_connected(&self, target: &str) -> bool {
        self.peers.values().any(|p| p.target.as_deref() == Some(target))
    }

    /// Dials manual peers not connected, then fills the automatic full-relay and block-relay-only
    /// slots and, when they are full, a feeler now and then.
    pub(super) fn maintain_outbound(&mut self) {
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
        if want_block > 0 && self.dial_anchor() {
            return;
        }
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
            let pick = self.addrman.select(kind == ConnType::Feeler, crate::clock::unix_now(), |a| {
                connected.contains(a)
                    || listening.contains(a)
                    || bans.is_banned(a.ip())
                    || discouraged.contains(a.ip())
                    || !self.net.is_reachable(a.ip())
                    || self.dialing.contains(&a.to_string())
            });
            drop(bans);
            drop(discouraged);
            if let Some(a) = pick {
                self.dial(a.to_string(), kind);
            }
        }
    }

    /// As Core: while anchors from the last run remain and a block-relay-only slot is free, the
    /// next usable one is dialled before any other automatic connection. True if one was.
    fn dial_anchor(&mut self) -> bool {
        while let Some(a) = self.anchors.pop() {
            let usable = has_desirable_services(a.services, false)
                && self.net.is_reachable(a.addr.ip())
                && !self.net.listening().contains(&a.addr)
                && !self.net.bans().is_banned(a.addr.ip())
                && !self.net.discouraged().contains(a.addr.ip())
                && !self.peers.values().any(|p| p.addr() == a.addr);
            if usable {
                tracing::debug!(target: "blvm::net", "Trying to make an anchor connection to {}", a.addr);
                self.dial(a.addr.to_string(), ConnType::BlockRelayOnly);
                return true;
            }
        }
        false
    }

    /// Writes the block-relay-only outbound peers to `anchors.dat` (Core's DumpAnchors at a
    /// clean shutdown), at most two, with the services each offered.
    pub(super) fn dump_anchors(&self) {
        let Some(path) = &self.anchors_path else { return };
        let anchors: Vec<super::anchors::Anchor> = self
            .peers
            .values()
            .filter(|p| p.conn_type == ConnType::BlockRelayOnly)
            .map(|p| super::anchors::Anchor {
                addr: p.addr(),
                services: p.info.as_ref().map_or(0, |i| i.services),
            })
            .take(super::anchors::MAX_BLOCK_RELAY_ONLY_ANCHORS)
            .collect();
        tracing::info!(target: "blvm::net", "Flush {} outbound block-relay-only peer addresses to anchors.dat", anchors.len());
        if let Err(e) = super::anchors::write(path, self.env.magic, &anchors) {
            tracing::warn!(target: "blvm::net", "cannot write {}: {e}", path.display());
        }
    }

    /// The handshake completed: the peer is published, its relay and sync state set, and headers
    /// sync may start (feelers disconnect here).
    pub(super) fn on_ready(&mut self, id: PeerId, info: VersionInfo) {
        // Headers may have come from elsewhere (submitheader): start from the best one known.
        self.node.chain.read(|c| self.sync.on_new_header(c, &c.best_header().hash));
        // As Core: a transaction accepted before the handshake completed is announced to the
        // peers that were connected then, never to this one (it may ask with BIP35 `mempool`).
        self.poll_mempool();
        let Some(p) = self.peers.get_mut(&id) else { return };
        p.relay = PeerRelay::new(p.conn_type.relays_txs() && info.relay, info.wtxid_relay);
        // As Core: an inbound peer that wants transactions needs one of their slots.
        if p.conn_type == ConnType::Inbound && p.relay.relay_txs && !self.make_tx_relay_room(id, "version") {
            return;
        }
        let Some(p) = self.peers.get_mut(&id) else { return };
        p.ready = true;
        p.published = true;
        p.sync.witness = info.services & ServiceFlags::WITNESS.to_u64() != 0;
        p.sync.limited = super::pruned_serving::is_limited(info.services);
        p.info = Some(info.clone());
        let addr = p.addr();
        let kind = p.conn_type;
        tracing::info!(target: "blvm::net", peer = id, %addr, kind = kind.as_str(), version = info.version, agent = %info.user_agent, height = info.start_height, "peer connected");
        self.node.bus.publish(EventPayload::PeerConnected {
            peer_id: id,
            addr: addr.to_string(),
            inbound: kind == ConnType::Inbound,
        });
        if self.node.extensions().has_hook(blvm_module::HookKind::PeerConnected) {
            let (link, net) = (self.node.clone(), self.net.clone());
            ask_peer_hook(link, net, id, addr.to_string(), kind == ConnType::Inbound, info.user_agent.clone());
        }
        if kind != ConnType::Inbound {
            self.addrman.good(&addr, info.services, crate::clock::unix_now());
        }
        match kind {
            ConnType::Feeler => {
                let label = self.peer_label(id, addr);
                tracing::debug!(target: "blvm::net", "feeler connection completed, disconnecting {label}");
                self.disconnect(id, "feeler connection completed");
                return;
            }
            ConnType::AddrFetch => return,
            ConnType::Inbound => {}
            _ => self.start_addr_relay(id),
        }
        self.maybe_start_headers_sync(id);
        self.consider_eviction(id);
        // As Core's first SendMessages after the handshake: the peer's first feefilter and
        // announcement round (and the mempool sequence it covers) happen now, not at the next
        // tick (Core's tests check the feefilter right after the handshake).
        self.send_fee_filters();
        self.trickle();
    }

    /// A closed connection: its block requests go back to the scheduler, its transaction requests
    /// and orphan announcements are dropped, and a peer that misbehaved is discouraged.
    pub(super) fn on_closed(&mut self, id: PeerId, reason: String, ban_it: bool) {
        let Some(mut p) = self.peers.remove(&id) else { return };
        self.net.unregister_peer(id);
        self.initial_headers.peer_gone(&p.headers_sync);
        if p.chain_sync.protect {
            self.protected_outbound = self.protected_outbound.saturating_sub(1);
        }
        let released = self.sync.release(id, &mut p.sync);
        self.tx_requested.retain(|_, (pid, _)| *pid != id);
        self.orphans.erase_from(id);
        self.compact_peer_gone(id);
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
            self.node.bus.publish(EventPayload::PeerDisconnected {
                peer_id: id,
                addr: addr.to_string(),
                reason,
            });
        }
        if released > 0 {
            self.schedule();
        }
        tracing::debug!(target: "blvm::net", "Cleared nodestate for peer={id}");
    }

    /// How peer log lines name a peer: `peer=N`, with `, peeraddr=IP:port` under `-logips`.
    pub(super) fn peer_label(&self, id: PeerId, addr: SocketAddr) -> String {
        if self.s.log_ips {
            format!("peer={id}, peeraddr={addr}")
        } else {
            format!("peer={id}")
        }
    }

    /// Remembers a misbehaving peer's address as discouraged (memory only, bounded) and
    /// forgets what it sent us; `banlist.json` is left to the operator's `setban`.
    pub(super) fn discourage(&mut self, id: PeerId, addr: SocketAddr) {
        tracing::info!(target: "blvm::net", %addr, "Disconnecting and discouraging peer {id}!");
        self.net.discouraged().insert(addr.ip());
        self.addrman.remove(&addr);
        self.orphans.erase_from(id);
    }
}

/// Asks the `peer_connected` hook modules about a new peer on a task of its own (the
/// manager's loop goes on); a refusal disconnects the peer.
fn ask_peer_hook(
    node: std::sync::Arc<super::node_link::NodeLink>,
    net: std::sync::Arc<super::Net>,
    id: PeerId,
    addr: String,
    inbound: bool,
    user_agent: String,
) {
    tokio::spawn(async move {
        let call = blvm_module::HookCall::PeerConnected {
            peer_id: id,
            addr: addr.clone(),
            inbound,
            user_agent,
        };
        let Some(refusal) = node.extensions().ask(&call).await else {
            return;
        };
        tracing::info!(target: "blvm::net", peer = id, module = %refusal.module, reason = %refusal.reason, "peer refused by a module hook; disconnecting");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let cmd = crate::p2p::Command::Disconnect {
            addr: None,
            id: Some(id),
            reply: tx,
        };
        if net.command(cmd).await.is_ok() {
            let _ = rx.await;
        }
    });
}

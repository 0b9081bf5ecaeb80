//! A connection's reader task: framing, the version handshake, ping answers and the
//! dispatch of each message (served here, or forwarded to the manager).

use super::{local_services, ConnType, Event, Exit, Outbox, PeerEnv, PeerShared, VersionInfo, MSG_BURST, MSG_RATE};
use crate::chain::ChainManager;
use crate::clock::unix_now;
use crate::p2p::codec::{self, FrameError, HEADER_LEN, MAX_HEADERS_RESULTS, MAX_INV_SIZE};
use crate::p2p::{MIN_PEER_PROTO_VERSION, PROTOCOL_VERSION, SENDHEADERS_VERSION, WTXID_RELAY_VERSION};
use crate::validation::prepared::PreparedBlock;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::{Address, ServiceFlags};
use bitcoin::Block;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Phase {
    AwaitVersion,
    AwaitVerack,
    Ready,
}

pub(super) struct Reader {
    pub(super) out: Outbox,
    pub(super) env: Arc<PeerEnv>,
    pub(super) phase: Phase,
    pub(super) info: Option<VersionInfo>,
    pub(super) our_nonce: u64,
    pub(super) tokens: f64,
    pub(super) last_refill: Instant,
    pub(super) sent_version: bool,
}

impl Reader {
    pub(super) fn shared(&self) -> &Arc<PeerShared> {
        &self.out.shared
    }

    pub(super) async fn send_version(&mut self) -> Result<(), Exit> {
        let shared = self.shared().clone();
        let height = self.env.net.height() as i32;
        let receiver = Address::new(&shared.addr, ServiceFlags::NONE);
        let services = local_services(
            self.env.settings.offers_bloom(shared.permissions),
            self.env.settings.v2transport,
            self.env.settings.peer_block_filters,
            self.env.net.serves_limited(),
        );
        // As Core: our own address is not disclosed (0.0.0.0:0).
        let sender = Address::new(&SocketAddr::from(([0, 0, 0, 0], 0)), services);
        let mut v = VersionMessage::new(
            services,
            unix_now(),
            receiver,
            sender,
            self.our_nonce,
            crate::p2p::user_agent(),
            height,
        );
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
    pub(super) async fn desirable_services(&self, offered: u64) -> Result<u64, Exit> {
        if offered & ServiceFlags::NETWORK_LIMITED.to_u64() == 0 {
            return Ok(ServiceFlags::NETWORK.to_u64() | ServiceFlags::WITNESS.to_u64());
        }
        let tip_time = self.env.node.chain.read(|c| i64::from(c.tip().header.time));
        let recent = tip_time > crate::clock::unix_now() - 24 * 3600;
        let base = if recent {
            ServiceFlags::NETWORK_LIMITED
        } else {
            ServiceFlags::NETWORK
        };
        Ok(base.to_u64() | ServiceFlags::WITNESS.to_u64())
    }

    pub(super) fn rate_limit(&mut self) -> Result<(), Exit> {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last_refill).as_secs_f64() * MSG_RATE).min(MSG_BURST);
        self.last_refill = now;
        if self.tokens < 1.0 {
            return Err(Exit::ban(format!("message flood (more than {MSG_RATE} messages/s sustained)")));
        }
        self.tokens -= 1.0;
        Ok(())
    }

    pub(super) async fn forward(&self, msg: NetworkMessage, permit: Option<OwnedSemaphorePermit>) -> Result<(), Exit> {
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

    /// Records when the peer last sent a block (for the block download's stall check).
    fn block_arrived(&self) {
        let shared = self.shared();
        shared
            .last_block_rx_ms
            .store(shared.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Whether the manager asked this peer for `block`.
    fn requested(&self, block: &Block) -> bool {
        crate::sync::lock(&self.shared().requested_blocks).contains(&block.block_hash())
    }

    /// A block the manager asked for, with the frame it came in: its context-free work (hashes,
    /// Core's CheckBlock, the interpreter's parse) is done here on a blocking thread, in one of
    /// the shared [`super::PREPARED_BLOCKS_AHEAD`] slots, while the chain connects the blocks
    /// before it, as `import`'s reader thread does.
    async fn on_requested_block(&self, block: Block, mut frame: Vec<u8>, permit: OwnedSemaphorePermit) -> Result<(), Exit> {
        self.block_arrived();
        // While the slots are taken, the chain is the bottleneck, not the peer: its next blocks
        // wait unread, which the stall check must not blame on it.
        let shared = self.shared();
        shared.waiting_budget.store(true, Ordering::Relaxed);
        let slot = self.env.prepared_blocks.clone().acquire_owned().await;
        shared.waiting_budget.store(false, Ordering::Relaxed);
        let slot = slot.map_err(|_| Exit::quiet("closing"))?;
        // The payload is the block's serialization, as the block file stores it.
        frame.drain(..HEADER_LEN);
        let params = self.env.node.params.clone();
        let prepared = tokio::task::spawn_blocking(move || PreparedBlock::new(block, frame, &params))
            .await
            .map_err(|e| Exit::disconnect(format!("block preparation failed: {e}")))?;
        self.env
            .events
            .send(Event::Block {
                id: shared.id,
                block: Box::new(prepared),
                permits: [permit, slot],
            })
            .await
            .map_err(|_| Exit::quiet("node shutting down"))
    }

    pub(super) async fn handle(&mut self, msg: NetworkMessage, permit: OwnedSemaphorePermit) -> Result<(), Exit> {
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

    pub(super) async fn on_version(&mut self, v: VersionMessage) -> Result<(), Exit> {
        let shared = self.shared().clone();
        if v.version < MIN_PEER_PROTO_VERSION {
            return Err(Exit::disconnect(format!(
                "using obsolete version {}, disconnecting peer={}",
                v.version, shared.id
            )));
        }
        if shared.inbound && crate::sync::lock(&self.env.local_nonces).contains(&v.nonce) {
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
        *crate::sync::lock(&shared.info) = Some(info.clone());
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

    pub(super) async fn on_verack(&mut self) -> Result<(), Exit> {
        let Some(info) = self.info.clone() else {
            return Err(Exit::ban("verack before version"));
        };
        if self.shared().conn_type == ConnType::Feeler {
            return Ok(()); // completed at its `version`, being closed
        }
        *crate::sync::lock(&self.shared().info) = Some(info.clone());
        self.phase = Phase::Ready;
        if info.version >= SENDHEADERS_VERSION {
            self.out.send(NetworkMessage::SendHeaders).await?;
        }
        // BIP152: we can serve version 2 compact blocks, but do not ask for announcements yet.
        if info.version >= crate::p2p::compact_relay::SHORT_IDS_BLOCKS_VERSION {
            self.out.send(crate::p2p::compact_relay::sendcmpct_message(false)).await?;
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

    pub(super) async fn on_message(&mut self, msg: NetworkMessage, permit: OwnedSemaphorePermit) -> Result<(), Exit> {
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
            NetworkMessage::GetHeaders(g) => self.on_getheaders(g).await,
            NetworkMessage::GetBlocks(g) => self.on_getblocks(g).await,
            NetworkMessage::GetData(items) => self.on_getdata(items, permit).await,
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
                self.block_arrived();
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
                self.block_arrived();
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

    /// Runs `f` on the chain off the runtime (see [`crate::chain::SharedChain::read_on_blocking_thread`]):
    /// serving peers reads blocks and filters from disk.
    pub(super) async fn chain<T: Send + 'static>(&self, f: impl FnOnce(&ChainManager) -> T + Send + 'static) -> Result<T, Exit> {
        self.env
            .node
            .chain
            .read_on_blocking_thread(f)
            .await
            .map_err(|e| Exit::disconnect(format!("internal error: {e}")))
    }
}

pub(super) async fn read_loop(
    mut rd: crate::p2p::transport::FrameReader,
    handshake: crate::p2p::handshake_timer::HandshakeTimer,
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
        crate::sync::lock(&env.local_nonces).insert(our_nonce);
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
                crate::p2p::handshake_timer::POLL
            };
            let mut header = match rd.read_header(env.magic, idle, s.peer_timeout).await {
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
            if let Some(why) = codec::rejection(&frame, &mut header) {
                shared.recv_per_msg.add("", size as u64);
                tracing::debug!(target: "blvm::net", "{why}, peer={}", shared.id);
                r.rate_limit()?;
                continue;
            }
            shared.recv_per_msg.add(&header.command, size as u64);
            tracing::debug!(target: "blvm::net", "received: {} ({} bytes) peer={}", header.command, header.len, shared.id);
            // Checked on the raw byte: rust-bitcoin refuses to decode it.
            if r.phase == Phase::Ready && crate::p2p::compact_relay::invalid_sendcmpct(&header.command, &frame[HEADER_LEN..]) {
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
            let msg = match msg {
                NetworkMessage::Block(block) if r.phase == Phase::Ready && r.requested(&block) => {
                    r.rate_limit()?;
                    r.on_requested_block(block, frame, permit).await?;
                    continue;
                }
                other => {
                    drop(frame);
                    other
                }
            };
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
    crate::sync::lock(&env.local_nonces).remove(&our_nonce);
    match exit {
        Ok(()) => Exit::quiet("closed"),
        Err(e) => e,
    }
}

/// Whether a message is a `getdata` asking for a filtered block (BIP37 MSG_FILTERED_BLOCK).
fn asks_filtered_block(msg: &NetworkMessage) -> bool {
    matches!(msg, NetworkMessage::GetData(items) if items.iter().any(|i| matches!(i, Inventory::Unknown { inv_type: crate::p2p::bloom::MSG_FILTERED_BLOCK, .. })))
}

fn frame_exit(e: FrameError) -> Exit {
    let ban = e.is_misbehaviour();
    Exit {
        reason: e.to_string(),
        ban,
    }
}

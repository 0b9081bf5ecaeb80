//! Blocks: the download scheduler's requests and stall checks, `block` messages (with Core's
//! rule for unrequested blocks), block announcements (`inv`, `notfound`) and the announcement of
//! a new tip to peers.

use super::manager::{encode, Manager};
use super::peer::ConnType;
use super::relay;
use super::PeerId;
use crate::chain::manager::MIN_BLOCKS_TO_KEEP;
use crate::chain::{BlockOutcome, ChainManager};
use crate::validation::block_check::is_block_mutated;
use crate::validation::prepared::PreparedBlock;
use crate::validation::Reject;
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::{Block, BlockHash};
use std::collections::HashSet;
use std::time::Instant;

/// A block from a peer as the manager gets it.
pub(super) enum Received {
    /// Decoded only (unrequested, or reconstructed from a compact block).
    Decoded(Block),
    /// Prepared on the peer's reader task: its hashes, context-free checks and the
    /// interpreter's parse are reused, with the same outcome.
    Prepared(Box<PreparedBlock>),
}

impl Received {
    /// The block itself.
    fn block(&self) -> &Block {
        match self {
            Received::Decoded(b) => b,
            Received::Prepared(p) => &p.block,
        }
    }

    /// Core's IsBlockMutated, from the prepared hashes when there are some.
    fn mutation(&self, check_witness: bool) -> Option<Reject> {
        match self {
            Received::Decoded(b) => is_block_mutated(b, check_witness),
            Received::Prepared(p) => p.mutation(check_witness),
        }
    }
}

/// Announcements by `headers` carry at most this many headers; longer runs use `inv`.
pub const MAX_BLOCKS_TO_ANNOUNCE: usize = 8;
/// Most blocks fetched directly from a peer announcing a chain off our best header chain
/// (Core's MAX_BLOCKS_IN_TRANSIT_PER_PEER).
pub const MAX_DIRECT_FETCH: usize = 16;

impl Manager {
    /// Hands out block requests to every peer with room.
    pub(super) fn schedule(&mut self) {
        let node = self.node.clone();
        let mut requests: Vec<(PeerId, Vec<BlockHash>)> = Vec::new();
        let mut compact = None;
        node.chain.read(|c| {
            let background = c.background_download_range().is_some();
            if !self.sync.is_syncing(c) && !background && self.sync.requested.is_empty() {
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
            // As Core: in initial block download no blocks are asked of a limited peer (it may
            // serve only its last 288 blocks, or, loading a snapshot, none below its base).
            let ibd = node.is_initial_block_download(c);
            for id in ids {
                if let Some(p) = self.peers.get_mut(&id) {
                    if ibd && p.sync.limited {
                        continue;
                    }
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
                    let got = self.sync.assign(c, id, &mut p.sync, now);
                    // As Core's direct fetch: a lone new block on our tip, the only one in
                    // flight, is asked of a compact block peer as MSG_CMPCT_BLOCK (never under
                    // -blocksonly, which ignores cmpctblock).
                    if let [one] = got.as_slice() {
                        let on_tip = c.entry(one).is_some_and(|e| e.header.prev_blockhash == c.tip().hash);
                        if !self.s.blocks_only && p.cmpct.provides && on_tip && self.sync.requested.len() == 1 {
                            compact = Some(*one);
                        }
                    }
                    if !got.is_empty() {
                        requests.push((id, got));
                    }
                }
            }
        });
        for (id, hashes) in requests {
            self.publish_in_flight(id);
            tracing::debug!(target: "blvm::net", peer = id, n = hashes.len(), first = %hashes[0], "requesting blocks");
            let inv = |h: BlockHash| {
                if compact == Some(h) {
                    Inventory::CompactBlock(h)
                } else {
                    Inventory::WitnessBlock(h)
                }
            };
            self.send(id, NetworkMessage::GetData(hashes.into_iter().map(inv).collect()));
        }
    }

    /// Core's HeadersDirectFetchBlocks: a peer's newly announced chain with more work than our
    /// tip that is not the best header chain (which the scheduler fetches) is fetched from that
    /// peer directly, up to [`MAX_DIRECT_FETCH`] blocks back to the active chain; a lone new
    /// block on our tip goes as MSG_CMPCT_BLOCK to a compact block peer (not under -blocksonly).
    pub(super) fn direct_fetch(&mut self, id: PeerId, last: BlockHash) {
        let node = self.node.clone();
        let Some(p) = self.peers.get_mut(&id) else { return };
        let Some((wanted, on_tip)) = node.chain.read(|c| {
            let e = c.entry(&last)?;
            if e.chainwork <= c.tip().chainwork || self.sync.on_best_chain(&last, e.height) || e.is_failed() {
                return None;
            }
            let mut wanted = Vec::new();
            let mut walk = e.clone();
            while !c.is_active(&walk.hash) {
                if !walk.have_data() && !self.sync.requested.contains_key(&walk.hash) {
                    wanted.push(walk.hash);
                }
                if wanted.len() > MAX_DIRECT_FETCH {
                    // Too far from our chain: left to the scheduler.
                    return None;
                }
                match c.entry(&walk.header.prev_blockhash) {
                    Some(prev) => walk = prev.clone(),
                    None => return None,
                }
            }
            wanted.reverse();
            let on_tip = wanted.len() == 1 && e.header.prev_blockhash == c.tip().hash;
            Some((wanted, on_tip))
        }) else {
            return;
        };
        if wanted.is_empty() {
            return;
        }
        let now = Instant::now();
        for h in &wanted {
            self.sync.mark_requested(id, &mut p.sync, *h, now);
        }
        let compact = !self.s.blocks_only && on_tip && p.cmpct.provides && self.sync.requested.len() == 1;
        let inv: Vec<Inventory> = wanted
            .into_iter()
            .map(|h| {
                if compact {
                    Inventory::CompactBlock(h)
                } else {
                    Inventory::WitnessBlock(h)
                }
            })
            .collect();
        tracing::debug!(target: "blvm::net", peer = id, n = inv.len(), "direct fetch of a newly announced chain");
        self.send(id, NetworkMessage::GetData(inv));
        self.publish_in_flight(id);
    }

    /// Publishes the heights of the blocks in flight from a peer (getpeerinfo `inflight`).
    pub(super) fn publish_in_flight(&self, id: PeerId) {
        let node = self.node.clone();
        let Some(p) = self.peers.get(&id) else { return };
        let mut heights: Vec<u32> = node
            .chain
            .read(|c| p.sync.in_flight.keys().filter_map(|h| c.entry(h).map(|e| e.height)).collect());
        heights.sort_unstable();
        *crate::sync::lock(&p.handle.shared.blocks_in_flight) = heights;
        *crate::sync::lock(&p.handle.shared.requested_blocks) = p.sync.in_flight.keys().copied().collect();
    }

    /// A `block` message: a mutated block (transactions not matching the header's commitments)
    /// is the sender's misbehaviour and leaves other peers' requests for the block alone (Core's
    /// IsBlockMutated check); otherwise it is processed.
    pub(super) async fn on_block(&mut self, id: PeerId, block: Received) {
        let node = self.node.clone();
        let hash = block.block().block_hash();
        let mutated = node.chain.read(|c| {
            c.entry(&block.block().header.prev_blockhash)
                .and_then(|prev| block.mutation(c.params().segwit_enforced_at(prev.height + 1)))
        });
        if let Some(r) = mutated {
            tracing::debug!(target: "blvm::validation", "Block mutated: {}, {}", r.reason, r.detail);
            tracing::debug!(target: "blvm::net", "Received mutated block from peer={id}");
            if let Some(p) = self.peers.get_mut(&id) {
                self.sync.received(id, &mut p.sync, &hash);
            }
            self.misbehaving(id, &format!("mutated block: {r}"));
            return;
        }
        self.process_block_from(id, block, false).await
    }

    /// Processes a block from a peer: unrequested blocks pass Core's AcceptBlock rule first; the
    /// block is submitted, and an invalid one makes the peer misbehave unless it was
    /// reconstructed from a compact block (`via_compact`: BIP152 lets peers relay those before
    /// validating them fully). A valid new block may make the peer high-bandwidth.
    pub(super) async fn process_block_from(&mut self, id: PeerId, block: Received, via_compact: bool) {
        let node = self.node.clone();
        let hash = block.block().block_hash();
        let requested = match self.peers.get_mut(&id) {
            Some(p) => self.sync.received(id, &mut p.sync, &hash),
            None => false,
        };
        let prev = block.block().header.prev_blockhash;
        if !requested {
            let verdict = node.chain.read(|c| unrequested_block_verdict(c, block.block()));
            if let Some(why) = verdict {
                tracing::debug!(target: "blvm::net", peer = id, block = %hash, "ignoring unrequested block: {why}");
                return;
            }
        }
        let submitted = match block {
            Received::Decoded(b) => node.submit_block(b).await,
            Received::Prepared(p) => node.submit_prepared(*p).await,
        };
        let outcome = match submitted {
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
                        .store(crate::clock::unix_now(), std::sync::atomic::Ordering::Relaxed);
                    let height = node.chain.read(|c| c.entry(&hash).map(|e| e.height));
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
                if via_compact {
                    // As Core: any other request for the block is settled.
                    if let Some(owner) = self.sync.requested.remove(&hash) {
                        if let Some(p) = self.peers.get_mut(&owner) {
                            p.sync.in_flight.remove(&hash);
                        }
                    }
                }
                self.compact_block_done(&hash);
                self.maybe_set_hb_after_block(id, &hash);
                node.chain.read(|c| {
                    self.sync.on_new_header(c, &hash);
                })
            }
            BlockOutcome::Duplicate => {}
            BlockOutcome::Orphan => {
                // As Core (BLOCK_MISSING_PREV): a block whose parent we lack is misbehaviour;
                // headers come first.
                tracing::info!(target: "blvm::validation", "ProcessNewBlock: AcceptBlock FAILED (prev-blk-not-found)");
                tracing::debug!(target: "blvm::net", peer = id, block = %hash, parent = %prev, "block does not connect");
                self.misbehaving(id, &format!("block {hash}: prev-blk-not-found"));
            }
            BlockOutcome::Invalid(r) => {
                if via_compact {
                    // BIP152 lets peers relay compact blocks before validating them fully.
                    tracing::debug!(target: "blvm::net", peer = id, block = %hash, "block reconstructed from a compact block is invalid: {r}");
                } else if r.reason == "time-too-new" {
                    self.disconnect(id, &format!("block {hash}: {r}"));
                } else {
                    self.misbehaving(id, &format!("invalid block {hash}: {r}"));
                }
                if r.reason != "time-too-new" && !r.may_be_mutated {
                    let failed: HashSet<PeerId> = node.chain.read(|c| {
                        self.sync.rebuild(c);
                        // Forget the peer's claims on the invalid branch.
                        self.peers
                            .iter()
                            .filter(|(_, p)| p.sync.best.is_some_and(|(b, _)| c.entry(&b).is_some_and(|e| e.is_failed())))
                            .map(|(i, _)| *i)
                            .collect()
                    });
                    for pid in &failed {
                        if let Some(p) = self.peers.get_mut(pid) {
                            p.sync.best = None;
                            self.initial_headers.abandon(&mut p.headers_sync);
                        }
                    }
                    // Another peer takes over the headers sync from those that led here.
                    let others: Vec<PeerId> = self.peers.keys().copied().filter(|i| !failed.contains(i)).collect();
                    for pid in others {
                        self.maybe_start_headers_sync(pid);
                    }
                }
            }
        }
        self.schedule();
    }

    /// An `inv`: announced blocks update the peer's best block (an unknown one asks for headers),
    /// transactions go to [`Self::on_tx_inv`].
    pub(super) fn on_inv(&mut self, id: PeerId, items: Vec<Inventory>) {
        let node = self.node.clone();
        let mut unknown_block = None;
        let mut txs = Vec::new();
        node.chain.read(|c| {
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
        });
        if let Some(h) = unknown_block {
            // As Core: a peer we sync headers with is asked; otherwise one new peer per newly
            // announced block.
            let ask = self
                .peers
                .get(&id)
                .is_some_and(|p| self.initial_headers.inv_should_ask(&p.headers_sync, &h));
            if ask {
                let loc = self.sync.locator();
                self.ask_for_announced(id, loc, h, Some(h));
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

    /// A `notfound`: releases the blocks and transactions the peer said it does not have.
    pub(super) fn on_notfound(&mut self, id: PeerId, items: Vec<Inventory>) {
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

    /// Disconnects peers stalling block download and hands their blocks to others.
    pub(super) fn check_stalls(&mut self) {
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

    /// The active tip changed: announces it (by `headers` or `inv`) to peers that lack it, unless
    /// syncing, and schedules downloads.
    pub(super) fn on_tip_changed(&mut self) {
        let node = self.node.clone();
        let Some((tip, headers, syncing)) = node.chain.read(|c| {
            let tip = c.tip().clone();
            if tip.hash == self.last_tip {
                return None;
            }
            self.sync.on_new_header(c, &tip.hash);
            // The blocks connected since the last announcement (fork point of the old tip).
            let mut fork = self.last_tip;
            while !c.is_active(&fork) {
                match c.entry(&fork) {
                    Some(e) if e.height > 0 => fork = e.header.prev_blockhash,
                    _ => break,
                }
            }
            let fork_h = c.entry(&fork).map(|e| e.height).unwrap_or(0);
            self.erase_orphans_for_blocks(c, fork_h, tip.height);
            let mut headers = Vec::new();
            if tip.height > fork_h && (tip.height - fork_h) as usize <= MAX_BLOCKS_TO_ANNOUNCE && !self.sync.is_syncing(c) {
                for h in fork_h + 1..=tip.height {
                    if let Some(e) = c.hash_at(h).and_then(|x| c.entry(&x)) {
                        headers.push(e.header);
                    }
                }
            }
            let syncing = self.sync.is_syncing(c);
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
            // BIP152 high-bandwidth peers get a single new block as `cmpctblock`.
            let compact = (headers.len() == 1 && !syncing)
                .then(|| self.compact_tip_frame(c, &tip.hash))
                .flatten();
            let headers_by_peer = (headers, have, compact);
            Some((tip, headers_by_peer, syncing))
        }) else {
            return;
        };
        self.last_tip = tip.hash;
        self.rejects = relay::RollingSet::new(50_000);
        self.reconsiderable = relay::RollingSet::new(super::package_relay::MAX_RECONSIDERABLE_REJECTS);
        let (headers, have, compact) = headers;
        if !syncing {
            let magic = self.magic();
            let by_headers = (!headers.is_empty()).then(|| encode(magic, NetworkMessage::Headers(headers)));
            let by_inv = encode(magic, NetworkMessage::Inv(vec![Inventory::Block(tip.hash)]));
            for (id, p) in &self.peers {
                if !p.ready || have.contains(id) || matches!(p.conn_type, ConnType::Feeler | ConnType::AddrFetch) {
                    continue;
                }
                if let Some(f) = compact.as_ref().filter(|_| p.cmpct.provides && p.cmpct.wants_hb) {
                    p.handle.send_frame(f.clone());
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
        self.consider_eviction_all();
    }
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

//! Headers sync with peers: the initial headers-sync peer and its stall timeout, one
//! outstanding `getheaders` per peer, `headers` messages (well-formedness, the anti-DoS
//! low-work check and pre-sync, acceptance into the block index) and the sync progress lines.

use super::codec;
use super::headers_presync::{ChainStart, HeadersPresync, PresyncRules};
use super::initial_headers::{Deadline, Stalled};
use super::manager::{Manager, Peer};
use super::peer::{self, ConnType};
use super::sync::{self, HeadersOutcome};
use super::PeerId;
use crate::chain::ChainManager;
use bitcoin::block::Header;
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::GetHeadersMessage;
use bitcoin::p2p::ServiceFlags;
use bitcoin::{BlockHash, Work};

/// A `getheaders` unanswered for this long no longer blocks the next one (Core's
/// HEADERS_RESPONSE_TIME, on the mockable clock).
pub const HEADERS_RESPONSE_TIME_MS: i64 = 2 * 60 * 1000;

impl Manager {
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

    /// How many peers are preferred for download.
    fn preferred_download_peers(&self) -> usize {
        self.peers.keys().filter(|i| self.preferred_download(**i)).count()
    }

    /// The best header's time and whether it is within a day of now (then every peer is synced
    /// with, as Core).
    fn best_header_age(&self) -> Option<(i64, bool)> {
        let node = self.node.clone();
        let t = node.chain.read(|c| i64::from(c.best_header().header.time));
        Some((t, super::initial_headers::caught_up(t, crate::clock::unix_now())))
    }

    /// Sends the peer its initial `getheaders` when Core would: while far behind, only to one
    /// peer at a time (one we download blocks from), to every peer once caught up.
    pub(super) fn maybe_start_headers_sync(&mut self, id: PeerId) {
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
        let spacing = self.node.params.consensus.pow_target_spacing as i64;
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
    pub(super) fn maybe_send_getheaders(&mut self, id: PeerId, locator: Vec<BlockHash>, stop: BlockHash) -> bool {
        let now = crate::clock::unix_now_ms() as i64;
        let Some(p) = self.peers.get_mut(&id) else { return false };
        if p.sync.headers_asked.is_some_and(|t| now - t < HEADERS_RESPONSE_TIME_MS) {
            return false;
        }
        p.sync.headers_asked = Some(now);
        self.send(id, NetworkMessage::GetHeaders(GetHeadersMessage::new(locator, stop)));
        true
    }

    /// Headers asked for a block `announced` by the peer whose parent we lack (Core's
    /// MaybeSendGetHeaders). While our last request to it is outstanding, its reply may predate
    /// the block, so the block is remembered and asked for once that reply is in
    /// ([`Self::ask_for_unknown_announced`]); else the announcement would be lost until the
    /// peer's next block. Returns whether a request went out.
    pub(super) fn ask_for_announced(&mut self, id: PeerId, locator: Vec<BlockHash>, stop: BlockHash, announced: Option<BlockHash>) -> bool {
        let sent = self.maybe_send_getheaders(id, locator, stop);
        if !sent {
            if let Some(p) = self.peers.get_mut(&id) {
                p.sync.unknown_announced = announced;
            }
        }
        sent
    }

    /// Core's headers-sync stall check for every peer (in peer order, as Core's message
    /// handler), then peers without a sync get their chance.
    pub(super) fn check_headers_sync(&mut self) {
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
    pub(super) fn check_headers_sync_of(&mut self, id: PeerId) {
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

    /// A `headers` message: continues the peer's pre-sync if one runs; a chain below the
    /// anti-DoS work threshold starts one (full message) or is ignored (Core's "Ignoring
    /// low-work chain"); anything else is validated and stored.
    pub(super) fn on_headers(&mut self, id: PeerId, headers: Vec<Header>) {
        let full = headers.len() == codec::MAX_HEADERS_RESULTS;
        if !self.headers_well_formed(id, &headers) {
            return;
        }
        // As Core: an empty message, one continuing a pre-sync, or one that connects to our
        // index answers our last getheaders; an unconnecting one (an announcement) does not.
        let node = self.node.clone();
        let answers = headers.first().is_none_or(|h| {
            self.peers.get(&id).is_some_and(|p| p.presync.is_some()) || node.chain.read(|c| c.entry(&h.prev_blockhash).is_some())
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
        let node = self.node.clone();
        // As Core: a noban peer is trusted with its headers (no anti-DoS work check).
        let verdict = if self.is_noban(id) {
            LowWork::Enough
        } else {
            node.chain.read(|c| low_work_verdict(c, &headers, self.s.minimum_chain_work))
        };
        match verdict {
            LowWork::Enough => self.accept_headers_from(id, headers, full),
            LowWork::Ignore(height) => {
                tracing::debug!(target: "blvm::net", "Ignoring low-work chain (height={height}) from peer={id}");
                // The reply may predate a block announced while it was outstanding: that one
                // is asked for too (else its announcement is lost until the next block).
                self.ask_for_unknown_announced(id);
            }
            LowWork::Presync(_) if self.inbound_presyncs_full(id) => {
                tracing::debug!(target: "blvm::net", "Ignoring low-work chain from peer={id}: {MAX_INBOUND_PRESYNCS} inbound peers are already pre-syncing");
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

    /// Whether `id` is inbound and [`MAX_INBOUND_PRESYNCS`] inbound peers already pre-sync. (A
    /// count over the peers, done only when a pre-sync would start: at most once per full
    /// low-work `headers` message, itself 2,000 proof-of-work checks.)
    fn inbound_presyncs_full(&self, id: PeerId) -> bool {
        let inbound = |p: &Peer| p.conn_type == ConnType::Inbound;
        self.peers.get(&id).is_some_and(inbound)
            && self.peers.values().filter(|p| inbound(p) && p.presync.is_some()).count() >= MAX_INBOUND_PRESYNCS
    }

    /// Core's first checks of a `headers` message, before anything else: each header's proof
    /// of work meets its own target, and each follows the previous one. A peer failing them
    /// misbehaves.
    fn headers_well_formed(&mut self, id: PeerId, headers: &[Header]) -> bool {
        let node = self.node.clone();
        let params = node.params.clone();
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
        let node = self.node.clone();
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
            node.chain.read(|c| loc.extend(peer::locator(c, &start)));
            self.maybe_send_getheaders(id, loc, BlockHash::all_zeros());
        }
    }

    /// Stores headers from a peer into the block index, updates its best known block, asks for more
    /// after a full message, and schedules downloads.
    fn accept_headers_from(&mut self, id: PeerId, headers: Vec<Header>, full: bool) {
        let node = self.node.clone();
        let last_sent = headers.last().map(|h| h.block_hash());
        let Some((outcome, peer_best, locator, best_work, became_caught_up)) = node.chain.write(|c| {
            let now = crate::clock::unix_now();
            let caught_up = |c: &ChainManager| super::initial_headers::caught_up(i64::from(c.best_header().header.time), now);
            let was_caught_up = caught_up(c);
            let outcome = match sync::accept_headers(c, &headers) {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(target: "blvm::net", "block index error while accepting headers: {e}");
                    return None;
                }
            };
            let mut peer_best = None;
            let mut best_work = None;
            let mut locator = None;
            if let HeadersOutcome::Accepted { last, height } = &outcome {
                let before = self.sync.best_header().0;
                self.sync.on_new_header(c, last);
                if self.sync.best_header().0 != before && node.is_initial_block_download(c) {
                    log_header_sync(c, last, *height);
                }
                let current = self.peers.get(&id).and_then(|p| p.sync.best);
                let current_work = current.and_then(|(h, _)| c.entry(&h)).map(|e| e.chainwork);
                let last_work = c.entry(last).map(|e| e.chainwork);
                // As Core's UpdateBlockAvailability, equal work replaces the peer's best too (a
                // block at the height of one we invalidated must still be fetched).
                let better = match current_work {
                    Some(cur) => last_work.is_some_and(|n| n >= cur),
                    None => true,
                };
                if better {
                    peer_best = Some((*last, *height));
                }
                best_work = if better { last_work } else { current_work }.map(|w| (w, c.tip().chainwork));
                if full {
                    locator = Some(if self.sync.best_header().0 == *last {
                        self.sync.locator()
                    } else {
                        peer::locator(c, last)
                    });
                }
            }
            let became_caught_up = !was_caught_up && caught_up(c);
            Some((outcome, peer_best, locator, best_work, became_caught_up))
        }) else {
            return;
        };
        if let Some((peer_work, tip_work)) = best_work {
            self.maybe_protect_outbound(id, peer_work, tip_work);
        }
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
                match locator {
                    Some(loc) => {
                        self.maybe_send_getheaders(id, loc, BlockHash::all_zeros());
                    }
                    None => self.ask_for_unknown_announced(id),
                }
                if became_caught_up {
                    // As Core's next SendMessages round: now every peer gets its getheaders,
                    // so blocks are fetched from all of them, not only the sync peer.
                    let mut ids: Vec<PeerId> = self.peers.iter().filter(|(_, p)| p.ready).map(|(i, _)| *i).collect();
                    ids.sort_unstable();
                    for other in ids {
                        self.maybe_start_headers_sync(other);
                    }
                }
                self.log_progress();
                if let Some((last, _)) = peer_best {
                    self.direct_fetch(id, last);
                }
                self.schedule();
            }
            HeadersOutcome::Unconnecting => {
                // As Core >= 28: not misbehaviour (we may have ignored its parent as low-work);
                // ask for the gap.
                let loc = self.sync.locator_before_best();
                if self.ask_for_announced(id, loc, BlockHash::all_zeros(), last_sent) {
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
            HeadersOutcome::Empty => self.ask_for_unknown_announced(id),
        }
    }

    /// After a complete reply: a block the peer announced meanwhile that the reply did not bring
    /// is asked for now (otherwise the announcement, dropped while our request was outstanding,
    /// would be lost until the peer's next block).
    fn ask_for_unknown_announced(&mut self, id: PeerId) {
        let node = self.node.clone();
        let Some(hash) = self.peers.get_mut(&id).and_then(|p| p.sync.unknown_announced.take()) else {
            return;
        };
        let known = node.chain.read(|c| c.entry(&hash).is_some());
        if !known {
            let loc = self.sync.locator_before_best();
            self.maybe_send_getheaders(id, loc, BlockHash::all_zeros());
        }
    }

    /// The sync progress line, if one is due ("sync started" as soon as headers put us behind,
    /// then at the progress interval, "sync complete" at the end).
    pub(super) fn log_progress(&mut self) {
        let node = self.node.clone();
        let ready = self.peers.values().filter(|p| p.ready).count();
        let line = node.chain.read(|c| self.sync.progress_line(c, ready, self.s.progress_interval));
        if let Some(l) = line {
            tracing::info!(target: "blvm::net", "{l}");
        }
    }
}

/// Inbound peers that may pre-sync a low-work header chain at once. Each pre-sync holds up to
/// about 2 MB (commitment bits and the redownload buffer), so this caps what inbound peers can
/// make the node hold at about 16 MB, however many connect. Outbound peers, which we chose and
/// which carry initial sync, are never refused.
pub const MAX_INBOUND_PRESYNCS: usize = 8;

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
    LowWork::Presync(Box::new(HeadersPresync::new(cs, threshold, rules, crate::clock::unix_now())))
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

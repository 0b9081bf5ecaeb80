//! Headers-first synchronisation: header acceptance (every header validated before any block is
//! requested), the best-header chain, and the block download scheduler (at most
//! [`MAX_BLOCKS_IN_TRANSIT_PER_PEER`] blocks in flight per peer inside a window of
//! [`BLOCK_DOWNLOAD_WINDOW`] blocks past the active tip, stall detection and reassignment,
//! progress reporting).

use super::PeerId;
use crate::chain::{ChainError, ChainManager};
use bitcoin::block::Header;
use bitcoin::BlockHash;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Blocks requested from one peer at a time (Core's MAX_BLOCKS_IN_TRANSIT_PER_PEER).
pub const MAX_BLOCKS_IN_TRANSIT_PER_PEER: usize = 16;
/// How far past the active tip blocks are fetched (Core's BLOCK_DOWNLOAD_WINDOW).
pub const BLOCK_DOWNLOAD_WINDOW: u32 = 1024;
/// Upper bound of the adaptive stall timeout.
pub const MAX_STALL_TIMEOUT: Duration = Duration::from_secs(64);

/// What a `headers` message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadersOutcome {
    /// Every header was accepted (or already known); the last one and its height.
    Accepted {
        /// Hash of the last header.
        last: BlockHash,
        /// Its height.
        height: u32,
    },
    /// The first header's parent is unknown.
    Unconnecting,
    /// A header broke a rule; the peer gets banned.
    Invalid(String),
    /// A header is too far in the future: disconnect without ban (our clock may be off).
    TimeTooNew(String),
    /// Empty message.
    Empty,
}

/// Validates a `headers` message and adds its headers to the block index.
#[allow(clippy::result_large_err)]
pub fn accept_headers(c: &mut ChainManager, headers: &[Header]) -> Result<HeadersOutcome, ChainError> {
    let Some(first) = headers.first() else {
        return Ok(HeadersOutcome::Empty);
    };
    for w in headers.windows(2) {
        if w[1].prev_blockhash != w[0].block_hash() {
            return Ok(HeadersOutcome::Invalid("non-continuous headers sequence".into()));
        }
    }
    if c.entry(&first.prev_blockhash).is_none() {
        return Ok(HeadersOutcome::Unconnecting);
    }
    let mut last = None;
    for h in headers {
        match c.accept_header(h)? {
            Ok(hash) => last = Some(hash),
            Err(r) if r.reason == "time-too-new" => return Ok(HeadersOutcome::TimeTooNew(format!("header {}: {r}", h.block_hash()))),
            Err(r) => return Ok(HeadersOutcome::Invalid(format!("invalid header {}: {r}", h.block_hash()))),
        }
    }
    match last.and_then(|h| c.entry(&h).map(|e| (h, e.height))) {
        Some((last, height)) => Ok(HeadersOutcome::Accepted { last, height }),
        None => Ok(HeadersOutcome::Empty),
    }
}

/// Block-download state of one peer.
#[derive(Debug, Default)]
pub struct PeerSync {
    /// Best header we know the peer has: hash and height.
    pub best: Option<(BlockHash, u32)>,
    /// Blocks requested from it and when.
    pub in_flight: HashMap<BlockHash, Instant>,
    /// When we last asked it for headers, UNIX ms on the mockable clock (None once answered).
    pub headers_asked: Option<i64>,
    /// It serves witness blocks (NODE_WITNESS).
    pub witness: bool,
    /// It serves only its last 288 blocks (NODE_NETWORK_LIMITED without NODE_NETWORK).
    pub limited: bool,
    /// The last block it announced in headers that did not connect while our `getheaders` was
    /// outstanding (Core's hashLastUnknownBlock): if the reply does not bring it, we ask again.
    pub unknown_announced: Option<BlockHash>,
}

/// Progress figures for the log.
#[derive(Debug)]
struct Progress {
    last_log: Instant,
    last_height: u32,
    rate: f64,
    syncing: bool,
    started: Instant,
    start_height: u32,
}

/// The block download scheduler: the best-header chain, blocks in flight, stall timeout, progress.
#[derive(Debug)]
pub struct BlockSync {
    /// The best-work valid header chain, by height (index 0 = genesis).
    pub header_chain: Vec<BlockHash>,
    /// Every block in flight and who was asked.
    pub requested: HashMap<BlockHash, PeerId>,
    /// Current stall timeout (adaptive).
    pub stall_timeout: Duration,
    base_stall: Duration,
    progress: Progress,
    /// Height on the best header chain, above the fork point, up to which every block is
    /// stored (Core's last common block advancing over downloaded blocks), with its hash so a
    /// changed header chain invalidates it; the download window starts there.
    stored_through: Option<(u32, BlockHash)>,
}

impl BlockSync {
    /// Builds the best-header chain from the block index.
    pub fn new(c: &ChainManager, stall_timeout: Duration) -> Self {
        let mut s = BlockSync {
            header_chain: Vec::new(),
            requested: HashMap::new(),
            stall_timeout,
            base_stall: stall_timeout,
            stored_through: None,
            progress: Progress {
                last_log: Instant::now(),
                last_height: c.height(),
                rate: 0.0,
                syncing: false,
                started: Instant::now(),
                start_height: c.height(),
            },
        };
        s.rebuild(c);
        s
    }

    /// Recomputes the best-header chain from scratch (startup, after an invalid block).
    pub fn rebuild(&mut self, c: &ChainManager) {
        let tip = c.tip();
        let best = c
            .entries()
            .filter(|e| !e.is_failed())
            .max_by(|a, b| a.chainwork.cmp(&b.chainwork).then(b.sequence.cmp(&a.sequence)))
            .map(|e| e.hash)
            .unwrap_or(tip.hash);
        let best = match (c.entry(&best), c.entry(&tip.hash)) {
            (Some(b), Some(t)) if b.chainwork <= t.chainwork => tip.hash,
            _ => best,
        };
        let mut chain = Vec::new();
        let mut cur = c.entry(&best);
        while let Some(e) = cur {
            chain.push(e.hash);
            if e.height == 0 {
                break;
            }
            cur = c.entry(&e.header.prev_blockhash);
        }
        chain.reverse();
        if chain.is_empty() {
            chain.push(tip.hash);
        }
        self.header_chain = chain;
    }

    /// The best header: hash and height.
    pub fn best_header(&self) -> (BlockHash, u32) {
        let h = self.header_chain.len().saturating_sub(1);
        (self.header_chain[h], h as u32)
    }

    /// Whether `hash` at `height` is on the best-header chain.
    pub fn on_best_chain(&self, hash: &BlockHash, height: u32) -> bool {
        self.header_chain.get(height as usize) == Some(hash)
    }

    /// Considers `hash` as the new best header (if it has more work and is valid).
    pub fn on_new_header(&mut self, c: &ChainManager, hash: &BlockHash) {
        let Some(e) = c.entry(hash) else { return };
        if e.is_failed() {
            return;
        }
        // The best header may have been marked invalid since (invalidateblock, a block that
        // failed to connect): a header with equal work must then be able to replace it.
        if c.entry(&self.best_header().0).is_some_and(|b| b.is_failed()) {
            self.rebuild(c);
        }
        let (best, _) = self.best_header();
        if let Some(b) = c.entry(&best) {
            if e.chainwork <= b.chainwork {
                return;
            }
        }
        let mut path = Vec::new();
        let mut cur = Some(e);
        while let Some(x) = cur {
            if self.header_chain.get(x.height as usize) == Some(&x.hash) {
                break;
            }
            path.push(x.hash);
            if x.height == 0 {
                break;
            }
            cur = c.entry(&x.header.prev_blockhash);
        }
        let keep = e.height as usize + 1 - path.len();
        self.header_chain.truncate(keep);
        self.header_chain.extend(path.into_iter().rev());
    }

    /// A locator for the best header (Core's: ten dense, then doubling steps, genesis last).
    pub fn locator(&self) -> Vec<BlockHash> {
        self.locator_from(self.header_chain.len() as i64 - 1)
    }

    /// A locator starting at the parent of the best header, so that an up-to-date peer answers
    /// with at least one header and so tells us where it is (as Core does).
    pub fn locator_before_best(&self) -> Vec<BlockHash> {
        self.locator_from((self.header_chain.len() as i64 - 2).max(0))
    }

    fn locator_from(&self, start: i64) -> Vec<BlockHash> {
        let mut out = Vec::new();
        let mut h = start;
        let mut step = 1;
        while h >= 0 {
            out.push(self.header_chain[h as usize]);
            if h == 0 {
                break;
            }
            if out.len() >= 10 {
                step *= 2;
            }
            h = (h - step).max(0);
        }
        out
    }

    /// Height where the branch ending at `hash` leaves the best-header chain (None if that is
    /// more than two download windows back: such a peer is not useful for this sync).
    pub fn fork_with(&self, c: &ChainManager, hash: &BlockHash) -> Option<u32> {
        let mut e = c.entry(hash)?;
        for _ in 0..2 * BLOCK_DOWNLOAD_WINDOW {
            if self.on_best_chain(&e.hash, e.height) {
                return Some(e.height);
            }
            if e.height == 0 {
                return Some(0);
            }
            e = c.entry(&e.header.prev_blockhash)?;
        }
        None
    }

    /// Highest height where the active chain and the best-header chain agree.
    pub fn fork_height(&self, c: &ChainManager) -> u32 {
        let mut h = c.height().min(self.header_chain.len().saturating_sub(1) as u32);
        while h > 0 && c.hash_at(h) != Some(self.header_chain[h as usize]) {
            h -= 1;
        }
        h
    }

    /// Whether blocks are still missing below the best header.
    pub fn is_syncing(&self, c: &ChainManager) -> bool {
        self.best_header().1 > c.height()
    }

    /// Picks blocks for `peer` to download, records them as requested and returns them.
    pub fn assign(&mut self, c: &ChainManager, peer: PeerId, ps: &mut PeerSync, now: Instant) -> Vec<BlockHash> {
        let Some((pbest, pheight)) = ps.best else { return Vec::new() };
        if !ps.witness || ps.in_flight.len() >= MAX_BLOCKS_IN_TRANSIT_PER_PEER {
            return Vec::new();
        }
        // Only download along our best header chain, up to what the peer has.
        let limit = if self.on_best_chain(&pbest, pheight) {
            pheight
        } else {
            // The peer is on another branch: it can serve our best chain up to the fork point.
            match self.fork_with(c, &pbest) {
                Some(h) => h,
                None => return Vec::new(),
            }
        };
        let base = self.window_base(c);
        let end = limit.min(base + BLOCK_DOWNLOAD_WINDOW);
        let mut out = Vec::new();
        let mut h = base + 1;
        while h <= end && ps.in_flight.len() < MAX_BLOCKS_IN_TRANSIT_PER_PEER {
            let hash = self.header_chain[h as usize];
            h += 1;
            // As Core: never ask a limited peer for what it may have pruned (2 blocks of margin).
            if ps.limited && pheight.saturating_sub(h - 1) >= super::pruned_serving::NODE_NETWORK_LIMITED_MIN_BLOCKS - 2 {
                continue;
            }
            if self.requested.contains_key(&hash) {
                continue;
            }
            match c.entry(&hash) {
                Some(e) if e.have_data() || e.is_failed() => continue,
                None => continue,
                _ => {}
            }
            self.requested.insert(hash, peer);
            ps.in_flight.insert(hash, now);
            out.push(hash);
        }
        self.assign_historical(c, peer, ps, now, &mut out);
        out
    }

    /// Core's TryDownloadingHistoricalBlocks: with a snapshot chainstate, the blocks below its
    /// base that background validation needs, from a window past the historical tip, asked
    /// (after the blocks toward the network tip) only of a peer serving the whole chain that has
    /// the base in its best chain.
    fn assign_historical(&mut self, c: &ChainManager, peer: PeerId, ps: &mut PeerSync, now: Instant, out: &mut Vec<BlockHash>) {
        let (Some((from, base, base_height)), Some((pbest, pheight))) = (c.background_download_range(), ps.best) else {
            return;
        };
        if ps.limited || pheight < base_height || c.ancestor(&pbest, base_height).map(|e| e.hash) != Some(base) {
            return;
        }
        let end = base_height.min(from + BLOCK_DOWNLOAD_WINDOW);
        let mut h = from + 1;
        while h <= end && ps.in_flight.len() < MAX_BLOCKS_IN_TRANSIT_PER_PEER {
            let Some(hash) = c.ancestor(&base, h).map(|e| e.hash) else { return };
            h += 1;
            if self.requested.contains_key(&hash) || c.entry(&hash).is_none_or(|e| e.have_data() || e.is_failed()) {
                continue;
            }
            self.requested.insert(hash, peer);
            ps.in_flight.insert(hash, now);
            out.push(hash);
        }
    }

    /// Where the download window starts: the fork point with the active chain, moved up over
    /// blocks already stored (a branch with more work longer than the window is downloaded
    /// before it can connect). Resumes from the cached height, so each stored block is
    /// stepped over once.
    fn window_base(&mut self, c: &ChainManager) -> u32 {
        let fork = self.fork_height(c);
        let mut base = match self.stored_through {
            Some((h, hash)) if h > fork && self.header_chain.get(h as usize) == Some(&hash) => h,
            _ => fork,
        };
        while let Some(next) = self.header_chain.get(base as usize + 1) {
            if !c.entry(next).is_some_and(|e| e.have_data()) {
                break;
            }
            base += 1;
        }
        self.stored_through = self.header_chain.get(base as usize).map(|h| (base, *h));
        base
    }

    /// A block arrived (or was reported missing): it is no longer in flight.
    pub fn received(&mut self, peer: PeerId, ps: &mut PeerSync, hash: &BlockHash) -> bool {
        let ours = ps.in_flight.remove(hash).is_some();
        if self.requested.get(hash) == Some(&peer) {
            self.requested.remove(hash);
        }
        ours
    }

    /// Records a block as requested from `peer` outside the scheduler (a compact block being
    /// reconstructed from it), so it is not asked of anyone else meanwhile.
    pub fn mark_requested(&mut self, peer: PeerId, ps: &mut PeerSync, hash: BlockHash, now: Instant) {
        self.requested.insert(hash, peer);
        ps.in_flight.insert(hash, now);
    }

    /// Releases everything a departing peer had in flight.
    pub fn release(&mut self, peer: PeerId, ps: &mut PeerSync) -> usize {
        let n = ps.in_flight.len();
        for (h, _) in ps.in_flight.drain() {
            if self.requested.get(&h) == Some(&peer) {
                self.requested.remove(&h);
            }
        }
        n
    }

    /// Whether the peer is stalling: blocks in flight, none delivered for the stall timeout, and
    /// not because we are slow to process what it sent.
    pub fn is_stalling(&self, ps: &PeerSync, since_last_block: Duration, waiting_for_us: bool, now: Instant) -> Option<(usize, Duration)> {
        let oldest = ps.in_flight.values().min()?;
        let waited = now.duration_since(*oldest).min(since_last_block);
        (waited > self.stall_timeout && !waiting_for_us).then_some((ps.in_flight.len(), waited))
    }

    /// After a stall disconnect: be more patient next time (up to 64 s).
    pub fn stalled(&mut self) {
        self.stall_timeout = (self.stall_timeout * 2).min(MAX_STALL_TIMEOUT);
    }

    /// After a block connected: drift back towards the base timeout.
    pub fn progressed(&mut self) {
        let shrunk = self.stall_timeout.mul_f64(0.85);
        self.stall_timeout = shrunk.max(self.base_stall);
    }

    /// The progress line to log now, if any (every `interval` while syncing, and once at the end).
    pub fn progress_line(&mut self, c: &ChainManager, peers: usize, interval: Duration) -> Option<String> {
        let height = c.height();
        let (_, best) = self.best_header();
        let now = Instant::now();
        let p = &mut self.progress;
        // One block behind is the normal moment between a header and its block, not a sync.
        if best > height && (p.syncing || best - height > 1) {
            if !p.syncing {
                p.syncing = true;
                p.started = now;
                p.start_height = height;
                p.last_log = now;
                p.last_height = height;
                return Some(format!("sync started: height={height} headers={best} peers={peers}"));
            }
            let dt = now.duration_since(p.last_log);
            if dt < interval {
                return None;
            }
            let inst = f64::from(height.saturating_sub(p.last_height)) / dt.as_secs_f64().max(1e-3);
            p.rate = if p.rate == 0.0 { inst } else { 0.5 * p.rate + 0.5 * inst };
            p.last_log = now;
            p.last_height = height;
            let pct = 100.0 * f64::from(height) / f64::from(best.max(1));
            let eta = if p.rate > 0.0 {
                format!("{:.0}s", f64::from(best - height) / p.rate)
            } else {
                "unknown".into()
            };
            return Some(format!(
                "sync progress: height={height} headers={best} progress={pct:.1}% blocks/s={:.1} eta={eta} peers={peers}",
                p.rate
            ));
        }
        if p.syncing {
            p.syncing = false;
            let secs = now.duration_since(p.started).as_secs_f64();
            let n = height.saturating_sub(p.start_height);
            return Some(format!(
                "sync complete: height={height} blocks={n} secs={secs:.2} blocks/s={:.1}",
                f64::from(n) / secs.max(1e-3)
            ));
        }
        None
    }
}

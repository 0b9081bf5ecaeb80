//! Outbound peers on a stale chain (Core's ConsiderEviction and ChainSyncTimeoutState): an
//! automatic outbound peer whose best known block has less work than our tip gets
//! [`CHAIN_SYNC_TIMEOUT`] to show a chain with the tip's work of that moment, then one
//! `getheaders` and [`HEADERS_RESPONSE_TIME_MS`] to answer; otherwise it is disconnected, so
//! our outbound slots are not held by peers that cannot tell us about new blocks. Up to
//! [`MAX_PROTECTED_OUTBOUND`] full-relay peers that once had a chain as good as ours are exempt.

use super::header_sync::HEADERS_RESPONSE_TIME_MS;
use super::manager::Manager;
use super::peer::{self, ConnType};
use super::PeerId;
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Work};

/// Time an outbound peer gets to catch up with our tip (Core's CHAIN_SYNC_TIMEOUT, 20 minutes).
pub const CHAIN_SYNC_TIMEOUT_MS: i64 = 20 * 60 * 1000;
/// Outbound full-relay peers exempt from the check (Core's
/// MAX_OUTBOUND_PEERS_TO_PROTECT_FROM_DISCONNECT).
pub const MAX_PROTECTED_OUTBOUND: usize = 4;

/// One peer's chain-sync timeout state (Core's ChainSyncTimeoutState).
#[derive(Debug, Clone, Copy, Default)]
pub struct ChainSync {
    /// When the peer runs out of time, UNIX ms on the mockable clock (None: no timeout set).
    timeout_ms: Option<i64>,
    /// The tip (hash, its parent, work) the peer must reach when the timeout was set.
    work_header: Option<(BlockHash, BlockHash, Work)>,
    /// We gave it its last chance: a `getheaders`.
    sent_getheaders: bool,
    /// Exempt from this check (a full-relay peer that had our tip's work).
    pub protect: bool,
}

/// What [`ChainSync::consider`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do.
    Wait,
    /// Send a `getheaders` from the parent of this block (the tip when the timeout was set).
    AskHeaders { benchmark: BlockHash, from: BlockHash },
    /// Out of time: disconnect.
    Disconnect,
}

/// Our active tip as the check needs it: hash, parent, chain work.
#[derive(Debug, Clone, Copy)]
pub struct Tip {
    /// The tip's hash.
    pub hash: BlockHash,
    /// Its parent.
    pub prev: BlockHash,
    /// Its chain work.
    pub work: Work,
}

impl ChainSync {
    /// Core's ConsiderEviction step for a peer whose best known block has `peer_work` (None:
    /// it showed us no block yet), at `now_ms`.
    pub fn consider(&mut self, peer_work: Option<Work>, tip: Tip, now_ms: i64) -> Verdict {
        if peer_work.is_some_and(|w| w >= tip.work) {
            // Caught up with our tip: any running timeout is cleared.
            *self = ChainSync {
                protect: self.protect,
                ..ChainSync::default()
            };
            return Verdict::Wait;
        }
        let reached_benchmark = matches!((self.work_header, peer_work), (Some((_, _, need)), Some(w)) if w >= need);
        if self.timeout_ms.is_none() || reached_benchmark {
            // Behind, noticed for the first time, or caught up with the tip of when we last
            // noticed but not with the current one: a new timeout against the current tip.
            self.timeout_ms = Some(now_ms + CHAIN_SYNC_TIMEOUT_MS);
            self.work_header = Some((tip.hash, tip.prev, tip.work));
            self.sent_getheaders = false;
            return Verdict::Wait;
        }
        match (self.timeout_ms, self.work_header) {
            (Some(t), Some((benchmark, from, _))) if now_ms > t => {
                if self.sent_getheaders {
                    return Verdict::Disconnect;
                }
                // Its last chance: a getheaders (or the one outstanding) and time to answer.
                self.sent_getheaders = true;
                self.timeout_ms = Some(now_ms + HEADERS_RESPONSE_TIME_MS);
                Verdict::AskHeaders { benchmark, from }
            }
            _ => Verdict::Wait,
        }
    }
}

impl Manager {
    /// Whether the peer is subject to the stale-chain check: automatic outbound (full-relay or
    /// block-relay-only), headers sync started, not protected, not closing.
    fn chain_sync_checked(&self, id: PeerId) -> bool {
        self.peers.get(&id).is_some_and(|p| {
            matches!(p.conn_type, ConnType::OutboundFullRelay | ConnType::BlockRelayOnly)
                && p.ready
                && p.headers_sync.started
                && !p.chain_sync.protect
                && !p.handle.shared.is_closing()
        })
    }

    /// Runs the stale-chain check for every checked outbound peer (on the tick, a new tip and a
    /// clock change); there are at most a few outbound peers, so the walk is short.
    pub(super) fn consider_eviction_all(&mut self) {
        let ids: Vec<PeerId> = self.peers.keys().copied().filter(|id| self.chain_sync_checked(*id)).collect();
        self.consider_eviction_of(&ids);
    }

    /// Core's ConsiderEviction for one peer (also after each of its messages, as Core's
    /// SendMessages): sets, clears or acts on its chain-sync timeout.
    pub(super) fn consider_eviction(&mut self, id: PeerId) {
        if self.chain_sync_checked(id) {
            self.consider_eviction_of(&[id]);
        }
    }

    /// The check for `ids` (all checked peers), with one look at the chain.
    fn consider_eviction_of(&mut self, ids: &[PeerId]) {
        if ids.is_empty() {
            return;
        }
        let node = self.node.clone();
        let now_ms = crate::clock::unix_now_ms() as i64;
        let bests: Vec<Option<BlockHash>> = ids
            .iter()
            .map(|id| self.peers.get(id).and_then(|p| p.sync.best).map(|(h, _)| h))
            .collect();
        let (tip, works) = node.chain.read(|c| {
            let t = c.tip();
            let tip = Tip {
                hash: t.hash,
                prev: t.header.prev_blockhash,
                work: t.chainwork,
            };
            let works: Vec<Option<Work>> = bests.iter().map(|b| b.and_then(|h| c.entry(&h)).map(|e| e.chainwork)).collect();
            (tip, works)
        });
        for ((&id, best), work) in ids.iter().zip(bests).zip(works) {
            let Some(p) = self.peers.get_mut(&id) else { continue };
            match p.chain_sync.consider(work, tip, now_ms) {
                Verdict::Wait => {}
                Verdict::Disconnect => {
                    tracing::info!(target: "blvm::net", "Disconnecting outbound peer {id} for old chain, best known block = {}", best_name(best));
                    p.handle.shared.disconnect("outbound peer on an old chain (chain sync timeout)");
                }
                Verdict::AskHeaders { benchmark, from } => {
                    let locator = node.chain.read(|c| peer::locator(c, &from));
                    // As Core: one already outstanding counts as sent (its answer serves too).
                    self.maybe_send_getheaders(id, locator, BlockHash::all_zeros());
                    tracing::debug!(target: "blvm::net", "sending getheaders to outbound peer={id} to verify chain work (current best known block:{}, benchmark blockhash: {benchmark})", best_name(best));
                }
            }
        }
    }

    /// Core's protection of outbound full-relay peers from the stale-chain check: after its
    /// headers, a peer whose best known block has at least our tip's work is exempt while fewer
    /// than [`MAX_PROTECTED_OUTBOUND`] are.
    pub(super) fn maybe_protect_outbound(&mut self, id: PeerId, peer_work: Work, tip_work: Work) {
        if self.protected_outbound >= MAX_PROTECTED_OUTBOUND || peer_work < tip_work {
            return;
        }
        let Some(p) = self.peers.get_mut(&id) else { return };
        if p.conn_type != ConnType::OutboundFullRelay || p.chain_sync.protect || p.handle.shared.is_closing() {
            return;
        }
        p.chain_sync.protect = true;
        self.protected_outbound += 1;
        tracing::debug!(target: "blvm::net", "Protecting outbound peer={id} from eviction");
    }
}

/// The peer's best known block for a log line (formatted only when a line is written: the check
/// runs after every message of the peer).
fn best_name(best: Option<BlockHash>) -> String {
    best.map_or_else(|| "<none>".to_string(), |h| h.to_string())
}

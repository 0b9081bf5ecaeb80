//! BIP152 compact block relay between peers (version 2 only, as Core): `sendcmpct`
//! negotiation, the choice of up to three high-bandwidth peers (those that last gave us a new
//! block first), `cmpctblock` announcements to the peers that chose us, and receiving
//! `cmpctblock`/`blocktxn` (at most one block under reconstruction per peer). The encoding and
//! reconstruction themselves are in [`super::compact_blocks`].

use super::compact_blocks::{self, PartialBlock, ReadError, CMPCTBLOCKS_VERSION};
use super::manager::{encode, Manager};
use super::peer::{servable_block, BlockAnswer, ConnType};
use super::sync::{self, HeadersOutcome};
use super::PeerId;
use crate::chain::ChainManager;
use bitcoin::bip152::{BlockTransactions, BlockTransactionsRequest, HeaderAndShortIds};
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::p2p::message_compact_blocks::{CmpctBlock, GetBlockTxn, SendCmpct};
use bitcoin::{Block, BlockHash};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Peers we ask to announce new blocks with `cmpctblock` (BIP152: three).
pub const MAX_HB_PEERS: usize = 3;
/// `getdata(MSG_CMPCT_BLOCK)` for a block at most this deep is answered compactly, deeper ones
/// with the full block (Core's MAX_CMPCTBLOCK_DEPTH).
pub const MAX_CMPCTBLOCK_DEPTH: u32 = 5;
/// `getblocktxn` for a block at most this deep is answered with `blocktxn`, deeper ones with
/// the full block (Core's MAX_BLOCKTXN_DEPTH).
pub const MAX_BLOCKTXN_DEPTH: u32 = 10;
/// Peers a block may be in flight from at once via compact blocks (Core's
/// MAX_CMPCTBLOCKS_INFLIGHT_PER_BLOCK): the first requester plus parallel reconstructions.
pub const MAX_CMPCTBLOCKS_INFLIGHT_PER_BLOCK: usize = 3;
/// The protocol version from which peers understand compact blocks (BIP152).
pub const SHORT_IDS_BLOCKS_VERSION: u32 = 70014;

/// A peer's BIP152 bandwidth mode, shared with `getpeerinfo` (`bip152_hb_to`/`bip152_hb_from`).
#[derive(Debug, Default)]
pub struct Bip152Flags {
    /// We chose the peer as high-bandwidth (we sent it `sendcmpct(1)`).
    pub hb_to: AtomicBool,
    /// The peer chose us as high-bandwidth (it sent `sendcmpct(1)`).
    pub hb_from: AtomicBool,
}

/// Compact block state of one peer, owned by the connection manager.
#[derive(Debug, Default)]
pub struct PeerCompact {
    /// It sent `sendcmpct` with version 2: it can serve and receive compact blocks.
    pub provides: bool,
    /// It asked for new blocks as `cmpctblock` (high-bandwidth mode).
    pub wants_hb: bool,
    /// The one block being reconstructed from its `cmpctblock`, waiting for `blocktxn`.
    pub partial: Option<Box<PartialBlock>>,
    /// A block whose reconstruction from this peer failed and is now fetched whole: another
    /// `cmpctblock` for it is ignored, another `blocktxn` is misbehaviour (as Core).
    pub failed: Option<BlockHash>,
}

/// What [`HbPeers::select`] changed.
#[derive(Debug, PartialEq, Eq)]
pub struct Selection {
    /// The peer was newly chosen (send it `sendcmpct(1)`).
    pub added: bool,
    /// This peer lost its slot (send it `sendcmpct(0)`).
    pub dropped: Option<PeerId>,
}

/// Our high-bandwidth peers, oldest first (Core's lNodesAnnouncingHeaderAndIDs).
#[derive(Debug, Default)]
pub struct HbPeers {
    order: VecDeque<PeerId>,
}

impl HbPeers {
    /// Core's MaybeSetPeerAsAnnouncingHeaderAndIDs: `id` just gave us a new block first. A
    /// chosen peer moves to the back; a new one is appended and the oldest dropped beyond
    /// [`MAX_HB_PEERS`], except that an inbound newcomer never displaces the last outbound one.
    /// `inbound` says whether a peer is inbound (None: gone).
    pub fn select(&mut self, id: PeerId, inbound: impl Fn(PeerId) -> Option<bool>) -> Selection {
        if let Some(pos) = self.order.iter().position(|p| *p == id) {
            self.order.remove(pos);
            self.order.push_back(id);
            return Selection {
                added: false,
                dropped: None,
            };
        }
        let outbound = self.order.iter().filter(|p| inbound(**p) == Some(false)).count();
        if inbound(id) == Some(true) && self.order.len() >= MAX_HB_PEERS && outbound == 1 && inbound(self.order[0]) == Some(false) {
            self.order.swap(0, 1);
        }
        self.order.push_back(id);
        let dropped = if self.order.len() > MAX_HB_PEERS {
            self.order.pop_front()
        } else {
            None
        };
        Selection { added: true, dropped }
    }

    /// Forgets a disconnected peer.
    pub fn remove(&mut self, id: PeerId) {
        self.order.retain(|p| *p != id);
    }

    /// The chosen peers, oldest first.
    pub fn peers(&self) -> impl Iterator<Item = &PeerId> {
        self.order.iter()
    }
}

/// Whether a raw message is a `sendcmpct` whose announce byte is neither 0 nor 1 (BIP152 says
/// it MUST be one of them; rust-bitcoin refuses to decode such a message, which would make it
/// a skipped undecodable message instead of Core's misbehaviour).
pub fn invalid_sendcmpct(command: &str, payload: &[u8]) -> bool {
    command == "sendcmpct" && payload.first().is_some_and(|b| *b > 1)
}

/// How a `getblocktxn` is answered.
pub enum BlockTxnSource {
    /// From this recent block.
    Recent(Block),
    /// Too deep: with the full block instead (as Core, so old blocks cost the asker bandwidth).
    Deep(Block),
    /// Not stored: ignored.
    Missing,
}

/// The block a `getblocktxn` asks about, if stored, and whether it is recent enough for
/// `blocktxn` ([`MAX_BLOCKTXN_DEPTH`]).
pub fn blocktxn_source(c: &ChainManager, req: &BlockTransactionsRequest) -> BlockTxnSource {
    let Some(e) = c.entry(&req.block_hash) else {
        return BlockTxnSource::Missing;
    };
    if !e.have_data() {
        return BlockTxnSource::Missing;
    }
    let recent = e.height + MAX_BLOCKTXN_DEPTH >= c.tip().height;
    match c.read_block(&req.block_hash) {
        Ok(Some(b)) if recent => BlockTxnSource::Recent(b),
        Ok(Some(b)) => BlockTxnSource::Deep(b),
        _ => BlockTxnSource::Missing,
    }
}

/// A `getdata(MSG_CMPCT_BLOCK)` answer: the block as [`servable_block`] finds it, and whether it
/// is recent enough ([`MAX_CMPCTBLOCK_DEPTH`]) to be sent compactly.
pub fn compact_source(c: &ChainManager, h: &BlockHash) -> (BlockAnswer, bool) {
    let recent = c.entry(h).is_some_and(|e| e.height + MAX_CMPCTBLOCK_DEPTH >= c.tip().height);
    (servable_block(c, h), recent)
}

/// A `cmpctblock` message for `block`.
pub fn cmpctblock_message(block: &Block) -> NetworkMessage {
    NetworkMessage::CmpctBlock(CmpctBlock {
        compact_block: compact_blocks::build(block),
    })
}

/// Our `sendcmpct` (version 2) with the given announce flag.
pub fn sendcmpct_message(high_bandwidth: bool) -> NetworkMessage {
    NetworkMessage::SendCmpct(SendCmpct {
        send_compact: high_bandwidth,
        version: CMPCTBLOCKS_VERSION,
    })
}

/// What a received `cmpctblock` leads to, decided under the chain lock.
enum Next {
    /// Its parent is unknown: ask for the headers in between.
    GetHeaders(Vec<BlockHash>),
    /// Nothing to do.
    Nothing,
    /// The peer misbehaved.
    Punish(String),
    /// Disconnect (a header from the future: our clock may be off).
    Disconnect(String),
    /// We asked this peer for the block, but the compact form is of no use: fetch it whole.
    FullBlock,
    /// Too far ahead: treat it as a header announcement.
    HeaderOnly,
    /// Reconstruct it: as the first peer it is in flight from (a failure fetches the full
    /// block), or in parallel (`ask`: whether missing transactions may be asked for).
    Reconstruct {
        /// This peer is (or becomes) the block's first requester.
        first: bool,
        /// A parallel reconstruction may send `getblocktxn`.
        ask: bool,
    },
    /// In flight from another peer: only if the mempool completes it.
    Optimistic,
}

impl Manager {
    /// A `sendcmpct`: version 2 means the peer speaks compact blocks; its flag says whether it
    /// wants our new blocks as `cmpctblock` (other versions are ignored, as Core).
    pub(super) fn on_sendcmpct(&mut self, id: PeerId, m: SendCmpct) {
        if m.version != CMPCTBLOCKS_VERSION {
            return;
        }
        if let Some(p) = self.peers.get_mut(&id) {
            p.cmpct.provides = true;
            p.cmpct.wants_hb = m.send_compact;
            p.handle.shared.bip152.hb_from.store(m.send_compact, Ordering::Relaxed);
        }
    }

    /// After `id` gave us a valid new block while nothing else was in flight and we are not in
    /// initial block download: it becomes (or stays) one of our high-bandwidth peers.
    pub(super) fn maybe_set_hb_after_block(&mut self, id: PeerId, hash: &BlockHash) {
        if self.s.blocks_only || !self.sync.requested.keys().all(|h| h == hash) {
            return;
        }
        if self.in_ibd() {
            return;
        }
        if !self
            .peers
            .get(&id)
            .is_some_and(|p| p.cmpct.provides && !p.handle.shared.is_closing())
        {
            return;
        }
        let peers = &self.peers;
        let sel = self
            .hb_peers
            .select(id, |p| peers.get(&p).map(|p| p.conn_type == ConnType::Inbound));
        if sel.added {
            self.send(id, sendcmpct_message(true));
            if let Some(p) = self.peers.get(&id) {
                p.handle.shared.bip152.hb_to.store(true, Ordering::Relaxed);
            }
            tracing::debug!(target: "blvm::net", "peer={id} chosen as high-bandwidth compact block peer");
        }
        if let Some(old) = sel.dropped {
            self.send(old, sendcmpct_message(false));
            if let Some(p) = self.peers.get(&old) {
                p.handle.shared.bip152.hb_to.store(false, Ordering::Relaxed);
            }
        }
    }

    /// A block is stored: every reconstruction of it ends (a late `blocktxn` is ignored).
    pub(super) fn compact_block_done(&mut self, hash: &BlockHash) {
        for p in self.peers.values_mut() {
            p.cmpct.partial.take_if(|b| b.hash() == *hash);
            p.cmpct.failed.take_if(|f| f == hash);
        }
    }

    /// A peer is gone: it loses its high-bandwidth slot.
    pub(super) fn compact_peer_gone(&mut self, id: PeerId) {
        self.hb_peers.remove(id);
    }

    /// Whether the peer gets new tips as `cmpctblock`.
    pub(super) fn wants_compact_announcements(&self, id: PeerId) -> bool {
        self.peers.get(&id).is_some_and(|p| p.cmpct.provides && p.cmpct.wants_hb)
    }

    /// The `cmpctblock` frame announcing `tip`, if any peer wants one.
    pub(super) fn compact_tip_frame(&self, c: &ChainManager, tip: &BlockHash) -> Option<Bytes> {
        if !self.peers.keys().any(|id| self.wants_compact_announcements(*id)) {
            return None;
        }
        let block = c.read_block(tip).ok().flatten()?;
        Some(encode(self.magic(), cmpctblock_message(&block)))
    }

    /// A `cmpctblock` (Core's handling): its header is validated and indexed; a block that
    /// extends our tip by at most two and was requested from the peer, or comes from a peer we
    /// chose as high-bandwidth, is reconstructed from the mempool, missing transactions asked
    /// for with `getblocktxn`; otherwise it counts as a header announcement.
    pub(super) async fn on_cmpctblock(&mut self, id: PeerId, m: CmpctBlock) {
        let node = self.node.clone();
        let cmpct = m.compact_block;
        let Some(p) = self.peers.get(&id) else { return };
        if self.s.blocks_only {
            tracing::debug!(target: "blvm::net", "peer={id} sent us a compact block even though we are blocksonly!");
            return;
        }
        if !p.cmpct.provides {
            tracing::debug!(target: "blvm::net", "peer={id} sent us a compact block despite never having sent us a SENDCMPCT!");
            return;
        }
        let hash = cmpct.header.block_hash();
        let hb_to = p.handle.shared.bip152.hb_to.load(Ordering::Relaxed);
        let next = node.chain.write(|c| {
            let ibd = node.is_initial_block_download(c);
            match c.entry(&cmpct.header.prev_blockhash).map(|e| e.chainwork) {
                None if ibd => Next::Nothing,
                None => Next::GetHeaders(self.sync.locator()),
                Some(w) if w + cmpct.header.work() < super::header_sync::anti_dos_threshold(c, self.s.minimum_chain_work) => {
                    tracing::debug!(target: "blvm::net", "Ignoring low-work compact block from peer {id}");
                    Next::Nothing
                }
                Some(_) => match sync::accept_headers(c, &[cmpct.header]) {
                    Err(e) => {
                        tracing::error!(target: "blvm::net", "block index error while accepting a compact block header: {e}");
                        Next::Nothing
                    }
                    Ok(HeadersOutcome::Invalid(r)) => Next::Punish(format!("invalid header via cmpctblock: {r}")),
                    Ok(HeadersOutcome::TimeTooNew(r)) => Next::Disconnect(r),
                    Ok(HeadersOutcome::Accepted { last, height }) => {
                        self.sync.on_new_header(c, &last);
                        if let Some(p) = self.peers.get_mut(&id) {
                            if p.sync.best.is_none_or(|(_, h)| h < height) {
                                p.sync.best = Some((last, height));
                                p.handle.shared.synced_headers.fetch_max(i64::from(height), Ordering::Relaxed);
                            }
                        }
                        self.compact_next_step(c, id, &hash, hb_to)
                    }
                    Ok(_) => Next::Nothing,
                },
            }
        });
        match next {
            Next::Nothing => self.schedule(),
            Next::GetHeaders(loc) => {
                // As Core: the gap is asked for up to the peer's tip (no stop hash).
                self.ask_for_announced(id, loc, BlockHash::all_zeros(), Some(hash));
            }
            Next::Punish(r) => {
                self.misbehaving(id, &r);
            }
            Next::Disconnect(r) => self.disconnect(id, &r),
            Next::FullBlock => self.send(id, NetworkMessage::GetData(vec![Inventory::WitnessBlock(hash)])),
            Next::HeaderOnly => self.schedule(),
            Next::Optimistic => {
                // In flight from another peer: use it only if the mempool completes it.
                if let Ok(partial) = self.partial_from_pool(&cmpct) {
                    if partial.missing().is_empty() {
                        if let Ok(block) = partial.fill(Vec::new(), self.segwit_after(&cmpct.header.prev_blockhash)) {
                            self.process_block_from(id, super::block_download::Received::Decoded(block), true)
                                .await;
                        }
                    }
                }
            }
            Next::Reconstruct { first, ask } => self.start_reconstruction(id, &cmpct, first, ask).await,
        }
    }

    /// After a compact block's header is indexed: what to do with the block (Core's checks on
    /// work, height and who it was requested from).
    fn compact_next_step(&self, c: &ChainManager, id: PeerId, hash: &BlockHash, hb_to: bool) -> Next {
        let (Some(e), Some(p)) = (c.entry(hash), self.peers.get(&id)) else {
            return Next::Nothing;
        };
        if e.have_data() {
            return Next::Nothing;
        }
        let from_this = p.sync.in_flight.contains_key(hash);
        let owner = self.sync.requested.get(hash).copied();
        if !from_this && !hb_to {
            tracing::debug!(target: "blvm::net", "peer={id}, not marked as high-bandwidth, sent us an unsolicited compact block!");
            return Next::Nothing;
        }
        let tip = c.tip();
        if e.chainwork <= tip.chainwork {
            return if from_this { Next::FullBlock } else { Next::Nothing };
        }
        if e.height > tip.height + 2 {
            return if from_this { Next::FullBlock } else { Next::HeaderOnly };
        }
        if p.cmpct.partial.as_ref().is_some_and(|b| b.hash() == *hash) || p.cmpct.failed == Some(*hash) {
            tracing::debug!(target: "blvm::net", "Peer sent us compact block we were already syncing!");
            return Next::Nothing;
        }
        // Who the block is in flight from: its requester and the parallel reconstructions.
        let others: Vec<PeerId> = owner
            .into_iter()
            .chain(
                self.peers
                    .iter()
                    .filter(|(_, q)| q.cmpct.partial.as_ref().is_some_and(|b| b.hash() == *hash))
                    .map(|(i, _)| *i),
            )
            .filter(|i| *i != id)
            .collect::<std::collections::BTreeSet<PeerId>>()
            .into_iter()
            .collect();
        if others.len() >= MAX_CMPCTBLOCKS_INFLIGHT_PER_BLOCK && !from_this {
            return Next::Optimistic;
        }
        let outbound = |i: &PeerId| self.peers.get(i).is_some_and(|q| q.conn_type != ConnType::Inbound);
        let first = owner.is_none_or(|o| o == id);
        // As Core: a parallel attempt asks for the missing transactions if the peer is a
        // high-bandwidth one and outbound, or an outbound attempt is already under way, or it
        // does not take the last slot (kept for an outbound peer).
        let ask = hb_to && (outbound(&id) || others.iter().any(outbound) || others.len() < MAX_CMPCTBLOCKS_INFLIGHT_PER_BLOCK - 1);
        Next::Reconstruct { first, ask }
    }

    /// Reconstruction of a block from `id`'s compact block: complete from the mempool and
    /// processed, or the missing transactions asked for (the partial block kept as the peer's
    /// one), or, for the first requester, the full block on failure. `first`: the block is (now)
    /// requested from this peer; otherwise this is a parallel attempt that asks only if `ask`.
    async fn start_reconstruction(&mut self, id: PeerId, cmpct: &HeaderAndShortIds, first: bool, ask: bool) {
        let hash = cmpct.header.block_hash();
        let Some(p) = self.peers.get_mut(&id) else { return };
        // At most one block under reconstruction per peer: an older one is given up (fetched
        // whole if this peer was its requester).
        if let Some(old) = p.cmpct.partial.take() {
            if p.sync.in_flight.contains_key(&old.hash()) {
                self.send(id, NetworkMessage::GetData(vec![Inventory::WitnessBlock(old.hash())]));
            }
        }
        if first {
            let Some(p) = self.peers.get_mut(&id) else { return };
            self.sync.mark_requested(id, &mut p.sync, hash, Instant::now());
        }
        match self.partial_from_pool(cmpct) {
            Err(ReadError::Invalid(why)) => {
                if let Some(p) = self.peers.get_mut(&id) {
                    self.sync.received(id, &mut p.sync, &hash);
                }
                self.misbehaving(id, &format!("invalid compact block: {why}"));
            }
            Err(ReadError::Failed(why)) if first => {
                tracing::debug!(target: "blvm::net", "peer={id}: compact block {hash} not usable ({why}); requesting the block");
                self.send(id, NetworkMessage::GetData(vec![Inventory::WitnessBlock(hash)]));
            }
            Err(ReadError::Failed(why)) => {
                tracing::debug!(target: "blvm::net", "peer={id}: compact block {hash} not usable ({why}); waiting for the first download");
            }
            Ok(partial) => {
                let missing = partial.missing();
                let (pre, pool, total) = partial.counts();
                tracing::debug!(target: "blvm::cmpctblock", "Initialized PartiallyDownloadedBlock for block {hash} using a cmpctblock of {total} txs: {pre} prefilled, {pool} from mempool, {} missing", missing.len());
                if missing.is_empty() {
                    self.complete_reconstruction(id, partial, Vec::new()).await;
                    return;
                }
                if !first && !ask {
                    tracing::debug!(target: "blvm::cmpctblock", "peer={id}: not asking for the missing transactions of block {hash}; waiting for other peers");
                    return;
                }
                self.send(
                    id,
                    NetworkMessage::GetBlockTxn(GetBlockTxn {
                        txs_request: BlockTransactionsRequest {
                            block_hash: hash,
                            indexes: missing,
                        },
                    }),
                );
                if let Some(p) = self.peers.get_mut(&id) {
                    p.cmpct.partial = Some(Box::new(partial));
                }
            }
        }
    }

    /// A `blocktxn`: completes the peer's block under reconstruction (others are ignored).
    pub(super) async fn on_blocktxn(&mut self, id: PeerId, m: BlockTransactions) {
        let Some(p) = self.peers.get_mut(&id) else { return };
        if p.cmpct.failed == Some(m.block_hash) && p.sync.in_flight.contains_key(&m.block_hash) {
            p.cmpct.failed = None;
            self.sync.received(id, &mut p.sync, &m.block_hash);
            tracing::debug!(target: "blvm::net", "Peer {id} sent compact block transactions multiple times");
            self.misbehaving(id, "previous compact block reconstruction attempt failed");
            return;
        }
        let Some(partial) = p.cmpct.partial.take_if(|b| b.hash() == m.block_hash) else {
            tracing::debug!(target: "blvm::net", "Peer {id} sent us block transactions for block we weren't expecting");
            return;
        };
        self.complete_reconstruction(id, *partial, m.transactions).await;
    }

    /// Fills the block with the transactions the peer sent: processed when whole; a wrong count
    /// is misbehaviour; a block that does not match its header is fetched whole.
    async fn complete_reconstruction(&mut self, id: PeerId, partial: PartialBlock, missing: Vec<bitcoin::Transaction>) {
        let hash = partial.hash();
        let segwit = self.segwit_after(&partial.prev_blockhash());
        match partial.fill(missing, segwit) {
            Ok(block) => {
                self.process_block_from(id, super::block_download::Received::Decoded(block), true)
                    .await
            }
            Err(ReadError::Invalid(why)) => {
                if let Some(p) = self.peers.get_mut(&id) {
                    self.sync.received(id, &mut p.sync, &hash);
                }
                self.misbehaving(id, &format!("invalid compact block/{why}"));
            }
            Err(ReadError::Failed(why)) => {
                // Might have collided: the first requester falls back to the full block, a
                // parallel attempt waits for it.
                if self.sync.requested.get(&hash) == Some(&id) {
                    if let Some(p) = self.peers.get_mut(&id) {
                        p.cmpct.failed = Some(hash);
                    }
                    tracing::debug!(target: "blvm::net", "peer={id}: {why}; requesting block {hash}");
                    self.send(id, NetworkMessage::GetData(vec![Inventory::WitnessBlock(hash)]));
                } else {
                    tracing::debug!(target: "blvm::net", "Peer {id} sent us a compact block but it failed to reconstruct, waiting on first download to complete");
                }
            }
        }
    }

    /// A partial block from the compact block and the mempool.
    fn partial_from_pool(&self, cmpct: &HeaderAndShortIds) -> Result<PartialBlock, ReadError> {
        let mempool = self.node.mempool();
        let pool = mempool.pool();
        let partial = PartialBlock::new(cmpct, pool.entries().map(|e| (e.wtxid, &e.tx)));
        partial
    }

    /// Whether segwit rules apply to a child of `prev`.
    fn segwit_after(&self, prev: &BlockHash) -> bool {
        self.node
            .chain
            .read(|c| c.entry(prev).is_none_or(|e| c.params().segwit_enforced_at(e.height + 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound(id: PeerId) -> Option<bool> {
        Some(id != 2)
    }

    #[test]
    fn three_hb_peers_oldest_dropped() {
        let mut hb = HbPeers::default();
        assert_eq!(
            hb.select(3, inbound),
            Selection {
                added: true,
                dropped: None
            }
        );
        hb.select(4, inbound);
        hb.select(5, inbound);
        assert_eq!(
            hb.select(4, inbound),
            Selection {
                added: false,
                dropped: None
            }
        );
        assert_eq!(hb.peers().copied().collect::<Vec<_>>(), vec![3, 5, 4]);
        assert_eq!(
            hb.select(6, inbound),
            Selection {
                added: true,
                dropped: Some(3)
            }
        );
    }

    #[test]
    fn last_outbound_hb_peer_is_kept() {
        let mut hb = HbPeers::default();
        for id in [3, 4, 5, 2] {
            hb.select(id, inbound);
        }
        assert_eq!(hb.peers().copied().collect::<Vec<_>>(), vec![4, 5, 2]);
        for id in [3, 4, 5] {
            hb.select(id, inbound);
            assert!(hb.peers().any(|p| *p == 2));
            assert_eq!(hb.peers().count(), 3);
        }
        hb.remove(2);
        hb.select(3, inbound);
        assert!(!hb.peers().any(|p| *p == 2));
    }
}

//! What a connection serves from the chain itself: headers (`getheaders`), block inventories
//! (`getblocks`) and blocks (`getdata`: full, filtered and compact), with the pure chain
//! lookups behind them.

use crate::chain::ChainManager;
use crate::p2p::codec::{MAX_HEADERS_RESULTS, MAX_INV_SIZE, MAX_LOCATOR_SZ};
use bitcoin::block::Header;
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::{Block, BlockHash};
use tokio::sync::OwnedSemaphorePermit;

use super::reader::Reader;
use super::{Exit, MAX_BLOCKS_INV};
/// Core's CInv::ToString: the inventory type's message name and the hash.
fn inv_string(inv: &Inventory) -> String {
    use bitcoin::hashes::Hash;
    match inv {
        Inventory::Transaction(t) => format!("tx {t}"),
        Inventory::WitnessTransaction(t) => format!("witness-tx {t}"),
        Inventory::WTx(w) => format!("wtx {w}"),
        Inventory::Block(b) => format!("block {b}"),
        Inventory::WitnessBlock(b) => format!("witness-block {b}"),
        Inventory::CompactBlock(b) => format!("cmpctblock {b}"),
        Inventory::Error => format!("0x00000000 {}", bitcoin::BlockHash::all_zeros()),
        Inventory::Unknown { inv_type, hash } => format!("0x{inv_type:08x} {}", bitcoin::BlockHash::from_byte_array(*hash)),
    }
}

impl Reader {
    /// `getheaders`: up to 2,000 headers after the locator's fork point (Core's limits).
    pub(super) async fn on_getheaders(&self, g: bitcoin::p2p::message_blockdata::GetHeadersMessage) -> Result<(), Exit> {
        let shared = self.shared().clone();
        if g.locator_hashes.len() > MAX_LOCATOR_SZ {
            return Err(Exit::ban(format!(
                "getheaders locator of {} entries (limit {MAX_LOCATOR_SZ})",
                g.locator_hashes.len()
            )));
        }
        let null_locator = g.locator_hashes.is_empty();
        let headers = self
            .chain(move |c| headers_after(c, &g.locator_hashes, g.stop_hash, MAX_HEADERS_RESULTS))
            .await?;
        if null_locator && headers.is_empty() {
            // As Core: an unknown or withheld `hash_stop` gets no answer at all.
            tracing::debug!(target: "blvm::net", "ProcessMessage: ignoring request from peer={} for old block header that isn't in the main chain", shared.id);
            return Ok(());
        }
        self.out.send(NetworkMessage::Headers(headers)).await
    }

    /// `getblocks`: an `inv` of up to 500 blocks after the locator's fork point.
    pub(super) async fn on_getblocks(&self, g: bitcoin::p2p::message_blockdata::GetBlocksMessage) -> Result<(), Exit> {
        if g.locator_hashes.len() > MAX_LOCATOR_SZ {
            return Err(Exit::ban(format!(
                "getblocks locator of {} entries (limit {MAX_LOCATOR_SZ})",
                g.locator_hashes.len()
            )));
        }
        let hashes = self
            .chain(move |c| headers_after(c, &g.locator_hashes, g.stop_hash, MAX_BLOCKS_INV))
            .await?;
        if hashes.is_empty() {
            return Ok(());
        }
        self.out
            .send(NetworkMessage::Inv(
                hashes.iter().map(|h| Inventory::Block(h.block_hash())).collect(),
            ))
            .await
    }

    /// `getdata`: blocks (full, filtered, compact) served here in order; transactions go to
    /// the manager; unknown blocks answered with `notfound`.
    pub(super) async fn on_getdata(&self, items: Vec<Inventory>, permit: OwnedSemaphorePermit) -> Result<(), Exit> {
        let shared = self.shared().clone();
        if items.len() > MAX_INV_SIZE {
            return Err(Exit::ban(format!("getdata message size = {}", items.len())));
        }
        // Core's line (its tests wait for it).
        match items.as_slice() {
            [one] => tracing::debug!(target: "blvm::net", "received getdata for: {} peer={}", inv_string(one), shared.id),
            _ => tracing::debug!(target: "blvm::net", "received getdata ({} invsz) peer={}", items.len(), shared.id),
        }
        let mut rest = Vec::new();
        let mut missing = Vec::new();
        let limited = self.env.settings.prune_mode && !shared.permissions.noban;
        for inv in items {
            if self.historical_limit_reached(&inv).await? {
                tracing::debug!(target: "blvm::net", "historical block serving limit reached, disconnecting peer={}", shared.id);
                return Err(Exit::disconnect("historical block serving limit reached"));
            }
            if limited {
                if let Some(h) = crate::p2p::pruned_serving::block_of(&inv) {
                    if self.chain(move |c| crate::p2p::pruned_serving::below_threshold(c, &h)).await? {
                        tracing::debug!(target: "blvm::net", "Ignore block request below NODE_NETWORK_LIMITED threshold, disconnecting peer={}", shared.id);
                        return Err(Exit::disconnect("block request below the NODE_NETWORK_LIMITED threshold"));
                    }
                }
            }
            match inv {
                Inventory::Block(h) | Inventory::WitnessBlock(h) => {
                    let witness = matches!(inv, Inventory::WitnessBlock(_));
                    match self.chain(move |c| servable_block(c, &h)).await? {
                        BlockAnswer::Block(b) => {
                            self.out
                                .send_bulk(NetworkMessage::Block(if witness { b } else { strip_witness(b) }))
                                .await?
                        }
                        BlockAnswer::Missing => missing.push(inv),
                        BlockAnswer::Withheld => {
                            tracing::debug!(target: "blvm::net", "ProcessGetBlockData: ignoring request from peer={} for old block that isn't in the main chain", shared.id);
                        }
                    }
                }
                Inventory::Transaction(_) | Inventory::WTx(_) | Inventory::WitnessTransaction(_) => rest.push(inv),
                Inventory::Unknown {
                    inv_type: crate::p2p::bloom::MSG_FILTERED_BLOCK,
                    hash,
                } => {
                    let h = BlockHash::from_byte_array(hash);
                    match self.chain(move |c| servable_block(c, &h)).await? {
                        BlockAnswer::Block(b) => self.send_filtered_block(&b).await?,
                        BlockAnswer::Missing => missing.push(inv),
                        BlockAnswer::Withheld => {
                            tracing::debug!(target: "blvm::net", "ProcessGetBlockData: ignoring request from peer={} for old block that isn't in the main chain", shared.id);
                        }
                    }
                }
                Inventory::CompactBlock(h) => match self.chain(move |c| crate::p2p::compact_relay::compact_source(c, &h)).await? {
                    (BlockAnswer::Block(b), true) => self.out.send_bulk(crate::p2p::compact_relay::cmpctblock_message(&b)).await?,
                    (BlockAnswer::Block(b), false) => self.out.send_bulk(NetworkMessage::Block(b)).await?,
                    (BlockAnswer::Missing, _) => missing.push(inv),
                    (BlockAnswer::Withheld, _) => {
                        tracing::debug!(target: "blvm::net", "ProcessGetBlockData: ignoring request from peer={} for old block that isn't in the main chain", shared.id);
                    }
                },
                _ => {}
            }
        }
        if !missing.is_empty() {
            self.out.send(NetworkMessage::NotFound(missing)).await?;
        }
        if !rest.is_empty() {
            self.forward(NetworkMessage::GetData(rest), Some(permit)).await?;
        }
        Ok(())
    }

    /// Core's answer to MSG_FILTERED_BLOCK: with a filter loaded, the `merkleblock` (matching
    /// updates the filter) and then each matched transaction without witness, in order on the
    /// bulk queue; without a filter, nothing.
    pub(super) async fn send_filtered_block(&self, block: &Block) -> Result<(), Exit> {
        let answer = self.shared().bloom().as_mut().map(|f| f.merkle_block(block));
        let Some((merkle, matched)) = answer else { return Ok(()) };
        self.out.send_bulk(NetworkMessage::MerkleBlock(merkle)).await?;
        for i in matched {
            let mut tx = block.txdata[i].clone();
            tx.input.iter_mut().for_each(|i| i.witness.clear());
            self.out.send_bulk(NetworkMessage::Tx(tx)).await?;
        }
        Ok(())
    }

    /// A `getblocktxn`: the requested transactions of a recent block as `blocktxn`, a deeper
    /// block whole, an unknown one ignored; an index past the block's end is misbehaviour.
    pub(super) async fn on_getblocktxn(&self, req: bitcoin::bip152::BlockTransactionsRequest) -> Result<(), Exit> {
        use crate::p2p::compact_relay::BlockTxnSource;
        let id = self.shared().id;
        if req.indexes.is_empty() {
            return Err(Exit::ban("getblocktxn received with no transaction indexes"));
        }
        let r = req.clone();
        match self.chain(move |c| crate::p2p::compact_relay::blocktxn_source(c, &r)).await? {
            BlockTxnSource::Recent(b) => {
                let answer = crate::p2p::compact_blocks::block_txn(&b, &req).map_err(|e| Exit::ban(e.to_string()))?;
                tracing::debug!(target: "blvm::cmpctblock", "peer={id} sent us a GETBLOCKTXN for block {}, sending a BLOCKTXN with {} txns.", req.block_hash, answer.transactions.len());
                self.out
                    .send_bulk(NetworkMessage::BlockTxn(bitcoin::p2p::message_compact_blocks::BlockTxn {
                        transactions: answer,
                    }))
                    .await
            }
            BlockTxnSource::Deep(b) => {
                tracing::debug!(target: "blvm::net", "Peer {id} sent us a getblocktxn for a block > {} deep", crate::p2p::compact_relay::MAX_BLOCKTXN_DEPTH);
                self.out.send_bulk(NetworkMessage::Block(b)).await
            }
            BlockTxnSource::Missing => {
                tracing::debug!(target: "blvm::net", "Peer {id} sent us a getblocktxn for a block we don't have");
                Ok(())
            }
        }
    }
}

/// Removes witness data (for peers asking with MSG_BLOCK / MSG_TX).
pub fn strip_witness(mut b: Block) -> Block {
    for tx in &mut b.txdata {
        for i in &mut tx.input {
            i.witness.clear();
        }
    }
    b
}

/// How a `getdata` for a block is answered.
pub enum BlockAnswer {
    /// Served.
    Block(Block),
    /// Not stored (or known invalid): `notfound`.
    Missing,
    /// A stale block kept from the peer against fingerprinting (Core sends nothing).
    Withheld,
}

/// A block we can serve: stored, not known invalid, and on the active chain or a recent stale
/// one ([`crate::p2p::stale_blocks::block_request_allowed`]).
pub fn servable_block(c: &ChainManager, h: &BlockHash) -> BlockAnswer {
    let Some(e) = c.entry(h) else { return BlockAnswer::Missing };
    if e.is_failed() || !e.have_data() {
        return BlockAnswer::Missing;
    }
    if !crate::p2p::stale_blocks::block_request_allowed(c, e) {
        return BlockAnswer::Withheld;
    }
    match c.read_block(h) {
        Ok(Some(b)) => BlockAnswer::Block(b),
        Ok(None) => BlockAnswer::Missing,
        Err(e) => {
            tracing::error!(target: "blvm::net", block = %h, "cannot read block to serve: {e}");
            BlockAnswer::Missing
        }
    }
}

/// The active-chain fork point of a locator (Core's FindForkInGlobalIndex): the first locator
/// entry on the active chain, our tip if the entry descends from it, else genesis.
pub fn locator_fork(c: &ChainManager, locator: &[BlockHash]) -> u32 {
    let tip = c.tip();
    for h in locator {
        if let Some(e) = c.entry(h) {
            if c.is_active(h) {
                return e.height;
            }
            if e.height > tip.height && c.ancestor(h, tip.height).map(|a| a.hash) == Some(tip.hash) {
                return tip.height;
            }
        }
    }
    0
}

/// Active-chain headers after the locator's fork point, up to `max` or `stop` (Core's
/// getheaders answer; with an empty locator, just the header of `stop` when it may be served:
/// see [`crate::p2p::stale_blocks::block_request_allowed`]).
pub fn headers_after(c: &ChainManager, locator: &[BlockHash], stop: BlockHash, max: usize) -> Vec<Header> {
    if locator.is_empty() {
        return c
            .entry(&stop)
            .filter(|e| !e.is_failed() && crate::p2p::stale_blocks::block_request_allowed(c, e))
            .map(|e| vec![e.header])
            .unwrap_or_default();
    }
    let mut out = Vec::new();
    let mut h = locator_fork(c, locator) + 1;
    while out.len() < max {
        let Some(hash) = c.hash_at(h) else { break };
        let Some(e) = c.entry(&hash) else { break };
        out.push(e.header);
        if hash == stop {
            break;
        }
        h += 1;
    }
    out
}

/// A block locator for `hash` (dense for the last 10, then exponentially sparser, genesis last).
pub fn locator(c: &ChainManager, hash: &BlockHash) -> Vec<BlockHash> {
    let Some(start) = c.entry(hash) else {
        return vec![c.params().genesis_hash()];
    };
    let mut out = Vec::new();
    let mut height = i64::from(start.height);
    let mut step = 1i64;
    while height >= 0 {
        match c.ancestor(hash, height as u32) {
            Some(e) => out.push(e.hash),
            None => break,
        }
        if height == 0 {
            break;
        }
        if out.len() >= 10 {
            step *= 2;
        }
        height = (height - step).max(0);
    }
    out
}

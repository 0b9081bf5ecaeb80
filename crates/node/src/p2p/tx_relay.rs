//! Transaction relay: announcing mempool transactions (trickled per peer), requesting and
//! validating announced transactions (with the orphan pool), serving `getdata` and BIP35
//! `mempool`, and sending our BIP133 `feefilter`.

use super::codec;
use super::fee_filter::FEEFILTER_VERSION;
use super::manager::{encode, Manager, Peer};
use super::node_link::NodeLink;
use super::orphans::Orphans;
use super::package_relay::TxWork;
use super::peer::ConnType;
use super::relay;
use super::PeerId;
use crate::chain::ChainManager;
use crate::mempool::entry::feerate_per_kvb;
use crate::mempool::package;
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::p2p::ServiceFlags;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// A `tx` message: with witnesses unless the peer asked by txid without the witness flag.
fn tx_frame(magic: bitcoin::p2p::Magic, tx: &bitcoin::Transaction, witness: bool) -> Bytes {
    let payload = if witness || !tx.input.iter().any(|i| !i.witness.is_empty()) {
        bitcoin::consensus::serialize(tx)
    } else {
        let mut tx = tx.clone();
        tx.input.iter_mut().for_each(|i| i.witness.clear());
        bitcoin::consensus::serialize(&tx)
    };
    Bytes::from(codec::frame(magic, "tx", &payload))
}

/// Transactions are served from a peer's `getdata` queue only while less than this many bytes
/// wait in its send queue (Core's send-buffer pause); the rest waits for the peer to read.
pub const GETDATA_SEND_PAUSE: usize = 1_000_000;
/// Items waiting in one peer's `getdata` queue (one full `getdata`); more are dropped.
pub const MAX_GETDATA_QUEUE: usize = codec::MAX_INV_SIZE;
/// Blocks read at once to erase the orphans they include or conflict with; a longer jump of
/// the tip clears the orphan pool.
pub const MAX_ORPHAN_BLOCK_READS: u32 = 16;

/// The transactions of the active tip's block, by txid and by wtxid: Core serves these to
/// `getdata` too (a peer reconstructing a block may ask for one that just left the mempool).
/// Loaded from disk when first asked for after the tip moved: one block read per tip.
#[derive(Debug, Default)]
pub struct TipBlockTxs {
    hash: Option<bitcoin::BlockHash>,
    txs: HashMap<[u8; 32], Arc<bitcoin::Transaction>>,
}

impl TipBlockTxs {
    /// Brings the cache to the current tip (one chain lock for the tip's hash; the block is
    /// read from disk, off the runtime, only when the tip moved), so a `getdata` of many items
    /// costs one lookup each, not one lock each.
    fn refresh(&mut self, node: &NodeLink) {
        let tip = node.chain.read(|c| c.tip().hash);
        if self.hash == Some(tip) {
            return;
        }
        self.txs.clear();
        self.hash = Some(tip);
        if let Ok(Some(block)) = node.chain.read_from_disk(|c| c.read_block(&tip)) {
            for tx in block.txdata {
                let tx = Arc::new(tx);
                self.txs.insert(tx.compute_txid().to_byte_array(), tx.clone());
                self.txs.insert(tx.compute_wtxid().to_byte_array(), tx);
            }
        }
    }

    /// The cached tip block's transaction with this txid or wtxid.
    fn get(&self, hash: &[u8; 32]) -> Option<Arc<bitcoin::Transaction>> {
        self.txs.get(hash).cloned()
    }
}

impl Manager {
    /// Queues a transaction's announcement to every ready peer but `except`.
    fn announce_tx(&mut self, txid: bitcoin::Txid, wtxid: bitcoin::Wtxid, feerate: u64, except: Option<PeerId>) {
        for (id, p) in self.peers.iter_mut() {
            if Some(*id) == except || !p.ready {
                continue;
            }
            p.relay.queue(txid, wtxid, feerate);
            p.handle.shared.inv_to_send.store(p.relay.pending.len() as u64, Ordering::Relaxed);
        }
    }

    /// Sends each peer whose announcement time has come (on the node's mockable clock, as
    /// Core's), and each noban peer at once (Core's fSendTrickle), its pending announcements in
    /// one `inv`, and records the mempool sequence they cover: transactions that entered later
    /// are not served to the peer until announced.
    pub(super) fn trickle(&mut self) {
        let now = crate::clock::unix_now_ms();
        let timer_due = |p: &Peer| now >= p.relay.next_trickle;
        let due = |p: &Peer| p.ready && p.relay.relay_txs && (timer_due(p) || p.handle.shared.permissions.noban);
        if !self.peers.values().any(due) {
            return;
        }
        let node = self.node.clone();
        let sequence = node.mempool().pool().sequence();
        let magic = self.magic();
        let mean_in = self.s.trickle_interval;
        for p in self.peers.values_mut().filter(|p| due(p)) {
            if timer_due(p) {
                let mean = if p.conn_type == ConnType::Inbound { mean_in } else { mean_in / 2 };
                p.relay.next_trickle = now + relay::poisson_delay(mean).as_millis() as u64;
            }
            p.relay.last_inv_sequence = sequence;
            p.handle.shared.last_inv_sequence.store(sequence, Ordering::Relaxed);
            let shared = p.handle.shared.clone();
            let mut bloom = shared.bloom();
            let mempool = node.mempool();
            // Only a peer with a BIP37 filter needs the transactions themselves.
            let pool = bloom.is_some().then(|| mempool.pool());
            let mut inv = Vec::new();
            while inv.len() < relay::INVENTORY_BROADCAST_MAX {
                let Some((txid, wtxid, feerate)) = p.relay.pending.pop_front() else {
                    break;
                };
                let key = p.relay.key(&txid, &wtxid);
                if p.relay.known.contains(&key) || feerate < p.relay.fee_filter {
                    continue;
                }
                if let (Some(filter), Some(pool)) = (bloom.as_mut(), pool.as_ref()) {
                    // As Core: a filtered peer hears only of pool transactions its filter
                    // matches (matching may add their outputs to the filter).
                    if !pool.get(&txid).is_some_and(|e| filter.is_relevant_and_update(&e.tx)) {
                        continue;
                    }
                }
                p.relay.known.insert(key);
                inv.push(if p.relay.wtxid {
                    Inventory::WTx(wtxid)
                } else {
                    Inventory::Transaction(txid)
                });
            }
            drop(pool);
            drop(bloom);
            p.handle.shared.inv_to_send.store(p.relay.pending.len() as u64, Ordering::Relaxed);
            if !inv.is_empty() {
                p.handle.send_frame(encode(magic, NetworkMessage::Inv(inv)));
            }
        }
    }

    /// Queues the announcement of a pool transaction to every peer that does not know it (Core's
    /// RelayTransaction: a re-sent transaction reaches peers that connected since).
    pub(super) fn relay_pool_tx(&mut self, txid: &bitcoin::Txid) {
        let node = self.node.clone();
        let found = {
            let mempool = node.mempool();
            let pool = mempool.pool();
            pool.get(txid).map(|e| (e.wtxid, feerate_per_kvb(e.fee, e.vsize)))
        };
        let Some((wtxid, rate)) = found else { return };
        // Once per RPC call: the pending scan (bounded) keeps a just-queued entry from being
        // queued twice.
        for p in self.peers.values_mut().filter(|p| p.ready) {
            if !p.relay.pending.iter().any(|(t, _, _)| t == txid) {
                p.relay.queue(*txid, wtxid, rate);
                p.handle.shared.inv_to_send.store(p.relay.pending.len() as u64, Ordering::Relaxed);
            }
        }
    }

    /// Announces mempool transactions added since the last look (from RPC, modules, reorgs or
    /// peers), in entry order.
    pub(super) fn poll_mempool(&mut self) {
        let node = self.node.clone();
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

    /// Transaction announcements: requests those we lack and have not asked anyone for (none during
    /// initial block download).
    pub(super) fn on_tx_inv(&mut self, id: PeerId, items: Vec<Inventory>) {
        let node = self.node.clone();
        // As Core: no transaction is requested while in initial block download.
        if self.rejects_incoming_txs(id) {
            let first = match items.first() {
                Some(Inventory::WTx(w)) => w.to_string(),
                Some(Inventory::Transaction(t) | Inventory::WitnessTransaction(t)) => t.to_string(),
                _ => String::new(),
            };
            self.disconnect_for_tx_violation(id, &format!("transaction ({first}) inv"));
            return;
        }
        if self.in_ibd() {
            return;
        }
        let Some(p) = self.peers.get(&id) else { return };
        let witness = p.info.as_ref().is_some_and(|i| i.services & ServiceFlags::WITNESS.to_u64() != 0);
        let mempool = node.mempool();
        let now = Instant::now();
        let mut want = Vec::new();
        let mut parents = Vec::new();
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
                if let Inventory::WTx(w) = inv {
                    if let Some(o) = self.orphans.get(&w) {
                        // As Core: a peer announcing an orphan becomes one of its announcers and
                        // is asked for the parents still missing (orphan resolution).
                        let missing: Vec<bitcoin::Txid> =
                            o.tx.input
                                .iter()
                                .map(|i| i.previous_output.txid)
                                .filter(|t| !pool.contains(t) && !self.rejects.contains(&t.to_byte_array()))
                                .collect();
                        if !missing.is_empty() && self.orphans.add_announcer(&w, id) {
                            for t in missing {
                                if !self.tx_requested.contains_key(&t.to_byte_array()) && !parents.contains(&t) {
                                    parents.push(t);
                                }
                            }
                        }
                        continue;
                    }
                }
                if have || self.rejects.contains(&key) || self.reconsiderable.contains(&key) || self.orphans.contains(&key) {
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
        want.extend(parents.into_iter().map(Inventory::WitnessTransaction));
        if !want.is_empty() {
            self.send(id, NetworkMessage::GetData(want));
        }
    }

    /// A `tx`: validated for the mempool; accepted ones are announced and their orphans retried,
    /// ones missing parents kept as orphans, rejected ones remembered.
    pub(super) async fn on_tx(&mut self, id: PeerId, tx: bitcoin::Transaction) {
        let node = self.node.clone();
        let (txid, wtxid) = (tx.compute_txid(), tx.compute_wtxid());
        let keys = [txid.to_byte_array(), wtxid.to_byte_array()];
        // As Core: a transaction during initial block download cannot be validated yet; it is
        // ignored (unsolicited transactions are not misbehaviour).
        if self.rejects_incoming_txs(id) {
            self.disconnect_for_tx_violation(id, "transaction");
            return;
        }
        if self.in_ibd() {
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
        // As Core's AlreadyHaveTx: a transaction in the mempool, recently rejected or already
        // held as an orphan is not validated again.
        if mempool.contains(&txid) || self.rejects.contains(&wtxid.to_byte_array()) || self.orphans.get(&wtxid).is_some() {
            // As Core: a forcerelay peer's transaction is relayed again if it is in the pool
            // (the node as a gateway for nodes behind it).
            if self.permissions(id).forcerelay {
                let feerate = mempool.pool().get(&txid).map(|e| feerate_per_kvb(e.fee, e.vsize));
                match feerate {
                    Some(rate) => {
                        tracing::info!(target: "blvm::net", "Force relaying tx {txid} (wtxid={wtxid}) from peer={id}");
                        self.announce_tx(txid, wtxid, rate, None);
                    }
                    None => {
                        tracing::info!(target: "blvm::net", "Not relaying non-mempool transaction {txid} (wtxid={wtxid}) from forcerelay peer={id}")
                    }
                }
            }
            return;
        }
        // As Core: a transaction refused for its feerate alone is not validated alone again, but
        // may enter with an orphan child from the same peer (1p1c package).
        let first = if self.reconsiderable.contains(&wtxid.to_byte_array()) {
            match self.find_1p1c(&tx, id) {
                Some(child) => TxWork::Pair(tx, child, id),
                None => return,
            }
        } else {
            TxWork::Single(tx, id)
        };
        // Orphans come back here when a parent is accepted; they stay in the pool until they
        // are accepted or rejected (an orphan still missing a parent stays as it was).
        let mut queue = vec![first];
        while let Some(work) = queue.pop() {
            let (tx, from) = match work {
                TxWork::Single(tx, from) => (tx, from),
                TxWork::Pair(parent, child, from) => {
                    self.validate_1p1c(parent, child, from, &mut queue).await;
                    continue;
                }
            };
            let (txid, wtxid) = (tx.compute_txid(), tx.compute_wtxid());
            if mempool.contains(&txid) {
                self.orphans.take(&wtxid);
                continue;
            }
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
                Ok(acc) => self.tx_accepted(&tx, from, acc.fee, acc.vsize, mempool.len(), &mut queue),
                Err(r) if r.reason == "bad-txns-inputs-missingorspent" => {
                    let parents: Vec<bitcoin::Txid> = tx.input.iter().map(|i| i.previous_output.txid).collect();
                    // As Core: an orphan of a rejected parent is rejected too, and so is one
                    // with more than one parent refused for its feerate (only 1p1c packages
                    // are tried, so it could never enter).
                    let low_parents = parents
                        .iter()
                        .collect::<std::collections::HashSet<_>>()
                        .into_iter()
                        .filter(|t| self.reconsiderable.contains(&t.to_byte_array()) && !mempool.contains(t))
                        .count();
                    if low_parents > 1 || parents.iter().any(|t| self.rejects.contains(&t.to_byte_array())) {
                        self.rejects.insert(wtxid.to_byte_array());
                        self.orphans.take(&wtxid);
                        continue;
                    }
                    let weight = tx.weight().to_wu();
                    if self.orphans.add(tx, from) {
                        // Core's line, which Core's tests look for.
                        tracing::debug!(target: "blvm::mempool", "stored orphan tx {txid} (wtxid={wtxid}), weight: {weight} (mapsz {} outsz {})", self.orphans.len(), self.orphans.outpoints());
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
                    self.remember_rejected(&tx, &r);
                    if matches!(r.reason.as_str(), "bad-txns-in-belowout" | "bad-txns-inputvalues-outofrange") {
                        self.misbehaving(from, &format!("invalid transaction {txid}: {r}"));
                    }
                    if package::is_low_feerate(&r) {
                        if let Some(child) = self.find_1p1c(&tx, from) {
                            queue.push(TxWork::Pair(tx, child, from));
                        }
                    }
                }
            }
        }
    }

    /// Handles a transaction the mempool accepted (alone or in a package): Core's log line,
    /// announcement to the other peers, and its orphan children queued for validation.
    pub(super) fn tx_accepted(
        &mut self,
        tx: &bitcoin::Transaction,
        from: PeerId,
        fee: u64,
        vsize: u64,
        pool_size: usize,
        queue: &mut Vec<TxWork>,
    ) {
        let (txid, wtxid) = (tx.compute_txid(), tx.compute_wtxid());
        tracing::debug!(target: "blvm::mempool", "AcceptToMemoryPool: peer={from}: accepted {txid} (wtxid={wtxid}) (poolsz {pool_size} txn)");
        if let Some(p) = self.peers.get(&from) {
            p.handle
                .shared
                .last_tx_time
                .store(crate::clock::unix_now(), std::sync::atomic::Ordering::Relaxed);
        }
        self.announce_tx(txid, wtxid, feerate_per_kvb(fee, vsize), Some(from));
        if self.orphans.take(&wtxid).is_some() {
            tracing::debug!(target: "blvm::mempool", "   accepted orphan tx {txid} (wtxid={wtxid})");
        }
        for w in self.orphans.children_of(tx) {
            if let Some(o) = self.orphans.get(&w) {
                queue.push(TxWork::Single(o.tx.clone(), o.first_announcer()));
            }
        }
    }

    /// Erases the orphans that the blocks connected above `fork_h` include or conflict with
    /// (Core's EraseForBlock). Past [`MAX_ORPHAN_BLOCK_READS`] blocks at once the pool is
    /// cleared instead of reading them all inside the event loop.
    pub(super) fn erase_orphans_for_blocks(&mut self, c: &ChainManager, fork_h: u32, tip_h: u32) {
        if self.orphans.is_empty() || tip_h <= fork_h {
            return;
        }
        if tip_h - fork_h > MAX_ORPHAN_BLOCK_READS {
            tracing::debug!(target: "blvm::mempool", "{} blocks connected at once; orphan pool cleared", tip_h - fork_h);
            self.orphans = Orphans::default();
            return;
        }
        for h in fork_h + 1..=tip_h {
            match c.hash_at(h).map(|hash| c.read_block(&hash)) {
                Some(Ok(Some(block))) => {
                    self.orphans.erase_for_block(&block);
                }
                Some(Err(e)) => tracing::warn!(target: "blvm::net", "cannot read block at height {h} to clear orphans: {e}"),
                _ => {}
            }
        }
    }

    /// Whether transactions from this peer are refused ([`super::P2pSettings::rejects_incoming_txs`];
    /// a peer that is gone is refused too).
    pub(super) fn rejects_incoming_txs(&self, id: PeerId) -> bool {
        self.peers
            .get(&id)
            .is_none_or(|p| self.s.rejects_incoming_txs(p.conn_type, p.handle.shared.permissions))
    }

    /// Disconnects a peer that sent a transaction message (`what`) we asked it not to send,
    /// with Core's log line.
    fn disconnect_for_tx_violation(&self, id: PeerId, what: &str) {
        let Some(p) = self.peers.get(&id) else { return };
        let label = self.peer_label(id, p.addr());
        tracing::debug!(target: "blvm::net", "{what} sent in violation of protocol, disconnecting {label}");
        self.disconnect(id, &format!("{what} sent in violation of protocol"));
    }

    /// Whether the node is in initial block download, when transactions are ignored (they cannot
    /// be validated yet; unsolicited transactions are not misbehaviour).
    pub(super) fn in_ibd(&self) -> bool {
        // Once left, IBD is over for good: no chain lock needed (the common case).
        !self.node.ibd.has_left() && self.node.chain.read(|c| self.node.is_initial_block_download(c))
    }

    /// Forgets an outstanding transaction request, at the peer that was asked and in the
    /// global table together (the table never holds more than the peers' in-flight sets).
    pub(super) fn forget_request(&mut self, key: &[u8; 32]) {
        if let Some((owner, _)) = self.tx_requested.remove(key) {
            if let Some(p) = self.peers.get_mut(&owner) {
                p.relay.in_flight.remove(key);
            }
        }
    }

    /// Drops transaction requests unanswered for [`relay::TX_REQUEST_TIMEOUT`], so the
    /// transaction can be fetched from another peer that announces it.
    pub(super) fn expire_tx_requests(&mut self, now: Instant) {
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
    /// and serves what its send queue has room for; ignored from peers without transaction relay.
    pub(super) fn on_getdata_tx(&mut self, id: PeerId, items: Vec<Inventory>) {
        let Some(p) = self.peers.get_mut(&id) else { return };
        if !p.relay.relay_txs {
            // As Core: a block-relay-only peer, or one that asked for no transactions, gets no
            // answer (not even notfound).
            tracing::debug!(target: "blvm::net", "ignoring getdata for {} transaction(s) from peer={id} without transaction relay", items.len());
            return;
        }
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
    pub(super) fn serve_getdata(&mut self, id: PeerId) {
        let node = self.node.clone();
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
                // As Core: only what was in the pool at the peer's last announcement, so a
                // peer cannot learn of a transaction before it is offered to everyone.
                match txid.and_then(|t| pool.get_for_relay(&t, p.relay.last_inv_sequence)) {
                    Some(e) => {
                        p.handle.send_frame(tx_frame(magic, &e.tx, witness));
                    }
                    None => missing.push((inv, witness)),
                }
            }
        }
        // The tip block's transactions are looked up with the pool's lock released (the chain's
        // lock is taken before the pool's elsewhere).
        let mut notfound = Vec::new();
        if !missing.is_empty() {
            self.tip_txs.refresh(&node);
        }
        for (inv, witness) in missing {
            let hash = match inv {
                Inventory::WTx(w) => w.to_byte_array(),
                Inventory::WitnessTransaction(t) | Inventory::Transaction(t) => t.to_byte_array(),
                _ => continue,
            };
            match self.tip_txs.get(&hash) {
                Some(tx) => {
                    p.handle.send_frame(tx_frame(magic, &tx, witness));
                }
                None => notfound.push(inv),
            }
        }
        if !notfound.is_empty() {
            p.handle.send_frame(encode(magic, NetworkMessage::NotFound(notfound)));
        }
    }

    /// BIP35 `mempool`. As Core, only answered for a peer we offer bloom filters (NODE_BLOOM)
    /// or with the `mempool` permission (`-whitelist`/`-whitebind`; blvm also grants it to
    /// manual connections, which the operator chose); anyone else is disconnected, since
    /// without bloom filters the request only serves to fingerprint or to make us walk the
    /// pool. Answered once per connection, the flag checked before any work; a peer's filter
    /// applies to the answer as to relay.
    pub(super) fn on_mempool_request(&mut self, id: PeerId) {
        let Some(p) = self.peers.get_mut(&id) else { return };
        let perms = p.handle.shared.permissions;
        if p.conn_type != ConnType::Manual && !perms.mempool && !self.s.offers_bloom(perms) {
            tracing::debug!(target: "blvm::net", peer = id, "mempool request with bloom filters disabled, disconnect peer={id}");
            p.handle.shared.disconnect("mempool request without permission");
            return;
        }
        // As Core: with -maxuploadtarget reached, no pool walk without the mempool permission
        // (a noban peer is kept, anyone else disconnected).
        if !perms.mempool && self.net.totals().upload.reached(false, crate::clock::unix_now()) {
            if !perms.noban {
                tracing::debug!(target: "blvm::net", "mempool request with bandwidth limit reached, disconnecting peer={id}");
                p.handle.shared.disconnect("mempool request with bandwidth limit reached");
            }
            return;
        }
        if p.relay.sent_mempool || !p.relay.relay_txs {
            return;
        }
        p.relay.sent_mempool = true;
        let node = self.node.clone();
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
        p.handle.shared.inv_to_send.store(p.relay.pending.len() as u64, Ordering::Relaxed);
    }

    /// Sends each transaction-relaying peer our `feefilter` when due (BIP133, version 70013+),
    /// except under `-blocksonly` and to forcerelay peers.
    pub(super) fn send_fee_filters(&mut self) {
        // As Core's MaybeSendFeefilter: none under -blocksonly (we take no transactions).
        if self.s.blocks_only {
            return;
        }
        let node = self.node.clone();
        let in_ibd = self.in_ibd();
        let mempool = node.mempool();
        let current = mempool.stats().rolling_min_fee;
        let min_relay = mempool.settings().min_relay_feerate;
        let now_ms = crate::clock::unix_now_ms() as i64;
        let mut rng = rand::thread_rng();
        let mut due = Vec::new();
        for (id, p) in self.peers.iter_mut() {
            let version = p.info.as_ref().map(|i| i.version).unwrap_or(0);
            // As Core: none to a peer with the forcerelay permission (it should not filter what
            // it sends us).
            let forcerelay = p.handle.shared.permissions.forcerelay;
            if !p.ready || !p.conn_type.relays_txs() || version < FEEFILTER_VERSION || forcerelay {
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

    /// A peer's BIP133 `feefilter`: the minimum fee rate of transactions it wants announced.
    pub(super) fn on_fee_filter(&mut self, id: PeerId, f: i64) {
        if let Some(p) = self.peers.get_mut(&id) {
            // As Core: only a valid amount (0..=MAX_MONEY) replaces the filter.
            if (0..=bitcoin::Amount::MAX_MONEY.to_sat() as i64).contains(&f) {
                p.relay.fee_filter = f as u64;
                p.handle
                    .shared
                    .fee_filter_received
                    .store(f as u64, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

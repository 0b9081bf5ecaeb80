//! The mempool: Bitcoin Core's acceptance policy over the chain's UTXO set, the transaction
//! graph with cluster limits, replacement and eviction, chain-driven updates (removal on block
//! connect, re-admission on reorg), persistence in `mempool.dat`, and block templates.
//!
//! Lock order: the chain mutex first, then the pool mutex.

pub mod accept;
pub mod block_selection;
pub mod cluster;
pub mod cluster_limits;
pub mod diagram;
pub mod disconnected;
pub mod entry;
pub mod linearize;
pub mod package;
pub mod persist;
pub mod policy;
pub mod pool;
pub mod rbf;
pub mod template;
#[cfg(test)]
mod test_support;
pub mod truc_package;

pub use accept::{AcceptOptions, Accepted, PoolEvent};
pub use cluster_limits::Limits;
pub use entry::MempoolEntry;
pub use pool::{Aggregate, Pool, RemovalReason};

use crate::chain::{ChainManager, ChainNotification};
use crate::modules::api::MempoolView;
use crate::modules::bus::EventBus;
use crate::sync::lock;
use crate::validation::script_error::MEMPOOL_SCRIPT_FAILURE;
use crate::validation::Reject;
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::{Block, BlockHash, Transaction, Txid};
use blvm_module::{EventPayload, MempoolInfo};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// File name of the mempool dump inside the network directory.
pub const MEMPOOL_DAT: &str = "mempool.dat";

/// Mempool policy settings (Core's defaults as of v30).
#[derive(Debug, Clone)]
pub struct MempoolSettings {
    /// Memory limit (`-maxmempool`, default 300 MB) in bytes.
    pub max_size_bytes: u64,
    /// Transactions older than this are dropped (`-mempoolexpiry`, default 336 h).
    pub expiry: Duration,
    /// Minimum relay feerate in sat/kvB (`-minrelaytxfee`, default 100).
    pub min_relay_feerate: u64,
    /// Incremental relay feerate in sat/kvB (`-incrementalrelayfee`, default 100).
    pub incremental_relay_feerate: u64,
    /// Dust relay feerate in sat/kvB (`-dustrelayfee`, default 3000).
    pub dust_relay_feerate: u64,
    /// OP_RETURN bytes allowed per transaction (`-datacarriersize`, default 100000; None = none).
    pub max_datacarrier_bytes: Option<u32>,
    /// Bare multisig outputs are standard (`-permitbaremultisig`, default true).
    pub permit_bare_multisig: bool,
    /// Any conflicting transaction may be replaced (Core ≥ 28 always; false restores BIP125
    /// opt-in signalling and the `txn-mempool-conflict` rejection).
    pub full_rbf: bool,
    /// Enforce standardness (`-acceptnonstdtxn=0`, Core's regtest default).
    pub require_standard: bool,
    /// Cluster limits (`-limitclustercount`, `-limitclustersize`).
    pub limits: Limits,
    /// Save to `mempool.dat` at shutdown and load it at start (`-persistmempool`).
    pub persist: bool,
    /// How block templates are filled from the pool.
    pub block: template::BlockOptions,
    /// Current UNIX time (overridable in tests, for expiry).
    pub clock: fn() -> i64,
}

impl Default for MempoolSettings {
    fn default() -> Self {
        MempoolSettings {
            max_size_bytes: 300_000_000,
            expiry: Duration::from_secs(336 * 3600),
            min_relay_feerate: 100,
            incremental_relay_feerate: 100,
            dust_relay_feerate: 3000,
            max_datacarrier_bytes: Some(100_000),
            permit_bare_multisig: true,
            full_rbf: true,
            require_standard: true,
            limits: Limits::default(),
            persist: true,
            block: template::BlockOptions::default(),
            clock: crate::clock::unix_now,
        }
    }
}

/// Size statistics (getmempoolinfo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolStats {
    /// Transactions.
    pub size: u64,
    /// Sum of vsizes.
    pub bytes: u64,
    /// Approximate memory usage.
    pub usage: u64,
    /// Sum of fees (sat).
    pub total_fee: u64,
    /// Current minimum feerate for acceptance (sat/kvB): max(rolling minimum, min relay).
    pub min_fee: u64,
    /// The rolling minimum alone (Core's GetMinFee; 0 while the pool has not been full), which
    /// our `feefilter` announces.
    pub rolling_min_fee: u64,
}

/// What loading `mempool.dat` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Re-accepted.
    pub succeeded: u64,
    /// Rejected now.
    pub failed: u64,
    /// Older than the expiry.
    pub expired: u64,
    /// Already in the pool.
    pub already_there: u64,
}

/// How a mempool dump is imported (Core's ImportMempoolOptions; the defaults are the
/// startup load's).
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// Record the current time as entry time instead of the file's.
    pub use_current_time: bool,
    /// Add the file's fee deltas to the recorded ones.
    pub apply_fee_delta_priority: bool,
    /// Take over the file's unbroadcast set (not tracked by this node; accepted and ignored).
    pub apply_unbroadcast_set: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            use_current_time: false,
            apply_fee_delta_priority: true,
            apply_unbroadcast_set: true,
        }
    }
}

/// One getprioritisedtransactions row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prioritised {
    /// The transaction.
    pub txid: Txid,
    /// Its total fee delta.
    pub delta: i64,
    /// Base fee plus delta, when the transaction is in the pool.
    pub modified_fee: Option<i64>,
}

/// The node's mempool.
pub struct Mempool {
    settings: MempoolSettings,
    chain: Arc<Mutex<ChainManager>>,
    pool: Mutex<Pool>,
    bus: Option<Arc<EventBus>>,
    pending: Mutex<Vec<EventPayload>>,
    loaded: AtomicBool,
    dat_path: PathBuf,
    last_template: Mutex<Option<(u64, u64)>>,
    zmq: std::sync::OnceLock<Arc<crate::zmq::ZmqPublisher>>,
    hooks: std::sync::OnceLock<Arc<crate::modules::extensions::Extensions>>,
}

impl Mempool {
    /// A mempool over `chain`, publishing events on `bus`, persisting to `<net_dir>/mempool.dat`.
    pub fn new(settings: MempoolSettings, chain: Arc<Mutex<ChainManager>>, bus: Option<Arc<EventBus>>, net_dir: &Path) -> Arc<Mempool> {
        Arc::new(Mempool {
            settings,
            chain,
            pool: Mutex::new(Pool::new()),
            bus,
            pending: Mutex::new(Vec::new()),
            loaded: AtomicBool::new(false),
            dat_path: net_dir.join(MEMPOOL_DAT),
            last_template: Mutex::new(None),
            zmq: std::sync::OnceLock::new(),
            hooks: std::sync::OnceLock::new(),
        })
    }

    /// Publishes pool and chain changes on `zmq` from now on (set once, at startup).
    pub fn set_zmq(&self, zmq: Arc<crate::zmq::ZmqPublisher>) {
        let _ = self.zmq.set(zmq);
    }

    /// Asks modules' `mempool_accept` hooks from now on (set once, at startup).
    pub fn set_hooks(&self, hooks: Arc<crate::modules::extensions::Extensions>) {
        let _ = self.hooks.set(hooks);
    }

    /// Runs the `mempool_accept` hook modules on `tx` (blocking this thread up to their
    /// deadlines); a refusal becomes a reject with the module's reason. Free when no module
    /// registered the hook. Call it before taking the chain lock.
    pub fn check_hooks(&self, tx: &Transaction) -> Result<(), Reject> {
        let Some(h) = self.hooks.get().filter(|h| h.has_hook(blvm_module::HookKind::MempoolAccept)) else {
            return Ok(());
        };
        let call = blvm_module::HookCall::MempoolAccept {
            txid: tx.compute_txid().to_string(),
            wtxid: tx.compute_wtxid().to_string(),
            raw: bitcoin::consensus::serialize(tx),
        };
        match h.ask_blocking(&call) {
            None => Ok(()),
            Some(r) => {
                tracing::debug!(target: "blvm::mempool", module = %r.module, reason = %r.reason, "transaction refused by a module hook");
                Err(Reject::new(r.reason, format!("refused by module {}", r.module)))
            }
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &MempoolSettings {
        &self.settings
    }

    /// The pool, locked (take the chain lock first if you need both).
    pub fn pool(&self) -> MutexGuard<'_, Pool> {
        lock(&self.pool)
    }

    /// The chain this mempool validates against.
    pub fn chain(&self) -> &Arc<Mutex<ChainManager>> {
        &self.chain
    }

    /// Where `mempool.dat` lives.
    pub fn dat_path(&self) -> &Path {
        &self.dat_path
    }

    /// Whether the startup load of `mempool.dat` has finished.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::SeqCst)
    }

    /// Marks the mempool loaded (used when persistence is off).
    pub fn set_loaded(&self) {
        self.loaded.store(true, Ordering::SeqCst);
    }

    fn now(&self) -> i64 {
        (self.settings.clock)()
    }

    fn queue(&self, events: Vec<PoolEvent>) {
        let zmq = self.zmq.get();
        let mut pending = lock(&self.pending);
        for e in events {
            match e {
                PoolEvent::Added {
                    tx,
                    txid,
                    wtxid,
                    fee,
                    vsize,
                    mempool_sequence,
                } => {
                    if let Some(z) = zmq {
                        z.tx_added(&tx, mempool_sequence);
                    }
                    tracing::debug!(target: "blvm::mempool", %txid, fee, vsize, "accepted to mempool");
                    pending.push(EventPayload::NewTransaction {
                        txid: txid.to_string(),
                        wtxid: wtxid.to_string(),
                    });
                    pending.push(EventPayload::MempoolTransactionAdded {
                        txid: txid.to_string(),
                        fee_sat: fee,
                        vsize,
                    });
                }
                PoolEvent::Removed {
                    txid,
                    reason,
                    mempool_sequence,
                } => {
                    // As Core: removals for block inclusion are not announced (BlockConnected is).
                    if let (Some(z), false) = (zmq, reason == RemovalReason::Block) {
                        z.tx_removed(&txid, mempool_sequence);
                    }
                    tracing::debug!(target: "blvm::mempool", %txid, reason = reason.as_str(), "removed from mempool");
                    pending.push(EventPayload::MempoolTransactionRemoved {
                        txid: txid.to_string(),
                        reason: reason.as_str().to_string(),
                    });
                }
            }
        }
    }

    /// Publishes queued mempool events on the bus (after any chain events of the same change).
    pub fn publish_pending(&self) {
        let events: Vec<EventPayload> = std::mem::take(&mut *lock(&self.pending));
        if let Some(bus) = &self.bus {
            for e in events {
                bus.publish(e);
            }
        }
    }

    /// Validates and (unless `opts.test_accept`) adds `tx`, with the chain already locked.
    /// Events are queued; call [`Mempool::publish_pending`] after releasing the chain.
    pub fn accept_locked(&self, chain: &mut ChainManager, tx: Transaction, opts: AcceptOptions) -> Result<Accepted, Reject> {
        let mut events = Vec::new();
        let r = {
            let mut pool = lock(&self.pool);
            accept::accept_tx(chain, &mut pool, &self.settings, Arc::new(tx), &opts, &mut events)
        };
        if let Err(e) = &r {
            tracing::debug!(target: "blvm::mempool", reason = %e, "transaction rejected");
        }
        self.queue(events);
        r
    }

    /// Validates and (unless `opts.test_accept`) adds `tx`, then publishes the events.
    pub fn accept(&self, tx: Transaction, opts: AcceptOptions) -> Result<Accepted, Reject> {
        self.check_hooks(&tx)?;
        let r = {
            let mut chain = lock(&self.chain);
            self.accept_locked(&mut chain, tx, opts)
        };
        self.publish_pending();
        r
    }

    /// Core's package test-accept: each transaction is checked as if the earlier ones had been
    /// accepted (replacements not allowed), on a scratch copy of the pool; validation stops at
    /// the first failure (later entries are None). As Core, which runs every transaction's
    /// checks before any script, only a script failure reports the earlier transactions'
    /// results; after any other failure they are None too. The real pool is not changed.
    pub fn test_accept_package(&self, txs: Vec<Transaction>) -> Vec<Option<Result<Accepted, Reject>>> {
        let mut chain = lock(&self.chain);
        let mut scratch = lock(&self.pool).clone();
        let opts = AcceptOptions {
            allow_replacement: false,
            ..Default::default()
        };
        let mut out: Vec<Option<Result<Accepted, Reject>>> = Vec::with_capacity(txs.len());
        let mut failed = false;
        for tx in txs {
            if failed {
                out.push(None);
                continue;
            }
            let mut events = Vec::new();
            let r = accept::accept_tx(&mut chain, &mut scratch, &self.settings, Arc::new(tx), &opts, &mut events);
            failed = r.is_err();
            if matches!(&r, Err(e) if !e.reason.starts_with(MEMPOOL_SCRIPT_FAILURE)) {
                out.iter_mut().for_each(|earlier| *earlier = None);
            }
            out.push(Some(r));
        }
        out
    }

    /// A transaction in the pool.
    pub fn get(&self, txid: &Txid) -> Option<Arc<Transaction>> {
        lock(&self.pool).get(txid).map(|e| e.tx.clone())
    }

    /// A copy of a pool entry.
    pub fn entry(&self, txid: &Txid) -> Option<MempoolEntry> {
        lock(&self.pool).get(txid).cloned()
    }

    /// Whether `txid` is in the pool.
    pub fn contains(&self, txid: &Txid) -> bool {
        lock(&self.pool).contains(txid)
    }

    /// Txids in entry order.
    pub fn txids(&self) -> Vec<Txid> {
        lock(&self.pool).entries_by_sequence().iter().map(|e| e.txid).collect()
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        lock(&self.pool).len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        lock(&self.pool).is_empty()
    }

    /// Size statistics.
    pub fn stats(&self) -> MempoolStats {
        let now = self.now();
        let mut pool = lock(&self.pool);
        let rolling = pool.min_fee(self.settings.max_size_bytes, self.settings.incremental_relay_feerate, now);
        MempoolStats {
            size: pool.len() as u64,
            bytes: pool.total_vsize(),
            usage: pool.usage(),
            total_fee: pool.total_fee(),
            min_fee: rolling.max(self.settings.min_relay_feerate),
            rolling_min_fee: rolling,
        }
    }

    /// Updates the pool for chain changes (with the chain locked, right after
    /// `take_notifications`): removes block transactions and their conflicts; after a reorg,
    /// re-admits the disconnected blocks' transactions and re-validates everything else.
    pub fn update_for_chain(&self, chain: &mut ChainManager, notes: &[ChainNotification]) {
        let zmq = self.zmq.get().cloned();
        let mut disconnected: Vec<BlockHash> = Vec::new();
        let mut connected: Vec<BlockHash> = Vec::new();
        for n in notes {
            match n {
                ChainNotification::BlockConnected { hash, .. } => connected.push(*hash),
                ChainNotification::BlockDisconnected { hash, .. } => disconnected.push(*hash),
                ChainNotification::Reorg { .. } => {}
            }
        }
        if connected.is_empty() && disconnected.is_empty() {
            return;
        }
        if disconnected.is_empty() && lock(&self.pool).is_empty() {
            // Nothing to remove (the common case during initial sync): skip re-reading blocks.
            lock(&self.pool).note_block();
            if let Some(z) = &zmq {
                if z.wants_block_data() {
                    for h in &connected {
                        if let Some(b) = read_block_logged(chain, h, "connected") {
                            z.block_connected(&b);
                        }
                    }
                }
                zmq_tip(z, chain, &connected);
            }
            return;
        }
        let mut events = Vec::new();
        // Disconnected blocks come tip first (the order ZMQ announces them); re-admit their
        // transactions oldest block first.
        let old_blocks: Vec<Block> = disconnected
            .iter()
            .filter_map(|h| read_block_logged(chain, h, "disconnected"))
            .collect();
        if let Some(z) = &zmq {
            old_blocks.iter().for_each(|b| z.block_disconnected(b));
        }
        let resurrect: Vec<Transaction> = old_blocks
            .into_iter()
            .rev()
            .flat_map(|b| b.txdata.into_iter().filter(|t| !t.is_coinbase()))
            .collect();
        let (resurrect, dropped) = disconnected::limit_usage(resurrect, disconnected::MAX_DISCONNECTED_TX_POOL_BYTES);
        if dropped > 0 {
            tracing::debug!(target: "blvm::mempool", dropped, "disconnected transactions over the memory limit not re-admitted");
        }
        let mut pool = lock(&self.pool);
        let mut confirmed: HashSet<Txid> = HashSet::new();
        let mut new_blocks: Vec<Block> = Vec::new();
        for h in &connected {
            if let Some(b) = read_block_logged(chain, h, "connected") {
                confirmed.extend(b.txdata.iter().map(|t| t.compute_txid()));
                let base = pool.sequence();
                let removed = pool.remove_for_block(&b.txdata);
                accept::record_removed(&mut events, base, removed.into_iter().map(|(e, reason)| (e.txid, reason)));
                if zmq.is_some() {
                    new_blocks.push(b);
                }
            }
        }
        if !disconnected.is_empty() {
            // Rebuild: the disconnected transactions first (limits bypassed, as Core), then the
            // previous pool in entry order; whatever no longer validates leaves with "reorg".
            // The mempool sequence counts only real changes, as Core's (which keeps the pool).
            let sequence = pool.sequence();
            let old = pool.drain();
            pool.set_sequence(sequence);
            let opts = AcceptOptions {
                bypass_limits: true,
                reorg_readmission: true,
                ..Default::default()
            };
            let mut added = 0usize;
            for tx in resurrect {
                let txid = tx.compute_txid();
                if confirmed.contains(&txid) {
                    continue;
                }
                match accept::accept_tx(chain, &mut pool, &self.settings, Arc::new(tx), &opts, &mut events) {
                    Ok(_) => added += 1,
                    Err(r) => tracing::debug!(target: "blvm::mempool", %txid, reason = %r, "disconnected transaction not re-admitted"),
                }
            }
            let mut quiet = Vec::new();
            for e in old {
                let o = AcceptOptions {
                    accept_time: Some(e.time),
                    ..opts
                };
                let before = pool.sequence();
                let mut these = Vec::new();
                match accept::accept_tx(chain, &mut pool, &self.settings, e.tx.clone(), &o, &mut these) {
                    Ok(_) => {
                        // The entry stayed: its re-addition is not a change, and it is as
                        // requestable as it was.
                        pool.set_relay_sequence(&e.txid, e.relay_sequence);
                        let removed = these.iter().filter(|e| matches!(e, PoolEvent::Removed { .. })).count();
                        pool.set_sequence(before + removed as u64);
                    }
                    Err(r) => {
                        tracing::debug!(target: "blvm::mempool", txid = %e.txid, reason = %r, "removed after reorg");
                        pool.set_sequence(before + 1);
                        accept::record_removed(&mut events, before, [(e.txid, RemovalReason::Reorg)]);
                    }
                }
                quiet.append(&mut these);
            }
            // Re-validated entries were already in the pool: only report evictions among them.
            events.extend(quiet.into_iter().filter(|e| matches!(e, PoolEvent::Removed { .. })));
            // Clusters the re-additions made too large are trimmed (Core 31's TxGraph::Trim).
            let base = pool.sequence();
            let trimmed = cluster_limits::trim_oversized(&mut pool, &self.settings.limits);
            for e in &trimmed {
                tracing::debug!(target: "blvm::mempool", txid = %e.txid, "removed after reorg: cluster over the limits");
            }
            accept::record_removed(&mut events, base, trimmed.into_iter().map(|e| (e.txid, RemovalReason::SizeLimit)));
            tracing::info!(target: "blvm::mempool", readmitted = added, size = pool.len(), "mempool updated after reorg");
        }
        accept::limit_size(&mut pool, &self.settings, self.now(), &mut events);
        drop(pool);
        self.queue(events);
        if let Some(z) = &zmq {
            // As Core, connections are announced after the mempool caught up with them (a block's
            // conflicts and a reorg's re-admissions first), then the new tip.
            new_blocks.iter().for_each(|b| z.block_connected(b));
            zmq_tip(z, chain, &connected);
        }
    }

    /// Writes the pool to `mempool.dat` (entry order, so parents precede children), with each
    /// transaction's fee delta and the deltas of transactions not in the pool (Core's mapDeltas).
    pub fn save(&self) -> Result<PathBuf, persist::PersistError> {
        let (entries, deltas) = {
            let pool = lock(&self.pool);
            let entries: Vec<persist::DumpEntry> = pool
                .entries_by_sequence()
                .iter()
                .map(|e| persist::DumpEntry {
                    tx: (*e.tx).clone(),
                    time: e.time,
                    fee_delta: e.delta,
                })
                .collect();
            let deltas: Vec<(Txid, i64)> = pool.deltas().into_iter().filter(|(t, _)| !pool.contains(t)).collect();
            (entries, deltas)
        };
        persist::write_dump(&self.dat_path, &entries, &deltas)?;
        tracing::info!(target: "blvm::mempool", transactions = entries.len(), deltas = deltas.len(), path = %self.dat_path.display(), "dumped mempool");
        Ok(self.dat_path.clone())
    }

    /// Loads `mempool.dat` (if present) with the chain locked, re-validating every transaction
    /// with its original entry time and applying its fee deltas; marks the mempool loaded.
    pub fn load_locked(&self, chain: &mut ChainManager) -> Result<LoadReport, persist::PersistError> {
        if !self.dat_path.exists() {
            self.set_loaded();
            return Ok(LoadReport::default());
        }
        let path = self.dat_path.clone();
        let r = self.import_locked(chain, &path, ImportOptions::default());
        self.set_loaded();
        r
    }

    /// Core's LoadMempool: reads a mempool dump at `path` and offers its transactions to the
    /// pool as `opts` says (with the chain locked; events are queued).
    pub fn import_locked(&self, chain: &mut ChainManager, path: &Path, opts: ImportOptions) -> Result<LoadReport, persist::PersistError> {
        let mut report = LoadReport::default();
        let dump = persist::read_dump(path)?;
        let now = self.now();
        let cutoff = now - self.settings.expiry.as_secs() as i64;
        for e in dump.entries {
            let txid = e.tx.compute_txid();
            if e.fee_delta != 0 && opts.apply_fee_delta_priority {
                lock(&self.pool).prioritise(&txid, e.fee_delta);
            }
            if e.time <= cutoff {
                report.expired += 1;
                continue;
            }
            if self.contains(&txid) {
                report.already_there += 1;
                continue;
            }
            let accept_time = if opts.use_current_time { now } else { e.time };
            match self.accept_locked(
                chain,
                e.tx,
                AcceptOptions {
                    accept_time: Some(accept_time),
                    ..Default::default()
                },
            ) {
                Ok(_) => report.succeeded += 1,
                Err(_) => report.failed += 1,
            }
        }
        if opts.apply_fee_delta_priority {
            let mut pool = lock(&self.pool);
            for (txid, delta) in &dump.deltas {
                pool.prioritise(txid, *delta);
            }
        }
        tracing::info!(
            target: "blvm::mempool",
            path = %path.display(),
            succeeded = report.succeeded,
            failed = report.failed,
            expired = report.expired,
            already_there = report.already_there,
            deltas = dump.deltas.len(),
            "imported mempool transactions from disk"
        );
        Ok(report)
    }

    /// Core's PrioritiseTransaction: adds `delta` satoshis to `txid`'s modified fee, now or
    /// when it enters the pool.
    pub fn prioritise(&self, txid: &Txid, delta: i64) {
        let mut pool = lock(&self.pool);
        pool.prioritise(txid, delta);
        tracing::info!(target: "blvm::mempool", %txid, delta, total = pool.delta_of(txid), "prioritised transaction");
    }

    /// Every recorded fee delta: (txid, delta, base and modified fee when in the pool).
    pub fn prioritised(&self) -> Vec<Prioritised> {
        let pool = lock(&self.pool);
        pool.deltas()
            .into_iter()
            .map(|(txid, delta)| Prioritised {
                txid,
                delta,
                modified_fee: pool
                    .get(&txid)
                    .map(|e| i64::try_from(e.fee).unwrap_or(i64::MAX).saturating_add(delta)),
            })
            .collect()
    }

    /// A block template on the current tip (locks the chain, then the pool).
    pub fn block_template(&self, now: i64) -> template::BlockTemplate {
        let chain = lock(&self.chain);
        let pool = lock(&self.pool);
        let t = template::BlockTemplate::from_pool(&chain, &pool, now, &self.settings.block);
        // Core's currentblockweight counts the reserved weight, not the coinbase itself.
        *lock(&self.last_template) = Some((self.settings.block.reserved_weight + t.tx_weight, t.txs.len() as u64));
        t
    }

    /// Weight and transaction count of the last template made (getmininginfo).
    pub fn last_template_stats(&self) -> Option<(u64, u64)> {
        *lock(&self.last_template)
    }
}

/// A block of the chain, or None (logged) when it cannot be read.
fn read_block_logged(chain: &mut ChainManager, h: &BlockHash, what: &str) -> Option<Block> {
    match chain.read_block(h) {
        Ok(Some(b)) => Some(b),
        Ok(None) => {
            tracing::warn!(target: "blvm::mempool", block = %h, "{what} block has no data");
            None
        }
        Err(e) => {
            tracing::warn!(target: "blvm::mempool", block = %h, "cannot read {what} block: {e}");
            None
        }
    }
}

/// Core's UpdatedBlockTip for ZMQ: after blocks were connected, announce the new tip.
fn zmq_tip(z: &crate::zmq::ZmqPublisher, chain: &mut ChainManager, connected: &[BlockHash]) {
    let wants = z.wants(crate::zmq::Topic::HashBlock) || z.wants(crate::zmq::Topic::RawBlock);
    if let (true, Some(h)) = (wants, connected.last()) {
        if let Some(b) = read_block_logged(chain, h, "connected") {
            z.tip_updated(&b);
        }
    }
}

impl MempoolView for Mempool {
    fn info(&self) -> MempoolInfo {
        let s = self.stats();
        MempoolInfo {
            size: s.size,
            bytes: s.bytes,
            usage: s.usage,
            total_fee_sat: s.total_fee,
            min_fee_rate: s.min_fee as f64 / 1000.0,
        }
    }

    fn txids(&self) -> Vec<String> {
        Mempool::txids(self).iter().map(|t| t.to_string()).collect()
    }

    fn get(&self, txid: &Txid) -> Option<Vec<u8>> {
        Mempool::get(self, txid).map(|t| serialize(&*t))
    }

    fn submit(&self, raw: &[u8]) -> Result<String, String> {
        let tx: Transaction = deserialize(raw).map_err(|e| format!("TX decode failed: {e}"))?;
        let txid = tx.compute_txid();
        if self.contains(&txid) {
            return Ok(txid.to_string());
        }
        self.accept(tx, AcceptOptions::default())
            .map(|a| a.txid.to_string())
            .map_err(|r| r.to_string())
    }
}

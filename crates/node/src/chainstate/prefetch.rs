//! Block input prevout prefetching (Core's `-prevoutfetchthreads`): while a block connects,
//! worker threads read the coins its inputs spend from the database, in input order, so the
//! validation thread mostly finds a cache miss already read when it reaches that input.
//!
//! Only the database read is replaced: [`super::cache::CoinsCache::get_fetched`] still looks in
//! the live and the frozen generation first, and a fetched result is used only where the
//! database would have been read. A worker's read snapshot may be newer than the validation
//! thread's (a background write may commit in between), but a background write only changes
//! outpoints its frozen generation holds, and those are answered by the frozen generation,
//! which stays below the live cache for the whole block. Results live for one block and are
//! bounded by its input count; a worker that has not reached an input yet leaves it to the
//! validation thread, which reads it itself.

use super::cache::{decode_db_coin, CoinsCache, FrozenCoins};
use super::coin::{outpoint_key, Coin};
use crate::store::db::{ChainDb, CoinReader, DbError};
use bitcoin::{Block, OutPoint, Txid};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

/// Core's default number of prefetch threads (`DEFAULT_PREVOUTFETCH_THREADS`), blvm's too
/// (measured in docs/BENCHMARKS.md, "Flat cost per block").
pub const DEFAULT_PREVOUTFETCH_THREADS: usize = 8;
/// Core's most prefetch threads (`MAX_PREVOUTFETCH_THREADS`): larger values are clamped.
pub const MAX_PREVOUTFETCH_THREADS: usize = 16;
/// Fewest inputs to fetch per worker: a smaller block is not worth waking more threads.
const MIN_INPUTS_PER_WORKER: usize = 64;

/// The state of one input's fetch.
enum Slot {
    /// Not reached by anyone yet.
    Pending,
    /// A worker is reading it.
    Claimed,
    /// Read: the coin, or `None` if the database holds none.
    Done(Option<Coin>),
    /// Taken by the validation thread, or the worker's read failed (the validation thread
    /// reads it itself and reports the error).
    Passed,
}

/// One block's fetch: the outpoints in input order and a slot per outpoint.
struct Job {
    outpoints: Vec<OutPoint>,
    slots: Vec<Mutex<Slot>>,
    /// The next index a worker claims (the validation thread pushes it past what it passed).
    next: AtomicUsize,
    /// Set when the block is done with (connected or rejected): workers stop.
    cancelled: AtomicBool,
    /// The generation being written in the background, consulted before the database.
    frozen: Option<FrozenCoins>,
    db_path: std::path::PathBuf,
}

/// A worker's share of a job: the job, the worker's own read snapshot, and the count of
/// snapshots handed out and not yet released.
type Work = (Arc<Job>, CoinReader, Arc<AtomicUsize>);

/// The prefetch worker threads, owned by the chain manager and stopped when it is dropped.
pub struct PrevoutFetcher {
    senders: Vec<mpsc::SyncSender<Work>>,
    workers: Vec<JoinHandle<()>>,
    /// Read snapshots handed to workers and not yet dropped (see [`PrevoutFetcher::wait_idle`]).
    readers: Arc<AtomicUsize>,
    /// The last connected block's inputs were all in the cache: the next block is not
    /// prefetched (its scan of the inputs would find nothing to fetch), until a block misses.
    quiet: bool,
}

impl PrevoutFetcher {
    /// Starts `threads` workers (clamped to [`MAX_PREVOUTFETCH_THREADS`]; 0 disables fetching).
    pub fn new(threads: usize) -> Self {
        let threads = threads.min(MAX_PREVOUTFETCH_THREADS);
        let mut senders = Vec::with_capacity(threads);
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            // One job at a time per worker: the previous block's job is over before the next.
            let (tx, rx) = mpsc::sync_channel::<Work>(1);
            let spawned = std::thread::Builder::new()
                .name(format!("blvm-prevout-{i}"))
                .spawn(move || worker(rx));
            match spawned {
                Ok(h) => {
                    senders.push(tx);
                    workers.push(h);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not start a prevout fetch thread");
                    break;
                }
            }
        }
        if !workers.is_empty() {
            tracing::info!(threads = workers.len(), "block input prevout fetching uses additional threads");
        }
        PrevoutFetcher {
            senders,
            workers,
            readers: Arc::new(AtomicUsize::new(0)),
            quiet: false,
        }
    }

    /// Records how many inputs of the block just connected were read below the live cache:
    /// none, and the next block is not prefetched; any, and prefetching resumes.
    pub fn observe(&mut self, input_misses: usize) {
        self.quiet = input_misses == 0;
    }

    /// Number of running worker threads.
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// Starts fetching the coins `block`'s inputs spend that `cache`'s live generation does
    /// not hold and that no transaction of the block creates (those are never in the
    /// database); `None` when there are no workers or nothing to fetch.
    pub fn start(&self, block: &Block, txids: &[Txid], cache: &CoinsCache, db: &ChainDb) -> Result<Option<FetchSession>, DbError> {
        if self.senders.is_empty() || self.quiet {
            return Ok(None);
        }
        let created: HashSet<&Txid> = txids.iter().collect();
        let outpoints: Vec<OutPoint> = block
            .txdata
            .iter()
            .skip(1)
            .flat_map(|tx| tx.input.iter().map(|i| i.previous_output))
            .filter(|op| !created.contains(&op.txid) && !cache.has_entry(op))
            .collect();
        if outpoints.is_empty() {
            return Ok(None);
        }
        let job = Arc::new(Job {
            slots: outpoints.iter().map(|_| Mutex::new(Slot::Pending)).collect(),
            outpoints,
            next: AtomicUsize::new(0),
            cancelled: AtomicBool::new(false),
            frozen: cache.frozen(),
            db_path: db.path().to_path_buf(),
        });
        let wanted = job.outpoints.len().div_ceil(MIN_INPUTS_PER_WORKER).min(self.senders.len());
        for tx in &self.senders[..wanted] {
            // A worker whose channel is full or gone is skipped: the others (or the
            // validation thread) do its share.
            self.readers.fetch_add(1, Ordering::SeqCst);
            if tx
                .try_send((Arc::clone(&job), db.coin_reader()?, Arc::clone(&self.readers)))
                .is_err()
            {
                self.readers.fetch_sub(1, Ordering::SeqCst);
            }
        }
        Ok(Some(FetchSession { job, cursor: 0 }))
    }

    /// Waits until every worker has released its read snapshot (all sessions must be dropped
    /// first): the database cannot be compacted while a snapshot is open.
    pub fn wait_idle(&self) {
        while self.readers.load(Ordering::SeqCst) > 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

impl Drop for PrevoutFetcher {
    fn drop(&mut self) {
        self.senders.clear();
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

/// A worker: claims the job's outpoints one at a time in order until the job is done with.
fn worker(rx: mpsc::Receiver<Work>) {
    while let Ok((job, reader, readers)) = rx.recv() {
        while !job.cancelled.load(Ordering::Relaxed) {
            let i = job.next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = job.slots.get(i) else { break };
            {
                let mut s = slot.lock().unwrap_or_else(|e| e.into_inner());
                if !matches!(*s, Slot::Pending) {
                    continue;
                }
                *s = Slot::Claimed;
            }
            let result = fetch(&job, &reader, &job.outpoints[i]);
            let mut s = slot.lock().unwrap_or_else(|e| e.into_inner());
            *s = match result {
                Ok(coin) => Slot::Done(coin),
                Err(_) => Slot::Passed,
            };
        }
        // The snapshot is released here, before the next job: it holds back page reuse.
        drop(reader);
        readers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The coin at `op` below the live cache: the frozen generation, else the database.
fn fetch(job: &Job, reader: &CoinReader, op: &OutPoint) -> Result<Option<Coin>, DbError> {
    if let Some(e) = job.frozen.as_ref().and_then(|f| f.get(op)) {
        return Ok(e.coin());
    }
    match reader.get(&outpoint_key(op))? {
        Some(bytes) => decode_db_coin(&bytes, &job.db_path).map(Some),
        None => Ok(None),
    }
}

/// One block's fetch results, taken by the validation thread in input order. Dropping it
/// stops the workers on this block.
pub struct FetchSession {
    job: Arc<Job>,
    /// The next outpoint expected in input order.
    cursor: usize,
}

impl FetchSession {
    /// What the database holds at `op` (`Some(None)`: no coin) if a worker has read it,
    /// `None` if the validation thread has to read it itself. `op` must be the next fetched
    /// input in order; any other outpoint is not fetched.
    pub fn take(&mut self, op: &OutPoint) -> Option<Option<Coin>> {
        if self.job.outpoints.get(self.cursor) != Some(op) {
            return None;
        }
        let i = self.cursor;
        self.cursor += 1;
        // Workers need not claim what the validation thread has passed.
        self.job.next.fetch_max(self.cursor, Ordering::Relaxed);
        let mut s = self.job.slots[i].lock().unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *s, Slot::Passed) {
            Slot::Done(coin) => Some(coin),
            Slot::Pending | Slot::Claimed | Slot::Passed => None,
        }
    }

    /// Number of outpoints the workers were asked to fetch.
    pub fn len(&self) -> usize {
        self.job.outpoints.len()
    }

    /// True when nothing was to be fetched.
    pub fn is_empty(&self) -> bool {
        self.job.outpoints.is_empty()
    }
}

impl Drop for FetchSession {
    fn drop(&mut self) {
        self.job.cancelled.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chainstate::cache::tests::{coin, op};
    use crate::chainstate::cache::BlockView;
    use crate::store::db::FlushBatch;
    use bitcoin::{Amount, ScriptBuf, Transaction, TxIn, TxOut};

    fn tx(inputs: &[OutPoint]) -> Transaction {
        Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: inputs
                .iter()
                .map(|o| TxIn {
                    previous_output: *o,
                    ..Default::default()
                })
                .collect(),
            output: vec![TxOut {
                value: Amount::from_sat(1),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
            }],
        }
    }

    /// A database holding coins 1-4 and 6; a cache whose frozen generation spent 4 and
    /// created 5, and whose live generation holds 2 and spent 6.
    fn setup(dir: &std::path::Path) -> (ChainDb, CoinsCache) {
        let db = ChainDb::open(&dir.join("chainstate")).unwrap();
        let mut cache = CoinsCache::default();
        let reader = db.coin_reader().unwrap();
        let mut view = BlockView::new(&mut cache, &reader, db.path());
        for n in [1, 2, 3, 4, 6] {
            view.add(op(n), coin(n.into()), true);
        }
        let changes = view.into_changes();
        drop(reader);
        let _kept = cache.apply(changes);
        db.commit(FlushBatch {
            coins: cache.dirty_writes(),
            ..Default::default()
        })
        .unwrap();
        cache.mark_flushed();
        cache.clear();
        let spend_and_add = |cache: &mut CoinsCache, spend: u8, add: Option<u8>, load: Option<u8>| {
            let reader = db.coin_reader().unwrap();
            let mut view = BlockView::new(cache, &reader, db.path());
            assert!(view.spend(&op(spend)).unwrap().is_some());
            if let Some(n) = add {
                view.add(op(n), coin(n.into()), true);
            }
            if let Some(n) = load {
                assert!(view.get(&op(n)).unwrap().is_some());
            }
            let changes = view.into_changes();
            drop(reader);
            let _kept = cache.apply(changes);
        };
        spend_and_add(&mut cache, 4, Some(5), None);
        assert!(cache.freeze().is_some());
        spend_and_add(&mut cache, 6, None, Some(2));
        (db, cache)
    }

    /// A block spending a coin on disk (1), in the live cache (2), on disk (3), spent in the
    /// frozen generation (4), created there (5), spent in the live cache (6), missing (9), and
    /// an output of its own first transaction.
    /// The test block, its txids and its inputs in order.
    fn block_and_inputs() -> (Block, Vec<Txid>, Vec<OutPoint>) {
        let first = tx(&[op(1), op(2)]);
        let own = OutPoint {
            txid: first.compute_txid(),
            vout: 0,
        };
        let inputs = vec![op(1), op(2), own, op(3), op(4), op(5), op(6), op(9)];
        let second = tx(&[own, op(3), op(4), op(5), op(6), op(9)]);
        let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
        let coinbase = genesis.txdata[0].clone();
        let block = Block {
            header: genesis.header,
            txdata: vec![coinbase, first, second],
        };
        let txids = crate::validation::block_check::txids(&block);
        (block, txids, inputs)
    }

    /// Every input's coin through a block view, as connecting looks them up (no spends, so
    /// one view answers each input as the database and the cache hold it).
    fn lookups(cache: &mut CoinsCache, db: &ChainDb, session: Option<FetchSession>, inputs: &[OutPoint]) -> Vec<Option<u64>> {
        let reader = db.coin_reader().unwrap();
        let mut view = BlockView::new(cache, &reader, db.path()).with_prefetch(session);
        inputs
            .iter()
            .map(|o| view.get(o).unwrap().map(|c| c.output.value.to_sat()))
            .collect()
    }

    fn settled(s: &FetchSession) -> bool {
        s.job
            .slots
            .iter()
            .all(|m| matches!(*m.lock().unwrap(), Slot::Done(_) | Slot::Passed))
    }

    #[test]
    fn fetched_inputs_give_the_same_coins_as_lookups_without_workers() {
        let (block, txids, inputs) = block_and_inputs();
        let dir = tempfile::tempdir().unwrap();
        let (db, mut cache) = setup(dir.path());
        let none = PrevoutFetcher::new(0);
        assert!(none.start(&block, &txids, &cache, &db).unwrap().is_none());
        let want = lookups(&mut cache, &db, None, &inputs);
        assert_eq!(want, vec![Some(1), Some(2), None, Some(3), None, Some(5), None, None]);

        let dir = tempfile::tempdir().unwrap();
        let (db, mut cache) = setup(dir.path());
        let fetcher = PrevoutFetcher::new(4);
        assert_eq!(fetcher.threads(), 4);
        let session = fetcher.start(&block, &txids, &cache, &db).unwrap().unwrap();
        // Not fetched: 2 and 6 (live entries) and the block's own output.
        let fetched: Vec<OutPoint> = session.job.outpoints.clone();
        assert_eq!(fetched, vec![op(1), op(3), op(4), op(5), op(9)]);
        while !settled(&session) {
            std::thread::yield_now();
        }
        let done = session
            .job
            .slots
            .iter()
            .filter(|m| matches!(*m.lock().unwrap(), Slot::Done(_)))
            .count();
        assert_eq!(done, 5, "every outpoint was read by a worker");
        assert_eq!(lookups(&mut cache, &db, Some(session), &inputs), want);
        fetcher.wait_idle();
    }

    /// A block whose inputs were all in the live cache (a view that counted no miss) makes
    /// the next block go unfetched; a block that missed turns fetching back on.
    #[test]
    fn a_block_without_misses_quiets_fetching_until_one_misses() {
        let (block, txids, inputs) = block_and_inputs();
        let dir = tempfile::tempdir().unwrap();
        let (db, mut cache) = setup(dir.path());
        let mut fetcher = PrevoutFetcher::new(1);
        let misses = |cache: &mut CoinsCache, ops: &[OutPoint]| {
            let reader = db.coin_reader().unwrap();
            let mut view = BlockView::new(cache, &reader, db.path());
            for o in ops {
                view.get(o).unwrap();
            }
            view.input_misses()
        };
        // Coin 2 is in the live generation: no miss.
        fetcher.observe(misses(&mut cache, &[op(2)]));
        assert!(fetcher.start(&block, &txids, &cache, &db).unwrap().is_none(), "quiet");
        // Coin 3 is only on disk: a miss.
        fetcher.observe(misses(&mut cache, &[op(2), op(3)]));
        let session = fetcher.start(&block, &txids, &cache, &db).unwrap().expect("fetching again");
        assert!(session.job.outpoints.contains(&op(1)));
        assert_eq!(lookups(&mut cache, &db, Some(session), &inputs)[0], Some(1));
        fetcher.wait_idle();
    }

    #[test]
    fn inputs_the_workers_have_not_reached_are_read_by_the_caller() {
        let (block, txids, inputs) = block_and_inputs();
        let dir = tempfile::tempdir().unwrap();
        let (db, mut cache) = setup(dir.path());
        let want = lookups(&mut cache, &db, None, &inputs);
        let dir = tempfile::tempdir().unwrap();
        let (db, mut cache) = setup(dir.path());
        let fetcher = PrevoutFetcher::new(2);
        let session = fetcher.start(&block, &txids, &cache, &db).unwrap().unwrap();
        // Half the slots taken by the caller before any worker could claim them.
        for m in session.job.slots.iter().step_by(2) {
            let mut s = m.lock().unwrap();
            if matches!(*s, Slot::Pending) {
                *s = Slot::Passed;
            }
        }
        assert_eq!(lookups(&mut cache, &db, Some(session), &inputs), want);
    }

    /// Stopping the fetcher in the middle of a job joins every worker and releases every read
    /// snapshot, so the database can be compacted.
    #[test]
    fn shutdown_joins_the_workers_and_releases_the_snapshots() {
        let (block, txids, _) = block_and_inputs();
        let dir = tempfile::tempdir().unwrap();
        let (mut db, cache) = setup(dir.path());
        let fetcher = PrevoutFetcher::new(MAX_PREVOUTFETCH_THREADS + 5);
        assert_eq!(fetcher.threads(), MAX_PREVOUTFETCH_THREADS, "clamped as Core's");
        let session = fetcher.start(&block, &txids, &cache, &db).unwrap();
        drop(session);
        fetcher.wait_idle();
        drop(fetcher);
        drop(cache);
        assert!(db.compact().is_ok(), "no snapshot left open");
    }
}

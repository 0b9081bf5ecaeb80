//! A block's script checks on persistent threads, started while the block is still being
//! connected (the shape of Core's `CCheckQueue`).
//!
//! The chain manager owns one [`ScriptCheckQueue`] with `script_threads - 1` worker threads for
//! its whole life. Connecting a block opens a [`CheckSession`]: each transaction's script checks
//! are queued as soon as its spent outputs are known, so the workers verify while the calling
//! thread goes on resolving the inputs of the later transactions; [`CheckSession::finish`] then
//! has the calling thread verify what is left beside them and returns the failure at the lowest
//! (transaction, input) position, whatever the interleaving. A session dropped unfinished (the
//! block failed another rule) drops its unstarted checks and waits for the running ones, so the
//! next block starts on an empty queue. Dropping the queue stops and joins its threads.
//!
//! Bounds: a session queues at most one block's inputs (at most a few tens of thousands under
//! the block weight limit), and the calling thread hands them over in batches.

use super::scripts::{PreparedTx, ScriptError, ScriptFlags};
use bitcoin::{Transaction, TxOut};
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;

/// Most inputs a thread takes at once: fewer as the queue drains (Core's `CCheckQueue` batch
/// rule), so that at the end of a block no thread sits idle while another runs a long batch.
const INPUTS_PER_TAKE: usize = 16;
/// Inputs the calling thread collects before handing them to the workers in one lock.
const INPUTS_PER_HANDOFF: usize = 32;

/// One transaction to verify: its serialized form, spent outputs and flags, prepared for the
/// interpreter by the first thread that reaches one of its inputs.
struct TxCheck {
    /// Position of the transaction in its block.
    pos: usize,
    source: TxSource,
    spent: Arc<Vec<TxOut>>,
    flags: ScriptFlags,
    prepared: OnceLock<Result<PreparedTx, ScriptError>>,
}

/// The transaction as the interpreter gets it.
enum TxSource {
    /// Serialized, to be parsed on its own.
    Bytes(Vec<u8>),
    /// Inside the block the interpreter already parsed (the transaction at `TxCheck::pos`).
    Block(Arc<bitcoinkernel::Block>),
}

/// A run of consecutive inputs of one transaction (queued whole, taken in parts: [`State::take`]).
struct Job {
    tx: Arc<TxCheck>,
    inputs: Range<usize>,
}

/// The first failing input of a session: (transaction position, input index, error).
pub type CheckFailure = (usize, usize, ScriptError);

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    /// Inputs in `jobs`.
    queued_inputs: usize,
    /// Jobs taken from `jobs` and not finished yet.
    running: usize,
    failure: Option<CheckFailure>,
    /// A worker's check panicked: re-raised on the session's thread, as a scoped thread's would be.
    panic: Option<Box<dyn std::any::Any + Send>>,
    shutdown: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when jobs arrive or at shutdown.
    work: Condvar,
    /// Signalled when the last running job of a drained queue ends.
    idle: Condvar,
    /// Transaction position of the lowest failure so far (usize::MAX: none): later jobs are skipped.
    lowest_failed: AtomicUsize,
}

impl State {
    /// Takes the next inputs for one of `threads` threads: a share of what is queued, at most
    /// [`INPUTS_PER_TAKE`] and at least one, so that the last inputs of a block are spread
    /// over the threads one at a time.
    fn take(&mut self, threads: usize) -> Option<Job> {
        let job = self.jobs.front_mut()?;
        let n = (self.queued_inputs / (threads + 1)).clamp(1, INPUTS_PER_TAKE);
        let taken = if job.inputs.len() > n {
            let first = job.inputs.start;
            job.inputs.start += n;
            Job {
                tx: Arc::clone(&job.tx),
                inputs: first..first + n,
            }
        } else {
            self.jobs.pop_front()?
        };
        self.queued_inputs -= taken.inputs.len();
        self.running += 1;
        Some(taken)
    }

    /// Drops every queued job (the session was abandoned).
    fn clear(&mut self) {
        self.jobs.clear();
        self.queued_inputs = 0;
    }
}

impl Shared {
    /// Runs `job`'s inputs in order, recording its first failure if it is the lowest so far.
    fn run(&self, job: Job) {
        if job.tx.pos > self.lowest_failed.load(Ordering::Relaxed) {
            return;
        }
        let tx = &job.tx;
        let prepared = tx.prepared.get_or_init(|| match &tx.source {
            TxSource::Bytes(bytes) => PreparedTx::from_bytes(bytes, &tx.spent),
            TxSource::Block(block) => PreparedTx::in_block(Arc::clone(block), tx.pos, &tx.spent),
        });
        for i in job.inputs {
            let result = match prepared {
                Ok(p) => p.verify_input(i, tx.flags),
                Err(e) => Err(e.clone()),
            };
            if let Err(e) = result {
                let mut state = crate::sync::lock(&self.state);
                if !matches!(&state.failure, Some((t, j, _)) if (*t, *j) <= (tx.pos, i)) {
                    state.failure = Some((tx.pos, i, e));
                    self.lowest_failed.fetch_min(tx.pos, Ordering::Relaxed);
                }
                return;
            }
        }
    }

    /// A job is over: wakes the session's owner if it was the last one.
    fn job_done(&self) {
        let mut state = crate::sync::lock(&self.state);
        state.running -= 1;
        if state.running == 0 && state.jobs.is_empty() {
            self.idle.notify_all();
        }
    }

    fn worker(&self, threads: usize) {
        loop {
            let job = {
                let mut state = crate::sync::lock(&self.state);
                loop {
                    if state.shutdown {
                        return;
                    }
                    if let Some(job) = state.take(threads) {
                        break job;
                    }
                    state = self.work.wait(state).unwrap_or_else(|p| p.into_inner());
                }
            };
            // The job (and its share of the transaction) is dropped before it is counted done.
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run(job))) {
                crate::sync::lock(&self.state).panic.get_or_insert(p);
            }
            self.job_done();
        }
    }
}

/// Persistent script-check threads, owned by the chain manager (see the module docs).
pub struct ScriptCheckQueue {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl ScriptCheckQueue {
    /// A queue checking on `threads` threads in all: the caller of [`CheckSession::finish`]
    /// and `threads - 1` workers started now.
    pub fn new(threads: usize) -> Self {
        let shared = Arc::new(Shared {
            lowest_failed: AtomicUsize::new(usize::MAX),
            ..Default::default()
        });
        let threads = threads.max(1);
        let workers = (1..threads)
            .filter_map(|n| {
                let s = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("scriptch.{n}"))
                    .spawn(move || s.worker(threads))
                    .map_err(|e| tracing::warn!(error = %e, "cannot start a script-check thread"))
                    .ok()
            })
            .collect();
        ScriptCheckQueue { shared, workers }
    }

    /// Worker threads running (the caller of `finish` is one more).
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Opens the checks of one block; `&mut` so that only one session runs at a time.
    pub fn session(&mut self) -> CheckSession<'_> {
        CheckSession {
            queue: self,
            pending: Vec::new(),
            pending_inputs: 0,
            queued: false,
        }
    }
}

impl Drop for ScriptCheckQueue {
    fn drop(&mut self) {
        crate::sync::lock(&self.shared.state).shutdown = true;
        self.shared.work.notify_all();
        for w in self.workers.drain(..) {
            if w.join().is_err() {
                tracing::warn!("a script-check thread panicked");
            }
        }
    }
}

/// The script checks of one block (see the module docs).
pub struct CheckSession<'q> {
    queue: &'q mut ScriptCheckQueue,
    /// Jobs collected and not yet handed to the workers.
    pending: Vec<Job>,
    pending_inputs: usize,
    /// Some job was queued, so dropping must wait for the workers.
    queued: bool,
}

impl CheckSession<'_> {
    /// Queues every input of `tx`, the transaction at `pos` in its block, whose input `i`
    /// spends `spent[i]`; `parsed` is the block as the interpreter parsed it, if it was.
    pub fn add(
        &mut self,
        pos: usize,
        tx: &Transaction,
        spent: Arc<Vec<TxOut>>,
        flags: ScriptFlags,
        parsed: Option<&Arc<bitcoinkernel::Block>>,
    ) {
        let n = tx.input.len();
        let tx = Arc::new(TxCheck {
            pos,
            source: match parsed {
                Some(block) => TxSource::Block(Arc::clone(block)),
                None => TxSource::Bytes(bitcoin::consensus::serialize(tx)),
            },
            spent,
            flags,
            prepared: OnceLock::new(),
        });
        self.pending.push(Job { tx, inputs: 0..n });
        self.pending_inputs += n;
        // The first transaction goes at once: the workers are idle at the start of a block.
        let first = !self.queued;
        if (first || self.pending_inputs >= INPUTS_PER_HANDOFF) && !self.queue.workers.is_empty() {
            self.hand_over();
        }
    }

    fn hand_over(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let n = self.pending_inputs;
        {
            let mut state = crate::sync::lock(&self.queue.shared.state);
            state.jobs.extend(self.pending.drain(..));
            state.queued_inputs += n;
        }
        self.pending_inputs = 0;
        self.queued = true;
        if n <= INPUTS_PER_TAKE {
            self.queue.shared.work.notify_one();
        } else {
            self.queue.shared.work.notify_all();
        }
    }

    /// Verifies every queued input, this thread joining the workers; the failure at the
    /// lowest (transaction, input) position, if any.
    pub fn finish(mut self) -> Result<(), CheckFailure> {
        if self.queue.workers.is_empty() {
            // No workers (nothing was handed over): verify in order here.
            let shared = Arc::clone(&self.queue.shared);
            for job in std::mem::take(&mut self.pending) {
                shared.run(job);
            }
        } else {
            self.hand_over();
            self.help_and_wait();
        }
        self.reset()
    }

    /// Runs queued jobs on this thread until none is left, then waits for the running ones.
    fn help_and_wait(&self) {
        let shared = &self.queue.shared;
        let threads = self.queue.workers.len() + 1;
        loop {
            let job = {
                let mut state = crate::sync::lock(&shared.state);
                loop {
                    if let Some(job) = state.take(threads) {
                        break Some(job);
                    }
                    if state.running == 0 {
                        break None;
                    }
                    state = shared.idle.wait(state).unwrap_or_else(|p| p.into_inner());
                }
            };
            match job {
                Some(job) => {
                    shared.run(job);
                    shared.job_done();
                }
                None => return,
            }
        }
    }

    /// Takes the session's failure (re-raising a worker's panic) and clears the queue for the next session.
    fn reset(&mut self) -> Result<(), CheckFailure> {
        let shared = &self.queue.shared;
        shared.lowest_failed.store(usize::MAX, Ordering::Relaxed);
        self.queued = false;
        let (failure, panic) = {
            let mut state = crate::sync::lock(&shared.state);
            (state.failure.take(), state.panic.take())
        };
        if let Some(p) = panic {
            if !std::thread::panicking() {
                std::panic::resume_unwind(p);
            }
        }
        match failure {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }
}

impl Drop for CheckSession<'_> {
    /// Unfinished: the block failed another rule. Its unstarted checks are dropped and the
    /// running ones waited for.
    fn drop(&mut self) {
        self.pending.clear();
        if self.queued {
            crate::sync::lock(&self.queue.shared.state).clear();
            self.help_and_wait();
            let _ = self.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::scripts::tests::op_true_block as block;
    use crate::validation::scripts::VERIFY_ALL;

    fn check(q: &mut ScriptCheckQueue, txs: &[Transaction], spent: &[Vec<TxOut>]) -> Result<(), (usize, usize)> {
        let mut s = q.session();
        for (t, tx) in txs.iter().enumerate().skip(1) {
            s.add(t, tx, Arc::new(spent[t].clone()), VERIFY_ALL, None);
        }
        s.finish().map_err(|(t, i, e)| {
            assert_eq!(e, ScriptError::Invalid);
            (t, i)
        })
    }

    #[test]
    fn lowest_failure_whatever_the_threads() {
        for threads in [1, 2, 4] {
            let mut q = ScriptCheckQueue::new(threads);
            assert_eq!(q.workers(), threads - 1);
            let (txs, spent) = block(60, 40, &[]);
            assert_eq!(check(&mut q, &txs, &spent), Ok(()));
            let (txs, spent) = block(60, 40, &[(50, 3), (20, 37), (20, 39), (55, 0)]);
            assert_eq!(check(&mut q, &txs, &spent), Err((20, 37)), "threads {threads}");
            // The failure does not leak into the next session.
            let (txs, spent) = block(5, 3, &[]);
            assert_eq!(check(&mut q, &txs, &spent), Ok(()));
        }
    }

    #[test]
    fn an_abandoned_session_leaves_the_queue_empty() {
        let mut q = ScriptCheckQueue::new(2);
        let (txs, spent) = block(50, 20, &[(1, 0)]);
        {
            let mut s = q.session();
            for (t, tx) in txs.iter().enumerate().skip(1) {
                s.add(t, tx, Arc::new(spent[t].clone()), VERIFY_ALL, None);
            }
        }
        let state = crate::sync::lock(&q.shared.state);
        assert!(state.jobs.is_empty() && state.running == 0 && state.failure.is_none());
        drop(state);
        let (txs, spent) = block(3, 2, &[]);
        assert_eq!(check(&mut q, &txs, &spent), Ok(()));
    }

    #[test]
    fn takes_shrink_to_single_inputs_as_the_queue_drains() {
        let (txs, spent) = block(3, 100, &[]);
        let mut state = State::default();
        for (pos, tx) in txs.iter().enumerate().skip(1) {
            let check = TxCheck {
                pos,
                source: TxSource::Bytes(bitcoin::consensus::serialize(tx)),
                spent: Arc::new(spent[pos].clone()),
                flags: VERIFY_ALL,
                prepared: OnceLock::new(),
            };
            state.jobs.push_back(Job {
                tx: Arc::new(check),
                inputs: 0..tx.input.len(),
            });
            state.queued_inputs += tx.input.len();
        }
        let mut taken = Vec::new();
        while let Some(job) = state.take(2) {
            taken.push((job.tx.pos, job.inputs));
        }
        // Every input once, in order, never more than a take's worth at a time.
        let expected: Vec<(usize, usize)> = (1..=3).flat_map(|t| (0..100).map(move |i| (t, i))).collect();
        let got: Vec<(usize, usize)> = taken.iter().flat_map(|(t, r)| r.clone().map(move |i| (*t, i))).collect();
        assert_eq!(got, expected);
        assert!(taken.iter().all(|(_, r)| !r.is_empty() && r.len() <= INPUTS_PER_TAKE));
        assert_eq!(taken[0].1.len(), INPUTS_PER_TAKE);
        // The last inputs go one at a time, to whichever thread is free.
        assert!(taken.iter().rev().take(3).all(|(_, r)| r.len() == 1));
        assert_eq!((state.queued_inputs, state.running), (0, taken.len()));
    }

    #[test]
    fn dropping_the_queue_joins_its_threads() {
        let q = ScriptCheckQueue::new(3);
        let shared = Arc::downgrade(&q.shared);
        drop(q);
        // Every worker held a reference to the shared state until it returned.
        assert!(shared.upgrade().is_none());
    }
}

//! Background flushes (issue 14): a cache-full flush freezes the dirty state into a generation
//! that a writer thread commits while validation goes on filling a new live generation, so a
//! flush pauses validation only for the freeze (block file sync included), not for the write.
//!
//! One write at a time: the next freeze, and every synchronous flush (manual, periodic,
//! shutdown, and everything that reads the whole database), first waits for the writer. A
//! failed write keeps the frozen generation; the next flush (the shutdown flush the fatal error
//! triggers) commits it and the live generation together, frozen first, so nothing is lost.

use super::*;
use crate::chainstate::cache::{FrozenCoins, FrozenWrites};
use crate::store::db::DbError;
use std::sync::Arc;
use std::thread::JoinHandle;

/// What a finished background write stored.
pub(super) struct WriteDone {
    coins: usize,
    index: usize,
    duration: Duration,
}

/// A frozen generation's non-coin records (kept so a failed write can be redone), and the
/// writer committing it (`None` once it failed).
pub(super) struct BackgroundWrite {
    pub(super) index: Vec<([u8; 32], Vec<u8>)>,
    pub(super) writer: Option<JoinHandle<Result<WriteDone, DbError>>>,
    reason: FlushReason,
}

/// The background flush state of a [`ChainManager`].
#[derive(Default)]
pub(super) struct BgFlush {
    pub(super) write: Option<BackgroundWrite>,
    /// The thread freeing the last committed generation (a large map), joined before the next.
    dropper: Option<JoinHandle<()>>,
    /// Test hook: the next writer waits for a message (or the sender's drop) before committing.
    #[cfg(test)]
    pub(super) gate: Option<std::sync::mpsc::Receiver<()>>,
}

impl ChainManager {
    /// Whether cache-full flushes run in the background: not while the transaction or filter
    /// index is maintained (their pending records answer lookups until written, so they are
    /// written synchronously with everything else).
    pub(super) fn background_flush_enabled(&self) -> bool {
        self.txindex.is_none() && self.filters.is_none() && self.historical.is_none() && self.cs.own_db.is_none()
    }

    /// After each connected block (no coin reader alive): collects a finished background write,
    /// then flushes if the cache is full. With background flushes the live generation is frozen
    /// before it (with its writer's references, and the table it would grow to during the next
    /// block) could pass half of `-dbcache`, so live and frozen generations and the writer
    /// together stay within it.
    pub(super) fn flush_if_cache_full(&mut self) -> Result<(), ChainError> {
        if !self.background_flush_enabled() {
            if self.cache_usage() > self.coins_budget() {
                let report = self.flush(FlushReason::CacheFull)?;
                self.flush_reports.push(report);
            }
            return Ok(());
        }
        self.finish_write(false)?;
        if self.cs.coins.live_usage_next_block() > self.settings.dbcache_bytes / 2 {
            self.flush_background(FlushReason::CacheFull)?;
        }
        Ok(())
    }

    /// Freezes the dirty state and hands it to a writer thread; validation is paused only for
    /// the wait on a previous write still running, the block file sync and the freeze, which is
    /// logged as the flush's `ms` (the durable write is logged when it ends).
    pub(super) fn flush_background(&mut self, reason: FlushReason) -> Result<(), ChainError> {
        let start = Instant::now();
        if let Err(e) = self.finish_write(true) {
            tracing::warn!("previous background write failed ({e}); flushing synchronously");
        }
        if self.bg.write.is_some() {
            // A failed generation is still frozen: write it and the live one together.
            let report = self.flush(reason)?;
            self.flush_reports.push(report);
            return Ok(());
        }
        let waited = start.elapsed();
        // The start of the flush proper (crash tests kill from this line), as a synchronous
        // flush logs it; the previous write's end was logged before it.
        tracing::debug!(
            reason = reason.as_str(),
            background = true,
            coins = self.cs.coins.dirty_count(),
            index = self.dirty_index.len(),
            cache_bytes = self.cs.coins.memory_usage(),
            "flushing chainstate"
        );
        let flush_start = Instant::now();
        self.files.sync()?;
        self.write_coinstats(false)?;
        let synced = start.elapsed();
        let mut index = Vec::with_capacity(self.dirty_index.len());
        for h in &self.dirty_index {
            if let Some(e) = self.index.get(h) {
                index.push((h.to_byte_array(), e.encode()));
            }
        }
        let mut meta = vec![(META_BEST_BLOCK, self.tip().hash.to_byte_array().to_vec())];
        let (file, len) = self.files.end_position();
        let mut scan = file.to_le_bytes().to_vec();
        scan.extend_from_slice(&len.to_le_bytes());
        meta.push((META_SCAN_POS, scan));
        let Some(frozen) = self.cs.coins.freeze() else {
            return Err(ChainError::Corrupt("a coins generation is already frozen".into()));
        };
        self.cs.coins.presize(self.settings.dbcache_bytes / 2);
        self.dirty_index.clear();
        let entries = frozen.len();
        let spawned = self.spawn_writer(frozen, index.clone(), meta, flush_start);
        self.bg.write = Some(BackgroundWrite {
            index,
            writer: spawned.ok(),
            reason,
        });
        if self.bg.write.as_ref().is_some_and(|w| w.writer.is_none()) {
            // No writer thread: write synchronously, as a failed background write is redone.
            let report = self.flush(reason)?;
            self.flush_reports.push(report);
            return Ok(());
        }
        // `ms` is the pause validation saw (the bench reads it as such); the write's own time
        // follows in "background chainstate write done".
        tracing::debug!(
            reason = reason.as_str(),
            background = true,
            entries,
            wait_ms = waited.as_millis() as u64,
            sync_ms = (synced - waited).as_millis() as u64,
            ms = start.elapsed().as_millis() as u64,
            "flushed chainstate"
        );
        if waited > Duration::from_secs(1) {
            tracing::info!(
                ms = waited.as_millis() as u64,
                "validation waited for the previous background chainstate write"
            );
        }
        Ok(())
    }

    /// Starts the named writer thread committing `frozen`'s dirty coins with `index` and `meta`;
    /// it logs the durable end itself, timed from `flush_start` (the block file sync), so the
    /// log shows when the data reached the disk, not when validation next looked.
    fn spawn_writer(
        &mut self,
        frozen: FrozenCoins,
        index: Vec<([u8; 32], Vec<u8>)>,
        meta: Vec<(&'static str, Vec<u8>)>,
        flush_start: Instant,
    ) -> Result<JoinHandle<Result<WriteDone, DbError>>, std::io::Error> {
        let db = Arc::clone(&self.db);
        #[cfg(test)]
        let gate = self.bg.gate.take();
        let spawned = std::thread::Builder::new().name("blvm-flush".into()).spawn(move || {
            #[cfg(test)]
            if let Some(g) = gate {
                let _ = g.recv();
            }
            let start = Instant::now();
            let writes = FrozenWrites(frozen);
            let (coins, index_count) = (writes.len(), index.len());
            let batch = FlushBatch {
                coin_source: Some(Box::new(writes)),
                index,
                meta,
                ..Default::default()
            };
            let pre_commit = flush_start.elapsed();
            // Crash tests tell a kill inside the commit from one before it by this line.
            tracing::debug!(background = true, "chainstate commit starting");
            db.commit(batch)?;
            tracing::debug!(
                coins_written = coins,
                index_written = index_count,
                write_ms = start.elapsed().as_millis() as u64,
                pre_commit_ms = pre_commit.as_millis() as u64,
                total_ms = flush_start.elapsed().as_millis() as u64,
                "background chainstate write done"
            );
            Ok(WriteDone {
                coins,
                index: index_count,
                duration: start.elapsed(),
            })
        });
        if let Err(e) = &spawned {
            tracing::error!("cannot start the chainstate writer thread: {e}");
        }
        spawned
    }

    /// Collects the background write if it finished (or, with `block`, once it finishes). On
    /// success the frozen generation is released (no coin reader is alive here, so every later
    /// lookup reads a snapshot holding it) and the durable flush is reported; on failure the
    /// generation stays frozen for the next flush, the failure is reported and returned, and
    /// the fatal handler is told.
    pub(super) fn finish_write(&mut self, block: bool) -> Result<(), ChainError> {
        let Some(w) = self.bg.write.as_mut() else { return Ok(()) };
        if !block && !w.writer.as_ref().is_some_and(|h| h.is_finished()) {
            return Ok(());
        }
        let Some(handle) = w.writer.take() else { return Ok(()) };
        let reason = w.reason;
        let wait = Instant::now();
        let joined = handle.join();
        let waited = wait.elapsed();
        let result = match joined {
            Ok(r) => r.map_err(ChainError::from),
            Err(_) => Err(ChainError::Corrupt("the chainstate writer thread panicked".into())),
        };
        match result {
            Ok(done) => {
                self.bg.write = None;
                self.release_frozen();
                self.last_flush = Instant::now();
                tracing::debug!(
                    reason = reason.as_str(),
                    coins_written = done.coins,
                    waited_ms = waited.as_millis() as u64,
                    "background chainstate write collected"
                );
                self.flush_reports.push(FlushReport {
                    reason,
                    success: true,
                    duration: done.duration,
                    coins_written: done.coins,
                    index_written: done.index,
                    error: None,
                });
                Ok(())
            }
            Err(e) => {
                tracing::error!(reason = reason.as_str(), "background chainstate write failed: {e}");
                self.flush_reports.push(FlushReport {
                    reason,
                    success: false,
                    duration: Duration::ZERO,
                    coins_written: 0,
                    index_written: 0,
                    error: Some(e.to_string()),
                });
                if let Some(fatal) = &self.fatal {
                    fatal(&format!("chainstate flush failed: {e}"));
                }
                Err(e)
            }
        }
    }

    /// Forgets the frozen generation, freeing it on a short-lived thread so a large map's
    /// deallocation does not pause validation.
    pub(super) fn release_frozen(&mut self) {
        let Some(frozen) = self.cs.coins.release_frozen() else { return };
        if let Some(prev) = self.bg.dropper.take() {
            let _ = prev.join();
        }
        match std::thread::Builder::new()
            .name("blvm-cache-free".into())
            .spawn(move || drop(frozen))
        {
            Ok(h) => self.bg.dropper = Some(h),
            Err(e) => tracing::warn!("freeing the flushed coins generation inline: {e}"),
        }
    }

    /// Waits for the writer and the freeing thread (shutdown, drop): nothing of ours keeps
    /// running, or holds the database, once the manager is gone.
    pub(super) fn join_background(&mut self) {
        if let Err(e) = self.finish_write(true) {
            tracing::error!("background chainstate write failed at shutdown: {e}");
        }
        if let Some(h) = self.bg.dropper.take() {
            let _ = h.join();
        }
    }

    /// Test hook: the next background writer waits until `gate` receives (or its sender drops).
    #[cfg(test)]
    pub(super) fn hold_next_write(&mut self, gate: std::sync::mpsc::Receiver<()>) {
        self.bg.gate = Some(gate);
    }

    /// True while a background write is running (test hook).
    #[cfg(test)]
    pub(super) fn writing_in_background(&self) -> bool {
        self.bg.write.as_ref().is_some_and(|w| w.writer.is_some())
    }
}

impl Drop for ChainManager {
    fn drop(&mut self) {
        self.join_background();
    }
}

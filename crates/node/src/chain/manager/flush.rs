//! Making the chainstate durable and small: flushes (atomic, failure-safe), database
//! compaction, pruning of block files, and whole-UTXO-set reads (scans, statistics, MuHash).

use super::*;

impl ChainManager {
    /// Writes dirty coins, dirty index entries and the best-block marker in one atomic commit,
    /// after making the block files durable and waiting for a background write (see
    /// `bgflush`). A failed flush is fatal for the node.
    pub fn flush(&mut self, reason: FlushReason) -> Result<FlushReport, ChainError> {
        // Marks the start of the flush (`-debug=chain`): crash tests kill the process inside it.
        tracing::debug!(
            reason = reason.as_str(),
            coins = self.cs.coins.dirty_count(),
            index = self.dirty_index.len(),
            cache_bytes = self.cs.coins.memory_usage(),
            "flushing chainstate"
        );
        let start = Instant::now();
        let result = self.flush_inner();
        let duration = start.elapsed();
        match result {
            Ok((coins_written, index_written)) => {
                self.last_flush = Instant::now();
                tracing::debug!(
                    reason = reason.as_str(),
                    background = false,
                    coins_written,
                    index_written,
                    ms = duration.as_millis() as u64,
                    "flushed chainstate"
                );
                Ok(FlushReport {
                    reason,
                    success: true,
                    duration,
                    coins_written,
                    index_written,
                    error: None,
                })
            }
            Err(e) => {
                tracing::error!(reason = reason.as_str(), "chainstate flush failed: {e}");
                if let Some(fatal) = &self.fatal {
                    fatal(&format!("chainstate flush failed: {e}"));
                }
                Err(e)
            }
        }
    }

    /// Builds the batch from borrowed views of the dirty state and forgets that state only once
    /// the commit succeeded: a failed commit (full disk, I/O error) leaves every dirty coin,
    /// index entry and pending index record in memory, so the next flush (the shutdown flush the
    /// failure triggers) writes a complete, consistent state instead of a partial one. A
    /// generation frozen by a failed background write is part of that state: its coins and
    /// index records go first in the batch, the live ones on top.
    pub(super) fn flush_inner(&mut self) -> Result<(usize, usize), ChainError> {
        let start = Instant::now();
        if let Err(e) = self.finish_write(true) {
            tracing::warn!("background chainstate write failed ({e}); writing its generation now");
        }
        let waited = start.elapsed();
        self.files.sync()?;
        let synced = start.elapsed();
        // With a snapshot chainstate its coins go to its own database first; the main database
        // then holds the historical chainstate's coins and tip.
        let (main_coins, main_best, snapshot_part) = match self.snapshot_flush_parts() {
            Some((coins, best, own)) => (Some(coins), best, Some(own)),
            None => (None, self.tip().hash, None),
        };
        let mut batch = FlushBatch {
            index: self.bg.write.as_ref().map(|w| w.index.clone()).unwrap_or_default(),
            ..Default::default()
        };
        for h in &self.dirty_index {
            if let Some(e) = self.index.get(h) {
                batch.index.push((h.to_byte_array(), e.encode()));
            }
        }
        let coins_written = match main_coins {
            Some(coins) => {
                batch.coins = coins;
                batch.coins.len()
            }
            None => {
                let writes = self.cs.coins.sorted_writes();
                let n = writes.len();
                batch.coin_source = Some(Box::new(writes));
                n
            }
        };
        let index_written = batch.index.len();
        batch.meta.push((META_BEST_BLOCK, main_best.to_byte_array().to_vec()));
        let (file, len) = self.files.end_position();
        let mut scan = file.to_le_bytes().to_vec();
        scan.extend_from_slice(&len.to_le_bytes());
        batch.meta.push((META_SCAN_POS, scan));
        if let Some(t) = &self.txindex {
            (batch.clear_txindex, batch.txindex) = t.writes();
            batch.meta.push((txindex_sync::META_TXINDEX_BEST, t.best.to_byte_array().to_vec()));
        }
        if let Some(f) = &self.filters {
            batch.filters = f.writes();
            batch
                .meta
                .push((filterindex_sync::META_FILTERS_BEST, f.best.to_byte_array().to_vec()));
        }
        let built = start.elapsed();
        // Crash tests tell a kill inside the commit from one before it by this line.
        tracing::debug!(background = false, "chainstate commit starting");
        self.db.commit(batch)?;
        let committed = start.elapsed();
        match snapshot_part {
            Some(own) => {
                let other_budget = self.other_coins_budget();
                if let Some(h) = &mut self.historical {
                    h.coins.mark_flushed();
                    // Written now, so its cache can shrink to its share of -dbcache.
                    if h.coins.memory_usage() > other_budget / 2 {
                        h.coins.clear();
                    }
                }
                self.commit_snapshot_part(own)?;
            }
            None => self.cs.coins.mark_flushed(),
        }
        self.bg.write = None;
        self.release_frozen();
        self.dirty_index.clear();
        if let Some(t) = &mut self.txindex {
            t.mark_flushed();
        }
        if let Some(f) = &mut self.filters {
            f.mark_flushed();
        }
        self.write_coinstats(true)?;
        if self.cs.coins.memory_usage() > self.coins_budget() / 2 {
            self.cs.coins.clear();
        }
        // The phases of the flush (`-debug=chain`): block file sync, batch building, database
        // commit, cache bookkeeping (clearing a full cache included).
        tracing::debug!(
            wait_ms = waited.as_millis() as u64,
            sync_ms = (synced - waited).as_millis() as u64,
            batch_ms = (built - synced).as_millis() as u64,
            commit_ms = (committed - built).as_millis() as u64,
            after_ms = (start.elapsed() - committed).as_millis() as u64,
            "flush phases"
        );
        Ok((coins_written, index_written))
    }

    /// Proves the database accepts writes (health check): commits a small marker record. While
    /// a background write runs, that write is the probe (its failure is reported as fatal), so
    /// the check does not queue behind it holding the chain.
    pub fn probe_writable(&mut self) -> Result<(), ChainError> {
        if self.bg.write.as_ref().is_some_and(|w| w.writer.is_some()) {
            return Ok(());
        }
        let now = (self.settings.clock)().to_le_bytes().to_vec();
        self.db.commit(FlushBatch {
            meta: vec![("health_probe", now)],
            ..Default::default()
        })?;
        Ok(())
    }

    /// Compacts the database file (maintenance "cleanup"), once no background write holds it.
    pub fn compact(&mut self) -> Result<bool, ChainError> {
        self.join_background();
        self.prefetch.wait_idle();
        let db = std::sync::Arc::get_mut(&mut self.db)
            .ok_or_else(|| ChainError::Corrupt("the database is still shared with a writer".into()))?;
        Ok(db.compact()?)
    }

    /// Deletes block/undo file pairs whose blocks are all at or below `height` (or, with
    /// `target_bytes`, the oldest such files until block storage fits), never touching the
    /// current file or any of the last [`MIN_BLOCKS_TO_KEEP`] blocks.
    ///
    /// As Core, the index entries are marked pruned and committed before any file is deleted: a
    /// crash or failure in between leaves files nothing refers to (deleted by the next prune),
    /// never an entry claiming data that is gone.
    pub fn prune(&mut self, height: Option<u32>, target_bytes: Option<u64>) -> Result<PruneReport, ChainError> {
        self.flush(FlushReason::Manual)?;
        let tip = self.height();
        let kept_from_height = tip.saturating_sub(MIN_BLOCKS_TO_KEEP - 1);
        let limit = match height {
            Some(h) => h.min(kept_from_height.saturating_sub(1)),
            None => kept_from_height.saturating_sub(1),
        };
        let current = self.files.current_file();
        let mut max_height: HashMap<u32, u32> = HashMap::new();
        let mut referenced: HashSet<u32> = HashSet::new();
        let mut by_file: HashMap<u32, Vec<BlockHash>> = HashMap::new();
        for e in self.index.values() {
            referenced.extend(e.undo_pos.map(|p| p.file));
            referenced.extend(e.data_pos.map(|p| p.file));
            if let Some(p) = e.data_pos {
                by_file.entry(p.file).or_default().push(e.hash);
            }
            if let Some(p) = e.data_pos.filter(|_| e.have_data()) {
                let m = max_height.entry(p.file).or_insert(0);
                *m = (*m).max(e.height);
            }
        }
        let mut candidates: Vec<u32> = max_height
            .iter()
            .filter(|(f, h)| **f != current && **h <= limit)
            .map(|(f, _)| *f)
            .collect();
        candidates.sort_unstable();
        // Files below the current one that no entry refers to: left by a prune interrupted
        // between its commit and its deletions.
        let leftovers: Vec<u32> = self
            .files
            .file_numbers()
            .into_iter()
            .filter(|f| *f < current && !referenced.contains(f))
            .collect();
        let mut report = PruneReport {
            kept_from_height,
            ..Default::default()
        };
        let mut usage = self.files.disk_usage();
        let mut to_delete: Vec<u32> = Vec::new();
        for f in candidates {
            if let Some(target) = target_bytes {
                if usage <= target {
                    break;
                }
            }
            usage = usage.saturating_sub(self.files.file_pair_size(f));
            to_delete.push(f);
            for h in by_file.remove(&f).unwrap_or_default() {
                if let Some(e) = self.index.get_mut(&h) {
                    e.status = (e.status & !(status::HAVE_DATA | status::HAVE_UNDO)) | status::PRUNED;
                    report.prune_height = report.prune_height.max(e.height);
                    e.data_pos = None;
                    e.undo_pos = None;
                    report.blocks_pruned += 1;
                }
                self.dirty_index.insert(h);
            }
        }
        if !to_delete.is_empty() {
            self.prune_height = self.prune_height.max(Some(report.prune_height));
            self.flush(FlushReason::Manual)?;
        }
        for f in to_delete.iter().chain(leftovers.iter()) {
            report.deleted_files.extend(self.files.existing_pair_names(*f));
            report.bytes_freed += self.files.remove_file_pair(*f)?;
            report.files_deleted += 1;
        }
        if report.files_deleted > 0 {
            tracing::info!(
                files = report.files_deleted,
                bytes = report.bytes_freed,
                leftovers = leftovers.len(),
                up_to_height = report.prune_height,
                "pruned block files"
            );
        }
        Ok(report)
    }

    /// Height of the highest pruned block (None when nothing is pruned); blocks above it
    /// have their data.
    pub fn prune_height(&self) -> Option<u32> {
        self.prune_height
    }

    /// Visits every unspent output in key order (txid, vout), flushing first so the database
    /// holds them all.
    pub fn scan_utxos(&mut self, f: impl FnMut(OutPoint, Coin) -> Result<(), crate::store::db::DbError>) -> Result<(), ChainError> {
        self.flush(FlushReason::Manual)?;
        Ok(crate::chainstate::coin::for_each_utxo(self.cs.coins_db(&self.db), f)?)
    }

    /// UTXO set statistics as Core's gettxoutsetinfo computes them (flushes first).
    pub fn utxo_stats(&mut self) -> Result<UtxoStats, ChainError> {
        self.flush(FlushReason::Manual)?;
        Ok(compute_utxo_stats(self.cs.coins_db(&self.db))?)
    }

    /// The undo data (coins spent by each non-coinbase transaction) of a connected block;
    /// None when the block is unknown or has none (never connected, or pruned).
    pub fn read_undo(&self, hash: &BlockHash) -> Result<Option<BlockUndo>, ChainError> {
        let Some(pos) = self.index.get(hash).and_then(|e| e.undo_pos) else {
            return Ok(None);
        };
        let bytes = self.files.read_undo(pos, hash)?;
        let undo = BlockUndo::decode(&bytes).map_err(|e| ChainError::Corrupt(format!("undo data of {hash}: {e}")))?;
        Ok(Some(undo))
    }

    /// The active block at `height` with its undo data (empty for genesis), for an index that
    /// catches up (`index` names it in the error when pruning removed them).
    pub(super) fn active_block_with_undo(&self, height: u32, index: &str) -> Result<(BlockHash, Block, BlockUndo), ChainError> {
        let hash = self.cs.active[height as usize];
        let missing = || {
            ChainError::Corrupt(format!(
                "the {index} needs block {hash} (height {height}) and its undo data, which are gone (pruned)"
            ))
        };
        let block = self.read_block(&hash)?.ok_or_else(missing)?;
        let undo = match height {
            0 => BlockUndo::default(),
            _ => self.read_undo(&hash)?.ok_or_else(missing)?,
        };
        Ok((hash, block, undo))
    }

    /// Core's MuHash3072 of the UTXO set at the tip (flushes first), as Core prints it.
    pub fn utxo_muhash(&mut self) -> Result<String, ChainError> {
        self.flush(FlushReason::Manual)?;
        Ok(crate::chainstate::muhash::compute_muhash(self.cs.coins_db(&self.db))?)
    }
}

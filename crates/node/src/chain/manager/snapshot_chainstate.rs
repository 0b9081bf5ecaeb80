//! The snapshot chainstate (AssumeUTXO): activating a UTXO snapshot as the chainstate the node
//! serves (Core's ActivateSnapshot and PopulateAndValidateSnapshot), its coins in
//! `<net_dir>/chainstate_snapshot/`, and reopening it at startup (Core's
//! DetectSnapshotChainstate). The chainstate it replaces stays as the historical one.

use super::chainstate::Chainstate;
use super::*;
use crate::chainstate::snapshot::{load_snapshot, SnapshotReader};
use std::io::BufRead;
use std::sync::Arc;

/// Directory of the snapshot chainstate's coins database, in the network's datadir (Core's).
pub const SNAPSHOT_CHAINSTATE_DIR: &str = "chainstate_snapshot";
/// Meta key of the snapshot's base block in the snapshot database (Core's `base_blockhash`).
const META_SNAPSHOT_BASE: &str = "snapshot_base_blockhash";
/// File in the snapshot chainstate's directory holding its base block hash (Core's
/// `base_blockhash`: the hash's 32 bytes in serialization order), written once the load is
/// complete; a directory without it is an interrupted load.
pub const SNAPSHOT_BLOCKHASH_FILENAME: &str = "base_blockhash";
/// Where Core's invalid snapshot message asks the operator to report it (Core's CLIENT_BUGREPORT).
const SNAPSHOT_BUGREPORT: &str = "the blvm project's issue tracker";
/// Meta key set in the snapshot database once background validation matched its hash.
const META_SNAPSHOT_VALIDATED: &str = "snapshot_validated";

/// Coin writes of a flush: upserts and deletions by outpoint key.
type CoinWrites = Vec<([u8; 36], Option<Vec<u8>>)>;

/// What `loadtxoutset` reports after activating a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivatedSnapshot {
    /// Coins loaded from the file.
    pub coins_loaded: u64,
    /// The base block (the new tip).
    pub base_hash: BlockHash,
    /// The base block's height.
    pub base_height: u32,
}

impl ChainManager {
    /// The snapshot chainstate's database directory.
    fn snapshot_dir(&self) -> PathBuf {
        self.net_dir.join(SNAPSHOT_CHAINSTATE_DIR)
    }

    /// Core's ActivateSnapshot: checks the snapshot's base against the chain, loads its coins
    /// into a new database and makes it the current chainstate. `Ok(Err(reason))` is Core's
    /// refusal text; a refused snapshot leaves no database behind.
    pub fn activate_snapshot<R: BufRead>(
        &mut self,
        reader: &mut SnapshotReader<R>,
        mempool_empty: bool,
        interrupted: &dyn Fn() -> bool,
    ) -> Result<Result<ActivatedSnapshot, String>, ChainError> {
        let base = reader.metadata().base_blockhash;
        if self.cs.from_snapshot.is_some() || self.historical.is_some() {
            return Ok(Err("Can't activate a snapshot-based chainstate more than once".into()));
        }
        if self.params.assumeutxo_for_blockhash(&base).is_none() {
            let heights: Vec<String> = self.params.available_snapshot_heights().iter().map(u32::to_string).collect();
            return Ok(Err(format!(
                "assumeutxo block hash in snapshot metadata not recognized (hash: {base}). The following snapshot heights are available: {}",
                heights.join(", ")
            )));
        }
        let Some(entry) = self.index.get(&base).cloned() else {
            return Ok(Err(format!(
                "The base block header ({base}) must appear in the headers chain. Make sure all headers are syncing, and call loadtxoutset again"
            )));
        };
        if entry.is_failed() {
            return Ok(Err(format!("The base block header ({base}) is part of an invalid chain")));
        }
        if self.ancestor(&self.best_header().hash.clone(), entry.height).map(|e| e.hash) != Some(base) {
            return Ok(Err("A forked headers-chain with more work than the chain with the snapshot base block header exists. Please proceed to sync without AssumeUtxo.".into()));
        }
        if !mempool_empty {
            return Ok(Err("Can't activate a snapshot when mempool not empty".into()));
        }
        match self.populate_snapshot(reader, &entry, interrupted)? {
            Ok(snapshot) => {
                let coins_loaded = reader.metadata().coins_count;
                self.historical = Some(std::mem::replace(&mut self.cs, snapshot));
                self.rebuild_links();
                tracing::info!(base = %base, height = entry.height, coins = coins_loaded, "[snapshot] successfully activated snapshot");
                Ok(Ok(ActivatedSnapshot {
                    coins_loaded,
                    base_hash: base,
                    base_height: entry.height,
                }))
            }
            Err(reason) => {
                let dir = self.snapshot_dir();
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).map_err(|e| ChainError::Corrupt(format!("{}: {e}", dir.display())))?;
                }
                Ok(Err(format!("Population failed: {reason}")))
            }
        }
    }

    /// Core's PopulateAndValidateSnapshot: the new chainstate with the snapshot's coins in its
    /// own database, at the base block, or the reason it was refused.
    fn populate_snapshot<R: BufRead>(
        &mut self,
        reader: &mut SnapshotReader<R>,
        entry: &BlockIndexEntry,
        interrupted: &dyn Fn() -> bool,
    ) -> Result<Result<Chainstate, String>, ChainError> {
        let Some(au) = self.params.assumeutxo_for_height(entry.height).cloned() else {
            return Ok(Err(format!(
                "Assumeutxo height in snapshot metadata not recognized ({}) - refusing to load snapshot",
                entry.height
            )));
        };
        if self.tip().chainwork >= entry.chainwork {
            return Ok(Err("Work does not exceed active chainstate".into()));
        }
        // The current chainstate is written out first, so no background write or frozen
        // generation belongs to it when it becomes the historical one.
        self.flush(FlushReason::Manual)?;
        self.join_background();
        let db = Arc::new(ChainDb::open(&self.snapshot_dir())?);
        reader.set_base_height(entry.height);
        let batch_bytes = (self.settings.dbcache_bytes / 2).max(1 << 20);
        if let Err(e) = load_snapshot(reader, &db, batch_bytes, &au.hash_serialized, interrupted) {
            return Ok(Err(e.to_string()));
        }
        let meta = vec![
            (META_SNAPSHOT_BASE, entry.hash.to_byte_array().to_vec()),
            (META_BEST_BLOCK, entry.hash.to_byte_array().to_vec()),
        ];
        db.commit(FlushBatch {
            meta,
            ..Default::default()
        })?;
        let base_file = self.snapshot_dir().join(SNAPSHOT_BLOCKHASH_FILENAME);
        std::fs::write(&base_file, entry.hash.to_byte_array()).map_err(|e| ChainError::Corrupt(format!("{}: {e}", base_file.display())))?;
        let active = self.snapshot_chain(entry.hash, entry.hash, au.chain_tx_count)?;
        Ok(Ok(Chainstate {
            own_db: Some(db),
            coins: Default::default(),
            active,
            from_snapshot: Some(entry.hash),
            validated: false,
        }))
    }

    /// The active chain of a snapshot chainstate at `tip`: `base`'s ancestors (whose blocks it
    /// may not have), `base` with `base_tx` transactions in the chain up to it (the assumeutxo
    /// entry's), then the blocks above.
    fn snapshot_chain(&self, base: BlockHash, tip: BlockHash, base_tx: u64) -> Result<ActiveChain, ChainError> {
        let mut chain = ActiveChain::default();
        for h in self.chain_to(tip)? {
            chain.push(h, self.index.get(&h).map_or(0, |e| e.n_tx));
            if h == base {
                chain.set_tip_tx_count(base_tx);
            }
        }
        Ok(chain)
    }

    /// Core's DetectSnapshotChainstate at startup: a snapshot database with its base recorded
    /// becomes the current chainstate again, the main one the historical; one without (a load
    /// interrupted before it finished) is deleted.
    pub(super) fn reopen_snapshot_chainstate(&mut self) -> Result<(), ChainError> {
        let dir = self.snapshot_dir();
        if !dir.exists() {
            return Ok(());
        }
        let remove_incomplete = || {
            tracing::warn!(dir = %dir.display(), "[snapshot] removing an incomplete snapshot chainstate");
            std::fs::remove_dir_all(&dir).map_err(|e| ChainError::Corrupt(format!("{}: {e}", dir.display())))
        };
        // Core's ReadSnapshotBaseBlockhash, then its check of the hash against the network's
        // assumeutxo entries (a fatal error: the operator must remove the directory).
        let base_file = dir.join(SNAPSHOT_BLOCKHASH_FILENAME);
        let Ok(bytes) = std::fs::read(&base_file) else {
            return remove_incomplete();
        };
        let file_base = match <[u8; 32]>::try_from(bytes.get(..32).unwrap_or_default()) {
            Ok(b) => BlockHash::from_byte_array(b),
            Err(_) => return Err(ChainError::Corrupt(format!("{}: shorter than a block hash", base_file.display()))),
        };
        if bytes.len() > 32 {
            tracing::warn!("[snapshot] unexpected trailing data in {}", base_file.display());
        }
        if self.params.assumeutxo_for_blockhash(&file_base).is_none() {
            let message = format!("Assumeutxo data not found for the given blockhash '{file_base}'.");
            tracing::error!("{message}");
            return Err(ChainError::StartupFatal(message));
        }
        let db = Arc::new(ChainDb::open(&dir)?);
        let hash_of = |key| -> Result<Option<BlockHash>, ChainError> {
            Ok(db
                .get_meta(key)?
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .map(BlockHash::from_byte_array))
        };
        let (Some(base), Some(best)) = (hash_of(META_SNAPSHOT_BASE)?, hash_of(META_BEST_BLOCK)?) else {
            drop(db);
            return remove_incomplete();
        };
        if base != file_base {
            return Err(ChainError::Corrupt(format!(
                "{} names {file_base}, the snapshot database {base}",
                base_file.display()
            )));
        }
        let base_tx = match self.params.assumeutxo_for_blockhash(&base) {
            Some(au) => au.chain_tx_count,
            None => {
                return Err(ChainError::Corrupt(format!(
                    "Assumeutxo data not found for the given blockhash '{base}'."
                )))
            }
        };
        let validated = db.get_meta(META_SNAPSHOT_VALIDATED)?.is_some();
        if validated {
            // Core's ValidatedSnapshotCleanup: the snapshot's coins become the main ones.
            drop(db);
            return self.merge_validated_snapshot(&dir, best);
        }
        let active = self.snapshot_chain(base, best, base_tx)?;
        let snapshot = Chainstate {
            own_db: Some(db),
            coins: Default::default(),
            active,
            from_snapshot: Some(base),
            validated: false,
        };
        tracing::info!(base = %base, tip = %best, "[snapshot] detected active snapshot chainstate");
        self.historical = Some(std::mem::replace(&mut self.cs, snapshot));
        Ok(())
    }

    /// With a snapshot chainstate current, what the main database's flush holds instead of the
    /// current coins (the historical chainstate's dirty coins and tip) and the snapshot
    /// database's own batch (its dirty coins and tip), committed after the main one so its tip
    /// never names a block the block index has not stored. None with one chainstate.
    pub(super) fn snapshot_flush_parts(&self) -> Option<(CoinWrites, BlockHash, FlushBatch<'static>)> {
        self.cs.own_db.as_ref()?;
        // A validated snapshot: the main database keeps its best-block marker at the base.
        let Some(historical) = self.historical.as_ref() else {
            let base = self.cs.from_snapshot.unwrap_or_else(|| self.tip().hash);
            let own = FlushBatch {
                coins: self.cs.coins.dirty_writes(),
                meta: vec![(META_BEST_BLOCK, self.tip().hash.to_byte_array().to_vec())],
                ..Default::default()
            };
            return Some((Vec::new(), base, own));
        };
        let own = FlushBatch {
            coins: self.cs.coins.dirty_writes(),
            meta: vec![(META_BEST_BLOCK, self.tip().hash.to_byte_array().to_vec())],
            ..Default::default()
        };
        let best = historical.active.last().copied().unwrap_or_else(BlockHash::all_zeros);
        Some((historical.coins.dirty_writes(), best, own))
    }

    /// Commits the snapshot database's part of a flush (see `snapshot_flush_parts`).
    pub(super) fn commit_snapshot_part(&mut self, own: FlushBatch<'static>) -> Result<(), ChainError> {
        if let Some(db) = self.cs.own_db.clone() {
            db.commit(own)?;
            self.cs.coins.mark_flushed();
        }
        Ok(())
    }

    /// The historical chainstate's tip (validating the blocks below a snapshot's base), if any.
    pub fn historical_tip(&self) -> Option<&BlockIndexEntry> {
        self.historical.as_ref()?.active.last().and_then(|h| self.index.get(h))
    }

    /// While a snapshot is validated in the background, the blocks its historical chainstate
    /// still needs (Core's second range of FindNextBlocksToDownload): the height of the last
    /// block the historical tip shares with the base's chain (Core's LastCommonAncestor), and the
    /// base block with its height. None with one chainstate.
    pub fn background_download_range(&self) -> Option<(u32, BlockHash, u32)> {
        let mut tip = self.historical_tip()?;
        let base = self.index.get(&self.cs.from_snapshot?)?;
        while tip.height > 0 && self.ancestor(&base.hash, tip.height).map(|e| e.hash) != Some(tip.hash) {
            tip = self.index.get(&tip.header.prev_blockhash)?;
        }
        Some((tip.height, base.hash, base.height))
    }

    /// While a snapshot is validated in the background: the snapshot's base height and Core's
    /// GetBackgroundVerificationProgress (the historical chainstate's transactions so far over
    /// the base's, the assumeutxo entry's count), for `getblockchaininfo`.
    pub fn background_validation(&self) -> Option<(u32, f64)> {
        let historical = self.historical.as_ref()?;
        let base = self.index.get(&self.cs.from_snapshot?)?;
        let tip_height = historical.active.len().checked_sub(1)? as u32;
        let done = historical.active.tx_count(tip_height).unwrap_or(0);
        let target = self.cs.active.tx_count(base.height).unwrap_or(0);
        let progress = if target == 0 { 0.0 } else { (done as f64 / target as f64).min(1.0) };
        Some((base.height, progress))
    }
}

impl ChainManager {
    /// Connects the stored blocks below the snapshot's base to the historical chainstate (never
    /// past the base) and, at the base, completes background validation (Core's
    /// MaybeValidateSnapshot). Its blocks change nothing the node serves: their notifications
    /// are dropped.
    pub(super) fn advance_historical(&mut self) -> Result<(), ChainError> {
        let Some(base) = self.cs.from_snapshot else { return Ok(()) };
        let base_height = self.index.get(&base).map_or(0, |e| e.height);
        self.rewind_historical_branch()?;
        while let Some(next_height) = self.historical.as_ref().map(|h| h.active.len() as u32) {
            if next_height > base_height {
                return self.complete_snapshot_validation(base);
            }
            let next = self.cs.active[next_height as usize];
            let Some(block) = self.read_block(&next)? else { return Ok(()) };
            let notes = self.notifications.len();
            let connected = self.with_validated_chainstate(|cm| cm.connect_tip(&block));
            self.notifications.truncate(notes);
            if let Err(reject) = connected? {
                tracing::error!(block = %next, height = next_height, "[snapshot] background validation: block invalid: {reject}");
                return self.snapshot_invalid();
            }
        }
        Ok(())
    }

    /// A historical chainstate on a branch of its own (blocks it connected before the snapshot
    /// was loaded that are not the base's ancestors) goes back to the fork point once the base
    /// chain's next block is here, so background validation follows the base's chain (Core's
    /// ActivateBestChain of the background chainstate toward the snapshot's base).
    fn rewind_historical_branch(&mut self) -> Result<(), ChainError> {
        let (Some((fork, _, _)), Some(tip)) = (self.background_download_range(), self.historical_tip()) else {
            return Ok(());
        };
        let tip_height = tip.height;
        let next_here = self
            .hash_at(fork + 1)
            .and_then(|h| self.index.get(&h))
            .is_some_and(|e| e.have_data());
        if tip_height <= fork || !next_here {
            return Ok(());
        }
        tracing::info!(
            from = tip_height,
            to = fork,
            "[snapshot] background chainstate leaves its own branch for the snapshot base's chain"
        );
        let notes = self.notifications.len();
        let rewound = self.with_validated_chainstate(|cm| (fork..tip_height).try_for_each(|_| cm.disconnect_tip().map(|_| ())));
        self.notifications.truncate(notes);
        rewound
    }

    /// Runs `f` with the validated chainstate as `cs`: the historical one while a snapshot is
    /// not validated (what background validation connects and the indexes follow), else the
    /// current one. A flush inside writes the historical chainstate to the main database; the
    /// snapshot's dirty coins wait for the next flush.
    pub(super) fn with_validated_chainstate<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let swap = |cm: &mut Self| {
            if let Some(h) = cm.historical.as_mut() {
                std::mem::swap(&mut cm.cs, h);
            }
        };
        swap(self);
        let out = f(self);
        swap(self);
        out
    }

    /// Background validation completed: the indexes, which stopped at the base, catch up with
    /// the snapshot chainstate's blocks above it (Core's index sync after the chainstates
    /// merge).
    fn catch_up_indexes(&mut self) -> Result<(), ChainError> {
        if self.txindex.is_some() {
            self.sync_txindex()?;
        }
        if self.filters.is_some() {
            self.sync_filters()?;
        }
        if self.coinstats.is_some() {
            self.sync_coinstats()?;
        }
        Ok(())
    }

    /// The historical chainstate reached the base: its UTXO set hash must be the assumeutxo
    /// entry's. Equal: the snapshot chainstate is validated (recorded in its database) and the
    /// historical one dropped; different: Core's fatal error.
    fn complete_snapshot_validation(&mut self, base: BlockHash) -> Result<(), ChainError> {
        let Some(au) = self.params.assumeutxo_for_blockhash(&base).cloned() else {
            return self.snapshot_invalid();
        };
        tracing::info!(base = %base, "[snapshot] computing UTXO stats for background chainstate to validate snapshot");
        // Writes the historical coins (and the snapshot's) so the main database holds the
        // historical set at the base.
        self.flush(FlushReason::Manual)?;
        let stats = compute_utxo_stats(&self.db)?;
        if stats.hash_serialized_3 != au.hash_serialized {
            tracing::warn!(actual = %stats.hash_serialized_3, expected = %au.hash_serialized, "[snapshot] hash mismatch");
            return self.snapshot_invalid();
        }
        if let Some(db) = self.cs.own_db.clone() {
            db.commit(FlushBatch {
                meta: vec![(META_SNAPSHOT_VALIDATED, vec![1])],
                ..Default::default()
            })?;
        }
        self.historical = None;
        self.cs.validated = true;
        tracing::info!(base = %base, "[snapshot] snapshot beginning at {base} has been fully validated");
        self.catch_up_indexes()
    }

    /// Core's handle_invalid_snapshot: the error for the operator, and the node stops.
    fn snapshot_invalid(&mut self) -> Result<(), ChainError> {
        let from = self.height();
        let to = self.historical.as_ref().map_or(0, |h| h.active.len().saturating_sub(1));
        let mut msg = format!(
            "blvm failed to validate the -assumeutxo snapshot state. This indicates a hardware problem, or a bug in the software, or a bad software modification that allowed an invalid snapshot to be loaded. As a result of this, the node will shut down and stop using any state that was built on the snapshot, resetting the chain height from {from} to {to}. On the next restart, the node will resume syncing from {to} without using any snapshot data. Please report this incident to {SNAPSHOT_BUGREPORT}, including how you obtained the snapshot. The invalid snapshot chainstate will be left on disk in case it is helpful in diagnosing the issue that caused this error."
        );
        tracing::error!("[snapshot] !!! {msg}");
        tracing::error!("[snapshot] deleting snapshot, reverting to validated chain, and stopping node");
        // Core's InvalidateCoinsDBOnDisk: the directory is moved aside (kept for diagnosis), so
        // the next start has only the historical chainstate.
        let dir = self.snapshot_dir();
        let invalid = self.net_dir.join(format!("{SNAPSHOT_CHAINSTATE_DIR}_INVALID"));
        tracing::info!("[snapshot] renaming snapshot datadir {} to {}", dir.display(), invalid.display());
        if let Err(e) = std::fs::rename(&dir, &invalid) {
            tracing::error!(
                "While invalidating the coins db: Error renaming file '{}' -> '{}': {e}",
                dir.display(),
                invalid.display()
            );
            msg.push_str(&format!(
                "\nRename of '{0}' -> '{1}' failed. You should resolve this by manually moving or deleting the invalid snapshot directory {0}, otherwise you will encounter the same error again on the next startup.",
                dir.display(),
                invalid.display()
            ));
        }
        if let Some(fatal) = &self.fatal {
            fatal(&msg);
        }
        Err(ChainError::Corrupt(msg))
    }
}

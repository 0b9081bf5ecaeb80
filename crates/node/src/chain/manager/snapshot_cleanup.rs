//! Core's ValidatedSnapshotCleanup: at the first start after background validation matched a
//! snapshot's hash, the snapshot chainstate's coins replace the historical ones in the main
//! database and `chainstate_snapshot/` is deleted, leaving one ordinary chainstate.
//!
//! Crash safety: the main database's best-block marker stays at the snapshot's base (where
//! background validation left it) until the last commit, which writes the remaining coins and
//! moves it to the snapshot chainstate's tip; the directory is deleted only after that. A start
//! that finds the directory again redoes the whole merge (it clears the coins table first), so
//! a kill at any point leaves a state the next start completes.

use super::*;
use std::path::Path;

impl ChainManager {
    /// Moves the validated snapshot chainstate in `dir` (at `best`) into the main database, in
    /// commits bounded by half of `-dbcache`, deletes `dir` and makes `best` the active tip.
    pub(super) fn merge_validated_snapshot(&mut self, dir: &Path, best: BlockHash) -> Result<(), ChainError> {
        tracing::info!("[snapshot] cleaning up unneeded background chainstate, then reinitializing");
        let snapshot = ChainDb::open(dir)?;
        self.db.commit(FlushBatch {
            clear_coins: true,
            ..Default::default()
        })?;
        let limit = (self.settings.dbcache_bytes / 2).max(1 << 20);
        let mut coins: Vec<([u8; 36], Option<Vec<u8>>)> = Vec::new();
        let mut bytes = 0usize;
        let mut moved = 0u64;
        snapshot.for_each_coin(|k, v| {
            let Ok(key) = <[u8; 36]>::try_from(k) else {
                return Err(crate::store::db::DbError::Corrupt {
                    path: dir.to_path_buf(),
                    what: format!("coin key of {} bytes", k.len()),
                });
            };
            bytes += k.len() + v.len() + 64;
            coins.push((key, Some(v.to_vec())));
            moved += 1;
            if bytes >= limit {
                bytes = 0;
                self.db.commit(FlushBatch {
                    coins: std::mem::take(&mut coins),
                    ..Default::default()
                })?;
            }
            Ok(())
        })?;
        self.db.commit(FlushBatch {
            coins,
            meta: vec![(META_BEST_BLOCK, best.to_byte_array().to_vec())],
            ..Default::default()
        })?;
        drop(snapshot);
        std::fs::remove_dir_all(dir).map_err(|e| ChainError::Corrupt(format!("{}: {e}", dir.display())))?;
        self.rebuild_active(best)?;
        tracing::info!(coins = moved, tip = %best, "[snapshot] snapshot chainstate merged into the main chainstate");
        Ok(())
    }
}

//! Automatic pruning (`-prune=N`): when Core's FindFilesToPrune would prune, and how far.
//! The deletion itself is [`ChainManager::prune`]; the node runs it as a maintenance
//! operation (MaintenanceStarted / MaintenanceCompleted) after blocks connect.

use super::ChainManager;

/// Core's MIN_DISK_SPACE_FOR_BLOCK_FILES: the lowest automatic prune target.
pub const MIN_DISK_SPACE_FOR_BLOCK_FILES: u64 = 550 << 20;
/// Core's `-fastprune` block file size (64 KiB).
pub const FASTPRUNE_FILE_SIZE: u64 = 0x10000;
/// Core's BLOCKFILE_CHUNK_SIZE: block files grow in steps of this size.
const BLOCKFILE_CHUNK_SIZE: u64 = 16 << 20;
/// Core's UNDOFILE_CHUNK_SIZE.
const UNDOFILE_CHUNK_SIZE: u64 = 1 << 20;
/// Core's MAX_BLOCKFILE_SIZE, the file size the chunk sizes are made for.
const MAX_BLOCKFILE_SIZE: u64 = 128 << 20;
/// Core's assumed average block size while catching up (the IBD buffer).
const AVERAGE_IBD_BLOCK_SIZE: u64 = 1_000_000;

/// `-prune`: how block files may be deleted (Core's BlockManager prune target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PruneMode {
    /// `-prune=0`: blocks are never deleted.
    #[default]
    Off,
    /// `-prune=1`: only the `pruneblockchain` RPC deletes blocks.
    Manual,
    /// `-prune=N` (N >= 550): block storage is kept under N MiB as blocks connect.
    Automatic {
        /// The target in bytes.
        target_bytes: u64,
        /// Set by the regtest-only `-prunetargetkib`: the target may be below Core's 550 MiB
        /// floor, and the allocation buffers shrink with the block file size, so tests can
        /// prune a small chain.
        below_floor: bool,
    },
}

impl PruneMode {
    /// Whether blocks may be deleted at all (Core's IsPruneMode).
    pub fn is_prune_mode(&self) -> bool {
        !matches!(self, PruneMode::Off)
    }

    /// The automatic target in bytes (None when off or manual), as getblockchaininfo shows it.
    pub fn target_bytes(&self) -> Option<u64> {
        match self {
            PruneMode::Automatic { target_bytes, below_floor } => Some(if *below_floor {
                *target_bytes
            } else {
                (*target_bytes).max(MIN_DISK_SPACE_FOR_BLOCK_FILES)
            }),
            _ => None,
        }
    }
}

/// Core's nPruneAfterHeight: automatic pruning waits until the chain is this high.
pub fn prune_after_height(chain_name: &str, fastprune: bool) -> u32 {
    match chain_name {
        "main" => 100_000,
        "regtest" if fastprune => 100,
        _ => 1000,
    }
}

impl ChainManager {
    /// Core's FindFilesToPrune trigger: the storage size to prune down to when block storage
    /// plus the allocation buffer reached the automatic target, or None (not automatic, chain
    /// below the prune-after height, or under the target). `catching_up` is Core's IBD test;
    /// while catching up the buffer grows by 1 MB per block still to download, so pruning
    /// does not run again at every block.
    pub fn auto_prune_goal(&self, catching_up: bool) -> Option<u64> {
        let PruneMode::Automatic { below_floor, .. } = self.settings.prune else {
            return None;
        };
        let target = self.settings.prune.target_bytes()?;
        let fastprune = self.settings.max_block_file_size <= FASTPRUNE_FILE_SIZE;
        if self.height() <= prune_after_height(self.params.chain_name, fastprune) {
            return None;
        }
        // Below the floor (tests only) the buffers scale with the block file size.
        let scale = |n: u64| {
            if below_floor {
                n.saturating_mul(self.settings.max_block_file_size) / MAX_BLOCKFILE_SIZE
            } else {
                n
            }
        };
        let mut buffer = scale(BLOCKFILE_CHUNK_SIZE + UNDOFILE_CHUNK_SIZE);
        let usage = self.files.disk_usage();
        if usage + buffer < target || !self.has_prunable_file() {
            return None;
        }
        let best = self.best_header().height;
        if catching_up && best > self.height() {
            buffer += scale(AVERAGE_IBD_BLOCK_SIZE) * u64::from(best - self.height());
        }
        // `prune` stops once usage <= goal, Core once usage + buffer < target.
        Some(target.saturating_sub(buffer).saturating_sub(1))
    }

    /// Whether some file other than the current one holds only blocks below the last
    /// [`super::MIN_BLOCKS_TO_KEEP`]: without one a prune would delete nothing, so none is run
    /// (when the last 288 blocks alone exceed the target).
    fn has_prunable_file(&self) -> bool {
        let limit = self.height().saturating_sub(super::MIN_BLOCKS_TO_KEEP);
        let current = self.files.current_file();
        let mut max_height: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
        for e in self.index.values().filter(|e| e.have_data()) {
            if let Some(p) = e.data_pos.filter(|p| p.file != current) {
                let m = max_height.entry(p.file).or_insert(0);
                *m = (*m).max(e.height);
            }
        }
        max_height.values().any(|h| *h <= limit)
    }

    /// The file blocks are appended to and its length: automatic pruning is checked only when
    /// this moved by a file or an allocation chunk (Core's m_check_for_pruning).
    pub fn block_write_position(&self) -> (u32, u64) {
        self.files.end_position()
    }

    /// Whether block storage moved enough since `last` to look at pruning again.
    pub fn prune_check_due(&self, last: Option<(u32, u64)>) -> bool {
        let (file, len) = self.files.end_position();
        // Below the floor (tests) every block is a check, so storage never exceeds the target by
        // more than the block just written.
        let chunk = match self.settings.prune {
            PruneMode::Automatic { below_floor: true, .. } => 0,
            _ => BLOCKFILE_CHUNK_SIZE,
        };
        match last {
            None => true,
            Some((f, l)) => f != file || len.saturating_sub(l) >= chunk,
        }
    }

    /// The `-prune` mode this chain runs with.
    pub fn prune_mode(&self) -> PruneMode {
        self.settings.prune
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_follow_cores_floor_unless_below_floor_is_asked() {
        let core = PruneMode::Automatic {
            target_bytes: 550 << 20,
            below_floor: false,
        };
        assert_eq!(core.target_bytes(), Some(550 << 20));
        let small = PruneMode::Automatic {
            target_bytes: 3 << 20,
            below_floor: true,
        };
        assert_eq!(small.target_bytes(), Some(3 << 20));
        assert_eq!(PruneMode::Manual.target_bytes(), None);
        assert!(PruneMode::Manual.is_prune_mode() && !PruneMode::Off.is_prune_mode());
        assert_eq!(prune_after_height("regtest", true), 100);
        assert_eq!(prune_after_height("regtest", false), 1000);
        assert_eq!(prune_after_height("main", false), 100_000);
    }
}

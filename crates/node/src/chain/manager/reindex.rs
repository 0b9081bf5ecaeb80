//! `-reindex` and `-reindex-chainstate`: the chainstate database is wiped before the chain
//! opens, and the block files are scanned from the start, every block in them accepted again
//! (a block stored before its parent waits, by position, until the parent is accepted, as
//! Core's blocks with an unknown parent) and the best chain connected.

use super::*;

/// What `-reindex` and `-reindex-chainstate` ask of the chain at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reindex {
    /// Open what is on disk.
    No,
    /// `-reindex-chainstate`: rebuild the chainstate (UTXO set, block index, and the
    /// transaction and filter indexes kept with it) from the block files.
    Chainstate,
    /// `-reindex`: as `Chainstate`, and wipe the coin statistics index too (Core wipes every
    /// index on `-reindex`).
    Full,
}

/// Removes the chainstate database directory so that opening the chain rebuilds it: the block
/// files are then scanned from the start and every block in them is accepted and connected again.
pub fn wipe_chainstate(dir: &Path) -> Result<(), ChainError> {
    if dir.exists() {
        tracing::info!(dir = %dir.display(), "reindex: wiping the chainstate database");
        std::fs::remove_dir_all(dir).map_err(|e| ChainError::Corrupt(format!("cannot wipe {}: {e}", dir.display())))?;
    }
    Ok(())
}

/// Most block positions kept waiting for their parent during one scan (16 bytes each).
const MAX_WAITING: usize = 1_000_000;

/// Blocks read before their parent: their file positions, by parent hash.
#[derive(Default)]
pub(super) struct Waiting {
    by_parent: HashMap<BlockHash, Vec<FilePos>>,
    count: usize,
}

impl ChainManager {
    /// Accepts one block read from the block files at `pos`, then the blocks waiting for it;
    /// returns how many were accepted.
    pub(super) fn replay_record(&mut self, block: &Block, pos: FilePos, waiting: &mut Waiting) -> Result<usize, ChainError> {
        let mut accepted = 0;
        let mut queue = vec![(block.clone(), pos)];
        while let Some((block, pos)) = queue.pop() {
            let hash = block.block_hash();
            match self.accept_block(&block, Some(pos))? {
                BlockOutcome::Accepted { .. } => accepted += 1,
                BlockOutcome::Orphan if waiting.count < MAX_WAITING => {
                    waiting.by_parent.entry(block.header.prev_blockhash).or_default().push(pos);
                    waiting.count += 1;
                    continue;
                }
                other => {
                    tracing::debug!(block = %hash, ?other, "block file record not re-indexed");
                    continue;
                }
            }
            for child in waiting.by_parent.remove(&hash).unwrap_or_default() {
                waiting.count -= 1;
                let bytes = self.files.read_block(child)?;
                match deserialize::<Block>(&bytes) {
                    Ok(b) => queue.push((b, child)),
                    Err(e) => tracing::warn!(offset = child.offset, "skipping undecodable block record: {e}"),
                }
            }
        }
        Ok(accepted)
    }
}

//! Core's VerifyDB, levels 0 to 2: the last blocks of the active chain can be read back, pass the
//! context-free block checks, and have undo data that matches them. Run at startup
//! (`-checkblocks`, `-checklevel`) and by the `verifychain` RPC, so a damaged block or undo file
//! is found before the node needs it (a reorg that cannot disconnect a block is fatal).

use super::index::status;
use super::{ChainError, ChainManager};
use crate::validation::block_check::check_block;

/// Core's default `-checkblocks`: how many of the last blocks startup verifies.
pub const DEFAULT_CHECKBLOCKS: u32 = 6;
/// Core's default `-checklevel`.
pub const DEFAULT_CHECKLEVEL: u32 = 3;

/// What a verification found wrong.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The stored data could not be read at all.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A block or its undo data is missing, or fails a check.
    #[error("block at height {height}: {what}")]
    Bad {
        /// Height of the block.
        height: u32,
        /// What is wrong with it.
        what: String,
    },
}

/// What a successful verification covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifySummary {
    /// Blocks checked (stops early at the first pruned block, as Core).
    pub blocks: u32,
    /// Transactions in them.
    pub transactions: usize,
}

impl ChainManager {
    /// Verifies the last `nblocks` blocks of the active chain (0: all) at `level` (0: readable,
    /// 1: context-free checks, 2: undo data present and matching each block; Core's levels 3 and
    /// 4, which also disconnect and reconnect the blocks in memory, are checked as level 2).
    pub fn verify_recent(&self, level: u32, nblocks: u32) -> Result<VerifySummary, VerifyError> {
        let tip = self.height();
        let first = if nblocks == 0 || nblocks > tip { 1 } else { tip - nblocks + 1 };
        let mut summary = VerifySummary {
            blocks: 0,
            transactions: 0,
        };
        for height in (first..=tip).rev() {
            let bad = |what: String| VerifyError::Bad { height, what };
            let hash = self.hash_at(height).ok_or_else(|| bad("not in the active chain".into()))?;
            // As Core: the check stops at the first block whose data was pruned, or, in a
            // snapshot chainstate, the first block it does not have (the base and below).
            let snapshot_gap = self.snapshot_blockhash().is_some() && !self.entry(&hash).is_some_and(|e| e.have_data());
            if snapshot_gap || self.entry(&hash).is_some_and(|e| e.status & status::PRUNED != 0) {
                break;
            }
            let block = self.read_block(&hash)?.ok_or_else(|| bad(format!("no data for block {hash}")))?;
            if block.block_hash() != hash {
                return Err(bad(format!("data read for {hash} is block {}", block.block_hash())));
            }
            if level >= 1 {
                check_block(&block, self.params()).map_err(|r| bad(format!("block {hash} fails its checks: {}", r.reason)))?;
            }
            if level >= 2 {
                let undo = self
                    .read_undo(&hash)?
                    .ok_or_else(|| bad(format!("no undo data for block {hash}")))?;
                if undo.txs.len() + 1 != block.txdata.len() {
                    return Err(bad(format!("undo data of block {hash} does not match its transactions")));
                }
            }
            summary.blocks += 1;
            summary.transactions += block.txdata.len();
        }
        Ok(summary)
    }
}

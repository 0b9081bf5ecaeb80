//! A block's context-free work done before it reaches the chain manager (on the import reader
//! thread, while the previous block's scripts are checked): Core's CheckBlock, the txids, the
//! witness commitment and the bytes to store. The chain manager reuses the results at the point
//! it would have computed them, so every outcome is the one it would be without them.

use super::block_check::{check_block_body_with, check_proof_of_work, is_block_mutated_with, txids, ContextFreeParts};
use super::tx_hashes::tx_hashes;
use super::Reject;
use crate::params::ChainParams;
use bitcoin::{Block, BlockHash, Txid};
use std::sync::Arc;

/// What the chain manager can reuse for the block whose hash is `hash`.
#[derive(Clone)]
pub struct BlockFacts {
    /// The block's hash: the results apply to this block only.
    pub hash: BlockHash,
    /// Core's CheckBlock (proof of work, merkle root, size, coinbase, transactions, sigops).
    pub check_block: Result<(), Reject>,
    /// The contextual checks' block-only parts, when CheckBlock passed.
    pub parts: Option<ContextFreeParts>,
    /// Each transaction's txid, in block order.
    pub txids: Vec<Txid>,
    /// The block's serialization, as it is written to `blk*.dat` (None: serialize it again).
    pub raw: Option<Vec<u8>>,
    /// The block parsed once by the script interpreter, so its transactions' scripts are
    /// checked without serializing and parsing each transaction again (None: per transaction).
    pub kernel: Option<Arc<bitcoinkernel::Block>>,
}

impl std::fmt::Debug for BlockFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockFacts")
            .field("hash", &self.hash)
            .field("check_block", &self.check_block)
            .field("parts", &self.parts)
            .field("txids", &self.txids.len())
            .field("raw", &self.raw.as_ref().map(Vec::len))
            .field("kernel", &self.kernel.is_some())
            .finish()
    }
}

/// The interpreter's parse of `raw`, used only if it holds exactly the transactions `txids`
/// (the same bytes parse the same way, but the scripts checked must be the block's own).
fn kernel_parse(raw: &[u8], txids: &[Txid]) -> Option<Arc<bitcoinkernel::Block>> {
    use bitcoin::hashes::Hash;
    use bitcoinkernel::prelude::{TransactionExt, TxidExt};
    let parsed = bitcoinkernel::Block::new(raw).ok()?;
    let same = parsed.transaction_count() == txids.len()
        && txids
            .iter()
            .enumerate()
            .all(|(i, txid)| parsed.transaction(i).is_ok_and(|t| t.txid().to_bytes() == txid.to_byte_array()));
    same.then(|| Arc::new(parsed))
}

/// A decoded block with its [`BlockFacts`].
#[derive(Debug)]
pub struct PreparedBlock {
    /// The block.
    pub block: Block,
    /// The results computed ahead for it.
    pub facts: BlockFacts,
}

impl PreparedBlock {
    /// Runs the context-free checks of `block` on `params`' network; `raw` is the encoding it
    /// was decoded from, kept for the block file only if it is the block's own serialization.
    pub fn new(block: Block, raw: Vec<u8>, params: &ChainParams) -> Self {
        let hash = block.block_hash();
        // The hashes are read from `raw` only when it is laid out exactly as the block's
        // serialization (the same length: the decoder refuses non-minimal encodings, so the same
        // bytes); otherwise they are computed, and the block is serialized again when stored.
        let (txids, wtxids, raw) = match tx_hashes(&block, &raw) {
            Some((txids, wtxids)) => (txids, Some(wtxids), Some(raw)),
            None => (txids(&block), None, None),
        };
        let check_block = check_proof_of_work(&block.header, params).and_then(|_| check_block_body_with(&block, &txids));
        let parts = check_block.is_ok().then(|| ContextFreeParts::of(&block, wtxids.as_deref()));
        let kernel = match (&raw, &check_block) {
            (Some(raw), Ok(())) => kernel_parse(raw, &txids),
            _ => None,
        };
        PreparedBlock {
            block,
            facts: BlockFacts {
                hash,
                check_block,
                parts,
                txids,
                raw,
                kernel,
            },
        }
    }

    /// Core's IsBlockMutated for this block from the hashes computed ahead (see
    /// [`is_block_mutated`](super::block_check::is_block_mutated)): the same answer.
    pub fn mutation(&self, check_witness: bool) -> Option<Reject> {
        is_block_mutated_with(&self.block, check_witness, &self.facts.txids, self.facts.parts.as_ref())
    }
}

//! Block checks that need no UTXO set: Core's CheckBlock and ContextualCheckBlock.

use super::locks::is_final_tx;
use super::merkle::merkle_root;
use super::reject::Reject;
use super::sigops::{legacy_sigops, MAX_BLOCK_SIGOPS_COST};
use super::tx_check::{check_transaction, MAX_BLOCK_WEIGHT};
use crate::params::ChainParams;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::Weight;
use bitcoin::{Block, Transaction, Txid, Wtxid};
use std::collections::HashSet;

const WITNESS_COMMITMENT_HEADER: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];

/// Proof of work: the header hash meets the target its bits encode, within the network's limit.
pub fn check_proof_of_work(block_header: &bitcoin::block::Header, params: &ChainParams) -> Result<(), Reject> {
    let bits = block_header.bits.to_consensus();
    let size = bits >> 24;
    let word = bits & 0x007f_ffff;
    let negative = word != 0 && bits & 0x0080_0000 != 0;
    let overflow = word != 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32));
    let zero = if size <= 3 { word >> (8 * (3 - size)) == 0 } else { word == 0 };
    if negative || overflow || zero {
        return Err(Reject::new("high-hash", "proof of work target out of range"));
    }
    let target = block_header.target();
    if target > params.consensus.max_attainable_target {
        return Err(Reject::new("high-hash", "proof of work target out of range"));
    }
    if !target.is_met_by(block_header.block_hash()) {
        return Err(Reject::new("high-hash", "proof of work failed"));
    }
    Ok(())
}

/// Core's CheckBlock: PoW, merkle root (and CVE-2012-2459 mutation), size, coinbase placement,
/// every transaction's context-free rules and the legacy sigop limit.
pub fn check_block(block: &Block, params: &ChainParams) -> Result<(), Reject> {
    check_proof_of_work(&block.header, params)?;
    check_block_body(block)
}

/// Core's CheckBlock with fCheckPOW off (block proposals): everything but the proof of work.
pub fn check_block_body(block: &Block) -> Result<(), Reject> {
    check_block_body_with(block, &txids(block))
}

/// Each transaction's txid, in block order (the merkle leaves).
pub fn txids(block: &Block) -> Vec<Txid> {
    block.txdata.iter().map(Transaction::compute_txid).collect()
}

/// [`check_block_body`] with the block's txids already computed (in block order), so a caller
/// that needs them again (connecting the block) hashes each transaction once.
pub fn check_block_body_with(block: &Block, txids: &[Txid]) -> Result<(), Reject> {
    check_merkle_root_with(block, txids)?;
    let n = block.txdata.len() as u64;
    let stripped = stripped_size(block) as u64;
    if n == 0 || n * Weight::WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT || stripped * Weight::WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT {
        return Err(Reject::new("bad-blk-length", "size limits failed"));
    }
    if !block.txdata[0].is_coinbase() {
        return Err(Reject::new("bad-cb-missing", "first tx is not coinbase"));
    }
    if block.txdata[1..].iter().any(Transaction::is_coinbase) {
        return Err(Reject::new("bad-cb-multiple", "more than one coinbase"));
    }
    for tx in &block.txdata {
        check_transaction(tx).map_err(|mut r| {
            r.detail = format!(
                "tx {}{}",
                tx.compute_txid(),
                if r.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.detail)
                }
            );
            r.may_be_mutated = true;
            r
        })?;
    }
    let sigops: u64 = block.txdata.iter().map(legacy_sigops).sum();
    if sigops * Weight::WITNESS_SCALE_FACTOR > MAX_BLOCK_SIGOPS_COST {
        return Err(Reject::new("bad-blk-sigops", "out-of-bounds SigOpCount"));
    }
    Ok(())
}

/// Block size without witness data.
pub fn stripped_size(block: &Block) -> usize {
    let n = block.txdata.len();
    80 + bitcoin::VarInt(n as u64).size() + block.txdata.iter().map(|t| t.base_size()).sum::<usize>()
}

/// Core's ContextualCheckBlock for a block at `height` whose parent has median-time-past `prev_mtp`:
/// finality (BIP113), BIP34 height in coinbase, witness commitment, and weight.
pub fn contextual_check_block(block: &Block, height: u32, prev_mtp: i64, params: &ChainParams) -> Result<(), Reject> {
    contextual_check_block_with(block, height, prev_mtp, params, None)
}

/// The parts of [`contextual_check_block`] that depend on the block alone, computed ahead (on
/// the import reader thread) for a block that passed [`check_block`].
#[derive(Debug, Clone)]
pub struct ContextFreeParts {
    /// [`check_witness_malleation`] with segwit enforced.
    pub witness_segwit: Result<(), Reject>,
    /// The block's weight.
    pub weight: Weight,
}

impl ContextFreeParts {
    /// Computes the parts for `block`, which must have passed [`check_block`] (a coinbase
    /// first); `wtxids` are its transactions' wtxids in block order, if already computed.
    pub fn of(block: &Block, wtxids: Option<&[Wtxid]>) -> Self {
        ContextFreeParts {
            witness_segwit: check_witness_malleation_with(block, true, wtxids),
            weight: block.weight(),
        }
    }
}

/// [`contextual_check_block`] reusing `parts` computed ahead for this block (same result).
pub fn contextual_check_block_with(
    block: &Block,
    height: u32,
    prev_mtp: i64,
    params: &ChainParams,
    parts: Option<&ContextFreeParts>,
) -> Result<(), Reject> {
    // Callers run check_block first; still never index a missing coinbase input on untrusted data.
    if block.txdata.first().map(|cb| cb.input.is_empty()).unwrap_or(true) {
        return Err(Reject::new("bad-cb-missing", "first tx is not coinbase"));
    }
    let cutoff = if height >= params.csv_height {
        prev_mtp
    } else {
        i64::from(block.header.time)
    };
    for tx in &block.txdata {
        if !is_final_tx(tx, height, cutoff) {
            return Err(Reject::new(
                "bad-txns-nonfinal",
                format!("non-final transaction {}", tx.compute_txid()),
            ));
        }
    }
    if height >= params.bip34_height {
        let expect = bitcoin::script::Builder::new().push_int(i64::from(height)).into_script();
        let sig = block.txdata[0].input[0].script_sig.as_bytes();
        if !sig.starts_with(expect.as_bytes()) {
            return Err(Reject::new("bad-cb-height", "block height mismatch in coinbase"));
        }
    }
    let segwit = params.segwit_enforced_at(height);
    match parts {
        Some(p) if segwit => p.witness_segwit.clone()?,
        _ => check_witness_malleation(block, segwit)?,
    }
    let weight = parts.map_or_else(|| block.weight(), |p| p.weight);
    if weight.to_wu() > MAX_BLOCK_WEIGHT {
        return Err(Reject::new("bad-blk-weight", "weight limit failed"));
    }
    Ok(())
}

/// The block's transactions match its merkle root, without the CVE-2012-2459 duplication
/// (Core's CheckMerkleRoot).
pub fn check_merkle_root(block: &Block) -> Result<(), Reject> {
    check_merkle_root_with(block, &txids(block))
}

/// [`check_merkle_root`] with the block's txids already computed, in block order.
pub fn check_merkle_root_with(block: &Block, txids: &[Txid]) -> Result<(), Reject> {
    let leaves: Vec<[u8; 32]> = txids.iter().map(|t| t.to_byte_array()).collect();
    let (root, mutated) = merkle_root(leaves);
    if root != block.header.merkle_root.to_byte_array() {
        return Err(Reject::mutated("bad-txnmrklroot", "hashMerkleRoot mismatch"));
    }
    if mutated {
        return Err(Reject::mutated("bad-txns-duplicate", "duplicate transaction"));
    }
    Ok(())
}

/// The witness data matches the coinbase's commitment, or there is none without a commitment
/// (Core's CheckWitnessMalleation; `segwit_active` for a block where segwit is enforced).
pub fn check_witness_malleation(block: &Block, segwit_active: bool) -> Result<(), Reject> {
    check_witness_malleation_with(block, segwit_active, None)
}

/// [`check_witness_malleation`] with the block's wtxids, in block order, if already computed
/// (any other length: computed here).
fn check_witness_malleation_with(block: &Block, segwit_active: bool, wtxids: Option<&[Wtxid]>) -> Result<(), Reject> {
    let wtxids = wtxids.filter(|w| w.len() == block.txdata.len());
    let mut have_witness_commitment = false;
    if segwit_active {
        if let Some(pos) = witness_commitment_index(&block.txdata[0]) {
            have_witness_commitment = true;
            let stack: Vec<&[u8]> = block.txdata[0].input[0].witness.iter().collect();
            if stack.len() != 1 || stack[0].len() != 32 {
                return Err(Reject::mutated("bad-witness-nonce-size", "invalid witness reserved value size"));
            }
            let leaves: Vec<[u8; 32]> = block
                .txdata
                .iter()
                .enumerate()
                .map(|(i, t)| match (i, wtxids) {
                    (0, _) => [0u8; 32],
                    (_, Some(w)) => w[i].to_byte_array(),
                    (_, None) => t.compute_wtxid().to_byte_array(),
                })
                .collect();
            let (root, _) = merkle_root(leaves);
            let mut buf = [0u8; 64];
            buf[..32].copy_from_slice(&root);
            buf[32..].copy_from_slice(stack[0]);
            let commitment = sha256d::Hash::hash(&buf).to_byte_array();
            if block.txdata[0].output[pos].script_pubkey.as_bytes()[6..38] != commitment {
                return Err(Reject::mutated("bad-witness-merkle-match", "witness merkle commitment mismatch"));
            }
        }
    }
    if !have_witness_commitment && block.txdata.iter().any(|t| t.input.iter().any(|i| !i.witness.is_empty())) {
        return Err(Reject::mutated("unexpected-witness", "unexpected witness data found"));
    }
    Ok(())
}

/// Core's IsBlockMutated: a block whose transactions do not match its header's commitments
/// (merkle root, witness commitment), so it may be a malleated copy of a valid block and says
/// nothing about the block itself. Checked before a received block is processed.
pub fn is_block_mutated(block: &Block, check_witness: bool) -> Option<Reject> {
    is_block_mutated_with(block, check_witness, &txids(block), None)
}

/// [`is_block_mutated`] with the block's txids (in block order) and, if computed ahead, its
/// [`ContextFreeParts`], so a block prepared off the chain's thread is not hashed again.
pub fn is_block_mutated_with(block: &Block, check_witness: bool, txids: &[Txid], parts: Option<&ContextFreeParts>) -> Option<Reject> {
    if let Err(r) = check_merkle_root_with(block, txids) {
        return Some(r);
    }
    if !block.txdata.first().is_some_and(Transaction::is_coinbase) {
        // Without a coinbase (invalid anyway), a 64-byte transaction could pose as an inner
        // merkle node: treated as mutation, as Core.
        return block
            .txdata
            .iter()
            .any(|t| t.base_size() == 64)
            .then(|| Reject::mutated("bad-txns-size", "64-byte transaction"));
    }
    match parts {
        Some(p) if check_witness => p.witness_segwit.clone().err(),
        _ => check_witness_malleation(block, check_witness).err(),
    }
}

/// Index of the coinbase output holding the witness commitment (the last matching one), as Core.
pub fn witness_commitment_index(coinbase: &Transaction) -> Option<usize> {
    coinbase
        .output
        .iter()
        .rposition(|o| o.script_pubkey.len() >= 38 && o.script_pubkey.as_bytes()[..6] == WITNESS_COMMITMENT_HEADER)
}

/// True when two transactions in the block share a txid (checked before BIP30 lookups).
pub fn has_duplicate_txids(block: &Block) -> bool {
    let mut seen = HashSet::new();
    !block.txdata.iter().all(|t| seen.insert(t.compute_txid()))
}

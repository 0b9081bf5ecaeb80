//! Block templates: transactions chosen from the pool by ancestor feerate (Core's
//! BlockAssembler, `block_selection.rs`), a BIP34 coinbase with the BIP141 witness commitment, and nonce grinding.

use super::pool::Pool;
use crate::chain::ChainManager;
use crate::validation::pow::next_work_required;
use crate::validation::tx_check::MAX_BLOCK_WEIGHT;
use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::Hash;
use bitcoin::script::Builder;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, Script, ScriptBuf, Sequence, Target, Transaction, TxIn, TxMerkleNode, TxOut, Txid,
    Witness, Wtxid,
};
use std::sync::Arc;

/// Weight kept free for the block header and coinbase (Core's DEFAULT_BLOCK_RESERVED_WEIGHT).
pub const RESERVED_WEIGHT: u64 = crate::config::blockcreate::DEFAULT_RESERVED_WEIGHT;
/// The least `-blockreservedweight` Core accepts (MINIMUM_BLOCK_RESERVED_WEIGHT).
pub const MIN_RESERVED_WEIGHT: u64 = crate::config::blockcreate::MIN_RESERVED_WEIGHT;
/// Sigop cost kept free for the coinbase.
pub const RESERVED_SIGOPS: u64 = 400;
/// Maximum sigop cost per block.
pub use crate::validation::sigops::MAX_BLOCK_SIGOPS_COST;
/// Lowest package feerate included (Core's -blockmintxfee default, sat/kvB).
pub const DEFAULT_BLOCK_MIN_TX_FEE: u64 = 1;

/// How templates are filled (Core's BlockAssembler options: `-blockmaxweight`,
/// `-blockreservedweight`, `-blockmintxfee`, `-blockversion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockOptions {
    /// Weight the whole block may reach, coinbase and header included.
    pub max_weight: u64,
    /// Weight kept for the header and the coinbase: selection starts from it.
    pub reserved_weight: u64,
    /// Lowest chunk feerate included, in sat/kvB.
    pub min_feerate: u64,
    /// Header version to use instead of the BIP9 one (regtest only, as in Core).
    pub version: Option<i32>,
}

impl Default for BlockOptions {
    fn default() -> Self {
        BlockOptions {
            max_weight: MAX_BLOCK_WEIGHT,
            reserved_weight: RESERVED_WEIGHT,
            min_feerate: DEFAULT_BLOCK_MIN_TX_FEE,
            version: None,
        }
    }
}

/// One transaction of a template.
#[derive(Debug, Clone)]
pub struct TemplateTx {
    /// The transaction.
    pub tx: Arc<Transaction>,
    /// Its txid.
    pub txid: Txid,
    /// Its wtxid.
    pub wtxid: Wtxid,
    /// Fee in satoshis.
    pub fee: u64,
    /// Sigop cost.
    pub sigops: u64,
    /// Weight.
    pub weight: u64,
    /// Indices (0-based) of earlier template transactions it spends.
    pub depends: Vec<usize>,
}

/// A block to mine on the current tip.
#[derive(Debug, Clone)]
pub struct BlockTemplate {
    /// Parent block.
    pub prev_hash: BlockHash,
    /// Height of the new block.
    pub height: u32,
    /// Header version.
    pub version: i32,
    /// Difficulty bits.
    pub bits: CompactTarget,
    /// Earliest valid header time (Core's GetMinimumTime: past the median time past, and
    /// BIP94's bound at a retarget).
    pub min_time: i64,
    /// Header time to use.
    pub curtime: i64,
    /// Transactions after the coinbase.
    pub txs: Vec<TemplateTx>,
    /// Subsidy plus fees.
    pub coinbase_value: u64,
    /// Total weight of the selected transactions (without the coinbase).
    pub tx_weight: u64,
    /// Total sigop cost of the selected transactions.
    pub tx_sigops: u64,
    /// Whether segwit is enforced at `height`: only then does the coinbase carry the witness
    /// reserved value (before it, any witness makes the block invalid).
    pub segwit: bool,
}

/// The block header time and difficulty bits for a child of the active tip at time `now`.
/// Core's MAX_TIMEWARP: how far before its parent the first block of a retarget period may be.
const MAX_TIMEWARP: i64 = 600;

/// The earliest time, the time to use and the bits of a block on the tip. The earliest time is
/// Core's GetMinimumTime: past the median time past and, for the first block of a retarget
/// period, no more than MAX_TIMEWARP before its parent (BIP94, on every network).
fn next_time_and_bits(chain: &ChainManager, now: i64) -> (i64, i64, CompactTarget) {
    let tip = chain.tip();
    let mut min_time = chain.median_time_past(&tip.hash) + 1;
    if (tip.height + 1).is_multiple_of(chain.params().difficulty_adjustment_interval()) {
        min_time = min_time.max(i64::from(tip.header.time) - MAX_TIMEWARP);
    }
    let curtime = now.max(min_time);
    let hash = tip.hash;
    let ancestor = |h: u32| chain.ancestor(&hash, h).map(|e| e.header);
    let bits = next_work_required(chain.params(), tip.height, &tip.header, curtime as u32, &ancestor);
    (min_time, curtime, bits)
}

impl BlockTemplate {
    /// A template on the active tip with `txs` (already chosen and ordered), with header
    /// `version` or else the BIP9 one (Core's ComputeBlockVersion).
    pub fn with_transactions(chain: &ChainManager, txs: Vec<TemplateTx>, now: i64, version: Option<i32>) -> BlockTemplate {
        let tip = chain.tip();
        let height = tip.height + 1;
        let (min_time, curtime, bits) = next_time_and_bits(chain, now);
        let fees: u64 = txs.iter().map(|t| t.fee).sum();
        BlockTemplate {
            prev_hash: tip.hash,
            height,
            version: version.unwrap_or_else(|| chain.next_block_version()),
            bits,
            min_time,
            curtime,
            coinbase_value: chain.params().subsidy(height) + fees,
            tx_weight: txs.iter().map(|t| t.weight).sum(),
            tx_sigops: txs.iter().map(|t| t.sigops).sum(),
            txs,
            segwit: chain.params().segwit_enforced_at(height),
        }
    }

    /// A template on the active tip filled from `pool` by ancestor feerate.
    pub fn from_pool(chain: &ChainManager, pool: &Pool, now: i64, opts: &BlockOptions) -> BlockTemplate {
        let txs = super::block_selection::select_transactions(pool, opts);
        BlockTemplate::with_transactions(chain, txs, now, opts.version)
    }

    /// The target the block hash must meet.
    pub fn target(&self) -> Target {
        Target::from_compact(self.bits)
    }

    /// Core's coinbase: the BIP34 height in the scriptSig (with an OP_0 up to height 16, where
    /// the height alone is one byte and consensus wants two), the 32-zero-byte witness reserved
    /// value where segwit is enforced (Core's UpdateUncommittedBlockStructures), nSequence
    /// 0xfffffffe and nLockTime height-1, paying `value` to `payout`.
    pub fn coinbase(&self, payout: &Script, value: u64) -> Transaction {
        let mut script_sig = Builder::new().push_int(i64::from(self.height));
        if self.height <= 16 {
            script_sig = script_sig.push_opcode(bitcoin::opcodes::OP_0);
        }
        let script_sig = script_sig.into_script();
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::from_consensus(self.height.saturating_sub(1)),
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig,
                sequence: Sequence(0xffff_fffe),
                witness: if self.segwit {
                    Witness::from_slice(&[WITNESS_RESERVED_VALUE])
                } else {
                    Witness::new()
                },
            }],
            output: vec![TxOut {
                value: Amount::from_sat(value),
                script_pubkey: payout.to_owned(),
            }],
        }
    }

    /// The complete unsolved block paying the coinbase value to `payout` (nonce 0).
    pub fn block(&self, payout: &Script) -> Block {
        self.block_paying(payout, self.coinbase_value)
    }

    /// The complete unsolved block with a coinbase paying `value` to `payout`.
    pub fn block_paying(&self, payout: &Script, value: u64) -> Block {
        let mut txdata = vec![self.coinbase(payout, value)];
        txdata.extend(self.txs.iter().map(|t| (*t.tx).clone()));
        let mut block = Block {
            header: Header {
                version: BlockVersion::from_consensus(self.version),
                prev_blockhash: self.prev_hash,
                merkle_root: TxMerkleNode::all_zeros(),
                time: self.curtime as u32,
                bits: self.bits,
                nonce: 0,
            },
            txdata,
        };
        add_witness_commitment(&mut block);
        block.header.merkle_root = block.compute_merkle_root().unwrap_or_else(TxMerkleNode::all_zeros);
        block
    }

    /// The witness commitment output script for this template's transactions.
    pub fn witness_commitment_script(&self, payout: &Script) -> ScriptBuf {
        let block = self.block(payout);
        block.txdata[0].output.last().map(|o| o.script_pubkey.clone()).unwrap_or_default()
    }
}

/// The witness reserved value Core's miner puts in the coinbase and commits to: 32 zero bytes.
const WITNESS_RESERVED_VALUE: [u8; 32] = [0u8; 32];

/// Appends the BIP141 commitment output (reserved value: the coinbase's witness, or Core's 32
/// zero bytes when the coinbase has none, as before segwit, where Core still adds the output).
pub fn add_witness_commitment(block: &mut Block) {
    let Some(root) = block.witness_root() else { return };
    let reserved = block.txdata[0].input[0]
        .witness
        .nth(0)
        .map(|w| w.to_vec())
        .unwrap_or_else(|| WITNESS_RESERVED_VALUE.to_vec());
    let commitment = Block::compute_witness_commitment(&root, &reserved);
    let mut spk = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
    spk.extend_from_slice(&commitment.to_byte_array());
    block.txdata[0].output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: ScriptBuf::from_bytes(spk),
    });
}

/// Core's UpdateUncommittedBlockStructures, which `submitblock` applies: a block whose coinbase
/// commits to its witnesses but carries no witness gets the 32-zero-byte reserved value, where
/// segwit is enforced (`segwit`). Nothing committed changes, so the block hash stays.
pub fn fill_witness_reserved_value(block: &mut Block, segwit: bool) {
    let Some(coinbase) = block.txdata.first_mut() else { return };
    let has_witness = coinbase.input.iter().any(|i| !i.witness.is_empty());
    if segwit && !has_witness && crate::validation::block_check::witness_commitment_index(coinbase).is_some() {
        if let Some(input) = coinbase.input.first_mut() {
            input.witness = Witness::from_slice(&[WITNESS_RESERVED_VALUE]);
        }
    }
}

/// Grinds the nonce until the header meets its target; decrements `max_tries` per attempt and
/// gives up (false) when it reaches zero.
pub fn solve(header: &mut Header, max_tries: &mut u64) -> bool {
    let target = header.target();
    while *max_tries > 0 {
        if target.is_met_by(header.block_hash()) {
            return true;
        }
        *max_tries -= 1;
        header.nonce = header.nonce.wrapping_add(1);
        if header.nonce == 0 {
            header.time = header.time.wrapping_add(1);
        }
    }
    target.is_met_by(header.block_hash())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block committing to its witnesses, its coinbase without the reserved value.
    fn committed_block(reserved_in_coinbase: bool) -> Block {
        let mut block = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
        block.txdata[0].input[0].witness = Witness::from_slice(&[WITNESS_RESERVED_VALUE]);
        add_witness_commitment(&mut block);
        if !reserved_in_coinbase {
            block.txdata[0].input[0].witness = Witness::new();
        }
        block
    }

    /// Core's UpdateUncommittedBlockStructures: the reserved value is added only where segwit
    /// is enforced, only to a committing block, and never over a witness already there.
    #[test]
    fn submitted_blocks_get_the_reserved_value_core_adds() {
        let mut block = committed_block(false);
        let hash = block.block_hash();
        fill_witness_reserved_value(&mut block, false);
        assert!(block.txdata[0].input[0].witness.is_empty(), "not before segwit");
        fill_witness_reserved_value(&mut block, true);
        assert_eq!(block.txdata[0].input[0].witness.nth(0), Some(&WITNESS_RESERVED_VALUE[..]));
        assert_eq!(block.block_hash(), hash, "witnesses are outside the header's commitments");
        assert_eq!(block, committed_block(true));

        let mut other = committed_block(false);
        other.txdata[0].input[0].witness = Witness::from_slice(&[[1u8; 32]]);
        let before = other.clone();
        fill_witness_reserved_value(&mut other, true);
        assert_eq!(other, before, "a witness already there stays");

        let mut uncommitted = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
        fill_witness_reserved_value(&mut uncommitted, true);
        assert!(uncommitted.txdata[0].input[0].witness.is_empty(), "no commitment, nothing to fill");
    }
}

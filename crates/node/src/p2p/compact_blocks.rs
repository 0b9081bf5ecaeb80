//! BIP152 compact blocks, version 2 (wtxid short ids): building a `cmpctblock` from a block,
//! answering `getblocktxn`, and reconstructing a block from a `cmpctblock`, the mempool and the
//! `blocktxn` that completes it (Core's PartiallyDownloadedBlock). Pure data: no I/O, no locks.

use crate::validation::block_check::is_block_mutated;
use crate::validation::tx_check::MAX_BLOCK_WEIGHT;
use bitcoin::bip152::{BlockTransactions, BlockTransactionsRequest, HeaderAndShortIds, ShortId};
use bitcoin::{Block, Transaction, Wtxid};
use std::collections::HashMap;
use std::sync::Arc;

/// The only compact block version we speak (BIP152 version 2: segwit, wtxid short ids).
pub const CMPCTBLOCKS_VERSION: u64 = 2;
/// The smallest transaction weight (10 bytes without inputs' data, as Core's
/// MIN_SERIALIZABLE_TRANSACTION_WEIGHT): bounds how many transactions a block can hold.
pub const MIN_SERIALIZABLE_TRANSACTION_WEIGHT: u64 = 40;
/// Most transactions a compact block may claim.
pub const MAX_COMPACT_TXS: usize = (MAX_BLOCK_WEIGHT / MIN_SERIALIZABLE_TRANSACTION_WEIGHT) as usize;

/// Why a compact block or `blocktxn` cannot be used (Core's ReadStatus).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Malformed beyond doubt: the peer misbehaved (READ_STATUS_INVALID).
    #[error("invalid compact block: {0}")]
    Invalid(&'static str),
    /// Not usable, but possibly honest (short-id collision, mutated reconstruction): fetch
    /// the full block instead (READ_STATUS_FAILED).
    #[error("compact block reconstruction failed: {0}")]
    Failed(String),
}

/// Builds our `cmpctblock` for a block: the coinbase prefilled, every other transaction by
/// short id, with a fresh random nonce.
pub fn build(block: &Block) -> HeaderAndShortIds {
    // Version 2 with only the coinbase prefilled cannot fail.
    HeaderAndShortIds::from_block(block, rand::random(), CMPCTBLOCKS_VERSION as u32, &[]).unwrap_or_else(|_| HeaderAndShortIds {
        header: block.header,
        nonce: 0,
        short_ids: Vec::new(),
        prefilled_txs: Vec::new(),
    })
}

/// The `blocktxn` answer to a `getblocktxn` for `block`; an index past the block's end is the
/// peer's misbehaviour (Core: "getblocktxn with out-of-bounds tx indices").
pub fn block_txn(block: &Block, req: &BlockTransactionsRequest) -> Result<BlockTransactions, ReadError> {
    let mut transactions = Vec::with_capacity(req.indexes.len().min(block.txdata.len()));
    for &i in &req.indexes {
        let tx = usize::try_from(i)
            .ok()
            .and_then(|i| block.txdata.get(i))
            .ok_or(ReadError::Invalid("getblocktxn with out-of-bounds tx indices"))?;
        transactions.push(tx.clone());
    }
    Ok(BlockTransactions {
        block_hash: block.block_hash(),
        transactions,
    })
}

/// A block being reconstructed from a `cmpctblock`: the transactions found so far, by position.
#[derive(Debug, Clone)]
pub struct PartialBlock {
    header: bitcoin::block::Header,
    slots: Vec<Option<Arc<Transaction>>>,
    /// Transactions that came with the compact block or from the mempool (for the log).
    prefilled: usize,
    from_pool: usize,
}

impl PartialBlock {
    /// Core's InitData: checks the compact block's shape, places the prefilled transactions and
    /// fills what `pool` (the mempool, then the extra transactions) provides by short id.
    /// Cost: linear in the compact block and the pool.
    pub fn new<'a>(cmpct: &HeaderAndShortIds, pool: impl IntoIterator<Item = (Wtxid, &'a Arc<Transaction>)>) -> Result<Self, ReadError> {
        let total = cmpct.short_ids.len() + cmpct.prefilled_txs.len();
        if cmpct.short_ids.is_empty() && cmpct.prefilled_txs.is_empty() {
            return Err(ReadError::Invalid("empty compact block"));
        }
        if total > MAX_COMPACT_TXS {
            return Err(ReadError::Invalid("too many transactions"));
        }
        let mut slots: Vec<Option<Arc<Transaction>>> = vec![None; total];
        let mut last: i64 = -1;
        for (i, p) in cmpct.prefilled_txs.iter().enumerate() {
            // Differentially encoded: each index is one past the previous plus `idx`.
            let idx = last + i64::from(p.idx) + 1;
            if idx > i64::from(u16::MAX) || idx as usize > cmpct.short_ids.len() + i {
                return Err(ReadError::Invalid("prefilled transaction index out of range"));
            }
            slots[idx as usize] = Some(Arc::new(p.tx.clone()));
            last = idx;
        }
        // Short id -> position among the slots not prefilled.
        let mut by_id: HashMap<ShortId, usize> = HashMap::with_capacity(cmpct.short_ids.len());
        let mut ids = cmpct.short_ids.iter();
        for (pos, slot) in slots.iter().enumerate() {
            if slot.is_none() {
                let Some(id) = ids.next() else { break };
                if by_id.insert(*id, pos).is_some() {
                    return Err(ReadError::Failed("duplicate short ids".into()));
                }
            }
        }
        if by_id.len() != cmpct.short_ids.len() {
            return Err(ReadError::Failed("short ids do not fill the block".into()));
        }
        let keys = ShortId::calculate_siphash_keys(&cmpct.header, cmpct.nonce);
        let mut found: HashMap<usize, Wtxid> = HashMap::new();
        let mut from_pool = 0;
        for (wtxid, tx) in pool {
            if found.len() == by_id.len() {
                break;
            }
            let id = ShortId::with_siphash_keys(&wtxid.to_raw_hash(), keys);
            let Some(&pos) = by_id.get(&id) else { continue };
            match found.get(&pos) {
                None => {
                    slots[pos] = Some(tx.clone());
                    found.insert(pos, wtxid);
                    from_pool += 1;
                }
                // Two candidates for one short id: neither is trusted; it is requested.
                Some(w) if *w != wtxid && slots[pos].is_some() => {
                    slots[pos] = None;
                    from_pool -= 1;
                }
                Some(_) => {}
            }
        }
        Ok(PartialBlock {
            header: cmpct.header,
            slots,
            prefilled: cmpct.prefilled_txs.len(),
            from_pool,
        })
    }

    /// The positions still missing (what `getblocktxn` asks for), in increasing order.
    pub fn missing(&self) -> Vec<u64> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_none())
            .map(|(i, _)| i as u64)
            .collect()
    }

    /// The block's hash.
    pub fn hash(&self) -> bitcoin::BlockHash {
        self.header.block_hash()
    }

    /// The parent's hash (whether segwit applies depends on it).
    pub fn prev_blockhash(&self) -> bitcoin::BlockHash {
        self.header.prev_blockhash
    }

    /// (prefilled, found in the pool, total) for the log.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.prefilled, self.from_pool, self.slots.len())
    }

    /// Core's FillBlock: the missing transactions, in order, complete the block. A wrong count
    /// is the peer's misbehaviour; a block that does not match its header's commitments (a
    /// short-id collision, or a mutated relay) fails so the full block is fetched instead.
    pub fn fill(self, missing: Vec<Transaction>, segwit_active: bool) -> Result<Block, ReadError> {
        let want = self.slots.iter().filter(|s| s.is_none()).count();
        if missing.len() != want {
            return Err(ReadError::Invalid("non-matching block transactions"));
        }
        let mut missing = missing.into_iter();
        let mut txdata = Vec::with_capacity(self.slots.len());
        for slot in self.slots {
            match slot {
                Some(tx) => txdata.push(Arc::unwrap_or_clone(tx)),
                None => txdata.push(missing.next().ok_or(ReadError::Invalid("non-matching block transactions"))?),
            }
        }
        let block = Block {
            header: self.header,
            txdata,
        };
        if let Some(r) = is_block_mutated(&block, segwit_active) {
            return Err(ReadError::Failed(format!("reconstructed block mutated: {r}")));
        }
        Ok(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::hashes::Hash;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, TxIn, TxOut, Witness};

    fn tx(n: u32) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::new(bitcoin::Txid::from_byte_array([n as u8; 32]), n),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1000 + u64::from(n)),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51; 30]),
            }],
        }
    }

    fn block(n: u32) -> Block {
        let mut cb = tx(0);
        cb.input[0].previous_output = OutPoint::null();
        cb.input[0].script_sig = ScriptBuf::from_bytes(vec![1, 1]);
        cb.input[0].witness = Witness::new();
        let txdata: Vec<Transaction> = std::iter::once(cb).chain((1..=n).map(tx)).collect();
        let mut b = Block {
            header: bitcoin::block::Header {
                version: bitcoin::block::Version::TWO,
                prev_blockhash: bitcoin::BlockHash::all_zeros(),
                merkle_root: bitcoin::TxMerkleNode::all_zeros(),
                time: 0,
                bits: bitcoin::CompactTarget::from_consensus(0x207fffff),
                nonce: 0,
            },
            txdata,
        };
        b.header.merkle_root = b.compute_merkle_root().expect("transactions");
        b
    }

    fn pool(txs: &[Transaction]) -> Vec<(Wtxid, Arc<Transaction>)> {
        txs.iter().map(|t| (t.compute_wtxid(), Arc::new(t.clone()))).collect()
    }

    #[test]
    fn reconstructs_from_pool_and_blocktxn() {
        let b = block(4);
        let c = build(&b);
        assert_eq!(c.prefilled_txs.len(), 1);
        assert_eq!(c.short_ids.len(), 4);
        let p = pool(&[b.txdata[1].clone(), b.txdata[3].clone(), tx(99)]);
        let partial = PartialBlock::new(&c, p.iter().map(|(w, t)| (*w, t))).expect("valid");
        assert_eq!(partial.missing(), vec![2, 4]);
        let req = BlockTransactionsRequest {
            block_hash: b.block_hash(),
            indexes: partial.missing(),
        };
        let answer = block_txn(&b, &req).expect("in range");
        let rebuilt = partial.fill(answer.transactions, false).expect("complete");
        assert_eq!(rebuilt, b);
    }

    #[test]
    fn wrong_transactions_fail_and_wrong_count_is_invalid() {
        let b = block(2);
        let c = build(&b);
        let partial = PartialBlock::new(&c, std::iter::empty()).expect("valid");
        assert!(matches!(partial.clone().fill(vec![tx(1)], false), Err(ReadError::Invalid(_))));
        assert!(matches!(partial.fill(vec![tx(1), tx(7)], false), Err(ReadError::Failed(_))));
    }

    #[test]
    fn witness_without_commitment_fails_reconstruction() {
        let mut b = block(1);
        b.txdata[1].input[0].witness = Witness::from_slice(&[vec![1u8; 3]]);
        let partial = PartialBlock::new(&build(&b), std::iter::empty()).expect("valid");
        let err = partial.fill(vec![b.txdata[1].clone()], true).unwrap_err();
        assert!(
            matches!(err, ReadError::Failed(ref why) if why.contains("unexpected-witness")),
            "{err}"
        );
    }

    #[test]
    fn malformed_compact_blocks_are_invalid() {
        let b = block(1);
        let mut c = build(&b);
        c.prefilled_txs[0].idx = 5;
        assert!(matches!(PartialBlock::new(&c, std::iter::empty()), Err(ReadError::Invalid(_))));
        c.prefilled_txs.clear();
        c.short_ids.clear();
        assert!(matches!(PartialBlock::new(&c, std::iter::empty()), Err(ReadError::Invalid(_))));
        let mut dup = build(&block(2));
        dup.short_ids[1] = dup.short_ids[0];
        assert!(matches!(PartialBlock::new(&dup, std::iter::empty()), Err(ReadError::Failed(_))));
        let mut huge = build(&b);
        huge.short_ids = vec![huge.short_ids[0]; MAX_COMPACT_TXS];
        assert!(matches!(PartialBlock::new(&huge, std::iter::empty()), Err(ReadError::Invalid(_))));
    }

    #[test]
    fn blocktxn_index_out_of_range_is_misbehaviour() {
        let b = block(1);
        let req = BlockTransactionsRequest {
            block_hash: b.block_hash(),
            indexes: vec![0, 2],
        };
        assert!(matches!(block_txn(&b, &req), Err(ReadError::Invalid(_))));
    }
}

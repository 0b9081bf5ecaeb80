//! The optional coin statistics index (`-coinstatsindex`, Core's CoinStatsIndex): for every
//! block, the MuHash of the UTXO set after it and running totals (outputs, bogo size, amounts,
//! subsidy, unspendable amounts by cause). Records are keyed by block hash, so a block's record
//! stays valid after a reorganisation takes it out of the active chain; the running state (the
//! MuHash numerator and denominator and the totals at the index's best block) moves forward as
//! blocks connect and backward, through their undo data, as they disconnect.

use crate::chainstate::coin::{is_unspendable, Coin};
use crate::chainstate::muhash::{txout_ser, MuHash3072};
use crate::chainstate::stats::bogo_size;
use bitcoin::hashes::Hash;
use bitcoin::{Block, BlockHash, OutPoint};
use std::collections::HashMap;

/// Core's IsBIP30Unspendable: the two mainnet blocks whose coinbase outputs were overwritten by
/// later duplicates of their transactions (their subsidy can never be spent).
const BIP30_UNSPENDABLE: [(u32, &str); 2] = [
    (91_722, "00000000000271a2dc26e7667f8419f2e15416dc6955e5a6c6cdf3f2574dd08e"),
    (91_812, "00000000000af0aed4792b1acee3d966af36cf5def14935db8de83d6f9306f2f"),
];

/// Number of u64 totals in a record.
const TOTALS: usize = 11;
/// Encoded record size: the MuHash digest then the totals.
const RECORD_BYTES: usize = 32 + 8 * TOTALS;

/// Whether the coinbase of block `hash` at `height` is one of Core's BIP30 unspendables.
fn bip30_unspendable(height: u32, hash: &BlockHash) -> bool {
    BIP30_UNSPENDABLE
        .iter()
        .any(|(h, s)| *h == height && s.parse::<BlockHash>().is_ok_and(|b| b == *hash))
}

/// The running totals Core's index keeps (amounts in satoshis), as of one block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoinTotals {
    /// Unspent outputs.
    pub txouts: u64,
    /// Core's bogo size of the UTXO set.
    pub bogo_size: u64,
    /// Value of the UTXO set.
    pub total_amount: u64,
    /// Block subsidies so far (genesis included).
    pub total_subsidy: u64,
    /// Value of every spent previous output.
    pub prevout_spent: u64,
    /// Value of new spendable outputs of non-coinbase transactions.
    pub new_outputs_ex_coinbase: u64,
    /// Value of new spendable coinbase outputs.
    pub coinbase: u64,
    /// The genesis block's subsidy (never spendable).
    pub unspendable_genesis: u64,
    /// Coinbase subsidies lost to BIP30 duplicates.
    pub unspendable_bip30: u64,
    /// Value sent to unspendable scripts (OP_RETURN, oversized).
    pub unspendable_scripts: u64,
    /// Subsidy and fees the miners did not claim.
    pub unspendable_unclaimed: u64,
}

impl CoinTotals {
    fn to_array(self) -> [u64; TOTALS] {
        [
            self.txouts,
            self.bogo_size,
            self.total_amount,
            self.total_subsidy,
            self.prevout_spent,
            self.new_outputs_ex_coinbase,
            self.coinbase,
            self.unspendable_genesis,
            self.unspendable_bip30,
            self.unspendable_scripts,
            self.unspendable_unclaimed,
        ]
    }

    fn from_array(a: [u64; TOTALS]) -> Self {
        CoinTotals {
            txouts: a[0],
            bogo_size: a[1],
            total_amount: a[2],
            total_subsidy: a[3],
            prevout_spent: a[4],
            new_outputs_ex_coinbase: a[5],
            coinbase: a[6],
            unspendable_genesis: a[7],
            unspendable_bip30: a[8],
            unspendable_scripts: a[9],
            unspendable_unclaimed: a[10],
        }
    }

    /// All unspendable amounts together (Core's `total_unspendable_amount`).
    pub fn unspendable(&self) -> u64 {
        self.unspendable_genesis + self.unspendable_bip30 + self.unspendable_scripts + self.unspendable_unclaimed
    }
}

/// What the index stores per block: the UTXO set's MuHash digest and the totals after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoinStatsRecord {
    /// MuHash3072 digest (internal byte order).
    pub muhash: [u8; 32],
    /// The running totals.
    pub totals: CoinTotals,
}

impl CoinStatsRecord {
    /// Database encoding: the digest then the totals, each u64 little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(RECORD_BYTES);
        v.extend_from_slice(&self.muhash);
        for t in self.totals.to_array() {
            v.extend_from_slice(&t.to_le_bytes());
        }
        v
    }

    /// Decodes [`CoinStatsRecord::encode`]'s bytes; `None` unless of the right length.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != RECORD_BYTES {
            return None;
        }
        let mut totals = [0u64; TOTALS];
        for (i, t) in totals.iter_mut().enumerate() {
            *t = u64::from_le_bytes(b[32 + 8 * i..40 + 8 * i].try_into().ok()?);
        }
        Some(CoinStatsRecord {
            muhash: b[..32].try_into().ok()?,
            totals: CoinTotals::from_array(totals),
        })
    }

    /// The digest as Core prints it (byte-reversed hex).
    pub fn muhash_hex(&self) -> String {
        let mut d = self.muhash;
        d.reverse();
        bitcoin::hex::DisplayHex::to_lower_hex_string(&d[..])
    }
}

/// The index's running state at its best block, and records not yet written.
#[derive(Debug)]
pub struct CoinStatsIndex {
    /// The last block the index has processed (the active tip once in sync).
    pub best: BlockHash,
    /// The MuHash of the UTXO set at `best`.
    pub muhash: MuHash3072,
    /// The totals at `best`.
    pub totals: CoinTotals,
    pending: HashMap<BlockHash, CoinStatsRecord>,
}

/// Approximate heap bytes per pending record (key, record, map overhead).
const PENDING_ENTRY_BYTES: usize = 192;

impl CoinStatsIndex {
    /// An index whose state is `muhash` and `totals` at `best`.
    pub fn new(best: BlockHash, muhash: MuHash3072, totals: CoinTotals) -> Self {
        CoinStatsIndex {
            best,
            muhash,
            totals,
            pending: HashMap::new(),
        }
    }

    /// Adds block `block` (`hash`, at `height`, with the coins its transactions spent, one list
    /// per non-coinbase transaction) to the state, as Core's CustomAppend, and records it.
    pub fn connect(&mut self, hash: BlockHash, height: u32, block: &Block, spent: &[Vec<Coin>], subsidy: u64) {
        let t = &mut self.totals;
        t.total_subsidy += subsidy;
        if height == 0 {
            t.unspendable_genesis += subsidy;
        } else {
            for (i, tx) in block.txdata.iter().enumerate() {
                let is_coinbase = i == 0;
                if is_coinbase && bip30_unspendable(height, &hash) {
                    t.unspendable_bip30 += subsidy;
                    continue;
                }
                let txid = tx.compute_txid();
                for (vout, out) in tx.output.iter().enumerate() {
                    let value = out.value.to_sat();
                    if is_unspendable(&out.script_pubkey) {
                        t.unspendable_scripts += value;
                        continue;
                    }
                    let coin = Coin {
                        output: out.clone(),
                        height,
                        is_coinbase,
                    };
                    self.muhash.insert(&txout_ser(&OutPoint::new(txid, vout as u32), &coin));
                    if is_coinbase {
                        t.coinbase += value;
                    } else {
                        t.new_outputs_ex_coinbase += value;
                    }
                    t.txouts += 1;
                    t.total_amount += value;
                    t.bogo_size += bogo_size(out.script_pubkey.len());
                }
                if let Some(coins) = i.checked_sub(1).and_then(|j| spent.get(j)) {
                    for (input, coin) in tx.input.iter().zip(coins) {
                        self.muhash.remove(&txout_ser(&input.previous_output, coin));
                        let value = coin.output.value.to_sat();
                        t.prevout_spent += value;
                        t.txouts = t.txouts.saturating_sub(1);
                        t.total_amount = t.total_amount.saturating_sub(value);
                        t.bogo_size = t.bogo_size.saturating_sub(bogo_size(coin.output.script_pubkey.len()));
                    }
                }
            }
        }
        // What went in (spent outputs and the subsidy) and did not come out as outputs or a
        // known unspendable is a reward the miner did not claim: unspendable too.
        let inflow = u128::from(t.prevout_spent) + u128::from(t.total_subsidy);
        let outflow = u128::from(t.new_outputs_ex_coinbase) + u128::from(t.coinbase) + u128::from(t.unspendable());
        t.unspendable_unclaimed += inflow.saturating_sub(outflow) as u64;
        let record = CoinStatsRecord {
            muhash: self.muhash.finalize(),
            totals: *t,
        };
        self.pending.insert(hash, record);
        self.best = hash;
    }

    /// Takes block `block` (at `height`) back out of the state (Core's RevertBlock): its
    /// outputs leave the MuHash and the coins it spent come back; the totals become its parent's
    /// (`parent`, the record of `parent_hash`). Returns false, changing nothing, when the
    /// reverted MuHash does not match the parent's record (a corrupt index).
    pub fn disconnect(&mut self, height: u32, block: &Block, spent: &[Vec<Coin>], parent_hash: BlockHash, parent: CoinStatsRecord) -> bool {
        let mut muhash = self.muhash.clone();
        for (i, tx) in block.txdata.iter().enumerate().rev() {
            let is_coinbase = i == 0;
            if is_coinbase && bip30_unspendable(height, &self.best) {
                continue;
            }
            let txid = tx.compute_txid();
            for (vout, out) in tx.output.iter().enumerate() {
                if is_unspendable(&out.script_pubkey) {
                    continue;
                }
                let coin = Coin {
                    output: out.clone(),
                    height,
                    is_coinbase,
                };
                muhash.remove(&txout_ser(&OutPoint::new(txid, vout as u32), &coin));
            }
            if let Some(coins) = i.checked_sub(1).and_then(|j| spent.get(j)) {
                for (input, coin) in tx.input.iter().zip(coins) {
                    muhash.insert(&txout_ser(&input.previous_output, coin));
                }
            }
        }
        if muhash.finalize() != parent.muhash {
            return false;
        }
        self.muhash = muhash;
        self.totals = parent.totals;
        self.best = parent_hash;
        true
    }

    /// The record of `hash` not yet written.
    pub fn pending(&self, hash: &BlockHash) -> Option<&CoinStatsRecord> {
        self.pending.get(hash)
    }

    /// Memory held by pending records.
    pub fn memory_usage(&self) -> usize {
        self.pending.len() * PENDING_ENTRY_BYTES
    }

    /// The pending records as a write would store them (left pending until
    /// [`CoinStatsIndex::mark_written`], so a failed write loses nothing).
    pub fn writes(&self) -> Vec<([u8; 32], Vec<u8>)> {
        self.pending.iter().map(|(h, r)| (h.to_byte_array(), r.encode())).collect()
    }

    /// Forgets the pending records once written.
    pub fn mark_written(&mut self) {
        self.pending = HashMap::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::{Amount, ScriptBuf, TxOut};

    #[test]
    fn record_round_trips() {
        let r = CoinStatsRecord {
            muhash: [5; 32],
            totals: CoinTotals::from_array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
        };
        assert_eq!(CoinStatsRecord::decode(&r.encode()), Some(r));
        assert_eq!(CoinStatsRecord::decode(&r.encode()[1..]), None);
        assert_eq!(r.totals.unspendable(), 8 + 9 + 10 + 11);
    }

    #[test]
    fn the_mainnet_bip30_blocks_are_recognised_by_height_and_hash() {
        let h: BlockHash = BIP30_UNSPENDABLE[0].1.parse().unwrap();
        assert!(bip30_unspendable(91_722, &h));
        assert!(!bip30_unspendable(91_723, &h));
        assert!(!bip30_unspendable(91_722, &BlockHash::all_zeros()));
    }

    /// Connecting a block that spends a coin and then disconnecting it gives back the parent's
    /// MuHash and totals; an OP_RETURN output and an unclaimed reward are counted as unspendable.
    #[test]
    fn connect_then_disconnect_restores_the_parent() {
        let regtest = crate::params::ChainParams::for_network(bitcoin::Network::Regtest);
        let genesis = regtest.genesis();
        let mut idx = CoinStatsIndex::new(BlockHash::all_zeros(), MuHash3072::default(), CoinTotals::default());
        idx.connect(genesis.block_hash(), 0, &genesis, &[], 50 * 100_000_000);
        assert_eq!(idx.totals.unspendable_genesis, 5_000_000_000);
        assert_eq!(idx.totals.txouts, 0, "the genesis output is not in the UTXO set");
        let parent = *idx.pending(&genesis.block_hash()).unwrap();
        // A block whose coinbase claims 40 of 50 and whose second transaction spends a coin of
        // 10 into 7 spendable and 3 OP_RETURN.
        let mut block = genesis.clone();
        block.header.prev_blockhash = genesis.block_hash();
        block.txdata[0].output = vec![TxOut {
            value: Amount::from_sat(4_000_000_000),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
        }];
        let mut spend = block.txdata[0].clone();
        spend.input[0].previous_output = OutPoint::new(block.txdata[0].compute_txid(), 9);
        spend.output = vec![
            TxOut {
                value: Amount::from_sat(700_000_000),
                script_pubkey: ScriptBuf::from_bytes(vec![0x52]),
            },
            TxOut {
                value: Amount::from_sat(300_000_000),
                script_pubkey: ScriptBuf::from_bytes(vec![0x6a]),
            },
        ];
        block.txdata.push(spend);
        let spent = vec![vec![Coin {
            output: TxOut {
                value: Amount::from_sat(1_000_000_000),
                script_pubkey: ScriptBuf::from_bytes(vec![0x53]),
            },
            height: 0,
            is_coinbase: false,
        }]];
        let hash = block.block_hash();
        idx.connect(hash, 1, &block, &spent, 5_000_000_000);
        let r = *idx.pending(&hash).unwrap();
        assert_eq!(r.totals.unspendable_scripts, 300_000_000);
        assert_eq!(r.totals.unspendable_unclaimed, 1_000_000_000);
        assert_eq!(r.totals.prevout_spent, 1_000_000_000);
        assert_ne!(r.muhash, parent.muhash);
        let mut wrong = parent;
        wrong.muhash = [0; 32];
        assert!(
            !idx.disconnect(1, &block, &spent, genesis.block_hash(), wrong),
            "a mismatch is refused"
        );
        assert!(idx.disconnect(1, &block, &spent, genesis.block_hash(), parent));
        assert_eq!(idx.totals, parent.totals);
        assert_eq!(idx.muhash.finalize(), parent.muhash);
        assert_eq!(idx.best, genesis.block_hash());
    }
}

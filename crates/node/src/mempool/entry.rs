//! One mempool transaction: its fee, sizes, entry time and in-mempool graph links.

use bitcoin::{Transaction, Txid, Wtxid};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Weight units per virtual byte.
pub const WITNESS_SCALE_FACTOR: u64 = bitcoin::Weight::WITNESS_SCALE_FACTOR;
/// Sigop cost is charged as this many bytes each when it dominates the weight (`-bytespersigop`).
pub const DEFAULT_BYTES_PER_SIGOP: u64 = 20;

/// Core's GetSigOpsAdjustedWeight: weight or sigop-equivalent weight, whichever is larger (what
/// cluster sizes are summed in).
pub fn adjusted_weight(weight: u64, sigop_cost: u64, bytes_per_sigop: u64) -> u64 {
    weight.max(sigop_cost.saturating_mul(bytes_per_sigop))
}

/// Core's GetVirtualTransactionSize: weight or sigop-equivalent size, whichever is larger, in vbytes.
pub fn virtual_size(weight: u64, sigop_cost: u64, bytes_per_sigop: u64) -> u64 {
    adjusted_weight(weight, sigop_cost, bytes_per_sigop).div_ceil(WITNESS_SCALE_FACTOR)
}

/// A feerate in satoshis per 1000 virtual bytes, truncated as Core's `CFeeRate(fee, size)`.
pub fn feerate_per_kvb(fee: u64, vsize: u64) -> u64 {
    if vsize == 0 {
        return 0;
    }
    ((u128::from(fee) * 1000) / u128::from(vsize)) as u64
}

/// Core's `CFeeRate::GetFee`: the fee for `vsize` at `rate` sat/kvB, rounded up (at least 1 sat
/// for a non-zero rate).
pub fn fee_at(rate_per_kvb: u64, vsize: u64) -> u64 {
    let fee = (u128::from(rate_per_kvb) * u128::from(vsize)).div_ceil(1000) as u64;
    if fee == 0 && vsize != 0 && rate_per_kvb > 0 {
        1
    } else {
        fee
    }
}

/// `fee + delta`, floored at 0 (a negative modified fee sorts as a zero fee).
pub fn modified_fee(fee: u64, delta: i64) -> u64 {
    (i128::from(fee) + i128::from(delta)).clamp(0, i128::from(u64::MAX)) as u64
}

/// True when `fee_a / size_a > fee_b / size_b`, compared exactly.
pub fn feerate_gt(fee_a: u64, size_a: u64, fee_b: u64, size_b: u64) -> bool {
    u128::from(fee_a) * u128::from(size_b.max(1)) > u128::from(fee_b) * u128::from(size_a.max(1))
}

/// Approximate memory a transaction takes: its bytes plus bookkeeping per input, output and
/// transaction (the unit of `-maxmempool` and of the disconnected-transactions limit).
pub fn tx_usage(tx: &Transaction) -> u64 {
    tx.total_size() as u64 + 96 * tx.input.len() as u64 + 64 * tx.output.len() as u64 + 320
}

/// A transaction in the mempool.
#[derive(Debug, Clone)]
pub struct MempoolEntry {
    /// The transaction.
    pub tx: Arc<Transaction>,
    /// Its txid.
    pub txid: Txid,
    /// Its wtxid.
    pub wtxid: Wtxid,
    /// Fee paid (inputs minus outputs) in satoshis.
    pub fee: u64,
    /// Sigop-adjusted virtual size in vbytes (what fee rates are computed on, as Core).
    pub vsize: u64,
    /// BIP141 weight.
    pub weight: u64,
    /// Sigop cost (BIP141 units).
    pub sigop_cost: u64,
    /// UNIX time it entered the mempool.
    pub time: i64,
    /// Chain height when it entered.
    pub height: u32,
    /// Entry order (lower entered earlier).
    pub sequence: u64,
    /// The mempool sequence when it entered (set by the pool): a peer whose last `inv` went
    /// out before then was never offered it, so it is not served to that peer (Core's m_sequence).
    pub relay_sequence: u64,
    /// Whether any input spends a coinbase output.
    pub spends_coinbase: bool,
    /// In-mempool transactions this one spends from.
    pub parents: BTreeSet<Txid>,
    /// In-mempool transactions spending this one.
    pub children: BTreeSet<Txid>,
    /// Fee delta from prioritisetransaction (satoshis, may be negative).
    pub delta: i64,
}

impl MempoolEntry {
    /// Core's modified fee: the fee plus the prioritisetransaction delta. Scores and aggregates
    /// are unsigned, so a delta that would make it negative counts as 0 there.
    pub fn modified_fee(&self) -> u64 {
        modified_fee(self.fee, self.delta)
    }

    /// Approximate memory this entry takes (transaction bytes plus bookkeeping), the unit of
    /// the `-maxmempool` limit.
    pub fn usage(&self) -> u64 {
        tx_usage(&self.tx)
    }

    /// Its sigop-adjusted weight, the unit of the cluster size limit.
    pub fn adjusted_weight(&self) -> u64 {
        adjusted_weight(self.weight, self.sigop_cost, DEFAULT_BYTES_PER_SIGOP)
    }

    /// Whether the transaction signals BIP125 replaceability itself (any nSequence < 0xfffffffe).
    pub fn signals_rbf(&self) -> bool {
        self.tx.input.iter().any(|i| i.sequence.0 < 0xffff_fffe)
    }

    /// Whether this is a TRUC (version 3) transaction.
    pub fn is_truc(&self) -> bool {
        self.tx.version.0 == 3
    }
}

//! Context-free transaction checks (Core's CheckTransaction).

use super::reject::Reject;
use bitcoin::{Amount, Transaction, Weight};
use std::collections::HashSet;

/// Maximum block weight (BIP141) in weight units: rust-bitcoin's `Weight::MAX_BLOCK`, as the
/// plain number the block and compact-block size checks compare against.
pub const MAX_BLOCK_WEIGHT: u64 = Weight::MAX_BLOCK.to_wu();

/// Checks rules that need no chain context: non-empty ins/outs, size, amounts, duplicates, coinbase shape.
pub fn check_transaction(tx: &Transaction) -> Result<(), Reject> {
    if tx.input.is_empty() {
        return Err(Reject::new("bad-txns-vin-empty", ""));
    }
    if tx.output.is_empty() {
        return Err(Reject::new("bad-txns-vout-empty", ""));
    }
    if tx.base_size() as u64 * Weight::WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT {
        return Err(Reject::new("bad-txns-oversize", ""));
    }
    let max_money = Amount::MAX_MONEY.to_sat();
    let mut total: u64 = 0;
    for out in &tx.output {
        let v = out.value.to_sat();
        if (v as i64) < 0 {
            return Err(Reject::new("bad-txns-vout-negative", ""));
        }
        if v > max_money {
            return Err(Reject::new("bad-txns-vout-toolarge", ""));
        }
        total += v;
        if total > max_money {
            return Err(Reject::new("bad-txns-txouttotal-toolarge", ""));
        }
    }
    let mut seen = HashSet::with_capacity(tx.input.len());
    for input in &tx.input {
        if !seen.insert(input.previous_output) {
            return Err(Reject::new("bad-txns-inputs-duplicate", ""));
        }
    }
    if tx.is_coinbase() {
        let len = tx.input[0].script_sig.len();
        if !(2..=100).contains(&len) {
            return Err(Reject::new("bad-cb-length", ""));
        }
    } else if tx.input.iter().any(|i| i.previous_output.is_null()) {
        return Err(Reject::new("bad-txns-prevout-null", ""));
    }
    Ok(())
}

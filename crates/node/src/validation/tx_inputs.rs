//! Core's Consensus::CheckTxInputs, the rules on a transaction's spent coins that need no
//! script: coinbase maturity, value ranges and inputs covering outputs. One implementation for
//! block connection (at the block's height) and the mempool (at the next block's height).

use super::Reject;
use crate::chainstate::Coin;
use bitcoin::Transaction;

/// Core's FormatMoney: at least two decimals, trailing zeros trimmed.
pub fn fmt_money(sat: u64) -> String {
    let s = format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000);
    let trimmed = s.trim_end_matches('0');
    let dot = trimmed.find('.').unwrap_or(trimmed.len());
    if trimmed.len() < dot + 3 {
        s[..dot + 3].to_string()
    } else {
        trimmed.to_string()
    }
}

/// Checks `tx`'s spent coins for a spend at `spend_height` (coinbase outputs mature after
/// `maturity` blocks) and returns the fee, with Core's reject reasons and messages.
pub fn check_tx_inputs(tx: &Transaction, coins: &[Coin], spend_height: u32, maturity: u32) -> Result<u64, Reject> {
    let max_money = bitcoin::Amount::MAX_MONEY.to_sat();
    let mut value_in: u64 = 0;
    for c in coins {
        if c.is_coinbase && spend_height.saturating_sub(c.height) < maturity {
            return Err(Reject::new(
                "bad-txns-premature-spend-of-coinbase",
                format!("tried to spend coinbase at depth {}", spend_height.saturating_sub(c.height)),
            ));
        }
        let value = c.output.value.to_sat();
        value_in = value_in.saturating_add(value);
        if value > max_money || value_in > max_money {
            return Err(Reject::new("bad-txns-inputvalues-outofrange", ""));
        }
    }
    // Output values were range-checked by CheckTransaction, so this sum cannot overflow.
    let value_out: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
    if value_in < value_out {
        return Err(Reject::new(
            "bad-txns-in-belowout",
            format!("value in ({}) < value out ({})", fmt_money(value_in), fmt_money(value_out)),
        ));
    }
    let fee = value_in - value_out;
    if fee > max_money {
        return Err(Reject::new("bad-txns-fee-outofrange", ""));
    }
    Ok(fee)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::{absolute::LockTime, transaction::Version, Amount, ScriptBuf, TxOut};

    fn paying(sat: u64) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![],
            output: vec![TxOut {
                value: Amount::from_sat(sat),
                script_pubkey: ScriptBuf::new(),
            }],
        }
    }

    fn coin(value: u64, height: u32, is_coinbase: bool) -> Coin {
        Coin {
            output: TxOut {
                value: Amount::from_sat(value),
                script_pubkey: ScriptBuf::new(),
            },
            height,
            is_coinbase,
        }
    }

    #[test]
    fn core_rules_and_messages() {
        let tx = paying(1_000);
        assert_eq!(check_tx_inputs(&tx, &[coin(1_500, 1, false)], 2, 100), Ok(500));
        let r = check_tx_inputs(&tx, &[coin(1_500, 10, true)], 109, 100).unwrap_err();
        assert_eq!(
            (r.reason.as_str(), r.detail.as_str()),
            ("bad-txns-premature-spend-of-coinbase", "tried to spend coinbase at depth 99")
        );
        assert_eq!(check_tx_inputs(&tx, &[coin(1_500, 10, true)], 110, 100), Ok(500));
        let r = check_tx_inputs(&tx, &[coin(999, 1, false)], 2, 100).unwrap_err();
        assert_eq!(
            (r.reason.as_str(), r.detail.as_str()),
            ("bad-txns-in-belowout", "value in (0.00000999) < value out (0.00001)")
        );
        let max = bitcoin::Amount::MAX_MONEY.to_sat();
        let r = check_tx_inputs(&tx, &[coin(max, 1, false), coin(1, 1, false)], 2, 100).unwrap_err();
        assert_eq!(r.reason, "bad-txns-inputvalues-outofrange");
    }

    #[test]
    fn money_is_formatted_as_core() {
        assert_eq!(fmt_money(0), "0.00");
        assert_eq!(fmt_money(100_000_000), "1.00");
        assert_eq!(fmt_money(1_000), "0.00001");
        assert_eq!(fmt_money(123_456_789), "1.23456789");
        assert_eq!(fmt_money(1_000_000), "0.01");
        assert_eq!(fmt_money(150_000_000), "1.50");
    }
}

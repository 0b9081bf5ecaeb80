//! Core's block-creation options (`-blockmaxweight`, `-blockreservedweight`, `-blockmintxfee`,
//! `-blockversion`): parsed and checked with Core's rules and error wording, then applied to the
//! options block templates are built with.

use super::policy::parse_feerate;
use super::ConfigError;
use crate::mempool::template::{BlockOptions, MIN_RESERVED_WEIGHT};
use crate::validation::tx_check::MAX_BLOCK_WEIGHT;
use bitcoin::Network;

/// The block-creation options given, each `None` when left at the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockCreateArgs {
    /// `-blockmaxweight`.
    pub max_weight: Option<u64>,
    /// `-blockreservedweight`.
    pub reserved_weight: Option<u64>,
    /// `-blockmintxfee`, in sat/kvB.
    pub min_fee: Option<u64>,
    /// `-blockversion` (used on regtest only, as Core).
    pub version: Option<i32>,
}

fn parse_weight(name: &str, v: &str) -> Result<u64, ConfigError> {
    v.trim().parse::<u64>().map_err(|_| ConfigError::BadValue {
        key: name.to_string(),
        value: v.to_string(),
        expected: "a weight in weight units",
    })
}

impl BlockCreateArgs {
    /// Records option `name`; returns false when it is not a block-creation option.
    pub fn set(&mut self, name: &str, v: &str) -> Result<bool, ConfigError> {
        match name {
            "blockmaxweight" => self.max_weight = Some(parse_weight(name, v)?),
            "blockreservedweight" => self.reserved_weight = Some(parse_weight(name, v)?),
            "blockmintxfee" => self.min_fee = Some(parse_feerate(name, v)?),
            "blockversion" => {
                // Core reads an int64 and keeps its low 32 bits.
                let n = v.trim().parse::<i64>().map_err(|_| ConfigError::BadValue {
                    key: name.to_string(),
                    value: v.to_string(),
                    expected: "an integer",
                })?;
                self.version = Some(n as i32);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks the weights as Core's init does (same order, same words) and applies them to `o`.
    pub fn apply(&self, network: Network, o: &mut BlockOptions) -> Result<(), ConfigError> {
        let max = self.max_weight.unwrap_or(o.max_weight);
        let reserved = self.reserved_weight.unwrap_or(o.reserved_weight);
        if max > MAX_BLOCK_WEIGHT {
            return Err(ConfigError::Core(format!(
                "-blockmaxweight ({max}) exceeds consensus maximum block weight ({MAX_BLOCK_WEIGHT})"
            )));
        }
        if reserved > MAX_BLOCK_WEIGHT {
            return Err(ConfigError::Core(format!(
                "-blockreservedweight ({reserved}) exceeds consensus maximum block weight ({MAX_BLOCK_WEIGHT})"
            )));
        }
        if reserved < MIN_RESERVED_WEIGHT {
            return Err(ConfigError::Core(format!(
                "-blockreservedweight ({reserved}) is lower than minimum safety value of ({MIN_RESERVED_WEIGHT})"
            )));
        }
        if reserved > max {
            return Err(ConfigError::Core(format!(
                "-blockreservedweight ({reserved}) exceeds -blockmaxweight ({max})"
            )));
        }
        o.max_weight = max;
        o.reserved_weight = reserved;
        o.min_feerate = self.min_fee.unwrap_or(o.min_feerate);
        o.version = if network == Network::Regtest { self.version } else { None };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(opts: &[(&str, &str)], network: Network) -> Result<BlockOptions, ConfigError> {
        let mut a = BlockCreateArgs::default();
        for (n, v) in opts {
            assert!(a.set(n, v)?, "{n} is a block-creation option");
        }
        let mut o = BlockOptions::default();
        a.apply(network, &mut o)?;
        Ok(o)
    }

    #[test]
    fn options_reach_the_template_options() {
        let o = applied(
            &[
                ("blockmaxweight", "3996000"),
                ("blockreservedweight", "4000"),
                ("blockmintxfee", "0.00002"),
                ("blockversion", "1337"),
            ],
            Network::Regtest,
        )
        .unwrap();
        assert_eq!(
            o,
            BlockOptions {
                max_weight: 3_996_000,
                reserved_weight: 4_000,
                min_feerate: 2_000,
                version: Some(1337)
            }
        );
        // -blockversion only counts where blocks are mined on demand.
        assert_eq!(applied(&[("blockversion", "1337")], Network::Signet).unwrap().version, None);
        assert!(!BlockCreateArgs::default().set("txindex", "1").unwrap());
    }

    #[test]
    fn core_errors_in_cores_order() {
        let err = |opts: &[(&str, &str)]| applied(opts, Network::Regtest).unwrap_err().to_string();
        assert_eq!(
            err(&[("blockmaxweight", "4000001")]),
            "-blockmaxweight (4000001) exceeds consensus maximum block weight (4000000)"
        );
        assert_eq!(
            err(&[("blockreservedweight", "4000001")]),
            "-blockreservedweight (4000001) exceeds consensus maximum block weight (4000000)"
        );
        assert_eq!(
            err(&[("blockreservedweight", "1999")]),
            "-blockreservedweight (1999) is lower than minimum safety value of (2000)"
        );
        assert_eq!(
            err(&[("blockmaxweight", "7999")]),
            "-blockreservedweight (8000) exceeds -blockmaxweight (7999)"
        );
        assert_eq!(err(&[("blockmintxfee", "x")]), "Invalid amount for -blockmintxfee=<amount>: 'x'");
    }
}

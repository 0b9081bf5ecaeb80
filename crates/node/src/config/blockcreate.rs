//! Core's block-creation options (`-blockmaxweight`, `-blockreservedweight`, `-blockmintxfee`,
//! `-blockversion`): parsed and checked with Core's rules and error wording; `launch::settings`
//! applies them to the options block templates are built with.

use super::policy::parse_feerate;
use super::ConfigError;

/// Weight kept free for the block header and coinbase (Core's DEFAULT_BLOCK_RESERVED_WEIGHT).
pub const DEFAULT_RESERVED_WEIGHT: u64 = 8_000;
/// The least `-blockreservedweight` Core accepts (MINIMUM_BLOCK_RESERVED_WEIGHT).
pub const MIN_RESERVED_WEIGHT: u64 = 2_000;
/// The consensus limit on block weight, which is also `-blockmaxweight`'s default.
const MAX_BLOCK_WEIGHT: u64 = bitcoin::Weight::MAX_BLOCK.to_wu();

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

    /// Checks the weights as Core's init does (same order, same words); returns the maximum and
    /// reserved weights in effect.
    pub fn check(&self) -> Result<(u64, u64), ConfigError> {
        let max = self.max_weight.unwrap_or(MAX_BLOCK_WEIGHT);
        let reserved = self.reserved_weight.unwrap_or(DEFAULT_RESERVED_WEIGHT);
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
        Ok((max, reserved))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_in_cores_order() {
        let err = |opts: &[(&str, &str)]| {
            let mut a = BlockCreateArgs::default();
            for (n, v) in opts {
                if !a.set(n, v)? {
                    panic!("{n} is a block-creation option");
                }
            }
            a.check().map(|_| ())
        };
        let err = |opts: &[(&str, &str)]| err(opts).unwrap_err().to_string();
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
        assert!(!BlockCreateArgs::default().set("txindex", "1").unwrap());
    }
}

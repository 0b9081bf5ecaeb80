//! Core's relay-policy options (`-acceptnonstdtxn`, `-permitbaremultisig`, `-minrelaytxfee`,
//! `-incrementalrelayfee`, `-dustrelayfee`, `-datacarrier`, `-datacarriersize` and the
//! `-limitcluster*` cluster limits): parsed with Core's rules and error wording; `launch::settings`
//! applies them to the mempool's settings once the network is known. The old `-limitancestor*` and
//! `-limitdescendant*` options are still accepted (and checked) but, as in Core 31, the mempool
//! no longer enforces ancestor or descendant limits.

use super::ConfigError;
use bitcoin::{Amount, Denomination, Network};

/// Largest `-limitclustercount` (Core's MAX_CLUSTER_COUNT_LIMIT; the mempool's linearizer width,
/// which a launch test keeps equal to `mempool::cluster_limits::MAX_CLUSTER_COUNT`).
pub const MAX_CLUSTER_COUNT: u64 = 64;

/// The policy options given, each `None` when left at the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyArgs {
    /// `-acceptnonstdtxn`: relay and mine non-standard transactions (test networks only).
    pub accept_non_std: Option<bool>,
    /// `-permitbaremultisig`.
    pub permit_bare_multisig: Option<bool>,
    /// `-minrelaytxfee`, in sat/kvB.
    pub min_relay_fee: Option<u64>,
    /// `-incrementalrelayfee`, in sat/kvB.
    pub incremental_relay_fee: Option<u64>,
    /// `-dustrelayfee`, in sat/kvB.
    pub dust_relay_fee: Option<u64>,
    /// `-datacarrier`: relay OP_RETURN outputs at all.
    pub datacarrier: Option<bool>,
    /// `-datacarriersize`: OP_RETURN bytes per transaction.
    pub datacarrier_size: Option<u32>,
    /// `-limitclustercount`.
    pub cluster_count: Option<u64>,
    /// `-limitclustersize`, in kvB.
    pub cluster_size_kvb: Option<u64>,
    /// Block-creation options (`-blockmaxweight`, ...), applied to the template options.
    pub block: super::blockcreate::BlockCreateArgs,
}

/// A fee rate in BTC/kvB as Core's `ParseMoney` reads it, in sat/kvB.
pub(super) fn parse_feerate(name: &str, v: &str) -> Result<u64, ConfigError> {
    Amount::from_str_in(v.trim(), Denomination::Bitcoin)
        .map(|a| a.to_sat())
        .map_err(|_| ConfigError::Core(format!("Invalid amount for -{name}=<amount>: '{v}'")))
}

fn parse_count(name: &str, v: &str, max: u64) -> Result<u64, ConfigError> {
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| ConfigError::BadValue {
            key: name.to_string(),
            value: v.to_string(),
            expected: "a non-negative integer",
        })
}

impl PolicyArgs {
    /// Records option `name` (already stripped of `no`; `flag` is its boolean reading). Returns
    /// false when `name` is not a policy option.
    pub fn set(&mut self, name: &str, v: &str, flag: impl Fn() -> Result<bool, ConfigError>) -> Result<bool, ConfigError> {
        if self.block.set(name, v)? {
            return Ok(true);
        }
        match name {
            "acceptnonstdtxn" => self.accept_non_std = Some(flag()?),
            "permitbaremultisig" => self.permit_bare_multisig = Some(flag()?),
            "datacarrier" => self.datacarrier = Some(flag()?),
            "minrelaytxfee" => self.min_relay_fee = Some(parse_feerate(name, v)?),
            "incrementalrelayfee" => self.incremental_relay_fee = Some(parse_feerate(name, v)?),
            "dustrelayfee" => self.dust_relay_fee = Some(parse_feerate(name, v)?),
            "datacarriersize" => self.datacarrier_size = Some(parse_count(name, v, u64::from(u32::MAX))? as u32),
            "limitclustercount" => {
                let n = parse_count(name, v, u64::MAX)?;
                if !(1..=MAX_CLUSTER_COUNT).contains(&n) {
                    return Err(ConfigError::Core(format!(
                        "-limitclustercount must be between 1 and {MAX_CLUSTER_COUNT}"
                    )));
                }
                self.cluster_count = Some(n);
            }
            "limitclustersize" => self.cluster_size_kvb = Some(parse_count(name, v, 1 << 20)?),
            "limitancestorcount" | "limitancestorsize" | "limitdescendantcount" | "limitdescendantsize" => {
                parse_count(name, v, 1 << 20)?;
                tracing::debug!(target: "blvm::config", option = name, "ignored: the mempool enforces cluster limits instead");
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Refuses what Core refuses per network (`-acceptnonstdtxn` on mainnet) and checks the
    /// block-creation weights.
    pub fn check(&self, network: Network) -> Result<(), ConfigError> {
        if self.accept_non_std == Some(true) && network == Network::Bitcoin {
            return Err(ConfigError::Core(
                "acceptnonstdtxn is not currently supported for main chain".into(),
            ));
        }
        self.block.check().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(opts: &[(&str, &str)]) -> Result<PolicyArgs, ConfigError> {
        let mut p = PolicyArgs::default();
        for (n, v) in opts {
            let b = *v != "0";
            assert!(p.set(n, v, || Ok(b))?, "{n} is a policy option");
        }
        Ok(p)
    }

    #[test]
    fn core_errors() {
        let e = parsed(&[("minrelaytxfee", "abc")]).unwrap_err();
        assert_eq!(e.to_string(), "Invalid amount for -minrelaytxfee=<amount>: 'abc'");
        let p = parsed(&[("acceptnonstdtxn", "1")]).unwrap();
        let e = p.check(Network::Bitcoin).unwrap_err();
        assert_eq!(e.to_string(), "acceptnonstdtxn is not currently supported for main chain");
        assert!(p.check(Network::Regtest).is_ok());
        assert!(!PolicyArgs::default().set("txindex", "1", || Ok(true)).unwrap());
        for bad in ["0", "65"] {
            let e = parsed(&[("limitclustercount", bad)]).unwrap_err();
            assert_eq!(e.to_string(), "-limitclustercount must be between 1 and 64");
        }
        assert!(parsed(&[("limitclustercount", "64")]).is_ok());
    }
}

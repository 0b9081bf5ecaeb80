//! Core's relay-policy options (`-acceptnonstdtxn`, `-permitbaremultisig`, `-minrelaytxfee`,
//! `-incrementalrelayfee`, `-dustrelayfee`, `-datacarrier`, `-datacarriersize` and the
//! `-limitcluster*` cluster limits): parsed with Core's rules and error wording, then applied to
//! the mempool's settings once the network is known. The old `-limitancestor*` and
//! `-limitdescendant*` options are still accepted (and checked) but, as in Core 31, the mempool
//! no longer enforces ancestor or descendant limits.

use super::ConfigError;
use crate::mempool::cluster_limits::MAX_CLUSTER_COUNT;
use crate::mempool::MempoolSettings;
use bitcoin::{Amount, Denomination, Network};

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

    /// Applies the options to `s`, refusing `-acceptnonstdtxn` on mainnet as Core does.
    pub fn apply(&self, network: Network, s: &mut MempoolSettings) -> Result<(), ConfigError> {
        if let Some(accept) = self.accept_non_std {
            if accept && network == Network::Bitcoin {
                return Err(ConfigError::Core(
                    "acceptnonstdtxn is not currently supported for main chain".into(),
                ));
            }
            s.require_standard = !accept;
        }
        if let Some(b) = self.permit_bare_multisig {
            s.permit_bare_multisig = b;
        }
        if let Some(f) = self.min_relay_fee {
            s.min_relay_feerate = f;
        }
        if let Some(f) = self.incremental_relay_fee {
            s.incremental_relay_feerate = f;
        }
        // As Core: without -minrelaytxfee, a higher -incrementalrelayfee raises it too.
        if self.min_relay_fee.is_none() && s.incremental_relay_feerate > s.min_relay_feerate {
            s.min_relay_feerate = s.incremental_relay_feerate;
            tracing::info!(target: "blvm::config", sat_per_kvb = s.min_relay_feerate, "Increasing minrelaytxfee to match incrementalrelayfee");
        }
        if let Some(f) = self.dust_relay_fee {
            s.dust_relay_feerate = f;
        }
        if let Some(n) = self.datacarrier_size {
            s.max_datacarrier_bytes = Some(n);
        }
        if self.datacarrier == Some(false) {
            s.max_datacarrier_bytes = None;
        }
        self.block.apply(network, &mut s.block)?;
        let l = &mut s.limits;
        l.cluster_count = self.cluster_count.unwrap_or(l.cluster_count);
        l.cluster_size_vbytes = self.cluster_size_kvb.map_or(l.cluster_size_vbytes, |k| k * 1000);
        Ok(())
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
    fn options_reach_the_mempool_settings() {
        let p = parsed(&[
            ("acceptnonstdtxn", "1"),
            ("permitbaremultisig", "0"),
            ("minrelaytxfee", "0.00002"),
            ("dustrelayfee", "0"),
            ("datacarriersize", "42"),
            ("limitancestorcount", "3"),
            ("limitclustercount", "10"),
            ("limitclustersize", "50"),
        ])
        .unwrap();
        let mut s = MempoolSettings::default();
        p.apply(Network::Regtest, &mut s).unwrap();
        assert!(!s.require_standard && !s.permit_bare_multisig);
        assert_eq!((s.min_relay_feerate, s.dust_relay_feerate), (2000, 0));
        assert_eq!(s.max_datacarrier_bytes, Some(42));
        assert_eq!((s.limits.cluster_count, s.limits.cluster_size_vbytes), (10, 50_000));
        // A higher incremental relay fee raises the minimum relay fee unless that was given.
        let p = parsed(&[("incrementalrelayfee", "0.00000234")]).unwrap();
        let mut t = MempoolSettings::default();
        p.apply(Network::Regtest, &mut t).unwrap();
        assert_eq!((t.incremental_relay_feerate, t.min_relay_feerate), (234, 234));
        let p = parsed(&[("incrementalrelayfee", "0.00000234"), ("minrelaytxfee", "0.000002")]).unwrap();
        let mut t = MempoolSettings::default();
        p.apply(Network::Regtest, &mut t).unwrap();
        assert_eq!(t.min_relay_feerate, 200);
        let p = parsed(&[("datacarrier", "0")]).unwrap();
        p.apply(Network::Regtest, &mut s).unwrap();
        assert_eq!(s.max_datacarrier_bytes, None);
    }

    #[test]
    fn core_errors() {
        let e = parsed(&[("minrelaytxfee", "abc")]).unwrap_err();
        assert_eq!(e.to_string(), "Invalid amount for -minrelaytxfee=<amount>: 'abc'");
        let p = parsed(&[("acceptnonstdtxn", "1")]).unwrap();
        let e = p.apply(Network::Bitcoin, &mut MempoolSettings::default()).unwrap_err();
        assert_eq!(e.to_string(), "acceptnonstdtxn is not currently supported for main chain");
        assert!(!PolicyArgs::default().set("txindex", "1", || Ok(true)).unwrap());
        for bad in ["0", "65"] {
            let e = parsed(&[("limitclustercount", bad)]).unwrap_err();
            assert_eq!(e.to_string(), "-limitclustercount must be between 1 and 64");
        }
        assert!(parsed(&[("limitclustercount", "64")]).is_ok());
    }
}

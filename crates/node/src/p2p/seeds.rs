//! Bootstrap sources: the DNS seeds of each network (the hostnames Bitcoin Core uses) and the
//! fixed seed addresses tried when DNS gives nothing.

use bitcoin::Network;
use std::net::SocketAddr;

/// DNS seed hostnames of `network` (none on regtest).
pub fn dns_seeds(network: Network) -> &'static [&'static str] {
    match network {
        Network::Bitcoin => &[
            "seed.bitcoin.sipa.be",
            "dnsseed.bluematt.me",
            "seed.bitcoin.jonasschnelli.ch",
            "seed.btc.petertodd.net",
            "seed.bitcoin.sprovoost.nl",
            "dnsseed.emzy.de",
            "seed.bitcoin.wiz.biz",
            "seed.mainnet.achownodes.xyz",
        ],
        Network::Testnet => &[
            "testnet-seed.bitcoin.jonasschnelli.ch",
            "seed.tbtc.petertodd.net",
            "seed.testnet.bitcoin.sprovoost.nl",
            "testnet-seed.bluematt.me",
            "seed.testnet.achownodes.xyz",
        ],
        Network::Testnet4 => &["seed.testnet4.bitcoin.sprovoost.nl", "seed.testnet4.wiz.biz"],
        Network::Signet => &["seed.signet.bitcoin.sprovoost.nl", "seed.signet.achownodes.xyz"],
        _ => &[],
    }
}

/// Fixed seed addresses of `network`, used when the address manager is still empty a minute
/// after DNS seeding. Shipped empty: a maintained list must be generated from current network
/// data (as Core's contrib/seeds does), and a stale list would only point at dead hosts.
pub fn fixed_seeds(_network: Network) -> Vec<SocketAddr> {
    Vec::new()
}

/// Resolves `host` (with `port`) to socket addresses; failures give an empty list.
pub async fn resolve(host: &str, port: u16) -> Vec<SocketAddr> {
    match tokio::time::timeout(std::time::Duration::from_secs(10), tokio::net::lookup_host((host, port))).await {
        Ok(Ok(it)) => it.take(256).collect(),
        Ok(Err(e)) => {
            tracing::debug!(target: "blvm::net", seed = host, "DNS lookup failed: {e}");
            Vec::new()
        }
        Err(_) => {
            tracing::debug!(target: "blvm::net", seed = host, "DNS lookup timed out");
            Vec::new()
        }
    }
}

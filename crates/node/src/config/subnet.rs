//! IP subnets as Core's `CSubNet` (`ip`, `ip/len`, `ip/netmask`): `-rpcallowip` values here,
//! and the ban list and `-whitelist` in P2P, which re-export them.

use std::net::IpAddr;

/// An IPv4 or IPv6 subnet (an address with a prefix length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    /// Network address (host bits cleared).
    pub addr: IpAddr,
    /// Prefix length (32 or 128 for a single address).
    pub prefix: u8,
}

fn mask_bits(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl Subnet {
    /// The single-address subnet of `ip`.
    pub fn single(ip: IpAddr) -> Self {
        let ip = canonical(ip);
        Subnet {
            addr: ip,
            prefix: if ip.is_ipv4() { 32 } else { 128 },
        }
    }

    /// Parses "ip", "ip/len" or "ip/netmask".
    pub fn parse(s: &str) -> Option<Subnet> {
        let (ip, mask) = match s.split_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (s, None),
        };
        // As Core's LookupHost: an address may come in brackets ("[::1]").
        let ip = ip.trim();
        let ip = ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')).unwrap_or(ip);
        let ip = canonical(ip.parse::<IpAddr>().ok()?);
        let max = if ip.is_ipv4() { 32u8 } else { 128u8 };
        let prefix = match mask {
            None => max,
            Some(m) => match m.parse::<u8>() {
                Ok(p) if p <= max => p,
                Ok(_) => return None,
                Err(_) => {
                    let mask_ip = canonical(m.parse::<IpAddr>().ok()?);
                    let bits: u128 = match (mask_ip, ip) {
                        (IpAddr::V4(m), IpAddr::V4(_)) => u128::from(u32::from(m)) << 96,
                        (IpAddr::V6(m), IpAddr::V6(_)) => u128::from(m),
                        _ => return None,
                    };
                    let ones = bits.leading_ones();
                    if bits.count_ones() != ones {
                        return None;
                    }
                    ones as u8
                }
            },
        };
        Some(Subnet {
            addr: mask_bits(ip, prefix),
            prefix,
        })
    }

    /// Whether this is a single address (not a range).
    pub fn is_single(&self) -> bool {
        self.prefix == if self.addr.is_ipv4() { 32 } else { 128 }
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.addr.is_ipv4() && mask_bits(ip, self.prefix) == self.addr
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

//! Our own addresses (Core's mapLocalHost): the public addresses given with `-externalip`, which
//! the node lists in `getnetworkinfo.localaddresses` and announces to peers (Core's
//! AdvertiseLocal), so others can learn how to reach us.

use rand::Rng;
use std::net::{IpAddr, SocketAddr};

/// Mean interval between self-announcements to one peer (Core's
/// AVG_LOCAL_ADDRESS_BROADCAST_INTERVAL, 24 hours; exponentially distributed).
pub const SELF_ANNOUNCE_INTERVAL: i64 = 24 * 3600;
/// Score of an address the operator gave (Core's LOCAL_MANUAL), shown in `localaddresses`.
pub const LOCAL_MANUAL: u32 = 4;

/// One address of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalAddr {
    /// An IPv4 or IPv6 address and port.
    Ip(SocketAddr),
    /// A Tor v3 hidden service (listed only: blvm has no Tor support to be reached through).
    Onion(String, u16),
}

impl LocalAddr {
    /// Parses an `-externalip` value: IP, IP:port, [IPv6]:port, or a Tor v3 `.onion` with an
    /// optional `:port`; `port` is used when none is given (Core's GetListenPort).
    pub fn parse(s: &str, port: u16) -> Option<LocalAddr> {
        let s = s.trim();
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Some(LocalAddr::Ip(SocketAddr::new(sa.ip().to_canonical(), sa.port())));
        }
        if let Ok(ip) = s.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return Some(LocalAddr::Ip(SocketAddr::new(ip.to_canonical(), port)));
        }
        let (host, p) = match s.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().ok()?),
            None => (s, port),
        };
        super::onion::parse_v3(host).map(|h| LocalAddr::Onion(h, p))
    }

    /// The address without the port, as `localaddresses` shows it.
    pub fn host(&self) -> String {
        match self {
            LocalAddr::Ip(a) => a.ip().to_string(),
            LocalAddr::Onion(h, _) => h.clone(),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        match self {
            LocalAddr::Ip(a) => a.port(),
            LocalAddr::Onion(_, p) => *p,
        }
    }
}

/// When the next self-announcement to a peer is due: `now` plus an exponentially distributed
/// delay with mean [`SELF_ANNOUNCE_INTERVAL`] (so peers cannot tell our announcements apart by
/// their timing), in UNIX seconds of the mockable clock.
pub fn next_announcement(now: i64) -> i64 {
    let u: f64 = rand::thread_rng().gen_range(f64::MIN_POSITIVE..1.0);
    let delay = (-u.ln() * SELF_ANNOUNCE_INTERVAL as f64).min(100.0 * SELF_ANNOUNCE_INTERVAL as f64);
    now.saturating_add(delay as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_externalip_forms() {
        assert_eq!(
            LocalAddr::parse("42.42.42.42", 18444),
            Some(LocalAddr::Ip("42.42.42.42:18444".parse().unwrap()))
        );
        assert_eq!(
            LocalAddr::parse("1.2.3.4:5", 18444),
            Some(LocalAddr::Ip("1.2.3.4:5".parse().unwrap()))
        );
        assert_eq!(LocalAddr::parse("[2001:db8::1]:7", 1).unwrap().port(), 7);
        assert_eq!(LocalAddr::parse("2001:db8::1", 9).unwrap().host(), "2001:db8::1");
        let onion = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion";
        assert_eq!(LocalAddr::parse(onion, 3), Some(LocalAddr::Onion(onion.into(), 3)));
        assert_eq!(LocalAddr::parse(&format!("{onion}:4"), 3).unwrap().port(), 4);
        assert_eq!(LocalAddr::parse("example.com", 3), None);
        let now = 1_700_000_000;
        assert!((0..100).all(|_| next_announcement(now) >= now));
    }
}

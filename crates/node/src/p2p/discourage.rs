//! Discouraged addresses: peers that misbehaved, remembered in memory only (as Core's rolling
//! bloom filter of 50,000 entries, here an exact set that forgets its oldest entries). A
//! discouraged address is not dialled, is the first evicted, and is refused inbound when the
//! inbound slots are nearly full; it is never written to `banlist.json`, which holds only the
//! operator's `setban` entries, so misbehaving peers cannot grow the file or the ban list.

use super::ban::canonical;
use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;

/// Addresses remembered (Core's rolling filter size): about 3 MB at most.
pub const MAX_DISCOURAGED: usize = 50_000;

/// The set of discouraged addresses, bounded by [`MAX_DISCOURAGED`].
#[derive(Debug, Default)]
pub struct Discouraged {
    set: HashSet<IpAddr>,
    order: VecDeque<IpAddr>,
}

impl Discouraged {
    /// Remembers `ip` (IPv4-mapped IPv6 as IPv4); the oldest entry goes when full.
    pub fn insert(&mut self, ip: IpAddr) {
        let ip = canonical(ip);
        if !self.set.insert(ip) {
            return;
        }
        self.order.push_back(ip);
        while self.order.len() > MAX_DISCOURAGED {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    /// Whether `ip` misbehaved recently.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.set.contains(&canonical(ip))
    }

    /// Forgets everything (`clearbanned`, as Core).
    pub fn clear(&mut self) {
        self.set.clear();
        self.order.clear();
    }

    /// Number of addresses remembered.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_forgets_the_oldest() {
        let mut d = Discouraged::default();
        for i in 0..(MAX_DISCOURAGED as u32 + 1_000) {
            d.insert(IpAddr::from(i.to_be_bytes()));
        }
        assert_eq!(d.len(), MAX_DISCOURAGED);
        assert_eq!(d.order.len(), MAX_DISCOURAGED);
        assert!(!d.contains(IpAddr::from(0u32.to_be_bytes())), "oldest forgotten");
        assert!(d.contains(IpAddr::from((MAX_DISCOURAGED as u32 + 999).to_be_bytes())));
        assert!(d.contains("::ffff:0.0.195.80".parse().unwrap()), "mapped IPv6 is the IPv4 address");
        d.clear();
        assert!(d.is_empty());
    }
}

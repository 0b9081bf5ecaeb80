//! Address relay: answering `getaddr` (inbound peers, once per connection, from the cache in
//! [`super::addr_cache`]) and rate-limited `addr`/`addrv2` from peers into the address manager.

use super::ban;
use super::codec;
use super::manager::Manager;
use super::peer::ConnType;
use super::PeerId;
use bitcoin::p2p::address::{AddrV2, AddrV2Message, Address};
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::ServiceFlags;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// Addresses a peer may send per second (token bucket refill), as Core's MAX_ADDR_RATE_PER_SECOND.
pub const ADDR_RATE: f64 = 0.1;

impl Manager {
    /// A `getaddr`: answered for inbound peers only, once per connection, with a sample of the
    /// address manager (cached per local address unless the peer has the `addr` permission).
    pub(super) fn on_getaddr(&mut self, id: PeerId) {
        // An inbound peer asking for addresses gets them from now on, our own first.
        if self.peers.get(&id).is_some_and(|p| p.conn_type == ConnType::Inbound) {
            self.start_addr_relay(id);
        }
        let Some(p) = self.peers.get_mut(&id) else { return };
        // Only inbound peers are answered, once per connection (as Core, against fingerprinting),
        // and the flag is checked before the address manager is sampled.
        if p.conn_type != ConnType::Inbound || p.answered_getaddr {
            return;
        }
        p.answered_getaddr = true;
        let local = p.handle.shared.local_addr;
        let addrv2 = p.info.as_ref().is_some_and(|i| i.addrv2);
        let uncached = p.handle.shared.permissions.addr;
        // As Core: the answer comes from a cache per local address (a peer with the `addr`
        // permission gets a fresh sample), and what was banned or discouraged when it was
        // drawn is left out.
        let (addrman, net) = (&self.addrman, &self.net);
        let fill = || {
            let mut s = addrman.sample(crate::clock::unix_now());
            s.retain(|a| !net.is_banned_or_discouraged(a.addr.ip()));
            s
        };
        let fresh;
        let sample = if uncached {
            fresh = fill();
            &fresh[..]
        } else {
            self.addr_cache.get(local, crate::clock::unix_now(), fill)
        };
        let msg = if addrv2 {
            NetworkMessage::AddrV2(
                sample
                    .iter()
                    .map(|a| AddrV2Message {
                        time: a.time.clamp(0, i64::from(u32::MAX)) as u32,
                        services: ServiceFlags::from(a.services),
                        addr: match ban::canonical(a.addr.ip()) {
                            IpAddr::V4(v4) => AddrV2::Ipv4(v4),
                            IpAddr::V6(v6) => AddrV2::Ipv6(v6),
                        },
                        port: a.addr.port(),
                    })
                    .collect(),
            )
        } else {
            NetworkMessage::Addr(
                sample
                    .iter()
                    .map(|a| {
                        (
                            a.time.clamp(0, i64::from(u32::MAX)) as u32,
                            Address::new(&a.addr, ServiceFlags::from(a.services)),
                        )
                    })
                    .collect(),
            )
        };
        self.send(id, msg);
    }

    /// `addpeeraddress`: the address as if it announced itself (its own source), with Core's
    /// services for it (NODE_NETWORK | NODE_WITNESS), then moved to the tried table if asked.
    pub(super) fn add_peer_address(&mut self, addr: SocketAddr, tried: bool) -> Result<(), &'static str> {
        let services = (ServiceFlags::NETWORK | ServiceFlags::WITNESS).to_u64();
        let now = crate::clock::unix_now();
        if self.addrman.add(&[(addr, services, now)], addr.ip(), now) == 0 {
            tracing::debug!(target: "blvm::net", %addr, "addpeeraddress: not added to the new table");
            return Err("failed-adding-to-new");
        }
        if tried && !self.addrman.good(&addr, services, now) {
            return Err("failed-adding-to-tried");
        }
        Ok(())
    }

    /// An `addr`/`addrv2`: addresses under the rate limit go to the address manager; an addr-fetch
    /// peer that sent more than one address is then disconnected.
    pub(super) fn on_addr(&mut self, id: PeerId, addrs: Vec<(SocketAddr, u64, i64)>) {
        if self.peers.get(&id).is_some_and(|p| p.conn_type == ConnType::Inbound) {
            self.start_addr_relay(id);
        }
        let Some(p) = self.peers.get_mut(&id) else { return };
        if !p.conn_type.relays_txs() && p.conn_type != ConnType::AddrFetch {
            return;
        }
        let rate_limited = !p.handle.shared.permissions.addr;
        // Token bucket (Core's MAX_ADDR_RATE_PER_SECOND): a burst of 1000 after our getaddr,
        // 0.1 per second after that; the excess is ignored. The `addr` permission skips it.
        let now = Instant::now();
        let cap = codec::MAX_ADDR_TO_SEND as f64;
        p.addr_tokens = (p.addr_tokens + now.duration_since(p.addr_refill).as_secs_f64() * ADDR_RATE).min(cap);
        if !p.answered_getaddr && p.conn_type != ConnType::Inbound && p.addr_tokens < cap && p.addr_refill == p.connected {
            p.addr_tokens = cap;
        }
        p.addr_refill = now;
        let allowed = if rate_limited {
            (p.addr_tokens.floor() as usize).min(addrs.len())
        } else {
            addrs.len()
        };
        p.addr_tokens = (p.addr_tokens - allowed as f64).max(0.0);
        let addr_of = p.addr();
        let source = addr_of.ip();
        let kind = p.conn_type;
        for (a, _, _) in &addrs[..allowed] {
            tracing::debug!(target: "blvm::net", "address {a} from peer={id}");
        }
        let n = self.addrman.add(&addrs[..allowed], source, crate::clock::unix_now());
        tracing::debug!(target: "blvm::net", peer = id, received = addrs.len(), processed = allowed, added = n, "addresses received");
        if n > 0 {
            tracing::debug!(target: "blvm::net", "Added {n} addresses (of {allowed}) from {source}");
        }
        // As Core: more than one address, so a self-announcement does not end the connection.
        if kind == ConnType::AddrFetch && addrs.len() > 1 {
            let label = self.peer_label(id, addr_of);
            tracing::debug!(target: "blvm::net", "addrfetch connection completed, disconnecting {label}");
            self.disconnect(id, "addrfetch connection completed");
        }
    }
}

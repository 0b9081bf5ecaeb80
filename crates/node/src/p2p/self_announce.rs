//! Self-announcement (Core's MaybeSendAddr with AdvertiseLocal): peers we relay addresses to
//! get our `-externalip` address, first in a message of its own right after address relay
//! starts, then again about once a day, so the network learns how to reach us.

use super::local_addr::{self, LocalAddr};
use super::manager::Manager;
use super::peer::ConnType;
use super::PeerId;
use bitcoin::p2p::address::{AddrV2, AddrV2Message, Address};
use bitcoin::p2p::message::NetworkMessage;
use std::net::{IpAddr, SocketAddr};

impl Manager {
    /// Address relay to the peer starts (Core's SetupAddressRelay): at the handshake for
    /// outbound peers that relay addresses, at its first addr, addrv2 or getaddr for an inbound
    /// one; the first self-announcement goes out at once.
    pub(super) fn start_addr_relay(&mut self, id: PeerId) {
        let Some(p) = self.peers.get_mut(&id) else { return };
        if p.addr_relay || matches!(p.conn_type, ConnType::BlockRelayOnly | ConnType::Feeler) {
            return;
        }
        p.addr_relay = true;
        if let Some(local) = self.announced_address() {
            self.maybe_self_announce(id, local);
        }
    }

    /// Every peer whose next self-announcement is due gets it (the tick and `setmocktime`).
    pub(super) fn self_announce_all(&mut self) {
        let Some(local) = self.announced_address() else { return };
        let ids: Vec<PeerId> = self.peers.iter().filter(|(_, p)| p.addr_relay).map(|(i, _)| *i).collect();
        for id in ids {
            self.maybe_self_announce(id, local);
        }
    }

    /// Sends our address `local` to the peer if an announcement is due, with our services and
    /// the current time.
    fn maybe_self_announce(&mut self, id: PeerId, local: SocketAddr) {
        let now = crate::clock::unix_now();
        let Some(p) = self.peers.get_mut(&id) else { return };
        if !p.addr_relay || p.handle.shared.is_closing() || p.next_self_announce.is_some_and(|t| t > now) {
            return;
        }
        p.next_self_announce = Some(local_addr::next_announcement(now));
        let addrv2 = p.info.as_ref().is_some_and(|i| i.addrv2);
        let services = super::peer::local_services(
            self.s.peer_bloom_filters,
            self.s.v2transport,
            self.s.peer_block_filters,
            self.net.serves_limited(),
        );
        let time = now.clamp(0, i64::from(u32::MAX)) as u32;
        tracing::debug!(target: "blvm::net", "Advertising address {local} to peer={id}");
        let msg = if addrv2 {
            let addr = match local.ip() {
                IpAddr::V4(v4) => AddrV2::Ipv4(v4),
                IpAddr::V6(v6) => AddrV2::Ipv6(v6),
            };
            NetworkMessage::AddrV2(vec![AddrV2Message {
                time,
                services,
                addr,
                port: local.port(),
            }])
        } else {
            NetworkMessage::Addr(vec![(time, Address::new(&local, services))])
        };
        self.send(id, msg);
    }

    /// The address we announce, if any: the first routable IP `-externalip` (blvm looks up no
    /// interface addresses), only while we listen and are out of initial block download, as
    /// Core.
    fn announced_address(&self) -> Option<SocketAddr> {
        if self.s.external.is_empty() || !self.s.listen || self.net.listening().is_empty() {
            return None;
        }
        let local = self.s.external.iter().find_map(|a| match a {
            LocalAddr::Ip(sa) if super::addrman::is_usable(sa, false) => Some(*sa),
            _ => None,
        })?;
        let ibd = self.in_ibd();
        (!ibd).then_some(local)
    }
}

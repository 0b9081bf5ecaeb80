//! BIP37 filter messages (`filterload`, `filteradd`, `filterclear`) as Core's net_processing
//! handles them: refused (disconnect) unless we offer NODE_BLOOM to the peer, limits enforced
//! as misbehaviour, one filter per peer, and a loaded or cleared filter turning transaction
//! relay on (which may need an inbound transaction-relay slot).

use super::bloom::{BloomFilter, MAX_FILTERADD_SIZE};
use super::manager::Manager;
use super::peer::ConnType;
use super::PeerId;
use bitcoin::p2p::message_bloom::{FilterAdd, FilterLoad};
use std::sync::atomic::Ordering;

impl Manager {
    /// Whether the peer may use filter messages (we offer it NODE_BLOOM); if not, it is
    /// disconnected with Core's line, as Core does.
    fn bloom_allowed(&self, id: PeerId, command: &str) -> bool {
        let Some(p) = self.peers.get(&id) else { return false };
        if self.s.offers_bloom(p.handle.shared.permissions) {
            return true;
        }
        let label = self.peer_label(id, p.addr());
        tracing::debug!(target: "blvm::net", "{command} received despite not offering bloom services, disconnecting {label}");
        self.disconnect(id, &format!("{command} received despite not offering bloom services"));
        false
    }

    /// `filterload`: replaces the peer's filter; too large a filter is misbehaviour. Block-relay
    /// connections keep no transaction relay state, so theirs is ignored.
    pub(super) fn on_filter_load(&mut self, id: PeerId, f: FilterLoad) {
        if !self.bloom_allowed(id, "filterload") {
            return;
        }
        let filter = BloomFilter::from(f);
        if !filter.is_within_size_constraints() {
            self.misbehaving(id, "too-large bloom filter");
            return;
        }
        let Some(p) = self.peers.get(&id) else { return };
        if !p.conn_type.relays_txs() {
            return;
        }
        *p.handle.shared.bloom() = Some(filter);
        self.enable_filter_relay(id, "filterload");
    }

    /// `filteradd`: one element (at most a script push) into the loaded filter; too large an
    /// element, or no filter loaded, is misbehaviour.
    pub(super) fn on_filter_add(&mut self, id: PeerId, f: FilterAdd) {
        if !self.bloom_allowed(id, "filteradd") {
            return;
        }
        let Some(p) = self.peers.get(&id) else { return };
        let bad = if f.data.len() > MAX_FILTERADD_SIZE {
            true
        } else if p.conn_type.relays_txs() {
            match p.handle.shared.bloom().as_mut() {
                Some(filter) => {
                    filter.insert(&f.data);
                    false
                }
                None => true,
            }
        } else {
            false
        };
        if bad {
            self.misbehaving(id, "bad filteradd message");
        }
    }

    /// `filterclear`: drops the filter; every transaction is announced again.
    pub(super) fn on_filter_clear(&mut self, id: PeerId) {
        if !self.bloom_allowed(id, "filterclear") {
            return;
        }
        let Some(p) = self.peers.get(&id) else { return };
        if !p.conn_type.relays_txs() {
            return;
        }
        *p.handle.shared.bloom() = None;
        self.enable_filter_relay(id, "filterclear");
    }

    /// A filter message turns transaction relay on (Core sets m_relay_txs): an inbound peer that
    /// did not relay before now needs a transaction-relay slot, and may be dropped for want of one.
    fn enable_filter_relay(&mut self, id: PeerId, command: &str) {
        let Some(p) = self.peers.get_mut(&id) else { return };
        p.handle.shared.filter_relay.store(true, Ordering::Relaxed);
        let was = std::mem::replace(&mut p.relay.relay_txs, true);
        if !was && p.conn_type == ConnType::Inbound {
            self.make_tx_relay_room(id, command);
        }
    }
}

//! `getblockfrompeer`: asking one chosen peer for a block whose header we have (typically a
//! stale fork block, for research or to recover a pruned block), as Core's FetchBlock. The
//! block counts as requested, so it is stored on arrival even with less work than the tip.

use super::manager::Manager;
use super::PeerId;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::BlockHash;
use std::time::Instant;

impl Manager {
    /// Sends `getdata` for `hash` to `id` and records it in flight there, after dropping any
    /// earlier request for it. The error is Core's message for the RPC.
    pub(super) fn fetch_block(&mut self, id: PeerId, hash: BlockHash) -> Result<(), String> {
        let Some(p) = self.peers.get(&id) else {
            return Err("Peer does not exist".into());
        };
        if !p.ready || p.handle.shared.is_closing() {
            return Err("Peer not fully connected".into());
        }
        if !p.sync.witness {
            return Err("Pre-SegWit peer".into());
        }
        // Forget every earlier request for the block, whoever it went to.
        if let Some(holder) = self.sync.requested.remove(&hash) {
            if let Some(h) = self.peers.get_mut(&holder) {
                h.sync.in_flight.remove(&hash);
            }
        }
        let Some(p) = self.peers.get_mut(&id) else {
            return Err("Peer does not exist".into());
        };
        p.sync.in_flight.insert(hash, Instant::now());
        self.sync.requested.insert(hash, id);
        tracing::debug!(target: "blvm::net", peer = id, block = %hash, "Requesting block {hash} from peer={id}");
        self.send(id, NetworkMessage::GetData(vec![Inventory::WitnessBlock(hash)]));
        Ok(())
    }
}

//! Core's NODE_NETWORK_LIMITED rules (BIP159): a pruned node serves only its last 288 blocks
//! (plus 2 for races) and disconnects a peer asking for older ones, so its prune height does not
//! leak; a downloading node asks a limited peer only for blocks it is sure to have.

use crate::chain::ChainManager;
use bitcoin::hashes::Hash;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::p2p::ServiceFlags;
use bitcoin::BlockHash;

/// Core's NODE_NETWORK_LIMITED_MIN_BLOCKS: the blocks a limited peer keeps.
pub const NODE_NETWORK_LIMITED_MIN_BLOCKS: u32 = 288;

/// Whether these services mean "only recent blocks" (NODE_NETWORK_LIMITED without NODE_NETWORK).
pub fn is_limited(services: u64) -> bool {
    services & ServiceFlags::NETWORK_LIMITED.to_u64() != 0 && services & ServiceFlags::NETWORK.to_u64() == 0
}

/// The block a `getdata` entry asks for (block, witness block, filtered block, compact block).
pub fn block_of(inv: &Inventory) -> Option<BlockHash> {
    match inv {
        Inventory::Block(h) | Inventory::WitnessBlock(h) | Inventory::CompactBlock(h) => Some(*h),
        Inventory::Unknown {
            inv_type: super::bloom::MSG_FILTERED_BLOCK,
            hash,
        } => Some(BlockHash::from_byte_array(*hash)),
        _ => None,
    }
}

/// Whether a known block lies more than 288 + 2 blocks below our tip (Core's ProcessGetBlockData
/// test; unknown blocks are left to the normal answer).
pub fn below_threshold(c: &ChainManager, h: &BlockHash) -> bool {
    c.entry(h)
        .is_some_and(|e| c.height().saturating_sub(e.height) > NODE_NETWORK_LIMITED_MIN_BLOCKS + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_means_network_limited_without_network() {
        let lim = (ServiceFlags::NETWORK_LIMITED | ServiceFlags::WITNESS).to_u64();
        let full = (ServiceFlags::NETWORK | ServiceFlags::NETWORK_LIMITED | ServiceFlags::WITNESS).to_u64();
        assert!(is_limited(lim));
        assert!(!is_limited(full));
        assert!(!is_limited(ServiceFlags::WITNESS.to_u64()));
    }
}

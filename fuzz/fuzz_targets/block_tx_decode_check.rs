//! Block and transaction decoding plus the block checks in the order the engine runs them:
//! `check_transaction` on any transaction that decodes; for a block, the merkle root is fixed up
//! and the header re-mined on regtest (so inputs get past proof of work and the merkle check),
//! then `check_block`, and `contextual_check_block` only when `check_block` passed (its
//! precondition in the engine: it indexes the coinbase's input without checking).
#![no_main]

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::{Block, Transaction, TxMerkleNode};
use blvm_node::params::ChainParams;
use blvm_node::validation::block_check::{check_block, contextual_check_block};
use blvm_node::validation::tx_check::check_transaction;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn params() -> &'static ChainParams {
    static P: OnceLock<ChainParams> = OnceLock::new();
    P.get_or_init(|| ChainParams::for_network(bitcoin::Network::Regtest))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = deserialize::<Transaction>(data) {
        let _ = check_transaction(&tx);
        assert_eq!(
            deserialize::<Transaction>(&serialize(&tx)).ok().as_ref(),
            Some(&tx),
            "transaction round trip"
        );
    }
    let Ok(mut block) = deserialize::<Block>(data) else { return };
    if data[0] & 1 == 0 {
        if let Some(root) = block.compute_merkle_root() {
            block.header.merkle_root = root;
        } else {
            block.header.merkle_root = TxMerkleNode::all_zeros();
        }
        for _ in 0..64 {
            if block.header.target().is_met_by(block.block_hash()) {
                break;
            }
            block.header.nonce = block.header.nonce.wrapping_add(1);
        }
    }
    if check_block(&block, params()).is_ok() {
        let height = u32::from_le_bytes([data[1 % data.len()], data[2 % data.len()], 0, 0]);
        let mtp = i64::from(block.header.time) - i64::from(data[3 % data.len()]);
        let _ = contextual_check_block(&block, height, mtp, params());
    }
});

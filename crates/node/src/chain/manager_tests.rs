//! Unit tests of `ChainManager` internals that the public API cannot reach directly.

use super::*;
use bitcoin::block::Version;
use bitcoin::hashes::Hash;
use bitcoin::TxMerkleNode;

/// A regtest header on `prev` that meets its (minimum-difficulty) target.
fn mine_header(prev: &Header, n: u32) -> Header {
    let mut h = Header {
        version: Version::from_consensus(0x2000_0000),
        prev_blockhash: prev.block_hash(),
        merkle_root: TxMerkleNode::from_byte_array([n as u8; 32]),
        time: prev.time + 1,
        bits: prev.bits,
        nonce: 0,
    };
    while h.validate_pow(h.target()).is_err() {
        h.nonce += 1;
    }
    h
}

#[test]
fn ancestor_headers_answers_like_ancestor_at_any_order_of_heights() {
    let dir = tempfile::tempdir().unwrap();
    let params = ChainParams::for_network(bitcoin::Network::Regtest);
    let mut cm = ChainManager::open(params, dir.path(), ChainSettings::default()).unwrap();
    // 300 headers ahead of the active chain (only genesis is active), as in headers-first sync.
    let mut prev = cm.tip().header;
    for n in 0..300 {
        let h = mine_header(&prev, n);
        cm.accept_header(&h).unwrap().unwrap();
        prev = h;
    }
    let tip_hash = prev.block_hash();
    let from = cm.entry(&tip_hash).unwrap();
    assert_eq!(from.height, 300);
    let want = |h: u32| cm.ancestor(&tip_hash, h).map(|e| e.header);
    // Falling heights, one step at a time (the min-difficulty walk), then jumps, then rising.
    let walk = cm.ancestor_headers(from);
    for h in (0..=300).rev() {
        assert_eq!(walk(h), want(h), "height {h}");
    }
    let jumps = cm.ancestor_headers(from);
    for h in [299, 250, 251, 17, 300, 0, 301, 120] {
        assert_eq!(jumps(h), want(h), "height {h}");
    }
    assert_eq!(jumps(301), None);
}

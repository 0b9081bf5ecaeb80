//! `process_prepared` (context-free checks done ahead, on the import reader thread) against
//! `process_block`: the same outcome, reject reason and chain for valid and invalid blocks.

use super::tests::{coinbase_spend_block, double_spend_block, regtest_chain};
use super::*;
use crate::validation::prepared::PreparedBlock;

fn open(dir: &Path) -> ChainManager {
    let settings = ChainSettings {
        blocks_xor: false,
        ..Default::default()
    };
    ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), dir, settings).unwrap()
}

/// Hands `block` to both managers (one prepared with `raw` as its file bytes) and checks they
/// agree on the outcome and the resulting tip; returns the outcome.
fn both(plain: &mut ChainManager, ahead: &mut ChainManager, block: &Block, raw: Vec<u8>) -> BlockOutcome {
    let want = plain.process_block(block).unwrap();
    let prepared = PreparedBlock::new(block.clone(), raw, &ahead.params().clone());
    let (got, back) = ahead.process_prepared(prepared).unwrap();
    assert_eq!(&back.block, block, "the block is handed back unchanged");
    assert_eq!(back.facts.hash, block.block_hash(), "with its own facts");
    assert_eq!(got, want, "block {}", block.block_hash());
    assert_eq!(ahead.tip().hash, plain.tip().hash);
    assert_eq!(
        ahead.entry(&block.block_hash()).map(|e| e.status),
        plain.entry(&block.block_hash()).map(|e| e.status)
    );
    assert!(ahead.prepared.is_none(), "the facts do not outlive the block");
    want
}

#[test]
fn prepared_blocks_get_the_outcomes_of_process_block() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut plain, mut ahead) = (open(d1.path()), open(d2.path()));
    let blocks = regtest_chain(110);
    for b in &blocks[..105] {
        let out = both(&mut plain, &mut ahead, b, serialize(b));
        assert_eq!(out, BlockOutcome::Accepted { connected: true });
    }
    // Stored from the file bytes: read back, the same block.
    assert_eq!(ahead.read_block(&blocks[104].block_hash()).unwrap().as_ref(), Some(&blocks[104]));

    // Mutated copies of the next block (same header, so the same hash): not marked invalid.
    let next = &blocks[105];
    let mut extra_tx = next.clone();
    extra_tx.txdata.push(extra_tx.txdata[1].clone());
    let out = both(&mut plain, &mut ahead, &extra_tx, serialize(&extra_tx));
    assert!(matches!(&out, BlockOutcome::Invalid(r) if r.reason == "bad-txnmrklroot"), "{out:?}");
    let mut witness = next.clone();
    witness.txdata[1].input[0].witness.push([1u8; 3]);
    let out = both(&mut plain, &mut ahead, &witness, serialize(&witness));
    assert!(matches!(&out, BlockOutcome::Invalid(r) if r.reason.contains("witness")), "{out:?}");
    // The interpreter parses a block from its own bytes once, for the script checks.
    assert!(PreparedBlock::new(next.clone(), serialize(next), plain.params())
        .facts
        .kernel
        .is_some());
    // Bytes that are not the block's own serialization are not stored (serialized again),
    // nor parsed by the interpreter.
    let mut longer = serialize(next);
    longer.push(0);
    let facts = PreparedBlock::new(next.clone(), longer.clone(), plain.params()).facts;
    assert!(facts.raw.is_none() && facts.kernel.is_none());
    let out = both(&mut plain, &mut ahead, next, longer);
    assert_eq!(out, BlockOutcome::Accepted { connected: true });
    assert_eq!(ahead.read_block(&next.block_hash()).unwrap().as_ref(), Some(next));

    // A block failing a connect rule (double spend): marked invalid in both.
    let bad = double_spend_block(&blocks, 105, 3);
    let out = both(&mut plain, &mut ahead, &bad, serialize(&bad));
    assert!(
        matches!(&out, BlockOutcome::Invalid(r) if r.reason == "bad-txns-inputs-missingorspent"),
        "{out:?}"
    );
    // Proof of work broken (regtest's limit exceeded).
    let mut no_pow = blocks[106].clone();
    no_pow.header.bits = bitcoin::CompactTarget::from_consensus(0x2100_ffff);
    let out = both(&mut plain, &mut ahead, &no_pow, serialize(&no_pow));
    assert!(matches!(&out, BlockOutcome::Invalid(r) if r.reason == "high-hash"), "{out:?}");
    // The rest of the chain still connects the same way.
    for b in &blocks[106..] {
        let out = both(&mut plain, &mut ahead, b, serialize(b));
        assert_eq!(out, BlockOutcome::Accepted { connected: true });
    }
    assert_eq!(ahead.height(), 110);
}

/// A block whose only failure is a script (an input's scriptSig is `OP_RETURN`): checked from
/// the interpreter's parse of the prepared block, its changes in the cache while the checks
/// ran are taken back, and both paths reject it the same way with the UTXO set unchanged; the
/// real block at that height still connects after it.
#[test]
fn a_prepared_block_failing_a_script_changes_nothing() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut plain, mut ahead) = (open(d1.path()), open(d2.path()));
    let blocks = regtest_chain(106);
    for b in &blocks[..105] {
        both(&mut plain, &mut ahead, b, serialize(b));
    }
    let before = ahead.utxo_muhash().unwrap();
    // Block 6's coinbase, mature at height 106 (the real block 106 spends it too).
    let bad = coinbase_spend_block(&blocks, 104, 5, |tx| {
        tx.input[0].script_sig = bitcoin::ScriptBuf::from_bytes(vec![0x6a])
    });
    let prepared = PreparedBlock::new(bad.clone(), serialize(&bad), plain.params());
    assert!(prepared.facts.kernel.is_some(), "checked from the interpreter's parse");
    let out = both(&mut plain, &mut ahead, &bad, serialize(&bad));
    assert!(
        matches!(&out, BlockOutcome::Invalid(r) if r.reason.contains("script-verify-flag-failed")),
        "{out:?}"
    );
    assert_eq!(ahead.height(), 105);
    assert_eq!(
        ahead.utxo_muhash().unwrap(),
        before,
        "the reverted changes leave the UTXO set as it was"
    );
    let out = both(&mut plain, &mut ahead, &blocks[105], serialize(&blocks[105]));
    assert_eq!(out, BlockOutcome::Accepted { connected: true });
    assert_eq!(ahead.utxo_muhash().unwrap(), plain.utxo_muhash().unwrap());
}

/// Core's IsBlockMutated from a prepared block's hashes (what P2P uses for requested blocks)
/// gives `is_block_mutated`'s answer, with and without segwit, for intact and mutated copies.
#[test]
fn the_mutation_check_from_prepared_hashes_is_is_block_mutated() {
    use crate::validation::block_check::is_block_mutated;
    use std::collections::HashSet;
    let blocks = regtest_chain(105);
    let params = ChainParams::for_network(bitcoin::Network::Regtest);
    let next = double_spend_block(&blocks, 104, 3);
    let mut copies = vec![blocks[0].clone(), blocks[104].clone(), next.clone()];
    // A transaction added (merkle root mismatch).
    let mut extra = next.clone();
    extra.txdata.push(extra.txdata[1].clone());
    copies.push(extra);
    // Two equal leaves side by side (CVE-2012-2459), under the root they make.
    let mut dup = blocks[0].clone();
    dup.txdata.push(dup.txdata[0].clone());
    dup.header.merkle_root = dup.compute_merkle_root().unwrap();
    copies.push(dup);
    // Witness data the commitment does not cover, and a witness without a commitment.
    let mut witness = next.clone();
    witness.txdata[1].input[0].witness.push([1u8; 3]);
    copies.push(witness.clone());
    let mut uncommitted = witness;
    uncommitted.txdata[0]
        .output
        .retain(|o| !o.script_pubkey.as_bytes().starts_with(&[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed]));
    uncommitted.header.merkle_root = uncommitted.compute_merkle_root().unwrap();
    copies.push(uncommitted);
    // A reserved value of the wrong size.
    let mut nonce = next.clone();
    nonce.txdata[0].input[0].witness = bitcoin::Witness::from_slice(&[[0u8; 31]]);
    copies.push(nonce);
    let mut verdicts = HashSet::new();
    for b in &copies {
        let prepared = PreparedBlock::new(b.clone(), serialize(b), &params);
        for check_witness in [true, false] {
            let want = is_block_mutated(b, check_witness);
            assert_eq!(
                prepared.mutation(check_witness),
                want,
                "block {} witness {check_witness}",
                b.block_hash()
            );
            verdicts.insert(want.map(|r| r.reason));
        }
    }
    let reasons: HashSet<Option<&str>> = verdicts.iter().map(Option::as_deref).collect();
    for r in [
        None,
        Some("bad-txnmrklroot"),
        Some("bad-txns-duplicate"),
        Some("bad-witness-merkle-match"),
        Some("unexpected-witness"),
        Some("bad-witness-nonce-size"),
    ] {
        assert!(reasons.contains(&r), "the copies cover {r:?}: {reasons:?}");
    }
}

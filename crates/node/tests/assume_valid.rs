//! `-assumevalid` with Core's conditions, as Core's feature_assumevalid.py: a regtest chain whose
//! block 102 spends a coinbase with an invalid scriptSig, followed by 2,100 blocks. With
//! `assume_valid` at a descendant whose header is known first, the bad script is skipped only
//! when the best header has the minimum chain work and is more than two weeks of equivalent work
//! (2,016 regtest blocks) past the block; with `-assumevalid=0`, or the hash not in the header
//! index, or any condition missing, block 102 is rejected. Every other rule is still checked.

mod support;

use support::mining;

use bitcoin::{Amount, Block, BlockHash, OutPoint, ScriptBuf, TxIn, TxOut, Work};
use blvm_node::chain::{BlockOutcome, ChainManager, ChainSettings};
use blvm_node::params::ChainParams;
use mining::Parent;

const BAD_HEIGHT: u32 = 102;

/// How block 102 breaks the rules.
#[derive(Clone, Copy)]
enum Bad {
    /// A scriptSig of `OP_RETURN`: only the scripts are wrong.
    Script,
    /// Also a coinbase claiming one satoshi too much.
    ScriptAndCoinbase,
}

/// Blocks 1..=102+after: 101 coinbase-only, 102 broken as `bad`, then empty ones.
fn build_chain(after: u32, bad: Bad) -> Vec<Block> {
    let genesis = ChainParams::for_network(bitcoin::Network::Regtest).genesis();
    let mut parent = Parent::from_block(&genesis, 0, &[]);
    let mut times = Vec::new();
    let mut blocks: Vec<Block> = Vec::new();
    for height in 1..=BAD_HEIGHT + after {
        let (txs, fee) = if height == BAD_HEIGHT {
            let spend = bitcoin::Transaction {
                version: bitcoin::transaction::Version::TWO,
                lock_time: bitcoin::absolute::LockTime::ZERO,
                input: vec![TxIn {
                    previous_output: OutPoint::new(blocks[0].txdata[0].compute_txid(), 0),
                    script_sig: ScriptBuf::from_bytes(vec![0x6a]),
                    ..Default::default()
                }],
                output: vec![TxOut {
                    value: Amount::from_sat(49_9999_0000),
                    script_pubkey: mining::op_true(),
                }],
            };
            (vec![spend], Amount::from_sat(10_000))
        } else {
            (vec![], Amount::ZERO)
        };
        let mut b = mining::build_block(&parent, u64::from(height), txs, fee, mining::op_true());
        if height == BAD_HEIGHT && matches!(bad, Bad::ScriptAndCoinbase) {
            b.txdata[0].output[0].value += Amount::from_sat(1);
            mining::finish(&mut b);
        }
        times.push(parent.time);
        parent = Parent::from_block(&b, height, &times);
        blocks.push(b);
    }
    blocks
}

fn settings(assume_valid: Option<BlockHash>) -> ChainSettings {
    ChainSettings {
        assume_valid,
        ..support::test_settings()
    }
}

/// Opens a chain, hands it the headers of `headers`, then `blocks` in order until one is
/// rejected; returns the chain and the first rejection reason.
fn run(blocks: &[Block], headers: &[Block], settings: ChainSettings) -> (ChainManager, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), dir.path(), settings).unwrap();
    for b in headers {
        chain.accept_header(&b.header).unwrap().expect("valid header");
    }
    for b in blocks {
        match chain.process_block(b).unwrap() {
            BlockOutcome::Accepted { connected: true } => {}
            BlockOutcome::Invalid(r) => return (chain, Some(r.reason)),
            other => panic!("unexpected {other:?}"),
        }
    }
    (chain, None)
}

fn hash_at(blocks: &[Block], height: u32) -> BlockHash {
    blocks[height as usize - 1].block_hash()
}

#[test]
fn scripts_are_skipped_only_under_cores_conditions() {
    let blocks = build_chain(2100, Bad::Script);
    let tip = blocks.last().unwrap().block_hash();
    let to_bad = &blocks[..BAD_HEIGHT as usize];

    // -assumevalid=0: every script is checked.
    let (chain, reject) = run(to_bad, &blocks, settings(None));
    assert_eq!(
        reject.as_deref(),
        Some("block-script-verify-flag-failed (OP_RETURN was encountered)")
    );
    assert_eq!(chain.height(), BAD_HEIGHT - 1);

    // The assumed-valid block is not in the header index when block 102 arrives.
    let (chain, reject) = run(to_bad, &[], settings(Some(tip)));
    assert_eq!(
        reject.as_deref(),
        Some("block-script-verify-flag-failed (OP_RETURN was encountered)")
    );
    assert_eq!(chain.height(), BAD_HEIGHT - 1);

    // The best header lacks the minimum chain work.
    let mut s = settings(Some(tip));
    s.minimum_chain_work = Work::from_be_bytes([0x01; 32]);
    let (_, reject) = run(to_bad, &blocks, s);
    assert_eq!(
        reject.as_deref(),
        Some("block-script-verify-flag-failed (OP_RETURN was encountered)")
    );

    // Two weeks exactly (2,016 blocks past it) is not enough; one block more is.
    let two_weeks = (BAD_HEIGHT + 2016) as usize;
    let av = settings(Some(hash_at(&blocks, BAD_HEIGHT)));
    let (_, reject) = run(to_bad, &blocks[..two_weeks], av.clone());
    assert_eq!(
        reject.as_deref(),
        Some("block-script-verify-flag-failed (OP_RETURN was encountered)")
    );
    let (chain, reject) = run(to_bad, &blocks[..two_weeks + 1], av);
    assert_eq!(reject, None);
    assert_eq!(chain.height(), BAD_HEIGHT);

    // The assumed-valid block is on another branch (the same first 101 blocks, another 102),
    // which is also the best header chain.
    let other = build_chain(2100, Bad::ScriptAndCoinbase);
    assert_eq!(other[100].block_hash(), blocks[100].block_hash());
    let (chain, reject) = run(to_bad, &other, settings(Some(other.last().unwrap().block_hash())));
    assert_eq!(
        reject.as_deref(),
        Some("block-script-verify-flag-failed (OP_RETURN was encountered)")
    );
    assert_eq!(chain.height(), BAD_HEIGHT - 1);

    // Block 102 is an ancestor of the assumed-valid block but not of the best header.
    let mut headers = blocks[..two_weeks + 1].to_vec();
    headers.extend_from_slice(&other[BAD_HEIGHT as usize - 1..]);
    let (_, reject) = run(to_bad, &headers, settings(Some(hash_at(&blocks, BAD_HEIGHT + 2017))));
    assert_eq!(
        reject.as_deref(),
        Some("block-script-verify-flag-failed (OP_RETURN was encountered)")
    );

    // Every condition holds: the whole chain connects, bad script included.
    let (chain, reject) = run(&blocks, &blocks, settings(Some(tip)));
    assert_eq!(reject, None);
    assert_eq!(chain.tip().hash, tip);
}

#[test]
fn rules_other_than_scripts_are_still_checked() {
    let blocks = build_chain(2100, Bad::ScriptAndCoinbase);
    let tip = blocks.last().unwrap().block_hash();
    let (chain, reject) = run(&blocks[..BAD_HEIGHT as usize], &blocks, settings(Some(tip)));
    assert_eq!(reject.as_deref(), Some("bad-cb-amount"));
    assert_eq!(chain.height(), BAD_HEIGHT - 1);
}

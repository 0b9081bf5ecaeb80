//! Acceptance: reorganisations between competing branches mined in the test on top of Core's
//! regtest chain. After every switch the tip and the UTXO set hash must equal those of a fresh
//! datadir into which only the winning chain was imported, and the engine must report the exact
//! blocks it disconnected and connected.
//!
//! Layout: real blocks 1..=200, then a trunk of 100 blocks of ours (heights 201..=300) whose
//! coinbases pay anyone-can-spend outputs, so branches forking at 300 can spend them (the trunk
//! coinbase at height h - 100 matures exactly at h). Every branch block spends the same trunk
//! coinbase as its competitor at that height, one output identically (a transaction shared by
//! both branches) and one differently (a conflict), chains spends across and within its blocks,
//! and some spend real anyone-can-spend (witness v2 / P2A) outputs of Core's chain.

mod support;

use support::mining;

use bitcoin::{Amount, Block, BlockHash, OutPoint, ScriptBuf, Transaction, TxOut};
use blvm_node::chain::index::status;
use blvm_node::chain::{BlockOutcome, ChainManager, ChainNotification, FlushReason};
use std::collections::HashSet;
use std::path::Path;
use std::sync::OnceLock;

/// Real blocks imported before our own trunk.
const REAL: u32 = 200;
/// Height of the trunk's last block, where the branches fork.
const FORK: u32 = 300;
const FEE: u64 = 1_000;

/// Branch tags (they make coinbases, and so blocks, unique per branch).
const A: u64 = 1;
const B: u64 = 2;
const C: u64 = 3;
const D: u64 = 4;

/// A full chain, indexed by height (genesis at 0).
type Line = Vec<Block>;

/// Real blocks 0..=REAL followed by the trunk up to FORK.
fn base_line() -> &'static Line {
    static BASE: OnceLock<Line> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut line: Line = support::chain_blocks().into_iter().take(REAL as usize + 1).collect();
        assert_eq!(line.len() as u32, REAL + 1);
        while (line.len() as u32) <= FORK {
            let mut block = mining::build_block(&parent_of(&line), 0, vec![], Amount::ZERO, mining::op_true());
            let total = block.txdata[0].output[0].value;
            let half = Amount::from_sat(total.to_sat() / 2);
            block.txdata[0].output = vec![
                TxOut {
                    value: half,
                    script_pubkey: mining::op_true(),
                },
                TxOut {
                    value: total - half,
                    script_pubkey: mining::p2wsh_op_true(),
                },
            ];
            mining::finish(&mut block);
            line.push(block);
        }
        line
    })
}

/// The parent context for a block extending `line`.
fn parent_of(line: &Line) -> mining::Parent {
    let height = (line.len() - 1) as u32;
    let earlier: Vec<u32> = line[line.len().saturating_sub(11)..line.len() - 1]
        .iter()
        .map(|b| b.header.time)
        .collect();
    mining::Parent::from_block(line.last().expect("non-empty line"), height, &earlier)
}

/// Real outputs of Core's chain (up to REAL) that are anyone-can-spend by consensus.
fn real_anyone_can_spend() -> &'static Vec<(OutPoint, TxOut)> {
    static COINS: OnceLock<Vec<(OutPoint, TxOut)>> = OnceLock::new();
    COINS.get_or_init(|| {
        let line = base_line();
        let mut spent = HashSet::new();
        let mut found = Vec::new();
        for b in &line[..=REAL as usize] {
            for tx in &b.txdata {
                spent.extend(tx.input.iter().map(|i| i.previous_output));
                let txid = tx.compute_txid();
                for (vout, out) in tx.output.iter().enumerate() {
                    if mining::is_unknown_witness_program(&out.script_pubkey) {
                        found.push((OutPoint { txid, vout: vout as u32 }, out.clone()));
                    }
                }
            }
        }
        found.retain(|(op, _)| !spent.contains(op));
        assert!(found.len() >= 4, "Core's chain has unspent witness-v2/P2A outputs by height {REAL}");
        found
    })
}

fn spend_one(op: OutPoint, spk: &ScriptBuf, outputs: Vec<TxOut>) -> Transaction {
    mining::spend(&[(op, spk.clone())], outputs)
}

fn out(sat: u64, spk: ScriptBuf) -> TxOut {
    TxOut {
        value: Amount::from_sat(sat),
        script_pubkey: spk,
    }
}

/// The transactions a branch block at the tip of `line` carries (see the module comment).
fn branch_txs(line: &Line, tag: u64) -> (Vec<Transaction>, u64) {
    let height = line.len() as u32;
    let cb = &line[(height - 100) as usize].txdata[0];
    assert!(
        cb.output.len() >= 2 && cb.output[1].script_pubkey == mining::p2wsh_op_true(),
        "trunk coinbase"
    );
    let cbid = cb.compute_txid();
    let (v0, v1) = (cb.output[0].value.to_sat(), cb.output[1].value.to_sat());
    let mut txs = Vec::new();
    let mut fees = 0;
    // Identical in every branch at this height.
    txs.push(spend_one(
        OutPoint { txid: cbid, vout: 1 },
        &mining::p2wsh_op_true(),
        vec![out(v1 - FEE, mining::p2wsh_op_true())],
    ));
    fees += FEE;
    // Different in every branch: conflicts with the competitor's spend of the same coin.
    let mine_0 = v0 / 2 + tag * 10_000;
    let mine = spend_one(
        OutPoint { txid: cbid, vout: 0 },
        &mining::op_true(),
        vec![out(mine_0, mining::op_true()), out(v0 - mine_0 - FEE, mining::p2wsh_op_true())],
    );
    fees += FEE;
    // Spends the previous branch block's second output of its own "mine" transaction.
    let prev = line.last().expect("parent");
    if line.len() as u32 > FORK + 1 {
        let prev_mine = &prev.txdata[2];
        let v = prev_mine.output[1].value.to_sat();
        txs.push(spend_one(
            OutPoint {
                txid: prev_mine.compute_txid(),
                vout: 1,
            },
            &mining::p2wsh_op_true(),
            vec![out(v - FEE, mining::op_true())],
        ));
        fees += FEE;
    }
    // Spends an output created earlier in the same block.
    let in_block = spend_one(
        OutPoint {
            txid: mine.compute_txid(),
            vout: 0,
        },
        &mining::op_true(),
        vec![out(mine_0 - FEE, mining::p2wsh_op_true())],
    );
    fees += FEE;
    txs.insert(1, mine);
    txs.push(in_block);
    // Now and then, a real anyone-can-spend coin of Core's chain not yet spent on this line.
    if (height + tag as u32) & 1 == 0 {
        let spent: HashSet<OutPoint> = line[FORK as usize + 1..]
            .iter()
            .flat_map(|b| b.txdata.iter().flat_map(|t| t.input.iter().map(|i| i.previous_output)))
            .collect();
        let coins = real_anyone_can_spend();
        let start = (height as usize + tag as usize) % coins.len();
        if let Some((op, o)) = (0..coins.len())
            .map(|i| &coins[(start + i) % coins.len()])
            .find(|(op, _)| !spent.contains(op))
        {
            txs.push(spend_one(
                *op,
                &o.script_pubkey,
                vec![out(o.value.to_sat() - 100, mining::p2wsh_op_true())],
            ));
            fees += 100;
        }
    }
    (txs, fees)
}

/// Appends `n` branch blocks tagged `tag` to `line`; returns their hashes.
fn grow(line: &mut Line, tag: u64, n: usize) -> Vec<BlockHash> {
    let mut hashes = Vec::new();
    for _ in 0..n {
        let (txs, fees) = branch_txs(line, tag);
        let height = line.len() as u64;
        let block = mining::build_block(
            &parent_of(line),
            tag * 1_000_000 + height,
            txs,
            Amount::from_sat(fees),
            mining::op_true(),
        );
        hashes.push(block.block_hash());
        line.push(block);
    }
    hashes
}

/// A copy of `line` up to and including `height`.
fn prefix(line: &Line, height: u32) -> Line {
    line[..=height as usize].to_vec()
}

/// Tip and UTXO set hash of a fresh datadir into which exactly `line` was imported.
fn fresh_import(line: &Line) -> (BlockHash, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut chain = support::open_regtest(dir.path());
    for (h, b) in line.iter().enumerate().skip(1) {
        assert_eq!(
            chain.process_block(b).expect("process"),
            BlockOutcome::Accepted { connected: true },
            "fresh import, height {h}"
        );
    }
    let tip = chain.tip().hash;
    assert_eq!(tip, line.last().unwrap().block_hash());
    (tip, chain.utxo_stats().expect("stats").hash_serialized_3)
}

/// A chain in a temporary datadir holding the real blocks and the trunk.
fn open_base(dir: &Path) -> ChainManager {
    let mut chain = support::open_regtest(dir);
    for b in &base_line()[1..] {
        assert_eq!(chain.process_block(b).expect("process"), BlockOutcome::Accepted { connected: true });
    }
    assert_eq!(chain.height(), FORK);
    chain.take_notifications();
    chain
}

fn submit(chain: &mut ChainManager, line: &Line, from: u32, to: u32) -> Vec<BlockOutcome> {
    (from..=to)
        .map(|h| chain.process_block(&line[h as usize]).expect("process"))
        .collect()
}

/// The notifications a switch from `old` (active up to its tip) to `new` must produce.
fn expected_switch(old: &Line, new: &Line, fork_height: u32) -> Vec<ChainNotification> {
    let mut v = Vec::new();
    let disconnected: Vec<BlockHash> = old[fork_height as usize + 1..].iter().rev().map(|b| b.block_hash()).collect();
    for (i, b) in old.iter().enumerate().skip(fork_height as usize + 1).rev() {
        v.push(ChainNotification::BlockDisconnected {
            hash: b.block_hash(),
            height: i as u32,
        });
    }
    let connected: Vec<BlockHash> = new[fork_height as usize + 1..].iter().map(|b| b.block_hash()).collect();
    for (i, b) in new.iter().enumerate().skip(fork_height as usize + 1) {
        v.push(ChainNotification::BlockConnected {
            hash: b.block_hash(),
            height: i as u32,
            n_tx: b.txdata.len() as u32,
        });
    }
    v.push(ChainNotification::Reorg {
        old_tip: old.last().unwrap().block_hash(),
        new_tip: new.last().unwrap().block_hash(),
        fork_height,
        disconnected,
        connected,
    });
    v
}

/// Asserts `chain` is exactly at `line`'s tip with the UTXO set a fresh import of `line` gives.
fn assert_on(chain: &mut ChainManager, line: &Line) {
    let (tip, hash) = fresh_import(line);
    assert_eq!(chain.tip().hash, tip);
    assert_eq!(chain.height() as usize, line.len() - 1);
    for (h, b) in line.iter().enumerate().skip(FORK as usize - 5) {
        assert_eq!(chain.hash_at(h as u32), Some(b.block_hash()), "active block at {h}");
    }
    assert_eq!(
        chain.utxo_stats().expect("stats").hash_serialized_3,
        hash,
        "UTXO set equals a fresh import of the winning chain"
    );
}

#[test]
fn reorgs_back_and_forth_match_a_fresh_import_of_the_winner() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = open_base(dir.path());
    let base = base_line().clone();

    // A: two blocks, simply extending the tip.
    let mut a = base.clone();
    grow(&mut a, A, 2);
    assert_eq!(
        submit(&mut chain, &a, 301, 302),
        vec![BlockOutcome::Accepted { connected: true }; 2]
    );
    assert!(!chain
        .take_notifications()
        .iter()
        .any(|n| matches!(n, ChainNotification::Reorg { .. })));
    assert_on(&mut chain, &a);

    // B: three blocks from the same fork point; the third makes B heavier.
    let mut b = base.clone();
    grow(&mut b, B, 3);
    assert_eq!(
        submit(&mut chain, &b, 301, 302),
        vec![BlockOutcome::Accepted { connected: false }; 2]
    );
    assert!(chain.take_notifications().is_empty(), "equal or less work: no change");
    assert_eq!(chain.tip().hash, a[302].block_hash());
    assert_eq!(submit(&mut chain, &b, 303, 303), vec![BlockOutcome::Accepted { connected: true }]);
    assert_eq!(chain.take_notifications(), expected_switch(&a, &b, FORK));
    assert_on(&mut chain, &b);

    // A catches up (equal work: the first-seen tip stays), then overtakes.
    grow(&mut a, A, 2);
    assert_eq!(submit(&mut chain, &a, 303, 303), vec![BlockOutcome::Accepted { connected: false }]);
    assert_eq!(chain.tip().hash, b[303].block_hash());
    assert!(chain.take_notifications().is_empty());
    assert_eq!(submit(&mut chain, &a, 304, 304), vec![BlockOutcome::Accepted { connected: true }]);
    assert_eq!(chain.take_notifications(), expected_switch(&b, &a, FORK));
    assert_on(&mut chain, &a);

    // C forks from B's first block (not active now): the reorg reconnects B1 then C.
    let mut c = prefix(&b, 301);
    grow(&mut c, C, 4);
    assert_eq!(
        submit(&mut chain, &c, 302, 304),
        vec![BlockOutcome::Accepted { connected: false }; 3]
    );
    assert_eq!(submit(&mut chain, &c, 305, 305), vec![BlockOutcome::Accepted { connected: true }]);
    assert_eq!(chain.take_notifications(), expected_switch(&a, &c, FORK));
    assert_on(&mut chain, &c);

    // A is extended again and wins back.
    grow(&mut a, A, 2);
    assert_eq!(
        submit(&mut chain, &a, 305, 306),
        vec![
            BlockOutcome::Accepted { connected: false },
            BlockOutcome::Accepted { connected: true }
        ]
    );
    assert_eq!(chain.take_notifications(), expected_switch(&c, &a, FORK));
    assert_on(&mut chain, &a);

    // A shallow fork near the tip: D replaces A's last block only.
    let mut d = prefix(&a, 305);
    grow(&mut d, D, 2);
    assert_eq!(
        submit(&mut chain, &d, 306, 307),
        vec![
            BlockOutcome::Accepted { connected: false },
            BlockOutcome::Accepted { connected: true }
        ]
    );
    assert_eq!(chain.take_notifications(), expected_switch(&a, &d, 305));
    assert_on(&mut chain, &d);

    // And B, the longest-abandoned branch, finally becomes the heaviest.
    grow(&mut b, B, 5);
    assert_eq!(
        submit(&mut chain, &b, 304, 308),
        [
            vec![BlockOutcome::Accepted { connected: false }; 4],
            vec![BlockOutcome::Accepted { connected: true }]
        ]
        .concat()
    );
    assert_eq!(chain.take_notifications(), expected_switch(&d, &b, FORK));
    assert_on(&mut chain, &b);

    // Every block of every branch is still known and none is marked failed.
    for line in [&a, &b, &c, &d] {
        for blk in &line[FORK as usize + 1..] {
            let e = chain.entry(&blk.block_hash()).expect("indexed");
            assert_eq!(e.status & status::FAILED_MASK, 0);
        }
    }
}

#[test]
fn reorg_onto_a_branch_with_an_invalid_block_returns_to_the_original_chain() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = open_base(dir.path());
    let base = base_line().clone();
    let mut a = base.clone();
    grow(&mut a, A, 2);
    submit(&mut chain, &a, 301, 302);
    let original = chain.utxo_stats().unwrap().hash_serialized_3;
    chain.take_notifications();

    // B1 valid, B2 claims one satoshi too much in its coinbase, B3 builds on B2.
    let mut b = base.clone();
    grow(&mut b, B, 2);
    {
        let b2 = &mut b[302];
        b2.txdata[0].output[0].value += Amount::from_sat(1);
        mining::finish(b2);
    }
    grow(&mut b, B, 2);
    assert_eq!(
        submit(&mut chain, &b, 301, 302),
        vec![BlockOutcome::Accepted { connected: false }; 2]
    );
    assert!(chain.take_notifications().is_empty());
    match chain.process_block(&b[303]).unwrap() {
        BlockOutcome::Invalid(r) => assert_eq!(r.reason, "bad-cb-amount", "{}", r.detail),
        other => panic!("expected the branch to fail on B2, got {other:?}"),
    }

    // Back on A with A's UTXO set, after having tried B1.
    assert_eq!(chain.tip().hash, a[302].block_hash());
    assert_eq!(chain.utxo_stats().unwrap().hash_serialized_3, original);
    assert_on(&mut chain, &a);
    let b1_only: Line = prefix(&b, 301);
    let mut expected = expected_switch(&a, &b1_only, FORK);
    expected.extend(expected_switch(&b1_only, &a, FORK));
    assert_eq!(chain.take_notifications(), expected);

    // B2 is invalid, B3 descends from it; B1 itself is fine.
    let st = |h: u32| chain.entry(&b[h as usize].block_hash()).expect("indexed").status;
    assert_eq!(st(301) & status::FAILED_MASK, 0);
    assert_ne!(st(302) & status::FAILED_VALID, 0);
    assert_ne!(st(303) & status::FAILED_CHILD, 0);
    for (h, reason) in [(302, "duplicate-invalid"), (303, "duplicate-invalid"), (304, "bad-prevblk")] {
        match chain.process_block(&b[h]).unwrap() {
            BlockOutcome::Invalid(r) => assert_eq!(r.reason, reason, "block at {h}"),
            other => panic!("block at {h}: expected {reason}, got {other:?}"),
        }
    }
    assert_eq!(chain.tip().hash, a[302].block_hash());

    // B1 can still win with a valid continuation.
    let mut b_good = prefix(&b, 301);
    grow(&mut b_good, C, 2);
    assert_eq!(
        submit(&mut chain, &b_good, 302, 303),
        vec![
            BlockOutcome::Accepted { connected: false },
            BlockOutcome::Accepted { connected: true }
        ]
    );
    assert_on(&mut chain, &b_good);
}

#[test]
fn reorg_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let base = base_line().clone();
    let mut a = base.clone();
    grow(&mut a, A, 2);
    let mut b = base.clone();
    grow(&mut b, B, 3);
    let (b_tip, b_hash) = fresh_import(&b);
    {
        let mut chain = open_base(dir.path());
        submit(&mut chain, &a, 301, 302);
        chain.flush(FlushReason::Manual).unwrap();
        // Reorg to B, then stop without flushing: the restart must replay B from the block files
        // and reorganise again using A's stored undo data.
        submit(&mut chain, &b, 301, 303);
        assert_eq!(chain.tip().hash, b_tip);
    }
    {
        let mut chain = support::open_regtest(dir.path());
        assert_eq!(chain.tip().hash, b_tip);
        assert_eq!(chain.utxo_stats().unwrap().hash_serialized_3, b_hash);
        // Back to A on the reopened chain: B's undo data was written before the stop.
        grow(&mut a, A, 2);
        submit(&mut chain, &a, 303, 304);
        assert_on(&mut chain, &a);
        chain.flush(FlushReason::Shutdown).unwrap();
    }
    let (a_tip, a_hash) = fresh_import(&a);
    let mut chain = support::open_regtest(dir.path());
    assert_eq!(chain.tip().hash, a_tip);
    assert_eq!(chain.utxo_stats().unwrap().hash_serialized_3, a_hash);
    // The losing branch is still known and can win again after the restart.
    grow(&mut b, B, 2);
    assert_eq!(
        submit(&mut chain, &b, 301, 305).last(),
        Some(&BlockOutcome::Accepted { connected: true })
    );
    assert_on(&mut chain, &b);
}

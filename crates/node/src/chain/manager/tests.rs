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

/// A valid regtest chain of `n` blocks on genesis paying to `OP_TRUE`; from height 101 on each
/// block spends the coinbase of 100 blocks earlier into two outputs, so flushes carry coin
/// creations, spends and undo data.
pub(super) fn regtest_chain(n: u32) -> Vec<Block> {
    use blvm_testkit::mining::{self, Parent};
    let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
    let mut blocks: Vec<Block> = Vec::new();
    let mut times = Vec::new();
    let mut parent = Parent::from_block(&genesis, 0, &[]);
    times.push(genesis.header.time);
    for h in 1..=n {
        let mut txs = Vec::new();
        let fee = bitcoin::Amount::from_sat(1_000);
        if h > 100 {
            let cb = &blocks[(h - 101) as usize].txdata[0];
            let value = cb.output[0].value - fee;
            let half = bitcoin::Amount::from_sat(value.to_sat() / 2);
            let out = |v| TxOut {
                value: v,
                script_pubkey: mining::op_true(),
            };
            txs.push(mining::spend(
                &[(
                    OutPoint {
                        txid: cb.compute_txid(),
                        vout: 0,
                    },
                    mining::op_true(),
                )],
                vec![out(half), out(value - half)],
            ));
        }
        let fees = if txs.is_empty() { bitcoin::Amount::ZERO } else { fee };
        let block = mining::build_block(&parent, u64::from(h), txs, fees, mining::op_true());
        parent = Parent::from_block(&block, h, &times);
        times.push(block.header.time);
        blocks.push(block);
    }
    blocks
}

fn open_chain(dir: &Path, max_block_file_size: u64) -> ChainManager {
    let settings = ChainSettings {
        txindex: true,
        blockfilterindex: true,
        max_block_file_size,
        ..Default::default()
    };
    ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), dir, settings).unwrap()
}

fn connect(cm: &mut ChainManager, blocks: &[Block]) {
    for b in blocks {
        assert_eq!(cm.process_block(b).unwrap(), BlockOutcome::Accepted { connected: true });
    }
}

#[test]
fn a_failed_commit_keeps_the_dirty_state_so_the_next_flush_writes_all_of_it() {
    let blocks = regtest_chain(130);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = open_chain(dir_a.path(), DEFAULT_MAX_FILE_SIZE);
    let mut b = open_chain(dir_b.path(), DEFAULT_MAX_FILE_SIZE);
    connect(&mut a, &blocks[..105]);
    connect(&mut b, &blocks[..105]);
    a.flush(FlushReason::Manual).unwrap();
    b.flush(FlushReason::Manual).unwrap();
    // Blocks 106..=120 are connected, then the commit that would store them fails (a full disk).
    connect(&mut a, &blocks[105..120]);
    connect(&mut b, &blocks[105..120]);
    a.db.fail_commit_after(0);
    assert!(a.flush(FlushReason::Manual).is_err(), "the injected failure must surface");
    // The chain moves on (and the shutdown flush the failure triggers will run).
    connect(&mut a, &blocks[120..]);
    connect(&mut b, &blocks[120..]);
    a.flush(FlushReason::Manual).unwrap();
    assert_eq!(a.utxo_stats().unwrap(), b.utxo_stats().unwrap());
    assert_eq!(a.utxo_muhash().unwrap(), b.utxo_muhash().unwrap());
    let want_muhash = b.utxo_muhash().unwrap();
    // What is on disk: reopen the chain that saw the failure (no replay needed: it was flushed).
    drop(a);
    let mut a = open_chain(dir_a.path(), DEFAULT_MAX_FILE_SIZE);
    assert_eq!(a.tip().hash, b.tip().hash);
    assert_eq!(a.utxo_muhash().unwrap(), want_muhash);
    for blk in &blocks {
        let h = blk.block_hash();
        let (ea, eb) = (a.entry(&h).unwrap(), b.entry(&h).unwrap());
        assert_eq!(
            (ea.status, ea.data_pos, ea.undo_pos),
            (eb.status, eb.data_pos, eb.undo_pos),
            "index entry of {h}"
        );
        // The transaction and filter indexes of a block first written by the retried flush.
        let txid = blk.txdata[0].compute_txid();
        assert_eq!(
            a.indexed_transaction(&txid).unwrap().map(|(bh, _)| bh),
            Some(h),
            "txindex of {txid}"
        );
        assert!(a.block_filter(&h).unwrap().is_some(), "filter of {h}");
    }
}

/// Every index entry claiming block (or undo) data can read it: no entry points into a deleted
/// file.
fn assert_claimed_data_readable(cm: &ChainManager) {
    for e in cm.entries() {
        if e.have_data() {
            let blk = cm.read_block(&e.hash);
            assert!(
                matches!(blk, Ok(Some(_))),
                "height {} claims data: {:?}",
                e.height,
                blk.map(|b| b.is_some())
            );
        } else if e.status & status::PRUNED != 0 {
            assert!(matches!(cm.read_block(&e.hash), Ok(None)));
        }
        if e.undo_pos.is_some() {
            assert!(cm.read_undo(&e.hash).is_ok(), "height {} claims undo data", e.height);
        }
    }
}

#[test]
fn prune_commits_the_pruned_flags_before_deleting_files() {
    let blocks = regtest_chain(400);
    let dir = tempfile::tempdir().unwrap();
    // Small block files: about a dozen blocks each, so a prune deletes several.
    let mut cm = open_chain(dir.path(), 4096);
    connect(&mut cm, &blocks);
    cm.flush(FlushReason::Manual).unwrap();
    let blocks_dir = cm.blocks_dir();
    let files_before = cm.files.file_numbers();
    // The prune's opening flush succeeds, the commit of the pruned flags fails; then the
    // process dies (no shutdown flush).
    cm.db.fail_commit_after(1);
    assert!(cm.prune(None, None).is_err());
    drop(cm);
    let cm = open_chain(dir.path(), 4096);
    assert_eq!(cm.height(), 400);
    assert_claimed_data_readable(&cm);
    assert_eq!(
        cm.files.file_numbers(),
        files_before,
        "no file may go before the index stops claiming it"
    );

    // A prune that succeeds; then its deleted files are put back, as if the process died between
    // the commit and the deletions: nothing claims them, and the next prune deletes them.
    let saved = tempfile::tempdir().unwrap();
    for f in &files_before {
        for p in [cm.files.block_path(*f), cm.files.undo_path(*f)] {
            if p.exists() {
                std::fs::copy(&p, saved.path().join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    let mut cm = cm;
    let report = cm.prune(None, None).unwrap();
    assert!(report.files_deleted >= 5, "{report:?}");
    assert_eq!(report.prune_height, cm.prune_height().unwrap());
    let pruned_hash = blocks[0].block_hash();
    let e = cm.entry(&pruned_hash).unwrap();
    assert!(e.status & status::PRUNED != 0 && !e.have_data());
    let highest_pruned = cm.entries().filter(|e| e.status & status::PRUNED != 0).map(|e| e.height).max();
    assert_eq!(cm.prune_height(), highest_pruned);
    let deleted: Vec<u32> = files_before
        .iter()
        .copied()
        .filter(|f| !cm.files.file_numbers().contains(f))
        .collect();
    assert_eq!(deleted.len() as u32, report.files_deleted);
    drop(cm);
    for f in std::fs::read_dir(saved.path()).unwrap().flatten() {
        let to = blocks_dir.join(f.file_name());
        if !to.exists() {
            std::fs::copy(f.path(), to).unwrap();
        }
    }
    let mut cm = open_chain(dir.path(), 4096);
    assert_claimed_data_readable(&cm);
    assert!(cm.entry(&pruned_hash).unwrap().status & status::PRUNED != 0);
    assert_eq!(
        cm.prune_height(),
        Some(report.prune_height),
        "the prune height is found again on open"
    );
    assert_eq!(cm.files.file_numbers(), files_before, "leftovers restored");
    let again = cm.prune(None, None).unwrap();
    assert_eq!(again.files_deleted, report.files_deleted, "the leftovers are deleted: {again:?}");
    assert_eq!(again.blocks_pruned, 0);
    assert!(deleted.iter().all(|f| !cm.files.file_numbers().contains(f)));
    assert_claimed_data_readable(&cm);
}

#[test]
fn fork_point_is_the_last_block_a_branch_shares_with_the_active_chain() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = regtest_chain(20);
    let mut cm = open_chain(dir.path(), 1 << 20);
    connect(&mut cm, &blocks);
    // A headers-only branch of 30 forking at height 10 (merkle roots differ from the blocks').
    let mut prev = blocks[9].header;
    for n in 100..130 {
        let h = mine_header(&prev, n);
        cm.accept_header(&h).unwrap().unwrap();
        prev = h;
    }
    let fork = cm.fork_point(&prev.block_hash()).unwrap();
    assert_eq!((fork.height, fork.hash), (10, blocks[9].block_hash()));
    let tip = cm.tip().hash;
    assert_eq!(cm.fork_point(&tip).unwrap().hash, tip, "an active block is its own fork point");
    assert!(cm.fork_point(&BlockHash::all_zeros()).is_none());
}

/// A flush that fails inside a read-only RPC (`gettxoutsetinfo` and `scantxoutset` flush
/// before reading the coins table) reaches the fatal handler, as one in block connection
/// does: whoever hits an unwritable chainstate, the node stops.
#[test]
fn a_failed_flush_outside_block_connection_reaches_the_fatal_handler() {
    let blocks = regtest_chain(20);
    let dir = tempfile::tempdir().unwrap();
    let mut cm = open_chain(dir.path(), DEFAULT_MAX_FILE_SIZE);
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let t = told.clone();
    cm.set_fatal_handler(Box::new(move |m| t.lock().unwrap().push(m.to_string())));
    connect(&mut cm, &blocks);
    assert!(told.lock().unwrap().is_empty());
    cm.db.fail_commit_after(0);
    assert!(cm.utxo_stats().is_err());
    let told = told.lock().unwrap();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].starts_with("chainstate flush failed"), "{}", told[0]);
}

/// Equal-work branches are ordered as Core's CBlockIndexWorkComparator: the block seen first
/// wins. `invalidateblock` returns to an earlier-seen branch of equal work (interface_zmq.py's
/// reorg), and `preciousblock` makes a later-seen block win until another precious call.
#[test]
fn equal_work_branches_prefer_the_first_seen_block_and_precious_overrides_it() {
    use blvm_testkit::mining::{self, Parent};
    let dir = tempfile::tempdir().unwrap();
    let blocks = regtest_chain(5);
    let mut cm = open_chain(dir.path(), 1 << 20);
    connect(&mut cm, &blocks);
    let times: Vec<u32> = blocks[..4].iter().map(|b| b.header.time).collect();
    let on_tip = Parent::from_block(&blocks[4], 5, &times);
    let a = mining::build_block(&on_tip, 1_000, vec![], bitcoin::Amount::ZERO, mining::op_true());
    let b1 = mining::build_block(&on_tip, 2_000, vec![], bitcoin::Amount::ZERO, mining::op_true());
    let b2 = mining::build_block(
        &Parent::from_block(&b1, 6, &times),
        2_001,
        vec![],
        bitcoin::Amount::ZERO,
        mining::op_true(),
    );
    connect(&mut cm, std::slice::from_ref(&a));
    // b1 has the same work as a, seen later: it stays off the active chain.
    assert_eq!(cm.process_block(&b1).unwrap(), BlockOutcome::Accepted { connected: false });
    assert_eq!(cm.tip().hash, a.block_hash());
    cm.process_block(&b2).unwrap();
    assert_eq!(cm.tip().hash, b2.block_hash());
    // Invalidating b2 leaves b1 and a with equal work: a was seen first.
    assert!(cm.invalidate_block(&b2.block_hash()).unwrap());
    assert_eq!(cm.tip().hash, a.block_hash());
    assert!(cm.precious_block(&b1.block_hash()).unwrap());
    assert_eq!(cm.tip().hash, b1.block_hash());
    // A later precious call at the same tip work wins over the earlier one.
    assert!(cm.precious_block(&a.block_hash()).unwrap());
    assert_eq!(cm.tip().hash, a.block_hash());
    // The active chain's own tip stays put when nothing better exists.
    assert!(cm.precious_block(&a.block_hash()).unwrap());
    assert_eq!(cm.tip().hash, a.block_hash());
}

/// A chain without the transaction and filter indexes (cache-full flushes run in the
/// background) with a `dbcache_bytes` coins budget.
fn open_plain(dir: &Path, dbcache_bytes: usize) -> ChainManager {
    let settings = ChainSettings {
        dbcache_bytes,
        ..Default::default()
    };
    ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), dir, settings).unwrap()
}

/// The best-block marker on disk.
fn best_on_disk(cm: &ChainManager) -> BlockHash {
    let b = cm.db.get_meta(META_BEST_BLOCK).unwrap().unwrap();
    BlockHash::from_byte_array(b.try_into().unwrap())
}

/// A block on `blocks[tip]` spending the coinbase of `blocks[victim]` again.
pub(super) fn double_spend_block(blocks: &[Block], tip: usize, victim: usize) -> Block {
    coinbase_spend_block(blocks, tip, victim, |_| {})
}

/// A block on `blocks[tip]` whose one transaction spends the coinbase of `blocks[victim]`,
/// changed by `edit` before the block is built.
pub(super) fn coinbase_spend_block(blocks: &[Block], tip: usize, victim: usize, edit: impl FnOnce(&mut bitcoin::Transaction)) -> Block {
    use blvm_testkit::mining::{self, Parent};
    let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
    let mut times = vec![genesis.header.time];
    times.extend(blocks[..tip].iter().map(|b| b.header.time));
    let parent = Parent::from_block(&blocks[tip], tip as u32 + 1, &times);
    let cb = &blocks[victim].txdata[0];
    let fee = bitcoin::Amount::from_sat(1_000);
    let mut tx = mining::spend(
        &[(
            OutPoint {
                txid: cb.compute_txid(),
                vout: 0,
            },
            mining::op_true(),
        )],
        vec![TxOut {
            value: cb.output[0].value - fee,
            script_pubkey: mining::op_true(),
        }],
    );
    edit(&mut tx);
    mining::build_block(&parent, 9_999, vec![tx], fee, mining::op_true())
}

#[test]
fn blocks_connect_while_a_background_write_is_held_and_the_state_matches_synchronous_flushes() {
    let blocks = regtest_chain(130);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = open_plain(dir_a.path(), 450 << 20);
    let mut b = open_chain(dir_b.path(), DEFAULT_MAX_FILE_SIZE);
    // Coins in the database, then spent by blocks 101-105: tombstones in the frozen generation.
    connect(&mut a, &blocks[..100]);
    a.flush(FlushReason::Manual).unwrap();
    connect(&mut a, &blocks[100..105]);
    connect(&mut b, &blocks[..105]);
    b.flush(FlushReason::Manual).unwrap();
    let (release, gate) = std::sync::mpsc::channel();
    a.hold_next_write(gate);
    a.flush_background(FlushReason::CacheFull).unwrap();
    // Blocks 106.. spend coinbases of the frozen generation while its write is held.
    connect(&mut a, &blocks[105..125]);
    connect(&mut b, &blocks[105..125]);
    assert!(a.writing_in_background(), "the writer is held by the test");
    assert_ne!(best_on_disk(&a), blocks[104].block_hash(), "nothing is durable before the release");
    let spent = OutPoint {
        txid: blocks[10].txdata[0].compute_txid(),
        vout: 0,
    };
    assert_eq!(a.get_coin(&spent).unwrap(), None, "spent after the freeze");
    // Spending again a database coin the frozen generation spent: the database still holds it,
    // but the frozen tombstone must win.
    let double = double_spend_block(&blocks, 124, 2);
    match a.process_block(&double).unwrap() {
        BlockOutcome::Invalid(r) => assert_eq!(r.reason, "bad-txns-inputs-missingorspent"),
        other => panic!("a double spend across the freeze was {other:?}"),
    }
    release.send(()).unwrap();
    connect(&mut a, &blocks[125..]);
    connect(&mut b, &blocks[125..]);
    a.finish_write(true).unwrap();
    assert_eq!(best_on_disk(&a), blocks[104].block_hash(), "the frozen tip is durable");
    let reports = a.take_flush_reports();
    assert!(
        reports.iter().any(|r| r.success && r.coins_written > 0 && r.index_written == 5),
        "the durable write is reported: {reports:?}"
    );
    assert_eq!(a.utxo_muhash().unwrap(), b.utxo_muhash().unwrap());
    assert_eq!(a.utxo_stats().unwrap(), b.utxo_stats().unwrap());
    let want = b.utxo_muhash().unwrap();
    drop(a);
    let mut a = open_plain(dir_a.path(), 450 << 20);
    assert_eq!(a.tip().hash, blocks[129].block_hash());
    assert_eq!(a.utxo_muhash().unwrap(), want);
}

#[test]
fn small_cache_background_flushes_give_the_synchronous_state() {
    let blocks = regtest_chain(130);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // A few blocks' worth of coins: many freezes, each waiting for the previous write.
    let mut a = open_plain(dir_a.path(), 4_000);
    let mut b = open_chain(dir_b.path(), DEFAULT_MAX_FILE_SIZE);
    connect(&mut a, &blocks);
    connect(&mut b, &blocks);
    a.finish_write(true).unwrap();
    let durable = a.take_flush_reports().iter().filter(|r| r.success).count();
    assert!(durable > 10, "background writes: {durable}");
    assert_eq!(a.utxo_muhash().unwrap(), b.utxo_muhash().unwrap());
}

#[test]
fn a_failed_background_write_is_redone_with_the_live_state_by_the_next_flush() {
    let blocks = regtest_chain(130);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = open_plain(dir_a.path(), 450 << 20);
    let mut b = open_chain(dir_b.path(), DEFAULT_MAX_FILE_SIZE);
    let told = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let t = told.clone();
    a.set_fatal_handler(Box::new(move |_| t.store(true, std::sync::atomic::Ordering::SeqCst)));
    connect(&mut a, &blocks[..110]);
    connect(&mut b, &blocks[..110]);
    a.flush(FlushReason::Manual).unwrap();
    connect(&mut a, &blocks[110..120]);
    connect(&mut b, &blocks[110..120]);
    a.db.fail_commit_after(0);
    a.flush_background(FlushReason::CacheFull).unwrap();
    assert!(a.finish_write(true).is_err(), "the injected failure must surface");
    assert!(told.load(std::sync::atomic::Ordering::SeqCst), "a failed write is fatal");
    assert!(a.take_flush_reports().iter().any(|r| !r.success));
    // The chain moves on over the kept generation, then the shutdown flush writes both.
    connect(&mut a, &blocks[120..]);
    connect(&mut b, &blocks[120..]);
    a.flush(FlushReason::Shutdown).unwrap();
    let want = b.utxo_muhash().unwrap();
    drop(a);
    let mut a = open_plain(dir_a.path(), 450 << 20);
    assert_eq!(a.tip().hash, b.tip().hash);
    assert_eq!(a.utxo_muhash().unwrap(), want);
    for blk in &blocks[110..120] {
        let h = blk.block_hash();
        let (ea, eb) = (a.entry(&h).unwrap(), b.entry(&h).unwrap());
        assert_eq!((ea.status, ea.undo_pos), (eb.status, eb.undo_pos), "index entry of {h}");
    }
}

/// A crash (no shutdown flush) after a background write that failed, or that landed under a
/// live generation never written: reopening replays the block files from the last durable scan
/// position and reaches the synchronous chain's UTXO set.
#[test]
fn a_crash_around_a_background_write_reopens_to_the_same_utxo_set() {
    let blocks = regtest_chain(130);
    let dir_b = tempfile::tempdir().unwrap();
    let mut b = open_chain(dir_b.path(), DEFAULT_MAX_FILE_SIZE);
    connect(&mut b, &blocks);
    let want = b.utxo_muhash().unwrap();
    for fail in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut a = open_plain(dir.path(), 450 << 20);
        connect(&mut a, &blocks[..110]);
        if fail {
            a.db.fail_commit_after(0);
        }
        a.flush_background(FlushReason::CacheFull).unwrap();
        assert_eq!(a.finish_write(true).is_err(), fail);
        connect(&mut a, &blocks[110..]);
        assert_eq!(best_on_disk(&a) == blocks[109].block_hash(), !fail, "failed write: {fail}");
        drop(a);
        let mut a = open_plain(dir.path(), 450 << 20);
        assert_eq!(a.tip().hash, blocks[129].block_hash(), "failed write: {fail}");
        assert_eq!(a.utxo_muhash().unwrap(), want, "failed write: {fail}");
    }
}

/// The coin statistics index with background flushes on: a freeze writes the records of the
/// blocks since the last synchronous flush but not the best block (not yet durable); after a
/// crash (drop without a flush) the index resumes from its last durable best block and catches
/// up, and its MuHash at the tip is the UTXO set's.
#[test]
fn coinstats_index_survives_background_flushes_and_a_crash() {
    let blocks = regtest_chain(130);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let settings = ChainSettings {
        dbcache_bytes: 450 << 20,
        coinstatsindex: true,
        ..Default::default()
    };
    let regtest = || ChainParams::for_network(bitcoin::Network::Regtest);
    let mut a = ChainManager::open(regtest(), dir_a.path(), settings.clone()).unwrap();
    assert!(a.background_flush_enabled(), "the index keeps background flushes on");
    connect(&mut a, &blocks[..100]);
    a.flush(FlushReason::Manual).unwrap();
    connect(&mut a, &blocks[100..105]);
    a.flush_background(FlushReason::CacheFull).unwrap();
    a.finish_write(true).unwrap();
    let stored = a.coinstats_db.as_ref().unwrap();
    assert!(stored.get(&blocks[104].block_hash().to_byte_array()).unwrap().is_some());
    let best = stored.get_meta("best_block").unwrap().unwrap();
    assert_eq!(
        best,
        blocks[99].block_hash().to_byte_array().to_vec(),
        "best moves only after a sync flush"
    );
    connect(&mut a, &blocks[105..]);
    let tip = blocks[129].block_hash();
    let live = a.coinstats_record(&tip).unwrap().unwrap();
    drop(a);
    let mut b = open_plain(dir_b.path(), 450 << 20);
    connect(&mut b, &blocks);
    let want = b.utxo_muhash().unwrap();
    assert_eq!(live.muhash_hex(), want);
    let a = ChainManager::open(regtest(), dir_a.path(), settings).unwrap();
    assert_eq!(a.tip().hash, tip, "the block files were replayed");
    assert_eq!(a.coinstats_index_height(), Some(130));
    assert_eq!(a.coinstats_record(&tip).unwrap(), Some(live));
}

#[test]
fn two_chainstates_split_the_dbcache_budget_as_core() {
    let dir = tempfile::tempdir().unwrap();
    let total = 100 << 20;
    let mut cm = open_plain(dir.path(), total);
    assert_eq!(cm.coins_budget(), total);
    // A snapshot chainstate at the best header, the main one historical: background validation
    // gets 95%.
    let genesis = cm.tip().hash;
    let historical = chainstate::Chainstate {
        active: ActiveChain::from_blocks([(genesis, 1)]),
        ..chainstate::Chainstate::main()
    };
    cm.historical = Some(historical);
    cm.cs.from_snapshot = Some(genesis);
    cm.cs.validated = false;
    let big = total / 100 * 95;
    assert_eq!((cm.coins_budget(), cm.other_coins_budget()), (total - big, big));
    let swapped = cm.with_validated_chainstate(|cm| (cm.coins_budget(), cm.other_coins_budget()));
    assert_eq!(swapped, (big, total - big));
    // Headers ahead of the snapshot chainstate: getting to the tip first, it gets 95%.
    let h = mine_header(&cm.tip().header, 0);
    cm.accept_header(&h).unwrap().unwrap();
    assert_eq!((cm.coins_budget(), cm.other_coins_budget()), (big, total - big));
    let swapped = cm.with_validated_chainstate(|cm| (cm.coins_budget(), cm.other_coins_budget()));
    assert_eq!(swapped, (total - big, big));
    // Always within -dbcache together.
    assert!(cm.coins_budget() + cm.other_coins_budget() <= total);
}

/// Empty blocks on `blocks[tip]` (the last `len` blocks of a branch forking there).
fn branch_on(blocks: &[Block], tip: usize, len: u32, tag: u64) -> Vec<Block> {
    use blvm_testkit::mining::{self, Parent};
    let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
    let mut times = vec![genesis.header.time];
    times.extend(blocks[..tip].iter().map(|b| b.header.time));
    let mut parent_block = blocks[tip].clone();
    let mut out = Vec::new();
    for i in 0..len {
        let parent = Parent::from_block(&parent_block, tip as u32 + 1 + i, &times);
        times.push(parent_block.header.time);
        let b = mining::build_block(&parent, tag + u64::from(i), vec![], bitcoin::Amount::ZERO, mining::op_true());
        out.push(b.clone());
        parent_block = b;
    }
    out
}

#[test]
fn a_reorg_of_blocks_whose_writes_are_still_queued_reads_their_undo_data_from_the_queue() {
    let blocks = regtest_chain(110);
    let fork = branch_on(&blocks, 104, 7, 70_000);
    let (dir, dir_ref) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut cm = open_plain(dir.path(), 450 << 20);
    connect(&mut cm, &blocks[..105]);
    cm.flush(FlushReason::Manual).unwrap();
    // Blocks 106-110 (each spending a coinbase: non-empty undo data) stay in the writer's queue.
    let (release, gate) = std::sync::mpsc::channel();
    cm.files.hold_next_write(gate);
    connect(&mut cm, &blocks[105..]);
    assert_eq!(cm.files.queued_records(), 10, "five blocks and their undo records queued");
    assert_eq!(cm.read_block(&blocks[109].block_hash()).unwrap().as_ref(), Some(&blocks[109]));
    // The longer branch disconnects 110..106, whose undo data is read from the queue.
    for b in &fork[..6] {
        cm.process_block(b).unwrap();
    }
    assert_eq!(cm.tip().hash, fork[5].block_hash());
    assert!(cm.files.queued_records() >= 10, "the reorg ran with the writes still queued");
    // The undo data restored the coinbases blocks 106-110 spent and removed what they created.
    for (spender, spent) in blocks[105..].iter().zip(&blocks[5..10]) {
        let restored = OutPoint {
            txid: spent.txdata[0].compute_txid(),
            vout: 0,
        };
        assert!(cm.get_coin(&restored).unwrap().is_some(), "coin restored by the disconnect");
        let created = OutPoint {
            txid: spender.txdata[1].compute_txid(),
            vout: 0,
        };
        assert_eq!(cm.get_coin(&created).unwrap(), None, "coin removed by the disconnect");
    }
    // Released (a flush waits for the queue): the same UTXO set as a node that never saw them.
    release.send(()).unwrap();
    let mut reference = open_plain(dir_ref.path(), 450 << 20);
    connect(&mut reference, &blocks[..105]);
    connect(&mut reference, &fork[..6]);
    assert_eq!(cm.utxo_muhash().unwrap(), reference.utxo_muhash().unwrap());
    assert_eq!(cm.utxo_stats().unwrap(), reference.utxo_stats().unwrap());
    cm.flush(FlushReason::Manual).unwrap();
    assert_eq!(cm.files.queued_records(), 0);
    assert_claimed_data_readable(&cm);
    drop(cm);
    let mut cm = open_plain(dir.path(), 450 << 20);
    assert_eq!(cm.tip().hash, fork[5].block_hash());
    connect(&mut cm, &fork[6..]);
    connect(&mut reference, &fork[6..]);
    assert_eq!(cm.utxo_muhash().unwrap(), reference.utxo_muhash().unwrap());
    // Back to the first branch: its blocks' undo data now comes from the files.
    assert!(cm.invalidate_block(&fork[0].block_hash()).unwrap());
    assert_eq!(cm.tip().hash, blocks[109].block_hash());
}

//! The transaction index (`-txindex`) in the chain engine, on a real on-disk datadir with Core's
//! regtest chain: built from scratch when first enabled on an existing chain, moved with new
//! blocks and reorganisations, caught up after the node ran without it, rebuilt when the chain it
//! describes was reorganised away meanwhile, and always equal to a scan of the active chain.
//! The RPC side (getrawtransaction by txid, getindexinfo) is in `txindex_rpc.rs`.

mod support;

use support::mining;

use bitcoin::{Block, BlockHash, Txid};
use blvm_node::chain::{ChainManager, ChainSettings, FlushReason};
use blvm_node::params::ChainParams;
use std::collections::HashMap;
use std::path::Path;

fn open(dir: &Path, txindex: bool) -> ChainManager {
    let settings = ChainSettings {
        txindex,
        ..support::test_settings()
    };
    ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), dir, settings).expect("open chain")
}

/// Every transaction of the active chain (except genesis's coinbase, which Core never indexes)
/// and the block it is in, by scanning the blocks.
fn scan_active(c: &ChainManager) -> HashMap<Txid, BlockHash> {
    let mut want = HashMap::new();
    for h in 1..=c.height() {
        let hash = c.hash_at(h).unwrap();
        for tx in c.read_block(&hash).unwrap().unwrap().txdata {
            want.insert(tx.compute_txid(), hash);
        }
    }
    want
}

/// The index answers exactly like the scan for every transaction of `all` (active or not).
fn assert_index_matches_chain(c: &ChainManager, all: &[Block], what: &str) {
    let want = scan_active(c);
    let mut found = 0;
    for tx in all.iter().flat_map(|b| &b.txdata) {
        let txid = tx.compute_txid();
        let got = c.indexed_transaction(&txid).unwrap_or_else(|e| panic!("{what}: {txid}: {e}"));
        match (got, want.get(&txid)) {
            (Some((block, got_tx)), Some(w)) => {
                assert_eq!(block, *w, "{what}: {txid} in the wrong block");
                assert_eq!(&got_tx, tx, "{what}: {txid} wrong transaction");
                found += 1;
            }
            (None, None) => {}
            (got, w) => panic!("{what}: {txid}: index {:?}, chain {w:?}", got.map(|g| g.0)),
        }
    }
    assert_eq!(found, want.len(), "{what}: every active transaction is indexed");
    assert_eq!(c.txindex_height(), Some(c.height()), "{what}: index at the tip");
}

#[test]
fn txindex_follows_the_active_chain_through_reorgs_restarts_and_pauses() {
    let blocks = support::chain_blocks();
    let dir = tempfile::tempdir().unwrap();
    let mut all: Vec<Block> = blocks.clone();

    // A chain imported without the index, then opened with it: built from scratch.
    {
        let mut c = open(dir.path(), false);
        mining::submit_all(&mut c, &blocks[1..]);
        assert_eq!(c.height(), 300);
        assert_eq!(c.txindex_height(), None);
        c.flush(FlushReason::Manual).unwrap();
    }
    let mut c = open(dir.path(), true);
    assert_index_matches_chain(&c, &all, "built on open");
    let genesis_coinbase = blocks[0].txdata[0].compute_txid();
    assert_eq!(c.indexed_transaction(&genesis_coinbase).unwrap(), None);

    // A longer branch from 250 disconnects 251..=300: their transactions leave the index
    // before any flush (pending changes answer), and after one.
    let fork = mining::branch(&c, c.hash_at(250).unwrap(), 52, 7);
    mining::submit_all(&mut c, &fork);
    assert_eq!(c.height(), 302);
    all.extend(fork.iter().cloned());
    assert_index_matches_chain(&c, &all, "after a reorg, unflushed");
    c.flush(FlushReason::Manual).unwrap();
    assert_index_matches_chain(&c, &all, "after a reorg, flushed");

    // Reopened: the same answers from disk.
    drop(c);
    let c = open(dir.path(), true);
    assert_index_matches_chain(&c, &all, "reopened");

    // Run without the index for a while; reopened with it, it catches up from where it stopped.
    let tip = c.tip().hash;
    drop(c);
    {
        let mut c = open(dir.path(), false);
        let more = mining::branch(&c, tip, 3, 8);
        mining::submit_all(&mut c, &more);
        all.extend(more);
        c.flush(FlushReason::Manual).unwrap();
    }
    let c = open(dir.path(), true);
    assert_eq!(c.height(), 305);
    assert_index_matches_chain(&c, &all, "caught up");
    drop(c);

    // Without the index, the chain switches back to Core's branch (made longer): the block the
    // index stopped at is no longer active, so the next open with the index rebuilds it.
    {
        let mut c = open(dir.path(), false);
        let longer = mining::branch(&c, blocks[300].block_hash(), 6, 9);
        mining::submit_all(&mut c, &longer);
        assert_eq!(c.tip().hash, longer.last().unwrap().block_hash());
        all.extend(longer);
        c.flush(FlushReason::Manual).unwrap();
    }
    let c = open(dir.path(), true);
    assert_eq!(c.height(), 306);
    assert_index_matches_chain(&c, &all, "rebuilt after a reorg while off");
    for b in &fork {
        assert_eq!(
            c.indexed_transaction(&b.txdata[0].compute_txid()).unwrap(),
            None,
            "stale fork entry"
        );
    }
}

//! The script execution cache on a real chain and mempool: mempool acceptance records a
//! transaction under the flags of the next block; block connection skips the scripts of cached
//! transactions but checks a cached transaction again under other flags (a block at a soft
//! fork's activation height), and a cached transaction never saves an otherwise invalid block.
//!
//! The soft fork is BIP65 moved to height 110 (`-testactivationheight=cltv@110`): an output
//! whose script is a bare `OP_CHECKLOCKTIMEVERIFY` is spent by `OP_1` and a zero locktime,
//! valid while the opcode is a NOP and invalid once it is enforced. As Core's, the mempool
//! checks scripts under the standard flags, CLTV included before its activation, so it never
//! admits such a spend: the entries for those spends are put in the cache by hand, as an
//! earlier check under the pre-fork flags would have left them.

mod support;

use support::mining;

use bitcoin::hashes::Hash;
use bitcoin::{Amount, Block, BlockHash, OutPoint, ScriptBuf, Transaction, TxIn, TxOut};
use blvm_node::chain::{BlockOutcome, ChainManager};
use blvm_node::mempool::{AcceptOptions, Mempool, MempoolSettings};
use blvm_node::params::ChainParams;
use blvm_node::validation::scripts::{block_script_flags, ScriptFlags};
use std::sync::{Arc, Mutex};

const CLTV_HEIGHT: u32 = 110;
/// CLTV outputs created by the funding transaction at height 102.
const CLTV_OUTPUTS: u32 = 4;

fn cltv_script() -> ScriptBuf {
    ScriptBuf::from_bytes(vec![0xb1])
}

struct Env {
    _dir: tempfile::TempDir,
    chain: Arc<Mutex<ChainManager>>,
    mempool: Arc<Mempool>,
    /// The funding transaction: outputs 0..CLTV_OUTPUTS are CLTV, the next ones OP_TRUE.
    funding: bitcoin::Txid,
    tag: u64,
}

/// 101 blocks paying OP_TRUE, then block 102 funding CLTV and OP_TRUE outputs; a mempool that
/// takes non-standard transactions (a bare CLTV script is not standard).
fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut params = ChainParams::for_network(bitcoin::Network::Regtest);
    params.set_test_activation_height(&format!("cltv@{CLTV_HEIGHT}")).unwrap();
    let mut chain = ChainManager::open(params, dir.path(), support::test_settings()).unwrap();
    let blocks = mining::branch(&chain, chain.tip().hash, 101, 1);
    mining::submit_all(&mut chain, &blocks);
    let cb = blocks[0].txdata[0].compute_txid();
    let mut outputs: Vec<TxOut> = (0..CLTV_OUTPUTS)
        .map(|_| TxOut {
            value: Amount::from_int_btc(1),
            script_pubkey: cltv_script(),
        })
        .collect();
    outputs.extend((0..4).map(|_| TxOut {
        value: Amount::from_int_btc(1),
        script_pubkey: mining::op_true(),
    }));
    let funding = mining::spend(&[(OutPoint::new(cb, 0), mining::op_true())], outputs);
    let parent = mining::parent_of(&chain, &chain.tip().hash);
    let b = mining::build_block(&parent, 2, vec![funding.clone()], Amount::from_int_btc(42), mining::op_true());
    assert_eq!(chain.process_block(&b).unwrap(), BlockOutcome::Accepted { connected: true });
    let chain = Arc::new(Mutex::new(chain));
    let settings = MempoolSettings {
        require_standard: false,
        ..Default::default()
    };
    let mempool = Mempool::new(settings, chain.clone(), None, dir.path());
    mempool.set_loaded();
    Env {
        _dir: dir,
        chain,
        mempool,
        funding: funding.compute_txid(),
        tag: 100,
    }
}

/// Spends output `vout` of the funding transaction to P2WSH(OP_TRUE) with `script_sig`.
fn spend(funding: bitcoin::Txid, vout: u32, script_sig: ScriptBuf) -> Transaction {
    Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(funding, vout),
            script_sig,
            ..Default::default()
        }],
        output: vec![TxOut {
            value: Amount::from_sat(99_990_000),
            // 34 bytes, so the transaction is not below the 65-byte minimum (tx-size-small).
            script_pubkey: mining::p2wsh_op_true(),
        }],
    }
}

impl Env {
    /// Spends CLTV output `vout`: valid below the activation height only.
    fn cltv_spend(&self, vout: u32) -> Transaction {
        assert!(vout < CLTV_OUTPUTS);
        spend(self.funding, vout, ScriptBuf::from_bytes(vec![0x51]))
    }

    /// Spends OP_TRUE output `n` with an empty scriptSig: valid under any flags.
    fn valid_spend(&self, n: u32) -> Transaction {
        spend(self.funding, CLTV_OUTPUTS + n, ScriptBuf::new())
    }

    /// Spends OP_TRUE output `n` with an `OP_RETURN` scriptSig: invalid under any flags.
    fn invalid_spend(&self, n: u32) -> Transaction {
        spend(self.funding, CLTV_OUTPUTS + n, ScriptBuf::from_bytes(vec![0x6a]))
    }

    fn flags_at(&self, height: u32) -> ScriptFlags {
        let chain = self.chain.lock().unwrap();
        block_script_flags(chain.params(), height, &BlockHash::all_zeros())
    }

    fn cached(&self, tx: &Transaction, flags: ScriptFlags) -> bool {
        self.chain
            .lock()
            .unwrap()
            .script_cache()
            .contains(&tx.compute_wtxid(), flags, false)
    }

    /// A block on the tip holding `txs` (each paying a 10,000 sat fee).
    fn block(&mut self, txs: Vec<Transaction>) -> Block {
        self.tag += 1;
        let chain = self.chain.lock().unwrap();
        let parent = mining::parent_of(&chain, &chain.tip().hash);
        let fees = Amount::from_sat(10_000 * txs.len() as u64);
        mining::build_block(&parent, self.tag, txs, fees, mining::op_true())
    }

    fn submit(&self, block: &Block) -> BlockOutcome {
        self.chain.lock().unwrap().process_block(block).unwrap()
    }

    /// Mines empty blocks until the tip is at `height`.
    fn mine_to(&mut self, height: u32) {
        while self.chain.lock().unwrap().height() < height {
            let b = self.block(vec![]);
            assert_eq!(self.submit(&b), BlockOutcome::Accepted { connected: true });
        }
    }

    fn height(&self) -> u32 {
        self.chain.lock().unwrap().height()
    }
}

fn rejected_for(outcome: BlockOutcome, reason: &str) -> String {
    match outcome {
        BlockOutcome::Invalid(r) if r.reason == reason => r.detail,
        other => panic!("expected {reason}, got {other:?}"),
    }
}

#[test]
fn mempool_acceptance_caches_the_transaction_under_the_next_blocks_flags() {
    let mut env = env();
    let tx = env.valid_spend(2);
    let next = env.height() + 1;
    assert!(!env.cached(&tx, env.flags_at(next)));
    env.mempool
        .accept(tx.clone(), AcceptOptions::default())
        .expect("valid under any flags");
    assert!(env.cached(&tx, env.flags_at(next)));
    assert!(
        !env.cached(&tx, env.flags_at(CLTV_HEIGHT)),
        "only under the flags it was checked with"
    );
    // A spend valid only before the fork is refused: the standard flags include CLTV.
    let cltv = env.cltv_spend(0);
    let r = env.mempool.accept(cltv.clone(), AcceptOptions::default()).unwrap_err();
    assert_eq!(r.reason, "mempool-script-verify-flag-failed (Locktime requirement not satisfied)");
    assert!(!env.cached(&cltv, env.flags_at(next)));
    // Rejected transactions are not cached.
    let bad = env.invalid_spend(0);
    assert!(env.mempool.accept(bad.clone(), AcceptOptions::default()).is_err());
    assert!(!env.cached(&bad, env.flags_at(next)));
    let b = env.block(vec![tx]);
    assert_eq!(env.submit(&b), BlockOutcome::Accepted { connected: true });
}

#[test]
fn block_connection_trusts_the_cache_under_the_same_flags_only() {
    // The cache is authoritative for its (wtxid, flags): which is why only transactions whose
    // every input passed ever enter it. Put an invalid one in by hand to see the skip.
    let mut env = env();
    let bad = env.invalid_spend(0);
    let flags = env.flags_at(env.height() + 1);
    env.chain.lock().unwrap().script_cache().insert(&bad.compute_wtxid(), flags);
    let b = env.block(vec![bad.clone()]);
    assert_eq!(env.submit(&b), BlockOutcome::Accepted { connected: true }, "scripts skipped");

    // The same under other flags: checked, and rejected.
    let mut env2 = self::env();
    let bad2 = env2.invalid_spend(1);
    let flags = env2.flags_at(CLTV_HEIGHT);
    env2.chain.lock().unwrap().script_cache().insert(&bad2.compute_wtxid(), flags);
    let b = env2.block(vec![bad2]);
    rejected_for(env2.submit(&b), "block-script-verify-flag-failed (OP_RETURN was encountered)");
}

#[test]
fn a_cached_transaction_is_checked_again_above_a_soft_fork_activation() {
    let mut env = env();
    let (early, late) = (env.cltv_spend(0), env.cltv_spend(1));
    let pre_fork = env.flags_at(env.height() + 1);
    assert_ne!(pre_fork, env.flags_at(CLTV_HEIGHT));
    for tx in [&early, &late] {
        env.chain.lock().unwrap().script_cache().insert(&tx.compute_wtxid(), pre_fork);
    }
    // Below the activation height the flags are those it was cached under.
    env.mine_to(CLTV_HEIGHT - 2);
    assert_eq!(env.flags_at(CLTV_HEIGHT - 1), pre_fork);
    let b = env.block(vec![early]);
    assert_eq!(env.submit(&b), BlockOutcome::Accepted { connected: true });
    // At the activation height the cached entry does not apply: the script runs and fails.
    assert!(env.cached(&late, pre_fork));
    let b = env.block(vec![late.clone()]);
    let detail = rejected_for(
        env.submit(&b),
        "block-script-verify-flag-failed (Locktime requirement not satisfied)",
    );
    assert!(detail.contains(&late.compute_txid().to_string()), "{detail}");
    assert_eq!(env.height(), CLTV_HEIGHT - 1);
}

#[test]
fn a_cached_transaction_does_not_save_an_invalid_block() {
    let mut env = env();
    let good = env.valid_spend(2);
    env.mempool.accept(good.clone(), AcceptOptions::default()).expect("accepted");
    assert!(env.cached(&good, env.flags_at(env.height() + 1)));
    // A script failure in another transaction.
    let bad = env.invalid_spend(0);
    let b = env.block(vec![good.clone(), bad.clone()]);
    let detail = rejected_for(env.submit(&b), "block-script-verify-flag-failed (OP_RETURN was encountered)");
    assert!(detail.contains(&bad.compute_txid().to_string()), "{detail}");
    // A rule other than scripts: the coinbase claims too much.
    let mut greedy = env.block(vec![good.clone()]);
    greedy.txdata[0].output[0].value += Amount::from_sat(1);
    mining::finish(&mut greedy);
    rejected_for(env.submit(&greedy), "bad-cb-amount");
    assert_eq!(env.height(), 102);
    // The cached transaction alone connects.
    let b = env.block(vec![good]);
    assert_eq!(env.submit(&b), BlockOutcome::Accepted { connected: true });
}

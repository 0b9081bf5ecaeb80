//! Segwit's activation and Core's mempool script policy on a real chain and mempool:
//! - block templates put the witness reserved value in the coinbase only where segwit is
//!   enforced (before it, any witness makes the block invalid: `unexpected-witness`);
//! - the mempool checks scripts under Core's standard flags also with `-acceptnonstdtxn`
//!   (Core's PolicyScriptChecks), so spending an upgradable NOP stays refused;
//! - a witness program spent without witnesses is refused as a copy that may have been
//!   stripped of them (Core's TX_WITNESS_STRIPPED: `may_be_mutated`), other failures are not.

mod support;

use support::mining;

use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, TxOut, Witness};
use blvm_node::chain::{BlockOutcome, ChainManager};
use blvm_node::mempool::template::{solve, BlockTemplate};
use blvm_node::mempool::{AcceptOptions, Mempool, MempoolSettings};
use blvm_node::params::ChainParams;
use std::sync::{Arc, Mutex};

const SEGWIT_HEIGHT: u32 = 5;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Mines one block on `chain`'s tip from an empty template, as `generate` does.
fn mine_from_template(chain: &mut ChainManager) -> bitcoin::Block {
    let t = BlockTemplate::with_transactions(chain, Vec::new(), now(), None);
    let mut block = t.block(&mining::op_true());
    assert!(solve(&mut block.header, &mut 1_000_000), "regtest target met");
    assert_eq!(chain.process_block(&block).unwrap(), BlockOutcome::Accepted { connected: true });
    block
}

#[test]
fn templates_carry_a_coinbase_witness_only_where_segwit_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let mut params = ChainParams::for_network(bitcoin::Network::Regtest);
    params.set_test_activation_height(&format!("segwit@{SEGWIT_HEIGHT}")).unwrap();
    let mut chain = ChainManager::open(params, dir.path(), support::test_settings()).unwrap();
    for height in 1..=SEGWIT_HEIGHT + 2 {
        let block = mine_from_template(&mut chain);
        let witness = &block.txdata[0].input[0].witness;
        if height < SEGWIT_HEIGHT {
            assert!(witness.is_empty(), "height {height}: no coinbase witness before segwit");
        } else {
            assert_eq!(witness.len(), 1, "height {height}: the reserved value");
            assert_eq!(witness.nth(0), Some(&[0u8; 32][..]));
        }
        // Core adds the commitment output before segwit too.
        assert!(blvm_node::validation::block_check::witness_commitment_index(&block.txdata[0]).is_some());
    }
    assert_eq!(chain.height(), SEGWIT_HEIGHT + 2);
}

/// The funding transaction's outputs (block 102).
const NOP10: u32 = 0;
const P2WSH: u32 = 1;
const BARE_TRUE: u32 = 2;

struct Env {
    _dir: tempfile::TempDir,
    mempool: Arc<Mempool>,
    funding: bitcoin::Txid,
}

/// 101 blocks, then block 102 funding a bare `OP_NOP10 OP_1`, a P2WSH(OP_TRUE) and a bare
/// `OP_TRUE` output; a mempool with `require_standard` as given.
fn env(require_standard: bool) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let params = ChainParams::for_network(bitcoin::Network::Regtest);
    let mut chain = ChainManager::open(params, dir.path(), support::test_settings()).unwrap();
    let blocks = mining::branch(&chain, chain.tip().hash, 101, 1);
    mining::submit_all(&mut chain, &blocks);
    let cb = blocks[0].txdata[0].compute_txid();
    let outputs = [ScriptBuf::from_bytes(vec![0xb9, 0x51]), mining::p2wsh_op_true(), mining::op_true()]
        .into_iter()
        .map(|script_pubkey| TxOut {
            value: Amount::from_int_btc(1),
            script_pubkey,
        })
        .collect();
    let funding = mining::spend(&[(OutPoint::new(cb, 0), mining::op_true())], outputs);
    let parent = mining::parent_of(&chain, &chain.tip().hash);
    let b = mining::build_block(&parent, 2, vec![funding.clone()], Amount::from_int_btc(47), mining::op_true());
    assert_eq!(chain.process_block(&b).unwrap(), BlockOutcome::Accepted { connected: true });
    let settings = MempoolSettings {
        require_standard,
        ..Default::default()
    };
    let mempool = Mempool::new(settings, Arc::new(Mutex::new(chain)), None, dir.path());
    mempool.set_loaded();
    Env {
        _dir: dir,
        mempool,
        funding: funding.compute_txid(),
    }
}

impl Env {
    /// Spends funding output `vout` to P2WSH(OP_TRUE) with `script_sig` and `witness`.
    fn spend(&self, vout: u32, script_sig: Vec<u8>, witness: Witness) -> Transaction {
        let mut tx = mining::spend(
            &[(OutPoint::new(self.funding, vout), mining::op_true())],
            vec![TxOut {
                value: Amount::from_sat(99_990_000),
                script_pubkey: mining::p2wsh_op_true(),
            }],
        );
        tx.input[0].script_sig = ScriptBuf::from_bytes(script_sig);
        tx.input[0].witness = witness;
        tx
    }

    fn accept(&self, tx: Transaction) -> Result<(), blvm_node::validation::Reject> {
        self.mempool.accept(tx, AcceptOptions::default()).map(|_| ())
    }
}

#[test]
fn scripts_are_checked_under_the_standard_flags_also_without_standardness() {
    // With standardness, the bare script is refused before any script runs.
    let env_standard = env(true);
    let r = env_standard.accept(env_standard.spend(NOP10, vec![], Witness::new())).unwrap_err();
    assert_eq!(r.reason, "bad-txns-nonstandard-inputs");
    // Without it (`-acceptnonstdtxn`), the interpreter still runs under the standard flags.
    let env = env(false);
    let r = env.accept(env.spend(NOP10, vec![], Witness::new())).unwrap_err();
    assert_eq!(r.reason, "mempool-script-verify-flag-failed (NOPx reserved for soft-fork upgrades)");
    assert!(!r.may_be_mutated);
    // Another bare output is spendable: the refusal is the script's alone.
    env.accept(env.spend(BARE_TRUE, vec![], Witness::new())).unwrap();
}

#[test]
fn a_witness_program_spent_without_witnesses_may_be_a_stripped_copy() {
    let env = env(true);
    let stripped = env.spend(P2WSH, vec![], Witness::new());
    let r = env.accept(stripped).unwrap_err();
    assert_eq!(
        r.reason,
        "mempool-script-verify-flag-failed (Witness program was passed an empty witness)"
    );
    assert!(r.may_be_mutated, "Core's TX_WITNESS_STRIPPED");
    // A failure with nothing to strip is not (a bare output: only without standardness).
    let nonstd = self::env(false);
    let r = nonstd.accept(nonstd.spend(BARE_TRUE, vec![0x51], Witness::new())).unwrap_err();
    assert_eq!(
        r.reason,
        "mempool-script-verify-flag-failed (Stack size must be exactly one after execution)"
    );
    assert!(!r.may_be_mutated);
    // Nor is a failure of a transaction that has its witnesses.
    let wrong_witness = env.spend(P2WSH, vec![], Witness::from_slice(&[vec![0x00]]));
    let r = env.accept(wrong_witness).unwrap_err();
    assert!(!r.may_be_mutated, "{r}");
    // The transaction with its witness is accepted.
    env.accept(env.spend(P2WSH, vec![], Witness::from_slice(&[mining::op_true().to_bytes()])))
        .unwrap();
}

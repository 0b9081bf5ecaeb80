//! Connecting blocks with prevout prefetch workers gives what connecting without them gives.

use super::*;
use bitcoin::hashes::Hash;
use bitcoin::Transaction;
use blvm_testkit::mining::{self, Parent};

/// Builds blocks on a regtest chain, tracking the parent (and its time history) as it goes.
struct Builder {
    blocks: Vec<Block>,
    times: Vec<u32>,
    parent: Parent,
}

impl Builder {
    fn new() -> Self {
        let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
        Builder {
            blocks: Vec::new(),
            times: vec![genesis.header.time],
            parent: Parent::from_block(&genesis, 0, &[]),
        }
    }

    /// A block on the current tip with `txs` (not appended).
    fn block(&self, tag: u64, txs: Vec<Transaction>) -> Block {
        let fees = bitcoin::Amount::from_sat(1_000 * txs.len() as u64);
        mining::build_block(&self.parent, tag, txs, fees, mining::op_true())
    }

    fn push(&mut self, block: Block) {
        let height = self.parent.height + 1;
        self.parent = Parent::from_block(&block, height, &self.times);
        self.times.push(block.header.time);
        self.blocks.push(block);
    }

    /// The coinbase output of the block at `height`.
    fn coinbase(&self, height: usize) -> (OutPoint, bitcoin::Amount) {
        let cb = &self.blocks[height - 1].txdata[0];
        (
            OutPoint {
                txid: cb.compute_txid(),
                vout: 0,
            },
            cb.output[0].value,
        )
    }
}

/// A transaction spending `inputs` (worth `value`) into two `OP_TRUE` outputs, less 1,000 sat.
fn spend(inputs: &[OutPoint], value: bitcoin::Amount) -> Transaction {
    let half = bitcoin::Amount::from_sat((value.to_sat() - 1_000) / 2);
    let out = TxOut {
        value: half,
        script_pubkey: mining::op_true(),
    };
    let ins: Vec<(OutPoint, bitcoin::ScriptBuf)> = inputs.iter().map(|o| (*o, mining::op_true())).collect();
    mining::spend(&ins, vec![out.clone(), out])
}

/// The outcomes of the scenario, and the resulting tip and UTXO set hash.
type Run = (Vec<BlockOutcome>, BlockHash, String);

/// 110 coinbase-only blocks flushed to disk (the cache emptied, so their coins are read from
/// the database), a block creating coins in the cache, then a block spending a coin from disk,
/// one from the cache and one created earlier in the same block, first with an input that
/// exists nowhere (rejected), then without it.
fn scenario(threads: usize) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let settings = ChainSettings {
        prevout_fetch_threads: threads,
        ..Default::default()
    };
    let mut cm = ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), dir.path(), settings).unwrap();
    assert_eq!(cm.prefetch.threads(), threads);
    let mut b = Builder::new();
    let mut outcomes = Vec::new();
    for h in 1..=110u64 {
        let block = b.block(h, vec![]);
        outcomes.push(cm.process_block(&block).unwrap());
        b.push(block);
    }
    cm.flush(FlushReason::Manual).unwrap();
    cm.cs.coins.clear();
    let (cb1, v1) = b.coinbase(1);
    let x = spend(&[cb1], v1);
    let x0 = OutPoint {
        txid: x.compute_txid(),
        vout: 0,
    };
    let block = b.block(111, vec![x.clone()]);
    outcomes.push(cm.process_block(&block).unwrap());
    b.push(block);
    assert!(cm.cs.coins.has_entry(&x0), "the new coin is in the cache");

    let (cb2, v2) = b.coinbase(2);
    let (cb3, v3) = b.coinbase(3);
    let a = spend(&[cb2, x0], v2 + x.output[0].value);
    let a0 = OutPoint {
        txid: a.compute_txid(),
        vout: 0,
    };
    let c = spend(&[cb3, a0], v3 + a.output[0].value);
    let missing = OutPoint {
        txid: bitcoin::Txid::from_byte_array([7; 32]),
        vout: 3,
    };
    let (cb4, v4) = b.coinbase(4);
    let bad = spend(&[cb4, missing], v4);
    let invalid = b.block(1_112, vec![a.clone(), c.clone(), bad]);
    outcomes.push(cm.process_block(&invalid).unwrap());
    let valid = b.block(112, vec![a, c]);
    outcomes.push(cm.process_block(&valid).unwrap());
    (outcomes, cm.tip().hash, cm.utxo_muhash().unwrap())
}

#[test]
fn blocks_connect_the_same_with_and_without_prefetch_threads() {
    let without = scenario(0);
    let with = scenario(4);
    let last = &without.0[without.0.len() - 2..];
    assert!(
        matches!(&last[0], BlockOutcome::Invalid(r) if r.reason == "bad-txns-inputs-missingorspent"),
        "{:?}",
        last[0]
    );
    assert_eq!(last[1], BlockOutcome::Accepted { connected: true });
    assert_eq!(with, without);
}

//! Acceptance: invalid blocks built by mutating real blocks of Core's regtest chain, one test per
//! consensus rule. Each must be rejected with Bitcoin Core's reject string, leave the tip and the
//! UTXO set hash unchanged, and (unless the mutation is meant to poison that exact block) leave
//! the real block connectable afterwards.
//!
//! Where a mutation needs a transaction that is valid in every other respect, it spends one of the
//! chain's real witness-v2 / P2A outputs: unknown witness programs are anyone-can-spend by
//! consensus, so such a spend needs no key.

mod support;

use support::mining;

use bitcoin::absolute::LockTime;
use bitcoin::block::Version as BlockVersion;
use bitcoin::script::Builder;
use bitcoin::{Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use blvm_node::chain::index::status;
use blvm_node::chain::{BlockOutcome, ChainManager, ChainSettings};
use blvm_node::params::ChainParams;
use blvm_node::validation::Reject;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;

const MAX_MONEY: u64 = 21_000_000 * 100_000_000;
const LOCKTIME_THRESHOLD: u32 = 500_000_000;

/// A coin as the chain saw it when it was spent (or as it sits in the UTXO set).
#[derive(Debug, Clone)]
struct Prev {
    out: TxOut,
    height: u32,
    coinbase: bool,
}

/// The real chain plus facts derived from it by replaying it in memory.
struct Meta {
    blocks: Vec<Block>,
    /// `spent[h][t]`: the coins spent by transaction `t` of block `h`, in input order.
    spent: Vec<Vec<Vec<Prev>>>,
    /// Every output ever created (spent or not).
    created: HashMap<OutPoint, Prev>,
    /// Height of the block that spent each spent output.
    spent_at: HashMap<OutPoint, u32>,
}

impl Meta {
    fn block(&self, h: u32) -> Block {
        self.blocks[h as usize].clone()
    }

    fn tip_height(&self) -> u32 {
        (self.blocks.len() - 1) as u32
    }

    /// Whether `op` exists and is unspent in the UTXO set at tip `h`.
    fn unspent_at(&self, op: &OutPoint, h: u32) -> bool {
        match self.created.get(op) {
            Some(p) if p.height <= h && !p.out.script_pubkey.is_op_return() => self.spent_at.get(op).map(|s| *s > h).unwrap_or(true),
            _ => false,
        }
    }

    /// Median time past of the real block at `h`.
    fn mtp(&self, h: u32) -> i64 {
        let lo = h.saturating_sub(10) as usize;
        let mut times: Vec<u32> = self.blocks[lo..=h as usize].iter().map(|b| b.header.time).collect();
        times.sort_unstable();
        i64::from(times[times.len() / 2])
    }

    /// A real output that is anyone-can-spend by consensus (unknown witness program), created at
    /// or before `h` and never spent, worth at least `min_sat`; `skip` picks a later one.
    fn anyone_can_spend(&self, h: u32, min_sat: u64, skip: usize) -> (OutPoint, TxOut) {
        let mut found: Vec<(OutPoint, Prev)> = self
            .created
            .iter()
            .filter(|(op, p)| {
                p.height <= h
                    && mining::is_unknown_witness_program(&p.out.script_pubkey)
                    && p.out.value.to_sat() >= min_sat
                    && self.unspent_at(op, h)
            })
            .map(|(op, p)| (*op, p.clone()))
            .collect();
        found.sort_by_key(|(op, p)| (p.height, op.txid, op.vout));
        let (op, p) = found.into_iter().nth(skip).expect("the chain has unspent unknown-witness outputs");
        (op, p.out)
    }
}

fn meta() -> &'static Meta {
    static META: OnceLock<Meta> = OnceLock::new();
    META.get_or_init(|| {
        let blocks = support::chain_blocks();
        assert_eq!(blocks.len(), 301, "expected Core's 301-block chain");
        let mut utxo: HashMap<OutPoint, Prev> = HashMap::new();
        let mut created = HashMap::new();
        let mut spent_at = HashMap::new();
        let mut spent = Vec::new();
        for (h, b) in blocks.iter().enumerate() {
            let h = h as u32;
            let mut per_tx = Vec::new();
            for tx in &b.txdata {
                let mut coins = Vec::new();
                if !tx.is_coinbase() {
                    for input in &tx.input {
                        let p = utxo.remove(&input.previous_output).expect("real chain spends existing coins");
                        spent_at.insert(input.previous_output, h);
                        coins.push(p);
                    }
                }
                per_tx.push(coins);
                let txid = tx.compute_txid();
                for (vout, out) in tx.output.iter().enumerate() {
                    let op = OutPoint { txid, vout: vout as u32 };
                    let p = Prev {
                        out: out.clone(),
                        height: h,
                        coinbase: tx.is_coinbase(),
                    };
                    created.insert(op, p.clone());
                    if !out.script_pubkey.is_op_return() {
                        utxo.insert(op, p);
                    }
                }
            }
            spent.push(per_tx);
        }
        Meta {
            blocks,
            spent,
            created,
            spent_at,
        }
    })
}

/// The engine's clock in these tests: an hour after the real tip, so `time-too-new` is exact.
static NOW: AtomicI64 = AtomicI64::new(0);

fn fixed_clock() -> i64 {
    NOW.load(Ordering::SeqCst)
}

fn now() -> i64 {
    i64::from(meta().blocks.last().expect("tip").header.time) + 3600
}

/// A chain in a temporary datadir, advanced through real blocks.
struct Harness {
    _dir: tempfile::TempDir,
    chain: ChainManager,
    height: u32,
}

impl Harness {
    /// A fresh datadir with real blocks 1..=`h` connected.
    fn at(h: u32) -> Harness {
        NOW.store(now(), Ordering::SeqCst);
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = ChainSettings {
            clock: fixed_clock,
            ..support::test_settings()
        };
        let chain = ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), dir.path(), settings).expect("open");
        let mut harness = Harness {
            _dir: dir,
            chain,
            height: 0,
        };
        harness.advance_to(h);
        harness
    }

    /// Connects real blocks up to height `h`.
    fn advance_to(&mut self, h: u32) {
        for k in self.height + 1..=h {
            let b = &meta().blocks[k as usize];
            let outcome = self.chain.process_block(b).expect("process real block");
            assert_eq!(outcome, BlockOutcome::Accepted { connected: true }, "real block {k}");
            assert_eq!(self.chain.tip().hash, b.block_hash());
        }
        self.height = self.height.max(h);
    }

    /// Connects the next real block (after a rejection it must still be accepted).
    fn connect_next_real(&mut self) {
        self.advance_to(self.height + 1);
    }

    fn state(&mut self) -> (BlockHash, u32, String) {
        let stats = self.chain.utxo_stats().expect("utxo stats");
        (self.chain.tip().hash, self.chain.height(), stats.hash_serialized_3)
    }

    /// Submits `block`, asserts it is rejected with `reason`, and that nothing changed.
    fn reject(&mut self, block: &Block, reason: &str) -> Reject {
        let before = self.state();
        let outcome = self.chain.process_block(block).expect("process mutated block");
        let r = match outcome {
            BlockOutcome::Invalid(r) => r,
            other => panic!("expected Invalid({reason}), got {other:?}"),
        };
        assert_eq!(r.reason, reason, "reject reason (detail: {})", r.detail);
        assert_eq!(self.state(), before, "a rejected block must not change the tip or the UTXO set");
        r
    }

    fn is_marked_invalid(&self, hash: &BlockHash) -> bool {
        self.chain
            .entry(hash)
            .map(|e| e.status & status::FAILED_VALID != 0)
            .unwrap_or(false)
    }
}

/// Fees paid by the transactions of `block`, all of which spend real coins of the chain.
fn block_fees(block: &Block) -> u64 {
    let m = meta();
    block
        .txdata
        .iter()
        .skip(1)
        .map(|tx| {
            let ins: u64 = tx.input.iter().map(|i| m.created[&i.previous_output].out.value.to_sat()).sum();
            ins - tx.output.iter().map(|o| o.value.to_sat()).sum::<u64>()
        })
        .sum()
}

/// Makes the coinbase of `block` (at height `h`) claim exactly one satoshi more than allowed:
/// a marker failure that is checked after everything but the scripts.
fn overpay(block: &mut Block, h: u32) {
    let limit = mining::subsidy(h).to_sat() + block_fees(block);
    let claimed: u64 = block.txdata[0].output.iter().map(|o| o.value.to_sat()).sum();
    let i = block.txdata[0]
        .output
        .iter()
        .position(|o| !o.script_pubkey.is_op_return())
        .expect("payout output");
    block.txdata[0].output[i].value = Amount::from_sat(block.txdata[0].output[i].value.to_sat() + (limit - claimed) + 1);
}

/// A transaction spending a real anyone-can-spend coin available at tip `h`, paying
/// `value` to a bare `OP_TRUE`; valid in every respect when `value` does not exceed the coin.
fn clean_spend(h: u32, value: Amount, skip: usize) -> Transaction {
    let (op, out) = meta().anyone_can_spend(h, 1, skip);
    mining::spend(
        &[(op, out.script_pubkey)],
        vec![TxOut {
            value,
            script_pubkey: mining::op_true(),
        }],
    )
}

/// First height >= `from` whose real block satisfies `pred`.
fn find_block(from: u32, pred: impl Fn(u32, &Block) -> bool) -> u32 {
    let m = meta();
    (from..=m.tip_height())
        .find(|&h| pred(h, &m.blocks[h as usize]))
        .expect("the chain has a suitable block")
}

/// What kind of output a real input spends.
fn spend_kind(prev: &TxOut, input: &TxIn) -> &'static str {
    let spk = &prev.script_pubkey;
    if spk.is_p2pkh() {
        "p2pkh"
    } else if spk.is_p2sh() {
        if input.witness.is_empty() {
            "p2sh"
        } else {
            "p2sh-p2wpkh/p2wsh"
        }
    } else if spk.is_p2wpkh() {
        "p2wpkh"
    } else if spk.is_p2wsh() {
        "p2wsh"
    } else if spk.is_p2tr() {
        let annex = input.witness.len() >= 2 && input.witness.last().map(|l| l.first() == Some(&0x50)).unwrap_or(false);
        if input.witness.len() - usize::from(annex) == 1 {
            "p2tr-keypath"
        } else {
            "p2tr-scriptpath"
        }
    } else if spk.is_p2pk() {
        "p2pk"
    } else if spk.is_multisig() {
        "bare-multisig"
    } else {
        "other"
    }
}

/// Locates the first real spend of `kind`: (height, tx index, input index).
fn find_spend(kind: &str, from: u32) -> (u32, usize, usize) {
    let m = meta();
    for h in from..=m.tip_height() {
        for (t, tx) in m.blocks[h as usize].txdata.iter().enumerate().skip(1) {
            for (i, input) in tx.input.iter().enumerate() {
                if spend_kind(&m.spent[h as usize][t][i].out, input) == kind {
                    return (h, t, i);
                }
            }
        }
    }
    panic!("no {kind} spend in the chain");
}

/// Serialized size of `block` without witness data.
fn stripped_size(block: &Block) -> usize {
    80 + bitcoin::VarInt(block.txdata.len() as u64).size() + block.txdata.iter().map(|t| t.base_size()).sum::<usize>()
}

fn flip_byte(bytes: &mut [u8], at: usize) {
    let i = at.min(bytes.len() - 1);
    bytes[i] ^= 0x01;
}

// ---------------------------------------------------------------------------------------------
// CheckBlockHeader / ContextualCheckBlockHeader
// ---------------------------------------------------------------------------------------------

#[test]
fn high_hash() {
    let h = 150;
    let mut hs = Harness::at(h - 1);
    let mut b = meta().block(h);
    mining::unmine(&mut b.header);
    assert!(!b.header.target().is_met_by(b.block_hash()));
    hs.reject(&b, "high-hash");
    assert!(
        hs.chain.entry(&b.block_hash()).is_none(),
        "a header without proof of work is not even indexed"
    );
    // A target above the regtest limit is refused as well, even if the hash meets it.
    let mut easy = meta().block(h);
    easy.header.bits = CompactTarget::from_consensus(0x2100_ffff);
    mining::mine(&mut easy.header);
    hs.reject(&easy, "high-hash");
    hs.connect_next_real();
}

#[test]
fn bad_diffbits() {
    let h = 150;
    let mut hs = Harness::at(h - 1);
    for bits in [0x207f_fffe_u32, 0x1f7f_ffff] {
        let mut b = meta().block(h);
        b.header.bits = CompactTarget::from_consensus(bits);
        mining::mine(&mut b.header);
        hs.reject(&b, "bad-diffbits");
    }
    hs.connect_next_real();
}

#[test]
fn time_too_old() {
    let h = 200;
    let mut hs = Harness::at(h - 1);
    let mtp = hs.chain.median_time_past(&hs.chain.tip().hash);
    assert_eq!(mtp, meta().mtp(h - 1));
    let mut b = meta().block(h);
    b.header.time = mtp as u32;
    mining::mine(&mut b.header);
    hs.reject(&b, "time-too-old");
    // One second later the header is acceptable: the same block fails only on the (marker)
    // coinbase overpayment.
    let mut ok_time = meta().block(h);
    ok_time.header.time = mtp as u32 + 1;
    overpay(&mut ok_time, h);
    mining::finish(&mut ok_time);
    hs.reject(&ok_time, "bad-cb-amount");
    hs.connect_next_real();
}

#[test]
fn time_too_new() {
    let h = 200;
    let mut hs = Harness::at(h - 1);
    let limit = (now() + 2 * 60 * 60) as u32;
    let mut b = meta().block(h);
    b.header.time = limit + 1;
    mining::mine(&mut b.header);
    hs.reject(&b, "time-too-new");
    // A future block is not invalid forever: it is not remembered as failed.
    assert!(!hs.is_marked_invalid(&b.block_hash()));
    hs.reject(&b, "time-too-new");
    // Exactly two hours ahead is still fine (the marker overpayment is what fails).
    let mut edge = meta().block(h);
    edge.header.time = limit;
    overpay(&mut edge, h);
    mining::finish(&mut edge);
    hs.reject(&edge, "bad-cb-amount");
    hs.connect_next_real();
}

#[test]
fn bad_version() {
    let h = 120;
    let mut hs = Harness::at(h - 1);
    for (v, reason) in [
        (1, "bad-version(0x00000001)"),
        (2, "bad-version(0x00000002)"),
        (3, "bad-version(0x00000003)"),
        (-1, "bad-version(0xffffffff)"), // the block version is signed
    ] {
        let mut b = meta().block(h);
        b.header.version = BlockVersion::from_consensus(v);
        mining::mine(&mut b.header);
        hs.reject(&b, reason);
    }
    hs.connect_next_real();
}

// ---------------------------------------------------------------------------------------------
// CheckBlock: merkle root, size, coinbase placement, CheckTransaction, legacy sigops
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_txnmrklroot() {
    let h = find_block(111, |_, b| b.txdata.len() >= 4);
    let mut hs = Harness::at(h - 1);
    let real = meta().block(h);
    // Same header (same block hash), but a transaction changed underneath it: a mutated copy of
    // a valid block, which must not poison the real one.
    let mut b = real.clone();
    b.txdata.swap(1, 2);
    assert_eq!(b.block_hash(), real.block_hash());
    hs.reject(&b, "bad-txnmrklroot");
    assert!(!hs.is_marked_invalid(&real.block_hash()));
    // A re-mined header committing to a wrong root.
    let mut wrong = real.clone();
    wrong.header.merkle_root = mining::merkle_root(&real.txdata[..real.txdata.len() - 1]);
    mining::mine(&mut wrong.header);
    hs.reject(&wrong, "bad-txnmrklroot");
    hs.connect_next_real();
}

#[test]
fn bad_txns_duplicate_cve_2012_2459() {
    let h = find_block(111, |_, b| b.txdata.len() >= 3 && b.txdata.len() % 2 == 1);
    let mut hs = Harness::at(h - 1);
    let real = meta().block(h);
    let mut b = real.clone();
    b.txdata.push(real.txdata.last().expect("tx").clone());
    // Same merkle root, same header, same hash: CVE-2012-2459.
    assert_eq!(mining::merkle_root(&b.txdata), real.header.merkle_root);
    assert_eq!(b.block_hash(), real.block_hash());
    let r = hs.reject(&b, "bad-txns-duplicate");
    assert!(r.may_be_mutated);
    assert!(!hs.is_marked_invalid(&real.block_hash()));
    hs.connect_next_real();
}

#[test]
fn bad_blk_length() {
    // Every transaction stays under the per-transaction limit; only the block exceeds 1,000,000
    // stripped bytes.
    let h = find_block(111, |_, b| stripped_size(b) > 5_000);
    let mut hs = Harness::at(h - 1);
    let mut b = meta().block(h);
    let room = 1_000_000 - b.txdata[0].base_size() - 100;
    b.txdata[0].output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: mining::big_op_return(room),
    });
    mining::finish(&mut b);
    assert!(b.txdata.iter().all(|t| t.base_size() <= 1_000_000));
    assert!(stripped_size(&b) > 1_000_000);
    hs.reject(&b, "bad-blk-length");
    assert!(hs.is_marked_invalid(&b.block_hash()));
    hs.connect_next_real();
}

#[test]
fn bad_blk_weight() {
    // A valid anyone-can-spend witness-v2 spend with a 4 MB witness: stripped size is small,
    // weight is over 4,000,000.
    let h = 200;
    let mut hs = Harness::at(h - 1);
    let mut b = meta().block(h);
    let mut tx = clean_spend(h - 1, Amount::from_sat(1000), 0);
    tx.input[0].witness = Witness::from_slice(&[vec![0x42u8; 4_000_000]]);
    b.txdata.push(tx);
    mining::finish(&mut b);
    assert!(stripped_size(&b) <= 1_000_000);
    assert!(b.weight().to_wu() > 4_000_000);
    hs.reject(&b, "bad-blk-weight");
    hs.connect_next_real();
}

#[test]
fn bad_cb_missing() {
    let h = find_block(111, |_, b| b.txdata.len() >= 3);
    let mut hs = Harness::at(h - 1);
    let mut b = meta().block(h);
    b.txdata.swap(0, 1);
    mining::remine(&mut b);
    hs.reject(&b, "bad-cb-missing");
    let mut none = meta().block(h);
    none.txdata.remove(0);
    mining::remine(&mut none);
    hs.reject(&none, "bad-cb-missing");
    hs.connect_next_real();
}

#[test]
fn bad_cb_multiple() {
    let h = 150;
    let mut hs = Harness::at(h - 1);
    let mut b = meta().block(h);
    let second = mining::coinbase(h, 7, Amount::ZERO, mining::op_true());
    b.txdata.push(second);
    mining::finish(&mut b);
    hs.reject(&b, "bad-cb-multiple");
    hs.connect_next_real();
}

#[test]
fn bad_txns_vin_empty() {
    let h = find_block(111, |_, b| b.txdata.len() >= 2);
    let mut hs = Harness::at(h - 1);
    let mut b = meta().block(h);
    b.txdata[1].input.clear();
    mining::finish(&mut b);
    hs.reject(&b, "bad-txns-vin-empty");
    hs.connect_next_real();
}

#[test]
fn bad_txns_vout_empty() {
    let h = find_block(111, |_, b| b.txdata.len() >= 2);
    let mut hs = Harness::at(h - 1);
    let mut b = meta().block(h);
    let last = b.txdata.len() - 1;
    b.txdata[last].output.clear();
    mining::finish(&mut b);
    hs.reject(&b, "bad-txns-vout-empty");
    hs.connect_next_real();
}

#[test]
fn bad_txns_vout_negative_toolarge_and_total() {
    let h = 180;
    let mut hs = Harness::at(h - 1);
    let cases: [(Vec<u64>, &str); 3] = [
        (vec![u64::MAX], "bad-txns-vout-negative"),
        (vec![MAX_MONEY + 1], "bad-txns-vout-toolarge"),
        (vec![MAX_MONEY, 1], "bad-txns-txouttotal-toolarge"),
    ];
    for (values, reason) in cases {
        let mut b = meta().block(h);
        let mut tx = clean_spend(h - 1, Amount::ZERO, 0);
        tx.output = values
            .iter()
            .map(|v| TxOut {
                value: Amount::from_sat(*v),
                script_pubkey: mining::op_true(),
            })
            .collect();
        b.txdata.push(tx);
        mining::finish(&mut b);
        hs.reject(&b, reason);
    }
    // MAX_MONEY itself is in range: the transaction then fails only in context (value in < out).
    let mut b = meta().block(h);
    b.txdata.push(clean_spend(h - 1, Amount::from_sat(MAX_MONEY), 0));
    mining::finish(&mut b);
    hs.reject(&b, "bad-txns-in-belowout");
    hs.connect_next_real();
}

#[test]
fn bad_txns_inputs_duplicate() {
    let h = find_block(111, |_, b| b.txdata.len() >= 2);
    let mut hs = Harness::at(h - 1);
    let mut b = meta().block(h);
    let first = b.txdata[1].input[0].clone();
    b.txdata[1].input.push(first);
    mining::finish(&mut b);
    hs.reject(&b, "bad-txns-inputs-duplicate");
    hs.connect_next_real();
}

#[test]
fn bad_cb_length() {
    let h = 160;
    let mut hs = Harness::at(h - 1);
    let with_len = |len: usize| {
        let mut b = meta().block(h);
        let mut sig = b.txdata[0].input[0].script_sig.to_bytes();
        assert!(sig.len() < len);
        sig.resize(len, 0x00); // trailing OP_0s keep the BIP34 prefix intact
        b.txdata[0].input[0].script_sig = ScriptBuf::from_bytes(sig);
        b
    };
    let mut long = with_len(101);
    mining::finish(&mut long);
    hs.reject(&long, "bad-cb-length");
    // 100 bytes is the limit and is fine (the marker overpayment is what fails).
    let mut edge = with_len(100);
    overpay(&mut edge, h);
    mining::finish(&mut edge);
    hs.reject(&edge, "bad-cb-amount");
    hs.connect_next_real();
}

#[test]
fn bad_txns_prevout_null() {
    let (h, t) = {
        let m = meta();
        let h = find_block(111, |_, b| b.txdata.iter().skip(1).any(|t| t.input.len() >= 2));
        let t = m.blocks[h as usize]
            .txdata
            .iter()
            .skip(1)
            .position(|t| t.input.len() >= 2)
            .expect("tx")
            + 1;
        (h, t)
    };
    let mut hs = Harness::at(h - 1);
    let mut b = meta().block(h);
    b.txdata[t].input[1].previous_output = OutPoint::null();
    mining::finish(&mut b);
    hs.reject(&b, "bad-txns-prevout-null");
    hs.connect_next_real();
}

#[test]
fn bad_blk_sigops_legacy() {
    let h = 200;
    let mut hs = Harness::at(h - 1);
    let mut b = meta().block(h);
    let mut tx = clean_spend(h - 1, Amount::ZERO, 0);
    tx.output[0].script_pubkey = ScriptBuf::from_bytes(vec![0xac; 20_001]); // 20,001 OP_CHECKSIG
    b.txdata.push(tx);
    mining::finish(&mut b);
    hs.reject(&b, "bad-blk-sigops");
    hs.connect_next_real();
}

// ---------------------------------------------------------------------------------------------
// ContextualCheckBlock: finality, BIP34, witness commitment
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_cb_height() {
    let h = 170;
    let mut hs = Harness::at(h - 1);
    for wrong in [h + 1, h - 1] {
        let mut b = meta().block(h);
        let sig = b.txdata[0].input[0].script_sig.to_bytes();
        let prefix = Builder::new().push_int(i64::from(h)).into_script().len();
        let mut new_sig = Builder::new().push_int(i64::from(wrong)).into_script().to_bytes();
        new_sig.extend_from_slice(&sig[prefix..]);
        b.txdata[0].input[0].script_sig = ScriptBuf::from_bytes(new_sig);
        mining::finish(&mut b);
        hs.reject(&b, "bad-cb-height");
    }
    hs.connect_next_real();
}

#[test]
fn bad_witness_merkle_match() {
    let (h, t, i) = find_spend("p2wpkh", 111);
    let mut hs = Harness::at(h - 1);
    let real = meta().block(h);
    // A changed witness leaves txids (and so the header) alone: same hash as the real block.
    let mut b = real.clone();
    let mut items: Vec<Vec<u8>> = b.txdata[t].input[i].witness.to_vec();
    flip_byte(&mut items[0], 10);
    b.txdata[t].input[i].witness = Witness::from_slice(&items);
    assert_eq!(b.block_hash(), real.block_hash());
    let r = hs.reject(&b, "bad-witness-merkle-match");
    assert!(r.may_be_mutated);
    // A different witness reserved value in the coinbase, likewise.
    let mut nonce = real.clone();
    nonce.txdata[0].input[0].witness = Witness::from_slice(&[[0x01u8; 32]]);
    assert_eq!(nonce.block_hash(), real.block_hash());
    hs.reject(&nonce, "bad-witness-merkle-match");
    assert!(!hs.is_marked_invalid(&real.block_hash()));
    hs.connect_next_real();
}

#[test]
fn bad_witness_nonce_size() {
    let h = 150;
    let mut hs = Harness::at(h - 1);
    let real = meta().block(h);
    for witness in [
        Witness::from_slice(&[[0u8; 33].as_slice()]),
        Witness::from_slice(&[[0u8; 32], [0u8; 32]]),
        Witness::new(),
    ] {
        let mut b = real.clone();
        b.txdata[0].input[0].witness = witness;
        assert_eq!(b.block_hash(), real.block_hash());
        hs.reject(&b, "bad-witness-nonce-size");
    }
    assert!(!hs.is_marked_invalid(&real.block_hash()));
    hs.connect_next_real();
}

#[test]
fn unexpected_witness() {
    let (h, _, _) = find_spend("p2wpkh", 111);
    let mut hs = Harness::at(h - 1);
    let mut b = meta().block(h);
    let pos = mining::commitment_index(&b.txdata[0]).expect("real coinbase has a commitment");
    b.txdata[0].output.remove(pos);
    b.txdata[0].input[0].witness = Witness::new();
    mining::remine(&mut b);
    hs.reject(&b, "unexpected-witness");
    hs.connect_next_real();
}

/// A real transaction (block `h`, index `t`) that, appended to an earlier real block `k`, breaks
/// only the rule `violates(k, tx, coins)` tests: all its inputs exist at tip `k - 1` and its
/// signatures stay valid. Returns `(h, t, k)` with the latest such `k`.
fn find_tx_to_move_earlier(violates: impl Fn(u32, &Transaction, &[Prev]) -> bool) -> (u32, usize, u32) {
    let m = meta();
    for h in 3..=m.tip_height() {
        for (t, tx) in m.blocks[h as usize].txdata.iter().enumerate().skip(1) {
            let coins = &m.spent[h as usize][t];
            let oldest_possible = coins.iter().map(|c| c.height).max().unwrap_or(0) + 1;
            if let Some(k) = (oldest_possible.max(2)..h).rev().find(|&k| violates(k, tx, coins)) {
                return (h, t, k);
            }
        }
    }
    panic!("no suitable transaction in the chain");
}

/// Core's IsFinalTx, written out independently for choosing test data.
fn is_final(tx: &Transaction, height: u32, cutoff: i64) -> bool {
    let lock = tx.lock_time.to_consensus_u32();
    if lock == 0 {
        return true;
    }
    let limit = if lock < LOCKTIME_THRESHOLD { i64::from(height) } else { cutoff };
    i64::from(lock) < limit || tx.input.iter().all(|i| i.sequence == Sequence::MAX)
}

/// Whether the BIP68 locks of `tx` (spending `coins`) allow it in a block at `height`.
fn bip68_ok(tx: &Transaction, coins: &[Prev], height: u32) -> bool {
    let m = meta();
    if tx.version.0 < 2 {
        return true;
    }
    tx.input.iter().zip(coins).all(|(input, c)| {
        let seq = input.sequence.0;
        if seq & (1 << 31) != 0 {
            return true;
        }
        let n = seq & 0xffff;
        if seq & (1 << 22) != 0 {
            let min_time = m.mtp(c.height.saturating_sub(1)) + (i64::from(n) << 9) - 1;
            min_time < m.mtp(height - 1)
        } else {
            i64::from(c.height) + i64::from(n) - 1 < i64::from(height)
        }
    })
}

#[test]
fn bad_txns_nonfinal_locktime() {
    let m = meta();
    // Height lock (anti-fee-sniping locktime): final in its own block, not one block earlier.
    let by_height = find_tx_to_move_earlier(|k, tx, coins| {
        let lock = tx.lock_time.to_consensus_u32();
        lock != 0 && lock < LOCKTIME_THRESHOLD && !is_final(tx, k, m.mtp(k - 1)) && bip68_ok(tx, coins, k)
    });
    assert_eq!(by_height.2, by_height.0 - 1);
    // Time lock (BIP113: compared with the parent's median time past, not the block's time).
    let by_time = find_tx_to_move_earlier(|k, tx, coins| {
        tx.lock_time.to_consensus_u32() >= LOCKTIME_THRESHOLD && !is_final(tx, k, m.mtp(k - 1)) && bip68_ok(tx, coins, k)
    });
    {
        // The lock is already below block k's own timestamp: only the median-time-past rule
        // (BIP113) makes the transaction non-final there.
        let (h, t, k) = by_time;
        let lock = m.blocks[h as usize].txdata[t].lock_time.to_consensus_u32();
        assert!(lock < m.blocks[k as usize].header.time);
    }
    for (h, t, k) in [by_height, by_time] {
        let tx = m.blocks[h as usize].txdata[t].clone();
        assert!(is_final(&tx, h, m.mtp(h - 1)));
        let mut hs = Harness::at(k - 1);
        let mut b = m.block(k);
        b.txdata.push(tx);
        mining::finish(&mut b);
        hs.reject(&b, "bad-txns-nonfinal");
        hs.connect_next_real();
        hs.advance_to(h); // the transaction is valid where it really is
    }
    // A freshly made time lock exactly at the median time past is not final either.
    let h = 200;
    let mut hs = Harness::at(h - 1);
    let mtp = hs.chain.median_time_past(&hs.chain.tip().hash);
    let mut b = m.block(h);
    let mut tx = clean_spend(h - 1, Amount::from_sat(100), 0);
    tx.lock_time = LockTime::from_consensus(mtp as u32);
    tx.input[0].sequence = Sequence::ENABLE_LOCKTIME_NO_RBF;
    b.txdata.push(tx.clone());
    mining::finish(&mut b);
    hs.reject(&b, "bad-txns-nonfinal");
    // All-final sequences disable the lock: then only the marker overpayment fails.
    let mut final_seq = m.block(h);
    let mut tx2 = tx;
    tx2.input[0].sequence = Sequence::MAX;
    final_seq.txdata.push(tx2);
    overpay(&mut final_seq, h);
    mining::finish(&mut final_seq);
    hs.reject(&final_seq, "bad-cb-amount");
    hs.connect_next_real();
}

// ---------------------------------------------------------------------------------------------
// ConnectBlock: BIP30, inputs, maturity, amounts, BIP68, sigops, scripts, subsidy
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_txns_nonfinal_bip68_sequence_lock() {
    let m = meta();
    // Real transactions with a relative lock (by height; by time, in 512 s units), confirmed in
    // a real block earlier than their lock allows.
    let relative = |by_time: bool| {
        move |i: &TxIn| {
            let seq = i.sequence.0;
            seq & (1 << 31) == 0 && (seq & (1 << 22) != 0) == by_time && seq & 0xffff > 0
        }
    };
    let by_height = find_tx_to_move_earlier(|k, tx, coins| {
        is_final(tx, k, m.mtp(k - 1)) && tx.input.iter().any(relative(false)) && !bip68_ok(tx, coins, k)
    });
    let by_time = find_tx_to_move_earlier(|k, tx, coins| {
        is_final(tx, k, m.mtp(k - 1)) && tx.input.iter().any(relative(true)) && !bip68_ok(tx, coins, k)
    });
    for (h, t, k) in [by_height, by_time] {
        let tx = m.blocks[h as usize].txdata[t].clone();
        assert!(bip68_ok(&tx, &m.spent[h as usize][t], h));
        let mut hs = Harness::at(k - 1);
        let mut b = m.block(k);
        b.txdata.push(tx);
        mining::finish(&mut b);
        hs.reject(&b, "bad-txns-nonfinal");
        hs.connect_next_real();
        hs.advance_to(h);
    }

    // Relative locks of our own on a real anyone-can-spend coin, by height and by time.
    let h = 250;
    let mut hs = Harness::at(h - 1);
    let (op, out) = m.anyone_can_spend(h - 1, 1, 0);
    let age = h - m.created[&op].height; // confirmations the coin will have in block h
                                         // Core compares the version as unsigned: 0xffffffff is ">= 2" and enforces BIP68; version 1
                                         // does not (the marker overpayment is then what fails).
    for (version, seq, reason) in [
        (2, Sequence::from_height(age as u16 + 1), "bad-txns-nonfinal"),
        (2, Sequence::from_512_second_intervals(0xffff), "bad-txns-nonfinal"),
        (2, Sequence::from_height(age as u16), "bad-cb-amount"), // exactly satisfied
        (-1, Sequence::from_height(age as u16 + 1), "bad-txns-nonfinal"),
        (i32::MIN, Sequence::from_height(age as u16 + 1), "bad-txns-nonfinal"),
        (1, Sequence::from_height(age as u16 + 1), "bad-cb-amount"),
    ] {
        let mut b = m.block(h);
        let mut tx = mining::spend(
            &[(op, out.script_pubkey.clone())],
            vec![TxOut {
                value: out.value,
                script_pubkey: mining::op_true(),
            }],
        );
        tx.version = bitcoin::transaction::Version(version);
        tx.input[0].sequence = seq;
        b.txdata.push(tx);
        if reason == "bad-cb-amount" {
            overpay(&mut b, h);
        }
        mining::finish(&mut b);
        hs.reject(&b, reason);
    }
    hs.connect_next_real();
}

#[test]
fn bad_txns_bip30_overwrite_unspent_txid() {
    let m = meta();
    let h = 220;
    let mut hs = Harness::at(h - 1);
    // Re-confirm a real, already-confirmed transaction whose outputs are still unspent.
    let (k, t) = (111..h)
        .rev()
        .flat_map(|k| (1..m.blocks[k as usize].txdata.len()).map(move |t| (k, t)))
        .find(|&(k, t)| {
            let tx = &m.blocks[k as usize].txdata[t];
            let txid = tx.compute_txid();
            (0..tx.output.len() as u32).any(|v| m.unspent_at(&OutPoint { txid, vout: v }, h - 1))
        })
        .expect("a confirmed transaction with unspent outputs");
    let dup = m.blocks[k as usize].txdata[t].clone();
    let txid = dup.compute_txid();
    assert!((0..dup.output.len() as u32).any(|vout| hs.chain.get_coin(&OutPoint { txid, vout }).unwrap().is_some()));
    let mut b = m.block(h);
    b.txdata.push(dup);
    mining::finish(&mut b);
    hs.reject(&b, "bad-txns-BIP30");
    assert!(hs.is_marked_invalid(&b.block_hash()));
    hs.connect_next_real();
}

#[test]
fn bad_txns_inputs_missingorspent() {
    let m = meta();
    let h = 230;
    let mut hs = Harness::at(h - 1);
    // 1. A real transaction confirmed again after all its outputs were spent: BIP30 does not
    //    apply, but its inputs are long gone (a real double spend).
    let (k, t) = (111..h - 1)
        .flat_map(|k| (1..m.blocks[k as usize].txdata.len()).map(move |t| (k, t)))
        .find(|&(k, t)| {
            let tx = &m.blocks[k as usize].txdata[t];
            let txid = tx.compute_txid();
            (0..tx.output.len() as u32).all(|v| !m.unspent_at(&OutPoint { txid, vout: v }, h - 1))
        })
        .expect("a transaction whose outputs are all spent");
    let mut b = m.block(h);
    b.txdata.push(m.blocks[k as usize].txdata[t].clone());
    mining::finish(&mut b);
    hs.reject(&b, "bad-txns-inputs-missingorspent");
    // 2. Two spends of the same coin in one block: the second finds it spent.
    let mut b = m.block(h);
    b.txdata.push(clean_spend(h - 1, Amount::from_sat(10), 0));
    b.txdata.push(clean_spend(h - 1, Amount::from_sat(20), 0));
    mining::finish(&mut b);
    hs.reject(&b, "bad-txns-inputs-missingorspent");
    // 3. An outpoint that never existed.
    let mut b = m.block(h);
    let mut tx = clean_spend(h - 1, Amount::from_sat(10), 0);
    tx.input[0].previous_output.vout = 77;
    b.txdata.push(tx);
    mining::finish(&mut b);
    hs.reject(&b, "bad-txns-inputs-missingorspent");
    hs.connect_next_real();
}

#[test]
fn bad_txns_premature_spend_of_coinbase() {
    let m = meta();
    // Block h spends the coinbases of h-99 (premature) and h-100 (mature, but we hold no key,
    // so it gets as far as the script check: maturity passed).
    let payout = |k: u32| -> OutPoint {
        let cb = &m.blocks[k as usize].txdata[0];
        let vout = cb.output.iter().position(|o| !o.script_pubkey.is_op_return()).expect("payout") as u32;
        OutPoint {
            txid: cb.compute_txid(),
            vout,
        }
    };
    let h = (200..=m.tip_height())
        .find(|&h| m.unspent_at(&payout(h - 99), h - 1) && m.unspent_at(&payout(h - 100), h - 1))
        .expect("unspent coinbases");
    let mut hs = Harness::at(h - 1);
    let coin = hs.chain.get_coin(&payout(h - 99)).unwrap().expect("coinbase coin");
    assert!(coin.is_coinbase && m.created[&payout(h - 99)].coinbase);
    assert_eq!(coin.height, h - 99);
    for (k, reason) in [
        (h - 99, "bad-txns-premature-spend-of-coinbase"),
        (h - 100, "block-script-verify-flag-failed (Witness program hash mismatch)"),
    ] {
        let mut b = m.block(h);
        let tx = Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: payout(k),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1000),
                script_pubkey: mining::op_true(),
            }],
        };
        b.txdata.push(tx);
        mining::finish(&mut b);
        hs.reject(&b, reason);
    }
    hs.connect_next_real();
}

#[test]
fn bad_txns_in_belowout() {
    let m = meta();
    let h = 240;
    let mut hs = Harness::at(h - 1);
    let (op, out) = m.anyone_can_spend(h - 1, 1, 0);
    let mut b = m.block(h);
    b.txdata.push(mining::spend(
        &[(op, out.script_pubkey.clone())],
        vec![TxOut {
            value: out.value + Amount::from_sat(1),
            script_pubkey: mining::op_true(),
        }],
    ));
    mining::finish(&mut b);
    hs.reject(&b, "bad-txns-in-belowout");
    // Spending exactly the input value is fine (the marker overpayment is what fails).
    let mut b = m.block(h);
    b.txdata.push(mining::spend(
        &[(op, out.script_pubkey.clone())],
        vec![TxOut {
            value: out.value,
            script_pubkey: mining::op_true(),
        }],
    ));
    overpay(&mut b, h);
    mining::finish(&mut b);
    hs.reject(&b, "bad-cb-amount");
    hs.connect_next_real();
}

#[test]
fn bad_cb_amount() {
    let m = meta();
    let h = find_block(111, |_, b| b.txdata.len() >= 5 && block_fees(b) > 0);
    let mut hs = Harness::at(h - 1);
    let mut b = m.block(h);
    overpay(&mut b, h);
    mining::finish(&mut b);
    let r = hs.reject(&b, "bad-cb-amount");
    let limit = mining::subsidy(h).to_sat() + block_fees(&m.blocks[h as usize]);
    assert!(r.detail.contains(&limit.to_string()), "detail names the limit: {}", r.detail);
    // Claiming exactly subsidy + fees is allowed: rebuild that block and it connects.
    let mut exact = m.block(h);
    let claimed: u64 = exact.txdata[0].output.iter().map(|o| o.value.to_sat()).sum();
    let i = exact.txdata[0].output.iter().position(|o| !o.script_pubkey.is_op_return()).unwrap();
    exact.txdata[0].output[i].value = Amount::from_sat(exact.txdata[0].output[i].value.to_sat() + (limit - claimed));
    exact.txdata[0].input[0].script_sig = {
        let mut s = exact.txdata[0].input[0].script_sig.to_bytes();
        s.push(0x00); // a different coinbase (and block) even if Core already claimed everything
        ScriptBuf::from_bytes(s)
    };
    mining::finish(&mut exact);
    assert_eq!(hs.chain.process_block(&exact).unwrap(), BlockOutcome::Accepted { connected: true });
    assert_eq!(hs.chain.tip().hash, exact.block_hash());
    // The real block is a valid competitor of equal work: stored, but the first seen stays.
    assert_eq!(
        hs.chain.process_block(&m.blocks[h as usize]).unwrap(),
        BlockOutcome::Accepted { connected: false }
    );
    assert_eq!(hs.chain.tip().hash, exact.block_hash());
}

#[test]
fn bad_blk_sigops_counts_p2sh_and_witness_scripts_exactly() {
    // On top of the real tip, block X creates P2SH and P2WSH outputs whose scripts are full of
    // OP_CHECKMULTISIG (20 sigops each when counted accurately). Spending them in the next block
    // costs 4x per P2SH sigop and 1x per witness sigop; at exactly 80,000 the block passes the
    // sigop rule (and then fails its scripts), one sigop cost more is bad-blk-sigops.
    let m = meta();
    let h = m.tip_height();
    let mut hs = Harness::at(h);
    let redeem_500 = ScriptBuf::from_bytes(vec![0xae; 500]); // 10,000 sigops, cost 40,000
    let mut redeem_501 = redeem_500.to_bytes();
    redeem_501.push(0xac); // 10,001 sigops, cost 40,004
    let redeem_501 = ScriptBuf::from_bytes(redeem_501);
    let wscript_4000 = ScriptBuf::from_bytes(vec![0xae; 4000]); // 80,000 sigops, cost 80,000
    let wscript_4001 = ScriptBuf::from_bytes(vec![0xae; 4001]);
    let outputs: Vec<ScriptBuf> = vec![
        ScriptBuf::new_p2sh(&redeem_500.script_hash()),
        ScriptBuf::new_p2sh(&redeem_500.script_hash()),
        ScriptBuf::new_p2sh(&redeem_501.script_hash()),
        ScriptBuf::new_p2wsh(&wscript_4000.wscript_hash()),
        ScriptBuf::new_p2wsh(&wscript_4001.wscript_hash()),
    ];
    let (op, coin) = m.anyone_can_spend(h, 1_000, 0);
    let funding = mining::spend(
        &[(op, coin.script_pubkey)],
        outputs
            .iter()
            .map(|spk| TxOut {
                value: Amount::from_sat(100),
                script_pubkey: spk.clone(),
            })
            .collect(),
    );
    let fee = coin.value - Amount::from_sat(500);
    let tip = hs.chain.tip().hash;
    let x = mining::build_block(
        &mining::parent_of(&hs.chain, &tip),
        1,
        vec![funding.clone()],
        fee,
        mining::op_true(),
    );
    assert_eq!(hs.chain.process_block(&x).unwrap(), BlockOutcome::Accepted { connected: true });
    let fid = funding.compute_txid();
    let input = |vout: u32, script_sig: ScriptBuf, witness: Witness| TxIn {
        previous_output: OutPoint { txid: fid, vout },
        script_sig,
        sequence: Sequence::MAX,
        witness,
    };
    let p2sh = |vout: u32, redeem: &ScriptBuf| {
        input(
            vout,
            Builder::new().push_slice(mining::push_bytes(redeem.as_bytes())).into_script(),
            Witness::new(),
        )
    };
    let p2wsh = |vout: u32, ws: &ScriptBuf| input(vout, ScriptBuf::new(), Witness::from_slice(&[ws.as_bytes()]));
    let cases = [
        (
            vec![p2sh(0, &redeem_500), p2sh(1, &redeem_500)],
            "block-script-verify-flag-failed (Operation not valid with the current stack size)",
        ),
        (vec![p2sh(0, &redeem_500), p2sh(2, &redeem_501)], "bad-blk-sigops"),
        (
            vec![p2wsh(3, &wscript_4000)],
            "block-script-verify-flag-failed (Operation not valid with the current stack size)",
        ),
        (vec![p2wsh(4, &wscript_4001)], "bad-blk-sigops"),
    ];
    let parent = mining::parent_of(&hs.chain, &x.block_hash());
    for (i, (inputs, reason)) in cases.into_iter().enumerate() {
        let n = inputs.len() as u64;
        let tx = Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: LockTime::ZERO,
            input: inputs,
            output: vec![TxOut {
                value: Amount::from_sat(1),
                script_pubkey: mining::op_true(),
            }],
        };
        let y = mining::build_block(&parent, 10 + i as u64, vec![tx], Amount::from_sat(100 * n - 1), mining::op_true());
        hs.reject(&y, reason);
    }
    assert_eq!(hs.chain.tip().hash, x.block_hash());
}

#[test]
fn block_script_verify_flag_failed_for_each_spend_type() {
    // Core >= 30 reports script failures in blocks as "block-script-verify-flag-failed (<error>)",
    // the error named by Core's interpreter: a corrupted ECDSA signature just fails its check,
    // a corrupted Schnorr one is an error of its own.
    const FALSE: &str =
        "block-script-verify-flag-failed (Script evaluated without error but finished with a false/empty top stack element)";
    const SCHNORR: &str = "block-script-verify-flag-failed (Invalid Schnorr signature)";
    // The fixture's P2WSH script checks its signature with OP_CHECKSIGVERIFY.
    const CHECKSIGVERIFY: &str = "block-script-verify-flag-failed (Script failed an OP_CHECKSIGVERIFY operation)";
    let expected = |kind: &str| match kind {
        "p2tr-keypath" | "p2tr-scriptpath" => SCHNORR,
        "p2wsh" => CHECKSIGVERIFY,
        _ => FALSE,
    };
    let mut remaining = vec![
        "p2pkh",
        "p2pk",
        "bare-multisig",
        "p2sh",
        "p2sh-p2wpkh/p2wsh",
        "p2wpkh",
        "p2wsh",
        "p2tr-keypath",
        "p2tr-scriptpath",
    ];
    let mut hs = Harness::at(110);
    while !remaining.is_empty() {
        // The kind whose next real spend comes first, so one pass up the chain covers them all.
        let (h, t, i, kind) = remaining
            .iter()
            .map(|k| {
                let (h, t, i) = find_spend(k, hs.height + 1);
                (h, t, i, *k)
            })
            .min()
            .expect("kinds left");
        remaining.retain(|k| *k != kind);
        hs.advance_to(h - 1);
        let mut b = meta().block(h);
        let input = &mut b.txdata[t].input[i];
        let mut items = input.witness.to_vec();
        if !items.is_empty() {
            // A signature (or failing that the script or control block) gets one bit flipped.
            let at = items.iter().position(|w| w.len() >= 64).unwrap_or(items.len() - 1);
            flip_byte(&mut items[at], 10);
            input.witness = Witness::from_slice(&items);
        } else {
            let mut sig = input.script_sig.to_bytes();
            // Inside the first push (a signature, or the multisig dummy's following push).
            let at = sig.iter().position(|&op| (64..=75).contains(&op)).expect("signature push") + 10;
            flip_byte(&mut sig, at);
            input.script_sig = ScriptBuf::from_bytes(sig);
        }
        mining::finish(&mut b);
        let r = hs.reject(&b, expected(kind));
        assert!(
            r.detail.contains(&b.txdata[t].compute_txid().to_string()),
            "{kind}: detail names the tx: {}",
            r.detail
        );
        assert!(
            hs.is_marked_invalid(&b.block_hash()),
            "{kind}: a script failure marks the block invalid"
        );
        hs.connect_next_real();
    }
    assert!(remaining.is_empty());
}

#[test]
fn failed_block_is_remembered_and_its_descendants_rejected() {
    let m = meta();
    let h = 210;
    let mut hs = Harness::at(h - 1);
    let mut bad = m.block(h);
    overpay(&mut bad, h);
    mining::finish(&mut bad);
    hs.reject(&bad, "bad-cb-amount");
    assert!(hs.is_marked_invalid(&bad.block_hash()));
    // Seen again: refused from the index without re-validation.
    hs.reject(&bad, "duplicate-invalid");
    // A well-formed child of the invalid block.
    let earlier: Vec<u32> = m.blocks[(h as usize - 10)..h as usize].iter().map(|b| b.header.time).collect();
    let parent = mining::Parent::from_block(&bad, h, &earlier);
    let child = mining::build_block(&parent, 1, vec![], Amount::ZERO, mining::op_true());
    hs.reject(&child, "bad-prevblk");
    // As Core's AcceptBlockHeader: a header refused is not indexed (no memory or disk for an
    // attacker's headers), and is judged the same way when it comes again.
    assert!(hs.chain.entry(&child.block_hash()).is_none());
    hs.reject(&child, "bad-prevblk");
    // Proof of work is checked before the parent (as Core's AcceptBlockHeader): a child of the
    // invalid block without it is high-hash and never indexed.
    let mut unmined_child = mining::build_block(&parent, 2, vec![], Amount::ZERO, mining::op_true());
    mining::unmine(&mut unmined_child.header);
    hs.reject(&unmined_child, "high-hash");
    assert!(hs.chain.entry(&unmined_child.block_hash()).is_none());
    // A block whose parent is unknown is an orphan, not invalid, if it has proof of work.
    let mut orphan = mining::build_block(&parent, 3, vec![], Amount::ZERO, mining::op_true());
    orphan.header.prev_blockhash = BlockHash::from_raw_hash(bitcoin::hashes::Hash::hash(b"nowhere"));
    mining::mine(&mut orphan.header);
    assert_eq!(hs.chain.process_block(&orphan).unwrap(), BlockOutcome::Orphan);
    mining::unmine(&mut orphan.header);
    hs.reject(&orphan, "high-hash");
    // The failure survives a restart.
    let dir = hs._dir.path().to_path_buf();
    let bad_hash = bad.block_hash();
    drop(hs.chain);
    let settings = ChainSettings {
        clock: fixed_clock,
        ..support::test_settings()
    };
    let mut chain = ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), &dir, settings).expect("reopen");
    assert!(chain.entry(&bad_hash).expect("entry").status & status::FAILED_VALID != 0);
    match chain.process_block(&bad).unwrap() {
        BlockOutcome::Invalid(r) => assert_eq!(r.reason, "duplicate-invalid"),
        other => panic!("expected duplicate-invalid after restart, got {other:?}"),
    }
    assert_eq!(
        chain.process_block(&m.blocks[h as usize]).unwrap(),
        BlockOutcome::Accepted { connected: true }
    );
}

#[test]
fn huge_input_transaction_validates_and_reports_the_first_failing_input() {
    // One transaction spending 5,000 bare OP_TRUE outputs (issue 12's adversarial shape): valid,
    // it connects; with scriptSig OP_RETURN on inputs 2,345 and 4,000 (a script failure by
    // consensus) it is rejected naming input 2,345, the lowest failing one, whatever the threads.
    const N: usize = 5_000;
    let m = meta();
    let h = m.tip_height();
    let mut hs = Harness::at(h);
    let (op, coin) = m.anyone_can_spend(h, 2 * N as u64, 0);
    let funding = mining::spend(
        &[(op, coin.script_pubkey)],
        vec![
            TxOut {
                value: Amount::from_sat(1),
                script_pubkey: mining::op_true(),
            };
            N
        ],
    );
    let tip = hs.chain.tip().hash;
    let x = mining::build_block(
        &mining::parent_of(&hs.chain, &tip),
        1,
        vec![funding.clone()],
        coin.value - Amount::from_sat(N as u64),
        mining::op_true(),
    );
    assert_eq!(hs.chain.process_block(&x).unwrap(), BlockOutcome::Accepted { connected: true });
    let fid = funding.compute_txid();
    let spend_all = |bad: &[usize]| Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: LockTime::ZERO,
        input: (0..N)
            .map(|i| TxIn {
                previous_output: OutPoint { txid: fid, vout: i as u32 },
                script_sig: if bad.contains(&i) {
                    ScriptBuf::from_bytes(vec![0x6a])
                } else {
                    ScriptBuf::new()
                },
                sequence: Sequence::MAX,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![TxOut {
            value: Amount::from_sat(1),
            script_pubkey: mining::op_true(),
        }],
    };
    let parent = mining::parent_of(&hs.chain, &x.block_hash());
    let fee = Amount::from_sat(N as u64 - 1);
    let bad_tx = spend_all(&[4_000, 2_345]);
    let bad = mining::build_block(&parent, 2, vec![bad_tx.clone()], fee, mining::op_true());
    let r = hs.reject(&bad, "block-script-verify-flag-failed (OP_RETURN was encountered)");
    assert!(
        r.detail.starts_with(&format!("input 2345 of {} ", bad_tx.compute_txid())),
        "detail names the first failing input: {}",
        r.detail
    );
    let good = mining::build_block(&parent, 3, vec![spend_all(&[])], fee, mining::op_true());
    assert_eq!(hs.chain.process_block(&good).unwrap(), BlockOutcome::Accepted { connected: true });
    assert_eq!(hs.chain.tip().hash, good.block_hash());
}

//! The block mutator: from the base block at height `h` (whose parent is the tip both engines
//! hold), derive a block that breaks (or deliberately stays just inside) one consensus rule,
//! re-mined on regtest. Every kind belongs to a [`RuleClass`]; [`generate`] draws kinds with a
//! seeded RNG so a run is reproducible from its seed.
//!
//! The expectation a kind carries is a hint for reports only: the verdict that counts is the
//! engines' agreement.

use crate::base::{drop_true, BaseChain, CoinInfo};
use crate::mining;
use bitcoin::absolute::LockTime;
use bitcoin::block::Version as BlockVersion;
use bitcoin::hashes::Hash;
use bitcoin::script::{Builder, Instruction};
use bitcoin::transaction::Version;
use bitcoin::{Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Witness};
use blvm_node::validation::sigops::{sigop_cost, MAX_BLOCK_SIGOPS_COST};
use blvm_node::validation::tx_check::MAX_BLOCK_WEIGHT;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::HashMap;

const SEQUENCE_TYPE_FLAG: u32 = 1 << 22;
const SEQUENCE_DISABLE_FLAG: u32 = 1 << 31;

/// The consensus rule families the mutator covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleClass {
    /// Output values: range, totals, inputs below outputs.
    Amounts,
    /// Fees and the coinbase's claim on them.
    Fees,
    /// Coinbase shape: presence, uniqueness, BIP34 height, scriptSig length, outputs.
    Coinbase,
    /// Absolute lock times (height and time, BIP113).
    Locktime,
    /// BIP68 relative lock times.
    SequenceLocks,
    /// Legacy, P2SH and witness sigop limits.
    Sigops,
    /// Block weight and stripped size.
    Weight,
    /// Witness data and the BIP141 commitment.
    Witness,
    /// The merkle root and its CVE-2012-2459 malleation.
    Merkle,
    /// Duplicate transactions and BIP30.
    Duplicates,
    /// Spends of outputs that never existed.
    MissingInputs,
    /// Spends of immature coinbase outputs.
    ImmatureInputs,
    /// Spends of already spent outputs.
    SpentInputs,
    /// Header fields: proof of work, bits, parent.
    Header,
    /// Timestamps: median time past and the future limit.
    Timestamps,
    /// Block version (BIP34/66/65 minimums).
    Versions,
    /// scriptSigs, witnesses and script flags (P2SH, segwit, taproot, NULLDUMMY).
    Scripts,
    /// Transaction structure (empty inputs/outputs, null prevouts, duplicate inputs).
    TxStructure,
}

impl RuleClass {
    /// Every class.
    pub const ALL: [RuleClass; 18] = [
        RuleClass::Amounts,
        RuleClass::Fees,
        RuleClass::Coinbase,
        RuleClass::Locktime,
        RuleClass::SequenceLocks,
        RuleClass::Sigops,
        RuleClass::Weight,
        RuleClass::Witness,
        RuleClass::Merkle,
        RuleClass::Duplicates,
        RuleClass::MissingInputs,
        RuleClass::ImmatureInputs,
        RuleClass::SpentInputs,
        RuleClass::Header,
        RuleClass::Timestamps,
        RuleClass::Versions,
        RuleClass::Scripts,
        RuleClass::TxStructure,
    ];
}

/// What a mutation kind is designed to produce (a hint; the engines decide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Designed to stay valid (a boundary case or a consensus-neutral change).
    Valid,
    /// Designed to break a rule.
    Invalid,
    /// Depends on the block (e.g. reordering transactions that may depend on each other).
    Either,
}

/// A mutated block ready for submission at `height` (its parent is the base block `height - 1`).
#[derive(Debug, Clone)]
pub struct Mutation {
    /// Height the block claims.
    pub height: u32,
    /// The mutation kind's name.
    pub kind: &'static str,
    /// Its rule class.
    pub class: RuleClass,
    /// What it was designed to produce.
    pub expect: Expect,
    /// What exactly was changed.
    pub detail: String,
    /// The block.
    pub block: Block,
}

/// What a generator sees: the base chain, the height it mutates and the wall clock.
pub struct Ctx<'a> {
    /// The base chain.
    pub base: &'a BaseChain,
    /// Height of the block to mutate (the engines' tip is `h - 1`).
    pub h: u32,
    /// UNIX time used for time-too-new mutations.
    pub now: i64,
}

type Gen = fn(&Ctx, &mut StdRng) -> Option<(Block, String)>;

/// One mutation kind.
pub struct Kind {
    /// Name shown in reports.
    pub name: &'static str,
    /// Rule class.
    pub class: RuleClass,
    /// Design intent.
    pub expect: Expect,
    gen: Gen,
}

macro_rules! kind {
    ($name:ident, $class:ident, $expect:ident) => {
        Kind {
            name: stringify!($name),
            class: RuleClass::$class,
            expect: Expect::$expect,
            gen: $name,
        }
    };
}

/// Every mutation kind.
pub fn kinds() -> &'static [Kind] {
    static KINDS: &[Kind] = &[
        // Header
        kind!(header_unmined, Header, Invalid),
        kind!(header_bits_wrong, Header, Invalid),
        kind!(header_bits_above_limit, Header, Invalid),
        kind!(header_prev_unknown, Header, Invalid),
        kind!(header_renonce, Header, Valid),
        // Versions
        kind!(version_below_4, Versions, Invalid),
        kind!(version_other_valid, Versions, Valid),
        // Timestamps
        kind!(time_equal_mtp, Timestamps, Invalid),
        kind!(time_mtp_plus_one, Timestamps, Valid),
        kind!(time_far_future, Timestamps, Invalid),
        kind!(time_near_future, Timestamps, Valid),
        // Merkle
        kind!(merkle_swap_keep_header, Merkle, Invalid),
        kind!(merkle_wrong_root, Merkle, Invalid),
        kind!(merkle_cve_2012_2459, Merkle, Invalid),
        kind!(merkle_reorder_txs, Merkle, Either),
        kind!(merkle_empty_txdata, Merkle, Invalid),
        // Duplicates
        kind!(dup_tx_adjacent, Duplicates, Invalid),
        kind!(dup_tx_at_end, Duplicates, Invalid),
        kind!(dup_bip30_unspent, Duplicates, Invalid),
        // Coinbase
        kind!(cb_overpay_one, Coinbase, Invalid),
        kind!(cb_claim_exact, Coinbase, Valid),
        kind!(cb_underpay, Coinbase, Valid),
        kind!(cb_height_wrong, Coinbase, Invalid),
        kind!(cb_height_nonminimal, Coinbase, Invalid),
        kind!(cb_scriptsig_100, Coinbase, Valid),
        kind!(cb_scriptsig_101, Coinbase, Invalid),
        kind!(cb_missing, Coinbase, Invalid),
        kind!(cb_second_coinbase, Coinbase, Invalid),
        kind!(cb_two_inputs, Coinbase, Invalid),
        kind!(cb_no_outputs, Coinbase, Invalid),
        kind!(cb_payout_op_true, Coinbase, Valid),
        // Amounts
        kind!(amount_above_max_money, Amounts, Invalid),
        kind!(amount_negative, Amounts, Invalid),
        kind!(amount_total_overflow, Amounts, Invalid),
        kind!(amount_in_below_out, Amounts, Invalid),
        kind!(amount_signed_output_changed, Amounts, Either),
        kind!(amount_spend_exact_input, Amounts, Valid),
        // Fees
        kind!(fee_claimed_exactly, Fees, Valid),
        kind!(fee_claimed_plus_one, Fees, Invalid),
        kind!(fee_drop_tx_adjust_claim, Fees, Valid),
        kind!(fee_drop_tx_keep_claim, Fees, Either),
        // Locktime
        kind!(locktime_height_equal, Locktime, Invalid),
        kind!(locktime_height_below, Locktime, Valid),
        kind!(locktime_time_equal_mtp, Locktime, Invalid),
        kind!(locktime_time_below_mtp, Locktime, Valid),
        kind!(locktime_final_sequences, Locktime, Valid),
        kind!(locktime_real_tx_raised, Locktime, Invalid),
        // Sequence locks
        kind!(seqlock_height_met, SequenceLocks, Valid),
        kind!(seqlock_height_unmet, SequenceLocks, Invalid),
        kind!(seqlock_time_met, SequenceLocks, Valid),
        kind!(seqlock_time_unmet, SequenceLocks, Invalid),
        kind!(seqlock_disabled_flag, SequenceLocks, Valid),
        kind!(seqlock_version1_ignored, SequenceLocks, Valid),
        // Sigops
        kind!(sigops_legacy_at_limit, Sigops, Valid),
        kind!(sigops_legacy_over_limit, Sigops, Invalid),
        kind!(sigops_p2sh_at_limit, Sigops, Valid),
        kind!(sigops_p2sh_witness_over_limit, Sigops, Invalid),
        // Weight
        kind!(weight_at_limit, Weight, Valid),
        kind!(weight_over_limit, Weight, Invalid),
        kind!(weight_stripped_over, Weight, Invalid),
        // Witness
        kind!(witness_commitment_wrong, Witness, Invalid),
        kind!(witness_commitment_missing, Witness, Invalid),
        kind!(witness_commitment_dropped_no_witness, Witness, Either),
        kind!(witness_commitment_decoy_before, Witness, Valid),
        kind!(witness_commitment_decoy_after, Witness, Invalid),
        kind!(witness_nonce_size, Witness, Invalid),
        kind!(witness_stripped, Witness, Invalid),
        kind!(witness_on_legacy_input, Witness, Invalid),
        kind!(witness_item_flipped, Witness, Invalid),
        kind!(witness_item_appended, Witness, Invalid),
        kind!(witness_taproot_annex, Witness, Invalid),
        kind!(witness_unknown_program_junk, Witness, Valid),
        // Scripts
        kind!(script_sig_flipped, Scripts, Invalid),
        kind!(script_sighash_byte, Scripts, Invalid),
        kind!(script_push_nonminimal, Scripts, Either),
        kind!(script_nop_prepended, Scripts, Either),
        kind!(script_nulldummy, Scripts, Invalid),
        kind!(script_p2sh_redeem_flipped, Scripts, Invalid),
        kind!(script_segwit_scriptsig_added, Scripts, Invalid),
        // Missing / immature / spent inputs
        kind!(input_missing_vout, MissingInputs, Invalid),
        kind!(input_missing_txid, MissingInputs, Invalid),
        kind!(input_child_before_parent, MissingInputs, Invalid),
        kind!(input_spent_long_ago, SpentInputs, Invalid),
        kind!(input_double_spend_in_block, SpentInputs, Invalid),
        kind!(input_in_block_chain, SpentInputs, Valid),
        kind!(immature_coinbase_99, ImmatureInputs, Invalid),
        kind!(mature_coinbase_100, ImmatureInputs, Either),
        // Transaction structure
        kind!(tx_no_inputs, TxStructure, Invalid),
        kind!(tx_no_outputs, TxStructure, Invalid),
        kind!(tx_null_prevout, TxStructure, Invalid),
        kind!(tx_duplicate_input, TxStructure, Invalid),
    ];
    KINDS
}

/// Tries to build a mutation of `kind` at `ctx.h`; None when the base block offers nothing to
/// mutate for it (e.g. no segwit spend).
pub fn build(kind: &Kind, ctx: &Ctx, rng: &mut StdRng) -> Option<Mutation> {
    let (block, detail) = (kind.gen)(ctx, rng)?;
    Some(Mutation {
        height: ctx.h,
        kind: kind.name,
        class: kind.class,
        expect: kind.expect,
        detail,
        block,
    })
}

/// Draws up to `n` mutations for height `ctx.h` from `pool` (indices into [`kinds`]): those
/// designed invalid first, then at most one that may be valid (a valid block moves the tip, which
/// the runner then has to restore). `allow_valid` is false where no restore is possible.
pub fn generate(ctx: &Ctx, rng: &mut StdRng, n: usize, pool: &[usize], allow_valid: bool) -> Vec<Mutation> {
    let all = kinds();
    let (invalid, mut may_accept): (Vec<usize>, Vec<usize>) = pool.iter().partition(|&&k| all[k].expect == Expect::Invalid);
    let mut maybe_valid: Option<Mutation> = None;
    if allow_valid && n > 0 && rng.gen_bool(0.6) {
        // The first kind (in random order) that applies here, for even coverage of rare ones.
        may_accept.shuffle(rng);
        maybe_valid = may_accept.iter().find_map(|&k| build(&all[k], ctx, rng));
    }
    let mut out = Vec::new();
    let mut attempts = 0;
    while out.len() + usize::from(maybe_valid.is_some()) < n && attempts < n * 20 {
        attempts += 1;
        let Some(&k) = invalid.choose(rng) else { break };
        if let Some(m) = build(&all[k], ctx, rng) {
            out.push(m);
        }
    }
    out.extend(maybe_valid);
    out
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

impl Ctx<'_> {
    fn real(&self) -> Block {
        self.base.block(self.h).clone()
    }

    fn prev_mtp(&self) -> i64 {
        self.base.mtp(self.h - 1)
    }

    /// Anyone-can-spend coins for a new transaction in this block.
    fn coins(&self, allow_coinbase: bool) -> Vec<(OutPoint, CoinInfo)> {
        self.base.anyone_can_spend(self.h, 1, allow_coinbase)
    }

    /// A random non-coinbase transaction `(height, index)` among the last `depth` blocks below
    /// `h` that `wanted` accepts.
    fn pick_earlier_tx(&self, rng: &mut StdRng, depth: usize, wanted: impl Fn(&Transaction) -> bool) -> Option<(u32, usize)> {
        let mut candidates = Vec::new();
        for k in (1..self.h).rev().take(depth) {
            for (t, tx) in self.base.block(k).txdata.iter().enumerate().skip(1) {
                if wanted(tx) {
                    candidates.push((k, t));
                }
            }
        }
        candidates.choose(rng).copied()
    }

    fn pick_coin(&self, rng: &mut StdRng) -> Option<(OutPoint, CoinInfo)> {
        self.coins(true).choose(rng).cloned()
    }

    /// Coins for tuning weight: `P2WSH(OP_DROP OP_1)` or unknown witness programs.
    fn pad_coin(&self, rng: &mut StdRng) -> Option<(OutPoint, TxOut)> {
        let pads: Vec<(OutPoint, TxOut)> = self
            .base
            .pad_coins
            .iter()
            .filter(|p| self.base.unspent_at(&p.outpoint, self.h) && self.base.created[&p.outpoint].height < self.h)
            .map(|p| (p.outpoint, p.out.clone()))
            .collect();
        if let Some(p) = pads.choose(rng) {
            return Some(p.clone());
        }
        self.coins(false)
            .into_iter()
            .filter(|(_, c)| mining::is_unknown_witness_program(&c.out.script_pubkey))
            .map(|(op, c)| (op, c.out))
            .collect::<Vec<_>>()
            .choose(rng)
            .cloned()
    }
}

/// The coin each input of `block`'s transactions spends, from earlier transactions of the block
/// or from the base chain; None when any is unknown.
pub fn block_prevouts(base: &BaseChain, block: &Block) -> Option<Vec<Vec<TxOut>>> {
    let mut local: HashMap<OutPoint, TxOut> = HashMap::new();
    let mut all = Vec::new();
    for tx in &block.txdata {
        let mut v = Vec::new();
        if !tx.is_coinbase() {
            for i in &tx.input {
                let out = local
                    .get(&i.previous_output)
                    .cloned()
                    .or_else(|| base.created.get(&i.previous_output).map(|c| c.out.clone()))?;
                v.push(out);
            }
        }
        let txid = tx.compute_txid();
        for (n, o) in tx.output.iter().enumerate() {
            local.insert(OutPoint { txid, vout: n as u32 }, o.clone());
        }
        all.push(v);
    }
    Some(all)
}

/// Fees paid by `block`'s non-coinbase transactions (in-block chains included).
pub fn block_fees(base: &BaseChain, block: &Block) -> Option<u64> {
    let prev = block_prevouts(base, block)?;
    let mut fees = 0u64;
    for (tx, ins) in block.txdata.iter().zip(&prev).skip(1) {
        let i: u64 = ins.iter().map(|o| o.value.to_sat()).sum();
        let o: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
        fees += i.checked_sub(o)?;
    }
    Some(fees)
}

/// Total sigop cost of `block` as counted by blvm (P2SH and witness included).
fn block_sigops(base: &BaseChain, block: &Block) -> Option<u64> {
    let prev = block_prevouts(base, block)?;
    Some(
        block
            .txdata
            .iter()
            .zip(&prev)
            .map(|(tx, p)| sigop_cost(tx, &p.iter().collect::<Vec<_>>(), true, true))
            .sum(),
    )
}

/// Sets the coinbase's first non-OP_RETURN output so the coinbase pays exactly `claim`.
fn set_claim(block: &mut Block, claim: u64) -> Option<()> {
    let cb = &mut block.txdata[0];
    let i = cb.output.iter().position(|o| !o.script_pubkey.is_op_return())?;
    let others: u64 = cb
        .output
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, o)| o.value.to_sat())
        .sum();
    cb.output[i].value = Amount::from_sat(claim.checked_sub(others)?);
    Some(())
}

/// The most the coinbase of `block` at `h` may claim.
fn claim_limit(base: &BaseChain, block: &Block, h: u32) -> Option<u64> {
    Some(mining::subsidy(h).to_sat() + block_fees(base, block)?)
}

/// Makes the coinbase unique (so a changed block never collides with the real one).
fn tag_coinbase(block: &mut Block, tag: u8) {
    let mut s = block.txdata[0].input[0].script_sig.to_bytes();
    if s.len() < 100 {
        s.push(tag);
        block.txdata[0].input[0].script_sig = ScriptBuf::from_bytes(s);
    }
}

/// Adds `tx` (and its fee to the coinbase claim, keeping the block valid otherwise).
fn add_tx_with_fee(base: &BaseChain, block: &mut Block, h: u32, tx: Transaction) -> Option<()> {
    block.txdata.push(tx);
    let limit = claim_limit(base, block, h)?;
    set_claim(block, limit)?;
    Some(())
}

fn finish(block: &mut Block) {
    mining::finish(block);
}

/// A transaction spending `coin` to a bare `OP_TRUE`, leaving `fee`.
fn spend_coin(op: OutPoint, coin: &TxOut, fee: u64) -> Option<Transaction> {
    let value = coin.value.to_sat().checked_sub(fee)?;
    Some(mining::spend(
        &[(op, coin.script_pubkey.clone())],
        vec![TxOut {
            value: Amount::from_sat(value),
            script_pubkey: mining::op_true(),
        }],
    ))
}

/// Adds a clean anyone-can-spend transaction (fee 0) modified by `edit`, claims its fee.
fn with_clean_spend(ctx: &Ctx, rng: &mut StdRng, edit: impl FnOnce(&mut Transaction, &CoinInfo)) -> Option<(Block, String)> {
    let (op, coin) = ctx.pick_coin(rng)?;
    let mut tx = spend_coin(op, &coin.out, 0)?;
    edit(&mut tx, &coin);
    let mut b = ctx.real();
    add_tx_with_fee(ctx.base, &mut b, ctx.h, tx.clone())?;
    finish(&mut b);
    Some((b, format!("spends {op} (height {}, {})", coin.height, coin.out.script_pubkey)))
}

/// Indices of non-coinbase transactions none of whose outputs are spent later in the block.
fn leaf_txs(block: &Block) -> Vec<usize> {
    let mut spent_in_block: std::collections::HashSet<bitcoin::Txid> = std::collections::HashSet::new();
    for tx in block.txdata.iter().skip(1) {
        for i in &tx.input {
            spent_in_block.insert(i.previous_output.txid);
        }
    }
    (1..block.txdata.len())
        .filter(|&t| !spent_in_block.contains(&block.txdata[t].compute_txid()))
        .collect()
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
            "p2sh-segwit"
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
    } else if mining::is_anyone_can_spend(spk) {
        "anyone-can-spend"
    } else {
        "other"
    }
}

/// Real inputs of block `h` whose spent output matches `pred`: (tx index, input index, kind).
fn real_inputs(ctx: &Ctx, pred: impl Fn(&'static str) -> bool) -> Vec<(usize, usize, &'static str)> {
    let b = ctx.base.block(ctx.h);
    let mut v = Vec::new();
    for (t, tx) in b.txdata.iter().enumerate().skip(1) {
        for (i, input) in tx.input.iter().enumerate() {
            let k = spend_kind(&ctx.base.spent[ctx.h as usize][t][i].out, input);
            if pred(k) {
                v.push((t, i, k));
            }
        }
    }
    v
}

fn pick_input(ctx: &Ctx, rng: &mut StdRng, pred: impl Fn(&'static str) -> bool) -> Option<(usize, usize, &'static str)> {
    let leaves = leaf_txs(ctx.base.block(ctx.h));
    let all = real_inputs(ctx, pred);
    let preferred: Vec<_> = all.iter().filter(|(t, _, _)| leaves.contains(t)).cloned().collect();
    if preferred.is_empty() {
        all.choose(rng).cloned()
    } else {
        preferred.choose(rng).cloned()
    }
}

/// Each push of `script` as (offset of its opcode, offset of its data, data length), in
/// order; a `None` item where the script stops parsing.
fn push_spans(script: &ScriptBuf) -> impl Iterator<Item = Option<(usize, usize, usize)>> + '_ {
    let mut pos = 0usize;
    script.instructions().filter_map(move |ins| {
        let start = pos;
        match ins {
            Err(_) => Some(None),
            Ok(Instruction::Op(_)) => {
                pos += 1;
                None
            }
            Ok(Instruction::PushBytes(p)) => {
                let n = p.len();
                let header = match n {
                    0..=0x4b => 1,
                    0x4c..=0xff => 2,
                    0x100..=0xffff => 3,
                    _ => 5,
                };
                pos += header + n;
                Some(Some((start, start + header, n)))
            }
        }
    })
}

/// Index of the first push of at least `min` bytes in `script`: (byte offset of data, len).
fn find_push(script: &ScriptBuf, min: usize) -> Option<(usize, usize)> {
    let bytes = script.as_bytes();
    for span in push_spans(script) {
        let (start, at, n) = span?;
        if n >= min && bytes.get(start) != Some(&0x00) {
            return Some((at, n));
        }
    }
    None
}

fn flip(bytes: &mut [u8], at: usize) {
    if let Some(b) = bytes.get_mut(at) {
        *b ^= 0x01;
    }
}

// ---------------------------------------------------------------------------------------------
// Header, versions, timestamps
// ---------------------------------------------------------------------------------------------

fn header_unmined(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    mining::unmine(&mut b.header);
    Some((b, "nonce changed until the hash misses the target".into()))
}

fn header_bits_wrong(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let bits = *[0x207f_fffe_u32, 0x1f7f_ffff, 0x207f_0000, 0x2000_ffff, 0x1d00_ffff].choose(rng)?;
    let mut b = ctx.real();
    b.header.bits = CompactTarget::from_consensus(bits);
    if bits == 0x1d00_ffff || bits == 0x1f7f_ffff {
        // Too hard to mine: its hash only has to miss nothing else; the bits rule comes first.
        mining::unmine(&mut b.header);
        return Some((b, format!("bits {bits:#010x} (unmined: also high-hash)")));
    }
    mining::mine(&mut b.header);
    Some((b, format!("bits {bits:#010x}")))
}

fn header_bits_above_limit(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    b.header.bits = CompactTarget::from_consensus(0x2100_ffff);
    mining::mine(&mut b.header);
    Some((b, "bits 0x2100ffff: target above the regtest limit".into()))
}

fn header_prev_unknown(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    b.header.prev_blockhash = BlockHash::from_byte_array(rng.gen());
    mining::mine(&mut b.header);
    let d = format!("prev {} (unknown)", b.header.prev_blockhash);
    Some((b, d))
}

fn header_renonce(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let from: u32 = rng.gen();
    b.header.nonce = from;
    mining::mine(&mut b.header);
    Some((b, format!("re-mined from nonce {from}")))
}

fn version_below_4(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let v = *[0, 1, 2, 3, -1, i32::MIN, -0x2000_0000].choose(rng)?;
    let mut b = ctx.real();
    b.header.version = BlockVersion::from_consensus(v);
    mining::mine(&mut b.header);
    Some((b, format!("version {v:#x}")))
}

fn version_other_valid(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let v = match rng.gen_range(0..4) {
        0 => 4,
        1 => 0x2000_0000 | rng.gen_range(0..0x1fff_ffff),
        2 => i32::MAX,
        _ => rng.gen_range(4..i32::MAX),
    };
    let mut b = ctx.real();
    b.header.version = BlockVersion::from_consensus(v);
    mining::mine(&mut b.header);
    Some((b, format!("version {v:#x}")))
}

fn time_equal_mtp(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let t = (ctx.prev_mtp() - rng.gen_range(0..3)) as u32;
    b.header.time = t;
    mining::mine(&mut b.header);
    Some((b, format!("time {t} <= prev MTP {}", ctx.prev_mtp())))
}

fn time_mtp_plus_one(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let t = (ctx.prev_mtp() + 1) as u32;
    b.header.time = t;
    mining::mine(&mut b.header);
    Some((b, format!("time {t} = prev MTP + 1")))
}

fn time_far_future(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let t = (ctx.now + 2 * 3600 + rng.gen_range(900..86_400)) as u32;
    b.header.time = t;
    mining::mine(&mut b.header);
    Some((b, format!("time {t}: more than 2h after now ({})", ctx.now)))
}

fn time_near_future(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let t = (ctx.now + rng.gen_range(0..3600)) as u32;
    b.header.time = t;
    mining::mine(&mut b.header);
    Some((b, format!("time {t}: within 2h of now ({})", ctx.now)))
}

// ---------------------------------------------------------------------------------------------
// Merkle, duplicates
// ---------------------------------------------------------------------------------------------

fn merkle_swap_keep_header(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let n = b.txdata.len();
    if n < 3 {
        return None;
    }
    let i = rng.gen_range(1..n - 1);
    b.txdata.swap(i, i + 1);
    Some((b, format!("txs {i} and {} swapped under the same header", i + 1)))
}

fn merkle_wrong_root(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    b.header.merkle_root = TxMerkleNode::from_byte_array(rng.gen());
    mining::mine(&mut b.header);
    Some((b, "random merkle root in the header".into()))
}

fn merkle_cve_2012_2459(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let n = b.txdata.len();
    if n < 2 {
        return None;
    }
    // With an odd count the last hash is paired with itself: duplicating it keeps the root.
    // With an even count duplicate the last two.
    if n % 2 == 1 {
        let last = b.txdata[n - 1].clone();
        b.txdata.push(last);
    } else {
        let (a, c) = (b.txdata[n - 2].clone(), b.txdata[n - 1].clone());
        b.txdata.push(a);
        b.txdata.push(c);
    }
    if mining::merkle_root(&b.txdata) != b.header.merkle_root {
        return None;
    }
    Some((b, format!("{} txs: trailing txs duplicated, same merkle root and hash", n)))
}

fn merkle_reorder_txs(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    if b.txdata.len() < 3 {
        return None;
    }
    b.txdata[1..].shuffle(rng);
    finish(&mut b);
    Some((b, "non-coinbase txs shuffled, merkle root recomputed".into()))
}

fn merkle_empty_txdata(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    b.txdata.clear();
    b.header.merkle_root = TxMerkleNode::all_zeros();
    mining::mine(&mut b.header);
    Some((b, "no transactions at all (merkle root zero)".into()))
}

fn dup_tx_adjacent(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    if b.txdata.len() < 2 {
        return None;
    }
    let t = rng.gen_range(1..b.txdata.len());
    let tx = b.txdata[t].clone();
    b.txdata.insert(t + 1, tx);
    finish(&mut b);
    Some((b, format!("tx {t} repeated right after itself")))
}

fn dup_tx_at_end(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    if b.txdata.len() < 3 {
        return None;
    }
    let t = rng.gen_range(1..b.txdata.len() - 1);
    let tx = b.txdata[t].clone();
    b.txdata.push(tx);
    finish(&mut b);
    Some((b, format!("tx {t} repeated at the end")))
}

fn dup_bip30_unspent(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let base = ctx.base;
    let h = ctx.h;
    // An earlier non-coinbase transaction with an output still unspent at h - 1.
    let (k, t) = ctx.pick_earlier_tx(rng, 40, |tx| {
        let txid = tx.compute_txid();
        (0..tx.output.len() as u32).any(|v| base.unspent_at(&OutPoint { txid, vout: v }, h - 1))
    })?;
    let mut b = ctx.real();
    b.txdata.push(base.block(k).txdata[t].clone());
    finish(&mut b);
    Some((b, format!("re-confirms tx {t} of block {k} whose outputs are partly unspent")))
}

// ---------------------------------------------------------------------------------------------
// Coinbase
// ---------------------------------------------------------------------------------------------

fn cb_overpay_one(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let limit = claim_limit(ctx.base, &b, ctx.h)?;
    set_claim(&mut b, limit + 1)?;
    finish(&mut b);
    Some((b, format!("coinbase claims {} (limit {limit})", limit + 1)))
}

fn cb_claim_exact(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let limit = claim_limit(ctx.base, &b, ctx.h)?;
    set_claim(&mut b, limit)?;
    tag_coinbase(&mut b, 0xc1);
    finish(&mut b);
    Some((b, format!("coinbase claims exactly {limit}")))
}

fn cb_underpay(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let claimed: u64 = b.txdata[0].output.iter().map(|o| o.value.to_sat()).sum();
    let claim = rng.gen_range(0..claimed.max(1));
    set_claim(&mut b, claim)?;
    tag_coinbase(&mut b, 0xc2);
    finish(&mut b);
    Some((b, format!("coinbase claims {claim} of {claimed}")))
}

/// The coinbase scriptSig after its BIP34 height push, if it starts with the canonical push.
fn cb_rest(b: &Block, h: u32) -> Option<Vec<u8>> {
    let prefix = Builder::new().push_int(i64::from(h)).into_script();
    let s = b.txdata[0].input[0].script_sig.as_bytes();
    s.starts_with(prefix.as_bytes()).then(|| s[prefix.len()..].to_vec())
}

fn cb_height_wrong(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let rest = cb_rest(&b, ctx.h)?;
    let wrong = *[i64::from(ctx.h) + 1, i64::from(ctx.h) - 1, 0, i64::from(ctx.h) + 1000].choose(rng)?;
    let mut s = Builder::new().push_int(wrong).into_script().to_bytes();
    s.extend(rest);
    if s.len() < 2 {
        s.push(0);
    }
    b.txdata[0].input[0].script_sig = ScriptBuf::from_bytes(s);
    finish(&mut b);
    Some((b, format!("coinbase height push {wrong} at height {}", ctx.h)))
}

fn cb_height_nonminimal(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let rest = cb_rest(&b, ctx.h)?;
    // The height as a PUSHDATA1 of its minimal number bytes (same number, different encoding).
    let mut buf = [0u8; 8];
    let len = bitcoin::script::write_scriptint(&mut buf, i64::from(ctx.h));
    let mut s = vec![0x4c, len as u8];
    s.extend_from_slice(&buf[..len]);
    s.extend(rest);
    b.txdata[0].input[0].script_sig = ScriptBuf::from_bytes(s);
    finish(&mut b);
    Some((b, "coinbase height pushed with PUSHDATA1".into()))
}

fn cb_scriptsig_len(ctx: &Ctx, len: usize) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let mut s = b.txdata[0].input[0].script_sig.to_bytes();
    if s.len() > len {
        return None;
    }
    s.resize(len, 0x51);
    b.txdata[0].input[0].script_sig = ScriptBuf::from_bytes(s);
    finish(&mut b);
    Some((b, format!("coinbase scriptSig padded to {len} bytes")))
}

fn cb_scriptsig_100(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    cb_scriptsig_len(ctx, 100)
}

fn cb_scriptsig_101(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    cb_scriptsig_len(ctx, 101)
}

fn cb_missing(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    if b.txdata.len() < 2 {
        return None;
    }
    b.txdata.remove(0);
    b.header.merkle_root = mining::merkle_root(&b.txdata);
    mining::mine(&mut b.header);
    Some((b, "coinbase removed".into()))
}

fn cb_second_coinbase(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let extra = mining::coinbase(ctx.h, rng.gen(), Amount::ZERO, mining::op_true());
    let at = rng.gen_range(1..=b.txdata.len());
    b.txdata.insert(at, extra);
    finish(&mut b);
    Some((b, format!("second coinbase at index {at}")))
}

fn cb_two_inputs(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let extra = b.txdata[0].input[0].clone();
    b.txdata[0].input.push(extra);
    finish(&mut b);
    Some((b, "coinbase given a second (null) input".into()))
}

fn cb_no_outputs(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    b.txdata[0].output.clear();
    // No room for a commitment either: drop the witness reserved value when nothing else has a
    // witness, so the empty output list is what fails.
    if b.txdata.iter().skip(1).all(|t| t.input.iter().all(|i| i.witness.is_empty())) {
        b.txdata[0].input[0].witness = Witness::new();
    }
    mining::remine(&mut b);
    Some((b, "coinbase without outputs".into()))
}

fn cb_payout_op_true(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let i = b.txdata[0].output.iter().position(|o| !o.script_pubkey.is_op_return())?;
    b.txdata[0].output[i].script_pubkey = mining::p2wsh_op_true();
    finish(&mut b);
    Some((b, "coinbase pays to P2WSH(OP_TRUE)".into()))
}

// ---------------------------------------------------------------------------------------------
// Amounts and fees
// ---------------------------------------------------------------------------------------------

fn pick_tx(ctx: &Ctx, rng: &mut StdRng) -> Option<usize> {
    let b = ctx.base.block(ctx.h);
    let leaves = leaf_txs(b);
    leaves
        .choose(rng)
        .copied()
        .or_else(|| (b.txdata.len() > 1).then(|| rng.gen_range(1..b.txdata.len())))
}

fn amount_above_max_money(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let (t, what) = match pick_tx(ctx, rng) {
        Some(t) if rng.gen_bool(0.7) => (t, "tx"),
        _ => (0, "coinbase"),
    };
    let o = rng.gen_range(0..b.txdata[t].output.len().max(1));
    b.txdata[t].output.get_mut(o)?.value = Amount::MAX_MONEY + Amount::ONE_SAT;
    finish(&mut b);
    Some((b, format!("{what} {t} output {o} = MAX_MONEY + 1")))
}

fn amount_negative(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let t = if rng.gen_bool(0.5) { pick_tx(ctx, rng).unwrap_or(0) } else { 0 };
    let o = rng.gen_range(0..b.txdata[t].output.len().max(1));
    let v = *[u64::MAX, 1u64 << 63, u64::MAX - 100_000_000].choose(rng)?;
    b.txdata[t].output.get_mut(o)?.value = Amount::from_sat(v);
    finish(&mut b);
    Some((b, format!("tx {t} output {o} = {} (negative as int64)", v as i64)))
}

fn amount_total_overflow(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let t = if rng.gen_bool(0.5) { pick_tx(ctx, rng).unwrap_or(0) } else { 0 };
    let tx = &mut b.txdata[t];
    let spk = tx.output.first().map(|o| o.script_pubkey.clone()).unwrap_or_else(mining::op_true);
    tx.output.push(TxOut {
        value: Amount::MAX_MONEY,
        script_pubkey: spk.clone(),
    });
    tx.output.push(TxOut {
        value: Amount::from_sat(1),
        script_pubkey: spk,
    });
    finish(&mut b);
    Some((b, format!("tx {t}: outputs sum above MAX_MONEY (each in range)")))
}

fn amount_in_below_out(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let t = pick_tx(ctx, rng)?;
    let mut b = ctx.real();
    let ins: u64 = ctx.base.spent[ctx.h as usize][t].iter().map(|c| c.out.value.to_sat()).sum();
    let outs: u64 = b.txdata[t].output.iter().map(|o| o.value.to_sat()).sum();
    let o = rng.gen_range(0..b.txdata[t].output.len());
    let add = ins - outs + 1;
    let v = b.txdata[t].output[o].value.to_sat() + add;
    b.txdata[t].output[o].value = Amount::from_sat(v);
    finish(&mut b);
    Some((b, format!("tx {t} output {o} raised so outputs exceed inputs by 1")))
}

fn amount_signed_output_changed(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let t = pick_tx(ctx, rng)?;
    let mut b = ctx.real();
    let o = rng.gen_range(0..b.txdata[t].output.len());
    let v = b.txdata[t].output[o].value.to_sat();
    if v == 0 {
        return None;
    }
    b.txdata[t].output[o].value = Amount::from_sat(v - 1);
    let limit = claim_limit(ctx.base, &b, ctx.h)?;
    set_claim(&mut b, limit)?;
    finish(&mut b);
    Some((
        b,
        format!("tx {t} output {o} lowered by 1 sat (signatures cover it), coinbase claims the fee"),
    ))
}

fn amount_spend_exact_input(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    with_clean_spend(ctx, rng, |_, _| {})
}

fn fee_claimed_exactly(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let (op, coin) = ctx.pick_coin(rng)?;
    let fee = rng.gen_range(0..=coin.out.value.to_sat());
    let tx = spend_coin(op, &coin.out, fee)?;
    let mut b = ctx.real();
    add_tx_with_fee(ctx.base, &mut b, ctx.h, tx)?;
    finish(&mut b);
    Some((b, format!("spend of {op} pays fee {fee}, claimed by the coinbase")))
}

fn fee_claimed_plus_one(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let (op, coin) = ctx.pick_coin(rng)?;
    let fee = rng.gen_range(0..=coin.out.value.to_sat());
    let tx = spend_coin(op, &coin.out, fee)?;
    let mut b = ctx.real();
    add_tx_with_fee(ctx.base, &mut b, ctx.h, tx)?;
    let limit = claim_limit(ctx.base, &b, ctx.h)?;
    set_claim(&mut b, limit + 1)?;
    finish(&mut b);
    Some((b, format!("spend of {op} pays fee {fee}, coinbase claims one more")))
}

fn fee_drop_tx(ctx: &Ctx, rng: &mut StdRng, adjust: bool) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let leaves = leaf_txs(&b);
    let t = *leaves.choose(rng)?;
    let fee = {
        let ins: u64 = ctx.base.spent[ctx.h as usize][t].iter().map(|c| c.out.value.to_sat()).sum();
        ins - b.txdata[t].output.iter().map(|o| o.value.to_sat()).sum::<u64>()
    };
    b.txdata.remove(t);
    if adjust {
        let limit = claim_limit(ctx.base, &b, ctx.h)?;
        set_claim(&mut b, limit)?;
    }
    tag_coinbase(&mut b, 0xc3);
    finish(&mut b);
    Some((
        b,
        format!(
            "tx {t} (fee {fee}) dropped{}",
            if adjust {
                ", coinbase claim lowered"
            } else {
                ", coinbase claim kept"
            }
        ),
    ))
}

fn fee_drop_tx_adjust_claim(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    fee_drop_tx(ctx, rng, true)
}

fn fee_drop_tx_keep_claim(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    fee_drop_tx(ctx, rng, false)
}

// ---------------------------------------------------------------------------------------------
// Lock times
// ---------------------------------------------------------------------------------------------

fn locktime_clean(ctx: &Ctx, rng: &mut StdRng, lock: u32, what: &str) -> Option<(Block, String)> {
    let (b, d) = with_clean_spend(ctx, rng, |tx, _| {
        tx.lock_time = LockTime::from_consensus(lock);
        tx.input[0].sequence = Sequence(0xffff_fffe);
    })?;
    Some((b, format!("{d}; nLockTime {lock} ({what})")))
}

fn locktime_height_equal(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    locktime_clean(ctx, rng, ctx.h, "= block height")
}

fn locktime_height_below(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    locktime_clean(ctx, rng, ctx.h - 1, "= block height - 1")
}

fn locktime_time_equal_mtp(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    locktime_clean(ctx, rng, ctx.prev_mtp() as u32, "= prev MTP")
}

fn locktime_time_below_mtp(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    locktime_clean(ctx, rng, ctx.prev_mtp() as u32 - 1, "= prev MTP - 1")
}

fn locktime_final_sequences(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let (b, d) = with_clean_spend(ctx, rng, |tx, _| {
        tx.lock_time = LockTime::from_consensus(0xffff_fff0);
        tx.input[0].sequence = Sequence::MAX;
    })?;
    Some((b, format!("{d}; far-future nLockTime but every sequence final")))
}

fn locktime_real_tx_raised(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let t = pick_tx(ctx, rng)?;
    let mut b = ctx.real();
    let lock = if rng.gen_bool(0.5) {
        ctx.h + rng.gen_range(0..5)
    } else {
        ctx.prev_mtp() as u32 + rng.gen_range(0..3600)
    };
    b.txdata[t].lock_time = LockTime::from_consensus(lock);
    for i in &mut b.txdata[t].input {
        if i.sequence == Sequence::MAX {
            i.sequence = Sequence(0xffff_fffe);
        }
    }
    finish(&mut b);
    Some((b, format!("tx {t} nLockTime raised to {lock} (non-final)")))
}

// ---------------------------------------------------------------------------------------------
// Sequence locks (BIP68)
// ---------------------------------------------------------------------------------------------

/// A non-coinbase anyone-can-spend coin at most 0xffff blocks old.
fn seq_coin(ctx: &Ctx, rng: &mut StdRng) -> Option<(OutPoint, CoinInfo)> {
    ctx.coins(false)
        .into_iter()
        .filter(|(_, c)| ctx.h - c.height < 0xffff)
        .collect::<Vec<_>>()
        .choose(rng)
        .cloned()
}

fn seqlock(
    ctx: &Ctx,
    rng: &mut StdRng,
    sequence: impl FnOnce(&CoinInfo) -> Option<u32>,
    version: i32,
    what: &str,
) -> Option<(Block, String)> {
    let (op, coin) = seq_coin(ctx, rng)?;
    let seq = sequence(&coin)?;
    let mut tx = spend_coin(op, &coin.out, 0)?;
    tx.version = Version(version);
    tx.input[0].sequence = Sequence(seq);
    let mut b = ctx.real();
    add_tx_with_fee(ctx.base, &mut b, ctx.h, tx)?;
    finish(&mut b);
    Some((
        b,
        format!(
            "v{version} spend of {op} (height {}, age {}) with nSequence {seq:#x} ({what})",
            coin.height,
            ctx.h - coin.height
        ),
    ))
}

/// Largest time-lock value (512 s units) satisfied at height `h` for a coin created at `coin_h`.
fn max_time_lock(ctx: &Ctx, coin_h: u32) -> i64 {
    let coin_time = ctx.base.mtp(coin_h.saturating_sub(1));
    // Satisfied when coin_time + v * 512 - 1 < prev_mtp.
    (ctx.prev_mtp() - coin_time) / 512 - i64::from((ctx.prev_mtp() - coin_time) % 512 == 0)
}

fn seqlock_height_met(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let h = ctx.h;
    seqlock(ctx, rng, |c| Some(h - c.height), 2, "exactly the age")
}

fn seqlock_height_unmet(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let h = ctx.h;
    seqlock(ctx, rng, |c| Some(h - c.height + 1), 2, "age + 1")
}

fn seqlock_time_met(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    seqlock(
        ctx,
        rng,
        |c| {
            u32::try_from(max_time_lock(ctx, c.height))
                .ok()
                .filter(|v| *v <= 0xffff)
                .map(|v| v | SEQUENCE_TYPE_FLAG)
        },
        2,
        "largest satisfied 512 s count",
    )
}

fn seqlock_time_unmet(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    seqlock(
        ctx,
        rng,
        |c| {
            u32::try_from(max_time_lock(ctx, c.height) + 1)
                .ok()
                .filter(|v| *v <= 0xffff)
                .map(|v| v | SEQUENCE_TYPE_FLAG)
        },
        2,
        "one 512 s unit too many",
    )
}

fn seqlock_disabled_flag(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    seqlock(ctx, rng, |_| Some(SEQUENCE_DISABLE_FLAG | 0xffff), 2, "disable flag set")
}

fn seqlock_version1_ignored(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let h = ctx.h;
    seqlock(ctx, rng, |c| Some(h - c.height + 5), 1, "unmet, but version 1 has no BIP68")
}

// ---------------------------------------------------------------------------------------------
// Sigops
// ---------------------------------------------------------------------------------------------

fn sigops_legacy(ctx: &Ctx, extra: u64) -> Option<(Block, String)> {
    let mut b = ctx.real();
    // The coinbase output holding the sigops is added first so the count includes everything.
    b.txdata[0].output.insert(
        0,
        TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::new(),
        },
    );
    let used = block_sigops(ctx.base, &b)?;
    let room = MAX_BLOCK_SIGOPS_COST.checked_sub(used)? / 4 + extra;
    b.txdata[0].output[0].script_pubkey = ScriptBuf::from_bytes(vec![0xac; room as usize]);
    finish(&mut b);
    Some((
        b,
        format!(
            "coinbase output with {room} OP_CHECKSIG: block sigop cost {} (limit {MAX_BLOCK_SIGOPS_COST})",
            used + 4 * room
        ),
    ))
}

fn sigops_legacy_at_limit(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    sigops_legacy(ctx, 0)
}

fn sigops_legacy_over_limit(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    sigops_legacy(ctx, 1)
}

fn sigops_p2sh(ctx: &Ctx, with_witness_one: bool) -> Option<(Block, String)> {
    let sc = &ctx.base.sigop_coins;
    if sc.height == 0 || ctx.h <= sc.height {
        return None;
    }
    let mut b = ctx.real();
    if block_sigops(ctx.base, &b)? != 0 {
        return None;
    }
    let mut inputs = Vec::new();
    for (op, _, redeem) in &sc.p2sh_40000 {
        inputs.push(TxIn {
            previous_output: *op,
            script_sig: Builder::new().push_slice(mining::push_bytes(redeem.as_bytes())).into_script(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        });
    }
    if with_witness_one {
        let (op, _, ws) = &sc.p2wsh_1;
        inputs.push(TxIn {
            previous_output: *op,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[ws.as_bytes()]),
        });
    }
    let n = inputs.len() as u64;
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: inputs,
        output: vec![TxOut {
            value: Amount::from_sat(n),
            script_pubkey: mining::op_true(),
        }],
    };
    b.txdata.push(tx);
    finish(&mut b);
    let cost = block_sigops(ctx.base, &b)?;
    Some((
        b,
        format!(
            "spends two P2SH scripts of 500 OP_CHECKMULTISIG{}: sigop cost {cost}",
            if with_witness_one {
                " and a P2WSH with one OP_CHECKSIG"
            } else {
                ""
            }
        ),
    ))
}

fn sigops_p2sh_at_limit(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    sigops_p2sh(ctx, false)
}

fn sigops_p2sh_witness_over_limit(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    sigops_p2sh(ctx, true)
}

// ---------------------------------------------------------------------------------------------
// Weight
// ---------------------------------------------------------------------------------------------

/// Adds a transaction spending a padding coin to a big OP_RETURN, tuned so the block weighs
/// exactly `target` (None if the exact value cannot be hit).
fn pad_to_weight(ctx: &Ctx, rng: &mut StdRng, target: u64) -> Option<(Block, String)> {
    let (op, out) = ctx.pad_coin(rng)?;
    let is_pad = out.script_pubkey == ScriptBuf::new_p2wsh(&drop_true().wscript_hash());
    let mut b = ctx.real();
    let make = |b: &Block, data: usize, item: usize| -> Block {
        let mut b = b.clone();
        let witness = if is_pad {
            Witness::from_slice(&[vec![0x42u8; item], drop_true().to_bytes()])
        } else {
            Witness::from_slice(&[vec![0x42u8; item]])
        };
        b.txdata.push(Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: op,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness,
            }],
            output: vec![TxOut {
                value: out.value,
                script_pubkey: mining::big_op_return(data),
            }],
        });
        mining::update_witness_commitment(&mut b);
        b
    };
    let base_w = make(&b, 0, 300).weight().to_wu();
    if base_w + 4 * 10_000 > target {
        return None;
    }
    let mut data = ((target - base_w) / 4) as usize;
    // Step the data down until the block is at most 3 units under the target with item 300, then
    // make up the rest with witness bytes (1 unit each; the item length varint stays 3 bytes).
    loop {
        let w = make(&b, data, 300).weight().to_wu();
        if w <= target {
            let item = 300 + (target - w) as usize;
            if item > 520 {
                return None;
            }
            b = make(&b, data, item);
            break;
        }
        data -= ((w - target) / 4).max(1) as usize;
    }
    mining::remine(&mut b);
    let w = b.weight().to_wu();
    (w == target).then(|| (b, format!("OP_RETURN of {data} bytes plus witness padding: weight {w}")))
}

fn weight_at_limit(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    pad_to_weight(ctx, rng, MAX_BLOCK_WEIGHT)
}

fn weight_over_limit(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    pad_to_weight(ctx, rng, MAX_BLOCK_WEIGHT + 1)
}

fn weight_stripped_over(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    // A 1,000,001-byte stripped block: too big by the size rule even before weight.
    let mut b = ctx.real();
    let stripped = blvm_node::validation::block_check::stripped_size(&b);
    let extra = 1_000_001usize.checked_sub(stripped)?;
    let (op, coin) = ctx.pick_coin(rng)?;
    let mut tx = spend_coin(op, &coin.out, 0)?;
    tx.output[0].script_pubkey = mining::big_op_return(1);
    let grow = extra.checked_sub(tx.base_size() + 8)?;
    tx.output[0].script_pubkey = mining::big_op_return(grow);
    b.txdata.push(tx);
    finish(&mut b);
    let s = blvm_node::validation::block_check::stripped_size(&b);
    Some((b, format!("stripped size {s}")))
}

// ---------------------------------------------------------------------------------------------
// Witness and commitment
// ---------------------------------------------------------------------------------------------

fn has_witness_tx(b: &Block) -> bool {
    b.txdata.iter().skip(1).any(|t| t.input.iter().any(|i| !i.witness.is_empty()))
}

fn witness_commitment_wrong(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let i = mining::commitment_index(&b.txdata[0])?;
    let mut bytes = b.txdata[0].output[i].script_pubkey.to_bytes();
    let at = rng.gen_range(6..38);
    flip(&mut bytes, at);
    b.txdata[0].output[i].script_pubkey = ScriptBuf::from_bytes(bytes);
    mining::remine(&mut b);
    Some((b, format!("commitment byte {at} flipped")))
}

fn witness_commitment_missing(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    if !has_witness_tx(&b) {
        return None;
    }
    let i = mining::commitment_index(&b.txdata[0])?;
    b.txdata[0].output.remove(i);
    mining::remine(&mut b);
    Some((b, "commitment output removed from a block with witness data".into()))
}

fn witness_commitment_dropped_no_witness(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    if has_witness_tx(&b) {
        return None;
    }
    let i = mining::commitment_index(&b.txdata[0])?;
    b.txdata[0].output.remove(i);
    b.txdata[0].input[0].witness = Witness::new();
    mining::remine(&mut b);
    Some((b, "no witness data: commitment and reserved value removed".into()))
}

fn witness_commitment_decoy(ctx: &Ctx, rng: &mut StdRng, before: bool) -> Option<(Block, String)> {
    let mut b = ctx.real();
    mining::update_witness_commitment(&mut b);
    let i = mining::commitment_index(&b.txdata[0])?;
    let decoy = mining::commitment_script(rng.gen());
    let at = if before { i } else { i + 1 };
    b.txdata[0].output.insert(
        at,
        TxOut {
            value: Amount::ZERO,
            script_pubkey: decoy,
        },
    );
    if before {
        // The real (last) commitment must still match after the coinbase changed: it does,
        // since the witness root excludes the coinbase.
        mining::update_witness_commitment(&mut b);
    }
    mining::remine(&mut b);
    Some((
        b,
        format!("bogus commitment output {} the real one", if before { "before" } else { "after" }),
    ))
}

fn witness_commitment_decoy_before(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    witness_commitment_decoy(ctx, rng, true)
}

fn witness_commitment_decoy_after(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    witness_commitment_decoy(ctx, rng, false)
}

fn witness_nonce_size(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    mining::commitment_index(&b.txdata[0])?;
    let w = match rng.gen_range(0..3) {
        0 => Witness::from_slice(&[vec![0u8; 31]]),
        1 => Witness::from_slice(&[vec![0u8; 33]]),
        _ => Witness::from_slice(&[vec![0u8; 32], vec![0u8; 32]]),
    };
    b.txdata[0].input[0].witness = w.clone();
    // Recompute the commitment with the new reserved value's first item where it is 32 bytes.
    mining::remine(&mut b);
    Some((b, format!("coinbase witness {:?}", w.iter().map(|i| i.len()).collect::<Vec<_>>())))
}

fn witness_stripped(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let (t, i, k) = pick_input(ctx, rng, |k| {
        matches!(k, "p2wpkh" | "p2wsh" | "p2tr-keypath" | "p2tr-scriptpath" | "p2sh-segwit")
    })?;
    let mut b = ctx.real();
    b.txdata[t].input[i].witness = Witness::new();
    finish(&mut b);
    Some((b, format!("witness of tx {t} input {i} ({k}) removed")))
}

fn witness_on_legacy_input(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let (t, i, k) = pick_input(ctx, rng, |k| matches!(k, "p2pkh" | "p2pk" | "bare-multisig" | "p2sh"))?;
    let mut b = ctx.real();
    b.txdata[t].input[i].witness = Witness::from_slice(&[vec![0x01u8; rng.gen_range(1..40)]]);
    finish(&mut b);
    Some((b, format!("witness item added to tx {t} input {i} ({k})")))
}

fn witness_item_flipped(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let (t, i, k) = pick_input(ctx, rng, |k| {
        matches!(k, "p2wpkh" | "p2wsh" | "p2tr-keypath" | "p2tr-scriptpath" | "p2sh-segwit")
    })?;
    let mut b = ctx.real();
    let mut items = b.txdata[t].input[i].witness.to_vec();
    let j = rng.gen_range(0..items.len());
    if items[j].is_empty() {
        items[j].push(0x01);
    } else {
        let at = rng.gen_range(0..items[j].len());
        flip(&mut items[j], at);
    }
    b.txdata[t].input[i].witness = Witness::from_slice(&items);
    finish(&mut b);
    Some((b, format!("tx {t} input {i} ({k}) witness item {j} altered")))
}

fn witness_item_appended(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let (t, i, k) = pick_input(ctx, rng, |k| matches!(k, "p2wpkh" | "p2wsh" | "p2sh-segwit"))?;
    let mut b = ctx.real();
    let mut w = b.txdata[t].input[i].witness.clone();
    w.push(vec![0x01u8; rng.gen_range(0..3)]);
    b.txdata[t].input[i].witness = w;
    finish(&mut b);
    Some((b, format!("extra witness item on tx {t} input {i} ({k})")))
}

fn witness_taproot_annex(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let (t, i, k) = pick_input(ctx, rng, |k| matches!(k, "p2tr-keypath" | "p2tr-scriptpath"))?;
    let mut b = ctx.real();
    let mut w = b.txdata[t].input[i].witness.clone();
    let mut annex = vec![0x50u8];
    annex.extend((0..rng.gen_range(0..8)).map(|_| rng.gen::<u8>()));
    w.push(annex);
    b.txdata[t].input[i].witness = w;
    finish(&mut b);
    Some((
        b,
        format!("annex appended to tx {t} input {i} ({k}): the signature no longer commits to it"),
    ))
}

fn witness_unknown_program_junk(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let coins: Vec<_> = ctx
        .coins(false)
        .into_iter()
        .filter(|(_, c)| mining::is_unknown_witness_program(&c.out.script_pubkey))
        .collect();
    let (op, coin) = coins.choose(rng)?.clone();
    let mut tx = spend_coin(op, &coin.out, 0)?;
    let items: Vec<Vec<u8>> = (0..rng.gen_range(1..4))
        .map(|_| vec![rng.gen::<u8>(); rng.gen_range(0..600)])
        .collect();
    tx.input[0].witness = Witness::from_slice(&items);
    let mut b = ctx.real();
    add_tx_with_fee(ctx.base, &mut b, ctx.h, tx)?;
    finish(&mut b);
    Some((
        b,
        format!(
            "spend of unknown witness program {} with junk witness {:?}",
            coin.out.script_pubkey,
            items.iter().map(|i| i.len()).collect::<Vec<_>>()
        ),
    ))
}

// ---------------------------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------------------------

fn script_sig_flipped(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let (t, i, k) = pick_input(ctx, rng, |k| matches!(k, "p2pkh" | "p2pk" | "bare-multisig" | "p2sh"))?;
    let mut b = ctx.real();
    let mut s = b.txdata[t].input[i].script_sig.to_bytes();
    let (at, len) = find_push(&b.txdata[t].input[i].script_sig, 9)?;
    flip(&mut s, at + rng.gen_range(4..len.min(40)));
    b.txdata[t].input[i].script_sig = ScriptBuf::from_bytes(s);
    finish(&mut b);
    Some((b, format!("tx {t} input {i} ({k}): a byte inside a scriptSig push flipped")))
}

fn script_sighash_byte(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let (t, i, k) = pick_input(ctx, rng, |k| matches!(k, "p2pkh" | "p2pk" | "p2wpkh"))?;
    let mut b = ctx.real();
    let ty = *[0x01u8, 0x02, 0x03, 0x81, 0x82, 0x83, 0x00, 0x04].choose(rng)?;
    let input = &mut b.txdata[t].input[i];
    let old;
    if k == "p2wpkh" {
        let mut items = input.witness.to_vec();
        let sig = items.first_mut()?;
        old = *sig.last()?;
        *sig.last_mut()? = ty;
        input.witness = Witness::from_slice(&items);
    } else {
        let (at, len) = find_push(&input.script_sig, 9)?;
        let mut s = input.script_sig.to_bytes();
        old = s[at + len - 1];
        s[at + len - 1] = ty;
        input.script_sig = ScriptBuf::from_bytes(s);
    }
    if old == ty {
        return None;
    }
    finish(&mut b);
    Some((b, format!("tx {t} input {i} ({k}): sighash type byte {old:#04x} -> {ty:#04x}")))
}

/// Re-encodes the first push of at least 2 bytes with the next larger push opcode.
fn reencode_first_push(script: &ScriptBuf) -> Option<ScriptBuf> {
    let mut out = Vec::new();
    let mut done = false;
    for ins in script.instructions() {
        match ins.ok()? {
            Instruction::PushBytes(p) if !done && p.len() >= 2 && p.len() <= 0xff => {
                out.push(0x4d); // PUSHDATA2
                out.extend_from_slice(&(p.len() as u16).to_le_bytes());
                out.extend_from_slice(p.as_bytes());
                done = true;
            }
            Instruction::PushBytes(p) => {
                let b = Builder::new().push_slice(p).into_script();
                out.extend_from_slice(b.as_bytes());
            }
            Instruction::Op(op) => out.push(op.to_u8()),
        }
    }
    done.then(|| ScriptBuf::from_bytes(out))
}

fn script_push_nonminimal(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let (t, i, k) = pick_input(ctx, rng, |k| {
        matches!(k, "p2pkh" | "p2pk" | "bare-multisig" | "p2sh" | "p2sh-segwit")
    })?;
    let mut b = ctx.real();
    let s = reencode_first_push(&b.txdata[t].input[i].script_sig)?;
    b.txdata[t].input[i].script_sig = s;
    finish(&mut b);
    Some((b, format!("tx {t} input {i} ({k}): first push re-encoded with PUSHDATA2 (MINIMALDATA is policy only; P2SH-segwit requires the exact push)")))
}

fn script_nop_prepended(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let (t, i, k) = pick_input(ctx, rng, |k| matches!(k, "p2pkh" | "p2pk" | "bare-multisig" | "p2sh" | "p2wpkh"))?;
    let mut b = ctx.real();
    let mut s = vec![0x61u8]; // OP_NOP
    s.extend_from_slice(b.txdata[t].input[i].script_sig.as_bytes());
    b.txdata[t].input[i].script_sig = ScriptBuf::from_bytes(s);
    finish(&mut b);
    Some((
        b,
        format!("tx {t} input {i} ({k}): OP_NOP prepended to the scriptSig (fine for legacy, not for P2SH push-only or segwit)"),
    ))
}

fn script_nulldummy(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let (t, i, k) = pick_input(ctx, rng, |k| matches!(k, "bare-multisig" | "p2sh"))?;
    let mut b = ctx.real();
    let s = b.txdata[t].input[i].script_sig.to_bytes();
    if s.first() != Some(&0x00) {
        return None;
    }
    let mut s2 = vec![0x51u8];
    s2.extend_from_slice(&s[1..]);
    b.txdata[t].input[i].script_sig = ScriptBuf::from_bytes(s2);
    finish(&mut b);
    Some((b, format!("tx {t} input {i} ({k}): leading OP_0 (multisig dummy) replaced by OP_1")))
}

fn script_p2sh_redeem_flipped(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let (t, i, k) = pick_input(ctx, rng, |k| matches!(k, "p2sh" | "p2sh-segwit"))?;
    let mut b = ctx.real();
    let script = b.txdata[t].input[i].script_sig.clone();
    // The redeem script is the last push.
    let mut last = None;
    for span in push_spans(&script) {
        let (_, at, n) = span?;
        if n > 0 {
            last = Some((at, n));
        }
    }
    let (at, len) = last?;
    let mut s = script.to_bytes();
    flip(&mut s, at + rng.gen_range(0..len));
    b.txdata[t].input[i].script_sig = ScriptBuf::from_bytes(s);
    finish(&mut b);
    Some((b, format!("tx {t} input {i} ({k}): redeem script byte flipped")))
}

fn script_segwit_scriptsig_added(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let (t, i, k) = pick_input(ctx, rng, |k| matches!(k, "p2wpkh" | "p2wsh" | "p2tr-keypath" | "p2tr-scriptpath"))?;
    let mut b = ctx.real();
    b.txdata[t].input[i].script_sig = Builder::new().push_slice([0x01u8, 0x02]).into_script();
    finish(&mut b);
    Some((b, format!("tx {t} input {i} ({k}): native segwit input given a scriptSig")))
}

// ---------------------------------------------------------------------------------------------
// Missing, spent and immature inputs
// ---------------------------------------------------------------------------------------------

fn input_missing_vout(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let t = pick_tx(ctx, rng)?;
    let mut b = ctx.real();
    let i = rng.gen_range(0..b.txdata[t].input.len());
    b.txdata[t].input[i].previous_output.vout += 1000;
    finish(&mut b);
    Some((b, format!("tx {t} input {i} points at a vout that does not exist")))
}

fn input_missing_txid(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    if rng.gen_bool(0.5) {
        let (b, d) = with_clean_spend(ctx, rng, |tx, _| {
            tx.input[0].previous_output.txid = bitcoin::Txid::from_byte_array([7u8; 32]);
        })?;
        return Some((b, format!("{d}; but the txid replaced by one never seen")));
    }
    let t = pick_tx(ctx, rng)?;
    let mut b = ctx.real();
    let i = rng.gen_range(0..b.txdata[t].input.len());
    b.txdata[t].input[i].previous_output.txid = bitcoin::Txid::from_byte_array(rng.gen());
    finish(&mut b);
    Some((b, format!("tx {t} input {i} spends an unknown txid")))
}

fn input_child_before_parent(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let ids: Vec<bitcoin::Txid> = b.txdata.iter().map(|t| t.compute_txid()).collect();
    let mut pairs = Vec::new();
    for (c, tx) in b.txdata.iter().enumerate().skip(1) {
        for input in &tx.input {
            if let Some(p) = ids.iter().position(|id| *id == input.previous_output.txid) {
                if p > 0 && p < c {
                    pairs.push((p, c));
                }
            }
        }
    }
    let (p, c) = *pairs.choose(rng)?;
    let child = b.txdata.remove(c);
    b.txdata.insert(p, child);
    finish(&mut b);
    Some((b, format!("tx {c} moved before its parent tx {p}")))
}

fn input_spent_long_ago(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let base = ctx.base;
    let h = ctx.h;
    let (k, t) = ctx.pick_earlier_tx(rng, 60, |tx| {
        tx.input
            .iter()
            .any(|i| base.spent_at.get(&i.previous_output).map(|s| *s < h).unwrap_or(false))
    })?;
    let txid = base.block(k).txdata[t].compute_txid();
    let all_spent = (0..base.block(k).txdata[t].output.len() as u32).all(|v| !base.unspent_at(&OutPoint { txid, vout: v }, h - 1));
    let mut b = ctx.real();
    if all_spent {
        b.txdata.push(base.block(k).txdata[t].clone());
    } else {
        // Re-spend its inputs in a fresh transaction (BIP30 would otherwise fire first).
        let mut tx = base.block(k).txdata[t].clone();
        tx.lock_time = LockTime::from_consensus(1);
        b.txdata.push(tx);
    }
    finish(&mut b);
    Some((
        b,
        format!("re-spends the inputs of tx {t} of block {k} (spent at or before {})", h - 1),
    ))
}

fn input_double_spend_in_block(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    if rng.gen_bool(0.5) {
        let (op, coin) = ctx.pick_coin(rng)?;
        let a = spend_coin(op, &coin.out, 0)?;
        let mut c = spend_coin(op, &coin.out, 1.min(coin.out.value.to_sat()))?;
        c.lock_time = LockTime::from_consensus(1);
        b.txdata.push(a);
        b.txdata.push(c);
        finish(&mut b);
        return Some((b, format!("two spends of {op} in one block")));
    }
    let t = pick_tx(ctx, rng)?;
    let op = b.txdata[t].input[0].previous_output;
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: op,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(1),
            script_pubkey: mining::op_true(),
        }],
    };
    b.txdata.push(tx);
    finish(&mut b);
    Some((b, format!("a second spend of {op} (already spent by tx {t})")))
}

fn input_in_block_chain(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let (op, coin) = ctx.pick_coin(rng)?;
    let a = spend_coin(op, &coin.out, 0)?;
    let a_out = OutPoint {
        txid: a.compute_txid(),
        vout: 0,
    };
    let c = spend_coin(a_out, &a.output[0], 0)?;
    let mut b = ctx.real();
    b.txdata.push(a);
    add_tx_with_fee(ctx.base, &mut b, ctx.h, c)?;
    finish(&mut b);
    Some((b, format!("spend of {op} and a spend of that in the same block")))
}

fn coinbase_spend(ctx: &Ctx, depth: u32) -> Option<(Block, String)> {
    let k = ctx.h.checked_sub(depth)?;
    if k == 0 {
        return None;
    }
    let base = ctx.base;
    let cb = &base.block(k).txdata[0];
    let txid = cb.compute_txid();
    // Prefer an output we can unlock (extension coinbases); otherwise any (scripts fail later).
    let vouts: Vec<u32> = (0..cb.output.len() as u32)
        .filter(|v| base.unspent_at(&OutPoint { txid, vout: *v }, ctx.h))
        .collect();
    let vout = vouts
        .iter()
        .copied()
        .find(|v| mining::is_anyone_can_spend(&cb.output[*v as usize].script_pubkey))
        .or_else(|| vouts.first().copied())?;
    let out = &cb.output[vout as usize];
    let op = OutPoint { txid, vout };
    let input = if mining::is_anyone_can_spend(&out.script_pubkey) {
        mining::unlock(op, &out.script_pubkey)
    } else {
        TxIn {
            previous_output: op,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }
    };
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![input],
        output: vec![TxOut {
            value: out.value,
            script_pubkey: mining::op_true(),
        }],
    };
    let mut b = ctx.real();
    b.txdata.push(tx);
    finish(&mut b);
    Some((
        b,
        format!("spends the coinbase of height {k} (depth {depth}, {})", out.script_pubkey),
    ))
}

fn immature_coinbase_99(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    coinbase_spend(ctx, 99)
}

fn mature_coinbase_100(ctx: &Ctx, _: &mut StdRng) -> Option<(Block, String)> {
    coinbase_spend(ctx, 100)
}

// ---------------------------------------------------------------------------------------------
// Transaction structure
// ---------------------------------------------------------------------------------------------

fn tx_no_inputs(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let mut b = ctx.real();
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![],
        output: vec![TxOut {
            value: Amount::ZERO,
            script_pubkey: mining::op_true(),
        }],
    };
    let at = rng.gen_range(1..=b.txdata.len());
    b.txdata.insert(at, tx);
    finish(&mut b);
    Some((b, format!("transaction without inputs at index {at}")))
}

fn tx_no_outputs(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let t = pick_tx(ctx, rng)?;
    let mut b = ctx.real();
    b.txdata[t].output.clear();
    finish(&mut b);
    Some((b, format!("tx {t} without outputs")))
}

fn tx_null_prevout(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    let t = pick_tx(ctx, rng)?;
    let mut b = ctx.real();
    let null = TxIn {
        previous_output: OutPoint::null(),
        script_sig: Builder::new().push_int(1).push_int(1).into_script(),
        sequence: Sequence::MAX,
        witness: Witness::new(),
    };
    b.txdata[t].input.push(null);
    finish(&mut b);
    Some((b, format!("tx {t} given a null prevout input")))
}

fn tx_duplicate_input(ctx: &Ctx, rng: &mut StdRng) -> Option<(Block, String)> {
    if rng.gen_bool(0.5) {
        let (b, d) = with_clean_spend(ctx, rng, |tx, _| {
            let dup = tx.input[0].clone();
            tx.input.push(dup);
        })?;
        return Some((b, format!("{d}; the same input twice")));
    }
    let t = pick_tx(ctx, rng)?;
    let mut b = ctx.real();
    let dup = b.txdata[t].input[0].clone();
    b.txdata[t].input.push(dup);
    finish(&mut b);
    Some((b, format!("tx {t} spends its first input twice")))
}

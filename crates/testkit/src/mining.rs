//! Regtest block building: re-mining headers, recomputing merkle roots and BIP141 witness
//! commitments, building new blocks on a parent, and anyone-can-spend transactions.

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::Hash;
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::transaction::Version;
use bitcoin::{Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Witness};

/// Regtest's proof-of-work limit in compact form (every regtest block carries it).
pub const REGTEST_BITS: u32 = 0x207f_ffff;
/// The version Core's miner uses (BIP9 top bits, no signalling).
pub const BLOCK_VERSION: i32 = 0x2000_0000;
/// Coinbase outputs need this many confirmations.
pub const COINBASE_MATURITY: u32 = 100;
/// The witness commitment output prefix: OP_RETURN, push 36, 0xaa21a9ed.
pub const WITNESS_COMMITMENT_HEADER: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];

/// Increments the nonce (from its current value) until the header meets its own target.
pub fn mine(header: &mut Header) {
    while !header.target().is_met_by(header.block_hash()) {
        header.nonce = header.nonce.wrapping_add(1);
        if header.nonce == 0 {
            header.time += 1;
        }
    }
}

/// Increments the nonce until the header does NOT meet its target (for `high-hash` tests).
pub fn unmine(header: &mut Header) {
    while header.target().is_met_by(header.block_hash()) {
        header.nonce = header.nonce.wrapping_add(1);
    }
}

/// The transaction merkle root of `txs`.
pub fn merkle_root(txs: &[Transaction]) -> TxMerkleNode {
    let hashes = txs.iter().map(|t| t.compute_txid().to_raw_hash());
    bitcoin::merkle_tree::calculate_root(hashes)
        .map(TxMerkleNode::from_raw_hash)
        .expect("non-empty block")
}

/// The BIP141 commitment for `txs`: sha256d(witness merkle root || reserved value), where the
/// reserved value is the coinbase's single witness item.
pub fn witness_commitment(txs: &[Transaction]) -> [u8; 32] {
    let block = Block {
        header: Header {
            version: BlockVersion::from_consensus(BLOCK_VERSION),
            prev_blockhash: BlockHash::all_zeros(),
            merkle_root: TxMerkleNode::all_zeros(),
            time: 0,
            bits: CompactTarget::from_consensus(REGTEST_BITS),
            nonce: 0,
        },
        txdata: txs.to_vec(),
    };
    let root = block.witness_root().expect("non-empty block");
    let reserved = txs[0].input[0].witness.nth(0).map(|w| w.to_vec()).unwrap_or_default();
    Block::compute_witness_commitment(&root, &reserved).to_byte_array()
}

/// The commitment output script for `commitment`.
pub fn commitment_script(commitment: [u8; 32]) -> ScriptBuf {
    let mut bytes = WITNESS_COMMITMENT_HEADER.to_vec();
    bytes.extend_from_slice(&commitment);
    ScriptBuf::from_bytes(bytes)
}

/// Index of the coinbase output holding the witness commitment (the last one, as Core).
pub fn commitment_index(coinbase: &Transaction) -> Option<usize> {
    coinbase
        .output
        .iter()
        .rposition(|o| o.script_pubkey.len() >= 38 && o.script_pubkey.as_bytes()[..6] == WITNESS_COMMITMENT_HEADER)
}

/// Rewrites the coinbase witness commitment to match the block's transactions (appending the
/// output, and a 32-zero-byte reserved value, when the coinbase has none).
pub fn update_witness_commitment(block: &mut Block) {
    if block.txdata[0].input[0].witness.is_empty() {
        block.txdata[0].input[0].witness = Witness::from_slice(&[[0u8; 32]]);
    }
    let commitment = witness_commitment(&block.txdata);
    let script = commitment_script(commitment);
    match commitment_index(&block.txdata[0]) {
        Some(i) => {
            // Keep any bytes Core's miner put after the 38-byte commitment.
            let mut bytes = block.txdata[0].output[i].script_pubkey.to_bytes();
            bytes[..38].copy_from_slice(script.as_bytes());
            block.txdata[0].output[i].script_pubkey = ScriptBuf::from_bytes(bytes);
        }
        None => block.txdata[0].output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: script,
        }),
    }
}

/// Recomputes the merkle root and re-mines (the witness commitment is left as it is).
pub fn remine(block: &mut Block) {
    block.header.merkle_root = merkle_root(&block.txdata);
    mine(&mut block.header);
}

/// Recomputes the witness commitment and the merkle root, then re-mines: a mutated block that
/// breaks no rule other than the one the test targets.
pub fn finish(block: &mut Block) {
    update_witness_commitment(block);
    remine(block);
}

/// What a new block needs to know about its parent.
#[derive(Debug, Clone, Copy)]
pub struct Parent {
    /// The parent's hash.
    pub hash: BlockHash,
    /// The parent's height.
    pub height: u32,
    /// The parent's timestamp.
    pub time: u32,
    /// The parent's median-time-past.
    pub mtp: i64,
}

impl Parent {
    /// The parent for a block built on `block` (height `height`), given the timestamps of up to
    /// the 10 blocks before it (for the median-time-past).
    pub fn from_block(block: &Block, height: u32, earlier_times: &[u32]) -> Parent {
        let mut times: Vec<u32> = earlier_times.iter().rev().take(10).copied().collect();
        times.push(block.header.time);
        times.sort_unstable();
        Parent {
            hash: block.block_hash(),
            height,
            time: block.header.time,
            mtp: i64::from(times[times.len() / 2]),
        }
    }

    /// A timestamp valid for a child: after the median-time-past and after the parent itself.
    pub fn next_time(&self) -> u32 {
        (self.mtp + 1).max(i64::from(self.time) + 1) as u32
    }
}

/// A coinbase for `height`: BIP34 height push plus `tag` (for uniqueness), a 32-zero-byte
/// witness reserved value, paying `value` to `payout`.
pub fn coinbase(height: u32, tag: u64, value: Amount, payout: ScriptBuf) -> Transaction {
    let script_sig = Builder::new()
        .push_int(i64::from(height))
        .push_slice(tag.to_le_bytes())
        .into_script();
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig,
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[[0u8; 32]]),
        }],
        output: vec![TxOut {
            value,
            script_pubkey: payout,
        }],
    }
}

/// Regtest block subsidy at `height` (halving every 150 blocks).
pub fn subsidy(height: u32) -> Amount {
    let halvings = height / 150;
    Amount::from_sat(if halvings >= 64 { 0 } else { 50_0000_0000u64 >> halvings })
}

/// A fully valid-looking block on `parent`: coinbase claiming subsidy + `fees` to `payout`,
/// then `txs`, with witness commitment, merkle root, regtest bits and a mined nonce.
pub fn build_block(parent: &Parent, tag: u64, txs: Vec<Transaction>, fees: Amount, payout: ScriptBuf) -> Block {
    let height = parent.height + 1;
    let mut txdata = vec![coinbase(height, tag, subsidy(height) + fees, payout)];
    txdata.extend(txs);
    let mut block = Block {
        header: Header {
            version: BlockVersion::from_consensus(BLOCK_VERSION),
            prev_blockhash: parent.hash,
            merkle_root: TxMerkleNode::all_zeros(),
            time: parent.next_time(),
            bits: CompactTarget::from_consensus(REGTEST_BITS),
            nonce: 0,
        },
        txdata,
    };
    finish(&mut block);
    block
}

/// Bare `OP_TRUE`: anyone can spend with an empty scriptSig.
pub fn op_true() -> ScriptBuf {
    ScriptBuf::from_bytes(vec![0x51])
}

/// P2WSH of `OP_TRUE`: anyone can spend with the witness `[OP_TRUE]`.
pub fn p2wsh_op_true() -> ScriptBuf {
    ScriptBuf::new_p2wsh(&op_true().wscript_hash())
}

/// P2SH of `OP_TRUE`: anyone can spend with the scriptSig `<OP_TRUE>`.
pub fn p2sh_op_true() -> ScriptBuf {
    ScriptBuf::new_p2sh(&op_true().script_hash())
}

/// Whether [`unlock`] knows how to spend `spk` without a key.
pub fn is_anyone_can_spend(spk: &ScriptBuf) -> bool {
    *spk == op_true() || *spk == p2wsh_op_true() || *spk == p2sh_op_true() || is_unknown_witness_program(spk)
}

/// The input unlocking `prev` when its script is one of our anyone-can-spend kinds (bare
/// `OP_TRUE`, P2WSH(`OP_TRUE`), P2SH(`OP_TRUE`)) or an unknown-version witness program
/// (anyone-can-spend by consensus, e.g. witness v2 or the P2A anchor).
pub fn unlock(previous_output: OutPoint, prev_script: &ScriptBuf) -> TxIn {
    assert!(is_anyone_can_spend(prev_script), "not an anyone-can-spend script: {prev_script}");
    let witness = if *prev_script == p2wsh_op_true() {
        Witness::from_slice(&[[0x51u8]])
    } else {
        Witness::new()
    };
    let script_sig = if *prev_script == p2sh_op_true() {
        Builder::new().push_slice(push_bytes(op_true().as_bytes())).into_script()
    } else {
        ScriptBuf::new()
    };
    TxIn {
        previous_output,
        script_sig,
        sequence: Sequence::MAX,
        witness,
    }
}

/// True for witness programs of a version/length Core gives no meaning yet (anyone-can-spend).
pub fn is_unknown_witness_program(spk: &ScriptBuf) -> bool {
    if !spk.is_witness_program() {
        return false;
    }
    let b = spk.as_bytes();
    let program_len = b.len() - 2;
    match b[0] {
        0x00 => false,
        0x51 => program_len != 32, // v1 other than taproot (e.g. P2A `4e73`)
        _ => true,
    }
}

/// A version-2 transaction spending `inputs` (outpoint and its script, anyone-can-spend kinds).
pub fn spend(inputs: &[(OutPoint, ScriptBuf)], outputs: Vec<TxOut>) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: inputs.iter().map(|(op, spk)| unlock(*op, spk)).collect(),
        output: outputs,
    }
}

/// A version-2 transaction spending `input` to `output`, with an empty scriptSig and witness
/// (to be signed by the caller) and a final sequence.
pub fn unsigned_spend(input: OutPoint, output: TxOut) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: input,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![output],
    }
}

/// An output script `OP_RETURN <len bytes>` of exactly `len + 6` bytes (PUSHDATA4).
pub fn big_op_return(len: usize) -> ScriptBuf {
    let mut bytes = vec![0x6a, 0x4e];
    bytes.extend_from_slice(&(len as u32).to_le_bytes());
    bytes.resize(6 + len, 0xab);
    ScriptBuf::from_bytes(bytes)
}

/// `data` as a script push (helper for scriptSigs).
pub fn push_bytes(data: &[u8]) -> PushBytesBuf {
    PushBytesBuf::try_from(data.to_vec()).expect("push fits")
}

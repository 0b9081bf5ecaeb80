//! A deterministic regtest chain that grows the UTXO set to a chosen size, for the UTXO-scale
//! benchmark (issue 14): no signatures, every output a zero-value bare `OP_TRUE`, each block
//! spending outputs drawn uniformly at random from *all* older unspent outputs so that a coins
//! cache misses as on mainnet.
//!
//! Shape: blocks 1..=100 hold only their coinbase (paying `OP_TRUE`). From height 101 on, each
//! block has `outputs / 100` (rounded up) transactions of up to 100 outputs; the block's
//! `spends` inputs are drawn from the unspent outputs of earlier blocks and shared evenly among
//! them. The first transaction also spends the coinbase of height `h - 100` (just mature), and a
//! transaction left without a drawn input (only while the set is still smaller than a block's
//! transaction count) spends output 0 of the transaction before it. Generation stops at the first
//! block after which the set holds at least `target_coins` transaction outputs.
//!
//! The file is blk framing (network magic, little-endian size, block), which `blvm-node import`
//! and Core's `-loadblock` read, written block by block: memory is one block plus the set of
//! unspent outputs as 8-byte `(transaction index, output index)` pairs and one 32-byte txid per
//! transaction (about 8.3 bytes per coin: ~160 MB at 19 M coins).

use crate::mining::{self, Parent};
use bitcoin::absolute::LockTime;
use bitcoin::consensus::Encodable;
use bitcoin::transaction::Version;
use bitcoin::{Amount, Block, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Outputs per transaction (the last transaction of a block may have fewer).
pub const OUTPUTS_PER_TX: usize = 100;

/// Inputs per block of the issue-14 chain the UTXO-scale bench and the scale tests share.
pub const ISSUE14_SPENDS_PER_BLOCK: u32 = 8_000;
/// Outputs per block of that chain.
pub const ISSUE14_OUTPUTS_PER_BLOCK: u32 = 40_000;
/// Seed of that chain's draws.
pub const ISSUE14_SEED: u64 = 14;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleParams {
    /// Stop once the set of unspent transaction outputs holds at least this many.
    pub target_coins: u64,
    /// Older outputs spent by each block (after the 100 coinbase-only blocks).
    pub spends_per_block: u32,
    /// Outputs created by each block's transactions.
    pub outputs_per_block: u32,
    /// Seed of the random draws.
    pub seed: u64,
}

impl ScaleParams {
    /// The issue-14 chain (the shared per-block shape and seed) grown to `target_coins`, so
    /// the bench and the tests generate, and cache, the same file.
    pub fn issue14(target_coins: u64) -> ScaleParams {
        ScaleParams {
            target_coins,
            spends_per_block: ISSUE14_SPENDS_PER_BLOCK,
            outputs_per_block: ISSUE14_OUTPUTS_PER_BLOCK,
            seed: ISSUE14_SEED,
        }
    }

    /// The file name that identifies these parameters (the cache key).
    pub fn file_name(&self) -> String {
        format!(
            "scale-v1-c{}-s{}-o{}-seed{}.blk",
            self.target_coins, self.spends_per_block, self.outputs_per_block, self.seed
        )
    }
}

/// What was generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleSummary {
    /// Blocks written (genesis excluded: it is not in the file).
    pub blocks: u32,
    /// Transactions, coinbases included.
    pub transactions: u64,
    /// Inputs of non-coinbase transactions.
    pub inputs: u64,
    /// Unspent outputs at the tip, coinbase outputs included (the witness commitment is not one).
    pub utxos: u64,
    /// The tip's hash.
    pub tip: String,
    /// Size of the file in bytes.
    pub bytes: u64,
}

impl ScaleSummary {
    fn to_line(&self) -> String {
        format!(
            "blocks={} transactions={} inputs={} utxos={} tip={} bytes={}",
            self.blocks, self.transactions, self.inputs, self.utxos, self.tip, self.bytes
        )
    }

    fn from_line(line: &str) -> Option<ScaleSummary> {
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
        };
        Some(ScaleSummary {
            blocks: field("blocks")?.parse().ok()?,
            transactions: field("transactions")?.parse().ok()?,
            inputs: field("inputs")?.parse().ok()?,
            utxos: field("utxos")?.parse().ok()?,
            tip: field("tip")?.to_string(),
            bytes: field("bytes")?.parse().ok()?,
        })
    }
}

/// SplitMix64: a tiny, stable generator, so a seed means the same chain in every version.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (multiply-shift; the bias is below 2^-32 for the sizes used here).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// The chain being built: the unspent outputs, the txids they refer to, the last block.
struct Builder {
    params: ScaleParams,
    rng: SplitMix64,
    /// Unspent outputs of transactions as (index into `txids`, output index).
    pool: Vec<(u32, u32)>,
    txids: Vec<Txid>,
    /// Coinbase txids by height (index 0: genesis, never spent).
    coinbases: Vec<Txid>,
    parent: Parent,
    /// Timestamps of the last blocks (for the median-time-past).
    times: Vec<u32>,
    summary: ScaleSummary,
}

fn zero_op_true() -> TxOut {
    TxOut {
        value: Amount::ZERO,
        script_pubkey: mining::op_true(),
    }
}

fn input(previous_output: OutPoint) -> TxIn {
    TxIn {
        previous_output,
        script_sig: ScriptBuf::new(),
        sequence: Sequence::MAX,
        witness: Witness::new(),
    }
}

impl Builder {
    fn new(params: ScaleParams) -> Builder {
        let genesis = bitcoin::constants::genesis_block(Network::Regtest);
        Builder {
            params,
            rng: SplitMix64(params.seed),
            pool: Vec::new(),
            txids: Vec::new(),
            coinbases: vec![genesis.txdata[0].compute_txid()],
            parent: Parent::from_block(&genesis, 0, &[]),
            times: vec![genesis.header.time],
            summary: ScaleSummary {
                blocks: 0,
                transactions: 0,
                inputs: 0,
                utxos: 0,
                tip: genesis.block_hash().to_string(),
                bytes: 0,
            },
        }
    }

    fn done(&self) -> bool {
        self.pool.len() as u64 >= self.params.target_coins
    }

    /// The transactions of the next block (none while no coinbase is mature).
    fn transactions(&mut self, height: u32) -> Vec<Transaction> {
        if height <= mining::COINBASE_MATURITY {
            return Vec::new();
        }
        let outputs = self.params.outputs_per_block.max(1) as usize;
        let n_tx = outputs.div_ceil(OUTPUTS_PER_TX);
        let spends = (self.params.spends_per_block as usize).min(self.pool.len());
        let mut drawn: Vec<OutPoint> = Vec::with_capacity(spends);
        for _ in 0..spends {
            let (tx, vout) = self.pool.swap_remove(self.rng.below(self.pool.len()));
            drawn.push(OutPoint::new(self.txids[tx as usize], vout));
        }
        let mature = self.coinbases[(height - mining::COINBASE_MATURITY) as usize];
        let mut drawn = drawn.into_iter();
        let mut txs: Vec<Transaction> = Vec::with_capacity(n_tx);
        for i in 0..n_tx {
            let share = spends / n_tx + usize::from(i < spends % n_tx);
            let mut inputs: Vec<TxIn> = drawn.by_ref().take(share).map(input).collect();
            if i == 0 {
                inputs.insert(0, input(OutPoint::new(mature, 0)));
            } else if inputs.is_empty() {
                inputs.push(input(OutPoint::new(txs[i - 1].compute_txid(), 0)));
            }
            let n_out = OUTPUTS_PER_TX.min(outputs - i * OUTPUTS_PER_TX);
            txs.push(Transaction {
                version: Version::TWO,
                lock_time: LockTime::ZERO,
                input: inputs,
                output: vec![zero_op_true(); n_out],
            });
        }
        txs
    }

    /// Builds the next block and records its outputs as unspent.
    fn next_block(&mut self) -> Block {
        let height = self.parent.height + 1;
        let txs = self.transactions(height);
        let block = mining::build_block(&self.parent, u64::from(height), txs, Amount::ZERO, mining::op_true());
        self.coinbases.push(block.txdata[0].compute_txid());
        for (i, tx) in block.txdata.iter().enumerate().skip(1) {
            let txid = tx.compute_txid();
            let index = self.txids.len() as u32;
            self.txids.push(txid);
            let chained = block
                .txdata
                .get(i + 1)
                .is_some_and(|next| next.input.iter().any(|inp| inp.previous_output == OutPoint::new(txid, 0)));
            let first = u32::from(chained);
            self.pool.extend((first..tx.output.len() as u32).map(|vout| (index, vout)));
        }
        self.summary.blocks += 1;
        self.summary.transactions += block.txdata.len() as u64;
        self.summary.inputs += block.txdata.iter().skip(1).map(|t| t.input.len() as u64).sum::<u64>();
        self.summary.tip = block.block_hash().to_string();
        self.parent = Parent::from_block(&block, height, &self.times);
        self.times.push(block.header.time);
        if self.times.len() > 11 {
            self.times.remove(0);
        }
        block
    }
}

/// Writes the chain for `params` to `path` (blk framing, regtest magic), one block at a time.
pub fn generate(params: ScaleParams, path: &Path) -> std::io::Result<ScaleSummary> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let magic = Network::Regtest.magic().to_bytes();
    let mut b = Builder::new(params);
    let mut buf: Vec<u8> = Vec::new();
    while !b.done() {
        let block = b.next_block();
        buf.clear();
        block.consensus_encode(&mut buf)?;
        out.write_all(&magic)?;
        out.write_all(&(buf.len() as u32).to_le_bytes())?;
        out.write_all(&buf)?;
        b.summary.bytes += 8 + buf.len() as u64;
    }
    out.flush()?;
    out.get_ref().sync_all()?;
    // Coinbases of the last 100 blocks are unspent (one OP_TRUE output each).
    let unspent_coinbases = u64::from(b.summary.blocks.min(mining::COINBASE_MATURITY));
    b.summary.utxos = b.pool.len() as u64 + unspent_coinbases;
    Ok(b.summary)
}

/// The chain for `params` in `dir` (file named by [`ScaleParams::file_name`]), generated only if
/// no complete copy is there: a finished file has a `.summary` beside it, written last.
pub fn cached(params: ScaleParams, dir: &Path) -> std::io::Result<(PathBuf, ScaleSummary)> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(params.file_name());
    let summary_path = path.with_extension("summary");
    if let Ok(line) = std::fs::read_to_string(&summary_path) {
        if let Some(s) = ScaleSummary::from_line(line.trim()) {
            if std::fs::metadata(&path).map(|m| m.len()).ok() == Some(s.bytes) {
                return Ok((path, s));
            }
        }
    }
    let partial = path.with_extension("partial");
    let summary = generate(params, &partial)?;
    std::fs::rename(&partial, &path)?;
    std::fs::write(&summary_path, summary.to_line() + "\n")?;
    Ok((path, summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::consensus::Decodable;
    use std::collections::HashSet;

    fn small() -> ScaleParams {
        ScaleParams {
            target_coins: 2_000,
            spends_per_block: 150,
            outputs_per_block: 450,
            seed: 7,
        }
    }

    fn read_blocks(path: &Path) -> Vec<Block> {
        let bytes = std::fs::read(path).unwrap();
        let mut blocks = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            assert_eq!(bytes[at..at + 4], Network::Regtest.magic().to_bytes());
            let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
            blocks.push(Block::consensus_decode(&mut &bytes[at + 8..at + 8 + len]).unwrap());
            at += 8 + len;
        }
        blocks
    }

    /// Every input spends an output that exists and is unspent, older than its block unless it
    /// is the chained in-block spend; the final set has the size the summary says.
    #[test]
    fn spends_only_existing_older_outputs_and_reaches_the_target() {
        let dir = std::env::temp_dir().join(format!("blvm-scale-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.blk");
        let s = generate(small(), &path).unwrap();
        let blocks = read_blocks(&path);
        assert_eq!(blocks.len() as u32, s.blocks);
        let mut utxos: HashSet<OutPoint> = HashSet::new();
        let mut drawn = 0u64;
        for (h, block) in blocks.iter().enumerate() {
            assert!(block.check_merkle_root() && block.check_witness_commitment());
            let mut in_block: HashSet<OutPoint> = HashSet::new();
            for tx in block.txdata.iter().skip(1) {
                for i in &tx.input {
                    if utxos.remove(&i.previous_output) {
                        drawn += 1;
                    } else {
                        assert!(
                            in_block.remove(&i.previous_output),
                            "height {}: {} not unspent",
                            h + 1,
                            i.previous_output
                        );
                    }
                }
                let txid = tx.compute_txid();
                in_block.extend((0..tx.output.len() as u32).map(|v| OutPoint::new(txid, v)));
            }
            let cb = block.txdata[0].compute_txid();
            utxos.insert(OutPoint::new(cb, 0));
            utxos.extend(in_block);
        }
        assert!(drawn > 0);
        assert_eq!(utxos.len() as u64, s.utxos);
        assert!(s.utxos >= 2_000 && s.blocks > 101);
        assert_eq!(s.tip, blocks.last().unwrap().block_hash().to_string());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The same parameters give the same file; the cache returns it without regenerating.
    #[test]
    fn deterministic_and_cached() {
        let dir = std::env::temp_dir().join(format!("blvm-scale-cache-{}", std::process::id()));
        let (path, a) = cached(small(), &dir).unwrap();
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        let (_, b) = cached(small(), &dir).unwrap();
        assert_eq!(a, b);
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), before);
        let other = dir.join("b.blk");
        generate(small(), &other).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&other).unwrap());
        let seeded = dir.join("c.blk");
        let c = generate(ScaleParams { seed: 8, ..small() }, &seeded).unwrap();
        assert_ne!(c.tip, a.tip);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

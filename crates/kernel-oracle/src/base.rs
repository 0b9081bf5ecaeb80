//! The base chain both engines are driven along: Core's 301-block regtest chain from
//! `../shared/chains/regtest-core-300.hex`, followed by a deterministic extension whose coinbases
//! and outputs are anyone-can-spend (so mutations can build valid spends of mature and immature
//! coinbases, relative time locks, exact sigop and weight boundaries) and facts derived by
//! replaying it in memory (which coin each input spent, where every output was created and spent).

use crate::mining::{self, Parent};
use bitcoin::consensus::deserialize;
use bitcoin::hex::FromHex;
use bitcoin::script::Builder;
use bitcoin::{Amount, Block, OutPoint, ScriptBuf, Transaction, TxOut, Txid};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Blocks added on top of Core's chain: enough for coinbases of the extension to mature.
pub const EXTENSION_BLOCKS: u32 = 110;

/// Outputs created by the first extension block for sigop-boundary mutations: each script is
/// `OP_0 OP_IF <n sigop opcodes> OP_ENDIF OP_1`, which succeeds while counting all its sigops.
#[derive(Debug, Clone)]
pub struct SigopCoins {
    /// Two P2SH outputs whose redeem script holds 500 `OP_CHECKMULTISIG` (cost 40,000 each).
    pub p2sh_40000: [(OutPoint, TxOut, ScriptBuf); 2],
    /// A P2WSH output whose witness script holds one `OP_CHECKSIG` (cost 1).
    pub p2wsh_1: (OutPoint, TxOut, ScriptBuf),
    /// Height at which they were created.
    pub height: u32,
}

/// Outputs `P2WSH(OP_DROP OP_1)`: spendable with one witness item of any size up to 520 bytes,
/// used to tune a block's weight to the exact weight unit.
#[derive(Debug, Clone)]
pub struct PadCoin {
    /// The output.
    pub outpoint: OutPoint,
    /// Its value and script.
    pub out: TxOut,
}

/// A coin as the chain saw it when it was created.
#[derive(Debug, Clone)]
pub struct CoinInfo {
    /// The output.
    pub out: TxOut,
    /// Height of the block that created it.
    pub height: u32,
    /// Created by a coinbase.
    pub coinbase: bool,
}

/// The chain plus everything derived from replaying it.
pub struct BaseChain {
    /// Blocks by height, genesis first (Core's 0..=300, then the extension).
    pub blocks: Vec<Block>,
    /// Height of the last block made by Core.
    pub core_tip: u32,
    /// `spent[h][t]`: the coins spent by transaction `t` of block `h`, in input order.
    pub spent: Vec<Vec<Vec<CoinInfo>>>,
    /// Every output ever created (spent or not, OP_RETURN included).
    pub created: HashMap<OutPoint, CoinInfo>,
    /// Height of the block that spent each spent output.
    pub spent_at: HashMap<OutPoint, u32>,
    /// Sigop-boundary coins (created by the first extension block).
    pub sigop_coins: SigopCoins,
    /// Weight-padding coins (created by the first extension block).
    pub pad_coins: Vec<PadCoin>,
}

/// Errors loading the base chain.
#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    /// The shared data directory or chain file is missing or unreadable.
    #[error("shared test data not readable at {path}: {source} (set BLVM_SHARED_DIR)")]
    Io {
        /// The path tried.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line of the hex file does not decode to a block.
    #[error("line {line} of {path} is not a hex-encoded block")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// The chain does not replay (a spend of an unknown coin).
    #[error("the base chain does not replay: {0}")]
    Replay(String),
}

/// Where the shared data and Core's chain are (one definition, in the test kit).
pub use blvm_testkit::shared::{chain_hex_path, shared_dir};

/// Reads Core's chain (genesis first).
pub fn read_core_chain(path: &Path) -> Result<Vec<Block>, BaseError> {
    let text = std::fs::read_to_string(path).map_err(|source| BaseError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            Vec::<u8>::from_hex(l.trim())
                .ok()
                .and_then(|bytes| deserialize::<Block>(&bytes).ok())
                .ok_or_else(|| BaseError::BadLine {
                    path: path.to_path_buf(),
                    line: i + 1,
                })
        })
        .collect()
}

/// `OP_0 OP_IF <opcode x n> OP_ENDIF OP_1`: always succeeds, counts `n` sigop opcodes.
pub fn dead_branch_sigops(opcode: u8, n: usize) -> ScriptBuf {
    let mut bytes = vec![0x00, 0x63];
    bytes.resize(2 + n, opcode);
    bytes.extend_from_slice(&[0x68, 0x51]);
    ScriptBuf::from_bytes(bytes)
}

/// `OP_DROP OP_1`: the weight-padding witness script.
pub fn drop_true() -> ScriptBuf {
    ScriptBuf::from_bytes(vec![0x75, 0x51])
}

impl BaseChain {
    /// Loads Core's chain from the shared directory and builds the extension.
    pub fn load() -> Result<BaseChain, BaseError> {
        let blocks = read_core_chain(&chain_hex_path())?;
        Self::from_core_blocks(blocks)
    }

    /// Builds the extension on `core_blocks` and replays everything.
    pub fn from_core_blocks(core_blocks: Vec<Block>) -> Result<BaseChain, BaseError> {
        let core_tip = (core_blocks.len() as u32).saturating_sub(1);
        let mut base = BaseChain {
            blocks: Vec::new(),
            core_tip,
            spent: Vec::new(),
            created: HashMap::new(),
            spent_at: HashMap::new(),
            sigop_coins: SigopCoins {
                p2sh_40000: [placeholder(), placeholder()],
                p2wsh_1: placeholder(),
                height: 0,
            },
            pad_coins: Vec::new(),
        };
        let mut utxo: HashMap<OutPoint, CoinInfo> = HashMap::new();
        for b in core_blocks {
            base.push(b, &mut utxo)?;
        }
        base.extend(&mut utxo)?;
        Ok(base)
    }

    fn push(&mut self, b: Block, utxo: &mut HashMap<OutPoint, CoinInfo>) -> Result<(), BaseError> {
        let h = self.blocks.len() as u32;
        let mut per_tx = Vec::new();
        for tx in &b.txdata {
            let mut coins = Vec::new();
            if !tx.is_coinbase() {
                for input in &tx.input {
                    let p = utxo
                        .remove(&input.previous_output)
                        .ok_or_else(|| BaseError::Replay(format!("block {h} spends unknown {}", input.previous_output)))?;
                    self.spent_at.insert(input.previous_output, h);
                    coins.push(p);
                }
            }
            per_tx.push(coins);
            let txid = tx.compute_txid();
            for (vout, out) in tx.output.iter().enumerate() {
                let op = OutPoint { txid, vout: vout as u32 };
                let p = CoinInfo {
                    out: out.clone(),
                    height: h,
                    coinbase: tx.is_coinbase(),
                };
                self.created.insert(op, p.clone());
                if !out.script_pubkey.is_op_return() {
                    utxo.insert(op, p);
                }
            }
        }
        self.spent.push(per_tx);
        self.blocks.push(b);
        Ok(())
    }

    /// Height of the last block (Core's plus the extension).
    pub fn tip_height(&self) -> u32 {
        (self.blocks.len() as u32).saturating_sub(1)
    }

    /// The block at `h`.
    pub fn block(&self, h: u32) -> &Block {
        &self.blocks[h as usize]
    }

    /// Median time past of the block at `h` (its own and up to 10 ancestors' timestamps).
    pub fn mtp(&self, h: u32) -> i64 {
        let lo = h.saturating_sub(10) as usize;
        let mut times: Vec<u32> = self.blocks[lo..=h as usize].iter().map(|b| b.header.time).collect();
        times.sort_unstable();
        i64::from(times[times.len() / 2])
    }

    /// The parent description for a block built at height `h` (on the base block `h - 1`).
    pub fn parent_of(&self, h: u32) -> Parent {
        let p = h - 1;
        Parent {
            hash: self.blocks[p as usize].block_hash(),
            height: p,
            time: self.blocks[p as usize].header.time,
            mtp: self.mtp(p),
        }
    }

    /// Whether `op` exists and is unspent in the UTXO set whose tip is `h`.
    pub fn unspent_at(&self, op: &OutPoint, h: u32) -> bool {
        match self.created.get(op) {
            Some(p) if p.height <= h && !p.out.script_pubkey.is_op_return() => self.spent_at.get(op).map(|s| *s > h).unwrap_or(true),
            _ => false,
        }
    }

    /// Coins a transaction added to block `h` can spend without a key ([`mining::unlock`]):
    /// created below `h`, spent neither before nor by block `h` itself, mature if a coinbase,
    /// worth at least `min_sat`; in a stable order.
    pub fn anyone_can_spend(&self, h: u32, min_sat: u64, allow_coinbase: bool) -> Vec<(OutPoint, CoinInfo)> {
        let mut found: Vec<(OutPoint, CoinInfo)> = self
            .created
            .iter()
            .filter(|(op, p)| {
                p.height < h
                    && (allow_coinbase || !p.coinbase)
                    && mining::is_anyone_can_spend(&p.out.script_pubkey)
                    && p.out.value.to_sat() >= min_sat
                    && self.unspent_at(op, h)
                    && (!p.coinbase || h - p.height >= blvm_node::chain::manager::COINBASE_MATURITY)
            })
            .map(|(op, p)| (*op, p.clone()))
            .collect();
        found.sort_by_key(|(op, p)| (p.height, op.txid, op.vout));
        found
    }

    /// Fees paid by the non-coinbase transactions of `block` (every input spends a known coin).
    pub fn fees_of(&self, block: &Block) -> Option<u64> {
        let mut total = 0u64;
        for tx in block.txdata.iter().skip(1) {
            let mut ins = 0u64;
            for i in &tx.input {
                ins = ins.checked_add(self.created.get(&i.previous_output)?.out.value.to_sat())?;
            }
            let outs: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
            total = total.checked_add(ins.checked_sub(outs)?)?;
        }
        Some(total)
    }

    /// The coins spent by `tx` (all known), or None.
    pub fn prevouts(&self, tx: &Transaction) -> Option<Vec<TxOut>> {
        tx.input
            .iter()
            .map(|i| self.created.get(&i.previous_output).map(|c| c.out.clone()))
            .collect()
    }

    fn extend(&mut self, utxo: &mut HashMap<OutPoint, CoinInfo>) -> Result<(), BaseError> {
        let start = self.core_tip + 1;
        // The fan-out chain: each extension block spends the previous fan-out's change output.
        let mut change: Option<(OutPoint, TxOut)> = None;
        for h in start..start + EXTENSION_BLOCKS {
            let parent = self.parent_of(h);
            let mut txs: Vec<Transaction> = Vec::new();
            let mut fees = 0u64;
            if h == start {
                // Fund from the largest real anyone-can-spend coin (an unknown witness program).
                let mut coins = self.anyone_can_spend(h, 1, false);
                coins.sort_by_key(|(_, c)| std::cmp::Reverse(c.out.value));
                let (op, coin) = coins
                    .into_iter()
                    .next()
                    .ok_or_else(|| BaseError::Replay("no anyone-can-spend coin to fund the extension".into()))?;
                let sig40k = dead_branch_sigops(0xae, 500);
                let sig1 = dead_branch_sigops(0xac, 1);
                let mut outputs = vec![
                    TxOut {
                        value: Amount::from_sat(1),
                        script_pubkey: ScriptBuf::new_p2sh(&sig40k.script_hash()),
                    },
                    TxOut {
                        value: Amount::from_sat(1),
                        script_pubkey: ScriptBuf::new_p2sh(&sig40k.script_hash()),
                    },
                    TxOut {
                        value: Amount::from_sat(1),
                        script_pubkey: ScriptBuf::new_p2wsh(&sig1.wscript_hash()),
                    },
                ];
                for _ in 0..8 {
                    outputs.push(TxOut {
                        value: Amount::from_sat(1),
                        script_pubkey: ScriptBuf::new_p2wsh(&drop_true().wscript_hash()),
                    });
                }
                let used: u64 = outputs.iter().map(|o| o.value.to_sat()).sum();
                let value = coin.out.value.to_sat();
                if value <= used + 100 {
                    return Err(BaseError::Replay(format!("funding coin {op} too small ({value} sat)")));
                }
                fees += 100;
                outputs.push(TxOut {
                    value: Amount::from_sat(value - used - 100),
                    script_pubkey: mining::p2wsh_op_true(),
                });
                let tx = mining::spend(&[(op, coin.out.script_pubkey.clone())], outputs);
                let txid = tx.compute_txid();
                let change_vout = tx.output.len() as u32 - 1;
                change = Some((OutPoint { txid, vout: change_vout }, tx.output[change_vout as usize].clone()));
                self.sigop_coins = SigopCoins {
                    p2sh_40000: [
                        (OutPoint { txid, vout: 0 }, tx.output[0].clone(), sig40k.clone()),
                        (OutPoint { txid, vout: 1 }, tx.output[1].clone(), sig40k),
                    ],
                    p2wsh_1: (OutPoint { txid, vout: 2 }, tx.output[2].clone(), sig1),
                    height: h,
                };
                self.pad_coins = (3..11)
                    .map(|v| PadCoin {
                        outpoint: OutPoint { txid, vout: v },
                        out: tx.output[v as usize].clone(),
                    })
                    .collect();
                txs.push(tx);
            } else if let Some((op, out)) = change.take() {
                // Fan out into small anyone-can-spend coins of every kind, keep the change.
                let kinds = [mining::op_true(), mining::p2wsh_op_true(), mining::p2sh_op_true()];
                let mut outputs: Vec<TxOut> = (0..6)
                    .map(|i| TxOut {
                        value: Amount::from_sat(1000),
                        script_pubkey: kinds[i % 3].clone(),
                    })
                    .collect();
                let used: u64 = outputs.iter().map(|o| o.value.to_sat()).sum::<u64>() + 200;
                let value = out.value.to_sat();
                if value > used + 1000 {
                    fees += 200;
                    outputs.push(TxOut {
                        value: Amount::from_sat(value - used),
                        script_pubkey: mining::p2wsh_op_true(),
                    });
                    let tx = mining::spend(&[(op, out.script_pubkey.clone())], outputs);
                    let txid = tx.compute_txid();
                    let last = tx.output.len() as u32 - 1;
                    change = Some((OutPoint { txid, vout: last }, tx.output[last as usize].clone()));
                    txs.push(tx);
                }
            }
            let mut block = mining::build_block(&parent, u64::from(h), txs, Amount::from_sat(fees), mining::op_true());
            // Half of the reward to P2WSH(OP_TRUE): both kinds of coinbase coin to mature.
            let total = block.txdata[0].output[0].value.to_sat();
            block.txdata[0].output[0].value = Amount::from_sat(total / 2);
            block.txdata[0].output.insert(
                1,
                TxOut {
                    value: Amount::from_sat(total - total / 2),
                    script_pubkey: mining::p2wsh_op_true(),
                },
            );
            mining::finish(&mut block);
            self.push(block, utxo)?;
        }
        Ok(())
    }

    /// The first output of the coinbase at `h` that is not an OP_RETURN.
    pub fn coinbase_payout(&self, h: u32) -> (OutPoint, TxOut) {
        let cb = &self.blocks[h as usize].txdata[0];
        let vout = cb.output.iter().position(|o| !o.script_pubkey.is_op_return()).unwrap_or(0);
        (
            OutPoint {
                txid: cb.compute_txid(),
                vout: vout as u32,
            },
            cb.output[vout].clone(),
        )
    }

    /// Where `txid` was confirmed in the base chain: (height, index in block).
    pub fn find_tx(&self, txid: &Txid) -> Option<(u32, usize)> {
        self.created.iter().find(|(op, _)| op.txid == *txid).and_then(|(_, c)| {
            let h = c.height;
            self.blocks[h as usize]
                .txdata
                .iter()
                .position(|t| t.compute_txid() == *txid)
                .map(|i| (h, i))
        })
    }
}

fn placeholder() -> (OutPoint, TxOut, ScriptBuf) {
    (
        OutPoint::null(),
        TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::new(),
        },
        Builder::new().into_script(),
    )
}

//! `getblockstats`: per-block statistics computed as Bitcoin Core does (fees from the block's
//! undo data, integer satoshi arithmetic, vsize-weighted feerate percentiles, Core's per-output
//! UTXO size estimate).

use super::super::error::{code, RpcError};
use super::super::params::Params;
use crate::chain::index::{status, BlockIndexEntry};
use crate::chain::ChainManager;
use crate::chainstate::coin::Coin;
use crate::rpc::context::RpcContext;
use crate::rpc::script_asm::MAX_SCRIPT_SIZE;
use bitcoin::consensus::encode::VarInt;
use bitcoin::{Block, BlockHash, SignedAmount, TxOut};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Statistics that need the spent coins (the block's undo data).
const NEED_UNDO: &[&str] = &[
    "avgfee",
    "avgfeerate",
    "feerate_percentiles",
    "maxfee",
    "maxfeerate",
    "medianfee",
    "minfee",
    "minfeerate",
    "totalfee",
    "utxo_size_inc",
    "utxo_size_inc_actual",
];

/// Core's estimate of a UTXO's overhead beyond its serialized output: the outpoint and the
/// height/coinbase word (36 + 4 bytes; Core dropped the flag byte it once counted).
const PER_UTXO_OVERHEAD: i64 = 40;
/// Core's MAX_BLOCK_SERIALIZED_SIZE (bytes; rust-bitcoin has only the weight limit).
const MAX_BLOCK_SERIALIZED_SIZE: u64 = 4_000_000;

fn utxo_size(out: &TxOut) -> i64 {
    let len = out.script_pubkey.len();
    (8 + VarInt(len as u64).size() + len) as i64 + PER_UTXO_OVERHEAD
}

fn unspendable(out: &TxOut) -> bool {
    out.script_pubkey.is_op_return() || out.script_pubkey.len() > MAX_SCRIPT_SIZE
}

/// Core's truncated median: the middle element, or the integer mean of the two middle ones.
fn truncated_median(mut v: Vec<i64>) -> i64 {
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => 0,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

/// The 10th, 25th, 50th, 75th and 90th feerate percentiles, each transaction weighted by its
/// weight (so by vsize); `scores` holds (feerate, weight).
fn percentiles_by_weight(mut scores: Vec<(i64, i64)>, total_weight: i64) -> [i64; 5] {
    let mut out = [0i64; 5];
    if scores.is_empty() {
        return out;
    }
    scores.sort_unstable();
    let marks: Vec<f64> = [10.0, 25.0, 50.0, 75.0, 90.0]
        .iter()
        .map(|p| total_weight as f64 / 100.0 * p)
        .collect();
    let mut next = 0;
    let mut cumulative = 0i64;
    for (rate, weight) in &scores {
        cumulative += weight;
        while next < out.len() && cumulative as f64 >= marks[next] {
            out[next] = *rate;
            next += 1;
        }
    }
    let last = scores.last().map(|s| s.0).unwrap_or(0);
    for slot in out.iter_mut().skip(next) {
        *slot = last;
    }
    out
}

/// Resolves `hash_or_height` to a block-index entry (a height: on the active chain), with Core's
/// errors (Core's ParseHashOrHeight; also `dumptxoutset`'s rollback target).
pub(super) fn target(c: &ChainManager, v: &Value) -> Result<BlockIndexEntry, RpcError> {
    if let Some(n) = v.as_i64() {
        let tip = i64::from(c.height());
        if n < 0 {
            return Err(RpcError::param(format!("Target block height {n} is negative")));
        }
        if n > tip {
            return Err(RpcError::param(format!("Target block height {n} after current tip {tip}")));
        }
        let hash = c
            .hash_at(n as u32)
            .ok_or_else(|| RpcError::new(code::INTERNAL_ERROR, "active chain gap"))?;
        return c
            .entry(&hash)
            .cloned()
            .ok_or_else(|| RpcError::new(code::INTERNAL_ERROR, "active chain gap"));
    }
    if v.is_number() {
        return Err(RpcError::param("Target block height is not an integer"));
    }
    let Some(s) = v.as_str() else {
        let kind = match v {
            Value::Bool(_) => "bool",
            Value::Array(_) => "array",
            _ => "object",
        };
        return Err(RpcError::new(
            code::TYPE_ERROR,
            format!("JSON value of type {kind} is not of expected type string"),
        ));
    };
    let hash: BlockHash = super::super::params::parse_hash(s, "hash_or_height")?;
    let e = c
        .entry(&hash)
        .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found"))?;
    // As Core's ParseHashOrHeight: a known block off the active chain is answered too.
    Ok(e.clone())
}

fn read_block(c: &ChainManager, e: &BlockIndexEntry) -> Result<Block, RpcError> {
    if !e.have_data() {
        let msg = if e.status & status::PRUNED != 0 {
            "Block not available (pruned data)"
        } else {
            "Block not available (not fully downloaded)"
        };
        return Err(RpcError::new(code::MISC_ERROR, msg));
    }
    c.read_block(&e.hash)
        .map_err(|err| RpcError::new(code::MISC_ERROR, format!("Block not found on disk ({err})")))?
        .ok_or_else(|| RpcError::new(code::MISC_ERROR, "Block not found on disk"))
}

fn read_spent(c: &ChainManager, e: &BlockIndexEntry, block: &Block) -> Result<Vec<Vec<Coin>>, RpcError> {
    if e.height == 0 {
        return Ok(Vec::new());
    }
    let undo = c
        .read_undo(&e.hash)
        .map_err(|_| RpcError::new(code::MISC_ERROR, "Can't read undo data from disk"))?;
    let Some(undo) = undo else {
        let msg = if e.status & status::PRUNED != 0 {
            "Undo data not available (pruned data)"
        } else {
            "Can't read undo data from disk"
        };
        return Err(RpcError::new(code::MISC_ERROR, msg));
    };
    let consistent = undo.txs.len() + 1 == block.txdata.len()
        && undo
            .txs
            .iter()
            .zip(block.txdata.iter().skip(1))
            .all(|(u, t)| u.len() == t.input.len());
    if !consistent {
        return Err(RpcError::new(code::MISC_ERROR, "Can't read undo data from disk"));
    }
    Ok(undo.txs)
}

/// Computes every statistic of `block` (`spent`: coins spent per non-coinbase transaction, or
/// None when the fee statistics were not asked for).
fn compute(c: &ChainManager, e: &BlockIndexEntry, block: &Block, spent: Option<&[Vec<Coin>]>) -> Map<String, Value> {
    let (mut inputs, mut outputs, mut utxos) = (0i64, 0i64, 0i64);
    let (mut total_out, mut total_size, mut total_weight, mut totalfee) = (0i64, 0u64, 0i64, 0i64);
    let (mut utxo_size_inc, mut utxo_size_inc_actual) = (0i64, 0i64);
    let (mut swtxs, mut swtotal_size, mut swtotal_weight) = (0u64, 0u64, 0i64);
    let (mut minfee, mut maxfee, mut minfeerate, mut maxfeerate) =
        (SignedAmount::MAX_MONEY.to_sat(), 0i64, SignedAmount::MAX_MONEY.to_sat(), 0i64);
    let (mut mintxsize, mut maxtxsize) = (MAX_BLOCK_SERIALIZED_SIZE, 0u64);
    let (mut fees, mut sizes, mut rates) = (Vec::new(), Vec::new(), Vec::new());

    // As Core: the genesis block's outputs and the coinbases of the two blocks that repeat an
    // earlier coinbase (the BIP30 exceptions) never enter the UTXO set.
    let bip30_repeat = c
        .params()
        .bip30_exception_heights
        .iter()
        .any(|(h, bh)| *h == e.height && *bh == e.hash);
    for (i, tx) in block.txdata.iter().enumerate() {
        outputs += tx.output.len() as i64;
        let mut tx_out = 0i64;
        let enters_utxo_set = e.height != 0 && !(i == 0 && bip30_repeat);
        for out in &tx.output {
            tx_out += out.value.to_sat() as i64;
            let size = utxo_size(out);
            utxo_size_inc += size;
            if enters_utxo_set && !unspendable(out) {
                utxos += 1;
                utxo_size_inc_actual += size;
            }
        }
        if i == 0 {
            continue;
        }
        inputs += tx.input.len() as i64;
        total_out += tx_out;
        let size = tx.total_size() as u64;
        sizes.push(size as i64);
        maxtxsize = maxtxsize.max(size);
        mintxsize = mintxsize.min(size);
        total_size += size;
        let weight = tx.weight().to_wu() as i64;
        total_weight += weight;
        if tx.input.iter().any(|x| !x.witness.is_empty()) {
            swtxs += 1;
            swtotal_size += size;
            swtotal_weight += weight;
        }
        if let Some(coins) = spent.and_then(|s| s.get(i - 1)) {
            let mut tx_in = 0i64;
            for coin in coins {
                tx_in += coin.output.value.to_sat() as i64;
                let size = utxo_size(&coin.output);
                utxo_size_inc -= size;
                utxo_size_inc_actual -= size;
            }
            let fee = tx_in - tx_out;
            fees.push(fee);
            maxfee = maxfee.max(fee);
            minfee = minfee.min(fee);
            totalfee += fee;
            // Satoshis per virtual byte, as an integer (fee * 4 / weight).
            let rate = if weight > 0 { fee * 4 / weight } else { 0 };
            rates.push((rate, weight));
            maxfeerate = maxfeerate.max(rate);
            minfeerate = minfeerate.min(rate);
        }
    }

    let ntx = block.txdata.len() as i64;
    let subsidy = c.params().subsidy(e.height);
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("avgfee", json!(if ntx > 1 { totalfee / (ntx - 1) } else { 0 }));
    put("avgfeerate", json!(if total_weight > 0 { totalfee * 4 / total_weight } else { 0 }));
    put("avgtxsize", json!(if ntx > 1 { total_size as i64 / (ntx - 1) } else { 0 }));
    put("blockhash", json!(e.hash.to_string()));
    put("feerate_percentiles", json!(percentiles_by_weight(rates, total_weight)));
    put("height", json!(e.height));
    put("ins", json!(inputs));
    put("maxfee", json!(maxfee));
    put("maxfeerate", json!(maxfeerate));
    put("maxtxsize", json!(maxtxsize));
    put("medianfee", json!(truncated_median(fees)));
    put("mediantime", json!(c.median_time_past(&e.hash)));
    put("mediantxsize", json!(truncated_median(sizes)));
    put("minfee", json!(if minfee == SignedAmount::MAX_MONEY.to_sat() { 0 } else { minfee }));
    put(
        "minfeerate",
        json!(if minfeerate == SignedAmount::MAX_MONEY.to_sat() {
            0
        } else {
            minfeerate
        }),
    );
    put(
        "mintxsize",
        json!(if mintxsize == MAX_BLOCK_SERIALIZED_SIZE { 0 } else { mintxsize }),
    );
    put("outs", json!(outputs));
    put("subsidy", json!(subsidy));
    put("swtotal_size", json!(swtotal_size));
    put("swtotal_weight", json!(swtotal_weight));
    put("swtxs", json!(swtxs));
    put("time", json!(e.header.time));
    put("total_out", json!(total_out));
    put("total_size", json!(total_size));
    put("total_weight", json!(total_weight));
    put("totalfee", json!(totalfee));
    put("txs", json!(ntx));
    put("utxo_increase", json!(outputs - inputs));
    put("utxo_size_inc", json!(utxo_size_inc));
    put("utxo_increase_actual", json!(utxos - inputs));
    put("utxo_size_inc_actual", json!(utxo_size_inc_actual));
    m
}

/// `getblockstats hash_or_height ( stats )`.
pub fn getblockstats(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let which = p.value(0)?;
    let selected: BTreeSet<String> = p.opt_str_array(1)?.unwrap_or_default().into_iter().collect();
    let c = node.lock_chain();
    let e = target(&c, which)?;
    let block = read_block(&c, &e)?;
    let need_undo = selected.is_empty() || selected.iter().any(|s| NEED_UNDO.contains(&s.as_str()));
    let spent = if need_undo { Some(read_spent(&c, &e, &block)?) } else { None };
    let all = compute(&c, &e, &block, spent.as_deref());
    drop(c);
    if selected.is_empty() {
        return Ok(Value::Object(all));
    }
    let mut out = Map::new();
    for s in &selected {
        let v = all
            .get(s)
            .ok_or_else(|| RpcError::param(format!("Invalid selected statistic '{s}'")))?;
        out.insert(s.clone(), v.clone());
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_truncates_like_integer_division() {
        assert_eq!(truncated_median(vec![]), 0);
        assert_eq!(truncated_median(vec![5, 1, 3]), 3);
        assert_eq!(truncated_median(vec![4, 1, 2, 7]), 3);
    }

    #[test]
    fn percentiles_weight_each_rate_by_weight() {
        assert_eq!(percentiles_by_weight(vec![], 0), [0; 5]);
        // A heavy low-rate tx dominates the lower percentiles.
        let p = percentiles_by_weight(vec![(10, 1000), (1, 3000)], 4000);
        assert_eq!(p, [1, 1, 1, 1, 10]);
        assert_eq!(percentiles_by_weight(vec![(7, 100)], 100), [7; 5]);
    }
}

//! Blockchain methods with Core's result shapes.

use super::super::error::{code, RpcError};
use super::super::params::Params;
use crate::chain::index::BlockIndexEntry;
use crate::chain::{BlockOutcome, ChainManager};
use crate::rpc::context::RpcContext;
use crate::rpc::script_asm::hex;
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hex::FromHex;
use bitcoin::{Block, BlockHash, OutPoint, Txid};
use serde_json::{json, Value};
use std::sync::Arc;

/// Core's GetDifficulty: the target of difficulty 1 over the block's target, as a double.
pub fn difficulty(bits: u32) -> f64 {
    let mut shift = (bits >> 24) & 0xff;
    let mut diff = f64::from(0x0000_ffffu32) / f64::from((bits & 0x00ff_ffff).max(1));
    while shift < 29 {
        diff *= 256.0;
        shift += 1;
    }
    while shift > 29 {
        diff /= 256.0;
        shift -= 1;
    }
    diff
}

/// Satoshis as Core's BTC amount (a JSON number).
pub fn amount(sat: u64) -> Value {
    json!(bitcoin::Amount::from_sat(sat).to_btc())
}

fn target_hex(e: &BlockIndexEntry) -> String {
    hex(&e.header.target().to_be_bytes())
}

/// A block hash argument at position `i`, with Core's errors for a bad length or bad hex.
pub(super) fn chain_hash(p: &Params, i: usize) -> Result<BlockHash, RpcError> {
    parse_block_hash(p.str(i)?)
}

/// A block hash given as a string, with Core's errors (`ParseHashV(.., "blockhash")`).
pub(super) fn parse_block_hash(s: &str) -> Result<BlockHash, RpcError> {
    super::super::params::parse_hash(s, "blockhash")
}

/// The header fields shared by getblockheader and getblock.
pub fn header_json(c: &ChainManager, e: &BlockIndexEntry) -> Value {
    let active = c.is_active(&e.hash);
    let confirmations: i64 = if active {
        i64::from(c.height()) - i64::from(e.height) + 1
    } else {
        -1
    };
    let mut v = json!({
        "hash": e.hash.to_string(),
        "confirmations": confirmations,
        "height": e.height,
        "version": e.header.version.to_consensus(),
        "versionHex": format!("{:08x}", e.header.version.to_consensus() as u32),
        "merkleroot": e.header.merkle_root.to_string(),
        "time": e.header.time,
        "mediantime": c.median_time_past(&e.hash),
        "nonce": e.header.nonce,
        "bits": format!("{:08x}", e.header.bits.to_consensus()),
        "target": target_hex(e),
        "difficulty": difficulty(e.header.bits.to_consensus()),
        "chainwork": hex(&e.chainwork.to_be_bytes()),
        "nTx": e.n_tx,
    });
    if e.height > 0 {
        v["previousblockhash"] = json!(e.header.prev_blockhash.to_string());
    }
    if active {
        if let Some(next) = c.hash_at(e.height + 1) {
            v["nextblockhash"] = json!(next.to_string());
        }
    }
    v
}

fn entry<'a>(c: &'a ChainManager, h: &BlockHash) -> Result<&'a BlockIndexEntry, RpcError> {
    c.entry(h)
        .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found"))
}

fn read_block(c: &ChainManager, h: &BlockHash) -> Result<Block, RpcError> {
    let e = entry(c, h)?;
    if !e.have_data() {
        let msg = if e.status & crate::chain::index::status::PRUNED != 0 {
            "Block not available (pruned data)"
        } else {
            // Core's text for a header whose block was never stored.
            "Block not available (not fully downloaded)"
        };
        return Err(RpcError::new(code::MISC_ERROR, msg));
    }
    c.read_block(h)
        .map_err(|e| RpcError::new(code::DATABASE_ERROR, e.to_string()))?
        .ok_or_else(|| RpcError::new(code::MISC_ERROR, "Block not found on disk"))
}

/// `getblockcount`.
pub(super) fn getblockcount(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    Ok(json!(node.lock_chain().height()))
}

/// `getbestblockhash`.
pub(super) fn getbestblockhash(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    Ok(json!(node.lock_chain().tip().hash.to_string()))
}

/// `getblockhash`.
pub(super) fn getblockhash(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let h = p.i64(0)?;
    let c = node.lock_chain();
    u32::try_from(h)
        .ok()
        .and_then(|h| c.hash_at(h))
        .map(|x| json!(x.to_string()))
        .ok_or_else(|| RpcError::param("Block height out of range"))
}

/// `getblockheader`.
pub(super) fn getblockheader(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let h = chain_hash(p, 0)?;
    let verbose = p.opt_bool(1)?.unwrap_or(true);
    let c = node.lock_chain();
    let e = entry(&c, &h)?;
    if verbose {
        Ok(header_json(&c, e))
    } else {
        Ok(json!(hex(&serialize(&e.header))))
    }
}

/// `getblock`.
pub(super) fn getblock(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let h = chain_hash(p, 0)?;
    let verbosity = p.verbosity(1, 1)?;
    let c = node.lock_chain();
    let block = read_block(&c, &h)?;
    if verbosity == 0 {
        return Ok(json!(hex(&serialize(&block))));
    }
    let e = entry(&c, &h)?;
    let mut v = header_json(&c, e);
    v["strippedsize"] = json!(crate::validation::block_check::stripped_size(&block));
    v["size"] = json!(block.total_size());
    v["weight"] = json!(block.weight().to_wu());
    if let Some(cb) = block.txdata.first() {
        v["coinbase_tx"] = crate::rpc::txjson::coinbase_tx_json(cb);
    }
    if verbosity == 1 {
        v["tx"] = Value::Array(block.txdata.iter().map(|t| json!(t.compute_txid().to_string())).collect());
        return Ok(v);
    }
    // Verbosity 2 and 3: decoded transactions; fees (and prevouts at 3) need undo data,
    // which exists only for blocks that were connected and not pruned.
    let undo = c.read_undo(&h).map_err(|e| {
        RpcError::new(
            code::INTERNAL_ERROR,
            format!("Undo data expected but can't be read. This could be due to disk corruption or a conflict with a pruning event. ({e})"),
        )
    })?;
    let undo = undo.filter(|u| u.txs.len() + 1 == block.txdata.len());
    let tx_verbosity = if verbosity == 2 {
        crate::rpc::txjson::TxVerbosity::Details
    } else {
        crate::rpc::txjson::TxVerbosity::DetailsAndPrevout
    };
    let network = c.params().network;
    v["tx"] = Value::Array(
        block
            .txdata
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let spent = if i > 0 {
                    undo.as_ref().map(|u| u.txs[i - 1].as_slice())
                } else {
                    None
                };
                crate::rpc::txjson::tx_to_json(t, spent, tx_verbosity, true, network)
            })
            .collect(),
    );
    Ok(v)
}

/// `getblockchaininfo`.
pub(super) fn getblockchaininfo(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    let c = node.lock_chain();
    let tip = c.tip();
    let headers = c.best_header().height;
    let size_on_disk = node.dir_size(&c.blocks_dir());
    let pruned = c.prune_height();
    let mut v = json!({
        "chain": c.params().chain_name,
        "blocks": tip.height,
        "headers": headers,
        "bestblockhash": tip.hash.to_string(),
        "bits": format!("{:08x}", tip.header.bits.to_consensus()),
        "target": target_hex(tip),
        "difficulty": difficulty(tip.header.bits.to_consensus()),
        "time": tip.header.time,
        "mediantime": c.median_time_past(&tip.hash),
        "verificationprogress": c.verification_progress(tip.height, crate::clock::unix_now()),
        "initialblockdownload": node.is_initial_block_download(&c),
        "chainwork": hex(&tip.chainwork.to_be_bytes()),
        "size_on_disk": size_on_disk,
        "pruned": c.prune_mode().is_prune_mode(),
        "warnings": node.warnings(),
    });
    // While a snapshot chainstate is validated in the background, Core's report of it.
    if let (Some(h), Some((snapshot_height, progress))) = (c.historical_tip(), c.background_validation()) {
        v["backgroundvalidation"] = json!({
            "snapshotheight": snapshot_height,
            "blocks": h.height,
            "bestblockhash": h.hash.to_string(),
            "mediantime": c.median_time_past(&h.hash),
            "chainwork": hex(&h.chainwork.to_be_bytes()),
            "verificationprogress": progress,
        });
    }
    // Core's shape: pruneheight (first block with data) and automatic_pruning in prune
    // mode, prune_target_size with automatic pruning.
    if c.prune_mode().is_prune_mode() {
        v["pruneheight"] = json!(pruned.map(|h| h + 1).unwrap_or(0));
        v["automatic_pruning"] = json!(c.prune_mode().target_bytes().is_some());
        if let Some(t) = c.prune_mode().target_bytes() {
            v["prune_target_size"] = json!(t);
        }
    }
    Ok(v)
}

/// `getdifficulty`.
pub(super) fn getdifficulty(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    Ok(json!(difficulty(node.lock_chain().tip().header.bits.to_consensus())))
}

/// `getindexinfo`.
pub(super) fn getindexinfo(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    // The optional indexes catch up before the node starts and then move with the tip, so
    // they are always synced once the RPC server answers.
    let name = p.opt_str(0)?;
    let c = node.lock_chain();
    let mut v = serde_json::Map::new();
    for (index, height) in [
        ("txindex", c.txindex_height()),
        ("coinstatsindex", c.coinstats_index_height()),
        ("basic block filter index", c.filter_index_height()),
    ] {
        if let Some(height) = height.filter(|_| name.is_none_or(|n| n == index)) {
            v.insert(index.into(), json!({"synced": true, "best_block_height": height}));
        }
    }
    Ok(Value::Object(v))
}

/// `getblockfilter`.
pub(super) fn getblockfilter(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let hash = chain_hash(p, 0)?;
    let kind = p.opt_str(1)?.unwrap_or("basic");
    if kind != "basic" {
        return Err(RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Unknown filtertype"));
    }
    let c = node.lock_chain();
    if c.filter_index_height().is_none() {
        return Err(RpcError::new(code::MISC_ERROR, "Index is not enabled for filtertype basic"));
    }
    if c.entry(&hash).is_none() {
        return Err(RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found"));
    }
    let record = c
        .block_filter(&hash)
        .map_err(|e| RpcError::new(code::DATABASE_ERROR, e.to_string()))?;
    let Some(record) = record else {
        return Err(RpcError::new(code::MISC_ERROR, "Filter not found."));
    };
    Ok(json!({"filter": hex(&record.filter), "header": record.header.to_string()}))
}

/// `getchaintxstats`.
pub(super) fn getchaintxstats(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let c = node.lock_chain();
    let e = match p.opt_str(1)? {
        Some(_) => entry(&c, &chain_hash(p, 1)?)?.clone(),
        None => c.tip().clone(),
    };
    if !c.is_active(&e.hash) {
        return Err(RpcError::param("Block is not in main chain"));
    }
    let height = e.height;
    let default = (30 * 24 * 60 * 60 / c.params().consensus.pow_target_spacing) as i64;
    let blockcount = match p.get(0) {
        None => default,
        Some(_) => {
            let n = p.i64(0)?;
            if n < 0 || (n > 0 && n >= i64::from(height)) {
                return Err(RpcError::param(
                    "Invalid block count: should be between 0 and the block's height - 1",
                ));
            }
            n
        }
    };
    let blockcount = blockcount.min(i64::from(height) - 1).max(0) as u32;
    // Cumulative transaction count up to each height of the active chain (Core's
    // m_chain_tx_count); unknown for a snapshot chainstate's blocks without data, and then
    // omitted as Core omits it.
    let total = c.chain_tx_count(height);
    let mut v = json!({"time": e.header.time});
    if let Some(total) = total {
        v["txcount"] = json!(total);
    }
    v["window_final_block_hash"] = json!(e.hash.to_string());
    v["window_final_block_height"] = json!(height);
    v["window_block_count"] = json!(blockcount);
    if blockcount > 0 {
        let past = height - blockcount;
        let interval = c.mtp_at(height) - c.mtp_at(past);
        v["window_interval"] = json!(interval);
        if let (Some(total), Some(before)) = (total, c.chain_tx_count(past)) {
            let window_tx = total - before;
            v["window_tx_count"] = json!(window_tx);
            if interval > 0 {
                v["txrate"] = json!(window_tx as f64 / interval as f64);
            }
        }
    }
    Ok(v)
}

/// `getchaintips`.
pub(super) fn getchaintips(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    let c = node.lock_chain();
    let mut has_child = std::collections::HashSet::new();
    for e in c.entries() {
        has_child.insert(e.header.prev_blockhash);
    }
    let mut tips: Vec<Value> = c
        .entries()
        // As Core, the active tip is always listed, even when headers extend it.
        .filter(|e| !has_child.contains(&e.hash) || e.hash == c.tip().hash)
        .map(|e| {
            let fork = c.fork_point(&e.hash).map(|a| a.height).unwrap_or(0);
            let status = if c.is_active(&e.hash) {
                "active"
            } else if e.is_failed() {
                "invalid"
            } else if !branch_has_data(&c, e) {
                // As Core's !HaveNumChainTxs: the block or one of its parents lacks data.
                "headers-only"
            } else {
                "valid-fork"
            };
            json!({"height": e.height, "hash": e.hash.to_string(), "branchlen": e.height - fork, "status": status})
        })
        .collect();
    tips.sort_by_key(|t| std::cmp::Reverse(t["height"].as_u64().unwrap_or(0)));
    Ok(Value::Array(tips))
}

/// `gettxout txid n ( include_mempool )`: Core's answer from the UTXO set, or with the mempool
/// (the default) from its view over it: an output spent by a mempool transaction is gone, one
/// created by a mempool transaction has 0 confirmations.
pub(super) fn gettxout(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let txid: Txid = super::super::params::parse_hash(p.str(0)?, "txid")?;
    let n = u32::try_from(p.u64(1)?).map_err(|_| RpcError::param("n out of range"))?;
    let op = OutPoint { txid, vout: n };
    // The mempool is read before the chain is locked (never both locks at once).
    let mut from_mempool = None;
    if p.opt_bool(2)?.unwrap_or(true) {
        let mempool = node.mempool();
        if mempool.pool().spender(&op).is_some() {
            return Ok(Value::Null);
        }
        if let Some(tx) = mempool.get(&txid) {
            let Some(out) = tx.output.get(n as usize) else {
                return Ok(Value::Null);
            };
            from_mempool = Some(out.clone());
        }
    }
    let mut c = node.lock_chain();
    let net = c.params().network;
    let (output, confirmations, coinbase) = match from_mempool {
        Some(out) => (out, 0, false),
        None => {
            let coin = c.get_coin(&op).map_err(|e| RpcError::new(code::DATABASE_ERROR, e.to_string()))?;
            let Some(coin) = coin else { return Ok(Value::Null) };
            (coin.output, c.tip().height - coin.height + 1, coin.is_coinbase)
        }
    };
    Ok(json!({
        "bestblock": c.tip().hash.to_string(),
        "confirmations": confirmations,
        "value": amount(output.value.to_sat()),
        "scriptPubKey": crate::rpc::txjson::script_to_json(output.script_pubkey.as_bytes(), net, true, true),
        "coinbase": coinbase,
    }))
}

/// `verifychain`.
pub(super) fn verifychain(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    use crate::chain::verify::{DEFAULT_CHECKBLOCKS, DEFAULT_CHECKLEVEL};
    let level = p.opt_u64(0)?.map_or(DEFAULT_CHECKLEVEL, |l| l.min(u64::from(u32::MAX)) as u32);
    let nblocks = p.opt_u64(1)?.map_or(DEFAULT_CHECKBLOCKS, |n| u32::try_from(n).unwrap_or(0));
    let c = node.lock_chain();
    Ok(match c.verify_recent(level, nblocks) {
        Ok(_) => json!(true),
        Err(e) => {
            tracing::warn!("verifychain: {e}");
            json!(false)
        }
    })
}

/// `submitblock hexdata`: null when accepted, else Core's result strings.
pub async fn submitblock(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let raw = Vec::<u8>::from_hex(p.str(0)?)
        .ok()
        .ok_or_else(|| RpcError::new(code::DESERIALIZATION_ERROR, "Block decode failed"))?;
    let mut block: Block = deserialize(&raw).map_err(|_| RpcError::new(code::DESERIALIZATION_ERROR, "Block decode failed"))?;
    {
        let c = node.lock_chain();
        if let Some(prev) = c.entry(&block.header.prev_blockhash) {
            let segwit = c.params().segwit_enforced_at(prev.height + 1);
            crate::mempool::template::fill_witness_reserved_value(&mut block, segwit);
        }
    }
    // Core 31 judges a block without a coinbase like any other (high-hash, bad-cb-missing).
    match node
        .submit_block(block)
        .await
        .map_err(|e| RpcError::new(code::DATABASE_ERROR, e.to_string()))?
    {
        BlockOutcome::Accepted { connected: true } => Ok(Value::Null),
        // Core: stored but not connected (a side branch without more work) is not judged yet.
        BlockOutcome::Accepted { connected: false } => Ok(json!("inconclusive")),
        BlockOutcome::Duplicate => Ok(json!("duplicate")),
        BlockOutcome::Orphan => Ok(json!("prev-blk-not-found")),
        BlockOutcome::Invalid(r) if r.reason == "duplicate-invalid" => Ok(json!("duplicate-invalid")),
        BlockOutcome::Invalid(r) => Ok(json!(r.reason)),
    }
}

/// Whether `e` and each of its ancestors down to the active chain have their block data.
fn branch_has_data(c: &crate::chain::ChainManager, e: &crate::chain::index::BlockIndexEntry) -> bool {
    let mut cur = Some(e);
    while let Some(b) = cur.filter(|b| !c.is_active(&b.hash)) {
        if !b.have_data() {
            return false;
        }
        cur = c.entry(&b.header.prev_blockhash);
    }
    true
}

//! `scanblocks`: the blocks whose BIP158 basic filter matches any script of the scan objects
//! (what light wallets use to find the blocks worth downloading). Needs `-blockfilterindex`.
//! One scan runs at a time; `status` reports its progress and `abort` stops it, as in Core.

use super::super::error::{code, RpcError};
use super::super::params::Params;
use super::scan::scan_object_scripts;
use crate::chain::ChainManager;
use crate::rpc::context::RpcContext;
use bitcoin::bip158::BlockFilter;
use bitcoin::{BlockHash, ScriptBuf};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

/// Filters read per chain-lock hold, so a long scan never stalls block connection for long.
const BLOCKS_PER_LOCK: u32 = 1_000;

/// The one scan in progress (Core allows one at a time), shared by `start`, `status`, `abort`.
static IN_PROGRESS: AtomicBool = AtomicBool::new(false);
/// Set by `abort`, read by the running scan between chunks.
static ABORT: AtomicBool = AtomicBool::new(false);
/// Approximate percent complete of the running scan.
static PROGRESS: AtomicI64 = AtomicI64::new(0);
/// Height of the block the running scan reached.
static PROGRESS_HEIGHT: AtomicI64 = AtomicI64::new(0);

/// Holds the one-scan slot while alive.
struct Reservation;

impl Reservation {
    /// Takes the slot; `None` when a scan is already running.
    fn take() -> Option<Reservation> {
        (!IN_PROGRESS.swap(true, Ordering::SeqCst)).then_some(Reservation)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        IN_PROGRESS.store(false, Ordering::SeqCst);
    }
}

/// `scanblocks "action" ( [scanobjects,...] start_height stop_height "filtertype" options )`.
pub fn scanblocks(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    match p.str(0)? {
        "status" => {
            if Reservation::take().is_some() {
                return Ok(Value::Null);
            }
            Ok(json!({
                "progress": PROGRESS.load(Ordering::SeqCst),
                "current_height": PROGRESS_HEIGHT.load(Ordering::SeqCst),
            }))
        }
        "abort" => {
            if Reservation::take().is_some() {
                return Ok(json!(false));
            }
            ABORT.store(true, Ordering::SeqCst);
            Ok(json!(true))
        }
        "start" => {
            let Some(_slot) = Reservation::take() else {
                return Err(RpcError::param("Scan already in progress, use action \"abort\" or \"status\""));
            };
            start(node, p)
        }
        other => Err(RpcError::param(format!("Invalid action '{other}'"))),
    }
}

/// The `start` action, run while holding the scan slot.
fn start(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let filtertype = p.opt_str(4)?.unwrap_or("basic");
    if filtertype != "basic" {
        return Err(RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Unknown filtertype"));
    }
    let filter_false_positives = match p.get(5) {
        None => false,
        Some(Value::Object(o)) => match o.get("filter_false_positives") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(RpcError::new(code::TYPE_ERROR, "JSON value is not a boolean as expected")),
        },
        Some(_) => return Err(RpcError::new(code::TYPE_ERROR, "JSON value is not an object as expected")),
    };
    let (from, to) = {
        let c = node.lock_chain();
        if c.filter_index_height().is_none() {
            return Err(RpcError::new(
                code::MISC_ERROR,
                format!("Index is not enabled for filtertype {filtertype}"),
            ));
        }
        let tip = i64::from(c.height());
        let from = match p.get(2) {
            None => 0,
            Some(_) => Some(p.i64(2)?)
                .filter(|h| (0..=tip).contains(h))
                .ok_or_else(|| RpcError::new(code::MISC_ERROR, "Invalid start_height"))?,
        };
        let to = match p.get(3) {
            None => tip,
            Some(_) => Some(p.i64(3)?)
                .filter(|h| (from..=tip).contains(h))
                .ok_or_else(|| RpcError::new(code::MISC_ERROR, "Invalid stop_height"))?,
        };
        (from as u32, to as u32)
    };
    let Some(Value::Array(objects)) = p.get(1) else {
        return Err(RpcError::new(
            code::MISC_ERROR,
            "scanobjects argument is required for the start action",
        ));
    };
    let needles = scan_object_scripts(objects, node.settings().params.network)?;
    let queries: Vec<&[u8]> = needles.iter().map(|s| s.as_bytes()).collect();

    ABORT.store(false, Ordering::SeqCst);
    PROGRESS.store(0, Ordering::SeqCst);
    PROGRESS_HEIGHT.store(i64::from(from), Ordering::SeqCst);
    let mut relevant = Vec::new();
    let mut completed = true;
    let mut reached = from;
    let mut next = from;
    while next <= to {
        if ABORT.load(Ordering::SeqCst) || node.is_shutting_down() {
            completed = false;
            break;
        }
        let end = to.min(next.saturating_add(BLOCKS_PER_LOCK - 1));
        let filters = read_filters(node, next, end)?;
        let chain_shrank = filters.len() < (end - next + 1) as usize;
        let Some(count) = (filters.len() as u32).checked_sub(1) else {
            break;
        };
        let end = next + count;
        for (hash, filter) in filters {
            let matched = filter
                .match_any(&hash, queries.iter().copied())
                .map_err(|e| RpcError::new(code::MISC_ERROR, format!("Corrupt block filter for {hash}: {e}")))?;
            if matched && (!filter_false_positives || block_pays_or_spends(&node.lock_chain(), &hash, &needles)?) {
                relevant.push(Value::String(hash.to_string()));
            }
        }
        reached = end;
        let total = i64::from(to - from);
        let done = i64::from(end - from);
        PROGRESS.store(if total > 0 { 100 * done / total } else { 100 }, Ordering::SeqCst);
        PROGRESS_HEIGHT.store(i64::from(end), Ordering::SeqCst);
        next = end + 1;
        if chain_shrank {
            break;
        }
    }
    Ok(json!({
        "from_height": from,
        "to_height": reached,
        "relevant_blocks": relevant,
        "completed": completed,
    }))
}

/// The active chain's blocks at heights `from..=to` with their basic filters, read under one
/// hold of the chain lock.
fn read_filters(node: &Arc<RpcContext>, from: u32, to: u32) -> Result<Vec<(BlockHash, BlockFilter)>, RpcError> {
    let c = node.lock_chain();
    let mut out = Vec::with_capacity((to - from + 1) as usize);
    for height in from..=to {
        // The chain may have been reorganised shorter since the heights were checked.
        let Some(hash) = c.hash_at(height) else { break };
        let record = c
            .block_filter(&hash)
            .map_err(|e| RpcError::new(code::DATABASE_ERROR, e.to_string()))?
            .ok_or_else(|| RpcError::new(code::MISC_ERROR, format!("Failed to read block filter for {hash}")))?;
        out.push((hash, BlockFilter::new(&record.filter)));
    }
    Ok(out)
}

/// Whether block `hash` really has an output paying to, or an input spending, one of
/// `needles` (Core's `filter_false_positives` check, from the block and its undo data).
fn block_pays_or_spends(c: &ChainManager, hash: &BlockHash, needles: &HashSet<ScriptBuf>) -> Result<bool, RpcError> {
    let db = |e: crate::chain::ChainError| RpcError::new(code::DATABASE_ERROR, e.to_string());
    let block = c
        .read_block(hash)
        .map_err(db)?
        .ok_or_else(|| RpcError::new(code::MISC_ERROR, "Block not available (pruned data)"))?;
    if block
        .txdata
        .iter()
        .flat_map(|tx| &tx.output)
        .any(|o| needles.contains(&o.script_pubkey))
    {
        return Ok(true);
    }
    let Some(undo) = c.read_undo(hash).map_err(db)? else {
        // Genesis has no undo data; any other block without it was pruned.
        return match block.header.prev_blockhash == BlockHash::from_raw_hash(bitcoin::hashes::Hash::all_zeros()) {
            true => Ok(false),
            false => Err(RpcError::new(code::MISC_ERROR, "Undo data not available (pruned data)")),
        };
    };
    Ok(undo.txs.iter().flatten().any(|coin| needles.contains(&coin.output.script_pubkey)))
}

//! Mining methods: getblocktemplate (BIP22/23 with the segwit rule), getmininginfo,
//! getnetworkhashps, and regtest block generation (generatetoaddress, generatetodescriptor,
//! generateblock). Generated blocks go through [`Node::submit_block`], so chain and mempool
//! events fire exactly as for any other block.

use super::super::address;
use super::super::error::{code, RpcError};
use super::super::params::Params;
use super::blockchain::difficulty;
use super::descriptor::{descriptor_script, parse_descriptor};
use super::mempool::{decode_tx, parse_txid};
use crate::chain::{BlockOutcome, ChainManager};
use crate::mempool::template::{self, BlockTemplate, TemplateTx};
use crate::rpc::context::RpcContext;
use crate::rpc::script_asm::hex;
use bitcoin::consensus::serialize;
use bitcoin::hex::FromHex;
use bitcoin::{Block, Network, ScriptBuf};
use serde_json::{json, Value};
use std::sync::Arc;

/// Core's DEFAULT_MAX_TRIES for generate*.
pub const DEFAULT_MAX_TRIES: u64 = 1_000_000;

fn network(node: &Arc<RpcContext>) -> Network {
    node.settings().params.network
}

fn internal(e: impl std::fmt::Display) -> RpcError {
    RpcError::new(code::INTERNAL_ERROR, e.to_string())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, RpcError> {
    tokio::task::spawn_blocking(f).await.map_err(internal)
}

fn target_hex(bits: bitcoin::CompactTarget) -> String {
    hex(&bitcoin::Target::from_compact(bits).to_be_bytes())
}

/// `generatetoaddress`.
pub(super) async fn generatetoaddress(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let n = p.i64(0)?;
    let addr = p.str(1)?;
    let script = address::decode(addr, network(node)).map_err(|_| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Error: Invalid address"))?;
    generate(node, script, n, p.opt_u64(2)?.unwrap_or(DEFAULT_MAX_TRIES)).await
}

/// `generatetodescriptor`.
pub(super) async fn generatetodescriptor(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let n = p.i64(0)?;
    let d = parse_descriptor(p.str(1)?, network(node), false).map_err(|e| RpcError::new(code::INVALID_ADDRESS_OR_KEY, e))?;
    if d.ranged {
        return Err(RpcError::param(
            "Ranged descriptor not accepted. Maybe pass through deriveaddresses first?",
        ));
    }
    generate(node, d.script, n, p.opt_u64(2)?.unwrap_or(DEFAULT_MAX_TRIES)).await
}

/// `getblocktemplate`.
pub(super) async fn getblocktemplate(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let node = node.clone();
    let req = p.get(0).cloned();
    blocking(move || block_template(&node, req.as_ref())).await?
}

/// `getmininginfo`.
pub(super) async fn getmininginfo(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    let node = node.clone();
    blocking(move || mining_info(&node)).await?
}

/// `getnetworkhashps`.
pub(super) async fn getnetworkhashps(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let int = |i: usize, default: i64| {
        p.get(i)
            .map(|v| {
                v.as_i64()
                    .ok_or_else(|| RpcError::new(code::TYPE_ERROR, "JSON value is not an integer as expected"))
            })
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    let nblocks = int(0, 120)?;
    let height = int(1, -1)?;
    let node = node.clone();
    blocking(move || {
        let c = node.lock_chain();
        if height >= 0 && height > i64::from(c.height()) {
            return Err(RpcError::param("Block does not exist at specified height"));
        }
        Ok(json!(network_hashps(&c, nblocks, height)))
    })
    .await?
}

/// Core's GetNetworkHashPS: chain work over the time span of the last `lookup` blocks.
pub fn network_hashps(c: &ChainManager, lookup: i64, height: i64) -> f64 {
    let h = if height >= 0 && height <= i64::from(c.height()) {
        height as u32
    } else {
        c.height()
    };
    let Some(tip) = c.hash_at(h).and_then(|x| c.entry(&x)) else {
        return 0.0;
    };
    if tip.height == 0 {
        return 0.0;
    }
    let mut lookup = if lookup <= 0 {
        i64::from(tip.height % c.params().difficulty_adjustment_interval()) + 1
    } else {
        lookup
    };
    lookup = lookup.min(i64::from(tip.height));
    let (mut min_t, mut max_t) = (i64::from(tip.header.time), i64::from(tip.header.time));
    let mut cur = tip;
    for _ in 0..lookup {
        let Some(prev) = c.entry(&cur.header.prev_blockhash) else { break };
        cur = prev;
        min_t = min_t.min(i64::from(cur.header.time));
        max_t = max_t.max(i64::from(cur.header.time));
    }
    if min_t == max_t {
        return 0.0;
    }
    let work = |w: bitcoin::Work| w.to_be_bytes().iter().fold(0f64, |a, b| a * 256.0 + f64::from(*b));
    (work(tip.chainwork) - work(cur.chainwork)) / (max_t - min_t) as f64
}

/// Mines `block` (nonce grinding) and submits it; returns its hash, or None when `max_tries`
/// ran out.
async fn mine_and_submit(node: &Arc<RpcContext>, mut block: Block, max_tries: &mut u64) -> Result<Option<bitcoin::BlockHash>, RpcError> {
    let t0 = *max_tries;
    let (solved, block, left) = blocking(move || {
        let mut t = t0;
        let ok = template::solve(&mut block.header, &mut t);
        (ok, block, t)
    })
    .await?;
    *max_tries = left;
    if !solved || *max_tries == 0 {
        return Ok(None);
    }
    let hash = block.block_hash();
    match node.submit_block(block).await.map_err(internal)? {
        BlockOutcome::Accepted { .. } | BlockOutcome::Duplicate => Ok(Some(hash)),
        other => {
            tracing::warn!(target: "blvm::rpc", block = %hash, outcome = ?other, "generated block not accepted");
            Err(RpcError::new(code::INTERNAL_ERROR, "ProcessNewBlock, block not accepted"))
        }
    }
}

async fn generate(node: &Arc<RpcContext>, script: ScriptBuf, n: i64, max_tries: u64) -> Result<Value, RpcError> {
    let mut hashes = Vec::new();
    let mut tries = max_tries;
    for _ in 0..n.max(0) {
        let mp = node.mempool();
        let s = script.clone();
        let block = blocking(move || mp.block_template(crate::clock::unix_now()).block(&s)).await?;
        match mine_and_submit(node, block, &mut tries).await? {
            Some(h) => hashes.push(json!(h.to_string())),
            None => break,
        }
    }
    Ok(Value::Array(hashes))
}

pub(super) async fn generateblock(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let net = network(node);
    let out = p.str(0)?;
    let script = match descriptor_script(out, net) {
        Ok(s) => s,
        Err(_) => {
            address::decode(out, net).map_err(|_| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Error: Invalid address or descriptor"))?
        }
    };
    let list = match p.get(1) {
        Some(Value::Array(a)) => a.clone(),
        Some(v) => {
            return Err(RpcError::new(
                code::TYPE_ERROR,
                format!(
                    "JSON value of type {} is not of expected type array",
                    if v.is_string() { "string" } else { "non-array" }
                ),
            ))
        }
        None => {
            return Err(RpcError::new(
                code::INVALID_PARAMS,
                "Missing required argument \"transactions\" (position 2)",
            ))
        }
    };
    let submit = p.opt_bool(2)?.unwrap_or(true);
    let mp = node.mempool();
    let mut txs = Vec::new();
    for v in &list {
        let s = v
            .as_str()
            .ok_or_else(|| RpcError::new(code::TYPE_ERROR, "JSON value is not a string as expected"))?;
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            let txid = parse_txid(s, "txid")?;
            let tx = mp
                .get(&txid)
                .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, format!("Transaction {s} not in mempool.")))?;
            txs.push(tx);
        } else {
            let tx = decode_tx(s).ok_or_else(|| {
                RpcError::new(
                    code::DESERIALIZATION_ERROR,
                    format!("Transaction decode failed for {s}. Make sure the tx has at least one input."),
                )
            })?;
            txs.push(Arc::new(tx));
        }
    }
    let node2 = node.clone();
    let s2 = script.clone();
    let version = mp.settings().block.version;
    let block = blocking(move || {
        let c = node2.lock_chain();
        let ttxs = txs
            .into_iter()
            .map(|tx| TemplateTx {
                txid: tx.compute_txid(),
                wtxid: tx.compute_wtxid(),
                fee: 0,
                sigops: 0,
                weight: tx.weight().to_wu(),
                depends: Vec::new(),
                tx,
            })
            .collect();
        // As Core: the coinbase claims the subsidy only (fees of the given transactions are not counted).
        BlockTemplate::with_transactions(&c, ttxs, crate::clock::unix_now(), version).block(&s2)
    })
    .await?;
    let mut block = block;
    let (solved, b) = blocking(move || {
        let mut tries = DEFAULT_MAX_TRIES;
        let ok = template::solve(&mut block.header, &mut tries);
        (ok, block)
    })
    .await?;
    if !solved {
        return Err(RpcError::new(code::MISC_ERROR, "Failed to make block."));
    }
    if !submit {
        let node2 = node.clone();
        let (b, checked) = blocking(move || {
            let r = node2
                .chain_ref()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .test_block_validity(&b, true);
            (b, r)
        })
        .await?;
        if let Err(r) = checked.map_err(internal)? {
            return Err(RpcError::new(code::VERIFY_ERROR, format!("TestBlockValidity failed: {}", r.reason)));
        }
        return Ok(json!({"hash": b.block_hash().to_string(), "hex": hex(&serialize(&b))}));
    }
    let hash = b.block_hash();
    match node.submit_block(b).await.map_err(internal)? {
        BlockOutcome::Accepted { .. } => Ok(json!({"hash": hash.to_string()})),
        BlockOutcome::Invalid(r) => Err(RpcError::new(
            code::VERIFY_ERROR,
            format!(
                "TestBlockValidity failed: {}{}",
                r.reason,
                if r.detail.is_empty() {
                    String::new()
                } else {
                    format!(", {}", r.detail)
                }
            ),
        )),
        other => Err(RpcError::new(code::VERIFY_ERROR, format!("TestBlockValidity failed: {other:?}"))),
    }
}

/// BIP23 block proposal (Core's getblocktemplate "proposal" mode): null when the block would
/// connect on the tip (proof of work not checked), else the reason it would not.
fn block_proposal(node: &Arc<RpcContext>, data: Option<&Value>) -> Result<Value, RpcError> {
    let data = data
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::new(code::TYPE_ERROR, "Missing data String key for proposal"))?;
    let block: Block = Vec::<u8>::from_hex(data)
        .ok()
        .and_then(|b| bitcoin::consensus::deserialize(&b).ok())
        .ok_or_else(|| RpcError::new(code::DESERIALIZATION_ERROR, "Block decode failed"))?;
    let mut c = node.lock_chain();
    if let Some(e) = c.entry(&block.block_hash()) {
        let answer = if e.is_failed() {
            "duplicate-invalid"
        } else if e.status & crate::chain::index::status::VALID_SCRIPTS != 0 {
            "duplicate"
        } else {
            "duplicate-inconclusive"
        };
        return Ok(json!(answer));
    }
    match c.test_block_validity(&block, false).map_err(internal)? {
        Ok(()) => Ok(Value::Null),
        Err(r) if r.reason.is_empty() => Ok(json!("rejected")),
        Err(r) => Ok(json!(r.reason)),
    }
}

fn block_template(node: &Arc<RpcContext>, req: Option<&Value>) -> Result<Value, RpcError> {
    let mut rules: Vec<String> = Vec::new();
    if let Some(r) = req {
        let Value::Object(o) = r else {
            return Err(RpcError::new(code::TYPE_ERROR, "JSON value is not an object as expected"));
        };
        match o.get("mode").and_then(Value::as_str) {
            None | Some("template") => {}
            Some("proposal") => return block_proposal(node, o.get("data")),
            Some(_) => return Err(RpcError::param("Invalid mode")),
        }
        if let Some(Value::Array(a)) = o.get("rules") {
            rules = a.iter().filter_map(|v| v.as_str().map(String::from)).collect();
        }
    }
    if !rules.iter().any(|r| r == "segwit") {
        return Err(RpcError::param(
            "getblocktemplate must be called with the segwit rule set (call with {\"rules\": [\"segwit\"]})",
        ));
    }
    let mp = node.mempool();
    let t = mp.block_template(crate::clock::unix_now());
    let updates = mp.pool().updates();
    let txs: Vec<Value> = t
        .txs
        .iter()
        .map(|x| {
            json!({
                "data": hex(&serialize(&*x.tx)),
                "txid": x.txid.to_string(),
                "hash": x.wtxid.to_string(),
                "depends": x.depends.iter().map(|d| d + 1).collect::<Vec<_>>(),
                "fee": x.fee,
                "sigops": x.sigops,
                "weight": x.weight,
            })
        })
        .collect();
    let commitment = t.witness_commitment_script(&ScriptBuf::new());
    Ok(json!({
        "capabilities": ["proposal"],
        "version": t.version,
        "rules": ["csv", "!segwit", "taproot"],
        "vbavailable": {},
        "vbrequired": 0,
        "previousblockhash": t.prev_hash.to_string(),
        "transactions": txs,
        "coinbaseaux": {},
        "coinbasevalue": t.coinbase_value,
        "longpollid": format!("{}{}", t.prev_hash, updates),
        "target": target_hex(t.bits),
        "mintime": t.min_time,
        "mutable": ["time", "transactions", "prevblock"],
        "noncerange": "00000000ffffffff",
        "sigoplimit": template::MAX_BLOCK_SIGOPS_COST,
        "sizelimit": 4_000_000,
        "weightlimit": 4_000_000,
        "curtime": t.curtime,
        "bits": format!("{:08x}", t.bits.to_consensus()),
        "height": t.height,
        "default_witness_commitment": hex(commitment.as_bytes()),
    }))
}

fn mining_info(node: &Arc<RpcContext>) -> Result<Value, RpcError> {
    let mp = node.mempool();
    let pooled = mp.len();
    let last = mp.last_template_stats();
    let c = node.lock_chain();
    let tip = c.tip().clone();
    let next = BlockTemplate::with_transactions(&c, Vec::new(), crate::clock::unix_now(), None);
    let mut v = json!({
        "blocks": tip.height,
        "bits": format!("{:08x}", tip.header.bits.to_consensus()),
        "difficulty": difficulty(tip.header.bits.to_consensus()),
        "target": target_hex(tip.header.bits),
        "networkhashps": network_hashps(&c, 120, -1),
        "pooledtx": pooled,
        "blockmintxfee": super::blockchain::amount(mp.settings().block.min_feerate),
        "chain": c.params().chain_name,
        "next": {
            "height": next.height,
            "bits": format!("{:08x}", next.bits.to_consensus()),
            "difficulty": difficulty(next.bits.to_consensus()),
            "target": target_hex(next.bits),
        },
        "warnings": node.warnings(),
    });
    if let Some((w, n)) = last {
        v["currentblockweight"] = json!(w);
        v["currentblocktx"] = json!(n);
    }
    Ok(v)
}

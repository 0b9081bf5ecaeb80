//! Block endpoints: `/rest/block/`, `/rest/block/notxdetails/`, `/rest/blockpart/`,
//! `/rest/headers/`, `/rest/blockhashbyheight/`, `/rest/spenttxouts/`.

use super::error::RestError;
use super::format::{parse_data_format, parse_hash, parse_unsigned, Format, RestResponse};
use super::{query, MAX_HEADERS_RESULTS};
use crate::chain::index::{status, BlockIndexEntry};
use crate::chain::ChainManager;
use crate::rpc::context::RpcContext;
use crate::rpc::methods::{call_blocking, header_json};
use bitcoin::consensus::encode::VarInt;
use bitcoin::consensus::serialize;
use bitcoin::BlockHash;
use serde_json::{json, Value};
use std::sync::Arc;

/// Core's header count parameter: 1 to [`MAX_HEADERS_RESULTS`], else 400 quoting the text.
pub(super) fn parse_count(raw: &str) -> Result<usize, RestError> {
    parse_unsigned(raw)
        .filter(|n| (1..=MAX_HEADERS_RESULTS as u64).contains(n))
        .map(|n| n as usize)
        .ok_or_else(|| {
            RestError::bad_request(format!(
                "Header count is invalid or out of acceptable range (1-{MAX_HEADERS_RESULTS}): {raw}"
            ))
        })
}

/// Up to `count` entries of the active chain from `hash` on (none when it is unknown or not in
/// the active chain).
pub(super) fn active_from(c: &ChainManager, hash: &BlockHash, count: usize) -> Vec<BlockIndexEntry> {
    let Some(start) = c.entry(hash).filter(|_| c.is_active(hash)).map(|e| e.height) else {
        return Vec::new();
    };
    (start..start.saturating_add(count as u32))
        .map_while(|h| c.hash_at(h).and_then(|x| c.entry(&x)).cloned())
        .collect()
}

/// The count and hash of `<hash>` (count from the `count` query parameter, default 5) or the
/// older `<count>/<hash>`, checked in Core's order; `usage` is the 400 for other shapes.
pub(super) fn count_and_hash(part: &str, path: &[&str], usage: &str) -> Result<(usize, BlockHash), RestError> {
    let (raw_count, hash_str) = match path {
        [count, hash] => (count.to_string(), *hash),
        [hash] => (query::param(part, "count").unwrap_or_else(|| "5".into()), *hash),
        _ => return Err(RestError::bad_request(usage)),
    };
    let count = parse_count(&raw_count)?;
    Ok((count, parse_hash(hash_str)?))
}

/// `/rest/headers/<hash>.<ext>?count=<n>` and the older `/rest/headers/<n>/<hash>.<ext>`.
pub fn headers(node: &Arc<RpcContext>, part: &str, _body: &[u8]) -> Result<RestResponse, RestError> {
    let (param, format) = parse_data_format(part);
    let path: Vec<&str> = param.split('/').collect();
    let usage = "Invalid URI format. Expected /rest/headers/<hash>.<ext>?count=<count>";
    let (count, hash) = count_and_hash(part, &path, usage)?;
    let c = node.lock_chain();
    let entries = active_from(&c, &hash, count);
    RestResponse::by_format(
        format,
        || entries.iter().flat_map(|e| serialize(&e.header)).collect(),
        || Ok(Value::Array(entries.iter().map(|e| header_json(&c, e)).collect())),
    )
}

/// Core's `SanitizeString(s, SAFE_CHARS_URI)`: drops characters not allowed in a URI.
fn sanitize_uri(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "!*'();:@&=+$,/?#[]-_.~%".contains(*c))
        .collect()
}

/// `/rest/blockhashbyheight/<height>.<ext>`.
pub fn blockhash_by_height(node: &Arc<RpcContext>, part: &str, _body: &[u8]) -> Result<RestResponse, RestError> {
    let (height_str, format) = parse_data_format(part);
    // Core's ToIntegral<int32_t>: an optional '-' and digits; negative heights are invalid.
    let height = match height_str.strip_prefix('-') {
        Some(rest) => parse_unsigned(rest).filter(|n| *n == 0),
        None => parse_unsigned(height_str),
    }
    .filter(|n| *n <= i32::MAX as u64)
    .ok_or_else(|| RestError::bad_request(format!("Invalid height: {}", sanitize_uri(height_str))))?;
    let hash = {
        let c = node.lock_chain();
        u32::try_from(height).ok().and_then(|h| c.hash_at(h))
    }
    .ok_or_else(|| RestError::not_found("Block height out of range"))?;
    match format {
        Format::Hex => Ok(RestResponse::text(hash.to_string())),
        _ => RestResponse::by_format(format, || serialize(&hash), || Ok(json!({"blockhash": hash.to_string()}))),
    }
}

/// The serialized block `hash` (named `hash_str` in messages): 404 when unknown or without data,
/// 500 when its stored data cannot be read.
fn raw_block(node: &Arc<RpcContext>, hash: &BlockHash, hash_str: &str) -> Result<Vec<u8>, RestError> {
    let c = node.lock_chain();
    let e = c.entry(hash).ok_or_else(|| RestError::not_found(format!("{hash_str} not found")))?;
    if !e.have_data() {
        let why = if e.status & status::PRUNED != 0 {
            "pruned data"
        } else {
            "not fully downloaded"
        };
        return Err(RestError::not_found(format!("{hash_str} not available ({why})")));
    }
    match c.read_block(hash) {
        Ok(Some(b)) => Ok(serialize(&b)),
        Ok(None) => Err(RestError::not_found(format!("{hash_str} not found"))),
        Err(err) => {
            tracing::warn!(target: "blvm::rpc", %hash, "REST: block data cannot be read: {err}");
            Err(RestError::internal(format!("{hash_str} not available (read failed)")))
        }
    }
}

/// `/rest/block/` (`getblock` verbosity 3 as JSON) and `/rest/block/notxdetails/` (verbosity 1).
fn block_with(node: &Arc<RpcContext>, part: &str, verbosity: u8) -> Result<RestResponse, RestError> {
    let (hash_str, format) = parse_data_format(part);
    let hash: BlockHash = parse_hash(hash_str)?;
    let bytes = raw_block(node, &hash, hash_str)?;
    match format {
        Format::Bin => Ok(RestResponse::bin(bytes).immutable()),
        Format::Hex => Ok(RestResponse::hex(&bytes).immutable()),
        // Confirmations and the next block change: not cacheable.
        _ => RestResponse::by_format(format, Vec::new, || {
            Ok(call_blocking(node, "getblock", &json!([hash.to_string(), verbosity]))?)
        }),
    }
}

/// `/rest/block/<hash>.<ext>`: JSON with transaction details and prevouts.
pub fn block(node: &Arc<RpcContext>, part: &str, _body: &[u8]) -> Result<RestResponse, RestError> {
    block_with(node, part, 3)
}

/// `/rest/block/notxdetails/<hash>.<ext>`: JSON with txids only.
pub fn block_notxdetails(node: &Arc<RpcContext>, part: &str, _body: &[u8]) -> Result<RestResponse, RestError> {
    block_with(node, part, 1)
}

/// `/rest/blockpart/<hash>.<bin|hex>?offset=<o>&size=<n>`: a byte range of the serialized block.
pub fn block_part(node: &Arc<RpcContext>, part: &str, _body: &[u8]) -> Result<RestResponse, RestError> {
    let number = |key: &str| query::param(part, key).and_then(|v| parse_unsigned(&v));
    let offset = number("offset").ok_or_else(|| RestError::bad_request("Block part offset missing or invalid"))?;
    let size = number("size").ok_or_else(|| RestError::bad_request("Block part size missing or invalid"))?;
    let (hash_str, format) = parse_data_format(part);
    let hash: BlockHash = parse_hash(hash_str)?;
    if format == Format::Json {
        return Err(RestError::bad_request("JSON output is not supported for this request type"));
    }
    if format == Format::Undef {
        return Err(RestError::not_found("output format not found (available: .bin, .hex)"));
    }
    let bytes = raw_block(node, &hash, hash_str)?;
    let len = bytes.len() as u64;
    if size == 0 || offset >= len || size > len - offset {
        return Err(RestError::bad_request(format!(
            "Bad block part offset/size {offset}/{size} for {hash_str}"
        )));
    }
    let range = &bytes[offset as usize..(offset + size) as usize];
    let r = if format == Format::Bin {
        RestResponse::bin(range.to_vec())
    } else {
        RestResponse::hex(range)
    };
    Ok(r.immutable())
}

/// `/rest/spenttxouts/<hash>.<ext>`: the outputs each transaction of the block spent (from its
/// undo data), with an empty list for the coinbase.
pub fn spent_txouts(node: &Arc<RpcContext>, part: &str, _body: &[u8]) -> Result<RestResponse, RestError> {
    let (param, format) = parse_data_format(part);
    if param.contains('/') {
        return Err(RestError::bad_request(
            "Invalid URI format. Expected /rest/spenttxouts/<hash>.<ext>",
        ));
    }
    let hash: BlockHash = parse_hash(param)?;
    let c = node.lock_chain();
    let height = c
        .entry(&hash)
        .map(|e| e.height)
        .ok_or_else(|| RestError::not_found(format!("{param} not found")))?;
    let txs = if height == 0 {
        Vec::new()
    } else {
        match c.read_undo(&hash) {
            Ok(Some(u)) => u.txs,
            Ok(None) => return Err(RestError::not_found(format!("{param} undo not available"))),
            Err(err) => {
                tracing::warn!(target: "blvm::rpc", %hash, "REST: undo data cannot be read: {err}");
                return Err(RestError::not_found(format!("{param} undo not available")));
            }
        }
    };
    let network = c.params().network;
    drop(c);
    let bytes = || {
        let mut out = serialize(&VarInt(txs.len() as u64 + 1));
        out.push(0); // the coinbase spends nothing
        for tx in &txs {
            out.extend(serialize(&VarInt(tx.len() as u64)));
            for coin in tx {
                out.extend(serialize(&coin.output));
            }
        }
        out
    };
    let json = || {
        let mut all = vec![Value::Array(Vec::new())];
        all.extend(txs.iter().map(|tx| {
            Value::Array(
                tx.iter()
                    .map(|coin| {
                        json!({
                            "value": crate::rpc::txjson::amount(coin.output.value.to_sat() as i64),
                            "scriptPubKey": crate::rpc::txjson::script_to_json(coin.output.script_pubkey.as_bytes(), network, true, true),
                        })
                    })
                    .collect(),
            )
        }));
        Ok(Value::Array(all))
    };
    Ok(RestResponse::by_format(format, bytes, json)?.immutable())
}

//! BIP157 endpoints over the basic filter index: `/rest/blockfilter/` and
//! `/rest/blockfilterheaders/`.

use super::chain::{active_from, count_and_hash};
use super::error::RestError;
use super::format::{parse_data_format, parse_hash, RestResponse};
use crate::chain::index::status;
use crate::chain::ChainManager;
use crate::rpc::context::RpcContext;
use bitcoin::consensus::encode::VarInt;
use bitcoin::consensus::serialize;
use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use serde_json::{json, Value};
use std::sync::Arc;

/// Core's filter type byte of `basic` (BlockFilterType::BASIC).
const BASIC: u8 = 0;

/// Checks the filter type name and that its index is on.
fn check_type(c: &ChainManager, name: &str) -> Result<(), RestError> {
    if name != "basic" {
        return Err(RestError::bad_request(format!("Unknown filtertype {name}")));
    }
    if c.filter_index_height().is_none() {
        return Err(RestError::bad_request(format!("Index is not enabled for filtertype {name}")));
    }
    Ok(())
}

/// Core's explanation when a filter is missing.
fn missing(c: &ChainManager, connected: bool) -> RestError {
    let ready = c.filter_index_height() >= Some(c.height());
    let why = if !connected {
        " Block was not connected to active chain."
    } else if !ready {
        " Block filters are still in the process of being indexed."
    } else {
        " This error is unexpected and indicates index corruption."
    };
    RestError::not_found(format!("Filter not found.{why}"))
}

/// `/rest/blockfilter/<type>/<hash>.<ext>`: the filter (`.bin`: type, block hash, filter).
pub fn block_filter(node: &Arc<RpcContext>, part: &str, _body: &[u8]) -> Result<RestResponse, RestError> {
    let (param, format) = parse_data_format(part);
    let [kind, hash_str] = param.split('/').collect::<Vec<_>>()[..] else {
        return Err(RestError::bad_request(
            "Invalid URI format. Expected /rest/blockfilter/<filtertype>/<blockhash>",
        ));
    };
    let hash: BlockHash = parse_hash(hash_str)?;
    let c = node.lock_chain();
    check_type(&c, kind)?;
    let connected = match c.entry(&hash) {
        Some(e) => e.height == 0 || e.status & status::VALID_SCRIPTS != 0 || e.undo_pos.is_some(),
        None => return Err(RestError::not_found(format!("{hash_str} not found"))),
    };
    let record = c.block_filter(&hash).map_err(|e| RestError::internal(e.to_string()))?;
    let Some(record) = record else {
        return Err(missing(&c, connected));
    };
    drop(c);
    let bytes = || {
        let mut out = vec![BASIC];
        out.extend_from_slice(hash.as_byte_array());
        out.extend(serialize(&VarInt(record.filter.len() as u64)));
        out.extend_from_slice(&record.filter);
        out
    };
    let json = || Ok(json!({"filter": crate::rpc::script_asm::hex(&record.filter)}));
    Ok(RestResponse::by_format(format, bytes, json)?.immutable())
}

/// `/rest/blockfilterheaders/<type>/<hash>.<ext>?count=<n>` and the older
/// `/rest/blockfilterheaders/<type>/<n>/<hash>.<ext>`: filter headers along the active chain.
pub fn filter_headers(node: &Arc<RpcContext>, part: &str, _body: &[u8]) -> Result<RestResponse, RestError> {
    let (param, format) = parse_data_format(part);
    let parts: Vec<&str> = param.split('/').collect();
    let usage = "Invalid URI format. Expected /rest/blockfilterheaders/<filtertype>/<blockhash>.<ext>?count=<count>";
    let (kind, rest) = parts.split_first().ok_or_else(|| RestError::bad_request(usage))?;
    let (count, hash) = count_and_hash(part, rest, usage)?;
    let c = node.lock_chain();
    check_type(&c, kind)?;
    let mut headers = Vec::new();
    for e in active_from(&c, &hash, count) {
        match c.block_filter(&e.hash).map_err(|e| RestError::internal(e.to_string()))? {
            Some(r) => headers.push(r.header),
            None => return Err(missing(&c, true)),
        }
    }
    drop(c);
    RestResponse::by_format(
        format,
        || headers.iter().flat_map(|h| h.to_byte_array()).collect(),
        || Ok(Value::Array(headers.iter().map(|h| json!(h.to_string())).collect())),
    )
}

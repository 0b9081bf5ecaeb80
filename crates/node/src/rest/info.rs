//! JSON-only endpoints answered by the RPC methods themselves: `/rest/chaininfo`,
//! `/rest/mempool/<info|contents>`, `/rest/deploymentinfo[/<hash>]`.

use super::error::RestError;
use super::format::{json_only, parse_data_format, parse_hash, Format, RestResponse};
use super::query;
use crate::rpc::context::RpcContext;
use crate::rpc::methods::call_blocking;
use bitcoin::BlockHash;
use serde_json::{json, Value};
use std::sync::Arc;

/// Runs an RPC method for a JSON-only endpoint.
fn json_from(node: &Arc<RpcContext>, format: Format, method: &str, params: Value) -> Result<RestResponse, RestError> {
    if format != Format::Json {
        return Err(json_only());
    }
    Ok(RestResponse::json(&call_blocking(node, method, &params)?))
}

/// `/rest/chaininfo.json`: `getblockchaininfo`.
pub fn chaininfo(node: &Arc<RpcContext>, part: &str, _body: &[u8]) -> Result<RestResponse, RestError> {
    let (_, format) = parse_data_format(part);
    json_from(node, format, "getblockchaininfo", json!([]))
}

/// A `true`/`false` query parameter with its default, else Core's 400.
fn flag(part: &str, key: &str, default: bool) -> Result<bool, RestError> {
    match query::param(part, key).as_deref() {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(RestError::bad_request(format!(
            "The \"{key}\" query parameter must be either \"true\" or \"false\"."
        ))),
    }
}

/// `/rest/mempool/info.json` (`getmempoolinfo`) and `/rest/mempool/contents.json`
/// (`getrawmempool`, with the `verbose` and `mempool_sequence` query parameters).
pub fn mempool(node: &Arc<RpcContext>, part: &str, _body: &[u8]) -> Result<RestResponse, RestError> {
    let (param, format) = parse_data_format(part);
    match param {
        "info" => json_from(node, format, "getmempoolinfo", json!([])),
        "contents" => {
            if format != Format::Json {
                return Err(json_only());
            }
            let verbose = flag(part, "verbose", true)?;
            let sequence = flag(part, "mempool_sequence", false)?;
            if verbose && sequence {
                return Err(RestError::bad_request(
                    "Verbose results cannot contain mempool sequence values. (hint: set \"verbose=false\")",
                ));
            }
            json_from(node, format, "getrawmempool", json!([verbose, sequence]))
        }
        _ => Err(RestError::bad_request(
            "Invalid URI format. Expected /rest/mempool/<info|contents>.json",
        )),
    }
}

/// `/rest/deploymentinfo.json` and `/rest/deploymentinfo/<hash>.json`: `getdeploymentinfo`.
pub fn deploymentinfo(node: &Arc<RpcContext>, part: &str, _body: &[u8]) -> Result<RestResponse, RestError> {
    let (hash_str, format) = parse_data_format(part);
    if format != Format::Json {
        return Err(json_only());
    }
    if hash_str.is_empty() {
        return json_from(node, format, "getdeploymentinfo", json!([]));
    }
    let hash: BlockHash = parse_hash(hash_str)?;
    if node.lock_chain().entry(&hash).is_none() {
        return Err(RestError::bad_request("Block not found"));
    }
    // The state at a given block never changes.
    Ok(json_from(node, format, "getdeploymentinfo", json!([hash.to_string()]))?.immutable())
}

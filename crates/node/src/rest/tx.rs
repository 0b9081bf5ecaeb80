//! `/rest/tx/<txid>`: a transaction from the mempool or, with `-txindex`, the chain.

use super::error::RestError;
use super::format::{parse_data_format, parse_hash, RestResponse};
use crate::rpc::context::RpcContext;
use crate::rpc::script_asm::hex;
use crate::rpc::txjson::{serialize_core, tx_to_json, TxVerbosity};
use bitcoin::{BlockHash, Transaction, Txid};
use serde_json::{json, Value};
use std::sync::Arc;

/// Core's `GetTransaction` without a block: the mempool first, then the transaction index (when
/// on); the block hash is set for a confirmed transaction.
fn find(node: &Arc<RpcContext>, txid: &Txid) -> Result<Option<(Transaction, Option<BlockHash>)>, RestError> {
    if let Some(tx) = node.mempool().get(txid) {
        return Ok(Some(((*tx).clone(), None)));
    }
    let found = node
        .lock_chain()
        .indexed_transaction(txid)
        .map_err(|e| RestError::internal(e.to_string()))?;
    Ok(found.map(|(block, tx)| (tx, Some(block))))
}

/// `/rest/tx/<txid>.<ext>`: JSON is Core's `TxToUniv` with the block hash (before `hex`), without
/// the confirmation fields `getrawtransaction` adds.
pub fn tx(node: &Arc<RpcContext>, part: &str, _body: &[u8]) -> Result<RestResponse, RestError> {
    let (hash_str, format) = parse_data_format(part);
    let txid: Txid = parse_hash(hash_str)?;
    let (tx, block) = find(node, &txid)?.ok_or_else(|| RestError::not_found(format!("{hash_str} not found")))?;
    let network = node.settings().params.network;
    RestResponse::by_format(
        format,
        || serialize_core(&tx),
        || {
            let mut v = tx_to_json(&tx, None, TxVerbosity::Details, false, network);
            if let Value::Object(o) = &mut v {
                if let Some(b) = block {
                    o.insert("blockhash".into(), json!(b.to_string()));
                }
                o.insert("hex".into(), json!(hex(&serialize_core(&tx))));
            }
            Ok(v)
        },
    )
}

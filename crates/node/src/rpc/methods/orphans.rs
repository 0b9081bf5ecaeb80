//! getorphantxs: the transactions in the P2P layer's orphan pool (Core's hidden RPC, same
//! verbosity levels, fields and errors).

use super::super::error::{code, RpcError};
use super::super::params::Params;
use super::network::{ask, net};
use super::rawtransaction::get_int;
use crate::mempool::entry::virtual_size;
use crate::p2p::orphans::Orphan;
use crate::p2p::Command;
use crate::rpc::context::RpcContext;
use crate::rpc::script_asm::hex;
use bitcoin::consensus::serialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// `getorphantxs ( verbosity )`: txids (0), details (1), details with the hex (2).
pub async fn getorphantxs(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    // As Core: P2P first, then the verbosity (ParseVerbosity(arg, 0, allow_bool=false)).
    let n = net(node)?;
    let verbosity = match p.get(0) {
        None => 0,
        Some(Value::Bool(_)) => return Err(RpcError::new(code::TYPE_ERROR, "Verbosity was boolean but only integer allowed")),
        Some(v) => get_int(v, i64::from(i32::MIN), i64::from(i32::MAX))?,
    };
    if !(0..=2).contains(&verbosity) {
        return Err(RpcError::param(format!("Invalid verbosity value {verbosity}")));
    }
    let orphans = ask(&n, |reply| Command::OrphanTxs { reply }).await?;
    Ok(Value::Array(orphans.iter().map(|o| orphan_json(o, verbosity)).collect()))
}

/// One orphan as Core shows it at `verbosity`.
fn orphan_json(o: &Orphan, verbosity: i64) -> Value {
    if verbosity == 0 {
        return json!(o.txid.to_string());
    }
    let raw = serialize(&o.tx);
    let weight = o.tx.weight().to_wu();
    let mut v = json!({
        "txid": o.txid.to_string(),
        "wtxid": o.tx.compute_wtxid().to_string(),
        "bytes": raw.len(),
        "vsize": virtual_size(weight, 0, 0),
        "weight": weight,
        "from": o.announcers.iter().collect::<Vec<_>>(),
    });
    if verbosity == 2 {
        v["hex"] = json!(hex(&raw));
    }
    v
}

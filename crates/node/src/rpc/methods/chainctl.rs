//! Chain methods beyond plain reads: getdeploymentinfo, preciousblock, invalidateblock,
//! reconsiderblock, submitheader.

use super::super::error::{code, RpcError};
use super::super::params::Params;
use super::blockchain::chain_hash;
use crate::chain::versionbits::{DeploymentInfo, ThresholdState};
use crate::rpc::context::RpcContext;
use crate::validation::scripts::{
    block_script_flags, ScriptFlags, VERIFY_CHECKLOCKTIMEVERIFY, VERIFY_CHECKSEQUENCEVERIFY, VERIFY_DERSIG, VERIFY_NULLDUMMY, VERIFY_P2SH,
    VERIFY_TAPROOT, VERIFY_WITNESS,
};
use bitcoin::block::Header;
use bitcoin::hex::FromHex;
use serde_json::{json, Map, Value};
use std::sync::Arc;

fn not_found() -> RpcError {
    RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found")
}

/// `getdeploymentinfo ( "blockhash" )`: the deployments as they apply to the block after
/// `blockhash` (default: the tip), in Core's order and shape.
pub fn getdeploymentinfo(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let c = node.lock_chain();
    let e = match p.get(0) {
        Some(_) => c.entry(&chain_hash(p, 0)?).ok_or_else(not_found)?.clone(),
        None => c.tip().clone(),
    };
    let params = c.params();
    // Core reports a deployment as active from the block whose child is the first to enforce it.
    let next = u64::from(e.height) + 1;
    let mut deployments = Map::new();
    for (name, height) in [
        ("bip34", params.bip34_height),
        ("bip66", params.bip66_height),
        ("bip65", params.bip65_height),
        ("csv", params.csv_height),
        ("segwit", params.segwit_height),
    ] {
        deployments.insert(
            name.into(),
            json!({"type": "buried", "active": next >= u64::from(height), "height": height}),
        );
    }
    for d in c.deployment_info(&e.hash) {
        deployments.insert(d.deployment.name.into(), bip9_json(&d));
    }
    let flags = block_script_flags(params, e.height, &e.hash);
    Ok(json!({
        "hash": e.hash.to_string(),
        "height": e.height,
        "script_flags": script_flag_names(flags),
        "deployments": deployments,
    }))
}

/// Core's SoftForkDescPushBack for a BIP9 deployment.
fn bip9_json(d: &DeploymentInfo) -> Value {
    let dep = &d.deployment;
    let mut bip9 = Map::new();
    if d.statistics.is_some() {
        bip9.insert("bit".into(), json!(dep.bit));
    }
    bip9.insert("start_time".into(), json!(dep.start));
    bip9.insert("timeout".into(), json!(dep.timeout));
    bip9.insert("min_activation_height".into(), json!(dep.min_activation_height));
    bip9.insert("status".into(), json!(d.state.name()));
    bip9.insert("since".into(), json!(d.since));
    bip9.insert("status_next".into(), json!(d.next.name()));
    if let Some(st) = &d.statistics {
        let mut stats = Map::new();
        stats.insert("period".into(), json!(st.period));
        if d.state != ThresholdState::LockedIn {
            stats.insert("threshold".into(), json!(st.threshold));
        }
        stats.insert("elapsed".into(), json!(st.elapsed));
        stats.insert("count".into(), json!(st.count));
        if d.state != ThresholdState::LockedIn {
            stats.insert("possible".into(), json!(st.possible));
        }
        bip9.insert("statistics".into(), Value::Object(stats));
        let sig: String = st.signals.iter().map(|s| if *s { '#' } else { '-' }).collect();
        bip9.insert("signalling".into(), json!(sig));
    }
    let mut v = Map::new();
    v.insert("type".into(), json!("bip9"));
    if d.next == ThresholdState::Active {
        v.insert("height".into(), json!(d.since));
    }
    v.insert("active".into(), json!(d.next == ThresholdState::Active));
    v.insert("bip9".into(), Value::Object(bip9));
    Value::Object(v)
}

/// Core's GetScriptFlagNames: the names of the consensus flags set, sorted.
fn script_flag_names(flags: ScriptFlags) -> Vec<&'static str> {
    let mut names: Vec<&str> = [
        (VERIFY_P2SH, "P2SH"),
        (VERIFY_DERSIG, "DERSIG"),
        (VERIFY_NULLDUMMY, "NULLDUMMY"),
        (VERIFY_CHECKLOCKTIMEVERIFY, "CHECKLOCKTIMEVERIFY"),
        (VERIFY_CHECKSEQUENCEVERIFY, "CHECKSEQUENCEVERIFY"),
        (VERIFY_WITNESS, "WITNESS"),
        (VERIFY_TAPROOT, "TAPROOT"),
    ]
    .into_iter()
    .filter(|(f, _)| flags & f != 0)
    .map(|(_, n)| n)
    .collect();
    names.sort_unstable();
    names
}

/// `preciousblock "blockhash"`: among chains of equal work, the one ending at `blockhash`
/// becomes (and stays) active, as in Core; otherwise nothing changes.
pub async fn preciousblock(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let h = chain_hash(p, 0)?;
    match node.precious_block(h).await {
        Ok(true) => Ok(Value::Null),
        Ok(false) => Err(not_found()),
        Err(e) => Err(RpcError::new(code::DATABASE_ERROR, e.to_string())),
    }
}

/// `invalidateblock "blockhash"` / `reconsiderblock "blockhash"`: null once the best valid
/// chain is active again.
async fn invalidate_or_reconsider(node: &Arc<RpcContext>, method: &str, p: &Params) -> Result<Value, RpcError> {
    let h = chain_hash(p, 0)?;
    let r = if method == "invalidateblock" {
        node.invalidate_block(h).await
    } else {
        node.reconsider_block(h).await
    };
    match r {
        Ok(true) => Ok(Value::Null),
        Ok(false) => Err(not_found()),
        Err(e) => Err(RpcError::new(code::DATABASE_ERROR, e.to_string())),
    }
}

/// `invalidateblock "blockhash"`.
pub async fn invalidateblock(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    invalidate_or_reconsider(node, "invalidateblock", p).await
}

/// `reconsiderblock "blockhash"`.
pub async fn reconsiderblock(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    invalidate_or_reconsider(node, "reconsiderblock", p).await
}

/// `submitheader "hexdata"`: adds a header to the block index (null on success).
pub fn submitheader(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let raw = Vec::<u8>::from_hex(p.str(0)?)
        .ok()
        .ok_or_else(|| RpcError::new(code::DESERIALIZATION_ERROR, "Block header decode failed"))?;
    // As Core, the header is read from the start of the data and anything after it (a whole
    // block, say) is ignored.
    let header: Header = bitcoin::consensus::Decodable::consensus_decode(&mut raw.as_slice())
        .map_err(|_| RpcError::new(code::DESERIALIZATION_ERROR, "Block header decode failed"))?;
    let mut c = node.lock_chain();
    if c.entry(&header.prev_blockhash).is_none() {
        return Err(RpcError::new(
            code::VERIFY_ERROR,
            format!("Must submit previous header ({}) first", header.prev_blockhash),
        ));
    }
    match c.accept_header(&header) {
        Ok(Ok(_)) => Ok(Value::Null),
        Ok(Err(reject)) => Err(RpcError::new(code::VERIFY_ERROR, reject.reason)),
        Err(e) => Err(RpcError::new(code::DATABASE_ERROR, e.to_string())),
    }
}

//! Module management and maintenance methods (this node's additions to Core's RPC set).

use super::super::error::{code, RpcError};
use super::super::params::Params;
use crate::rpc::context::RpcContext;
use crate::rpc::context::{ControlError, Maintenance, MaintenanceDone};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// `listmodules`.
pub(super) async fn listmodules(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    let mgr = node.modules();
    let list = |mgr: &crate::modules::manager::ModuleManager| serde_json::to_value(mgr.list()).unwrap_or(Value::Null);
    Ok(list(&mgr))
}

/// `loadmodule`, `unloadmodule`, `reloadmodule`: one body, told apart by `method`.
async fn load_unload_or_reload(node: &Arc<RpcContext>, method: &str, p: &Params) -> Result<Value, RpcError> {
    let mgr = node.modules();
    let name = p.str(0)?.to_string();
    let r = match method {
        "loadmodule" => mgr.load(&name),
        "unloadmodule" => mgr.unload(&name, "rpc").await,
        _ => mgr.reload(&name).await,
    };
    r.map_err(|e| {
        let c = match e {
            crate::modules::manager::ManagerError::InvalidName(_) => code::INVALID_PARAMETER,
            _ => code::MISC_ERROR,
        };
        RpcError::new(c, e.to_string())
    })?;
    let info = mgr.list().into_iter().find(|m| m.name == name);
    Ok(serde_json::to_value(info).unwrap_or(Value::Null))
}

/// `loadmodule`.
pub(super) async fn loadmodule(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    load_unload_or_reload(node, "loadmodule", p).await
}

/// `unloadmodule`.
pub(super) async fn unloadmodule(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    load_unload_or_reload(node, "unloadmodule", p).await
}

/// `reloadmodule`.
pub(super) async fn reloadmodule(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    load_unload_or_reload(node, "reloadmodule", p).await
}

/// A failed node operation as the RPC's internal error.
fn internal(e: ControlError) -> RpcError {
    RpcError::new(code::INTERNAL_ERROR, e.to_string())
}

fn maintenance_result(out: MaintenanceDone) -> Result<Value, RpcError> {
    if out.success {
        Ok(out.results)
    } else {
        Err(RpcError::new(
            code::MISC_ERROR,
            out.results["error"].as_str().unwrap_or("maintenance failed").to_string(),
        ))
    }
}

/// `flushchainstate`.
pub(super) async fn flushchainstate(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    let r = node.flush_chainstate().await.map_err(internal)?;
    Ok(
        json!({"success": r.success, "duration_ms": r.duration.as_micros().div_ceil(1000) as u64, "coins_written": r.coins_written, "index_written": r.index_written}),
    )
}

/// `gethealth`.
pub(super) async fn gethealth(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    Ok(node.manual_health(Duration::from_secs(2)).await)
}

/// `cleanupdata`.
pub(super) async fn cleanupdata(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let days = p.opt_u64(0)?.or(Some(node.settings().cleanup_target_age_days));
    let removed = node.cleanup_data("manual", days).await;
    Ok(json!({"cleanup_type": "manual", "target_age_days": days, "node_files_removed": removed}))
}

/// `pruneblockchain`.
pub(super) async fn pruneblockchain(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let h = p.i64(0)?;
    let h = u32::try_from(h).map_err(|_| RpcError::param("Negative block height."))?;
    let out = node
        .run_maintenance(Maintenance::Prune {
            height: Some(h),
            target_bytes: None,
        })
        .await
        .map_err(internal)?;
    let r = maintenance_result(out)?;
    let c = node.lock_chain();
    Ok(json!(c.prune_height().unwrap_or(r["prune_height"].as_u64().unwrap_or(0) as u32)))
}

/// `runmaintenance`.
pub(super) async fn runmaintenance(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let op = match p.str(0)? {
        "backup" => Maintenance::Backup {
            destination: p
                .opt_str(1)?
                .ok_or_else(|| RpcError::param("backup needs a destination directory"))?
                .into(),
        },
        "cleanup" => Maintenance::Cleanup,
        "compaction" => Maintenance::Compact,
        "prune" => {
            let height = match p.get(1) {
                None => None,
                Some(v) => Some(
                    v.as_u64()
                        .and_then(|h| u32::try_from(h).ok())
                        .ok_or_else(|| RpcError::param("prune height must be a non-negative integer"))?,
                ),
            };
            Maintenance::Prune {
                height,
                target_bytes: None,
            }
        }
        other => {
            return Err(RpcError::param(format!(
                "unknown maintenance type '{other}' (backup, cleanup, compaction, prune)"
            )))
        }
    };
    let out = node.run_maintenance(op).await.map_err(internal)?;
    let duration_ms = out.duration_ms;
    let mut r = maintenance_result(out)?;
    r["duration_ms"] = json!(duration_ms);
    Ok(r)
}

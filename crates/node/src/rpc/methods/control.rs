//! Control methods: help, stop, uptime, getmemoryinfo, getrpcinfo, setmocktime, logging.

use super::super::error::{code, RpcError};
use super::super::params::Params;
use super::table::METHODS;
use crate::rpc::context::RpcContext;
use serde_json::{json, Value};
use std::sync::Arc;

/// `help [command]`: the method list by category, or one method's usage line.
pub fn help(p: &Params) -> Result<Value, RpcError> {
    if let Some(cmd) = p.opt_str(0)? {
        let Some(m) = super::table::find(cmd) else {
            return Ok(Value::String(format!("help: unknown command: {cmd}")));
        };
        return Ok(Value::String(super::usage::help_text(m)));
    }
    let mut out = String::new();
    let mut last = "";
    for m in METHODS.iter().filter(|m| m.category != "Hidden") {
        if m.category != last {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("== {} ==\n", m.category));
            last = m.category;
        }
        out.push_str(&super::usage::usage_line(m));
        out.push('\n');
    }
    Ok(Value::String(out.trim_end().to_string()))
}

/// `stop`: begins the shutdown sequence with reason "rpc".
pub fn stop(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    if node.is_shutting_down() {
        return Err(RpcError::new(code::MISC_ERROR, "Shutdown already in progress"));
    }
    node.request_stop();
    Ok(Value::String("blvm-node stopping".into()))
}

/// `logging ( ["include",...] ["exclude",...] )`: turns debug categories on, then off, while
/// the node runs, and reports every category's state, as Core.
pub fn logging(_node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let cats = crate::logging::update_categories(&p.opt_str_array(0)?.unwrap_or_default(), &p.opt_str_array(1)?.unwrap_or_default())
        .map_err(|e| RpcError::param(e.to_string()))?;
    let mut names: Vec<&str> = crate::logging::category_names().collect();
    names.sort_unstable();
    Ok(Value::Object(
        names.into_iter().map(|n| (n.to_string(), json!(cats.is_on(n)))).collect(),
    ))
}

/// `uptime`: seconds since the node started.
pub fn uptime(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    Ok(json!(node.uptime().as_secs()))
}

/// `getmemoryinfo`: process memory figures (Core reports its locked-memory pool; we report RSS).
pub fn getmemoryinfo(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    let rss = node.process_rss().unwrap_or(0);
    Ok(json!({"locked": {"used": 0, "free": 0, "total": 0, "locked": 0, "chunks_used": 0, "chunks_free": 0}, "rss_bytes": rss}))
}

/// `getrpcinfo`: the calls running now (this one included) with their durations in
/// microseconds, and the debug log's path.
pub fn getrpcinfo(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    let active: Vec<Value> = node
        .rpc_active()
        .list()
        .into_iter()
        .map(|(method, d)| json!({"method": method, "duration": d.as_micros() as u64}))
        .collect();
    let log = node.settings().net_dir.join("debug.log");
    let log = std::path::absolute(&log).unwrap_or(log);
    Ok(json!({"active_commands": active, "logpath": log.display().to_string()}))
}

/// `setmocktime timestamp`: replaces the node's clock with `timestamp` (0 returns to the system
/// clock), as Core; regtest only, because every time rule of the node follows it.
pub async fn setmocktime(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    if node.settings().params.network != bitcoin::Network::Regtest {
        return Err(RpcError::new(
            code::MISC_ERROR,
            "setmocktime is for regression testing (-regtest mode) only",
        ));
    }
    let t = p.i64(0)?;
    crate::clock::check_mocktime(t).map_err(|e| RpcError::new(code::INVALID_PARAMETER, e.to_string()))?;
    // The P2P manager moves the clock itself, after handling what happened before the call at
    // the old time; the timeouts the new time expires fire before the call returns.
    let (tx, rx) = tokio::sync::oneshot::channel();
    if node
        .net()
        .command(crate::p2p::Command::ClockChanged { time: t, reply: tx })
        .await
        .is_ok()
    {
        let _ = rx.await;
    }
    // P2P off (or shutting down): nothing else to run; setting it again is harmless.
    crate::clock::set_mocktime(t).map_err(|e| RpcError::new(code::INVALID_PARAMETER, e.to_string()))?;
    Ok(Value::Null)
}

/// `echo`/`echojson`: returns the parameters as given (Core's test helpers for argument passing).
pub fn echo(_node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    Ok(Value::Array(
        (0..p.len()).map(|i| p.get(i).cloned().unwrap_or(Value::Null)).collect(),
    ))
}

/// `syncwithvalidationinterfacequeue`: chain and mempool notifications are delivered before the
/// call that caused them returns, so there is nothing to wait for.
pub fn syncwithvalidationinterfacequeue(_node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    Ok(Value::Null)
}

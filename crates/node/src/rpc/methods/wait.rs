//! Blocking chain waits: waitfornewblock, waitforblock, waitforblockheight. They sleep on the
//! node's tip watch (woken by every active-chain change and by shutdown), never holding the
//! chain lock while waiting, and answer with the tip at the moment they end.

use super::super::error::{code, RpcError};
use super::super::params::Params;
use crate::rpc::context::RpcContext;
use bitcoin::BlockHash;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The current tip as `(hash, height)`, read on a blocking thread (block connection may hold
/// the chain lock for a while).
async fn tip(node: &Arc<RpcContext>) -> (BlockHash, u32) {
    let n = node.clone();
    let read = move || {
        let c = n.lock_chain();
        let t = c.tip();
        (t.hash, t.height)
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(t) => t,
        Err(_) => {
            let c = node.lock_chain();
            (c.tip().hash, c.tip().height)
        }
    }
}

fn tip_json((hash, height): (BlockHash, u32)) -> Value {
    json!({"hash": hash.to_string(), "height": height})
}

/// `timeout` in milliseconds at position `i`: absent or 0 waits forever, negative is an error.
fn timeout(p: &Params, i: usize) -> Result<Option<Duration>, RpcError> {
    if p.get(i).is_none() {
        return Ok(None);
    }
    let ms = p.i64(i)?;
    if ms < 0 {
        return Err(RpcError::new(code::MISC_ERROR, "Negative timeout"));
    }
    Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
}

fn hash_arg(p: &Params, i: usize, name: &str) -> Result<BlockHash, RpcError> {
    crate::rpc::params::parse_hash(p.str(i)?, name)
}

/// Waits until `done(tip)` holds, the deadline passes or the node shuts down; returns the tip then.
async fn wait_until(node: &Arc<RpcContext>, limit: Option<Duration>, mut done: impl FnMut((BlockHash, u32)) -> bool) -> Value {
    // A timeout too far away to represent is the same as none.
    let deadline = limit.and_then(|d| Instant::now().checked_add(d));
    // Subscribe before the first check so a change between check and sleep is not missed.
    let mut rx = node.tip_watch();
    loop {
        rx.borrow_and_update();
        let t = tip(node).await;
        if done(t) || node.is_shutting_down() {
            return tip_json(t);
        }
        let changed = match deadline {
            Some(d) => match tokio::time::timeout_at(d, rx.changed()).await {
                Ok(r) => r.is_ok(),
                Err(_) => return tip_json(tip(node).await),
            },
            None => rx.changed().await.is_ok(),
        };
        if !changed {
            // The node is gone: nothing can change any more.
            return tip_json(tip(node).await);
        }
    }
}

/// `waitfornewblock`.
pub(super) async fn waitfornewblock(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let limit = timeout(p, 0)?;
    let start = match p.get(1) {
        Some(_) => hash_arg(p, 1, "current_tip")?,
        None => tip(node).await.0,
    };
    Ok(wait_until(node, limit, |(h, _)| h != start).await)
}

/// `waitforblock`.
pub(super) async fn waitforblock(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let want = hash_arg(p, 0, "blockhash")?;
    let limit = timeout(p, 1)?;
    Ok(wait_until(node, limit, |(h, _)| h == want).await)
}

/// `waitforblockheight`.
pub(super) async fn waitforblockheight(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let want = p.i64(0)?;
    let limit = timeout(p, 1)?;
    Ok(wait_until(node, limit, |(_, h)| i64::from(h) >= want).await)
}

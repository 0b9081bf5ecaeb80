//! UTXO snapshots and chainstates: `dumptxoutset` (Core's snapshot file of the UTXO set at the
//! tip), `loadtxoutset` (AssumeUTXO) and `getchainstates`.

use super::super::error::{code, RpcError};
use super::super::params::Params;
use super::blockchain::difficulty;
use crate::chain::index::BlockIndexEntry;
use crate::chain::SnapshotViewError;
use crate::chainstate::snapshot::{write_snapshot, SnapshotReader};
use crate::rpc::context::RpcContext;
use crate::rpc::script_asm::hex;
use serde_json::{json, Map, Value};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Core's AbsPathJoin: a relative path is taken under the network's datadir.
fn abs_path(net_dir: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        net_dir.join(p)
    }
}

/// The block `dumptxoutset` is asked for, with Core's checks of `type` and `options.rollback`;
/// None means the tip.
fn dump_target(
    node: &Arc<RpcContext>,
    ty: &str,
    options: &Map<String, Value>,
) -> Result<Option<crate::chain::index::BlockIndexEntry>, RpcError> {
    let c = node.lock_chain();
    let target = if let Some(rb) = options.get("rollback") {
        if !ty.is_empty() && ty != "rollback" {
            return Err(RpcError::param(format!(
                "Invalid snapshot type \"{ty}\" specified with rollback option"
            )));
        }
        super::blockstats::target(&c, rb)?
    } else if ty == "rollback" {
        let Some(max) = c.params().available_snapshot_heights().into_iter().max() else {
            return Err(RpcError::new(
                code::INTERNAL_ERROR,
                "no assumeutxo snapshot heights on this network",
            ));
        };
        super::blockstats::target(&c, &json!(max))?
    } else if ty == "latest" {
        return Ok(None);
    } else {
        return Err(RpcError::param(format!(
            "Invalid snapshot type \"{ty}\" specified. Please specify \"rollback\" or \"latest\""
        )));
    };
    Ok((target.hash != c.tip().hash).then_some(target))
}

/// Removes a partly written snapshot (a named pipe is left alone).
fn remove_temp(temp: &Path, fifo: bool) {
    if !fifo {
        let _ = std::fs::remove_file(temp);
    }
}

/// `dumptxoutset "path" ( "type" options )`: writes the UTXO set at the tip, or rolled back to
/// an earlier block of the active chain (`"rollback"`), to `path` (under the datadir when
/// relative) through `path.incomplete`, or straight into a named pipe.
pub(super) fn dumptxoutset(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let path_arg = p.str(0)?;
    let ty = p.opt_str(1)?.unwrap_or("");
    let empty = Map::new();
    let options = match p.get(2) {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(o)) => o,
        Some(_) => return Err(RpcError::new(code::TYPE_ERROR, "Expected type object for options")),
    };
    if let Some(m) = options.get("in_memory").filter(|m| !m.is_boolean()) {
        return Err(RpcError::new(
            code::TYPE_ERROR,
            format!(
                "JSON value of type {} is not of expected type bool",
                super::super::params::type_name(m)
            ),
        ));
    }
    let target = dump_target(node, ty, options)?;
    let path = abs_path(&node.settings().net_dir, path_arg);
    let info = std::fs::metadata(&path).ok();
    let fifo = info.as_ref().is_some_and(|m| m.file_type().is_fifo());
    if info.is_some() && !fifo {
        return Err(RpcError::param(format!(
            "{} already exists. If you are sure this is what you want, move it out of the way first",
            path.display()
        )));
    }
    let temp = if fifo {
        path.clone()
    } else {
        PathBuf::from(format!("{}.incomplete", path.display()))
    };
    let file = std::fs::File::create(&temp).map_err(|_| RpcError::param(format!("Couldn't open file {} for writing.", temp.display())))?;
    // The chain lock is held only to flush, take a read snapshot of the coins table and, for
    // an earlier block, read the undo data of the blocks above it.
    let view = node.lock_chain().utxo_set_view(target.as_ref().map(|t| &t.hash));
    let view = match view {
        Ok(v) => v,
        Err(e) => {
            remove_temp(&temp, fifo);
            let code = match e {
                SnapshotViewError::Pruned => code::MISC_ERROR,
                _ => code::INTERNAL_ERROR,
            };
            return Err(RpcError::new(code, e.to_string()));
        }
    };
    let base = view.base.clone();
    tracing::info!(target: "blvm::rpc", "writing UTXO snapshot at height {} ({}) to file {} (via {})", base.height, base.hash, path.display(), temp.display());
    let network = node.settings().params.network;
    let out = std::io::BufWriter::with_capacity(1 << 16, file);
    let written = write_snapshot(&view.reader, &view.overlay, network, base.hash, out).and_then(|(stats, out)| {
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(stats)
    });
    let stats = written.map_err(|e| {
        remove_temp(&temp, fifo);
        RpcError::new(code::INTERNAL_ERROR, format!("Unable to write UTXO snapshot: {e}"))
    })?;
    if !fifo {
        std::fs::rename(&temp, &path)
            .map_err(|e| RpcError::new(code::INTERNAL_ERROR, format!("Error renaming {}: {e}", temp.display())))?;
    }
    Ok(json!({
        "coins_written": stats.txouts,
        "base_hash": base.hash.to_string(),
        "base_height": base.height,
        "path": path.display().to_string(),
        "txoutset_hash": stats.hash_serialized_3,
        "nchaintx": view.nchaintx,
    }))
}

/// One chainstate of `getchainstates` at `tip`, in Core's shape and key order.
fn chainstate_json(c: &crate::chain::ChainManager, tip: &BlockIndexEntry, snapshot: Option<bitcoin::BlockHash>, validated: bool) -> Value {
    let bits = tip.header.bits.to_consensus();
    let mut o = Map::new();
    o.insert("blocks".into(), json!(tip.height));
    o.insert("bestblockhash".into(), json!(tip.hash.to_string()));
    o.insert("bits".into(), json!(format!("{bits:08x}")));
    o.insert("target".into(), json!(hex(&tip.header.target().to_be_bytes())));
    o.insert("difficulty".into(), json!(difficulty(bits)));
    o.insert(
        "verificationprogress".into(),
        json!(c.verification_progress(tip.height, crate::clock::unix_now())),
    );
    if let Some(base) = snapshot {
        o.insert("snapshot_blockhash".into(), json!(base.to_string()));
    }
    // blvm has one coins cache of -dbcache bytes in front of the database (no separate
    // database cache), so the whole budget is the tip cache.
    o.insert("coins_db_cache_bytes".into(), json!(0));
    o.insert("coins_tip_cache_bytes".into(), json!(c.dbcache_bytes()));
    o.insert("validated".into(), json!(validated));
    Value::Object(o)
}

/// `getchainstates`: the chainstates in Core's shape, the historical one (validating the blocks
/// below a snapshot's base) first, then the current one.
pub(super) fn getchainstates(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    let c = node.lock_chain();
    let mut list = Vec::new();
    if let Some(h) = c.historical_tip() {
        list.push(chainstate_json(&c, h, None, true));
    }
    list.push(chainstate_json(&c, c.tip(), c.snapshot_blockhash(), c.chainstate_validated()));
    Ok(json!({"headers": c.best_header().height, "chainstates": list}))
}

/// `loadtxoutset "path"`: Core's AssumeUTXO load. The snapshot's coins become the chainstate
/// the node serves, at the snapshot's base block; the blocks below it are validated in the
/// background. Errors in Core's order, codes and words.
pub(super) fn loadtxoutset(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let path = abs_path(&node.settings.net_dir, p.str(0)?);
    let shown = path.display().to_string();
    let network = node.lock_chain().params().network;
    let Ok(file) = std::fs::File::open(&path) else {
        return Err(RpcError::param(format!("Couldn't open file {shown} for reading.")));
    };
    // No length given: a file too short for its coin count fails while loading, with Core's
    // "Bad snapshot format or truncated snapshot" (the reader allocates nothing from counts).
    let src = std::io::BufReader::with_capacity(1 << 16, file);
    let mut reader = SnapshotReader::new(src, network, None)
        .map_err(|e| RpcError::new(code::DESERIALIZATION_ERROR, format!("Unable to parse metadata: {e}")))?;
    let mempool = node.mempool();
    let control = Arc::clone(&node.control);
    let interrupted = move || control.is_shutting_down();
    let mut c = node.lock_chain();
    let activated = c
        .activate_snapshot(&mut reader, mempool.is_empty(), &interrupted)
        .map_err(|e| RpcError::new(code::INTERNAL_ERROR, e.to_string()))?
        .map_err(|reason| RpcError::new(code::INTERNAL_ERROR, format!("Unable to load UTXO snapshot: {reason}. ({shown})")))?;
    drop(c);
    // As Core: blocks below the base cannot be served until the snapshot is validated.
    node.net().set_snapshot_limited(true);
    Ok(json!({
        "coins_loaded": activated.coins_loaded,
        "tip_hash": activated.base_hash.to_string(),
        "base_height": activated.base_height,
        "path": shown,
    }))
}

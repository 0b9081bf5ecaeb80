//! UTXO snapshots and chainstates: `dumptxoutset` (Core's snapshot file of the UTXO set at the
//! tip) and `getchainstates`.

use super::super::error::{code, RpcError};
use super::super::params::Params;
use super::blockchain::difficulty;
use crate::chain::SnapshotViewError;
use crate::chainstate::snapshot::write_snapshot;
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

/// `getchainstates`: the current chainstate in Core's shape.
pub(super) fn getchainstates(node: &Arc<RpcContext>, _p: &Params) -> Result<Value, RpcError> {
    let c = node.lock_chain();
    let tip = c.tip();
    let bits = tip.header.bits.to_consensus();
    // blvm has one coins cache of -dbcache bytes in front of the database (no separate
    // database cache), so the whole budget is the tip cache.
    let mut chainstate = json!({
        "blocks": tip.height,
        "bestblockhash": tip.hash.to_string(),
        "bits": format!("{bits:08x}"),
        "target": hex(&tip.header.target().to_be_bytes()),
        "difficulty": difficulty(bits),
        "verificationprogress": c.verification_progress(tip.height, crate::clock::unix_now()),
        "coins_db_cache_bytes": 0,
        "coins_tip_cache_bytes": c.dbcache_bytes(),
        "validated": c.chainstate_validated(),
    });
    if let Some(base) = c.snapshot_blockhash() {
        chainstate["snapshot_blockhash"] = json!(base.to_string());
    }
    Ok(json!({"headers": c.best_header().height, "chainstates": [chainstate]}))
}

//! TRUC (version 3) rules across a package (Core's PackageTRUCChecks): the single-transaction
//! checks in `accept.rs` see only parents already in the pool, so a package could otherwise
//! give a TRUC transaction two unconfirmed parents, a parent and a child, or a sibling. Run on
//! the members validated together, before they are added, with Core's messages.

use super::accept::{TRUC_CHILD_MAX_VSIZE, TRUC_MAX_VSIZE, TRUC_VERSION};
use super::pool::Pool;
use bitcoin::{Transaction, Txid, Wtxid};
use std::collections::HashSet;

/// The parent a TRUC child's checks look at: the first one found in the pool, else in the package.
struct ParentInfo {
    txid: Txid,
    wtxid: Wtxid,
    version: i32,
    has_mempool_descendant: bool,
}

fn ids(tx: &Transaction) -> String {
    format!("{} (wtxid={})", tx.compute_txid(), tx.compute_wtxid())
}

/// Core's PackageTRUCChecks for member `tx` of `package`: the error text (to follow
/// "TRUC-violation, ") if the package breaks a TRUC rule at `tx`. Costs the package's inputs
/// plus `tx`'s pool parents.
pub fn package_truc_error(pool: &Pool, tx: &Transaction, package: &[&Transaction]) -> Option<String> {
    let txid = tx.compute_txid();
    let vsize = tx.vsize() as u64;
    let spent: HashSet<Txid> = tx.input.iter().map(|i| i.previous_output.txid).collect();
    let in_package: Vec<&Transaction> = package.iter().copied().filter(|p| spent.contains(&p.compute_txid())).collect();
    let mut pool_parents: Vec<Txid> = spent.iter().copied().filter(|t| pool.contains(t)).collect();
    pool_parents.sort_unstable();
    if tx.version.0 != TRUC_VERSION {
        let truc_parent = pool_parents
            .iter()
            .filter_map(|t| pool.get(t).map(|e| e.tx.as_ref()))
            .chain(in_package.iter().copied())
            .find(|p| p.version.0 == TRUC_VERSION)?;
        return Some(format!(
            "non-version=3 tx {} cannot spend from version=3 tx {}",
            ids(tx),
            ids(truc_parent)
        ));
    }
    if vsize > TRUC_MAX_VSIZE {
        return Some(format!(
            "version=3 tx {} is too big: {vsize} > {TRUC_MAX_VSIZE} virtual bytes",
            ids(tx)
        ));
    }
    let parents = pool_parents.len() + in_package.len();
    if parents + 1 > 2 {
        return Some(format!("tx {} would have too many ancestors", ids(tx)));
    }
    // A pool parent with a parent of its own makes three generations.
    if let Some(e) = pool_parents.first().and_then(|t| pool.get(t)) {
        if 1 + e.parents.len() + in_package.len() + 1 > 2 {
            return Some(format!("tx {} would have too many ancestors", ids(tx)));
        }
    }
    if parents == 0 {
        return None;
    }
    if vsize > TRUC_CHILD_MAX_VSIZE {
        return Some(format!(
            "version=3 child tx {} is too big: {vsize} > {TRUC_CHILD_MAX_VSIZE} virtual bytes",
            ids(tx)
        ));
    }
    let parent = match pool_parents.first().and_then(|t| pool.get(t)) {
        Some(e) => ParentInfo {
            txid: e.txid,
            wtxid: e.wtxid,
            version: e.tx.version.0,
            has_mempool_descendant: !e.children.is_empty(),
        },
        None => {
            let p = in_package[0];
            ParentInfo {
                txid: p.compute_txid(),
                wtxid: p.compute_wtxid(),
                version: p.version.0,
                has_mempool_descendant: false,
            }
        }
    };
    if parent.version != TRUC_VERSION {
        return Some(format!(
            "version=3 tx {} cannot spend from non-version=3 tx {} (wtxid={})",
            ids(tx),
            parent.txid,
            parent.wtxid
        ));
    }
    let sibling_limit = || format!("tx {} (wtxid={}) would exceed descendant count limit", parent.txid, parent.wtxid);
    for other in package.iter().filter(|p| p.compute_txid() != txid) {
        for i in &other.input {
            if i.previous_output.txid == parent.txid {
                return Some(sibling_limit());
            }
            if i.previous_output.txid == txid {
                return Some(format!("tx {} would have too many ancestors", ids(other)));
            }
        }
    }
    parent.has_mempool_descendant.then(sibling_limit)
}

/// The first TRUC violation among `package`'s members, in order, as Core reports it
/// ("TRUC-violation, …").
pub fn package_truc_violation(pool: &Pool, package: &[&Transaction]) -> Option<String> {
    package
        .iter()
        .find_map(|tx| package_truc_error(pool, tx, package))
        .map(|e| format!("TRUC-violation, {e}"))
}

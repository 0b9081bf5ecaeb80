//! BIP157 serving (`-peerblockfilters`): `getcfilters`, `getcfheaders` and `getcfcheckpt`
//! answered from the block filter index with Core's limits (PrepareBlockFilterRequest and the
//! three ProcessGetCF* handlers). Pure over the chain; the connection's reader sends the answers.

use super::stale_blocks::block_request_allowed;
use crate::chain::ChainManager;
use bitcoin::bip158::FilterHeader;
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_filter::{CFCheckpt, CFHeaders, CFilter};
use bitcoin::BlockHash;

/// Most filters one `getcfilters` may ask for (Core's MAX_GETCFILTERS_SIZE).
pub const MAX_GETCFILTERS_SIZE: u32 = 1000;
/// Most filter hashes one `getcfheaders` may ask for (Core's MAX_GETCFHEADERS_SIZE).
pub const MAX_GETCFHEADERS_SIZE: u32 = 2000;
/// Spacing of the filter headers in a `cfcheckpt` (BIP157's and Core's CFCHECKPT_INTERVAL).
pub const CFCHECKPT_INTERVAL: u32 = 1000;
/// BIP158's basic filter type, the only one there is.
pub const BASIC_FILTER: u8 = 0;
/// Filters read from the index per chain-lock acquisition while serving a `getcfilters`, so a
/// request of 1,000 large filters never sits in memory at once.
pub const FILTER_BATCH: usize = 50;

/// What to do with a BIP157 request.
#[derive(Debug)]
pub enum Answer {
    /// Core disconnects the peer (not discouraged): unsupported type, unknown or withheld stop
    /// block, start after stop, too many asked for. The text is Core's debug line.
    Refuse(String),
    /// The index cannot answer (not synced that far): logged, nothing sent, as Core.
    Unavailable(String),
    /// `cfheaders` or `cfcheckpt`, ready to send.
    Send(Box<NetworkMessage>),
    /// `getcfilters`: the blocks whose filters go out, in height order (read in batches with
    /// [`filters`]).
    Filters(Vec<BlockHash>),
}

/// Answers a `getcfilters`, `getcfheaders` or `getcfcheckpt`; `serving` is `-peerblockfilters`.
/// Any other message gets `None`.
pub fn answer(c: &ChainManager, serving: bool, msg: &NetworkMessage) -> Option<Answer> {
    Some(match msg {
        NetworkMessage::GetCFilters(g) => match prepare(c, serving, g.filter_type, g.start_height, &g.stop_hash, MAX_GETCFILTERS_SIZE) {
            Err(a) => a,
            Ok(_) => Answer::Filters(range(c, &g.stop_hash, g.start_height)),
        },
        NetworkMessage::GetCFHeaders(g) => match prepare(c, serving, g.filter_type, g.start_height, &g.stop_hash, MAX_GETCFHEADERS_SIZE) {
            Err(a) => a,
            Ok(_) => cfheaders(c, g.filter_type, g.start_height, &g.stop_hash),
        },
        NetworkMessage::GetCFCheckpt(g) => match prepare(c, serving, g.filter_type, 0, &g.stop_hash, u32::MAX) {
            Err(a) => a,
            Ok(stop_height) => cfcheckpt(c, g.filter_type, stop_height, &g.stop_hash),
        },
        _ => return None,
    })
}

/// Core's PrepareBlockFilterRequest: a filter type we serve, a known stop block the peer may
/// fetch, `start <= stop` and fewer than `max_diff` blocks apart. Returns the stop height.
fn prepare(c: &ChainManager, serving: bool, filter_type: u8, start: u32, stop: &BlockHash, max_diff: u32) -> Result<u32, Answer> {
    if !serving || filter_type != BASIC_FILTER {
        return Err(Answer::Refuse(format!(
            "peer requested unsupported block filter type: {filter_type}"
        )));
    }
    let Some(e) = c.entry(stop).filter(|e| block_request_allowed(c, e)) else {
        return Err(Answer::Refuse(format!("peer requested invalid block hash: {stop}")));
    };
    if start > e.height {
        return Err(Answer::Refuse(format!(
            "peer sent invalid getcfilters/getcfheaders with start height {start} and stop height {}",
            e.height
        )));
    }
    if e.height - start >= max_diff {
        return Err(Answer::Refuse(format!(
            "peer requested too many cfilters/cfheaders: {} / {max_diff}",
            u64::from(e.height - start) + 1
        )));
    }
    Ok(e.height)
}

/// Hashes of the blocks at heights `start..=stop's height` on `stop`'s chain, oldest first
/// (callers bound the length through [`prepare`]): read off the active chain when `stop` is on
/// it, else walked back from `stop`.
fn range(c: &ChainManager, stop: &BlockHash, start: u32) -> Vec<BlockHash> {
    if let Some(stop_height) = c.is_active(stop).then(|| c.entry(stop).map(|e| e.height)).flatten() {
        return (start..=stop_height).filter_map(|h| c.hash_at(h)).collect();
    }
    let mut out = Vec::new();
    let mut cur = c.entry(stop);
    while let Some(e) = cur.filter(|e| e.height >= start) {
        out.push(e.hash);
        if e.height == 0 {
            break;
        }
        cur = c.entry(&e.header.prev_blockhash);
    }
    out.reverse();
    out
}

/// The block at `height` on `stop`'s chain: an active chain lookup when `stop` is on it.
fn block_at(c: &ChainManager, stop: &BlockHash, height: u32) -> Option<BlockHash> {
    if c.is_active(stop) {
        c.hash_at(height)
    } else {
        c.ancestor(stop, height).map(|e| e.hash)
    }
}

/// Core's "Failed to find block filter ... in index" refusal to answer: `what` is the missing
/// part (header, hashes), `at` the request's position (`start_height=..` or `height=..`).
fn not_in_index(what: &str, at: String, stop: &BlockHash) -> Answer {
    Answer::Unavailable(format!(
        "Failed to find block filter {what} in index: filter_type=basic, {at}, stop_hash={stop}"
    ))
}

/// The filter header of `hash` from the index (its stored ids: no filter is read).
fn filter_header(c: &ChainManager, hash: &BlockHash) -> Option<FilterHeader> {
    c.filter_ids(hash).ok().flatten().map(|ids| ids.header)
}

/// `cfilter` messages for `hashes`; `Err` names the first block the index has no filter for.
pub fn filters(c: &ChainManager, hashes: &[BlockHash]) -> Result<Vec<NetworkMessage>, String> {
    hashes
        .iter()
        .map(|h| match c.block_filter(h) {
            Ok(Some(r)) => Ok(NetworkMessage::CFilter(CFilter {
                filter_type: BASIC_FILTER,
                block_hash: *h,
                filter: r.filter,
            })),
            _ => Err(format!("Failed to find block filter in index: filter_type=basic, block_hash={h}")),
        })
        .collect()
}

/// Core's ProcessGetCFHeaders: the filter header before `start` and the filter hashes up to
/// stop, all from the index's stored ids (no filter is read or hashed).
fn cfheaders(c: &ChainManager, filter_type: u8, start: u32, stop: &BlockHash) -> Answer {
    let previous_filter_header = if start == 0 {
        FilterHeader::all_zeros()
    } else {
        match block_at(c, stop, start - 1).and_then(|h| filter_header(c, &h)) {
            Some(h) => h,
            None => return not_in_index("header", format!("start_height={start}"), stop),
        }
    };
    let mut filter_hashes = Vec::new();
    for h in range(c, stop, start) {
        match c.filter_ids(&h) {
            Ok(Some(ids)) => filter_hashes.push(ids.hash),
            _ => return not_in_index("hashes", format!("start_height={start}"), stop),
        }
    }
    Answer::Send(Box::new(NetworkMessage::CFHeaders(CFHeaders {
        filter_type,
        stop_hash: *stop,
        previous_filter_header,
        filter_hashes,
    })))
}

/// Core's ProcessGetCFCheckPt: the filter headers at heights 1000, 2000, ... up to stop.
fn cfcheckpt(c: &ChainManager, filter_type: u8, stop_height: u32, stop: &BlockHash) -> Answer {
    let mut filter_headers = Vec::with_capacity((stop_height / CFCHECKPT_INTERVAL) as usize);
    for i in 1..=stop_height / CFCHECKPT_INTERVAL {
        let height = i * CFCHECKPT_INTERVAL;
        match block_at(c, stop, height).and_then(|h| filter_header(c, &h)) {
            Some(h) => filter_headers.push(h),
            None => return not_in_index("header", format!("height={height}"), stop),
        }
    }
    Answer::Send(Box::new(NetworkMessage::CFCheckpt(CFCheckpt {
        filter_type,
        stop_hash: *stop,
        filter_headers,
    })))
}

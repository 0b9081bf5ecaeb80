//! `-assumevalid`: whether a block's scripts may go unchecked, decided exactly as Core's
//! ConnectBlock does, plus the best header that decision needs (Core's `m_best_header`).
//!
//! Scripts are skipped only when the assumed-valid block is in the block index, the block being
//! connected is its ancestor and an ancestor of the best header, the best header has at least
//! the minimum chain work, and the best header is more than two weeks of equivalent proof of
//! work past the block. Every other rule is still checked.

use super::{BlockIndexEntry, ChainManager};
use bitcoin::{BlockHash, Work};
use std::collections::HashMap;

/// Core's limit: a block must be buried under more than this much equivalent time (seconds).
pub const TWO_WEEKS: i64 = 60 * 60 * 24 * 7 * 2;

/// Heights between the marks an [`AncestorWalk`] keeps.
const STRIDE: u32 = 1024;

/// Core's GetBlockProofEquivalentTime(to, from, tip): the work between `from` and `to` in
/// seconds at the tip's block work and the target spacing; negative when `from` has more work.
pub fn proof_equivalent_time(to: Work, from: Work, tip_block_work: Work, spacing: u64) -> i64 {
    let (to, from, tip) = (low_u128(to), low_u128(from), low_u128(tip_block_work).max(1));
    let (diff, sign) = if to > from { (to - from, 1) } else { (from - to, -1) };
    let seconds = diff.checked_mul(u128::from(spacing)).map_or(u128::MAX, |w| w / tip);
    sign * i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// The work as a u128, saturating (chain work stays far below 2^128 on every network).
fn low_u128(w: Work) -> u128 {
    let be = w.to_be_bytes();
    if be[..16].iter().any(|b| *b != 0) {
        return u128::MAX;
    }
    let mut low = [0u8; 16];
    low.copy_from_slice(&be[16..]);
    u128::from_be_bytes(low)
}

/// The ancestors of one block, for questions at rising heights: one walk records a mark every
/// [`STRIDE`] heights, then each answer walks at most two strides and keeps that stretch.
pub struct AncestorWalk {
    top: BlockHash,
    top_height: u32,
    /// `marks[k]` is the ancestor at height `k * STRIDE`.
    marks: Vec<BlockHash>,
    /// The ancestors at `window_base..window_base + window.len()`.
    window_base: u32,
    window: Vec<BlockHash>,
}

impl AncestorWalk {
    /// Prepares answers about `top`'s ancestors (one walk down to genesis).
    pub fn new(top: &BlockIndexEntry, index: &HashMap<BlockHash, BlockIndexEntry>) -> Self {
        let mut marks = vec![top.hash; (top.height / STRIDE + 1) as usize];
        walk_down(index, top.hash, top.height, 0, |h, hash| {
            if h % STRIDE == 0 {
                marks[(h / STRIDE) as usize] = hash;
            }
        });
        AncestorWalk {
            top: top.hash,
            top_height: top.height,
            marks,
            window_base: 0,
            window: Vec::new(),
        }
    }

    /// The block whose ancestors this answers about.
    pub fn top(&self) -> BlockHash {
        self.top
    }

    /// The ancestor at `height` (None above the top).
    pub fn at(&mut self, height: u32, index: &HashMap<BlockHash, BlockIndexEntry>) -> Option<BlockHash> {
        if height > self.top_height {
            return None;
        }
        let offset = height.wrapping_sub(self.window_base) as usize;
        if height < self.window_base || offset >= self.window.len() {
            let base = height / STRIDE * STRIDE;
            let above = base + STRIDE;
            let (from, from_height) = if above <= self.top_height {
                (self.marks[(above / STRIDE) as usize], above)
            } else {
                (self.top, self.top_height)
            };
            let mut window = Vec::with_capacity((from_height - base + 1) as usize);
            walk_down(index, from, from_height, base, |_, hash| window.push(hash));
            window.reverse();
            self.window_base = base;
            self.window = window;
        }
        self.window.get((height - self.window_base) as usize).copied()
    }
}

/// Visits `from` (at `from_height`) and its ancestors down to height `to`, highest first.
fn walk_down(
    index: &HashMap<BlockHash, BlockIndexEntry>,
    from: BlockHash,
    from_height: u32,
    to: u32,
    mut visit: impl FnMut(u32, BlockHash),
) {
    let mut cur = index.get(&from);
    let mut h = from_height;
    while let Some(e) = cur {
        visit(h, e.hash);
        if h == to || h == 0 {
            return;
        }
        h -= 1;
        cur = index.get(&e.header.prev_blockhash);
    }
}

/// Memos of the assumevalid decision: the assumed-valid block's ancestors, whether the best
/// header descends from it, and the last decision (logged only when it changes, as Core).
#[derive(Debug, Default)]
pub struct AssumeValidState {
    walk: Option<AncestorWalk>,
    /// (best header, whether the assumed-valid block is its ancestor).
    best_has_av: Option<(BlockHash, bool)>,
    /// Whether the last block connected had its scripts skipped.
    skipping: bool,
}

impl std::fmt::Debug for AncestorWalk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AncestorWalk({} at {})", self.top, self.top_height)
    }
}

impl ChainManager {
    /// Core's decision for the block `hash` at `height` being connected: true when its scripts
    /// are assumed valid (`-assumevalid`). Changes of the decision are logged with the reason.
    pub(super) fn scripts_assumed_valid(&mut self, hash: &BlockHash, height: u32) -> bool {
        let verdict = self.assume_valid_verdict(hash, height);
        let skip = verdict.is_ok();
        // As Core: logged when the decision changes, starting from "checking".
        if skip != self.assume_valid.skipping {
            match verdict {
                Ok(()) => tracing::info!("Disabling script verification at block #{height} ({hash})."),
                Err(reason) => tracing::info!("Enabling script verification at block #{height} ({hash}): {reason}."),
            }
            self.assume_valid.skipping = skip;
        }
        skip
    }

    fn assume_valid_verdict(&mut self, hash: &BlockHash, height: u32) -> Result<(), &'static str> {
        let av = self.settings.assume_valid.ok_or("assumevalid=0 (always verify)")?;
        let av_entry = self.index.get(&av).ok_or("assumevalid hash not in headers")?;
        if height > av_entry.height {
            return Err("block height above assumevalid height");
        }
        if self.assume_valid.walk.as_ref().map(|w| w.top()) != Some(av) {
            self.assume_valid.walk = Some(AncestorWalk::new(av_entry, &self.index));
        }
        let av_height = av_entry.height;
        let on_av_chain = match self.assume_valid.walk.as_mut() {
            Some(w) => w.at(height, &self.index) == Some(*hash),
            None => false,
        };
        if !on_av_chain {
            return Err("block not in assumevalid chain");
        }
        let best = self.best_header;
        let best_has_av = match self.assume_valid.best_has_av {
            Some((b, has)) if b == best => has,
            _ => {
                let has = self.ancestor(&best, av_height).map(|e| e.hash) == Some(av);
                self.assume_valid.best_has_av = Some((best, has));
                has
            }
        };
        // The block is an ancestor of the assumed-valid one: of the best header too when that
        // one descends from it; otherwise ask directly.
        if !best_has_av && self.ancestor(&best, height).map(|e| e.hash) != Some(*hash) {
            return Err("block not in best header chain");
        }
        let best_entry = self.index.get(&best).ok_or("best header not in the index")?;
        if best_entry.chainwork < self.settings.minimum_chain_work {
            return Err("best header chainwork below minimumchainwork");
        }
        let block_work = self.index.get(hash).map(|e| e.chainwork).ok_or("block not in the index")?;
        let spacing = self.params.consensus.pow_target_spacing;
        if proof_equivalent_time(best_entry.chainwork, block_work, best_entry.header.work(), spacing) <= TWO_WEEKS {
            return Err("block too recent relative to best header");
        }
        Ok(())
    }

    /// The header with the most work not known invalid (Core's `m_best_header`).
    pub fn best_header(&self) -> &BlockIndexEntry {
        self.index.get(&self.best_header).unwrap_or_else(|| self.tip())
    }

    /// Makes `hash`, just added to the index, the best header if it has more work.
    pub(super) fn consider_best_header(&mut self, hash: &BlockHash) {
        let Some(e) = self.index.get(hash) else { return };
        let best_work = self.index.get(&self.best_header).map(|b| b.chainwork);
        let more_work = match best_work {
            Some(w) => e.chainwork > w,
            None => true,
        };
        if !e.is_failed() && more_work {
            self.best_header = *hash;
        }
    }

    /// Recomputes the best header from the whole index (after blocks were marked or unmarked).
    pub(super) fn recompute_best_header(&mut self) {
        let best = self
            .index
            .values()
            .filter(|e| !e.is_failed())
            .max_by(|a, b| a.chainwork.cmp(&b.chainwork).then(b.sequence.cmp(&a.sequence)));
        if let Some(b) = best {
            self.best_header = b.hash;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(n: u64) -> Work {
        let mut be = [0u8; 32];
        be[24..].copy_from_slice(&n.to_be_bytes());
        Work::from_be_bytes(be)
    }

    /// A chain of `n` index entries with made-up hashes (the walk follows `prev_blockhash`).
    fn fake_index(n: u32) -> (HashMap<BlockHash, BlockIndexEntry>, Vec<BlockHash>) {
        use bitcoin::hashes::Hash;
        let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest).header;
        let mut index = HashMap::new();
        let mut hashes = Vec::new();
        for h in 0..n {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&(h + 1).to_le_bytes());
            let hash = BlockHash::from_byte_array(b);
            let mut header = genesis;
            header.prev_blockhash = hashes.last().copied().unwrap_or_else(BlockHash::all_zeros);
            let entry = BlockIndexEntry {
                header,
                hash,
                height: h,
                chainwork: work(u64::from(h) * 2),
                status: 0,
                n_tx: 0,
                data_pos: None,
                undo_pos: None,
                sequence: i64::from(h),
            };
            index.insert(hash, entry);
            hashes.push(hash);
        }
        (index, hashes)
    }

    #[test]
    fn ancestor_walk_answers_at_every_height() {
        let (index, hashes) = fake_index(5_000);
        let top = &index[&hashes[4_321]];
        let mut walk = AncestorWalk::new(top, &index);
        assert_eq!(walk.top(), hashes[4_321]);
        for h in (0..=4_321).chain([4_000, 17, 3_071, 3_072, 1_024, 1_023, 0, 4_321]) {
            assert_eq!(walk.at(h, &index), Some(hashes[h as usize]), "height {h}");
        }
        assert_eq!(walk.at(4_322, &index), None);
    }

    #[test]
    fn equivalent_time_is_cores() {
        // Regtest blocks have work 2: each block is one target spacing.
        assert_eq!(proof_equivalent_time(work(2 * 2100), work(2 * 84), work(2), 600), (2100 - 84) * 600);
        assert_eq!(proof_equivalent_time(work(10), work(30), work(2), 600), -6000);
        assert_eq!(
            proof_equivalent_time(Work::from_be_bytes([0xff; 32]), work(0), work(1), 600),
            i64::MAX
        );
        // 2016 blocks are exactly two weeks, which is not enough.
        assert_eq!(proof_equivalent_time(work(2 * 2016), work(0), work(2), 600), TWO_WEEKS);
    }
}

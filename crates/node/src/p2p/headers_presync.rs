//! Headers pre-synchronisation (Core's `HeadersSyncState`): a peer's header chain whose work is
//! below the anti-DoS threshold is first downloaded *without storing it*, keeping only the last
//! header, the accumulated work and one commitment bit every [`HEADER_COMMITMENT_PERIOD`]
//! headers. Only once the chain is shown to have enough work is it downloaded a second time;
//! the second copy must match the commitments, and its headers are released for normal
//! validation and storage in batches that trail [`REDOWNLOAD_BUFFER_SIZE`] headers behind (all
//! at once when the redownloaded work reaches the threshold). A low-work chain of any length
//! thus costs bounded memory per peer and nothing on disk.

use bitcoin::block::Header;
use bitcoin::pow::{CompactTarget, Target, Work};
use bitcoin::BlockHash;
use std::collections::VecDeque;
use std::hash::BuildHasher;

/// Headers between two commitment bits (Core's mainnet headerssync parameter).
pub const HEADER_COMMITMENT_PERIOD: u32 = 641;
/// Redownloaded headers held back until about 24 commitments have been checked after them.
pub const REDOWNLOAD_BUFFER_SIZE: usize = 15_218;
/// Seconds a header's time may be ahead of ours (Core's MAX_FUTURE_BLOCK_TIME).
const MAX_FUTURE_BLOCK_TIME: i64 = 2 * 60 * 60;

/// The block the peer's low-work chain forks from (in our index).
#[derive(Debug, Clone)]
pub struct ChainStart {
    /// Its hash.
    pub hash: BlockHash,
    /// Its height.
    pub height: u32,
    /// Its cumulative work.
    pub chainwork: Work,
    /// Its difficulty bits.
    pub bits: CompactTarget,
    /// Its median time past.
    pub mtp: i64,
}

/// Consensus rules the pre-sync needs (no block index).
#[derive(Debug, Clone, Copy)]
pub struct PresyncRules {
    /// Minimum-difficulty blocks allowed (testnet, regtest): any difficulty transition passes.
    pub allow_min_difficulty: bool,
    /// Blocks between retargets.
    pub adjustment_interval: u32,
    /// Easiest target allowed.
    pub pow_limit: Target,
}

impl PresyncRules {
    /// Core's PermittedDifficultyTransition: outside retarget heights the bits must not change;
    /// at a retarget the target may move by at most a factor of four (after compact rounding).
    pub fn permitted_transition(&self, height: u32, old: CompactTarget, new: CompactTarget) -> bool {
        if self.allow_min_difficulty {
            return true;
        }
        if !height.is_multiple_of(self.adjustment_interval) {
            return old == new;
        }
        let observed = Target::from_compact(new);
        let old_t = Target::from_compact(old);
        let clamp = |t: Target| if t > self.pow_limit { self.pow_limit } else { t };
        let round = |t: Target| Target::from_compact(t.to_compact_lossy());
        let largest = round(clamp(mul4(old_t)));
        let smallest = round(clamp(old_t.min_transition_threshold()));
        observed <= largest && observed >= smallest
    }
}

fn mul4(t: Target) -> Target {
    let b = t.to_be_bytes();
    // Shift left by two bits, saturating at the largest 256-bit value.
    if b[0] & 0xc0 != 0 {
        return Target::MAX;
    }
    let mut out = [0u8; 32];
    for i in 0..32 {
        let next = if i + 1 < 32 { b[i + 1] >> 6 } else { 0 };
        out[i] = (b[i] << 2) | next;
    }
    Target::from_be_bytes(out)
}

/// Bits appended at the back and consumed at the front, one bit per entry.
#[derive(Debug, Default)]
struct Bits {
    words: VecDeque<u64>,
    /// Bits already consumed from the front word.
    head: usize,
    len: usize,
}

impl Bits {
    fn push(&mut self, bit: bool) {
        let pos = self.head + self.len;
        if pos / 64 >= self.words.len() {
            self.words.push_back(0);
        }
        if bit {
            self.words[pos / 64] |= 1 << (pos % 64);
        }
        self.len += 1;
    }

    fn pop_front(&mut self) -> Option<bool> {
        if self.len == 0 {
            return None;
        }
        let bit = self.words[0] >> self.head & 1 == 1;
        self.head += 1;
        self.len -= 1;
        if self.head == 64 {
            self.words.pop_front();
            self.head = 0;
        }
        Some(bit)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Presync,
    Redownload,
    Final,
}

/// What one `headers` message did to a pre-sync.
#[derive(Debug, Default)]
pub struct Step {
    /// Headers now known to lead to enough work, in chain order from the chain start: to be
    /// validated and stored normally.
    pub release: Vec<Header>,
    /// Ask the peer for more, from this locator's first entry.
    pub request_more: Option<BlockHash>,
    /// Why the sync ended early (the peer's chain did not hold up); None on success.
    pub failed: Option<String>,
}

/// The pre-sync state of one peer (at most one per peer).
#[derive(Debug)]
pub struct HeadersPresync {
    start: ChainStart,
    min_work: Work,
    rules: PresyncRules,
    salt: std::hash::RandomState,
    commit_offset: u32,
    commitments: Bits,
    max_commitments: u64,
    phase: Phase,
    // Presync: the last header received and the work up to it.
    last_hash: BlockHash,
    last_bits: CompactTarget,
    height: u32,
    work: Work,
    // Redownload: headers held back, and where the held chain ends.
    buffer: VecDeque<Header>,
    buffer_last_hash: BlockHash,
    buffer_last_height: u32,
    redownload_work: Work,
    release_all: bool,
}

impl HeadersPresync {
    /// Starts a pre-sync of a chain forking from `start` that must reach `min_work`; `now` is
    /// the current UNIX time (it bounds how many headers the chain can possibly have).
    pub fn new(start: ChainStart, min_work: Work, rules: PresyncRules, now: i64) -> Self {
        let span = (now - start.mtp + MAX_FUTURE_BLOCK_TIME).max(0) as u64;
        // At most 6 headers per second of time (the median-time-past rule).
        let max_commitments = 6 * span / u64::from(HEADER_COMMITMENT_PERIOD);
        HeadersPresync {
            last_hash: start.hash,
            last_bits: start.bits,
            height: start.height,
            work: start.chainwork,
            buffer_last_hash: start.hash,
            buffer_last_height: start.height,
            redownload_work: start.chainwork,
            start,
            min_work,
            rules,
            salt: std::hash::RandomState::new(),
            commit_offset: rand::random::<u32>() % HEADER_COMMITMENT_PERIOD,
            commitments: Bits::default(),
            max_commitments,
            phase: Phase::Presync,
            buffer: VecDeque::new(),
            release_all: false,
        }
    }

    /// The block the chain forks from.
    pub fn start(&self) -> &ChainStart {
        &self.start
    }

    /// Height reached by the first pass (for logs and getpeerinfo-style progress).
    pub fn presync_height(&self) -> u32 {
        self.height
    }

    /// Whether the first pass is done and the chain is being downloaded again.
    pub fn redownloading(&self) -> bool {
        self.phase == Phase::Redownload
    }

    /// Headers held in memory (bounded by [`REDOWNLOAD_BUFFER_SIZE`] plus one message).
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    fn commitment(&self, h: &BlockHash) -> bool {
        self.salt.hash_one(h) & 1 == 1
    }

    /// Processes the next `headers` message (already checked for continuity and proof of
    /// work); `full` says whether it held the maximum number of headers (the peer has more).
    pub fn process(&mut self, headers: &[Header], full: bool) -> Step {
        let mut step = Step::default();
        if headers.is_empty() || self.phase == Phase::Final {
            return step;
        }
        match self.phase {
            Phase::Presync => match self.presync(headers) {
                Err(e) => step.failed = Some(e),
                Ok(()) if full || self.phase == Phase::Redownload => {}
                Ok(()) => step.failed = Some(format!("incomplete headers message at height={} (presync phase)", self.height)),
            },
            Phase::Redownload => {
                for h in headers {
                    if let Err(e) = self.redownloaded(h) {
                        step.failed = Some(e);
                        break;
                    }
                }
                if step.failed.is_none() {
                    step.release = self.pop_ready();
                    if !(full || self.buffer.is_empty() && self.release_all) {
                        step.failed = Some(format!(
                            "incomplete headers message at height={} (redownload phase)",
                            self.buffer_last_height
                        ));
                    }
                }
            }
            Phase::Final => {}
        }
        let done = self.phase == Phase::Redownload && self.buffer.is_empty() && self.release_all;
        if step.failed.is_some() || done {
            self.finish();
        } else {
            step.request_more = Some(match self.phase {
                Phase::Presync => self.last_hash,
                _ => self.buffer_last_hash,
            });
        }
        step
    }

    fn presync(&mut self, headers: &[Header]) -> Result<(), String> {
        if headers[0].prev_blockhash != self.last_hash {
            return Err(format!("non-continuous headers at height={} (presync phase)", self.height));
        }
        for h in headers {
            let next = self.height + 1;
            if !self.rules.permitted_transition(next, self.last_bits, h.bits) {
                return Err(format!("invalid difficulty transition at height={next} (presync phase)"));
            }
            let hash = h.block_hash();
            if next % HEADER_COMMITMENT_PERIOD == self.commit_offset {
                self.commitments.push(self.commitment(&hash));
                if self.commitments.len as u64 > self.max_commitments {
                    return Err(format!("exceeded max commitments at height={next} (presync phase)"));
                }
            }
            self.work = self.work + h.work();
            self.last_hash = hash;
            self.last_bits = h.bits;
            self.height = next;
        }
        if self.work >= self.min_work {
            tracing::debug!(target: "blvm::net", height = self.height, from = self.start.height, "headers pre-sync reached sufficient work; redownloading");
            self.phase = Phase::Redownload;
        }
        Ok(())
    }

    fn redownloaded(&mut self, h: &Header) -> Result<(), String> {
        let next = self.buffer_last_height + 1;
        if h.prev_blockhash != self.buffer_last_hash {
            return Err(format!("non-continuous headers at height={next} (redownload phase)"));
        }
        let prev_bits = self.buffer.back().map(|b| b.bits).unwrap_or(self.start.bits);
        if !self.rules.permitted_transition(next, prev_bits, h.bits) {
            return Err(format!("invalid difficulty transition at height={next} (redownload phase)"));
        }
        self.redownload_work = self.redownload_work + h.work();
        if self.redownload_work >= self.min_work {
            self.release_all = true;
        }
        let hash = h.block_hash();
        if !self.release_all && next % HEADER_COMMITMENT_PERIOD == self.commit_offset {
            let expected = self
                .commitments
                .pop_front()
                .ok_or_else(|| format!("commitment overrun at height={next} (redownload phase)"))?;
            if self.commitment(&hash) != expected {
                return Err(format!("commitment mismatch at height={next} (redownload phase)"));
            }
        }
        self.buffer.push_back(*h);
        self.buffer_last_hash = hash;
        self.buffer_last_height = next;
        Ok(())
    }

    fn pop_ready(&mut self) -> Vec<Header> {
        let mut out = Vec::new();
        while self.buffer.len() > REDOWNLOAD_BUFFER_SIZE || (!self.buffer.is_empty() && self.release_all) {
            if let Some(h) = self.buffer.pop_front() {
                out.push(h);
            }
        }
        out
    }

    fn finish(&mut self) {
        self.phase = Phase::Final;
        self.buffer = VecDeque::new();
        self.commitments = Bits::default();
    }

    /// Whether the sync has ended (successfully or not); the peer's state can be dropped.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Final
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::block::Version;
    use bitcoin::hashes::Hash;
    use bitcoin::TxMerkleNode;

    const EASY: u32 = 0x207f_ffff;

    fn rules() -> PresyncRules {
        PresyncRules {
            allow_min_difficulty: true,
            adjustment_interval: 2016,
            pow_limit: Target::MAX_ATTAINABLE_REGTEST,
        }
    }

    fn chain(from: BlockHash, n: usize, tag: u8) -> Vec<Header> {
        let mut out: Vec<Header> = Vec::with_capacity(n);
        let mut prev = from;
        for i in 0..n {
            let h = Header {
                version: Version::from_consensus(0x2000_0000),
                prev_blockhash: prev,
                merkle_root: TxMerkleNode::from_byte_array([tag; 32]),
                time: 1_600_000_000 + i as u32,
                bits: CompactTarget::from_consensus(EASY),
                nonce: i as u32,
            };
            prev = h.block_hash();
            out.push(h);
        }
        out
    }

    fn start() -> ChainStart {
        ChainStart {
            hash: BlockHash::all_zeros(),
            height: 0,
            chainwork: Work::from_be_bytes([0; 32]),
            bits: CompactTarget::from_consensus(EASY),
            mtp: 1_600_000_000,
        }
    }

    /// Work of `n` headers at the easiest regtest difficulty (2 each).
    fn work(n: u64) -> Work {
        let mut b = [0u8; 32];
        b[24..].copy_from_slice(&(2 * n).to_be_bytes());
        Work::from_be_bytes(b)
    }

    fn run(p: &mut HeadersPresync, served: &[Header]) -> (Vec<Header>, Option<String>) {
        let mut released = Vec::new();
        let mut from = 0usize;
        loop {
            let end = (from + 2000).min(served.len());
            let step = p.process(&served[from..end], end - from == 2000);
            released.extend(step.release);
            if let Some(e) = step.failed {
                return (released, Some(e));
            }
            let Some(next) = step.request_more else { return (released, None) };
            from = if next == start().hash {
                0
            } else {
                served.iter().position(|h| h.block_hash() == next).unwrap() + 1
            };
        }
    }

    #[test]
    fn enough_work_is_released_in_order_after_a_second_download() {
        let headers = chain(start().hash, 40_000, 1);
        let mut p = HeadersPresync::new(start(), work(39_000), rules(), 1_700_000_000);
        let (released, failed) = run(&mut p, &headers);
        assert_eq!(failed, None);
        assert!(p.is_finished());
        // The whole chain, in order.
        assert_eq!(released, headers);
    }

    #[test]
    fn low_work_chain_ends_with_nothing_released() {
        let headers = chain(start().hash, 30_001, 2);
        let mut p = HeadersPresync::new(start(), work(1_000_000), rules(), 1_700_000_000);
        let (released, failed) = run(&mut p, &headers);
        assert!(released.is_empty());
        assert!(
            failed.unwrap().contains("incomplete headers message"),
            "the chain ran out below the threshold"
        );
        assert_eq!(p.buffered(), 0);
    }

    #[test]
    fn a_different_chain_on_redownload_is_caught_by_the_commitments() {
        let first = chain(start().hash, 40_000, 3);
        let mut p = HeadersPresync::new(start(), work(39_990), rules(), 1_700_000_000);
        let mut from = 0usize;
        // First pass over `first`.
        while !p.redownloading() {
            let step = p.process(&first[from..from + 2000], true);
            assert!(step.failed.is_none());
            from += 2000;
        }
        // Second pass serves another chain of the same length: some commitment differs well
        // before the buffer would release anything.
        let other = chain(start().hash, 40_000, 4);
        let mut released = 0usize;
        let mut failed = None;
        for c in other.chunks(2000) {
            let step = p.process(c, true);
            released += step.release.len();
            if step.failed.is_some() {
                failed = step.failed;
                break;
            }
        }
        assert!(failed.unwrap().contains("commitment mismatch"));
        assert_eq!(released, 0, "nothing of the substituted chain was released");
    }

    #[test]
    fn too_long_a_chain_for_the_time_elapsed_is_refused() {
        let headers = chain(start().hash, 20_000, 5);
        // Ten minutes of possible chain (6 headers a second): at most 5 commitments, 3,205 headers.
        let now = start().mtp - MAX_FUTURE_BLOCK_TIME + 600;
        let mut p = HeadersPresync::new(start(), work(1_000_000), rules(), now);
        let (_, failed) = run(&mut p, &headers);
        assert!(failed.unwrap().contains("exceeded max commitments"));
    }

    #[test]
    fn difficulty_transitions_as_core() {
        let r = PresyncRules {
            allow_min_difficulty: false,
            adjustment_interval: 2016,
            pow_limit: Target::MAX_ATTAINABLE_MAINNET,
        };
        let b = CompactTarget::from_consensus(0x1b04_864c);
        assert!(r.permitted_transition(2017, b, b));
        assert!(!r.permitted_transition(2017, b, CompactTarget::from_consensus(0x1b04_864d)));
        // At a retarget: at most 4x easier, at most 4x harder.
        let t = Target::from_compact(b);
        let easier = mul4(t).to_compact_lossy();
        let too_easy = mul4(mul4(t)).to_compact_lossy();
        let harder = t.min_transition_threshold().to_compact_lossy();
        let too_hard = t.min_transition_threshold().min_transition_threshold().to_compact_lossy();
        assert!(r.permitted_transition(4032, b, easier));
        assert!(r.permitted_transition(4032, b, harder));
        assert!(!r.permitted_transition(4032, b, too_easy));
        assert!(!r.permitted_transition(4032, b, too_hard));
        // Never easier than the limit.
        let limit = r.pow_limit.to_compact_lossy();
        assert!(r.permitted_transition(4032, limit, limit));
    }

    #[test]
    fn bit_queue_round_trips() {
        let mut b = Bits::default();
        let pattern: Vec<bool> = (0..1000).map(|i| (i * 7 + i / 3) % 5 < 2).collect();
        for &x in &pattern {
            b.push(x);
        }
        let back: Vec<bool> = std::iter::from_fn(|| b.pop_front()).collect();
        assert_eq!(back, pattern);
        assert!(b.words.len() <= 1);
    }
}

//! BIP9 version bits (Core's versionbits.cpp): the state of each deployment per retarget
//! period, the header version a new block signals with, and the "unknown new rules" check that
//! watches bits no known deployment uses.

use bitcoin::{BlockHash, Network};
use std::collections::HashMap;

/// The fixed top bits of a BIP9 version (`001` in the three highest bits).
pub const TOP_BITS: i32 = 0x2000_0000;
/// Mask selecting the top three bits.
const TOP_MASK: u32 = 0xE000_0000;
/// A start time meaning "active from genesis".
pub const ALWAYS_ACTIVE: i64 = -1;
/// A start time meaning "never starts".
pub const NEVER_ACTIVE: i64 = -2;
/// A timeout that never comes.
pub const NO_TIMEOUT: i64 = i64::MAX;
/// Bits watched for unknown soft forks. BIP323 reserves bits 5..=28 for miners' version rolling,
/// so only bits 0..=4 can carry a deployment Core warns about.
const WARNING_BITS: std::ops::Range<u8> = 0..5;

/// Where a deployment is in its BIP9 life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThresholdState {
    /// Before its start time.
    Defined,
    /// Miners signal; counting per period.
    Started,
    /// The threshold was reached; active from the next period (and the minimum height).
    LockedIn,
    /// The rules apply.
    Active,
    /// Timed out before locking in.
    Failed,
}

impl ThresholdState {
    /// Core's lowercase name (getdeploymentinfo).
    pub fn name(self) -> &'static str {
        match self {
            ThresholdState::Defined => "defined",
            ThresholdState::Started => "started",
            ThresholdState::LockedIn => "locked_in",
            ThresholdState::Active => "active",
            ThresholdState::Failed => "failed",
        }
    }
}

/// A BIP9 deployment's parameters (Core's Consensus::BIP9Deployment plus its period).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// Name as getdeploymentinfo shows it.
    pub name: &'static str,
    /// Version bit it signals with.
    pub bit: u8,
    /// Median time past from which signalling counts ([`ALWAYS_ACTIVE`], [`NEVER_ACTIVE`]).
    pub start: i64,
    /// Median time past after which an unlocked deployment fails.
    pub timeout: i64,
    /// Lowest height at which it may become active.
    pub min_activation_height: u32,
    /// Blocks per signalling period.
    pub period: u32,
    /// Signalling blocks per period needed to lock in.
    pub threshold: u32,
}

/// The deployments Core defines for `network` (only `testdummy` is live as of Core 31).
pub fn deployments(network: Network) -> Vec<Deployment> {
    let dummy = |start, timeout, period, threshold| Deployment {
        name: "testdummy",
        bit: 28,
        start,
        timeout,
        min_activation_height: 0,
        period,
        threshold,
    };
    match network {
        Network::Bitcoin => vec![dummy(1_199_145_601, 1_230_767_999, 2016, 1815)],
        Network::Testnet | Network::Testnet4 => vec![dummy(1_199_145_601, 1_230_767_999, 2016, 1512)],
        Network::Signet => vec![dummy(NEVER_ACTIVE, NO_TIMEOUT, 2016, 1815)],
        _ => vec![dummy(0, NO_TIMEOUT, 144, 108)],
    }
}

/// Signalling so far in one period (getdeploymentinfo's `statistics` and `signalling`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statistics {
    /// Blocks per period.
    pub period: u32,
    /// Signalling blocks needed.
    pub threshold: u32,
    /// Blocks of the period so far.
    pub elapsed: u32,
    /// Of those, the ones signalling.
    pub count: u32,
    /// Whether the threshold can still be reached in this period.
    pub possible: bool,
    /// Each block's signal, oldest first.
    pub signals: Vec<bool>,
}

/// One deployment as getdeploymentinfo reports it at a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentInfo {
    /// Its parameters.
    pub deployment: Deployment,
    /// State of the block itself.
    pub state: ThresholdState,
    /// State of its child.
    pub next: ThresholdState,
    /// First height with `state`.
    pub since: u32,
    /// Signalling in the block's period, while started or locked in.
    pub statistics: Option<Statistics>,
}

/// What the state machine needs to know about the header chain.
pub trait VersionChain {
    /// Height of a known block.
    fn height_of(&self, hash: &BlockHash) -> Option<u32>;
    /// Header version of a known block.
    fn version_of(&self, hash: &BlockHash) -> i32;
    /// Parent of a known block (None for genesis).
    fn parent_of(&self, hash: &BlockHash) -> Option<BlockHash>;
    /// The ancestor of `hash` at `height`.
    fn ancestor_of(&self, hash: &BlockHash, height: u32) -> Option<BlockHash>;
    /// Median time past of a known block.
    fn mtp_of(&self, hash: &BlockHash) -> i64;
}

/// Per-rule memo of the state at each period's last block (None = before genesis).
type Cache = HashMap<Option<BlockHash>, ThresholdState>;

/// Timing of one state machine (a deployment, or a watched bit).
#[derive(Debug, Clone, Copy)]
struct Rule {
    start: i64,
    timeout: i64,
    min_activation_height: u32,
    period: u32,
    threshold: u32,
}

/// Core's AbstractThresholdConditionChecker::GetStateFor: the state of blocks whose parent is
/// `prev`, computed per period from the last known one and memoised in `cache`.
fn state_for<C: VersionChain + ?Sized>(
    chain: &C,
    rule: Rule,
    prev: Option<BlockHash>,
    cache: &mut Cache,
    signals: &mut dyn FnMut(&BlockHash) -> bool,
) -> ThresholdState {
    match rule.start {
        ALWAYS_ACTIVE => return ThresholdState::Active,
        NEVER_ACTIVE => return ThresholdState::Failed,
        _ => {}
    }
    let period = rule.period.max(1);
    // The state is the same within a period: look it up at the previous period's last block.
    let mut at = prev.and_then(|p| {
        let h = chain.height_of(&p)?;
        let back = (h + 1) % period;
        if back > h {
            None
        } else {
            chain.ancestor_of(&p, h - back)
        }
    });
    let mut to_compute = Vec::new();
    while !cache.contains_key(&at) {
        let Some(hash) = at else {
            cache.insert(None, ThresholdState::Defined);
            break;
        };
        if chain.mtp_of(&hash) < rule.start {
            cache.insert(at, ThresholdState::Defined);
            break;
        }
        to_compute.push(hash);
        let h = chain.height_of(&hash).unwrap_or(0);
        at = h.checked_sub(period).and_then(|a| chain.ancestor_of(&hash, a));
    }
    let mut state = cache[&at];
    while let Some(hash) = to_compute.pop() {
        state = match state {
            ThresholdState::Defined if chain.mtp_of(&hash) >= rule.start => ThresholdState::Started,
            ThresholdState::Started => {
                let mut count = 0;
                let mut cur = Some(hash);
                for _ in 0..period {
                    let Some(c) = cur else { break };
                    if signals(&c) {
                        count += 1;
                    }
                    cur = chain.parent_of(&c);
                }
                if count >= rule.threshold {
                    ThresholdState::LockedIn
                } else if chain.mtp_of(&hash) >= rule.timeout {
                    ThresholdState::Failed
                } else {
                    ThresholdState::Started
                }
            }
            ThresholdState::LockedIn if chain.height_of(&hash).unwrap_or(0) + 1 >= rule.min_activation_height => ThresholdState::Active,
            s => s,
        };
        cache.insert(Some(hash), state);
    }
    state
}

fn sets_bit(version: i32, bit: u8) -> bool {
    (version as u32 & TOP_MASK) == TOP_BITS as u32 && (version >> bit) & 1 == 1
}

/// The deployments of one network with their memoised states (Core's VersionBitsCache).
#[derive(Debug)]
pub struct VersionBits {
    deployments: Vec<Deployment>,
    caches: Vec<Cache>,
    warning_rule: Rule,
    min_warning_height: u32,
    warning_caches: Vec<Cache>,
}

impl VersionBits {
    /// The deployments and unknown-bit watch of `network`.
    pub fn new(network: Network) -> Self {
        let deployments = deployments(network);
        // Core's WarningBitsConditionChecker: 90 % of 2016 on mainnet; 75 % of a retarget
        // interval on test chains (144 blocks on regtest).
        let (period, threshold) = match network {
            Network::Bitcoin => (2016, 1815),
            Network::Regtest => (144, 108),
            _ => (2016, 1512),
        };
        // Core's MinBIP9WarningHeight: segwit's activation height plus one period.
        let min_warning_height = match network {
            Network::Bitcoin => 483_840 + 2016,
            Network::Testnet => 834_624 + 2016,
            _ => 0,
        };
        VersionBits {
            caches: vec![Cache::new(); deployments.len()],
            deployments,
            warning_rule: Rule {
                start: 0,
                timeout: NO_TIMEOUT,
                min_activation_height: 0,
                period,
                threshold,
            },
            min_warning_height,
            warning_caches: vec![Cache::new(); WARNING_BITS.len()],
        }
    }

    /// The deployments tracked.
    pub fn deployments(&self) -> &[Deployment] {
        &self.deployments
    }

    /// State of deployment `i` for a block whose parent is `prev`.
    pub fn state<C: VersionChain + ?Sized>(&mut self, chain: &C, i: usize, prev: Option<BlockHash>) -> ThresholdState {
        deployment_state(chain, &self.deployments[i], &mut self.caches[i], prev)
    }

    /// Core's StateSinceHeight: the first height of the run of periods that share the state
    /// of a block whose parent is `prev` (0 while defined).
    pub fn since_height<C: VersionChain + ?Sized>(&mut self, chain: &C, i: usize, prev: Option<BlockHash>) -> u32 {
        let state = self.state(chain, i, prev);
        let Some(prev) = prev else { return 0 };
        if state == ThresholdState::Defined {
            return 0;
        }
        let period = self.deployments[i].period.max(1);
        let h = chain.height_of(&prev).unwrap_or(0);
        let Some(mut at) = chain.ancestor_of(&prev, h - (h + 1) % period) else {
            return 0;
        };
        loop {
            let ah = chain.height_of(&at).unwrap_or(0);
            let Some(earlier) = ah.checked_sub(period).and_then(|x| chain.ancestor_of(&at, x)) else {
                break;
            };
            if self.state(chain, i, Some(earlier)) != state {
                break;
            }
            at = earlier;
        }
        chain.height_of(&at).unwrap_or(0) + 1
    }

    /// Core's BIP9 Statistics for the period holding `block`: blocks elapsed in it, how many
    /// signal, and each one's signal, oldest first.
    pub fn statistics<C: VersionChain + ?Sized>(&self, chain: &C, i: usize, block: &BlockHash) -> Statistics {
        let d = &self.deployments[i];
        let period = d.period.max(1);
        let h = chain.height_of(block).unwrap_or(0);
        let elapsed = 1 + h % period;
        let mut signals = Vec::with_capacity(elapsed as usize);
        let mut cur = Some(*block);
        for _ in 0..elapsed {
            let Some(c) = cur else { break };
            signals.push(sets_bit(chain.version_of(&c), d.bit));
            cur = chain.parent_of(&c);
        }
        signals.reverse();
        let count = signals.iter().filter(|s| **s).count() as u32;
        Statistics {
            period,
            threshold: d.threshold,
            elapsed,
            count,
            possible: period - d.threshold >= elapsed - count,
            signals,
        }
    }

    /// Core's ComputeBlockVersion: the top bits plus the bit of every deployment that is
    /// started or locked in for a block on `prev`.
    pub fn block_version<C: VersionChain + ?Sized>(&mut self, chain: &C, prev: Option<BlockHash>) -> i32 {
        block_version(chain, &self.deployments, &mut self.caches, prev)
    }

    /// Core's CheckUnknownActivations for the chain ending at `tip`: watched bits that no known
    /// deployment explains and that have locked in (`false`) or activated (`true`).
    pub fn unknown_activations<C: VersionChain + ?Sized>(&mut self, chain: &C, tip: &BlockHash) -> Vec<(u8, bool)> {
        let VersionBits {
            deployments,
            caches,
            warning_rule,
            min_warning_height,
            warning_caches,
        } = self;
        let mut out = Vec::new();
        for (bit, cache) in WARNING_BITS.zip(warning_caches.iter_mut()) {
            let mut signals = |h: &BlockHash| {
                chain.height_of(h).unwrap_or(0) >= *min_warning_height
                    && sets_bit(chain.version_of(h), bit)
                    && (block_version(chain, deployments, caches, chain.parent_of(h)) >> bit) & 1 == 0
            };
            match state_for(chain, *warning_rule, Some(*tip), cache, &mut signals) {
                ThresholdState::Active => out.push((bit, true)),
                ThresholdState::LockedIn => out.push((bit, false)),
                _ => {}
            }
        }
        out
    }
}

fn deployment_state<C: VersionChain + ?Sized>(chain: &C, d: &Deployment, cache: &mut Cache, prev: Option<BlockHash>) -> ThresholdState {
    let rule = Rule {
        start: d.start,
        timeout: d.timeout,
        min_activation_height: d.min_activation_height,
        period: d.period,
        threshold: d.threshold,
    };
    state_for(chain, rule, prev, cache, &mut |h| sets_bit(chain.version_of(h), d.bit))
}

fn block_version<C: VersionChain + ?Sized>(chain: &C, deployments: &[Deployment], caches: &mut [Cache], prev: Option<BlockHash>) -> i32 {
    let mut v = TOP_BITS;
    for (d, cache) in deployments.iter().zip(caches.iter_mut()) {
        if matches!(
            deployment_state(chain, d, cache, prev),
            ThresholdState::Started | ThresholdState::LockedIn
        ) {
            v |= 1 << d.bit;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    /// A straight chain of (version, time), block hash = its height.
    struct Line(Vec<(i32, i64)>);

    fn hash(h: u32) -> BlockHash {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&(h + 1).to_le_bytes());
        BlockHash::from_byte_array(b)
    }

    fn height(hash: &BlockHash) -> u32 {
        u32::from_le_bytes(hash.to_byte_array()[..4].try_into().unwrap()) - 1
    }

    impl VersionChain for Line {
        fn height_of(&self, h: &BlockHash) -> Option<u32> {
            Some(height(h)).filter(|x| (*x as usize) < self.0.len())
        }
        fn version_of(&self, h: &BlockHash) -> i32 {
            self.0[height(h) as usize].0
        }
        fn parent_of(&self, h: &BlockHash) -> Option<BlockHash> {
            height(h).checked_sub(1).map(hash)
        }
        fn ancestor_of(&self, _: &BlockHash, at: u32) -> Option<BlockHash> {
            Some(hash(at))
        }
        fn mtp_of(&self, h: &BlockHash) -> i64 {
            self.0[height(h) as usize].1
        }
    }

    impl Line {
        fn push(&mut self, n: usize, version: i32) {
            for _ in 0..n {
                let t = self.0.len() as i64 + 1;
                self.0.push((version, t));
            }
        }
        fn tip(&self) -> BlockHash {
            hash(self.0.len() as u32 - 1)
        }
    }

    #[test]
    fn regtest_testdummy_starts_locks_in_and_activates_per_period() {
        let mut vb = VersionBits::new(Network::Regtest);
        let mut chain = Line(Vec::new());
        chain.push(1, 1); // genesis
        assert_eq!(vb.state(&chain, 0, Some(chain.tip())), ThresholdState::Defined);
        assert_eq!(vb.block_version(&chain, Some(chain.tip())), TOP_BITS);
        chain.push(143, TOP_BITS);
        // Block 144 opens the second period: started (start time 0 has passed).
        assert_eq!(vb.state(&chain, 0, Some(chain.tip())), ThresholdState::Started);
        assert_eq!(vb.block_version(&chain, Some(chain.tip())), TOP_BITS | 1 << 28);
        // 107 signalling blocks are one short of the threshold.
        chain.push(107, TOP_BITS | 1 << 28);
        chain.push(37, TOP_BITS);
        assert_eq!(vb.state(&chain, 0, Some(chain.tip())), ThresholdState::Started);
        chain.push(108, TOP_BITS | 1 << 28);
        chain.push(36, TOP_BITS);
        assert_eq!(vb.state(&chain, 0, Some(chain.tip())), ThresholdState::LockedIn);
        assert_eq!(vb.block_version(&chain, Some(chain.tip())), TOP_BITS | 1 << 28);
        chain.push(144, TOP_BITS);
        assert_eq!(vb.state(&chain, 0, Some(chain.tip())), ThresholdState::Active);
        assert_eq!(vb.block_version(&chain, Some(chain.tip())), TOP_BITS);
        // The memo answers the same for a parent inside an earlier period.
        assert_eq!(vb.state(&chain, 0, Some(hash(300))), ThresholdState::Started);
    }

    #[test]
    fn statistics_and_since_height_as_getdeploymentinfo_shows_them() {
        let mut vb = VersionBits::new(Network::Regtest);
        let mut chain = Line(Vec::new());
        chain.push(144, TOP_BITS);
        chain.push(57, TOP_BITS | 1 << 28);
        chain.push(3, TOP_BITS);
        // Tip 203: 60 blocks into the period that began at 144, 57 of them signalling.
        let st = vb.statistics(&chain, 0, &chain.tip());
        assert_eq!(
            (st.period, st.threshold, st.elapsed, st.count, st.possible),
            (144, 108, 60, 57, true)
        );
        assert_eq!(st.signals.iter().filter(|s| **s).count(), 57);
        assert!(st.signals[0] && !st.signals[59]);
        assert_eq!(vb.since_height(&chain, 0, Some(chain.tip())), 144);
        assert_eq!(vb.since_height(&chain, 0, Some(hash(100))), 0);
    }

    #[test]
    fn never_active_and_timed_out_deployments_never_signal() {
        let mut chain = Line(Vec::new());
        chain.push(5000, TOP_BITS);
        let mut signet = VersionBits::new(Network::Signet);
        assert_eq!(signet.state(&chain, 0, Some(chain.tip())), ThresholdState::Failed);
        // Mainnet's testdummy window closed in 2008: with times past it, the state is failed.
        let mut main = VersionBits::new(Network::Bitcoin);
        let mut late = Line(Vec::new());
        for _ in 0..3 * 2016 {
            late.0.push((TOP_BITS, 1_300_000_000));
        }
        assert_eq!(main.state(&late, 0, Some(late.tip())), ThresholdState::Failed);
        assert_eq!(main.block_version(&late, Some(late.tip())), TOP_BITS);
    }

    #[test]
    fn unknown_bits_warn_once_locked_in_and_known_or_reserved_bits_never() {
        let mut vb = VersionBits::new(Network::Regtest);
        let mut chain = Line(Vec::new());
        chain.push(144, TOP_BITS);
        // Bit 3 (unknown), bit 5 (reserved for version rolling) and bit 28 (testdummy, which
        // our own blocks set) each signalled by 108 blocks of one period.
        chain.push(108, TOP_BITS | 1 << 3 | 1 << 5 | 1 << 28);
        chain.push(35, TOP_BITS);
        // The state is that of the next block: still started until the period is complete.
        assert_eq!(vb.unknown_activations(&chain, &chain.tip()), vec![]);
        chain.push(1, TOP_BITS);
        assert_eq!(vb.unknown_activations(&chain, &chain.tip()), vec![(3, false)]);
        chain.push(144, TOP_BITS);
        assert_eq!(vb.unknown_activations(&chain, &chain.tip()), vec![(3, true)]);
        // 107 signalling blocks of bit 1 stay below the threshold.
        let mut below = Line(Vec::new());
        below.push(144, TOP_BITS);
        below.push(107, TOP_BITS | 1 << 1);
        below.push(38, TOP_BITS);
        assert_eq!(VersionBits::new(Network::Regtest).unknown_activations(&below, &below.tip()), vec![]);
    }
}

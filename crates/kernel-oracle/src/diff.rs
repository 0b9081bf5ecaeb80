//! The differential runner: drives every engine along the base chain and, at each height `h`,
//! submits mutated blocks built on the base block `h - 1` (the tip all engines hold), comparing
//! accept/reject and the resulting tip.
//!
//! State handling. Every engine loads the base chain once, block by block, never restarting.
//! An invalid block does not change an engine's state, so all mutations of one height can be
//! submitted in a row. Mutations that may be valid come last (at most one per height): when one
//! is accepted it becomes the tip (it has the same work as the base block `h`, and was seen
//! first), so the runner restores the common state by submitting the base blocks `h` (same work:
//! stored, not connected) and `h + 1` (more work: every engine reorganises back onto the base
//! chain) and continues at `h + 2`. Tips are compared after every submission and after the
//! restore.

use crate::base::BaseChain;
use crate::engine::{Engine, Outcome, Verdict};
use crate::mutator::{self, Ctx, Expect, Mutation, RuleClass};
use bitcoin::consensus::serialize;
use bitcoin::hex::DisplayHex;
use bitcoin::hex::FromHex;
use bitcoin::{Block, BlockHash};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Default seed of CI runs.
pub const DEFAULT_SEED: u64 = 0x0b17_c0de_d1ff_2026;
/// Default number of mutated blocks.
pub const DEFAULT_COUNT: usize = 2000;

/// What to run.
#[derive(Debug, Clone)]
pub struct DiffConfig {
    /// RNG seed (`BLVM_DIFF_SEED`, decimal or 0x-hex).
    pub seed: u64,
    /// Mutated blocks to compare (`BLVM_DIFF_COUNT`).
    pub count: usize,
    /// Only these classes (all when None).
    pub classes: Option<Vec<RuleClass>>,
    /// Do not mutate below this height (the engines still follow the base chain).
    pub min_height: u32,
    /// Stop after this many disagreements.
    pub max_disagreements: usize,
    /// Where reproducer files go.
    pub out_dir: PathBuf,
}

impl DiffConfig {
    /// Seed and count from `BLVM_DIFF_SEED` / `BLVM_DIFF_COUNT` (defaults: fixed seed, 2000).
    pub fn from_env() -> DiffConfig {
        let seed = std::env::var("BLVM_DIFF_SEED")
            .ok()
            .and_then(|s| parse_u64(&s))
            .unwrap_or(DEFAULT_SEED);
        let count = std::env::var("BLVM_DIFF_COUNT")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(DEFAULT_COUNT);
        DiffConfig {
            seed,
            count,
            ..DiffConfig::default()
        }
    }
}

impl Default for DiffConfig {
    fn default() -> Self {
        DiffConfig {
            seed: DEFAULT_SEED,
            count: DEFAULT_COUNT,
            classes: None,
            min_height: 1,
            max_disagreements: 20,
            out_dir: std::env::temp_dir().join("blvm-diff"),
        }
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// One engine's view after a submission.
#[derive(Debug, Clone)]
pub struct EngineView {
    /// Engine name.
    pub engine: &'static str,
    /// Its outcome.
    pub outcome: Outcome,
    /// Its tip afterwards.
    pub tip: (BlockHash, u32),
}

/// Engines that disagreed on a block.
#[derive(Debug, Clone)]
pub struct Disagreement {
    /// Seed of the run.
    pub seed: u64,
    /// Index of the mutation in the run (0-based).
    pub index: usize,
    /// The mutation (None for a base-chain block).
    pub mutation: Option<Mutation>,
    /// Height submitted at.
    pub height: u32,
    /// What each engine did.
    pub views: Vec<EngineView>,
    /// The reproducer file written.
    pub reproducer: Option<PathBuf>,
}

impl Disagreement {
    /// A human-readable reproducer: seed, index, mutation, verdicts and the block in hex.
    pub fn describe(&self, block: &Block) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "DISAGREEMENT seed={:#x} index={} height={}", self.seed, self.index, self.height);
        if let Some(m) = &self.mutation {
            let _ = writeln!(s, "  mutation: {} [{:?}, designed {:?}]: {}", m.kind, m.class, m.expect, m.detail);
        } else {
            let _ = writeln!(s, "  base-chain block (no mutation)");
        }
        for v in &self.views {
            let _ = writeln!(
                s,
                "  {}: {:?} {} -> tip {} at {}",
                v.engine, v.outcome.verdict, v.outcome.reason, v.tip.0, v.tip.1
            );
        }
        let _ = writeln!(
            s,
            "  state: base chain (Core's regtest-core-300 + deterministic extension) up to height {}",
            self.height - 1
        );
        let _ = writeln!(s, "  rerun: BLVM_DIFF_SEED={:#x} BLVM_DIFF_COUNT=<same count> cargo test -p blvm-kernel-oracle --features kernel --test differential", self.seed);
        if let Some(p) = &self.reproducer {
            let _ = writeln!(
                s,
                "  replay: cargo run -p blvm-kernel-oracle --features kernel --example replay -- {}",
                p.display()
            );
        }
        let _ = writeln!(s, "  block: {}", serialize(block).to_lower_hex_string());
        s
    }
}

/// Counts per mutation kind.
#[derive(Debug, Clone, Default)]
pub struct KindStats {
    /// Submitted.
    pub total: usize,
    /// Accepted by every engine.
    pub accepted: usize,
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    /// Mutated blocks compared.
    pub compared: usize,
    /// Disagreements (at most `max_disagreements`).
    pub disagreements: Vec<Disagreement>,
    /// Blocks of each disagreement, same order.
    pub disagreement_blocks: Vec<Block>,
    /// Per kind.
    pub per_kind: BTreeMap<&'static str, KindStats>,
    /// Per class.
    pub per_class: BTreeMap<RuleClass, usize>,
    /// Both rejected but with different reasons (normalised): (blvm reason, other reason) -> count.
    pub reason_mismatches: BTreeMap<(String, String), usize>,
    /// Kinds designed invalid that every engine accepted (a mutator weakness, not a failure).
    pub unexpected_accepts: BTreeMap<&'static str, usize>,
    /// Times the runner restored the common state after an accepted mutation.
    pub restores: usize,
    /// Heights that got mutations.
    pub heights_mutated: usize,
    /// Wall time spent in the run.
    pub elapsed: Duration,
    /// Time spent inside each engine's submit.
    pub engine_time: BTreeMap<&'static str, Duration>,
    /// Set when the run stopped early (state diverged, base chain rejected, too many failures).
    pub aborted: Option<String>,
}

impl Report {
    /// A multi-line summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "compared {} mutated blocks at {} heights in {:.1?} ({} state restores), {} disagreements",
            self.compared,
            self.heights_mutated,
            self.elapsed,
            self.restores,
            self.disagreements.len()
        );
        for (e, d) in &self.engine_time {
            let _ = writeln!(s, "  time in {e}: {d:.1?}");
        }
        if let Some(a) = &self.aborted {
            let _ = writeln!(s, "  ABORTED: {a}");
        }
        let _ = writeln!(
            s,
            "  per class: {}",
            self.per_class
                .iter()
                .map(|(c, n)| format!("{c:?}={n}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let _ = writeln!(
            s,
            "  per kind (accepted/total): {}",
            self.per_kind
                .iter()
                .map(|(k, v)| format!("{k}={}/{}", v.accepted, v.total))
                .collect::<Vec<_>>()
                .join(" ")
        );
        if !self.unexpected_accepts.is_empty() {
            let _ = writeln!(s, "  designed-invalid but accepted by all: {:?}", self.unexpected_accepts);
        }
        if !self.reason_mismatches.is_empty() {
            let _ = writeln!(s, "  both rejected, different reasons (informational):");
            for ((a, b), n) in &self.reason_mismatches {
                let _ = writeln!(s, "    {n:>4}x blvm={a} other={b}");
            }
        }
        s
    }
}

/// The leading reject token of a reason ("bad-cb-amount (..)" -> "bad-cb-amount").
fn reason_token(r: &str) -> String {
    r.split([' ', ',', '(', '[']).next().unwrap_or("").to_string()
}

fn submit_all(engines: &mut [&mut dyn Engine], block: &Block, times: &mut BTreeMap<&'static str, Duration>) -> Vec<EngineView> {
    engines
        .iter_mut()
        .map(|e| {
            let t = Instant::now();
            let outcome = e.submit(block);
            *times.entry(e.name()).or_default() += t.elapsed();
            EngineView {
                engine: e.name(),
                outcome,
                tip: e.tip(),
            }
        })
        .collect()
}

fn agree(views: &[EngineView]) -> bool {
    let first = &views[0];
    views
        .iter()
        .all(|v| v.outcome.verdict != Verdict::Error && v.outcome.accepted() == first.outcome.accepted() && v.tip == first.tip)
}

/// Brings every engine to base height `to` by submitting base blocks `from + 1..=to`; Err when
/// one is not accepted, when engines disagree on one (with `strict`), or when they do not all end
/// on the base block `to`. (After an accepted mutation at `from + 1` the base block there is
/// only stored, or connected where an engine had rejected the mutation; the next one
/// reorganises every engine back onto the base chain.)
fn advance(
    base: &BaseChain,
    engines: &mut [&mut dyn Engine],
    from: u32,
    to: u32,
    strict: bool,
    report: &mut Report,
) -> Result<(), (u32, Vec<EngineView>)> {
    for k in from + 1..=to {
        let b = base.block(k);
        let views = submit_all(engines, b, &mut report.engine_time);
        let ok = (!strict || agree(&views))
            && views.iter().all(|v| v.outcome.accepted())
            && (k < to || views.iter().all(|v| v.tip == (b.block_hash(), k)));
        if !ok {
            return Err((k, views));
        }
    }
    Ok(())
}

/// Runs the differential test along `base` over `engines` (the first is blvm by convention).
pub fn run(base: &BaseChain, cfg: &DiffConfig, engines: &mut [&mut dyn Engine]) -> Report {
    let start = Instant::now();
    let mut report = Report::default();
    let all = mutator::kinds();
    let pool: Vec<usize> = (0..all.len())
        .filter(|&i| cfg.classes.as_ref().map(|c| c.contains(&all[i].class)).unwrap_or(true))
        .collect();
    let top = base.tip_height();
    let genesis = base.block(0).block_hash();
    if let Some(e) = engines.iter().find(|e| e.tip() != (genesis, 0)) {
        report.aborted = Some(format!("{} does not start at the base genesis {genesis}: {:?}", e.name(), e.tip()));
        return report;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut tip = 0u32;
    let mut h = cfg.min_height.max(1);
    let mut rounds_at_top = 0u32;
    while report.compared < cfg.count && h <= top {
        if let Err((k, views)) = advance(base, engines, tip, h - 1, true, &mut report) {
            report.aborted = Some(format!("engines do not follow the base chain at height {k}"));
            record(&mut report, cfg, None, k, views, base.block(k).clone());
            break;
        }
        tip = h - 1;
        // Spread what is left over the heights that are left (about a third are used by restores).
        let remaining = cfg.count - report.compared;
        let heights_left = (f64::from(top - h + 1) * 0.6).max(1.0);
        let n = ((remaining as f64 / heights_left).ceil() as usize).clamp(1, remaining);
        let salt = u64::from(h).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(rounds_at_top).wrapping_mul(0xd1b5_4a32_d192_ed03);
        let mut rng = StdRng::seed_from_u64(cfg.seed ^ salt);
        let ctx = Ctx { base, h, now };
        // A valid mutation needs the base blocks h and h + 1 to restore, and h + 2 to go on with.
        let muts = mutator::generate(&ctx, &mut rng, n, &pool, h + 2 <= top);
        if !muts.is_empty() {
            report.heights_mutated += 1;
        }
        let base_tip = (base.block(h - 1).block_hash(), h - 1);
        let mut moved = false;
        for m in muts {
            let index = report.compared;
            report.compared += 1;
            let views = submit_all(engines, &m.block, &mut report.engine_time);
            let stats = report.per_kind.entry(m.kind).or_default();
            stats.total += 1;
            *report.per_class.entry(m.class).or_default() += 1;
            let all_accepted = views.iter().all(|v| v.outcome.accepted());
            if all_accepted {
                stats.accepted += 1;
                if m.expect == Expect::Invalid {
                    *report.unexpected_accepts.entry(m.kind).or_default() += 1;
                }
            }
            if views.iter().all(|v| v.outcome.verdict == Verdict::Rejected) && views.len() > 1 {
                let a = reason_token(&views[0].outcome.reason);
                for v in &views[1..] {
                    let b = reason_token(&v.outcome.reason);
                    if a != b {
                        *report.reason_mismatches.entry((a.clone(), b)).or_default() += 1;
                    }
                }
            }
            let moved_now = views.iter().any(|v| v.tip != base_tip);
            if !agree(&views) {
                let block = m.block.clone();
                record(&mut report, cfg, Some((index, m)), h, views, block);
                if report.disagreements.len() >= cfg.max_disagreements {
                    report.aborted = Some(format!("stopped after {} disagreements", report.disagreements.len()));
                    break;
                }
            }
            if moved_now {
                moved = true;
                break;
            }
        }
        if report.aborted.is_some() {
            break;
        }
        if moved {
            if h + 1 > top {
                report.aborted = Some(format!(
                    "a mutation at the last base height {h} was accepted: no base block left to restore with"
                ));
                break;
            }
            report.restores += 1;
            if let Err((k, views)) = advance(base, engines, h - 1, h + 1, false, &mut report) {
                report.aborted = Some(format!(
                    "engines did not return to the base chain at height {k} after an accepted mutation"
                ));
                record(&mut report, cfg, None, k, views, base.block(k).clone());
                break;
            }
            tip = h + 1;
            h += 2;
        } else if h == top && report.compared < cfg.count && rounds_at_top < 1000 {
            // Out of heights: keep drawing (invalid-only) mutations at the last one.
            rounds_at_top += 1;
        } else {
            h += 1;
        }
    }
    report.elapsed = start.elapsed();
    report
}

fn record(report: &mut Report, cfg: &DiffConfig, m: Option<(usize, Mutation)>, height: u32, views: Vec<EngineView>, block: Block) {
    let (index, mutation) = match m {
        Some((i, m)) => (i, Some(m)),
        None => (report.compared, None),
    };
    let mut d = Disagreement {
        seed: cfg.seed,
        index,
        mutation,
        height,
        views,
        reproducer: None,
    };
    let path = cfg.out_dir.join(format!("seed-{:x}-index-{index}.txt", cfg.seed));
    let body = format!(
        "{}height {height}\n{}\n",
        d.describe(&block).lines().map(|l| format!("# {l}\n")).collect::<String>(),
        serialize(&block).to_lower_hex_string()
    );
    if std::fs::create_dir_all(&cfg.out_dir)
        .and_then(|_| std::fs::write(&path, body))
        .is_ok()
    {
        d.reproducer = Some(path);
    }
    report.disagreements.push(d);
    report.disagreement_blocks.push(block);
}

/// Parses a reproducer file: the `height N` line and the block hex line.
pub fn read_reproducer(text: &str) -> Option<(u32, Block)> {
    let mut height = None;
    let mut block = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if let Some(h) = line.strip_prefix("height ") {
            height = h.trim().parse().ok();
        } else {
            block = Vec::<u8>::from_hex(line)
                .ok()
                .and_then(|b| bitcoin::consensus::deserialize(&b).ok());
        }
    }
    Some((height?, block?))
}

/// Replays one block: every engine follows the base chain to `height - 1`, then gets `block`.
pub fn replay(base: &BaseChain, height: u32, block: &Block, engines: &mut [&mut dyn Engine]) -> Result<Vec<EngineView>, String> {
    let mut report = Report::default();
    advance(base, engines, 0, height - 1, true, &mut report).map_err(|(k, v)| format!("base chain diverged at {k}: {v:?}"))?;
    Ok(submit_all(engines, block, &mut report.engine_time))
}

//! Acceptance: the differential test detects a broken consensus rule. blvm-node's coinbase
//! maturity is flipped from 100 to 99 through its test-only hook
//! (`ChainSettings::coinbase_maturity`); spending a coinbase at depth 99 must then make blvm and
//! Core disagree, while the same run with the real rule agrees.
//!
//! Needs `--features kernel`.
#![cfg(feature = "kernel")]

use blvm_kernel_oracle::base::BaseChain;
use blvm_kernel_oracle::diff::{self, DiffConfig, Report};
use blvm_kernel_oracle::engine::{BlvmEngine, Verdict};
use blvm_kernel_oracle::kernel::CoreEngine;
use blvm_kernel_oracle::mutator::RuleClass;

/// Coinbase-maturity mutations only, at the heights where the extension's anyone-can-spend
/// coinbases reach depth 99 and 100.
fn run_with_maturity(base: &BaseChain, maturity: u32) -> Report {
    let first_ext = base.core_tip + 1;
    let cfg = DiffConfig {
        classes: Some(vec![RuleClass::ImmatureInputs]),
        min_height: first_ext + 99,
        count: 24,
        ..DiffConfig::from_env()
    };
    let settings = blvm_node::chain::ChainSettings {
        coinbase_maturity: maturity,
        ..BlvmEngine::default_settings()
    };
    let mut blvm = BlvmEngine::new(settings).expect("blvm engine");
    let mut core = CoreEngine::spawn(env!("CARGO_BIN_EXE_blvm-kernel-worker").as_ref()).expect("core engine");
    let report = diff::run(base, &cfg, &mut [&mut blvm, &mut core]);
    println!("maturity {maturity}:\n{}", report.summary());
    report
}

#[test]
fn coinbase_maturity_99_is_caught_and_100_is_not() {
    let base = BaseChain::load().expect("base chain");

    let broken = run_with_maturity(&base, 99);
    assert!(!broken.disagreements.is_empty(), "a coinbase maturity of 99 went unnoticed");
    for (d, b) in broken.disagreements.iter().zip(&broken.disagreement_blocks) {
        println!("{}", d.describe(b));
        let m = d.mutation.as_ref().expect("a mutated block, not a base block");
        assert_eq!(m.kind, "immature_coinbase_99", "only the depth-99 spend may differ");
        let blvm = d.views.iter().find(|v| v.engine == "blvm").expect("blvm view");
        let core = d.views.iter().find(|v| v.engine == "core").expect("core view");
        assert_eq!(blvm.outcome.verdict, Verdict::Connected, "broken blvm accepts the premature spend");
        assert_eq!(core.outcome.verdict, Verdict::Rejected, "Core rejects it");
        assert!(
            core.outcome.reason.contains("bad-txns-premature-spend-of-coinbase"),
            "Core's reason: {}",
            core.outcome.reason
        );
        assert_ne!(blvm.tip, core.tip, "the tips differ too");
    }

    let sound = run_with_maturity(&base, blvm_node::chain::manager::COINBASE_MATURITY);
    assert!(
        sound.disagreements.is_empty(),
        "the real rule must agree with Core: {:?}",
        sound.disagreements
    );
    assert!(sound.aborted.is_none(), "{:?}", sound.aborted);
    assert!(
        sound.per_kind.get("immature_coinbase_99").map(|k| k.total).unwrap_or(0) > 0,
        "depth-99 spends were compared"
    );
    assert!(
        sound.per_kind.get("mature_coinbase_100").map(|k| k.accepted).unwrap_or(0) > 0,
        "a depth-100 spend was accepted by both"
    );
}

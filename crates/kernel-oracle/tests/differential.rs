//! Acceptance: blvm-node and Bitcoin Core (libbitcoinkernel) agree on accept/reject and on the
//! resulting tip for every mutated block, over `BLVM_DIFF_COUNT` (default 2,000) blocks drawn
//! with `BLVM_DIFF_SEED` (default fixed) across every rule class.
//!
//! Needs `--features kernel` (builds Bitcoin Core's libbitcoinkernel).
#![cfg(feature = "kernel")]

use blvm_kernel_oracle::base::BaseChain;
use blvm_kernel_oracle::diff::{self, DiffConfig};
use blvm_kernel_oracle::engine::BlvmEngine;
use blvm_kernel_oracle::kernel::CoreEngine;
use blvm_kernel_oracle::mutator::RuleClass;

#[test]
fn blvm_and_core_agree_on_every_mutated_block() {
    let base = BaseChain::load().expect("base chain (../shared/chains/regtest-core-300.hex)");
    let cfg = DiffConfig::from_env();
    let mut blvm = BlvmEngine::new(BlvmEngine::default_settings()).expect("blvm engine");
    let mut core = CoreEngine::spawn(env!("CARGO_BIN_EXE_blvm-kernel-worker").as_ref()).expect("core engine");
    let report = diff::run(&base, &cfg, &mut [&mut blvm, &mut core]);
    println!("seed {:#x}, count {}\n{}", cfg.seed, cfg.count, report.summary());
    for (d, b) in report.disagreements.iter().zip(&report.disagreement_blocks) {
        eprintln!("{}", d.describe(b));
    }
    assert!(
        report.disagreements.is_empty(),
        "{} disagreement(s) between blvm and Core (reproducers above)",
        report.disagreements.len()
    );
    assert!(report.aborted.is_none(), "run aborted: {:?}", report.aborted);
    assert!(
        report.compared >= cfg.count,
        "only {} of {} mutated blocks compared",
        report.compared,
        cfg.count
    );
    if cfg.count >= 2000 {
        for class in RuleClass::ALL {
            assert!(
                report.per_class.get(&class).copied().unwrap_or(0) > 0,
                "no mutation of class {class:?} was compared"
            );
        }
        assert!(
            report.restores > 0,
            "no valid mutation was compared (state restore never exercised)"
        );
    }
}

//! The mutator and runner without Core (no `kernel` feature needed): mutations are reproducible
//! from the seed, cover every rule class, and blvm alone rejects every designed-invalid kind
//! while the runner keeps its state on the base chain.

use bitcoin::consensus::serialize;
use blvm_kernel_oracle::base::{BaseChain, EXTENSION_BLOCKS};
use blvm_kernel_oracle::diff::{self, DiffConfig};
use blvm_kernel_oracle::engine::BlvmEngine;
use blvm_kernel_oracle::mutator::{self, Ctx, RuleClass};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::sync::OnceLock;

fn base() -> &'static BaseChain {
    static BASE: OnceLock<BaseChain> = OnceLock::new();
    BASE.get_or_init(|| BaseChain::load().expect("base chain (../shared/chains/regtest-core-300.hex)"))
}

#[test]
fn base_chain_is_cores_chain_plus_extension() {
    let b = base();
    assert_eq!(b.core_tip, 300);
    assert_eq!(b.tip_height(), 300 + EXTENSION_BLOCKS);
    // The extension's coinbases are anyone-can-spend, so depth-100 spends can be valid.
    let (_, out) = b.coinbase_payout(b.core_tip + 1);
    assert!(blvm_kernel_oracle::mining::is_anyone_can_spend(&out.script_pubkey));
}

#[test]
fn same_seed_same_blocks_other_seed_other_blocks() {
    let all: Vec<usize> = (0..mutator::kinds().len()).collect();
    let gen = |seed: u64, h: u32| -> Vec<Vec<u8>> {
        let mut rng = StdRng::seed_from_u64(seed);
        let ctx = Ctx {
            base: base(),
            h,
            now: 1_900_000_000,
        };
        mutator::generate(&ctx, &mut rng, 12, &all, true)
            .iter()
            .map(|m| serialize(&m.block))
            .collect()
    };
    for h in [5, 150, 250, 405] {
        let a = gen(42, h);
        assert!(!a.is_empty(), "mutations at height {h}");
        assert_eq!(a, gen(42, h), "height {h}: same seed, same blocks");
        assert_ne!(a, gen(43, h), "height {h}: another seed, other blocks");
    }
}

#[test]
fn every_class_has_a_kind_that_applies_to_the_base_chain() {
    let b = base();
    let mut rng = StdRng::seed_from_u64(1);
    for class in RuleClass::ALL {
        let built = mutator::kinds().iter().filter(|k| k.class == class).any(|k| {
            [120u32, 180, 240, 299, 405].iter().any(|&h| {
                mutator::build(
                    k,
                    &Ctx {
                        base: b,
                        h,
                        now: 1_900_000_000,
                    },
                    &mut rng,
                )
                .is_some()
            })
        });
        assert!(built, "no mutation of class {class:?} could be built");
    }
}

#[test]
fn blvm_alone_rejects_every_designed_invalid_mutation_and_keeps_its_tip() {
    let cfg = DiffConfig {
        count: 400,
        ..DiffConfig::default()
    };
    let mut blvm = BlvmEngine::new(BlvmEngine::default_settings()).expect("blvm engine");
    let report = diff::run(base(), &cfg, &mut [&mut blvm]);
    println!("{}", report.summary());
    assert!(report.aborted.is_none(), "{:?}", report.aborted);
    assert_eq!(report.compared, 400);
    assert!(
        report.unexpected_accepts.is_empty(),
        "designed-invalid mutations accepted: {:?}",
        report.unexpected_accepts
    );
    assert!(report.restores > 0, "valid mutations were accepted and the state restored");
}

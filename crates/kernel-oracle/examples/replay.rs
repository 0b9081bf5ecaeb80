//! Replays a reproducer file written by the differential test: both engines follow the base
//! chain to the block's parent, then get the block; prints what each did.
//!
//! `cargo run -p blvm-kernel-oracle --features kernel --example replay -- FILE`

use blvm_kernel_oracle::base::BaseChain;
use blvm_kernel_oracle::diff;
use blvm_kernel_oracle::engine::{BlvmEngine, Engine};
use blvm_kernel_oracle::kernel::CoreEngine;
use std::path::PathBuf;

fn main() {
    let Some(file) = std::env::args().nth(1) else {
        eprintln!("usage: replay REPRODUCER_FILE");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("read {file}: {e}"));
    let (height, block) = diff::read_reproducer(&text).unwrap_or_else(|| panic!("{file}: no `height N` line or block hex"));
    let base = BaseChain::load().expect("base chain");
    // The worker is built next to this example (target/<profile>/).
    let exe = std::env::current_exe().expect("current exe");
    let worker: PathBuf = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("blvm-kernel-worker"))
        .expect("target dir");
    let mut blvm = BlvmEngine::new(BlvmEngine::default_settings()).expect("blvm engine");
    let mut core = CoreEngine::spawn(&worker).expect("core engine (build it: cargo build -p blvm-kernel-oracle --features kernel)");
    let engines: &mut [&mut dyn Engine] = &mut [&mut blvm, &mut core];
    match diff::replay(&base, height, &block, engines) {
        Ok(views) => {
            println!("block {} at height {height}:", block.block_hash());
            for v in views {
                println!(
                    "  {}: {:?} {} -> tip {} at {}",
                    v.engine, v.outcome.verdict, v.outcome.reason, v.tip.0, v.tip.1
                );
            }
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}

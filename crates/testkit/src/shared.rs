//! Where the shared test data (Core-made chains, Core's functional test framework) lives, for
//! every test suite, bench and the oracle alike.

use std::path::{Path, PathBuf};

/// The shared data directory: `$BLVM_SHARED_DIR`, or `../shared` beside the repository.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("BLVM_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

/// [`shared_dir`], checked to hold Core's regtest chain: panics naming the directory when it
/// does not, so a run without the data fails loudly instead of skipping.
pub fn expect_shared_dir() -> PathBuf {
    let dir = shared_dir();
    assert!(
        chain_hex_path_in(&dir).exists(),
        "shared data not found at {} (set BLVM_SHARED_DIR)",
        dir.display()
    );
    dir
}

/// Path of Core's 301-block regtest chain (hex lines, genesis first).
pub fn chain_hex_path() -> PathBuf {
    chain_hex_path_in(&expect_shared_dir())
}

fn chain_hex_path_in(dir: &Path) -> PathBuf {
    dir.join("chains/regtest-core-300.hex")
}

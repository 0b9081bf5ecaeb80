//! Compiles `cpp/script_error.cpp`, the shim that names a failing script's error with Bitcoin
//! Core's own interpreter, against the Core sources vendored by `libbitcoinkernel-sys` (whose
//! static libbitcoinkernel.a, already linked for the `bitcoinkernel` crate, provides the code),
//! and links the `blvm-node` binary without libbitcoinkernel's eager RNG seeding before `main`.

use std::path::PathBuf;
use std::process::Command;

const SYS_CRATE: &str = "libbitcoinkernel-sys";
const SHIM: &str = "cpp/script_error.cpp";

fn main() {
    println!("cargo:rerun-if-changed={SHIM}");
    println!("cargo:rerun-if-changed=build.rs");
    let core_src = vendored_core_src();
    cc::Build::new()
        .cpp(true)
        .std("c++20")
        .file(SHIM)
        .include(&core_src)
        // Core's own build (RelWithDebInfo) optimises at -O2: the shim's copies of Core's inline
        // templates (serialization, signature hashing) may be the ones the linker keeps.
        .opt_level(2)
        .warnings(false)
        .compile("blvm_script_error");
    defer_core_rng_seeding();
}

/// libbitcoinkernel's static context calls Core's `RandomInit` before `main`: 100 ms of
/// `SeedStrengthen` on one core, with the other idle, at every start of the binary. Core's
/// `random.h` documents the call as optional ("RNG state will be initialized when first needed
/// if it is not called"), and the binary draws nothing from Core's RNG (script checks need no
/// randomness), so its link routes that one call to a no-op (`src/main.rs`). The benches' and
/// tests' links keep Core's behaviour: the kernel baseline is timed as Core ships it.
fn defer_core_rng_seeding() {
    // GNU ld and lld's `--wrap`; `RandomInit()` under the Itanium C++ ABI.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bin=blvm-node=-Wl,--wrap=_Z10RandomInitv");
    }
}

/// `src/` of the Bitcoin Core tree inside the `libbitcoinkernel-sys` package this build uses,
/// found through `cargo metadata` (works with any registry, vendoring or a fresh cache).
fn vendored_core_src() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(&manifest)
        .output()
        .expect("running cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata output is JSON");
    let packages = meta["packages"].as_array().expect("cargo metadata lists packages");
    let sys = packages
        .iter()
        .find(|p| p["name"] == SYS_CRATE)
        .unwrap_or_else(|| panic!("{SYS_CRATE} is not in the dependency graph"));
    let manifest_path = PathBuf::from(sys["manifest_path"].as_str().expect("manifest_path is a string"));
    let src = manifest_path
        .parent()
        .expect("manifest has a directory")
        .join("bitcoin")
        .join("src");
    assert!(
        src.join("script").join("interpreter.h").exists(),
        "no Bitcoin Core sources at {}",
        src.display()
    );
    println!("cargo:rerun-if-changed={}", src.join("script").join("interpreter.h").display());
    src
}

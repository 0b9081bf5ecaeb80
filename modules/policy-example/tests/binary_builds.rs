//! Ensures `cargo test --workspace` builds the `policy-example` binary that the node's
//! end-to-end tests (crates/node/tests/module_extensions.rs) spawn, and that it refuses to run
//! without the node's environment.

#[test]
fn binary_exits_with_error_without_node_environment() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_policy-example"))
        .env_remove("BLVM_MODULE_SOCKET")
        .output()
        .expect("run policy-example");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("BLVM_MODULE_SOCKET"), "{stderr}");
}

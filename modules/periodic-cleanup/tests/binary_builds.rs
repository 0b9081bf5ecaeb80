//! Ensures `cargo test --workspace` builds the `periodic-cleanup` binary that the node's end-to-end
//! tests spawn, and that it refuses to run without the node's environment.

#[test]
fn binary_exits_with_error_without_node_environment() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_periodic-cleanup"))
        .env_remove("BLVM_MODULE_SOCKET")
        .env_remove("BLVM_MODULE_NAME")
        .output()
        .expect("run periodic-cleanup");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot start") && stderr.contains("BLVM_MODULE_SOCKET"), "{stderr}");
}

//! Test support: Python modules written on the repository's SDK (`sdk/python`), run by the node
//! as `python3 tests/python/sdk_run.py <script>` so no `pip install` is needed. The one place
//! tests find a usable interpreter and decide whether a missing one skips (locally) or fails (CI).

use std::path::{Path, PathBuf};

/// The `python3` interpreter if it can import msgpack (the SDK's only dependency).
///
/// `None` skips the calling test outside CI; in CI (`CI` set) a missing interpreter fails it,
/// since `.ci/run` installs msgpack.
pub fn python_with_msgpack(test: &str) -> Option<PathBuf> {
    let found = std::process::Command::new("python3")
        .args(["-c", "import msgpack, sys; print(sys.executable)"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with the msgpack package is required in CI (.ci/run installs it)"
        );
        eprintln!("SKIPPED {test}: python3 with msgpack not installed (pip install msgpack)");
    }
    found
}

/// `tests/python/<name>` of this crate.
pub fn test_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(name)
}

/// The repository's SDK package directory (what `PYTHONPATH` would name).
pub fn sdk_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sdk/python/src")
        .canonicalize()
        .expect("sdk/python/src")
}

/// A module running `script` (a path) on the SDK from this checkout, or `None` (skip) without
/// python3 + msgpack.
pub fn sdk_module(test: &str, name: &str, script: &Path, capabilities: &[&str], config: &str) -> Option<super::node_proc::ModuleSpec> {
    let python = python_with_msgpack(test)?;
    Some(super::node_proc::ModuleSpec {
        name: name.into(),
        entry: python,
        args: vec![test_script("sdk_run.py").display().to_string(), script.display().to_string()],
        capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
        config: config.into(),
        autoload: true,
    })
}

//! What the benches share: where the shared test data is and how its JSON files are read.

use serde_json::Value;
use std::path::Path;

/// The shared data directory, checked to hold the chains the benches replay.
pub use blvm_testkit::shared::expect_shared_dir as shared_dir;

/// A JSON file of the shared data (a bench cannot run without it: panics naming the file).
#[allow(dead_code)] // not every bench reads JSON
pub fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

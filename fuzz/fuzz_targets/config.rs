//! The config parser: command-line arguments (`config::parse_args`, the input split at NUL or
//! newline) and the TOML config file (`config::load_config` with `-conf` pointing at the input).
#![no_main]

use blvm_node::config::{load_config, parse_args};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn conf_dir() -> &'static tempfile::TempDir {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    D.get_or_init(|| tempfile::tempdir().expect("tempdir"))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let args: Vec<String> = std::iter::once("blvm-node".to_string())
        .chain(text.split(['\0', '\n']).map(str::to_string))
        .collect();
    let _ = parse_args(args.clone());
    let dir = conf_dir().path();
    let conf = dir.join("fuzz.toml");
    if std::fs::write(&conf, data).is_ok() {
        let argv = vec![
            "blvm-node".to_string(),
            format!("-datadir={}", dir.display()),
            format!("-conf={}", conf.display()),
        ];
        let _ = load_config(argv, &|_| None);
    }
});

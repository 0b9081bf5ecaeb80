//! File permissions of a real node process, as in Core: with umask 077 (unless `-sysperms`)
//! everything the node creates in its datadir (cookie, databases, logs, directories, the module
//! socket) is accessible to its owner only. The test itself runs with the common umask 022.

mod support;

use support::{http, node_proc};

use node_proc::start_node;
use serde_json::json;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every path under `dir` (not following symlinks) with its mode bits.
fn walk(dir: &Path, out: &mut Vec<(PathBuf, u32)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = std::fs::symlink_metadata(e.path()).unwrap();
        if m.file_type().is_symlink() {
            continue;
        }
        out.push((e.path(), m.permissions().mode() & 0o777));
        if m.is_dir() {
            walk(&e.path(), out);
        }
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn datadir_files_are_private_unless_sysperms() {
    // SAFETY: sets this test process's file creation mask (inherited by the node).
    unsafe {
        libc::umask(0o022);
    }
    let port = http::free_port();
    let mut n = start_node(&[&format!("-rpcport={port}")], &[]);
    n.wait_started();
    let c = std::fs::read_to_string(n.net_dir().join(".cookie")).unwrap();
    // Some activity so that databases and logs are written.
    assert_eq!(
        http::call(&format!("127.0.0.1:{port}"), &c, "getblockcount", json!([]))["result"],
        0
    );
    let mut all = Vec::new();
    walk(&n.net_dir(), &mut all);
    let names: Vec<String> = all
        .iter()
        .map(|(p, _)| p.strip_prefix(n.net_dir()).unwrap().display().to_string())
        .collect();
    for want in [".cookie", "debug.log", "modules.sock", "wallets", ".lock", "blocks", "chainstate"] {
        assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
    }
    for (p, m) in &all {
        assert_eq!(m & 0o077, 0, "{} is {m:o}: group/other bits set", p.display());
    }
    assert_eq!(mode(&n.net_dir()) & 0o077, 0, "network directory is {:o}", mode(&n.net_dir()));
    let sock = n.net_dir().join("modules.sock");
    assert!(std::fs::metadata(&sock).unwrap().file_type().is_socket());
    assert_eq!(mode(&sock), 0o600);
    assert!(
        !names.iter().any(|n| n.starts_with(".msock-")),
        "private bind directory left behind: {names:?}"
    );
    let (status, _) = n.stop(Duration::from_secs(20));
    assert!(status.success());

    // -sysperms keeps the inherited umask (022 here) for ordinary files; the socket stays 0600.
    let mut n = start_node(&["-sysperms"], &[]);
    n.wait_started();
    assert_eq!(mode(&n.net_dir().join("debug.log")), 0o644);
    assert_eq!(mode(&n.net_dir().join("modules.sock")), 0o600);
    assert_eq!(mode(&n.net_dir().join(".cookie")), 0o600, "the cookie is always private");
    n.stop(Duration::from_secs(20));
}

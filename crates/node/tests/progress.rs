//! Progress lines during a real import of the shared Core chain, with the real binary: steady
//! cadence (`-progressinterval`), strictly increasing heights towards the file's target, every
//! field present and consistent, a final line at the tip; the same for `-loadblock` in a running node.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Line {
    height: u64,
    target: u64,
    percent: f64,
    blocks_per_sec: f64,
    tx_per_sec: f64,
    eta: f64,
    cache_mib: f64,
}

/// Parses `<what> progress: height=H/T (P%) blocks/s=B tx/s=X eta=Es cache=CMiB`; panics on a
/// malformed line.
fn parse(line: &str, what: &str) -> Line {
    let prefix = format!("{what} progress: ");
    let rest = &line[line.find(&prefix).unwrap_or_else(|| panic!("no '{prefix}' in {line}")) + prefix.len()..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    assert_eq!(f.len(), 6, "six fields expected: {line}");
    let (h, t) = f[0]
        .strip_prefix("height=")
        .and_then(|v| v.split_once('/'))
        .unwrap_or_else(|| panic!("height: {line}"));
    let num = |s: &str, pre: &str, suf: &str| -> f64 {
        s.strip_prefix(pre)
            .and_then(|v| v.strip_suffix(suf))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("field {pre}..{suf} in {line}"))
    };
    Line {
        height: h.parse().unwrap(),
        target: t.parse().unwrap(),
        percent: num(f[1], "(", "%)"),
        blocks_per_sec: num(f[2], "blocks/s=", ""),
        tx_per_sec: num(f[3], "tx/s=", ""),
        eta: num(f[4], "eta=", "s"),
        cache_mib: num(f[5], "cache=", "MiB"),
    }
}

fn progress_lines(log: &str, what: &str) -> Vec<Line> {
    log.lines()
        .filter(|l| l.contains(&format!("{what} progress: ")))
        .map(|l| parse(l, what))
        .collect()
}

fn import(datadir: &Path, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_blvm-node"))
        .arg("-regtest")
        .arg(format!("-datadir={}", datadir.display()))
        .args(extra)
        .arg("import")
        .arg(support::chain_hex_path())
        .stdin(Stdio::null())
        .output()
        .expect("run blvm-node import");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "import failed: {stderr}");
    stderr
}

fn check_run(lines: &[Line], tip: u64) {
    assert!(lines.len() >= 3, "expected at least 3 progress lines, got {lines:?}");
    for w in lines.windows(2) {
        assert!(w[1].height > w[0].height, "heights must strictly increase: {w:?}");
    }
    let last = lines.last().unwrap();
    assert_eq!(last.height, tip, "the last line reports the tip");
    assert!((last.percent - 100.0).abs() < 1e-9, "{last:?}");
    for l in lines {
        assert_eq!(l.target, tip, "the file holds blocks up to {tip}: {l:?}");
        let want = (l.height as f64 / l.target as f64 * 1000.0).round() / 10.0;
        assert!((l.percent - want).abs() < 0.051, "percent {l:?}");
        assert!(
            l.blocks_per_sec > 0.0 && l.tx_per_sec >= l.blocks_per_sec * 0.99,
            "every block has a coinbase: {l:?}"
        );
        assert!(l.eta >= 0.0 && l.cache_mib >= 0.0, "{l:?}");
    }
}

#[test]
fn import_logs_progress_at_the_requested_cadence_up_to_the_tip() {
    let tip = support::core_json()["getblockchaininfo"]["blocks"]
        .as_u64()
        .expect("Core's tip height");
    let dir = tempfile::tempdir().unwrap();
    let stderr = import(dir.path(), &["-progressinterval=1"]);
    let log = std::fs::read_to_string(dir.path().join("regtest/debug.log")).unwrap();
    let lines = progress_lines(&log, "import");
    check_run(&lines, tip);
    // The console got the same lines (stderr is not a terminal here: no live bar).
    assert_eq!(progress_lines(&stderr, "import").len(), lines.len());
    assert!(!stderr.contains('\r'), "no bar when stderr is not a terminal");
    // At a 1 ms cadence most blocks of the 300 get a line.
    assert!(lines.len() >= 30, "only {} lines at a 1 ms cadence", lines.len());

    // A long interval: only the final line, at the tip.
    let dir = tempfile::tempdir().unwrap();
    import(dir.path(), &["-progressinterval=3600000", "-noprinttoconsole"]);
    let log = std::fs::read_to_string(dir.path().join("regtest/debug.log")).unwrap();
    let lines = progress_lines(&log, "import");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!((lines[0].height, lines[0].target), (tip, tip));
}

#[test]
fn loadblock_logs_progress_in_a_running_node() {
    let tip = support::core_json()["getblockchaininfo"]["blocks"]
        .as_u64()
        .expect("Core's tip height");
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_blvm-node"))
        .arg("-regtest")
        .arg(format!("-datadir={}", dir.path().display()))
        .arg("-noprinttoconsole")
        .arg("-rpcport=0")
        .arg("-progressinterval=1")
        .arg(format!("-loadblock={}", support::chain_hex_path().display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn node");
    let log_path = dir.path().join("regtest/debug.log");
    let start = Instant::now();
    let log = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("loaded blocks") {
            break log;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("-loadblock did not finish:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let st = child.wait().unwrap();
    assert!(st.success(), "{st}");
    check_run(&progress_lines(&log, "loadblock"), tip);
}

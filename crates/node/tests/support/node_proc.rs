//! Test support: a real `blvm-node` process in a temp datadir, with real module processes
//! installed from built binaries (`<datadir>/regtest/modules/<name>/module.toml`).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Directory holding the workspace's built binaries (next to `blvm-node`).
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_blvm-node")).parent().expect("bin dir").to_path_buf()
}

/// Path of a module binary built from this workspace; fails loudly if it was not built.
pub fn module_bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "module binary {} missing: run `cargo test --workspace` (or `cargo build --workspace`) so module binaries are built",
        p.display()
    );
    p
}

/// A module to install before the node starts.
pub struct ModuleSpec {
    /// Module name (directory and manifest name).
    pub name: String,
    /// Executable.
    pub entry: PathBuf,
    /// Arguments.
    pub args: Vec<String>,
    /// Capability names.
    pub capabilities: Vec<String>,
    /// TOML body of the `[config]` table.
    pub config: String,
    /// Start with the node.
    pub autoload: bool,
}

impl ModuleSpec {
    /// An event-recorder instance with every capability and the given `[config]` body.
    pub fn recorder(name: &str, config: &str) -> Self {
        ModuleSpec {
            name: name.into(),
            entry: module_bin("event-recorder"),
            args: vec![],
            capabilities: [
                "read_chain",
                "read_mempool",
                "read_network",
                "submit_transactions",
                "publish_events",
                "report_health",
            ]
            .map(String::from)
            .to_vec(),
            config: config.into(),
            autoload: true,
        }
    }
}

/// Writes a module's manifest into `modules_dir`.
pub fn install_module(modules_dir: &Path, m: &ModuleSpec) -> PathBuf {
    let dir = modules_dir.join(&m.name);
    std::fs::create_dir_all(&dir).expect("module dir");
    let caps: Vec<String> = m.capabilities.iter().map(|c| format!("\"{c}\"")).collect();
    let args: Vec<String> = m.args.iter().map(|a| format!("{a:?}")).collect();
    let text = format!(
        "name = \"{}\"\nversion = \"0.1.0\"\nentry = {:?}\nargs = [{}]\ncapabilities = [{}]\nautoload = {}\n\n[config]\n{}\n",
        m.name,
        m.entry.display().to_string(),
        args.join(", "),
        caps.join(", "),
        m.autoload,
        m.config
    );
    std::fs::write(dir.join("module.toml"), text).expect("write manifest");
    dir
}

/// A running node process.
pub struct NodeProc {
    /// The child process (None once reaped).
    pub child: Option<Child>,
    /// The base datadir (kept alive for the test).
    pub datadir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    /// Length of debug.log when this process started (the log is appended to across runs).
    log_start: usize,
}

/// Starts a node with `args` (besides `-regtest -datadir=...`) and `modules` installed.
pub fn start_node(args: &[&str], modules: &[ModuleSpec]) -> NodeProc {
    let tmp = tempfile::tempdir().expect("tempdir");
    let datadir = tmp.path().to_path_buf();
    let mut n = start_node_in(&datadir, args, modules);
    n._tmp = Some(tmp);
    n
}

/// Imports a block file into `datadir` with the real binary (`blvm-node import`), offline.
pub fn import_offline(datadir: &Path, file: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_blvm-node"))
        .arg("-regtest")
        .arg(format!("-datadir={}", datadir.display()))
        .arg("-noprinttoconsole")
        .arg("import")
        .arg(file)
        .output()
        .expect("run blvm-node import");
    assert!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Starts a node on a fresh temp datadir that already holds `file`'s blocks.
pub fn start_node_with_chain(file: &Path, args: &[&str], modules: &[ModuleSpec]) -> NodeProc {
    let tmp = tempfile::tempdir().expect("tempdir");
    import_offline(tmp.path(), file);
    let mut n = start_node_in(tmp.path(), args, modules);
    n._tmp = Some(tmp);
    n
}

/// Starts a node in an existing datadir.
pub fn start_node_in(datadir: &Path, args: &[&str], modules: &[ModuleSpec]) -> NodeProc {
    let net_dir = datadir.join("regtest");
    for m in modules {
        install_module(&net_dir.join("modules"), m);
    }
    // Parallel tests must not collide on the default RPC port: use an ephemeral one unless set.
    let rpcport: Vec<&str> = if args
        .iter()
        .any(|a| a.starts_with("-rpcport") || a.starts_with("-server") || a.starts_with("-noserver"))
    {
        vec![]
    } else {
        vec!["-rpcport=0"]
    };
    // As Core's test framework: v1 unless a test asks for v2 (tests speak v1 to the node, and a
    // v1 peer whose first message is not `version` would be taken for a v2 one).
    let transport: Vec<&str> = if args.iter().any(|a| a.contains("v2transport")) {
        vec![]
    } else {
        vec!["-v2transport=0"]
    };
    let log_start = std::fs::metadata(net_dir.join("debug.log")).map(|m| m.len() as usize).unwrap_or(0);
    let child = Command::new(env!("CARGO_BIN_EXE_blvm-node"))
        .arg("-regtest")
        .arg(format!("-datadir={}", datadir.display()))
        .arg("-noprinttoconsole")
        .args(rpcport)
        .args(transport)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn blvm-node");
    NodeProc {
        child: Some(child),
        datadir: datadir.to_path_buf(),
        _tmp: None,
        log_start,
    }
}

impl NodeProc {
    /// `<datadir>/regtest`.
    pub fn net_dir(&self) -> PathBuf {
        self.datadir.join("regtest")
    }

    /// The node's debug.log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.net_dir().join("debug.log")).unwrap_or_default()
    }

    /// Data directory of module `name`.
    pub fn module_data(&self, name: &str) -> PathBuf {
        self.net_dir().join("modules").join(name).join("data")
    }

    /// Lines recorded by an event-recorder module (`kind` = connected/subscribed/event/acked/...).
    pub fn recorded(&self, module: &str) -> Vec<Value> {
        read_jsonl(&self.module_data(module).join("events.jsonl"))
    }

    /// Recorded events only: (event_type, full event JSON).
    pub fn recorded_events(&self, module: &str) -> Vec<(String, Value)> {
        self.recorded(module)
            .into_iter()
            .filter(|l| l["kind"] == "event")
            .map(|l| (l["event"]["event_type"].as_str().unwrap_or("").to_string(), l["event"].clone()))
            .collect()
    }

    /// Waits until `f` holds, panicking with `what` and the node log after `timeout`.
    pub fn wait_until(&self, timeout: Duration, what: &str, mut f: impl FnMut(&Self) -> bool) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if f(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("timed out after {timeout:?} waiting for: {what}\n--- node log ---\n{}", self.log());
    }

    /// This process's part of debug.log.
    pub fn run_log(&self) -> String {
        self.log().get(self.log_start..).unwrap_or_default().to_string()
    }

    /// Waits for this process's NodeStartupCompleted in the log.
    pub fn wait_started(&self) {
        self.wait_until(Duration::from_secs(30), "node startup", |n| {
            n.run_log().contains("node startup completed")
        });
    }

    /// Sends a signal to the node.
    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: signalling our own child.
            unsafe {
                libc::kill(c.id() as libc::pid_t, sig);
            }
        }
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        let child = self.child.as_mut().expect("child");
        loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                self.child = None;
                return st;
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                panic!("node did not exit within {timeout:?}\n--- node log ---\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then wait for exit; returns (status, elapsed).
    pub fn stop(&mut self, timeout: Duration) -> (ExitStatus, Duration) {
        let t = Instant::now();
        self.signal(libc::SIGTERM);
        let st = self.wait_exit(timeout);
        (st, t.elapsed())
    }

    /// Panics if the node logged a module that missed an ack deadline.
    pub fn assert_all_acked(&self) {
        let log = self.log();
        assert!(!log.contains("did not acknowledge"), "a module missed an ack deadline:\n{log}");
    }

    /// SIGTERM, then asserts a clean exit within `bound` with every ack in time and every module
    /// gone by itself (no SIGTERM from the node); returns the Unix ms of the signal and the exit.
    pub fn stop_promptly(&mut self, bound: Duration) -> (u64, u64) {
        let unix_ms = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64
        };
        let signalled_ms = unix_ms();
        let (status, took) = self.stop(bound + Duration::from_secs(30));
        let exited_ms = unix_ms();
        assert!(status.success(), "node exit {status:?}\n{}", self.log());
        assert!(took < bound, "shutdown took {took:?}\n{}", self.log());
        self.assert_all_acked();
        let log = self.log();
        assert!(!log.contains("sending SIGTERM"), "a module did not exit by itself on close:\n{log}");
        (signalled_ms, exited_ms)
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits until `f` holds, panicking with `what` and the logs of `nodes` after `timeout`
/// (for a condition spanning several nodes, or one not about the node itself).
pub fn wait_for(what: &str, timeout: Duration, nodes: &[&NodeProc], mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let logs: Vec<String> = nodes.iter().map(|n| n.log()).collect();
    panic!(
        "timed out after {timeout:?} waiting for {what}\n{}",
        logs.join("\n=====================\n")
    );
}

/// Reads a JSON-lines file (missing file = empty).
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Resident memory of process `pid` in KiB (VmRSS from /proc; 0 once it is gone), for tests that
/// bound the node's memory under attack.
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// Peak resident memory of process `pid` in KiB (VmHWM), for tests that bound a whole run.
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) process `pid` has used so far, for tests that bound the work an
/// attack can make the node do.
pub fn cpu_time(pid: u32) -> std::time::Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name, from the state (0): utime is 11, stime 12.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(11) + field(12);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    std::time::Duration::from_millis(ticks * 1000 / hz)
}

/// Whether the other end closed `s` (EOF or reset), checked without blocking; data it sent is
/// read and dropped. `set_nonblocking` is the stream type's own (TCP or Unix).
pub fn closed<S: std::io::Read>(s: &mut S, set_nonblocking: fn(&S, bool) -> std::io::Result<()>) -> bool {
    set_nonblocking(s, true).unwrap();
    let mut buf = [0u8; 4096];
    let r = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
            Err(_) => break true,
        }
    };
    set_nonblocking(s, false).unwrap();
    r
}

/// RPC credentials from a node's cookie file.
pub fn cookie(n: &NodeProc) -> String {
    std::fs::read_to_string(n.net_dir().join(".cookie")).expect("cookie")
}

/// Whether a process with this pid exists.
pub fn pid_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

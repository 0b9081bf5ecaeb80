//! Operator configuration with the real binary: precedence (flags > environment > file section >
//! file top level > defaults), every invalid-configuration case stopping startup with a message
//! naming the key, the value, what is allowed and where it came from, `-help` listing exactly the
//! accepted options, docs/configuration.md in sync, the datadir lock, the datadir layout and UTC
//! log timestamps.

mod support;

use support::http;

use blvm_node::config::{load_config, options_markdown, parse_args, ConfigError, OptKind, OPTIONS};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_blvm-node")
}

/// A command for the binary with no inherited `BLVM_*` option variables.
fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("BLVM_") {
            c.env_remove(k);
        }
    }
    c.args(args).envs(env.iter().copied()).stdin(Stdio::null());
    c
}

/// Runs the binary to completion (killing it after 30 s).
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = command(args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn blvm-node");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

/// A node process that is killed when dropped.
struct Running {
    child: Child,
    net_dir: PathBuf,
    /// Size of debug.log before this process started (earlier runs' lines are not ours).
    log_offset: usize,
}

impl Running {
    fn start(datadir: &Path, net: &str, args: &[&str], env: &[(&str, &str)]) -> Running {
        let dd = format!("-datadir={}", datadir.display());
        let mut all = vec![dd.as_str(), "-noprinttoconsole"];
        all.extend_from_slice(args);
        let net_dir = datadir.join(net);
        let log_offset = std::fs::read(net_dir.join("debug.log")).map(|b| b.len()).unwrap_or(0);
        let child = command(&all, env)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn blvm-node");
        Running {
            child,
            net_dir,
            log_offset,
        }
    }

    fn log(&self) -> String {
        let bytes = std::fs::read(self.net_dir.join("debug.log")).unwrap_or_default();
        String::from_utf8_lossy(bytes.get(self.log_offset..).unwrap_or_default()).to_string()
    }

    fn wait_started(&mut self) {
        let start = Instant::now();
        while !self.log().contains("node startup completed") {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                panic!("node exited ({st}) before starting\nstderr: {err}\nlog: {}", self.log());
            }
            assert!(start.elapsed() < Duration::from_secs(30), "node did not start\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The RPC addresses from the "RPC server listening" log line.
    fn rpc_addrs(&self) -> Vec<String> {
        let log = self.log();
        let line = log
            .lines()
            .find(|l| l.contains("RPC server listening"))
            .unwrap_or_else(|| panic!("no RPC line in\n{log}"));
        let list = line
            .split("addrs=[")
            .nth(1)
            .and_then(|r| r.rsplit_once(']'))
            .map(|(l, _)| l)
            .unwrap_or("");
        let all: Vec<String> = list.split(", ").map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        // By default the server also listens on [::1] at the same port, as Core; the tests
        // compare the IPv4 addresses.
        for v6 in all.iter().filter(|a| a.starts_with("[::1]:")) {
            let port = &v6["[::1]:".len()..];
            assert!(
                all.contains(&format!("127.0.0.1:{port}")),
                "{v6} without its 127.0.0.1 twin: {all:?}"
            );
        }
        all.into_iter().filter(|a| !a.starts_with('[')).collect()
    }

    fn stop(mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                assert!(st.success(), "node exited with {st}\n{}", self.log());
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "node did not stop\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ports<const N: usize>() -> [u16; N] {
    std::array::from_fn(|_| http::free_port())
}

/// Starts a regtest node in a fresh datadir holding `toml` as blvm.toml and returns its RPC addresses.
fn rpc_addrs_with(toml: &str, args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blvm.toml"), toml).unwrap();
    let mut n = Running::start(dir.path(), "regtest", args, env);
    n.wait_started();
    let addrs = n.rpc_addrs();
    n.stop();
    addrs
}

#[test]
fn precedence_flags_over_env_over_file_section_over_file_over_defaults() {
    let [p1, p2, p3, p4] = ports::<4>();
    let file = format!("rpcport = {p1}\n");
    assert_eq!(rpc_addrs_with(&file, &[], &[]), vec![format!("127.0.0.1:{p1}")], "file top level");
    let file = format!("rpcport = {p1}\n\n[regtest]\nrpcport = {p2}\n\n[signet]\nrpcport = 1\n");
    assert_eq!(
        rpc_addrs_with(&file, &[], &[]),
        vec![format!("127.0.0.1:{p2}")],
        "the [regtest] section beats the top level"
    );
    let env_p3 = p3.to_string();
    assert_eq!(
        rpc_addrs_with(&file, &[], &[("BLVM_RPCPORT", &env_p3)]),
        vec![format!("127.0.0.1:{p3}")],
        "environment beats the file"
    );
    let flag_p4 = format!("-rpcport={p4}");
    assert_eq!(
        rpc_addrs_with(&file, &[&flag_p4], &[("BLVM_RPCPORT", &env_p3)]),
        vec![format!("127.0.0.1:{p4}")],
        "flags beat the environment"
    );
}

#[test]
fn repeatable_options_are_taken_whole_from_the_highest_source() {
    let [p1, p2, p3] = ports::<3>();
    // -rpcbind is used only together with -rpcallowip, as in Core.
    let file = format!("rpcallowip = \"127.0.0.1\"\nrpcbind = [\"127.0.0.1:{p1}\", \"127.0.0.1:{p2}\"]\n");
    let mut a = rpc_addrs_with(&file, &[], &[]);
    a.sort();
    let mut want = vec![format!("127.0.0.1:{p1}"), format!("127.0.0.1:{p2}")];
    want.sort();
    assert_eq!(a, want, "both file values");
    let env = format!("127.0.0.1:{p3}");
    assert_eq!(
        rpc_addrs_with(&file, &[], &[("BLVM_RPCBIND", &env)]),
        vec![env.clone()],
        "the environment replaces the file's list"
    );
}

#[test]
fn the_file_can_choose_the_network_and_conf_points_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("node.toml");
    let p = http::free_port();
    std::fs::write(
        &conf,
        format!("chain = \"signet\"\n[signet]\nrpcport = {p}\n[regtest]\nrpcport = 0\n"),
    )
    .unwrap();
    let c = format!("-conf={}", conf.display());
    let mut n = Running::start(dir.path(), "signet", &[&c], &[]);
    n.wait_started();
    assert_eq!(n.rpc_addrs(), vec![format!("127.0.0.1:{p}")]);
    assert!(n.log().contains("Config file: "), "{}", n.log());
    n.stop();
    assert!(!dir.path().join("blvm.toml").exists() && !dir.path().join("regtest").exists());
    // A network flag on the command line replaces the file's choice (no conflict).
    let mut n = Running::start(dir.path(), "regtest", &[&c, "-regtest"], &[]);
    n.wait_started();
    assert!(n.log().contains("network=Regtest"), "{}", n.log());
    n.stop();
}

struct Bad {
    what: &'static str,
    file: Option<&'static str>,
    env: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    expect: &'static [&'static str],
}

const BAD: &[Bad] = &[
    Bad {
        what: "unknown key in the file",
        file: Some("dbcache = 100\ndbcach = 5\n"),
        env: &[],
        args: &[],
        expect: &["blvm.toml:2", "unknown option -dbcach"],
    },
    Bad {
        what: "bad value in the file",
        file: Some("dbcache = \"lots\"\n"),
        env: &[],
        args: &[],
        expect: &["blvm.toml:1", "'lots'", "-dbcache", "4..=1048576"],
    },
    Bad {
        what: "bad value in a network section",
        file: Some("[regtest]\nprune = 100\n"),
        env: &[],
        args: &[],
        expect: &["blvm.toml:2", "section [regtest]", "'100'", "-prune", ">= 550"],
    },
    Bad {
        what: "unknown section",
        file: Some("[mainnet]\ndbcache = 5\n"),
        env: &[],
        args: &[],
        expect: &["blvm.toml:1", "[mainnet]", "[main], [test], [testnet4], [signet] or [regtest]"],
    },
    Bad {
        what: "network chosen inside a section",
        file: Some("[regtest]\nsignet = true\n"),
        env: &[],
        args: &[],
        expect: &["blvm.toml:2", "-signet", "top level"],
    },
    Bad {
        what: "list for a single option",
        file: Some("dbcache = [100, 200]\n"),
        env: &[],
        args: &[],
        expect: &["blvm.toml:1", "-dbcache", "[100, 200]", "not repeatable"],
    },
    Bad {
        what: "float value",
        file: Some("dbcache = 1.5\n"),
        env: &[],
        args: &[],
        expect: &["blvm.toml:1", "-dbcache", "'1.5'", "a string, an integer or a boolean"],
    },
    Bad {
        what: "TOML syntax error",
        file: Some("dbcache = = 3\n"),
        env: &[],
        args: &[],
        expect: &["configuration file", "blvm.toml", "line 1"],
    },
    Bad {
        what: "conf inside the file",
        file: Some("conf = \"other.toml\"\n"),
        env: &[],
        args: &[],
        expect: &["blvm.toml:1", "-conf", "command line only"],
    },
    Bad {
        what: "conflicting networks in the file",
        file: Some("regtest = 1\nsignet = 1\n"),
        env: &[],
        args: &[],
        expect: &["blvm.toml", "conflicting network options", "-regtest", "-signet"],
    },
    Bad {
        what: "bad number in the environment",
        file: None,
        env: &[("BLVM_DBCACHE", "1")],
        args: &[],
        expect: &["environment variable BLVM_DBCACHE", "'1'", "-dbcache", "4..=1048576"],
    },
    Bad {
        what: "bad switch in the environment",
        file: None,
        env: &[("BLVM_PRINTTOCONSOLE", "maybe")],
        args: &[],
        expect: &["environment variable BLVM_PRINTTOCONSOLE", "'maybe'", "-printtoconsole", "0 or 1"],
    },
    Bad {
        what: "bad network in the environment",
        file: None,
        env: &[("BLVM_CHAIN", "moon")],
        args: &[],
        expect: &[
            "environment variable BLVM_CHAIN",
            "'moon'",
            "-chain",
            "main, test, testnet4, signet, regtest",
        ],
    },
    Bad {
        what: "unknown flag",
        file: None,
        env: &[],
        args: &["-bogus=1"],
        expect: &["unknown option -bogus"],
    },
    Bad {
        what: "port out of range",
        file: None,
        env: &[],
        args: &["-rpcport=99999"],
        expect: &["'99999'", "-rpcport", "0..=65535"],
    },
    Bad {
        what: "two networks on the command line",
        file: None,
        env: &[],
        args: &["-testnet4", "-signet"],
        expect: &["conflicting network options", "-testnet4", "-signet"],
    },
    Bad {
        what: "txindex with pruning",
        file: None,
        env: &[],
        args: &["-txindex", "-prune=550"],
        expect: &["'550'", "-prune", "incompatible with the transaction index"],
    },
    Bad {
        what: "daemon",
        file: None,
        env: &[],
        args: &["-daemon"],
        expect: &["-daemon=1 is not supported", "service manager"],
    },
    Bad {
        what: "unknown debug category",
        file: None,
        env: &[],
        args: &["-debug=bogus"],
        expect: &["Unsupported logging category -debug=bogus."],
    },
    Bad {
        what: "bad metrics address",
        file: None,
        env: &[],
        args: &["-metricsbind=nowhere"],
        expect: &["'nowhere'", "-metricsbind", "IP:port"],
    },
    Bad {
        what: "progress interval 0",
        file: None,
        env: &[],
        args: &["-progressinterval=0"],
        expect: &["'0'", "-progressinterval", "1..=3600000"],
    },
    Bad {
        what: "no rotated logs kept",
        file: Some("logmaxfiles = 0\n"),
        env: &[],
        args: &[],
        expect: &["blvm.toml:1", "'0'", "-logmaxfiles", "1..=1000"],
    },
    Bad {
        what: "user without password",
        file: None,
        env: &[("BLVM_RPCUSER", "alice")],
        args: &[],
        expect: &["-rpcpassword", "-rpcuser and -rpcpassword to be given together"],
    },
    Bad {
        what: "missing -conf file",
        file: None,
        env: &[],
        args: &["-conf=/nonexistent/blvm-test.toml"],
        expect: &["/nonexistent/blvm-test.toml", "cannot read"],
    },
    Bad {
        what: "value-less string option",
        file: None,
        env: &[],
        args: &["-loadblock"],
        expect: &["-loadblock", "a value"],
    },
];

#[test]
fn every_invalid_configuration_stops_startup_naming_key_value_and_allowed() {
    for case in BAD {
        let dir = tempfile::tempdir().unwrap();
        if let Some(f) = case.file {
            std::fs::write(dir.path().join("blvm.toml"), f).unwrap();
        }
        let dd = format!("-datadir={}", dir.path().display());
        let mut args = vec![dd.as_str(), "-rpcport=0"];
        args.extend_from_slice(case.args);
        let out = run(&args, case.env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}: expected exit 1, got {:?}\n{stderr}",
            case.what,
            out.status
        );
        assert!(stderr.starts_with("Error: "), "{}: {stderr}", case.what);
        for e in case.expect {
            assert!(stderr.contains(e), "{}: stderr lacks {e:?}:\n{stderr}", case.what);
        }
        // Stopped before touching the datadir.
        assert!(!dir.path().join("regtest").exists(), "{}: the node created its datadir", case.what);
    }
}

#[test]
fn help_and_version_work_even_with_a_broken_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blvm.toml"), "this is not toml\n").unwrap();
    let dd = format!("-datadir={}", dir.path().display());
    for flag in ["-help", "--help", "-h", "-?"] {
        let out = run(&[&dd, flag], &[("BLVM_DBCACHE", "1")]);
        assert!(out.status.success(), "{flag}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("Usage: blvm-node"), "{flag}");
    }
    let out = run(&[&dd, "-version"], &[]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("blvm-node version v{}", env!("CARGO_PKG_VERSION"))
    );
    // Without -help the same file stops startup.
    let out = run(&[&dd], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("blvm.toml"));
}

/// The options listed by `-help`: every `-name` at the start of an indented line.
fn help_options(help: &str) -> Vec<String> {
    help.lines()
        .filter_map(|l| l.strip_prefix("  -"))
        .map(|rest| rest.split(|c: char| c == '=' || c.is_whitespace()).next().unwrap_or("").to_string())
        .collect()
}

/// Values to try for an option: its documented default first, then common shapes.
fn candidates(default: &str) -> Vec<String> {
    let mut v = vec![default.to_string()];
    v.extend(["0", "1", "x", "net", "127.0.0.1", "127.0.0.1:9", "u:5a1t$0123"].map(String::from));
    v
}

#[test]
fn help_lists_exactly_the_accepted_options() {
    let out = run(&["-help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout).to_string();
    let listed = help_options(&help);
    let known: Vec<String> = OPTIONS.iter().map(|o| o.name.to_string()).collect();
    assert_eq!(listed, known, "-help must list OPTIONS, in order, and nothing else");
    for o in OPTIONS {
        let (name, kind, default) = (&o.name, &o.kind, &o.default);
        // Every listed option has a handler: it is never reported as unknown, and some value of
        // the right shape is accepted.
        let extra: Vec<String> = if *name == "rpcuser" {
            vec!["-rpcpassword=p".into()]
        } else if *name == "rpcpassword" {
            vec!["-rpcuser=u".into()]
        } else {
            vec![]
        };
        let values = if *kind == OptKind::Bool {
            vec![String::new(), "0".into()]
        } else if *name == "testactivationheight" {
            vec!["csv@432".into()]
        } else if *name == "test" {
            vec!["bip94".into()]
        } else if *name == "testassumeutxo" {
            vec![format!("300:{}:{}:301", "11".repeat(32), "22".repeat(32))]
        } else if *name == "onlynet" {
            vec!["ipv4".into()]
        } else if *name == "blocksdir" {
            // Must name an existing directory, as in Core.
            vec![std::env::temp_dir().display().to_string()]
        } else {
            candidates(default)
        };
        let mut accepted = None;
        for v in values {
            let arg = if v.is_empty() { format!("-{name}") } else { format!("-{name}={v}") };
            match parse_args(std::iter::once(arg.clone()).chain(extra.clone())) {
                Err(ConfigError::Unknown(n)) => panic!("{arg}: listed in -help but rejected as unknown option -{n}"),
                Ok(_) => accepted = Some(arg),
                Err(_) => {}
            }
        }
        assert!(accepted.is_some(), "no value of -{name} is accepted");
        // And it can be set from the environment as BLVM_<NAME> (`-` as `_`).
        assert_eq!(
            blvm_node::config::env_var_name(name),
            format!("BLVM_{}", name.to_uppercase().replace('-', "_"))
        );
    }
    // Things the code does not accept are not in the help and are rejected.
    assert!(matches!(parse_args(["-notanoption".to_string()]), Err(ConfigError::Unknown(_))));
    assert!(
        help.contains("BLVM_") && help.contains("blvm.toml"),
        "help explains the file and the environment"
    );
}

#[test]
fn configuration_doc_lists_every_option_with_its_default() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let begin = "<!-- options:begin (generated from OPTIONS; crates/node/tests/config.rs checks it) -->\n";
    let end = "<!-- options:end -->";
    let start = doc.find(begin).expect("begin marker") + begin.len();
    let stop = doc[start..].find(end).expect("end marker") + start;
    let want = options_markdown();
    assert!(
        doc[start..stop] == want,
        "docs/configuration.md is out of date; the table between the markers must be:\n{want}"
    );
}

#[test]
fn env_and_file_unit_precedence_in_process() {
    // load_config with an injected environment: the same rules without processes.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("blvm.toml"),
        "dbcache = 100\ndebug = [\"net\", \"rpc\"]\n[regtest]\nprune = 550\n[signet]\nprune = 600\n",
    )
    .unwrap();
    let dd = format!("-datadir={}", dir.path().display());
    let env: HashMap<&str, &str> = HashMap::from([("BLVM_DBCACHE", "200"), ("BLVM_LOADBLOCK", "a.hex,b.hex")]);
    let lookup = |k: &str| env.get(k).map(|v| v.to_string());
    let (c, _) = load_config([dd.clone()], &lookup).unwrap();
    assert_eq!(c.dbcache_mib, 200);
    assert_eq!(c.debug, vec!["net", "rpc"]);
    assert_eq!(c.prune_mib, 550);
    assert_eq!(c.loadblock, vec![PathBuf::from("a.hex"), PathBuf::from("b.hex")]);
    assert_eq!(c.config_files, vec![dir.path().join("blvm.toml")]);
    let (c, _) = load_config(
        [dd.clone(), "-signet".into(), "-dbcache=300".into(), "-debug=modules".into()],
        &lookup,
    )
    .unwrap();
    assert_eq!(
        (c.dbcache_mib, c.prune_mib, c.debug.clone()),
        (300, 600, vec!["modules".to_string()])
    );
    let (c, _) = load_config([dd, "-testnet4".into()], &|_| None).unwrap();
    assert_eq!(
        (c.dbcache_mib, c.prune_mib),
        (100, 0),
        "no [testnet4] section: top level, then defaults"
    );
}

#[test]
fn a_second_node_on_the_same_datadir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Running::start(dir.path(), "regtest", &["-rpcport=0"], &[]);
    first.wait_started();
    let dd = format!("-datadir={}", dir.path().display());
    let lock_msg = format!("Cannot obtain a lock on directory {}.", dir.path().join("regtest").display());
    let out = run(&[&dd, "-noprinttoconsole", "-rpcport=0"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "second node started: {stderr}");
    assert!(stderr.contains(&lock_msg), "{stderr}");
    let chain = support::chain_hex_path();
    let out = run(&[&dd, "-noprinttoconsole", "import", chain.to_str().unwrap()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains(&lock_msg),
        "import while the node runs: {stderr}"
    );
    // Another network in the same base datadir has its own lock.
    let mut other = Running::start(dir.path(), "signet", &["-signet", "-rpcport=0"], &[]);
    other.wait_started();
    other.stop();
    assert!(first.log().matches("node startup completed").count() == 1);
    first.stop();
    // Released on exit: the next node starts.
    let mut again = Running::start(dir.path(), "regtest", &["-rpcport=0"], &[]);
    again.wait_started();
    again.stop();
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac]Z` to UNIX seconds.
fn parse_utc(ts: &str) -> Option<i64> {
    let ts = ts.strip_suffix('Z')?;
    let (date, time) = ts.split_once('T')?;
    let d: Vec<i64> = date.split('-').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let t: Vec<&str> = time.split(':').collect();
    let (h, mi, s): (i64, i64, i64) = (
        t.first()?.parse().ok()?,
        t.get(1)?.parse().ok()?,
        t.get(2)?.split('.').next()?.parse().ok()?,
    );
    Some(days_from_civil(d[0], d[1], d[2]) * 86_400 + h * 3600 + mi * 60 + s)
}

#[test]
fn datadir_layout_and_utc_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    // A non-UTC local zone must not change the log's UTC timestamps.
    let mut n = Running::start(dir.path(), "regtest", &["-rpcport=0"], &[("TZ", "Asia/Tokyo")]);
    n.wait_started();
    let net = dir.path().join("regtest");
    for f in [".lock", ".cookie", "debug.log", "modules.sock"] {
        assert!(net.join(f).exists(), "missing {f}");
    }
    for d in ["blocks", "chainstate", "wallets"] {
        assert!(net.join(d).is_dir(), "missing {d}/");
    }
    let log = n.log();
    n.stop();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut checked = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let ts = line.split_whitespace().next().unwrap();
        let t = parse_utc(ts).unwrap_or_else(|| panic!("not a UTC RFC 3339 timestamp: {line}"));
        assert!((now - t).abs() < 300, "timestamp {ts} is not the current UTC time (now {now})");
        checked += 1;
    }
    assert!(checked >= 3, "{log}");
}

#[test]
fn test_activation_heights_and_policy_options_with_cores_errors() {
    let parse = |args: &[&str]| parse_args(args.iter().map(|s| s.to_string()));
    let err = |args: &[&str]| parse(args).err().map(|e| e.to_string()).unwrap_or_default();
    let (cfg, _) = parse(&["-testactivationheight=csv@432", "-testactivationheight=segwit@0"]).unwrap();
    assert_eq!(cfg.test_activation_heights, ["csv@432", "segwit@0"]);
    assert_eq!(
        err(&["-testactivationheight=csv"]),
        "Invalid format (csv) for -testactivationheight=name@height."
    );
    assert_eq!(
        err(&["-testactivationheight=taproot@1"]),
        "Invalid name (taproot@1) for -testactivationheight=name@height."
    );
    assert_eq!(
        err(&["-testactivationheight=csv@-1"]),
        "Invalid height value (csv@-1) for -testactivationheight=name@height."
    );
    assert_eq!(
        err(&["-testactivationheight="]),
        "Invalid format () for -testactivationheight=name@height."
    );
    // Core checks every block for a -checkblocks depth of 0 or below.
    assert_eq!(parse(&["-checkblocks=-1"]).unwrap().0.checkblocks, 0);
    assert_eq!(parse(&["-checkblocks=12"]).unwrap().0.checkblocks, 12);
    assert!(parse(&["-checkblocks=-x"]).is_err());
    assert!(err(&["-testnet4", "-testactivationheight=csv@1"]).contains("regression testing"));
    assert_eq!(
        err(&["-chain=main", "-acceptnonstdtxn=1"]),
        "acceptnonstdtxn is not currently supported for main chain"
    );
    assert_eq!(err(&["-dustrelayfee=x"]), "Invalid amount for -dustrelayfee=<amount>: 'x'");
    let (cfg, _) = parse(&[
        "-blocknotify=echo %s",
        "-shutdownnotify=a",
        "-shutdownnotify=b",
        "-minrelaytxfee=0.00002",
    ])
    .unwrap();
    assert_eq!(cfg.notify.block.as_deref(), Some("echo %s"));
    assert_eq!(cfg.notify.shutdown, ["a", "b"]);
    assert_eq!(cfg.policy.min_relay_fee, Some(2000));
}

#[test]
fn assumevalid_and_maxsigcachesize_as_core() {
    let parse = |args: &[&str]| parse_args(args.iter().map(|s| s.to_string()));
    let err = |args: &[&str]| parse(args).err().map(|e| e.to_string()).unwrap_or_default();
    let (cfg, _) = parse(&[]).unwrap();
    assert_eq!(cfg.assume_valid, None, "unset: the network's default");
    assert_eq!(cfg.maxsigcachesize, 32);
    let hash = "000000000000000000026811d149d4d261995ec5b3f64f439a0a10e1a464af9a";
    let (cfg, _) = parse(&[&format!("-assumevalid={hash}"), "-maxsigcachesize=0"]).unwrap();
    assert_eq!(cfg.assume_valid.map(|h| h.to_string()).as_deref(), Some(hash));
    assert_eq!(cfg.maxsigcachesize, 0);
    for off in ["-assumevalid=0", "-noassumevalid"] {
        let (cfg, _) = parse(&[off]).unwrap();
        assert_eq!(
            cfg.assume_valid.map(|h| h.to_string()).as_deref(),
            Some(&"0".repeat(64)[..]),
            "{off}"
        );
    }
    let (cfg, _) = parse(&["-assumevalid=0x1f"]).unwrap();
    assert_eq!(cfg.assume_valid.map(|h| h.to_string()), Some(format!("{:0>64}", "1f")));
    assert_eq!(
        err(&["-assumevalid=xyz"]),
        "Invalid assumevalid block hash specified (xyz), must be up to 64 hex digits (or 0 to disable)"
    );
    assert!(err(&["-maxsigcachesize=16385"]).contains("0..=16384"));
}

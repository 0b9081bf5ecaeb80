//! A third-party client against the real binary: tests/python/rpc_workflow.py drives a fresh
//! regtest node through python-bitcoinrpc's AuthServiceProxy with cookie authentication
//! (generate, send, see it in the mempool, mine, getrawtransaction).
//!
//! python-bitcoinrpc is installed by .ci/run. Under CI (env CI set) a missing module fails
//! this test; locally it is skipped with a message.

mod support;

use support::{http, node_proc};

use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn python_client_available() -> Result<(), String> {
    let out = Command::new("python3")
        .args(["-c", "import bitcoinrpc.authproxy"])
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

#[test]
fn python_bitcoinrpc_workflow_with_cookie_auth() {
    if let Err(why) = python_client_available() {
        if std::env::var_os("CI").is_some() {
            panic!("python-bitcoinrpc is required under CI (.ci/run installs it): {why}");
        }
        eprintln!("SKIPPED python_bitcoinrpc_workflow_with_cookie_auth: python-bitcoinrpc not installed ({why}); run `python3 -m pip install python-bitcoinrpc`");
        return;
    }
    let port = http::free_port();
    let mut n = node_proc::start_node(&[&format!("-rpcport={port}"), "-listen=0"], &[]);
    n.wait_started();
    let cookie_path = n.net_dir().join(".cookie");
    n.wait_until(Duration::from_secs(10), "cookie file", |n| n.net_dir().join(".cookie").exists());
    let cookie = std::fs::read_to_string(&cookie_path).unwrap();
    let (user, pass) = cookie.trim().split_once(':').expect("cookie is user:password");
    assert_eq!(user, "__cookie__");
    let url = format!("http://{user}:{pass}@127.0.0.1:{port}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/rpc_workflow.py");
    let out = Command::new("python3").arg(&script).arg(&url).output().expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "rpc_workflow.py failed ({})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- node log ---\n{}",
        out.status,
        n.log()
    );
    assert!(stdout.contains("rpc workflow passed"), "{stdout}");
    // Wrong credentials are refused (the script really authenticated with the cookie).
    let bad = Command::new("python3")
        .args(["-c", &format!("from bitcoinrpc.authproxy import AuthServiceProxy as P\ntry:\n  P('http://__cookie__:wrong@127.0.0.1:{port}').getblockcount()\nexcept Exception as e:\n  print('refused', e)\n")])
        .output()
        .expect("run python3");
    assert!(
        String::from_utf8_lossy(&bad.stdout).contains("refused"),
        "{}",
        String::from_utf8_lossy(&bad.stdout)
    );
    let (st, _) = n.stop(Duration::from_secs(30));
    assert!(st.success(), "node exit: {st}");
    assert!(n.net_dir().join("mempool.dat").exists(), "mempool dumped at shutdown");
}

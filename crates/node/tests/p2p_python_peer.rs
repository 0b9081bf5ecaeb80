//! An independent peer written with a third-party library (python-bitcoinlib) handshakes with a
//! real node, requests headers and blocks, and checks them against the shared chain
//! (tests/python/p2p_client.py). In CI (env CI set) a missing python-bitcoinlib fails the test;
//! locally the test is skipped with a message saying how to install it.

mod support;

use support::{http, node_proc, p2p_peer};

use std::process::Command;

fn have_python_bitcoinlib() -> bool {
    Command::new("python3")
        .args(["-c", "import bitcoin.messages, bitcoin.core"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn python_bitcoinlib_peer_gets_the_shared_chain() {
    if !have_python_bitcoinlib() {
        if std::env::var_os("CI").is_some() {
            panic!("python-bitcoinlib is not installed (pip install python-bitcoinlib); .ci/run installs it");
        }
        eprintln!("SKIPPED python_bitcoinlib_peer_gets_the_shared_chain: python3 module `bitcoin` (PyPI python-bitcoinlib) is not installed; run `python3 -m pip install python-bitcoinlib`");
        return;
    }
    let port = http::free_port();
    let node = node_proc::start_node_with_chain(
        &support::chain_hex_path(),
        &[&format!("-rpcport={port}"), "-port=0", "-bind=127.0.0.1"],
        &[],
    );
    node.wait_started();
    let addr = p2p_peer::p2p_addr(&node);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/p2p_client.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(addr.to_string())
        .arg(support::chain_hex_path())
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python peer failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nnode log:\n{}",
        node.log()
    );
    assert!(stdout.contains("OK handshake, 300 headers, 5 witness blocks"), "{stdout}");
    // The node saw a real peer with the library's user agent, and it left cleanly.
    node.wait_until(std::time::Duration::from_secs(5), "python peer in the log", |n| {
        n.log().contains("agent=/python-bitcoinlib:")
    });
}

//! signmessagewithprivkey and verifymessage against the real binary, with the expectations of
//! Core's functional test rpc_signmessagewithprivkey.py (same key, message and signature).

#[path = "support/http.rs"]
mod http;
#[path = "support/node_proc.rs"]
mod node_proc;
#[path = "support/p2p_peer.rs"]
mod p2p_peer;

use p2p_peer::{rpc, rpc_error};
use serde_json::{json, Value};

#[test]
fn message_signing_matches_core() {
    let port = http::free_port();
    let n = node_proc::start_node(&[&format!("-rpcport={port}"), "-listen=0"], &[]);
    n.wait_started();
    n.wait_until(std::time::Duration::from_secs(10), "cookie file", |n| {
        n.net_dir().join(".cookie").exists()
    });
    let call = |m: &str, p: Value| rpc(&n, port, m, p);
    let err = |m: &str, p: Value| rpc_error(&n, port, m, p);
    let message = "This is just a test message";
    let key = "cUeKHd5orzT3mz8P9pxyREHfsWtVfgsfDjiZZBcjUBAaGk1BTj7N";
    let expected = "INbVnW4e6PeRmsv2Qgu8NuopvrVjkcxob+sX8OcZG0SALhWybUjzMLPdAsXI46YZGb0KQTRii+wWIQzRpG/U+S0=";
    let sig = call("signmessagewithprivkey", json!([key, message]));
    assert_eq!(sig, json!(expected));
    let addrs: Vec<String> = ["pkh", "sh(wpkh", "wpkh"]
        .iter()
        .map(|f| {
            let close = if *f == "sh(wpkh" { "))" } else { ")" };
            let d = call("getdescriptorinfo", json!([format!("{f}({key}{close}")]));
            let desc = format!("{f}({key}{close}#{}", d["checksum"].as_str().unwrap());
            call("deriveaddresses", json!([desc]))[0].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(addrs[0], "mpLQjfK79b7CCV4VMJWEWAj5Mpx8Up5zxB");
    assert_eq!(call("verifymessage", json!([addrs[0], expected, message])), json!(true));
    assert_eq!(call("verifymessage", json!([addrs[0], expected, "another message"])), json!(false));
    for a in &addrs[1..] {
        assert_eq!(
            err("verifymessage", json!([a, expected, message])),
            (-3, "Address does not refer to key".into())
        );
    }
    for count in [0, 1, 3, 4, 5] {
        let (c, m) = err("signmessagewithprivkey", json!(vec!["dummy"; count]));
        assert_eq!(c, -1);
        assert!(m.contains("signmessagewithprivkey"), "{m}");
    }
    for count in [0, 1, 2, 4, 5] {
        let (c, m) = err("verifymessage", json!(vec!["dummy"; count]));
        assert_eq!(c, -1);
        assert!(m.contains("verifymessage"), "{m}");
    }
    assert_eq!(
        err("signmessagewithprivkey", json!(["invalid_key", message])),
        (-5, "Invalid private key".into())
    );
    assert_eq!(
        err("verifymessage", json!(["invalid_addr", expected, message])),
        (-5, "Invalid address".into())
    );
    assert_eq!(
        err(
            "verifymessage",
            json!(["mpLQjfK79b7CCV4VMJWEWAj5Mpx8Up5zxB", "invalid_sig", message])
        ),
        (-3, "Malformed base64 encoding".into())
    );
    // getaddrmaninfo: Core's per-network shape.
    let info = call("getaddrmaninfo", json!([]));
    for net in ["ipv4", "ipv6", "onion", "i2p", "cjdns", "all_networks"] {
        let o = &info[net];
        assert_eq!(
            o["total"],
            json!(o["new"].as_u64().unwrap() + o["tried"].as_u64().unwrap()),
            "{info}"
        );
    }
}

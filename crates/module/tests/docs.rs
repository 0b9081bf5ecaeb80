//! Keeps docs/module-protocol.md honest: its hex example comes from the real
//! encoder, its Python example is the file under tests/python, and that
//! example really talks to a node speaking this crate's protocol.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use blvm_module::*;
use tokio::net::UnixListener;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn protocol_doc() -> String {
    let path = crate_dir().join("../../docs/module-protocol.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn python_example() -> String {
    std::fs::read_to_string(crate_dir().join("tests/python/minimal_module.py")).expect("example")
}

/// The Handshake shown byte-for-byte in the protocol document.
fn documented_handshake() -> ModuleMessage {
    ModuleMessage::Handshake {
        protocol_versions: vec![1],
        module_name: "example".into(),
        module_version: "0.1.0".into(),
        token: Some("s3cret".into()),
    }
}

/// `xxd`-style dump: offset, 16 hex bytes, ASCII column.
fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String = chunk
            .iter()
            .map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '.' })
            .collect();
        out.push_str(&format!("{:08x}: {:<47}  {}\n", i * 16, hex.join(" "), ascii));
    }
    out
}

#[test]
fn protocol_doc_hex_example_matches_encoder() {
    let dump = hex_dump(&encode(&documented_handshake()).expect("encode"));
    println!("{dump}");
    assert!(
        protocol_doc().contains(&dump),
        "docs/module-protocol.md must contain this exact dump:\n{dump}"
    );
}

#[test]
fn protocol_doc_python_example_matches_file() {
    assert!(
        protocol_doc().contains(&python_example()),
        "docs/module-protocol.md must contain tests/python/minimal_module.py verbatim"
    );
}

#[test]
fn protocol_doc_lists_every_event_type_and_error_code() {
    let doc = protocol_doc();
    for t in EventType::ALL {
        assert!(doc.contains(&format!("`{}`", t.as_str())), "doc misses event {t}");
    }
    for c in Capability::ALL {
        assert!(doc.contains(&format!("`{}`", c.as_str())), "doc misses capability {c}");
    }
    for code in 1..=9u32 {
        let name = error_code::name(code);
        assert!(doc.contains(&format!("| {code} | `{name}`")), "doc misses code {code} {name}");
    }
}

fn python_with_msgpack() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import msgpack"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[tokio::test]
async fn python_minimal_module_runs_against_test_node() {
    if !python_with_msgpack() {
        // CI installs msgpack (.ci/run); there a missing package is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with the msgpack package is required in CI"
        );
        eprintln!("SKIPPED: python3 with the msgpack package is not installed (pip install msgpack)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("node.sock");
    let listener = UnixListener::bind(&sock).expect("bind");

    let child = tokio::process::Command::new("python3")
        .arg(crate_dir().join("tests/python/minimal_module.py"))
        .env("BLVM_MODULE_SOCKET", &sock)
        .env("BLVM_MODULE_TOKEN", "py-token")
        .env("BLVM_MODULE_NAME", "py-mod")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn python3");

    let node = async {
        let (mut s, _) = listener.accept().await.expect("accept");
        let max = DEFAULT_MAX_FRAME;
        let hello = read_frame(&mut s, max).await.expect("read").expect("frame");
        assert_eq!(
            hello,
            ModuleMessage::Handshake {
                protocol_versions: vec![1],
                module_name: "py-mod".into(),
                module_version: "0.1.0".into(),
                token: Some("py-token".into()),
            }
        );
        let ack = ModuleMessage::HandshakeAck {
            protocol_version: 1,
            node_version: "test".into(),
            module_id: 3,
            capabilities: vec!["read_chain".into()],
        };
        write_frame(&mut s, &ack, max).await.expect("write");
        let req = read_frame(&mut s, max).await.expect("read").expect("frame");
        assert_eq!(
            req,
            ModuleMessage::Request {
                id: 1,
                request: Request::SubscribeEvents {
                    event_types: vec![EventType::NodeShutdown],
                    from_sequence: None,
                },
            }
        );
        let resp = ModuleMessage::Response {
            id: 1,
            result: ResponseResult::Ok {
                body: ResponseBody::Subscribed {
                    event_types: vec![EventType::NodeShutdown],
                    current_sequence: 41,
                },
            },
        };
        write_frame(&mut s, &resp, max).await.expect("write");
        let lagged = ModuleMessage::Lagged {
            from_sequence: 42,
            to_sequence: 43,
            count: 2,
        };
        write_frame(&mut s, &lagged, max).await.expect("write");
        let shutdown = ModuleMessage::Event(EventMessage::new(
            44,
            1_700_000_000_000,
            EventPayload::NodeShutdown {
                reason: "signal".into(),
                timeout_seconds: 30,
            },
        ));
        write_frame(&mut s, &shutdown, max).await.expect("write");
        assert_eq!(
            read_frame(&mut s, max).await.expect("read"),
            Some(ModuleMessage::Ack { sequence: 44 })
        );
        assert!(matches!(
            read_frame(&mut s, max).await.expect("read"),
            Some(ModuleMessage::Goodbye { .. })
        ));
        assert_eq!(read_frame(&mut s, max).await.expect("read"), None);
    };
    tokio::time::timeout(Duration::from_secs(30), node)
        .await
        .expect("python module did not finish the exchange");
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("python exit")
        .expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("subscribed, current_sequence=41"), "{stdout}");
    assert!(stdout.contains("missed 2 events in 42..=43"), "{stdout}");
    assert!(stdout.contains("shutdown: reason=signal timeout=30s"), "{stdout}");
}

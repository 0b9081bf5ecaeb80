//! ModuleClient against a small node stand-in listening on a real Unix socket.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use blvm_module::*;
use common::{recv, send, WAIT};
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};

/// A listener in a fresh temp dir; the dir lives as long as this value.
struct TestNode {
    _dir: tempfile::TempDir,
    path: PathBuf,
    listener: UnixListener,
}

impl TestNode {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        TestNode { _dir: dir, path, listener }
    }

    /// Accepts one module, reads its Handshake and answers with a HandshakeAck.
    async fn accept(&self) -> (UnixStream, ModuleMessage) {
        let (mut stream, _) = self.listener.accept().await.expect("accept");
        let hello = recv(&mut stream).await.expect("handshake frame");
        send(
            &mut stream,
            &ModuleMessage::HandshakeAck {
                protocol_version: PROTOCOL_VERSION,
                node_version: "test-node/1.2.3".into(),
                module_id: 7,
                capabilities: vec!["read_chain".into(), "read_mempool".into()],
            },
        )
        .await;
        (stream, hello)
    }
}

async fn recv_request(stream: &mut UnixStream) -> (u64, Request) {
    match recv(stream).await {
        Some(ModuleMessage::Request { id, request }) => (id, request),
        other => panic!("expected Request, got {other:?}"),
    }
}

fn ok(body: ResponseBody) -> ResponseResult {
    ResponseResult::Ok { body }
}

fn event(sequence: u64, payload: EventPayload) -> ModuleMessage {
    ModuleMessage::Event(EventMessage::new(sequence, 1_700_000_000_000 + sequence, payload))
}

fn config() -> ClientConfig {
    ClientConfig::new("test-module", "9.9.9").with_token("tok-123")
}

async fn next(client: &mut ModuleClient) -> Option<ModuleMessage> {
    tokio::time::timeout(WAIT, client.next_event()).await.expect("next_event timed out")
}

#[tokio::test]
async fn handshake_sends_identity_and_token_and_exposes_ack() {
    let node = TestNode::new();
    let (client, server) = tokio::join!(ModuleClient::connect(&node.path, config()), node.accept());
    let client = client.expect("connect");
    let (_stream, hello) = server;
    assert_eq!(
        hello,
        ModuleMessage::Handshake {
            protocol_versions: vec![PROTOCOL_VERSION],
            module_name: "test-module".into(),
            module_version: "9.9.9".into(),
            token: Some("tok-123".into()),
        }
    );
    let hs = client.handshake();
    assert_eq!(hs.protocol_version, 1);
    assert_eq!(hs.node_version, "test-node/1.2.3");
    assert_eq!(hs.module_id, 7);
    assert!(hs.has_capability(Capability::ReadChain));
    assert!(hs.has_capability(Capability::ReadMempool));
    assert!(!hs.has_capability(Capability::SubmitTransactions));
    assert!(!client.is_closed());
}

#[tokio::test]
async fn handshake_error_reply_is_rejected_error() {
    let node = TestNode::new();
    let server = async {
        let (mut stream, _) = node.listener.accept().await.expect("accept");
        let hello = recv(&mut stream).await;
        assert!(matches!(hello, Some(ModuleMessage::Handshake { token: None, .. })));
        send(
            &mut stream,
            &ModuleMessage::Error {
                code: error_code::UNAUTHORIZED,
                message: "bad token".into(),
            },
        )
        .await;
    };
    let (client, ()) = tokio::join!(ModuleClient::connect(&node.path, ClientConfig::new("m", "1")), server);
    match client {
        Err(ClientError::Rejected { code, message }) => {
            assert_eq!(code, error_code::UNAUTHORIZED);
            assert_eq!(message, "bad token");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn handshake_with_unoffered_version_or_wrong_message_fails() {
    let node = TestNode::new();
    let server = async {
        let (mut stream, _) = node.listener.accept().await.expect("accept");
        recv(&mut stream).await;
        send(
            &mut stream,
            &ModuleMessage::HandshakeAck {
                protocol_version: 99,
                node_version: "n".into(),
                module_id: 1,
                capabilities: vec![],
            },
        )
        .await;
        let (mut stream, _) = node.listener.accept().await.expect("accept");
        recv(&mut stream).await;
        send(&mut stream, &ModuleMessage::Ack { sequence: 1 }).await;
        let (mut stream, _) = node.listener.accept().await.expect("accept");
        recv(&mut stream).await;
        drop(stream);
    };
    let client = async {
        let a = ModuleClient::connect(&node.path, config()).await;
        assert!(matches!(a, Err(ClientError::Protocol(_))), "{a:?}");
        let b = ModuleClient::connect(&node.path, config()).await;
        assert!(matches!(b, Err(ClientError::Protocol(_))), "{b:?}");
        let c = ModuleClient::connect(&node.path, config()).await;
        assert!(matches!(c, Err(ClientError::Disconnected)), "{c:?}");
    };
    tokio::join!(server, client);
}

#[tokio::test]
async fn connect_to_missing_socket_is_connect_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = ModuleClient::connect(dir.path().join("nope.sock"), config())
        .await
        .expect_err("no socket");
    assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
}

#[tokio::test]
async fn concurrent_requests_are_correlated_when_answered_out_of_order() {
    let node = TestNode::new();
    let (client, (mut stream, _)) = tokio::join!(ModuleClient::connect(&node.path, config()), node.accept());
    let client = client.expect("connect");

    let server = async move {
        let (id_a, req_a) = recv_request(&mut stream).await;
        let (id_b, req_b) = recv_request(&mut stream).await;
        assert_ne!(id_a, id_b);
        let answer = |req: &Request| match req {
            Request::GetChainTip => ok(ResponseBody::ChainTip(ChainTip {
                hash: "ab".repeat(32),
                height: 321,
                chainwork: "ff".into(),
            })),
            Request::GetMempoolTxids => ok(ResponseBody::Txids {
                txids: vec!["cd".repeat(32)],
            }),
            other => panic!("unexpected request {other:?}"),
        };
        // Answer the second request first.
        send(
            &mut stream,
            &ModuleMessage::Response {
                id: id_b,
                result: answer(&req_b),
            },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        send(
            &mut stream,
            &ModuleMessage::Response {
                id: id_a,
                result: answer(&req_a),
            },
        )
        .await;
        stream
    };
    let (tip, txids, _stream) = tokio::join!(client.get_chain_tip(), client.get_mempool_txids(), server);
    let tip = tip.expect("tip");
    assert_eq!(tip.height, 321);
    assert_eq!(tip.hash, "ab".repeat(32));
    assert_eq!(txids.expect("txids"), vec!["cd".repeat(32)]);
}

#[tokio::test]
async fn typed_methods_send_matching_requests_and_unpack_bodies() {
    let node = TestNode::new();
    let (client, (mut stream, _)) = tokio::join!(ModuleClient::connect(&node.path, config()), node.accept());
    let client = client.expect("connect");

    let server = async move {
        let expected = [
            Request::GetBlock {
                hash: None,
                height: Some(5),
            },
            Request::GetBlock {
                hash: Some("aa".into()),
                height: None,
            },
            Request::GetBlockHeader {
                hash: None,
                height: Some(6),
            },
            Request::GetUtxo {
                txid: "bb".into(),
                vout: 2,
            },
            Request::SubmitTransaction { hex: "0200".into() },
            Request::ReportHealth {
                healthy: false,
                report: Some("db slow".into()),
            },
            Request::PublishEvent {
                name: "indexed".into(),
                data: "{}".into(),
            },
            Request::GetTransaction { txid: "cc".into() },
        ];
        for want in expected {
            let (id, got) = recv_request(&mut stream).await;
            assert_eq!(got, want);
            let result = match got {
                Request::GetBlock { hash, height } => ok(ResponseBody::Block(BlockData {
                    hash: hash.unwrap_or_else(|| "00".into()),
                    height,
                    raw: vec![1, 2, 3],
                })),
                Request::GetBlockHeader { .. } => ok(ResponseBody::BlockHeader(BlockHeaderData {
                    hash: "00".into(),
                    height: 6,
                    raw: vec![0; 80],
                })),
                Request::GetUtxo { .. } => ok(ResponseBody::Utxo { utxo: None }),
                Request::SubmitTransaction { .. } => ok(ResponseBody::Submitted { txid: "ee".into() }),
                Request::ReportHealth { .. } | Request::PublishEvent { .. } => ok(ResponseBody::Done),
                Request::GetTransaction { .. } => ResponseResult::Err {
                    code: error_code::NOT_FOUND,
                    message: "unknown txid".into(),
                },
                other => panic!("unexpected {other:?}"),
            };
            send(&mut stream, &ModuleMessage::Response { id, result }).await;
        }
        stream
    };
    let client_side = async {
        let b = client.get_block_by_height(5).await.expect("block");
        assert_eq!((b.height, b.raw), (Some(5), vec![1, 2, 3]));
        let b = client.get_block_by_hash("aa").await.expect("block");
        assert_eq!(b.hash, "aa");
        let h = client.get_block_header(6).await.expect("header");
        assert_eq!(h.raw.len(), 80);
        assert_eq!(client.get_utxo("bb", 2).await.expect("utxo"), None);
        assert_eq!(client.submit_transaction("0200").await.expect("submit"), "ee");
        client.report_health(false, Some("db slow".into())).await.expect("health");
        client.publish_event("indexed", "{}").await.expect("publish");
        let err = client.get_transaction("cc").await.expect_err("not found");
        assert!(err.is_not_found(), "{err:?}");
        assert!(matches!(err, ClientError::Remote { code: 3, .. }));
    };
    let (_stream, ()) = tokio::join!(server, client_side);
}

#[tokio::test]
async fn mismatched_response_body_is_unexpected_response() {
    let node = TestNode::new();
    let (client, (mut stream, _)) = tokio::join!(ModuleClient::connect(&node.path, config()), node.accept());
    let client = client.expect("connect");
    let server = async move {
        let (id, _) = recv_request(&mut stream).await;
        send(
            &mut stream,
            &ModuleMessage::Response {
                id,
                result: ok(ResponseBody::Done),
            },
        )
        .await;
        stream
    };
    let (res, _stream) = tokio::join!(client.get_peers(), server);
    assert!(matches!(
        res,
        Err(ClientError::UnexpectedResponse {
            expected: "Peers",
            got: "Done"
        })
    ));
}

#[tokio::test]
async fn events_arrive_in_order_and_ack_reaches_server() {
    let node = TestNode::new();
    let (client, (mut stream, _)) = tokio::join!(ModuleClient::connect(&node.path, config()), node.accept());
    let mut client = client.expect("connect");

    let server = async move {
        let (id, req) = recv_request(&mut stream).await;
        assert_eq!(
            req,
            Request::SubscribeEvents {
                event_types: vec![EventType::NodeShutdown, EventType::StorageFlush],
                from_sequence: None,
            }
        );
        send(
            &mut stream,
            &ModuleMessage::Response {
                id,
                result: ok(ResponseBody::Subscribed {
                    event_types: vec![EventType::NodeShutdown, EventType::StorageFlush],
                    current_sequence: 10,
                }),
            },
        )
        .await;
        send(&mut stream, &event(11, EventPayload::StorageFlush { reason: "periodic".into() })).await;
        send(
            &mut stream,
            &event(
                12,
                EventPayload::StorageFlushCompleted {
                    success: true,
                    duration_ms: 3,
                },
            ),
        )
        .await;
        send(
            &mut stream,
            &ModuleMessage::Lagged {
                from_sequence: 13,
                to_sequence: 15,
                count: 2,
            },
        )
        .await;
        send(
            &mut stream,
            &event(
                16,
                EventPayload::NodeShutdown {
                    reason: "graceful".into(),
                    timeout_seconds: 30,
                },
            ),
        )
        .await;
        // The module acks the flush and the shutdown, in that order.
        assert_eq!(recv(&mut stream).await, Some(ModuleMessage::Ack { sequence: 11 }));
        assert_eq!(recv(&mut stream).await, Some(ModuleMessage::Ack { sequence: 16 }));
        stream
    };

    let module = async {
        let sub = client
            .subscribe_events(vec![EventType::NodeShutdown, EventType::StorageFlush])
            .await
            .expect("subscribe");
        assert_eq!(sub.current_sequence, 10);
        let mut seen = Vec::new();
        loop {
            let msg = next(&mut client).await.expect("event");
            match msg {
                ModuleMessage::Event(event_msg) => {
                    seen.push(event_msg.sequence);
                    match event_msg.event_type {
                        EventType::NodeShutdown => {
                            if let EventPayload::NodeShutdown { reason, timeout_seconds } = &event_msg.payload {
                                assert_eq!((reason.as_str(), *timeout_seconds), ("graceful", 30));
                                assert!(event_msg.requires_ack());
                                client.ack(event_msg.sequence).await.expect("ack");
                                break;
                            }
                        }
                        EventType::StorageFlush => {
                            assert_eq!(event_msg.timestamp_ms, 1_700_000_000_011);
                            client.ack(event_msg.sequence).await.expect("ack");
                        }
                        _ => assert!(!event_msg.requires_ack()),
                    }
                }
                ModuleMessage::Lagged {
                    from_sequence,
                    to_sequence,
                    count,
                } => {
                    assert_eq!((from_sequence, to_sequence, count), (13, 15, 2));
                    seen.push(0);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seen, [11, 12, 0, 16]);
    };
    let (_stream, ()) = tokio::join!(server, module);
}

#[tokio::test]
async fn pending_request_fails_with_disconnected_when_server_closes() {
    let node = TestNode::new();
    let (client, (mut stream, _)) = tokio::join!(ModuleClient::connect(&node.path, config()), node.accept());
    let mut client = client.expect("connect");
    let server = async move {
        let _ = recv_request(&mut stream).await;
        send(&mut stream, &ModuleMessage::Goodbye { reason: "bye".into() }).await;
        drop(stream);
    };
    let started = std::time::Instant::now();
    let (res, ()) = tokio::join!(client.get_chain_tip(), server);
    assert!(matches!(res, Err(ClientError::Disconnected)), "{res:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "must not wait for the timeout");

    // Queued messages are still delivered, then the stream ends.
    assert_eq!(next(&mut client).await, Some(ModuleMessage::Goodbye { reason: "bye".into() }));
    assert_eq!(next(&mut client).await, None);
    assert!(client.is_closed());
    assert!(matches!(client.get_sync_status().await, Err(ClientError::Disconnected)));
}

#[tokio::test]
async fn request_times_out_and_late_response_is_ignored() {
    let node = TestNode::new();
    let cfg = config().with_request_timeout(Duration::from_millis(200));
    let (client, (mut stream, _)) = tokio::join!(ModuleClient::connect(&node.path, cfg), node.accept());
    let client = client.expect("connect");
    let server = async move {
        let (late_id, _) = recv_request(&mut stream).await;
        let (id, _) = recv_request(&mut stream).await;
        // Answer the timed-out request late, then the live one.
        send(
            &mut stream,
            &ModuleMessage::Response {
                id: late_id,
                result: ok(ResponseBody::Done),
            },
        )
        .await;
        send(
            &mut stream,
            &ModuleMessage::Response {
                id,
                result: ok(ResponseBody::SyncStatus(SyncStatus {
                    syncing: false,
                    height: 1,
                    target_height: 1,
                })),
            },
        )
        .await;
        stream
    };
    let client_side = async {
        let err = client.get_blockchain_info().await.expect_err("timeout");
        assert!(
            matches!(
                err,
                ClientError::Timeout {
                    method: "GetBlockchainInfo",
                    ..
                }
            ),
            "{err:?}"
        );
        let status = client.get_sync_status().await.expect("status");
        assert!(!status.syncing);
    };
    let (_stream, ()) = tokio::join!(server, client_side);
}

#[tokio::test]
async fn full_event_queue_reports_exact_lag_without_blocking_responses() {
    let node = TestNode::new();
    let cfg = ClientConfig {
        event_buffer: 2,
        ..config()
    };
    let (client, (mut stream, _)) = tokio::join!(ModuleClient::connect(&node.path, cfg), node.accept());
    let mut client = client.expect("connect");

    // Flood 10 events while the module is not draining, then answer a request.
    for seq in 1..=10 {
        send(&mut stream, &event(seq, EventPayload::NodeShutdownCompleted { duration_ms: seq })).await;
    }
    let server = async {
        let (id, _) = recv_request(&mut stream).await;
        send(
            &mut stream,
            &ModuleMessage::Response {
                id,
                result: ok(ResponseBody::Done),
            },
        )
        .await;
    };
    let (res, ()) = tokio::join!(client.report_health(true, None), server);
    res.expect("response routed while the event queue is full");

    let seq_of = |m: Option<ModuleMessage>| match m {
        Some(ModuleMessage::Event(e)) => e.sequence,
        other => panic!("expected event, got {other:?}"),
    };
    assert_eq!(seq_of(next(&mut client).await), 1);
    assert_eq!(seq_of(next(&mut client).await), 2);
    assert_eq!(
        next(&mut client).await,
        Some(ModuleMessage::Lagged {
            from_sequence: 3,
            to_sequence: 10,
            count: 8
        })
    );
    send(&mut stream, &event(11, EventPayload::NodeShutdownCompleted { duration_ms: 0 })).await;
    assert_eq!(seq_of(next(&mut client).await), 11);
}

#[tokio::test]
async fn node_initiated_request_is_queued_and_respond_reaches_server() {
    let node = TestNode::new();
    let (client, (mut stream, _)) = tokio::join!(ModuleClient::connect(&node.path, config()), node.accept());
    let mut client = client.expect("connect");
    send(
        &mut stream,
        &ModuleMessage::Request {
            id: 99,
            request: Request::GetChainTip,
        },
    )
    .await;
    match next(&mut client).await {
        Some(ModuleMessage::Request { id, request }) => {
            assert_eq!((id, request), (99, Request::GetChainTip));
            client
                .respond(
                    id,
                    ResponseResult::Err {
                        code: error_code::MALFORMED,
                        message: "unsupported".into(),
                    },
                )
                .await
                .expect("respond");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        recv(&mut stream).await,
        Some(ModuleMessage::Response {
            id: 99,
            result: ResponseResult::Err {
                code: 1,
                message: "unsupported".into()
            }
        })
    );
}

#[tokio::test]
async fn oversized_outgoing_request_is_refused_locally_and_connection_survives() {
    let node = TestNode::new();
    let cfg = ClientConfig {
        max_frame: 1024,
        ..config()
    };
    let (client, (mut stream, _)) = tokio::join!(ModuleClient::connect(&node.path, cfg), node.accept());
    let client = client.expect("connect");
    let err = client.submit_transaction("00".repeat(1024)).await.expect_err("too big");
    assert!(
        matches!(err, ClientError::Codec(CodecError::FrameTooLarge { max: 1024, .. })),
        "{err:?}"
    );
    client.ack(5).await.expect("still connected");
    assert_eq!(recv(&mut stream).await, Some(ModuleMessage::Ack { sequence: 5 }));
}

#[tokio::test]
async fn close_sends_goodbye_then_eof() {
    let node = TestNode::new();
    let (client, (mut stream, _)) = tokio::join!(ModuleClient::connect(&node.path, config()), node.accept());
    client.expect("connect").close().await.expect("close");
    assert!(matches!(recv(&mut stream).await, Some(ModuleMessage::Goodbye { .. })));
    assert_eq!(recv(&mut stream).await, None);
}

#[tokio::test]
async fn dropping_client_stops_its_tasks_and_closes_the_socket() {
    let node = TestNode::new();
    let (client, (mut stream, _)) = tokio::join!(ModuleClient::connect(&node.path, config()), node.accept());
    let client = client.expect("connect");
    client.ack(1).await.expect("ack");
    drop(client);
    // Anything already queued is flushed, then the writer half-closes.
    assert_eq!(recv(&mut stream).await, Some(ModuleMessage::Ack { sequence: 1 }));
    assert_eq!(recv(&mut stream).await, None);
    // Once both tasks are gone the socket is fully closed: writes start failing.
    // (Responses to unknown ids would be silently consumed by a still-running reader.)
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let frame = encode(&ModuleMessage::Response {
            id: 12345,
            result: ok(ResponseBody::Done),
        })
        .expect("encode");
        let write = tokio::time::timeout(Duration::from_millis(100), stream.write_all(&frame));
        if let Ok(Err(_)) = write.await {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "socket never closed: task leak");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn module_env_reads_variables_and_defaults() {
    let vars =
        |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
    let env = ModuleEnv::from_lookup(vars(&[
        (ENV_SOCKET, "/run/blvm/m.sock"),
        (ENV_NAME, "indexer"),
        (ENV_TOKEN, "t"),
        (ENV_DATA_DIR, "/var/lib/blvm/modules/indexer"),
        (ENV_CONFIG, r#"{"depth": 3}"#),
    ]))
    .expect("env");
    assert_eq!(env.socket_path, PathBuf::from("/run/blvm/m.sock"));
    assert_eq!(env.module_name, "indexer");
    assert_eq!(env.module_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(env.token.as_deref(), Some("t"));
    assert_eq!(env.data_dir, Some(PathBuf::from("/var/lib/blvm/modules/indexer")));
    assert_eq!(env.config, Some(serde_json::json!({"depth": 3})));

    let env = ModuleEnv::from_lookup(vars(&[(ENV_SOCKET, "/s"), (ENV_NAME, "n"), (ENV_VERSION, "2.0"), (ENV_TOKEN, "")])).expect("env");
    assert_eq!((env.module_version.as_str(), env.token, env.config), ("2.0", None, None));

    assert!(matches!(
        ModuleEnv::from_lookup(vars(&[(ENV_NAME, "n")])),
        Err(ClientError::MissingEnv("BLVM_MODULE_SOCKET"))
    ));
    assert!(matches!(
        ModuleEnv::from_lookup(vars(&[(ENV_SOCKET, "/s")])),
        Err(ClientError::MissingEnv("BLVM_MODULE_NAME"))
    ));
    assert!(matches!(
        ModuleEnv::from_lookup(vars(&[(ENV_SOCKET, "/s"), (ENV_NAME, "n"), (ENV_CONFIG, "{not json")])),
        Err(ClientError::InvalidConfig(_))
    ));
}

#[tokio::test]
async fn connect_with_env_exposes_data_dir_and_config() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Cfg {
        depth: u32,
    }
    let node = TestNode::new();
    let env = ModuleEnv {
        socket_path: node.path.clone(),
        token: Some("env-token".into()),
        module_name: "envmod".into(),
        module_version: "0.0.1".into(),
        data_dir: Some(PathBuf::from("/data/envmod")),
        config: Some(serde_json::json!({"depth": 4})),
    };
    let (client, (_stream, hello)) = tokio::join!(ModuleClient::connect_with_env(env), node.accept());
    let client = client.expect("connect");
    assert!(matches!(
        hello,
        ModuleMessage::Handshake { ref module_name, ref token, .. }
            if module_name == "envmod" && token.as_deref() == Some("env-token")
    ));
    assert_eq!(client.data_dir(), Some(std::path::Path::new("/data/envmod")));
    assert_eq!(client.config(), Some(&serde_json::json!({"depth": 4})));
    assert_eq!(client.config_as::<Cfg>().expect("cfg"), Some(Cfg { depth: 4 }));
}

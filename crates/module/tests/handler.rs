//! `run_with_handler` against a node stand-in on a real Unix socket: acks go out only after the
//! handler finished (also when it failed), never twice, never for events the node does not wait
//! for; requests are refused by default; lag is reported.

mod common;

use std::path::PathBuf;

use blvm_module::*;
use common::{recv, send, WAIT};
use tokio::net::{UnixListener, UnixStream};

fn event(sequence: u64, payload: EventPayload) -> ModuleMessage {
    ModuleMessage::Event(EventMessage::new(sequence, 1_700_000_000_000, payload))
}

/// Connects a client to a fresh listener; returns it with the node side of the socket.
async fn connect() -> (tempfile::TempDir, ModuleClient, UnixStream) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path: PathBuf = dir.path().join("node.sock");
    let listener = UnixListener::bind(&path).expect("bind");
    let server = async {
        let (mut stream, _) = listener.accept().await.expect("accept");
        recv(&mut stream).await.expect("handshake");
        let ack = ModuleMessage::HandshakeAck {
            protocol_version: PROTOCOL_VERSION,
            node_version: "test".into(),
            module_id: 1,
            capabilities: vec!["report_health".into()],
        };
        send(&mut stream, &ack).await;
        stream
    };
    let (client, stream) = tokio::join!(ModuleClient::connect(&path, ClientConfig::new("h", "1")), server);
    (dir, client.expect("connect"), stream)
}

/// Records what it saw; reports health (a request) before finishing each shutdown, fails flushes
/// with reason "fail", and acks DataCleanup by hand.
#[derive(Default)]
struct Recorder {
    seen: Vec<u64>,
}

impl EventHandler for Recorder {
    async fn on_event(&mut self, event_msg: &EventMessage, ctx: &mut EventContext<'_>) -> Result<(), HandlerError> {
        self.seen.push(event_msg.sequence);
        match &event_msg.payload {
            EventPayload::NodeShutdown { .. } => {
                ctx.client().report_health(true, Some("cleaned".into())).await?;
            }
            EventPayload::StorageFlush { reason } if reason == "fail" => {
                return Err(std::io::Error::other("disk on fire").into());
            }
            EventPayload::DataCleanup { .. } => {
                ctx.ack().await?;
                ctx.ack().await?;
                assert!(ctx.is_acked());
            }
            _ => {}
        }
        Ok(())
    }
}

#[tokio::test]
async fn acks_after_the_handler_finished_even_on_failure_and_only_once() {
    let (_dir, mut client, mut node) = connect().await;
    let node_side = async move {
        send(
            &mut node,
            &event(
                1,
                EventPayload::NodeShutdown {
                    reason: "signal".into(),
                    timeout_seconds: 5,
                },
            ),
        )
        .await;
        // The handler's request comes first; only after it is answered may the ack follow.
        let id = match recv(&mut node).await {
            Some(ModuleMessage::Request {
                id,
                request: Request::ReportHealth { healthy: true, .. },
            }) => id,
            other => panic!("expected ReportHealth before the ack, got {other:?}"),
        };
        send(
            &mut node,
            &ModuleMessage::Response {
                id,
                result: ResponseResult::Ok { body: ResponseBody::Done },
            },
        )
        .await;
        assert_eq!(recv(&mut node).await, Some(ModuleMessage::Ack { sequence: 1 }));

        // A failing handler is still acked (the node must not wait for its deadline).
        send(&mut node, &event(2, EventPayload::StorageFlush { reason: "fail".into() })).await;
        assert_eq!(recv(&mut node).await, Some(ModuleMessage::Ack { sequence: 2 }));

        // No ack for an event the node does not wait for; one ack for a manually acked one.
        send(&mut node, &event(3, EventPayload::NodeShutdownCompleted { duration_ms: 1 })).await;
        send(
            &mut node,
            &event(
                4,
                EventPayload::DataCleanup {
                    cleanup_type: "manual".into(),
                    target_age_days: Some(1),
                },
            ),
        )
        .await;
        send(&mut node, &event(5, EventPayload::StorageFlush { reason: "shutdown".into() })).await;
        assert_eq!(recv(&mut node).await, Some(ModuleMessage::Ack { sequence: 4 }));
        assert_eq!(recv(&mut node).await, Some(ModuleMessage::Ack { sequence: 5 }));

        // Lag is counted; a node-initiated request is refused by default.
        send(
            &mut node,
            &ModuleMessage::Lagged {
                from_sequence: 6,
                to_sequence: 8,
                count: 3,
            },
        )
        .await;
        send(
            &mut node,
            &ModuleMessage::Request {
                id: 42,
                request: Request::GetChainTip,
            },
        )
        .await;
        match recv(&mut node).await {
            Some(ModuleMessage::Response {
                id: 42,
                result: ResponseResult::Err { code, .. },
            }) => {
                assert_eq!(code, error_code::MALFORMED)
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        drop(node);
    };
    let mut handler = Recorder::default();
    let (summary, ()) = tokio::join!(
        async {
            tokio::time::timeout(WAIT, run_with_handler(&mut client, &mut handler))
                .await
                .expect("runner ends on close")
        },
        node_side
    );
    assert_eq!(handler.seen, vec![1, 2, 3, 4, 5]);
    assert_eq!(
        summary,
        RunSummary {
            events: 5,
            failed: 1,
            lagged: 3
        }
    );
}

//! The HTTP JSON-RPC server: Core-compatible framing, auth, status codes, batches, and a
//! bounded work queue. Binds to 127.0.0.1 by default.

use super::auth::RpcAuth;
use super::error::{code, RpcError};
use super::methods;
use crate::node::Node;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// Largest accepted request body (a 4 MB block in hex fits comfortably).
pub const MAX_BODY: usize = 32 * 1024 * 1024;

/// Tunables of the RPC server.
#[derive(Debug, Clone)]
pub struct RpcSettings {
    /// Addresses to listen on.
    pub bind: Vec<SocketAddr>,
    /// Requests executed at once (`-rpcthreads`).
    pub threads: usize,
    /// Requests allowed to wait for a worker before HTTP 503 (`-rpcworkqueue`).
    pub work_queue: usize,
    /// Accepted credentials (cookie added at start).
    pub auth: RpcAuth,
    /// Where to write `.cookie` (None: no cookie, e.g. when -rpcpassword is set).
    pub cookie_path: Option<std::path::PathBuf>,
}

struct ServerState {
    node: Weak<Node>,
    auth: RpcAuth,
    workers: Semaphore,
    queued: AtomicUsize,
    work_queue: usize,
}

fn reply(status: StatusCode, body: Option<Value>) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(status);
    let bytes = match body {
        Some(v) => {
            b = b.header("Content-Type", "application/json");
            // Core's number formats: amounts with 8 decimals, other doubles as %.16g.
            let mut s = super::corejson::to_string(&v);
            s.push('\n');
            Bytes::from(s)
        }
        None => Bytes::new(),
    };
    b.body(Full::new(bytes)).unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn text(status: StatusCode, t: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("Content-Type", "text/html")
        .body(Full::new(Bytes::from(t.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Starts listening; returns the bound addresses and the accept task.
pub async fn start(
    node: &Arc<Node>,
    settings: RpcSettings,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<(Vec<SocketAddr>, tokio::task::JoinHandle<()>)> {
    let mut listeners = Vec::new();
    for addr in &settings.bind {
        listeners.push(TcpListener::bind(addr).await?);
    }
    let bound: Vec<SocketAddr> = listeners.iter().filter_map(|l| l.local_addr().ok()).collect();
    let mut auth = settings.auth.clone();
    let cookie = match &settings.cookie_path {
        Some(p) => Some(auth.write_cookie(p)?),
        None => None,
    };
    let state = Arc::new(ServerState {
        node: Arc::downgrade(node),
        auth,
        workers: Semaphore::new(settings.threads.max(1)),
        queued: AtomicUsize::new(0),
        work_queue: settings.work_queue.max(1),
    });
    let handle = tokio::spawn(async move {
        let _cookie = cookie;
        let mut conns = tokio::task::JoinSet::new();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        for l in listeners {
            let tx = tx.clone();
            let mut stop = stop.clone();
            conns.spawn(async move {
                loop {
                    tokio::select! {
                        r = l.accept() => match r {
                            Ok((s, _)) => { if tx.send(s).await.is_err() { break; } }
                            Err(e) => { tracing::warn!(target: "blvm::rpc", "accept: {e}"); tokio::time::sleep(Duration::from_millis(50)).await; }
                        },
                        _ = stop.changed() => break,
                    }
                }
            });
        }
        drop(tx);
        let mut rx = rx;
        loop {
            tokio::select! {
                s = rx.recv() => {
                    let Some(stream) = s else { break };
                    let st = state.clone();
                    conns.spawn(async move {
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let svc = hyper::service::service_fn(move |req| {
                            let st = st.clone();
                            async move { Ok::<_, std::convert::Infallible>(handle(st, req).await) }
                        });
                        let conn = hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(io, svc);
                        // Slow or idle clients cannot hold a connection forever.
                        let _ = tokio::time::timeout(Duration::from_secs(900), conn).await;
                    });
                }
                _ = stop.changed() => break,
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        // Give in-flight requests (like `stop` itself) a moment, then drop the rest.
        let _ = tokio::time::timeout(Duration::from_secs(2), async { while conns.join_next().await.is_some() {} }).await;
        conns.abort_all();
    });
    Ok((bound, handle))
}

async fn handle(st: Arc<ServerState>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let auth = req.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if !st.auth.check(auth) {
        tracing::warn!(target: "blvm::rpc", "incorrect RPC credentials");
        // Core delays failed logins to slow brute forcing.
        tokio::time::sleep(Duration::from_millis(250)).await;
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("WWW-Authenticate", "Basic realm=\"jsonrpc\"")
            .body(Full::new(Bytes::new()))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
    }
    if req.method() != hyper::Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "JSONRPC server handles only POST requests");
    }
    let wallet_path = req.uri().path().starts_with("/wallet/");
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "request too large"),
    };
    if st.queued.fetch_add(1, Ordering::SeqCst) >= st.work_queue + st.workers.available_permits() {
        st.queued.fetch_sub(1, Ordering::SeqCst);
        tracing::warn!(target: "blvm::rpc", "request rejected because http work queue depth exceeded");
        return text(StatusCode::SERVICE_UNAVAILABLE, "Work queue depth exceeded");
    }
    let permit = st.workers.acquire().await;
    st.queued.fetch_sub(1, Ordering::SeqCst);
    let Ok(_permit) = permit else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    let Some(node) = st.node.upgrade() else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(json!({"result": null, "error": {"code": code::PARSE_ERROR, "message": "Parse error"}, "id": null})),
            )
        }
    };
    match parsed {
        Value::Object(_) => {
            let (status, body) = single(&node, &parsed, wallet_path, false).await;
            reply(status, body)
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in &items {
                if let (_, Some(v)) = single(&node, item, wallet_path, true).await {
                    out.push(v);
                }
            }
            reply(StatusCode::OK, Some(Value::Array(out)))
        }
        _ => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(json!({"result": null, "error": {"code": code::PARSE_ERROR, "message": "Top-level object parse error"}, "id": null})),
        ),
    }
}

/// Runs one request object; returns the HTTP status (for non-batch calls) and the reply object
/// (None for JSON-RPC 2.0 notifications).
async fn single(node: &Arc<Node>, req: &Value, wallet_path: bool, in_batch: bool) -> (StatusCode, Option<Value>) {
    let Value::Object(obj) = req else {
        let e = RpcError::new(code::INVALID_REQUEST, "Invalid Request object");
        return (
            StatusCode::BAD_REQUEST,
            Some(json!({"result": null, "error": e.to_json(), "id": null})),
        );
    };
    let v2 = obj.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
    let id = obj.get("id").cloned();
    let notification = v2 && id.is_none();
    let id = id.unwrap_or(Value::Null);
    let result = match obj.get("method") {
        Some(Value::String(m)) if wallet_path => Err(RpcError::new(
            code::METHOD_NOT_FOUND,
            format!("Method not found ({m}: this node has no wallet)"),
        )),
        Some(Value::String(m)) => {
            tracing::debug!(target: "blvm::rpc", method = %m, "ThreadRPCServer method");
            let t0 = std::time::Instant::now();
            let r = methods::dispatch(node, m, obj.get("params")).await;
            // Unknown names are pooled so clients cannot create unbounded label sets.
            let label = if methods::METHODS.iter().any(|x| x.0 == m) {
                m.as_str()
            } else {
                "unknown"
            };
            node.metrics().observe_rpc(label, t0.elapsed());
            r
        }
        _ => Err(RpcError::new(code::INVALID_REQUEST, "Method must be a string")),
    };
    if notification {
        return (StatusCode::NO_CONTENT, None);
    }
    match result {
        Ok(v) => {
            let body = if v2 {
                json!({"jsonrpc": "2.0", "result": v, "id": id})
            } else {
                json!({"result": v, "error": null, "id": id})
            };
            (StatusCode::OK, Some(body))
        }
        Err(e) => {
            let body = if v2 {
                json!({"jsonrpc": "2.0", "error": e.to_json(), "id": id})
            } else {
                json!({"result": null, "error": e.to_json(), "id": id})
            };
            let status = if v2 || in_batch {
                StatusCode::OK
            } else if e.code == code::INVALID_REQUEST {
                StatusCode::BAD_REQUEST
            } else if e.code == code::METHOD_NOT_FOUND {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            (status, Some(body))
        }
    }
}

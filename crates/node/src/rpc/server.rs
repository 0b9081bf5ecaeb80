//! The HTTP JSON-RPC server: Core-compatible framing, auth, status codes, batches, and a
//! bounded work queue. Binds to 127.0.0.1 and ::1 by default.
//!
//! Hostile clients are bounded as in Core's HTTP server: only allowed source networks
//! (`-rpcallowip`, loopback always) are served, others are disconnected at once; a client has
//! `-rpcservertimeout` seconds to send a request's headers (or to send the next one on a kept-alive
//! connection) and its body; at most [`max_connections`] connections are open at once.

use super::auth::RpcAuth;
use super::context::{ContextSource, RpcContext};
use super::error::{code, RpcError};
use super::methods;
use super::request_json::RepeatedKey;
use super::whitelist::RpcWhitelist;
use crate::config::NodeConfig;
use crate::p2p::ban::Subnet;
use crate::sync::lock;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify, Semaphore};

/// Largest accepted request body (Core's MAX_SIZE, 32 MiB; a 4 MB block in hex fits comfortably).
pub const MAX_BODY: usize = 32 * 1024 * 1024;

/// Default of `-rpcservertimeout` (Core's DEFAULT_HTTP_SERVER_TIMEOUT).
pub const DEFAULT_SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections kept open at most for `threads` workers and a queue of `work_queue`: four per
/// request slot (room for kept-alive idle clients), at least 16.
pub fn max_connections(threads: usize, work_queue: usize) -> usize {
    threads.saturating_add(work_queue).saturating_mul(4).max(16)
}

/// The networks always allowed to connect, as in Core: 127.0.0.0/8 and ::1.
pub fn loopback_subnets() -> Vec<Subnet> {
    ["127.0.0.0/8", "::1"].iter().filter_map(|s| Subnet::parse(s)).collect()
}

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
    /// Source networks served; a connection from elsewhere gets 403 Forbidden (`-rpcallowip`).
    pub allow: Vec<Subnet>,
    /// Time a client has to send a request's headers and its body (`-rpcservertimeout`).
    pub server_timeout: Duration,
    /// Open connections at most; beyond it the longest-open idle one is closed, or the new one
    /// refused when all are busy.
    pub max_connections: usize,
    /// Serve Core's unauthenticated REST interface under `/rest/` (`-rest`).
    pub rest: bool,
    /// `-rpcwhitelist`: which methods each user may call.
    pub whitelist: RpcWhitelist,
}

impl Default for RpcSettings {
    /// Loopback on an ephemeral port, the option defaults, no cookie.
    fn default() -> Self {
        RpcSettings {
            bind: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            threads: 4,
            work_queue: 16,
            auth: RpcAuth::default(),
            cookie_path: None,
            allow: loopback_subnets(),
            server_timeout: DEFAULT_SERVER_TIMEOUT,
            max_connections: max_connections(4, 16),
            rest: false,
            whitelist: RpcWhitelist::default(),
        }
    }
}

/// Builds the settings from the configuration. As Core's `HTTPBindAddresses`, `-rpcbind` is used
/// only together with `-rpcallowip` (otherwise the server binds to loopback and logs why), and as
/// its `InitHTTPAllowList`, loopback is always allowed besides `-rpcallowip`.
pub fn settings_from_config(cfg: &NodeConfig, default_port: u16) -> Result<RpcSettings, String> {
    let port = cfg.rpc_port.unwrap_or(default_port);
    let both = !cfg.rpc_allow_ip.is_empty() && !cfg.rpc_bind.is_empty();
    if !cfg.rpc_allow_ip.is_empty() && cfg.rpc_bind.is_empty() {
        tracing::warn!(target: "blvm::rpc", "option -rpcallowip was specified without -rpcbind; this doesn't usually make sense");
    }
    if cfg.rpc_allow_ip.is_empty() && !cfg.rpc_bind.is_empty() {
        tracing::warn!(target: "blvm::rpc", "option -rpcbind was ignored because -rpcallowip was not specified, refusing to allow everyone to connect");
    }
    // Core checks every -rpcbind's port at startup, used or not.
    let parsed = cfg
        .rpc_bind
        .iter()
        .map(|b| crate::config::parse_rpc_bind(b, port))
        .collect::<Result<Vec<_>, _>>()?;
    // Core's defaults: both loopback addresses (a failure to bind one of them is only a warning).
    let bind = if both {
        parsed
    } else {
        vec![
            SocketAddr::from(([127, 0, 0, 1], port)),
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
        ]
    };
    if bind.iter().any(|a| a.ip().is_unspecified()) {
        tracing::warn!(target: "blvm::rpc", "the RPC server is not safe to expose to untrusted networks such as the public internet");
    }
    let mut allow = loopback_subnets();
    allow.extend(cfg.rpc_allow_ip.iter().copied());
    let up = cfg.rpc_user.clone().zip(cfg.rpc_password.clone());
    let auth = RpcAuth::new(up.clone(), &cfg.rpc_auth)?;
    let cookie_path = if up.is_some() {
        None
    } else {
        Some(cfg.rpc_cookie_file.clone().unwrap_or_else(|| cfg.net_dir().join(".cookie")))
    };
    let threads = cfg.rpcthreads.max(1);
    let work_queue = cfg.rpcworkqueue.max(1);
    Ok(RpcSettings {
        bind,
        threads,
        work_queue,
        auth,
        cookie_path,
        allow,
        server_timeout: Duration::from_secs(cfg.rpcservertimeout.max(1)),
        max_connections: max_connections(threads, work_queue),
        rest: cfg.rest,
        whitelist: RpcWhitelist::new(&cfg.rpc_whitelist, cfg.rpc_whitelist_default),
    })
}

/// One open connection: whether a request is being handled, and how to close it early.
#[derive(Default)]
struct ConnFlags {
    in_request: AtomicBool,
    evict: Notify,
}

/// The open connections by accept order, bounded by `cap`.
struct ConnTable {
    cap: usize,
    next_id: u64,
    open: BTreeMap<u64, Arc<ConnFlags>>,
    /// Milliseconds since `epoch` of the last "limit reached" warning (rate-limits the log).
    last_warn_ms: AtomicU64,
    epoch: std::time::Instant,
}

impl ConnTable {
    /// Makes room for a new connection: when full, closes the longest-open connection that is not
    /// handling a request; None (refuse) when every one is.
    fn admit(&mut self) -> Option<(u64, Arc<ConnFlags>)> {
        if self.open.len() >= self.cap {
            let victim = self
                .open
                .iter()
                .find(|(_, f)| !f.in_request.load(Ordering::SeqCst))
                .map(|(id, _)| *id);
            let victim = self.open.remove(&victim?)?;
            victim.evict.notify_one();
        }
        let id = self.next_id;
        self.next_id += 1;
        let flags = Arc::new(ConnFlags::default());
        self.open.insert(id, flags.clone());
        Some((id, flags))
    }

    /// Whether to log another "limit reached" warning (at most one per 10 s).
    fn should_warn(&self) -> bool {
        let now = self.epoch.elapsed().as_millis() as u64;
        let last = self.last_warn_ms.load(Ordering::Relaxed);
        (last == 0 || now.saturating_sub(last) >= 10_000)
            && self
                .last_warn_ms
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// Removes a connection from the table when its task ends.
struct Slot {
    table: Arc<Mutex<ConnTable>>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.table).open.remove(&self.id);
    }
}

/// Marks a connection busy while a request is handled.
struct Busy(Arc<ConnFlags>);

impl Busy {
    fn new(f: &Arc<ConnFlags>) -> Self {
        f.in_request.store(true, Ordering::SeqCst);
        Busy(f.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_request.store(false, Ordering::SeqCst);
    }
}

/// One HTTP answer from the REST interface, which the server serves on its port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type` (None: no body type).
    pub content_type: Option<&'static str>,
    /// `Cache-Control`.
    pub cache_control: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

/// The REST interface's entry (request target, body), handed over by the launcher so RPC does
/// not depend on REST, which is built on it. Runs on a blocking thread.
pub type RestHandler = fn(&Arc<RpcContext>, &str, &[u8]) -> HttpAnswer;

/// `Cache-Control` of answers that may change (every REST error, the bare 404).
pub const NO_STORE: &str = "no-store";

/// Paths under this prefix belong to the REST interface (served only with `-rest`).
pub const REST_PREFIX: &str = "/rest";

struct ServerState {
    context: ContextSource,
    rest_handler: RestHandler,
    auth: RpcAuth,
    whitelist: RpcWhitelist,
    workers: Semaphore,
    queued: AtomicUsize,
    work_queue: usize,
    server_timeout: Duration,
    rest: bool,
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
    context: ContextSource,
    rest_handler: RestHandler,
    settings: RpcSettings,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<(Vec<SocketAddr>, tokio::task::JoinHandle<()>)> {
    let mut listeners = Vec::new();
    for addr in &settings.bind {
        match TcpListener::bind(addr).await {
            Ok(l) => listeners.push(l),
            // As Core: an address that cannot be bound (no IPv6, say) is skipped with a warning.
            Err(e) => tracing::warn!(target: "blvm::rpc", "Binding RPC on address {} port {} failed: {e}", addr.ip(), addr.port()),
        }
    }
    if listeners.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            "Unable to bind any endpoint for RPC server",
        ));
    }
    let bound: Vec<SocketAddr> = listeners.iter().filter_map(|l| l.local_addr().ok()).collect();
    let mut auth = settings.auth.clone();
    let cookie = match &settings.cookie_path {
        Some(p) => Some(auth.write_cookie(p)?),
        None => None,
    };
    let state = Arc::new(ServerState {
        context,
        rest_handler,
        auth,
        workers: Semaphore::new(settings.threads.max(1)),
        queued: AtomicUsize::new(0),
        work_queue: settings.work_queue.max(1),
        server_timeout: settings.server_timeout,
        rest: settings.rest,
        whitelist: settings.whitelist.clone(),
    });
    let table = Arc::new(Mutex::new(ConnTable {
        cap: settings.max_connections.max(1),
        next_id: 0,
        open: BTreeMap::new(),
        last_warn_ms: AtomicU64::new(0),
        epoch: std::time::Instant::now(),
    }));
    let allow = settings.allow.clone();
    let server_timeout = settings.server_timeout;
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
                            Ok(s) => { if tx.send(s).await.is_err() { break; } }
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
                    let Some((stream, peer)) = s else { break };
                    let admitted = lock(&table).admit();
                    let Some((id, flags)) = admitted else {
                        let t = lock(&table);
                        if t.should_warn() {
                            tracing::warn!(target: "blvm::rpc", limit = t.cap, "RPC connection limit reached with every connection busy; refusing new connections");
                        }
                        drop(stream);
                        continue;
                    };
                    let slot = Slot { table: table.clone(), id };
                    if !allow.iter().any(|a| a.contains(peer.ip())) {
                        // As Core: a client from a network that is not allowed is disconnected
                        // at once, before anything is read or answered.
                        tracing::debug!(target: "blvm::rpc", "HTTP request from {peer} rejected: Client network is not allowed RPC access");
                        drop((stream, slot));
                        continue;
                    }
                    let st = state.clone();
                    conns.spawn(async move {
                        let _slot = slot;
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let conn_flags = flags.clone();
                        let svc = hyper::service::service_fn(move |req| {
                            let st = st.clone();
                            let busy = Busy::new(&conn_flags);
                            async move {
                                let r = handle(st, req).await;
                                drop(busy);
                                Ok::<_, std::convert::Infallible>(r)
                            }
                        });
                        let conn = hyper::server::conn::http1::Builder::new()
                            .timer(hyper_util::rt::TokioTimer::new())
                            .header_read_timeout(server_timeout)
                            .keep_alive(true)
                            .serve_connection(io, svc);
                        tokio::select! {
                            // Slow or idle clients cannot hold a connection forever.
                            _ = tokio::time::timeout(Duration::from_secs(900), conn) => {}
                            _ = flags.evict.notified() => {
                                tracing::debug!(target: "blvm::rpc", %peer, "closing an idle RPC connection to make room for a new one");
                            }
                        }
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

/// Reads a request body within `-rpcservertimeout` and [`MAX_BODY`].
async fn read_body(st: &ServerState, body: Incoming) -> Result<Bytes, Response<Full<Bytes>>> {
    match tokio::time::timeout(st.server_timeout, Limited::new(body, MAX_BODY).collect()).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(_)) => Err(text(StatusCode::PAYLOAD_TOO_LARGE, "request too large")),
        Err(_) => {
            let mut r = text(StatusCode::REQUEST_TIMEOUT, "request body not received in time");
            r.headers_mut()
                .insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
            Err(r)
        }
    }
}

/// Reads the body, then waits for a worker (503 when the work queue is full or the node is
/// shutting down); returns the body, the worker permit and the node.
async fn admit(
    st: &ServerState,
    body: Incoming,
) -> Result<(Bytes, tokio::sync::SemaphorePermit<'_>, Arc<RpcContext>), Response<Full<Bytes>>> {
    let body = read_body(st, body).await?;
    if st.queued.fetch_add(1, Ordering::SeqCst) >= st.work_queue + st.workers.available_permits() {
        st.queued.fetch_sub(1, Ordering::SeqCst);
        tracing::warn!(target: "blvm::rpc", "request rejected because http work queue depth exceeded");
        return Err(text(StatusCode::SERVICE_UNAVAILABLE, "Work queue depth exceeded"));
    }
    let permit = st.workers.acquire().await;
    st.queued.fetch_sub(1, Ordering::SeqCst);
    let Ok(permit) = permit else {
        return Err(text(StatusCode::SERVICE_UNAVAILABLE, "shutting down"));
    };
    let Some(node) = (st.context)() else {
        return Err(text(StatusCode::SERVICE_UNAVAILABLE, "shutting down"));
    };
    Ok((body, permit, node))
}

/// A request under `/rest`: unauthenticated as in Core; 404 without `-rest` (no handler).
async fn rest_request(st: Arc<ServerState>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if !st.rest {
        return HttpAnswer {
            status: 404,
            content_type: None,
            cache_control: NO_STORE,
            body: Vec::new(),
        }
        .into();
    }
    // Core's HTTP server serves these methods and answers 405 to others.
    if !matches!(
        *req.method(),
        hyper::Method::GET | hyper::Method::POST | hyper::Method::HEAD | hyper::Method::PUT
    ) {
        return text(StatusCode::METHOD_NOT_ALLOWED, "");
    }
    let uri = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
    let (body, _permit, node) = match admit(&st, req.into_body()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let rest = st.rest_handler;
    let r = tokio::task::spawn_blocking(move || rest(&node, &uri, &body)).await;
    match r {
        Ok(r) => r.into(),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

impl From<HttpAnswer> for Response<Full<Bytes>> {
    /// The HTTP form of a REST answer.
    fn from(r: HttpAnswer) -> Self {
        let mut b = Response::builder()
            .status(StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .header(hyper::header::CACHE_CONTROL, r.cache_control);
        if let Some(t) = r.content_type {
            b = b.header(hyper::header::CONTENT_TYPE, t);
        }
        b.body(Full::new(Bytes::from(r.body)))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    }
}

async fn handle(st: Arc<ServerState>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.uri().path().starts_with(REST_PREFIX) {
        return rest_request(st, req).await;
    }
    let auth = req.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let Some(user) = st.auth.authenticate(auth) else {
        tracing::warn!(target: "blvm::rpc", "incorrect RPC credentials");
        // Core delays failed logins to slow brute forcing.
        tokio::time::sleep(Duration::from_millis(250)).await;
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("WWW-Authenticate", "Basic realm=\"jsonrpc\"")
            .body(Full::new(Bytes::new()))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
    };
    if req.method() != hyper::Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "JSONRPC server handles only POST requests");
    }
    let wallet_path = req.uri().path().starts_with("/wallet/");
    let (body, _permit, node) = match admit(&st, req.into_body()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let request = match super::request_json::parse(&body) {
        Ok(r) => r,
        Err(_) => {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(json!({"result": null, "error": {"code": code::PARSE_ERROR, "message": "Parse error"}, "id": null})),
            )
        }
    };
    // As Core: every call of a batch is checked against the user's whitelist before any runs.
    let parsed = &request.value;
    let calls = match parsed {
        Value::Array(items) => items.iter().collect(),
        v => vec![v],
    };
    if let Some(m) = calls
        .iter()
        .filter_map(|c| c.get("method").and_then(Value::as_str))
        .find(|m| !st.whitelist.allows(&user, m))
    {
        tracing::warn!(target: "blvm::rpc", "RPC User {user} not allowed to call method {m}");
        return reply(StatusCode::FORBIDDEN, None);
    }
    match parsed {
        Value::Object(_) => {
            let (status, body) = single(&node, parsed, &request.repeated_in_params(None), wallet_path, false).await;
            reply(status, body)
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let repeats = request.repeated_in_params(Some(i));
                if let (_, Some(v)) = single(&node, item, &repeats, wallet_path, true).await {
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

/// Runs one request object (`repeated`: the keys its `params` repeated); returns the HTTP
/// status (for non-batch calls) and the reply object (None for JSON-RPC 2.0 notifications).
async fn single(
    node: &Arc<RpcContext>,
    req: &Value,
    repeated: &[RepeatedKey],
    wallet_path: bool,
    in_batch: bool,
) -> (StatusCode, Option<Value>) {
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
            let r = methods::dispatch_request(node, m, obj.get("params"), repeated).await;
            // Unknown names are pooled so clients cannot create unbounded label sets.
            let label = if methods::is_builtin(m) { m.as_str() } else { "unknown" };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(args: &[&str]) -> NodeConfig {
        crate::config::parse_args(args.iter().map(|s| s.to_string())).unwrap().0
    }

    #[test]
    fn rpcbind_needs_rpcallowip_and_loopback_is_always_allowed() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let s = settings_from_config(&cfg(&["-rpcbind=10.1.2.3:1234", "-rpcport=9"]), 18443).unwrap();
        assert_eq!(
            s.bind,
            vec!["127.0.0.1:9".parse().unwrap(), "[::1]:9".parse().unwrap()],
            "-rpcbind alone is ignored"
        );
        assert!(!s.allow.iter().any(|a| a.contains(ip("10.1.2.3"))));
        let s = settings_from_config(&cfg(&["-rpcbind=10.1.2.3", "-rpcallowip=10.0.0.0/8"]), 18443).unwrap();
        assert_eq!(s.bind, vec!["10.1.2.3:18443".parse().unwrap()]);
        for (addr, allowed) in [
            ("10.9.9.9", true),
            ("127.0.0.1", true),
            ("127.5.6.7", true),
            ("::1", true),
            ("11.0.0.1", false),
            ("::2", false),
        ] {
            assert_eq!(s.allow.iter().any(|a| a.contains(ip(addr))), allowed, "{addr}");
        }
        let s = settings_from_config(&cfg(&["-rpcallowip=10.0.0.0/8"]), 18443).unwrap();
        assert_eq!(s.bind, vec!["127.0.0.1:18443".parse().unwrap(), "[::1]:18443".parse().unwrap()]);
        let s = settings_from_config(&cfg(&["-rpcthreads=1", "-rpcworkqueue=1", "-rpcservertimeout=7"]), 1).unwrap();
        assert_eq!((s.max_connections, s.server_timeout), (16, Duration::from_secs(7)));
        let s = settings_from_config(&cfg(&[]), 1).unwrap();
        assert_eq!((s.max_connections, s.server_timeout), (80, DEFAULT_SERVER_TIMEOUT));
    }

    #[test]
    fn rpcbind_values_as_cores_split_host_port() {
        use crate::config::parse_rpc_bind as parse_bind;
        let ok = |b: &str| parse_bind(b, 18443).unwrap().to_string();
        assert_eq!(ok("127.0.0.1"), "127.0.0.1:18443");
        assert_eq!(ok("127.0.0.1:32171"), "127.0.0.1:32171");
        assert_eq!(ok("[::1]"), "[::1]:18443");
        assert_eq!(ok("[::1]:5"), "[::1]:5");
        assert_eq!(ok("::1"), "[::1]:18443");
        assert_eq!(ok("localhost:7"), "127.0.0.1:7");
        for bad in [
            "127.0.0.1:notaport",
            "127.0.0.1:-18443",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "[::1]:0",
            "[::1]x",
        ] {
            assert_eq!(
                parse_bind(bad, 1).unwrap_err(),
                format!("Invalid port specified in -rpcbind: '{bad}'")
            );
        }
        // Checked even when -rpcbind is unused (no -rpcallowip), as Core's init.
        let err = crate::config::parse_args(["-rpcbind=127.0.0.1:0".to_string()]).unwrap_err();
        assert_eq!(err.to_string(), "Invalid port specified in -rpcbind: '127.0.0.1:0'");
    }

    #[test]
    fn a_full_table_closes_the_oldest_idle_connection_or_refuses() {
        let mut t = ConnTable {
            cap: 3,
            next_id: 0,
            open: BTreeMap::new(),
            last_warn_ms: AtomicU64::new(0),
            epoch: std::time::Instant::now(),
        };
        let conns: Vec<_> = (0..3).map(|_| t.admit().unwrap()).collect();
        conns[0].1.in_request.store(true, Ordering::SeqCst);
        let (id, _) = t.admit().expect("room made");
        assert_eq!(id, 3);
        assert!(
            t.open.contains_key(&0) && !t.open.contains_key(&1),
            "oldest idle (1) evicted, busy 0 kept"
        );
        assert_eq!(t.open.len(), 3);
        for f in t.open.values() {
            f.in_request.store(true, Ordering::SeqCst);
        }
        assert!(t.admit().is_none(), "all busy: refused");
        assert_eq!(t.open.len(), 3);
        assert!(t.should_warn() && !t.should_warn(), "one warning per 10 s");
    }
}

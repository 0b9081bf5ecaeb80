//! The module IPC server: a Unix socket in the datadir (mode 0600) serving many module
//! connections at once. Each connection is authenticated at handshake, then events flow to
//! it from its bus queue while its requests are answered concurrently, with correlation ids.

use super::api::NodeApi;
use super::bus::{EventBus, Outgoing, Subscriber};
use super::extensions::Extensions;
use super::link::ModuleLink;
use super::manifest::valid_name;
use blvm_module::codec::{write_frame, CodecError, FrameReader};
use blvm_module::request::error_code;
use blvm_module::{Capability, EventPayload, ModuleMessage, Request, ResponseBody, ResponseResult, PROTOCOL_VERSION};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch, Notify, Semaphore};

/// Connections at most that have not completed their handshake yet; more are closed at once.
pub const MAX_PENDING_HANDSHAKES: usize = 64;

/// Token-less connections at most (when `-allowunauthmodules`); more are refused.
pub const MAX_UNAUTHENTICATED: usize = 64;

/// Largest handshake frame: a handshake carries a name, a version and a token.
pub const MAX_HANDSHAKE_FRAME: u32 = 64 * 1024;

/// Tunables of the module server.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Path of the Unix socket.
    pub socket_path: PathBuf,
    /// Largest accepted frame payload in bytes.
    pub max_frame: u32,
    /// Time a new connection has to send its Handshake.
    pub handshake_timeout: Duration,
    /// Accept connections without a valid token (only if the operator allows it).
    pub allow_unauthenticated: bool,
    /// Capabilities granted to unauthenticated connections when allowed.
    pub unauthenticated_capabilities: Vec<Capability>,
    /// Sustained requests per second per connection.
    pub requests_per_second: u32,
    /// Burst size of the request rate limiter.
    pub request_burst: u32,
    /// Requests one connection may have in flight.
    pub max_in_flight: usize,
    /// Rate-limited requests after which a connection is dropped as a flooder.
    pub flood_disconnect_after: u32,
}

impl ServerSettings {
    /// Defaults for a socket at `socket_path`.
    pub fn new(socket_path: PathBuf) -> Self {
        ServerSettings {
            socket_path,
            max_frame: blvm_module::codec::DEFAULT_MAX_FRAME,
            handshake_timeout: Duration::from_secs(10),
            allow_unauthenticated: false,
            unauthenticated_capabilities: vec![Capability::ReadChain],
            requests_per_second: 2000,
            request_burst: 4000,
            max_in_flight: 64,
            flood_disconnect_after: 10_000,
        }
    }
}

/// What a valid token grants.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The module's name (authoritative over what it claims).
    pub name: String,
    /// The module's version.
    pub version: String,
    /// Granted capabilities.
    pub capabilities: Vec<Capability>,
}

/// One-time tokens handed to spawned modules.
#[derive(Default)]
pub struct Authenticator {
    tokens: Mutex<HashMap<String, Grant>>,
    managed_names: Mutex<std::collections::HashSet<String>>,
}

impl Authenticator {
    /// Registers a fresh token for a module about to be spawned.
    pub fn issue(&self, grant: Grant) -> String {
        let bytes: [u8; 32] = rand::random();
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.managed_names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(grant.name.clone());
        crate::sync::lock(&self.tokens).insert(token.clone(), grant);
        token
    }

    /// Consumes a token (each works once).
    pub fn redeem(&self, token: &str) -> Option<Grant> {
        crate::sync::lock(&self.tokens).remove(token)
    }

    /// Drops unredeemed tokens of a module (it exited before connecting).
    pub fn revoke_module(&self, name: &str) {
        crate::sync::lock(&self.tokens).retain(|_, g| g.name != name);
    }

    fn is_managed(&self, name: &str) -> bool {
        crate::sync::lock(&self.managed_names).contains(name)
    }
}

/// Shared state of the server.
pub struct ServerContext {
    /// The event bus.
    pub bus: Arc<EventBus>,
    /// The node API.
    pub api: Arc<NodeApi>,
    /// Token registry.
    pub auth: Arc<Authenticator>,
    /// Settings.
    pub settings: ServerSettings,
    /// RPC methods and hooks registered by connected modules.
    pub extensions: Arc<Extensions>,
    active: AtomicUsize,
    idle: Notify,
    connected: Mutex<HashMap<String, usize>>,
    handshakes: Arc<Semaphore>,
    unauthenticated: Arc<Semaphore>,
    /// When the last "too many connections" warning was logged (rate-limits the log).
    last_refusal_warning: Mutex<Option<Instant>>,
}

impl ServerContext {
    /// Builds the shared server state.
    pub fn new(
        bus: Arc<EventBus>,
        api: Arc<NodeApi>,
        auth: Arc<Authenticator>,
        settings: ServerSettings,
        extensions: Arc<Extensions>,
    ) -> Arc<Self> {
        Arc::new(ServerContext {
            bus,
            api,
            auth,
            settings,
            extensions,
            active: AtomicUsize::new(0),
            idle: Notify::new(),
            connected: Mutex::new(HashMap::new()),
            handshakes: Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES)),
            unauthenticated: Arc::new(Semaphore::new(MAX_UNAUTHENTICATED)),
            last_refusal_warning: Mutex::new(None),
        })
    }

    /// Number of open module connections.
    pub fn active_connections(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Whether a module with this name currently has a live connection.
    pub fn is_connected(&self, name: &str) -> bool {
        self.connected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied()
            .unwrap_or(0)
            > 0
    }

    /// Waits until every connection has closed, up to `timeout`; returns whether they all did.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let n = self.idle.notified();
            if self.active_connections() == 0 {
                return true;
            }
            if tokio::time::timeout_at(until, n).await.is_err() {
                return self.active_connections() == 0;
            }
        }
    }
}

/// Binds the socket (replacing a stale one) with mode 0600. It is created inside a fresh 0700
/// directory and moved into place once its mode is set, so other users can never open it,
/// whatever the process umask.
pub fn bind(path: &std::path::Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)?;
    let private = parent.join(format!(".msock-{}", std::process::id()));
    // Left over from a crashed process that had our pid.
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let tmp = private.join("s");
    let bound = UnixListener::bind(&tmp).and_then(|listener| {
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&tmp, path)?;
        Ok(listener)
    });
    let _ = std::fs::remove_dir_all(&private);
    bound
}

/// Accepts connections until `shutdown` turns true.
pub async fn run(listener: UnixListener, ctx: Arc<ServerContext>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    let Ok(permit) = ctx.handshakes.clone().try_acquire_owned() else {
                        ctx.warn_refusal("connections still in their handshake");
                        drop(stream);
                        continue;
                    };
                    let ctx = ctx.clone();
                    ctx.active.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        serve(stream, ctx.clone(), permit).await;
                        ctx.active.fetch_sub(1, Ordering::SeqCst);
                        ctx.idle.notify_waiters();
                    });
                }
                Err(e) => {
                    tracing::warn!(target: "blvm::modules", "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
    let _ = std::fs::remove_file(&ctx.settings.socket_path);
}

impl ServerContext {
    /// Logs a refused connection, at most once per 10 s (a flood must not flood the log).
    fn warn_refusal(&self, what: &str) {
        let mut last = crate::sync::lock(&self.last_refusal_warning);
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            *last = Some(Instant::now());
            tracing::warn!(target: "blvm::modules", "refusing module connections: too many {what}");
        }
    }
}

async fn send_error_and_close(wr: &mut OwnedWriteHalf, code: u32, message: String) {
    tracing::warn!(target: "blvm::modules", code, "closing module connection: {message}");
    let _ = write_frame(wr, &ModuleMessage::Error { code, message }, u32::MAX).await;
    let _ = tokio::io::AsyncWriteExt::shutdown(wr).await;
}

struct RateLimiter {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
    violations: u32,
}

impl RateLimiter {
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.violations += 1;
            false
        }
    }
}

/// Why a connection is refused during the handshake: the error to send before closing, or
/// nothing when the peer closed first.
type Refusal = Option<(u32, String)>;

/// Reads the Handshake within the deadline and admits the module: a redeemed token of the same
/// name, or (when the operator allows it) an unmanaged name within the unauthenticated quota.
async fn authenticate(
    reader: &mut FrameReader<tokio::net::unix::OwnedReadHalf>,
    ctx: &ServerContext,
) -> Result<(Grant, Option<tokio::sync::OwnedSemaphorePermit>), Refusal> {
    let first = tokio::time::timeout(ctx.settings.handshake_timeout, reader.read()).await;
    let (versions, claimed_name, claimed_version, token) = match first {
        Ok(Ok(Some(ModuleMessage::Handshake {
            protocol_versions,
            module_name,
            module_version,
            token,
        }))) => (protocol_versions, module_name, module_version, token),
        Ok(Ok(Some(other))) => {
            return Err(Some((
                error_code::MALFORMED,
                format!("expected Handshake, got {}", other.type_name()),
            )))
        }
        Ok(Ok(None)) => return Err(None),
        Ok(Err(CodecError::FrameTooLarge { len, max })) => {
            return Err(Some((error_code::FRAME_TOO_LARGE, format!("frame of {len} bytes exceeds {max}"))))
        }
        Ok(Err(e)) => return Err(Some((error_code::MALFORMED, format!("bad handshake: {e}")))),
        Err(_) => return Err(Some((error_code::MALFORMED, "no handshake within the timeout".into()))),
    };
    if !versions.contains(&PROTOCOL_VERSION) {
        return Err(Some((
            error_code::UNSUPPORTED_VERSION,
            format!("node speaks protocol {PROTOCOL_VERSION}, module offered {versions:?}"),
        )));
    }
    match token.as_deref().and_then(|t| ctx.auth.redeem(t)) {
        Some(g) if g.name == claimed_name => Ok((g, None)),
        Some(g) => Err(Some((
            error_code::UNAUTHORIZED,
            format!("token belongs to module '{}', not '{claimed_name}'", g.name),
        ))),
        None if ctx.settings.allow_unauthenticated && valid_name(&claimed_name) && !ctx.auth.is_managed(&claimed_name) => {
            let Ok(p) = ctx.unauthenticated.clone().try_acquire_owned() else {
                return Err(Some((
                    error_code::RATE_LIMITED,
                    format!("too many unauthenticated module connections (at most {MAX_UNAUTHENTICATED})"),
                )));
            };
            let grant = Grant {
                name: claimed_name,
                version: claimed_version,
                capabilities: ctx.settings.unauthenticated_capabilities.clone(),
            };
            Ok((grant, Some(p)))
        }
        None => Err(Some((
            error_code::UNAUTHORIZED,
            format!("module '{claimed_name}' presented no valid token"),
        ))),
    }
}

async fn serve(stream: UnixStream, ctx: Arc<ServerContext>, handshake_permit: tokio::sync::OwnedSemaphorePermit) {
    let (rd, mut wr) = stream.into_split();
    // The handshake is small: a connection that has not authenticated cannot make the node
    // buffer a full-size frame.
    let mut reader = FrameReader::new(rd, MAX_HANDSHAKE_FRAME.min(ctx.settings.max_frame));
    let (grant, unauth_permit) = match authenticate(&mut reader, &ctx).await {
        Ok(admitted) => admitted,
        Err(Some((code, message))) => return send_error_and_close(&mut wr, code, message).await,
        Err(None) => return,
    };
    drop(handshake_permit);
    let _unauth_permit = unauth_permit;
    let mut reader = FrameReader::new(reader.into_inner(), ctx.settings.max_frame);
    let name = grant.name.clone();
    tracing::info!(target: "blvm::modules", module = %name, version = %grant.version, "module connected");
    *ctx.connected
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(name.clone())
        .or_default() += 1;
    let sub = ctx.bus.register(&name);
    let (tx, rx) = mpsc::channel::<ModuleMessage>(256);
    let ack = ModuleMessage::HandshakeAck {
        protocol_version: PROTOCOL_VERSION,
        node_version: env!("CARGO_PKG_VERSION").to_string(),
        module_id: sub.id(),
        capabilities: grant.capabilities.iter().map(|c| c.as_str().to_string()).collect(),
    };
    let _ = tx.send(ack).await;
    let link = Arc::new(ModuleLink::new(name.clone(), tx.clone()));
    let writer = tokio::spawn(write_loop(wr, rx, sub.clone()));
    ctx.bus.publish(EventPayload::ModuleLoaded {
        name: name.clone(),
        version: grant.version.clone(),
    });

    let mut limiter = RateLimiter {
        tokens: f64::from(ctx.settings.request_burst),
        last: Instant::now(),
        rate: f64::from(ctx.settings.requests_per_second),
        burst: f64::from(ctx.settings.request_burst),
        violations: 0,
    };
    let in_flight = Arc::new(Semaphore::new(ctx.settings.max_in_flight));
    let close_reason: Option<(u32, String)> = loop {
        let msg = match reader.read().await {
            Ok(Some(m)) => m,
            Ok(None) => break None,
            Err(CodecError::FrameTooLarge { len, max }) => {
                break Some((error_code::FRAME_TOO_LARGE, format!("frame of {len} bytes exceeds {max}")))
            }
            Err(CodecError::Io(_)) | Err(CodecError::Truncated { .. }) => break None,
            Err(e) => break Some((error_code::MALFORMED, format!("undecodable frame: {e}"))),
        };
        match msg {
            ModuleMessage::Request { id, request } => {
                if !limiter.allow() {
                    if limiter.violations >= ctx.settings.flood_disconnect_after {
                        break Some((error_code::RATE_LIMITED, "request flood".into()));
                    }
                    let r = ResponseResult::Err {
                        code: error_code::RATE_LIMITED,
                        message: "too many requests".into(),
                    };
                    if tx.try_send(ModuleMessage::Response { id, result: r }).is_err() {
                        break Some((error_code::RATE_LIMITED, "module does not read its responses".into()));
                    }
                    continue;
                }
                match handle_inline(&ctx, &sub, &grant, &link, id, &request) {
                    Some(Inline::Reply(result)) => {
                        if tx.send(ModuleMessage::Response { id, result }).await.is_err() {
                            break None;
                        }
                        continue;
                    }
                    Some(Inline::Queued) => continue,
                    None => {}
                }
                let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                    let r = ResponseResult::Err {
                        code: error_code::RATE_LIMITED,
                        message: "too many requests in flight".into(),
                    };
                    let _ = tx.try_send(ModuleMessage::Response { id, result: r });
                    continue;
                };
                let api = ctx.api.clone();
                let tx = tx.clone();
                let module = name.clone();
                tokio::spawn(async move {
                    let result = tokio::task::spawn_blocking(move || api.handle(&module, request))
                        .await
                        .unwrap_or_else(|_| ResponseResult::Err {
                            code: error_code::INTERNAL,
                            message: "request handler failed".into(),
                        });
                    let _ = tx.send(ModuleMessage::Response { id, result }).await;
                    drop(permit);
                });
            }
            ModuleMessage::Ack { sequence } => {
                ctx.bus.ack(sub.id(), sequence);
            }
            ModuleMessage::Response { id, result } => link.complete(id, result),
            ModuleMessage::Goodbye { reason } => {
                tracing::info!(target: "blvm::modules", module = %name, %reason, "module said goodbye");
                break None;
            }
            other => {
                break Some((
                    error_code::MALFORMED,
                    format!("unexpected {} message from a module", other.type_name()),
                ))
            }
        }
    };
    if let Some((code, message)) = close_reason {
        tracing::warn!(target: "blvm::modules", module = %name, code, "disconnecting module: {message}");
        let _ = tx.try_send(ModuleMessage::Error { code, message });
    }
    ctx.extensions.remove_link(&link);
    drop(link);
    drop(tx);
    ctx.bus.unregister(sub.id());
    if tokio::time::timeout(Duration::from_secs(2), writer).await.is_err() {
        tracing::debug!(target: "blvm::modules", module = %name, "writer did not finish; dropped");
    }
    if let Some(n) = crate::sync::lock(&ctx.connected).get_mut(&name) {
        *n = n.saturating_sub(1);
    }
    tracing::info!(target: "blvm::modules", module = %name, "module disconnected");
}

/// Outcome of a request handled on the connection itself.
enum Inline {
    /// Send this result as the response.
    Reply(ResponseResult),
    /// The response was already queued in order with the events.
    Queued,
}

fn handle_inline(
    ctx: &ServerContext,
    sub: &Subscriber,
    grant: &Grant,
    link: &Arc<ModuleLink>,
    id: u64,
    request: &Request,
) -> Option<Inline> {
    if let Some(cap) = request.required_capability() {
        if !grant.capabilities.contains(&cap) {
            return Some(Inline::Reply(ResponseResult::Err {
                code: error_code::PERMISSION_DENIED,
                message: format!("{} needs capability '{}'", request.method(), cap.as_str()),
            }));
        }
    }
    match request {
        Request::SubscribeEvents {
            event_types,
            from_sequence,
        } => {
            if let Some(t) = event_types
                .iter()
                .find(|t| t.required_capability().map(|c| !grant.capabilities.contains(&c)).unwrap_or(false))
            {
                let cap = t.required_capability().map(|c| c.as_str()).unwrap_or("");
                return Some(Inline::Reply(ResponseResult::Err {
                    code: error_code::PERMISSION_DENIED,
                    message: format!("{} events need capability '{cap}'", t.as_str()),
                }));
            }
            ctx.bus
                .subscribe_then(sub, event_types, *from_sequence, |event_types, current_sequence| {
                    Some(ModuleMessage::Response {
                        id,
                        result: ResponseResult::Ok {
                            body: ResponseBody::Subscribed {
                                event_types,
                                current_sequence,
                            },
                        },
                    })
                });
            Some(Inline::Queued)
        }
        Request::Unsubscribe { event_types } => {
            ctx.bus.unsubscribe(sub, event_types);
            Some(Inline::Reply(ResponseResult::Ok {
                body: ResponseBody::Subscribed {
                    event_types: sub.filter(),
                    current_sequence: ctx.bus.current_sequence(),
                },
            }))
        }
        Request::RegisterRpcMethods { .. } | Request::RegisterHooks { .. } => {
            ctx.extensions.handle_registration(link, request).map(Inline::Reply)
        }
        _ => None,
    }
}

/// Most bytes gathered into one socket write.
const WRITE_BATCH_BYTES: usize = 64 * 1024;

fn outgoing_message(o: Outgoing) -> ModuleMessage {
    match o {
        Outgoing::Event(e) => ModuleMessage::Event((*e).clone()),
        Outgoing::Message(m) => *m,
        Outgoing::Lagged { from, to, count } => ModuleMessage::Lagged {
            from_sequence: from,
            to_sequence: to,
            count,
        },
    }
}

/// Writes responses and events in order. Frames already waiting are gathered into one write
/// (up to [`WRITE_BATCH_BYTES`]), so a busy connection costs one syscall per batch, not per event.
async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<ModuleMessage>, sub: Arc<Subscriber>) {
    let mut responses_open = true;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let first = tokio::select! {
            biased;
            m = rx.recv(), if responses_open => match m {
                Some(m) => m,
                None => { responses_open = false; continue; }
            },
            o = sub.next() => match o {
                Some(o) => outgoing_message(o),
                None => {
                    // The node is closing this connection: say why before the socket closes.
                    if let Some(reason) = sub.close_reason() {
                        let _ = write_frame(&mut wr, &ModuleMessage::Goodbye { reason }, u32::MAX).await;
                    }
                    break;
                }
            },
        };
        buf.clear();
        let mut stop = false;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match blvm_module::codec::encode(&msg) {
                Ok(frame) => buf.extend_from_slice(&frame),
                Err(_) => {
                    stop = true;
                    break;
                }
            }
            if matches!(msg, ModuleMessage::Error { .. }) {
                stop = true;
                break;
            }
            if buf.len() >= WRITE_BATCH_BYTES {
                break;
            }
            if responses_open {
                match rx.try_recv() {
                    Ok(m) => next = Some(m),
                    Err(mpsc::error::TryRecvError::Disconnected) => responses_open = false,
                    Err(mpsc::error::TryRecvError::Empty) => {}
                }
            }
            if next.is_none() {
                next = sub.try_next().map(outgoing_message);
            }
        }
        if !buf.is_empty() && tokio::io::AsyncWriteExt::write_all(&mut wr, &buf).await.is_err() {
            break;
        }
        if stop {
            break;
        }
    }
    while let Ok(m) = rx.try_recv() {
        if write_frame(&mut wr, &m, u32::MAX).await.is_err() {
            break;
        }
    }
    let _ = tokio::io::AsyncWriteExt::shutdown(&mut wr).await;
}

//! Async module-side client: connects to the node, performs the handshake,
//! correlates requests with responses and queues incoming events.
//!
//! Internals: a reader task owns the socket's read half and routes each
//! `Response` to the oneshot registered under its id; everything else
//! (`Event`, `Lagged`, node-initiated `Request`, `Error`, `Goodbye`) goes into
//! a bounded queue drained by [`ModuleClient::next_event`]. A writer task owns
//! the write half and is fed by a bounded queue, so all `&self` methods can
//! send concurrently. If the event queue is full the reader never blocks (that
//! would stall responses): it drops events and later delivers one `Lagged`
//! covering exactly the dropped sequences.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::codec::{self, CodecError, FrameReader, DEFAULT_MAX_FRAME, LENGTH_PREFIX_LEN};
use crate::env::ModuleEnv;
use crate::event::EventType;
use crate::message::{ModuleMessage, PROTOCOL_VERSION};
use crate::request::{error_code, Capability, Request, ResponseBody, ResponseResult};

/// Default time to wait for a response (and for the handshake).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default capacity of the incoming event queue.
pub const DEFAULT_EVENT_BUFFER: usize = 1024;
/// Capacity of the outgoing frame queue.
const WRITE_QUEUE: usize = 256;

/// Everything that can go wrong when talking to the node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be opened.
    #[error("cannot connect to {path}: {source}")]
    Connect {
        /// The socket path tried.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Framing or (de)serialization failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The connection is closed; pending and future requests fail with this.
    #[error("disconnected from node")]
    Disconnected,
    /// No response arrived within the request timeout.
    #[error("{method} timed out after {timeout:?}")]
    Timeout {
        /// The request method (or "Handshake").
        method: &'static str,
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// The node answered the request with an error.
    #[error("node error {code} ({}): {message}", error_code::name(*code))]
    Remote {
        /// One of the `error_code` constants.
        code: u32,
        /// The node's explanation.
        message: String,
    },
    /// The node refused the handshake (bad token, no common version, ...).
    #[error("handshake rejected with code {code} ({}): {message}", error_code::name(*code))]
    Rejected {
        /// One of the `error_code` constants.
        code: u32,
        /// The node's explanation.
        message: String,
    },
    /// The node sent something the protocol does not allow at this point.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// A response body did not match the request method.
    #[error("expected {expected} response, got {got}")]
    UnexpectedResponse {
        /// The body kind the method returns.
        expected: &'static str,
        /// The body kind received.
        got: &'static str,
    },
    /// A required environment variable is unset or empty.
    #[error("environment variable {0} is not set")]
    MissingEnv(&'static str),
    /// `BLVM_MODULE_CONFIG` is not valid JSON, or does not fit the requested type.
    #[error("invalid module config: {0}")]
    InvalidConfig(serde_json::Error),
}

impl ClientError {
    /// Whether the node reported that the requested object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Remote { code, .. } if *code == error_code::NOT_FOUND)
    }
}

/// How to identify the module and tune the client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Sent in `Handshake.module_name`.
    pub module_name: String,
    /// Sent in `Handshake.module_version`.
    pub module_version: String,
    /// Sent in `Handshake.token`.
    pub token: Option<String>,
    /// Versions offered in the handshake (default `[PROTOCOL_VERSION]`).
    pub protocol_versions: Vec<u32>,
    /// How long to wait for each response and for the `HandshakeAck`.
    pub request_timeout: Duration,
    /// Largest frame payload accepted from and sent to the node.
    pub max_frame: u32,
    /// Capacity of the incoming event queue before events are dropped as `Lagged`.
    pub event_buffer: usize,
}

impl ClientConfig {
    /// A config with the given identity and default tuning.
    pub fn new(module_name: impl Into<String>, module_version: impl Into<String>) -> Self {
        ClientConfig {
            module_name: module_name.into(),
            module_version: module_version.into(),
            ..ClientConfig::default()
        }
    }

    /// Sets the handshake token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sets the request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            module_name: String::new(),
            module_version: env!("CARGO_PKG_VERSION").to_string(),
            token: None,
            protocol_versions: vec![PROTOCOL_VERSION],
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_frame: DEFAULT_MAX_FRAME,
            event_buffer: DEFAULT_EVENT_BUFFER,
        }
    }
}

/// What the node told us in its `HandshakeAck`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeInfo {
    /// Negotiated protocol version.
    pub protocol_version: u32,
    /// The node's software version.
    pub node_version: String,
    /// Node-assigned id of this connection.
    pub module_id: u64,
    /// Granted capability names.
    pub capabilities: Vec<String>,
}

impl HandshakeInfo {
    /// Whether the node granted `cap`.
    pub fn has_capability(&self, cap: Capability) -> bool {
        self.capabilities.iter().any(|c| c == cap.as_str())
    }
}

/// Result of `subscribe_events` / `unsubscribe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The module's whole subscription after the change.
    pub event_types: Vec<EventType>,
    /// Newest sequence published when the node processed the request.
    pub current_sequence: u64,
}

/// One encoded frame for the writer, optionally confirming when it hit the socket.
struct Outgoing {
    frame: Vec<u8>,
    written: Option<oneshot::Sender<()>>,
}

type PendingMap = HashMap<u64, oneshot::Sender<ResponseResult>>;

/// State shared by the client handle and its tasks.
struct Shared {
    /// Outstanding requests; `None` once the connection is closed.
    pending: Mutex<Option<PendingMap>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Option<PendingMap>> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a request id; fails if the connection is already closed.
    fn register(&self, id: u64, tx: oneshot::Sender<ResponseResult>) -> Result<(), ClientError> {
        match self.lock().as_mut() {
            Some(map) => {
                map.insert(id, tx);
                Ok(())
            }
            None => Err(ClientError::Disconnected),
        }
    }

    fn remove(&self, id: u64) -> Option<oneshot::Sender<ResponseResult>> {
        self.lock().as_mut().and_then(|map| map.remove(&id))
    }

    /// Marks the connection closed; dropping the senders fails every pending request.
    fn close(&self) {
        self.lock().take();
    }

    fn is_closed(&self) -> bool {
        self.lock().is_none()
    }
}

/// Removes a pending entry when the request future finishes or is dropped.
struct PendingGuard<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.remove(self.id);
    }
}

/// A connected, handshaken module session with the node.
///
/// Dropping it stops the reader task immediately; the writer task finishes
/// sending what is already queued, half-closes the socket and exits.
pub struct ModuleClient {
    shared: Arc<Shared>,
    out_tx: mpsc::Sender<Outgoing>,
    events: mpsc::Receiver<ModuleMessage>,
    handshake: HandshakeInfo,
    next_id: AtomicU64,
    request_timeout: Duration,
    max_frame: u32,
    data_dir: Option<PathBuf>,
    config: Option<serde_json::Value>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl std::fmt::Debug for ModuleClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleClient")
            .field("handshake", &self.handshake)
            .field("closed", &self.shared.is_closed())
            .finish_non_exhaustive()
    }
}

impl ModuleClient {
    /// Connects to the node's socket and performs the handshake.
    pub async fn connect(socket_path: impl AsRef<Path>, config: ClientConfig) -> Result<Self, ClientError> {
        let path = socket_path.as_ref();
        let stream = UnixStream::connect(path).await.map_err(|source| ClientError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_stream(stream, config).await
    }

    /// Connects using the `BLVM_MODULE_*` environment variables set by the node.
    pub async fn connect_from_env() -> Result<Self, ClientError> {
        Self::connect_with_env(ModuleEnv::from_env()?).await
    }

    /// What every module does first, in one call: connect from the environment, read its
    /// configuration into `C` (`C::default()` when the node gave none) and its data directory
    /// (`.` when the node set none).
    pub async fn start<C: serde::de::DeserializeOwned + Default>() -> Result<(Self, C, PathBuf), ClientError> {
        let client = Self::connect_from_env().await?;
        let config = client.config_as::<C>()?.unwrap_or_default();
        let data_dir = client.data_dir().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        Ok((client, config, data_dir))
    }

    /// Connects using an already-read [`ModuleEnv`].
    pub async fn connect_with_env(env: ModuleEnv) -> Result<Self, ClientError> {
        let config = ClientConfig {
            module_name: env.module_name,
            module_version: env.module_version,
            token: env.token,
            ..ClientConfig::default()
        };
        let mut client = Self::connect(&env.socket_path, config).await?;
        client.data_dir = env.data_dir;
        client.config = env.config;
        Ok(client)
    }

    /// Performs the handshake over an already-connected stream.
    pub async fn from_stream(mut stream: UnixStream, config: ClientConfig) -> Result<Self, ClientError> {
        let hello = ModuleMessage::Handshake {
            protocol_versions: config.protocol_versions.clone(),
            module_name: config.module_name.clone(),
            module_version: config.module_version.clone(),
            token: config.token.clone(),
        };
        let handshake = tokio::time::timeout(config.request_timeout, async {
            codec::write_frame(&mut stream, &hello, config.max_frame).await?;
            // read_frame never reads past the frame, so nothing is lost when the
            // stream is handed to the FrameReader below.
            codec::read_frame(&mut stream, config.max_frame).await
        })
        .await
        .map_err(|_| ClientError::Timeout {
            method: "Handshake",
            timeout: config.request_timeout,
        })??;
        let handshake = match handshake {
            Some(ModuleMessage::HandshakeAck {
                protocol_version,
                node_version,
                module_id,
                capabilities,
            }) => {
                if !config.protocol_versions.contains(&protocol_version) {
                    return Err(ClientError::Protocol(format!(
                        "node chose protocol version {protocol_version}, we offered {:?}",
                        config.protocol_versions
                    )));
                }
                HandshakeInfo {
                    protocol_version,
                    node_version,
                    module_id,
                    capabilities,
                }
            }
            Some(ModuleMessage::Error { code, message }) => return Err(ClientError::Rejected { code, message }),
            Some(other) => return Err(ClientError::Protocol(format!("expected HandshakeAck, got {}", other.type_name()))),
            None => return Err(ClientError::Disconnected),
        };

        let (read_half, write_half) = stream.into_split();
        let shared = Arc::new(Shared {
            pending: Mutex::new(Some(HashMap::new())),
        });
        let (out_tx, out_rx) = mpsc::channel(WRITE_QUEUE);
        let (event_tx, events) = mpsc::channel(config.event_buffer.max(1));
        let reader = tokio::spawn(reader_task(
            FrameReader::new(read_half, config.max_frame),
            Arc::clone(&shared),
            event_tx,
        ));
        let writer = tokio::spawn(writer_task(write_half, out_rx, Arc::clone(&shared), config.request_timeout));
        Ok(ModuleClient {
            shared,
            out_tx,
            events,
            handshake,
            next_id: AtomicU64::new(1),
            request_timeout: config.request_timeout,
            max_frame: config.max_frame,
            data_dir: None,
            config: None,
            reader,
            writer,
        })
    }

    /// The node's `HandshakeAck` details.
    pub fn handshake(&self) -> &HandshakeInfo {
        &self.handshake
    }

    /// The module's private data directory (`BLVM_MODULE_DATA_DIR`), if the node set one.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// The module's configuration (`BLVM_MODULE_CONFIG`), if the node set one.
    pub fn config(&self) -> Option<&serde_json::Value> {
        self.config.as_ref()
    }

    /// The configuration deserialized into the module's own type.
    pub fn config_as<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, ClientError> {
        self.config
            .clone()
            .map(serde_json::from_value)
            .transpose()
            .map_err(ClientError::InvalidConfig)
    }

    /// Whether the connection has closed (reader or writer stopped).
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Next event, `Lagged`, node-initiated `Request`, `Error` or `Goodbye`; `None` once closed and drained.
    pub async fn next_event(&mut self) -> Option<ModuleMessage> {
        self.events.recv().await
    }

    /// Encodes `msg` and queues it for the writer, failing early if it is too large.
    async fn send(&self, msg: &ModuleMessage, written: Option<oneshot::Sender<()>>) -> Result<(), ClientError> {
        let frame = codec::encode(msg)?;
        let payload_len = (frame.len() - LENGTH_PREFIX_LEN) as u64;
        if payload_len > u64::from(self.max_frame) {
            return Err(CodecError::FrameTooLarge {
                len: payload_len,
                max: self.max_frame,
            }
            .into());
        }
        self.out_tx
            .send(Outgoing { frame, written })
            .await
            .map_err(|_| ClientError::Disconnected)
    }

    /// Sends `msg` and waits until it has been written to the socket.
    async fn send_and_flush(&self, msg: &ModuleMessage) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.send(msg, Some(tx)).await?;
        rx.await.map_err(|_| ClientError::Disconnected)
    }

    /// Sends any request and waits for its response body.
    pub async fn request(&self, request: Request) -> Result<ResponseBody, ClientError> {
        let method = request.method();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.shared.register(id, tx)?;
        let _guard = PendingGuard { shared: &self.shared, id };
        self.send(&ModuleMessage::Request { id, request }, None).await?;
        match tokio::time::timeout(self.request_timeout, rx).await {
            Err(_) => Err(ClientError::Timeout {
                method,
                timeout: self.request_timeout,
            }),
            Ok(Err(_)) => Err(ClientError::Disconnected),
            Ok(Ok(ResponseResult::Ok { body })) => Ok(body),
            Ok(Ok(ResponseResult::Err { code, message })) => Err(ClientError::Remote { code, message }),
        }
    }

    /// Adds event types to the subscription.
    pub async fn subscribe_events(&self, event_types: Vec<EventType>) -> Result<Subscription, ClientError> {
        self.subscribe(Request::SubscribeEvents {
            event_types,
            from_sequence: None,
        })
        .await
    }

    /// Adds event types, first replaying retained replayable events with `sequence >= from_sequence`.
    pub async fn subscribe_events_from(&self, event_types: Vec<EventType>, from_sequence: u64) -> Result<Subscription, ClientError> {
        self.subscribe(Request::SubscribeEvents {
            event_types,
            from_sequence: Some(from_sequence),
        })
        .await
    }

    /// Removes event types from the subscription.
    pub async fn unsubscribe(&self, event_types: Vec<EventType>) -> Result<Subscription, ClientError> {
        self.subscribe(Request::Unsubscribe { event_types }).await
    }

    async fn subscribe(&self, request: Request) -> Result<Subscription, ClientError> {
        match self.request(request).await? {
            ResponseBody::Subscribed {
                event_types,
                current_sequence,
            } => Ok(Subscription {
                event_types,
                current_sequence,
            }),
            other => Err(unexpected("Subscribed", &other)),
        }
    }

    /// Acknowledges an event; returns once the `Ack` frame is written to the socket.
    pub async fn ack(&self, sequence: u64) -> Result<(), ClientError> {
        self.send_and_flush(&ModuleMessage::Ack { sequence }).await
    }

    /// Answers a node-initiated `Request` received through `next_event`.
    pub async fn respond(&self, id: u64, result: ResponseResult) -> Result<(), ClientError> {
        self.send_and_flush(&ModuleMessage::Response { id, result }).await
    }

    /// Reports the module's health (needs `report_health`).
    pub async fn report_health(&self, healthy: bool, report: Option<String>) -> Result<(), ClientError> {
        self.expect_done(Request::ReportHealth { healthy, report }).await
    }

    /// Publishes a `ModuleEvent` in this module's namespace (needs `publish_events`).
    pub async fn publish_event(&self, name: impl Into<String>, data: impl Into<String>) -> Result<(), ClientError> {
        self.expect_done(Request::PublishEvent {
            name: name.into(),
            data: data.into(),
        })
        .await
    }

    async fn expect_done(&self, request: Request) -> Result<(), ClientError> {
        match self.request(request).await? {
            ResponseBody::Done => Ok(()),
            other => Err(unexpected("Done", &other)),
        }
    }

    /// Sends `Goodbye`, flushes queued frames, half-closes the socket and stops the tasks.
    pub async fn close(mut self) -> Result<(), ClientError> {
        let sent = self
            .send_and_flush(&ModuleMessage::Goodbye {
                reason: "module closing".to_string(),
            })
            .await;
        // Replacing the sender ends the writer's queue; it then shuts the socket down.
        let (dead_tx, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.out_tx, dead_tx));
        if tokio::time::timeout(self.request_timeout, &mut self.writer).await.is_err() {
            self.writer.abort();
        }
        self.reader.abort();
        self.shared.close();
        match sent {
            Ok(()) | Err(ClientError::Disconnected) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Drop for ModuleClient {
    fn drop(&mut self) {
        // The writer stops by itself once `out_tx` is dropped and its queue is drained.
        self.reader.abort();
        self.shared.close();
    }
}

pub(crate) fn unexpected(expected: &'static str, got: &ResponseBody) -> ClientError {
    ClientError::UnexpectedResponse { expected, got: got.kind() }
}

/// Writes queued frames until the queue closes or a write fails or stalls.
async fn writer_task(mut w: OwnedWriteHalf, mut rx: mpsc::Receiver<Outgoing>, shared: Arc<Shared>, stall_timeout: Duration) {
    while let Some(out) = rx.recv().await {
        let write = async {
            w.write_all(&out.frame).await?;
            w.flush().await
        };
        match tokio::time::timeout(stall_timeout, write).await {
            Ok(Ok(())) => {
                if let Some(done) = out.written {
                    let _ = done.send(());
                }
            }
            Ok(Err(e)) => {
                debug!("module client write failed: {e}");
                break;
            }
            Err(_) => {
                warn!("module client write stalled for {stall_timeout:?}; closing");
                break;
            }
        }
    }
    shared.close();
    let _ = w.shutdown().await;
}

/// Dropped-event range the reader still has to report as `Lagged`.
#[derive(Debug, Clone, Copy)]
struct Lag {
    from: u64,
    to: u64,
    count: u64,
}

impl Lag {
    /// The range covered by an event or `Lagged` message that had to be dropped.
    fn of(msg: &ModuleMessage) -> Option<Lag> {
        match msg {
            ModuleMessage::Event(ev) => Some(Lag {
                from: ev.sequence,
                to: ev.sequence,
                count: 1,
            }),
            ModuleMessage::Lagged {
                from_sequence,
                to_sequence,
                count,
            } => Some(Lag {
                from: *from_sequence,
                to: *to_sequence,
                count: *count,
            }),
            _ => None,
        }
    }

    fn merge(self, other: Lag) -> Lag {
        Lag {
            from: self.from.min(other.from),
            to: self.to.max(other.to),
            count: self.count.saturating_add(other.count),
        }
    }

    fn message(self) -> ModuleMessage {
        ModuleMessage::Lagged {
            from_sequence: self.from,
            to_sequence: self.to,
            count: self.count,
        }
    }
}

/// Reads frames until EOF or error, routing responses and queueing the rest.
async fn reader_task(mut reader: FrameReader<OwnedReadHalf>, shared: Arc<Shared>, events: mpsc::Sender<ModuleMessage>) {
    let mut lag: Option<Lag> = None;
    loop {
        let next = match lag {
            // While a lag report is pending, deliver it as soon as the queue has room.
            Some(pending) => tokio::select! {
                biased;
                permit = events.reserve() => match permit {
                    Ok(permit) => {
                        permit.send(pending.message());
                        lag = None;
                        continue;
                    }
                    Err(_) => break,
                },
                // FrameReader::read is cancel-safe.
                next = reader.read() => next,
            },
            None => reader.read().await,
        };
        let msg = match next {
            Ok(Some(msg)) => msg,
            Ok(None) => break,
            Err(CodecError::Decode(e)) => {
                // The frame boundary is intact, so skip the frame and keep going.
                warn!("module client skipped undecodable frame: {e}");
                continue;
            }
            Err(e) => {
                debug!("module client read ended: {e}");
                break;
            }
        };
        match msg {
            ModuleMessage::Response { id, result } => match shared.remove(id) {
                Some(tx) => {
                    let _ = tx.send(result);
                }
                None => debug!("response for unknown or timed-out request id {id}"),
            },
            ModuleMessage::Event(ev) if ev.requires_ack() => {
                // Events the node waits an ack for are never dropped here either: wait for room,
                // keeping order behind any pending lag notice.
                if let Some(pending) = lag.take() {
                    if events.send(pending.message()).await.is_err() {
                        break;
                    }
                }
                if events.send(ModuleMessage::Event(ev)).await.is_err() {
                    break;
                }
            }
            msg @ (ModuleMessage::Event(_) | ModuleMessage::Lagged { .. }) => {
                if !deliver_event(&events, &mut lag, msg) {
                    break;
                }
            }
            other => {
                // Rare control messages: keep order behind any pending lag, and wait for room.
                if let Some(pending) = lag.take() {
                    if events.send(pending.message()).await.is_err() {
                        break;
                    }
                }
                if events.send(other).await.is_err() {
                    break;
                }
            }
        }
    }
    shared.close();
    if let Some(pending) = lag {
        let _ = events.send(pending.message()).await;
    }
}

/// Queues an event without blocking; on a full queue records it as lag. False if the receiver is gone.
fn deliver_event(events: &mpsc::Sender<ModuleMessage>, lag: &mut Option<Lag>, msg: ModuleMessage) -> bool {
    if let Some(pending) = lag.take() {
        match events.try_send(pending.message()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                *lag = Some(match Lag::of(&msg) {
                    Some(dropped) => pending.merge(dropped),
                    None => pending,
                });
                return true;
            }
            Err(TrySendError::Closed(_)) => return false,
        }
    }
    match events.try_send(msg) {
        Ok(()) => true,
        Err(TrySendError::Full(msg)) => {
            *lag = Lag::of(&msg);
            true
        }
        Err(TrySendError::Closed(_)) => false,
    }
}

//! The running node: ordered startup, one shutdown path for every cause, and the API the
//! RPC server and CLI use for manual lifecycle operations.

use super::completion::CompletionGuard;
use super::settings::LifecycleSettings;
use crate::chain::{BlockOutcome, ChainError, ChainManager, ChainNotification, ChainSettings, FlushReason, FlushReport};
use crate::datadir::{lock_directories, DatadirLock, LockError};
use crate::mempool::{Mempool, MempoolSettings};
use crate::modules::api::NodeApi;
use crate::modules::bus::{AckOutcome, AckWaiter, EventBus, DEFAULT_HISTORY, DEFAULT_QUEUE_CAPACITY};
use crate::modules::health::HealthRegistry;
use crate::modules::manager::{ManagerSettings, ModuleManager};
use crate::modules::server::{self, Authenticator, ServerContext, ServerSettings};
use crate::params::ChainParams;
use bitcoin::Block;
use blvm_module::EventPayload;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::{mpsc, watch, Notify};

/// Decoded blocks a `-loadblock` reader may hold ahead of block connection.
const LOADBLOCK_QUEUE: usize = 4;

/// Why the node stops; the string goes into NodeShutdown.reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShutdownReason {
    /// A library caller asked for an orderly stop.
    Graceful,
    /// SIGINT or SIGTERM.
    Signal,
    /// The `stop` RPC.
    Rpc,
    /// A fatal condition (database failure, disk critically full); the detail is logged.
    Error(String),
}

impl ShutdownReason {
    /// "graceful", "signal", "rpc" or "error".
    pub fn as_str(&self) -> &'static str {
        match self {
            ShutdownReason::Graceful => "graceful",
            ShutdownReason::Signal => "signal",
            ShutdownReason::Rpc => "rpc",
            ShutdownReason::Error(_) => "error",
        }
    }
}

/// Everything needed to start a node.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// Network parameters.
    pub params: ChainParams,
    /// `<datadir>/<network>`.
    pub net_dir: PathBuf,
    /// Chain engine tunables.
    pub chain: ChainSettings,
    /// Lifecycle timers and thresholds.
    pub lifecycle: LifecycleSettings,
    /// Accept module connections without a token (operator opt-in).
    pub allow_unauthenticated_modules: bool,
    /// Largest module frame in bytes.
    pub module_max_frame: u32,
    /// Per-module event queue length before it is reported as lagging.
    pub module_queue_capacity: usize,
    /// The RPC server, if enabled.
    pub rpc: Option<crate::rpc::server::RpcSettings>,
    /// Mempool policy, size limit and persistence.
    pub mempool: MempoolSettings,
    /// Blocks to import after startup (`-loadblock`), publishing chain events.
    pub load_blocks: Vec<PathBuf>,
    /// Restarts a crashing module gets before it is marked failed.
    pub module_max_restarts: u32,
    /// First restart delay (doubles per consecutive crash).
    pub module_backoff: Duration,
    /// Where to serve Prometheus metrics (`-metricsbind`; None: off).
    pub metrics_bind: Option<std::net::SocketAddr>,
    /// Cadence of progress lines during `-loadblock` (`-progressinterval`).
    pub progress_interval: Duration,
    /// The P2P layer (None: no networking).
    pub p2p: Option<crate::p2p::P2pSettings>,
    /// ZMQ notifiers (`-zmqpub*`; empty: off).
    pub zmq: crate::zmq::ZmqSettings,
    /// Notification commands (`-blocknotify`, ...).
    pub notify: crate::notify::NotifyCommands,
    /// Deadlines and policies of module RPC methods and hooks.
    pub module_extensions: crate::modules::extensions::ExtensionSettings,
}

impl NodeSettings {
    /// Where the block and undo files live (`-blocksdir` or the network directory).
    pub fn blocks_dir(&self) -> PathBuf {
        self.chain.blocks_dir(&self.net_dir, &self.params)
    }

    /// Defaults for `network` in `net_dir`.
    pub fn new(params: ChainParams, net_dir: PathBuf) -> Self {
        NodeSettings {
            params,
            net_dir,
            chain: ChainSettings::default(),
            lifecycle: LifecycleSettings::default(),
            allow_unauthenticated_modules: false,
            module_max_frame: blvm_module::codec::DEFAULT_MAX_FRAME,
            module_queue_capacity: DEFAULT_QUEUE_CAPACITY,
            rpc: None,
            load_blocks: Vec::new(),
            mempool: MempoolSettings::default(),
            module_max_restarts: 5,
            module_backoff: Duration::from_millis(500),
            metrics_bind: None,
            progress_interval: Duration::from_secs(2),
            module_extensions: Default::default(),
            p2p: None,
            zmq: crate::zmq::ZmqSettings::default(),
            notify: crate::notify::NotifyCommands::default(),
        }
    }

    /// Path of the module socket.
    pub fn socket_path(&self) -> PathBuf {
        self.net_dir.join("modules.sock")
    }
}

/// Startup failures.
#[derive(Debug, Error)]
pub enum NodeError {
    /// The datadir is in use or unwritable.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The chain could not be opened.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The startup verification of the last blocks failed (Core's VerifyDB).
    #[error("Corrupted block database detected: {0}")]
    Verify(#[from] crate::chain::verify::VerifyError),
    /// The active tip is more than two hours ahead of the clock (Core's startup check): the
    /// clock is wrong, or the chainstate was built with a wrong one.
    #[error(
        "The block database contains a block which appears to be from the future. This may be due to your computer's date and time being set incorrectly. Only rebuild the block database if you are sure that your computer's date and time are correct.\nblvm-node has no -reindex: to rebuild, move the chainstate and blocks directories out of {0} (the blocks of -blocksdir, if set) and restart to resync."
    )]
    FutureTip(PathBuf),
    /// The module socket could not be bound.
    #[error("module socket {path}: {source}")]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A blocking task failed.
    #[error("internal task failed: {0}")]
    Task(String),
    /// The RPC server could not start.
    #[error("RPC server: {0}")]
    Rpc(String),
    /// The metrics endpoint could not start.
    #[error("metrics endpoint (-metricsbind): {0}")]
    Metrics(String),
    /// The P2P layer could not start.
    #[error("P2P: {0}")]
    P2p(String),
}

/// What a shutdown did, for logs and tests.
#[derive(Debug, Clone)]
pub struct ShutdownReport {
    /// The reason.
    pub reason: ShutdownReason,
    /// Total duration.
    pub duration: Duration,
    /// Acks for NodeShutdown.
    pub shutdown_acks: AckOutcome,
    /// Acks for StorageFlush.
    pub flush_acks: AckOutcome,
    /// Whether the final chainstate flush succeeded.
    pub flush_ok: bool,
}

/// Milliseconds rounded up, so any real duration reports at least 1.
pub fn ceil_ms(d: Duration) -> u64 {
    (d.as_micros() as u64).div_ceil(1000)
}

/// A running node.
pub struct Node {
    pub(crate) settings: NodeSettings,
    pub(crate) chain: Arc<Mutex<ChainManager>>,
    pub(crate) bus: Arc<EventBus>,
    pub(crate) manager: Arc<ModuleManager>,
    pub(crate) server: Arc<ServerContext>,
    pub(crate) health: Arc<HealthRegistry>,
    stop_tx: watch::Sender<bool>,
    shutdown_tx: mpsc::UnboundedSender<ShutdownReason>,
    shutdown_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<ShutdownReason>>,
    force: Notify,
    forced: AtomicBool,
    shutting_down: AtomicBool,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    components: Mutex<Vec<String>>,
    started: Instant,
    rpc_addrs: Mutex<Vec<std::net::SocketAddr>>,
    metrics: Arc<crate::metrics::Registry>,
    metrics_addr: Mutex<Option<std::net::SocketAddr>>,
    net: Arc<crate::p2p::Net>,
    pub(crate) mempool: Arc<Mempool>,
    tip_seq: watch::Sender<u64>,
    rpc_active: crate::rpc::active::ActiveCommands,
    zmq: Option<Arc<crate::zmq::ZmqPublisher>>,
    notifier: Arc<crate::notify::Notifier>,
    pub(crate) ibd_latch: super::ibd::IbdLatch,
    pub(crate) auto: super::automatic::AutoState,
    /// Warnings raised so far, each once (Core's node::Warnings).
    warnings: Mutex<Vec<String>>,
    _locks: [DatadirLock; 2],
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Binds the ZMQ notifiers; as in Core, a failure is logged and the node runs without ZMQ.
async fn start_zmq(
    settings: &crate::zmq::ZmqSettings,
    stop: watch::Receiver<bool>,
) -> (Option<Arc<crate::zmq::ZmqPublisher>>, Vec<tokio::task::JoinHandle<()>>) {
    if !settings.is_enabled() {
        return (None, Vec::new());
    }
    match crate::zmq::ZmqPublisher::start(settings, stop).await {
        Ok((z, tasks)) => {
            for n in z.notifiers() {
                tracing::info!(target: "blvm::zmq", topic = n.topic.name(), address = %n.address, hwm = n.hwm, "ZMQ notifier publishing");
            }
            (Some(z), tasks)
        }
        Err(e) => {
            tracing::error!(target: "blvm::zmq", "{e}; ZMQ notifications disabled");
            (None, Vec::new())
        }
    }
}

impl Node {
    /// Starts every component in a fixed order, waits (bounded) for autoloaded modules to
    /// connect and subscribe, then publishes NodeStartupCompleted and a startup HealthCheck.
    pub async fn start(settings: NodeSettings) -> Result<Arc<Node>, NodeError> {
        let t0 = Instant::now();
        let mut components = Vec::new();
        let locks = lock_directories(&settings.net_dir, &settings.blocks_dir())?;
        components.push("datadir".to_string());

        let (params, net_dir, chain_settings) = (settings.params.clone(), settings.net_dir.clone(), settings.chain.clone());
        let mut chain = tokio::task::spawn_blocking(move || ChainManager::open(params, &net_dir, chain_settings))
            .await
            .map_err(|e| NodeError::Task(e.to_string()))??;
        // A chainstate that cannot be written stops the node, whichever task (block connection,
        // periodic flush, RPC, maintenance) hit the failure (Core's fatalError notification).
        let (shutdown_tx, shutdown_rx) = mpsc::unbounded_channel();
        let fatal_tx = shutdown_tx.clone();
        chain.set_fatal_handler(Box::new(move |msg| {
            let _ = fatal_tx.send(ShutdownReason::Error(msg.to_string()));
        }));
        tracing::info!(height = chain.height(), tip = %chain.tip().hash, "chainstate loaded");
        if i64::from(chain.tip().header.time) > crate::clock::unix_now() + crate::validation::header_check::MAX_FUTURE_BLOCK_TIME {
            return Err(NodeError::FutureTip(settings.net_dir.clone()));
        }
        let (level, nblocks) = (settings.chain.check_level, settings.chain.check_blocks);
        tracing::info!("Verifying last {nblocks} blocks at level {level}");
        let checked = chain.verify_recent(level, nblocks)?;
        tracing::info!(
            "Verification: No coin database inconsistencies in last {} blocks ({} transactions)",
            checked.blocks,
            checked.transactions
        );
        let chain = Arc::new(Mutex::new(chain));
        components.push("chainstate".to_string());

        let bus = EventBus::new(1, settings.module_queue_capacity, DEFAULT_HISTORY);
        components.push("event_bus".to_string());

        let mempool = Mempool::new(settings.mempool.clone(), chain.clone(), Some(bus.clone()), &settings.net_dir);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (zmq, zmq_tasks) = start_zmq(&settings.zmq, stop_rx.clone()).await;
        if let Some(z) = &zmq {
            mempool.set_zmq(z.clone());
            components.push("zmq".to_string());
        }
        if settings.mempool.persist {
            let (mp, ch) = (mempool.clone(), chain.clone());
            let loaded = tokio::task::spawn_blocking(move || mp.load_locked(&mut ch.lock().unwrap_or_else(|p| p.into_inner())))
                .await
                .map_err(|e| NodeError::Task(e.to_string()))?;
            if let Err(e) = loaded {
                tracing::warn!("mempool.dat not loaded: {e}");
            }
            mempool.publish_pending();
        } else {
            mempool.set_loaded();
        }
        components.push("mempool".to_string());

        let health = Arc::new(HealthRegistry::default());
        let net = Arc::new(crate::p2p::Net::new(settings.p2p.clone(), &settings.net_dir));
        let api = Arc::new(NodeApi {
            chain: chain.clone(),
            health: health.clone(),
            bus: bus.clone(),
            mempool: mempool.clone(),
            peers: net.clone(),
        });
        let auth = Arc::new(Authenticator::default());
        let mut server_settings = ServerSettings::new(settings.socket_path());
        server_settings.allow_unauthenticated = settings.allow_unauthenticated_modules;
        server_settings.max_frame = settings.module_max_frame;
        let listener = server::bind(&server_settings.socket_path).map_err(|e| NodeError::Socket {
            path: settings.socket_path(),
            source: e,
        })?;
        let extensions =
            crate::modules::extensions::Extensions::new(settings.module_extensions.clone(), Box::new(crate::rpc::methods::is_builtin));
        mempool.set_hooks(extensions.clone());
        let server = ServerContext::new(bus.clone(), api, auth.clone(), server_settings, extensions);
        let mut tasks = zmq_tasks;
        tasks.push(tokio::spawn(server::run(listener, server.clone(), stop_rx.clone())));
        components.push("module_server".to_string());

        let mut manager_settings = ManagerSettings::new(&settings.net_dir, settings.socket_path());
        manager_settings.max_restarts = settings.module_max_restarts;
        manager_settings.backoff_base = settings.module_backoff;
        let manager = ModuleManager::new(manager_settings, auth, bus.clone());
        let started = manager.autoload();
        components.push("module_manager".to_string());
        let deadline = Instant::now() + settings.lifecycle.module_connect_timeout;
        let mut pending: Vec<String> = started.clone();
        while !pending.is_empty() && Instant::now() < deadline {
            let failed: Vec<String> = manager
                .list()
                .into_iter()
                .filter(|m| matches!(m.status, crate::modules::manager::ModuleStatus::Failed))
                .map(|m| m.name)
                .collect();
            pending.retain(|n| !bus.is_subscribed(n) && !failed.contains(n));
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        for n in &started {
            if bus.is_subscribed(n) {
                components.push(format!("module:{n}"));
            } else {
                tracing::warn!(target: "blvm::modules", module = %n, "module did not connect and subscribe in time; starting without it");
            }
        }

        let notifier = Arc::new(crate::notify::Notifier::new(settings.notify.clone()));
        let node = Arc::new(Node {
            settings,
            chain,
            bus,
            manager,
            server,
            health,
            stop_tx,
            shutdown_tx,
            shutdown_rx: tokio::sync::Mutex::new(shutdown_rx),
            force: Notify::new(),
            forced: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
            components: Mutex::new(Vec::new()),
            started: t0,
            rpc_addrs: Mutex::new(Vec::new()),
            metrics: Arc::new(crate::metrics::Registry::default()),
            metrics_addr: Mutex::new(None),
            net,
            mempool,
            tip_seq: watch::channel(0).0,
            rpc_active: Default::default(),
            zmq,
            notifier,
            ibd_latch: Default::default(),
            auto: Default::default(),
            warnings: Mutex::new(Vec::new()),
            _locks: locks,
        });
        if let Some(rpc) = node.settings.rpc.clone() {
            let (addrs, handle) = crate::launch::rpc_ops::start_rpc(&node, rpc, stop_rx.clone())
                .await
                .map_err(|e| NodeError::Rpc(e.to_string()))?;
            tracing::info!(target: "blvm::rpc", addrs = ?addrs, "RPC server listening");
            *lock(&node.rpc_addrs) = addrs;
            tasks.push(handle);
            components.push("rpc_server".to_string());
        }
        if let Some(addr) = node.settings.metrics_bind {
            let (bound, handle) = crate::metrics::server::start(&node, addr, stop_rx.clone())
                .await
                .map_err(|e| NodeError::Metrics(format!("{addr}: {e}")))?;
            tracing::info!(target: "blvm::metrics", addr = %bound, "metrics endpoint listening on http://{bound}/metrics");
            *lock(&node.metrics_addr) = Some(bound);
            tasks.push(handle);
            components.push("metrics".to_string());
        }
        if node.settings.p2p.is_some() {
            let handle = crate::p2p::start(&node, stop_rx.clone()).await.map_err(NodeError::P2p)?;
            tasks.push(handle);
            components.push("p2p".to_string());
        }
        let (periodic, names) = super::periodic::spawn_all(&node, stop_rx);
        tasks.extend(periodic);
        let mut components = components;
        components.extend(names);
        lock(&node.tasks).extend(tasks);
        *lock(&node.components) = components.clone();
        let duration_ms = ceil_ms(t0.elapsed());
        tracing::info!(duration_ms, components = ?components, "node startup completed");
        node.bus.publish(EventPayload::NodeStartupCompleted { duration_ms, components });
        node.notifier.startup();
        let startup = node.health_check("startup").await;
        if !startup.healthy {
            tracing::warn!(report = %startup.report, "startup health check: node unhealthy");
        }
        if !node.settings.load_blocks.is_empty() {
            let n = node.clone();
            let mut stop = n.stop_tx.subscribe();
            let h = tokio::spawn(async move {
                for path in n.settings.load_blocks.clone() {
                    if *stop.borrow() {
                        break;
                    }
                    if let Err(e) = n.load_block_file(&path, &mut stop).await {
                        tracing::error!("-loadblock {}: {e}", path.display());
                    }
                }
            });
            lock(&node.tasks).push(h);
        }
        Ok(node)
    }

    /// Components started, in order (as sent in NodeStartupCompleted).
    pub fn components(&self) -> Vec<String> {
        lock(&self.components).clone()
    }

    /// The chain engine.
    pub fn chain(&self) -> Arc<Mutex<ChainManager>> {
        self.chain.clone()
    }

    /// The mempool (also where getrawtransaction finds unconfirmed transactions).
    pub fn mempool(&self) -> Arc<Mempool> {
        self.mempool.clone()
    }

    /// RPC methods and hooks registered by connected modules.
    pub fn extensions(&self) -> &Arc<crate::modules::extensions::Extensions> {
        &self.server.extensions
    }

    /// The chain engine, borrowed.
    pub fn chain_ref(&self) -> &Mutex<ChainManager> {
        &self.chain
    }

    /// Time since startup began.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Metrics recorded as they happen (RPC latency, flush durations).
    pub fn metrics(&self) -> &crate::metrics::Registry {
        &self.metrics
    }

    /// Address of the metrics endpoint, when enabled.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        *lock(&self.metrics_addr)
    }

    /// The P2P layer's shared state (peers, bans, totals).
    pub fn net(&self) -> Arc<crate::p2p::Net> {
        self.net.clone()
    }

    /// Addresses the RPC server listens on.
    pub fn rpc_addrs(&self) -> Vec<std::net::SocketAddr> {
        lock(&self.rpc_addrs).clone()
    }

    /// The event bus.
    pub fn bus(&self) -> Arc<EventBus> {
        self.bus.clone()
    }

    /// The module manager.
    pub fn modules(&self) -> Arc<ModuleManager> {
        self.manager.clone()
    }

    /// Node settings.
    pub fn settings(&self) -> &NodeSettings {
        &self.settings
    }

    /// Module health reports.
    pub fn health_registry(&self) -> Arc<HealthRegistry> {
        self.health.clone()
    }

    /// Asks the node to stop; the owner's [`Node::wait_for_shutdown_request`] returns the reason.
    pub fn request_shutdown(&self, reason: ShutdownReason) {
        if self.shutting_down.load(Ordering::SeqCst) {
            // A repeated stop request (a second Ctrl-C or `stop`) skips the remaining waits. An
            // error reported while stopping does not: one fatal failure reaches both the chain's
            // fatal handler and its caller, and must not cut the modules' acknowledgements short.
            if !matches!(reason, ShutdownReason::Error(_)) {
                self.force_fast_shutdown();
            }
            return;
        }
        let _ = self.shutdown_tx.send(reason);
    }

    /// Skips the remaining acknowledgement waits of a shutdown in progress (the final flush
    /// still runs, so the chainstate stays consistent).
    pub fn force_fast_shutdown(&self) {
        tracing::warn!("second stop request: skipping remaining module acknowledgement waits");
        self.forced.store(true, Ordering::SeqCst);
        self.force.notify_waiters();
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Waits for the first shutdown request.
    pub async fn wait_for_shutdown_request(&self) -> ShutdownReason {
        match self.shutdown_rx.lock().await.recv().await {
            Some(r) => r,
            None => ShutdownReason::Graceful,
        }
    }

    pub(crate) async fn wait_acks(&self, waiter: AckWaiter, deadline: Duration) -> AckOutcome {
        if self.forced.load(Ordering::SeqCst) {
            return waiter.wait(Duration::ZERO).await;
        }
        let forced = self.force.notified();
        tokio::pin!(forced);
        let seq = waiter.sequence();
        tokio::select! {
            out = waiter.wait(deadline) => out,
            _ = &mut forced => {
                tracing::warn!(sequence = seq, "acknowledgement wait cut short by forced shutdown");
                AckOutcome::default()
            }
        }
    }

    async fn run_chain<T: Send + 'static>(&self, f: impl FnOnce(&mut ChainManager) -> T + Send + 'static) -> Result<T, NodeError> {
        let chain = self.chain.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&chain)))
            .await
            .map_err(|e| NodeError::Task(e.to_string()))
    }

    /// Validates and connects a block, publishing the resulting chain events.
    pub async fn submit_block(&self, block: Block) -> Result<BlockOutcome, NodeError> {
        let mempool = self.mempool.clone();
        let (min_work, max_age) = self.ibd_thresholds();
        let (outcome, notes, flushes, warnings) = self
            .run_chain(move |c| {
                let r = c.process_block(&block);
                let notes = c.take_notifications();
                mempool.update_for_chain(c, &notes);
                // Unknown soft forks are looked for once caught up, as Core's UpdateTip does.
                if !notes.is_empty() && super::ibd::tip_is_current(c, min_work, max_age, crate::clock::unix_now()) {
                    c.check_unknown_rules();
                }
                (r, notes, c.take_flush_reports(), c.take_warnings())
            })
            .await?;
        self.warn(warnings);
        self.publish_chain(notes);
        self.mempool.publish_pending();
        let flushed = !flushes.is_empty();
        for f in flushes {
            tracing::debug!(ms = ceil_ms(f.duration), "cache-full flush during block connection");
            self.metrics.observe_flush(f.duration);
        }
        self.after_blocks(flushed).await;
        match outcome {
            Ok(o) => Ok(o),
            Err(e) => {
                self.request_shutdown(ShutdownReason::Error(e.to_string()));
                Err(NodeError::Chain(e))
            }
        }
    }

    /// `preciousblock`: prefers `hash`'s chain among chains of equal work (see
    /// [`ChainManager::precious_block`]), publishing the resulting chain events; false when the
    /// block is unknown.
    pub async fn precious_block(&self, hash: bitcoin::BlockHash) -> Result<bool, NodeError> {
        self.chain_operation(move |c| c.precious_block(&hash)).await
    }

    /// `invalidateblock`: see [`ChainManager::invalidate_block`]; false when the block is unknown.
    pub async fn invalidate_block(&self, hash: bitcoin::BlockHash) -> Result<bool, NodeError> {
        self.chain_operation(move |c| c.invalidate_block(&hash)).await
    }

    /// `reconsiderblock`: see [`ChainManager::reconsider_block`]; false when the block is unknown.
    pub async fn reconsider_block(&self, hash: bitcoin::BlockHash) -> Result<bool, NodeError> {
        self.chain_operation(move |c| c.reconsider_block(&hash)).await
    }

    /// Runs an operator's chain operation the way block submission runs: the mempool follows the
    /// chain changes, chain events are published, and a storage failure stops the node.
    async fn chain_operation<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut ChainManager) -> Result<T, ChainError> + Send + 'static,
    ) -> Result<T, NodeError> {
        let mempool = self.mempool.clone();
        let (r, notes, warnings) = self
            .run_chain(move |c| {
                let r = op(c);
                let notes = c.take_notifications();
                mempool.update_for_chain(c, &notes);
                (r, notes, c.take_warnings())
            })
            .await?;
        self.warn(warnings);
        self.publish_chain(notes);
        self.mempool.publish_pending();
        r.map_err(|e| {
            self.request_shutdown(ShutdownReason::Error(e.to_string()));
            NodeError::Chain(e)
        })
    }

    /// Logs warnings for the operator, keeps them for the RPC `warnings` fields and runs
    /// `-alertnotify` the first time each is raised (Core's node::Warnings::Set).
    fn warn(&self, warnings: Vec<String>) {
        for w in warnings {
            tracing::warn!("{w}");
            let mut active = lock(&self.warnings);
            if !active.contains(&w) {
                active.push(w.clone());
                drop(active);
                self.notifier.alert(&w);
            }
        }
    }

    /// The warnings raised since startup (getblockchaininfo, getnetworkinfo, getmininginfo).
    pub fn warnings(&self) -> Vec<String> {
        lock(&self.warnings).clone()
    }

    /// Turns chain notifications into bus events, in order.
    pub fn publish_chain(&self, notes: Vec<ChainNotification>) {
        if !notes.is_empty() {
            let now = crate::clock::unix_now();
            let times: Vec<(bitcoin::BlockHash, u32)> = {
                let c = lock(&self.chain);
                let tips = crate::chain::reported_tips(&notes);
                match tips.is_empty() {
                    // Only disconnections (invalidateblock): Core reports the tip left once.
                    true => vec![(c.tip().hash, c.tip().header.time)],
                    false => tips.iter().filter_map(|h| c.entry(h).map(|e| (*h, e.header.time))).collect(),
                }
            };
            for (hash, time) in times {
                self.notifier.block_tip(&hash, time, now);
            }
        }
        for n in notes {
            let payload = match n {
                ChainNotification::BlockConnected { hash, height, n_tx } => EventPayload::NewBlock {
                    hash: hash.to_string(),
                    height: u64::from(height),
                    tx_count: u64::from(n_tx),
                },
                ChainNotification::BlockDisconnected { hash, height } => EventPayload::BlockDisconnected {
                    hash: hash.to_string(),
                    height: u64::from(height),
                },
                ChainNotification::Reorg {
                    old_tip,
                    new_tip,
                    fork_height,
                    disconnected,
                    connected,
                } => EventPayload::ChainReorg {
                    old_tip: old_tip.to_string(),
                    new_tip: new_tip.to_string(),
                    fork_height: u64::from(fork_height),
                    disconnected: disconnected.iter().map(|h| h.to_string()).collect(),
                    connected: connected.iter().map(|h| h.to_string()).collect(),
                },
            };
            self.bus.publish(payload);
        }
        self.net.notify_tip();
        self.tip_seq.send_modify(|s| *s = s.wrapping_add(1));
    }

    /// The ZMQ publisher, when `-zmqpub*` notifiers are running (`getzmqnotifications`).
    pub fn zmq(&self) -> Option<Arc<crate::zmq::ZmqPublisher>> {
        self.zmq.clone()
    }

    /// RPC calls in progress (`getrpcinfo`).
    pub fn rpc_active(&self) -> &crate::rpc::active::ActiveCommands {
        &self.rpc_active
    }

    /// Wakes on every active-chain change and when shutdown begins, so RPC waits
    /// (`waitfornewblock` and friends) need no polling and end promptly on stop.
    pub fn tip_watch(&self) -> watch::Receiver<u64> {
        self.tip_seq.subscribe()
    }

    /// `-loadblock`: submits the blocks of one file in order. A blocking reader thread streams
    /// the file through a small channel (at most [`LOADBLOCK_QUEUE`] decoded blocks wait), so a
    /// large file never sits in memory and the async runtime never blocks on the disk.
    async fn load_block_file(&self, path: &std::path::Path, stop: &mut watch::Receiver<bool>) -> Result<(), String> {
        let counted = path.to_path_buf();
        let total = tokio::task::spawn_blocking(move || crate::import::BlockFileReader::open(&counted)?.count_records())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let reader = crate::import::BlockFileReader::open(path).map_err(|e| e.to_string())?;
        let (tx, mut rx) = mpsc::channel(LOADBLOCK_QUEUE);
        // Owned by this function: the thread ends at the end of the file or as soon as the
        // receiver below is dropped (stop, error or return).
        let feeder = tokio::task::spawn_blocking(move || {
            for item in reader {
                let failed = item.is_err();
                if tx.blocking_send(item).is_err() || failed {
                    break;
                }
            }
        });
        let genesis = self.settings.params.genesis().block_hash();
        let mut n = 0u64;
        let mut txs = 0u64;
        let mut done = 0u64;
        let mut meter = crate::progress::ProgressMeter::new("loadblock", self.settings.progress_interval);
        // The target is the height of the last submitted block plus the blocks left in the file.
        let snapshot = |chain: &Mutex<ChainManager>, last: Option<bitcoin::BlockHash>, done: u64, n: u64, txs: u64| {
            let c = lock(chain);
            let height = u64::from(c.height());
            let base = last.and_then(|h| c.entry(&h)).map(|e| u64::from(e.height)).unwrap_or(height);
            crate::progress::Snapshot {
                height,
                target: height.max(base + total.saturating_sub(done)),
                blocks: n,
                transactions: txs,
                cache_bytes: c.cache_usage(),
                fraction: None,
            }
        };
        let result = async {
            while let Some(item) = rx.recv().await {
                if *stop.borrow() {
                    break;
                }
                let (_, block) = item.map_err(|e| e.to_string())?;
                done += 1;
                if block.block_hash() == genesis {
                    continue;
                }
                let n_tx = block.txdata.len() as u64;
                let hash = block.block_hash();
                match self.submit_block(block).await.map_err(|e| e.to_string())? {
                    BlockOutcome::Invalid(r) => return Err(format!("invalid block: {r}")),
                    BlockOutcome::Orphan => return Err("block with unknown parent".into()),
                    BlockOutcome::Duplicate => {}
                    BlockOutcome::Accepted { .. } => {
                        n += 1;
                        txs += n_tx;
                    }
                }
                meter.tick(|| snapshot(&self.chain, Some(hash), done, n, txs));
            }
            Ok(())
        }
        .await;
        drop(rx);
        let _ = feeder.await;
        result?;
        meter.finish(&snapshot(&self.chain, None, total, n, txs));
        tracing::info!(blocks = n, file = %path.display(), "loaded blocks");
        Ok(())
    }

    /// StorageFlush (acks awaited), chainstate flush, StorageFlushCompleted.
    pub async fn flush_chainstate(&self, reason: FlushReason) -> Result<FlushReport, NodeError> {
        let waiter = self.bus.publish_with_acks(EventPayload::StorageFlush {
            reason: reason.as_str().to_string(),
        });
        // From here on a StorageFlushCompleted is owed, whatever happens to this future.
        let mut completion = CompletionGuard::flush(&self.bus);
        self.wait_acks(waiter, self.settings.lifecycle.ack_timeout).await;
        completion.restart_clock();
        let result = self.run_chain(move |c| c.flush(reason)).await;
        self.metrics.observe_flush(completion.elapsed());
        match result {
            Ok(Ok(report)) => {
                completion.complete(true, serde_json::Value::Null);
                // As Core's FlushStateToDisk: a flush is when pruning (and compaction) is looked at.
                self.after_blocks(true).await;
                Ok(report)
            }
            Ok(Err(e)) => {
                completion.complete(false, serde_json::Value::Null);
                self.request_shutdown(ShutdownReason::Error(format!("chainstate flush failed: {e}")));
                Err(NodeError::Chain(e))
            }
            Err(e) => {
                // The flush worker panicked: the chainstate may be half-written, so stop as for a failure.
                completion.complete(false, serde_json::Value::Null);
                self.request_shutdown(ShutdownReason::Error(format!("chainstate flush task failed: {e}")));
                Err(e)
            }
        }
    }

    /// The one shutdown path: NodeShutdown (acks), stop services, StorageFlush (acks), flush,
    /// StorageFlushCompleted, NodeShutdownCompleted, close module connections, stop modules.
    pub async fn shutdown(&self, reason: ShutdownReason) -> ShutdownReport {
        let t0 = Instant::now();
        if self.shutting_down.swap(true, Ordering::SeqCst) {
            self.force_fast_shutdown();
        }
        self.tip_seq.send_modify(|s| *s = s.wrapping_add(1));
        if let ShutdownReason::Error(detail) = &reason {
            tracing::error!("shutting down because of an error: {detail}");
        }
        tracing::info!(reason = reason.as_str(), "shutdown started");
        let notifier = self.notifier.clone();
        let _ = tokio::task::spawn_blocking(move || notifier.shutdown()).await;
        let lc = self.settings.lifecycle.clone();
        let w = self.bus.publish_with_acks(EventPayload::NodeShutdown {
            reason: reason.as_str().to_string(),
            timeout_seconds: lc.shutdown_timeout.as_secs(),
        });
        let shutdown_acks = self.wait_acks(w, lc.shutdown_timeout).await;

        let _ = self.stop_tx.send(true);
        let tasks: Vec<_> = lock(&self.tasks).drain(..).collect();
        for t in tasks {
            if tokio::time::timeout(Duration::from_secs(5), t).await.is_err() {
                tracing::warn!("a background task did not stop in time");
            }
        }

        // NodeShutdown and the shutdown StorageFlush share one budget: timeout_seconds in total.
        let remaining = lc.shutdown_timeout.saturating_sub(t0.elapsed()).min(lc.ack_timeout);
        let w = self.bus.publish_with_acks(EventPayload::StorageFlush { reason: "shutdown".into() });
        let mut completion = CompletionGuard::flush(&self.bus);
        let flush_acks = self.wait_acks(w, remaining).await;
        if self.settings.mempool.persist && self.mempool.is_loaded() {
            let mp = self.mempool.clone();
            match tokio::task::spawn_blocking(move || mp.save()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!("mempool dump failed: {e}"),
                Err(e) => tracing::error!("mempool dump task failed: {e}"),
            }
        }
        completion.restart_clock();
        let flush = self.run_chain(|c| c.flush(FlushReason::Shutdown)).await;
        self.metrics.observe_flush(completion.elapsed());
        let flush_ok = matches!(flush, Ok(Ok(_)));
        match &flush {
            Ok(Err(e)) => tracing::error!("final chainstate flush failed: {e}"),
            Err(e) => tracing::error!("final chainstate flush task failed: {e}"),
            Ok(Ok(_)) => {}
        }
        completion.complete(flush_ok, serde_json::Value::Null);
        let duration = t0.elapsed();
        self.bus.publish(EventPayload::NodeShutdownCompleted {
            duration_ms: ceil_ms(duration),
        });

        self.bus.close_all();
        if !self.server.wait_idle(Duration::from_secs(2)).await {
            tracing::warn!("some module connections did not close in time");
        }
        self.manager.stop_all("shutdown").await;
        tracing::info!(reason = reason.as_str(), ms = ceil_ms(t0.elapsed()), "shutdown complete");
        ShutdownReport {
            reason,
            duration: t0.elapsed(),
            shutdown_acks,
            flush_acks,
            flush_ok,
        }
    }
}

#[cfg(test)]
mod shutdown_request_tests {
    use super::*;

    /// While stopping, a second stop request forces the fast path; an error report (the same
    /// fatal failure seen by a second caller) does not.
    #[test]
    fn only_a_repeated_stop_request_forces_a_fast_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let s = NodeSettings::new(
            crate::params::ChainParams::for_network(bitcoin::Network::Regtest),
            dir.path().to_path_buf(),
        );
        let node = rt.block_on(Node::start(s)).unwrap();
        node.shutting_down.store(true, Ordering::SeqCst);
        node.request_shutdown(ShutdownReason::Error("chainstate flush failed".into()));
        assert!(!node.forced.load(Ordering::SeqCst), "an error while stopping must not force");
        node.request_shutdown(ShutdownReason::Signal);
        assert!(node.forced.load(Ordering::SeqCst), "a second stop request forces");
        node.shutting_down.store(false, Ordering::SeqCst);
        rt.block_on(node.shutdown(ShutdownReason::Graceful));
    }
}

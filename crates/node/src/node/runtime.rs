//! The running node: ordered startup, one shutdown path for every cause, and the API the
//! RPC server and CLI use for manual lifecycle operations.

use super::settings::LifecycleSettings;
use super::shutdown::ShutdownReason;
use crate::chain::{BlockOutcome, ChainError, ChainManager, ChainNotification, ChainSettings};
use crate::datadir::{lock_directories, DatadirLock, LockError};
use crate::mempool::{Mempool, MempoolSettings};
use crate::modules::api::NodeApi;
use crate::modules::bus::{EventBus, DEFAULT_HISTORY, DEFAULT_QUEUE_CAPACITY};
use crate::modules::health::HealthRegistry;
use crate::modules::manager::{ManagerSettings, ModuleManager};
use crate::modules::server::{self, Authenticator, ServerContext, ServerSettings};
use crate::params::ChainParams;
use crate::sync::lock;
use bitcoin::Block;
use blvm_module::EventPayload;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::{mpsc, watch, Notify};

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
        "The block database contains a block which appears to be from the future. This may be due to your computer's date and time being set incorrectly. Only rebuild the block database if you are sure that your computer's date and time are correct.\nPlease restart with -reindex or -reindex-chainstate to recover."
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
    pub(super) stop_tx: watch::Sender<bool>,
    pub(super) shutdown_tx: mpsc::UnboundedSender<ShutdownReason>,
    pub(super) shutdown_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<ShutdownReason>>,
    pub(super) force: Notify,
    pub(super) forced: AtomicBool,
    pub(super) shutting_down: AtomicBool,
    pub(super) tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    pub(super) components: Mutex<Vec<String>>,
    pub(super) started: Instant,
    pub(super) rpc_addrs: Mutex<Vec<std::net::SocketAddr>>,
    pub(super) metrics: Arc<crate::metrics::Registry>,
    pub(super) metrics_addr: Mutex<Option<std::net::SocketAddr>>,
    pub(super) net: Arc<crate::p2p::Net>,
    pub(crate) mempool: Arc<Mempool>,
    pub(super) tip_seq: watch::Sender<u64>,
    pub(super) rpc_active: crate::rpc::active::ActiveCommands,
    pub(super) zmq: Option<Arc<crate::zmq::ZmqPublisher>>,
    pub(super) notifier: Arc<crate::notify::Notifier>,
    pub(crate) ibd: Arc<crate::chain::ibd::IbdStatus>,
    pub(crate) auto: super::automatic::AutoState,
    /// Warnings raised so far, each once (Core's node::Warnings).
    pub(super) warnings: Mutex<Vec<String>>,
    pub(super) _locks: [DatadirLock; 2],
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

/// The chainstate as opened, before anything uses it: a tip from the future stops startup (Core's
/// message), the last blocks are verified (`-checkblocks`, `-checklevel`), and the events of
/// blocks connected while opening are dropped.
fn check_opened_chain(chain: &mut ChainManager, settings: &NodeSettings) -> Result<(), NodeError> {
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
    // Blocks connected while the chainstate opened (`-reindex`, or the replay of blocks
    // stored after the last flush) were connected before anything could subscribe: their
    // events are dropped here rather than published in one late burst with the next block.
    let opened = chain.take_notifications();
    if !opened.is_empty() {
        tracing::debug!(
            events = opened.len(),
            "chain events from opening the chainstate not published (no subscriber yet)"
        );
    }
    Ok(())
}

impl Node {
    /// Opens the node core in a fixed order (datadir, chainstate, event bus, ZMQ, mempool, module
    /// server, modules, waiting bounded for autoloaded modules to connect and subscribe). The
    /// launcher then starts the services around it and calls [`Node::finish_startup`].
    pub(crate) async fn open(settings: NodeSettings) -> Result<Arc<Node>, NodeError> {
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
        check_opened_chain(&mut chain, &settings)?;
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
            let loaded = tokio::task::spawn_blocking(move || mp.load_locked(&mut crate::sync::lock(&ch)))
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
        net.set_snapshot_limited(!crate::sync::lock(&chain).chainstate_validated());
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
        let ibd = Arc::new(super::ibd::status_for(&net));
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
            ibd,
            auto: Default::default(),
            warnings: Mutex::new(Vec::new()),
            _locks: locks,
        });
        lock(&node.tasks).extend(tasks);
        *lock(&node.components) = components;
        Ok(node)
    }

    /// Takes ownership of a service's task (stopped and awaited at shutdown) and records the
    /// component for NodeStartupCompleted.
    pub(crate) fn adopt(&self, component: &str, task: tokio::task::JoinHandle<()>) {
        lock(&self.tasks).push(task);
        lock(&self.components).push(component.to_string());
    }

    /// Records where the RPC server listens (`getrpcinfo`, tests).
    pub(crate) fn set_rpc_addrs(&self, addrs: Vec<std::net::SocketAddr>) {
        *lock(&self.rpc_addrs) = addrs;
    }

    /// Records where the metrics endpoint listens.
    pub(crate) fn set_metrics_addr(&self, addr: std::net::SocketAddr) {
        *lock(&self.metrics_addr) = Some(addr);
    }

    /// Fires when shutdown stops the services; every service task watches it.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop_tx.subscribe()
    }

    /// Starts the node's own periodic work, publishes NodeStartupCompleted and the startup
    /// HealthCheck, then starts `-loadblock` imports: the end of startup.
    pub(crate) async fn finish_startup(self: &Arc<Self>) {
        let node = self;
        let (periodic, names) = super::periodic::spawn_all(node, node.stop_signal());
        lock(&node.tasks).extend(periodic);
        let components = {
            let mut c = lock(&node.components);
            c.extend(names);
            c.clone()
        };
        let duration_ms = ceil_ms(node.started.elapsed());
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

    /// The metrics registry, shared (the metrics endpoint reads it).
    pub fn metrics_registry(&self) -> Arc<crate::metrics::Registry> {
        self.metrics.clone()
    }

    /// When startup began.
    pub fn started_at(&self) -> Instant {
        self.started
    }

    /// The module API (its mempool and peer views serve metrics too).
    pub fn module_api(&self) -> Arc<NodeApi> {
        self.server.api.clone()
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

    pub(super) async fn run_chain<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut ChainManager) -> T + Send + 'static,
    ) -> Result<T, NodeError> {
        let chain = self.chain.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&chain)))
            .await
            .map_err(|e| NodeError::Task(e.to_string()))
    }

    /// Validates and connects a block, publishing the resulting chain events.
    pub async fn submit_block(&self, block: Block) -> Result<BlockOutcome, NodeError> {
        self.submit_with(move |c| c.process_block(&block)).await
    }

    /// [`Self::submit_block`] for a block whose context-free checks were done ahead on a reader
    /// thread (`-loadblock` as `import`, blocks requested from peers): the same outcome and events.
    pub async fn submit_prepared(&self, prepared: crate::validation::prepared::PreparedBlock) -> Result<BlockOutcome, NodeError> {
        self.submit_with(move |c| c.process_prepared(prepared).map(|(outcome, _)| outcome))
            .await
    }

    /// Runs `process` on the chain and does what follows a block submission: the mempool and
    /// events follow the chain, flushes are recorded, and a storage failure stops the node.
    async fn submit_with(
        &self,
        process: impl FnOnce(&mut ChainManager) -> Result<BlockOutcome, ChainError> + Send + 'static,
    ) -> Result<BlockOutcome, NodeError> {
        let mempool = self.mempool.clone();
        let ibd = self.ibd.clone();
        let net = self.net.clone();
        let (outcome, notes, flushes, warnings) = self
            .run_chain(move |c| {
                let r = process(c);
                // Background validation may have completed: all blocks can be served again.
                if c.chainstate_validated() {
                    net.set_snapshot_limited(false);
                }
                let notes = c.take_notifications();
                mempool.update_for_chain(c, &notes);
                // Unknown soft forks are looked for once caught up, as Core's UpdateTip does.
                if !notes.is_empty() && ibd.tip_is_current(c) {
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
}

//! The module manager: spawns module processes with their token and environment, captures their
//! output into the node log, restarts crashed modules with exponential backoff up to a budget,
//! and unloads them gracefully (close connection, wait, SIGTERM, SIGKILL).

use super::bus::EventBus;
use super::manifest::{discover, valid_name, Manifest, ManifestError};
use super::server::{Authenticator, Grant};
use crate::sync::lock;
use blvm_module::EventPayload;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// Tunables of the manager.
#[derive(Debug, Clone)]
pub struct ManagerSettings {
    /// `<net_dir>/modules`: one directory per module with its `module.toml`.
    pub modules_dir: PathBuf,
    /// Socket path handed to modules.
    pub socket_path: PathBuf,
    /// Restarts allowed before a crashing module is marked failed.
    pub max_restarts: u32,
    /// First restart delay; doubles on each consecutive crash.
    pub backoff_base: Duration,
    /// Longest restart delay.
    pub backoff_max: Duration,
    /// A module that ran this long is considered stable: its crash count resets.
    pub stable_after: Duration,
    /// After its connection is closed, how long a module has to exit before SIGTERM.
    pub exit_grace: Duration,
    /// After SIGTERM, how long before SIGKILL.
    pub term_grace: Duration,
}

impl ManagerSettings {
    /// Defaults for a node whose network directory is `net_dir`.
    pub fn new(net_dir: &std::path::Path, socket_path: PathBuf) -> Self {
        ManagerSettings {
            modules_dir: net_dir.join("modules"),
            socket_path,
            max_restarts: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            stable_after: Duration::from_secs(60),
            exit_grace: Duration::from_secs(3),
            term_grace: Duration::from_secs(3),
        }
    }
}

/// Lifecycle state of a module.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleStatus {
    /// Process started, waiting for it to connect.
    Starting,
    /// Process running.
    Running,
    /// Crashed; waiting for the backoff delay before restarting.
    Restarting,
    /// Gave up: restart budget exhausted or could not be started.
    Failed,
    /// Unloaded.
    Stopped,
}

/// A row of `listmodules`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModuleInfo {
    /// Module name.
    pub name: String,
    /// Module version.
    pub version: String,
    /// Lifecycle state.
    pub status: ModuleStatus,
    /// OS process id while running.
    pub pid: Option<u32>,
    /// Restarts after crashes so far.
    pub restarts: u32,
    /// Last failure, if any.
    pub last_error: Option<String>,
    /// Granted capabilities.
    pub capabilities: Vec<String>,
}

/// Manager operation failures.
#[derive(Debug, Error)]
pub enum ManagerError {
    /// No such module directory or manifest.
    #[error("module '{0}' not found")]
    NotFound(String),
    /// The module is already loaded.
    #[error("module '{0}' is already loaded")]
    AlreadyLoaded(String),
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The name is not a module name, e.g. `../x` or `/abs/path` (it could leave the modules
    /// directory and start any manifest with the capabilities it declares).
    #[error("invalid module name {0:?}: use 1-64 characters of [a-z0-9_-]")]
    InvalidName(String),
    /// The manifest in `<modules_dir>/<dir>` declares another name.
    #[error("module directory '{dir}' holds a manifest named '{manifest}'; they must match")]
    NameMismatch {
        /// The directory (the name asked for).
        dir: String,
        /// The manifest's `name`.
        manifest: String,
    },
}

struct Managed {
    manifest: Manifest,
    status: ModuleStatus,
    pid: Option<u32>,
    restarts: u32,
    /// Crash restarts since the node started (kept across reloads; for metrics).
    total_restarts: u64,
    last_error: Option<String>,
    stop: Arc<Notify>,
    stopping: bool,
    supervisor: Option<tokio::task::JoinHandle<()>>,
}

/// Owns every module process of the node.
pub struct ModuleManager {
    settings: ManagerSettings,
    auth: Arc<Authenticator>,
    bus: Arc<EventBus>,
    modules: Mutex<HashMap<String, Managed>>,
}

impl ModuleManager {
    /// A manager with no modules loaded yet.
    pub fn new(settings: ManagerSettings, auth: Arc<Authenticator>, bus: Arc<EventBus>) -> Arc<Self> {
        Arc::new(ModuleManager {
            settings,
            auth,
            bus,
            modules: Mutex::new(HashMap::new()),
        })
    }

    /// Directory scanned for modules.
    pub fn modules_dir(&self) -> &std::path::Path {
        &self.settings.modules_dir
    }

    /// Loads every module whose manifest says `autoload`; returns the names started.
    pub fn autoload(self: &Arc<Self>) -> Vec<String> {
        let (manifests, errors) = discover(&self.settings.modules_dir);
        for e in errors {
            tracing::error!(target: "blvm::modules", "skipping module: {e}");
        }
        let mut started = Vec::new();
        for m in manifests.into_iter().filter(|m| m.autoload) {
            let name = m.name.clone();
            match self.start(m) {
                Ok(()) => started.push(name),
                Err(e) => tracing::error!(target: "blvm::modules", "cannot load module {name}: {e}"),
            }
        }
        started
    }

    /// `<modules_dir>/<name>` for a valid module name. The name is one plain path component
    /// (no `.`, `..`, `/`, `\`, NUL), so the directory cannot be outside the modules directory.
    fn module_dir(&self, name: &str) -> Result<PathBuf, ManagerError> {
        let invalid = || ManagerError::InvalidName(name.to_string());
        if !valid_name(name) {
            return Err(invalid());
        }
        let dir = self.settings.modules_dir.join(name);
        if dir.parent() != Some(self.settings.modules_dir.as_path()) {
            return Err(invalid());
        }
        Ok(dir)
    }

    /// Loads the module in `<modules_dir>/<name>`.
    pub fn load(self: &Arc<Self>, name: &str) -> Result<(), ManagerError> {
        let dir = self.module_dir(name)?;
        if !dir.join("module.toml").is_file() {
            return Err(ManagerError::NotFound(name.to_string()));
        }
        let manifest = Manifest::load(&dir)?;
        if manifest.name != name {
            return Err(ManagerError::NameMismatch {
                dir: name.to_string(),
                manifest: manifest.name,
            });
        }
        self.start(manifest)
    }

    fn start(self: &Arc<Self>, manifest: Manifest) -> Result<(), ManagerError> {
        let name = manifest.name.clone();
        let mut modules = lock(&self.modules);
        if let Some(m) = modules.get(&name) {
            if !matches!(m.status, ModuleStatus::Stopped | ModuleStatus::Failed) {
                return Err(ManagerError::AlreadyLoaded(name));
            }
        }
        let stop = Arc::new(Notify::new());
        let me = self.clone();
        let sup_name = name.clone();
        let sup_stop = stop.clone();
        let supervisor = tokio::spawn(async move { me.supervise(sup_name, sup_stop).await });
        let total_restarts = modules.get(&name).map(|m| m.total_restarts).unwrap_or(0);
        modules.insert(
            name,
            Managed {
                manifest,
                status: ModuleStatus::Starting,
                pid: None,
                restarts: 0,
                total_restarts,
                last_error: None,
                stop,
                stopping: false,
                supervisor: Some(supervisor),
            },
        );
        Ok(())
    }

    fn spawn_process(&self, m: &Manifest) -> std::io::Result<Child> {
        let token = self.auth.issue(Grant {
            name: m.name.clone(),
            version: m.version.clone(),
            capabilities: m.capabilities.clone(),
        });
        let data_dir = m.dir.join("data");
        std::fs::create_dir_all(&data_dir)?;
        let mut cmd = Command::new(&m.entry);
        cmd.args(&m.args)
            .current_dir(&m.dir)
            .env(blvm_module::env::ENV_SOCKET, &self.settings.socket_path)
            .env(blvm_module::env::ENV_TOKEN, token)
            .env(blvm_module::env::ENV_NAME, &m.name)
            .env(blvm_module::env::ENV_VERSION, &m.version)
            .env(blvm_module::env::ENV_DATA_DIR, &data_dir)
            .env(blvm_module::env::ENV_CONFIG, m.config.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        for (stream, is_err) in [
            (
                child
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
                false,
            ),
            (
                child
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
                true,
            ),
        ] {
            if let Some(s) = stream {
                let name = m.name.clone();
                tokio::spawn(async move {
                    let mut lines = BufReader::new(s).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let line: String = line.chars().take(4096).collect();
                        if is_err {
                            tracing::warn!(target: "blvm::modules", module = %name, "{line}");
                        } else {
                            tracing::info!(target: "blvm::modules", module = %name, "{line}");
                        }
                    }
                });
            }
        }
        Ok(child)
    }

    async fn supervise(self: Arc<Self>, name: String, stop: Arc<Notify>) {
        loop {
            let Some(manifest) = lock(&self.modules).get(&name).map(|m| m.manifest.clone()) else {
                return;
            };
            let started = Instant::now();
            let mut child = match self.spawn_process(&manifest) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(target: "blvm::modules", module = %name, entry = %manifest.entry.display(), "cannot start module: {e}");
                    self.auth.revoke_module(&name);
                    self.set(&name, |m| {
                        m.status = ModuleStatus::Failed;
                        m.last_error = Some(format!("cannot start {}: {e}", manifest.entry.display()));
                    });
                    self.bus.publish(EventPayload::ModuleCrashed {
                        name: name.clone(),
                        exit_code: None,
                        restarts: 0,
                        will_restart: false,
                    });
                    return;
                }
            };
            let pid = child.id();
            tracing::info!(target: "blvm::modules", module = %name, pid, "module process started");
            self.set(&name, |m| {
                m.status = ModuleStatus::Running;
                m.pid = pid;
            });
            let exit = tokio::select! {
                r = child.wait() => Some(r),
                _ = stop.notified() => None,
            };
            match exit {
                None => {
                    self.terminate(&name, &mut child).await;
                    self.auth.revoke_module(&name);
                    self.set(&name, |m| {
                        m.status = ModuleStatus::Stopped;
                        m.pid = None;
                    });
                    return;
                }
                Some(result) => {
                    self.auth.revoke_module(&name);
                    let code = result.as_ref().ok().and_then(|s| s.code());
                    let stopping = lock(&self.modules).get(&name).map(|m| m.stopping).unwrap_or(true);
                    if stopping {
                        self.set(&name, |m| {
                            m.status = ModuleStatus::Stopped;
                            m.pid = None;
                        });
                        return;
                    }
                    let restarts = {
                        let mut modules = lock(&self.modules);
                        let Some(m) = modules.get_mut(&name) else { return };
                        if started.elapsed() >= self.settings.stable_after {
                            m.restarts = 0;
                        }
                        m.restarts += 1;
                        m.total_restarts += 1;
                        m.pid = None;
                        m.last_error = Some(format!("exited with {result:?}"));
                        m.restarts
                    };
                    let will_restart = restarts <= self.settings.max_restarts;
                    tracing::warn!(target: "blvm::modules", module = %name, exit_code = ?code, restarts, will_restart, "module exited unexpectedly");
                    self.bus.publish(EventPayload::ModuleCrashed {
                        name: name.clone(),
                        exit_code: code,
                        restarts,
                        will_restart,
                    });
                    if !will_restart {
                        self.set(&name, |m| m.status = ModuleStatus::Failed);
                        tracing::error!(target: "blvm::modules", module = %name, "restart budget exhausted; module marked failed");
                        return;
                    }
                    self.set(&name, |m| m.status = ModuleStatus::Restarting);
                    let factor = 1u32.checked_shl(restarts - 1).unwrap_or(u32::MAX);
                    let delay = self.settings.backoff_base.saturating_mul(factor).min(self.settings.backoff_max);
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stop.notified() => {
                            self.set(&name, |m| m.status = ModuleStatus::Stopped);
                            return;
                        }
                    }
                }
            }
        }
    }

    async fn terminate(&self, name: &str, child: &mut Child) {
        if tokio::time::timeout(self.settings.exit_grace, child.wait()).await.is_ok() {
            return;
        }
        if let Some(pid) = child.id() {
            tracing::info!(target: "blvm::modules", module = %name, pid, "module did not exit; sending SIGTERM");
            // SAFETY: signalling a child process we own.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        if tokio::time::timeout(self.settings.term_grace, child.wait()).await.is_ok() {
            return;
        }
        tracing::warn!(target: "blvm::modules", module = %name, "module ignored SIGTERM; sending SIGKILL");
        let _ = child.start_kill();
        let _ = child.wait().await;
    }

    fn set(&self, name: &str, f: impl FnOnce(&mut Managed)) {
        if let Some(m) = lock(&self.modules).get_mut(name) {
            f(m);
        }
    }

    /// Stops a module: its connection is closed by the caller beforehand (or here via the bus),
    /// then the process gets `exit_grace` to exit, then SIGTERM, then SIGKILL.
    pub async fn unload(&self, name: &str, reason: &str) -> Result<(), ManagerError> {
        self.module_dir(name)?;
        let (stop, handle) = {
            let mut modules = lock(&self.modules);
            let m = modules.get_mut(name).ok_or_else(|| ManagerError::NotFound(name.to_string()))?;
            m.stopping = true;
            (m.stop.clone(), m.supervisor.take())
        };
        self.bus.close_module(name);
        stop.notify_one();
        if let Some(h) = handle {
            let _ = h.await;
        }
        self.set(name, |m| m.status = ModuleStatus::Stopped);
        tracing::info!(target: "blvm::modules", module = %name, %reason, "module unloaded");
        self.bus.publish(EventPayload::ModuleUnloaded {
            name: name.to_string(),
            reason: reason.to_string(),
        });
        Ok(())
    }

    /// Unloads, re-reads the manifest and loads the module again.
    pub async fn reload(self: &Arc<Self>, name: &str) -> Result<(), ManagerError> {
        self.module_dir(name)?;
        if lock(&self.modules).contains_key(name) {
            self.unload(name, "reload").await?;
        }
        self.load(name)
    }

    /// Stops every module (node shutdown), all in parallel.
    pub async fn stop_all(&self, reason: &str) {
        let names: Vec<String> = lock(&self.modules)
            .iter()
            .filter(|(_, m)| m.supervisor.is_some())
            .map(|(n, _)| n.clone())
            .collect();
        let futs = names.iter().map(|n| self.unload(n, reason));
        for r in futures_join_all(futs).await {
            if let Err(e) = r {
                tracing::warn!(target: "blvm::modules", "stopping module: {e}");
            }
        }
    }

    /// Per module, how many times it was restarted after a crash since the node started.
    pub fn restart_totals(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = lock(&self.modules).iter().map(|(n, m)| (n.clone(), m.total_restarts)).collect();
        v.sort();
        v
    }

    /// Status of every known module.
    pub fn list(&self) -> Vec<ModuleInfo> {
        let mut v: Vec<ModuleInfo> = lock(&self.modules)
            .values()
            .map(|m| ModuleInfo {
                name: m.manifest.name.clone(),
                version: m.manifest.version.clone(),
                status: m.status.clone(),
                pid: m.pid,
                restarts: m.restarts,
                last_error: m.last_error.clone(),
                capabilities: m.manifest.capabilities.iter().map(|c| c.as_str().to_string()).collect(),
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futs {
        set.push(f);
    }
    let mut out = Vec::with_capacity(set.len());
    // Polled concurrently by pinning them all in one select-free join.
    let joined = async {
        let mut pinned: Vec<std::pin::Pin<Box<F>>> = set.into_iter().map(Box::pin).collect();
        let mut results: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (i, f) in pinned.iter_mut().enumerate() {
                if results[i].is_none() {
                    match f.as_mut().poll(cx) {
                        std::task::Poll::Ready(v) => results[i] = Some(v),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        results.into_iter().flatten().collect::<Vec<_>>()
    };
    out.extend(joined.await);
    out
}

//! What modules add to the node: JSON-RPC methods (`register_rpc`) and decision hooks
//! (`hooks`). Registrations live as long as the module's connection; names cannot shadow a
//! built-in method or another module's; hooks are asked in ascending module-name order, and a
//! hook nobody registered costs one atomic load.

use super::link::{CallError, ModuleLink};
use blvm_module::extend::{
    valid_rpc_name, MAX_HOOK_REASON_LEN, MAX_RPC_HELP_LEN, MAX_RPC_NAME_LEN, MAX_RPC_PARAMS, MAX_RPC_PARAM_NAME_LEN,
};
use blvm_module::request::error_code;
use blvm_module::{HookCall, HookKind, Request, ResponseBody, ResponseResult, RpcMethodSpec, MAX_RPC_METHODS_PER_MODULE};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// What the node does when a hook module does not answer in time (or is gone, or busy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookPolicy {
    /// Go ahead as if the module had allowed it.
    Proceed,
    /// Refuse as if the module had refused.
    Refuse,
}

/// Deadlines and fallback policies.
#[derive(Debug, Clone)]
pub struct ExtensionSettings {
    /// How long a JSON-RPC call to a module method may take (`-modulerpctimeout`).
    pub rpc_timeout: Duration,
    /// Per hook: how long each module asked has to answer (`-modulehooktimeout`).
    pub hook_timeout: [Duration; 2],
    /// Per hook: what an unanswered call means (`-modulehookpolicy`).
    pub hook_policy: [HookPolicy; 2],
}

impl Default for ExtensionSettings {
    fn default() -> Self {
        ExtensionSettings {
            rpc_timeout: Duration::from_secs(30),
            hook_timeout: [Duration::from_millis(2000); 2],
            hook_policy: [HookPolicy::Proceed; 2],
        }
    }
}

fn hook_index(h: HookKind) -> usize {
    match h {
        HookKind::MempoolAccept => 0,
        HookKind::PeerConnected => 1,
    }
}

/// Parses `-modulehooktimeout` / `-modulehookpolicy` values: `<value>` for every hook or
/// `<hook>:<value>` for one; later values win.
pub fn apply_hook_options(settings: &mut ExtensionSettings, timeouts: &[String], policies: &[String]) -> Result<(), String> {
    fn split(v: &str) -> Result<(Option<usize>, &str), String> {
        match v.split_once(':') {
            Some((h, rest)) => {
                let hook: HookKind = h.parse().map_err(|e| format!("{e} (hooks: mempool_accept, peer_connected)"))?;
                Ok((Some(hook_index(hook)), rest))
            }
            None => Ok((None, v)),
        }
    }
    for v in timeouts {
        let (i, ms) = split(v)?;
        let ms: u64 = ms
            .parse()
            .ok()
            .filter(|m| (1..=600_000).contains(m))
            .ok_or_else(|| format!("-modulehooktimeout={v}: expected milliseconds in 1..=600000"))?;
        for (j, t) in settings.hook_timeout.iter_mut().enumerate() {
            if i.is_none_or(|i| i == j) {
                *t = Duration::from_millis(ms);
            }
        }
    }
    for v in policies {
        let (i, p) = split(v)?;
        let p = match p {
            "proceed" => HookPolicy::Proceed,
            "refuse" => HookPolicy::Refuse,
            _ => return Err(format!("-modulehookpolicy={v}: expected proceed or refuse")),
        };
        for (j, t) in settings.hook_policy.iter_mut().enumerate() {
            if i.is_none_or(|i| i == j) {
                *t = p;
            }
        }
    }
    Ok(())
}

/// A module-served JSON-RPC method.
#[derive(Clone)]
pub struct ModuleMethod {
    /// Name, help and parameter names as registered.
    pub spec: RpcMethodSpec,
    /// The serving module's connection.
    pub link: Arc<ModuleLink>,
}

/// A module's refusal at a hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The refusing module.
    pub module: String,
    /// Its reason (or the fallback policy's).
    pub reason: String,
}

/// Registered module methods and hooks.
pub struct Extensions {
    settings: ExtensionSettings,
    reserved: Box<dyn Fn(&str) -> bool + Send + Sync>,
    methods: RwLock<BTreeMap<String, ModuleMethod>>,
    /// Per hook: (module name, link), sorted by name.
    hooks: [RwLock<Vec<Arc<ModuleLink>>>; 2],
    hook_counts: [AtomicUsize; 2],
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn invalid(message: String) -> ResponseResult {
    ResponseResult::Err {
        code: error_code::INVALID_ARGUMENT,
        message,
    }
}

fn done() -> ResponseResult {
    ResponseResult::Ok { body: ResponseBody::Done }
}

impl Extensions {
    /// An empty registry; `reserved` says which names are the node's own methods.
    pub fn new(settings: ExtensionSettings, reserved: Box<dyn Fn(&str) -> bool + Send + Sync>) -> Arc<Self> {
        Arc::new(Extensions {
            settings,
            reserved,
            methods: RwLock::new(BTreeMap::new()),
            hooks: [RwLock::new(Vec::new()), RwLock::new(Vec::new())],
            hook_counts: [AtomicUsize::new(0), AtomicUsize::new(0)],
        })
    }

    /// The deadlines and policies in force.
    pub fn settings(&self) -> &ExtensionSettings {
        &self.settings
    }

    /// Serves `RegisterRpcMethods` and `RegisterHooks` (capability already checked); None for
    /// other requests.
    pub fn handle_registration(&self, link: &Arc<ModuleLink>, request: &Request) -> Option<ResponseResult> {
        match request {
            Request::RegisterRpcMethods { methods } => Some(self.register_methods(link, methods).map_or_else(invalid, |()| done())),
            Request::RegisterHooks { hooks } => {
                for h in hooks {
                    let mut list = write(&self.hooks[hook_index(*h)]);
                    if !list.iter().any(|l| Arc::ptr_eq(l, link)) {
                        list.push(link.clone());
                        list.sort_by(|a, b| a.name().cmp(b.name()));
                        self.hook_counts[hook_index(*h)].store(list.len(), Ordering::SeqCst);
                        tracing::info!(target: "blvm::modules", module = %link.name(), hook = %h, "module hook registered");
                    }
                }
                Some(done())
            }
            _ => None,
        }
    }

    fn register_methods(&self, link: &Arc<ModuleLink>, specs: &[RpcMethodSpec]) -> Result<(), String> {
        let mut methods = write(&self.methods);
        let own = methods.values().filter(|m| Arc::ptr_eq(&m.link, link)).count();
        let new = specs
            .iter()
            .filter(|s| methods.get(&s.name).is_none_or(|m| !Arc::ptr_eq(&m.link, link)))
            .count();
        if own + new > MAX_RPC_METHODS_PER_MODULE {
            return Err(format!("a module may register at most {MAX_RPC_METHODS_PER_MODULE} RPC methods"));
        }
        for (i, s) in specs.iter().enumerate() {
            if !valid_rpc_name(&s.name, MAX_RPC_NAME_LEN) {
                return Err(format!("RPC method name {:?} must be 1..={MAX_RPC_NAME_LEN} of [a-z0-9_]", s.name));
            }
            if specs[..i].iter().any(|o| o.name == s.name) {
                return Err(format!("RPC method {} is listed twice", s.name));
            }
            if (self.reserved)(&s.name) {
                return Err(format!("RPC method {} is a built-in method of the node", s.name));
            }
            if let Some(m) = methods.get(&s.name).filter(|m| !Arc::ptr_eq(&m.link, link)) {
                return Err(format!("RPC method {} is already registered by module {}", s.name, m.link.name()));
            }
            if s.help.len() > MAX_RPC_HELP_LEN {
                return Err(format!("help of {} exceeds {MAX_RPC_HELP_LEN} bytes", s.name));
            }
            if s.params.len() > MAX_RPC_PARAMS {
                return Err(format!("{} has more than {MAX_RPC_PARAMS} parameters", s.name));
            }
            if let Some(p) = s.params.iter().find(|p| !valid_rpc_name(p, MAX_RPC_PARAM_NAME_LEN)) {
                return Err(format!(
                    "parameter name {p:?} of {} must be 1..={MAX_RPC_PARAM_NAME_LEN} of [a-z0-9_]",
                    s.name
                ));
            }
        }
        for s in specs {
            tracing::info!(target: "blvm::modules", module = %link.name(), method = %s.name, "module RPC method registered");
            methods.insert(
                s.name.clone(),
                ModuleMethod {
                    spec: s.clone(),
                    link: link.clone(),
                },
            );
        }
        Ok(())
    }

    /// Drops everything a closed connection registered.
    pub fn remove_link(&self, link: &Arc<ModuleLink>) {
        write(&self.methods).retain(|_, m| !Arc::ptr_eq(&m.link, link));
        for (i, l) in self.hooks.iter().enumerate() {
            let mut list = write(l);
            list.retain(|x| !Arc::ptr_eq(x, link));
            self.hook_counts[i].store(list.len(), Ordering::SeqCst);
        }
        link.close();
    }

    /// The module method called `name`, if any.
    pub fn method(&self, name: &str) -> Option<ModuleMethod> {
        read(&self.methods).get(name).cloned()
    }

    /// Every module method, by name.
    pub fn methods(&self) -> Vec<ModuleMethod> {
        read(&self.methods).values().cloned().collect()
    }

    /// Whether any module registered `hook` (one atomic load).
    pub fn has_hook(&self, hook: HookKind) -> bool {
        self.hook_counts[hook_index(hook)].load(Ordering::Relaxed) > 0
    }

    fn hook_links(&self, hook: HookKind) -> Vec<Arc<ModuleLink>> {
        read(&self.hooks[hook_index(hook)]).clone()
    }

    /// Turns one module's answer (or missing answer) into a verdict.
    fn verdict(&self, hook: HookKind, module: &str, r: Result<ResponseResult, CallError>) -> Option<Refusal> {
        let refusal = |reason: String| {
            Some(Refusal {
                module: module.to_string(),
                reason,
            })
        };
        match r {
            Ok(ResponseResult::Ok {
                body: ResponseBody::HookVerdict { allow: true, .. },
            }) => None,
            Ok(ResponseResult::Ok {
                body: ResponseBody::HookVerdict { allow: false, reason },
            }) => {
                let mut reason = reason.unwrap_or_default().replace(|c: char| c.is_control(), " ");
                if reason.is_empty() {
                    reason = format!("refused-by-module-{module}");
                }
                if reason.len() > MAX_HOOK_REASON_LEN {
                    let mut cut = MAX_HOOK_REASON_LEN;
                    while !reason.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    reason.truncate(cut);
                }
                refusal(reason)
            }
            other => {
                let why = match other {
                    Err(e) => e.to_string(),
                    Ok(ResponseResult::Err { code, message }) => format!("module {module} failed ({code}): {message}"),
                    Ok(ResponseResult::Ok { body }) => format!("module {module} answered {} to a hook", body.kind()),
                };
                let policy = self.settings.hook_policy[hook_index(hook)];
                tracing::warn!(target: "blvm::modules", %hook, ?policy, "hook without a verdict: {why}");
                match policy {
                    HookPolicy::Proceed => None,
                    HookPolicy::Refuse => refusal(format!(
                        "module-hook-{}",
                        if why.contains("did not answer") { "timeout" } else { "failed" }
                    )),
                }
            }
        }
    }

    /// Asks every `hook` module in name order, blocking this thread; the first refusal wins.
    /// Only for code on a blocking thread (transaction validation).
    pub fn ask_blocking(&self, call: &HookCall) -> Option<Refusal> {
        let hook = call.kind();
        let deadline = self.settings.hook_timeout[hook_index(hook)];
        for link in self.hook_links(hook) {
            let r = link.call_blocking(Request::Hook { call: call.clone() }, deadline);
            if let Some(refusal) = self.verdict(hook, link.name(), r) {
                return Some(refusal);
            }
        }
        None
    }

    /// Asks every `hook` module in name order without blocking a thread; the first refusal wins.
    pub async fn ask(&self, call: &HookCall) -> Option<Refusal> {
        let hook = call.kind();
        let deadline = self.settings.hook_timeout[hook_index(hook)];
        for link in self.hook_links(hook) {
            let r = link.call(Request::Hook { call: call.clone() }, deadline).await;
            if let Some(refusal) = self.verdict(hook, link.name(), r) {
                return Some(refusal);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn link(name: &str) -> (Arc<ModuleLink>, mpsc::Receiver<blvm_module::ModuleMessage>) {
        let (tx, rx) = mpsc::channel(8);
        (Arc::new(ModuleLink::new(name.into(), tx)), rx)
    }

    fn spec(name: &str) -> RpcMethodSpec {
        RpcMethodSpec {
            name: name.into(),
            help: String::new(),
            params: vec![],
        }
    }

    fn register(ext: &Extensions, l: &Arc<ModuleLink>, names: &[&str]) -> ResponseResult {
        let methods = names.iter().map(|n| spec(n)).collect();
        ext.handle_registration(l, &Request::RegisterRpcMethods { methods }).unwrap()
    }

    fn message(r: ResponseResult) -> String {
        match r {
            ResponseResult::Err { code, message } => {
                assert_eq!(code, error_code::INVALID_ARGUMENT);
                message
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn names_cannot_shadow_builtins_or_other_modules_and_are_bounded() {
        let ext = Extensions::new(ExtensionSettings::default(), Box::new(|n| n == "getblockcount"));
        let ((a, _ra), (b, _rb)) = (link("a"), link("b"));
        assert_eq!(
            message(register(&ext, &a, &["getblockcount"])),
            "RPC method getblockcount is a built-in method of the node"
        );
        assert_eq!(register(&ext, &a, &["mine"]), done());
        assert_eq!(
            message(register(&ext, &b, &["mine"])),
            "RPC method mine is already registered by module a"
        );
        assert!(message(register(&ext, &b, &["Bad-Name"])).contains("must be 1..=64 of [a-z0-9_]"));
        let many: Vec<String> = (0..=MAX_RPC_METHODS_PER_MODULE).map(|i| format!("m{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(message(register(&ext, &b, &many)).contains("at most"));
        assert!(ext.method("m0").is_none(), "a refused registration registers nothing");
        // Re-registering its own name is allowed; removal frees the name for others.
        assert_eq!(register(&ext, &a, &["mine"]), done());
        ext.remove_link(&a);
        assert!(ext.method("mine").is_none());
        assert_eq!(register(&ext, &b, &["mine"]), done());
    }

    #[test]
    fn hooks_are_ordered_by_module_name_and_counted() {
        let ext = Extensions::new(ExtensionSettings::default(), Box::new(|_| false));
        let ((z, _rz), (a, _ra)) = (link("zeta"), link("alpha"));
        assert!(!ext.has_hook(HookKind::MempoolAccept));
        for l in [&z, &a] {
            let r = ext.handle_registration(
                l,
                &Request::RegisterHooks {
                    hooks: vec![HookKind::MempoolAccept],
                },
            );
            assert_eq!(r, Some(done()));
        }
        let names: Vec<String> = ext
            .hook_links(HookKind::MempoolAccept)
            .iter()
            .map(|l| l.name().to_string())
            .collect();
        assert_eq!(names, ["alpha", "zeta"]);
        assert!(!ext.has_hook(HookKind::PeerConnected));
        ext.remove_link(&a);
        ext.remove_link(&z);
        assert!(!ext.has_hook(HookKind::MempoolAccept));
    }

    #[test]
    fn hook_options_set_one_hook_or_all() {
        let mut s = ExtensionSettings::default();
        apply_hook_options(
            &mut s,
            &["500".into(), "peer_connected:50".into()],
            &["mempool_accept:refuse".into()],
        )
        .unwrap();
        assert_eq!(s.hook_timeout, [Duration::from_millis(500), Duration::from_millis(50)]);
        assert_eq!(s.hook_policy, [HookPolicy::Refuse, HookPolicy::Proceed]);
        assert!(apply_hook_options(&mut s, &["nohook:5".into()], &[]).is_err());
        assert!(apply_hook_options(&mut s, &["0".into()], &[]).is_err());
        assert!(apply_hook_options(&mut s, &[], &["maybe".into()]).is_err());
    }
}

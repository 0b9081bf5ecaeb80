//! The RPC calls running right now, for `getrpcinfo`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The next call id and the calls in progress (method and start time) by id.
type Calls = (u64, BTreeMap<u64, (String, Instant)>);

/// Calls in progress (method and start time), keyed by a per-node counter.
#[derive(Debug, Default)]
pub struct ActiveCommands {
    inner: Mutex<Calls>,
}

/// Removes its call from the list when dropped (the call ended, failed or was cancelled).
pub struct ActiveGuard<'a> {
    owner: &'a ActiveCommands,
    id: u64,
}

impl ActiveCommands {
    /// Records `method` as running until the returned guard is dropped.
    pub fn begin(&self, method: &str) -> ActiveGuard<'_> {
        let mut g = crate::sync::lock(&self.inner);
        g.0 += 1;
        let id = g.0;
        g.1.insert(id, (method.to_string(), Instant::now()));
        ActiveGuard { owner: self, id }
    }

    /// The running calls, oldest first, with how long each has run.
    pub fn list(&self) -> Vec<(String, Duration)> {
        let g = crate::sync::lock(&self.inner);
        g.1.values().map(|(m, t)| (m.clone(), t.elapsed())).collect()
    }
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        let mut g = crate::sync::lock(&self.owner.inner);
        g.1.remove(&self.id);
    }
}

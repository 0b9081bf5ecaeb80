//! The event bus: per-node sequencing, per-module bounded queues with exact loss reporting,
//! never-dropped lifecycle events, acknowledgement waiting and a replay window for chain events.

use crate::sync::lock;
use blvm_module::{EventMessage, EventPayload, EventType};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Evicted replayable events remembered for exact `Lagged` counts on old cursors (16 B each).
pub const MAX_EVICTED_LOG: usize = 1_000_000;
/// Default number of queued events per module before it is reported as lagging.
pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;
/// Replayable (chain) events retained for `SubscribeEvents { from_sequence }`.
pub const DEFAULT_HISTORY: usize = 10_000;

/// Something the bus hands to a connection's writer.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// An event to deliver.
    Event(Arc<EventMessage>),
    /// A protocol message that must stay ordered with events (a subscribe response before replay).
    Message(Box<blvm_module::ModuleMessage>),
    /// Events in `from..=to` addressed to this module were dropped; `count` of them.
    Lagged {
        /// First missed sequence.
        from: u64,
        /// Last missed sequence.
        to: u64,
        /// Number of missed events.
        count: u64,
    },
}

#[derive(Default)]
struct SubState {
    filter: HashSet<EventType>,
    queue: VecDeque<Outgoing>,
    lag: Option<(u64, u64, u64)>,
    closed: bool,
    close_reason: Option<String>,
    delivered: u64,
    dropped: u64,
    events_delivered: u64,
}

/// One module connection's view of the bus.
pub struct Subscriber {
    id: u64,
    name: String,
    capacity: usize,
    state: Mutex<SubState>,
    notify: Notify,
}

impl Subscriber {
    /// Connection id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Module name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for the next thing to deliver; `None` once the subscriber is closed and drained.
    pub async fn next(&self) -> Option<Outgoing> {
        loop {
            let notified = self.notify.notified();
            {
                let mut st = lock(&self.state);
                if let Some(o) = st.queue.pop_front() {
                    st.delivered += 1;
                    st.events_delivered += u64::from(matches!(o, Outgoing::Event(_)));
                    return Some(o);
                }
                if let Some((from, to, count)) = st.lag.take() {
                    return Some(Outgoing::Lagged { from, to, count });
                }
                if st.closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// The next thing to deliver if one is ready now (never waits).
    pub fn try_next(&self) -> Option<Outgoing> {
        let mut st = lock(&self.state);
        if let Some(o) = st.queue.pop_front() {
            st.delivered += 1;
            st.events_delivered += u64::from(matches!(o, Outgoing::Event(_)));
            return Some(o);
        }
        st.lag.take().map(|(from, to, count)| Outgoing::Lagged { from, to, count })
    }

    /// Current subscription.
    pub fn filter(&self) -> Vec<EventType> {
        let mut v: Vec<EventType> = lock(&self.state).filter.iter().copied().collect();
        v.sort_by_key(|t| t.as_str());
        v
    }

    /// Events queued and not yet taken by the writer.
    pub fn queued(&self) -> usize {
        lock(&self.state).queue.len()
    }

    /// Events dropped because this module fell behind.
    pub fn dropped(&self) -> u64 {
        lock(&self.state).dropped
    }

    /// Events handed to this connection's writer so far.
    pub fn events_delivered(&self) -> u64 {
        lock(&self.state).events_delivered
    }

    fn close(&self, reason: &str) {
        let mut st = lock(&self.state);
        st.closed = true;
        st.close_reason.get_or_insert_with(|| reason.to_string());
        drop(st);
        self.notify.notify_one();
    }

    /// Why the node closed this subscriber (None while open or when the module left itself).
    pub fn close_reason(&self) -> Option<String> {
        lock(&self.state).close_reason.clone()
    }
}

struct AckSet {
    event_type: EventType,
    pending: HashMap<u64, String>,
    acked: Vec<String>,
    notify: Arc<Notify>,
}

struct Inner {
    subscribers: HashMap<u64, Arc<Subscriber>>,
    history: VecDeque<Arc<EventMessage>>,
    evicted: VecDeque<(u64, EventType)>,
    acks: HashMap<u64, AckSet>,
}

/// One module's event counters (see [`EventBus::module_counters`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleCounters {
    /// Module name.
    pub name: String,
    /// Events handed to its connection writers.
    pub delivered: u64,
    /// Events dropped because it fell behind.
    pub dropped: u64,
    /// Events queued now.
    pub queued: u64,
}

/// Counters for metrics and tests.
#[derive(Debug, Clone, Default)]
pub struct BusStats {
    /// Events published.
    pub published: u64,
    /// Per event type name, how many were published.
    pub by_type: HashMap<&'static str, u64>,
}

/// The node's event bus. Cheap to share (`Arc`), publish never blocks on a slow module.
pub struct EventBus {
    inner: Mutex<Inner>,
    next_seq: AtomicU64,
    next_sub: AtomicU64,
    capacity: usize,
    history_cap: usize,
    stats: Mutex<BusStats>,
}

/// The result of waiting for acknowledgements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckOutcome {
    /// Modules that acknowledged in time.
    pub acked: Vec<String>,
    /// Modules that did not (still connected, no ack before the deadline).
    pub missing: Vec<String>,
    /// How long the wait took.
    pub waited: Duration,
}

/// A handle to wait for the acknowledgements of one published event.
pub struct AckWaiter {
    bus: Arc<EventBus>,
    sequence: u64,
    notify: Option<Arc<Notify>>,
}

impl AckWaiter {
    /// Sequence of the event.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Waits until every subscribed module acked (or disconnected) or `deadline` passed.
    pub async fn wait(self, deadline: Duration) -> AckOutcome {
        let start = Instant::now();
        let Some(notify) = self.notify.clone() else {
            return AckOutcome {
                waited: start.elapsed(),
                ..Default::default()
            };
        };
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let notified = notify.notified();
            if self.bus.pending_count(self.sequence) == 0 {
                break;
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                break;
            }
        }
        let (acked, missing) = self.bus.finish_acks(self.sequence);
        if !missing.is_empty() {
            tracing::warn!(target: "blvm::modules", sequence = self.sequence, modules = ?missing, "modules did not acknowledge before the deadline");
        }
        AckOutcome {
            acked,
            missing,
            waited: start.elapsed(),
        }
    }
}

impl EventBus {
    /// A bus whose first event gets sequence `first_sequence`.
    pub fn new(first_sequence: u64, capacity: usize, history: usize) -> Arc<Self> {
        Arc::new(EventBus {
            inner: Mutex::new(Inner {
                subscribers: HashMap::new(),
                history: VecDeque::new(),
                evicted: VecDeque::new(),
                acks: HashMap::new(),
            }),
            next_seq: AtomicU64::new(first_sequence.max(1)),
            next_sub: AtomicU64::new(1),
            capacity: capacity.max(1),
            history_cap: history,
            stats: Mutex::new(BusStats::default()),
        })
    }

    /// Sequence of the newest published event (0 if none).
    pub fn current_sequence(&self) -> u64 {
        self.next_seq.load(Ordering::SeqCst) - 1
    }

    /// Registers a module connection with an empty subscription.
    pub fn register(&self, name: &str) -> Arc<Subscriber> {
        let id = self.next_sub.fetch_add(1, Ordering::SeqCst);
        let sub = Arc::new(Subscriber {
            id,
            name: name.to_string(),
            capacity: self.capacity,
            state: Mutex::new(SubState::default()),
            notify: Notify::new(),
        });
        lock(&self.inner).subscribers.insert(id, sub.clone());
        sub
    }

    /// Removes a connection; pending acks from it no longer hold anyone up.
    pub fn unregister(&self, id: u64) {
        let mut inner = lock(&self.inner);
        if let Some(sub) = inner.subscribers.remove(&id) {
            let mut st = lock(&sub.state);
            st.closed = true;
            drop(st);
            sub.notify.notify_one();
        }
        for set in inner.acks.values_mut() {
            if set.pending.remove(&id).is_some() {
                set.notify.notify_waiters();
            }
        }
    }

    /// Closes the connections of module `name` (their writers drain and stop).
    pub fn close_module(&self, name: &str) {
        let inner = lock(&self.inner);
        for sub in inner.subscribers.values().filter(|s| s.name == name) {
            sub.close("module unloaded");
        }
    }

    /// Closes every subscriber (their writers drain and stop).
    pub fn close_all(&self) {
        let inner = lock(&self.inner);
        for sub in inner.subscribers.values() {
            sub.close("node shutdown");
        }
    }

    /// Adds event types to a subscription; with `from_sequence`, first queues retained
    /// replayable events from that sequence on (and a `Lagged` for any no longer retained).
    pub fn subscribe(&self, sub: &Subscriber, types: &[EventType], from_sequence: Option<u64>) -> u64 {
        self.subscribe_then(sub, types, from_sequence, |_, _| None)
    }

    /// Like [`EventBus::subscribe`], but first queues the message `respond(filter, current)`
    /// returns, so the module sees the response before any replayed or live event.
    pub fn subscribe_then(
        &self,
        sub: &Subscriber,
        types: &[EventType],
        from_sequence: Option<u64>,
        respond: impl FnOnce(Vec<EventType>, u64) -> Option<blvm_module::ModuleMessage>,
    ) -> u64 {
        let inner = lock(&self.inner);
        let mut st = lock(&sub.state);
        let new: HashSet<EventType> = types.iter().copied().filter(|t| !st.filter.contains(t)).collect();
        let mut all: Vec<EventType> = st.filter.iter().chain(new.iter()).copied().collect();
        all.sort_by_key(|t| t.as_str());
        if let Some(m) = respond(all, self.current_sequence()) {
            st.queue.push_back(Outgoing::Message(Box::new(m)));
        }
        if let Some(from) = from_sequence {
            let missed: Vec<u64> = inner
                .evicted
                .iter()
                .filter(|(s, t)| *s >= from && new.contains(t))
                .map(|(s, _)| *s)
                .collect();
            if let (Some(first), Some(last)) = (missed.first(), missed.last()) {
                st.queue.push_back(Outgoing::Lagged {
                    from: *first,
                    to: *last,
                    count: missed.len() as u64,
                });
            }
            for ev in inner.history.iter().filter(|e| e.sequence >= from && new.contains(&e.event_type)) {
                st.queue.push_back(Outgoing::Event(ev.clone()));
            }
        }
        st.filter.extend(new);
        drop(st);
        sub.notify.notify_one();
        self.current_sequence()
    }

    /// Removes event types from a subscription.
    pub fn unsubscribe(&self, sub: &Subscriber, types: &[EventType]) {
        let mut st = lock(&sub.state);
        for t in types {
            st.filter.remove(t);
        }
    }

    /// Publishes an event to every subscribed module and returns its sequence.
    pub fn publish(self: &Arc<Self>, payload: EventPayload) -> u64 {
        self.publish_inner(payload).0
    }

    /// Publishes an event that requires acknowledgement and returns a waiter for the acks.
    pub fn publish_with_acks(self: &Arc<Self>, payload: EventPayload) -> AckWaiter {
        let (sequence, notify) = self.publish_inner(payload);
        AckWaiter {
            bus: self.clone(),
            sequence,
            notify,
        }
    }

    fn publish_inner(self: &Arc<Self>, payload: EventPayload) -> (u64, Option<Arc<Notify>>) {
        let event_type = payload.event_type();
        let critical = event_type.requires_ack();
        let mut inner = lock(&self.inner);
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        let msg = Arc::new(EventMessage::new(seq, crate::clock::unix_now_ms(), payload));
        let mut waiting = HashMap::new();
        for sub in inner.subscribers.values() {
            let mut st = lock(&sub.state);
            if st.closed || !st.filter.contains(&event_type) {
                continue;
            }
            if critical {
                if let Some((from, to, count)) = st.lag.take() {
                    st.queue.push_back(Outgoing::Lagged { from, to, count });
                }
                st.queue.push_back(Outgoing::Event(msg.clone()));
                waiting.insert(sub.id, sub.name.clone());
            } else if st.queue.len() >= sub.capacity {
                st.dropped += 1;
                st.lag = Some(match st.lag {
                    Some((from, _, count)) => (from, seq, count + 1),
                    None => (seq, seq, 1),
                });
            } else {
                if let Some((from, to, count)) = st.lag.take() {
                    st.queue.push_back(Outgoing::Lagged { from, to, count });
                }
                st.queue.push_back(Outgoing::Event(msg.clone()));
            }
            drop(st);
            sub.notify.notify_one();
        }
        if event_type.is_replayable() && self.history_cap > 0 {
            inner.history.push_back(msg.clone());
            while inner.history.len() > self.history_cap {
                if let Some(old) = inner.history.pop_front() {
                    inner.evicted.push_back((old.sequence, old.event_type));
                    // Bounded: beyond this, replay from older cursors reports the lag it still knows.
                    if inner.evicted.len() > MAX_EVICTED_LOG {
                        inner.evicted.pop_front();
                    }
                }
            }
        }
        let notify = if critical {
            let n = Arc::new(Notify::new());
            inner.acks.insert(
                seq,
                AckSet {
                    event_type,
                    pending: waiting,
                    acked: Vec::new(),
                    notify: n.clone(),
                },
            );
            Some(n)
        } else {
            None
        };
        drop(inner);
        let mut stats = lock(&self.stats);
        stats.published += 1;
        *stats.by_type.entry(event_type.as_str()).or_default() += 1;
        (seq, notify)
    }

    /// Records an acknowledgement from connection `sub_id`; false if nothing was pending.
    pub fn ack(&self, sub_id: u64, sequence: u64) -> bool {
        let mut inner = lock(&self.inner);
        let Some(set) = inner.acks.get_mut(&sequence) else { return false };
        match set.pending.remove(&sub_id) {
            Some(name) => {
                tracing::debug!(target: "blvm::modules", module = %name, sequence, event = set.event_type.as_str(), "ack");
                set.acked.push(name);
                set.notify.notify_waiters();
                true
            }
            None => false,
        }
    }

    fn pending_count(&self, sequence: u64) -> usize {
        lock(&self.inner).acks.get(&sequence).map(|s| s.pending.len()).unwrap_or(0)
    }

    fn finish_acks(&self, sequence: u64) -> (Vec<String>, Vec<String>) {
        match lock(&self.inner).acks.remove(&sequence) {
            Some(set) => (set.acked, set.pending.into_values().collect()),
            None => (Vec::new(), Vec::new()),
        }
    }

    /// Whether module `name` is connected with a non-empty subscription.
    pub fn is_subscribed(&self, name: &str) -> bool {
        lock(&self.inner)
            .subscribers
            .values()
            .any(|s| s.name == name && !lock(&s.state).filter.is_empty())
    }

    /// Names of connected modules whose subscription includes `event_type`.
    pub fn subscribed_to(&self, event_type: EventType) -> Vec<String> {
        lock(&self.inner)
            .subscribers
            .values()
            .filter(|s| lock(&s.state).filter.contains(&event_type))
            .map(|s| s.name.clone())
            .collect()
    }

    /// Names of connected modules.
    pub fn connected(&self) -> Vec<String> {
        lock(&self.inner).subscribers.values().map(|s| s.name.clone()).collect()
    }

    /// Published-event counters.
    pub fn stats(&self) -> BusStats {
        lock(&self.stats).clone()
    }

    /// Per module name, summed over its live connections (counters restart when a module reconnects).
    pub fn module_counters(&self) -> Vec<ModuleCounters> {
        let mut by: std::collections::BTreeMap<String, ModuleCounters> = std::collections::BTreeMap::new();
        for s in lock(&self.inner).subscribers.values() {
            let c = by.entry(s.name.clone()).or_insert_with(|| ModuleCounters {
                name: s.name.clone(),
                ..Default::default()
            });
            c.delivered += s.events_delivered();
            c.dropped += s.dropped();
            c.queued += s.queued() as u64;
        }
        by.into_values().collect()
    }

    /// Per connected module: (name, queued, dropped).
    pub fn subscriber_stats(&self) -> Vec<(String, usize, u64)> {
        lock(&self.inner)
            .subscribers
            .values()
            .map(|s| (s.name.clone(), s.queued(), s.dropped()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(h: u64) -> EventPayload {
        EventPayload::NewBlock {
            hash: format!("{h:064x}"),
            height: h,
            tx_count: 1,
        }
    }

    #[tokio::test]
    async fn slow_subscriber_gets_exact_lag_range_and_never_loses_critical_events() {
        let bus = EventBus::new(1, 3, 100);
        let sub = bus.register("slow");
        bus.subscribe(&sub, &[EventType::NewBlock, EventType::NodeShutdown], None);
        for h in 1..=10 {
            bus.publish(block(h));
        }
        let w = bus.publish_with_acks(EventPayload::NodeShutdown {
            reason: "graceful".into(),
            timeout_seconds: 1,
        });
        let mut got = Vec::new();
        while sub.queued() > 0 {
            got.push(sub.next().await.unwrap());
        }
        // 3 delivered (seq 1..=3), 7 dropped (4..=10) reported exactly, then the shutdown event.
        assert!(matches!(&got[0], Outgoing::Event(e) if e.sequence == 1));
        assert!(matches!(&got[2], Outgoing::Event(e) if e.sequence == 3));
        assert!(matches!(got[3], Outgoing::Lagged { from: 4, to: 10, count: 7 }), "{:?}", got[3]);
        assert!(matches!(&got[4], Outgoing::Event(e) if e.event_type == EventType::NodeShutdown && e.sequence == 11));
        assert!(bus.ack(sub.id(), 11));
        let out = w.wait(Duration::from_secs(1)).await;
        assert_eq!(out.acked, vec!["slow".to_string()]);
        assert!(out.missing.is_empty());
    }

    #[tokio::test]
    async fn ack_wait_times_out_and_names_the_module() {
        let bus = EventBus::new(1, 10, 0);
        let sub = bus.register("mute");
        bus.subscribe(&sub, &[EventType::StorageFlush], None);
        let w = bus.publish_with_acks(EventPayload::StorageFlush { reason: "manual".into() });
        let out = w.wait(Duration::from_millis(200)).await;
        assert_eq!(out.missing, vec!["mute".to_string()]);
        assert!(out.waited >= Duration::from_millis(200));
        // Unsubscribed types are not delivered.
        bus.publish(block(1));
        assert_eq!(sub.queued(), 1);
    }

    #[tokio::test]
    async fn replay_from_sequence_uses_history_and_reports_evicted() {
        let bus = EventBus::new(1, 100, 3);
        for h in 1..=5 {
            bus.publish(block(h));
        }
        let sub = bus.register("late");
        bus.subscribe(&sub, &[EventType::NewBlock], Some(2));
        let first = sub.next().await.unwrap();
        assert!(matches!(first, Outgoing::Lagged { from: 2, to: 2, count: 1 }), "{first:?}");
        for want in 3..=5 {
            match sub.next().await.unwrap() {
                Outgoing::Event(e) => assert_eq!(e.sequence, want),
                o => panic!("{o:?}"),
            }
        }
    }
}

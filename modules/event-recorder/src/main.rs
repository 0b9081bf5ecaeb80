//! event-recorder: subscribes to every event it may receive and appends each message, as one
//! JSON line, to `<data_dir>/events.jsonl`; acknowledges events that need it; answers health
//! checks; optionally calls every node API method once and records the answers in `api.jsonl`.
//!
//! Configuration (`[config]` in module.toml):
//! - `ack` (bool, default true): acknowledge ack-requiring events.
//! - `ack_delay_ms` (int, default 0): wait this long before acknowledging.
//! - `call_api` (bool, default false): call every API method after subscribing.
//! - `publish` (string, optional): publish one ModuleEvent with this name after subscribing.
//! - `crash_after_ms` (int, optional): exit with status 3 this long after starting.
//! - `healthy` (bool, default true): what to report on HealthCheck.
//! - `exit_on_shutdown` (bool, default false): exit right after acking NodeShutdown.
//! - `mode` (string, default `"lines"`): `"summary"` writes no line per event; it keeps counts,
//!   runs of received sequences, every `Lagged` range and the order of `ModuleEvent`s named
//!   `count_event` (default `"fanout"`, data `{"i":N}`), and writes `<data_dir>/summary.json` when
//!   a `ModuleEvent` named `end_event` (default `"fanout-end"`) arrives, or on close.
//! - `stall_after` (int, optional): after this many events the whole process stops reading
//!   (its thread sleeps until killed), modelling a module that hangs.
//! - `delay_us_per_event` (int, default 0): block the process this long after each event,
//!   modelling a slow reader (the socket is not read meanwhile either).

use blvm_module::{EventType, ModuleClient, ModuleMessage, Request};
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};

fn line(file: &mut std::fs::File, v: Value) {
    let _ = writeln!(file, "{v}");
    let _ = file.flush();
}

fn ms_since(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

/// Order-independent checksum term binding a `count_event`'s index to its sequence.
fn pair_mix(sequence: u64, i: u64) -> u64 {
    sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i
}

/// Appends `v` to a list of inclusive `[from, to]` runs.
fn push_run(runs: &mut Vec<[u64; 2]>, v: u64) {
    match runs.last_mut() {
        Some(r) if r[1].checked_add(1) == Some(v) => r[1] = v,
        _ => runs.push([v, v]),
    }
}

/// What summary mode tracks instead of writing a line per event.
#[derive(Default)]
struct Summary {
    events: u64,
    first_sequence: Option<u64>,
    last_sequence: u64,
    /// Highest sequence seen in an event or a `Lagged` range.
    high_water: u64,
    order_violations: u64,
    runs: Vec<[u64; 2]>,
    lagged: Vec<[u64; 3]>,
    by_type: std::collections::BTreeMap<&'static str, u64>,
    count_events: u64,
    count_runs: Vec<[u64; 2]>,
    count_order_violations: u64,
    count_bad_data: u64,
    last_i: Option<u64>,
    checksum: u64,
    acked: u64,
    end_sequence: Option<u64>,
}

impl Summary {
    fn event(&mut self, ev: &blvm_module::EventMessage, count_event: &str) {
        let seq = ev.sequence;
        self.events += 1;
        self.first_sequence.get_or_insert(seq);
        if seq <= self.high_water {
            self.order_violations += 1;
        }
        self.high_water = self.high_water.max(seq);
        self.last_sequence = seq;
        push_run(&mut self.runs, seq);
        *self.by_type.entry(ev.event_type.as_str()).or_default() += 1;
        if let blvm_module::EventPayload::ModuleEvent { name, data, .. } = &ev.payload {
            if name == count_event {
                match serde_json::from_str::<Value>(data)
                    .ok()
                    .and_then(|d| d.get("i").and_then(Value::as_u64))
                {
                    Some(i) => {
                        self.count_events += 1;
                        if self.last_i.is_some_and(|last| i <= last) {
                            self.count_order_violations += 1;
                        }
                        self.last_i = Some(i);
                        push_run(&mut self.count_runs, i);
                        self.checksum = self.checksum.wrapping_add(pair_mix(seq, i));
                    }
                    None => self.count_bad_data += 1,
                }
            }
        }
    }

    fn lagged(&mut self, from: u64, to: u64, count: u64) {
        if from <= self.high_water || to < from {
            self.order_violations += 1;
        }
        self.high_water = self.high_water.max(to);
        self.lagged.push([from, to, count]);
    }

    fn write(&self, dir: &std::path::Path, reason: &str, t_ms: u64) {
        let v = json!({
            "reason": reason,
            "t_ms": t_ms,
            "events": self.events,
            "first_sequence": self.first_sequence,
            "last_sequence": self.last_sequence,
            "order_violations": self.order_violations,
            "runs": self.runs,
            "lagged": self.lagged,
            "by_type": self.by_type,
            "count_events": self.count_events,
            "count_runs": self.count_runs,
            "count_order_violations": self.count_order_violations,
            "count_bad_data": self.count_bad_data,
            "checksum": self.checksum,
            "acked": self.acked,
            "end_sequence": self.end_sequence,
        });
        let tmp = dir.join("summary.json.tmp");
        if std::fs::write(&tmp, v.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, dir.join("summary.json"));
        }
    }
}

/// Subscribes to every event type the granted capabilities allow, recording the answer; a
/// refused subscription ends the process (the test reads the exit code).
async fn subscribe_all(client: &ModuleClient, events: &mut std::fs::File) {
    let types: Vec<EventType> = EventType::ALL
        .iter()
        .copied()
        .filter(|t| {
            t.required_capability()
                .map(|c| client.handshake().has_capability(c))
                .unwrap_or(true)
        })
        .collect();
    match client.subscribe_events(types).await {
        Ok(s) => line(
            events,
            json!({"kind": "subscribed", "count": s.event_types.len(), "current_sequence": s.current_sequence}),
        ),
        Err(e) => {
            eprintln!("event-recorder: subscribe failed: {e}");
            std::process::exit(2);
        }
    }
}

/// `call_api`: sends every node API request once (some with arguments the node must refuse)
/// and records each answer in `api.jsonl`, ending with a `done` line.
async fn probe_api(client: &ModuleClient, data_dir: &std::path::Path) {
    let Ok(mut api) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("api.jsonl"))
    else {
        std::process::exit(2)
    };
    let tip = client.get_chain_tip().await;
    let tip_hash = tip.as_ref().map(|t| t.hash.clone()).unwrap_or_default();
    let requests = vec![
        Request::GetChainTip,
        Request::GetBlock {
            hash: None,
            height: Some(1),
        },
        Request::GetBlock {
            hash: Some(tip_hash.clone()),
            height: None,
        },
        Request::GetBlockHeader {
            hash: None,
            height: Some(0),
        },
        Request::GetTransaction { txid: "00".repeat(32) },
        Request::GetUtxo {
            txid: "00".repeat(32),
            vout: 0,
        },
        Request::GetMempoolInfo,
        Request::GetMempoolTxids,
        Request::GetPeers,
        Request::GetBlockchainInfo,
        Request::GetSyncStatus,
        Request::SubmitTransaction { hex: "00".into() },
        Request::ReportHealth {
            healthy: true,
            report: Some("{\"startup\":true}".into()),
        },
        Request::PublishEvent {
            name: "api-probe".into(),
            data: "{\"ok\":true}".into(),
        },
    ];
    for r in requests {
        let method = r.method();
        let answer = match client.request(r).await {
            Ok(body) => json!({"method": method, "ok": true, "body": body}),
            Err(e) => json!({"method": method, "ok": false, "error": e.to_string()}),
        };
        line(&mut api, answer);
    }
    line(&mut api, json!({"method": "done"}));
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let started = Instant::now();
    // The configuration stays a JSON value (Null when none): the recorder reads optional keys.
    let (mut client, cfg, data_dir) = match ModuleClient::start::<Value>().await {
        Ok(started) => started,
        Err(e) => {
            eprintln!("event-recorder: cannot start: {e}");
            std::process::exit(2);
        }
    };
    let flag = |k: &str, d: bool| cfg.get(k).and_then(Value::as_bool).unwrap_or(d);
    let num = |k: &str| cfg.get(k).and_then(Value::as_u64);
    let _ = std::fs::create_dir_all(&data_dir);
    let Ok(mut events) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("events.jsonl"))
    else {
        eprintln!("event-recorder: cannot open events.jsonl in {}", data_dir.display());
        std::process::exit(2);
    };
    let caps = client.handshake().capabilities.clone();
    line(
        &mut events,
        json!({"kind": "connected", "module_id": client.handshake().module_id, "capabilities": caps, "t_ms": ms_since(started)}),
    );

    subscribe_all(&client, &mut events).await;

    if flag("call_api", false) {
        probe_api(&client, &data_dir).await;
    }
    if let Some(name) = cfg.get("publish").and_then(Value::as_str) {
        let r = client
            .publish_event(name.to_string(), "{\"from\":\"event-recorder\"}".to_string())
            .await;
        line(&mut events, json!({"kind": "published", "ok": r.is_ok()}));
    }

    let crash_at = num("crash_after_ms").map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));
    let ack = flag("ack", true);
    let ack_delay = Duration::from_millis(num("ack_delay_ms").unwrap_or(0));
    let healthy = flag("healthy", true);
    let exit_on_shutdown = flag("exit_on_shutdown", false);
    let summary_mode = cfg.get("mode").and_then(Value::as_str) == Some("summary");
    let count_event = cfg.get("count_event").and_then(Value::as_str).unwrap_or("fanout").to_string();
    let end_event = cfg.get("end_event").and_then(Value::as_str).unwrap_or("fanout-end").to_string();
    let stall_after = num("stall_after");
    let delay = Duration::from_micros(num("delay_us_per_event").unwrap_or(0));
    let mut summary = Summary::default();
    let mut summary_written = false;
    let mut events_seen = 0u64;
    loop {
        let next = async {
            match crash_at {
                Some(t) => tokio::select! {
                    m = client.next_event() => Some(m),
                    _ = tokio::time::sleep_until(t) => None,
                },
                None => Some(client.next_event().await),
            }
        };
        let msg = match next.await {
            None => {
                line(&mut events, json!({"kind": "crashing"}));
                std::process::exit(3);
            }
            Some(None) => {
                if summary_mode && !summary_written {
                    summary.write(&data_dir, "closed", ms_since(started));
                }
                line(&mut events, json!({"kind": "closed", "t_ms": ms_since(started)}));
                return;
            }
            Some(Some(m)) => m,
        };
        match msg {
            ModuleMessage::Event(ev) => {
                if summary_mode {
                    summary.event(&ev, &count_event);
                    if let blvm_module::EventPayload::ModuleEvent { name, .. } = &ev.payload {
                        if *name == end_event && !summary_written {
                            summary.end_sequence = Some(ev.sequence);
                            summary.write(&data_dir, "end", ms_since(started));
                            summary_written = true;
                        }
                    }
                } else {
                    line(&mut events, json!({"kind": "event", "event": ev, "t_ms": ms_since(started)}));
                }
                events_seen += 1;
                if stall_after.is_some_and(|n| events_seen >= n) {
                    line(&mut events, json!({"kind": "stalled", "t_ms": ms_since(started)}));
                    // Block the only runtime thread: the socket is no longer read at all.
                    loop {
                        std::thread::sleep(Duration::from_secs(3600));
                    }
                }
                if !delay.is_zero() {
                    std::thread::sleep(delay);
                }
                if ev.event_type == EventType::HealthCheck {
                    let _ = client
                        .report_health(healthy, Some(format!("{{\"events_seen_at\":{}}}", ev.sequence)))
                        .await;
                }
                if ev.requires_ack() && ack {
                    if !ack_delay.is_zero() {
                        tokio::time::sleep(ack_delay).await;
                    }
                    let _ = client.ack(ev.sequence).await;
                    summary.acked += 1;
                    line(&mut events, json!({"kind": "acked", "sequence": ev.sequence}));
                }
                if exit_on_shutdown && ev.event_type == EventType::NodeShutdown {
                    return;
                }
            }
            ModuleMessage::Lagged {
                from_sequence,
                to_sequence,
                count,
            } => {
                if summary_mode {
                    summary.lagged(from_sequence, to_sequence, count);
                } else {
                    line(
                        &mut events,
                        json!({"kind": "lagged", "from": from_sequence, "to": to_sequence, "count": count}),
                    );
                }
            }
            other => line(&mut events, json!({"kind": "message", "type": other.type_name()})),
        }
    }
}

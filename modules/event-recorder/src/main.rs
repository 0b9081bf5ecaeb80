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

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let started = Instant::now();
    let mut client = match ModuleClient::connect_from_env().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("event-recorder: cannot connect: {e}");
            std::process::exit(2);
        }
    };
    let data_dir = client.data_dir().map(|p| p.to_path_buf()).unwrap_or_else(|| std::path::PathBuf::from("."));
    let cfg = client.config().cloned().unwrap_or(Value::Null);
    let flag = |k: &str, d: bool| cfg.get(k).and_then(Value::as_bool).unwrap_or(d);
    let num = |k: &str| cfg.get(k).and_then(Value::as_u64);
    let _ = std::fs::create_dir_all(&data_dir);
    let Ok(mut events) = std::fs::OpenOptions::new().create(true).append(true).open(data_dir.join("events.jsonl")) else {
        eprintln!("event-recorder: cannot open events.jsonl in {}", data_dir.display());
        std::process::exit(2);
    };
    let caps = client.handshake().capabilities.clone();
    line(&mut events, json!({"kind": "connected", "module_id": client.handshake().module_id, "capabilities": caps, "t_ms": ms_since(started)}));

    let types: Vec<EventType> = EventType::ALL
        .iter()
        .copied()
        .filter(|t| t.required_capability().map(|c| client.handshake().has_capability(c)).unwrap_or(true))
        .collect();
    match client.subscribe_events(types).await {
        Ok(s) => line(&mut events, json!({"kind": "subscribed", "count": s.event_types.len(), "current_sequence": s.current_sequence})),
        Err(e) => {
            eprintln!("event-recorder: subscribe failed: {e}");
            std::process::exit(2);
        }
    }

    if flag("call_api", false) {
        let Ok(mut api) = std::fs::OpenOptions::new().create(true).append(true).open(data_dir.join("api.jsonl")) else { std::process::exit(2) };
        let tip = client.get_chain_tip().await;
        let tip_hash = tip.as_ref().map(|t| t.hash.clone()).unwrap_or_default();
        let requests = vec![
            Request::GetChainTip,
            Request::GetBlock { hash: None, height: Some(1) },
            Request::GetBlock { hash: Some(tip_hash.clone()), height: None },
            Request::GetBlockHeader { hash: None, height: Some(0) },
            Request::GetTransaction { txid: "00".repeat(32) },
            Request::GetUtxo { txid: "00".repeat(32), vout: 0 },
            Request::GetMempoolInfo,
            Request::GetMempoolTxids,
            Request::GetPeers,
            Request::GetBlockchainInfo,
            Request::GetSyncStatus,
            Request::SubmitTransaction { hex: "00".into() },
            Request::ReportHealth { healthy: true, report: Some("{\"startup\":true}".into()) },
            Request::PublishEvent { name: "api-probe".into(), data: "{\"ok\":true}".into() },
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
    if let Some(name) = cfg.get("publish").and_then(Value::as_str) {
        let r = client.publish_event(name.to_string(), "{\"from\":\"event-recorder\"}".to_string()).await;
        line(&mut events, json!({"kind": "published", "ok": r.is_ok()}));
    }

    let crash_at = num("crash_after_ms").map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));
    let ack = flag("ack", true);
    let ack_delay = Duration::from_millis(num("ack_delay_ms").unwrap_or(0));
    let healthy = flag("healthy", true);
    let exit_on_shutdown = flag("exit_on_shutdown", false);
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
                line(&mut events, json!({"kind": "closed", "t_ms": ms_since(started)}));
                return;
            }
            Some(Some(m)) => m,
        };
        match msg {
            ModuleMessage::Event(ev) => {
                line(&mut events, json!({"kind": "event", "event": ev, "t_ms": ms_since(started)}));
                if ev.event_type == EventType::HealthCheck {
                    let _ = client.report_health(healthy, Some(format!("{{\"events_seen_at\":{}}}", ev.sequence))).await;
                }
                if ev.requires_ack() && ack {
                    if !ack_delay.is_zero() {
                        tokio::time::sleep(ack_delay).await;
                    }
                    let _ = client.ack(ev.sequence).await;
                    line(&mut events, json!({"kind": "acked", "sequence": ev.sequence}));
                }
                if exit_on_shutdown && ev.event_type == EventType::NodeShutdown {
                    return;
                }
            }
            ModuleMessage::Lagged { from_sequence, to_sequence, count } => {
                line(&mut events, json!({"kind": "lagged", "from": from_sequence, "to": to_sequence, "count": count}));
            }
            other => line(&mut events, json!({"kind": "message", "type": other.type_name()})),
        }
    }
}

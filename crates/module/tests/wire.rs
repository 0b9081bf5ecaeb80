//! Wire layout: every message round-trips and encodes as the documented msgpack maps.

mod common;

use std::collections::HashSet;

use blvm_module::*;
use common::*;
use rmpv::Value;

fn roundtrip(msg: &ModuleMessage) -> (ModuleMessage, Value) {
    let frame = encode(msg).expect("encode");
    let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    assert_eq!(len, frame.len() - 4, "length prefix must equal payload length");
    let payload = &frame[4..];
    assert_eq!(payload, encode_payload(msg).expect("encode payload").as_slice());
    let decoded = decode_payload(payload).expect("decode");
    (decoded, generic(payload))
}

#[test]
fn every_event_payload_variant_round_trips_with_documented_layout() {
    let payloads = all_payloads();
    let covered: HashSet<EventType> = payloads.iter().map(|p| p.event_type()).collect();
    assert_eq!(covered, EventType::ALL.iter().copied().collect::<HashSet<_>>());
    assert_eq!(payloads.len(), EventType::ALL.len());

    for (i, payload) in payloads.into_iter().enumerate() {
        let event_type = payload.event_type();
        let msg = ModuleMessage::Event(EventMessage::new(i as u64 + 1, 1_700_000_000_123, payload));
        let (decoded, value) = roundtrip(&msg);
        assert_eq!(decoded, msg, "{event_type} did not round-trip");

        assert_eq!(
            keys(&value),
            ["type", "sequence", "timestamp_ms", "event_type", "payload"],
            "{event_type}"
        );
        assert_eq!(get(&value, "type").as_str(), Some("Event"));
        assert_eq!(get(&value, "sequence").as_u64(), Some(i as u64 + 1));
        assert_eq!(get(&value, "timestamp_ms").as_u64(), Some(1_700_000_000_123));
        assert_eq!(get(&value, "event_type").as_str(), Some(event_type.as_str()));
        assert_eq!(
            keys(get(&value, "payload")),
            payload_fields(event_type),
            "payload fields of {event_type}"
        );
        if let ModuleMessage::Event(ev) = decoded {
            assert_eq!(ev.event_type, event_type);
            assert_eq!(ev.payload.event_type(), event_type);
        }
    }
}

#[test]
fn event_payload_field_types_are_native_msgpack_types() {
    let msg = ModuleMessage::Event(EventMessage::new(
        3,
        4,
        EventPayload::DiskSpaceLow {
            available_bytes: 10,
            total_bytes: 100,
            percent_free: 10.0,
            disk_path: "/d".into(),
        },
    ));
    let (_, v) = roundtrip(&msg);
    let p = get(&v, "payload");
    assert!(matches!(get(p, "available_bytes"), Value::Integer(_)));
    assert!(matches!(get(p, "percent_free"), Value::F64(f) if *f == 10.0));
    assert!(matches!(get(p, "disk_path"), Value::String(_)));

    let msg = ModuleMessage::Event(EventMessage::new(
        5,
        6,
        EventPayload::DataCleanup {
            cleanup_type: "periodic".into(),
            target_age_days: None,
        },
    ));
    let (_, v) = roundtrip(&msg);
    assert!(matches!(get(get(&v, "payload"), "target_age_days"), Value::Nil));
}

#[test]
fn every_module_message_variant_round_trips_as_tagged_map() {
    let expected_keys: &[(&str, &[&str])] = &[
        (
            "Handshake",
            &["type", "protocol_versions", "module_name", "module_version", "token"],
        ),
        (
            "HandshakeAck",
            &["type", "protocol_version", "node_version", "module_id", "capabilities"],
        ),
        ("Request", &["type", "id", "request"]),
        ("Response", &["type", "id", "result"]),
        ("Event", &["type", "sequence", "timestamp_ms", "event_type", "payload"]),
        ("Ack", &["type", "sequence"]),
        ("Lagged", &["type", "from_sequence", "to_sequence", "count"]),
        ("Error", &["type", "code", "message"]),
        ("Goodbye", &["type", "reason"]),
    ];
    let mut seen = HashSet::new();
    for msg in all_messages() {
        let (decoded, value) = roundtrip(&msg);
        assert_eq!(decoded, msg);
        let name = msg.type_name();
        seen.insert(name);
        assert_eq!(get(&value, "type").as_str(), Some(name));
        let want = expected_keys
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
            .expect("listed variant");
        assert_eq!(keys(&value), want, "keys of {name}");
    }
    assert_eq!(seen.len(), expected_keys.len(), "every variant covered");
}

#[test]
fn every_request_variant_round_trips_with_method_key() {
    for (i, request) in all_requests().into_iter().enumerate() {
        let msg = ModuleMessage::Request {
            id: i as u64,
            request: request.clone(),
        };
        let (decoded, value) = roundtrip(&msg);
        assert_eq!(decoded, msg);
        let inner = get(&value, "request");
        assert_eq!(keys(inner)[0], "method");
        assert_eq!(get(inner, "method").as_str(), Some(request.method()));
    }
    // Spot-check the exact field layout of a few.
    let (_, v) = roundtrip(&ModuleMessage::Request {
        id: 5,
        request: Request::GetUtxo {
            txid: "ab".into(),
            vout: 1,
        },
    });
    assert_eq!(keys(get(&v, "request")), ["method", "txid", "vout"]);
    let (_, v) = roundtrip(&ModuleMessage::Request {
        id: 5,
        request: Request::GetChainTip,
    });
    assert_eq!(keys(get(&v, "request")), ["method"]);
    let (_, v) = roundtrip(&ModuleMessage::Request {
        id: 5,
        request: Request::SubscribeEvents {
            event_types: vec![EventType::NodeShutdown],
            from_sequence: None,
        },
    });
    let r = get(&v, "request");
    assert_eq!(keys(r), ["method", "event_types", "from_sequence"]);
    assert_eq!(get(r, "event_types"), &Value::Array(vec![Value::from("NodeShutdown")]));
}

#[test]
fn every_response_body_round_trips_with_kind_key() {
    for (i, body) in all_bodies().into_iter().enumerate() {
        let msg = ModuleMessage::Response {
            id: i as u64,
            result: ResponseResult::Ok { body: body.clone() },
        };
        let (decoded, value) = roundtrip(&msg);
        assert_eq!(decoded, msg);
        let result = get(&value, "result");
        assert_eq!(keys(result), ["status", "body"]);
        assert_eq!(get(result, "status").as_str(), Some("Ok"));
        let b = get(result, "body");
        assert_eq!(keys(b)[0], "kind");
        assert_eq!(get(b, "kind").as_str(), Some(body.kind()));
    }
    let (_, v) = roundtrip(&ModuleMessage::Response {
        id: 1,
        result: ResponseResult::Err {
            code: 3,
            message: "x".into(),
        },
    });
    assert_eq!(keys(get(&v, "result")), ["status", "code", "message"]);
}

#[test]
fn raw_bytes_are_msgpack_bin_and_newtype_bodies_are_flattened() {
    let body = ResponseBody::Block(BlockData {
        hash: "ff".into(),
        height: None,
        raw: vec![0xde, 0xad, 0xbe, 0xef],
    });
    let msg = ModuleMessage::Response {
        id: 1,
        result: ResponseResult::Ok { body },
    };
    let (_, v) = roundtrip(&msg);
    let b = get(get(&v, "result"), "body");
    assert_eq!(keys(b), ["kind", "hash", "height", "raw"]);
    assert_eq!(get(b, "raw"), &Value::Binary(vec![0xde, 0xad, 0xbe, 0xef]));
    assert_eq!(get(b, "height"), &Value::Nil);

    let msg = ModuleMessage::Response {
        id: 1,
        result: ResponseResult::Ok {
            body: ResponseBody::Utxo {
                utxo: Some(UtxoEntry {
                    value_sat: 1,
                    script_pubkey: vec![0x51],
                    height: 2,
                    coinbase: false,
                }),
            },
        },
    };
    let (_, v) = roundtrip(&msg);
    let utxo = get(get(get(&v, "result"), "body"), "utxo");
    assert_eq!(keys(utxo), ["value_sat", "script_pubkey", "height", "coinbase"]);
    assert_eq!(get(utxo, "script_pubkey"), &Value::Binary(vec![0x51]));
}

/// Encodes a generic value the way a non-Rust module might build it.
fn encode_value(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, v).expect("encode value");
    out
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (Value::from(k), v)).collect())
}

#[test]
fn decodes_foreign_maps_with_any_key_order_and_omitted_options() {
    // Handshake with "type" last and no "token" key at all.
    let hs = map(vec![
        ("module_version", Value::from("1.0")),
        ("module_name", Value::from("py")),
        ("protocol_versions", Value::Array(vec![Value::from(1)])),
        ("type", Value::from("Handshake")),
    ]);
    assert_eq!(
        decode_payload(&encode_value(&hs)).expect("decode"),
        ModuleMessage::Handshake {
            protocol_versions: vec![1],
            module_name: "py".into(),
            module_version: "1.0".into(),
            token: None,
        }
    );

    // Event with payload before event_type, and an omitted optional payload field.
    let ev = map(vec![
        ("payload", map(vec![("cleanup_type", Value::from("manual"))])),
        ("timestamp_ms", Value::from(5)),
        ("event_type", Value::from("DataCleanup")),
        ("type", Value::from("Event")),
        ("sequence", Value::from(77)),
    ]);
    assert_eq!(
        decode_payload(&encode_value(&ev)).expect("decode"),
        ModuleMessage::Event(EventMessage::new(
            77,
            5,
            EventPayload::DataCleanup {
                cleanup_type: "manual".into(),
                target_age_days: None,
            }
        ))
    );

    // Unknown extra keys (e.g. from a newer peer) are ignored at every level.
    let ev = map(vec![
        ("type", Value::from("Event")),
        ("sequence", Value::from(1)),
        ("timestamp_ms", Value::from(2)),
        ("event_type", Value::from("StorageFlush")),
        (
            "payload",
            map(vec![("reason", Value::from("manual")), ("later", Value::from(true))]),
        ),
        ("extra", Value::from("ignored")),
    ]);
    assert_eq!(
        decode_payload(&encode_value(&ev)).expect("decode"),
        ModuleMessage::Event(EventMessage::new(1, 2, EventPayload::StorageFlush { reason: "manual".into() }))
    );
    let ack = map(vec![
        ("type", Value::from("Ack")),
        ("sequence", Value::from(9)),
        ("note", Value::from("x")),
    ]);
    assert_eq!(
        decode_payload(&encode_value(&ack)).expect("decode"),
        ModuleMessage::Ack { sequence: 9 }
    );

    // Request with method-only body and a small int id.
    let req = map(vec![
        ("type", Value::from("Request")),
        ("id", Value::from(3)),
        ("request", map(vec![("method", Value::from("GetPeers"))])),
    ]);
    assert_eq!(
        decode_payload(&encode_value(&req)).expect("decode"),
        ModuleMessage::Request {
            id: 3,
            request: Request::GetPeers,
        }
    );
}

#[test]
fn rejects_unknown_type_and_mismatched_payload() {
    let unknown = map(vec![("type", Value::from("Teleport"))]);
    assert!(matches!(decode_payload(&encode_value(&unknown)), Err(CodecError::Decode(_))));
    let missing_field = map(vec![("type", Value::from("Ack"))]);
    assert!(matches!(decode_payload(&encode_value(&missing_field)), Err(CodecError::Decode(_))));
    // Payload fields that do not fit the named event type.
    let bad = map(vec![
        ("type", Value::from("Event")),
        ("sequence", Value::from(1)),
        ("timestamp_ms", Value::from(1)),
        ("event_type", Value::from("NodeShutdown")),
        ("payload", map(vec![("available_bytes", Value::from(1))])),
    ]);
    assert!(matches!(decode_payload(&encode_value(&bad)), Err(CodecError::Decode(_))));
    // A top-level array is not a message.
    assert!(decode_payload(&encode_value(&Value::Array(vec![]))).is_err());
}

#[test]
fn event_type_names_requires_ack_and_replayable() {
    for t in EventType::ALL {
        assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
        assert_eq!(t.to_string(), t.as_str());
        // serde name equals as_str
        let bytes = rmp_serde::to_vec_named(&t).expect("encode");
        assert_eq!(generic(&bytes).as_str(), Some(t.as_str()));
    }
    assert!("nodeshutdown".parse::<EventType>().is_err());

    let acked: Vec<EventType> = EventType::ALL.into_iter().filter(|t| t.requires_ack()).collect();
    assert_eq!(
        acked,
        [
            EventType::NodeShutdown,
            EventType::StorageFlush,
            EventType::MaintenanceStarted,
            EventType::DataCleanup,
            EventType::DiskSpaceLow
        ]
    );
    let replayable: Vec<EventType> = EventType::ALL.into_iter().filter(|t| t.is_replayable()).collect();
    assert_eq!(
        replayable,
        [EventType::NewBlock, EventType::BlockDisconnected, EventType::ChainReorg]
    );
    assert!(EventType::NodeShutdown == EventType::NodeShutdown);
}

#[test]
fn capabilities_have_snake_case_names_and_cover_requests() {
    for c in Capability::ALL {
        assert_eq!(c.as_str().parse::<Capability>(), Ok(c));
        let bytes = rmp_serde::to_vec_named(&c).expect("encode");
        assert_eq!(generic(&bytes).as_str(), Some(c.as_str()));
    }
    let names: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        names,
        [
            "read_chain",
            "read_mempool",
            "read_network",
            "submit_transactions",
            "publish_events",
            "report_health",
            "register_rpc",
            "hooks"
        ]
    );
    let cap = |r: Request| r.required_capability();
    assert_eq!(
        cap(Request::SubscribeEvents {
            event_types: vec![],
            from_sequence: None
        }),
        None
    );
    assert_eq!(cap(Request::GetChainTip), Some(Capability::ReadChain));
    assert_eq!(cap(Request::GetMempoolTxids), Some(Capability::ReadMempool));
    assert_eq!(cap(Request::GetPeers), Some(Capability::ReadNetwork));
    assert_eq!(
        cap(Request::SubmitTransaction { hex: String::new() }),
        Some(Capability::SubmitTransactions)
    );
    assert_eq!(
        cap(Request::PublishEvent {
            name: String::new(),
            data: String::new()
        }),
        Some(Capability::PublishEvents)
    );
    assert_eq!(
        cap(Request::ReportHealth {
            healthy: true,
            report: None
        }),
        Some(Capability::ReportHealth)
    );
    assert_eq!(cap(Request::RegisterRpcMethods { methods: vec![] }), Some(Capability::RegisterRpc));
    assert_eq!(cap(Request::RegisterHooks { hooks: vec![] }), Some(Capability::Hooks));
    assert_eq!(
        EventType::MempoolTransactionAdded.required_capability(),
        Some(Capability::ReadMempool)
    );
    assert_eq!(EventType::NodeShutdown.required_capability(), None);
}

#[test]
fn event_message_new_derives_event_type_from_payload() {
    // A hand-built message with a mismatching event_type is sent with the payload's type.
    let mut ev = EventMessage::new(1, 2, EventPayload::StorageFlush { reason: "manual".into() });
    assert_eq!(ev.event_type, EventType::StorageFlush);
    assert!(ev.requires_ack());
    ev.event_type = EventType::NewBlock;
    let (decoded, value) = roundtrip(&ModuleMessage::Event(ev));
    assert_eq!(get(&value, "event_type").as_str(), Some("StorageFlush"));
    match decoded {
        ModuleMessage::Event(ev) => assert_eq!(ev.event_type, EventType::StorageFlush),
        other => panic!("unexpected {other:?}"),
    }
}

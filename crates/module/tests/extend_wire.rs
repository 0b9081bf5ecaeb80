//! Wire layout of module RPC methods and hooks (docs/module-protocol.md section 9.1): the
//! requests and answers encode as the documented maps and decode from maps written by hand, as a
//! module in another language writes them.

mod common;

use blvm_module::*;
use common::*;
use rmpv::Value;

fn value_of(msg: &ModuleMessage) -> Value {
    let payload = encode_payload(msg).expect("encode");
    assert_eq!(&decode_payload(&payload).expect("decode"), msg, "round trip");
    generic(&payload)
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (Value::from(k), v)).collect())
}

fn decode(v: &Value) -> ModuleMessage {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, v).expect("encode value");
    decode_payload(&out).expect("decode hand-written map")
}

#[test]
fn node_requests_are_tagged_maps_with_documented_fields() {
    let hook = ModuleMessage::Request {
        id: 7,
        request: Request::Hook {
            call: HookCall::MempoolAccept {
                txid: "aa".into(),
                wtxid: "bb".into(),
                raw: vec![1, 2, 3],
            },
        },
    };
    let v = value_of(&hook);
    let request = get(&v, "request");
    assert_eq!(keys(request), ["method", "call"]);
    assert_eq!(get(request, "method").as_str(), Some("Hook"));
    let call = get(request, "call");
    assert_eq!(keys(call), ["hook", "txid", "wtxid", "raw"]);
    assert_eq!(get(call, "hook").as_str(), Some("mempool_accept"));
    assert_eq!(get(call, "raw"), &Value::Binary(vec![1, 2, 3]), "raw is msgpack bin");

    let peer = Request::Hook {
        call: HookCall::PeerConnected {
            peer_id: 3,
            addr: "127.0.0.1:1".into(),
            inbound: true,
            user_agent: "/x/".into(),
        },
    };
    let v = value_of(&ModuleMessage::Request { id: 1, request: peer });
    assert_eq!(
        keys(get(get(&v, "request"), "call")),
        ["hook", "peer_id", "addr", "inbound", "user_agent"]
    );

    let call = Request::RpcCall {
        name: "m".into(),
        params: "[1]".into(),
    };
    let v = value_of(&ModuleMessage::Request { id: 2, request: call });
    assert_eq!(keys(get(&v, "request")), ["method", "name", "params"]);
}

#[test]
fn registrations_and_answers_decode_from_hand_written_maps() {
    let reg = map(vec![
        ("type", "Request".into()),
        ("id", 1.into()),
        (
            "request",
            map(vec![
                ("method", "RegisterRpcMethods".into()),
                (
                    "methods",
                    Value::Array(vec![map(vec![
                        ("params", Value::Array(vec!["a".into()])),
                        ("help", "h".into()),
                        ("name", "m".into()),
                    ])]),
                ),
            ]),
        ),
    ]);
    let spec = RpcMethodSpec {
        name: "m".into(),
        help: "h".into(),
        params: vec!["a".into()],
    };
    assert_eq!(
        decode(&reg),
        ModuleMessage::Request {
            id: 1,
            request: Request::RegisterRpcMethods { methods: vec![spec] }
        }
    );
    let hooks = map(vec![
        ("type", "Request".into()),
        ("id", 2.into()),
        (
            "request",
            map(vec![
                ("method", "RegisterHooks".into()),
                ("hooks", Value::Array(vec!["peer_connected".into()])),
            ]),
        ),
    ]);
    assert_eq!(
        decode(&hooks),
        ModuleMessage::Request {
            id: 2,
            request: Request::RegisterHooks {
                hooks: vec![HookKind::PeerConnected]
            }
        }
    );
    let answer = |body: Value| {
        map(vec![
            ("type", "Response".into()),
            ("id", 9.into()),
            ("result", map(vec![("status", "Ok".into()), ("body", body)])),
        ])
    };
    let verdict = answer(map(vec![
        ("kind", "HookVerdict".into()),
        ("allow", false.into()),
        ("reason", "no".into()),
    ]));
    assert_eq!(
        decode(&verdict),
        ModuleMessage::Response {
            id: 9,
            result: hook_refuse("no")
        }
    );
    let err = answer(map(vec![
        ("kind", "RpcError".into()),
        ("code", (-8).into()),
        ("message", "bad".into()),
    ]));
    assert_eq!(
        decode(&err),
        ModuleMessage::Response {
            id: 9,
            result: rpc_error(-8, "bad")
        }
    );
    let ok = answer(map(vec![("kind", "RpcResult".into()), ("result", "{\"a\":1}".into())]));
    assert_eq!(
        decode(&ok),
        ModuleMessage::Response {
            id: 9,
            result: rpc_result(&serde_json::json!({"a": 1}))
        }
    );
    // An omitted reason is nil; an unknown hook name is a decode error.
    let allow = answer(map(vec![("kind", "HookVerdict".into()), ("allow", true.into())]));
    assert_eq!(
        decode(&allow),
        ModuleMessage::Response {
            id: 9,
            result: hook_allow()
        }
    );
    let mut out = Vec::new();
    let bad = map(vec![
        ("type", "Request".into()),
        ("id", 3.into()),
        (
            "request",
            map(vec![
                ("method", "RegisterHooks".into()),
                ("hooks", Value::Array(vec!["nope".into()])),
            ]),
        ),
    ]);
    rmpv::encode::write_value(&mut out, &bad).unwrap();
    assert!(decode_payload(&out).is_err());
    assert_eq!("mempool_accept".parse::<HookKind>(), Ok(HookKind::MempoolAccept));
    assert_eq!(Capability::RegisterRpc.as_str(), "register_rpc");
    assert_eq!("hooks".parse::<Capability>(), Ok(Capability::Hooks));
}

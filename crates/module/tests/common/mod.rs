//! Sample values shared by the integration tests.
#![allow(dead_code)]

use blvm_module::*;

/// One payload per `EventPayload` variant.
pub fn all_payloads() -> Vec<EventPayload> {
    vec![
        EventPayload::NodeShutdown {
            reason: "graceful".into(),
            timeout_seconds: 30,
        },
        EventPayload::NodeShutdownCompleted { duration_ms: 1234 },
        EventPayload::NodeStartupCompleted {
            duration_ms: 99,
            components: vec!["storage".into(), "network".into()],
        },
        EventPayload::StorageFlush { reason: "periodic".into() },
        EventPayload::StorageFlushCompleted {
            success: true,
            duration_ms: 7,
        },
        EventPayload::MaintenanceStarted {
            maintenance_type: "prune".into(),
            estimated_duration_seconds: Some(60),
        },
        EventPayload::MaintenanceCompleted {
            maintenance_type: "prune".into(),
            success: false,
            duration_ms: 61_000,
            results: Some(r#"{"pruned":12}"#.into()),
        },
        EventPayload::DataCleanup {
            cleanup_type: "low_disk".into(),
            target_age_days: None,
        },
        EventPayload::HealthCheck {
            check_type: "startup".into(),
            node_healthy: true,
            health_report: None,
        },
        EventPayload::DiskSpaceLow {
            available_bytes: 1 << 30,
            total_bytes: 1 << 40,
            percent_free: 0.09765625,
            disk_path: "/var/lib/blvm".into(),
        },
        EventPayload::ResourceLimitWarning {
            resource_type: "memory".into(),
            usage_percent: 91.5,
            current_usage: 915,
            limit: 1000,
            threshold_percent: 90.0,
        },
        EventPayload::NewBlock {
            hash: "00".repeat(32),
            height: 840_000,
            tx_count: 3050,
        },
        EventPayload::BlockDisconnected {
            hash: "11".repeat(32),
            height: 839_999,
        },
        EventPayload::ChainReorg {
            old_tip: "aa".repeat(32),
            new_tip: "bb".repeat(32),
            fork_height: 100,
            disconnected: vec!["aa".repeat(32)],
            connected: vec!["cc".repeat(32), "bb".repeat(32)],
        },
        EventPayload::NewTransaction {
            txid: "dd".repeat(32),
            wtxid: "ee".repeat(32),
        },
        EventPayload::MempoolTransactionAdded {
            txid: "dd".repeat(32),
            fee_sat: 1500,
            vsize: 141,
        },
        EventPayload::MempoolTransactionRemoved {
            txid: "dd".repeat(32),
            reason: "block".into(),
        },
        EventPayload::PeerConnected {
            peer_id: 4,
            addr: "127.0.0.1:8333".into(),
            inbound: false,
        },
        EventPayload::PeerDisconnected {
            peer_id: 4,
            addr: "127.0.0.1:8333".into(),
            reason: "timeout".into(),
        },
        EventPayload::ModuleLoaded {
            name: "indexer".into(),
            version: "0.2.0".into(),
        },
        EventPayload::ModuleUnloaded {
            name: "indexer".into(),
            reason: "stopped".into(),
        },
        EventPayload::ModuleCrashed {
            name: "indexer".into(),
            exit_code: Some(-11),
            restarts: 2,
            will_restart: true,
        },
        EventPayload::ModuleEvent {
            module: "indexer".into(),
            name: "reindexed".into(),
            data: r#"{"height":5}"#.into(),
        },
    ]
}

/// Field names (in declaration order) of each payload variant, as the docs list them.
pub fn payload_fields(t: EventType) -> &'static [&'static str] {
    match t {
        EventType::NodeShutdown => &["reason", "timeout_seconds"],
        EventType::NodeShutdownCompleted => &["duration_ms"],
        EventType::NodeStartupCompleted => &["duration_ms", "components"],
        EventType::StorageFlush => &["reason"],
        EventType::StorageFlushCompleted => &["success", "duration_ms"],
        EventType::MaintenanceStarted => &["maintenance_type", "estimated_duration_seconds"],
        EventType::MaintenanceCompleted => &["maintenance_type", "success", "duration_ms", "results"],
        EventType::DataCleanup => &["cleanup_type", "target_age_days"],
        EventType::HealthCheck => &["check_type", "node_healthy", "health_report"],
        EventType::DiskSpaceLow => &["available_bytes", "total_bytes", "percent_free", "disk_path"],
        EventType::ResourceLimitWarning => &["resource_type", "usage_percent", "current_usage", "limit", "threshold_percent"],
        EventType::NewBlock => &["hash", "height", "tx_count"],
        EventType::BlockDisconnected => &["hash", "height"],
        EventType::ChainReorg => &["old_tip", "new_tip", "fork_height", "disconnected", "connected"],
        EventType::NewTransaction => &["txid", "wtxid"],
        EventType::MempoolTransactionAdded => &["txid", "fee_sat", "vsize"],
        EventType::MempoolTransactionRemoved => &["txid", "reason"],
        EventType::PeerConnected => &["peer_id", "addr", "inbound"],
        EventType::PeerDisconnected => &["peer_id", "addr", "reason"],
        EventType::ModuleLoaded => &["name", "version"],
        EventType::ModuleUnloaded => &["name", "reason"],
        EventType::ModuleCrashed => &["name", "exit_code", "restarts", "will_restart"],
        EventType::ModuleEvent => &["module", "name", "data"],
    }
}

/// One request per `Request` variant.
pub fn all_requests() -> Vec<Request> {
    vec![
        Request::SubscribeEvents {
            event_types: vec![EventType::NodeShutdown, EventType::NewBlock],
            from_sequence: Some(10),
        },
        Request::Unsubscribe {
            event_types: vec![EventType::NewBlock],
        },
        Request::GetChainTip,
        Request::GetBlock {
            hash: Some("00".repeat(32)),
            height: None,
        },
        Request::GetBlockHeader {
            hash: None,
            height: Some(1),
        },
        Request::GetTransaction { txid: "dd".repeat(32) },
        Request::GetUtxo {
            txid: "dd".repeat(32),
            vout: 3,
        },
        Request::GetMempoolInfo,
        Request::GetMempoolTxids,
        Request::GetPeers,
        Request::GetBlockchainInfo,
        Request::GetSyncStatus,
        Request::SubmitTransaction { hex: "0200000000".into() },
        Request::ReportHealth {
            healthy: true,
            report: Some("ok".into()),
        },
        Request::PublishEvent {
            name: "reindexed".into(),
            data: "{}".into(),
        },
    ]
}

/// One body per `ResponseBody` variant.
pub fn all_bodies() -> Vec<ResponseBody> {
    vec![
        ResponseBody::Subscribed {
            event_types: vec![EventType::DiskSpaceLow],
            current_sequence: 42,
        },
        ResponseBody::ChainTip(ChainTip {
            hash: "00".repeat(32),
            height: 5,
            chainwork: "0c".into(),
        }),
        ResponseBody::Block(BlockData {
            hash: "00".repeat(32),
            height: Some(5),
            raw: vec![1, 2, 3, 0, 255],
        }),
        ResponseBody::BlockHeader(BlockHeaderData {
            hash: "00".repeat(32),
            height: 5,
            raw: vec![7; 80],
        }),
        ResponseBody::Transaction(TransactionData {
            txid: "dd".repeat(32),
            raw: vec![2, 0, 0, 0],
            block_hash: None,
        }),
        ResponseBody::Utxo {
            utxo: Some(UtxoEntry {
                value_sat: 50 * 100_000_000,
                script_pubkey: vec![0x51],
                height: 1,
                coinbase: true,
            }),
        },
        ResponseBody::Utxo { utxo: None },
        ResponseBody::MempoolInfo(MempoolInfo {
            size: 3,
            bytes: 600,
            usage: 4096,
            total_fee_sat: 900,
            min_fee_rate: 1.0,
        }),
        ResponseBody::Txids {
            txids: vec!["dd".repeat(32)],
        },
        ResponseBody::Peers {
            peers: vec![PeerInfo {
                id: 1,
                addr: "127.0.0.1:18444".into(),
                inbound: true,
                version: 70016,
                subver: "/Satoshi:27.0.0/".into(),
                height: 100,
            }],
        },
        ResponseBody::BlockchainInfo(BlockchainInfo {
            chain: "regtest".into(),
            blocks: 100,
            headers: 101,
            best_block_hash: "00".repeat(32),
            chainwork: "ca".into(),
            verification_progress: 0.5,
            initial_block_download: false,
            pruned: false,
        }),
        ResponseBody::SyncStatus(SyncStatus {
            syncing: true,
            height: 100,
            target_height: 200,
        }),
        ResponseBody::Submitted { txid: "dd".repeat(32) },
        ResponseBody::Done,
    ]
}

/// One message per `ModuleMessage` variant (plus an error response).
pub fn all_messages() -> Vec<ModuleMessage> {
    vec![
        ModuleMessage::Handshake {
            protocol_versions: vec![1],
            module_name: "example".into(),
            module_version: "0.1.0".into(),
            token: Some("s3cret".into()),
        },
        ModuleMessage::HandshakeAck {
            protocol_version: 1,
            node_version: "0.1.0".into(),
            module_id: 7,
            capabilities: vec!["read_chain".into()],
        },
        ModuleMessage::Request {
            id: 1,
            request: Request::GetChainTip,
        },
        ModuleMessage::Response {
            id: 1,
            result: ResponseResult::Ok { body: ResponseBody::Done },
        },
        ModuleMessage::Response {
            id: 2,
            result: ResponseResult::Err {
                code: error_code::NOT_FOUND,
                message: "no such block".into(),
            },
        },
        ModuleMessage::Event(EventMessage::new(
            9,
            1_700_000_000_000,
            EventPayload::NodeShutdown {
                reason: "signal".into(),
                timeout_seconds: 10,
            },
        )),
        ModuleMessage::Ack { sequence: 9 },
        ModuleMessage::Lagged {
            from_sequence: 10,
            to_sequence: 20,
            count: 4,
        },
        ModuleMessage::Error {
            code: error_code::UNAUTHORIZED,
            message: "bad token".into(),
        },
        ModuleMessage::Goodbye { reason: "shutdown".into() },
    ]
}

/// Decodes msgpack bytes into a generic value.
pub fn generic(bytes: &[u8]) -> rmpv::Value {
    let mut slice = bytes;
    let v = rmpv::decode::read_value(&mut slice).expect("valid msgpack");
    assert!(slice.is_empty(), "trailing bytes after msgpack value");
    v
}

/// The string keys of a msgpack map, in wire order; panics if `v` is not a map.
pub fn keys(v: &rmpv::Value) -> Vec<String> {
    match v {
        rmpv::Value::Map(entries) => entries.iter().map(|(k, _)| k.as_str().expect("string key").to_string()).collect(),
        other => panic!("expected msgpack map, got {other:?}"),
    }
}

/// The value under `key` in a msgpack map.
pub fn get<'a>(v: &'a rmpv::Value, key: &str) -> &'a rmpv::Value {
    match v {
        rmpv::Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("key {key:?} missing in {v:?}")),
        other => panic!("expected msgpack map, got {other:?}"),
    }
}

/// How long the node stand-ins wait for any frame.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Node stand-in: writes one frame.
pub async fn send(stream: &mut tokio::net::UnixStream, msg: &ModuleMessage) {
    write_frame(stream, msg, DEFAULT_MAX_FRAME).await.expect("server write");
}

/// Node stand-in: reads one frame (`None` at EOF), failing the test after [`WAIT`].
pub async fn recv(stream: &mut tokio::net::UnixStream) -> Option<ModuleMessage> {
    tokio::time::timeout(WAIT, read_frame(stream, DEFAULT_MAX_FRAME))
        .await
        .expect("server read timed out")
        .expect("server read")
}

//! The node API served to modules: chain, mempool and network queries, submissions and health.

use super::bus::EventBus;
use super::health::HealthRegistry;
use crate::chain::ChainManager;
use bitcoin::consensus::serialize;
use bitcoin::hex::FromHex;
use bitcoin::{BlockHash, OutPoint, Txid};
use blvm_module::request::error_code;
use blvm_module::{
    BlockData, BlockHeaderData, BlockchainInfo, ChainTip, EventPayload, MempoolInfo, PeerInfo, Request, ResponseBody, ResponseResult,
    SyncStatus, UtxoEntry,
};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// What the mempool exposes to modules (implemented by the mempool once it exists).
pub trait MempoolView: Send + Sync {
    /// Size statistics.
    fn info(&self) -> MempoolInfo;
    /// Transaction ids.
    fn txids(&self) -> Vec<String>;
    /// A raw transaction by txid.
    fn get(&self, txid: &Txid) -> Option<Vec<u8>>;
    /// Validates and adds a transaction; returns its txid or a reject reason.
    fn submit(&self, raw: &[u8]) -> Result<String, String>;
}

/// What the P2P layer exposes to modules.
pub trait PeerView: Send + Sync {
    /// Connected peers.
    fn peers(&self) -> Vec<PeerInfo>;
}

/// Used until the node has a mempool: empty, and submissions are refused with a reason.
pub struct NoMempool;

impl MempoolView for NoMempool {
    fn info(&self) -> MempoolInfo {
        MempoolInfo {
            size: 0,
            bytes: 0,
            usage: 0,
            total_fee_sat: 0,
            min_fee_rate: 1.0,
        }
    }
    fn txids(&self) -> Vec<String> {
        Vec::new()
    }
    fn get(&self, _: &Txid) -> Option<Vec<u8>> {
        None
    }
    fn submit(&self, _: &[u8]) -> Result<String, String> {
        Err("this node runs without a mempool".into())
    }
}

/// Used until the node has a P2P layer: no peers.
pub struct NoPeers;

impl PeerView for NoPeers {
    fn peers(&self) -> Vec<PeerInfo> {
        Vec::new()
    }
}

/// Serves [`Request`]s for one node.
pub struct NodeApi {
    /// The chain engine.
    pub chain: Arc<Mutex<ChainManager>>,
    /// Module health reports.
    pub health: Arc<HealthRegistry>,
    /// The event bus (for module-published events).
    pub bus: Arc<EventBus>,
    /// The mempool view.
    pub mempool: Arc<dyn MempoolView>,
    /// The peer view.
    pub peers: Arc<dyn PeerView>,
}

fn err(code: u32, message: impl Into<String>) -> ResponseResult {
    ResponseResult::Err {
        code,
        message: message.into(),
    }
}

fn ok(body: ResponseBody) -> ResponseResult {
    ResponseResult::Ok { body }
}

fn work_hex(w: bitcoin::Work) -> String {
    bitcoin::hex::DisplayHex::to_lower_hex_string(&w.to_be_bytes()[..])
}

impl NodeApi {
    fn chain(&self) -> std::sync::MutexGuard<'_, ChainManager> {
        crate::sync::lock(&self.chain)
    }

    fn resolve(&self, chain: &ChainManager, hash: &Option<String>, height: &Option<u64>) -> Result<BlockHash, ResponseResult> {
        match (hash, height) {
            (Some(h), None) => BlockHash::from_str(h).map_err(|_| err(error_code::INVALID_ARGUMENT, format!("not a block hash: {h}"))),
            (None, Some(n)) => u32::try_from(*n)
                .ok()
                .and_then(|n| chain.hash_at(n))
                .ok_or_else(|| err(error_code::NOT_FOUND, format!("no active block at height {n}"))),
            _ => Err(err(error_code::INVALID_ARGUMENT, "give exactly one of hash or height")),
        }
    }

    /// Answers one request from module `module` (already authorised).
    pub fn handle(&self, module: &str, request: Request) -> ResponseResult {
        match request {
            Request::GetChainTip => {
                let chain = self.chain();
                let tip = chain.tip();
                ok(ResponseBody::ChainTip(ChainTip {
                    hash: tip.hash.to_string(),
                    height: u64::from(tip.height),
                    chainwork: work_hex(tip.chainwork),
                }))
            }
            Request::GetBlock { hash, height } => {
                let chain = self.chain();
                let h = match self.resolve(&chain, &hash, &height) {
                    Ok(h) => h,
                    Err(e) => return e,
                };
                match chain.read_block(&h) {
                    Ok(Some(b)) => {
                        let height = chain.is_active(&h).then(|| chain.entry(&h).map(|e| u64::from(e.height))).flatten();
                        ok(ResponseBody::Block(BlockData {
                            hash: h.to_string(),
                            height,
                            raw: serialize(&b),
                        }))
                    }
                    Ok(None) => err(error_code::NOT_FOUND, format!("block {h} not found")),
                    Err(e) => err(error_code::INTERNAL, e.to_string()),
                }
            }
            Request::GetBlockHeader { hash, height } => {
                let chain = self.chain();
                let h = match self.resolve(&chain, &hash, &height) {
                    Ok(h) => h,
                    Err(e) => return e,
                };
                match chain.entry(&h) {
                    Some(e) => ok(ResponseBody::BlockHeader(BlockHeaderData {
                        hash: h.to_string(),
                        height: u64::from(e.height),
                        raw: serialize(&e.header),
                    })),
                    None => err(error_code::NOT_FOUND, format!("header {h} not found")),
                }
            }
            Request::GetTransaction { txid } => {
                let Ok(id) = Txid::from_str(&txid) else {
                    return err(error_code::INVALID_ARGUMENT, format!("not a txid: {txid}"));
                };
                match self.mempool.get(&id) {
                    Some(raw) => ok(ResponseBody::Transaction(blvm_module::TransactionData {
                        txid,
                        raw,
                        block_hash: None,
                    })),
                    None => err(
                        error_code::NOT_FOUND,
                        format!("transaction {txid} is not in the mempool (no transaction index)"),
                    ),
                }
            }
            Request::GetUtxo { txid, vout } => {
                let Ok(id) = Txid::from_str(&txid) else {
                    return err(error_code::INVALID_ARGUMENT, format!("not a txid: {txid}"));
                };
                match self.chain().get_coin(&OutPoint { txid: id, vout }) {
                    Ok(c) => ok(ResponseBody::Utxo {
                        utxo: c.map(|c| UtxoEntry {
                            value_sat: c.output.value.to_sat(),
                            script_pubkey: c.output.script_pubkey.to_bytes(),
                            height: u64::from(c.height),
                            coinbase: c.is_coinbase,
                        }),
                    }),
                    Err(e) => err(error_code::INTERNAL, e.to_string()),
                }
            }
            Request::GetMempoolInfo => ok(ResponseBody::MempoolInfo(self.mempool.info())),
            Request::GetMempoolTxids => ok(ResponseBody::Txids {
                txids: self.mempool.txids(),
            }),
            Request::GetPeers => ok(ResponseBody::Peers { peers: self.peers.peers() }),
            Request::GetBlockchainInfo => {
                let chain = self.chain();
                let tip = chain.tip();
                let headers = chain.best_header().height;
                ok(ResponseBody::BlockchainInfo(BlockchainInfo {
                    chain: chain.params().chain_name.to_string(),
                    blocks: u64::from(tip.height),
                    headers: u64::from(headers),
                    best_block_hash: tip.hash.to_string(),
                    chainwork: work_hex(tip.chainwork),
                    verification_progress: chain.verification_progress(tip.height, crate::clock::unix_now()),
                    initial_block_download: tip.height < headers,
                    pruned: chain.prune_height().is_some(),
                }))
            }
            Request::GetSyncStatus => {
                let chain = self.chain();
                let height = chain.height();
                let target = chain.entries().filter(|e| !e.is_failed()).map(|e| e.height).max().unwrap_or(0);
                ok(ResponseBody::SyncStatus(SyncStatus {
                    syncing: height < target,
                    height: u64::from(height),
                    target_height: u64::from(target),
                }))
            }
            Request::SubmitTransaction { hex } => {
                let Some(raw) = Vec::<u8>::from_hex(&hex).ok() else {
                    return err(error_code::INVALID_ARGUMENT, "transaction is not hex");
                };
                match self.mempool.submit(&raw) {
                    Ok(txid) => ok(ResponseBody::Submitted { txid }),
                    Err(reason) => err(error_code::INVALID_ARGUMENT, reason),
                }
            }
            Request::ReportHealth { healthy, report } => {
                self.health.report(module, healthy, report);
                ok(ResponseBody::Done)
            }
            Request::PublishEvent { name, data } => {
                if name.is_empty() || name.len() > 128 {
                    return err(error_code::INVALID_ARGUMENT, "event name must be 1..=128 bytes");
                }
                if serde_json::from_str::<serde_json::Value>(&data).is_err() {
                    return err(error_code::INVALID_ARGUMENT, "event data must be JSON");
                }
                self.bus.publish(EventPayload::ModuleEvent {
                    module: module.to_string(),
                    name,
                    data,
                });
                ok(ResponseBody::Done)
            }
            Request::SubscribeEvents { .. }
            | Request::Unsubscribe { .. }
            | Request::RegisterRpcMethods { .. }
            | Request::RegisterHooks { .. } => err(error_code::INTERNAL, "handled by the connection"),
            Request::RpcCall { .. } | Request::Hook { .. } => err(
                error_code::MALFORMED,
                "RpcCall and Hook are sent by the node to modules, not to the node",
            ),
        }
    }
}

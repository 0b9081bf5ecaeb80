//! The typed node API of [`ModuleClient`]: one method per read request (chain, blocks,
//! transactions, coins, mempool, peers, sync) and transaction submission, each checking the
//! response kind so a module gets the data type it asked for.

use crate::client::{unexpected, ClientError, ModuleClient};
use crate::request::{
    BlockData, BlockHeaderData, BlockchainInfo, ChainTip, MempoolInfo, PeerInfo, Request, ResponseBody, SyncStatus, TransactionData,
    UtxoEntry,
};

/// A block addressed by hash or by active-chain height.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockId {
    /// Hex block hash, display order.
    Hash(String),
    /// Height on the active chain.
    Height(u64),
}

impl From<u64> for BlockId {
    fn from(height: u64) -> Self {
        BlockId::Height(height)
    }
}

impl From<String> for BlockId {
    fn from(hash: String) -> Self {
        BlockId::Hash(hash)
    }
}

impl From<&str> for BlockId {
    fn from(hash: &str) -> Self {
        BlockId::Hash(hash.to_string())
    }
}

impl BlockId {
    /// Splits into the `(hash, height)` pair used by `GetBlock` / `GetBlockHeader`.
    fn into_parts(self) -> (Option<String>, Option<u64>) {
        match self {
            BlockId::Hash(h) => (Some(h), None),
            BlockId::Height(h) => (None, Some(h)),
        }
    }
}

impl ModuleClient {
    /// Best block hash, height and chainwork (needs `read_chain`).
    pub async fn get_chain_tip(&self) -> Result<ChainTip, ClientError> {
        match self.request(Request::GetChainTip).await? {
            ResponseBody::ChainTip(tip) => Ok(tip),
            other => Err(unexpected("ChainTip", &other)),
        }
    }

    /// A full block by hash (needs `read_chain`).
    pub async fn get_block_by_hash(&self, hash: impl Into<String>) -> Result<BlockData, ClientError> {
        self.get_block(BlockId::Hash(hash.into())).await
    }

    /// A full block by active-chain height (needs `read_chain`).
    pub async fn get_block_by_height(&self, height: u64) -> Result<BlockData, ClientError> {
        self.get_block(BlockId::Height(height)).await
    }

    async fn get_block(&self, id: BlockId) -> Result<BlockData, ClientError> {
        let (hash, height) = id.into_parts();
        match self.request(Request::GetBlock { hash, height }).await? {
            ResponseBody::Block(block) => Ok(block),
            other => Err(unexpected("Block", &other)),
        }
    }

    /// A block header by hash or height, e.g. `get_block_header(100)` (needs `read_chain`).
    pub async fn get_block_header(&self, id: impl Into<BlockId>) -> Result<BlockHeaderData, ClientError> {
        let (hash, height) = id.into().into_parts();
        match self.request(Request::GetBlockHeader { hash, height }).await? {
            ResponseBody::BlockHeader(header) => Ok(header),
            other => Err(unexpected("BlockHeader", &other)),
        }
    }

    /// A transaction by id (needs `read_chain`).
    pub async fn get_transaction(&self, txid: impl Into<String>) -> Result<TransactionData, ClientError> {
        match self.request(Request::GetTransaction { txid: txid.into() }).await? {
            ResponseBody::Transaction(tx) => Ok(tx),
            other => Err(unexpected("Transaction", &other)),
        }
    }

    /// An unspent output, `None` if spent or unknown (needs `read_chain`).
    pub async fn get_utxo(&self, txid: impl Into<String>, vout: u32) -> Result<Option<UtxoEntry>, ClientError> {
        match self.request(Request::GetUtxo { txid: txid.into(), vout }).await? {
            ResponseBody::Utxo { utxo } => Ok(utxo),
            other => Err(unexpected("Utxo", &other)),
        }
    }

    /// Mempool statistics (needs `read_mempool`).
    pub async fn get_mempool_info(&self) -> Result<MempoolInfo, ClientError> {
        match self.request(Request::GetMempoolInfo).await? {
            ResponseBody::MempoolInfo(info) => Ok(info),
            other => Err(unexpected("MempoolInfo", &other)),
        }
    }

    /// Ids of all mempool transactions (needs `read_mempool`).
    pub async fn get_mempool_txids(&self) -> Result<Vec<String>, ClientError> {
        match self.request(Request::GetMempoolTxids).await? {
            ResponseBody::Txids { txids } => Ok(txids),
            other => Err(unexpected("Txids", &other)),
        }
    }

    /// Connected peers (needs `read_network`).
    pub async fn get_peers(&self) -> Result<Vec<PeerInfo>, ClientError> {
        match self.request(Request::GetPeers).await? {
            ResponseBody::Peers { peers } => Ok(peers),
            other => Err(unexpected("Peers", &other)),
        }
    }

    /// Chain summary (needs `read_chain`).
    pub async fn get_blockchain_info(&self) -> Result<BlockchainInfo, ClientError> {
        match self.request(Request::GetBlockchainInfo).await? {
            ResponseBody::BlockchainInfo(info) => Ok(info),
            other => Err(unexpected("BlockchainInfo", &other)),
        }
    }

    /// Sync progress (needs `read_chain`).
    pub async fn get_sync_status(&self) -> Result<SyncStatus, ClientError> {
        match self.request(Request::GetSyncStatus).await? {
            ResponseBody::SyncStatus(status) => Ok(status),
            other => Err(unexpected("SyncStatus", &other)),
        }
    }

    /// Submits a hex transaction for mempool acceptance and relay; returns its txid (needs `submit_transactions`).
    pub async fn submit_transaction(&self, hex: impl Into<String>) -> Result<String, ClientError> {
        match self.request(Request::SubmitTransaction { hex: hex.into() }).await? {
            ResponseBody::Submitted { txid } => Ok(txid),
            other => Err(unexpected("Submitted", &other)),
        }
    }
}

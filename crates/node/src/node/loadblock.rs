//! `-loadblock`: the blocks of a file submitted in order after startup, streamed so a large
//! file never sits in memory, each with its context-free checks done ahead on the reader thread
//! (the path `import` takes, see [`crate::validation::prepared`]).

use super::runtime::Node;
use crate::chain::{BlockOutcome, ChainManager};
use crate::sync::lock;
use crate::validation::prepared::PreparedBlock;
use std::sync::Mutex;
use tokio::sync::{mpsc, watch};

/// Decoded blocks a `-loadblock` reader may hold ahead of block connection.
const LOADBLOCK_QUEUE: usize = 4;
impl Node {
    /// `-loadblock`: submits the blocks of one file in order. A blocking reader thread streams
    /// the file through a small channel (at most [`LOADBLOCK_QUEUE`] decoded blocks wait), so a
    /// large file never sits in memory and the async runtime never blocks on the disk; it also
    /// runs each block's context-free checks, which the chain manager then reuses.
    pub(super) async fn load_block_file(&self, path: &std::path::Path, stop: &mut watch::Receiver<bool>) -> Result<(), String> {
        let counted = path.to_path_buf();
        let total = tokio::task::spawn_blocking(move || crate::import::BlockFileReader::open(&counted)?.count_records())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let mut reader = crate::import::BlockFileReader::open(path).map_err(|e| e.to_string())?;
        let (tx, mut rx) = mpsc::channel(LOADBLOCK_QUEUE);
        let params = self.settings.params.clone();
        // Owned by this function: the thread ends at the end of the file or as soon as the
        // receiver below is dropped (stop, error or return).
        let feeder = tokio::task::spawn_blocking(move || {
            while let Some(item) = reader.next_with_raw() {
                let failed = item.is_err();
                let item = item.map(|(_, block, raw)| PreparedBlock::new(block, raw, &params));
                if tx.blocking_send(item).is_err() || failed {
                    break;
                }
            }
        });
        let genesis = self.settings.params.genesis_hash();
        let mut n = 0u64;
        let mut txs = 0u64;
        let mut done = 0u64;
        let mut meter = crate::progress::ProgressMeter::new("loadblock", self.settings.progress_interval);
        // The target is the height of the last submitted block plus the blocks left in the file.
        let snapshot = |chain: &Mutex<ChainManager>, last: Option<bitcoin::BlockHash>, done: u64, n: u64, txs: u64| {
            let c = lock(chain);
            let height = u64::from(c.height());
            let base = last.and_then(|h| c.entry(&h)).map(|e| u64::from(e.height)).unwrap_or(height);
            crate::progress::Snapshot {
                height,
                target: height.max(base + total.saturating_sub(done)),
                blocks: n,
                transactions: txs,
                cache_bytes: c.cache_usage(),
                fraction: None,
            }
        };
        let result = async {
            while let Some(item) = rx.recv().await {
                if *stop.borrow() {
                    break;
                }
                let prepared = item.map_err(|e| e.to_string())?;
                done += 1;
                let hash = prepared.facts.hash;
                if hash == genesis {
                    continue;
                }
                let n_tx = prepared.block.txdata.len() as u64;
                match self.submit_prepared(prepared).await.map_err(|e| e.to_string())? {
                    BlockOutcome::Invalid(r) => return Err(format!("invalid block: {r}")),
                    BlockOutcome::Orphan => return Err("block with unknown parent".into()),
                    BlockOutcome::Duplicate => {}
                    BlockOutcome::Accepted { .. } => {
                        n += 1;
                        txs += n_tx;
                    }
                }
                meter.tick(|| snapshot(&self.chain, Some(hash), done, n, txs));
            }
            Ok(())
        }
        .await;
        drop(rx);
        let _ = feeder.await;
        result?;
        meter.finish(&snapshot(&self.chain, None, total, n, txs));
        tracing::info!(blocks = n, file = %path.display(), "loaded blocks");
        Ok(())
    }
}

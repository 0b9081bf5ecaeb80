//! The engines under comparison, behind one small interface: submit a block, read the verdict
//! and the active tip. [`BlvmEngine`] wraps blvm-node's `ChainManager`; the Core engine
//! (feature `kernel`) lives in [`crate::kernel`].

use bitcoin::{Block, BlockHash};
use blvm_node::chain::{BlockOutcome, ChainManager, ChainSettings};
use blvm_node::params::ChainParams;

/// What an engine did with a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and now the active tip (or in the active chain).
    Connected,
    /// Accepted (stored) but not connected: a valid-looking side branch of no more work.
    Stored,
    /// Already known.
    Duplicate,
    /// Its parent is unknown.
    Orphan,
    /// Invalid.
    Rejected,
    /// The engine failed (I/O, corruption): never a consensus verdict, always reported.
    Error,
}

/// An engine's verdict plus its own explanation.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The verdict.
    pub verdict: Verdict,
    /// The engine's reject reason (Core's string where the engine gives one), or empty.
    pub reason: String,
}

impl Outcome {
    /// Whether the block was accepted (connected, stored or already known as valid).
    pub fn accepted(&self) -> bool {
        matches!(self.verdict, Verdict::Connected | Verdict::Stored | Verdict::Duplicate)
    }
}

/// A consensus engine driven block by block.
pub trait Engine {
    /// Short name for reports.
    fn name(&self) -> &'static str;
    /// Submits a block and reports what happened to it.
    fn submit(&mut self, block: &Block) -> Outcome;
    /// The active tip: hash and height.
    fn tip(&self) -> (BlockHash, u32);
}

/// blvm-node's chain engine on a regtest datadir in a temporary directory.
pub struct BlvmEngine {
    chain: ChainManager,
    _dir: tempfile::TempDir,
}

impl BlvmEngine {
    /// Opens a fresh regtest chain with `settings`.
    pub fn new(settings: ChainSettings) -> Result<BlvmEngine, Box<blvm_node::chain::ChainError>> {
        let dir = tempfile::tempdir().map_err(|e| Box::new(blvm_node::chain::ChainError::Corrupt(format!("tempdir: {e}"))))?;
        let chain = ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), dir.path(), settings).map_err(Box::new)?;
        Ok(BlvmEngine { chain, _dir: dir })
    }

    /// The settings the differential tests use: small cache, two script threads.
    pub fn default_settings() -> ChainSettings {
        ChainSettings {
            dbcache_bytes: 32 << 20,
            script_threads: 2,
            ..Default::default()
        }
    }

    /// The wrapped chain manager.
    pub fn chain(&mut self) -> &mut ChainManager {
        &mut self.chain
    }
}

impl Engine for BlvmEngine {
    fn name(&self) -> &'static str {
        "blvm"
    }

    fn submit(&mut self, block: &Block) -> Outcome {
        match self.chain.process_block(block) {
            Ok(BlockOutcome::Accepted { connected: true }) => Outcome {
                verdict: Verdict::Connected,
                reason: String::new(),
            },
            Ok(BlockOutcome::Accepted { connected: false }) => Outcome {
                verdict: Verdict::Stored,
                reason: String::new(),
            },
            Ok(BlockOutcome::Duplicate) => Outcome {
                verdict: Verdict::Duplicate,
                reason: String::new(),
            },
            Ok(BlockOutcome::Orphan) => Outcome {
                verdict: Verdict::Orphan,
                reason: "prev-blk-not-found".into(),
            },
            Ok(BlockOutcome::Invalid(r)) => Outcome {
                verdict: Verdict::Rejected,
                reason: format!("{} ({})", r.reason, r.detail),
            },
            Err(e) => Outcome {
                verdict: Verdict::Error,
                reason: format!("engine error: {e}"),
            },
        }
    }

    fn tip(&self) -> (BlockHash, u32) {
        let t = self.chain.tip();
        (t.hash, t.height)
    }
}

//! The chain manager: block index, active chain, UTXO cache and best-chain activation.

use super::active::ActiveChain;
use super::error::ChainError;
use super::events::{ChainNotification, FlushReason, FlushReport};
use super::filterindex::PendingFilters;
use super::index::{status, BlockIndexEntry};
use super::txindex::PendingTxIndex;
use super::versionbits::{DeploymentInfo, ThresholdState, VersionBits, VersionChain};
use crate::chainstate::cache::BlockView;
use crate::chainstate::coin::is_unspendable;
use crate::chainstate::stats::{compute_utxo_stats, UtxoStats};
use crate::chainstate::undo::BlockUndo;
use crate::chainstate::Coin;
use crate::params::{ChainParams, BIP34_IMPLIES_BIP30_LIMIT};
use crate::store::block_files::{BlockFiles, FilePos, DEFAULT_MAX_FILE_SIZE};
use crate::store::db::{ChainDb, FlushBatch};
use crate::validation::block_check::{
    check_block, check_block_body, check_proof_of_work, contextual_check_block, contextual_check_block_with,
};
use crate::validation::check_queue::ScriptCheckQueue;
use crate::validation::header_check::{contextual_check_header, median_time, ParentContext};
use crate::validation::locks::{sequence_lock, sequence_lock_satisfied};
use crate::validation::pow::next_work_required;
use crate::validation::script_cache::{ScriptCache, DEFAULT_MAX_SIG_CACHE_MIB};
use crate::validation::scripts::{block_script_flags, VERIFY_P2SH, VERIFY_WITNESS};
use crate::validation::sigops::{sigop_cost, MAX_BLOCK_SIGOPS_COST};
use crate::validation::Reject;
use bitcoin::block::Header;
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::{Block, BlockHash, OutPoint, TxOut, Work};
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Blocks at the tip that pruning never deletes (as Core's MIN_BLOCKS_TO_KEEP).
pub const MIN_BLOCKS_TO_KEEP: u32 = 288;

/// What a prune did.
#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    /// Block/undo file pairs deleted.
    pub files_deleted: u32,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// Blocks whose data was deleted.
    pub blocks_pruned: u32,
    /// Highest height whose data was deleted.
    pub prune_height: u32,
    /// Every block from this height up is kept.
    pub kept_from_height: u32,
    /// Names of the block and undo files deleted (`blk00000.dat`, `rev00000.dat`, ...).
    pub deleted_files: Vec<String>,
}

/// Coinbase outputs can be spent only after this many confirmations.
pub use bitcoin::constants::COINBASE_MATURITY;
const META_BEST_BLOCK: &str = "best_block";
const META_SCAN_POS: &str = "blockfile_scan";

/// Tunables of the chain engine.
#[derive(Debug, Clone)]
pub struct ChainSettings {
    /// Coins cache budget in bytes (`-dbcache`); exceeding it triggers a flush.
    pub dbcache_bytes: usize,
    /// Threads used for script verification.
    pub script_threads: usize,
    /// `-prevoutfetchthreads`: threads reading a block's input coins from the database ahead
    /// of validation (0: none; see [`crate::chainstate::prefetch`]).
    pub prevout_fetch_threads: usize,
    /// Size at which a new block file is started.
    pub max_block_file_size: u64,
    /// Current UNIX time, for the time-too-new rule (overridable in tests).
    pub clock: fn() -> i64,
    /// Confirmations a coinbase output needs before it can be spent. Always
    /// [`COINBASE_MATURITY`] in real use; a test-only hook so the differential oracle can prove
    /// it detects a broken rule (crates/kernel-oracle, tests/broken_rule.rs).
    #[doc(hidden)]
    pub coinbase_maturity: u32,
    /// Maintain the transaction index (`-txindex`).
    pub txindex: bool,
    /// Maintain the basic block filter index (`-blockfilterindex`).
    pub blockfilterindex: bool,
    /// Maintain the coin statistics index (`-coinstatsindex`).
    pub coinstatsindex: bool,
    /// `-reindex`/`-reindex-chainstate`: rebuild the chainstate (and with `-reindex` the
    /// indexes kept apart from it) from the block files.
    pub reindex: Reindex,
    /// Bytes of the script execution cache (half of `-maxsigcachesize`, as Core).
    pub script_cache_bytes: usize,
    /// `-assumevalid`: scripts of this block's ancestors may be skipped (None: check all).
    pub assume_valid: Option<BlockHash>,
    /// `-minimumchainwork`: the best header needs this much work before scripts are skipped.
    pub minimum_chain_work: Work,
    /// `-checkblocks`: how many of the last blocks startup verifies (0: all).
    pub check_blocks: u32,
    /// `-checklevel`: how thoroughly (see [`ChainManager::verify_recent`]).
    pub check_level: u32,
    /// `-blocksdir`: base of the blocks directory instead of the datadir (see
    /// [`crate::datadir::blocks_dir`]).
    pub blocksdir: Option<PathBuf>,
    /// `-blocksxor`: obfuscate the files of a new blocks directory (Core's default: on).
    pub blocks_xor: bool,
    /// `-prune`: off, manual (`pruneblockchain` only) or automatic with a target size.
    pub prune: autoprune::PruneMode,
}

impl ChainSettings {
    /// The blocks directory of the chain in `net_dir` on `params`' network.
    pub fn blocks_dir(&self, net_dir: &Path, params: &ChainParams) -> PathBuf {
        crate::datadir::blocks_dir(net_dir, self.blocksdir.as_deref(), params.data_subdir)
    }
}

impl Default for ChainSettings {
    fn default() -> Self {
        ChainSettings {
            dbcache_bytes: 450 * 1024 * 1024,
            script_threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            prevout_fetch_threads: crate::chainstate::prefetch::DEFAULT_PREVOUTFETCH_THREADS,
            max_block_file_size: DEFAULT_MAX_FILE_SIZE,
            clock: crate::clock::unix_now,
            coinbase_maturity: COINBASE_MATURITY,
            txindex: false,
            blockfilterindex: false,
            coinstatsindex: false,
            reindex: Reindex::No,
            script_cache_bytes: ScriptCache::bytes_for_max_sig_cache_mib(DEFAULT_MAX_SIG_CACHE_MIB),
            assume_valid: None,
            minimum_chain_work: Work::from_be_bytes([0; 32]),
            check_blocks: super::verify::DEFAULT_CHECKBLOCKS,
            check_level: super::verify::DEFAULT_CHECKLEVEL,
            blocksdir: None,
            blocks_xor: true,
            prune: autoprune::PruneMode::Off,
        }
    }
}

/// What happened to a block handed to [`ChainManager::process_block`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockOutcome {
    /// Stored; `connected` tells whether it joined the active chain (false for a side branch,
    /// and for a pruned block of the active chain stored again).
    Accepted {
        /// The block ended up in the active chain.
        connected: bool,
    },
    /// We already had this block.
    Duplicate,
    /// Its parent is unknown.
    Orphan,
    /// It breaks a consensus rule.
    Invalid(Reject),
}

/// Core's warning text for an invalid chain with much more work than the tip.
pub const LARGE_WORK_INVALID_CHAIN: &str = "Warning: Found invalid chain more than 6 blocks longer than our best chain. This could be due to database corruption or consensus incompatibility with peers.";

/// What a block that passed every connect rule changes (see `check_connect`).
struct ConnectChecked {
    /// The block's changes, already applied to the coins cache (while its scripts were still
    /// being checked); revert them to leave the chainstate as it was.
    applied: crate::chainstate::cache::Applied,
    /// The block's undo data, encoded for the undo file.
    undo: Vec<u8>,
    /// The same undo data unencoded, kept only when the coin statistics index needs it.
    undo_kept: Option<BlockUndo>,
    spent_all: Vec<Vec<TxOut>>,
}

/// The chain engine for one datadir.
pub struct ChainManager {
    params: ChainParams,
    settings: ChainSettings,
    /// The network's datadir (`chainstate/`, `chainstate_snapshot/`).
    net_dir: PathBuf,
    /// Shared with the background flush writer thread.
    db: std::sync::Arc<ChainDb>,
    files: BlockFiles,
    index: HashMap<BlockHash, BlockIndexEntry>,
    linked: HashSet<BlockHash>,
    unlinked: HashMap<BlockHash, Vec<BlockHash>>,
    candidates: BTreeSet<(Work, Reverse<i64>, BlockHash)>,
    /// The chainstate the node serves (RPC, mempool, templates).
    cs: chainstate::Chainstate,
    /// The chainstate validating the blocks below a snapshot's base, while the current one is
    /// a snapshot chainstate not yet validated (its coins in the main database).
    historical: Option<chainstate::Chainstate>,
    dirty_index: HashSet<BlockHash>,
    next_sequence: i64,
    /// The next `preciousblock` sequence (negative, decreasing) and the tip work it was set at.
    precious: (i64, Work),
    notifications: Vec<ChainNotification>,
    flush_reports: Vec<FlushReport>,
    warnings: Vec<String>,
    large_work_invalid_warned: bool,
    last_flush: Instant,
    last_reject: Option<Reject>,
    txindex: Option<PendingTxIndex>,
    filters: Option<PendingFilters>,
    coinstats: Option<super::coinstatsindex::CoinStatsIndex>,
    coinstats_db: Option<crate::store::index_db::IndexDb>,
    versionbits: Mutex<VersionBits>,
    warned_unknown_bits: HashSet<u8>,
    script_cache: ScriptCache,
    /// Persistent script-check threads (`-par` - 1), stopped when the manager is dropped.
    script_queue: ScriptCheckQueue,
    /// Prevout prefetch threads (`-prevoutfetchthreads`), stopped when the manager is dropped.
    prefetch: crate::chainstate::prefetch::PrevoutFetcher,
    best_header: BlockHash,
    assume_valid: assume_valid::AssumeValidState,
    /// Height of the highest pruned block, kept as blocks are pruned (or fetched again) so
    /// RPC and startup never scan the index for it.
    prune_height: Option<u32>,
    /// Told when the chainstate cannot be written (see [`FatalHandler`]).
    fatal: Option<FatalHandler>,
    /// The background flush (writer thread, frozen generation's records).
    bg: bgflush::BgFlush,
    /// Results computed ahead for the block [`ChainManager::process_prepared`] is processing.
    prepared: Option<crate::validation::prepared::BlockFacts>,
}

/// Called with the reason when the chainstate cannot be made durable (a failed flush), so the
/// node stops whichever caller hit it (Core's kernel `fatalError` notification).
pub type FatalHandler = Box<dyn Fn(&str) + Send + Sync>;

impl ChainManager {
    /// Opens the chain in `net_dir` (database in `chainstate/`, blocks in `blocks/` or under
    /// `-blocksdir`), creating the
    /// genesis state on first use and replaying any blocks stored after the last flush.
    pub fn open(params: ChainParams, net_dir: &Path, settings: ChainSettings) -> Result<Self, ChainError> {
        if settings.reindex != Reindex::No {
            wipe_chainstate(&net_dir.join("chainstate"))?;
        }
        let db = std::sync::Arc::new(ChainDb::open(&net_dir.join("chainstate"))?);
        let files = BlockFiles::open(
            &settings.blocks_dir(net_dir, &params),
            params.magic(),
            settings.max_block_file_size,
            settings.blocks_xor,
        )?;
        let versionbits = Mutex::new(VersionBits::new(params.network));
        let script_cache = ScriptCache::with_bytes(settings.script_cache_bytes);
        let script_queue = ScriptCheckQueue::new(settings.script_threads);
        let settings_prefetch = settings.prevout_fetch_threads;
        let mut cm = ChainManager {
            params,
            settings,
            net_dir: net_dir.to_path_buf(),
            db,
            files,
            index: HashMap::new(),
            linked: HashSet::new(),
            unlinked: HashMap::new(),
            candidates: BTreeSet::new(),
            cs: chainstate::Chainstate::main(),
            historical: None,
            dirty_index: HashSet::new(),
            next_sequence: 1,
            precious: (-1, Work::from_be_bytes([0; 32])),
            notifications: Vec::new(),
            flush_reports: Vec::new(),
            warnings: Vec::new(),
            large_work_invalid_warned: false,
            last_flush: Instant::now(),
            last_reject: None,
            versionbits,
            warned_unknown_bits: HashSet::new(),
            txindex: None,
            filters: None,
            coinstats: None,
            coinstats_db: None,
            script_cache,
            script_queue,
            prefetch: crate::chainstate::prefetch::PrevoutFetcher::new(settings_prefetch),
            fatal: None,
            best_header: BlockHash::all_zeros(),
            assume_valid: Default::default(),
            prune_height: None,
            bg: Default::default(),
            prepared: None,
        };
        cm.load()?;
        // The indexes follow the validated chainstate (the historical one while a snapshot is
        // validated in the background), as Core's.
        cm.with_validated_chainstate(|cm| {
            if cm.settings.txindex {
                cm.sync_txindex()?;
            }
            if cm.settings.blockfilterindex {
                cm.sync_filters()?;
            }
            if cm.settings.coinstatsindex {
                cm.open_coinstats(net_dir, cm.settings.reindex == Reindex::Full)?;
            }
            Ok::<_, ChainError>(())
        })?;
        Ok(cm)
    }

    fn corrupt(&self, what: String) -> ChainError {
        ChainError::Corrupt(format!("{}: {what}", self.db.path().display()))
    }

    fn load(&mut self) -> Result<(), ChainError> {
        for (key, bytes) in self.db.load_index()? {
            let entry = BlockIndexEntry::decode(&bytes).map_err(|e| self.corrupt(format!("block index: {e}")))?;
            if entry.hash.to_byte_array() != key {
                return Err(self.corrupt(format!("block index key does not match header {}", entry.hash)));
            }
            if entry.status & status::PRUNED != 0 {
                self.prune_height = self.prune_height.max(Some(entry.height));
            }
            self.index.insert(entry.hash, entry);
        }
        if self.index.is_empty() {
            self.init_genesis()?;
            self.best_header = self.params.genesis_hash();
        } else {
            self.recompute_best_header();
            let best = self
                .db
                .get_meta(META_BEST_BLOCK)?
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .map(BlockHash::from_byte_array)
                .ok_or_else(|| self.corrupt("missing best block marker".into()))?;
            self.rebuild_active(best)?;
            self.reopen_snapshot_chainstate()?;
        }
        self.rebuild_links();
        self.replay_block_files()?;
        Ok(())
    }

    fn init_genesis(&mut self) -> Result<(), ChainError> {
        let genesis = self.params.genesis();
        let hash = genesis.block_hash();
        let pos = self.files.write_block(serialize(&genesis))?;
        let entry = BlockIndexEntry {
            header: genesis.header,
            hash,
            height: 0,
            chainwork: genesis.header.work(),
            status: status::HAVE_DATA | status::VALID_SCRIPTS,
            n_tx: genesis.txdata.len() as u32,
            data_pos: Some(pos),
            undo_pos: None,
            sequence: 0,
        };
        self.index.insert(hash, entry);
        self.dirty_index.insert(hash);
        self.cs.active = ActiveChain::from_blocks([(hash, genesis.txdata.len() as u32)]);
        self.flush(FlushReason::Manual)?;
        Ok(())
    }

    fn rebuild_active(&mut self, best: BlockHash) -> Result<(), ChainError> {
        let chain = self.chain_to(best)?;
        let index = &self.index;
        self.cs.active = ActiveChain::from_blocks(chain.into_iter().map(|h| (h, index.get(&h).map_or(0, |e| e.n_tx))));
        Ok(())
    }

    /// The blocks from this network's genesis to `tip`, genesis first, from the block index.
    fn chain_to(&self, tip: BlockHash) -> Result<Vec<BlockHash>, ChainError> {
        let mut chain = Vec::new();
        let mut cur = Some(tip);
        while let Some(h) = cur {
            let e = self
                .index
                .get(&h)
                .ok_or_else(|| ChainError::Corrupt(format!("best chain references unknown block {h}")))?;
            chain.push(h);
            cur = if e.height == 0 { None } else { Some(e.header.prev_blockhash) };
        }
        chain.reverse();
        if chain.first() != Some(&self.params.genesis_hash()) {
            return Err(self.corrupt("best chain does not start at this network's genesis".into()));
        }
        Ok(chain)
    }

    fn rebuild_links(&mut self) {
        self.linked.clear();
        self.unlinked.clear();
        self.candidates.clear();
        for h in self.cs.active.iter() {
            self.linked.insert(*h);
        }
        let mut by_height: Vec<(u32, BlockHash)> = self.index.values().map(|e| (e.height, e.hash)).collect();
        by_height.sort();
        for (_, h) in by_height {
            if self.linked.contains(&h) {
                continue;
            }
            if let Some(e) = self.index.get(&h) {
                if e.have_data() && !e.is_failed() {
                    self.try_link(h);
                }
            }
        }
        if let Some(tip) = self.cs.active.last().copied() {
            if let Some(e) = self.index.get(&tip) {
                self.candidates.insert((e.chainwork, Reverse(e.sequence), tip));
            }
        }
    }

    /// Marks `h` (which has data) as linked if its parent is, then links waiting children.
    fn try_link(&mut self, h: BlockHash) {
        let Some(e) = self.index.get(&h) else { return };
        let parent = e.header.prev_blockhash;
        if e.height > 0 && !self.linked.contains(&parent) {
            self.unlinked.entry(parent).or_default().push(h);
            return;
        }
        let mut stack = vec![h];
        while let Some(x) = stack.pop() {
            self.linked.insert(x);
            if let Some(e) = self.index.get(&x) {
                if !e.is_failed() {
                    self.candidates.insert((e.chainwork, Reverse(e.sequence), x));
                }
            }
            if let Some(children) = self.unlinked.remove(&x) {
                stack.extend(children);
            }
        }
    }

    /// Re-indexes blocks written to the block files after the last flush (crash recovery).
    fn replay_block_files(&mut self) -> Result<(), ChainError> {
        // A reindex scans every block file from the start.
        let scan_pos = match self.settings.reindex {
            Reindex::No => self.db.get_meta(META_SCAN_POS)?,
            _ => None,
        };
        let (mut file, mut offset) = match scan_pos {
            Some(b) if b.len() == 12 => {
                let mut f = [0u8; 4];
                f.copy_from_slice(&b[..4]);
                let mut o = [0u8; 8];
                o.copy_from_slice(&b[4..]);
                (u32::from_le_bytes(f), u64::from_le_bytes(o))
            }
            _ => (0, 0),
        };
        let mut replayed = 0usize;
        let mut waiting = reindex::Waiting::default();
        loop {
            if !self.files.block_path(file).exists() {
                break;
            }
            for (pos, bytes) in self.files.scan_blocks_from(file, offset)? {
                let block: Block = match deserialize(&bytes) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(file = %self.files.block_path(file).display(), offset = pos.offset, "skipping undecodable block record: {e}");
                        continue;
                    }
                };
                if self.index.get(&block.block_hash()).map(|e| e.have_data()).unwrap_or(false) {
                    continue;
                }
                replayed += self.replay_record(&block, pos, &mut waiting)?;
            }
            file += 1;
            offset = 0;
        }
        if replayed > 0 {
            tracing::info!(blocks = replayed, "re-indexed blocks stored after the last flush");
        }
        if self.settings.reindex != Reindex::No {
            tracing::info!(blocks = replayed, "Reindexing finished");
        }
        self.activate_best_chain(None)?;
        Ok(())
    }

    /// The script execution cache: transactions whose scripts passed under given flags.
    pub fn script_cache(&self) -> &ScriptCache {
        &self.script_cache
    }

    /// Blocks before a coinbase output may be spent (the mempool checks with the chain's).
    pub fn coinbase_maturity(&self) -> u32 {
        self.settings.coinbase_maturity
    }

    /// The coins cache budget (`-dbcache`), reported by `getchainstates`.
    pub fn dbcache_bytes(&self) -> usize {
        self.settings.dbcache_bytes
    }

    /// Network parameters in use.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// The active tip.
    pub fn tip(&self) -> &BlockIndexEntry {
        // The active chain always holds at least genesis.
        let h = self.cs.active.last().copied().unwrap_or_else(BlockHash::all_zeros);
        &self.index[&h]
    }

    /// Height of the active tip.
    pub fn height(&self) -> u32 {
        (self.cs.active.len() as u32).saturating_sub(1)
    }

    /// Hash of the active block at `height`.
    pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
        self.cs.active.get(height as usize).copied()
    }

    /// Index entry of any known block.
    pub fn entry(&self, hash: &BlockHash) -> Option<&BlockIndexEntry> {
        self.index.get(hash)
    }

    /// Whether `hash` is in the active chain.
    pub fn is_active(&self, hash: &BlockHash) -> bool {
        self.index
            .get(hash)
            .map(|e| self.cs.active.get(e.height as usize) == Some(hash))
            .unwrap_or(false)
    }

    /// Every known block index entry (for getchaintips and friends).
    pub fn entries(&self) -> impl Iterator<Item = &BlockIndexEntry> {
        self.index.values()
    }

    /// Reads a stored block.
    pub fn read_block(&self, hash: &BlockHash) -> Result<Option<Block>, ChainError> {
        let Some(pos) = self.index.get(hash).and_then(|e| if e.have_data() { e.data_pos } else { None }) else {
            return Ok(None);
        };
        let bytes = self.files.read_block(pos)?;
        let block: Block = deserialize(&bytes).map_err(|e| {
            ChainError::Corrupt(format!(
                "{}: block {hash} at offset {}: {e}",
                self.files.block_path(pos.file).display(),
                pos.offset
            ))
        })?;
        Ok(Some(block))
    }

    /// The unspent coin at `op` in the current chainstate.
    pub fn get_coin(&mut self, op: &OutPoint) -> Result<Option<Coin>, ChainError> {
        let reader = self.cs.coins_db(&self.db).coin_reader()?;
        let path = self.cs.coins_db(&self.db).path().to_path_buf();
        Ok(self.cs.coins.get(op, &reader, &path)?)
    }

    /// Takes the chain changes accumulated since the last call.
    pub fn take_notifications(&mut self) -> Vec<ChainNotification> {
        std::mem::take(&mut self.notifications)
    }

    /// Core's ComputeBlockVersion: the header version of a new block on the active tip.
    pub fn next_block_version(&self) -> i32 {
        let tip = self.tip().hash;
        self.versionbits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .block_version(self, Some(tip))
    }

    /// The BIP9 deployments as they stand at the known block `hash` (getdeploymentinfo).
    pub fn deployment_info(&self, hash: &BlockHash) -> Vec<DeploymentInfo> {
        let prev = self.parent_of(hash);
        let mut vb = crate::sync::lock(&self.versionbits);
        (0..vb.deployments().len())
            .map(|i| {
                let state = vb.state(self, i, prev);
                let signalling = matches!(state, ThresholdState::Started | ThresholdState::LockedIn);
                DeploymentInfo {
                    deployment: vb.deployments()[i],
                    state,
                    next: vb.state(self, i, Some(*hash)),
                    since: vb.since_height(self, i, prev),
                    statistics: signalling.then(|| vb.statistics(self, i, hash)),
                }
            })
            .collect()
    }

    /// Core's UpdateTip check outside initial block download: an unknown deployment that has
    /// activated raises "Unknown new rules activated (versionbit N)" once (queued with the other
    /// warnings); one only locked in is logged.
    pub fn check_unknown_rules(&mut self) {
        let tip = self.tip().hash;
        let found = self
            .versionbits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unknown_activations(&*self, &tip);
        for (bit, active) in found {
            if !active {
                tracing::warn!(target: "blvm::validation", "Warning: unknown new rules are about to activate (versionbit {bit})");
            } else if self.warned_unknown_bits.insert(bit) {
                self.warnings.push(format!("Unknown new rules activated (versionbit {bit})"));
            }
        }
    }

    /// Takes the warnings for the operator raised since the last call (Core's alerts).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Installs the handler told about failures that leave the chainstate unwritable.
    pub fn set_fatal_handler(&mut self, handler: FatalHandler) {
        self.fatal = Some(handler);
    }

    /// Takes the reports of flushes the engine ran on its own (cache full).
    pub fn take_flush_reports(&mut self) -> Vec<FlushReport> {
        std::mem::take(&mut self.flush_reports)
    }

    /// Approximate bytes used by the coins cache.
    pub fn cache_usage(&self) -> usize {
        self.cs.coins.memory_usage()
            + self.txindex.as_ref().map_or(0, |t| t.memory_usage())
            + self.filters.as_ref().map_or(0, |f| f.memory_usage())
            + self.coinstats.as_ref().map_or(0, |c| c.memory_usage())
    }

    /// Time since the last successful flush.
    pub fn since_last_flush(&self) -> Duration {
        self.last_flush.elapsed()
    }

    /// Directory of the block files.
    pub fn blocks_dir(&self) -> PathBuf {
        self.files.dir().to_path_buf()
    }

    /// Path of the chain database.
    pub fn db_path(&self) -> PathBuf {
        self.db.path().to_path_buf()
    }

    /// Median time past of the active block at `height`.
    pub fn mtp_at(&self, height: u32) -> i64 {
        match self.hash_at(height) {
            Some(h) => self.median_time_past(&h),
            None => 0,
        }
    }

    /// Median time past of the block `hash` (its own and up to 10 ancestors' timestamps).
    pub fn median_time_past(&self, hash: &BlockHash) -> i64 {
        let mut times = Vec::with_capacity(11);
        let mut cur = self.index.get(hash);
        while let Some(e) = cur {
            times.push(e.header.time);
            if times.len() == 11 || e.height == 0 {
                break;
            }
            cur = self.index.get(&e.header.prev_blockhash);
        }
        median_time(times)
    }

    /// Ancestor of `hash` at `height` (walks back until it meets the active chain).
    pub fn ancestor(&self, hash: &BlockHash, height: u32) -> Option<&BlockIndexEntry> {
        let mut e = self.index.get(hash)?;
        if height > e.height {
            return None;
        }
        loop {
            if e.height == height {
                return Some(e);
            }
            if self.cs.active.get(e.height as usize) == Some(&e.hash) {
                return self.cs.active.get(height as usize).and_then(|h| self.index.get(h));
            }
            e = self.index.get(&e.header.prev_blockhash)?;
        }
    }

    /// Disconnects the tip on the way to another chain; a failure there is fatal (logged
    /// here as Core's "DisconnectTip failed").
    fn disconnect_tip_or_stop(&mut self) -> Result<BlockHash, ChainError> {
        self.disconnect_tip().map_err(|cause| {
            tracing::error!("DisconnectTip failed: {cause}");
            ChainError::disconnect_failed(cause)
        })
    }

    /// The last block `hash` shares with the active chain (Core's `FindFork`), in one walk
    /// back along the branch.
    pub fn fork_point(&self, hash: &BlockHash) -> Option<&BlockIndexEntry> {
        let mut e = self.index.get(hash)?;
        while self.cs.active.get(e.height as usize) != Some(&e.hash) {
            e = self.index.get(&e.header.prev_blockhash)?;
        }
        Some(e)
    }
}

#[cfg(test)]
mod prefetch_tests;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod prepared_tests;
#[cfg(test)]
mod writer_crash_tests;

mod selection;

mod connect;

mod flush;

mod bgflush;

mod txindex_sync;

mod coinstats_sync;
mod filterindex_sync;
mod reindex;
pub use coinstats_sync::coinstats_dir;
pub use reindex::{wipe_chainstate, Reindex};

mod verification_progress;

mod assume_valid;

pub mod autoprune;

mod snapshot_view;

mod chainstate;

mod snapshot_chainstate;

mod snapshot_cleanup;
/// Work expressed as time, for callers outside the engine (stale-block serving rules).
pub use assume_valid::proof_equivalent_time;
pub use snapshot_chainstate::{ActivatedSnapshot, SNAPSHOT_CHAINSTATE_DIR};
pub use snapshot_view::{SnapshotViewError, UtxoSetView};

impl VersionChain for ChainManager {
    fn height_of(&self, hash: &BlockHash) -> Option<u32> {
        self.index.get(hash).map(|e| e.height)
    }
    fn version_of(&self, hash: &BlockHash) -> i32 {
        self.index.get(hash).map_or(0, |e| e.header.version.to_consensus())
    }
    fn parent_of(&self, hash: &BlockHash) -> Option<BlockHash> {
        self.index.get(hash).filter(|e| e.height > 0).map(|e| e.header.prev_blockhash)
    }
    fn ancestor_of(&self, hash: &BlockHash, height: u32) -> Option<BlockHash> {
        self.ancestor(hash, height).map(|e| e.hash)
    }
    fn mtp_of(&self, hash: &BlockHash) -> i64 {
        self.median_time_past(hash)
    }
}

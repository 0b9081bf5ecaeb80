//! The chain manager: block index, active chain, UTXO cache and best-chain activation.

use super::active::ActiveChain;
use super::error::ChainError;
use super::events::{ChainNotification, FlushReason, FlushReport};
use super::filterindex::PendingFilters;
use super::index::{status, BlockIndexEntry};
use super::txindex::PendingTxIndex;
use super::versionbits::{DeploymentInfo, ThresholdState, VersionBits, VersionChain};
use crate::chainstate::cache::{BlockView, CoinsCache};
use crate::chainstate::coin::is_unspendable;
use crate::chainstate::stats::{compute_utxo_stats, UtxoStats};
use crate::chainstate::undo::BlockUndo;
use crate::chainstate::Coin;
use crate::params::{ChainParams, BIP34_IMPLIES_BIP30_LIMIT};
use crate::store::block_files::{BlockFiles, FilePos, DEFAULT_MAX_FILE_SIZE};
use crate::store::db::{ChainDb, FlushBatch};
use crate::validation::block_check::{check_block, check_block_body, check_proof_of_work, contextual_check_block};
use crate::validation::header_check::{contextual_check_header, median_time, ParentContext};
use crate::validation::locks::{sequence_lock, sequence_lock_satisfied};
use crate::validation::pow::next_work_required;
use crate::validation::script_cache::{ScriptCache, DEFAULT_MAX_SIG_CACHE_MIB};
use crate::validation::scripts::{block_script_flags, verify_block_scripts_except, VERIFY_P2SH, VERIFY_WITNESS};
use crate::validation::sigops::{sigop_cost, MAX_BLOCK_SIGOPS_COST};
use crate::validation::tx_check::MAX_MONEY;
use crate::validation::tx_inputs::check_tx_inputs;
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
            max_block_file_size: DEFAULT_MAX_FILE_SIZE,
            clock: crate::clock::unix_now,
            coinbase_maturity: COINBASE_MATURITY,
            txindex: false,
            blockfilterindex: false,
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
    changes: HashMap<OutPoint, crate::chainstate::cache::ViewEntry>,
    undo: BlockUndo,
    spent_all: Vec<Vec<TxOut>>,
}

/// The chain engine for one datadir.
pub struct ChainManager {
    params: ChainParams,
    settings: ChainSettings,
    db: ChainDb,
    files: BlockFiles,
    index: HashMap<BlockHash, BlockIndexEntry>,
    linked: HashSet<BlockHash>,
    unlinked: HashMap<BlockHash, Vec<BlockHash>>,
    candidates: BTreeSet<(Work, Reverse<i64>, BlockHash)>,
    active: ActiveChain,
    coins: CoinsCache,
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
    versionbits: Mutex<VersionBits>,
    warned_unknown_bits: HashSet<u8>,
    script_cache: ScriptCache,
    best_header: BlockHash,
    assume_valid: assume_valid::AssumeValidState,
    /// Height of the highest pruned block, kept as blocks are pruned (or fetched again) so
    /// RPC and startup never scan the index for it.
    prune_height: Option<u32>,
    /// Told when the chainstate cannot be written (see [`FatalHandler`]).
    fatal: Option<FatalHandler>,
}

/// Called with the reason when the chainstate cannot be made durable (a failed flush), so the
/// node stops whichever caller hit it (Core's kernel `fatalError` notification).
pub type FatalHandler = Box<dyn Fn(&str) + Send + Sync>;

impl ChainManager {
    /// Opens the chain in `net_dir` (database in `chainstate/`, blocks in `blocks/` or under
    /// `-blocksdir`), creating the
    /// genesis state on first use and replaying any blocks stored after the last flush.
    pub fn open(params: ChainParams, net_dir: &Path, settings: ChainSettings) -> Result<Self, ChainError> {
        let db = ChainDb::open(&net_dir.join("chainstate").join("chain.redb"))?;
        let files = BlockFiles::open(
            &settings.blocks_dir(net_dir, &params),
            params.magic(),
            settings.max_block_file_size,
            settings.blocks_xor,
        )?;
        let versionbits = Mutex::new(VersionBits::new(params.network));
        let script_cache = ScriptCache::with_bytes(settings.script_cache_bytes);
        let mut cm = ChainManager {
            params,
            settings,
            db,
            files,
            index: HashMap::new(),
            linked: HashSet::new(),
            unlinked: HashMap::new(),
            candidates: BTreeSet::new(),
            active: ActiveChain::default(),
            coins: CoinsCache::default(),
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
            script_cache,
            fatal: None,
            best_header: BlockHash::all_zeros(),
            assume_valid: Default::default(),
            prune_height: None,
        };
        cm.load()?;
        if cm.settings.txindex {
            cm.sync_txindex()?;
        }
        if cm.settings.blockfilterindex {
            cm.sync_filters()?;
        }
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
            self.best_header = self.params.genesis().block_hash();
        } else {
            self.recompute_best_header();
            let best = self
                .db
                .get_meta(META_BEST_BLOCK)?
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .map(BlockHash::from_byte_array)
                .ok_or_else(|| self.corrupt("missing best block marker".into()))?;
            self.rebuild_active(best)?;
        }
        self.rebuild_links();
        self.replay_block_files()?;
        Ok(())
    }

    fn init_genesis(&mut self) -> Result<(), ChainError> {
        let genesis = self.params.genesis();
        let hash = genesis.block_hash();
        let pos = self.files.write_block(&serialize(&genesis))?;
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
        self.active = ActiveChain::from_blocks([(hash, genesis.txdata.len() as u32)]);
        self.flush(FlushReason::Manual)?;
        Ok(())
    }

    fn rebuild_active(&mut self, best: BlockHash) -> Result<(), ChainError> {
        let mut chain = Vec::new();
        let mut cur = Some(best);
        while let Some(h) = cur {
            let e = self
                .index
                .get(&h)
                .ok_or_else(|| ChainError::Corrupt(format!("best chain references unknown block {h}")))?;
            chain.push(h);
            cur = if e.height == 0 { None } else { Some(e.header.prev_blockhash) };
        }
        chain.reverse();
        if chain.first() != Some(&self.params.genesis().block_hash()) {
            return Err(self.corrupt("best chain does not start at this network's genesis".into()));
        }
        let index = &self.index;
        self.active = ActiveChain::from_blocks(chain.into_iter().map(|h| (h, index.get(&h).map_or(0, |e| e.n_tx))));
        Ok(())
    }

    fn rebuild_links(&mut self) {
        self.linked.clear();
        self.unlinked.clear();
        self.candidates.clear();
        for h in self.active.iter() {
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
        if let Some(tip) = self.active.last().copied() {
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
        let (mut file, mut offset) = match self.db.get_meta(META_SCAN_POS)? {
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
                if let BlockOutcome::Accepted { .. } = self.accept_block(&block, Some(pos))? {
                    replayed += 1;
                }
            }
            file += 1;
            offset = 0;
        }
        if replayed > 0 {
            tracing::info!(blocks = replayed, "re-indexed blocks stored after the last flush");
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

    /// Network parameters in use.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// The active tip.
    pub fn tip(&self) -> &BlockIndexEntry {
        // The active chain always holds at least genesis.
        let h = self.active.last().copied().unwrap_or_else(BlockHash::all_zeros);
        &self.index[&h]
    }

    /// Height of the active tip.
    pub fn height(&self) -> u32 {
        (self.active.len() as u32).saturating_sub(1)
    }

    /// Hash of the active block at `height`.
    pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
        self.active.get(height as usize).copied()
    }

    /// Index entry of any known block.
    pub fn entry(&self, hash: &BlockHash) -> Option<&BlockIndexEntry> {
        self.index.get(hash)
    }

    /// Whether `hash` is in the active chain.
    pub fn is_active(&self, hash: &BlockHash) -> bool {
        self.index
            .get(hash)
            .map(|e| self.active.get(e.height as usize) == Some(hash))
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
        let reader = self.db.coin_reader()?;
        let path = self.db.path().to_path_buf();
        Ok(self.coins.get(op, &reader, &path)?)
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
        let mut vb = self.versionbits.lock().unwrap_or_else(|p| p.into_inner());
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
        self.coins.memory_usage()
            + self.txindex.as_ref().map_or(0, |t| t.memory_usage())
            + self.filters.as_ref().map_or(0, |f| f.memory_usage())
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
            if self.active.get(e.height as usize) == Some(&e.hash) {
                return self.active.get(height as usize).and_then(|h| self.index.get(h));
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
        while self.active.get(e.height as usize) != Some(&e.hash) {
            e = self.index.get(&e.header.prev_blockhash)?;
        }
        Some(e)
    }

    /// Headers of `from`'s ancestors for questions at falling heights (the min-difficulty walk of
    /// `next_work_required`): each answer continues from the previous one instead of walking from
    /// `from` again, so headers far ahead of the active chain cost one step per height, not one walk.
    fn ancestor_headers<'a>(&'a self, from: &'a BlockIndexEntry) -> impl Fn(u32) -> Option<Header> + 'a {
        let cursor = std::cell::Cell::new(from);
        move |height| {
            let mut e = cursor.get();
            if height > e.height {
                return self.ancestor(&from.hash, height).map(|a| a.header);
            }
            loop {
                if e.height == height {
                    cursor.set(e);
                    return Some(e.header);
                }
                if self.active.get(e.height as usize) == Some(&e.hash) {
                    let a = self.active.get(height as usize).and_then(|h| self.index.get(h))?;
                    cursor.set(a);
                    return Some(a.header);
                }
                e = self.index.get(&e.header.prev_blockhash)?;
            }
        }
    }

    fn parent_context(&self, prev: &BlockIndexEntry, new_time: u32) -> ParentContext {
        let ancestor = self.ancestor_headers(prev);
        let expected_bits = next_work_required(&self.params, prev.height, &prev.header, new_time, &ancestor);
        ParentContext {
            height: prev.height,
            time: prev.header.time,
            mtp: self.median_time_past(&prev.hash),
            expected_bits,
        }
    }

    fn add_header_entry(&mut self, header: &Header, prev: &BlockIndexEntry, extra_status: u32) -> BlockHash {
        let hash = header.block_hash();
        let seq = self.next_sequence;
        self.next_sequence += 1;
        let entry = BlockIndexEntry {
            header: *header,
            hash,
            height: prev.height + 1,
            chainwork: prev.chainwork + header.work(),
            status: extra_status,
            n_tx: 0,
            data_pos: None,
            undo_pos: None,
            sequence: seq,
        };
        self.index.insert(hash, entry);
        self.dirty_index.insert(hash);
        self.consider_best_header(&hash);
        hash
    }

    /// Validates a header against its parent and adds it to the index (headers-first sync).
    pub fn accept_header(&mut self, header: &Header) -> Result<Result<BlockHash, Reject>, ChainError> {
        let hash = header.block_hash();
        if let Some(e) = self.index.get(&hash) {
            if e.is_failed() {
                return Ok(Err(Reject::new("duplicate-invalid", format!("block {hash} is known invalid"))));
            }
            return Ok(Ok(hash));
        }
        // As Core's AcceptBlockHeader: proof of work first, so nothing without it is indexed.
        if let Err(r) = check_proof_of_work(header, &self.params) {
            return Ok(Err(r));
        }
        let Some(prev) = self.index.get(&header.prev_blockhash).cloned() else {
            return Ok(Err(Reject::new(
                "prev-blk-not-found",
                format!("parent {} unknown", header.prev_blockhash),
            )));
        };
        // As Core, a header that fails here is not indexed (so an attacker's headers cost no
        // memory or disk), and it is judged again, with the same answer, if it comes back.
        if prev.is_failed() {
            return Ok(Err(Reject::new("bad-prevblk", format!("parent {} is invalid", prev.hash))));
        }
        let ctx = self.parent_context(&prev, header.time);
        if let Err(r) = contextual_check_header(header, &ctx, &self.params, (self.settings.clock)()) {
            tracing::debug!(target: "blvm::validation", "AcceptBlockHeader: Consensus::ContextualCheckBlockHeader: {}, {}, {}", header.block_hash(), r.reason, r.detail);
            return Ok(Err(r));
        }
        Ok(Ok(self.add_header_entry(header, &prev, 0)))
    }

    /// Validates, stores and (if it leads to more work) connects a block.
    pub fn process_block(&mut self, block: &Block) -> Result<BlockOutcome, ChainError> {
        // A pruned block of the active chain can be stored again; it connects nothing new.
        let was_active = self.is_active(&block.block_hash());
        let outcome = self.accept_block(block, None)?;
        if let BlockOutcome::Accepted { .. } = outcome {
            let hash = block.block_hash();
            self.activate_best_chain(Some(block))?;
            if let Some(e) = self.index.get(&hash) {
                if e.is_failed() {
                    return Ok(BlockOutcome::Invalid(
                        self.last_reject
                            .take()
                            .unwrap_or_else(|| Reject::new("invalid", "block failed to connect")),
                    ));
                }
            }
            return Ok(BlockOutcome::Accepted {
                connected: !was_active && self.is_active(&hash),
            });
        }
        Ok(outcome)
    }

    fn accept_block(&mut self, block: &Block, stored_at: Option<FilePos>) -> Result<BlockOutcome, ChainError> {
        let hash = block.block_hash();
        if let Some(e) = self.index.get(&hash) {
            if e.is_failed() {
                return Ok(BlockOutcome::Invalid(Reject::new(
                    "duplicate-invalid",
                    format!("block {hash} is known invalid"),
                )));
            }
            if e.have_data() {
                return Ok(BlockOutcome::Duplicate);
            }
        }
        if !self.index.contains_key(&hash) {
            match self.accept_header(&block.header)? {
                Ok(_) => {}
                Err(r) if r.reason == "prev-blk-not-found" => return Ok(BlockOutcome::Orphan),
                Err(r) => return Ok(BlockOutcome::Invalid(r)),
            }
        }
        let Some(entry) = self.index.get(&hash).cloned() else {
            return Err(ChainError::Corrupt(format!("accepted header {hash} missing from index")));
        };
        let prev_mtp = self.median_time_past(&entry.header.prev_blockhash);
        let checked = check_block(block, &self.params).and_then(|_| contextual_check_block(block, entry.height, prev_mtp, &self.params));
        if let Err(r) = checked {
            if !r.may_be_mutated {
                self.mark_invalid(&hash);
            }
            return Ok(BlockOutcome::Invalid(r));
        }
        let pos = match stored_at {
            Some(p) => p,
            None => self.files.write_block(&serialize(block))?,
        };
        let mut was_highest_pruned = false;
        if let Some(e) = self.index.get_mut(&hash) {
            was_highest_pruned = e.status & status::PRUNED != 0 && Some(e.height) == self.prune_height;
            e.status |= status::HAVE_DATA;
            e.status &= !status::PRUNED;
            e.n_tx = block.txdata.len() as u32;
            e.data_pos = Some(pos);
        }
        if was_highest_pruned {
            // Only a pruned block fetched again (getblockfrompeer) gets here.
            self.prune_height = self
                .index
                .values()
                .filter(|e| e.status & status::PRUNED != 0)
                .map(|e| e.height)
                .max();
        }
        self.dirty_index.insert(hash);
        self.try_link(hash);
        Ok(BlockOutcome::Accepted { connected: false })
    }

    fn mark_invalid(&mut self, hash: &BlockHash) {
        let Some(height) = self.index.get(hash).map(|e| e.height) else {
            return;
        };
        if let Some(e) = self.index.get_mut(hash) {
            e.status |= status::FAILED_VALID;
        }
        self.dirty_index.insert(*hash);
        let descendants: Vec<BlockHash> = self
            .index
            .values()
            .filter(|e| e.height > height && self.ancestor(&e.hash, height).map(|a| a.hash) == Some(*hash))
            .map(|e| e.hash)
            .collect();
        for d in &descendants {
            if let Some(e) = self.index.get_mut(d) {
                e.status |= status::FAILED_CHILD;
            }
            self.dirty_index.insert(*d);
        }
        let failed: HashSet<BlockHash> = descendants.into_iter().chain(std::iter::once(*hash)).collect();
        self.candidates.retain(|(_, _, h)| !failed.contains(h));
        if failed.contains(&self.best_header) {
            self.recompute_best_header();
        }
        let best_invalid = failed.iter().filter_map(|h| self.index.get(h)).map(|e| e.chainwork).max();
        self.check_fork_warning(best_invalid);
    }

    /// Core's large-work invalid chain warning: an invalid chain more than six blocks' work
    /// ahead of the tip means a consensus split or a corrupted database. Raised once.
    fn check_fork_warning(&mut self, best_invalid: Option<Work>) {
        let tip = self.tip();
        let proof = tip.header.work();
        let limit = (0..6).fold(tip.chainwork, |w, _| w + proof);
        if best_invalid.is_some_and(|w| w > limit) && !self.large_work_invalid_warned {
            self.large_work_invalid_warned = true;
            self.warnings.push(LARGE_WORK_INVALID_CHAIN.to_string());
        }
    }

    /// Connects the most-work valid chain, reorganising if needed; a block that fails to connect
    /// is marked invalid (with its descendants) and the next best chain is tried.
    fn activate_best_chain(&mut self, hint: Option<&Block>) -> Result<(), ChainError> {
        loop {
            let tip = self.tip().clone();
            let Some(&(work, seq, best)) = self.candidates.iter().next_back() else {
                break;
            };
            // As Core's FindMostWorkChain: more work wins, then the earlier-seen block.
            if (work, seq) <= (tip.chainwork, Reverse(tip.sequence)) || best == tip.hash {
                break;
            }
            self.switch_to(best, hint)?;
        }
        Ok(())
    }

    /// `preciousblock`: treats `hash` as if it had been seen before any other block of equal
    /// work (Core's PreciousBlock: a negative sequence, lower with each call at the same tip
    /// work), so it becomes the active tip when its chain has as much work as the active one,
    /// and stays until a chain with more work appears. Returns false for an unknown hash.
    pub fn precious_block(&mut self, hash: &BlockHash) -> Result<bool, ChainError> {
        let Some(e) = self.index.get(hash).cloned() else {
            return Ok(false);
        };
        let tip_work = self.tip().chainwork;
        if e.chainwork < tip_work {
            return Ok(true);
        }
        if tip_work > self.precious.1 {
            self.precious.0 = -1;
        }
        self.precious.1 = tip_work;
        let seq = self.precious.0;
        self.precious.0 = self.precious.0.saturating_sub(1);
        let was_candidate = self.candidates.remove(&(e.chainwork, Reverse(e.sequence), *hash));
        if let Some(entry) = self.index.get_mut(hash) {
            entry.sequence = seq;
        }
        if was_candidate || (!e.is_failed() && e.have_data() && self.linked.contains(hash)) {
            self.candidates.insert((e.chainwork, Reverse(seq), *hash));
        }
        self.activate_best_chain(None)?;
        Ok(true)
    }

    /// `invalidateblock`: marks `hash` and its descendants invalid, disconnects them if they are
    /// active, and activates the best remaining valid chain (a `Reorg` notification when another
    /// branch gets connected). Returns false for an unknown hash; genesis cannot be invalidated.
    pub fn invalidate_block(&mut self, hash: &BlockHash) -> Result<bool, ChainError> {
        match self.index.get(hash) {
            None => return Ok(false),
            Some(e) if e.height == 0 => return Ok(true),
            Some(_) => {}
        }
        let old_tip = self.tip().hash;
        let mut disconnected = Vec::new();
        while self.is_active(hash) {
            disconnected.push(self.disconnect_tip_or_stop()?);
        }
        let fork_height = self.height();
        self.mark_invalid(hash);
        self.reconnect_best_after(old_tip, fork_height, disconnected)?;
        Ok(true)
    }

    /// `reconsiderblock`: clears the invalid marks of `hash`, its descendants and its ancestors,
    /// then activates the best chain (blocks that really break a rule fail again). Returns false
    /// for an unknown hash.
    pub fn reconsider_block(&mut self, hash: &BlockHash) -> Result<bool, ChainError> {
        let Some(height) = self.index.get(hash).map(|e| e.height) else {
            return Ok(false);
        };
        let related: Vec<BlockHash> = self
            .index
            .values()
            .filter(|e| e.is_failed())
            .filter(|e| {
                e.hash == *hash
                    || (e.height > height && self.ancestor(&e.hash, height).map(|a| a.hash) == Some(*hash))
                    || (e.height < height && self.ancestor(hash, e.height).map(|a| a.hash) == Some(e.hash))
            })
            .map(|e| e.hash)
            .collect();
        for h in related {
            if let Some(e) = self.index.get_mut(&h) {
                e.status &= !status::FAILED_MASK;
            }
            self.dirty_index.insert(h);
        }
        self.recompute_best_header();
        let (old_tip, height_now) = (self.tip().hash, self.height());
        self.reconnect_best_after(old_tip, height_now, Vec::new())?;
        Ok(true)
    }

    /// After blocks were disconnected or marks changed outside chain selection: every valid,
    /// fully stored block with more work than the tip becomes a candidate again, the best chain
    /// is activated, and a `Reorg` is reported when blocks were disconnected and others connected.
    fn reconnect_best_after(&mut self, old_tip: BlockHash, fork_height: u32, disconnected: Vec<BlockHash>) -> Result<(), ChainError> {
        let tip = self.tip().clone();
        self.candidates.insert((tip.chainwork, Reverse(tip.sequence), tip.hash));
        for e in self.index.values() {
            // As Core's InvalidateBlock: blocks at least as good as the tip left (an equal-work
            // block seen earlier wins) become candidates again.
            let better = (e.chainwork, Reverse(e.sequence)) > (tip.chainwork, Reverse(tip.sequence));
            if better && !e.is_failed() && e.have_data() && self.linked.contains(&e.hash) {
                self.candidates.insert((e.chainwork, Reverse(e.sequence), e.hash));
            }
        }
        let first_new = self.notifications.len();
        self.activate_best_chain(None)?;
        let new_notes = &self.notifications[first_new..];
        let switched = new_notes.iter().any(|n| matches!(n, ChainNotification::Reorg { .. }));
        let connected: Vec<BlockHash> = new_notes
            .iter()
            .filter_map(|n| match n {
                ChainNotification::BlockConnected { hash, .. } => Some(*hash),
                _ => None,
            })
            .collect();
        if !disconnected.is_empty() && !connected.is_empty() && !switched {
            self.notifications.push(ChainNotification::Reorg {
                old_tip,
                new_tip: self.tip().hash,
                fork_height,
                disconnected,
                connected,
            });
        }
        Ok(())
    }

    /// Reorganises the active chain to end at `best` (disconnecting to the fork point, then
    /// connecting `best`'s branch); a block that fails is marked invalid and the switch stops.
    fn switch_to(&mut self, best: BlockHash, hint: Option<&Block>) -> Result<(), ChainError> {
        let tip = self.tip().clone();
        let mut path = Vec::new();
        let mut cur = best;
        while !self.is_active(&cur) {
            path.push(cur);
            cur = match self.index.get(&cur) {
                Some(e) => e.header.prev_blockhash,
                None => return Err(ChainError::Corrupt(format!("candidate {best} has a gap in its ancestry"))),
            };
        }
        let fork_height = self.index.get(&cur).map(|e| e.height).unwrap_or(0);
        path.reverse();
        let mut disconnected = Vec::new();
        while self.height() > fork_height {
            disconnected.push(self.disconnect_tip_or_stop()?);
        }
        let mut connected = Vec::new();
        let mut failed = false;
        for h in &path {
            let block = match hint {
                Some(b) if b.block_hash() == *h => b.clone(),
                _ => match self.read_block(h)? {
                    Some(b) => b,
                    None => return Err(ChainError::Corrupt(format!("block {h} has no data"))),
                },
            };
            match self.connect_tip(&block)? {
                Ok(()) => connected.push(*h),
                Err(r) => {
                    // Core's ConnectBlock line (its ValidationState::ToString).
                    match r.detail.is_empty() {
                        true => tracing::info!(target: "blvm::validation", "Block validation error: {}", r.reason),
                        false => tracing::info!(target: "blvm::validation", "Block validation error: {}, {}", r.reason, r.detail),
                    }
                    tracing::warn!(block = %h, reason = %r, "block failed to connect; marking invalid");
                    self.mark_invalid(h);
                    self.last_reject = Some(r);
                    failed = true;
                    break;
                }
            }
        }
        if !disconnected.is_empty() {
            self.notifications.push(ChainNotification::Reorg {
                old_tip: tip.hash,
                new_tip: self.tip().hash,
                fork_height,
                disconnected,
                connected,
            });
        }
        let tip_work = self.tip().chainwork;
        self.candidates.retain(|(w, _, _)| *w >= tip_work);
        if failed {
            tracing::info!(tip = %self.tip().hash, "re-selecting the best chain after an invalid block");
        }
        Ok(())
    }

    fn bip30_enforced(&self, height: u32, hash: &BlockHash) -> bool {
        if self.params.bip30_exception_heights.iter().any(|(h, bh)| *h == height && bh == hash) {
            return false;
        }
        if let Some(bip34_hash) = self.params.bip34_hash {
            if height >= self.params.bip34_height && height < BIP34_IMPLIES_BIP30_LIMIT {
                let at = self.active.get(self.params.bip34_height as usize);
                if at == Some(&bip34_hash) {
                    return false;
                }
            }
        }
        true
    }

    /// Connects `block` on top of the active tip. Consensus failures leave everything unchanged.
    fn connect_tip(&mut self, block: &Block) -> Result<Result<(), Reject>, ChainError> {
        let hash = block.block_hash();
        let height = self.height() + 1;
        let checked = match self.check_connect(block)? {
            Ok(c) => c,
            Err(r) => return Ok(Err(r)),
        };
        let ConnectChecked { changes, undo, spent_all } = checked;
        // Every rule passed: persist undo data, then apply the changes.
        let data_file = self.index.get(&hash).and_then(|e| e.data_pos).map(|p| p.file).unwrap_or(0);
        let undo_pos = self.files.write_undo(data_file, &hash, &undo.encode())?;
        self.coins.apply(changes);
        if let Some(e) = self.index.get_mut(&hash) {
            e.status |= status::HAVE_UNDO | status::VALID_SCRIPTS;
            e.undo_pos = Some(undo_pos);
        }
        self.dirty_index.insert(hash);
        self.active.push(hash, block.txdata.len() as u32);
        if let Some(t) = &mut self.txindex {
            t.add_block(hash, block);
        }
        if self.filters.is_some() {
            self.record_filter(hash, block, &spent_all)?;
        }
        self.notifications.push(ChainNotification::BlockConnected {
            hash,
            height,
            n_tx: block.txdata.len() as u32,
        });
        if self.cache_usage() > self.settings.dbcache_bytes {
            let report = self.flush(FlushReason::CacheFull)?;
            self.flush_reports.push(report);
        }
        Ok(Ok(()))
    }

    /// Core's TestBlockValidity: whether `block` would connect on the active tip, with every
    /// rule checked (proof of work only if `check_pow`) and nothing stored or changed.
    pub fn test_block_validity(&mut self, block: &Block, check_pow: bool) -> Result<Result<(), Reject>, ChainError> {
        let tip = self.tip().clone();
        if block.header.prev_blockhash != tip.hash {
            return Ok(Err(Reject::new("inconclusive-not-best-prevblk", "")));
        }
        if check_pow {
            if let Err(r) = check_proof_of_work(&block.header, &self.params) {
                return Ok(Err(r));
            }
        }
        let ctx = self.parent_context(&tip, block.header.time);
        let prev_mtp = self.median_time_past(&tip.hash);
        let checked = contextual_check_header(&block.header, &ctx, &self.params, (self.settings.clock)())
            .and_then(|_| check_block_body(block))
            .and_then(|_| contextual_check_block(block, tip.height + 1, prev_mtp, &self.params));
        if let Err(r) = checked {
            return Ok(Err(r));
        }
        Ok(self.check_connect(block)?.map(|_| ()))
    }

    /// Every rule of connecting `block` on the active tip (coins, amounts, locks, sigops,
    /// scripts), leaving the chainstate unchanged: what connecting it would change, if valid.
    fn check_connect(&mut self, block: &Block) -> Result<Result<ConnectChecked, Reject>, ChainError> {
        let hash = block.block_hash();
        let height = self.height() + 1;
        let prev_mtp = self.mtp_at(height - 1);
        let enforce_bip30 = self.bip30_enforced(height, &hash);
        let flags = block_script_flags(&self.params, height, &hash);
        let check_scripts = !self.scripts_assumed_valid(&hash, height);
        let csv = height >= self.params.csv_height;
        let reader = self.db.coin_reader()?;
        let db_path = self.db.path().to_path_buf();
        let mut view = BlockView::new(&mut self.coins, &reader, &db_path);
        let mut undo = BlockUndo::default();
        let mut spent_all: Vec<Vec<TxOut>> = Vec::with_capacity(block.txdata.len());
        let mut fees: u64 = 0;
        let mut sigops: u64 = 0;
        let mut fresh_outputs: HashSet<OutPoint> = HashSet::new();
        let active = &self.active;
        let index = &self.index;
        let mtp_of = |h: u32| -> i64 {
            let mut times = Vec::with_capacity(11);
            let mut hh = h as i64;
            while hh >= 0 && times.len() < 11 {
                if let Some(e) = active.get(hh as usize).and_then(|x| index.get(x)) {
                    times.push(e.header.time);
                }
                hh -= 1;
            }
            median_time(times)
        };

        if enforce_bip30 {
            for tx in &block.txdata {
                let txid = tx.compute_txid();
                for vout in 0..tx.output.len() as u32 {
                    let op = OutPoint { txid, vout };
                    if view.get(&op)?.is_some() {
                        return Ok(Err(Reject::new("bad-txns-BIP30", format!("tried to overwrite transaction {txid}"))));
                    }
                    if view.known_absent_from_db(&op)? {
                        fresh_outputs.insert(op);
                    }
                }
            }
        }

        let p2sh = flags & VERIFY_P2SH != 0;
        let witness = flags & VERIFY_WITNESS != 0;
        for tx in &block.txdata {
            let txid = tx.compute_txid();
            if tx.is_coinbase() {
                spent_all.push(Vec::new());
                sigops += sigop_cost(tx, &[], p2sh, witness);
            } else {
                let mut coins = Vec::with_capacity(tx.input.len());
                for input in &tx.input {
                    match view.get(&input.previous_output)? {
                        Some(c) => coins.push(c),
                        None => {
                            return Ok(Err(Reject::new(
                                "bad-txns-inputs-missingorspent",
                                format!("tx {txid} input {} missing or spent", input.previous_output),
                            )))
                        }
                    }
                }
                // Core's ConnectBlock: a transaction's failure is the block's, naming the transaction.
                let fee = match check_tx_inputs(tx, &coins, height, self.settings.coinbase_maturity) {
                    Ok(fee) => fee,
                    Err(mut r) => {
                        let sep = if r.detail.is_empty() { "" } else { " " };
                        r.detail = format!("{}{sep}in transaction {txid}", r.detail);
                        return Ok(Err(r));
                    }
                };
                fees += fee;
                if fees > MAX_MONEY {
                    return Ok(Err(Reject::new(
                        "bad-txns-accumulated-fee-outofrange",
                        "accumulated fee in the block out of range",
                    )));
                }
                if csv {
                    let heights: Vec<u32> = coins.iter().map(|c| c.height).collect();
                    let lock = sequence_lock(tx, &heights, &mtp_of);
                    if !sequence_lock_satisfied(lock, height, prev_mtp) {
                        return Ok(Err(Reject::new("bad-txns-nonfinal", "contains a non-BIP68-final transaction")));
                    }
                }
                let spent: Vec<TxOut> = coins.iter().map(|c| c.output.clone()).collect();
                let spent_refs: Vec<&TxOut> = spent.iter().collect();
                sigops += sigop_cost(tx, &spent_refs, p2sh, witness);
                for input in &tx.input {
                    view.spend(&input.previous_output)?;
                }
                spent_all.push(spent);
                undo.txs.push(coins);
            }
            if sigops > MAX_BLOCK_SIGOPS_COST {
                return Ok(Err(Reject::new("bad-blk-sigops", "too many sigops")));
            }
            for (vout, out) in tx.output.iter().enumerate() {
                if is_unspendable(&out.script_pubkey) {
                    continue;
                }
                let op = OutPoint { txid, vout: vout as u32 };
                let fresh = fresh_outputs.contains(&op);
                view.add(
                    op,
                    Coin {
                        output: out.clone(),
                        height,
                        is_coinbase: tx.is_coinbase(),
                    },
                    fresh,
                );
            }
        }
        let reward = fees + self.params.subsidy(height);
        let cb_out: u64 = block.txdata[0].output.iter().map(|o| o.value.to_sat()).sum();
        if cb_out > reward {
            return Ok(Err(Reject::new(
                "bad-cb-amount",
                format!("coinbase pays too much (actual={cb_out} vs limit={reward})"),
            )));
        }
        if check_scripts {
            // Transactions whose scripts passed under these flags (in the mempool) are skipped;
            // their entries are used up, as Core's, and nothing is added here: once connected,
            // a transaction is not expected to be checked again.
            let cache = &self.script_cache;
            let cached: Vec<bool> = if cache.is_empty() {
                Vec::new()
            } else {
                block
                    .txdata
                    .iter()
                    .map(|tx| !tx.is_coinbase() && cache.contains(&tx.compute_wtxid(), flags, true))
                    .collect()
            };
            if let Err(r) = verify_block_scripts_except(&block.txdata, &spent_all, flags, self.settings.script_threads, &cached) {
                return Ok(Err(r));
            }
        }
        Ok(Ok(ConnectChecked {
            changes: view.into_changes(),
            undo,
            spent_all,
        }))
    }

    /// Disconnects the active tip using its undo data; returns its hash.
    fn disconnect_tip(&mut self) -> Result<BlockHash, ChainError> {
        let tip = self.tip().clone();
        if tip.height == 0 {
            return Err(ChainError::Corrupt("attempt to disconnect genesis".into()));
        }
        let block = self
            .read_block(&tip.hash)?
            .ok_or_else(|| ChainError::Corrupt(format!("block {} has no data to disconnect", tip.hash)))?;
        let undo_pos = tip
            .undo_pos
            .ok_or_else(|| ChainError::Corrupt(format!("block {} has no undo data", tip.hash)))?;
        let undo_bytes = self.files.read_undo(undo_pos, &tip.hash)?;
        let undo = BlockUndo::decode(&undo_bytes).map_err(|e| ChainError::Corrupt(format!("undo data of {}: {e}", tip.hash)))?;
        if undo.txs.len() + 1 != block.txdata.len() {
            return Err(ChainError::Corrupt(format!("undo data of {} does not match the block", tip.hash)));
        }
        let reader = self.db.coin_reader()?;
        let db_path = self.db.path().to_path_buf();
        let mut view = BlockView::new(&mut self.coins, &reader, &db_path);
        for (i, tx) in block.txdata.iter().enumerate().rev() {
            let txid = tx.compute_txid();
            for (vout, out) in tx.output.iter().enumerate() {
                if is_unspendable(&out.script_pubkey) {
                    continue;
                }
                let op = OutPoint { txid, vout: vout as u32 };
                if view.spend(&op)?.is_none() {
                    tracing::warn!(block = %tip.hash, outpoint = %op, "output missing while disconnecting (unclean)");
                }
            }
            if i > 0 {
                let coins = &undo.txs[i - 1];
                if coins.len() != tx.input.len() {
                    return Err(ChainError::Corrupt(format!("undo data of {} has wrong input count", tip.hash)));
                }
                for (input, coin) in tx.input.iter().zip(coins).rev() {
                    view.add(input.previous_output, coin.clone(), false);
                }
            }
        }
        let changes = view.into_changes();
        drop(reader);
        self.coins.apply(changes);
        self.active.pop();
        let new_tip = self.tip().hash;
        if let Some(t) = &mut self.txindex {
            t.remove_block(&block, new_tip);
        }
        self.notifications.push(ChainNotification::BlockDisconnected {
            hash: tip.hash,
            height: tip.height,
        });
        Ok(tip.hash)
    }

    /// Writes dirty coins, dirty index entries and the best-block marker in one atomic commit,
    /// after making the block files durable. A failed flush is fatal for the node.
    pub fn flush(&mut self, reason: FlushReason) -> Result<FlushReport, ChainError> {
        let start = Instant::now();
        let result = self.flush_inner();
        let duration = start.elapsed();
        match result {
            Ok((coins_written, index_written)) => {
                self.last_flush = Instant::now();
                tracing::debug!(
                    reason = reason.as_str(),
                    coins_written,
                    index_written,
                    ms = duration.as_millis() as u64,
                    "flushed chainstate"
                );
                Ok(FlushReport {
                    reason,
                    success: true,
                    duration,
                    coins_written,
                    index_written,
                    error: None,
                })
            }
            Err(e) => {
                tracing::error!(reason = reason.as_str(), "chainstate flush failed: {e}");
                if let Some(fatal) = &self.fatal {
                    fatal(&format!("chainstate flush failed: {e}"));
                }
                Err(e)
            }
        }
    }

    /// Builds the batch from borrowed views of the dirty state and forgets that state only once
    /// the commit succeeded: a failed commit (full disk, I/O error) leaves every dirty coin,
    /// index entry and pending index record in memory, so the next flush (the shutdown flush the
    /// failure triggers) writes a complete, consistent state instead of a partial one.
    fn flush_inner(&mut self) -> Result<(usize, usize), ChainError> {
        self.files.sync()?;
        let mut batch = FlushBatch {
            coins: self.coins.dirty_writes(),
            ..Default::default()
        };
        for h in &self.dirty_index {
            if let Some(e) = self.index.get(h) {
                batch.index.push((h.to_byte_array(), e.encode()));
            }
        }
        let (coins_written, index_written) = (batch.coins.len(), batch.index.len());
        batch.meta.push((META_BEST_BLOCK, self.tip().hash.to_byte_array().to_vec()));
        let (file, len) = self.files.end_position();
        let mut scan = file.to_le_bytes().to_vec();
        scan.extend_from_slice(&len.to_le_bytes());
        batch.meta.push((META_SCAN_POS, scan));
        if let Some(t) = &self.txindex {
            (batch.clear_txindex, batch.txindex) = t.writes();
            batch.meta.push((txindex_sync::META_TXINDEX_BEST, t.best.to_byte_array().to_vec()));
        }
        if let Some(f) = &self.filters {
            batch.filters = f.writes();
            batch
                .meta
                .push((filterindex_sync::META_FILTERS_BEST, f.best.to_byte_array().to_vec()));
        }
        self.db.commit(batch)?;
        self.coins.mark_flushed();
        self.dirty_index.clear();
        if let Some(t) = &mut self.txindex {
            t.mark_flushed();
        }
        if let Some(f) = &mut self.filters {
            f.mark_flushed();
        }
        if self.coins.memory_usage() > self.settings.dbcache_bytes / 2 {
            self.coins.clear();
        }
        Ok((coins_written, index_written))
    }

    /// Proves the database accepts writes (health check): commits a small marker record.
    pub fn probe_writable(&mut self) -> Result<(), ChainError> {
        let now = (self.settings.clock)().to_le_bytes().to_vec();
        self.db.commit(FlushBatch {
            meta: vec![("health_probe", now)],
            ..Default::default()
        })?;
        Ok(())
    }

    /// Compacts the database file (maintenance "cleanup").
    pub fn compact(&mut self) -> Result<bool, ChainError> {
        Ok(self.db.compact()?)
    }

    /// Deletes block/undo file pairs whose blocks are all at or below `height` (or, with
    /// `target_bytes`, the oldest such files until block storage fits), never touching the
    /// current file or any of the last [`MIN_BLOCKS_TO_KEEP`] blocks.
    ///
    /// As Core, the index entries are marked pruned and committed before any file is deleted: a
    /// crash or failure in between leaves files nothing refers to (deleted by the next prune),
    /// never an entry claiming data that is gone.
    pub fn prune(&mut self, height: Option<u32>, target_bytes: Option<u64>) -> Result<PruneReport, ChainError> {
        self.flush(FlushReason::Manual)?;
        let tip = self.height();
        let kept_from_height = tip.saturating_sub(MIN_BLOCKS_TO_KEEP - 1);
        let limit = match height {
            Some(h) => h.min(kept_from_height.saturating_sub(1)),
            None => kept_from_height.saturating_sub(1),
        };
        let current = self.files.current_file();
        let mut max_height: HashMap<u32, u32> = HashMap::new();
        let mut referenced: HashSet<u32> = HashSet::new();
        let mut by_file: HashMap<u32, Vec<BlockHash>> = HashMap::new();
        for e in self.index.values() {
            referenced.extend(e.undo_pos.map(|p| p.file));
            referenced.extend(e.data_pos.map(|p| p.file));
            if let Some(p) = e.data_pos {
                by_file.entry(p.file).or_default().push(e.hash);
            }
            if let Some(p) = e.data_pos.filter(|_| e.have_data()) {
                let m = max_height.entry(p.file).or_insert(0);
                *m = (*m).max(e.height);
            }
        }
        let mut candidates: Vec<u32> = max_height
            .iter()
            .filter(|(f, h)| **f != current && **h <= limit)
            .map(|(f, _)| *f)
            .collect();
        candidates.sort_unstable();
        // Files below the current one that no entry refers to: left by a prune interrupted
        // between its commit and its deletions.
        let leftovers: Vec<u32> = self
            .files
            .file_numbers()
            .into_iter()
            .filter(|f| *f < current && !referenced.contains(f))
            .collect();
        let mut report = PruneReport {
            kept_from_height,
            ..Default::default()
        };
        let mut usage = self.files.disk_usage();
        let mut to_delete: Vec<u32> = Vec::new();
        for f in candidates {
            if let Some(target) = target_bytes {
                if usage <= target {
                    break;
                }
            }
            usage = usage.saturating_sub(self.files.file_pair_size(f));
            to_delete.push(f);
            for h in by_file.remove(&f).unwrap_or_default() {
                if let Some(e) = self.index.get_mut(&h) {
                    e.status = (e.status & !(status::HAVE_DATA | status::HAVE_UNDO)) | status::PRUNED;
                    report.prune_height = report.prune_height.max(e.height);
                    e.data_pos = None;
                    e.undo_pos = None;
                    report.blocks_pruned += 1;
                }
                self.dirty_index.insert(h);
            }
        }
        if !to_delete.is_empty() {
            self.prune_height = self.prune_height.max(Some(report.prune_height));
            self.flush(FlushReason::Manual)?;
        }
        for f in to_delete.iter().chain(leftovers.iter()) {
            report.deleted_files.extend(self.files.existing_pair_names(*f));
            report.bytes_freed += self.files.remove_file_pair(*f)?;
            report.files_deleted += 1;
        }
        if report.files_deleted > 0 {
            tracing::info!(
                files = report.files_deleted,
                bytes = report.bytes_freed,
                leftovers = leftovers.len(),
                up_to_height = report.prune_height,
                "pruned block files"
            );
        }
        Ok(report)
    }

    /// Height of the highest pruned block (None when nothing is pruned); blocks above it
    /// have their data.
    pub fn prune_height(&self) -> Option<u32> {
        self.prune_height
    }

    /// Visits every unspent output in key order (txid, vout), flushing first so the database
    /// holds them all.
    pub fn scan_utxos(&mut self, f: impl FnMut(OutPoint, Coin) -> Result<(), crate::store::db::DbError>) -> Result<(), ChainError> {
        self.flush(FlushReason::Manual)?;
        Ok(crate::chainstate::coin::for_each_utxo(&self.db, f)?)
    }

    /// UTXO set statistics as Core's gettxoutsetinfo computes them (flushes first).
    pub fn utxo_stats(&mut self) -> Result<UtxoStats, ChainError> {
        self.flush(FlushReason::Manual)?;
        Ok(compute_utxo_stats(&self.db)?)
    }

    /// The undo data (coins spent by each non-coinbase transaction) of a connected block;
    /// None when the block is unknown or has none (never connected, or pruned).
    pub fn read_undo(&self, hash: &BlockHash) -> Result<Option<BlockUndo>, ChainError> {
        let Some(pos) = self.index.get(hash).and_then(|e| e.undo_pos) else {
            return Ok(None);
        };
        let bytes = self.files.read_undo(pos, hash)?;
        let undo = BlockUndo::decode(&bytes).map_err(|e| ChainError::Corrupt(format!("undo data of {hash}: {e}")))?;
        Ok(Some(undo))
    }

    /// Core's MuHash3072 of the UTXO set at the tip (flushes first), as Core prints it.
    pub fn utxo_muhash(&mut self) -> Result<String, ChainError> {
        self.flush(FlushReason::Manual)?;
        Ok(crate::chainstate::muhash::compute_muhash(&self.db)?)
    }
}

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;

#[path = "txindex_sync.rs"]
mod txindex_sync;

#[path = "filterindex_sync.rs"]
mod filterindex_sync;

#[path = "verification_progress.rs"]
mod verification_progress;

#[path = "assume_valid.rs"]
mod assume_valid;

#[path = "autoprune.rs"]
pub mod autoprune;
/// Work expressed as time, for callers outside the engine (stale-block serving rules).
pub use assume_valid::proof_equivalent_time;

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

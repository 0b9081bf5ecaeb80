//! What crash tests read back from a node killed mid-import: the datadir's final state (tip,
//! active chain, UTXO statistics), the node's debug.log from an offset, numbers logged as
//! `key=value`, the blocks of a blk-framed file, the seed of their random kill schedule, and a
//! bounded wait for a child.

use bitcoin::consensus::deserialize;
use bitcoin::BlockHash;
use blvm_node::chain::{ChainManager, ChainSettings};
use blvm_node::params::ChainParams;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Settings for reading a datadir back: a 16 MiB coins cache, two script threads.
pub fn settings() -> ChainSettings {
    ChainSettings {
        dbcache_bytes: 16 << 20,
        script_threads: 2,
        ..Default::default()
    }
}

/// Opens the regtest chain of `datadir` (as the node does at start, replay of stored blocks included).
pub fn open_chain(datadir: &Path) -> ChainManager {
    ChainManager::open(
        ChainParams::for_network(bitcoin::Network::Regtest),
        &datadir.join("regtest"),
        settings(),
    )
    .expect("open chain")
}

/// Tip and UTXO statistics of a datadir, read after its last process exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalState {
    /// Height of the tip.
    pub height: u32,
    /// Hash of the tip.
    pub tip: BlockHash,
    /// Core's hash_serialized_3 of the UTXO set.
    pub utxo_hash: String,
    /// Unspent outputs.
    pub txouts: u64,
    /// Their total value.
    pub total_amount_sat: u64,
    /// The active chain, genesis first.
    pub active: Vec<BlockHash>,
}

/// Opens `datadir` and reads its [`FinalState`] (the open replays and the statistics flush, as
/// a node restart would).
pub fn read_state(datadir: &Path) -> FinalState {
    let mut chain = open_chain(datadir);
    let stats = chain.utxo_stats().expect("utxo stats");
    let active = (0..=chain.height()).map(|h| chain.hash_at(h).expect("active hash")).collect();
    FinalState {
        height: chain.height(),
        tip: chain.tip().hash,
        utxo_hash: stats.hash_serialized_3,
        txouts: stats.txouts,
        total_amount_sat: stats.total_amount_sat,
        active,
    }
}

/// The node's debug.log in a regtest datadir.
pub fn debug_log(datadir: &Path) -> PathBuf {
    datadir.join("regtest").join("debug.log")
}

/// Size of a file (0 when missing): the offset from which a new run's log lines start.
pub fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// The log text a child appended after `offset`.
pub fn log_since(p: &Path, offset: u64) -> String {
    let Ok(mut f) = std::fs::File::open(p) else {
        return String::new();
    };
    if f.seek(SeekFrom::Start(offset)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

/// The value of `key=<digits>` on the first line containing `marker`.
pub fn logged_number(log: &str, marker: &str, key: &str) -> Option<u64> {
    let line = log.lines().find(|l| l.contains(marker))?;
    line_number(&line[line.find(marker)? + marker.len()..], key)
}

/// The value of `key=<digits>` in one log line.
pub fn line_number(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))?
        .trim_matches('"')
        .parse()
        .ok()
}

/// The seed of a kill schedule: `$var` if set (to replay a run), else the clock.
pub fn seed(var: &str) -> u64 {
    match std::env::var(var) {
        Ok(s) => s.trim().parse().unwrap_or_else(|_| panic!("{var} must be a u64")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

/// Splits blk framing (network magic, u32 LE length, block) into the blocks' bytes, in order;
/// panics on a bad frame.
pub fn blk_frames(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let magic = bitcoin::Network::Regtest.magic().to_bytes();
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        assert!(pos + 8 <= data.len(), "truncated frame header at offset {pos}");
        assert_eq!(data[pos..pos + 4], magic, "bad frame magic at offset {pos}");
        let len = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().unwrap()) as usize;
        assert!(pos + 8 + len <= data.len(), "truncated block at offset {pos}");
        let raw = &data[pos + 8..pos + 8 + len];
        pos += 8 + len;
        Some(raw)
    })
}

/// The hash of a block given as its bytes.
pub fn block_hash(raw: &[u8]) -> BlockHash {
    let header: bitcoin::block::Header = deserialize(&raw[..80]).expect("block header");
    header.block_hash()
}

/// Waits for a child; kills it and panics when it runs longer than `timeout` (a hang).
pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if start.elapsed() > timeout {
            child.kill().ok();
            child.wait().ok();
            panic!("child did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

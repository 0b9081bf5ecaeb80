//! Bitcoin Core's engine importing a blk-framed file, for the UTXO-scale bench: libbitcoinkernel's
//! `ChainstateManager` on regtest with its databases on disk, fed every block of the file in order
//! through `process_block` (Core's ProcessNewBlock: AcceptBlock, then ActivateBestChain with its
//! flush checks, as each block of `-loadblock`). Runs in a child process of its own (the bench
//! re-executed), so its CPU time and peak RSS are Core's alone.
//!
//! The coins cache is the kernel's fixed 450 MiB (`DEFAULT_KERNEL_CACHE`: this version of the C
//! API has no cache-size option). Flush durations come from Core's own `bench` log timers
//! (`write block and undo data to disk`, `write block index to disk`, `write coins cache to disk`).
#![allow(dead_code)]

use bitcoin::hashes::Hash;
use bitcoinkernel::prelude::*;
use bitcoinkernel::{Block, ChainType, ChainstateManager, ContextBuilder, Log, LogCategory, LogLevel, Logger};
use serde_json::{json, Value};
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Kernel log lines kept (timer lines and errors only).
const MAX_LINES: usize = 100_000;

/// Keeps Core's timer and error lines.
struct Capture(Arc<Mutex<Vec<String>>>);

impl Log for Capture {
    fn log(&self, message: &str) {
        if !(message.contains(" completed (") || message.contains("rror")) {
            return;
        }
        if let Ok(mut lines) = self.0.lock() {
            if lines.len() < MAX_LINES {
                lines.push(message.trim_end().to_string());
            }
        }
    }
}

/// The milliseconds of a Core timer line `<func>: <what> completed (<ms>ms)`.
fn timer_ms(line: &str) -> Option<f64> {
    let rest = &line[line.rfind(" completed (")? + " completed (".len()..];
    rest.strip_suffix("ms)")?.parse().ok()
}

/// Flush pauses in ms from Core's timer lines: the block file sync, the block index write and
/// the coins write of one flush added up, closed by each coins write.
pub fn flush_pauses(lines: &[String]) -> Vec<f64> {
    let mut pauses = Vec::new();
    let mut open = 0.0;
    for l in lines {
        let Some(ms) = timer_ms(l) else { continue };
        if l.contains("write block and undo data to disk") || l.contains("write block index to disk") {
            open += ms;
        } else if l.contains("write coins cache to disk") {
            pauses.push(open + ms);
            open = 0.0;
        }
    }
    pauses
}

/// Reads the next blk record (magic, size, block); None at the end of the file.
fn next_record(file: &mut impl Read, magic: [u8; 4]) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = [0u8; 8];
    match file.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    if head[..4] != magic {
        return Err(std::io::Error::other("bad magic in block file"));
    }
    let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
    if len > bitcoin::Weight::MAX_BLOCK.to_wu() as usize {
        return Err(std::io::Error::other("block record larger than a block can be"));
    }
    let mut block = vec![0u8; len];
    file.read_exact(&mut block)?;
    Ok(Some(block))
}

/// Imports `file` into a fresh kernel chainstate under `dir`; returns the measurements as JSON
/// (tip, per-block completion times, flush pauses, final flush, database size). Exits the
/// process with status 2 when Core rejects a block.
pub fn run(file: &Path, dir: &Path) -> Value {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let logger = Logger::new(Capture(lines.clone())).expect("kernel logger");
    logger.enable_category(LogCategory::Bench);
    logger.set_level_category(LogCategory::Bench, LogLevel::Debug);
    let (data, blocks) = (dir.join("data"), dir.join("blocks"));
    let start = Instant::now();
    let context = ContextBuilder::new()
        .chain_type(ChainType::Regtest)
        .build()
        .expect("kernel context");
    let chainman = ChainstateManager::builder(&context, &data.to_string_lossy(), &blocks.to_string_lossy())
        .expect("chainstate options")
        .worker_threads(2)
        .build()
        .expect("chainstate manager");
    let magic = bitcoin::Network::Regtest.magic().to_bytes();
    let mut input = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(file).expect("open block file"));
    let mut done: Vec<f64> = Vec::new();
    while let Some(bytes) = next_record(&mut input, magic).expect("read block file") {
        let block = Block::new(&bytes).expect("Core decodes the block");
        if chainman.process_block(&block).is_rejected() {
            let errors = lines.lock().map(|l| l.join("\n")).unwrap_or_default();
            eprintln!("Core rejected block {} of the file:\n{errors}", done.len() + 1);
            std::process::exit(2);
        }
        done.push(start.elapsed().as_secs_f64());
    }
    let import_s = start.elapsed().as_secs_f64();
    let tip = chainman.active_chain().tip();
    let (tip_hash, height) = (bitcoin::BlockHash::from_byte_array(tip.block_hash().to_bytes()), tip.height());
    let during = flush_pauses(&lines.lock().expect("log lines"));
    let flush_start = Instant::now();
    drop(chainman);
    let final_flush_ms = flush_start.elapsed().as_secs_f64() * 1e3;
    drop(context);
    // The final flush's own timer lines prove the log capture works (else the pauses above
    // would silently be empty).
    let all = lines.lock().expect("log lines").clone();
    let final_flush_logged = flush_pauses(&all).len() > during.len();
    let wall_s = start.elapsed().as_secs_f64();
    let db_bytes = crate::machine::dir_size(&data) + crate::machine::dir_size(&blocks.join("index"));
    json!({
        "tip": tip_hash.to_string(),
        "height": height,
        "import_s": import_s,
        "wall_s": wall_s,
        "block_done_s": done,
        "flush_ms": during,
        "final_flush_ms": final_flush_ms,
        "db_bytes": db_bytes,
        "final_flush_logged": final_flush_logged,
    })
}

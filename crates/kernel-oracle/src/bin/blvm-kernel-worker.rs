//! Bitcoin Core's validation engine (libbitcoinkernel) behind a line protocol on stdin/stdout,
//! so the differential tests can drive it from a separate process: Core's global state (logger,
//! chainstate threads) and any abort inside Core stay out of the process running blvm-node.
//!
//! Requests, one per line:
//! - `submit <block hex>`: process the block.
//! - `tip`: report the active tip.
//!
//! A block Core cannot deserialize is `rejected` (reason `undecodable`): it would never reach
//! validation. Each request is answered with one line `<verdict> <tip hash, internal byte order, hex> <tip height>
//! <reason...>`, verdict one of `connected stored duplicate orphan rejected error`.
//!
//! `ChainstateManager::process_block`'s return value does not say whether a block was valid
//! (only whether it was new), so the verdict comes from the validation interface's
//! block-checked callback (fired synchronously for every block checked or connected) and from
//! the active tip. Core's reject reason is read from its log (`ConnectBlock ... failed, <reason>`
//! or `AcceptBlock FAILED (<reason>)`).
//!
//! The chainstate is regtest, with in-memory databases and block files in a temporary directory
//! (`$TMPDIR/blvm-kernel-worker-<pid>`, removed on exit).

use bitcoin::hex::{DisplayHex, FromHex};
use bitcoinkernel::prelude::*;
use bitcoinkernel::{
    Block, BlockValidationResult, BlockValidationStateRef, ChainType, ChainstateManager, ContextBuilder, Log, Logger, ValidationMode,
};
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};

/// One block-checked event: the block's hash and Core's verdict on it.
#[derive(Debug, Clone)]
struct Checked {
    hash: [u8; 32],
    mode: ValidationMode,
    result: BlockValidationResult,
}

/// Core's log lines since the last request.
static LOG_LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl Log for Capture {
    fn log(&self, message: &str) {
        if let Ok(mut lines) = LOG_LINES.lock() {
            if lines.len() < 10_000 {
                lines.push(message.trim_end().to_string());
            }
        }
    }
}

/// Core's reject reason from the log lines of the last submission.
fn reason_from_log(lines: &[String]) -> String {
    for l in lines.iter().rev() {
        if l.contains("ConnectBlock") {
            if let Some(i) = l.find(" failed, ") {
                return l[i + " failed, ".len()..].to_string();
            }
        }
        if let Some(i) = l.find("AcceptBlock FAILED (") {
            let rest = &l[i + "AcceptBlock FAILED (".len()..];
            return rest.strip_suffix(')').unwrap_or(rest).to_string();
        }
    }
    lines
        .iter()
        .rev()
        .find(|l| l.contains("rror") || l.contains("nvalid"))
        .cloned()
        .unwrap_or_default()
}

struct Worker {
    chainman: ChainstateManager,
    checked: Arc<Mutex<Vec<Checked>>>,
}

impl Worker {
    fn tip(&self) -> String {
        let tip = self.chainman.active_chain().tip();
        format!("{} {}", tip.block_hash().to_bytes().to_lower_hex_string(), tip.height())
    }

    fn submit(&self, bytes: &[u8]) -> String {
        if let Ok(mut v) = self.checked.lock() {
            v.clear();
        }
        if let Ok(mut l) = LOG_LINES.lock() {
            l.clear();
        }
        let block = match Block::new(bytes) {
            Ok(b) => b,
            // Core cannot deserialize these bytes (e.g. a transaction without inputs is only
            // expressible in the witness encoding, which Core refuses without witnesses): on
            // the network the block never reaches validation. That is a rejection.
            Err(e) => return format!("rejected {} undecodable: {e}", self.tip()),
        };
        let hash = block.hash().to_bytes();
        let result = self.chainman.process_block(&block);
        let events: Vec<Checked> = self
            .checked
            .lock()
            .map(|v| v.iter().filter(|c| c.hash == hash).cloned().collect())
            .unwrap_or_default();
        let lines = LOG_LINES.lock().map(|l| l.clone()).unwrap_or_default();
        let invalid = events.iter().find(|c| c.mode != ValidationMode::Valid);
        if invalid.is_some() || result.is_rejected() {
            let why = reason_from_log(&lines).replace('\n', " ");
            let kind = invalid
                .map(|c| format!("{:?}", c.result))
                .unwrap_or_else(|| "no block-checked event".into());
            let verdict = if invalid.map(|c| c.result == BlockValidationResult::MissingPrev).unwrap_or(false) {
                "orphan"
            } else {
                "rejected"
            };
            return format!("{verdict} {} {why} [{kind}]", self.tip());
        }
        let active = self.chainman.active_chain();
        let connected = match bitcoinkernel::BlockHash::new(&hash)
            .ok()
            .and_then(|h| self.chainman.get_block_tree_entry(&h))
        {
            Some(entry) => active.contains(&entry),
            None => return format!("error {} accepted block missing from the block tree", self.tip()),
        };
        let verdict = if connected {
            "connected"
        } else if result.is_duplicate() {
            "duplicate"
        } else {
            "stored"
        };
        format!("{verdict} {} ", self.tip())
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("blvm-kernel-worker: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let logger = Logger::new(Capture)?;
    let dir = std::env::temp_dir().join(format!("blvm-kernel-worker-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let checked: Arc<Mutex<Vec<Checked>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = checked.clone();
    let context = ContextBuilder::new()
        .chain_type(ChainType::Regtest)
        .with_block_checked_validation(move |block: Block, state: BlockValidationStateRef<'_>| {
            let event = Checked {
                hash: block.hash().to_bytes(),
                mode: state.mode(),
                result: state.result(),
            };
            if let Ok(mut v) = sink.lock() {
                v.push(event);
            }
        })
        .build()?;
    let chainman = ChainstateManager::builder(
        &context,
        &dir.join("chainstate").to_string_lossy(),
        &dir.join("blocks").to_string_lossy(),
    )?
    .chainstate_db_in_memory(true)
    .block_tree_db_in_memory(true)
    .worker_threads(2)
    .build()?;
    let worker = Worker { chainman, checked };
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line?;
        let answer = if let Some(h) = line.strip_prefix("submit ") {
            match Vec::<u8>::from_hex(h.trim()).ok() {
                Some(bytes) => worker.submit(&bytes),
                None => format!("error {} request is not hex", worker.tip()),
            }
        } else if line.trim() == "tip" {
            format!("connected {} ", worker.tip())
        } else if line.trim() == "quit" {
            break;
        } else {
            format!("error {} unknown request", worker.tip())
        };
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    drop(worker);
    drop(context);
    drop(logger);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

//! Bitcoin Core's engine as an [`Engine`]: a client of the `blvm-kernel-worker` process (built
//! with feature `kernel`), which runs libbitcoinkernel's `ChainstateManager` on regtest and reads
//! verdicts from the block-checked validation callback and the active tip (see the worker's
//! docs). A separate process keeps Core's global state (its logger, its chainstate's threads) and
//! any abort inside Core out of the process that runs blvm-node's engine.

use crate::engine::{Engine, Outcome, Verdict};
use bitcoin::consensus::serialize;
use bitcoin::hashes::Hash;
use bitcoin::hex::DisplayHex;
use bitcoin::hex::FromHex;
use bitcoin::{Block, BlockHash};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// Errors starting or talking to the worker.
#[derive(Debug, thiserror::Error)]
pub enum CoreEngineError {
    /// Spawning or piping failed.
    #[error("kernel worker {path}: {source}")]
    Io {
        /// The worker binary.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The worker answered something unparsable.
    #[error("kernel worker protocol: {0}")]
    Protocol(String),
}

/// The Core engine (one worker process).
pub struct CoreEngine {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    tip: (BlockHash, u32),
}

impl CoreEngine {
    /// Starts the worker at `worker` (a fresh regtest chainstate, genesis only).
    pub fn spawn(worker: &Path) -> Result<CoreEngine, CoreEngineError> {
        let io = |source| CoreEngineError::Io {
            path: worker.display().to_string(),
            source,
        };
        let mut child = Command::new(worker)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(io)?;
        let stdin = child.stdin.take().ok_or_else(|| CoreEngineError::Protocol("no stdin".into()))?;
        let stdout = BufReader::new(child.stdout.take().ok_or_else(|| CoreEngineError::Protocol("no stdout".into()))?);
        let mut e = CoreEngine {
            child,
            stdin,
            stdout,
            tip: (BlockHash::all_zeros(), 0),
        };
        let (_, tip, _) = e.request("tip")?;
        e.tip = tip;
        Ok(e)
    }

    fn request(&mut self, line: &str) -> Result<(Verdict, (BlockHash, u32), String), CoreEngineError> {
        let io = |source| CoreEngineError::Io {
            path: "worker pipe".into(),
            source,
        };
        self.stdin.write_all(line.as_bytes()).map_err(io)?;
        self.stdin.write_all(b"\n").map_err(io)?;
        self.stdin.flush().map_err(io)?;
        let mut answer = String::new();
        if self.stdout.read_line(&mut answer).map_err(io)? == 0 {
            return Err(CoreEngineError::Protocol("worker exited".into()));
        }
        parse_answer(answer.trim_end()).ok_or_else(|| CoreEngineError::Protocol(format!("bad answer {answer:?}")))
    }
}

fn parse_answer(a: &str) -> Option<(Verdict, (BlockHash, u32), String)> {
    let mut parts = a.splitn(4, ' ');
    let verdict = match parts.next()? {
        "connected" => Verdict::Connected,
        "stored" => Verdict::Stored,
        "duplicate" => Verdict::Duplicate,
        "orphan" => Verdict::Orphan,
        "rejected" => Verdict::Rejected,
        _ => Verdict::Error,
    };
    let hash_bytes = Vec::<u8>::from_hex(parts.next()?).ok()?;
    let hash = BlockHash::from_byte_array(<[u8; 32]>::try_from(hash_bytes.as_slice()).ok()?);
    let height: u32 = parts.next()?.parse().ok()?;
    Some((verdict, (hash, height), parts.next().unwrap_or("").trim().to_string()))
}

impl Drop for CoreEngine {
    fn drop(&mut self) {
        let _ = self.stdin.write_all(b"quit\n");
        let _ = self.stdin.flush();
        if self.child.wait().is_err() {
            let _ = self.child.kill();
        }
    }
}

impl Engine for CoreEngine {
    fn name(&self) -> &'static str {
        "core"
    }

    fn submit(&mut self, block: &Block) -> Outcome {
        let line = format!("submit {}", serialize(block).to_lower_hex_string());
        match self.request(&line) {
            Ok((verdict, tip, reason)) => {
                self.tip = tip;
                Outcome { verdict, reason }
            }
            Err(e) => Outcome {
                verdict: Verdict::Error,
                reason: e.to_string(),
            },
        }
    }

    fn tip(&self) -> (BlockHash, u32) {
        self.tip
    }
}

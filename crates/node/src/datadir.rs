//! The datadir and blocks directory: their paths, and the locks that keep two nodes out of the
//! same one.

use std::fs::{File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Holding this keeps the datadir locked; dropping it releases the lock.
pub struct DatadirLock {
    _file: File,
}

/// Why the lock could not be taken.
#[derive(Debug, Error)]
pub enum LockError {
    /// Another process holds it. Core's wording, name included: Core's tests and operators'
    /// scripts match it (blvm-node uses Core's datadir layout, so it is a drop-in for bitcoind).
    #[error("Cannot obtain a lock on directory {0}. blvm-node is probably already running.")]
    Held(String),
    /// The lock file could not be created.
    #[error("cannot create lock file {path}: {source}")]
    Io {
        /// The lock file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl DatadirLock {
    /// Creates `dir` if needed and takes an exclusive, non-blocking lock on `dir/.lock`.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let path = dir.join(".lock");
        std::fs::create_dir_all(dir).map_err(|e| LockError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| LockError::Io {
                path: path.display().to_string(),
                source: e,
            })?;
        // SAFETY: flock on a valid, owned file descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(LockError::Held(dir.display().to_string()));
        }
        Ok(DatadirLock { _file: file })
    }
}

/// `<base>/<network subdir>` (`base` itself for mainnet): Core's layout, shared by the datadir
/// and `-blocksdir`.
pub fn network_dir(base: &Path, data_subdir: &str) -> PathBuf {
    if data_subdir.is_empty() {
        base.to_path_buf()
    } else {
        base.join(data_subdir)
    }
}

/// Where the block and undo files live (Core's GetBlocksDirPath): `<blocksdir>/<network>/blocks`
/// with `-blocksdir`, else `<net_dir>/blocks`. The only place this path is computed.
pub fn blocks_dir(net_dir: &Path, blocksdir: Option<&Path>, data_subdir: &str) -> PathBuf {
    match blocksdir {
        Some(base) => network_dir(base, data_subdir),
        None => net_dir.to_path_buf(),
    }
    .join("blocks")
}

/// Locks the network directory, then the blocks directory (Core's LockDirectories), so no
/// second node shares either.
pub fn lock_directories(net_dir: &Path, blocks_dir: &Path) -> Result<[DatadirLock; 2], LockError> {
    Ok([DatadirLock::acquire(net_dir)?, DatadirLock::acquire(blocks_dir)?])
}

//! The datadir lock: two nodes must never open the same datadir.

use std::fs::{File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use thiserror::Error;

/// Holding this keeps the datadir locked; dropping it releases the lock.
pub struct DatadirLock {
    _file: File,
}

/// Why the lock could not be taken.
#[derive(Debug, Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("cannot obtain a lock on data directory {0}: blvm-node is probably already running")]
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

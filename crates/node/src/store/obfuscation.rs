//! XOR obfuscation of block and undo files with the 8-byte key in `<blocks dir>/xor.dat`, as
//! Bitcoin Core ≥ 28 (`-blocksxor`): every byte at file offset `i` is XORed with `key[i % 8]`,
//! so files on disk do not contain raw transaction data that scanners might flag.

use bitcoin::hex::DisplayHex;
use rand::RngCore;
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Name of the key file inside the blocks directory (Core's).
pub const XOR_KEY_FILE: &str = "xor.dat";

/// Length of the key (Core's `Obfuscation::KEY_SIZE`).
pub const XOR_KEY_LEN: usize = 8;

/// The key block and undo file bytes are XORed with; all zeros means no obfuscation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct XorKey([u8; XOR_KEY_LEN]);

/// Why the key could not be set up.
#[derive(Debug, Error)]
pub enum XorKeyError {
    /// `-blocksxor=0` while the directory's files are obfuscated with a non-zero key (Core's
    /// wording, which its tests and operators' scripts match).
    #[error("The blocksdir XOR-key can not be disabled when a random key was already stored! Stored key: '{}', stored path: '{}'.", key.as_hex(), path.display())]
    CannotDisable {
        /// The stored key.
        key: [u8; XOR_KEY_LEN],
        /// The key file.
        path: PathBuf,
    },
    /// Reading, creating or listing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl XorKey {
    /// A key from its stored bytes.
    pub fn new(bytes: [u8; XOR_KEY_LEN]) -> Self {
        XorKey(bytes)
    }

    /// The key's bytes, as stored in `xor.dat`.
    pub fn bytes(&self) -> [u8; XOR_KEY_LEN] {
        self.0
    }

    /// Whether the key leaves bytes unchanged.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; XOR_KEY_LEN]
    }

    /// XORs `buf`, which sits at `offset` in its file, in place (the same call obfuscates and
    /// restores).
    pub fn apply(&self, buf: &mut [u8], offset: u64) {
        if self.is_zero() {
            return;
        }
        // The key rotated to the buffer's start, then applied a word at a time (a block is
        // XORed on the thread that connects blocks, so a byte loop would cost it ~0.1 s per
        // 100 MB).
        let start = (offset % XOR_KEY_LEN as u64) as usize;
        let mut key = self.0;
        key.rotate_left(start);
        let word = u64::from_ne_bytes(key);
        let mut chunks = buf.chunks_exact_mut(XOR_KEY_LEN);
        for chunk in &mut chunks {
            let mut bytes = [0u8; XOR_KEY_LEN];
            bytes.copy_from_slice(chunk);
            chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
        }
        for (b, k) in chunks.into_remainder().iter_mut().zip(key) {
            *b ^= k;
        }
    }

    /// Sets up the key of the blocks directory `dir` as Core's `InitBlocksdirXorKey`: an existing
    /// `xor.dat` always wins; otherwise a random key when `use_xor` and the directory holds no
    /// data yet (only hidden files such as `.lock`), else zeros, so files written before
    /// obfuscation existed stay readable. The chosen key is written to `xor.dat`. With
    /// `use_xor` off, a stored non-zero key is an error.
    pub fn init(dir: &Path, use_xor: bool) -> Result<XorKey, XorKeyError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| XorKeyError::Io { path, source }
        };
        let path = dir.join(XOR_KEY_FILE);
        let key = match std::fs::read(&path) {
            Ok(bytes) => {
                let bytes: [u8; XOR_KEY_LEN] = bytes
                    .get(..XOR_KEY_LEN)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| XorKeyError::Io {
                        path: path.clone(),
                        source: std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "key file shorter than 8 bytes"),
                    })?;
                XorKey(bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = XorKey::default();
                if use_xor && only_hidden_files(dir).map_err(io(dir))? {
                    rand::thread_rng().fill_bytes(&mut key.0);
                }
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(io(&path))?;
                f.write_all(&key.0).map_err(io(&path))?;
                f.sync_all().map_err(io(&path))?;
                key
            }
            Err(e) => return Err(XorKeyError::Io { path, source: e }),
        };
        if !use_xor && !key.is_zero() {
            return Err(XorKeyError::CannotDisable { key: key.0, path });
        }
        tracing::info!(
            "Using obfuscation key for blocksdir *.dat files ({}): '{}'",
            dir.display(),
            key.0.as_hex()
        );
        Ok(key)
    }
}

/// True when every entry of `dir` is a regular file whose name starts with a dot (a first run:
/// the lock file may already be there).
fn only_hidden_files(dir: &Path) -> std::io::Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() || !entry.file_name().to_string_lossy().starts_with('.') {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_is_offset_aware_and_self_inverse() {
        let key = XorKey::new([1, 2, 3, 4, 5, 6, 7, 8]);
        let data: Vec<u8> = (0u8..20).collect();
        let mut whole = data.clone();
        key.apply(&mut whole, 0);
        assert_ne!(whole, data);
        // Obfuscating a slice at its file offset gives the same bytes as the whole file.
        let mut tail = data[5..].to_vec();
        key.apply(&mut tail, 5);
        assert_eq!(tail, whole[5..]);
        key.apply(&mut whole, 0);
        assert_eq!(whole, data);
        // Byte `i` of the file is XORed with key byte `i % 8`, at every offset and length.
        for offset in 0..16u64 {
            for len in 0..40usize {
                let mut buf: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
                let want: Vec<u8> = buf
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ key.bytes()[(offset as usize + i) % XOR_KEY_LEN])
                    .collect();
                key.apply(&mut buf, offset);
                assert_eq!(buf, want, "offset {offset} len {len}");
            }
        }
    }

    #[test]
    fn init_follows_cores_rules() {
        // First run (only a hidden lock file): a random key, stored, and read back next time.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".lock"), b"").unwrap();
        let key = XorKey::init(dir.path(), true).unwrap();
        assert!(!key.is_zero());
        assert_eq!(std::fs::read(dir.path().join(XOR_KEY_FILE)).unwrap(), key.bytes());
        assert_eq!(XorKey::init(dir.path(), true).unwrap(), key);
        // The stored random key cannot be switched off.
        let err = XorKey::init(dir.path(), false).unwrap_err();
        assert!(err.to_string().starts_with("The blocksdir XOR-key can not be disabled"), "{err}");

        // Block files from before obfuscation and no key file: a zero key is stored.
        let old = tempfile::tempdir().unwrap();
        std::fs::write(old.path().join("blk00000.dat"), b"x").unwrap();
        assert!(XorKey::init(old.path(), true).unwrap().is_zero());
        assert_eq!(std::fs::read(old.path().join(XOR_KEY_FILE)).unwrap(), vec![0; XOR_KEY_LEN]);
        assert!(XorKey::init(old.path(), false).unwrap().is_zero());

        // -blocksxor=0 on a fresh directory: zeros.
        let off = tempfile::tempdir().unwrap();
        assert!(XorKey::init(off.path(), false).unwrap().is_zero());
    }
}

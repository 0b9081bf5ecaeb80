//! The module's file cache: a flat directory of files, evicted oldest first (by modification
//! time, then name).

use serde::Serialize;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// One cached file.
#[derive(Debug, Clone)]
struct CacheFile {
    name: String,
    len: u64,
    modified: SystemTime,
}

/// What an eviction did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Eviction {
    /// Names of the deleted files, oldest first.
    pub deleted_files: Vec<String>,
    /// Bytes those files held.
    pub freed_bytes: u64,
    /// Files left in the cache.
    pub kept_files: usize,
}

/// Regular files in `dir`, newest first.
fn list(dir: &Path) -> io::Result<Vec<CacheFile>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        if meta.is_file() && !name.ends_with(".tmp") {
            files.push(CacheFile {
                name,
                len: meta.len(),
                modified: meta.modified()?,
            });
        }
    }
    files.sort_by(|a, b| b.modified.cmp(&a.modified).then_with(|| b.name.cmp(&a.name)));
    Ok(files)
}

/// Writes `bytes` as cache file `name` (via a temp file, so a crash leaves no half file).
pub fn put(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    drop(f);
    std::fs::rename(tmp, dir.join(name))
}

/// Creates `count` files `prefill-NNNN.bin` of `size` bytes (skipping existing ones), dated one
/// minute apart in the past so that `prefill-0000.bin` is the oldest.
pub fn prefill(dir: &Path, count: u64, size: u64) -> io::Result<()> {
    let now = SystemTime::now();
    for i in 0..count {
        let path = dir.join(format!("prefill-{i:04}.bin"));
        if path.exists() {
            continue;
        }
        let byte = (i % 251) as u8;
        let len = usize::try_from(size).map_err(io::Error::other)?;
        put(dir, &format!("prefill-{i:04}.bin"), &vec![byte; len])?;
        let age = Duration::from_secs(60 * (count - i));
        File::options()
            .write(true)
            .open(&path)?
            .set_modified(now.checked_sub(age).unwrap_or(now))?;
    }
    Ok(())
}

/// Deletes every file but the `keep_newest` newest ones.
pub fn evict(dir: &Path, keep_newest: usize) -> io::Result<Eviction> {
    let files = list(dir)?;
    let mut out = Eviction {
        kept_files: files.len().min(keep_newest),
        ..Eviction::default()
    };
    for f in files.iter().skip(keep_newest).rev() {
        match std::fs::remove_file(dir.join(&f.name)) {
            Ok(()) => {
                out.freed_bytes += f.len;
                out.deleted_files.push(f.name.clone());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest_first_and_counts_bytes() {
        let dir = tempfile::tempdir().unwrap();
        prefill(dir.path(), 5, 100).unwrap();
        put(dir.path(), "hdr-0000000007.bin", &[7u8; 80]).unwrap();
        let ev = evict(dir.path(), 3).unwrap();
        assert_eq!(ev.deleted_files, ["prefill-0000.bin", "prefill-0001.bin", "prefill-0002.bin"]);
        assert_eq!(ev.freed_bytes, 300);
        assert_eq!(ev.kept_files, 3);
        let mut left: Vec<String> = list(dir.path()).unwrap().into_iter().map(|f| f.name).collect();
        left.sort();
        assert_eq!(left, ["hdr-0000000007.bin", "prefill-0003.bin", "prefill-0004.bin"]);
        // Nothing more to do when the cache is already small enough.
        assert_eq!(evict(dir.path(), 3).unwrap().deleted_files.len(), 0);
    }
}

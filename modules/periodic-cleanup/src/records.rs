//! Dated records: one JSON file per record in a flat directory; a record's age is its file's
//! modification time.

use serde::Serialize;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Seconds in a day.
const DAY: u64 = 86_400;

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sweep {
    /// Deleted record names, sorted.
    pub deleted: Vec<String>,
    /// Remaining record names, sorted.
    pub kept: Vec<String>,
    /// Bytes the deleted records held.
    pub freed_bytes: u64,
}

/// Writes record `name` with `body` (via a temp file) and dates it `age_days` in the past.
pub fn write(dir: &Path, name: &str, body: &serde_json::Value, age_days: u64) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(body.to_string().as_bytes())?;
    if age_days > 0 {
        let now = SystemTime::now();
        f.set_modified(now.checked_sub(Duration::from_secs(age_days * DAY)).unwrap_or(now))?;
    }
    drop(f);
    std::fs::rename(tmp, dir.join(name))
}

/// Creates `aged-<N>d.json` for each age in `ages_days` that does not exist yet.
pub fn prefill(dir: &Path, ages_days: &[u64]) -> io::Result<()> {
    for &age in ages_days {
        let name = format!("aged-{age}d.json");
        if !dir.join(&name).exists() {
            write(dir, &name, &serde_json::json!({"kind": "prefill", "age_days": age}), age)?;
        }
    }
    Ok(())
}

/// Deletes `*.json` records whose modification time is more than `max_age_days` before `now`.
pub fn sweep(dir: &Path, max_age_days: u64, now: SystemTime) -> io::Result<Sweep> {
    let max_age = Duration::from_secs(max_age_days.saturating_mul(DAY));
    let mut out = Sweep::default();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        if !meta.is_file() || !name.ends_with(".json") {
            continue;
        }
        // A record dated in the future has age zero.
        let age = now.duration_since(meta.modified()?).unwrap_or(Duration::ZERO);
        if age > max_age {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    out.freed_bytes += meta.len();
                    out.deleted.push(name);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        } else {
            out.kept.push(name);
        }
    }
    out.deleted.sort();
    out.kept.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletes_only_records_older_than_the_target_age() {
        let dir = tempfile::tempdir().unwrap();
        prefill(dir.path(), &[1, 10, 40, 100]).unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"not a record").unwrap();
        let s = sweep(dir.path(), 30, SystemTime::now()).unwrap();
        assert_eq!(s.deleted, ["aged-100d.json", "aged-40d.json"]);
        assert_eq!(s.kept, ["aged-10d.json", "aged-1d.json"]);
        assert!(s.freed_bytes > 0);
        assert!(dir.path().join("notes.txt").exists());
        // Ten days later the 10-day record is 20 days old: still kept at 30, gone at 15.
        let later = SystemTime::now() + Duration::from_secs(10 * DAY);
        assert_eq!(sweep(dir.path(), 30, later).unwrap().deleted.len(), 0);
        assert_eq!(sweep(dir.path(), 15, later).unwrap().deleted, ["aged-10d.json"]);
    }
}

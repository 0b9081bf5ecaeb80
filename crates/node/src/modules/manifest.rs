//! `module.toml`: what a module is, how to start it and what it may do.

use blvm_module::Capability;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A manifest that cannot be used, naming the file and the problem.
#[derive(Debug, Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The manifest file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or misses fields.
    #[error("{path}: {message}")]
    Invalid {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    version: String,
    entry: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    capabilities: Vec<String>,
    #[serde(default = "default_true")]
    autoload: bool,
    #[serde(default)]
    config: Option<toml::Table>,
}

fn default_true() -> bool {
    true
}

/// A validated module manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Module name: its namespace for published events; `[a-z0-9_-]`, 1..=64 chars.
    pub name: String,
    /// Module version.
    pub version: String,
    /// Executable to start (absolute, or resolved against the module directory).
    pub entry: PathBuf,
    /// Arguments passed to the executable.
    pub args: Vec<String>,
    /// Granted capabilities.
    pub capabilities: Vec<Capability>,
    /// Start with the node.
    pub autoload: bool,
    /// Module configuration, passed as JSON in `BLVM_MODULE_CONFIG`.
    pub config: serde_json::Value,
    /// Directory holding the manifest.
    pub dir: PathBuf,
}

/// Whether `name` is an acceptable module name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Manifest {
    /// Reads and validates `<dir>/module.toml`.
    pub fn load(dir: &Path) -> Result<Self, ManifestError> {
        let path = dir.join("module.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| ManifestError::Io {
            path: path.clone(),
            source: e,
        })?;
        Self::parse(&text, dir).map_err(|message| ManifestError::Invalid { path, message })
    }

    /// Parses manifest text belonging to directory `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<Self, String> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| e.to_string())?;
        if !valid_name(&raw.name) {
            return Err(format!("invalid module name '{}': use 1-64 of [a-z0-9_-]", raw.name));
        }
        let mut capabilities = Vec::new();
        for c in &raw.capabilities {
            let cap: Capability = c.parse().map_err(|_| {
                let allowed: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
                format!("unknown capability '{c}' (allowed: {})", allowed.join(", "))
            })?;
            capabilities.push(cap);
        }
        let entry = PathBuf::from(&raw.entry);
        // Absolute paths are used as they are; a bare command name (no '/') that is not a file
        // in the module directory is looked up on PATH, like a shell would (e.g. "python3").
        let entry = if entry.is_absolute() || (!raw.entry.contains('/') && !dir.join(&entry).exists()) {
            entry
        } else {
            dir.join(entry)
        };
        let config = match raw.config {
            Some(t) => serde_json::to_value(t).map_err(|e| format!("config: {e}"))?,
            None => serde_json::Value::Object(Default::default()),
        };
        Ok(Manifest {
            name: raw.name,
            version: raw.version,
            entry,
            args: raw.args,
            capabilities,
            autoload: raw.autoload,
            config,
            dir: dir.to_path_buf(),
        })
    }
}

/// Every manifest under `modules_dir/<name>/module.toml`; bad ones are reported, not fatal.
pub fn discover(modules_dir: &Path) -> (Vec<Manifest>, Vec<ManifestError>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    let Ok(rd) = std::fs::read_dir(modules_dir) else { return (ok, bad) };
    let mut dirs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.join("module.toml").is_file()).collect();
    dirs.sort();
    for d in dirs {
        match Manifest::load(&d) {
            Ok(m) => ok.push(m),
            Err(e) => bad.push(e),
        }
    }
    (ok, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let m = Manifest::parse(
            "name = \"disk-space\"\nversion = \"1.0\"\nentry = \"bin/ds\"\ncapabilities = [\"read_chain\"]\n[config]\nkeep_days = 3\n",
            Path::new("/m"),
        )
        .unwrap();
        assert_eq!(m.entry, PathBuf::from("/m/bin/ds"));
        let py = Manifest::parse("name = \"py\"\nversion = \"1\"\nentry = \"python3\"\n", Path::new("/nonexistent")).unwrap();
        assert_eq!(py.entry, PathBuf::from("python3"), "bare names are looked up on PATH");
        assert_eq!(m.capabilities, vec![Capability::ReadChain]);
        assert_eq!(m.config["keep_days"], 3);
        assert!(m.autoload);
        let e = Manifest::parse(
            "name = \"x\"\nversion = \"1\"\nentry = \"e\"\ncapabilities = [\"root\"]\n",
            Path::new("/"),
        )
        .unwrap_err();
        assert!(e.contains("unknown capability 'root'"), "{e}");
        assert!(Manifest::parse("name = \"Bad Name\"\nversion = \"1\"\nentry = \"e\"\n", Path::new("/")).is_err());
        assert!(Manifest::parse("name = \"x\"\nversion = \"1\"\nentry = \"e\"\nbogus = 1\n", Path::new("/")).is_err());
    }
}

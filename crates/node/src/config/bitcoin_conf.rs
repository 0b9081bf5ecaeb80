//! Bitcoin Core's configuration file format (`bitcoin.conf`): `key=value` lines, `#` comments,
//! `[main]`/`[test]`/`[testnet4]`/`[signet]`/`[regtest]` sections, `section.key=value`, and
//! `includeconf=FILE` (one level deep, as Core).

use super::ConfigError;
use std::path::{Path, PathBuf};

/// One `key=value` line of a Core configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfLine {
    /// The network section it applies to (`None`: the top of the file, every network).
    pub section: Option<String>,
    /// The option name as written (may start with `no`).
    pub key: String,
    /// The value (empty for `key=`).
    pub value: String,
    /// The file it came from.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: usize,
}

/// Most files one configuration may pull in through `includeconf` (a bound on startup work).
pub const MAX_INCLUDES: usize = 64;

/// Parses Core's format; errors are worded as Core's ("parse error on line N: ...").
pub fn parse(path: &Path, text: &str) -> Result<Vec<ConfLine>, ConfigError> {
    let mut out = Vec::new();
    let mut section: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let err = |msg: String| ConfigError::Core(format!("Error reading configuration file: {msg}"));
        let uncommented = match raw.find('#') {
            Some(pos) => {
                if raw[..pos].trim_start().starts_with("rpcpassword") || raw[..pos].contains(".rpcpassword") {
                    return Err(err(format!(
                        "parse error on line {n}, using # in rpcpassword can be ambiguous and should be avoided"
                    )));
                }
                &raw[..pos]
            }
            None => raw,
        };
        let line = uncommented.trim_matches([' ', '\t', '\r', '\n']);
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.trim().to_string());
            continue;
        }
        if line.starts_with('-') {
            return Err(err(format!(
                "parse error on line {n}: {line}, options in configuration file must be specified without leading hyphen"
            )));
        }
        let Some((k, v)) = line.split_once('=') else {
            let hint = if line.starts_with("no") {
                format!(", if you intended to specify a negated option, use -{line}=1 instead")
            } else {
                String::new()
            };
            return Err(err(format!("parse error on line {n}: {line}{hint}")));
        };
        let key = k.trim_matches([' ', '\t']);
        let value = v.trim_matches([' ', '\t']).to_string();
        // `regtest.rpcport=1` is the same as `rpcport=1` in a [regtest] section.
        let (sec, key) = match key.split_once('.') {
            Some((s, k)) if section.is_none() => (Some(s.to_string()), k.to_string()),
            _ => (section.clone(), key.to_string()),
        };
        out.push(ConfLine {
            section: sec,
            key,
            value,
            path: path.to_path_buf(),
            line: n,
        });
    }
    Ok(out)
}

/// Reads `path` and the files its `includeconf` lines name (relative to `datadir`), in Core's
/// order: the main file's lines, then each included file's lines. Includes inside included files
/// are reported in `warnings` and not followed, as Core does.
pub fn read_with_includes(path: &Path, datadir: &Path, warnings: &mut Vec<String>) -> Result<Vec<ConfLine>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.display().to_string(),
        message: format!("cannot read it: {e}"),
    })?;
    let main = parse(path, &text)?;
    let mut out = Vec::new();
    let mut includes = Vec::new();
    for l in main {
        if l.key == "includeconf" {
            includes.push(l);
        } else {
            out.push(l);
        }
    }
    if includes.len() > MAX_INCLUDES {
        return Err(ConfigError::Core(format!(
            "Error reading configuration file: more than {MAX_INCLUDES} includeconf lines in {}",
            path.display()
        )));
    }
    for inc in includes {
        let p = datadir.join(&inc.value);
        let text = std::fs::read_to_string(&p).map_err(|_| {
            ConfigError::Core(format!(
                "Error reading configuration file: Failed to include configuration file {}",
                inc.value
            ))
        })?;
        for l in parse(&p, &text)? {
            if l.key == "includeconf" {
                warnings.push(format!(
                    "includeconf cannot be used from included files; ignoring -includeconf={} in {}",
                    l.value,
                    p.display()
                ));
                continue;
            }
            out.push(l);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_format() {
        let t = "# comment\nregtest=1\n\n[regtest]\nport = 1234 # trailing\nrpcuser=u\nnolisten=1\n[main]\ndbcache=5\n";
        let l = parse(Path::new("b.conf"), t).unwrap();
        let got: Vec<(Option<&str>, &str, &str, usize)> = l
            .iter()
            .map(|l| (l.section.as_deref(), l.key.as_str(), l.value.as_str(), l.line))
            .collect();
        assert_eq!(
            got,
            vec![
                (None, "regtest", "1", 2),
                (Some("regtest"), "port", "1234", 5),
                (Some("regtest"), "rpcuser", "u", 6),
                (Some("regtest"), "nolisten", "1", 7),
                (Some("main"), "dbcache", "5", 9),
            ]
        );
        let l = parse(Path::new("b.conf"), "regtest.rpcport=7\n").unwrap();
        assert_eq!((l[0].section.as_deref(), l[0].key.as_str()), (Some("regtest"), "rpcport"));
    }

    #[test]
    fn core_errors() {
        let e = |t: &str| parse(Path::new("b.conf"), t).unwrap_err().to_string();
        assert_eq!(
            e("-regtest=1\n"),
            "Error reading configuration file: parse error on line 1: -regtest=1, options in configuration file must be specified without leading hyphen"
        );
        assert_eq!(
            e("a=1\nnofoo\n"),
            "Error reading configuration file: parse error on line 2: nofoo, if you intended to specify a negated option, use -nofoo=1 instead"
        );
        assert!(e("rpcpassword=a#b\n").contains("using # in rpcpassword can be ambiguous"));
    }

    #[test]
    fn includes_one_level() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.conf"), "includeconf=b.conf\ndbcache=7\n").unwrap();
        std::fs::write(d.path().join("b.conf"), "includeconf=c.conf\nprune=550\n").unwrap();
        let mut w = Vec::new();
        let l = read_with_includes(&d.path().join("a.conf"), d.path(), &mut w).unwrap();
        let keys: Vec<&str> = l.iter().map(|l| l.key.as_str()).collect();
        assert_eq!(keys, vec!["dbcache", "prune"]);
        assert_eq!(w.len(), 1, "{w:?}");
        std::fs::write(d.path().join("a.conf"), "includeconf=missing.conf\n").unwrap();
        let e = read_with_includes(&d.path().join("a.conf"), d.path(), &mut w)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Failed to include configuration file missing.conf"), "{e}");
    }
}

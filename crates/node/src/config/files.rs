//! The configuration files as settings: Core's `bitcoin.conf` (through [`super::bitcoin_conf`])
//! and blvm's TOML file, each line tagged with its file, line and network section.

use super::bitcoin_conf;
use super::settings::{canonical, is_repeatable, known, Setting, Source, CONFIG_SECTIONS, NETWORK_KEYS};
use super::ConfigError;
use std::path::Path;

/// `bitcoin.conf` lines as settings (top level: layer 0, section: layer 1). Unknown keys and
/// network choices inside a section are warnings, as in Core, not errors.
pub(super) fn core_conf_settings(
    lines: Vec<bitcoin_conf::ConfLine>,
    warnings: &mut Vec<String>,
) -> Result<Vec<(Option<String>, Setting)>, ConfigError> {
    let mut out = Vec::new();
    for l in lines {
        let source = Source::File {
            path: l.path.clone(),
            line: Some(l.line),
            section: l.section.clone(),
        };
        let c = canonical(&l.key);
        if !known(&c) || l.key == "h" || l.key == "?" {
            warnings.push(format!("Ignoring unknown configuration value {} ({source})", l.key));
            continue;
        }
        if matches!(c.as_str(), "help" | "version" | "conf") {
            return Err(ConfigError::At {
                origin: source.to_string(),
                error: Box::new(ConfigError::Core(format!(
                    "{} cannot be set in the configuration file; use includeconf= if you want to include additional config files",
                    l.key
                ))),
            });
        }
        if let Some(sec) = &l.section {
            if !CONFIG_SECTIONS.iter().any(|s| s.0 == sec) {
                warnings.push(format!("{}:{} Section [{sec}] is not recognized.", l.path.display(), l.line));
                continue;
            }
            if NETWORK_KEYS.contains(&c.as_str()) {
                warnings.push(format!(
                    "Ignoring -{} inside a network section ({source}): the network is chosen at the top of the file",
                    l.key
                ));
                continue;
            }
        }
        out.push((
            l.section.clone(),
            Setting {
                name: l.key,
                value: Some(l.value),
                source,
                layer: if l.section.is_some() { 1 } else { 0 },
            },
        ));
    }
    Ok(out)
}

/// 1-based line where `key` is assigned in `section` (None: top level) of a TOML text.
pub(super) fn find_line(text: &str, section: Option<&str>, key: &str) -> Option<usize> {
    let mut current: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix('[') {
            current = rest.split(']').next().map(|s| s.trim().trim_matches('"').to_string());
            continue;
        }
        if current.as_deref() != section {
            continue;
        }
        let Some((k, _)) = t.split_once('=') else { continue };
        if k.trim().trim_matches('"').trim_matches('\'') == key {
            return Some(i + 1);
        }
    }
    None
}

/// Turns one TOML value into option values (arrays only for repeatable options).
pub(super) fn toml_values(key: &str, v: &toml::Value) -> Result<Vec<String>, ConfigError> {
    let scalar = |v: &toml::Value| -> Option<String> {
        match v {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(i) => Some(i.to_string()),
            toml::Value::Boolean(b) => Some(if *b { "1" } else { "0" }.into()),
            _ => None,
        }
    };
    let bad = |expected: &'static str| ConfigError::BadValue {
        key: key.into(),
        value: v.to_string(),
        expected,
    };
    match v {
        toml::Value::Array(items) if is_repeatable(&canonical(key)) => items
            .iter()
            .map(|i| scalar(i).ok_or_else(|| bad("strings, integers or booleans")))
            .collect(),
        toml::Value::Array(_) => Err(bad("a single value (this option is not repeatable)")),
        other => scalar(other)
            .map(|s| vec![s])
            .ok_or_else(|| bad("a string, an integer or a boolean")),
    }
}

/// Reads the configuration file's settings: top level (layer 0) and every network section
/// (layer 1, tagged with the section name). Keys are checked against [`OPTIONS`].
pub(super) fn file_settings(path: &Path, text: &str) -> Result<Vec<(Option<String>, Setting)>, ConfigError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::File {
        path: path.display().to_string(),
        message: e.to_string().trim_end().to_string(),
    })?;
    let mut out = Vec::new();
    let entry =
        |section: Option<&str>, key: &str, value: &toml::Value, out: &mut Vec<(Option<String>, Setting)>| -> Result<(), ConfigError> {
            let source = Source::File {
                path: path.to_path_buf(),
                line: find_line(text, section, key),
                section: section.map(String::from),
            };
            let at = |error: ConfigError| ConfigError::At {
                origin: source.to_string(),
                error: Box::new(error),
            };
            let c = canonical(key);
            if !known(&c) || key == "h" || key == "?" {
                return Err(at(ConfigError::Unknown(key.into())));
            }
            if matches!(c.as_str(), "help" | "version" | "conf") {
                return Err(at(ConfigError::BadValue {
                    key: key.into(),
                    value: value.to_string(),
                    expected: "no such key in a configuration file (command line only; conf also as BLVM_CONF)",
                }));
            }
            if section.is_some() && NETWORK_KEYS.contains(&c.as_str()) {
                return Err(at(ConfigError::BadValue {
                    key: key.into(),
                    value: value.to_string(),
                    expected: "the network to be chosen at the top level of the file, not in a network section",
                }));
            }
            for v in toml_values(key, value).map_err(at)? {
                out.push((
                    section.map(String::from),
                    Setting {
                        name: key.into(),
                        value: Some(v),
                        source: source.clone(),
                        layer: if section.is_some() { 1 } else { 0 },
                    },
                ));
            }
            Ok(())
        };
    for (key, value) in &table {
        match value {
            toml::Value::Table(t) => {
                if !CONFIG_SECTIONS.iter().any(|s| s.0 == key) {
                    let line = text
                        .lines()
                        .position(|l| l.trim().trim_start_matches('[').trim_end_matches(']').trim().trim_matches('"') == key.as_str())
                        .map(|i| i + 1);
                    let source = Source::File {
                        path: path.to_path_buf(),
                        line,
                        section: None,
                    };
                    return Err(ConfigError::File {
                        path: source.to_string(),
                        message: format!("unknown section [{key}]: allowed are the network sections [main], [test], [testnet4], [signet] or [regtest] (or a key = value line)"),
                    });
                }
                for (k, v) in t {
                    entry(Some(key), k, v, &mut out)?;
                }
            }
            v => entry(None, key, v, &mut out)?,
        }
    }
    Ok(out)
}

//! Logging options as Core spells them: `-debug`/`-debugexclude` categories (blvm's own and
//! Core's names, mapped onto blvm's log targets), `-loglevel`, and the line format flags.

use super::ConfigError;

/// blvm's own log categories (log targets `blvm::<category>` and `blvm_node::<category>`).
pub const BLVM_CATEGORIES: &[&str] = &[
    "chain",
    "validation",
    "store",
    "import",
    "progress",
    "modules",
    "net",
    "mempool",
    "rpc",
    "metrics",
    "zmq",
];

/// Core's `-debug` categories and the blvm categories each one covers (empty: Core logs things
/// there that blvm does not have, e.g. Tor or the wallet; accepted, enables nothing).
pub const CORE_DEBUG_CATEGORIES: &[(&str, &[&str])] = &[
    ("net", &["net"]),
    ("tor", &[]),
    ("mempool", &["mempool"]),
    ("http", &["rpc"]),
    ("bench", &["validation"]),
    ("zmq", &["zmq"]),
    ("walletdb", &[]),
    ("rpc", &["rpc"]),
    ("estimatefee", &["mempool"]),
    ("addrman", &["net"]),
    ("selectcoins", &[]),
    ("reindex", &["import"]),
    ("cmpctblock", &["net"]),
    ("rand", &[]),
    ("prune", &["store"]),
    ("proxy", &[]),
    ("mempoolrej", &["mempool"]),
    ("libevent", &[]),
    ("coindb", &["store"]),
    ("qt", &[]),
    ("leveldb", &["store"]),
    ("validation", &["validation", "chain"]),
    ("i2p", &[]),
    ("ipc", &[]),
    ("lock", &[]),
    ("blockstorage", &["store"]),
    ("txreconciliation", &["net"]),
    ("scan", &["rpc"]),
    ("txpackages", &["mempool"]),
    ("kernel", &["validation"]),
    ("privatebroadcast", &[]),
];

/// The blvm categories a `-debug`/`-debugexclude` value names, or `None` when it names none.
pub fn targets_of(category: &str) -> Option<Vec<&'static str>> {
    if let Some((_, t)) = CORE_DEBUG_CATEGORIES.iter().find(|(c, _)| *c == category) {
        return Some(t.to_vec());
    }
    BLVM_CATEGORIES.iter().find(|c| **c == category).map(|c| vec![*c])
}

/// The `-debug` values in effect: Core disregards every value before the last `0`/`none`.
pub fn active_debug(debug: &[String]) -> &[String] {
    let last_none = debug.iter().rposition(|d| d == "0" || d == "none");
    &debug[last_none.map(|i| i + 1).unwrap_or(0)..]
}

/// Levels `-loglevel` accepts, as Core's.
pub const LEVELS: &[&str] = &["info", "debug", "trace"];

/// Checks a `-loglevel` value (`trace` or `net:trace`), with Core's error wording.
pub fn check_level(v: &str) -> Result<(), ConfigError> {
    match v.split_once(':') {
        None => {
            if LEVELS.contains(&v) {
                Ok(())
            } else {
                Err(ConfigError::Core(format!(
                    "Unsupported global logging level -loglevel={v}. Valid values: {}.",
                    LEVELS.join(", ")
                )))
            }
        }
        Some((cat, level)) => {
            if targets_of(cat).is_some() && LEVELS.contains(&level) {
                Ok(())
            } else {
                Err(ConfigError::Core(format!(
                    "Unsupported category-specific logging level -loglevel={v}. Expected -loglevel=<category>:<loglevel>. Valid loglevels: {}.",
                    LEVELS.join(", ")
                )))
            }
        }
    }
}

/// How each log line starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogFormat {
    /// UTC time first (`-logtimestamps`, default on).
    pub timestamps: bool,
    /// Microseconds in the time (`-logtimemicros`).
    pub micros: bool,
    /// The thread's name (`-logthreadnames`).
    pub thread_names: bool,
    /// Source file and line (`-logsourcelocations`).
    pub source_locations: bool,
}

impl Default for LogFormat {
    fn default() -> Self {
        LogFormat {
            timestamps: true,
            micros: false,
            thread_names: false,
            source_locations: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_and_levels() {
        assert_eq!(targets_of("coindb"), Some(vec!["store"]));
        assert_eq!(targets_of("modules"), Some(vec!["modules"]));
        assert_eq!(targets_of("tor"), Some(vec![]));
        assert_eq!(targets_of("abc"), None);
        assert!(check_level("trace").is_ok() && check_level("net:debug").is_ok());
        assert_eq!(
            check_level("abc").unwrap_err().to_string(),
            "Unsupported global logging level -loglevel=abc. Valid values: info, debug, trace."
        );
        assert!(check_level("net:info:abc")
            .unwrap_err()
            .to_string()
            .starts_with("Unsupported category-specific logging level -loglevel=net:info:abc."));
    }
}

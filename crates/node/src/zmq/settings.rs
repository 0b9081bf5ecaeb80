//! Which notifiers to run, from the `-zmqpub*` options.

use super::topic::Topic;

/// Core's default outbound high water mark (`-zmqpub<topic>hwm`).
pub const DEFAULT_HWM: u32 = 1000;

/// One `-zmqpub<topic>=<address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifierSpec {
    /// The topic.
    pub topic: Topic,
    /// The address as Core reports it (`unix:` already rewritten to `ipc://`).
    pub address: String,
    /// Messages queued for the socket before new ones are dropped (0: no limit).
    pub hwm: u32,
}

/// Every notifier, in Core's order: by topic, then as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZmqSettings {
    /// The notifiers (empty: ZMQ off).
    pub notifiers: Vec<NotifierSpec>,
}

/// Core accepts `unix:<path>` and publishes it as `ipc://<path>`.
pub fn normalize_address(address: &str) -> String {
    match address.strip_prefix("unix:") {
        Some(path) => format!("ipc://{path}"),
        None => address.to_string(),
    }
}

impl ZmqSettings {
    /// Whether any notifier is configured.
    pub fn is_enabled(&self) -> bool {
        !self.notifiers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_prefix_becomes_ipc() {
        assert_eq!(normalize_address("unix:/tmp/x"), "ipc:///tmp/x");
        assert_eq!(normalize_address("tcp://127.0.0.1:1"), "tcp://127.0.0.1:1");
    }
}

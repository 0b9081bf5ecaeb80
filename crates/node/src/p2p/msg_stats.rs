//! Bytes sent and received per message type and peer (`getpeerinfo`'s `bytessent_per_msg` and
//! `bytesrecv_per_msg`), bounded: Core's message types plus one `*other*` bucket, as Core.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// The message types counted by name; anything else is counted as `*other*`.
pub const MESSAGE_TYPES: &[&str] = &[
    "version",
    "verack",
    "addr",
    "addrv2",
    "sendaddrv2",
    "inv",
    "getdata",
    "merkleblock",
    "getblocks",
    "getheaders",
    "tx",
    "headers",
    "block",
    "getaddr",
    "mempool",
    "ping",
    "pong",
    "notfound",
    "filterload",
    "filteradd",
    "filterclear",
    "sendheaders",
    "feefilter",
    "sendcmpct",
    "cmpctblock",
    "getblocktxn",
    "blocktxn",
    "getcfilters",
    "cfilter",
    "getcfheaders",
    "cfheaders",
    "getcfcheckpt",
    "cfcheckpt",
    "wtxidrelay",
    "sendtxrcncl",
];

/// Per-message-type byte counters of one direction of one peer (at most 36 entries).
#[derive(Debug, Default)]
pub struct MsgBytes(Mutex<BTreeMap<&'static str, u64>>);

impl MsgBytes {
    /// Adds `bytes` (header included, as Core) to the bucket of `command`.
    pub fn add(&self, command: &str, bytes: u64) {
        let key = MESSAGE_TYPES.iter().find(|t| **t == command).copied().unwrap_or("*other*");
        *crate::sync::lock(&self.0).entry(key).or_insert(0) += bytes;
    }

    /// Adds the bytes of a raw frame, reading its command from the header.
    pub fn add_frame(&self, frame: &[u8]) {
        let cmd = frame.get(4..16).map(|c| c.split(|b| *b == 0).next().unwrap_or(&[])).unwrap_or(&[]);
        self.add(std::str::from_utf8(cmd).unwrap_or(""), frame.len() as u64);
    }

    /// The counters as a JSON object (only message types seen, as Core).
    pub fn to_json(&self) -> serde_json::Value {
        let m = crate::sync::lock(&self.0);
        serde_json::Value::Object(m.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_bounded() {
        let m = MsgBytes::default();
        m.add("ping", 32);
        m.add("ping", 32);
        for i in 0..1000 {
            m.add(&format!("junk{i}"), 1);
        }
        let mut frame = vec![0u8; 24];
        frame[4..7].copy_from_slice(b"inv");
        m.add_frame(&frame);
        assert_eq!(m.to_json(), serde_json::json!({"*other*": 1000, "inv": 24, "ping": 64}));
    }
}

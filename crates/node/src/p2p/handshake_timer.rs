//! The version handshake deadline (`-peertimeout`), on the node's clock so that `setmocktime`
//! moves it as in Core, with Core's disconnect messages.

use super::PeerShared;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often an unfinished handshake checks its deadline.
pub const POLL: Duration = Duration::from_millis(250);

/// When a connection started, and how long its handshake may take.
pub struct HandshakeTimer {
    connected: i64,
    timeout_secs: i64,
}

impl HandshakeTimer {
    /// Starts now (mock time when set).
    pub fn start(timeout: Duration) -> Self {
        HandshakeTimer {
            connected: crate::clock::unix_now(),
            timeout_secs: timeout.as_secs() as i64,
        }
    }

    /// Whether the handshake time is over (Core: now > connected + timeout).
    pub fn expired(&self) -> bool {
        crate::clock::unix_now() > self.connected + self.timeout_secs
    }

    /// Core's InactivityCheck message for a peer whose handshake timed out.
    pub fn message(&self, peer: &PeerShared) -> String {
        self.message_for(peer, "version")
    }

    /// Core's InactivityCheck message for a peer still in the v2 transport handshake.
    pub fn v2_message(&self, peer: &PeerShared) -> String {
        self.message_for(peer, "V2")
    }

    fn message_for(&self, peer: &PeerShared, stage: &str) -> String {
        let received = peer.bytes_recv.load(Ordering::Relaxed) > 0;
        let sent = peer.bytes_sent.load(Ordering::Relaxed) > 0;
        if received && sent {
            return format!("{stage} handshake timeout, disconnecting peer={}", peer.id);
        }
        let mut never = String::new();
        if !received {
            never.push_str(", never received from peer");
        }
        if !sent {
            never.push_str(", never sent to peer");
        }
        format!(
            "socket no message in first {} seconds{never}, disconnecting peer={}",
            self.timeout_secs, peer.id
        )
    }
}

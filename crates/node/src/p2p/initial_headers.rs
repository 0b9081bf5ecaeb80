//! Which peers we ask for headers while far behind, as Core: one initial headers-sync peer at a
//! time (plus one more per newly announced block) until the best header is within a day of now,
//! with a stall timeout that replaces a sync peer that does not deliver. This keeps a node in
//! initial download from fetching the same long header chain from every peer at once.

use bitcoin::BlockHash;

/// Base of the headers-sync stall timeout (Core's HEADERS_DOWNLOAD_TIMEOUT_BASE).
pub const HEADERS_DOWNLOAD_TIMEOUT_BASE_MS: i64 = 15 * 60 * 1000;
/// Added per header expected since the best header (Core's HEADERS_DOWNLOAD_TIMEOUT_PER_HEADER).
pub const HEADERS_DOWNLOAD_TIMEOUT_PER_HEADER_MS: i64 = 1;
/// A best header younger than this means we are caught up: every peer is synced with.
pub const CAUGHT_UP_SECS: i64 = 24 * 60 * 60;

/// When a headers-sync peer times out (Core's m_headers_sync_timeout).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Deadline {
    /// Not started (or reset after a noban peer's timeout).
    #[default]
    Unset,
    /// UNIX milliseconds (mockable clock).
    At(i64),
    /// We caught up once with this peer: it can no longer time out.
    Never,
}

/// One peer's headers-sync flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerHeadersSync {
    /// We sent it our initial `getheaders` (Core's fSyncStarted).
    pub started: bool,
    /// An `inv` of a new block already made us ask it for headers before its sync started.
    pub inv_triggered: bool,
    /// Its stall deadline.
    pub deadline: Deadline,
    /// It led us along a chain that turned out invalid (a peer we keep: manual or noban), so it
    /// is not chosen as the initial sync peer again.
    pub served_invalid: bool,
}

/// What to do with a sync peer whose deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stalled {
    /// Nothing (in time, caught up, or no other peer to use instead).
    No,
    /// Disconnect it ("Timeout downloading headers").
    Disconnect,
    /// A noban peer is kept, but its sync restarts so another peer may be chosen.
    Restart,
}

/// The node-wide part: how many peers have a sync started, and the block whose `inv` last
/// started one (so one new peer is added per new block, not one per announcer).
#[derive(Debug, Default)]
pub struct InitialHeadersSync {
    started_peers: usize,
    last_inv_trigger: Option<BlockHash>,
}

/// Whether a best header of time `best_time` counts as caught up at `now` (UNIX seconds).
pub fn caught_up(best_time: i64, now: i64) -> bool {
    best_time > now - CAUGHT_UP_SECS
}

impl InitialHeadersSync {
    /// Peers with a sync started (Core's nSyncStarted).
    pub fn started_peers(&self) -> usize {
        self.started_peers
    }

    /// Whether to send `peer` its initial `getheaders`: not yet, and either nobody is being
    /// synced with and the peer is one we download from, or we are caught up.
    pub fn should_start(&self, peer: &PeerHeadersSync, eligible: bool, caught_up: bool) -> bool {
        !peer.started && !peer.served_invalid && ((self.started_peers == 0 && eligible) || caught_up)
    }

    /// A kept sync peer whose chain proved invalid: its sync ends so another peer is chosen
    /// (otherwise, while behind, no other peer would be asked for headers).
    pub fn abandon(&mut self, peer: &mut PeerHeadersSync) {
        peer.served_invalid = true;
        if peer.started {
            peer.started = false;
            peer.deadline = Deadline::Unset;
            self.started_peers = self.started_peers.saturating_sub(1);
        }
    }

    /// Records the initial `getheaders` just sent, with its deadline.
    pub fn start(&mut self, peer: &mut PeerHeadersSync, now_ms: i64, best_time: i64, spacing_secs: i64) {
        let behind_secs = (now_ms / 1000 - best_time).max(0);
        let extra = HEADERS_DOWNLOAD_TIMEOUT_PER_HEADER_MS * behind_secs / spacing_secs.max(1);
        peer.started = true;
        peer.deadline = Deadline::At(now_ms + HEADERS_DOWNLOAD_TIMEOUT_BASE_MS + extra);
        self.started_peers += 1;
    }

    /// Whether an `inv` announcing the unknown `block` should make us ask `peer` for headers.
    pub fn inv_should_ask(&self, peer: &PeerHeadersSync, block: &BlockHash) -> bool {
        peer.started || (!peer.inv_triggered && self.last_inv_trigger != Some(*block))
    }

    /// Records that an `inv` of `block` made us ask `peer` for headers.
    pub fn inv_asked(&mut self, peer: &mut PeerHeadersSync, block: &BlockHash) {
        if !peer.started {
            peer.inv_triggered = true;
            self.last_inv_trigger = Some(*block);
        }
    }

    /// Forgets a disconnected peer.
    pub fn peer_gone(&mut self, peer: &PeerHeadersSync) {
        if peer.started {
            self.started_peers = self.started_peers.saturating_sub(1);
        }
    }

    /// Core's stall check for a sync peer: past its deadline, it is our only sync peer and
    /// another peer we prefer to download from exists (`others_preferred`).
    pub fn check(&mut self, peer: &mut PeerHeadersSync, now_ms: i64, caught_up: bool, others_preferred: bool, noban: bool) -> Stalled {
        if !peer.started || peer.deadline == Deadline::Never {
            return Stalled::No;
        }
        if caught_up {
            peer.deadline = Deadline::Never;
            return Stalled::No;
        }
        let Deadline::At(deadline) = peer.deadline else {
            return Stalled::No;
        };
        if now_ms <= deadline || self.started_peers != 1 || !others_preferred {
            return Stalled::No;
        }
        if !noban {
            return Stalled::Disconnect;
        }
        peer.started = false;
        peer.deadline = Deadline::Unset;
        self.started_peers -= 1;
        Stalled::Restart
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    const DAY: i64 = 86_400;

    #[test]
    fn one_sync_peer_while_behind_everyone_once_caught_up() {
        let mut s = InitialHeadersSync::default();
        let (mut a, mut b) = (PeerHeadersSync::default(), PeerHeadersSync::default());
        assert!(s.should_start(&a, true, false));
        assert!(!s.should_start(&a, false, false), "an ineligible peer is not synced with");
        s.start(&mut a, 1_000_000, 0, 600);
        assert!(!s.should_start(&a, true, false), "already started");
        assert!(!s.should_start(&b, true, false), "only one sync peer while behind");
        assert!(s.should_start(&b, false, true), "every peer once caught up");
        s.peer_gone(&a);
        assert_eq!(s.started_peers(), 0);
        assert!(s.should_start(&b, true, false));
        s.start(&mut b, 1_000_000, 0, 600);
        assert_eq!(s.started_peers(), 1);
        assert!(caught_up(10 * DAY - DAY + 1, 10 * DAY) && !caught_up(10 * DAY - DAY, 10 * DAY));
    }

    #[test]
    fn a_kept_peer_that_led_to_an_invalid_chain_hands_the_sync_over() {
        let mut s = InitialHeadersSync::default();
        let (mut a, b) = (PeerHeadersSync::default(), PeerHeadersSync::default());
        s.start(&mut a, 1_000_000, 0, 600);
        assert!(!s.should_start(&b, true, false));
        s.abandon(&mut a);
        assert_eq!(s.started_peers(), 0);
        assert!(s.should_start(&b, true, false), "another peer takes over");
        assert!(!s.should_start(&a, true, false) && !s.should_start(&a, true, true), "never again");
        s.abandon(&mut a);
        assert_eq!(s.started_peers(), 0, "abandoning twice counts once");
    }

    #[test]
    fn deadline_is_core_formula() {
        let mut s = InitialHeadersSync::default();
        let mut p = PeerHeadersSync::default();
        // 6,000,000 s behind: 10,000 headers expected, 1 ms each.
        s.start(&mut p, 7_000_000_000, 1_000_000, 600);
        assert_eq!(p.deadline, Deadline::At(7_000_000_000 + 900_000 + 10_000));
    }

    #[test]
    fn one_new_peer_per_announced_block() {
        let mut s = InitialHeadersSync::default();
        let (mut a, b) = (PeerHeadersSync::default(), PeerHeadersSync::default());
        let (x, y) = (BlockHash::from_byte_array([1; 32]), BlockHash::from_byte_array([2; 32]));
        assert!(s.inv_should_ask(&a, &x));
        s.inv_asked(&mut a, &x);
        assert!(!s.inv_should_ask(&b, &x), "the same block adds no second peer");
        assert!(!s.inv_should_ask(&a, &y), "a peer is added by inv once");
        assert!(s.inv_should_ask(&b, &y));
        let mut started = PeerHeadersSync::default();
        s.start(&mut started, 0, 0, 600);
        assert!(s.inv_should_ask(&started, &x), "a sync peer is always asked");
    }

    #[test]
    fn stall_disconnects_or_restarts_a_noban_peer() {
        let mut s = InitialHeadersSync::default();
        let mut p = PeerHeadersSync::default();
        s.start(&mut p, 0, 0, 600);
        let Deadline::At(d) = p.deadline else { panic!() };
        assert_eq!(s.check(&mut p, d, false, true, false), Stalled::No, "not past the deadline");
        assert_eq!(s.check(&mut p, d + 1, false, false, false), Stalled::No, "no other peer to use");
        assert_eq!(s.check(&mut p, d + 1, false, true, false), Stalled::Disconnect);
        assert_eq!(s.check(&mut p, d + 1, false, true, true), Stalled::Restart);
        assert!(!p.started && s.started_peers() == 0);
        let mut q = PeerHeadersSync::default();
        s.start(&mut q, 0, 0, 600);
        assert_eq!(s.check(&mut q, i64::MAX, true, true, false), Stalled::No, "caught up");
        assert_eq!(q.deadline, Deadline::Never);
        assert_eq!(s.check(&mut q, i64::MAX, false, true, false), Stalled::No, "never again");
    }
}

//! A socket reader that counts bytes as they arrive (Core's per-socket `nRecvBytes` and
//! `getnettotals`), before any message is complete.

use super::Totals;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// Wraps a reader; every byte read is added to the peer's and the node's receive totals.
pub struct CountingReader<R> {
    inner: R,
    peer: Arc<super::PeerShared>,
    totals: Arc<Totals>,
}

impl<R> CountingReader<R> {
    /// Counts into `peer.bytes_recv` and `totals.recv`.
    pub fn new(inner: R, peer: Arc<super::PeerShared>, totals: Arc<Totals>) -> Self {
        CountingReader { inner, peer, totals }
    }
}

fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

impl<R: AsyncRead + Unpin> AsyncRead for CountingReader<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            add(&self.peer.bytes_recv, n);
            add(&self.totals.recv, n);
        }
        r
    }
}

//! The v2 handshake and packet framing between our initiator and responder over an in-memory
//! pipe, and the bounds on what a misbehaving peer can make us read. (The ciphers themselves
//! are checked against BIP324's test vectors by the `bip324` crate.)

use super::*;
use bitcoin::p2p::message::NetworkMessage;
use tokio::io::{duplex, split};

const MAGIC: Magic = Magic::REGTEST;

fn never() -> bool {
    false
}

fn quiet(_: usize) {}

async fn pair() -> (V2Session, V2Session) {
    let (a, b) = duplex(1 << 20);
    let (mut ar, mut aw) = split(a);
    let (mut br, mut bw) = split(b);
    let init = handshake(Role::Initiator, MAGIC, &mut ar, &mut aw, Vec::new(), &quiet, &never);
    let resp = handshake(Role::Responder, MAGIC, &mut br, &mut bw, Vec::new(), &quiet, &never);
    let (i, r) = tokio::join!(init, resp);
    (i.expect("initiator"), r.expect("responder"))
}

#[tokio::test]
async fn handshake_and_frames_both_ways() {
    let (mut i, mut r) = pair().await;
    assert_eq!(i.session_id, r.session_id);
    assert!(i.leftover.is_empty() && r.leftover.is_empty());
    // More than 224 packets: the ciphers rekey (BIP324's REKEY_INTERVAL) on both sides alike.
    for n in 0..300u64 {
        let msg = if n % 2 == 0 {
            NetworkMessage::Ping(n)
        } else {
            NetworkMessage::Verack
        };
        let frame = codec::encode(MAGIC, msg.clone());
        let packet = i.sender.packet(&frame);
        let mut wire = &packet[..];
        let header = r
            .receiver
            .read_header(&mut wire, MAGIC, Duration::from_secs(1), Duration::from_secs(1))
            .await
            .expect("packet")
            .expect("header");
        let got = r.receiver.take_frame();
        assert_eq!(got, frame, "the v1 frame comes out as it went in");
        assert_eq!(codec::decode(&got, &header).unwrap(), msg);
    }
    let ping_packet = r.sender.packet(&codec::encode(MAGIC, NetworkMessage::Ping(1)));
    assert_eq!(ping_packet.len(), 3 + 1 + 1 + 8 + 16, "ping uses its one-byte short id");
}

#[tokio::test]
async fn corrupted_packet_is_a_decryption_failure() {
    let (mut i, mut r) = pair().await;
    let mut packet = i.sender.packet(&codec::encode(MAGIC, NetworkMessage::Ping(5)));
    let last = packet.len() - 1;
    packet[last] ^= 1;
    let mut wire = &packet[..];
    let e = r
        .receiver
        .read_header(&mut wire, MAGIC, Duration::from_secs(1), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(e.to_string().starts_with("V2 transport error: packet decryption failure"), "{e}");
}

#[tokio::test]
async fn garbage_past_the_limit_is_refused_after_reading_at_most_the_limit() {
    let (a, b) = duplex(1 << 16);
    let (mut br, mut bw) = split(b);
    let (mut ar, mut aw) = split(a);
    let flood = async move {
        let mut key = [0x42u8; KEY_LEN];
        key[1] = 7;
        aw.write_all(&key).await.unwrap();
        // No terminator can match: 1 MB of zero bytes, written until the reader stops.
        let chunk = vec![0u8; 4096];
        let mut sent = 0;
        while sent < 1 << 20 {
            if aw.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        // Keep the node's replies flowing.
        let mut sink = Vec::new();
        let _ = ar.read_to_end(&mut sink).await;
    };
    let read = std::sync::atomic::AtomicUsize::new(0);
    let mut counted = CountingRead { inner: &mut br, n: &read };
    let node = handshake(Role::Responder, MAGIC, &mut counted, &mut bw, Vec::new(), &quiet, &never);
    let r = tokio::select! {
        r = node => r,
        _ = flood => panic!("the flooder finished first"),
    };
    assert!(matches!(r, Err(V2Error::MissingTerminator)), "{:?}", r.err());
    let n = read.load(std::sync::atomic::Ordering::Relaxed);
    assert!(n <= KEY_LEN + MAX_GARBAGE_LEN + TERMINATOR_LEN, "read {n} bytes");
}

#[tokio::test]
async fn handshake_deadline() {
    let (_a, b) = duplex(1 << 16);
    let (mut br, mut bw) = split(b);
    let expired = || true;
    let r = handshake(Role::Responder, MAGIC, &mut br, &mut bw, vec![1, 2, 3], &quiet, &expired).await;
    assert!(matches!(r, Err(V2Error::Timeout)));
}

/// Counts the bytes read through it.
struct CountingRead<'a, R> {
    inner: &'a mut R,
    n: &'a std::sync::atomic::AtomicUsize,
}

impl<R: AsyncRead + Unpin> AsyncRead for CountingRead<'_, R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut *self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.n.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        r
    }
}

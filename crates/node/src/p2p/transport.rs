//! The transport a connection speaks (v1 plaintext or BIP324 v2), chosen as Core does: an
//! inbound connection with `-v2transport` detects it from the first 16 bytes (a v1 peer starts
//! with the network magic and a `version` command), an outbound one tries v2 when asked to.
//! Both transports read and write v1 frames, so the connection's tasks do not care which.

use super::codec::{self, FrameError, FrameHeader};
use super::counting::CountingReader;
use super::handshake_timer::HandshakeTimer;
use super::peer::{PeerEnv, PeerShared};
use super::v2_transport::{self, V2Error, V2Receiver, V2Sender, V1_VERSION_COMMAND};
use bitcoin::p2p::Magic;
use std::io::Cursor;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, Chain};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// The socket's read half, behind the bytes read ahead while choosing the transport.
pub type WireReader = Chain<Cursor<Vec<u8>>, CountingReader<OwnedReadHalf>>;

/// What getpeerinfo reports as `transport_protocol_type` and `session_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportInfo {
    /// Still deciding, or in the v2 handshake.
    Detecting,
    /// Plaintext v1.
    V1,
    /// BIP324 v2, with its session id.
    V2([u8; 32]),
}

impl TransportInfo {
    /// Core's `transport_protocol_type` name.
    pub fn name(&self) -> &'static str {
        match self {
            TransportInfo::Detecting => "detecting",
            TransportInfo::V1 => "v1",
            TransportInfo::V2(_) => "v2",
        }
    }

    /// Core's `session_id`: hex for v2, empty otherwise.
    pub fn session_id(&self) -> String {
        match self {
            TransportInfo::V2(id) => id.iter().map(|b| format!("{b:02x}")).collect(),
            _ => String::new(),
        }
    }
}

/// How a new connection starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Plaintext v1 only.
    V1,
    /// Inbound with `-v2transport`: detect v1 or v2 from the first bytes.
    Detect,
    /// Outbound v2 (as initiator).
    V2Initiator,
}

/// Reads v1 frames from either transport.
pub enum FrameReader {
    /// Plaintext.
    V1(WireReader),
    /// Decrypted BIP324 packets.
    V2(WireReader, Box<V2Receiver>),
}

impl FrameReader {
    /// Reads a frame header (see [`codec::read_header`]).
    pub async fn read_header(&mut self, magic: Magic, idle: Duration, timeout: Duration) -> Result<Option<FrameHeader>, FrameError> {
        match self {
            FrameReader::V1(r) => codec::read_header(r, magic, idle, timeout).await,
            FrameReader::V2(r, rx) => rx.read_header(r, magic, idle, timeout).await,
        }
    }

    /// Reads the rest of the frame whose header was just read (see [`codec::read_payload`]).
    pub async fn read_payload(&mut self, header: &FrameHeader, timeout: Duration) -> Result<Vec<u8>, FrameError> {
        match self {
            FrameReader::V1(r) => codec::read_payload(r, header, timeout).await,
            FrameReader::V2(_, rx) => Ok(rx.take_frame()),
        }
    }
}

/// Turns our v1 frames into what goes on the wire.
pub enum FrameWriter {
    /// As they are.
    V1,
    /// Encrypted as BIP324 packets.
    V2(Box<V2Sender>),
}

impl FrameWriter {
    /// The bytes to write for one frame.
    pub fn wire_bytes<'a>(&mut self, frame: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        match self {
            FrameWriter::V1 => std::borrow::Cow::Borrowed(frame),
            FrameWriter::V2(tx) => std::borrow::Cow::Owned(tx.packet(frame)),
        }
    }
}

/// A connection whose transport is settled.
pub struct Established {
    /// The reading side.
    pub reader: FrameReader,
    /// The writing side.
    pub writer: FrameWriter,
    /// What getpeerinfo shows.
    pub info: TransportInfo,
}

/// Settles the transport per `plan`: detection and, for v2, the handshake. `sent` counts the
/// handshake bytes written; `expired` is the handshake deadline.
pub async fn establish<W: AsyncWrite + Unpin>(
    plan: Plan,
    magic: Magic,
    mut rd: CountingReader<OwnedReadHalf>,
    wr: &mut W,
    sent: &(dyn Fn(usize) + Sync),
    expired: &(dyn Fn() -> bool + Sync),
) -> Result<Established, V2Error> {
    let (role, received) = match plan {
        Plan::V1 => return Ok(v1(rd, Vec::new())),
        Plan::V2Initiator => (bip324::Role::Initiator, Vec::new()),
        Plan::Detect => match detect(&mut rd, magic, expired).await? {
            Detected::V1(prefix) => return Ok(v1(rd, prefix)),
            Detected::V2(bytes) => (bip324::Role::Responder, bytes),
        },
    };
    let s = v2_transport::handshake(role, magic, &mut rd, wr, received, sent, expired).await?;
    Ok(Established {
        reader: FrameReader::V2(Cursor::new(s.leftover).chain(rd), Box::new(s.receiver)),
        writer: FrameWriter::V2(Box::new(s.sender)),
        info: TransportInfo::V2(s.session_id),
    })
}

fn v1(rd: CountingReader<OwnedReadHalf>, prefix: Vec<u8>) -> Established {
    Established {
        reader: FrameReader::V1(Cursor::new(prefix).chain(rd)),
        writer: FrameWriter::V1,
        info: TransportInfo::V1,
    }
}

/// What the first bytes of an inbound connection said.
enum Detected {
    /// The 16-byte v1 `version` header start (to be read again as v1).
    V1(Vec<u8>),
    /// The start of a v2 key.
    V2(Vec<u8>),
}

/// Reads until the bytes differ from a v1 `version` header start (v2) or match all 16 (v1),
/// as BIP324 asks of a responder: nothing is sent before that.
async fn detect<R: AsyncRead + Unpin>(rd: &mut R, magic: Magic, expired: &(dyn Fn() -> bool + Sync)) -> Result<Detected, V2Error> {
    let mut prefix = [0u8; 16];
    prefix[..4].copy_from_slice(&magic.to_bytes());
    prefix[4..].copy_from_slice(&V1_VERSION_COMMAND);
    let mut got = Vec::with_capacity(prefix.len());
    loop {
        if got[..] != prefix[..got.len()] {
            return Ok(Detected::V2(got));
        }
        if got.len() == prefix.len() {
            return Ok(Detected::V1(got));
        }
        if expired() {
            return Err(V2Error::Timeout);
        }
        let mut chunk = [0u8; 16];
        let want = prefix.len() - got.len();
        match tokio::time::timeout(super::handshake_timer::POLL, rd.read(&mut chunk[..want])).await {
            Err(_) => continue,
            Ok(Ok(0)) => return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into()),
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => return Err(e.into()),
        }
    }
}

/// The plan for a new connection: inbound detects when `-v2transport` is on; outbound tries v2
/// when asked to (and `-v2transport` is on).
pub fn plan(inbound: bool, v2: bool, enabled: bool) -> Plan {
    match (enabled, inbound, v2) {
        (false, _, _) => Plan::V1,
        (true, true, _) => Plan::Detect,
        (true, false, true) => Plan::V2Initiator,
        (true, false, false) => Plan::V1,
    }
}

/// Settles a connection's transport for its task, recording it for getpeerinfo. `Ok(None)`:
/// an outbound v2 attempt the peer closed before answering (Core then retries with v1);
/// `Err` holds the reason to disconnect, in Core's log wording.
pub async fn start(
    plan: Plan,
    rd: OwnedReadHalf,
    wr: &mut OwnedWriteHalf,
    shared: &Arc<PeerShared>,
    env: &PeerEnv,
    timer: &HandshakeTimer,
) -> Result<Option<Established>, String> {
    if plan == Plan::V1 {
        set_info(shared, TransportInfo::V1);
    }
    let rd = CountingReader::new(rd, shared.clone(), env.totals.clone());
    let sent = |n: usize| {
        shared.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
        env.totals.record_sent(n);
        shared.last_send.store(crate::clock::unix_now(), Ordering::Relaxed);
    };
    let expired = || timer.expired();
    match establish(plan, env.magic, rd, wr, &sent, &expired).await {
        Ok(est) => {
            set_info(shared, est.info.clone());
            Ok(Some(est))
        }
        Err(V2Error::ClosedBeforeKey) if plan == Plan::V2Initiator => Ok(None),
        Err(V2Error::Timeout) => Err(timer.v2_message(shared)),
        Err(e) => Err(format!("{e}, peer={}", shared.id)),
    }
}

fn set_info(shared: &PeerShared, info: TransportInfo) {
    *crate::sync::lock(&shared.transport) = info;
}

/// Core's v1 retry of an outbound connection whose peer closed during our v2 handshake: a new
/// socket to the same address, speaking v1.
pub async fn retry_v1(shared: &Arc<PeerShared>, env: &PeerEnv) -> Result<(Established, OwnedWriteHalf), String> {
    tracing::debug!(target: "blvm::net", "retrying with v1 transport protocol for peer={}", shared.id);
    let stream = match tokio::time::timeout(super::connections::CONNECT_TIMEOUT, TcpStream::connect(shared.addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("v1 reconnection to {} failed: {e}", shared.addr)),
        Err(_) => return Err(format!("v1 reconnection to {} timed out", shared.addr)),
    };
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    set_info(shared, TransportInfo::V1);
    Ok((v1(CountingReader::new(rd, shared.clone(), env.totals.clone()), Vec::new()), wr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> bool {
        false
    }

    #[tokio::test]
    async fn detection_by_the_first_sixteen_bytes() {
        let magic = Magic::REGTEST;
        let v1 = codec::encode(magic, bitcoin::p2p::message::NetworkMessage::Verack);
        // A v1 `version` header start: all 16 bytes kept for the v1 reader.
        let mut version = magic.to_bytes().to_vec();
        version.extend_from_slice(&V1_VERSION_COMMAND);
        version.extend_from_slice(&[1, 2, 3]);
        let mut r = &version[..];
        assert!(matches!(detect(&mut r, magic, &never).await, Ok(Detected::V1(p)) if p == version[..16]));
        // Another v1 message first (verack): taken for a v2 key at the first differing byte.
        let mut r = &v1[..];
        assert!(matches!(detect(&mut r, magic, &never).await, Ok(Detected::V2(p)) if p.len() <= 16 && p[..4] == magic.to_bytes()));
        // Four bytes of magic alone decide nothing yet: the peer closing then is an error.
        let mut r = &magic.to_bytes()[..];
        assert!(detect(&mut r, magic, &never).await.is_err());
    }

    #[test]
    fn plans() {
        assert_eq!(plan(true, false, true), Plan::Detect);
        assert_eq!(plan(false, true, true), Plan::V2Initiator);
        assert_eq!(plan(false, false, true), Plan::V1);
        assert_eq!(plan(true, true, false), Plan::V1);
        assert_eq!(TransportInfo::V2([0xab; 32]).session_id().len(), 64);
        assert_eq!(TransportInfo::V1.session_id(), "");
    }
}

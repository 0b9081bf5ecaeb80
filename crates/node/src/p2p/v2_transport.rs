//! BIP324 v2 encrypted transport: the handshake (ellswift keys, garbage, garbage terminator,
//! decoys, version packet) and the packet framing after it, on top of the `bip324` crate's
//! ciphers. Packets are turned into v1 frames (and back) so the message codec and the
//! connection's tasks stay the same for both transports. Everything read from the wire is
//! bounded: garbage to 4095 bytes, a packet to the v1 message size limit.

use super::codec::{self, FrameError, FrameHeader, HEADER_LEN, MAX_PROTOCOL_MESSAGE_LENGTH};
use super::v2_message_ids;
use bip324::{GarbageResult, Handshake, InboundCipher, Initialized, OutboundCipher, PacketType, Role, VersionResult};
use bitcoin::hex::DisplayHex;
use bitcoin::p2p::Magic;
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Most garbage a peer may send before its garbage terminator (BIP324).
pub const MAX_GARBAGE_LEN: usize = 4095;
/// Length of a garbage terminator.
const TERMINATOR_LEN: usize = 16;
/// Length of an ellswift-encoded public key.
pub const KEY_LEN: usize = 64;
/// Encrypted length prefix of a packet.
const LENGTH_LEN: usize = bip324::NUM_LENGTH_BYTES;
/// Header byte plus Poly1305 tag around a packet's contents.
const PACKET_OVERHEAD: usize = 1 + 16;
/// Largest contents accepted (Core's MAX_CONTENTS_LEN: long type encoding plus the largest
/// v1 payload).
pub const MAX_CONTENTS_LEN: usize = 1 + 12 + MAX_PROTOCOL_MESSAGE_LENGTH;
/// How often a handshake read checks the handshake deadline.
const POLL: Duration = Duration::from_millis(250);
/// The bytes a v1 `version` frame header starts with after the magic.
pub const V1_VERSION_COMMAND: [u8; 12] = *b"version\0\0\0\0\0";

/// Why a v2 handshake failed; each ends the connection, in Core's log wording.
#[derive(Debug, Error)]
pub enum V2Error {
    /// The socket failed or closed.
    #[error("connection closed: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed before sending anything back to our key (a v1-only peer, which an
    /// outbound connection retries with v1).
    #[error("peer closed the connection during the v2 handshake before sending anything")]
    ClosedBeforeKey,
    /// The handshake did not finish in time.
    #[error("V2 handshake timeout")]
    Timeout,
    /// A v1 `version` header with another network's magic.
    #[error("V2 transport error: V1 peer with wrong MessageStart {0}")]
    WrongMagic(String),
    /// No terminator within the first 4095 + 16 bytes.
    #[error("V2 transport error: missing garbage terminator")]
    MissingTerminator,
    /// A packet announced more than the size limit.
    #[error("V2 transport error: packet too large ({0} bytes)")]
    TooLarge(usize),
    /// A packet (or the garbage it authenticates) did not decrypt.
    #[error("V2 transport error: packet decryption failure ({0} bytes)")]
    Decryption(usize),
    /// The cipher library refused an operation (not expected with correct buffers).
    #[error("V2 transport error: {0}")]
    Cipher(String),
}

impl From<bip324::Error> for V2Error {
    fn from(e: bip324::Error) -> Self {
        V2Error::Cipher(e.to_string())
    }
}

/// A finished handshake: the two cipher directions, the session id and any bytes read past the
/// version packet (the start of the next packet).
pub struct V2Session {
    /// Decrypts the peer's packets.
    pub receiver: V2Receiver,
    /// Encrypts ours.
    pub sender: V2Sender,
    /// BIP324 session id (getpeerinfo `session_id`).
    pub session_id: [u8; 32],
    /// Bytes already read that belong to the packets after the handshake.
    pub leftover: Vec<u8>,
}

/// Bytes read from the socket but not consumed yet, during the handshake.
struct Wire<'a, R> {
    rd: &'a mut R,
    buf: Vec<u8>,
    received_any: bool,
}

impl<R: AsyncRead + Unpin> Wire<'_, R> {
    /// Reads at least one more byte into `into` (which holds at most `max` bytes afterwards),
    /// watching the deadline.
    async fn more_into(&mut self, into: &mut Vec<u8>, max: usize, expired: &(dyn Fn() -> bool + Sync)) -> Result<(), V2Error> {
        let mut chunk = [0u8; 4096];
        let room = max.saturating_sub(into.len()).clamp(1, chunk.len());
        loop {
            if expired() {
                return Err(V2Error::Timeout);
            }
            match tokio::time::timeout(POLL, self.rd.read(&mut chunk[..room])).await {
                Err(_) => continue,
                Ok(Ok(0)) if !self.received_any => return Err(V2Error::ClosedBeforeKey),
                Ok(Ok(0)) => return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into()),
                Ok(Ok(n)) => {
                    self.received_any = true;
                    into.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Ok(Err(e)) if !self.received_any => {
                    tracing::debug!(target: "blvm::net", "v2 handshake read failed: {e}");
                    return Err(V2Error::ClosedBeforeKey);
                }
                Ok(Err(e)) => return Err(e.into()),
            }
        }
    }

    /// Reads until `n` bytes are buffered, then takes them.
    async fn take(&mut self, n: usize, expired: &(dyn Fn() -> bool + Sync)) -> Result<Vec<u8>, V2Error> {
        let mut buf = std::mem::take(&mut self.buf);
        while buf.len() < n {
            self.more_into(&mut buf, n, expired).await?;
        }
        self.buf = buf.split_off(n);
        Ok(buf)
    }
}

/// Random garbage as Core sends it: 0..=4095 random bytes.
fn random_garbage() -> Vec<u8> {
    let len = rand::random::<usize>() % (MAX_GARBAGE_LEN + 1);
    (0..len).map(|_| rand::random::<u8>()).collect()
}

/// Runs the v2 handshake as `role`. `received` holds bytes of the peer's key already read (the
/// inbound v1/v2 detection); `sent` is told how many bytes went out. Fails with
/// [`V2Error::Timeout`] once `expired` says the handshake time is over.
pub async fn handshake<R, W>(
    role: Role,
    magic: Magic,
    rd: &mut R,
    wr: &mut W,
    received: Vec<u8>,
    sent: &(dyn Fn(usize) + Sync),
    expired: &(dyn Fn() -> bool + Sync),
) -> Result<V2Session, V2Error>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let garbage = random_garbage();
    let hs = Handshake::<Initialized>::new(magic.to_bytes(), role)?;
    let mut out = vec![0u8; Handshake::<Initialized>::send_key_len(Some(&garbage))];
    let hs = hs.send_key(Some(&garbage), &mut out)?;
    wr.write_all(&out).await?;
    sent(out.len());

    let mut wire = Wire {
        rd,
        received_any: !received.is_empty(),
        buf: received,
    };
    // Core: a responder seeing a v1 `version` header with another network's magic logs it.
    if role == Role::Responder {
        let mut buf = std::mem::take(&mut wire.buf);
        while buf.len() < 16 {
            wire.more_into(&mut buf, KEY_LEN, expired).await?;
        }
        if buf[4..16] == V1_VERSION_COMMAND {
            return Err(V2Error::WrongMagic(buf[..4].to_lower_hex_string()));
        }
        wire.buf = buf;
    }
    let key: [u8; KEY_LEN] = wire.take(KEY_LEN, expired).await?.try_into().expect("KEY_LEN bytes");
    let hs = match hs.receive_key(key) {
        Ok(hs) => hs,
        // The `bip324` crate refuses a key that starts with the network magic (it takes it for
        // a v1 answer); BIP324 and Core accept it from an initiator. No session can be derived
        // from it here, so the peer is treated as one whose garbage terminator never comes.
        Err(bip324::Error::V1Protocol) if role == Role::Responder => {
            let limit = MAX_GARBAGE_LEN + TERMINATOR_LEN;
            let mut rest = std::mem::take(&mut wire.buf);
            while rest.len() < limit {
                wire.more_into(&mut rest, limit, expired).await?;
            }
            return Err(V2Error::MissingTerminator);
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = vec![0u8; Handshake::send_version_len(None)];
    let mut hs = hs.send_version(&mut out, None)?;
    wr.write_all(&out).await?;
    sent(out.len());

    // Garbage and terminator: no more than 4095 + 16 bytes are examined, so the repeated
    // searches cost a constant at most.
    let limit = MAX_GARBAGE_LEN + TERMINATOR_LEN;
    let mut gbuf = std::mem::take(&mut wire.buf);
    let (mut hs, consumed) = loop {
        if gbuf.len() >= TERMINATOR_LEN {
            match hs.receive_garbage(&gbuf) {
                Ok(GarbageResult::FoundGarbage { handshake, consumed_bytes }) => break (handshake, consumed_bytes),
                Ok(GarbageResult::NeedMoreData(h)) => hs = h,
                Err(bip324::Error::NoGarbageTerminator) => return Err(V2Error::MissingTerminator),
                Err(e) => return Err(e.into()),
            }
            if gbuf.len() >= limit {
                return Err(V2Error::MissingTerminator);
            }
        }
        wire.more_into(&mut gbuf, limit, expired).await?;
    };
    wire.buf = gbuf[consumed..].to_vec();

    // Decoys, then the version packet (its contents are ignored, as Core does).
    let cipher = loop {
        let len: [u8; LENGTH_LEN] = wire.take(LENGTH_LEN, expired).await?.try_into().expect("3 bytes");
        let packet_len = hs.decrypt_packet_len(len)?;
        let contents_len = packet_len - PACKET_OVERHEAD;
        if contents_len > MAX_CONTENTS_LEN {
            return Err(V2Error::TooLarge(contents_len));
        }
        let mut packet = wire.take(packet_len, expired).await?;
        match hs.receive_version(&mut packet) {
            Ok(VersionResult::Complete { cipher }) => break cipher,
            Ok(VersionResult::Decoy(h)) => hs = h,
            Err(_) => return Err(V2Error::Decryption(contents_len)),
        }
    };
    let session_id = *cipher.id();
    let (inbound, outbound) = cipher.into_split();
    Ok(V2Session {
        receiver: V2Receiver {
            cipher: inbound,
            frame: None,
        },
        sender: V2Sender { cipher: outbound },
        session_id,
        leftover: std::mem::take(&mut wire.buf),
    })
}

/// The receiving direction after the handshake: packets in, v1 frames out.
pub struct V2Receiver {
    cipher: InboundCipher,
    frame: Option<Vec<u8>>,
}

impl V2Receiver {
    /// Reads packets until a genuine one (decoys are skipped) and returns the header of the v1
    /// frame it carries; the frame itself comes from [`V2Receiver::take_frame`]. Waits up to
    /// `idle` for a packet to start, then up to `timeout` for the rest; `Ok(None)` means nothing
    /// arrived within `idle`.
    pub async fn read_header<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        magic: Magic,
        idle: Duration,
        timeout: Duration,
    ) -> Result<Option<FrameHeader>, FrameError> {
        loop {
            let mut len = [0u8; LENGTH_LEN];
            let n = match tokio::time::timeout(idle, r.read(&mut len)).await {
                Err(_) => return Ok(None),
                Ok(Ok(0)) => return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into())),
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(FrameError::Io(e)),
            };
            read_within(r, &mut len[n..], timeout).await?;
            let packet_len = self.cipher.decrypt_packet_len(len);
            let contents_len = packet_len - PACKET_OVERHEAD;
            if contents_len > MAX_CONTENTS_LEN {
                return Err(FrameError::V2(V2Error::TooLarge(contents_len).to_string()));
            }
            let mut packet = vec![0u8; packet_len];
            read_within(r, &mut packet, timeout).await?;
            let (kind, plain) = self
                .cipher
                .decrypt_in_place(&mut packet, None)
                .map_err(|_| FrameError::V2(V2Error::Decryption(contents_len).to_string()))?;
            if kind == PacketType::Decoy {
                continue;
            }
            let frame = match v2_message_ids::decode_contents(&plain[1..]) {
                Some((command, payload)) => codec::authenticated_frame(magic, command, payload),
                None => {
                    tracing::debug!(target: "blvm::net", "V2 transport error: invalid message type ({contents_len} bytes contents)");
                    // An empty command: the codec drops the message as Core does.
                    codec::frame(magic, "", &[])
                }
            };
            let raw: [u8; HEADER_LEN] = frame[..HEADER_LEN].try_into().expect("frame has a header");
            let header = codec::FrameHeader {
                integrity_checked: true,
                ..codec::parse_header(raw, magic)?
            };
            self.frame = Some(frame);
            return Ok(Some(header));
        }
    }

    /// The frame whose header [`V2Receiver::read_header`] returned.
    pub fn take_frame(&mut self) -> Vec<u8> {
        self.frame.take().unwrap_or_default()
    }
}

/// Fills `buf` within `timeout`.
async fn read_within<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8], timeout: Duration) -> Result<(), FrameError> {
    match tokio::time::timeout(timeout, r.read_exact(buf)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(FrameError::Io(e)),
        Err(_) => Err(FrameError::Timeout(timeout)),
    }
}

/// The sending direction after the handshake: v1 frames in, packets out.
pub struct V2Sender {
    cipher: OutboundCipher,
}

impl V2Sender {
    /// Encrypts one v1 frame (header + payload, built by us) as a v2 packet.
    pub fn packet(&mut self, frame: &[u8]) -> Vec<u8> {
        let (header, payload) = frame.split_at(HEADER_LEN.min(frame.len()));
        let cmd = header.get(4..16).unwrap_or_default();
        let end = cmd.iter().position(|b| *b == 0).unwrap_or(cmd.len());
        let command = String::from_utf8_lossy(&cmd[..end]);
        let contents = v2_message_ids::encode_contents(&command, payload);
        self.cipher.encrypt_to_vec(&contents, PacketType::Genuine, None)
    }
}

#[cfg(test)]
#[path = "v2_transport_tests.rs"]
mod tests;

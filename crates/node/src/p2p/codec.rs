//! Message framing: 24-byte header (magic, command, length, checksum) and payload, with the
//! magic, command, size and checksum checked before anything is decoded. Reading never
//! allocates more than the announced (and already bounded) payload and never panics on input.

use bitcoin::consensus::encode::{self, Decodable};
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::p2p::message::{NetworkMessage, RawNetworkMessage};
use bitcoin::p2p::message_bloom::FilterLoad;
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::Magic;
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest payload accepted (Core's MAX_PROTOCOL_MESSAGE_LENGTH).
pub const MAX_PROTOCOL_MESSAGE_LENGTH: usize = 4_000_000;
/// Size of a message header.
pub const HEADER_LEN: usize = 24;
/// Most entries in one `inv`, `getdata` or `notfound`.
pub const MAX_INV_SIZE: usize = 50_000;
/// Most headers in one `headers` message.
pub const MAX_HEADERS_RESULTS: usize = 2_000;
/// Most addresses in one `addr`/`addrv2`.
pub const MAX_ADDR_TO_SEND: usize = 1_000;
/// Most locator entries in `getheaders`/`getblocks` (Core's MAX_LOCATOR_SZ).
pub const MAX_LOCATOR_SZ: usize = 101;

/// Why a frame could not be read; every variant ends the connection.
#[derive(Debug, Error)]
pub enum FrameError {
    /// The socket failed or closed.
    #[error("connection closed: {0}")]
    Io(#[from] std::io::Error),
    /// The network magic is not ours.
    #[error("Header error: Wrong MessageStart {} received", hex4(.0))]
    BadMagic([u8; 4]),
    /// The command field is not NUL-padded printable ASCII.
    #[error("malformed command field")]
    BadCommand,
    /// The announced payload is larger than the protocol allows.
    #[error("Header error: Size too large ({command}, {len} bytes)")]
    Oversized {
        /// The command.
        command: String,
        /// Announced length.
        len: usize,
    },
    /// The checksum does not match the payload.
    #[error("bad checksum on {command} message")]
    BadChecksum {
        /// The command.
        command: String,
    },
    /// The payload does not parse as its command says.
    #[error("malformed {command} message: {error}")]
    Decode {
        /// The command.
        command: String,
        /// The parser's complaint.
        error: String,
    },
    /// A started message did not arrive completely in time (slowloris).
    #[error("message not completed within {0:?}")]
    Timeout(Duration),
    /// A BIP324 v2 packet could not be read (too large, or failed to decrypt).
    #[error("{0}")]
    V2(String),
}

impl FrameError {
    /// Whether the peer deserves a ban (it sent bytes no honest implementation sends) rather
    /// than a plain disconnect.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            FrameError::Oversized { .. } | FrameError::BadChecksum { .. } | FrameError::Decode { .. } | FrameError::BadCommand
        )
    }
}

fn hex4(b: &[u8; 4]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Core's SanitizeString: only letters, digits and ` .,;-_/:?@()` are kept.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || " .,;-_/:?@()".contains(*c))
        .collect()
}

/// A frame header whose magic and size are checked (the command is checked with the payload,
/// as Core does, so that a bad one only drops the message).
#[derive(Debug, Clone)]
pub struct FrameHeader {
    /// The command (up to the first NUL; checked by [`rejection`]).
    pub command: String,
    /// Whether the command field is NUL-padded printable ASCII.
    pub valid_command: bool,
    /// Payload length (checked against the limit).
    pub len: usize,
    /// Raw header bytes.
    pub raw: [u8; HEADER_LEN],
    /// The payload's integrity is established, by the transport (BIP324 v2 authenticates every
    /// packet and has no checksum) or by [`rejection`] having checked the checksum: it is not
    /// checked again, and a v2 frame of a [`decoded_directly`] command carries none.
    pub integrity_checked: bool,
}

/// Parses and checks a header: magic, command characters, payload size.
pub fn parse_header(raw: [u8; HEADER_LEN], magic: Magic) -> Result<FrameHeader, FrameError> {
    let m = [raw[0], raw[1], raw[2], raw[3]];
    if m != magic.to_bytes() {
        return Err(FrameError::BadMagic(m));
    }
    let cmd = &raw[4..16];
    let end = cmd.iter().position(|b| *b == 0).unwrap_or(12);
    let valid_command = end > 0 && cmd[..end].iter().all(|b| b.is_ascii_graphic()) && cmd[end..].iter().all(|b| *b == 0);
    let command = String::from_utf8_lossy(&cmd[..end]).to_string();
    let len = u32::from_le_bytes([raw[16], raw[17], raw[18], raw[19]]) as usize;
    if len > MAX_PROTOCOL_MESSAGE_LENGTH {
        return Err(FrameError::Oversized {
            command: sanitize(&command),
            len,
        });
    }
    Ok(FrameHeader {
        command,
        valid_command,
        len,
        raw,
        integrity_checked: false,
    })
}

/// Why Core's transport would drop a complete frame without disconnecting (a wrong checksum,
/// then an invalid command), in Core's words; None for a frame to process. A checksum found
/// right is remembered in `header`, so that decoding does not hash the payload again.
pub fn rejection(frame: &[u8], header: &mut FrameHeader) -> Option<String> {
    if let Some((sum, was)) = wrong_checksum(frame, header) {
        return Some(format!(
            "Header error: Wrong checksum ({}, {} bytes), expected {} was {}",
            sanitize(&header.command),
            header.len,
            hex4(&sum),
            hex4(&was)
        ));
    }
    header.integrity_checked = true;
    if !header.valid_command {
        return Some(format!(
            "Header error: Invalid message type ({}, {} bytes)",
            sanitize(&header.command),
            header.len
        ));
    }
    None
}

/// Reads the rest of a frame whose header has been read; the payload must arrive within
/// `timeout`. Returns header + payload bytes as one buffer.
pub async fn read_payload<R: AsyncRead + Unpin>(r: &mut R, header: &FrameHeader, timeout: Duration) -> Result<Vec<u8>, FrameError> {
    let mut buf = vec![0u8; HEADER_LEN + header.len];
    buf[..HEADER_LEN].copy_from_slice(&header.raw);
    match tokio::time::timeout(timeout, r.read_exact(&mut buf[HEADER_LEN..])).await {
        Ok(Ok(_)) => Ok(buf),
        Ok(Err(e)) => Err(FrameError::Io(e)),
        Err(_) => Err(FrameError::Timeout(timeout)),
    }
}

/// Reads a header: waits up to `idle` for its first byte, then up to `timeout` for the rest.
/// `Ok(None)` means nothing arrived within `idle`.
pub async fn read_header<R: AsyncRead + Unpin>(
    r: &mut R,
    magic: Magic,
    idle: Duration,
    timeout: Duration,
) -> Result<Option<FrameHeader>, FrameError> {
    let mut raw = [0u8; HEADER_LEN];
    let n = match tokio::time::timeout(idle, r.read(&mut raw)).await {
        Err(_) => return Ok(None),
        Ok(Ok(0)) => {
            return Err(FrameError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "peer closed the connection",
            )))
        }
        Ok(Ok(n)) => n,
        Ok(Err(e)) => return Err(FrameError::Io(e)),
    };
    // Reject a wrong magic as soon as four bytes are in, without waiting for the rest.
    if n >= 4 && raw[..4] != magic.to_bytes() {
        return Err(FrameError::BadMagic([raw[0], raw[1], raw[2], raw[3]]));
    }
    if n < HEADER_LEN {
        match tokio::time::timeout(timeout, r.read_exact(&mut raw[n..])).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(FrameError::Io(e)),
            Err(_) => return Err(FrameError::Timeout(timeout)),
        }
    }
    parse_header(raw, magic).map(Some)
}

fn checksum(payload: &[u8]) -> [u8; 4] {
    let h = sha256d::Hash::hash(payload).to_byte_array();
    [h[0], h[1], h[2], h[3]]
}

/// The payload's checksum and the header's, when they differ and the payload's integrity is not
/// established yet.
fn wrong_checksum(frame: &[u8], header: &FrameHeader) -> Option<([u8; 4], [u8; 4])> {
    if header.integrity_checked {
        return None;
    }
    let sum = checksum(&frame[HEADER_LEN..]);
    let was = [frame[20], frame[21], frame[22], frame[23]];
    (sum != was).then_some((sum, was))
}

/// Commands decoded straight from their payload instead of through rust-bitcoin's
/// `RawNetworkMessage`, which copies the payload and hashes it again for its checksum: the
/// large messages, so that a block is hashed for its checksum once on v1 and never on v2.
pub fn decoded_directly(command: &str) -> bool {
    matches!(command, "block" | "tx")
}

/// A [`decoded_directly`] payload, read from its start: as Core, which reads a block or a
/// transaction from the message and ignores any bytes after it (the byte budget has counted
/// them; a prepared block whose payload is longer than its serialization is stored re-encoded).
fn decode_direct(command: &str, payload: &[u8]) -> Result<NetworkMessage, encode::Error> {
    fn leading<T: Decodable>(payload: &[u8]) -> Result<T, encode::Error> {
        bitcoin::consensus::encode::deserialize_partial(payload).map(|(value, _)| value)
    }
    match command {
        "block" => leading(payload).map(NetworkMessage::Block),
        "tx" => leading(payload)
            .map(NetworkMessage::Tx)
            .map_err(|e| superfluous_witness(payload, e)),
        _ => Err(encode::Error::ParseFailed("not a directly decoded command")),
    }
}

/// The text Core's exception carries for a payload that does not decode, where Core's
/// deserializer names the fault (tests and operators match these); rust-bitcoin's otherwise.
fn exception_text(e: &encode::Error) -> String {
    match e {
        encode::Error::Io(io) if io.kind() == bitcoin::io::ErrorKind::UnexpectedEof => super::addrv2_check::END_OF_DATA.to_string(),
        encode::Error::UnsupportedSegwitFlag(_) => "Unknown transaction optional data".to_string(),
        encode::Error::ParseFailed("witness flag set but no witnesses present") => "Superfluous witness record".to_string(),
        other => other.to_string(),
    }
}

/// Core reads the witnesses of a transaction whose flag byte has the witness bit before it
/// refuses the other bits, so a flag of 3 with only empty witnesses is its "Superfluous witness
/// record", not "Unknown transaction optional data"; rust-bitcoin refuses the flag first.
fn superfluous_witness(payload: &[u8], e: encode::Error) -> encode::Error {
    const FLAG_AT: usize = 5; // after the version and the zero marker
    match e {
        encode::Error::UnsupportedSegwitFlag(flag) if flag & 1 == 1 && payload.len() > FLAG_AT => {
            let mut witness_only = payload.to_vec();
            witness_only[FLAG_AT] = 1;
            match bitcoin::consensus::encode::deserialize_partial::<bitcoin::Transaction>(&witness_only) {
                Err(no_witness @ encode::Error::ParseFailed("witness flag set but no witnesses present")) => no_witness,
                _ => e,
            }
        }
        e => e,
    }
}

/// Decodes a complete frame (header + payload, as from [`read_payload`]).
pub fn decode(frame: &[u8], header: &FrameHeader) -> Result<NetworkMessage, FrameError> {
    let command = header.command.clone();
    if !header.valid_command {
        return Err(FrameError::BadCommand);
    }
    if header.command == "addrv2" {
        super::addrv2_check::check(&frame[HEADER_LEN..]).map_err(|error| FrameError::Decode {
            command: command.clone(),
            error,
        })?;
    }
    if decoded_directly(&header.command) {
        if wrong_checksum(frame, header).is_some() {
            return Err(FrameError::BadChecksum { command });
        }
        return decode_direct(&header.command, &frame[HEADER_LEN..]).map_err(|e| FrameError::Decode {
            command,
            error: exception_text(&e),
        });
    }
    if matches!(header.command.as_str(), "version" | "filterload") {
        let payload = &frame[HEADER_LEN..];
        if wrong_checksum(frame, header).is_some() {
            return Err(FrameError::BadChecksum { command });
        }
        // Core accepts a version message without the trailing relay flag (BIP37 optional
        // field), and any filterload flags byte.
        let decoded = if header.command == "version" {
            decode_version(payload).map(NetworkMessage::Version)
        } else {
            decode_filterload(payload).map(NetworkMessage::FilterLoad)
        };
        return decoded.map_err(|e| FrameError::Decode {
            command,
            error: exception_text(&e),
        });
    }
    match deserialize::<RawNetworkMessage>(frame) {
        Ok(m) => Ok(m.into_payload()),
        Err(encode::Error::InvalidChecksum { .. }) => Err(FrameError::BadChecksum { command }),
        Err(e) => Err(FrameError::Decode {
            command,
            error: exception_text(&e),
        }),
    }
}

/// Decodes a `version` payload whose relay flag may be missing (it then defaults to true).
pub fn decode_version(payload: &[u8]) -> Result<VersionMessage, encode::Error> {
    match deserialize::<VersionMessage>(payload) {
        Ok(v) => Ok(v),
        Err(first) => {
            let mut with_relay = payload.to_vec();
            with_relay.push(1);
            let mut cur = std::io::Cursor::new(&with_relay);
            match VersionMessage::consensus_decode(&mut cur) {
                Ok(v) if cur.position() as usize == with_relay.len() => Ok(v),
                _ => Err(first),
            }
        }
    }
}

/// Decodes a `filterload` payload as Core does: any flags byte (rust-bitcoin refuses all but the
/// three update modes; Core keeps the byte and reads its low two bits), trailing bytes ignored.
pub fn decode_filterload(mut payload: &[u8]) -> Result<FilterLoad, encode::Error> {
    Ok(FilterLoad {
        filter: Vec::<u8>::consensus_decode(&mut payload)?,
        hash_funcs: u32::consensus_decode(&mut payload)?,
        tweak: u32::consensus_decode(&mut payload)?,
        flags: super::bloom::flags_from_byte(u8::consensus_decode(&mut payload)?),
    })
}

/// Frames an already serialized payload under `command` (for replies encoded straight from
/// shared data, without building a [`NetworkMessage`] copy first).
pub fn frame(magic: Magic, command: &str, payload: &[u8]) -> Vec<u8> {
    framed(magic, command, checksum(payload), payload)
}

/// [`frame`] for a payload the transport authenticated (BIP324 v2): the checksum field is left
/// zero for [`decoded_directly`] commands, which never read it, and set for the rest, which
/// rust-bitcoin's decoder checks.
pub fn authenticated_frame(magic: Magic, command: &str, payload: &[u8]) -> Vec<u8> {
    let sum = if decoded_directly(command) { [0u8; 4] } else { checksum(payload) };
    framed(magic, command, sum, payload)
}

/// A frame: magic, NUL-padded command, payload length, `sum`, payload.
fn framed(magic: Magic, command: &str, sum: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut cmd = [0u8; 12];
    let n = command.len().min(12);
    cmd[..n].copy_from_slice(&command.as_bytes()[..n]);
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&magic.to_bytes());
    out.extend_from_slice(&cmd);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&sum);
    out.extend_from_slice(payload);
    out
}

/// Encodes a message for `magic`.
pub fn encode(magic: Magic, msg: NetworkMessage) -> Vec<u8> {
    serialize(&RawNetworkMessage::new(magic, msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(msg: NetworkMessage) -> Vec<u8> {
        encode(Magic::REGTEST, msg)
    }

    #[test]
    fn raw_frame_equals_encoded_message() {
        let tx = bitcoin::consensus::deserialize::<bitcoin::Transaction>(&hex_tx()).unwrap();
        let payload = serialize(&tx);
        assert_eq!(super::frame(Magic::REGTEST, "tx", &payload), frame(NetworkMessage::Tx(tx)));
    }

    fn hex_tx() -> Vec<u8> {
        // A one-input, one-output transaction (version 1, no witness).
        let mut v = vec![1, 0, 0, 0, 1];
        v.extend_from_slice(&[7u8; 32]);
        v.extend_from_slice(&[0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1]);
        v.extend_from_slice(&1000u64.to_le_bytes());
        v.extend_from_slice(&[0, 0, 0, 0, 0]);
        v
    }

    async fn read_one(bytes: &[u8]) -> Result<NetworkMessage, FrameError> {
        let mut r = bytes;
        let h = read_header(&mut r, Magic::REGTEST, Duration::from_secs(1), Duration::from_secs(1))
            .await?
            .expect("header");
        let f = read_payload(&mut r, &h, Duration::from_secs(1)).await?;
        decode(&f, &h)
    }

    #[tokio::test]
    async fn filterload_with_any_flags_byte() {
        use bitcoin::p2p::message_bloom::BloomFlags;
        let load = FilterLoad {
            filter: vec![1, 2],
            hash_funcs: 1,
            tweak: 2,
            flags: BloomFlags::None,
        };
        let mut payload = serialize(&load);
        *payload.last_mut().expect("flags byte") = 5;
        payload.push(0xff);
        let raw = super::frame(Magic::REGTEST, "filterload", &payload);
        let want = FilterLoad {
            flags: BloomFlags::All,
            ..load
        };
        assert_eq!(
            read_one(&raw).await.unwrap(),
            NetworkMessage::FilterLoad(want),
            "low bits 01: update all; trailing byte ignored"
        );
        let mut bad_sum = raw.clone();
        bad_sum[20] ^= 1;
        assert!(matches!(read_one(&bad_sum).await, Err(FrameError::BadChecksum { .. })));
    }

    #[tokio::test]
    async fn round_trip_and_rejections() {
        let ok = frame(NetworkMessage::Ping(7));
        assert_eq!(read_one(&ok).await.unwrap(), NetworkMessage::Ping(7));

        let mut bad_sum = ok.clone();
        bad_sum[20] ^= 1;
        assert!(matches!(read_one(&bad_sum).await, Err(FrameError::BadChecksum { .. })));

        let mut bad_magic = ok.clone();
        bad_magic[0] = 0xf9;
        assert!(matches!(read_one(&bad_magic).await, Err(FrameError::BadMagic(_))));

        let mut oversized = ok.clone();
        oversized[16..20].copy_from_slice(&(MAX_PROTOCOL_MESSAGE_LENGTH as u32 + 1).to_le_bytes());
        assert!(matches!(read_one(&oversized).await, Err(FrameError::Oversized { .. })));

        let mut bad_cmd = ok.clone();
        bad_cmd[5] = 0x07;
        assert!(matches!(read_one(&bad_cmd).await, Err(FrameError::BadCommand)));
        let mut r = &bad_cmd[..];
        let mut h = read_header(&mut r, Magic::REGTEST, Duration::from_secs(1), Duration::from_secs(1))
            .await
            .unwrap()
            .unwrap();
        assert!(rejection(&bad_cmd, &mut h)
            .unwrap()
            .starts_with("Header error: Invalid message type"));
        let mut hs = parse_header(bad_sum[..HEADER_LEN].try_into().unwrap(), Magic::REGTEST).unwrap();
        assert!(rejection(&bad_sum, &mut hs)
            .unwrap()
            .starts_with("Header error: Wrong checksum (ping, 8 bytes)"));

        // A ping whose payload is too short for its u64 nonce.
        let mut short = frame(NetworkMessage::Unknown {
            command: "ping".try_into().unwrap(),
            payload: vec![1, 2, 3],
        });
        short.truncate(HEADER_LEN + 3);
        assert!(matches!(read_one(&short).await, Err(FrameError::Decode { .. })));

        // Truncated stream: the payload never completes.
        let truncated = &ok[..ok.len() - 2];
        assert!(matches!(read_one(truncated).await, Err(FrameError::Io(_))));
    }

    /// Blocks and transactions are decoded from their payload, not through `RawNetworkMessage`:
    /// the same messages and checksum rejections on v1; bytes after them are ignored, as Core.
    #[tokio::test]
    async fn blocks_and_transactions_decode_directly_with_their_checksum_checked() {
        let tx = bitcoin::consensus::deserialize::<bitcoin::Transaction>(&hex_tx()).unwrap();
        let block = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
        for msg in [NetworkMessage::Tx(tx), NetworkMessage::Block(block)] {
            let ok = frame(msg.clone());
            assert_eq!(read_one(&ok).await.unwrap(), msg);
            let mut bad_sum = ok.clone();
            bad_sum[21] ^= 1;
            assert!(matches!(read_one(&bad_sum).await, Err(FrameError::BadChecksum { .. })));
            let mut longer = super::frame(Magic::REGTEST, msg.cmd(), &serialize_payload(&msg));
            longer.push(0);
            let len = (longer.len() - HEADER_LEN) as u32;
            longer[16..20].copy_from_slice(&len.to_le_bytes());
            let sum = checksum(&longer[HEADER_LEN..]);
            longer[20..24].copy_from_slice(&sum);
            // Core reads the message from its start and ignores the byte after it.
            assert_eq!(read_one(&longer).await.unwrap(), msg);
        }
    }

    /// A block or transaction that does not decode is reported with the text of Core's
    /// exception, which Core's tests and operators' log scrapers match.
    #[tokio::test]
    async fn undecodable_payloads_carry_cores_exception_texts() {
        let text = |e: FrameError| match e {
            FrameError::Decode { error, .. } => error,
            other => panic!("not a decode error: {other}"),
        };
        let block = serialize(&bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest));
        let short = super::frame(Magic::REGTEST, "block", &block[..block.len() - 1]);
        assert_eq!(text(read_one(&short).await.unwrap_err()), "DataStream::read(): end of data");
        // A segwit transaction: version, marker 0, flag, one input, one output, its witness.
        let segwit = |flag: u8, witness: &[u8]| {
            let mut v = vec![2, 0, 0, 0, 0, flag, 1];
            v.extend_from_slice(&[7u8; 32]);
            v.extend_from_slice(&[0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1]);
            v.extend_from_slice(&1000u64.to_le_bytes());
            v.push(0);
            v.extend_from_slice(witness);
            v.extend_from_slice(&[0, 0, 0, 0]);
            super::frame(Magic::REGTEST, "tx", &v)
        };
        let one_item = [1u8, 1, 0x51];
        let empty = [0u8];
        assert!(read_one(&segwit(1, &one_item)).await.is_ok());
        assert_eq!(
            text(read_one(&segwit(3, &one_item)).await.unwrap_err()),
            "Unknown transaction optional data"
        );
        assert_eq!(text(read_one(&segwit(1, &empty)).await.unwrap_err()), "Superfluous witness record");
        // Core reads the witnesses before it refuses the unknown bit.
        assert_eq!(text(read_one(&segwit(3, &empty)).await.unwrap_err()), "Superfluous witness record");
        assert_eq!(
            text(read_one(&segwit(2, &empty)).await.unwrap_err()),
            "Unknown transaction optional data"
        );
    }

    fn serialize_payload(msg: &NetworkMessage) -> Vec<u8> {
        match msg {
            NetworkMessage::Tx(t) => serialize(t),
            NetworkMessage::Block(b) => serialize(b),
            other => panic!("not a tx or block: {other:?}"),
        }
    }

    /// A checksum `rejection` found right is not checked again when the frame is decoded.
    #[test]
    fn a_checked_checksum_is_remembered() {
        let block = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
        let mut f = frame(NetworkMessage::Block(block.clone()));
        let mut h = parse_header(f[..HEADER_LEN].try_into().unwrap(), Magic::REGTEST).unwrap();
        assert!(!h.integrity_checked);
        assert_eq!(rejection(&f, &mut h), None);
        assert!(h.integrity_checked);
        // Were it checked again, this would now fail.
        f[20] ^= 1;
        assert_eq!(decode(&f, &h).unwrap(), NetworkMessage::Block(block));
    }

    /// A v2 (authenticated) block frame carries no checksum and is neither checked nor hashed
    /// for one; other commands keep a real checksum for rust-bitcoin's decoder.
    #[test]
    fn authenticated_frames_skip_the_checksum_only_where_nothing_reads_it() {
        let block = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
        let payload = serialize(&block);
        let f = authenticated_frame(Magic::REGTEST, "block", &payload);
        assert_eq!(&f[20..24], &[0u8; 4], "no checksum computed");
        let mut h = parse_header(f[..HEADER_LEN].try_into().unwrap(), Magic::REGTEST).unwrap();
        assert!(rejection(&f, &mut h).is_some(), "unauthenticated, the empty checksum is wrong");
        assert!(matches!(decode(&f, &h), Err(FrameError::BadChecksum { .. })));
        h.integrity_checked = true;
        assert_eq!(rejection(&f, &mut h), None);
        assert_eq!(decode(&f, &h).unwrap(), NetworkMessage::Block(block));
        let ping = authenticated_frame(Magic::REGTEST, "ping", &7u64.to_le_bytes());
        assert_eq!(ping, frame(NetworkMessage::Ping(7)));
        let h = FrameHeader {
            integrity_checked: true,
            ..parse_header(ping[..HEADER_LEN].try_into().unwrap(), Magic::REGTEST).unwrap()
        };
        assert_eq!(decode(&ping, &h).unwrap(), NetworkMessage::Ping(7));
    }

    #[test]
    fn version_without_relay_flag() {
        let addr = bitcoin::p2p::Address::new(&"127.0.0.1:1".parse().unwrap(), bitcoin::p2p::ServiceFlags::NONE);
        let v = VersionMessage::new(bitcoin::p2p::ServiceFlags::NETWORK, 0, addr.clone(), addr, 1, "/x/".into(), 5);
        let mut payload = serialize(&v);
        payload.pop();
        let d = decode_version(&payload).unwrap();
        assert!(d.relay);
        assert_eq!(d.start_height, 5);
    }
}

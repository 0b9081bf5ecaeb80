//! Framing: a 4-byte big-endian payload length followed by a msgpack payload.
//!
//! The payload is one [`ModuleMessage`] encoded with `rmp_serde::to_vec_named`
//! (structs as maps with string keys). Readers check the declared length
//! against their maximum before allocating or reading the body.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::message::ModuleMessage;

/// Default largest accepted payload (16 MiB), excluding the 4-byte prefix.
pub const DEFAULT_MAX_FRAME: u32 = 16 * 1024 * 1024;

/// Size of the big-endian length prefix in bytes.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The underlying socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The length prefix declares more bytes than the limit allows.
    #[error("frame of {len} bytes exceeds maximum of {max} bytes")]
    FrameTooLarge {
        /// Declared (or, when writing, actual) payload length.
        len: u64,
        /// The limit in force.
        max: u32,
    },
    /// The stream ended in the middle of a frame.
    #[error("connection closed mid-frame: expected {expected} bytes, got {got}")]
    Truncated {
        /// Bytes the frame part needed.
        expected: usize,
        /// Bytes that arrived before EOF.
        got: usize,
    },
    /// The payload is not a valid msgpack `ModuleMessage`.
    #[error("cannot decode message: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    /// The message could not be serialized.
    #[error("cannot encode message: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
}

/// Serializes a message into a complete frame (length prefix + payload).
pub fn encode(msg: &ModuleMessage) -> Result<Vec<u8>, CodecError> {
    let mut frame = vec![0u8; LENGTH_PREFIX_LEN];
    rmp_serde::encode::write_named(&mut frame, msg)?;
    let payload_len = frame.len() - LENGTH_PREFIX_LEN;
    let len = u32::try_from(payload_len).map_err(|_| CodecError::FrameTooLarge {
        len: payload_len as u64,
        max: u32::MAX,
    })?;
    frame[..LENGTH_PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
    Ok(frame)
}

/// Serializes a message payload without the length prefix.
pub fn encode_payload(msg: &ModuleMessage) -> Result<Vec<u8>, CodecError> {
    Ok(rmp_serde::to_vec_named(msg)?)
}

/// Parses a payload (the bytes after the length prefix) into a message.
pub fn decode_payload(payload: &[u8]) -> Result<ModuleMessage, CodecError> {
    Ok(rmp_serde::from_slice(payload)?)
}

/// Reads one frame; `Ok(None)` on clean EOF before the first prefix byte.
///
/// Not cancel-safe: dropping the future mid-frame loses the bytes already
/// read. Use [`FrameReader`] inside `select!`.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, max: u32) -> Result<Option<ModuleMessage>, CodecError> {
    let mut prefix = [0u8; LENGTH_PREFIX_LEN];
    let mut got = 0;
    while got < LENGTH_PREFIX_LEN {
        let n = r.read(&mut prefix[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(CodecError::Truncated {
                expected: LENGTH_PREFIX_LEN,
                got,
            });
        }
        got += n;
    }
    let len = u32::from_be_bytes(prefix);
    if len > max {
        return Err(CodecError::FrameTooLarge { len: u64::from(len), max });
    }
    let len = len as usize;
    let mut payload = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let n = r.read(&mut payload[got..]).await?;
        if n == 0 {
            return Err(CodecError::Truncated { expected: len, got });
        }
        got += n;
    }
    decode_payload(&payload).map(Some)
}

/// Writes one frame and flushes; refuses payloads larger than `max`.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, msg: &ModuleMessage, max: u32) -> Result<(), CodecError> {
    let frame = encode(msg)?;
    let payload_len = frame.len() - LENGTH_PREFIX_LEN;
    if payload_len as u64 > u64::from(max) {
        return Err(CodecError::FrameTooLarge {
            len: payload_len as u64,
            max,
        });
    }
    w.write_all(&frame).await?;
    w.flush().await?;
    Ok(())
}

/// Buffered, cancel-safe frame reader for use inside `tokio::select!`.
///
/// Bytes read before a cancellation stay in the internal buffer, so the next
/// call resumes the same frame. Reads never go past the end of the current
/// frame and the prefix is checked before any body byte is buffered, so the
/// buffer never exceeds `max + 4` bytes.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    filled: usize,
    max: u32,
}

/// Largest number of bytes requested from the socket in one read call.
const READ_CHUNK: usize = 64 * 1024;

/// Buffers larger than this are released once empty, so one big frame does not pin memory.
const KEEP_CAPACITY: usize = 1024 * 1024;

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Wraps a reader with the given maximum payload size.
    pub fn new(inner: R, max: u32) -> Self {
        FrameReader {
            inner,
            buf: Vec::new(),
            filled: 0,
            max,
        }
    }

    /// Returns the wrapped reader, discarding any buffered bytes.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads the next message; `Ok(None)` on clean EOF at a frame boundary. Cancel-safe.
    pub async fn read(&mut self) -> Result<Option<ModuleMessage>, CodecError> {
        loop {
            if let Some(msg) = self.try_parse()? {
                return Ok(Some(msg));
            }
            let want = self.bytes_wanted();
            if self.buf.len() < self.filled + want {
                self.buf.resize(self.filled + want, 0);
            }
            // Only `filled` marks valid bytes, so cancelling this await loses nothing.
            let n = self.inner.read(&mut self.buf[self.filled..self.filled + want]).await?;
            if n == 0 {
                if self.filled == 0 {
                    return Ok(None);
                }
                let (expected, got) = if self.filled < LENGTH_PREFIX_LEN {
                    (LENGTH_PREFIX_LEN, self.filled)
                } else {
                    (self.declared_len() as usize, self.filled - LENGTH_PREFIX_LEN)
                };
                return Err(CodecError::Truncated { expected, got });
            }
            self.filled += n;
        }
    }

    /// How many more bytes the current frame needs (at least 1), capped at one chunk.
    fn bytes_wanted(&self) -> usize {
        if self.filled < LENGTH_PREFIX_LEN {
            return LENGTH_PREFIX_LEN - self.filled;
        }
        let total = LENGTH_PREFIX_LEN + self.declared_len() as usize;
        total.saturating_sub(self.filled).clamp(1, READ_CHUNK)
    }

    /// The length prefix of the buffered frame; only valid once 4 bytes are buffered.
    fn declared_len(&self) -> u32 {
        let mut prefix = [0u8; LENGTH_PREFIX_LEN];
        prefix.copy_from_slice(&self.buf[..LENGTH_PREFIX_LEN]);
        u32::from_be_bytes(prefix)
    }

    /// Extracts a complete frame from the buffer if one is there.
    fn try_parse(&mut self) -> Result<Option<ModuleMessage>, CodecError> {
        if self.filled < LENGTH_PREFIX_LEN {
            return Ok(None);
        }
        let len = self.declared_len();
        if len > self.max {
            return Err(CodecError::FrameTooLarge {
                len: u64::from(len),
                max: self.max,
            });
        }
        let end = LENGTH_PREFIX_LEN + len as usize;
        if self.filled < end {
            return Ok(None);
        }
        let result = decode_payload(&self.buf[LENGTH_PREFIX_LEN..end]);
        // Reads stop at the frame end, so nothing of a next frame is buffered.
        self.filled = 0;
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        }
        result.map(Some)
    }
}

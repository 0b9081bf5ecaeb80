//! Framing: length prefix, limits, truncation and EOF handling over real Unix sockets.

mod common;

use std::time::Duration;

use blvm_module::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

fn sample() -> ModuleMessage {
    ModuleMessage::Ack { sequence: 42 }
}

#[tokio::test]
async fn read_frame_returns_none_on_clean_eof() {
    let (mut a, b) = UnixStream::pair().expect("pair");
    drop(b);
    assert!(read_frame(&mut a, DEFAULT_MAX_FRAME).await.expect("clean eof").is_none());
}

#[tokio::test]
async fn read_frame_reads_consecutive_frames_without_over_reading() {
    let (mut a, mut b) = UnixStream::pair().expect("pair");
    let mut bytes = Vec::new();
    for msg in common::all_messages() {
        bytes.extend(encode(&msg).expect("encode"));
    }
    b.write_all(&bytes).await.expect("write");
    drop(b);
    for msg in common::all_messages() {
        assert_eq!(read_frame(&mut a, DEFAULT_MAX_FRAME).await.expect("read"), Some(msg));
    }
    assert!(read_frame(&mut a, DEFAULT_MAX_FRAME).await.expect("eof").is_none());
}

#[tokio::test]
async fn read_frame_rejects_oversized_prefix_without_reading_body() {
    let (mut a, mut b) = UnixStream::pair().expect("pair");
    let max = 1024u32;
    // Declare max+1 bytes, then send a few body bytes and keep the socket open.
    b.write_all(&(max + 1).to_be_bytes()).await.expect("write");
    b.write_all(b"BODY").await.expect("write");
    let err = tokio::time::timeout(Duration::from_secs(5), read_frame(&mut a, max))
        .await
        .expect("must not wait for the body")
        .expect_err("oversized");
    match err {
        CodecError::FrameTooLarge { len, max: m } => {
            assert_eq!(len, u64::from(max) + 1);
            assert_eq!(m, max);
        }
        other => panic!("unexpected {other:?}"),
    }
    // The body bytes are still unread in the socket.
    let mut rest = [0u8; 4];
    a.read_exact(&mut rest).await.expect("body still there");
    assert_eq!(&rest, b"BODY");

    // A 4 GiB declaration is refused just the same (nothing is allocated for it).
    b.write_all(&u32::MAX.to_be_bytes()).await.expect("write");
    assert!(matches!(
        read_frame(&mut a, DEFAULT_MAX_FRAME).await,
        Err(CodecError::FrameTooLarge { len, .. }) if len == u64::from(u32::MAX)
    ));
}

#[tokio::test]
async fn read_frame_accepts_frame_of_exactly_max() {
    let frame = encode(&sample()).expect("encode");
    let max = (frame.len() - 4) as u32;
    let (mut a, mut b) = UnixStream::pair().expect("pair");
    b.write_all(&frame).await.expect("write");
    assert_eq!(read_frame(&mut a, max).await.expect("read"), Some(sample()));
    b.write_all(&frame).await.expect("write");
    assert!(matches!(read_frame(&mut a, max - 1).await, Err(CodecError::FrameTooLarge { .. })));
}

#[tokio::test]
async fn read_frame_reports_garbage_payload_as_decode_error() {
    let (mut a, mut b) = UnixStream::pair().expect("pair");
    // 0xc1 is never valid msgpack.
    b.write_all(&[0, 0, 0, 3, 0xc1, 0xc1, 0xc1]).await.expect("write");
    // A valid msgpack value that is not a message (an integer).
    b.write_all(&[0, 0, 0, 1, 0x05]).await.expect("write");
    // Zero-length payload.
    b.write_all(&[0, 0, 0, 0]).await.expect("write");
    for _ in 0..3 {
        assert!(matches!(read_frame(&mut a, DEFAULT_MAX_FRAME).await, Err(CodecError::Decode(_))));
    }
}

#[tokio::test]
async fn read_frame_reports_truncated_body_and_prefix() {
    let (mut a, mut b) = UnixStream::pair().expect("pair");
    b.write_all(&[0, 0, 0, 10, 1, 2, 3, 4, 5]).await.expect("write");
    drop(b);
    match read_frame(&mut a, DEFAULT_MAX_FRAME).await {
        Err(CodecError::Truncated { expected, got }) => assert_eq!((expected, got), (10, 5)),
        other => panic!("unexpected {other:?}"),
    }

    let (mut a, mut b) = UnixStream::pair().expect("pair");
    b.write_all(&[0, 0]).await.expect("write");
    drop(b);
    match read_frame(&mut a, DEFAULT_MAX_FRAME).await {
        Err(CodecError::Truncated { expected, got }) => assert_eq!((expected, got), (4, 2)),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn write_frame_refuses_payload_over_max_and_writes_nothing() {
    let (mut a, mut b) = UnixStream::pair().expect("pair");
    let big = ModuleMessage::Goodbye { reason: "x".repeat(100) };
    assert!(matches!(
        write_frame(&mut a, &big, 50).await,
        Err(CodecError::FrameTooLarge { max: 50, .. })
    ));
    write_frame(&mut a, &sample(), DEFAULT_MAX_FRAME).await.expect("write");
    drop(a);
    // Only the small frame arrived.
    assert_eq!(read_frame(&mut b, DEFAULT_MAX_FRAME).await.expect("read"), Some(sample()));
    assert!(read_frame(&mut b, DEFAULT_MAX_FRAME).await.expect("eof").is_none());
}

#[tokio::test]
async fn frame_reader_matches_read_frame_semantics() {
    // Clean EOF, oversized, garbage (then continues), truncated.
    let (a, mut b) = UnixStream::pair().expect("pair");
    let mut reader = FrameReader::new(a, 64);
    b.write_all(&[0, 0, 0, 1, 0xc1]).await.expect("write");
    b.write_all(&encode(&sample()).expect("encode")).await.expect("write");
    assert!(matches!(reader.read().await, Err(CodecError::Decode(_))));
    assert_eq!(reader.read().await.expect("read"), Some(sample()));
    b.write_all(&[0, 0, 0, 65]).await.expect("write");
    assert!(matches!(reader.read().await, Err(CodecError::FrameTooLarge { len: 65, max: 64 })));

    let (a, mut b) = UnixStream::pair().expect("pair");
    let mut reader = FrameReader::new(a, 64);
    b.write_all(&[0, 0, 0, 9, 1]).await.expect("write");
    drop(b);
    match reader.read().await {
        Err(CodecError::Truncated { expected, got }) => assert_eq!((expected, got), (9, 1)),
        other => panic!("unexpected {other:?}"),
    }

    let (a, b) = UnixStream::pair().expect("pair");
    let mut reader = FrameReader::new(a, 64);
    drop(b);
    assert!(reader.read().await.expect("eof").is_none());
}

#[tokio::test]
async fn frame_reader_is_cancel_safe_mid_frame() {
    let (a, mut b) = UnixStream::pair().expect("pair");
    let mut reader = FrameReader::new(a, DEFAULT_MAX_FRAME);
    let msg = ModuleMessage::Goodbye {
        reason: "y".repeat(10_000),
    };
    let frame = encode(&msg).expect("encode");
    let mut cancelled = 0;
    // Dribble the frame in pieces, cancelling a pending read after every piece.
    for chunk in frame.chunks(777) {
        b.write_all(chunk).await.expect("write");
        tokio::select! {
            r = reader.read() => {
                assert_eq!(r.expect("read"), Some(msg.clone()));
                return assert!(cancelled > 5, "expected several cancellations, got {cancelled}");
            }
            _ = tokio::time::sleep(Duration::from_millis(5)) => cancelled += 1,
        }
    }
    panic!("frame never completed");
}

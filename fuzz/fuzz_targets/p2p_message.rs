//! P2P message decoding: rust-bitcoin's `RawNetworkMessage` and the node's own framing
//! (`p2p::codec::parse_header` + `decode`) on arbitrary bytes, with the magic forced valid half
//! of the time so the payload decoders are reached.
#![no_main]

use bitcoin::consensus::encode::deserialize_partial;
use bitcoin::p2p::message::RawNetworkMessage;
use bitcoin::p2p::Magic;
use blvm_node::p2p::codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = deserialize_partial::<RawNetworkMessage>(data);
    let _ = codec::decode_version(data);
    if data.len() < codec::HEADER_LEN {
        return;
    }
    let mut frame = data.to_vec();
    if frame[0] & 1 == 0 {
        frame[..4].copy_from_slice(&Magic::REGTEST.to_bytes());
    }
    let mut raw = [0u8; codec::HEADER_LEN];
    raw.copy_from_slice(&frame[..codec::HEADER_LEN]);
    if let Ok(header) = codec::parse_header(raw, Magic::REGTEST) {
        // The header's length must match the frame, as the reader guarantees.
        let end = (codec::HEADER_LEN + header.len).min(frame.len());
        let mut full = frame[..end].to_vec();
        full.resize(codec::HEADER_LEN + header.len, 0);
        if let Ok(msg) = codec::decode(&full, &header) {
            // Whatever decodes must re-encode.
            let _ = codec::encode(Magic::REGTEST, msg);
        }
    }
});

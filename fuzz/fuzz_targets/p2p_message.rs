//! P2P message decoding: rust-bitcoin's `RawNetworkMessage` and the node's own framing
//! (`p2p::codec::parse_header` + `decode`) on arbitrary bytes. Half of the inputs get a valid
//! magic, length and checksum written over their header so the payload decoders are reached.
#![no_main]

use bitcoin::consensus::encode::deserialize_partial;
use bitcoin::hashes::{sha256d, Hash};
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
        let payload_len = (frame.len() - codec::HEADER_LEN) as u32;
        let sum = sha256d::Hash::hash(&frame[codec::HEADER_LEN..]).to_byte_array();
        frame[..4].copy_from_slice(&Magic::REGTEST.to_bytes());
        frame[16..20].copy_from_slice(&payload_len.to_le_bytes());
        frame[20..24].copy_from_slice(&sum[..4]);
    }
    let mut raw = [0u8; codec::HEADER_LEN];
    raw.copy_from_slice(&frame[..codec::HEADER_LEN]);
    // The reader hands `decode` exactly header + payload; anything else never reaches it.
    if let Ok(header) = codec::parse_header(raw, Magic::REGTEST) {
        if frame.len() == codec::HEADER_LEN + header.len {
            if let Ok(msg) = codec::decode(&frame, &header) {
                // Whatever decodes must re-encode.
                let _ = codec::encode(Magic::REGTEST, msg);
            }
        }
    }
});

//! The module IPC frame decoder: `codec::decode_payload` on raw bytes, and `FrameReader` on a
//! byte stream of length-prefixed frames (with a small frame limit so oversize paths run).
#![no_main]

use blvm_module::codec::{decode_payload, encode_payload, FrameReader};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().expect("runtime"))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = decode_payload(data) {
        // Whatever decodes must encode and decode again.
        let again = encode_payload(&msg).expect("re-encode a decoded message");
        decode_payload(&again).expect("decode a re-encoded message");
    }
    let max = 1 + u32::from(data.first().copied().unwrap_or(0)) * 64;
    rt().block_on(async {
        let mut reader = FrameReader::new(data, max);
        for _ in 0..64 {
            match reader.read().await {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    });
});

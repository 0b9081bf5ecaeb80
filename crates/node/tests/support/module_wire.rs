//! The module protocol's framing as a test module speaks it by hand over the node's Unix
//! socket: a 4-byte big-endian length, then a MessagePack map (written here independently of
//! `blvm_module`'s codec).

use serde_json::Value;
use std::io::Read;

/// `msg` as one frame.
pub fn frame(msg: &Value) -> Vec<u8> {
    let body = rmp_serde::to_vec_named(msg).unwrap();
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

/// The next frame from `s`, or `None` at end of stream, on a read error or a body that is not
/// MessagePack.
pub fn read_frame(s: &mut impl Read) -> Option<Value> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    rmp_serde::from_slice(&body).ok()
}

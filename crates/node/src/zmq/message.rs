//! Message bodies and framing, byte for byte as Core's CZMQPublish*Notifier.

use bitcoin::hashes::Hash;

/// Sequence-topic label: block connected.
pub const LABEL_CONNECTED: u8 = b'C';
/// Sequence-topic label: block disconnected.
pub const LABEL_DISCONNECTED: u8 = b'D';
/// Sequence-topic label: transaction added to the mempool.
pub const LABEL_ADDED: u8 = b'A';
/// Sequence-topic label: transaction removed from the mempool (not by a block).
pub const LABEL_REMOVED: u8 = b'R';

/// A 32-byte hash in display (reversed) byte order, as hashblock/hashtx bodies carry it.
pub fn display_hash<H: Hash<Bytes = [u8; 32]>>(h: &H) -> [u8; 32] {
    let mut b = h.to_byte_array();
    b.reverse();
    b
}

/// A `sequence` body: reversed hash, label, and for 'A'/'R' the 8-byte LE mempool sequence.
pub fn sequence_body(hash: [u8; 32], label: u8, mempool_sequence: Option<u64>) -> Vec<u8> {
    let mut v = Vec::with_capacity(41);
    v.extend_from_slice(&hash);
    v.push(label);
    if let Some(s) = mempool_sequence {
        v.extend_from_slice(&s.to_le_bytes());
    }
    v
}

/// The three frames of one notification: topic, body, 4-byte LE notifier sequence.
pub fn frames(topic: &str, body: Vec<u8>, sequence: u32) -> [Vec<u8>; 3] {
    [topic.as_bytes().to_vec(), body, sequence.to_le_bytes().to_vec()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::BlockHash;
    use std::str::FromStr;

    #[test]
    fn bodies_use_display_order_and_le_numbers() {
        let h = BlockHash::from_str("0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206")
            .unwrap_or_else(|_| BlockHash::all_zeros());
        let d = display_hash(&h);
        assert_eq!(d[0], 0x0f);
        assert_eq!(d[31], 0x06);
        let b = sequence_body(d, LABEL_ADDED, Some(0x0102));
        assert_eq!(b.len(), 41);
        assert_eq!(b[32], b'A');
        assert_eq!(&b[33..], &[2, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(sequence_body(d, LABEL_CONNECTED, None).len(), 33);
        let f = frames("hashblock", d.to_vec(), 7);
        assert_eq!(f[0], b"hashblock");
        assert_eq!(f[2], vec![7, 0, 0, 0]);
    }
}

//! Tor v3 onion addresses (`<56 base32 chars>.onion`, rend-spec-v3): checked as Core's
//! `CNetAddr::SetSpecial` checks them, so `setban` and `banlist.json` accept exactly the onion
//! addresses Core accepts.

use sha3::{Digest, Sha3_256};

/// Length of the decoded address: public key, checksum, version.
const DECODED_LEN: usize = 32 + 2 + 1;
/// The only onion address version still in use.
const VERSION: u8 = 3;

/// RFC 4648 base32 (lowercase or uppercase, no padding) to bytes; None on a bad character or
/// leftover bits that are not zero.
fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c.to_ascii_lowercase() {
            c @ b'a'..=b'z' => c - b'a',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (acc == 0).then_some(out)
}

/// The canonical (lowercase) form of a valid Tor v3 address, or None: wrong length, bad
/// base32, wrong version or a checksum that does not match the public key.
pub fn parse_v3(s: &str) -> Option<String> {
    let name = s.strip_suffix(".onion").or_else(|| s.strip_suffix(".ONION"))?;
    let raw = base32_decode(name)?;
    if raw.len() != DECODED_LEN || raw[34] != VERSION {
        return None;
    }
    let mut h = Sha3_256::new();
    h.update(b".onion checksum");
    h.update(&raw[..32]);
    h.update([VERSION]);
    let sum = h.finalize();
    (sum[..2] == raw[32..34]).then(|| format!("{}.onion", name.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::parse_v3;

    #[test]
    fn v3_addresses_with_their_checksum() {
        // The address Core's rpc_setban.py bans.
        let a = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion";
        assert_eq!(parse_v3(a).as_deref(), Some(a));
        assert_eq!(parse_v3(&a.to_uppercase().replace(".ONION", ".onion")).as_deref(), Some(a));
        // One character changed: the checksum no longer matches.
        assert!(parse_v3("pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscrye.onion").is_none());
        assert!(parse_v3("pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd").is_none());
        assert!(parse_v3("abc.onion").is_none());
        assert!(parse_v3("pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscry1.onion").is_none());
        assert!(parse_v3("1.2.3.4").is_none());
    }
}

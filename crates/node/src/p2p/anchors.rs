//! `anchors.dat` as Core's (addrdb.cpp DumpAnchors/ReadAnchors): on a clean shutdown the
//! addresses of our block-relay-only outbound peers are written to `<net_dir>/anchors.dat`; at
//! startup the file is read and deleted, and those addresses are dialled first as
//! block-relay-only connections, so a restart keeps the peers that are hardest for an attacker
//! to replace.
//!
//! Format (Core's SerializeFileDB with CAddress::V2_DISK): the network magic, a compact-size
//! count, each address as a u32 disk version (220000 | 1 << 29, addrv2) followed by BIP155's
//! `addrv2` encoding (time, compact-size services, network id, address, big-endian port), then
//! sha256d of everything before it.

use bitcoin::consensus::encode::{self, Decodable, Encodable, VarInt};
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::p2p::address::{AddrV2, AddrV2Message};
use bitcoin::p2p::{Magic, ServiceFlags};
use std::io::{Cursor, Read};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// The file's name in the network directory (Core's ANCHORS_DATABASE_FILENAME).
pub const ANCHORS_FILE: &str = "anchors.dat";
/// Most anchors written or used (Core's MAX_BLOCK_RELAY_ONLY_ANCHORS).
pub const MAX_BLOCK_RELAY_ONLY_ANCHORS: usize = 2;
/// Core's CAddress::DISK_VERSION_INIT.
const DISK_VERSION_INIT: u32 = 220_000;
/// Core's CAddress::DISK_VERSION_ADDRV2: the entry uses the addrv2 encoding.
const DISK_VERSION_ADDRV2: u32 = 1 << 29;
/// Core's CAddress::DISK_VERSION_IGNORE_MASK: low bits carrying no format information.
const DISK_VERSION_IGNORE_MASK: u32 = 0x0007_ffff;
/// Largest file read: far more than any anchors file (a damaged one is not read whole).
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Why an anchors file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AnchorsError {
    /// Reading or writing the file failed.
    #[error("anchors file I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The file is for another network.
    #[error("Invalid network magic number")]
    WrongNetwork,
    /// The trailing hash does not match.
    #[error("Checksum mismatch, data corrupted")]
    Checksum,
    /// An entry could not be decoded.
    #[error("anchors file damaged: {0}")]
    Damaged(String),
}

/// One anchor: an address and the services the peer offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// Where the peer listens.
    pub addr: SocketAddr,
    /// Its service bits (from its `version`).
    pub services: u64,
}

/// The file's bytes for `anchors` (at most [`MAX_BLOCK_RELAY_ONLY_ANCHORS`] are kept).
pub fn encode(magic: Magic, anchors: &[Anchor], now: u32) -> Vec<u8> {
    let mut v = magic.to_bytes().to_vec();
    let kept = &anchors[..anchors.len().min(MAX_BLOCK_RELAY_ONLY_ANCHORS)];
    // Writing to a Vec cannot fail.
    let _ = VarInt(kept.len() as u64).consensus_encode(&mut v);
    for a in kept {
        let _ = (DISK_VERSION_INIT | DISK_VERSION_ADDRV2).consensus_encode(&mut v);
        let addr = match a.addr.ip() {
            IpAddr::V4(ip) => AddrV2::Ipv4(ip),
            IpAddr::V6(ip) => AddrV2::Ipv6(ip),
        };
        let msg = AddrV2Message {
            time: now,
            services: ServiceFlags::from(a.services),
            addr,
            port: a.addr.port(),
        };
        let _ = msg.consensus_encode(&mut v);
    }
    let hash = sha256d::Hash::hash(&v);
    v.extend_from_slice(hash.as_byte_array());
    v
}

/// Decodes [`encode`]'s bytes (or Core's). Entries of networks we cannot dial (Tor, I2P, CJDNS)
/// are left out; at most [`MAX_BLOCK_RELAY_ONLY_ANCHORS`] are returned.
pub fn decode(magic: Magic, bytes: &[u8]) -> Result<Vec<Anchor>, AnchorsError> {
    if bytes.len() < 4 + 32 {
        return Err(AnchorsError::Damaged("too short".into()));
    }
    let (body, hash) = bytes.split_at(bytes.len() - 32);
    if body[..4] != magic.to_bytes() {
        return Err(AnchorsError::WrongNetwork);
    }
    if sha256d::Hash::hash(body).as_byte_array() != hash {
        return Err(AnchorsError::Checksum);
    }
    let mut r = Cursor::new(&body[4..]);
    let damaged = |e: encode::Error| AnchorsError::Damaged(e.to_string());
    let count = VarInt::consensus_decode(&mut r).map_err(damaged)?.0;
    let mut out = Vec::new();
    for _ in 0..count {
        let version = u32::consensus_decode(&mut r).map_err(damaged)?;
        if version & !DISK_VERSION_IGNORE_MASK != DISK_VERSION_ADDRV2 {
            return Err(AnchorsError::Damaged(format!("unsupported address format version {version:#x}")));
        }
        let m = AddrV2Message::consensus_decode(&mut r).map_err(damaged)?;
        let ip: IpAddr = match m.addr {
            AddrV2::Ipv4(ip) => ip.into(),
            AddrV2::Ipv6(ip) => ip.into(),
            _ => continue,
        };
        if out.len() < MAX_BLOCK_RELAY_ONLY_ANCHORS {
            out.push(Anchor {
                addr: SocketAddr::new(ip, m.port),
                services: m.services.to_u64(),
            });
        }
    }
    Ok(out)
}

/// Writes `anchors` to `path` through a temporary file renamed into place (Core's
/// DumpAnchors, called on a clean shutdown).
pub fn write(path: &Path, magic: Magic, anchors: &[Anchor]) -> Result<(), AnchorsError> {
    let now = crate::clock::unix_now().clamp(0, i64::from(u32::MAX)) as u32;
    let tmp = path.with_extension(format!("{:04x}", rand::random::<u16>()));
    std::fs::write(&tmp, encode(magic, anchors, now))
        .and_then(|_| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
    Ok(())
}

/// Reads and deletes `path` (Core's ReadAnchors): a missing or damaged file gives no anchors;
/// the file is removed either way, so anchors are used once.
pub fn read(path: &Path, magic: Magic) -> Vec<Anchor> {
    let mut bytes = Vec::new();
    let got = std::fs::File::open(path).and_then(|f| f.take(MAX_FILE_BYTES).read_to_end(&mut bytes));
    let anchors = match got {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            tracing::warn!(target: "blvm::net", "cannot read {}: {e}", path.display());
            Vec::new()
        }
        Ok(_) => match decode(magic, &bytes) {
            Ok(a) => {
                tracing::info!(target: "blvm::net", "Loaded {} addresses from \"{ANCHORS_FILE}\"", a.len());
                a
            }
            Err(e) => {
                tracing::warn!(target: "blvm::net", "ignoring {}: {e}", path.display());
                Vec::new()
            }
        },
    };
    let _ = std::fs::remove_file(path);
    anchors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Anchor> {
        vec![
            Anchor {
                addr: "127.0.0.2:18444".parse().unwrap(),
                services: 0x409,
            },
            Anchor {
                addr: "[2001:db8::1]:8333".parse().unwrap(),
                services: 0x9,
            },
        ]
    }

    #[test]
    fn round_trip_and_layout() {
        let b = encode(Magic::REGTEST, &sample(), 1_700_000_000);
        assert_eq!(&b[..4], &Magic::REGTEST.to_bytes());
        assert_eq!(b[4], 2, "compact-size count");
        // First entry: disk version, time, services 0x409 as compact size (fd 09 04), IPv4 id.
        assert_eq!(&b[5..9], &(220_000u32 | 1 << 29).to_le_bytes());
        assert_eq!(&b[9..13], &1_700_000_000u32.to_le_bytes());
        assert_eq!(&b[13..16], &[0xfd, 0x09, 0x04]);
        assert_eq!(&b[16..18], &[1, 4]);
        assert_eq!(&b[18..22], &[127, 0, 0, 2]);
        assert_eq!(&b[22..24], &18444u16.to_be_bytes());
        assert_eq!(decode(Magic::REGTEST, &b).unwrap(), sample());
    }

    #[test]
    fn damaged_or_foreign_files_give_nothing() {
        let mut b = encode(Magic::REGTEST, &sample(), 1);
        assert!(matches!(decode(Magic::BITCOIN, &b), Err(AnchorsError::WrongNetwork)));
        let n = b.len();
        b[n - 40] ^= 1;
        assert!(matches!(decode(Magic::REGTEST, &b), Err(AnchorsError::Checksum)));
        assert!(decode(Magic::REGTEST, &[0; 10]).is_err());
        // A huge count with no entries behind it stops at the end of the data.
        let mut v = Magic::REGTEST.to_bytes().to_vec();
        v.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        let h = sha256d::Hash::hash(&v);
        v.extend_from_slice(h.as_byte_array());
        assert!(matches!(decode(Magic::REGTEST, &v), Err(AnchorsError::Damaged(_))));
    }
}

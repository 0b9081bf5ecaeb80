//! `mempool.dat`: Bitcoin Core's mempool dump format, so either node can read the other's file.
//!
//! Layout (all integers little-endian):
//! - `u64 version`: 1 (plain) or 2 (obfuscated). We write 1 and read both.
//! - version 2 only: a compact-size-prefixed 8-byte XOR key; every later byte at absolute file
//!   offset `p` is XORed with `key[p % 8]`.
//! - `u64 count`, then `count` times: the transaction (with witness), `i64` entry time (UNIX
//!   seconds), `i64` fee delta (prioritisetransaction).
//! - fee deltas of transactions not in the pool: compact size `n`, `n` × (32-byte txid, `i64`).
//! - unbroadcast txids: compact size `n`, `n` × 32-byte txid.

use bitcoin::consensus::{deserialize_partial, serialize};
use bitcoin::hashes::Hash;
use bitcoin::{Transaction, Txid};
use std::io::Write;
use std::path::Path;
use thiserror::Error;

/// Dump version without obfuscation.
pub const DUMP_VERSION_PLAIN: u64 = 1;
/// Dump version with an XOR key.
pub const DUMP_VERSION_XOR: u64 = 2;

/// A mempool.dat that cannot be read.
#[derive(Debug, Error)]
pub enum PersistError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The contents are malformed.
    #[error("{path}: {what}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        what: String,
    },
}

/// One dumped transaction.
#[derive(Debug, Clone)]
pub struct DumpEntry {
    /// The transaction.
    pub tx: Transaction,
    /// When it entered the mempool (UNIX seconds).
    pub time: i64,
    /// Its fee delta (prioritisetransaction).
    pub fee_delta: i64,
}

/// A whole dump: transactions, then fee deltas of transactions not in it, then unbroadcast
/// txids.
#[derive(Debug, Clone, Default)]
pub struct Dump {
    /// The transactions, in file order (parents first).
    pub entries: Vec<DumpEntry>,
    /// Core's mapDeltas entries for transactions not in `entries`.
    pub deltas: Vec<(Txid, i64)>,
    /// Txids not yet announced to any peer.
    pub unbroadcast: Vec<Txid>,
}

fn compact_size(n: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&serialize(&bitcoin::VarInt(n)));
}

/// Writes `entries` and the `deltas` of transactions not among them to `path` atomically
/// (`path.new`, fsync, rename) in version 1.
pub fn write_dump(path: &Path, entries: &[DumpEntry], deltas: &[(Txid, i64)]) -> Result<(), PersistError> {
    let io = |e| PersistError::Io {
        path: path.display().to_string(),
        source: e,
    };
    let mut buf = Vec::new();
    buf.extend_from_slice(&DUMP_VERSION_PLAIN.to_le_bytes());
    buf.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for e in entries {
        buf.extend_from_slice(&serialize(&e.tx));
        buf.extend_from_slice(&e.time.to_le_bytes());
        buf.extend_from_slice(&e.fee_delta.to_le_bytes());
    }
    compact_size(deltas.len() as u64, &mut buf);
    for (txid, delta) in deltas {
        buf.extend_from_slice(txid.as_byte_array());
        buf.extend_from_slice(&delta.to_le_bytes());
    }
    compact_size(0, &mut buf);
    let tmp = path.with_extension("dat.new");
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(&buf).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    path: String,
}

impl Reader<'_> {
    fn err(&self, what: impl Into<String>) -> PersistError {
        PersistError::Format {
            path: self.path.clone(),
            what: format!("{} at offset {}", what.into(), self.pos),
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], PersistError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.data.len())
            .ok_or_else(|| self.err("truncated file"))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u64(&mut self) -> Result<u64, PersistError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn txid(&mut self) -> Result<Txid, PersistError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(Txid::from_byte_array(a))
    }

    fn compact(&mut self) -> Result<u64, PersistError> {
        let rest = &self.data[self.pos..];
        let (v, used): (bitcoin::VarInt, usize) = deserialize_partial(rest).map_err(|e| self.err(format!("bad compact size: {e}")))?;
        self.pos += used;
        Ok(v.0)
    }
}

/// Reads a version 1 or 2 dump.
pub fn read_dump(path: &Path) -> Result<Dump, PersistError> {
    let p = path.display().to_string();
    let mut data = std::fs::read(path).map_err(|e| PersistError::Io {
        path: p.clone(),
        source: e,
    })?;
    let mut r = Reader {
        data: &data,
        pos: 0,
        path: p.clone(),
    };
    let version = r.u64()?;
    match version {
        DUMP_VERSION_PLAIN => {}
        DUMP_VERSION_XOR => {
            let n = r.compact()?;
            if n != 8 {
                return Err(r.err(format!("XOR key of {n} bytes (expected 8)")));
            }
            let mut key = [0u8; 8];
            key.copy_from_slice(r.take(8)?);
            let start = r.pos;
            for (i, b) in data.iter_mut().enumerate().skip(start) {
                *b ^= key[i % 8];
            }
        }
        v => {
            return Err(PersistError::Format {
                path: p,
                what: format!("unsupported mempool.dat version {v}"),
            })
        }
    }
    let start = if version == DUMP_VERSION_XOR { 17 } else { 8 };
    let mut r = Reader {
        data: &data,
        pos: start,
        path: p,
    };
    let count = r.u64()?;
    let mut out = Vec::with_capacity(count.min(100_000) as usize);
    for _ in 0..count {
        let rest = &r.data[r.pos..];
        let (tx, used): (Transaction, usize) = deserialize_partial(rest).map_err(|e| r.err(format!("bad transaction: {e}")))?;
        r.pos += used;
        let time = r.u64()? as i64;
        let fee_delta = r.u64()? as i64;
        out.push(DumpEntry { tx, time, fee_delta });
    }
    // Counts come from the file: never pre-allocate more than the remaining bytes can hold.
    let n = r.compact()?;
    let mut deltas = Vec::with_capacity((n as usize).min(r.data.len().saturating_sub(r.pos) / 40));
    for _ in 0..n {
        let txid = r.txid()?;
        let delta = r.u64()? as i64;
        deltas.push((txid, delta));
    }
    let n = r.compact()?;
    let mut unbroadcast = Vec::with_capacity((n as usize).min(r.data.len().saturating_sub(r.pos) / 32));
    for _ in 0..n {
        unbroadcast.push(r.txid()?);
    }
    Ok(Dump {
        entries: out,
        deltas,
        unbroadcast,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::{absolute::LockTime, transaction::Version, Amount, OutPoint, ScriptBuf, Sequence, TxIn, TxOut, Witness};

    fn tx(n: u8) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint {
                    txid: bitcoin::Txid::from_byte_array([n; 32]),
                    vout: 1,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::from_slice(&[[0x51u8]]),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1000 + u64::from(n)),
                script_pubkey: ScriptBuf::new_p2a(),
            }],
        }
    }

    #[test]
    fn roundtrip_v1_and_read_v2() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mempool.dat");
        let entries = vec![
            DumpEntry {
                tx: tx(1),
                time: 1_700_000_000,
                fee_delta: 0,
            },
            DumpEntry {
                tx: tx(2),
                time: 1_700_000_005,
                fee_delta: 0,
            },
        ];
        let deltas = vec![(bitcoin::Txid::from_byte_array([9; 32]), -1234)];
        write_dump(&path, &entries, &deltas).unwrap();
        let back = read_dump(&path).unwrap();
        assert_eq!(back.deltas, deltas);
        let back = back.entries;
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].tx, entries[1].tx);
        assert_eq!(back[1].time, 1_700_000_005);
        // The same content in version 2 with an XOR key over absolute file offsets.
        let plain = std::fs::read(&path).unwrap();
        let key = [0x11u8, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
        let mut v2 = 2u64.to_le_bytes().to_vec();
        v2.push(8);
        v2.extend_from_slice(&key);
        for (i, b) in plain[8..].iter().enumerate() {
            let pos = 17 + i;
            v2.push(b ^ key[pos % 8]);
        }
        std::fs::write(&path, v2).unwrap();
        let back = read_dump(&path).unwrap().entries;
        assert_eq!(back[0].tx, entries[0].tx);
        assert_eq!(back[0].time, 1_700_000_000);
        std::fs::write(&path, &plain[..plain.len() - 3]).unwrap();
        assert!(read_dump(&path).is_err(), "truncated file is an error");
    }
}

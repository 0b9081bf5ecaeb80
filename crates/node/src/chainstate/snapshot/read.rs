//! Reads a snapshot file as a stream of coins with strict bounds, computing Core's
//! hash_serialized_3 of the coins on the way.
//!
//! Nothing is allocated from a count in the file: coins are read one at a time, scripts are
//! at most MAX_SCRIPT_SIZE bytes (a longer one is skipped and replaced by `OP_RETURN`, as Core
//! does), compact sizes are canonical and at most Core's MAX_SIZE, VARINTs may not overflow.
//! The hash computed while reading is the set's hash only when the coins come in Core's cursor
//! order (strictly increasing txid, then vout in VARINT-byte order), as every snapshot Core or
//! blvm writes does; Core accepts other orders (it hashes the loaded database), so the reader
//! does too and then reports no hash.

use super::{SnapshotError, SnapshotMetadata, METADATA_LEN};
use crate::chainstate::coin::{core_vout_key, Coin};
use crate::chainstate::compress::{decompress_amount, decompress_script, special_script_size, SPECIAL_SCRIPTS};
use crate::chainstate::muhash::txout_ser;
use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::{Amount, Network, OutPoint, ScriptBuf, TxOut, Txid};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// Core's MAX_SIZE: the largest compact size a stream may announce.
const MAX_COMPACT_SIZE: u64 = 0x0200_0000;
/// Core's MAX_SCRIPT_SIZE.
const MAX_SCRIPT_SIZE: u32 = 10_000;
/// The fewest bytes one coin can take: vout, code, amount and an empty script, one byte each.
const MIN_COIN_BYTES: u64 = 4;
/// Core's MAX_MONEY in satoshis.
const MAX_MONEY: u64 = 21_000_000 * 100_000_000;

/// A snapshot being read: its metadata, then [`SnapshotReader::next_coin`] until `None`.
pub struct SnapshotReader<R: BufRead> {
    src: R,
    meta: SnapshotMetadata,
    max_height: Option<u32>,
    read: u64,
    group: Option<Txid>,
    group_left: u64,
    last: Option<(Txid, Vec<u8>)>,
    ordered: bool,
    engine: bitcoin::hashes::sha256::HashEngine,
    hash: Option<sha256d::Hash>,
}

/// Opens the snapshot at `path` for a node on `network` and reads its metadata.
pub fn open_snapshot(path: &Path, network: Network) -> Result<SnapshotReader<BufReader<File>>, SnapshotError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    SnapshotReader::new(BufReader::with_capacity(1 << 16, file), network, Some(len))
}

impl<R: BufRead> SnapshotReader<R> {
    /// Reads and checks the metadata from `src`; with the file's length `len`, a coin count
    /// the file cannot hold is refused before any coin is read.
    pub fn new(mut src: R, network: Network, len: Option<u64>) -> Result<Self, SnapshotError> {
        let mut header = [0u8; METADATA_LEN as usize];
        read_exact(&mut src, &mut header, 0, "metadata")?;
        let meta = SnapshotMetadata::parse(&header, network)?;
        if let Some(len) = len {
            let room = len.saturating_sub(METADATA_LEN) / MIN_COIN_BYTES;
            if meta.coins_count > room {
                return Err(SnapshotError::CountExceedsFile {
                    count: meta.coins_count,
                    len,
                });
            }
        }
        Ok(SnapshotReader {
            src,
            meta,
            max_height: None,
            read: 0,
            group: None,
            group_left: 0,
            last: None,
            ordered: true,
            engine: sha256d::Hash::engine(),
            hash: None,
        })
    }

    /// The metadata header.
    pub fn metadata(&self) -> &SnapshotMetadata {
        &self.meta
    }

    /// Refuses coins created above `height` (the base block's height, once known).
    pub fn set_base_height(&mut self, height: u32) {
        self.max_height = Some(height);
    }

    /// Coins read so far.
    pub fn coins_read(&self) -> u64 {
        self.read
    }

    /// Core's hash_serialized_3 of the coins, once all were read, if they came in Core's
    /// order (otherwise the set must be hashed in order after loading, as Core does).
    pub fn hash_serialized_3(&self) -> Option<sha256d::Hash> {
        self.hash.filter(|_| self.ordered)
    }

    /// Whether every coin so far came in Core's cursor order.
    pub fn in_core_order(&self) -> bool {
        self.ordered
    }

    /// The next coin, or `None` once the announced count was read and the file ends there.
    pub fn next_coin(&mut self) -> Result<Option<(OutPoint, Coin)>, SnapshotError> {
        if self.read == self.meta.coins_count {
            return self.end().map(|_| None);
        }
        // Core accepts a transaction with no coins; each costs 33 bytes, so the loop ends.
        while self.group_left == 0 {
            let mut txid = [0u8; 32];
            read_exact(&mut self.src, &mut txid, self.read, "txid")?;
            let n = self.compact_size()?;
            if n > self.meta.coins_count - self.read {
                return Err(SnapshotError::CountMismatch);
            }
            let txid = Txid::from_byte_array(txid);
            if self.last.as_ref().is_some_and(|(t, _)| t.as_byte_array() >= txid.as_byte_array()) {
                self.ordered = false;
            }
            self.last = Some((txid, Vec::new()));
            self.group = Some(txid);
            self.group_left = n;
        }
        let txid = self.group.unwrap_or_else(Txid::all_zeros);
        let vout = self.compact_size()?;
        let coin = self.coin()?;
        let vout = u32::try_from(vout).ok().filter(|v| *v != u32::MAX).ok_or_else(|| self.bad(""))?;
        if self.max_height.is_some_and(|h| coin.height > h) {
            return Err(self.bad(""));
        }
        if coin.output.value.to_sat() > MAX_MONEY {
            return Err(self.bad(" - bad tx out value"));
        }
        let key = core_vout_key(vout);
        if self.last.as_ref().is_some_and(|(t, k)| *t == txid && *k >= key) {
            self.ordered = false;
        }
        self.last = Some((txid, key));
        let op = OutPoint { txid, vout };
        self.engine.input(&txout_ser(&op, &coin));
        self.group_left -= 1;
        self.read += 1;
        Ok(Some((op, coin)))
    }

    /// After the last coin: the file must end, then the hash is final.
    fn end(&mut self) -> Result<(), SnapshotError> {
        if self.hash.is_some() {
            return Ok(());
        }
        let mut b = [0u8; 1];
        if self.src.read(&mut b)? != 0 {
            return Err(SnapshotError::LeftOver(self.meta.coins_count));
        }
        self.hash = Some(sha256d::Hash::from_engine(self.engine.clone()));
        Ok(())
    }

    fn bad(&self, detail: &'static str) -> SnapshotError {
        SnapshotError::BadCoin { coins: self.read, detail }
    }

    fn format(&self, detail: &'static str) -> SnapshotError {
        SnapshotError::Format { coins: self.read, detail }
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        let mut b = [0u8; 1];
        read_exact(&mut self.src, &mut b, self.read, "unexpected end of file")?;
        Ok(b[0])
    }

    /// Core's ReadCompactSize with its range check: canonical, at most MAX_SIZE.
    fn compact_size(&mut self) -> Result<u64, SnapshotError> {
        let first = self.u8()?;
        let (n, min) = match first {
            0..=252 => return Ok(u64::from(first)),
            253 => (u64::from(u16::from_le_bytes(self.array()?)), 253),
            254 => (u64::from(u32::from_le_bytes(self.array()?)), 0x1_0000),
            255 => (u64::from_le_bytes(self.array()?), 0x1_0000_0000),
        };
        if n < min {
            return Err(self.format("non-canonical compact size"));
        }
        if n > MAX_COMPACT_SIZE {
            return Err(self.format("compact size too large"));
        }
        Ok(n)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut a = [0u8; N];
        read_exact(&mut self.src, &mut a, self.read, "unexpected end of file")?;
        Ok(a)
    }

    /// Core's ReadVarInt for an integer of `max`: refuses values that overflow it.
    fn varint(&mut self, max: u64) -> Result<u64, SnapshotError> {
        let mut n: u64 = 0;
        loop {
            let b = self.u8()?;
            if n > (max >> 7) {
                return Err(self.format("VARINT too large"));
            }
            n = (n << 7) | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                return Ok(n);
            }
            if n == max {
                return Err(self.format("VARINT too large"));
            }
            n += 1;
        }
    }

    /// One coin in Core's compressed form.
    fn coin(&mut self) -> Result<Coin, SnapshotError> {
        let code = self.varint(u64::from(u32::MAX))?;
        let value = decompress_amount(self.varint(u64::MAX)?);
        let size = self.varint(u64::from(u32::MAX))? as u32;
        let script = if size < SPECIAL_SCRIPTS {
            let mut payload = [0u8; 32];
            let len = special_script_size(size);
            read_exact(&mut self.src, &mut payload[..len], self.read, "script")?;
            // As Core: a key that does not decompress leaves the script empty.
            decompress_script(size, &payload[..len]).unwrap_or_default()
        } else if size - SPECIAL_SCRIPTS > MAX_SCRIPT_SIZE {
            let skip = u64::from(size - SPECIAL_SCRIPTS);
            if io::copy(&mut (&mut self.src).take(skip), &mut io::sink())? != skip {
                return Err(self.format("script"));
            }
            ScriptBuf::from_bytes(vec![bitcoin::opcodes::all::OP_RETURN.to_u8()])
        } else {
            let mut s = vec![0u8; (size - SPECIAL_SCRIPTS) as usize];
            read_exact(&mut self.src, &mut s, self.read, "script")?;
            ScriptBuf::from_bytes(s)
        };
        Ok(Coin {
            output: TxOut {
                value: Amount::from_sat(value),
                script_pubkey: script,
            },
            height: (code >> 1) as u32,
            is_coinbase: code & 1 == 1,
        })
    }
}

fn read_exact(src: &mut impl Read, buf: &mut [u8], coins: u64, detail: &'static str) -> Result<(), SnapshotError> {
    src.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => SnapshotError::Format { coins, detail },
        _ => SnapshotError::Io(e),
    })
}

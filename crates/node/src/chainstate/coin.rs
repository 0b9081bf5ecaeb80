//! An unspent transaction output as kept in the UTXO set, and its database encoding.

use crate::store::db::{ChainDb, CoinReader, DbError};
use crate::store::encoding::{write_varint, DecodeError, Reader};
use bitcoin::hashes::Hash;
use bitcoin::{Amount, OutPoint, ScriptBuf, TxOut, Txid};
use std::collections::BTreeMap;

/// One unspent output plus the facts validation needs about its creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coin {
    /// The output itself (value and locking script).
    pub output: TxOut,
    /// Height of the block that created it.
    pub height: u32,
    /// Whether it was created by a coinbase (maturity rule applies).
    pub is_coinbase: bool,
}

impl Coin {
    /// Encodes as VARINT(height*2+coinbase), VARINT(value), VARINT(script len), script.
    pub fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, (u64::from(self.height) << 1) | u64::from(self.is_coinbase));
        write_varint(out, self.output.value.to_sat());
        let script = self.output.script_pubkey.as_bytes();
        write_varint(out, script.len() as u64);
        out.extend_from_slice(script);
    }

    /// Decodes a coin written by [`Coin::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Coin, DecodeError> {
        let code = r.varint()?;
        let height = u32::try_from(code >> 1).map_err(|_| DecodeError("coin height"))?;
        let value = r.varint()?;
        let len = usize::try_from(r.varint()?).map_err(|_| DecodeError("script length"))?;
        if len > 1_000_000 {
            return Err(DecodeError("script too long"));
        }
        let script = r.bytes(len)?.to_vec();
        Ok(Coin {
            output: TxOut {
                value: Amount::from_sat(value),
                script_pubkey: ScriptBuf::from_bytes(script),
            },
            height,
            is_coinbase: code & 1 == 1,
        })
    }

    /// Approximate heap footprint, used to bound the coins cache.
    pub fn memory_usage(&self) -> usize {
        96 + self.output.script_pubkey.len()
    }
}

/// Database key of an outpoint: txid bytes then big-endian vout, so keys sort like Core's.
pub fn outpoint_key(op: &OutPoint) -> [u8; 36] {
    let mut k = [0u8; 36];
    k[..32].copy_from_slice(op.txid.as_byte_array());
    k[32..].copy_from_slice(&op.vout.to_be_bytes());
    k
}

/// Inverse of [`outpoint_key`].
pub fn outpoint_from_key(k: &[u8]) -> Result<OutPoint, DecodeError> {
    if k.len() != 36 {
        return Err(DecodeError("outpoint key length"));
    }
    let mut txid = [0u8; 32];
    txid.copy_from_slice(&k[..32]);
    let mut vout = [0u8; 4];
    vout.copy_from_slice(&k[32..]);
    Ok(OutPoint {
        txid: Txid::from_byte_array(txid),
        vout: u32::from_be_bytes(vout),
    })
}

/// Changes laid over a read snapshot of the coins table, by outpoint key: `None` removes a
/// coin, `Some` adds or replaces one (a UTXO set rolled back by undo data, `dumptxoutset`).
pub type CoinOverlay = BTreeMap<[u8; 36], Option<Coin>>;

/// Visits every coin of the flushed UTXO set in `db`, decoded, in Core's cursor order (see
/// [`for_each_txid_group`]): the one scan behind the UTXO statistics, MuHash and `scantxoutset`.
pub fn for_each_utxo(db: &ChainDb, f: impl FnMut(OutPoint, Coin) -> Result<(), DbError>) -> Result<(), DbError> {
    for_each_utxo_in(&db.coin_reader()?, &CoinOverlay::new(), f)
}

/// [`for_each_utxo`] over a read snapshot of the coins table with `overlay` applied.
pub fn for_each_utxo_in(
    reader: &CoinReader,
    overlay: &CoinOverlay,
    mut f: impl FnMut(OutPoint, Coin) -> Result<(), DbError>,
) -> Result<(), DbError> {
    for_each_txid_group(reader, overlay, |txid, coins| {
        coins.drain(..).try_for_each(|(vout, coin)| f(OutPoint { txid, vout }, coin))
    })
}

/// Core's VARINT bytes of a vout: Core's coins database keys end with them, so its cursor
/// orders the outputs of one transaction by these bytes, which differs from numeric order
/// from vout 16,512 on (`0x80 0x80 0x00` sorts before 16,511's `0xff 0x7f`).
pub(crate) fn core_vout_key(vout: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(5);
    write_varint(&mut v, u64::from(vout));
    v
}

/// Gathers coins arriving in store key order into transactions in Core's cursor order.
struct TxidGrouper {
    current: Option<Txid>,
    group: Vec<(u32, Coin)>,
}

impl TxidGrouper {
    fn push<E>(&mut self, op: OutPoint, coin: Coin, f: &mut impl FnMut(Txid, &mut Vec<(u32, Coin)>) -> Result<(), E>) -> Result<(), E> {
        if self.current.is_some_and(|t| t != op.txid) {
            self.emit(f)?;
        }
        self.current = Some(op.txid);
        self.group.push((op.vout, coin));
        Ok(())
    }

    fn emit<E>(&mut self, f: &mut impl FnMut(Txid, &mut Vec<(u32, Coin)>) -> Result<(), E>) -> Result<(), E> {
        let Some(txid) = self.current.take() else {
            return Ok(());
        };
        if self.group.last().is_some_and(|(vout, _)| *vout > 16_511) {
            self.group.sort_by_cached_key(|(vout, _)| core_vout_key(*vout));
        }
        f(txid, &mut self.group)?;
        self.group.clear();
        Ok(())
    }
}

/// Visits the coins of a read snapshot with `overlay` applied one transaction at a time, in
/// Core's cursor order: by txid bytes, then by the VARINT bytes of the vout. The store keys
/// sort by txid then numeric vout, so a transaction's outputs are reordered when one has a
/// vout above 16,511. One transaction's unspent outputs are held at a time (bounded by the
/// outputs a block can create); `f` may take them out of the vector.
pub fn for_each_txid_group<E: From<DbError>>(
    reader: &CoinReader,
    overlay: &CoinOverlay,
    mut f: impl FnMut(Txid, &mut Vec<(u32, Coin)>) -> Result<(), E>,
) -> Result<(), E> {
    let path = reader.path().to_path_buf();
    let corrupt = |e: DecodeError| DbError::Corrupt {
        path: path.clone(),
        what: e.to_string(),
    };
    let mut g = TxidGrouper {
        current: None,
        group: Vec::new(),
    };
    let mut changes = overlay.iter().peekable();
    reader.for_each(|k, v| -> Result<(), E> {
        let op = outpoint_from_key(k).map_err(corrupt)?;
        // Overlay entries up to this key come first; one for this key replaces the stored coin.
        while let Some((key, change)) = changes.next_if(|(key, _)| key.as_slice() <= k) {
            if let Some(coin) = change {
                g.push(outpoint_from_key(key).map_err(corrupt)?, coin.clone(), &mut f)?;
            }
            if key.as_slice() == k {
                return Ok(());
            }
        }
        let coin = Coin::decode(&mut Reader::new(v)).map_err(corrupt)?;
        g.push(op, coin, &mut f)
    })?;
    for (key, change) in changes {
        if let Some(coin) = change {
            g.push(outpoint_from_key(key).map_err(corrupt)?, coin.clone(), &mut f)?;
        }
    }
    g.emit(&mut f)
}

/// Core's IsUnspendable: OP_RETURN outputs and oversized scripts never enter the UTXO set.
pub fn is_unspendable(script: &bitcoin::Script) -> bool {
    script.is_op_return() || script.len() > 10_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coin_roundtrip() {
        let c = Coin {
            output: TxOut {
                value: Amount::from_sat(5_000_000_000),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
            },
            height: 123_456,
            is_coinbase: true,
        };
        let mut buf = Vec::new();
        c.encode(&mut buf);
        let mut r = Reader::new(&buf);
        assert_eq!(Coin::decode(&mut r).unwrap(), c);
        assert!(r.is_empty());
        assert!(Coin::decode(&mut Reader::new(&buf[..buf.len() - 1])).is_err());
    }

    /// Core's cursor order of vouts is by VARINT bytes: numeric up to 16,511, not beyond.
    #[test]
    fn core_vout_order() {
        let mut v: Vec<u32> = vec![0, 127, 128, 16_511, 16_512, 20_000, u32::MAX];
        v.sort_by_cached_key(|n| core_vout_key(*n));
        assert_eq!(v, vec![0, 127, 128, 16_512, 20_000, u32::MAX, 16_511]);
        assert!((0..16_511u32).all(|n| core_vout_key(n) < core_vout_key(n + 1)));
    }

    fn coin(height: u32) -> Coin {
        Coin {
            output: TxOut {
                value: Amount::from_sat(u64::from(height)),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
            },
            height,
            is_coinbase: false,
        }
    }

    /// A real database scanned with an overlay: stored coins replaced or removed, new ones
    /// before, between and after them, each transaction's outputs in Core's vout order.
    #[test]
    fn overlay_merges_in_core_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = ChainDb::open(dir.path()).unwrap();
        let (a, b, c) = (
            Txid::from_byte_array([1; 32]),
            Txid::from_byte_array([3; 32]),
            Txid::from_byte_array([5; 32]),
        );
        let op = |txid, vout| OutPoint { txid, vout };
        let mut batch = crate::store::db::FlushBatch::default();
        for (o, h) in [(op(b, 0), 1), (op(b, 16_511), 2), (op(b, 16_512), 3), (op(c, 1), 4)] {
            let mut v = Vec::new();
            coin(h).encode(&mut v);
            batch.coins.push((outpoint_key(&o), Some(v)));
        }
        db.commit(batch).unwrap();
        let mut overlay = CoinOverlay::new();
        overlay.insert(outpoint_key(&op(a, 7)), Some(coin(10)));
        overlay.insert(outpoint_key(&op(b, 0)), None);
        overlay.insert(outpoint_key(&op(b, 16_511)), Some(coin(11)));
        overlay.insert(outpoint_key(&op(b, 20_000)), Some(coin(12)));
        overlay.insert(outpoint_key(&op(c, 0)), None);
        overlay.insert(outpoint_key(&op(c, 9)), Some(coin(13)));
        let mut seen = Vec::new();
        for_each_utxo_in(&db.coin_reader().unwrap(), &overlay, |o, c| {
            seen.push((o, c.height));
            Ok(())
        })
        .unwrap();
        let want = vec![
            (op(a, 7), 10),
            (op(b, 16_512), 3),
            (op(b, 20_000), 12),
            (op(b, 16_511), 11),
            (op(c, 1), 4),
            (op(c, 9), 13),
        ];
        assert_eq!(seen, want);
        // Without the overlay: the stored set, 16,512 before 16,511.
        let mut plain = Vec::new();
        for_each_utxo(&db, |o, c| {
            plain.push((o, c.height));
            Ok(())
        })
        .unwrap();
        assert_eq!(plain, vec![(op(b, 0), 1), (op(b, 16_512), 3), (op(b, 16_511), 2), (op(c, 1), 4)]);
    }

    #[test]
    fn outpoint_keys_sort_by_txid_then_vout() {
        let t = Txid::from_byte_array([7u8; 32]);
        let a = outpoint_key(&OutPoint { txid: t, vout: 2 });
        let b = outpoint_key(&OutPoint { txid: t, vout: 256 });
        assert!(a < b);
        assert_eq!(outpoint_from_key(&b).unwrap(), OutPoint { txid: t, vout: 256 });
    }
}

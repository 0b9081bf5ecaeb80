//! Undo data: the coins a block spent, so the block can be disconnected in a reorg.

use super::coin::Coin;
use crate::store::encoding::{write_varint, DecodeError, Reader};

/// Spent coins of every non-coinbase transaction of a block, in transaction and input order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockUndo {
    /// One list per non-coinbase transaction.
    pub txs: Vec<Vec<Coin>>,
}

impl BlockUndo {
    /// Serializes for the undo file.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        write_varint(&mut out, self.txs.len() as u64);
        for tx in &self.txs {
            write_varint(&mut out, tx.len() as u64);
            for c in tx {
                c.encode(&mut out);
            }
        }
        out
    }

    /// Parses undo data read from disk.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let n = r.varint()?;
        if n > 1_000_000 {
            return Err(DecodeError("too many undo transactions"));
        }
        let mut txs = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let m = r.varint()?;
            if m > 1_000_000 {
                return Err(DecodeError("too many undo inputs"));
            }
            let mut coins = Vec::with_capacity(m as usize);
            for _ in 0..m {
                coins.push(Coin::decode(&mut r)?);
            }
            txs.push(coins);
        }
        if !r.is_empty() {
            return Err(DecodeError("trailing bytes in undo data"));
        }
        Ok(BlockUndo { txs })
    }
}

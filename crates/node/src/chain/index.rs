//! Block index entries: what we know about every header, and their database encoding.

use crate::store::block_files::FilePos;
use crate::store::encoding::{write_varint, DecodeError, Reader};
use bitcoin::block::Header;
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::{BlockHash, Work};

/// Status bits of a block index entry.
pub mod status {
    /// The full block is stored in a block file.
    pub const HAVE_DATA: u32 = 1;
    /// Undo data for the block is stored.
    pub const HAVE_UNDO: u32 = 2;
    /// The block passed every check and was connected at least once.
    pub const VALID_SCRIPTS: u32 = 4;
    /// The block itself is invalid.
    pub const FAILED_VALID: u32 = 8;
    /// An ancestor is invalid.
    pub const FAILED_CHILD: u32 = 16;
    /// Block data was deleted by pruning.
    pub const PRUNED: u32 = 32;
    /// Either failure bit.
    pub const FAILED_MASK: u32 = FAILED_VALID | FAILED_CHILD;
}

/// Everything known about one block header.
#[derive(Debug, Clone)]
pub struct BlockIndexEntry {
    /// The header.
    pub header: Header,
    /// Its hash (cached).
    pub hash: BlockHash,
    /// Height in its chain.
    pub height: u32,
    /// Total work of the chain up to and including this block.
    pub chainwork: Work,
    /// Bit set of [`status`] flags.
    pub status: u32,
    /// Number of transactions, once the block has been seen.
    pub n_tx: u32,
    /// Where the block is stored.
    pub data_pos: Option<FilePos>,
    /// Where its undo data is stored.
    pub undo_pos: Option<FilePos>,
    /// Arrival order, to prefer the first-seen block among equal-work tips (not persisted);
    /// `preciousblock` gives negative values so the chosen block wins, as Core's nSequenceId.
    pub sequence: i64,
}

fn put_pos(out: &mut Vec<u8>, p: &Option<FilePos>) {
    match p {
        Some(p) => {
            out.push(1);
            write_varint(out, u64::from(p.file));
            write_varint(out, p.offset);
            write_varint(out, u64::from(p.len));
        }
        None => out.push(0),
    }
}

fn get_pos(r: &mut Reader<'_>) -> Result<Option<FilePos>, DecodeError> {
    match r.u8()? {
        0 => Ok(None),
        1 => {
            let file = u32::try_from(r.varint()?).map_err(|_| DecodeError("file number"))?;
            let offset = r.varint()?;
            let len = u32::try_from(r.varint()?).map_err(|_| DecodeError("record length"))?;
            Ok(Some(FilePos { file, offset, len }))
        }
        _ => Err(DecodeError("file position tag")),
    }
}

impl BlockIndexEntry {
    /// Whether the block or an ancestor is known invalid.
    pub fn is_failed(&self) -> bool {
        self.status & status::FAILED_MASK != 0
    }

    /// Whether the full block is on disk.
    pub fn have_data(&self) -> bool {
        self.status & status::HAVE_DATA != 0 && self.data_pos.is_some()
    }

    /// Serializes for the database.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = serialize(&self.header);
        write_varint(&mut out, u64::from(self.height));
        out.extend_from_slice(&self.chainwork.to_be_bytes());
        write_varint(&mut out, u64::from(self.status));
        write_varint(&mut out, u64::from(self.n_tx));
        put_pos(&mut out, &self.data_pos);
        put_pos(&mut out, &self.undo_pos);
        out
    }

    /// Parses a database record.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let header: Header = deserialize(r.bytes(80)?).map_err(|_| DecodeError("header"))?;
        let height = u32::try_from(r.varint()?).map_err(|_| DecodeError("height"))?;
        let chainwork = Work::from_be_bytes(r.array()?);
        let status = u32::try_from(r.varint()?).map_err(|_| DecodeError("status"))?;
        let n_tx = u32::try_from(r.varint()?).map_err(|_| DecodeError("n_tx"))?;
        let data_pos = get_pos(&mut r)?;
        let undo_pos = get_pos(&mut r)?;
        if !r.is_empty() {
            return Err(DecodeError("trailing bytes in index entry"));
        }
        Ok(BlockIndexEntry {
            hash: header.block_hash(),
            header,
            height,
            chainwork,
            status,
            n_tx,
            data_pos,
            undo_pos,
            sequence: 0,
        })
    }
}

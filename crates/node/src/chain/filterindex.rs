//! The optional compact block filter index (`-blockfilterindex`, BIP157/158 "basic" filters):
//! each block's filter and filter header, computed when the block is connected (its spent outputs
//! are at hand then) and committed with the chainstate. Records are keyed by block hash, so a
//! block's record stays valid after it leaves the active chain.

use bitcoin::bip158::{BlockFilter, BlockFilterWriter, FilterHash, FilterHeader};
use bitcoin::hashes::Hash;
use bitcoin::{Block, BlockHash, TxOut};
use std::collections::HashMap;

/// OP_RETURN: outputs starting with it never go into a basic filter.
const OP_RETURN: u8 = 0x6a;

/// A block's basic filter: the filter bytes (BIP158 encoding) and its filter header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterRecord {
    /// The filter header, which commits to this filter and all earlier ones.
    pub header: FilterHeader,
    /// The Golomb-coded set, as served by `getblockfilter` and `cfilter`.
    pub filter: Vec<u8>,
}

impl FilterRecord {
    /// Database encoding: the 32-byte header then the filter.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.header.to_byte_array().to_vec();
        v.extend_from_slice(&self.filter);
        v
    }

    /// Decodes [`FilterRecord::encode`]'s bytes; `None` when shorter than a header.
    pub fn decode(b: &[u8]) -> Option<FilterRecord> {
        let header: [u8; 32] = b.get(..32)?.try_into().ok()?;
        Some(FilterRecord {
            header: FilterHeader::from_byte_array(header),
            filter: b.get(32..)?.to_vec(),
        })
    }
}

/// What BIP157 headers are made of, stored beside each filter so serving `getcfheaders` (up to
/// 2,000 blocks) and chaining the next filter never read whole filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterIds {
    /// The filter's hash (double SHA-256 of the filter bytes).
    pub hash: FilterHash,
    /// The filter header.
    pub header: FilterHeader,
}

impl FilterIds {
    /// Database encoding: the 32-byte filter hash then the 32-byte header.
    pub fn encode(&self) -> [u8; 64] {
        let mut v = [0u8; 64];
        v[..32].copy_from_slice(self.hash.as_byte_array());
        v[32..].copy_from_slice(self.header.as_byte_array());
        v
    }

    /// Decodes [`FilterIds::encode`]'s bytes; `None` unless exactly 64 bytes.
    pub fn decode(b: &[u8]) -> Option<FilterIds> {
        let b: &[u8; 64] = b.try_into().ok()?;
        Some(FilterIds {
            hash: FilterHash::from_byte_array(b[..32].try_into().ok()?),
            header: FilterHeader::from_byte_array(b[32..].try_into().ok()?),
        })
    }
}

impl FilterRecord {
    /// The record's filter hash and header (hashes the filter).
    pub fn ids(&self) -> FilterIds {
        FilterIds {
            hash: FilterHash::hash(&self.filter),
            header: self.header,
        }
    }
}

/// The basic filter of `block` whose inputs spent `spent` (one list per transaction, empty for
/// the coinbase), chained onto the parent's filter header (all zeros for genesis). Elements are
/// BIP158's: every output script except empty and OP_RETURN ones, and every non-empty spent script.
pub fn basic_filter(block: &Block, spent: &[Vec<TxOut>], prev_header: &FilterHeader) -> FilterRecord {
    let mut content = Vec::new();
    {
        let mut w = BlockFilterWriter::new(&mut content, block);
        for out in block.txdata.iter().flat_map(|tx| &tx.output) {
            let s = out.script_pubkey.as_bytes();
            if !s.is_empty() && s[0] != OP_RETURN {
                w.add_element(s);
            }
        }
        for out in spent.iter().flatten() {
            if !out.script_pubkey.is_empty() {
                w.add_element(out.script_pubkey.as_bytes());
            }
        }
        // Writing into a Vec cannot fail.
        let _ = w.finish();
    }
    let filter = BlockFilter::new(&content);
    FilterRecord {
        header: filter.filter_header(prev_header),
        filter: content,
    }
}

/// Approximate bytes per pending record besides the filter itself (key, header, map overhead).
const PENDING_OVERHEAD_BYTES: usize = 128;

/// Filter records (with their ids) not yet written, and the last block the index has processed.
#[derive(Debug)]
pub struct PendingFilters {
    records: HashMap<BlockHash, (FilterRecord, FilterIds)>,
    bytes: usize,
    /// The last block whose filter was computed (the active tip once in sync).
    pub best: BlockHash,
}

impl PendingFilters {
    /// An index that has processed the chain up to `best`.
    pub fn new(best: BlockHash) -> Self {
        PendingFilters {
            records: HashMap::new(),
            bytes: 0,
            best,
        }
    }

    /// Records the filter of a block joining the active chain.
    pub fn add(&mut self, hash: BlockHash, record: FilterRecord) {
        self.bytes += record.filter.len() + PENDING_OVERHEAD_BYTES;
        let ids = record.ids();
        self.records.insert(hash, (record, ids));
        self.best = hash;
    }

    /// A record not yet written.
    pub fn get(&self, hash: &BlockHash) -> Option<&FilterRecord> {
        self.records.get(hash).map(|(r, _)| r)
    }

    /// The ids of a record not yet written.
    pub fn get_ids(&self, hash: &BlockHash) -> Option<FilterIds> {
        self.records.get(hash).map(|(_, ids)| *ids)
    }

    /// Memory held by pending records, counted against `-dbcache`.
    pub fn memory_usage(&self) -> usize {
        self.bytes
    }

    /// Hands the pending records to a flush.
    pub fn take(&mut self) -> Vec<([u8; 32], Vec<u8>, [u8; 64])> {
        let out = self.writes();
        self.mark_flushed();
        out
    }

    /// The pending records as a flush would write them, leaving them pending (so a failed
    /// commit loses nothing); call [`PendingFilters::mark_flushed`] after a successful commit.
    pub fn writes(&self) -> Vec<([u8; 32], Vec<u8>, [u8; 64])> {
        self.records
            .iter()
            .map(|(h, (r, ids))| (h.to_byte_array(), r.encode(), ids.encode()))
            .collect()
    }

    /// Forgets the pending records once a commit has stored them.
    pub fn mark_flushed(&mut self) {
        self.records = HashMap::new();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips() {
        let r = FilterRecord {
            header: FilterHeader::from_byte_array([3; 32]),
            filter: vec![1, 2, 3],
        };
        assert_eq!(FilterRecord::decode(&r.encode()), Some(r));
        assert_eq!(FilterRecord::decode(&[0; 31]), None);
    }

    #[test]
    fn ids_round_trip_and_hash_the_filter() {
        let r = FilterRecord {
            header: FilterHeader::from_byte_array([3; 32]),
            filter: vec![1, 2, 3],
        };
        let ids = r.ids();
        assert_eq!(ids.hash, FilterHash::hash(&[1, 2, 3]));
        assert_eq!(ids.header, r.header);
        assert_eq!(FilterIds::decode(&ids.encode()), Some(ids));
        assert_eq!(FilterIds::decode(&[0; 63]), None);
    }
}

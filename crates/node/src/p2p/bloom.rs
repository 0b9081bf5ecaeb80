//! BIP37 connection bloom filters, as Core's CBloomFilter: the filter a light client loads with
//! `filterload` (murmur3 hashes seeded by the hash number and the client's tweak), the
//! transaction matching that decides which transactions are announced to it, and the filtered
//! blocks (`merkleblock`) it asks for with MSG_FILTERED_BLOCK.

use bitcoin::blockdata::script::Instruction;
use bitcoin::hashes::Hash;
use bitcoin::merkle_tree::{MerkleBlock, PartialMerkleTree};
use bitcoin::p2p::message_bloom::{BloomFlags, FilterLoad};
use bitcoin::{Block, OutPoint, Script, Transaction, Txid};

/// Largest filter a peer may load, in bytes (Core's MAX_BLOOM_FILTER_SIZE, BIP37).
pub const MAX_BLOOM_FILTER_SIZE: usize = 36_000;
/// Most hash functions a filter may use (Core's MAX_HASH_FUNCS, BIP37).
pub const MAX_HASH_FUNCS: u32 = 50;
/// Largest element a `filteradd` may carry: a script push's limit, since only pushes are matched.
pub const MAX_FILTERADD_SIZE: usize = bitcoin::blockdata::constants::MAX_SCRIPT_ELEMENT_SIZE;
/// BIP37 `nFlags` values (the low two bits): never add matched outpoints ...
pub const BLOOM_UPDATE_NONE: u8 = 0;
/// ... always add them ...
pub const BLOOM_UPDATE_ALL: u8 = 1;
/// ... or only those of pay-to-pubkey and bare multisig outputs.
pub const BLOOM_UPDATE_P2PUBKEY_ONLY: u8 = 2;
/// The bits of `nFlags` that select the update mode.
const BLOOM_UPDATE_MASK: u8 = 3;
/// The `getdata` inventory type asking for a filtered block (`merkleblock` and matched
/// transactions); rust-bitcoin reads it as an unknown type.
pub const MSG_FILTERED_BLOCK: u32 = 3;
/// Multiplier of the hash number in each hash function's seed (BIP37).
const SEED_MULTIPLIER: u32 = 0xFBA4_C795;
/// ln(2)^2, as Core's constant (sizes must come out as Core's).
const LN2_SQUARED: f64 = 0.480_453_013_918_201_4;

/// A peer's BIP37 filter: bit field, hash function count, tweak and update flags as it sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BloomFilter {
    data: Vec<u8>,
    hash_funcs: u32,
    tweak: u32,
    flags: u8,
}

impl From<FilterLoad> for BloomFilter {
    fn from(f: FilterLoad) -> Self {
        BloomFilter {
            data: f.filter,
            hash_funcs: f.hash_funcs,
            tweak: f.tweak,
            flags: flags_byte(f.flags),
        }
    }
}

/// The `nFlags` byte of rust-bitcoin's update mode.
fn flags_byte(f: BloomFlags) -> u8 {
    match f {
        BloomFlags::None => BLOOM_UPDATE_NONE,
        BloomFlags::All => BLOOM_UPDATE_ALL,
        BloomFlags::PubkeyOnly => BLOOM_UPDATE_P2PUBKEY_ONLY,
    }
}

/// The update mode a raw `nFlags` byte selects (Core reads only its low two bits; 3 is no mode,
/// so nothing is added), for decoding `filterload` messages rust-bitcoin would refuse.
pub fn flags_from_byte(b: u8) -> BloomFlags {
    match b & BLOOM_UPDATE_MASK {
        BLOOM_UPDATE_ALL => BloomFlags::All,
        BLOOM_UPDATE_P2PUBKEY_ONLY => BloomFlags::PubkeyOnly,
        _ => BloomFlags::None,
    }
}

/// MurmurHash3 (x86, 32-bit), the hash BIP37 specifies.
pub fn murmur3(seed: u32, data: &[u8]) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h = seed;
    let blocks = data.chunks_exact(4);
    let tail = blocks.remainder();
    for b in blocks {
        h ^= mix(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    if !tail.is_empty() {
        let k = tail.iter().enumerate().fold(0u32, |k, (i, b)| k | u32::from(*b) << (8 * i));
        h ^= mix(k);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

impl BloomFilter {
    /// A filter sized for `elements` entries at false-positive rate `fp_rate`, capped at the
    /// BIP37 limits (Core's constructor; clients build theirs this way).
    pub fn new(elements: u32, fp_rate: f64, tweak: u32, flags: u8) -> Self {
        let elements = elements.max(1);
        // Integer steps where Core has them, so the sizes come out the same.
        let bits = ((-1.0 / LN2_SQUARED * f64::from(elements) * fp_rate.ln()) as u32).min(MAX_BLOOM_FILTER_SIZE as u32 * 8);
        let bytes = (bits / 8) as usize;
        let hash_funcs = ((((bytes * 8) as u32 / elements) as f64 * std::f64::consts::LN_2) as u32).min(MAX_HASH_FUNCS);
        BloomFilter {
            data: vec![0; bytes],
            hash_funcs,
            tweak,
            flags,
        }
    }

    /// The `filterload` message that loads this filter.
    pub fn to_filterload(&self) -> FilterLoad {
        FilterLoad {
            filter: self.data.clone(),
            hash_funcs: self.hash_funcs,
            tweak: self.tweak,
            flags: flags_from_byte(self.flags),
        }
    }

    /// Whether the filter is within BIP37's size and hash-function limits (a larger one is
    /// misbehaviour).
    pub fn is_within_size_constraints(&self) -> bool {
        self.data.len() <= MAX_BLOOM_FILTER_SIZE && self.hash_funcs <= MAX_HASH_FUNCS
    }

    fn bit(&self, n: u32, key: &[u8]) -> usize {
        let seed = n.wrapping_mul(SEED_MULTIPLIER).wrapping_add(self.tweak);
        (murmur3(seed, key) as usize) % (self.data.len() * 8)
    }

    /// Adds an element (`filteradd`, matched outpoints). An empty filter stays empty.
    pub fn insert(&mut self, key: &[u8]) {
        if self.data.is_empty() {
            return;
        }
        for n in 0..self.hash_funcs {
            let i = self.bit(n, key);
            self.data[i >> 3] |= 1 << (i & 7);
        }
    }

    /// Whether an element may be in the filter. An empty filter matches everything (Core's
    /// CVE-2013-5700 guard against dividing by zero).
    pub fn contains(&self, key: &[u8]) -> bool {
        if self.data.is_empty() {
            return true;
        }
        (0..self.hash_funcs).all(|n| {
            let i = self.bit(n, key);
            self.data[i >> 3] & (1 << (i & 7)) != 0
        })
    }

    /// Adds an outpoint, serialized as on the wire (txid, then index, little-endian).
    pub fn insert_outpoint(&mut self, o: &OutPoint) {
        self.insert(&bitcoin::consensus::serialize(o));
    }

    /// Whether an outpoint may be in the filter.
    pub fn contains_outpoint(&self, o: &OutPoint) -> bool {
        self.contains(&bitcoin::consensus::serialize(o))
    }

    /// Whether a transaction matches, adding the outpoints of matched outputs as the flags say
    /// so that spends of them match later (Core's IsRelevantAndUpdate): its txid, a data push of
    /// an output script, a spent outpoint, or a data push of an input script.
    pub fn is_relevant_and_update(&mut self, tx: &Transaction) -> bool {
        let txid = tx.compute_txid();
        self.is_relevant_and_update_txid(tx, txid)
    }

    fn is_relevant_and_update_txid(&mut self, tx: &Transaction, txid: Txid) -> bool {
        let mut found = self.contains(txid.as_byte_array());
        for (i, out) in tx.output.iter().enumerate() {
            if !self.matches_push(&out.script_pubkey) {
                continue;
            }
            found = true;
            let add = match self.flags & BLOOM_UPDATE_MASK {
                BLOOM_UPDATE_ALL => true,
                BLOOM_UPDATE_P2PUBKEY_ONLY => out.script_pubkey.is_p2pk() || out.script_pubkey.is_multisig(),
                _ => false,
            };
            if add {
                self.insert_outpoint(&OutPoint::new(txid, i as u32));
            }
        }
        if found {
            return true;
        }
        tx.input
            .iter()
            .any(|i| self.contains_outpoint(&i.previous_output) || self.matches_push(&i.script_sig))
    }

    /// Whether a non-empty data push of `script` is in the filter (parsing stops at the first
    /// malformed push, as Core's GetOp).
    fn matches_push(&self, script: &Script) -> bool {
        for ins in script.instructions() {
            match ins {
                Ok(Instruction::PushBytes(b)) if !b.is_empty() && self.contains(b.as_bytes()) => return true,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        false
    }

    /// The `merkleblock` for a block (Core's CMerkleBlock): every transaction is matched in
    /// order, updating the filter, and the partial merkle tree proves the matched ones; also
    /// returns the indexes of the matched transactions, which are sent after it.
    pub fn merkle_block(&mut self, block: &Block) -> (MerkleBlock, Vec<usize>) {
        let txids: Vec<Txid> = block.txdata.iter().map(Transaction::compute_txid).collect();
        let matches: Vec<bool> = block
            .txdata
            .iter()
            .zip(&txids)
            .map(|(tx, txid)| self.is_relevant_and_update_txid(tx, *txid))
            .collect();
        let matched = matches.iter().enumerate().filter_map(|(i, m)| m.then_some(i)).collect();
        let mb = MerkleBlock {
            header: block.header,
            txn: PartialMerkleTree::from_txids(&txids, &matches),
        };
        (mb, matched)
    }
}

#[cfg(test)]
#[path = "bloom_tests.rs"]
mod tests;

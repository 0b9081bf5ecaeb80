//! A block's txids and wtxids hashed from the bytes it was read as: each transaction's bytes are
//! hashed as they are (the wtxid, and the txid of a transaction without witnesses) and, for a
//! segwit transaction, once more without the marker, flag and witnesses (the txid), instead of
//! serializing every transaction into the hasher again for each of the two hashes.

use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::{Block, Txid, Wtxid};

/// The txids and wtxids of `block`, in block order, hashed from `raw`; None unless `raw` is
/// exactly the block's serialization, laid out as `block` says.
pub fn tx_hashes(block: &Block, raw: &[u8]) -> Option<(Vec<Txid>, Vec<Wtxid>)> {
    let n = block.txdata.len();
    let mut at = 80 + bitcoin::VarInt(n as u64).size();
    let mut txids = Vec::with_capacity(n);
    let mut wtxids = Vec::with_capacity(n);
    for tx in &block.txdata {
        let total = tx.total_size();
        let bytes = raw.get(at..at.checked_add(total)?)?;
        let whole = sha256d::Hash::hash(bytes);
        let base = tx.base_size();
        let txid = if base == total {
            whole
        } else {
            // Version, marker and flag, inputs and outputs, witnesses, lock time.
            if bytes.get(4..6)? != [0u8, 1] {
                return None;
            }
            let mut engine = sha256d::Hash::engine();
            engine.input(&bytes[..4]);
            engine.input(bytes.get(6..6 + base.checked_sub(8)?)?);
            engine.input(&bytes[total.checked_sub(4)?..]);
            sha256d::Hash::from_engine(engine)
        };
        txids.push(Txid::from_raw_hash(txid));
        wtxids.push(Wtxid::from_raw_hash(whole));
        at += total;
    }
    (at == raw.len()).then_some((txids, wtxids))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::consensus::{deserialize, serialize};

    /// The regtest chain Core made (`../shared/chains`): legacy, segwit and coinbase-only blocks.
    fn core_blocks() -> Vec<Block> {
        let path = blvm_testkit::shared::chain_hex_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| deserialize(&<Vec<u8> as bitcoin::hex::FromHex>::from_hex(l.trim()).unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn the_hashes_of_the_bytes_are_the_transactions_own() {
        let blocks = core_blocks();
        let mut segwit = 0;
        for block in &blocks {
            let raw = serialize(block);
            let (txids, wtxids) = tx_hashes(block, &raw).unwrap();
            let want: Vec<Txid> = block.txdata.iter().map(|t| t.compute_txid()).collect();
            let want_w: Vec<Wtxid> = block.txdata.iter().map(|t| t.compute_wtxid()).collect();
            assert_eq!((txids, wtxids), (want, want_w), "block {}", block.block_hash());
            segwit += block.txdata.iter().filter(|t| t.base_size() != t.total_size()).count();
            // Bytes that are not exactly the block's: refused.
            assert_eq!(tx_hashes(block, &raw[..raw.len() - 1]), None);
            assert_eq!(tx_hashes(block, &[raw.as_slice(), &[0]].concat()), None);
        }
        assert!(segwit > 0, "the chain has segwit transactions");
    }

    #[test]
    fn a_transaction_without_inputs_is_hashed_as_serialized() {
        // Serialized with a marker and flag (so it cannot be read as a segwit transaction) but
        // no witness: its txid leaves them out.
        let mut block = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
        let mut empty = block.txdata[0].clone();
        empty.input.clear();
        block.txdata.push(empty);
        let raw = serialize(&block);
        let (txids, wtxids) = tx_hashes(&block, &raw).unwrap();
        assert_eq!(txids[1], block.txdata[1].compute_txid());
        assert_eq!(wtxids[1], block.txdata[1].compute_wtxid());
    }
}

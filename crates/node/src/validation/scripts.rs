//! Script verification through Bitcoin Core's own interpreter (`bitcoinconsensus`), in parallel.

use super::reject::Reject;
use crate::params::ChainParams;
use bitcoin::{BlockHash, Transaction, TxOut};
use bitcoinconsensus as bc;

/// Script flags Core applies to a block at `height` with hash `hash` (GetBlockScriptFlags).
pub fn block_script_flags(params: &ChainParams, height: u32, hash: &BlockHash) -> u32 {
    let mut flags = bc::VERIFY_P2SH | bc::VERIFY_WITNESS | bc::VERIFY_TAPROOT;
    if let Some((_, f)) = params.script_flag_exceptions.iter().find(|(h, _)| h == hash) {
        flags = *f;
    }
    if height >= params.bip66_height {
        flags |= bc::VERIFY_DERSIG;
    }
    if height >= params.bip65_height {
        flags |= bc::VERIFY_CHECKLOCKTIMEVERIFY;
    }
    if height >= params.csv_height {
        flags |= bc::VERIFY_CHECKSEQUENCEVERIFY;
    }
    if height >= params.segwit_height {
        flags |= bc::VERIFY_NULLDUMMY;
    }
    flags
}

/// Verifies input `index` of the serialized transaction `tx_bytes` against all its spent outputs.
pub fn verify_input(tx_bytes: &[u8], spent: &[TxOut], index: usize, flags: u32) -> Result<(), bc::Error> {
    let utxos: Vec<bc::Utxo> = spent
        .iter()
        .map(|o| bc::Utxo {
            script_pubkey: o.script_pubkey.as_bytes().as_ptr(),
            script_pubkey_len: o.script_pubkey.len() as u32,
            value: o.value.to_sat() as i64,
        })
        .collect();
    verify_with(tx_bytes, spent, &utxos, index, flags)
}

fn verify_with(tx_bytes: &[u8], spent: &[TxOut], utxos: &[bc::Utxo], index: usize, flags: u32) -> Result<(), bc::Error> {
    let prev = &spent[index];
    bc::verify_with_flags(
        prev.script_pubkey.as_bytes(),
        prev.value.to_sat(),
        tx_bytes,
        Some(utxos),
        index,
        flags,
    )
}

/// Verifies every input script of `txs` (skipping the coinbase) using `threads` worker threads.
/// `spent[i]` holds the outputs spent by `txs[i]`, in input order.
pub fn verify_block_scripts(txs: &[Transaction], spent: &[Vec<TxOut>], flags: u32, threads: usize) -> Result<(), Reject> {
    let serialized: Vec<Vec<u8>> = txs.iter().map(bitcoin::consensus::serialize).collect();
    let mut jobs: Vec<(usize, usize)> = Vec::new();
    for (t, tx) in txs.iter().enumerate() {
        if tx.is_coinbase() {
            continue;
        }
        for i in 0..tx.input.len() {
            jobs.push((t, i));
        }
    }
    let run = |slice: &[(usize, usize)]| -> Result<(), Reject> {
        let mut cached: Option<(usize, Vec<bc::Utxo>)> = None;
        for &(t, i) in slice {
            if cached.as_ref().map(|c| c.0) != Some(t) {
                let utxos = spent[t]
                    .iter()
                    .map(|o| bc::Utxo {
                        script_pubkey: o.script_pubkey.as_bytes().as_ptr(),
                        script_pubkey_len: o.script_pubkey.len() as u32,
                        value: o.value.to_sat() as i64,
                    })
                    .collect();
                cached = Some((t, utxos));
            }
            let utxos = cached.as_ref().map(|c| c.1.as_slice()).unwrap_or(&[]);
            if let Err(e) = verify_with(&serialized[t], &spent[t], utxos, i, flags) {
                // Core (since v30) reports "block-script-verify-flag-failed (<script error>)";
                // libbitcoinconsensus does not name the script error, so it goes in the detail.
                return Err(Reject::new(
                    "block-script-verify-flag-failed",
                    format!("tx {} input {}: {:?}", txs[t].compute_txid(), i, e),
                ));
            }
        }
        Ok(())
    };
    let threads = threads.max(1);
    if threads == 1 || jobs.len() < 32 {
        return run(&jobs);
    }
    let chunk = jobs.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs.chunks(chunk).map(|c| s.spawn(move || run(c))).collect();
        let mut result = Ok(());
        for h in handles {
            let r = h
                .join()
                .unwrap_or_else(|_| Err(Reject::new("block-script-verify-flag-failed", "script worker panicked")));
            if result.is_ok() {
                result = r;
            }
        }
        result
    })
}

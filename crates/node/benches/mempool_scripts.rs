//! Mempool script check cost per input: Core's interpreter under the standard flags through the
//! shim (`first_script_error`, what mempool acceptance runs) against the former path, the
//! kernel under the consensus flags plus the structural policy rules (`PreparedTx` and
//! `check_input_script_policy`). Inputs are P2WPKH spends with real ECDSA signatures, in
//! transactions of 1 and of `BLVM_BENCH_INPUTS` inputs (default 1,000), so the figure also shows
//! the cost stays linear in the input count. Both paths must accept every input.
//!
//! Run: `cargo bench -p blvm-node --bench mempool_scripts`; `cargo test --benches` runs a small
//! smoke version.

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{Amount, CompressedPublicKey, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use blvm_node::mempool::policy::check_input_script_policy;
use blvm_node::validation::script_error::{first_script_error, standard_script_verify_flags};
use blvm_node::validation::scripts::{PreparedTx, VERIFY_ALL};
use std::time::{Duration, Instant};

/// A transaction of `n` signed P2WPKH inputs and the outputs they spend.
fn signed(n: usize) -> (Transaction, Vec<TxOut>) {
    let secp = Secp256k1::new();
    let key = SecretKey::from_slice(&[7; 32]).unwrap();
    let pk = CompressedPublicKey(key.public_key(&secp));
    let spk = ScriptBuf::new_p2wpkh(&pk.wpubkey_hash());
    let prev = TxOut {
        value: Amount::from_sat(10_000),
        script_pubkey: spk,
    };
    let mut tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: (0..n)
            .map(|i| TxIn {
                previous_output: OutPoint::new(Txid::from_byte_array([9; 32]), i as u32),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![TxOut {
            value: Amount::from_sat(5_000 * n as u64),
            script_pubkey: prev.script_pubkey.clone(),
        }],
    };
    let mut witnesses = Vec::with_capacity(n);
    let mut cache = SighashCache::new(&tx);
    for i in 0..n {
        let h = cache
            .p2wpkh_signature_hash(i, &prev.script_pubkey, prev.value, EcdsaSighashType::All)
            .unwrap();
        let sig = bitcoin::ecdsa::Signature::sighash_all(secp.sign_ecdsa(&Message::from(h), &key));
        witnesses.push(Witness::p2wpkh(&sig, &pk.0));
    }
    for (input, w) in tx.input.iter_mut().zip(witnesses) {
        input.witness = w;
    }
    (tx, vec![prev; n])
}

fn old_path(tx: &Transaction, spent: &[TxOut]) {
    let p = PreparedTx::new(tx, spent).unwrap();
    for (i, prev) in spent.iter().enumerate() {
        p.verify_input(i, VERIFY_ALL).unwrap();
        check_input_script_policy(tx, i, prev).unwrap();
    }
}

fn new_path(tx: &Transaction, spent: &[TxOut]) {
    assert_eq!(first_script_error(tx, spent, standard_script_verify_flags()), Ok(None));
}

/// Fastest of `runs` timings of `f` over `txs`, per input.
fn per_input(txs: &[(Transaction, Vec<TxOut>)], runs: usize, f: fn(&Transaction, &[TxOut])) -> Duration {
    let inputs: usize = txs.iter().map(|(t, _)| t.input.len()).sum();
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            txs.iter().for_each(|(tx, spent)| f(tx, spent));
            t.elapsed()
        })
        .min()
        .unwrap()
        / inputs as u32
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("BLVM_BENCH_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1_000 } else { 20 });
    let runs = if full { 5 } else { 1 };
    let small: Vec<_> = (0..n).map(|_| signed(1)).collect();
    let big = vec![signed(n)];
    for (name, txs) in [("1-input transactions", &small), (&*format!("one {n}-input transaction"), &big)] {
        let old = per_input(txs, runs, old_path);
        let new = per_input(txs, runs, new_path);
        println!("{name}: kernel + structural policy {old:?}/input, Core standard flags (shim) {new:?}/input");
    }
}

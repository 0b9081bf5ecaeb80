//! Script verification through Bitcoin Core's own interpreter (libbitcoinkernel), in parallel.
//!
//! Each transaction is handed to the interpreter once ([`PreparedTx`]): it is parsed once and
//! its signature-hash midstates (BIP143, BIP341) are computed once, then every input is verified
//! against that. A block's inputs, not its transactions, are spread over the worker threads, so
//! one transaction with many inputs is verified by all of them.

use super::reject::Reject;
use super::script_error::block_script_reject;
use crate::params::ChainParams;
use bitcoin::{BlockHash, Transaction, TxOut};
use bitcoinkernel as kernel;
use kernel::prelude::TransactionExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

pub use crate::script_flags::*;

/// Below this many inputs a block's scripts are verified on the calling thread.
const PARALLEL_MIN_INPUTS: usize = 32;

/// Why the kernel could not verify an input (its C API names no script error: see [`super::script_error`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// The interpreter ran and the script failed.
    #[error("script verification failed")]
    Invalid,
    /// A flag outside the consensus set was given.
    #[error("flags outside the consensus set")]
    InvalidFlags,
    /// The flags are inconsistent (e.g. WITNESS without P2SH).
    #[error("invalid combination of script flags")]
    InvalidFlagsCombination,
    /// Taproot verification was asked for without every spent output.
    #[error("taproot verification needs every spent output")]
    SpentOutputsRequired,
    /// The input index is not an input of the transaction.
    #[error("input index {0} out of range")]
    InputIndex(usize),
    /// The number of spent outputs differs from the number of inputs.
    #[error("{spent} spent outputs for {inputs} inputs")]
    SpentOutputsMismatch {
        /// Spent outputs given.
        spent: usize,
        /// Inputs of the transaction.
        inputs: usize,
    },
    /// The interpreter could not take the transaction or an output.
    #[error("interpreter refused the data: {0}")]
    Kernel(String),
}

impl From<kernel::KernelError> for ScriptError {
    fn from(e: kernel::KernelError) -> Self {
        use kernel::ScriptVerifyError as V;
        match e {
            kernel::KernelError::ScriptVerify(V::Invalid) => ScriptError::Invalid,
            kernel::KernelError::ScriptVerify(V::InvalidFlags) => ScriptError::InvalidFlags,
            kernel::KernelError::ScriptVerify(V::InvalidFlagsCombination) => ScriptError::InvalidFlagsCombination,
            kernel::KernelError::ScriptVerify(V::SpentOutputsRequired) => ScriptError::SpentOutputsRequired,
            other => ScriptError::Kernel(other.to_string()),
        }
    }
}

/// Script flags Core applies to a block at `height` with hash `hash` (GetBlockScriptFlags).
pub fn block_script_flags(params: &ChainParams, height: u32, hash: &BlockHash) -> ScriptFlags {
    let mut flags = VERIFY_P2SH | VERIFY_WITNESS | VERIFY_TAPROOT;
    if let Some((_, f)) = params.script_flag_exceptions.iter().find(|(h, _)| h == hash) {
        flags = *f;
    }
    if height >= params.bip66_height {
        flags |= VERIFY_DERSIG;
    }
    if height >= params.bip65_height {
        flags |= VERIFY_CHECKLOCKTIMEVERIFY;
    }
    if height >= params.csv_height {
        flags |= VERIFY_CHECKSEQUENCEVERIFY;
    }
    if params.segwit_enforced_at(height) {
        flags |= VERIFY_NULLDUMMY;
    }
    flags
}

/// A transaction parsed once by the interpreter, with its spent outputs and precomputed hashes.
///
/// libbitcoinkernel's `btck_script_pubkey_verify` copies the precomputed data it is given,
/// spent outputs included, on every call (a conditional expression mixing a reference and a
/// temporary), which makes each call linear in the transaction's input count. So the spent
/// outputs go only into the data used for inputs that spend taproot outputs, the only ones whose
/// verification reads them; every other input is verified against data without them and
/// without the TAPROOT flag, which only changes how bare witness v1 32-byte programs are spent.
pub struct PreparedTx {
    tx: KernelTx,
    /// Each spent output's script and amount, as the interpreter takes them.
    spent: Vec<(kernel::ScriptPubkey, i64)>,
    /// Whether each spent output is a taproot output.
    taproot: Vec<bool>,
    /// Hashes without the spent outputs, for inputs that do not spend taproot outputs (absent
    /// when every input spends one: computing them would be wasted).
    plain: Option<kernel::PrecomputedTransactionData>,
    /// Hashes with every spent output, present when some input spends a taproot output.
    with_spent: Option<kernel::PrecomputedTransactionData>,
}

/// Where the interpreter's parsed transaction lives: parsed on its own, or inside a block the
/// interpreter parsed once for all its transactions ([`PreparedTx::in_block`]).
enum KernelTx {
    Own(kernel::Transaction),
    InBlock(std::sync::Arc<kernel::Block>, usize),
}

impl KernelTx {
    /// The parsed transaction (a block's transaction is borrowed, not copied).
    fn get(&self) -> Result<kernel::TransactionRef<'_>, ScriptError> {
        match self {
            KernelTx::Own(tx) => Ok(tx.as_ref()),
            KernelTx::InBlock(block, i) => Ok(block.transaction(*i)?),
        }
    }
}

impl PreparedTx {
    /// Prepares `tx`, whose input `i` spends `spent[i]`.
    pub fn new(tx: &Transaction, spent: &[TxOut]) -> Result<Self, ScriptError> {
        Self::from_bytes(&bitcoin::consensus::serialize(tx), spent)
    }

    /// Prepares the serialized transaction `tx_bytes`, whose input `i` spends `spent[i]`.
    pub fn from_bytes(tx_bytes: &[u8], spent: &[TxOut]) -> Result<Self, ScriptError> {
        Self::with_spent(KernelTx::Own(kernel::Transaction::new(tx_bytes)?), spent)
    }

    /// Prepares transaction `index` of `block` (parsed by the interpreter once for the whole
    /// block), whose input `i` spends `spent[i]`.
    pub fn in_block(block: std::sync::Arc<kernel::Block>, index: usize, spent: &[TxOut]) -> Result<Self, ScriptError> {
        if index >= block.transaction_count() {
            return Err(ScriptError::Kernel(format!("no transaction {index} in the block")));
        }
        Self::with_spent(KernelTx::InBlock(block, index), spent)
    }

    fn with_spent(tx: KernelTx, spent: &[TxOut]) -> Result<Self, ScriptError> {
        let inputs = tx.get()?.input_count();
        if spent.len() != inputs {
            return Err(ScriptError::SpentOutputsMismatch {
                spent: spent.len(),
                inputs,
            });
        }
        let scripts = spent
            .iter()
            .map(|o| Ok((kernel::ScriptPubkey::new(o.script_pubkey.as_bytes())?, o.value.to_sat() as i64)))
            .collect::<Result<Vec<_>, ScriptError>>()?;
        let taproot: Vec<bool> = spent.iter().map(|o| o.script_pubkey.is_p2tr()).collect();
        let with_spent = if taproot.contains(&true) {
            let outs: Vec<kernel::TxOut> = scripts.iter().map(|(s, v)| kernel::TxOut::new(s, *v)).collect();
            Some(kernel::PrecomputedTransactionData::new(&tx.get()?, &outs)?)
        } else {
            None
        };
        let plain = if taproot.contains(&false) {
            Some(kernel::PrecomputedTransactionData::new(&tx.get()?, &[] as &[kernel::TxOut])?)
        } else {
            None
        };
        Ok(PreparedTx {
            tx,
            spent: scripts,
            taproot,
            plain,
            with_spent,
        })
    }

    /// Prepares `tx` without its spent outputs: inputs are then checked with
    /// [`PreparedTx::verify_input_against`], and taproot spends cannot be verified.
    pub fn without_spent(tx: &Transaction) -> Result<Self, ScriptError> {
        let tx = kernel::Transaction::new(&bitcoin::consensus::serialize(tx))?;
        let plain = kernel::PrecomputedTransactionData::new(&tx, &[] as &[kernel::TxOut])?;
        Ok(PreparedTx {
            tx: KernelTx::Own(tx),
            spent: Vec::new(),
            taproot: Vec::new(),
            plain: Some(plain),
            with_spent: None,
        })
    }

    /// Number of inputs of the transaction.
    pub fn input_count(&self) -> usize {
        self.tx.get().map_or(0, |t| t.input_count())
    }

    /// Verifies input `index` against the output it spends (known only if prepared with them).
    pub fn verify_input(&self, index: usize, flags: ScriptFlags) -> Result<(), ScriptError> {
        if index >= self.input_count() {
            return Err(ScriptError::InputIndex(index));
        }
        let (script, amount) = self.spent.get(index).ok_or(ScriptError::SpentOutputsRequired)?;
        self.run(index, script, *amount, self.taproot[index], flags)
    }

    /// Verifies input `index` against `prev`, the output it spends.
    pub fn verify_input_against(&self, index: usize, prev: &TxOut, flags: ScriptFlags) -> Result<(), ScriptError> {
        let script = kernel::ScriptPubkey::new(prev.script_pubkey.as_bytes())?;
        self.run(index, &script, prev.value.to_sat() as i64, prev.script_pubkey.is_p2tr(), flags)
    }

    /// Verifies every input in order; the error carries the first failing input's index.
    pub fn verify_all(&self, flags: ScriptFlags) -> Result<(), (usize, ScriptError)> {
        (0..self.input_count()).try_for_each(|i| self.verify_input(i, flags).map_err(|e| (i, e)))
    }

    /// `taproot`: the spent output is a bare witness v1 32-byte program, the only outputs
    /// TAPROOT applies to.
    fn run(&self, index: usize, script: &kernel::ScriptPubkey, amount: i64, taproot: bool, flags: ScriptFlags) -> Result<(), ScriptError> {
        // Non-taproot spends run without TAPROOT, which changes nothing for them; the data
        // with spent outputs serves them too when it is the only data computed.
        let flags = if taproot { flags } else { flags & !VERIFY_TAPROOT };
        let data = match (taproot, &self.with_spent, &self.plain) {
            (true, Some(full), _) | (false, Some(full), None) => full,
            (_, _, Some(plain)) => plain,
            (_, None, None) => return Err(ScriptError::Kernel("no precomputed transaction data".into())),
        };
        let tx = self.tx.get()?;
        if index >= tx.input_count() {
            return Err(ScriptError::InputIndex(index));
        }
        kernel::verify(script, Some(amount), &tx, index, Some(flags), data)?;
        Ok(())
    }
}

/// Verifies input `index` of the serialized transaction `tx_bytes` against all its spent outputs.
/// Prepares the transaction for this one input: to check several, use [`PreparedTx`].
pub fn verify_input(tx_bytes: &[u8], spent: &[TxOut], index: usize, flags: ScriptFlags) -> Result<(), ScriptError> {
    PreparedTx::from_bytes(tx_bytes, spent)?.verify_input(index, flags)
}

/// Verifies every input script of `txs` (skipping the coinbase) using `threads` worker threads.
/// `spent[i]` holds the outputs spent by `txs[i]`, in input order. On failure the input with the
/// lowest (transaction, input) position is reported, whatever the thread interleaving.
pub fn verify_block_scripts(txs: &[Transaction], spent: &[Vec<TxOut>], flags: ScriptFlags, threads: usize) -> Result<(), Reject> {
    verify_block_scripts_except(txs, spent, flags, threads, &[])
}

/// [`verify_block_scripts`] skipping each transaction `t` with `skip[t]` true (their scripts
/// are known to pass under `flags`: the script execution cache); `skip` may be shorter.
pub fn verify_block_scripts_except(
    txs: &[Transaction],
    spent: &[Vec<TxOut>],
    flags: ScriptFlags,
    threads: usize,
    skip: &[bool],
) -> Result<(), Reject> {
    let jobs: Vec<(usize, usize)> = txs
        .iter()
        .enumerate()
        .filter(|(t, tx)| !tx.is_coinbase() && !skip.get(*t).copied().unwrap_or(false))
        .flat_map(|(t, tx)| (0..tx.input.len()).map(move |i| (t, i)))
        .collect();
    // Each transaction is prepared by the first worker that reaches one of its inputs; workers
    // reaching it meanwhile wait for that preparation instead of repeating it.
    let prepared: Vec<OnceLock<Result<PreparedTx, ScriptError>>> = txs.iter().map(|_| OnceLock::new()).collect();
    let threads = if jobs.len() < PARALLEL_MIN_INPUTS { 1 } else { threads };
    let outcome = first_failure(jobs.len(), threads, |k| {
        let (t, i) = jobs[k];
        match prepared[t].get_or_init(|| PreparedTx::new(&txs[t], &spent[t])) {
            Ok(p) => p.verify_input(i, flags),
            Err(e) => Err(e.clone()),
        }
    });
    outcome.map_err(|(k, e)| {
        let (t, i) = jobs[k];
        block_script_reject(&txs[t], &spent[t], i, u64::from(flags), &e.to_string())
    })
}

/// Runs `job(k)` for every `k` in `0..n` on up to `threads` threads that claim the next run of
/// `k`s from a shared counter. A thread stops at its first failure and every thread stops past
/// the lowest failure seen; the failure with the lowest `k` is returned (every lower `k` was
/// claimed earlier, by a thread that runs its claim in order until it fails itself).
fn first_failure<E: Send>(n: usize, threads: usize, job: impl Fn(usize) -> Result<(), E> + Sync) -> Result<(), (usize, E)> {
    let threads = threads.clamp(1, n.max(1));
    if threads == 1 {
        return (0..n).try_for_each(|k| job(k).map_err(|e| (k, e)));
    }
    // Runs of consecutive jobs per claim: fewer trips to the shared counter, and the inputs of a
    // small transaction mostly stay on one thread; still many runs per thread for balance.
    let batch = (n / (threads * 16)).clamp(1, 64);
    let next = AtomicUsize::new(0);
    let lowest_failed = AtomicUsize::new(usize::MAX);
    let failure: Mutex<Option<(usize, E)>> = Mutex::new(None);
    let work = || loop {
        let first = next.fetch_add(batch, Ordering::Relaxed);
        if first >= n {
            return;
        }
        for k in first..(first + batch).min(n) {
            if k > lowest_failed.load(Ordering::Relaxed) {
                return;
            }
            if let Err(e) = job(k) {
                let mut slot = crate::sync::lock(&failure);
                if !matches!(slot.as_ref(), Some((j, _)) if *j <= k) {
                    *slot = Some((k, e));
                    lowest_failed.fetch_min(k, Ordering::Relaxed);
                }
                return;
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
    match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn first_failure_reports_lowest_index() {
        for threads in [1, 2, 4, 8] {
            let r = first_failure(10_000, threads, |k| if k % 997 == 996 { Err(k) } else { Ok(()) });
            assert_eq!(r, Err((996, 996)), "threads {threads}");
            assert_eq!(first_failure(10_000, threads, |_| Ok::<(), ()>(())), Ok(()));
        }
        assert_eq!(first_failure(0, 4, |_| Err(())), Ok(()));
    }

    /// A coinbase and `txs` transactions of `inputs` inputs spending OP_TRUE outputs; input
    /// (t, i) in `bad` fails (OP_RETURN in its scriptSig).
    pub(crate) fn op_true_block(txs: usize, inputs: usize, bad: &[(usize, usize)]) -> (Vec<Transaction>, Vec<Vec<TxOut>>) {
        use bitcoin::hashes::Hash;
        let out = TxOut {
            value: bitcoin::Amount::from_sat(1),
            script_pubkey: bitcoin::ScriptBuf::from_bytes(vec![0x51]),
        };
        let mut block = vec![Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![bitcoin::TxIn {
                script_sig: bitcoin::ScriptBuf::from_bytes(vec![0x01, 0x01]),
                ..Default::default()
            }],
            output: vec![out.clone()],
        }];
        let mut spent = vec![Vec::new()];
        for t in 1..=txs {
            let input = (0..inputs)
                .map(|i| bitcoin::TxIn {
                    previous_output: bitcoin::OutPoint {
                        txid: bitcoin::Txid::from_byte_array([t as u8; 32]),
                        vout: i as u32,
                    },
                    // OP_RETURN in a scriptSig fails the input by consensus.
                    script_sig: bitcoin::ScriptBuf::from_bytes(if bad.contains(&(t, i)) { vec![0x6a] } else { vec![] }),
                    ..Default::default()
                })
                .collect();
            block.push(Transaction {
                version: bitcoin::transaction::Version::TWO,
                lock_time: bitcoin::absolute::LockTime::ZERO,
                input,
                output: vec![out.clone()],
            });
            spent.push(vec![out.clone(); inputs]);
        }
        (block, spent)
    }

    #[test]
    fn block_failure_names_the_lowest_transaction_and_input() {
        for threads in [1, 2, 4] {
            let (txs, spent) = op_true_block(100, 3, &[]);
            assert_eq!(verify_block_scripts(&txs, &spent, VERIFY_ALL, threads), Ok(()));
            let (txs, spent) = op_true_block(100, 3, &[(70, 0), (40, 2), (90, 1)]);
            let r = verify_block_scripts(&txs, &spent, VERIFY_ALL, threads).unwrap_err();
            assert_eq!(r.reason, "block-script-verify-flag-failed (OP_RETURN was encountered)");
            let want = format!(
                "input 2 of {} (wtxid {}), spending {}:2",
                txs[40].compute_txid(),
                txs[40].compute_wtxid(),
                txs[40].input[2].previous_output.txid
            );
            assert_eq!(r.detail, want, "threads {threads}");
        }
    }

    #[test]
    fn skipped_transactions_are_not_verified() {
        let (txs, spent) = op_true_block(3, 2, &[(2, 1)]);
        assert!(verify_block_scripts_except(&txs, &spent, VERIFY_ALL, 2, &[false, true]).is_err());
        assert_eq!(
            verify_block_scripts_except(&txs, &spent, VERIFY_ALL, 2, &[false, false, true]),
            Ok(())
        );
    }

    #[test]
    fn prepared_tx_checks_its_arguments() {
        let (txs, spent) = op_true_block(1, 4, &[(1, 3)]);
        assert_eq!(
            PreparedTx::new(&txs[1], &spent[1][..3]).err(),
            Some(ScriptError::SpentOutputsMismatch { spent: 3, inputs: 4 })
        );
        let p = PreparedTx::new(&txs[1], &spent[1]).unwrap();
        assert_eq!(p.verify_all(VERIFY_ALL), Err((3, ScriptError::Invalid)));
        assert_eq!(p.verify_input(4, VERIFY_ALL), Err(ScriptError::InputIndex(4)));
        assert_eq!(p.verify_input(0, 1 << 1), Err(ScriptError::InvalidFlags));
        assert_eq!(p.verify_input(0, VERIFY_WITNESS), Err(ScriptError::InvalidFlagsCombination));
        let partial = PreparedTx::without_spent(&txs[1]).unwrap();
        assert_eq!(partial.verify_input_against(0, &spent[1][0], VERIFY_ALL_PRE_TAPROOT), Ok(()));
        assert_eq!(
            partial.verify_input(0, VERIFY_ALL_PRE_TAPROOT),
            Err(ScriptError::SpentOutputsRequired)
        );
        // TAPROOT applies only to taproot outputs: without spent outputs only those fail.
        assert_eq!(partial.verify_input_against(0, &spent[1][0], VERIFY_ALL), Ok(()));
        let p2tr = TxOut {
            value: bitcoin::Amount::from_sat(1),
            script_pubkey: bitcoin::ScriptBuf::from_bytes([vec![0x51, 0x20], vec![7; 32]].concat()),
        };
        assert!(p2tr.script_pubkey.is_p2tr());
        assert_eq!(
            partial.verify_input_against(0, &p2tr, VERIFY_ALL),
            Err(ScriptError::SpentOutputsRequired)
        );
    }

    /// `tx` spending `spent`, with every taproot input signed (key path) by the key whose
    /// secret is 7 and every other input spending an `OP_TRUE` output.
    fn sign_taproot_inputs(mut tx: Transaction, spent: &[TxOut]) -> Transaction {
        use bitcoin::hashes::Hash;
        use bitcoin::key::TapTweak;
        use bitcoin::sighash::{Prevouts, SighashCache, TapSighashType};
        let secp = bitcoin::secp256k1::Secp256k1::new();
        let key = bitcoin::secp256k1::Keypair::from_seckey_slice(&secp, &[7; 32]).unwrap();
        let tweaked = key.tap_tweak(&secp, None).to_keypair();
        for i in 0..tx.input.len() {
            if !spent[i].script_pubkey.is_p2tr() {
                continue;
            }
            let hash = SighashCache::new(&tx)
                .taproot_key_spend_signature_hash(i, &Prevouts::All(spent), TapSighashType::Default)
                .unwrap();
            let msg = bitcoin::secp256k1::Message::from_digest(hash.to_byte_array());
            let sig = secp.sign_schnorr_no_aux_rand(&msg, &tweaked);
            tx.input[i].witness = bitcoin::Witness::from_slice(&[sig.as_ref().as_slice()]);
        }
        tx
    }

    #[test]
    fn taproot_only_and_mixed_transactions_verify_with_the_data_they_need() {
        let secp = bitcoin::secp256k1::Secp256k1::new();
        let key = bitcoin::secp256k1::Keypair::from_seckey_slice(&secp, &[7; 32]).unwrap();
        let p2tr = TxOut {
            value: bitcoin::Amount::from_sat(5_000),
            script_pubkey: bitcoin::ScriptBuf::new_p2tr(&secp, key.x_only_public_key().0, None),
        };
        let (txs, op_true) = op_true_block(1, 3, &[]);
        // Every input taproot (only the data with spent outputs is computed), then one of three.
        for spent in [
            vec![p2tr.clone(); 3],
            vec![op_true[1][0].clone(), p2tr.clone(), op_true[1][2].clone()],
        ] {
            let tx = sign_taproot_inputs(txs[1].clone(), &spent);
            let p = PreparedTx::new(&tx, &spent).unwrap();
            // The data without spent outputs only when some input is not taproot.
            let all_taproot = spent.iter().all(|o| o.script_pubkey.is_p2tr());
            assert_eq!((p.plain.is_some(), p.with_spent.is_some()), (!all_taproot, true));
            assert_eq!(p.verify_all(VERIFY_ALL), Ok(()));
            // A wrong amount changes the taproot sighash.
            let mut cheaper = spent.clone();
            cheaper[1].value = bitcoin::Amount::from_sat(4_999);
            let p = PreparedTx::new(&tx, &cheaper).unwrap();
            assert_eq!(p.verify_input(1, VERIFY_ALL), Err(ScriptError::Invalid));
        }
        // Input 0's signature does not sign input 1.
        let spent = vec![p2tr; 3];
        let mut tx = sign_taproot_inputs(txs[1].clone(), &spent);
        tx.input[1].witness = tx.input[0].witness.clone();
        assert_eq!(
            PreparedTx::new(&tx, &spent).unwrap().verify_all(VERIFY_ALL),
            Err((1, ScriptError::Invalid))
        );
    }

    #[test]
    fn flags_are_cores_bits() {
        assert_eq!(VERIFY_P2SH, 1 << 0);
        assert_eq!(VERIFY_DERSIG, 1 << 2);
        assert_eq!(VERIFY_NULLDUMMY, 1 << 4);
        assert_eq!(VERIFY_CHECKLOCKTIMEVERIFY, 1 << 9);
        assert_eq!(VERIFY_CHECKSEQUENCEVERIFY, 1 << 10);
        assert_eq!(VERIFY_WITNESS, 1 << 11);
        assert_eq!(VERIFY_TAPROOT, 1 << 17);
        assert_eq!(VERIFY_ALL, VERIFY_ALL_PRE_TAPROOT | VERIFY_TAPROOT);
    }
}

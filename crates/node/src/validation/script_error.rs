//! Bitcoin Core's name for why an input's script fails (its `ScriptError` and
//! `ScriptErrorString`), from Core's own interpreter through the C++ shim `cpp/script_error.cpp`.
//!
//! libbitcoinkernel's C API reports only pass or fail, while Core's reject reasons carry the
//! script error (`mempool-script-verify-flag-failed (Negative locktime)`). The shim runs Core's
//! `VerifyScript` on one input, linked against the same libbitcoinkernel.a. It is only called
//! once the kernel has found an input invalid, so verifying valid scripts costs nothing more.

use super::reject::Reject;
use bitcoin::{Transaction, TxOut};
use std::ffi::{c_char, c_int, c_uint, CStr};

/// Core's reject reason prefix for a transaction whose scripts fail in the mempool.
pub const MEMPOOL_SCRIPT_FAILURE: &str = "mempool-script-verify-flag-failed";

/// Longest ScriptErrorString Core has is well under this; longer text is truncated.
const TEXT_CAPACITY: usize = 128;

extern "C" {
    fn blvm_standard_script_verify_flags() -> u64;
    fn blvm_script_error(
        tx: *const u8,
        tx_len: usize,
        spent: *const u8,
        spent_len: usize,
        index: c_uint,
        flags: u64,
        out: *mut c_char,
        cap: usize,
    ) -> c_int;
    fn blvm_first_script_error(
        tx: *const u8,
        tx_len: usize,
        spent: *const u8,
        spent_len: usize,
        flags: u64,
        failed: *mut c_uint,
        out: *mut c_char,
        cap: usize,
    ) -> c_int;
}

/// The interpreter refused the data: the spent outputs do not match the transaction's inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the spent outputs do not match the transaction's inputs")]
pub struct SpentMismatch;

/// Core's script error for one input: its `ScriptError_t` code and `ScriptErrorString` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreScriptError {
    /// Core's `ScriptError_t` value (0, `SCRIPT_ERR_OK`, when the script passes).
    pub code: i32,
    /// Core's `ScriptErrorString` for `code`, e.g. "Negative locktime".
    pub text: String,
}

impl CoreScriptError {
    /// Whether the script passed (`SCRIPT_ERR_OK`).
    pub fn is_ok(&self) -> bool {
        self.code == 0
    }
}

/// Core's `STANDARD_SCRIPT_VERIFY_FLAGS`, the flags its mempool verifies input scripts with.
pub fn standard_script_verify_flags() -> u64 {
    // SAFETY: the shim function takes no arguments and only returns a constant.
    unsafe { blvm_standard_script_verify_flags() }
}

/// Runs Core's interpreter on input `index` of `tx`, whose inputs spend `spent` (in input
/// order), under Core's `SCRIPT_VERIFY_*` `flags`. `None` when the data does not fit together
/// (wrong number of spent outputs, index out of range).
pub fn core_script_error(tx: &Transaction, spent: &[TxOut], index: usize, flags: u64) -> Option<CoreScriptError> {
    let index = c_uint::try_from(index).ok()?;
    let tx_bytes = bitcoin::consensus::serialize(tx);
    let spent_bytes = bitcoin::consensus::serialize(&spent.to_vec());
    let mut out = [0 as c_char; TEXT_CAPACITY];
    // SAFETY: every pointer is valid for the length passed with it for the whole call; the shim
    // writes at most `out.len()` bytes into `out`, always NUL-terminated, and catches exceptions.
    let code = unsafe {
        blvm_script_error(
            tx_bytes.as_ptr(),
            tx_bytes.len(),
            spent_bytes.as_ptr(),
            spent_bytes.len(),
            index,
            flags,
            out.as_mut_ptr(),
            out.len(),
        )
    };
    if code < 0 {
        return None;
    }
    // SAFETY: the shim NUL-terminated `out` within its length.
    let text = unsafe { CStr::from_ptr(out.as_ptr()) }.to_string_lossy().into_owned();
    Some(CoreScriptError { code, text })
}

/// Runs Core's interpreter on every input of `tx` in order, as Core's CheckInputScripts (the
/// transaction is parsed and its signature hashes prepared once). `Ok(None)` when all pass,
/// `Ok(Some((index, error)))` for the first failing input.
pub fn first_script_error(tx: &Transaction, spent: &[TxOut], flags: u64) -> Result<Option<(usize, CoreScriptError)>, SpentMismatch> {
    let tx_bytes = bitcoin::consensus::serialize(tx);
    let spent_bytes = bitcoin::consensus::serialize(&spent.to_vec());
    let mut out = [0 as c_char; TEXT_CAPACITY];
    let mut failed: c_uint = 0;
    // SAFETY: as in `core_script_error`; `failed` is a valid place for one `c_uint`.
    let code = unsafe {
        blvm_first_script_error(
            tx_bytes.as_ptr(),
            tx_bytes.len(),
            spent_bytes.as_ptr(),
            spent_bytes.len(),
            flags,
            &mut failed,
            out.as_mut_ptr(),
            out.len(),
        )
    };
    match code {
        c if c < 0 => Err(SpentMismatch),
        0 => Ok(None),
        code => {
            // SAFETY: the shim NUL-terminated `out` within its length.
            let text = unsafe { CStr::from_ptr(out.as_ptr()) }.to_string_lossy().into_owned();
            Ok(Some((failed as usize, CoreScriptError { code, text })))
        }
    }
}

/// Core's detail for a failing input (CScriptCheck's debug string): which input of which
/// transaction, spending which output.
pub fn failing_input_detail(tx: &Transaction, index: usize) -> String {
    let prevout = tx.input.get(index).map(|i| i.previous_output).unwrap_or_default();
    format!(
        "input {index} of {} (wtxid {}), spending {}:{}",
        tx.compute_txid(),
        tx.compute_wtxid(),
        prevout.txid,
        prevout.vout
    )
}

/// Core's rejection of a block whose transaction `tx` fails at input `index` under `flags`:
/// "block-script-verify-flag-failed (<script error>)" with CScriptCheck's detail. `fallback`
/// (the kernel's error) goes in the detail if the interpreter names no error.
pub fn block_script_reject(tx: &Transaction, spent: &[TxOut], index: usize, flags: u64, fallback: &str) -> Reject {
    script_reject("block-script-verify-flag-failed", tx, spent, index, flags, fallback)
}

/// Core's mempool rejection (PolicyScriptChecks) of `tx` failing at input `index`:
/// "mempool-script-verify-flag-failed (<script error>)", the error Core's interpreter names
/// under Core's standard flags, with CScriptCheck's detail. `fallback` names the failure if
/// the interpreter passes the input under those flags.
pub fn mempool_script_reject(tx: &Transaction, spent: &[TxOut], index: usize, fallback: &str) -> Reject {
    script_reject(
        "mempool-script-verify-flag-failed",
        tx,
        spent,
        index,
        standard_script_verify_flags(),
        fallback,
    )
}

fn script_reject(prefix: &str, tx: &Transaction, spent: &[TxOut], index: usize, flags: u64, fallback: &str) -> Reject {
    let name = match core_script_error(tx, spent, index, flags) {
        Some(named) if !named.is_ok() => named.text,
        _ => fallback.to_string(),
    };
    Reject::new(format!("{prefix} ({name})"), failing_input_detail(tx, index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::scripts::{VERIFY_ALL, VERIFY_CHECKLOCKTIMEVERIFY, VERIFY_P2SH};
    use bitcoin::hashes::Hash;
    use bitcoin::{absolute::LockTime, transaction::Version, Amount, OutPoint, ScriptBuf, Sequence, TxIn, Txid, Witness};

    /// A transaction whose one input has scriptSig `script_sig` and spends `spk`.
    fn spend(script_sig: Vec<u8>, spk: Vec<u8>, lock_time: u32) -> (Transaction, Vec<TxOut>) {
        let tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::from_consensus(lock_time),
            input: vec![TxIn {
                previous_output: OutPoint::new(Txid::from_byte_array([3; 32]), 1),
                script_sig: ScriptBuf::from_bytes(script_sig),
                sequence: Sequence::ZERO,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1000),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
            }],
        };
        let prev = TxOut {
            value: Amount::from_sat(2000),
            script_pubkey: ScriptBuf::from_bytes(spk),
        };
        (tx, vec![prev])
    }

    #[test]
    fn names_cores_script_errors() {
        // OP_CHECKLOCKTIMEVERIFY on an empty stack.
        let (tx, spent) = spend(vec![], vec![0xb1], 0);
        let e = core_script_error(&tx, &spent, 0, VERIFY_ALL as u64).unwrap();
        assert_eq!(e.text, "Operation not valid with the current stack size");
        assert!(!e.is_ok());
        // A negative locktime operand (OP_1NEGATE).
        let (tx, spent) = spend(vec![0x4f], vec![0xb1], 0);
        let e = core_script_error(&tx, &spent, 0, VERIFY_ALL as u64).unwrap();
        assert_eq!(e.text, "Negative locktime");
        // Locktime 100 required, the transaction's is 50.
        let (tx, spent) = spend(vec![0x01, 100], vec![0xb1], 50);
        assert_eq!(
            core_script_error(&tx, &spent, 0, VERIFY_ALL as u64).unwrap().text,
            "Locktime requirement not satisfied"
        );
        // Without the CLTV flag the opcode is a NOP: the script passes ("No error").
        let e = core_script_error(&tx, &spent, 0, VERIFY_P2SH as u64).unwrap();
        assert!(e.is_ok(), "{e:?}");
        assert_eq!(e.text, "No error");
        // OP_RETURN.
        let (tx, spent) = spend(vec![], vec![0x6a], 0);
        assert_eq!(
            core_script_error(&tx, &spent, 0, VERIFY_ALL as u64).unwrap().text,
            "OP_RETURN was encountered"
        );
    }

    #[test]
    fn policy_flags_are_cores_standard_set() {
        let standard = standard_script_verify_flags();
        assert_eq!(standard & VERIFY_ALL as u64, VERIFY_ALL as u64);
        assert_eq!(standard & VERIFY_CHECKLOCKTIMEVERIFY as u64, VERIFY_CHECKLOCKTIMEVERIFY as u64);
        // OP_NOP1 passes by consensus but fails DISCOURAGE_UPGRADABLE_NOPS, a standard flag.
        let (tx, spent) = spend(vec![], vec![0xb0, 0x51], 0);
        assert!(core_script_error(&tx, &spent, 0, VERIFY_ALL as u64).unwrap().is_ok());
        assert_eq!(
            core_script_error(&tx, &spent, 0, standard).unwrap().text,
            "NOPx reserved for soft-fork upgrades"
        );
    }

    #[test]
    fn first_failing_input_is_named() {
        let (mut tx, mut spent) = spend(vec![], vec![0x51], 0);
        tx.input.push(tx.input[0].clone());
        tx.input[1].script_sig = ScriptBuf::from_bytes(vec![0x4f]);
        tx.input.push(tx.input[0].clone());
        spent.push(TxOut {
            value: Amount::from_sat(5),
            script_pubkey: ScriptBuf::from_bytes(vec![0xb1]),
        });
        spent.push(TxOut {
            value: Amount::from_sat(5),
            script_pubkey: ScriptBuf::from_bytes(vec![0x6a]),
        });
        let (i, e) = first_script_error(&tx, &spent, VERIFY_ALL as u64).unwrap().unwrap();
        assert_eq!((i, e.text.as_str()), (1, "Negative locktime"));
        assert_eq!(first_script_error(&tx, &spent[..1], 0), Err(SpentMismatch));
        spent[1].script_pubkey = ScriptBuf::from_bytes(vec![0x51]);
        spent[2].script_pubkey = ScriptBuf::from_bytes(vec![0x51]);
        assert_eq!(first_script_error(&tx, &spent, VERIFY_ALL as u64), Ok(None));
    }

    #[test]
    fn mismatched_data_is_refused_without_panicking() {
        let (tx, spent) = spend(vec![], vec![0x51], 0);
        assert_eq!(core_script_error(&tx, &[], 0, VERIFY_ALL as u64), None);
        assert_eq!(core_script_error(&tx, &spent, 1, VERIFY_ALL as u64), None);
        assert_eq!(core_script_error(&tx, &spent, usize::MAX, VERIFY_ALL as u64), None);
        assert!(core_script_error(&tx, &spent, 0, VERIFY_ALL as u64).unwrap().is_ok());
        let detail = failing_input_detail(&tx, 0);
        assert_eq!(
            detail,
            format!(
                "input 0 of {} (wtxid {}), spending {}:1",
                tx.compute_txid(),
                tx.compute_wtxid(),
                Txid::from_byte_array([3; 32])
            )
        );
    }
}

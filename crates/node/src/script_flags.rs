//! Bitcoin Core's consensus script verification flags, as libbitcoinkernel names them: a leaf
//! module, so chain parameters (per-block flag exceptions) and validation can both use them.

use bitcoinkernel as kernel;

/// Bitmask of Core's consensus `SCRIPT_VERIFY_*` flags (the bits libbitcoinkernel accepts).
pub type ScriptFlags = u32;

/// No script rule beyond the base interpreter.
pub const VERIFY_NONE: ScriptFlags = kernel::VERIFY_NONE;
/// Evaluate P2SH subscripts (BIP16).
pub const VERIFY_P2SH: ScriptFlags = kernel::VERIFY_P2SH;
/// Strict DER signatures (BIP66).
pub const VERIFY_DERSIG: ScriptFlags = kernel::VERIFY_DERSIG;
/// Empty CHECKMULTISIG dummy element (BIP147).
pub const VERIFY_NULLDUMMY: ScriptFlags = kernel::VERIFY_NULLDUMMY;
/// OP_CHECKLOCKTIMEVERIFY (BIP65).
pub const VERIFY_CHECKLOCKTIMEVERIFY: ScriptFlags = kernel::VERIFY_CHECKLOCKTIMEVERIFY;
/// OP_CHECKSEQUENCEVERIFY (BIP112).
pub const VERIFY_CHECKSEQUENCEVERIFY: ScriptFlags = kernel::VERIFY_CHECKSEQUENCEVERIFY;
/// Segregated witness (BIP141/143).
pub const VERIFY_WITNESS: ScriptFlags = kernel::VERIFY_WITNESS;
/// Taproot and tapscript (BIP341/342); needs every spent output.
pub const VERIFY_TAPROOT: ScriptFlags = kernel::VERIFY_TAPROOT;
/// Every consensus rule except taproot.
pub const VERIFY_ALL_PRE_TAPROOT: ScriptFlags = kernel::VERIFY_ALL_PRE_TAPROOT;
/// Every consensus rule the interpreter knows.
pub const VERIFY_ALL: ScriptFlags = kernel::VERIFY_ALL;

//! Bitcoin Core's consensus test vectors (`../shared/vectors/core`, see PROVENANCE.txt) run
//! through our own transaction checks (`validation::tx_check::check_transaction`) and script
//! verification (`validation::scripts::verify_input`, Core's interpreter via libbitcoinkernel),
//! plus `sighash.json` through rust-bitcoin's legacy sighash.
//!
//! ## Which verdict is "Core's verdict" for a consensus-only verifier
//!
//! `verify_input` only accepts the flags libbitcoinkernel accepts (P2SH, DERSIG, NULLDUMMY,
//! CHECKLOCKTIMEVERIFY, CHECKSEQUENCEVERIFY, WITNESS, TAPROOT); Core's vectors also use policy
//! flags (STRICTENC, MINIMALDATA, CLEANSTACK, ...). Every script flag is a soft fork: adding a
//! flag can only turn a pass into a failure, removing one can only turn a failure into a pass.
//! Core's own tests assert this property for every vector (script_tests.cpp `DoTest` re-runs
//! each case with random subsets of the low 16 flag bits removed from passing / added to failing
//! cases; transaction_tests.cpp removes single and random flags from tx_valid cases and adds them
//! to tx_invalid cases).
//! So from a Core vector we can derive Core's verdict under a consensus-only flag set S when:
//!
//! * the case's flags are already all consensus flags: the verdict is the file's verdict;
//! * Core asserts "valid" under a flag set F ⊇ S: then S is valid as well.
//!
//! Concretely:
//!
//! * script_tests.json — `[[wit..., amount]?, scriptSig, scriptPubKey, flags, error, comment?]`:
//!   cases whose flags (after DoTest's CLEANSTACK ⇒ P2SH+WITNESS fill) are all consensus flags are
//!   run with exactly those flags; expected "OK" ⇔ `verify_input` is Ok (the acceptance
//!   criterion). In addition every "OK" case with policy flags must pass under the consensus
//!   subset of its flags (it passes under a superset). Failing cases with policy flags say
//!   nothing about the consensus subset and are only counted.
//! * tx_valid.json — `[[[prevout hash, n, scriptPubKey, amount?]...], tx, excluded flags]`: Core
//!   verifies with ALL flags except the listed ones, and asserts validity; we verify with
//!   `CONSENSUS & !excluded` ⊆ that set, so Core's verdict is "valid" for every case.
//! * tx_invalid.json — `[..., tx, flags]` where `flags` are the flags Core verifies WITH
//!   ("BADTX": CheckTransaction must fail). Core asserts the tx fails under `flags`, and
//!   (minimality) that it passes once any single listed flag is removed (`TrimFlags`).
//!   - all listed flags consensus: Core's verdict under those exact flags is "invalid";
//!   - some listed flag n is a policy flag: Core asserts validity under `flags \ {n}`, which is
//!     a superset of `flags ∩ CONSENSUS`, so Core's verdict with consensus flags is "valid":
//!     such a transaction is invalid only by policy; its scripts are consensus-valid.
//!
//! We also replay the consensus-only versions of Core's own flag-variation
//! assertions exhaustively over single flags (instead of Core's random subsets).

mod support;

use support::vectors;

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::hex::FromHex;
use bitcoin::sighash::SighashCache;
use bitcoin::{OutPoint, ScriptBuf, Transaction, TxOut, Witness};
use blvm_node::validation::scripts::{verify_input, ScriptError};
use blvm_node::validation::tx_check::check_transaction;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use vectors::*;

/// Names of the consensus flags as Core spells them in the vector files.
const CONSENSUS_NAMES: &[&str] = &[
    "NONE",
    "P2SH",
    "DERSIG",
    "NULLDUMMY",
    "CHECKLOCKTIMEVERIFY",
    "CHECKSEQUENCEVERIFY",
    "WITNESS",
    "TAPROOT",
];

fn vectors_dir() -> PathBuf {
    let dir = support::shared_dir().join("vectors/core");
    for f in ["script_tests.json", "tx_valid.json", "tx_invalid.json", "sighash.json"] {
        assert!(dir.join(f).is_file(), "Core vector file {} missing", dir.join(f).display());
    }
    dir
}

fn load(name: &str) -> Vec<Value> {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    match serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display())) {
        Value::Array(a) => a,
        _ => panic!("{name} is not a JSON array"),
    }
}

/// Result of verifying one input: Ok, a script failure, or a harness problem (panics).
fn verify(tx_bytes: &[u8], spent: &[TxOut], index: usize, flags: u32, what: &str) -> bool {
    match verify_input(tx_bytes, spent, index, flags) {
        Ok(()) => true,
        // The call worked and the script failed.
        Err(ScriptError::Invalid) => false,
        Err(e) => panic!("{what}: verify_input could not evaluate (flags {}): {e:?}", flag_names(flags)),
    }
}

/// All inputs pass under `flags` (Core's `CheckTxScripts`).
fn tx_scripts_valid(tx_bytes: &[u8], spent: &[TxOut], flags: u32, what: &str) -> bool {
    (0..spent.len()).all(|i| verify(tx_bytes, spent, i, flags, what))
}

fn report(name: &str, mismatches: &[String]) {
    if !mismatches.is_empty() {
        for m in mismatches.iter().take(40) {
            eprintln!("MISMATCH {name}: {m}");
        }
        panic!("{} mismatches with Core's verdict in {name}", mismatches.len());
    }
}

#[test]
fn flag_table_is_consistent() {
    // Core's bit positions for the consensus flags must equal libbitcoinkernel's constants.
    let expect = [
        ("P2SH", 0),
        ("DERSIG", 2),
        ("NULLDUMMY", 4),
        ("CHECKLOCKTIMEVERIFY", 9),
        ("CHECKSEQUENCEVERIFY", 10),
        ("WITNESS", 11),
        ("TAPROOT", 17),
    ];
    for (name, bit) in expect {
        assert_eq!(parse_flags(name), 1 << bit, "{name}");
    }
    let names: Vec<&str> = FLAG_NAMES.iter().map(|(n, _)| *n).collect();
    for (i, (_, v)) in FLAG_NAMES.iter().enumerate() {
        assert_eq!(*v, 1 << i, "flag {} is not Core's bit {i}", names[i]);
    }
    assert_eq!(parse_flags(&CONSENSUS_NAMES[1..].join(",")), CONSENSUS_FLAGS);
    assert_eq!(parse_flags("NONE"), 0);
    assert_eq!(parse_flags(""), 0);
    // libbitcoinkernel refuses any other flag, which is why policy flags must be dropped.
    let credit = build_crediting_tx(&[0x51], 0);
    let spend = serialize(&build_spending_tx(&[], Witness::new(), &credit));
    assert!(verify_input(&spend, &credit.output, 0, CONSENSUS_FLAGS).is_ok());
    assert_eq!(
        verify_input(&spend, &credit.output, 0, parse_flags("STRICTENC")),
        Err(ScriptError::InvalidFlags)
    );
}

#[test]
fn script_asm_parser_matches_core_encoding() {
    // Numbers: compare CScript::push_int64 as re-implemented with rust-bitcoin's Builder::push_int,
    // an independent implementation of the same minimal encoding.
    for n in (-70_000i64..=70_000).step_by(7).chain([
        -1,
        0,
        1,
        16,
        17,
        127,
        128,
        255,
        256,
        -128,
        -129,
        0x7fff_ffff,
        0xffff_ffff,
        -0xffff_ffff,
    ]) {
        let ours = parse_script(&n.to_string()).unwrap();
        let theirs = bitcoin::blockdata::script::Builder::new().push_int(n).into_script();
        assert_eq!(ours, theirs.as_bytes(), "number {n}");
    }
    assert!(parse_script("4294967296").is_err(), "Core refuses decimals beyond 0xffffffff");
    assert!(parse_script("-4294967296").is_err());
    // Raw hex is inserted verbatim, quoted strings are pushed (never as OP_N), names with or
    // without OP_, OP_N is not a name Core knows, NOP2 neither (it is CHECKLOCKTIMEVERIFY).
    assert_eq!(parse_script("0x4c 0x01 0x07").unwrap(), vec![0x4c, 0x01, 0x07]);
    assert_eq!(parse_script("'Az' EQUAL").unwrap(), vec![0x02, b'A', b'z', 0x87]);
    assert_eq!(parse_script("''").unwrap(), vec![0x00]);
    assert_eq!(parse_script("  DUP\tOP_HASH160\n").unwrap(), vec![0x76, 0xa9]);
    assert_eq!(
        parse_script("CHECKLOCKTIMEVERIFY CHECKSEQUENCEVERIFY NOP10 CHECKSIGADD RESERVED").unwrap(),
        vec![0xb1, 0xb2, 0xb9, 0xba, 0x50]
    );
    assert!(parse_script("OP_1").is_err());
    assert!(parse_script("NOP2").is_err());
    assert!(parse_script("0x1").is_err());
    assert!(parse_script("0x").is_err());
    // A standard P2PKH script parses to what rust-bitcoin builds for it.
    let h = "1018853670f9f3b0582c5b9ee8ce93764ac32b93";
    let spk = parse_script(&format!("DUP HASH160 0x14 0x{h} EQUALVERIFY CHECKSIG")).unwrap();
    let pkh = bitcoin::PubkeyHash::from_slice(&Vec::<u8>::from_hex(h).ok().unwrap()).unwrap();
    assert_eq!(spk, ScriptBuf::new_p2pkh(&pkh).into_bytes());
    // Long quoted pushes use PUSHDATA1/2 like CScript::operator<<.
    let s = format!("'{}'", "a".repeat(300));
    let b = parse_script(&s).unwrap();
    assert_eq!(&b[..3], &[0x4d, 0x2c, 0x01]);
    // OP_CODESEPARATOR removal skips 0xab inside push data.
    assert_eq!(
        strip_codeseparators(&[0xab, 0x02, 0xab, 0xab, 0xab, 0x51]),
        vec![0x02, 0xab, 0xab, 0x51]
    );
}

/// One script_tests.json case, parsed and expanded as script_tests.cpp does.
struct ScriptCase {
    row: usize,
    text: String,
    flags: u32,
    expect_ok: bool,
    has_witness: bool,
    taproot_template: bool,
    credit: Transaction,
    spend_bytes: Vec<u8>,
}

fn parse_script_case(row: usize, t: &[Value]) -> ScriptCase {
    let text = serde_json::to_string(t).unwrap();
    let (wit, pos) = match &t[0] {
        Value::Array(w) => (Some(parse_witness(w).unwrap_or_else(|e| panic!("row {row} {text}: {e}"))), 1),
        _ => (None, 0),
    };
    assert!(t.len() >= 4 + pos, "bad script test row {row}: {text}");
    let s = |i: usize| {
        t[pos + i]
            .as_str()
            .unwrap_or_else(|| panic!("row {row}: field {} not a string", pos + i))
    };
    let (witness, amount, taproot) = match wit {
        Some(w) => (w.witness, w.amount, w.taproot),
        None => (Witness::new(), 0, None),
    };
    let script_sig = parse_script(s(0)).unwrap_or_else(|e| panic!("row {row} scriptSig {text}: {e}"));
    let spk = parse_script_pubkey(s(1), taproot.as_ref()).unwrap_or_else(|e| panic!("row {row} scriptPubKey {text}: {e}"));
    let mut flags = parse_flags(s(2));
    // DoTest: "if (flags & SCRIPT_VERIFY_CLEANSTACK) flags |= P2SH | WITNESS".
    if flags & CLEANSTACK != 0 {
        flags |= P2SH | WITNESS;
    }
    let expect_ok = s(3) == "OK";
    let has_witness = !witness.is_empty();
    let credit = build_crediting_tx(&spk, amount);
    let spend = build_spending_tx(&script_sig, witness, &credit);
    ScriptCase {
        row,
        text,
        flags,
        expect_ok,
        has_witness,
        taproot_template: s(1) == TAPROOT_OUTPUT_TEMPLATE,
        credit,
        spend_bytes: serialize(&spend),
    }
}

#[test]
fn script_tests_consensus_flags() {
    let tests = load("script_tests.json");

    // Independent, string-level census of the file: data rows and rows whose flag field names
    // consensus flags only (the acceptance criterion's selection).
    let mut rows = 0usize;
    let mut eligible = 0usize;
    let mut eligible_ok = 0usize;
    let mut template_rows = 0usize;
    for t in &tests {
        let t = t.as_array().expect("row is an array");
        if t.len() == 1 {
            continue;
        }
        rows += 1;
        let pos = usize::from(t[0].is_array());
        let flags = t[pos + 2].as_str().unwrap();
        if flags.split(',').filter(|f| !f.is_empty()).all(|f| CONSENSUS_NAMES.contains(&f)) {
            eligible += 1;
            eligible_ok += usize::from(t[pos + 3] == "OK");
        }
        template_rows += usize::from(serde_json::to_string(t).unwrap().contains("#TAPROOTOUTPUT#"));
    }

    let mut mismatches = Vec::new();
    let (mut ran, mut ran_ok, mut ran_witness, mut ran_template, mut variations) = (0, 0, 0, 0, 0);
    let (mut policy_ok_checked, mut policy_fail_skipped) = (0, 0);
    for (row, t) in tests.iter().enumerate() {
        let t = t.as_array().unwrap();
        if t.len() == 1 {
            continue; // comment
        }
        let c = parse_script_case(row, t);
        let spent = &c.credit.output;
        if c.flags & !CONSENSUS_FLAGS == 0 {
            // The acceptance criterion: Core's verdict under exactly these flags.
            ran += 1;
            ran_ok += usize::from(c.expect_ok);
            ran_witness += usize::from(c.has_witness);
            ran_template += usize::from(c.taproot_template);
            let got = verify(&c.spend_bytes, spent, 0, c.flags, &c.text);
            if got != c.expect_ok {
                mismatches.push(format!("row {}: expected {} got {}: {}", c.row, c.expect_ok, got, c.text));
                continue;
            }
            // DoTest's flag variation, over every single consensus flag: removing a flag from a
            // passing case / adding one to a failing case must not change the verdict
            // (invalid combinations weeded out as DoTest does).
            for b in consensus_flag_bits() {
                let f = if c.expect_ok { c.flags & !b } else { c.flags | b };
                if f == c.flags || !is_valid_combination(f) {
                    continue;
                }
                variations += 1;
                let got = verify(&c.spend_bytes, spent, 0, f, &c.text);
                if got != c.expect_ok {
                    mismatches.push(format!(
                        "row {} with flags {}: expected {} got {}: {}",
                        c.row,
                        flag_names(f),
                        c.expect_ok,
                        got,
                        c.text
                    ));
                }
            }
        } else if c.expect_ok {
            // Passes under a superset of its consensus flags, so it passes under them.
            policy_ok_checked += 1;
            let f = c.flags & CONSENSUS_FLAGS;
            assert!(is_valid_combination(f));
            if !verify(&c.spend_bytes, spent, 0, f, &c.text) {
                mismatches.push(format!(
                    "row {} (policy flags dropped -> {}): expected OK: {}",
                    c.row,
                    flag_names(f),
                    c.text
                ));
            }
        } else {
            policy_fail_skipped += 1;
        }
    }
    println!(
        "script_tests.json: {rows} cases; consensus-flag cases run: {ran} (expected OK {ran_ok}, failing {}, with witness {ran_witness}, \
         tapscript templates {ran_template}), single-flag variations {variations}; policy-flag OK cases checked under \
         consensus subset: {policy_ok_checked}; policy-flag failing cases not applicable: {policy_fail_skipped}; mismatches {}",
        ran - ran_ok,
        mismatches.len()
    );
    report("script_tests.json", &mismatches);
    assert_eq!(ran, eligible, "every consensus-flag case must run");
    assert_eq!(ran_ok, eligible_ok);
    assert_eq!(ran + policy_ok_checked + policy_fail_skipped, rows);
    assert!(eligible * 10 >= rows, "suspiciously few consensus cases: {eligible} of {rows}");
    assert!(ran_ok > 0 && ran > ran_ok, "both verdicts must be exercised");
    assert!(ran_witness > 0, "witness cases must be exercised");
    assert!(
        template_rows > 0 && ran_template == template_rows,
        "all {template_rows} tapscript template cases must run"
    );
    assert!(variations > ran, "flag variations must be exercised");
}

/// A tx_valid/tx_invalid row.
struct TxCase {
    row: usize,
    text: String,
    prevouts: HashMap<OutPoint, TxOut>,
    raw: Vec<u8>,
    flags: String,
}

fn tx_cases(name: &str) -> (Vec<TxCase>, usize) {
    let mut out = Vec::new();
    let mut comments = 0;
    for (row, t) in load(name).iter().enumerate() {
        let t = t.as_array().expect("row is an array");
        if !t[0].is_array() {
            comments += 1;
            continue; // "Objects that are only a single string are ignored"
        }
        let text = serde_json::to_string(t).unwrap();
        assert!(t.len() == 3 && t[1].is_string() && t[2].is_string(), "bad test row {row}: {text}");
        let mut prevouts = HashMap::new();
        for input in t[0].as_array().unwrap() {
            let v = input.as_array().unwrap_or_else(|| panic!("row {row}: input not an array"));
            assert!((3..=4).contains(&v.len()), "row {row}: bad input {input}");
            let txid = parse_txid(v[0].as_str().unwrap());
            // uint32_t(getInt<int>()): -1 is 0xffffffff.
            let vout = v[1].as_i64().unwrap() as i32 as u32;
            let spk = parse_script(v[2].as_str().unwrap()).unwrap_or_else(|e| panic!("row {row}: {e}"));
            // Missing amounts are 0 in Core's CheckTxScripts.
            let amount = v.get(3).map(|a| a.as_i64().unwrap()).unwrap_or(0);
            let amount = u64::try_from(amount).unwrap_or_else(|_| panic!("row {row}: negative prevout amount"));
            prevouts.insert(
                OutPoint { txid, vout },
                TxOut {
                    value: bitcoin::Amount::from_sat(amount),
                    script_pubkey: ScriptBuf::from_bytes(spk),
                },
            );
        }
        let raw = Vec::<u8>::from_hex(t[1].as_str().unwrap())
            .ok()
            .unwrap_or_else(|| panic!("row {row}: bad tx hex"));
        out.push(TxCase {
            row,
            text,
            prevouts,
            raw,
            flags: t[2].as_str().unwrap().to_string(),
        });
    }
    (out, comments)
}

/// Deserializes like Core's test (the whole string is the transaction) and checks that
/// re-serializing gives the same bytes, so the bytes verified are the bytes of the file.
fn decode_tx(c: &TxCase) -> Result<Transaction, String> {
    let tx: Transaction = deserialize(&c.raw).map_err(|e| e.to_string())?;
    assert_eq!(serialize(&tx), c.raw, "row {}: serialization round trip differs", c.row);
    Ok(tx)
}

fn spent_outputs(c: &TxCase, tx: &Transaction) -> Vec<TxOut> {
    tx.input
        .iter()
        .map(|i| {
            c.prevouts
                .get(&i.previous_output)
                .cloned()
                .unwrap_or_else(|| panic!("row {}: no prevout for {}", c.row, i.previous_output))
        })
        .collect()
}

#[test]
fn tx_valid_vectors() {
    let (cases, _) = tx_cases("tx_valid.json");
    let mut mismatches = Vec::new();
    let (mut policy_excluded, mut variations) = (0, 0);
    for c in &cases {
        let tx = match decode_tx(c) {
            Ok(tx) => tx,
            Err(e) => {
                mismatches.push(format!("row {}: does not deserialize ({e}): {}", c.row, c.text));
                continue;
            }
        };
        if let Err(r) = check_transaction(&tx) {
            mismatches.push(format!("row {}: check_transaction rejects ({r}): {}", c.row, c.text));
            continue;
        }
        let excluded = parse_flags(&c.flags);
        let core_flags = all_flags() & !excluded;
        // Core: "Check that the test gives a valid combination of flags".
        assert_eq!(fill_flags(core_flags), core_flags, "row {}: bad test flags", c.row);
        policy_excluded += usize::from(excluded & !CONSENSUS_FLAGS != 0);
        let flags = core_flags & CONSENSUS_FLAGS;
        assert!(is_valid_combination(flags));
        let bytes = serialize(&tx);
        let spent = spent_outputs(c, &tx);
        if !tx_scripts_valid(&bytes, &spent, flags, &c.text) {
            mismatches.push(format!("row {}: scripts fail with {}: {}", c.row, flag_names(flags), c.text));
            continue;
        }
        // Core: removing any flag must not invalidate a valid transaction.
        for b in consensus_flag_bits() {
            let f = trim_flags(flags & !b);
            if f == flags {
                continue;
            }
            variations += 1;
            if !tx_scripts_valid(&bytes, &spent, f, &c.text) {
                mismatches.push(format!(
                    "row {}: fails with {} unset ({}): {}",
                    c.row,
                    flag_names(b),
                    flag_names(f),
                    c.text
                ));
            }
        }
    }
    println!(
        "tx_valid.json: {} cases all valid under consensus flags (with policy flags excluded: {policy_excluded}); \
         single-flag removals {variations}; mismatches {}",
        cases.len(),
        mismatches.len()
    );
    report("tx_valid.json", &mismatches);
    assert!(!cases.is_empty());
    assert!(variations > cases.len());
}

#[test]
fn tx_invalid_vectors() {
    let (cases, _) = tx_cases("tx_invalid.json");
    let mut mismatches = Vec::new();
    let (mut badtx, mut badtx_undecodable, mut consensus_invalid, mut policy_only, mut minimality, mut additions) = (0, 0, 0, 0, 0, 0);
    for c in &cases {
        let decoded = decode_tx(c);
        if c.flags == "BADTX" {
            // Core: CheckTransaction() must fail. Our verdict: undecodable or check_transaction rejects.
            badtx += 1;
            match &decoded {
                Err(_) => badtx_undecodable += 1,
                Ok(tx) => {
                    if check_transaction(tx).is_ok() {
                        mismatches.push(format!("row {}: BADTX passes check_transaction: {}", c.row, c.text));
                    }
                }
            }
            continue;
        }
        // Core deserialized this and its CheckTransaction passed (else the flags would be BADTX).
        let tx = match decoded {
            Ok(tx) => tx,
            Err(e) => {
                mismatches.push(format!("row {}: does not deserialize ({e}): {}", c.row, c.text));
                continue;
            }
        };
        if let Err(r) = check_transaction(&tx) {
            mismatches.push(format!(
                "row {}: check_transaction rejects ({r}) but Core's passes: {}",
                c.row, c.text
            ));
            continue;
        }
        let core_flags = parse_flags(&c.flags);
        assert_eq!(fill_flags(core_flags), core_flags, "row {}: bad test flags", c.row);
        let bytes = serialize(&tx);
        let spent = spent_outputs(c, &tx);
        if core_flags & !CONSENSUS_FLAGS == 0 {
            consensus_invalid += 1;
            if tx_scripts_valid(&bytes, &spent, core_flags, &c.text) {
                mismatches.push(format!("row {}: passes with {}: {}", c.row, flag_names(core_flags), c.text));
                continue;
            }
            // Core: flags are minimal, removing any one makes the tx valid.
            for b in consensus_flag_bits().into_iter().filter(|b| core_flags & b != 0) {
                let f = trim_flags(core_flags & !b);
                minimality += 1;
                if !tx_scripts_valid(&bytes, &spent, f, &c.text) {
                    mismatches.push(format!(
                        "row {}: still fails without {} ({}): {}",
                        c.row,
                        flag_names(b),
                        flag_names(f),
                        c.text
                    ));
                }
            }
            // Core: adding any flag must not validate an invalid transaction.
            for b in consensus_flag_bits() {
                let f = fill_flags(core_flags | b);
                if f == core_flags {
                    continue;
                }
                additions += 1;
                if tx_scripts_valid(&bytes, &spent, f, &c.text) {
                    mismatches.push(format!(
                        "row {}: passes with {} added ({}): {}",
                        c.row,
                        flag_names(b),
                        flag_names(f),
                        c.text
                    ));
                }
            }
        } else {
            // Invalid only under a policy flag: valid under the consensus subset (see module doc).
            policy_only += 1;
            let f = core_flags & CONSENSUS_FLAGS;
            assert!(is_valid_combination(f));
            if !tx_scripts_valid(&bytes, &spent, f, &c.text) {
                mismatches.push(format!(
                    "row {}: invalid only by policy ({}), yet fails with consensus flags {}: {}",
                    c.row,
                    flag_names(core_flags & !CONSENSUS_FLAGS),
                    flag_names(f),
                    c.text
                ));
            }
        }
    }
    println!(
        "tx_invalid.json: {} cases: BADTX {badtx} (of which undecodable {badtx_undecodable}), consensus-invalid {consensus_invalid} \
         (minimality checks {minimality}, flag additions {additions}), invalid only by policy flags -> consensus-valid {policy_only}; mismatches {}",
        cases.len(),
        mismatches.len()
    );
    report("tx_invalid.json", &mismatches);
    assert_eq!(badtx + consensus_invalid + policy_only, cases.len());
    assert!(badtx > 0 && consensus_invalid > 0);
    assert!(minimality >= consensus_invalid && additions > 0);
}

#[test]
fn sighash_vectors() {
    let tests = load("sighash.json");
    let mut mismatches = Vec::new();
    let (mut ran, mut with_codesep) = (0, 0);
    let mut rows = 0;
    for (row, t) in tests.iter().enumerate() {
        let t = t.as_array().expect("row is an array");
        if t.len() == 1 {
            continue; // comment
        }
        rows += 1;
        let text = serde_json::to_string(t).unwrap();
        assert!(t.len() >= 5, "bad sighash row {row}: {text}");
        let raw = Vec::<u8>::from_hex(t[0].as_str().unwrap())
            .ok()
            .unwrap_or_else(|| panic!("row {row}: tx hex"));
        let tx: Transaction = deserialize(&raw).unwrap_or_else(|e| panic!("row {row}: tx does not deserialize: {e}"));
        assert_eq!(serialize(&tx), raw, "row {row}: round trip");
        // Core's sighash_from_data also asserts CheckTransaction passes.
        if let Err(r) = check_transaction(&tx) {
            mismatches.push(format!("row {row}: check_transaction rejects ({r}): {text}"));
        }
        let script = Vec::<u8>::from_hex(t[1].as_str().unwrap())
            .ok()
            .unwrap_or_else(|| panic!("row {row}: script hex"));
        let n_in = t[2].as_u64().unwrap() as usize;
        let hash_type = t[3].as_i64().unwrap() as i32 as u32;
        let mut want = Vec::<u8>::from_hex(t[4].as_str().unwrap())
            .ok()
            .unwrap_or_else(|| panic!("row {row}: result hex"));
        want.reverse(); // uint256::GetHex displays the bytes reversed
                        // Core's SignatureHash serializes the scriptCode without OP_CODESEPARATORs;
                        // rust-bitcoin's legacy_signature_hash takes the script code as given.
        let code = strip_codeseparators(&script);
        with_codesep += usize::from(code.len() != script.len());
        let got = SighashCache::new(&tx)
            .legacy_signature_hash(n_in, &ScriptBuf::from_bytes(code), hash_type)
            .unwrap_or_else(|e| panic!("row {row}: {e}"));
        ran += 1;
        if got.to_byte_array().as_slice() != want.as_slice() {
            mismatches.push(format!("row {row}: got {got} want {}: {text}", t[4]));
        }
    }
    println!(
        "sighash.json: {ran} cases ({with_codesep} with OP_CODESEPARATOR in the script code); mismatches {}",
        mismatches.len()
    );
    report("sighash.json", &mismatches);
    assert_eq!(ran, rows);
    assert!(rows > 0 && with_codesep > 0);
}

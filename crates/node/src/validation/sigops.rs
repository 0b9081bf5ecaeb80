//! Signature-operation counting exactly as Core's GetTransactionSigOpCost.

use bitcoin::script::Instruction;
use bitcoin::{Script, Transaction, TxOut, Weight, Witness};

/// Maximum sigop cost per block (BIP141): rust-bitcoin's constant, unsigned as the costs are.
pub const MAX_BLOCK_SIGOPS_COST: u64 = bitcoin::constants::MAX_BLOCK_SIGOPS_COST as u64;
const WITNESS_SCALE_FACTOR: u64 = Weight::WITNESS_SCALE_FACTOR;

/// Legacy (inaccurate) sigops of all scriptSigs and scriptPubKeys of `tx`.
pub fn legacy_sigops(tx: &Transaction) -> u64 {
    let ins: usize = tx.input.iter().map(|i| i.script_sig.count_sigops_legacy()).sum();
    let outs: usize = tx.output.iter().map(|o| o.script_pubkey.count_sigops_legacy()).sum();
    (ins + outs) as u64
}

/// The data pushed last by `script_sig`, if it is push-only (opcodes up to OP_16); Core's rule.
fn last_push(script_sig: &Script) -> Option<Vec<u8>> {
    let mut last = Vec::new();
    for inst in script_sig.instructions() {
        match inst {
            Ok(Instruction::PushBytes(b)) => last = b.as_bytes().to_vec(),
            Ok(Instruction::Op(op)) if op.to_u8() <= 0x60 => last.clear(),
            _ => return None,
        }
    }
    Some(last)
}

fn witness_program_sigops(program_script: &Script, witness: &Witness) -> u64 {
    let bytes = program_script.as_bytes();
    if bytes[0] != 0 {
        return 0; // only version 0 programs count
    }
    match bytes.len() - 2 {
        20 => 1,
        32 => witness.last().map(|ws| Script::from_bytes(ws).count_sigops() as u64).unwrap_or(0),
        _ => 0,
    }
}

/// Total sigop cost of `tx` given its spent outputs (in input order) and the active script flags.
pub fn sigop_cost(tx: &Transaction, spent: &[&TxOut], p2sh: bool, witness: bool) -> u64 {
    let mut cost = legacy_sigops(tx) * WITNESS_SCALE_FACTOR;
    if tx.is_coinbase() {
        return cost;
    }
    for (input, prev) in tx.input.iter().zip(spent) {
        let spk = prev.script_pubkey.as_script();
        if p2sh && spk.is_p2sh() {
            if let Some(redeem) = last_push(&input.script_sig) {
                cost += Script::from_bytes(&redeem).count_sigops() as u64 * WITNESS_SCALE_FACTOR;
            }
        }
        if witness {
            if spk.is_witness_program() {
                cost += witness_program_sigops(spk, &input.witness);
            } else if spk.is_p2sh() && input.script_sig.is_push_only() {
                if let Some(redeem) = last_push(&input.script_sig) {
                    let redeem = Script::from_bytes(&redeem);
                    if redeem.is_witness_program() {
                        cost += witness_program_sigops(redeem, &input.witness);
                    }
                }
            }
        }
    }
    cost
}

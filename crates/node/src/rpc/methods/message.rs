//! Message signing as Core does it (the "Bitcoin Signed Message" scheme of legacy P2PKH
//! addresses, on rust-bitcoin's `sign_message`): signmessagewithprivkey and verifymessage.

use super::super::error::{code, RpcError};
use super::super::params::Params;
use crate::rpc::context::RpcContext;
use base64::Engine;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, Secp256k1};
use bitcoin::sign_message::{signed_msg_hash, MessageSignature};
use bitcoin::{NetworkKind, PrivateKey};
use serde_json::{json, Value};
use std::sync::Arc;

/// `signmessagewithprivkey "privkey" "message"`: the base64 compact signature.
pub fn signmessagewithprivkey(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let net = NetworkKind::from(node.settings().params.network);
    let key = p.str(0)?;
    let msg = p.str(1)?;
    let key = PrivateKey::from_wif(key)
        .ok()
        .filter(|k| k.network == net)
        .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Invalid private key"))?;
    let secp = Secp256k1::signing_only();
    let digest = Message::from_digest(signed_msg_hash(msg).to_byte_array());
    let sig = secp.sign_ecdsa_recoverable(&digest, &key.inner);
    let sig = MessageSignature::new(sig, key.compressed);
    Ok(json!(base64::engine::general_purpose::STANDARD.encode(sig.serialize())))
}

/// `verifymessage "address" "signature" "message"`.
pub fn verifymessage(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let net = node.settings().params.network;
    let addr = p.str(0)?;
    let sig = p.str(1)?;
    let msg = p.str(2)?;
    let script = super::super::address::decode(addr, net).map_err(|_| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Invalid address"))?;
    if !script.is_p2pkh() {
        return Err(RpcError::new(code::TYPE_ERROR, "Address does not refer to key"));
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .map_err(|_| RpcError::new(code::TYPE_ERROR, "Malformed base64 encoding"))?;
    let Ok(sig) = MessageSignature::from_slice(&raw) else {
        return Ok(json!(false));
    };
    let secp = Secp256k1::verification_only();
    let Ok(pk) = sig.recover_pubkey(&secp, signed_msg_hash(msg)) else {
        return Ok(json!(false));
    };
    Ok(json!(script == bitcoin::ScriptBuf::new_p2pkh(&pk.pubkey_hash())))
}

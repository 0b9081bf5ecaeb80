//! `/rest/getutxos[/checkmempool]/<txid>-<n>/...` (BIP64): which outpoints are unspent, with
//! the coins; outpoints may also come as a binary (or hex) request body.

use super::error::RestError;
use super::format::{no_format, parse_data_format, parse_hash, parse_unsigned, Format, RestResponse};
use super::MAX_GETUTXOS_OUTPOINTS;
use crate::rpc::context::RpcContext;
use crate::rpc::txjson::{amount, script_to_json};
use bitcoin::consensus::encode::VarInt;
use bitcoin::consensus::{serialize, Decodable};
use bitcoin::hashes::Hash;
use bitcoin::hex::FromHex;
use bitcoin::{OutPoint, TxOut, Txid};
use serde_json::{json, Value};
use std::sync::Arc;

/// The height Core gives coins of mempool transactions (MEMPOOL_HEIGHT).
pub const MEMPOOL_HEIGHT: u32 = 0x7FFF_FFFF;

fn parse_error() -> RestError {
    RestError::bad_request("Parse error")
}

/// Core's `ParseHex` (REST's hex body): pairs of hex digits with whitespace allowed between
/// pairs, not inside one; empty when invalid. The pairs are decoded by rust-bitcoin's `FromHex`.
fn parse_hex_lenient(s: &[u8]) -> Vec<u8> {
    let mut digits = String::with_capacity(s.len());
    let mut rest = s.trim_ascii_start();
    while let [h, l, tail @ ..] = rest {
        if l.is_ascii_whitespace() {
            return Vec::new();
        }
        digits.push(char::from(*h));
        digits.push(char::from(*l));
        rest = tail.trim_ascii_start();
    }
    if !rest.is_empty() {
        return Vec::new();
    }
    Vec::from_hex(&digits).unwrap_or_default()
}

/// The binary request: a check-mempool byte, then a vector of outpoints; trailing bytes are ignored.
fn decode_request(mut body: &[u8]) -> Result<(bool, Vec<OutPoint>), RestError> {
    let (&flag, rest) = body.split_first().ok_or_else(parse_error)?;
    body = rest;
    let n = VarInt::consensus_decode(&mut body).map_err(|_| parse_error())?.0;
    // Every outpoint is 36 bytes: a count the body cannot hold is a parse error, not an allocation.
    if n.saturating_mul(36) > body.len() as u64 {
        return Err(parse_error());
    }
    let mut ops = Vec::with_capacity(n as usize);
    for _ in 0..n {
        ops.push(OutPoint::consensus_decode(&mut body).map_err(|_| parse_error())?);
    }
    Ok((flag != 0, ops))
}

/// `<txid>-<n>` of the URI form.
fn parse_outpoint(s: &str) -> Result<OutPoint, RestError> {
    let [txid, n] = s.split('-').collect::<Vec<_>>()[..] else {
        return Err(parse_error());
    };
    let txid: Txid = parse_hash(txid).map_err(|_| parse_error())?;
    let vout = parse_unsigned(n).and_then(|n| u32::try_from(n).ok()).ok_or_else(parse_error)?;
    Ok(OutPoint { txid, vout })
}

/// The request: where to look and which outpoints, with Core's checks and messages.
fn request(part: &str, body: &[u8]) -> Result<(Format, bool, Vec<OutPoint>), RestError> {
    let (param, format) = parse_data_format(part);
    let uri_parts: Vec<&str> = if param.len() > 1 {
        param[1..].split('/').collect()
    } else {
        Vec::new()
    };
    if body.is_empty() && uri_parts.is_empty() {
        return Err(RestError::bad_request("Error: empty request"));
    }
    let mut check_mempool = false;
    let mut ops = Vec::new();
    let from_uri = !uri_parts.is_empty();
    if from_uri {
        check_mempool = uri_parts[0] == "checkmempool";
        for p in &uri_parts[usize::from(check_mempool)..] {
            ops.push(parse_outpoint(p)?);
        }
        if ops.is_empty() {
            return Err(RestError::bad_request("Error: empty request"));
        }
    }
    match format {
        Format::Bin | Format::Hex => {
            let raw = if format == Format::Hex {
                parse_hex_lenient(body)
            } else {
                body.to_vec()
            };
            if !raw.is_empty() {
                if from_uri {
                    return Err(RestError::bad_request(
                        "Combination of URI scheme inputs and raw post data is not allowed",
                    ));
                }
                (check_mempool, ops) = decode_request(&raw)?;
            }
        }
        Format::Json if !from_uri => return Err(RestError::bad_request("Error: empty request")),
        Format::Json => {}
        Format::Undef => return Err(no_format()),
    }
    if ops.len() > MAX_GETUTXOS_OUTPOINTS {
        return Err(RestError::bad_request(format!(
            "Error: max outpoints exceeded (max: {MAX_GETUTXOS_OUTPOINTS}, tried: {})",
            ops.len()
        )));
    }
    Ok((format, check_mempool, ops))
}

/// `/rest/getutxos...`: the tip, a bitmap of which outpoints are unspent, and their coins. With
/// `checkmempool`, outputs of mempool transactions count (at [`MEMPOOL_HEIGHT`]) and outputs
/// spent by mempool transactions do not.
pub fn getutxos(node: &Arc<RpcContext>, part: &str, body: &[u8]) -> Result<RestResponse, RestError> {
    let (format, check_mempool, ops) = request(part, body)?;
    let mut hits = Vec::with_capacity(ops.len());
    let mut coins: Vec<(u32, TxOut)> = Vec::new();
    let (height, tip) = {
        // The chain first, then the pool: the mempool's lock order.
        let mut c = node.lock_chain();
        let mempool = node.mempool();
        let pool = check_mempool.then(|| mempool.pool());
        for op in &ops {
            let coin = match &pool {
                Some(p) if p.spender(op).is_some() => None,
                Some(p) if p.get(&op.txid).is_some() => p
                    .get(&op.txid)
                    .and_then(|e| e.tx.output.get(op.vout as usize).cloned())
                    .map(|o| (MEMPOOL_HEIGHT, o)),
                _ => c
                    .get_coin(op)
                    .map_err(|e| RestError::internal(e.to_string()))?
                    .map(|coin| (coin.height, coin.output)),
            };
            hits.push(coin.is_some());
            coins.extend(coin);
        }
        (c.height(), c.tip().hash)
    };
    let mut bitmap = vec![0u8; ops.len().div_ceil(8)];
    for (i, hit) in hits.iter().enumerate() {
        bitmap[i / 8] |= u8::from(*hit) << (i % 8);
    }
    let network = node.settings().params.network;
    let bytes = || {
        let mut out = (height as i32).to_le_bytes().to_vec();
        out.extend_from_slice(tip.as_byte_array());
        out.extend(serialize(&bitmap));
        out.extend(serialize(&VarInt(coins.len() as u64)));
        for (h, o) in &coins {
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&h.to_le_bytes());
            out.extend(serialize(o));
        }
        out
    };
    let json = || {
        let utxos: Vec<Value> = coins
            .iter()
            .map(|(h, o)| {
                json!({
                    "height": h,
                    "value": amount(o.value.to_sat() as i64),
                    "scriptPubKey": script_to_json(o.script_pubkey.as_bytes(), network, true, true),
                })
            })
            .collect();
        let bits: String = hits.iter().map(|h| if *h { '1' } else { '0' }).collect();
        Ok(json!({"chainHeight": height, "chaintipHash": tip.to_string(), "bitmap": bits, "utxos": utxos}))
    };
    RestResponse::by_format(format, bytes, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_outpoints_as_core() {
        let t = "ab".repeat(32);
        assert_eq!(parse_outpoint(&format!("{t}-1")).unwrap().vout, 1);
        for bad in [
            format!("{t}_+1"),
            format!("{t}-+1"),
            format!("{t}--1"),
            format!("{t}aa-1234"),
            "aa-1234".into(),
            format!("{t}-4294967296"),
        ] {
            assert_eq!(parse_outpoint(&bad), Err(parse_error()), "{bad}");
        }
    }

    #[test]
    fn binary_requests_are_bounded() {
        assert_eq!(decode_request(b"{\"checkmempool"), Err(parse_error()));
        assert_eq!(decode_request(&[1, 0xfe, 0xff, 0xff, 0xff, 0xff]), Err(parse_error()));
        let mut ok = vec![1u8, 1];
        ok.extend([7u8; 32]);
        ok.extend(3u32.to_le_bytes());
        let (mempool, ops) = decode_request(&ok).unwrap();
        assert!(mempool);
        assert_eq!(ops[0].vout, 3);
        assert_eq!(parse_hex_lenient(b"0a 0b\n"), vec![10, 11]);
        assert!(parse_hex_lenient(b"0a0").is_empty());
    }
}

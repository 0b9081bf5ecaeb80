//! JSON text the way Bitcoin Core's UniValue writes it, for RPC replies.
//!
//! Method results are built as `serde_json::Value`, where every non-integer number is an f64.
//! Core writes two kinds of such numbers differently: amounts (`ValueFromAmount`) always with
//! exactly 8 decimals (`11212.50000000`), and other doubles with `%.16g`
//! (`4.656542373906925e-10`). This writer keeps everything else as serde_json prints it and
//! formats f64 numbers by the key they appear under: the keys in [`AMOUNT_KEYS`] are amounts
//! everywhere in Core's RPC interface. Integers are never reformatted.

use serde_json::Value;

/// Object keys whose (non-integer) numbers Core prints as amounts with 8 decimals.
pub const AMOUNT_KEYS: &[&str] = &[
    "value",
    "fee",
    "fees",
    "amount",
    "total_amount",
    "total_unspendable_amount",
    "relayfee",
    "incrementalfee",
    "incrementalrelayfee",
    "minrelaytxfee",
    "mempoolminfee",
    "minfeefilter",
    "maxburnamount",
    "maxfeerate",
    "feerate",
    "base",
    "modified",
    "ancestor",
    "descendant",
    "chunk",
    "chunkfee",
    "genesis_block",
    "bip30",
    "scripts",
    "unclaimed_rewards",
    "prevout_spent",
    "coinbase",
    "new_outputs_ex_coinbase",
    "unspendable",
];

/// Serializes `v` as Core would (see the module documentation).
pub fn to_string(v: &Value) -> String {
    let mut out = String::new();
    write(&mut out, v, false);
    out
}

fn write(out: &mut String, v: &Value, amount: bool) {
    match v {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(x) if amount => out.push_str(&format_amount(x)),
            Some(x) => out.push_str(&format_g16(x)),
            None => out.push_str(&n.to_string()),
        },
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // Arrays directly under an amount key (e.g. fee histograms) stay amounts.
                write(out, x, amount);
            }
            out.push(']');
        }
        Value::Object(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write(out, x, AMOUNT_KEYS.contains(&k.as_str()));
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Core's `ValueFromAmount` text for a BTC value (rounded to whole satoshis).
pub fn format_amount(btc: f64) -> String {
    if !btc.is_finite() {
        return format_g16(btc);
    }
    let sat = (btc * 100_000_000.0).round() as i64;
    let sign = if sat < 0 { "-" } else { "" };
    let a = sat.unsigned_abs();
    format!("{sign}{}.{:08}", a / 100_000_000, a % 100_000_000)
}

/// C's `%.16g` (what UniValue's `setFloat` writes), as a JSON number.
pub fn format_g16(x: f64) -> String {
    if !x.is_finite() {
        return "null".into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{x:.15e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..16).contains(&exp) {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.unsigned_abs())
    } else {
        let decimals = (15 - exp) as usize;
        trim_zeros(&format!("{x:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn doubles_print_like_printf_g16() {
        assert_eq!(format_g16(4.656542373906925e-10), "4.656542373906925e-10");
        assert_eq!(format_g16(0.9875742627528049), "0.9875742627528049");
        assert_eq!(format_g16(1.0), "1");
        assert_eq!(format_g16(0.00785005438120946), "0.00785005438120946");
        assert_eq!(format_g16(1e16), "1e+16");
        assert_eq!(format_g16(123456.5), "123456.5");
        assert_eq!(format_g16(0.0001), "0.0001");
        assert_eq!(format_g16(0.00001), "1e-05");
        assert_eq!(format_g16(-2.5), "-2.5");
    }

    #[test]
    fn amounts_have_eight_decimals() {
        assert_eq!(format_amount(11212.5), "11212.50000000");
        assert_eq!(format_amount(0.0), "0.00000000");
        assert_eq!(format_amount(2.24e-5), "0.00002240");
        assert_eq!(format_amount(-0.1), "-0.10000000");
        assert_eq!(format_amount(20999999.9769), "20999999.97690000");
        let v = json!({"result": {"value": 25.00009495, "n": 0, "difficulty": 4.656542373906925e-10, "vout": [{"value": 0.0}]}, "id": 1});
        assert_eq!(
            to_string(&v),
            r#"{"result":{"value":25.00009495,"n":0,"difficulty":4.656542373906925e-10,"vout":[{"value":0.00000000}]},"id":1}"#
        );
    }
}

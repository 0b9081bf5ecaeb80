//! Core's ParseByteUnits, as `-maxuploadtarget` reads its value.

/// Errors parsing `-maxuploadtarget`.
#[derive(Debug, thiserror::Error)]
#[error("Unable to parse -maxuploadtarget: '{0}'")]
pub struct ParseError(pub String);

/// Core's ParseByteUnits with the default unit M: a number with an optional suffix, k/m/g/t
/// powers of 1000, K/M/G/T powers of 1024, none meaning MiB.
pub fn parse_target(v: &str) -> Result<u64, ParseError> {
    let err = || ParseError(v.to_string());
    let (num, mult) = match v.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c {
                'k' => 1_000,
                'm' => 1_000_000,
                'g' => 1_000_000_000,
                't' => 1_000_000_000_000,
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(err()),
            };
            (&v[..i], m)
        }
        _ => (v, 1 << 20),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    num.parse::<u64>().ok().and_then(|n| n.checked_mul(mult)).ok_or_else(err)
}

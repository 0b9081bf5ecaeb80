//! Core's bech32 decoding with its error reports (`bech32::Decode` and `LocateErrors`): a
//! string's human-readable part, data and checksum kind, or Core's reason it is not bech32 and
//! the string positions at fault (up to two substituted characters are located), which
//! `validateaddress` returns as `error_locations`.

use bitcoin::bech32::primitives::checksum::{Checksum, Engine};
use bitcoin::bech32::{Bech32, Bech32m, Fe32, Hrp};
use std::collections::HashMap;

/// BIP173's limit on the length of a bech32 string.
const MAX_LEN: usize = 90;

/// Data characters of the checksum.
const CHECKSUM_LEN: usize = 6;

/// Which checksum a valid string carries (BIP173 or BIP350).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// BIP173 (segwit v0).
    Bech32,
    /// BIP350 (segwit v1+).
    Bech32m,
}

/// A string whose checksum is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The human-readable part, lowercased.
    pub hrp: String,
    /// The data part's 5-bit values, without the checksum.
    pub data: Vec<u8>,
    /// The checksum kind.
    pub encoding: Encoding,
}

/// Why a string is not valid bech32, in Core's words, and the byte positions at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bech32Error {
    /// Core's message ("Invalid Bech32 checksum", "Missing separator", ...).
    pub message: &'static str,
    /// Positions in the string (ascending); empty when none can be named.
    pub locations: Vec<usize>,
}

impl Bech32Error {
    fn at(message: &'static str, locations: Vec<usize>) -> Self {
        Bech32Error { message, locations }
    }
}

/// Decodes `s` as Core's `bech32::Decode`, or says why not as Core's `LocateErrors`.
pub fn decode(s: &str) -> Result<Decoded, Bech32Error> {
    let b = s.as_bytes();
    if b.len() > MAX_LEN {
        return Err(Bech32Error::at("Bech32 string too long", (MAX_LEN..b.len()).collect()));
    }
    let bad = bad_characters(b);
    if !bad.is_empty() {
        return Err(Bech32Error::at("Invalid character or mixed case", bad));
    }
    let Some(pos) = b.iter().rposition(|&c| c == b'1') else {
        return Err(Bech32Error::at("Missing separator", Vec::new()));
    };
    if pos == 0 || pos + 1 + CHECKSUM_LEN > b.len() {
        return Err(Bech32Error::at("Invalid separator position", vec![pos]));
    }
    let mut values = Vec::with_capacity(b.len() - pos - 1);
    for (i, &c) in b.iter().enumerate().skip(pos + 1) {
        match Fe32::from_char(char::from(c)) {
            Ok(fe) => values.push(fe),
            Err(_) => return Err(Bech32Error::at("Invalid Base 32 character", vec![i])),
        }
    }
    let hrp_text = s[..pos].to_ascii_lowercase();
    // Cannot fail after the checks above (1 to 83 printable ASCII characters, one case).
    let hrp = Hrp::parse(&hrp_text).map_err(|_| Bech32Error::at("Invalid character or mixed case", Vec::new()))?;
    let res32 = residue::<Bech32>(hrp, &values);
    let res32m = residue::<Bech32m>(hrp, &values);
    let data = || values[..values.len() - CHECKSUM_LEN].iter().map(|f| f.to_u8()).collect();
    if res32 == Bech32::TARGET_RESIDUE {
        return Ok(Decoded {
            hrp: hrp_text,
            data: data(),
            encoding: Encoding::Bech32,
        });
    }
    if res32m == Bech32m::TARGET_RESIDUE {
        return Ok(Decoded {
            hrp: hrp_text,
            data: data(),
            encoding: Encoding::Bech32m,
        });
    }
    // As Core: both checksums are tried and the one explained by fewer errors is named.
    let mut found: Option<(Encoding, Vec<usize>)> = None;
    for (encoding, syndrome) in [
        (Encoding::Bech32, res32 ^ Bech32::TARGET_RESIDUE),
        (Encoding::Bech32m, res32m ^ Bech32m::TARGET_RESIDUE),
    ] {
        let Some(positions) = locate(values.len(), syndrome) else {
            continue;
        };
        if found.as_ref().is_none_or(|(_, f)| positions.len() < f.len()) {
            found = Some((encoding, positions));
        }
    }
    // Data index i is string position pos + 1 + i.
    let at = |p: Vec<usize>| p.into_iter().map(|i| pos + 1 + i).collect();
    Err(match found {
        Some((Encoding::Bech32, p)) => Bech32Error::at("Invalid Bech32 checksum", at(p)),
        Some((Encoding::Bech32m, p)) => Bech32Error::at("Invalid Bech32m checksum", at(p)),
        None => Bech32Error::at("Invalid checksum", Vec::new()),
    })
}

/// Core's `CheckCharacters`: positions of characters outside 33..=126 and of letters whose case
/// differs from the first letter's.
fn bad_characters(b: &[u8]) -> Vec<usize> {
    let (mut lower, mut upper) = (false, false);
    let mut bad = Vec::new();
    for (i, &c) in b.iter().enumerate() {
        if c.is_ascii_lowercase() {
            if upper {
                bad.push(i);
            } else {
                lower = true;
            }
        } else if c.is_ascii_uppercase() {
            if lower {
                bad.push(i);
            } else {
                upper = true;
            }
        } else if !(33..=126).contains(&c) {
            bad.push(i);
        }
    }
    bad
}

/// The checksum engine's residue over the expanded `hrp` and `values` (checksum included).
fn residue<Ck: Checksum<MidstateRepr = u32>>(hrp: Hrp, values: &[Fe32]) -> u32 {
    let mut e = Engine::<Ck>::new();
    e.input_hrp(hrp);
    values.iter().for_each(|v| e.input_fe(*v));
    *e.residue()
}

/// The residue's change when the value at `index` (of `len` data values) changes by `delta`:
/// the residue is linear in the data, so this does not depend on the other values.
fn error_syndrome(len: usize, index: usize, delta: u8) -> u32 {
    let mut e = Engine::<Bech32>::new();
    let mut z = Engine::<Bech32>::new();
    for i in 0..len {
        let v = if i == index { delta } else { 0 };
        e.input_fe(Fe32::try_from(v).unwrap_or(Fe32::Q));
        z.input_fe(Fe32::Q);
    }
    *e.residue() ^ *z.residue()
}

/// Data indexes of one or two substituted values explaining `syndrome` (ascending), if any.
/// The code's distance (at least 5 within 90 characters) makes such an answer unique.
fn locate(len: usize, syndrome: u32) -> Option<Vec<usize>> {
    let mut single: HashMap<u32, usize> = HashMap::with_capacity(len * 31);
    for index in 0..len {
        for delta in 1..32u8 {
            single.insert(error_syndrome(len, index, delta), index);
        }
    }
    if let Some(&i) = single.get(&syndrome) {
        return Some(vec![i]);
    }
    for (&s1, &i) in &single {
        if let Some(&j) = single.get(&(syndrome ^ s1)) {
            if i != j {
                return Some(vec![i.min(j), i.max(j)]);
            }
        }
    }
    None
}

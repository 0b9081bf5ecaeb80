//! Core's `DecodeDestination`: an address of the node's network to its output script, or
//! Core's exact reason it is not one (with bech32 error positions). The one address decoder
//! behind every RPC that takes an address.

use super::bech32_errors::{self, Encoding};
use bitcoin::hashes::Hash;
use bitcoin::{Network, PubkeyHash, ScriptBuf, ScriptHash, WitnessProgram, WitnessVersion};

/// Core's largest Base58Check payload tried as an address (a prefix byte and a hash).
const MAX_BASE58_PAYLOAD: usize = 21;

/// Core's largest Base58 payload (without checksum) still reported as a bad checksum or length.
const MAX_BASE58_ANY: usize = 100;

/// Why a string is not an address of the network, as Core's `validateaddress` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressError {
    /// Core's message.
    pub message: String,
    /// String positions at fault (bech32 only; ascending).
    pub locations: Vec<usize>,
}

impl AddressError {
    fn new(message: impl Into<String>) -> Self {
        AddressError {
            message: message.into(),
            locations: Vec::new(),
        }
    }
}

/// Base58 prefixes (P2PKH, P2SH) and bech32 human-readable part of a network.
fn network_prefixes(net: Network) -> (u8, u8, &'static str) {
    match net {
        Network::Bitcoin => (0, 5, "bc"),
        Network::Regtest => (111, 196, "bcrt"),
        _ => (111, 196, "tb"),
    }
}

/// The output script of `s` if it is an address of `net`, else Core's reason.
pub fn decode(s: &str, net: Network) -> Result<ScriptBuf, AddressError> {
    let (pkh, sh, hrp) = network_prefixes(net);
    // Compared as bytes: the string is untrusted and need not have a char boundary there.
    let is_bech32 = s
        .as_bytes()
        .get(..hrp.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(hrp.as_bytes()));
    if !is_bech32 {
        return decode_base58(s, pkh, sh);
    }
    let d = bech32_errors::decode(s).map_err(|e| AddressError {
        message: e.message.into(),
        locations: e.locations,
    })?;
    let Some((&version, program)) = d.data.split_first() else {
        return Err(AddressError::new("Empty Bech32 data section"));
    };
    if d.hrp != hrp {
        return Err(AddressError::new(format!(
            "Invalid or unsupported prefix for Segwit (Bech32) address (expected {hrp}, got {}).",
            d.hrp
        )));
    }
    match (version, d.encoding) {
        (0, Encoding::Bech32m) => return Err(AddressError::new("Version 0 witness address must use Bech32 checksum")),
        (1.., Encoding::Bech32) => return Err(AddressError::new("Version 1+ witness address must use Bech32m checksum")),
        _ => {}
    }
    let Some(program) = five_to_eight_bits(program) else {
        return Err(AddressError::new("Invalid padding in Bech32 data section"));
    };
    let bytes = if program.len() == 1 { "byte" } else { "bytes" };
    if version == 0 && program.len() != 20 && program.len() != 32 {
        return Err(AddressError::new(format!(
            "Invalid Bech32 v0 address program size ({} {bytes}), per BIP141",
            program.len()
        )));
    }
    if version > 16 {
        return Err(AddressError::new("Invalid Bech32 address witness version"));
    }
    let program = WitnessVersion::try_from(version)
        .ok()
        .and_then(|v| WitnessProgram::new(v, &program).ok())
        .ok_or_else(|| AddressError::new(format!("Invalid Bech32 address program size ({} {bytes})", program.len())))?;
    Ok(ScriptBuf::new_witness_program(&program))
}

/// The Base58 half of Core's `DecodeDestination`.
fn decode_base58(s: &str, pkh: u8, sh: u8) -> Result<ScriptBuf, AddressError> {
    match bitcoin::base58::decode_check(s) {
        Ok(data) if data.len() <= MAX_BASE58_PAYLOAD => {
            let hash = data.get(1..).and_then(|h| <[u8; 20]>::try_from(h).ok());
            match (data.first(), hash) {
                (Some(&p), Some(h)) if p == pkh => Ok(ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array(h))),
                (Some(&p), Some(h)) if p == sh => Ok(ScriptBuf::new_p2sh(&ScriptHash::from_byte_array(h))),
                (Some(&p), _) if p == pkh || p == sh => Err(AddressError::new("Invalid length for Base58 address (P2PKH or P2SH)")),
                _ => Err(AddressError::new("Invalid or unsupported Base58-encoded address.")),
            }
        }
        _ if bitcoin::base58::decode(s).is_ok_and(|d| d.len() <= MAX_BASE58_ANY) => {
            Err(AddressError::new("Invalid checksum or length of Base58 address (P2PKH or P2SH)"))
        }
        _ => Err(AddressError::new("Invalid or unsupported Segwit (Bech32) or Base58 encoding.")),
    }
}

/// Core's `ConvertBits<5, 8, false>`: None when the leftover bits are 5 or more or not zero.
fn five_to_eight_bits(values: &[u8]) -> Option<Vec<u8>> {
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut out = Vec::with_capacity(values.len() * 5 / 8);
    for &v in values {
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    (bits < 5 && acc & ((1 << bits) - 1) == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> (String, Vec<usize>) {
        let e = decode(s, Network::Regtest).unwrap_err();
        (e.message, e.locations)
    }

    #[test]
    fn valid_addresses_decode_to_their_scripts() {
        let cases = [
            ("bcrt1qtmp74ayg7p24uslctssvjm06q5phz4yrxucgnv", 22),
            ("BCRT1QPLMTZKC2XHARPPZDLNPAQL78RSHJ68U33RAH7R", 22),
            ("bcrt1p424qxxyd0r", 4),
            ("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", 25),
        ];
        for (a, len) in cases {
            assert_eq!(decode(a, Network::Regtest).unwrap().len(), len, "{a}");
        }
        // The same string on another network is not an address of it.
        assert!(decode("bcrt1qtmp74ayg7p24uslctssvjm06q5phz4yrxucgnv", Network::Bitcoin).is_err());
    }

    #[test]
    fn invalid_addresses_get_cores_reasons_and_positions() {
        let none: Vec<usize> = Vec::new();
        let cases: [(&str, &str, Vec<usize>); 12] = [
            (
                "bcrt1s0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav25430mtr",
                "Invalid Bech32 address program size (41 bytes)",
                none.clone(),
            ),
            (
                "bcrt1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqdmchcc",
                "Version 1+ witness address must use Bech32m checksum",
                none.clone(),
            ),
            (
                "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7k35mrzd",
                "Version 0 witness address must use Bech32 checksum",
                none.clone(),
            ),
            (
                "bcrt130xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqynjegk",
                "Invalid Bech32 address witness version",
                none.clone(),
            ),
            (
                "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kqqq5k3my",
                "Invalid Bech32 v0 address program size (21 bytes), per BIP141",
                none.clone(),
            ),
            ("bcrt1q049edschfnwystcqnsvyfpj23mpsg3jcedq9xv", "Invalid Bech32 checksum", vec![9]),
            (
                "bcrt1qax9suht3qv95sw33xavx8crpxduefdrsvgsklu",
                "Invalid Bech32 checksum",
                vec![22, 43],
            ),
            ("BCRT1QPLMTZKC2XHARPPZDLNPAQL78RSHJ68U32RAH7R", "Invalid Bech32 checksum", vec![38]),
            ("bcrt1ptmp74ayg7p24uslctssvjm06q5phz4yrxucgnv", "Invalid Bech32 checksum", vec![5]),
            ("bcrtq049ldschfnwystcqnsvyfpj23mpsg3jcedq9xv", "Missing separator", none.clone()),
            ("bcrt1q04oldschfnwystcqnsvyfpj23mpsg3jcedq9xv", "Invalid Base 32 character", vec![8]),
            (
                "2VKf7XKMrp4bVNVmuRbyCewkP8FhGLP2E54LHDPakr9Sq5mtU2",
                "Invalid checksum or length of Base58 address (P2PKH or P2SH)",
                none.clone(),
            ),
        ];
        for (a, message, locations) in cases {
            assert_eq!(err(a), (message.to_string(), locations), "{a}");
        }
        let long = "bcrt1q049edschfnwystcqnsvyfpj23mpsg3jcedq9xv049edschfnwystcqnsvyfpj23mpsg3jcedq9xv049edschfnwystcqnsvyfpj23m";
        assert_eq!(err(long), ("Bech32 string too long".into(), (90..108).collect()));
        assert_eq!(err("bcRt1qqqqqqqqq").1, vec![2]);
        assert_eq!(
            err("17VZNX1SN5NtKa8UQFxwQbFeFc3iqRYhem").0,
            "Invalid or unsupported Base58-encoded address."
        );
    }

    #[test]
    fn untrusted_strings_never_panic() {
        // Found by the rpc_parsers fuzz target: a multi-byte character straddling the length of
        // the bech32 prefix made validateaddress panic while slicing.
        for s in [
            "\trt\u{FFFD}\u{17}[[",
            "bcr\u{e9}",
            "\u{FFFD}",
            "b\u{1F600}",
            "bcrt1\u{e9}qqqqqqq",
            "",
        ] {
            assert!(decode(s, Network::Regtest).is_err(), "{s:?}");
        }
        assert_eq!(err("bcr\u{e9}").0, "Invalid or unsupported Segwit (Bech32) or Base58 encoding.");
    }
}

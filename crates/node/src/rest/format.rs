//! Output formats (`.bin`, `.hex`, `.json`) and the answers built from them.

use super::error::RestError;
use serde_json::Value;

/// `Cache-Control` of answers that never change for the same URI.
pub const CACHE_IMMUTABLE: &str = "public, immutable, max-age=86400";

/// `Cache-Control` of every other answer, errors included.
pub const CACHE_NO_STORE: &str = crate::rpc::server::NO_STORE;

/// The format a URI asks for by its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// No known suffix.
    Undef,
    /// `.bin`: raw bytes.
    Bin,
    /// `.hex`: the bytes in hex and a newline.
    Hex,
    /// `.json`.
    Json,
}

/// Core's `ParseDataFormat`: drops the query, then a known `.suffix` (an empty suffix counts as
/// known and gives [`Format::Undef`]); returns the remaining parameter and the format.
pub fn parse_data_format(uri_part: &str) -> (&str, Format) {
    let param = uri_part.rfind('?').map_or(uri_part, |i| &uri_part[..i]);
    let Some(dot) = param.rfind('.') else {
        return (param, Format::Undef);
    };
    let format = match &param[dot + 1..] {
        "" => Format::Undef,
        "bin" => Format::Bin,
        "hex" => Format::Hex,
        "json" => Format::Json,
        _ => return (param, Format::Undef),
    };
    (&param[..dot], format)
}

/// The 404 for a format an endpoint with all three formats does not know.
pub fn no_format() -> RestError {
    RestError::not_found("output format not found (available: .bin, .hex, .json)")
}

/// The 404 for a JSON-only endpoint.
pub fn json_only() -> RestError {
    RestError::not_found("output format not found (available: json)")
}

/// Core's `uint256::FromHex`: exactly 64 hex digits, in display (reversed) order.
pub fn parse_hash<T: bitcoin::hashes::Hash<Bytes = [u8; 32]>>(s: &str) -> Result<T, RestError> {
    if s.len() != 64 {
        return Err(RestError::invalid_hash(s));
    }
    let mut b = [0u8; 32];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16);
        let lo = (pair[1] as char).to_digit(16);
        match (hi, lo) {
            (Some(h), Some(l)) => b[31 - i] = (h * 16 + l) as u8,
            _ => return Err(RestError::invalid_hash(s)),
        }
    }
    Ok(T::from_byte_array(b))
}

/// Core's `ToIntegral<T>` for unsigned decimal text: digits only (no sign, no spaces), in range.
pub fn parse_unsigned(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// One REST answer: the HTTP answer the RPC server sends for it.
pub use crate::rpc::server::HttpAnswer as RestResponse;

impl RestResponse {
    /// The empty 404 of a path no endpoint serves.
    pub fn not_found() -> Self {
        RestResponse {
            status: 404,
            content_type: None,
            cache_control: CACHE_NO_STORE,
            body: Vec::new(),
        }
    }

    /// Marks the answer as never changing for its URI.
    pub fn immutable(mut self) -> Self {
        self.cache_control = CACHE_IMMUTABLE;
        self
    }

    /// A 200 with raw bytes.
    pub fn bin(body: Vec<u8>) -> Self {
        Self::ok("application/octet-stream", body)
    }

    /// A 200 with text (a newline is added, as Core does).
    pub fn text(mut s: String) -> Self {
        s.push('\n');
        Self::ok("text/plain", s.into_bytes())
    }

    /// A 200 with bytes in hex and a newline.
    pub fn hex(bytes: &[u8]) -> Self {
        Self::text(crate::rpc::script_asm::hex(bytes))
    }

    /// A 200 with JSON written as Core writes it, and a newline.
    pub fn json(v: &Value) -> Self {
        let mut s = crate::rpc::corejson::to_string(v);
        s.push('\n');
        Self::ok("application/json", s.into_bytes())
    }

    /// The bytes as `.bin` or `.hex`, or the JSON built by `json` for `.json`.
    pub fn by_format(
        format: Format,
        bytes: impl FnOnce() -> Vec<u8>,
        json: impl FnOnce() -> Result<Value, RestError>,
    ) -> Result<Self, RestError> {
        match format {
            Format::Bin => Ok(Self::bin(bytes())),
            Format::Hex => Ok(Self::hex(&bytes())),
            Format::Json => Ok(Self::json(&json()?)),
            Format::Undef => Err(no_format()),
        }
    }

    fn ok(content_type: &'static str, body: Vec<u8>) -> Self {
        RestResponse {
            status: 200,
            content_type: Some(content_type),
            cache_control: CACHE_NO_STORE,
            body,
        }
    }
}

impl From<RestError> for RestResponse {
    /// Core's `RESTERR`: the message as text/plain with CRLF.
    fn from(e: RestError) -> Self {
        RestResponse {
            status: e.status,
            content_type: Some("text/plain"),
            cache_control: CACHE_NO_STORE,
            body: format!("{}\r\n", e.message).into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_format_as_core() {
        assert_eq!(parse_data_format("abc.json?x=1"), ("abc", Format::Json));
        assert_eq!(parse_data_format("abc.bin"), ("abc", Format::Bin));
        assert_eq!(parse_data_format("abc.hex"), ("abc", Format::Hex));
        assert_eq!(parse_data_format("abc."), ("abc", Format::Undef));
        assert_eq!(parse_data_format("abc.invalid"), ("abc.invalid", Format::Undef));
        assert_eq!(parse_data_format("abc"), ("abc", Format::Undef));
        assert_eq!(parse_data_format("a.b?c.json"), ("a.b", Format::Undef));
        assert_eq!(parse_data_format(""), ("", Format::Undef));
    }

    #[test]
    fn unsigned_as_to_integral() {
        assert_eq!(parse_unsigned("5"), Some(5));
        for bad in ["", "+1", "-1", "5a", " 5", "99999999999999999999999999"] {
            assert_eq!(parse_unsigned(bad), None, "{bad}");
        }
    }

    #[test]
    fn hashes_need_64_hex_digits() {
        let h: bitcoin::BlockHash = parse_hash(&"0f".repeat(32)).unwrap();
        assert_eq!(h.to_string(), "0f".repeat(32));
        assert!(parse_hash::<bitcoin::BlockHash>("abc").is_err());
        assert!(parse_hash::<bitcoin::BlockHash>(&"zz".repeat(32)).is_err());
        assert!(parse_hash::<bitcoin::BlockHash>(&format!("{}%", "00".repeat(32))).is_err());
    }
}

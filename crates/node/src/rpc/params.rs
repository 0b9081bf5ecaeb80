//! Positional and named RPC parameters, normalised to positions by each method's argument names.

use super::error::{code, RpcError};
use super::request_json::RepeatedKey;
use serde_json::Value;

/// Arguments of one call, by position.
#[derive(Debug, Clone, Default)]
pub struct Params {
    values: Vec<Value>,
    names: Vec<&'static str>,
    /// Positions left out of a named call (null, but not sent as null).
    omitted: Vec<bool>,
    /// Keys repeated in an argument's JSON: (argument index, pointer inside it, key).
    repeated: Vec<(usize, Vec<String>, String)>,
}

/// Core's ParseHashV: a 32-byte hash (`BlockHash`, `Txid`...) written as 64 hex digits in
/// display order; a string of another length and one that is not hex get Core's two -8 errors.
pub fn parse_hash<T: std::str::FromStr>(s: &str, name: &str) -> Result<T, RpcError> {
    if s.len() != 64 {
        return Err(RpcError::param(format!("{name} must be of length 64 (not {}, for '{s}')", s.len())));
    }
    T::from_str(s).map_err(|_| RpcError::param(format!("{name} must be hexadecimal string (not '{s}')")))
}

/// Core's name of a JSON value's type, for type errors.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Core's `-3` error for an argument of the wrong JSON type.
pub(crate) fn type_error(v: &Value, want: &str) -> RpcError {
    RpcError::new(
        code::TYPE_ERROR,
        format!("JSON value of type {} is not of expected type {want}", type_name(v)),
    )
}

/// Core's `-3` error for an object field of the wrong JSON type (`RPCTypeCheckObj`).
pub(crate) fn field_type_error(v: &Value, field: &str, want: &str) -> RpcError {
    RpcError::new(
        code::TYPE_ERROR,
        format!(
            "JSON value of type {} for field {field} is not of expected type {want}",
            type_name(v)
        ),
    )
}

impl Params {
    /// Normalises `params` (array, object or absent) against `names`; `repeated` are the keys
    /// the request body repeated inside `params` (pointers relative to it).
    pub fn from_request(params: Option<&Value>, names: &[&'static str], repeated: &[RepeatedKey]) -> Result<Self, RpcError> {
        // As Core: a named argument given twice is refused.
        if let Some(r) = repeated.iter().find(|r| r.pointer.is_empty()) {
            return Err(RpcError::param(format!("Parameter {} specified multiple times", r.key)));
        }
        let mut omitted = Vec::new();
        let values = match params {
            None | Some(Value::Null) => Vec::new(),
            // Too many is Core's usage error, checked by the caller (usage::check_count).
            Some(Value::Array(a)) => a.clone(),
            Some(Value::Object(o)) => {
                // Core's "args" member carries leading positional arguments next to named ones.
                let mut v: Vec<Value> = match o.get("args") {
                    Some(Value::Array(a)) => a.clone(),
                    Some(_) => return Err(RpcError::param("Parameter args must be an array")),
                    None => Vec::new(),
                };
                let positional = v.len();
                v.resize(v.len().max(names.len()), Value::Null);
                omitted = (0..v.len()).map(|i| i >= positional).collect();
                let mut last = positional;
                for (k, val) in o.iter().filter(|(k, _)| *k != "args") {
                    // Core's "a|b" argument names accept either alias.
                    let i = names
                        .iter()
                        .position(|n| n.split('|').any(|a| a == k))
                        .ok_or_else(|| RpcError::param(format!("Unknown named parameter {k}")))?;
                    if i < positional {
                        return Err(RpcError::param(format!(
                            "Parameter {k} specified twice both as positional and named argument"
                        )));
                    }
                    v[i] = val.clone();
                    omitted[i] = false;
                    last = last.max(i + 1);
                }
                v.truncate(last);
                v
            }
            Some(_) => return Err(RpcError::new(code::INVALID_REQUEST, "Params must be an array or object")),
        };
        let index_of = |segment: &str| match params {
            Some(Value::Object(_)) => names.iter().position(|n| n.split('|').any(|a| a == segment)),
            _ => segment.parse().ok(),
        };
        let repeated = repeated
            .iter()
            .filter_map(|r| Some((index_of(&r.pointer[0])?, r.pointer[1..].to_vec(), r.key.clone())))
            .collect();
        Ok(Params {
            values,
            names: names.to_vec(),
            omitted,
            repeated,
        })
    }

    /// Keys the request repeated in the object that is argument `i` (Core keeps repeats; the
    /// value here holds each key's first value).
    pub fn repeated_keys(&self, i: usize) -> impl Iterator<Item = &str> {
        self.repeated
            .iter()
            .filter(move |(at, inner, _)| *at == i && inner.is_empty())
            .map(|(_, _, k)| k.as_str())
    }

    /// How many positional arguments the call has (named ones counted up to the last given).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the call has no arguments.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The raw value at `i` (None when absent or null).
    pub fn get(&self, i: usize) -> Option<&Value> {
        self.values.get(i).filter(|v| !v.is_null())
    }

    fn name(&self, i: usize) -> &'static str {
        self.names.get(i).and_then(|n| n.split('|').next()).unwrap_or("arg")
    }

    /// A required argument: missing is Core's usage error; an explicit null is its type error
    /// (`want` names the expected type).
    fn required(&self, i: usize, want: &str) -> Result<&Value, RpcError> {
        match self.values.get(i) {
            Some(Value::Null) if !self.omitted.get(i).copied().unwrap_or(false) => Err(type_error(&Value::Null, want)),
            _ => self.get(i).ok_or_else(|| self.missing(i)),
        }
    }

    fn missing(&self, i: usize) -> RpcError {
        RpcError::new(
            code::INVALID_PARAMS,
            format!("Missing required argument \"{}\" (position {})", self.name(i), i + 1),
        )
    }

    /// A required string.
    pub fn str(&self, i: usize) -> Result<&str, RpcError> {
        let v = self.required(i, "string")?;
        v.as_str().ok_or_else(|| type_error(v, "string"))
    }

    /// A required argument of any type (absent or null: Core's missing-argument error), for
    /// methods that read several types at one position.
    pub fn value(&self, i: usize) -> Result<&Value, RpcError> {
        self.get(i).ok_or_else(|| self.missing(i))
    }

    /// A required array (absent or null: Core's missing-argument error; another type: its type
    /// error), the shape of every list argument.
    pub fn array(&self, i: usize) -> Result<&[Value], RpcError> {
        match self.value(i)? {
            Value::Array(a) => Ok(a),
            v => Err(type_error(v, "array")),
        }
    }

    /// An optional string.
    pub fn opt_str(&self, i: usize) -> Result<Option<&str>, RpcError> {
        match self.get(i) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| type_error(v, "string")),
        }
    }

    /// An optional array of strings (a non-array is Core's type error; a non-string element
    /// is `get_str`'s).
    pub fn opt_str_array(&self, i: usize) -> Result<Option<Vec<String>>, RpcError> {
        match self.get(i) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| RpcError::new(code::TYPE_ERROR, "JSON value is not a string as expected"))
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(v) => Err(type_error(v, "array")),
        }
    }

    /// A required non-negative integer.
    pub fn u64(&self, i: usize) -> Result<u64, RpcError> {
        let v = self.required(i, "number")?;
        self.as_u64(v)
    }

    fn as_u64(&self, v: &Value) -> Result<u64, RpcError> {
        match v {
            Value::Number(n) => n
                .as_u64()
                .or_else(|| n.as_i64().filter(|x| *x >= 0).map(|x| x as u64))
                .ok_or_else(|| RpcError::param(format!("{} out of range", v))),
            _ => Err(type_error(v, "number")),
        }
    }

    /// An optional non-negative integer.
    pub fn opt_u64(&self, i: usize) -> Result<Option<u64>, RpcError> {
        match self.get(i) {
            None => Ok(None),
            Some(v) => self.as_u64(v).map(Some),
        }
    }

    /// A required signed integer.
    pub fn i64(&self, i: usize) -> Result<i64, RpcError> {
        let v = self.required(i, "number")?;
        v.as_i64().ok_or_else(|| type_error(v, "number"))
    }

    /// An optional boolean, Core-style: booleans, or numbers for verbosity-like flags.
    pub fn opt_bool(&self, i: usize) -> Result<Option<bool>, RpcError> {
        match self.get(i) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(type_error(v, "bool")),
        }
    }

    /// Verbosity as Core accepts it: a number, or a boolean (false = 0, true = 1).
    pub fn verbosity(&self, i: usize, default: u64) -> Result<u64, RpcError> {
        match self.get(i) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(u64::from(*b)),
            Some(v) => self.as_u64(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Core's ParseHashV: its length error only for a wrong length, its hex error for 64
    /// characters that are not hex (the case getchaintxstats' test sends), display order kept.
    #[test]
    fn hashes_are_parsed_with_cores_two_errors() {
        let hex = "00000000000000000000000000000000000000000000000000000000000000ab";
        let h: bitcoin::BlockHash = parse_hash(hex, "blockhash").unwrap();
        assert_eq!(h.to_string(), hex);
        let t: bitcoin::Txid = parse_hash(hex, "txid").unwrap();
        assert_eq!(t.to_string(), hex);
        let short = parse_hash::<bitcoin::BlockHash>("abc", "blockhash").unwrap_err();
        assert_eq!(short.message, "blockhash must be of length 64 (not 3, for 'abc')");
        let not_hex = format!("ZZZ{}", &hex[3..]);
        let e = parse_hash::<bitcoin::Txid>(&not_hex, "txid").unwrap_err();
        assert_eq!(e.message, format!("txid must be hexadecimal string (not '{not_hex}')"));
        assert_eq!(e.code, code::INVALID_PARAMETER);
    }
    use serde_json::json;

    const NAMES: &[&str] = &["arg0", "arg1", "arg2", "arg3"];

    #[test]
    fn named_arguments_fill_their_positions() {
        let p = Params::from_request(Some(&json!({"arg2": 2})), NAMES, &[]).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p.get(2), Some(&json!(2)));
        assert_eq!(p.get(0), None);
    }

    #[test]
    fn args_member_carries_leading_positional_arguments() {
        let p = Params::from_request(Some(&json!({"args": [0, 1], "arg3": 3})), NAMES, &[]).unwrap();
        assert_eq!(p.values, vec![json!(0), json!(1), Value::Null, json!(3)]);
        let e = Params::from_request(Some(&json!({"args": [0, 1], "arg1": 1})), NAMES, &[]).unwrap_err();
        assert_eq!(e.code, code::INVALID_PARAMETER);
        assert_eq!(e.message, "Parameter arg1 specified twice both as positional and named argument");
        let e = Params::from_request(Some(&json!({"nosuch": 1})), NAMES, &[]).unwrap_err();
        assert_eq!(e.message, "Unknown named parameter nosuch");
    }

    #[test]
    fn a_required_argument_sent_as_null_is_a_type_error_but_one_left_out_is_missing() {
        let e = Params::from_request(Some(&json!([null])), NAMES, &[]).unwrap().str(0).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (code::TYPE_ERROR, "JSON value of type null is not of expected type string")
        );
        let named = Params::from_request(Some(&json!({"arg1": 1})), NAMES, &[]).unwrap();
        assert_eq!(named.str(0).unwrap_err().message, "Missing required argument \"arg0\" (position 1)");
        let e = Params::from_request(Some(&json!({"arg0": null})), NAMES, &[])
            .unwrap()
            .u64(0)
            .unwrap_err();
        assert_eq!(e.code, code::TYPE_ERROR);
    }

    #[test]
    fn repeated_keys_are_kept_per_argument_and_a_repeated_named_argument_is_refused() {
        let body = br#"[{"a": 1, "a": 2}, {"k": 0}]"#;
        let r = crate::rpc::request_json::parse(body).unwrap();
        let p = Params::from_request(Some(&r.value), NAMES, &r.repeated).unwrap();
        assert_eq!(p.repeated_keys(0).collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(p.repeated_keys(1).count(), 0);
        let r = crate::rpc::request_json::parse(br#"{"arg1": {"x": 1, "x": 1}, "arg0": 1}"#).unwrap();
        let p = Params::from_request(Some(&r.value), NAMES, &r.repeated).unwrap();
        assert_eq!(p.repeated_keys(1).collect::<Vec<_>>(), vec!["x"]);
        let r = crate::rpc::request_json::parse(br#"{"arg0": 1, "arg0": 2}"#).unwrap();
        let e = Params::from_request(Some(&r.value), NAMES, &r.repeated).unwrap_err();
        assert_eq!(e.message, "Parameter arg0 specified multiple times");
    }
}

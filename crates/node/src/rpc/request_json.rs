//! The JSON of an RPC request body, read as Core's UniValue reads it: a key repeated in an
//! object keeps its first value (what Core's `find_value` returns), and the first repeat in a
//! request's `params` or one of its arguments is recorded with the JSON pointer of its object,
//! for the methods that refuse repeats (`createrawtransaction`'s outputs, named parameters
//! given twice).

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt;

/// Deepest object whose repeats are recorded: a batch item's argument (`/i/params/n`).
const MAX_WATCHED_DEPTH: usize = 3;

/// A key that appeared more than once in one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedKey {
    /// JSON pointer (RFC 6901 segments, unescaped) of the object holding the key.
    pub pointer: Vec<String>,
    /// The repeated key.
    pub key: String,
}

/// A parsed request body and the keys repeated in it.
#[derive(Debug)]
pub struct RequestJson {
    /// The body, first value kept for each repeated key.
    pub value: Value,
    /// The first repeat of each watched object, in document order.
    pub repeated: Vec<RepeatedKey>,
}

impl RequestJson {
    /// The keys repeated inside `params` of the request object at `batch_index` of a batch
    /// (None: the body is one request), with pointers made relative to `params`.
    pub fn repeated_in_params(&self, batch_index: Option<usize>) -> Vec<RepeatedKey> {
        let request: Vec<String> = batch_index.map(|i| i.to_string()).into_iter().collect();
        self.repeated
            .iter()
            .filter_map(|r| {
                let rest = r.pointer.strip_prefix(request.as_slice())?;
                (rest.first().map(String::as_str) == Some("params")).then(|| RepeatedKey {
                    pointer: rest[1..].to_vec(),
                    key: r.key.clone(),
                })
            })
            .collect()
    }
}

/// Parses a request body (serde_json's grammar and nesting limit).
pub fn parse(body: &[u8]) -> Result<RequestJson, serde_json::Error> {
    let ctx = Ctx::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Node { ctx: &ctx }.deserialize(&mut de)?;
    de.end()?;
    Ok(RequestJson {
        value,
        repeated: ctx.repeated.into_inner(),
    })
}

/// The path to the value being read and the repeats found so far.
#[derive(Default)]
struct Ctx {
    path: RefCell<Vec<String>>,
    repeated: RefCell<Vec<RepeatedKey>>,
}

/// Reads one JSON value at the current path.
struct Node<'a> {
    ctx: &'a Ctx,
}

impl Node<'_> {
    /// Reads a child value under `segment`.
    fn child<T, E>(&self, segment: String, read: impl FnOnce(Node<'_>) -> Result<T, E>) -> Result<T, E> {
        self.ctx.path.borrow_mut().push(segment);
        let r = read(Node { ctx: self.ctx });
        self.ctx.path.borrow_mut().pop();
        r
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let next = self.child(out.len().to_string(), |n| seq.next_element_seed(n))?;
            match next {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        // Only objects a method can ask about are watched (a batch item's `params` or one of its
        // arguments), and only their first repeat is kept: what is recorded stays smaller than
        // the value itself however the body nests or repeats.
        let mut watch = self.ctx.path.borrow().len() <= MAX_WATCHED_DEPTH;
        while let Some(key) = map.next_key::<String>()? {
            let v = self.child(key.clone(), |n| map.next_value_seed(n))?;
            if !out.contains_key(&key) {
                out.insert(key, v);
            } else if watch {
                watch = false;
                self.ctx.repeated.borrow_mut().push(RepeatedKey {
                    pointer: self.ctx.path.borrow().clone(),
                    key,
                });
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeated_keys_keep_the_first_value_and_are_recorded_with_their_object() {
        let body = br#"{"method":"a","params":[[],{"x":1,"y":2,"x":3,"y":0},[{"d":1,"d":2}],[[{"e":1,"e":2}]]],"method":"b"}"#;
        let r = parse(body).unwrap();
        assert_eq!(
            r.value,
            json!({"method": "a", "params": [[], {"x": 1, "y": 2}, [{"d": 1}], [[{"e": 1}]]]})
        );
        let at = |p: &[&str], k: &str| RepeatedKey {
            pointer: p.iter().map(|s| s.to_string()).collect(),
            key: k.into(),
        };
        // One per object; deeper than a batch item's argument is not watched.
        assert_eq!(
            r.repeated,
            vec![at(&["params", "1"], "x"), at(&["params", "2", "0"], "d"), at(&[], "method")]
        );
        assert_eq!(r.repeated_in_params(None), vec![at(&["1"], "x"), at(&["2", "0"], "d")]);
        let batch = parse(br#"[{"params":{"a":1}},{"params":{"a":1,"a":2}}]"#).unwrap();
        assert_eq!(batch.repeated_in_params(Some(1)), vec![at(&[], "a")]);
        assert!(batch.repeated_in_params(Some(0)).is_empty());
    }

    #[test]
    fn ordinary_json_reads_as_serde_json_reads_it() {
        let text = r#"[1, -2, 3.5, "s", null, true, {"a": [{}]}, 18446744073709551615]"#;
        assert_eq!(parse(text.as_bytes()).unwrap().value, serde_json::from_str::<Value>(text).unwrap());
        assert!(parse(b"{\"a\":1} x").is_err());
        assert!(parse(&[b'['; 200]).is_err(), "nesting limit");
    }
}

//! Query parameters of a REST URI, decoded as libevent's `evhttp_parse_query_str` (which Core
//! uses): `key=value` pairs split on `&`, `+` as space, valid `%XX` escapes decoded; a pair
//! without `=` ends the parse, keeping the pairs before it.

/// The value of the first `key` parameter in the query of `uri_part`, if any.
pub fn param(uri_part: &str, key: &str) -> Option<String> {
    let (_, query) = uri_part.split_once('?')?;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=')?;
        if k.is_empty() {
            return None;
        }
        if decode(k) == key {
            return Some(decode(v));
        }
    }
    None
}

/// Percent-decoding with `+` as space; invalid escapes are kept as they are.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' => match (b.get(i + 1).and_then(|c| hex(*c)), b.get(i + 2).and_then(|c| hex(*c))) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_as_libevent() {
        assert_eq!(param("x.json?count=5", "count").as_deref(), Some("5"));
        assert_eq!(param("x.json?a=1&count=7&count=8", "count").as_deref(), Some("7"));
        assert_eq!(param("x.json", "count"), None);
        assert_eq!(param("x.json?%", "verbose"), None);
        assert_eq!(param("x.json?%XY", "offset"), None);
        assert_eq!(param("x?v=a%20b+c%2", "v").as_deref(), Some("a b c%2"));
        assert_eq!(param("x?v=%", "v").as_deref(), Some("%"));
    }
}

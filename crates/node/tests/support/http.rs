//! Test support: a minimal HTTP/1.1 JSON-RPC client over a real TCP socket.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Status code, headers (lowercased names) and body of one HTTP response.
pub struct HttpReply {
    /// HTTP status.
    pub status: u16,
    /// Header lines as (lowercase name, value).
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

impl HttpReply {
    /// Body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Base64 (standard alphabet) of a string, for Basic auth headers.
pub fn b64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if c.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    out
}

/// POSTs `body` to `addr` with optional basic credentials `user:pass`.
pub fn post(addr: &str, creds: Option<&str>, body: &str) -> HttpReply {
    let mut s = TcpStream::connect(addr).expect("connect to RPC");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = creds.map(|c| format!("Authorization: Basic {}\r\n", b64(c))).unwrap_or_default();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    HttpReply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// A JSON-RPC 1.0 call; returns the whole reply object.
pub fn call(addr: &str, creds: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
    post(
        addr,
        Some(creds),
        &serde_json::json!({"jsonrpc": "1.0", "id": "t", "method": method, "params": params}).to_string(),
    )
    .json()
}

/// A free TCP port on 127.0.0.1 for a node to bind later.
///
/// Ports come from below Linux's ephemeral range (32768..), so no other test's `bind(:0)` or
/// outbound connection can take one between this call and the node's bind; a per-process counter
/// keeps the tests of one binary apart, and a pid-derived start keeps binaries apart. Each port is
/// checked bindable before it is handed out.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(u32::MAX, (std::process::id() * 97) % SPAN, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOW}..{}", LOW + SPAN)
}

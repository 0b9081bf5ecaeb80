//! Reads a `blvm-node` debug.log written with `-debug=chain -logtimemicros` for the UTXO-scale
//! bench: when each block was connected (`UpdateTip: connected block height=H ...`), how long
//! each flush paused validation (`flushed chainstate reason=R ... ms=N`: the whole flush when
//! synchronous, the wait + block file sync + freeze when `background=true`), how long each
//! background write took (`background chainstate write done ... write_ms=N`) and when the import
//! started (`chain loaded`).
#![allow(dead_code)]

/// What one import's log says.
#[derive(Debug, Clone, Default)]
pub struct ImportLog {
    /// Seconds from `chain loaded` to the connection of each block, by height order.
    pub block_done_s: Vec<(u32, f64)>,
    /// (reason, milliseconds validation was paused) of each flush, in order.
    pub flushes: Vec<(String, f64)>,
    /// Milliseconds of each background write (off the validation thread), in order.
    pub background_writes_ms: Vec<f64>,
}

/// Seconds since the Unix epoch of a `2026-12-05T10:16:09.123456Z` timestamp.
pub fn timestamp_s(ts: &str) -> Option<f64> {
    let ts = ts.strip_suffix('Z')?;
    let (date, time) = ts.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':');
    let (hh, mm) = (t.next()?.parse::<f64>().ok()?, t.next()?.parse::<f64>().ok()?);
    let ss: f64 = t.next()?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + hh * 3600.0 + mm * 60.0 + ss)
}

/// The value of `key=` in a log line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

/// Parses the log text (lines before `chain loaded` are ignored).
pub fn parse(text: &str) -> ImportLog {
    let mut out = ImportLog::default();
    let mut start: Option<f64> = None;
    for line in text.lines() {
        let Some((ts, msg)) = line.split_once(' ') else { continue };
        let Some(t) = timestamp_s(ts) else { continue };
        // Debug lines carry their category: `[chain] UpdateTip: ...`.
        let msg = match msg.strip_prefix('[').and_then(|m| m.split_once("] ")) {
            Some((_, rest)) => rest,
            None => msg,
        };
        if msg.starts_with("chain loaded") {
            start = Some(t);
            continue;
        }
        let Some(t0) = start else { continue };
        if msg.starts_with("UpdateTip: connected block") {
            if let Some(h) = field(msg, "height").and_then(|h| h.parse().ok()) {
                out.block_done_s.push((h, t - t0));
            }
        } else if msg.starts_with("flushed chainstate") {
            let reason = field(msg, "reason").unwrap_or("?").trim_matches('"').to_string();
            if let Some(ms) = field(msg, "ms").and_then(|v| v.parse().ok()) {
                out.flushes.push((reason, ms));
            }
        } else if msg.starts_with("background chainstate write done") {
            if let Some(ms) = field(msg, "write_ms").and_then(|v| v.parse().ok()) {
                out.background_writes_ms.push(ms);
            }
        }
    }
    out
}

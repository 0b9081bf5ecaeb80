//! A small metrics registry (histograms for RPC latency and flush durations) and a writer for the
//! Prometheus text exposition format (version 0.0.4).

use crate::sync::lock;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Bucket upper bounds in seconds for RPC latencies.
pub const RPC_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Bucket upper bounds in seconds for chainstate flushes.
pub const FLUSH_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// A cumulative histogram with fixed buckets.
#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    /// An empty histogram with these upper bounds (seconds, ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    /// Records one observation in seconds.
    pub fn observe(&mut self, v: f64) {
        for (i, b) in self.bounds.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of observations.
    pub fn sum(&self) -> f64 {
        self.sum
    }
}

/// Metrics recorded as things happen (the rest is read from the node at scrape time).
#[derive(Default)]
pub struct Registry {
    rpc: Mutex<BTreeMap<String, Histogram>>,
    flush: Mutex<Option<Histogram>>,
    last_flush_secs: Mutex<Option<f64>>,
}

impl Registry {
    /// Records how long an RPC method took.
    pub fn observe_rpc(&self, method: &str, d: Duration) {
        lock(&self.rpc)
            .entry(method.to_string())
            .or_insert_with(|| Histogram::new(RPC_BUCKETS))
            .observe(d.as_secs_f64());
    }

    /// Records how long a chainstate flush took.
    pub fn observe_flush(&self, d: Duration) {
        lock(&self.flush)
            .get_or_insert_with(|| Histogram::new(FLUSH_BUCKETS))
            .observe(d.as_secs_f64());
        *lock(&self.last_flush_secs) = Some(d.as_secs_f64());
    }

    /// RPC latency histograms by method.
    pub fn rpc(&self) -> BTreeMap<String, Histogram> {
        lock(&self.rpc).clone()
    }

    /// The flush-duration histogram (empty before the first flush).
    pub fn flush(&self) -> Histogram {
        lock(&self.flush).clone().unwrap_or_else(|| Histogram::new(FLUSH_BUCKETS))
    }

    /// Duration of the last flush in seconds.
    pub fn last_flush_secs(&self) -> Option<f64> {
        *lock(&self.last_flush_secs)
    }
}

/// Escapes a label value (backslash, double quote, newline).
pub fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn labels(l: &[(&str, &str)]) -> String {
    if l.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))).collect();
    format!("{{{}}}", parts.join(","))
}

fn num(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Writes metric families in the Prometheus text format; each family's samples must be written
/// together, right after its header.
#[derive(Default)]
pub struct TextWriter {
    out: String,
}

impl TextWriter {
    /// Starts a family: `# HELP` and `# TYPE` (`gauge`, `counter`, `histogram`).
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {}", help.replace('\\', "\\\\").replace('\n', "\\n"));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        self
    }

    /// One sample.
    pub fn sample(&mut self, name: &str, l: &[(&str, &str)], v: f64) -> &mut Self {
        let _ = writeln!(self.out, "{name}{} {}", labels(l), num(v));
        self
    }

    /// The samples of one histogram series (`_bucket` with `le`, `_sum`, `_count`).
    pub fn histogram(&mut self, name: &str, l: &[(&str, &str)], h: &Histogram) -> &mut Self {
        for (i, b) in h.bounds.iter().enumerate() {
            let le = num(*b);
            let mut with: Vec<(&str, &str)> = l.to_vec();
            with.push(("le", &le));
            self.sample(&format!("{name}_bucket"), &with, h.counts[i] as f64);
        }
        let mut with: Vec<(&str, &str)> = l.to_vec();
        with.push(("le", "+Inf"));
        self.sample(&format!("{name}_bucket"), &with, h.count as f64);
        self.sample(&format!("{name}_sum"), l, h.sum);
        self.sample(&format!("{name}_count"), l, h.count as f64)
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let mut h = Histogram::new(&[0.1, 1.0]);
        h.observe(0.05);
        h.observe(0.5);
        h.observe(5.0);
        let mut w = TextWriter::default();
        w.family("x_seconds", "histogram", "test")
            .histogram("x_seconds", &[("method", "a\"b")], &h);
        let t = w.finish();
        assert!(t.contains("x_seconds_bucket{method=\"a\\\"b\",le=\"0.1\"} 1\n"), "{t}");
        assert!(t.contains("x_seconds_bucket{method=\"a\\\"b\",le=\"1\"} 2\n"), "{t}");
        assert!(t.contains("x_seconds_bucket{method=\"a\\\"b\",le=\"+Inf\"} 3\n"), "{t}");
        assert!(t.contains("x_seconds_count{method=\"a\\\"b\"} 3\n"), "{t}");
        assert!(t.contains("x_seconds_sum{method=\"a\\\"b\"} 5.55\n"), "{t}");
    }
}

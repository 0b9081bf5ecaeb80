//! Address manager scaling benchmark (not a timed test): fills an `AddrMan` from many source
//! groups up to `BLVM_BENCH_ADDRS` addresses offered (default 100,000, beyond the new table's
//! 65,536 slots), then times, per call, `add` of fresh addresses (as `addr` messages of 1,000),
//! `good` (promotion to the tried table, with collisions once it fills) and `select` (an
//! outbound pick). None of the per-call figures may grow with the table size: the old manager
//! scanned the new table for every address added.
//!
//! Run: `cargo bench -p blvm-node --bench addrman`. Without `--bench` (`cargo test --benches`)
//! a small smoke run is done.

use blvm_node::p2p::addrman::AddrMan;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The `i`-th address: spread over /16 groups; its source, one of 4,096 source groups.
fn entry(i: u32) -> ((SocketAddr, u64, i64), IpAddr) {
    let ip = Ipv4Addr::from(0x1400_0000u32.wrapping_add(i.wrapping_mul(65_537)));
    let src = IpAddr::V4(Ipv4Addr::from(0x2800_0000u32 + (i % 4_096) * 65_536));
    ((SocketAddr::new(ip.into(), 8333), 1, NOW - 600), src)
}

const NOW: i64 = 1_700_000_000;

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let total = if bench { env_usize("BLVM_BENCH_ADDRS", 100_000) } else { 5_000 } as u32;
    let mut am = AddrMan::default();
    println!(
        "{:>9} {:>9} {:>9} {:>12} {:>12} {:>12}",
        "offered", "new", "tried", "add µs", "good µs", "select µs"
    );
    let mut offered = 0u32;
    let mut promoted = 0u32;
    let step = (total / 10).max(1_000);
    while offered < total {
        // add: one `addr` message of 1,000 addresses per source.
        let batch: Vec<_> = (offered..offered + step).map(entry).collect();
        let t = Instant::now();
        for chunk in batch.chunks(1_000) {
            let addrs: Vec<_> = chunk.iter().map(|(a, _)| *a).collect();
            am.add(&addrs, chunk[0].1, NOW);
        }
        let add_us = t.elapsed().as_secs_f64() * 1e6 / batch.len() as f64;
        offered += step;
        // good: promote 1,000 addresses (new ones, or fresh ones when the pick fails).
        let t = Instant::now();
        for k in 0..1_000u32 {
            let a = am.select(true, NOW, |_| false).unwrap_or(entry(promoted + k).0 .0);
            assert!(am.good(&a, 9, NOW));
        }
        promoted += 1_000;
        let good_us = t.elapsed().as_secs_f64() * 1e6 / 1_000.0;
        // select: 1,000 picks from either table.
        let t = Instant::now();
        for _ in 0..1_000 {
            assert!(am.select(false, NOW, |_| false).is_some());
        }
        let select_us = t.elapsed().as_secs_f64() * 1e6 / 1_000.0;
        let (new, tried) = am.size();
        println!("{offered:>9} {new:>9} {tried:>9} {add_us:>12.2} {good_us:>12.2} {select_us:>12.2}");
    }
}

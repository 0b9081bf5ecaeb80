//! Issue 14, "memory honours -dbcache": the real `blvm-node -regtest import` of the UTXO-scale
//! chain (`ScaleParams::issue14`, 1,000,000 coins, shared with the bench and `scale_crash`
//! through `$BLVM_SCALE_CACHE_DIR`) with a small `-dbcache`, so the coins cache fills and is
//! flushed in the background many times, while `/proc/<pid>/status` is sampled every 20 ms.
//! The node's peak anonymous memory (`RssAnon`: its heap; LMDB's file-backed map is not in it)
//! must stay within `-dbcache` plus [`OVERHEAD_MIB`].
//!
//! The overhead is the sum of bounds that do not depend on `-dbcache` (docs/BENCHMARKS.md,
//! "Memory and -dbcache", has the measured parts):
//! - 16 MiB: the script execution cache (`script_cache_bytes`, like Core's share of
//!   `-maxsigcachesize`);
//! - 16 MiB: LMDB's dirty pages of one write transaction, which it keeps for reuse (4,095 pages
//!   of 4 KiB: heed's `mdb_idl_logn_11`; LMDB spills to the file beyond that);
//! - 32 MiB: the import pipeline, blocks decoded ahead and the block being connected with its
//!   overlay, undo data and script checks (about 14 + 15 MiB measured with these 1.3 MB blocks);
//! - 64 MiB: the process itself and the allocator (libbitcoinkernel's context, thread stacks,
//!   free memory glibc keeps in its arenas: 20-25 MiB measured).

mod support;

use blvm_testkit::proc_memory::{MemoryPeaks, MemorySampler};
use blvm_testkit::scale_chain::{self, ScaleParams, ScaleSummary};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::crash::{self, FinalState};

/// Anonymous memory allowed on top of `-dbcache` (see the module documentation).
const OVERHEAD_MIB: u64 = 128;
/// The CI size of the scale chain (132 blocks).
const COINS: u64 = 1_000_000;

fn chain() -> (PathBuf, ScaleSummary) {
    let cache = std::env::var_os("BLVM_SCALE_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("blvm-scale"));
    scale_chain::cached(ScaleParams::issue14(COINS), &cache).expect("generate the scale chain")
}

/// Imports the chain with `-dbcache=<mib>` while sampling; returns the peaks, the debug.log
/// and the final state.
fn import(dbcache_mib: u64) -> (MemoryPeaks, String, FinalState) {
    let (file, summary) = chain();
    let dir = tempfile::tempdir().expect("datadir");
    let mut child = Command::new(support::node_bin())
        .arg("-regtest")
        .arg(format!("-datadir={}", dir.path().display()))
        .args(["-printtoconsole=0", "-par=2", "-debug=chain"])
        .arg(format!("-dbcache={dbcache_mib}"))
        .arg("import")
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn blvm-node");
    let sampler = MemorySampler::start(child.id());
    let status = crash::wait_with_timeout(&mut child, Duration::from_secs(300));
    let peaks = sampler.finish();
    let log = std::fs::read_to_string(crash::debug_log(dir.path())).unwrap_or_default();
    assert!(status.success(), "import with -dbcache={dbcache_mib} failed ({status}):\n{log}");
    let state = crash::read_state(dir.path());
    assert_eq!(state.tip.to_string(), summary.tip, "-dbcache={dbcache_mib}: tip");
    assert_eq!(state.txouts, summary.utxos, "-dbcache={dbcache_mib}: UTXO count");
    (peaks, log, state)
}

#[test]
fn peak_anonymous_memory_stays_within_dbcache_plus_the_stated_overhead() {
    let mut hashes = Vec::new();
    for dbcache in [32u64, 100] {
        let (peaks, log, state) = import(dbcache);
        let background = log
            .lines()
            .filter(|l| l.contains("flushing chainstate") && l.contains("background=true"))
            .count();
        let anon_mib = peaks.rss_anon_kib / 1024;
        println!(
            "-dbcache={dbcache}: peak RssAnon {anon_mib} MiB, RssFile {} MiB, VmHWM {} MiB ({} samples), {background} background flushes",
            peaks.rss_file_kib / 1024,
            peaks.vm_hwm_kib / 1024,
            peaks.samples
        );
        // The bound is only worth something if the cache filled, several times.
        assert!(background >= 2, "-dbcache={dbcache}: only {background} background flushes:\n{log}");
        assert!(peaks.samples >= 20, "-dbcache={dbcache}: too few samples: {peaks:?}");
        assert!(
            anon_mib <= dbcache + OVERHEAD_MIB,
            "-dbcache={dbcache}: peak RssAnon {anon_mib} MiB exceeds {dbcache} + {OVERHEAD_MIB} MiB ({peaks:?})"
        );
        hashes.push(state.utxo_hash);
    }
    assert_eq!(hashes[0], hashes[1], "the UTXO set does not depend on -dbcache");
}

//! `-loadblock` streams its file: a running node loading a block file much larger than its
//! memory budget keeps its peak resident memory near its idle size (one block is decoded at a
//! time), and ends at the file's chain.

mod support;

use support::{http, node_proc};

use bitcoin::consensus::serialize;
use std::io::{BufWriter, Write};
use std::time::Duration;

#[test]
fn a_block_file_larger_than_memory_budget_is_loaded_with_bounded_memory() {
    let blocks = support::chain_blocks();
    let tip = blocks.last().unwrap().block_hash();
    // Core's blk framing, the 300-block chain repeated until the file is about 160 MB: every
    // repetition after the first is duplicates, which the node reads, decodes and skips.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.blk");
    let mut out = BufWriter::new(std::fs::File::create(&file).unwrap());
    let frames: Vec<Vec<u8>> = blocks.iter().map(serialize).collect();
    let mut size = 0usize;
    while size < 160 << 20 {
        for raw in &frames {
            out.write_all(&bitcoin::Network::Regtest.magic().to_bytes()).unwrap();
            out.write_all(&(raw.len() as u32).to_le_bytes()).unwrap();
            out.write_all(raw).unwrap();
            size += 8 + raw.len();
        }
    }
    out.flush().unwrap();
    drop(out);
    let arg = format!("-loadblock={}", file.display());
    let port = http::free_port();
    let mut node = node_proc::start_node(&[&arg, &format!("-rpcport={port}")], &[]);
    node.wait_until(Duration::from_secs(240), "-loadblock to finish", |n| {
        n.log().contains("loaded blocks")
    });
    let pid = node.child.as_ref().unwrap().id();
    let peak_mib = node_proc::peak_rss_kib(pid) / 1024;
    eprintln!("peak RSS {peak_mib} MiB for a {} MiB file", size >> 20);
    let log = node.log();
    let loaded = log.lines().find(|l| l.contains("loaded blocks")).unwrap_or_default().to_string();
    // Every block but genesis is new the first time it is read, none after.
    let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest).block_hash();
    let new = blocks.iter().filter(|b| b.block_hash() != genesis).count();
    assert!(loaded.contains(&format!("blocks={new} ")), "{loaded}");
    let best = http::call(
        &format!("127.0.0.1:{port}"),
        &node_proc::cookie(&node),
        "getbestblockhash",
        serde_json::json!([]),
    );
    assert_eq!(best["result"].as_str(), Some(tip.to_string().as_str()), "{best}");
    node.stop(Duration::from_secs(30));
    assert!(peak_mib < 120, "peak RSS {peak_mib} MiB while loading a {} MiB file", size >> 20);
}

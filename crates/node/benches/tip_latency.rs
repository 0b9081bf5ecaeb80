//! Tip latency: how long a block of 3,000 transactions takes to connect when every one of them
//! was accepted to the mempool first, with the script execution cache (default
//! `-maxsigcachesize`) and without it (`-maxsigcachesize=0`).
//!
//! `cargo bench -p blvm-node --bench tip_latency` builds this in the release (bench) profile.
//! Each run builds a fresh regtest datadir: 101 blocks, one transaction funding 3,000 P2WPKH
//! outputs, then 3,000 signed P2WPKH spends accepted by the mempool (policy and scripts, as from
//! a peer), then times `process_block` of the block holding them all (2 script threads). The run
//! fails unless the cached connect is at least 5x faster (the bar). Without `--bench`
//! (e.g. `cargo test --benches`) a 300-transaction smoke version runs once.
//! `BLVM_BENCH_RUNS` sets the runs per mode (default 5; median and fastest reported).

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{Amount, Block, CompressedPublicKey, OutPoint, ScriptBuf, Transaction, TxOut, Witness};
use blvm_node::chain::{BlockOutcome, ChainManager, ChainSettings};
use blvm_node::mempool::{AcceptOptions, Mempool, MempoolSettings};
use blvm_node::params::ChainParams;
use blvm_testkit::mining::{self, Parent};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const VALUE: u64 = 100_000;
const FEE: u64 = 1_000;

fn op_true() -> ScriptBuf {
    ScriptBuf::from_bytes(vec![0x51])
}

/// The chain's next block on `parent` (tracking earlier timestamps for the median time past).
struct Miner {
    parent: Parent,
    times: Vec<u32>,
    tag: u64,
}

impl Miner {
    fn block(&mut self, txs: Vec<Transaction>, fees: u64) -> Block {
        self.tag += 1;
        let b = mining::build_block(&self.parent, self.tag, txs, Amount::from_sat(fees), op_true());
        self.times.push(self.parent.time);
        self.parent = Parent::from_block(&b, self.parent.height + 1, &self.times);
        b
    }
}

/// One signed P2WPKH spend of `input` (worth [`VALUE`]) to OP_TRUE.
fn sign(input: OutPoint, sk: &SecretKey, secp: &Secp256k1<bitcoin::secp256k1::All>) -> Transaction {
    let pk = sk.public_key(secp);
    let spk = ScriptBuf::new_p2wpkh(&CompressedPublicKey(pk).wpubkey_hash());
    let mut tx = mining::unsigned_spend(
        input,
        TxOut {
            value: Amount::from_sat(VALUE - FEE),
            script_pubkey: ScriptBuf::new_p2wsh(&op_true().wscript_hash()),
        },
    );
    let sighash = SighashCache::new(&tx)
        .p2wpkh_signature_hash(0, &spk, Amount::from_sat(VALUE), EcdsaSighashType::All)
        .expect("sighash");
    let sig = secp.sign_ecdsa(&Message::from_digest(sighash.to_byte_array()), sk);
    let mut der = sig.serialize_der().to_vec();
    der.push(EcdsaSighashType::All as u8);
    tx.input[0].witness = Witness::from_slice(&[der, pk.serialize().to_vec()]);
    tx
}

/// Sets up a chain whose mempool holds `n` signed spends; returns the connect time of the block
/// holding them and checks it connected.
fn run(n: usize, cache_bytes: usize) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = ChainSettings {
        script_threads: 2,
        script_cache_bytes: cache_bytes,
        ..Default::default()
    };
    let params = ChainParams::for_network(bitcoin::Network::Regtest);
    let genesis = params.genesis();
    let mut chain = ChainManager::open(params, dir.path(), settings).expect("open");
    let mut miner = Miner {
        parent: Parent::from_block(&genesis, 0, &[]),
        times: Vec::new(),
        tag: 0,
    };
    let mut first = None;
    for _ in 0..101 {
        let b = miner.block(vec![], 0);
        first.get_or_insert(b.txdata[0].compute_txid());
        assert_eq!(chain.process_block(&b).expect("block"), BlockOutcome::Accepted { connected: true });
    }
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[7u8; 32]).expect("key");
    let p2wpkh = ScriptBuf::new_p2wpkh(&CompressedPublicKey(sk.public_key(&secp)).wpubkey_hash());
    let funding = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![mining::unlock(OutPoint::new(first.expect("block 1"), 0), &op_true())],
        output: vec![
            TxOut {
                value: Amount::from_sat(VALUE),
                script_pubkey: p2wpkh,
            };
            n
        ],
    };
    let funding_fee = 50_0000_0000 - VALUE * n as u64;
    let funding_txid = funding.compute_txid();
    let b = miner.block(vec![funding], funding_fee);
    assert_eq!(chain.process_block(&b).expect("block"), BlockOutcome::Accepted { connected: true });

    let chain = Arc::new(Mutex::new(chain));
    let mempool = Mempool::new(MempoolSettings::default(), chain.clone(), None, dir.path());
    mempool.set_loaded();
    let spends: Vec<Transaction> = (0..n as u32).map(|i| sign(OutPoint::new(funding_txid, i), &sk, &secp)).collect();
    for tx in &spends {
        mempool
            .accept(tx.clone(), AcceptOptions::default())
            .expect("mempool accepts the spend");
    }
    let block = miner.block(spends, FEE * n as u64);
    let mut chain = chain.lock().expect("chain");
    let start = Instant::now();
    let outcome = chain.process_block(&block).expect("block");
    let took = start.elapsed();
    assert_eq!(outcome, BlockOutcome::Accepted { connected: true });
    took
}

fn summary(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (times[times.len() / 2], times[0])
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (n, runs) = if full {
        let runs = std::env::var("BLVM_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
        (3_000, runs)
    } else {
        (300, 1)
    };
    let default_cache = blvm_node::validation::script_cache::ScriptCache::bytes_for_max_sig_cache_mib(32);
    let mut with = Vec::new();
    let mut without = Vec::new();
    for _ in 0..runs {
        with.push(run(n, default_cache));
        without.push(run(n, 0));
    }
    let (with_med, with_min) = summary(with);
    let (without_med, without_min) = summary(without);
    let ratio = without_med.as_secs_f64() / with_med.as_secs_f64();
    println!("tip latency: block of {n} transactions, all accepted to the mempool first, 2 script threads, {runs} runs each");
    println!(
        "  with the script cache:    median {:>8.2} ms  (fastest {:.2} ms)",
        with_med.as_secs_f64() * 1e3,
        with_min.as_secs_f64() * 1e3
    );
    println!(
        "  without (-maxsigcachesize=0): median {:>8.2} ms  (fastest {:.2} ms)",
        without_med.as_secs_f64() * 1e3,
        without_min.as_secs_f64() * 1e3
    );
    println!("  speed-up: {ratio:.1}x");
    if full {
        assert!(ratio >= 5.0, "the cached connect must be at least 5x faster, was {ratio:.1}x");
    }
}

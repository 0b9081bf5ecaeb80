//! Mempool acceptance: a sequence of up to 32 transactions per input submitted to a real
//! `Mempool` over a regtest chain (built once per process) that has mature and immature
//! coinbases and a fan-out of small anyone-can-spend coins of several script kinds. Each
//! transaction is either raw bytes from the input or built from it (spends of coins that exist,
//! of outputs made earlier in the same input, or of unknown outpoints; chosen versions,
//! sequences, lock times, fees and output scripts). The pool is emptied before each input so a
//! crash replays. Three mempools over the same chain: standard policy with a small size limit,
//! `acceptnonstdtxn` with a tiny one (eviction on most inputs), and opt-in RBF only.
//!
//! Invariants after every submission: usage within `max_size_bytes`; the pool's totals equal the
//! sum of its entries; every entry passes `check_transaction`, owns its inputs in the spender
//! map, has parent/child links that agree, and is in a cluster within `cluster_count`; an accepted
//! (non-test) transaction is in the pool; a package test-accept leaves the pool unchanged; a
//! block template lists only pool transactions, parents first.
#![no_main]

use bitcoin::hashes::Hash;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use blvm_node::chain::{BlockOutcome, ChainManager, ChainSettings};
use blvm_node::mempool::{AcceptOptions, Mempool, MempoolSettings, Pool};
use blvm_node::params::ChainParams;
use blvm_node::validation::tx_check::check_transaction;
use blvm_testkit::mining::{self, Parent};
use libfuzzer_sys::arbitrary::{Result as AResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, Mutex, OnceLock};

/// The fixed clock of every mempool (after all block times, so nothing in the pool expires
/// unless its entry time comes from the input).
const NOW: i64 = 2_000_000_000;

fn clock() -> i64 {
    NOW
}

struct Fixture {
    _dir: tempfile::TempDir,
    pools: Vec<Arc<Mempool>>,
    coins: Vec<(OutPoint, TxOut)>,
}

fn p2a() -> ScriptBuf {
    ScriptBuf::from_bytes(vec![0x51, 0x02, 0x4e, 0x73])
}

fn payout(i: u32) -> ScriptBuf {
    match i % 3 {
        0 => mining::p2wsh_op_true(),
        1 => mining::p2sh_op_true(),
        _ => mining::op_true(),
    }
}

fn build_fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = ChainSettings {
        dbcache_bytes: 8 << 20,
        script_threads: 1,
        ..Default::default()
    };
    let mut chain = ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), dir.path(), settings).expect("open chain");
    let mut coinbases: Vec<(OutPoint, TxOut, u32)> = Vec::new();
    let mut times = Vec::new();
    let mut parent = {
        let g = chain.tip();
        Parent {
            hash: g.hash,
            height: 0,
            time: g.header.time,
            mtp: i64::from(g.header.time),
        }
    };
    let connect = |chain: &mut ChainManager, parent: &mut Parent, times: &mut Vec<u32>, block: &bitcoin::Block| {
        assert_eq!(
            chain.process_block(block).expect("process"),
            BlockOutcome::Accepted { connected: true }
        );
        times.push(parent.time);
        *parent = Parent::from_block(block, parent.height + 1, times);
    };
    for i in 0..110u32 {
        let b = mining::build_block(&parent, u64::from(i), vec![], Amount::ZERO, payout(i));
        let cb = &b.txdata[0];
        coinbases.push((
            OutPoint {
                txid: cb.compute_txid(),
                vout: 0,
            },
            cb.output[0].clone(),
            i + 1,
        ));
        connect(&mut chain, &mut parent, &mut times, &b);
    }
    // Block 111: three coinbases fanned out into many small coins of several script kinds.
    let scripts = [mining::p2wsh_op_true(), mining::p2sh_op_true(), mining::op_true(), p2a()];
    let values = [
        240u64,
        330,
        546,
        1_000,
        5_000,
        20_000,
        100_000,
        1_000_000,
        100_000_000,
        1_000_000_000,
    ];
    let mut fan = Vec::new();
    for (op, out, _) in coinbases.iter().take(3) {
        let outputs: Vec<TxOut> = (0..values.len() * scripts.len())
            .map(|k| TxOut {
                value: Amount::from_sat(values[k % values.len()]),
                script_pubkey: scripts[(k / values.len()) % scripts.len()].clone(),
            })
            .collect();
        fan.push(mining::spend(&[(*op, out.script_pubkey.clone())], outputs));
    }
    let b = mining::build_block(&parent, 1000, fan.clone(), Amount::ZERO, mining::p2wsh_op_true());
    connect(&mut chain, &mut parent, &mut times, &b);
    chain.take_notifications();
    let mut coins: Vec<(OutPoint, TxOut)> = Vec::new();
    // Mature coinbases (heights 4..=12 at next height 112) and a few immature ones.
    for (op, out, h) in &coinbases {
        if (4..=12).contains(h) || *h >= 105 {
            coins.push((*op, out.clone()));
        }
    }
    for tx in &fan {
        let txid = tx.compute_txid();
        for (vout, out) in tx.output.iter().enumerate() {
            coins.push((OutPoint { txid, vout: vout as u32 }, out.clone()));
        }
    }
    let chain = Arc::new(Mutex::new(chain));
    let base = MempoolSettings {
        clock,
        persist: false,
        ..Default::default()
    };
    let variants = [
        MempoolSettings {
            max_size_bytes: 40_000,
            ..base.clone()
        },
        MempoolSettings {
            max_size_bytes: 6_000,
            require_standard: false,
            ..base.clone()
        },
        MempoolSettings {
            max_size_bytes: 40_000,
            full_rbf: false,
            ..base
        },
    ];
    let pools = variants
        .into_iter()
        .map(|s| {
            let mp = Mempool::new(s, chain.clone(), None, dir.path());
            mp.set_loaded();
            mp
        })
        .collect();
    Fixture { _dir: dir, pools, coins }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(build_fixture)
}

fn pick<'a, T>(u: &mut Unstructured, items: &'a [T]) -> AResult<&'a T> {
    let i = u.choose_index(items.len())?;
    Ok(&items[i])
}

fn output_script(u: &mut Unstructured) -> AResult<ScriptBuf> {
    Ok(match u.int_in_range(0..=9u8)? {
        0 | 1 => mining::p2wsh_op_true(),
        2 => mining::p2sh_op_true(),
        3 => mining::op_true(),
        4 => p2a(),
        5 => ScriptBuf::new_op_return([0u8; 20]),
        6 => mining::big_op_return(usize::from(u.int_in_range(0..=1000u16)?)),
        7 => ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array(u.arbitrary()?)),
        _ => {
            let len = u.int_in_range(0..=64usize)?;
            ScriptBuf::from_bytes(u.bytes(len)?.to_vec())
        }
    })
}

/// A transaction built from the input: spends of fixture coins, of outputs made earlier in this
/// input (`made`), or of unknown outpoints.
fn build_tx(u: &mut Unstructured, coins: &[(OutPoint, TxOut)], made: &[(OutPoint, TxOut)]) -> AResult<Transaction> {
    let version = match u.int_in_range(0..=7u8)? {
        0 => 1,
        1..=4 => 2,
        5 | 6 => 3,
        _ => u.arbitrary()?,
    };
    let lock_time = if u.ratio(1, 4)? { u.arbitrary::<u32>()? } else { 0 };
    let mut input = Vec::new();
    let mut value_in = 0u64;
    for _ in 0..u.int_in_range(1..=4u8)? {
        let (op, prev) = match u.int_in_range(0..=7u8)? {
            0..=3 => pick(u, coins)?.clone(),
            4..=6 if !made.is_empty() => pick(u, made)?.clone(),
            _ => (
                OutPoint {
                    txid: Txid::from_byte_array(u.arbitrary()?),
                    vout: u.int_in_range(0..=3)?,
                },
                TxOut {
                    value: Amount::from_sat(u.arbitrary::<u32>()?.into()),
                    script_pubkey: mining::p2wsh_op_true(),
                },
            ),
        };
        let mut txin = if mining::is_anyone_can_spend(&prev.script_pubkey) {
            mining::unlock(op, &prev.script_pubkey)
        } else {
            TxIn {
                previous_output: op,
                ..Default::default()
            }
        };
        txin.sequence = match u.int_in_range(0..=3u8)? {
            0 => Sequence::MAX,
            1 => Sequence::ENABLE_RBF_NO_LOCKTIME,
            2 => Sequence::from_height(u.int_in_range(0..=3)?),
            _ => Sequence(u.arbitrary()?),
        };
        if u.ratio(1, 16)? {
            let len = u.int_in_range(0..=80usize)?;
            txin.witness = Witness::from_slice(&[u.bytes(len)?]);
        }
        if u.ratio(1, 16)? {
            let len = u.int_in_range(0..=40usize)?;
            txin.script_sig = ScriptBuf::from_bytes(u.bytes(len)?.to_vec());
        }
        value_in = value_in.saturating_add(prev.value.to_sat());
        input.push(txin);
    }
    let fee = match u.int_in_range(0..=4u8)? {
        0 => 0,
        1 => 200,
        2 => 2_000,
        3 => 100_000,
        _ => u.arbitrary::<u32>()?.into(),
    };
    let mut left = value_in.saturating_sub(fee);
    let n_out = u.int_in_range(0..=4u8)?;
    let mut output = Vec::new();
    for k in 0..n_out {
        let value = match u.int_in_range(0..=7u8)? {
            0 => u.arbitrary()?,
            1 => 0,
            _ if k + 1 == n_out => left,
            _ => left / 256 * u64::from(u.arbitrary::<u8>()?),
        };
        left = left.saturating_sub(value);
        output.push(TxOut {
            value: Amount::from_sat(value),
            script_pubkey: output_script(u)?,
        });
    }
    Ok(Transaction {
        version: bitcoin::transaction::Version(version),
        lock_time: bitcoin::absolute::LockTime::from_consensus(lock_time),
        input,
        output,
    })
}

/// The pool's internal consistency and its limits.
fn check_pool(pool: &Pool, settings: &MempoolSettings) {
    assert!(pool.usage() <= settings.max_size_bytes, "usage {} over the limit", pool.usage());
    let (mut vsize, mut fee, mut usage) = (0u64, 0u64, 0u64);
    for e in pool.entries() {
        vsize += e.vsize;
        fee += e.fee;
        usage += e.usage();
        assert!(check_transaction(&e.tx).is_ok(), "consensus-invalid entry {}", e.txid);
        for i in &e.tx.input {
            assert_eq!(pool.spender(&i.previous_output), Some(e.txid), "spender map");
        }
        assert_eq!(e.parents, pool.parents_of(&e.tx), "parent links");
        for p in &e.parents {
            assert!(pool.get(p).is_some_and(|pe| pe.children.contains(&e.txid)), "child link");
        }
        for c in &e.children {
            assert!(pool.get(c).is_some_and(|ce| ce.parents.contains(&e.txid)), "parent link");
        }
        assert!(
            blvm_node::mempool::cluster::members(pool, &e.txid).len() as u64 <= settings.limits.cluster_count,
            "cluster count"
        );
    }
    assert_eq!(vsize, pool.total_vsize(), "total vsize");
    assert_eq!(fee, pool.total_fee(), "total fee");
    assert_eq!(usage, pool.usage(), "usage");
}

fn run(u: &mut Unstructured) -> AResult<()> {
    let f = fixture();
    let mp = pick(u, &f.pools)?;
    *mp.pool() = Pool::new();
    let mut made: Vec<(OutPoint, TxOut)> = Vec::new();
    let mut built: Vec<Transaction> = Vec::new();
    for _ in 0..32 {
        if u.is_empty() {
            break;
        }
        let tx = if u.ratio(1, 4)? {
            let len = u.int_in_range(0..=4000usize)?;
            match bitcoin::consensus::deserialize::<Transaction>(u.bytes(len)?) {
                Ok(tx) => tx,
                Err(_) => continue,
            }
        } else {
            build_tx(u, &f.coins, &made)?
        };
        let txid = tx.compute_txid();
        made.extend(
            tx.output
                .iter()
                .enumerate()
                .map(|(v, o)| (OutPoint { txid, vout: v as u32 }, o.clone())),
        );
        built.push(tx.clone());
        let opts = AcceptOptions {
            test_accept: u.ratio(1, 8)?,
            accept_time: if u.ratio(1, 16)? { Some(u.arbitrary()?) } else { None },
            allow_replacement: !u.ratio(1, 8)?,
            ..Default::default()
        };
        let r = mp.accept(tx.clone(), opts);
        if r.is_ok() {
            assert!(check_transaction(&tx).is_ok(), "accepted a consensus-invalid transaction");
            if !opts.test_accept {
                assert!(mp.contains(&txid), "accepted but not in the pool");
            }
        }
        check_pool(&mp.pool(), mp.settings());
        if u.ratio(1, 8)? {
            let before = mp.txids();
            let from = built.len().saturating_sub(3);
            let _ = mp.test_accept_package(built[from..].to_vec());
            assert_eq!(before, mp.txids(), "package test-accept changed the pool");
        }
    }
    if u.ratio(1, 2)? {
        let t = mp.block_template(NOW);
        let pool = mp.pool();
        let mut seen = std::collections::HashSet::new();
        for (i, tt) in t.txs.iter().enumerate() {
            let e = pool.get(&tt.txid).expect("template transaction not in the pool");
            assert!(
                e.parents.iter().all(|p| seen.contains(p)),
                "template lists a child before its parent"
            );
            assert!(tt.depends.iter().all(|d| *d < i), "template depends on a later transaction");
            seen.insert(tt.txid);
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});

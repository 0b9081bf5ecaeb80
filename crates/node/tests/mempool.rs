//! Mempool tests on a real on-disk regtest chain: acceptance, each of Core's reject reasons,
//! RBF replacement and its rejections, TRUC rules, eviction when full, expiry, removal on block
//! connect, re-admission after a reorg, block templates, and persistence across a node restart.

mod support;

use support::mining;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::script::PushBytesBuf;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{Amount, Block, CompressedPublicKey, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use blvm_module::{EventPayload, EventType};
use blvm_node::chain::{BlockOutcome, ChainManager};
use blvm_node::mempool::{AcceptOptions, Mempool, MempoolSettings};
use blvm_node::modules::bus::{EventBus, Outgoing, Subscriber};
use blvm_node::validation::Reject;
use mining::{p2wsh_op_true, Parent};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const COIN: u64 = 100_000_000;

struct Env {
    dir: tempfile::TempDir,
    chain: Arc<Mutex<ChainManager>>,
    mp: Arc<Mempool>,
    sub: Arc<Subscriber>,
    tag: AtomicU64,
    next_coinbase: AtomicU32,
}

fn bus_and_sub() -> (Arc<EventBus>, Arc<Subscriber>) {
    let bus = EventBus::new(1, 100_000, 16);
    let sub = bus.register("test");
    bus.subscribe(
        &sub,
        &[
            EventType::NewTransaction,
            EventType::MempoolTransactionAdded,
            EventType::MempoolTransactionRemoved,
        ],
        None,
    );
    (bus, sub)
}

/// A regtest chain of 110 blocks paying P2WSH(OP_TRUE), and a mempool over it.
fn env_with(settings: MempoolSettings) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = support::open_regtest(dir.path());
    for i in 0..110u64 {
        let parent = mining::parent_of(&chain, &chain.tip().hash);
        let b = mining::build_block(&parent, i, vec![], Amount::ZERO, p2wsh_op_true());
        assert_eq!(chain.process_block(&b).unwrap(), BlockOutcome::Accepted { connected: true });
    }
    chain.take_notifications();
    let chain = Arc::new(Mutex::new(chain));
    let (bus, sub) = bus_and_sub();
    let mp = Mempool::new(settings, chain.clone(), Some(bus), dir.path());
    mp.set_loaded();
    Env {
        dir,
        chain,
        mp,
        sub,
        tag: AtomicU64::new(1000),
        next_coinbase: AtomicU32::new(1),
    }
}

fn env() -> Env {
    env_with(MempoolSettings::default())
}

impl Env {
    fn tip_height(&self) -> u32 {
        self.chain.lock().unwrap().height()
    }

    fn parent(&self) -> Parent {
        let c = self.chain.lock().unwrap();
        mining::parent_of(&c, &c.tip().hash)
    }

    /// Processes a block and updates the mempool as the node does.
    fn connect(&self, block: &Block) -> BlockOutcome {
        let mut c = self.chain.lock().unwrap();
        let out = c.process_block(block).unwrap();
        let notes = c.take_notifications();
        self.mp.update_for_chain(&mut c, &notes);
        drop(c);
        self.mp.publish_pending();
        out
    }

    /// Mines `txs` (not through the mempool) in a block on `parent`.
    fn mine_on(&self, parent: &Parent, txs: Vec<Transaction>) -> Block {
        let b = mining::build_block(parent, self.tag.fetch_add(1, Ordering::SeqCst), txs, Amount::ZERO, p2wsh_op_true());
        self.connect(&b);
        b
    }

    fn mine(&self, txs: Vec<Transaction>) -> Block {
        let b = self.mine_on(&self.parent(), txs);
        assert_eq!(self.chain.lock().unwrap().tip().hash, b.block_hash(), "block connected");
        b
    }

    /// Mines a block from the mempool's template (ancestor-feerate selection).
    fn mine_template(&self) -> Block {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let t = self.mp.block_template(now);
        let mut b = t.block(&p2wsh_op_true());
        let mut tries = u64::MAX;
        assert!(blvm_node::mempool::template::solve(&mut b.header, &mut tries));
        assert_eq!(self.connect(&b), BlockOutcome::Accepted { connected: true });
        b
    }

    /// The next mature coinbase output (50 BTC to P2WSH(OP_TRUE)).
    fn coinbase(&self) -> (OutPoint, TxOut) {
        let h = self.next_coinbase.fetch_add(1, Ordering::SeqCst);
        assert!(self.tip_height() + 1 - h >= 100, "coinbase at {h} is mature");
        let c = self.chain.lock().unwrap();
        let b = c.read_block(&c.hash_at(h).unwrap()).unwrap().unwrap();
        let cb = &b.txdata[0];
        (
            OutPoint {
                txid: cb.compute_txid(),
                vout: 0,
            },
            cb.output[0].clone(),
        )
    }

    /// Confirms a fan-out transaction creating `outputs` from a mature coinbase; returns the
    /// new outpoints.
    fn fund(&self, outputs: Vec<TxOut>) -> Vec<(OutPoint, TxOut)> {
        let (op, prev) = self.coinbase();
        let tx = mining::spend(&[(op, prev.script_pubkey)], outputs.clone());
        let txid = tx.compute_txid();
        self.mine(vec![tx]);
        outputs
            .into_iter()
            .enumerate()
            .map(|(i, o)| (OutPoint { txid, vout: i as u32 }, o))
            .collect()
    }

    fn fund_op_true(&self, n: usize, value: u64) -> Vec<OutPoint> {
        self.fund(
            (0..n)
                .map(|_| TxOut {
                    value: Amount::from_sat(value),
                    script_pubkey: p2wsh_op_true(),
                })
                .collect(),
        )
        .into_iter()
        .map(|(o, _)| o)
        .collect()
    }

    fn accept(&self, tx: &Transaction) -> Result<Txid, Reject> {
        self.mp.accept(tx.clone(), AcceptOptions::default()).map(|a| a.txid)
    }

    fn reject(&self, tx: &Transaction) -> Reject {
        match self.accept(tx) {
            Ok(t) => panic!("transaction {t} was accepted"),
            Err(r) => r,
        }
    }

    fn events(&self) -> Vec<EventPayload> {
        let mut out = Vec::new();
        while let Some(o) = self.sub.try_next() {
            if let Outgoing::Event(e) = o {
                out.push(e.payload.clone());
            }
        }
        out
    }
}

fn op_true_out(value: u64) -> TxOut {
    TxOut {
        value: Amount::from_sat(value),
        script_pubkey: p2wsh_op_true(),
    }
}

/// Spends P2WSH(OP_TRUE) outpoints into P2WSH(OP_TRUE) outputs.
fn spend(inputs: &[OutPoint], outputs: Vec<TxOut>) -> Transaction {
    let ins: Vec<(OutPoint, ScriptBuf)> = inputs.iter().map(|o| (*o, p2wsh_op_true())).collect();
    mining::spend(&ins, outputs)
}

/// One input of `value` to one output paying `fee`.
fn pay(input: OutPoint, value: u64, fee: u64) -> Transaction {
    spend(&[input], vec![op_true_out(value - fee)])
}

fn removed(events: &[EventPayload]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            EventPayload::MempoolTransactionRemoved { txid, reason } => Some((txid.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}

fn added(events: &[EventPayload]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            EventPayload::MempoolTransactionAdded { txid, .. } => Some(txid.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn accepts_a_chain_of_spends_with_fees_sizes_and_graph() {
    let e = env();
    let ops = e.fund_op_true(2, COIN);
    e.events();
    let a = pay(ops[0], COIN, 1_000);
    let a_id = e.accept(&a).unwrap();
    let b = pay(OutPoint { txid: a_id, vout: 0 }, COIN - 1_000, 2_000);
    let b_id = e.accept(&b).unwrap();
    let entry = e.mp.entry(&a_id).unwrap();
    assert_eq!(entry.fee, 1_000);
    assert_eq!(entry.vsize, a.vsize() as u64);
    assert_eq!(entry.weight, a.weight().to_wu());
    assert_eq!(entry.height, e.tip_height());
    let pool = e.mp.pool();
    assert_eq!(pool.descendant_stats(&a_id).count, 2);
    assert_eq!(pool.ancestor_stats(&b_id).count, 2);
    assert_eq!(pool.ancestor_stats(&b_id).fee, 3_000);
    assert!(pool.ancestors(&b_id).contains(&a_id));
    drop(pool);
    let s = e.mp.stats();
    assert_eq!((s.size, s.total_fee, s.bytes), (2, 3_000, (a.vsize() + b.vsize()) as u64));
    assert_eq!(s.min_fee, 100, "min relay feerate (Core v30 default 100 sat/kvB)");
    let ev = e.events();
    assert_eq!(added(&ev), vec![a_id.to_string(), b_id.to_string()]);
    assert!(ev.iter().any(|x| matches!(x, EventPayload::NewTransaction { txid, wtxid } if *txid == a_id.to_string() && *wtxid == a.compute_wtxid().to_string())));
    assert!(ev
        .iter()
        .any(|x| matches!(x, EventPayload::MempoolTransactionAdded { fee_sat: 1_000, vsize, .. } if *vsize == a.vsize() as u64)));
    // testmempoolaccept-style check does not add.
    let c = pay(ops[1], COIN, 500);
    let r =
        e.mp.accept(
            c.clone(),
            AcceptOptions {
                test_accept: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!((r.fee, r.vsize), (500, c.vsize() as u64));
    assert!(!e.mp.contains(&c.compute_txid()));
    // A P2A anchor output and its spend are standard.
    let d = spend(
        &[ops[1]],
        vec![
            TxOut {
                value: Amount::from_sat(1_000),
                script_pubkey: ScriptBuf::new_p2a(),
            },
            op_true_out(COIN - 10_000),
        ],
    );
    let d_id = e.accept(&d).unwrap();
    let d2 = mining::spend(
        &[(OutPoint { txid: d_id, vout: 0 }, ScriptBuf::new_p2a())],
        vec![
            TxOut {
                value: Amount::from_sat(400),
                script_pubkey: ScriptBuf::new_p2a(),
            },
            op_true_out(500),
        ],
    );
    e.accept(&d2).unwrap();
}

fn key() -> (SecretKey, bitcoin::secp256k1::PublicKey) {
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[7u8; 32]).unwrap();
    (sk, sk.public_key(&secp))
}

/// DER-encodes (r, s) plus a sighash byte.
fn der(r: &[u8], s: &[u8], sighash: u8) -> Vec<u8> {
    let int = |x: &[u8]| {
        let mut v: Vec<u8> = x.iter().copied().skip_while(|b| *b == 0).collect();
        if v.first().map(|b| b & 0x80 != 0).unwrap_or(true) {
            v.insert(0, 0);
        }
        v
    };
    let (r, s) = (int(r), int(s));
    let mut out = vec![0x30, (4 + r.len() + s.len()) as u8, 0x02, r.len() as u8];
    out.extend(&r);
    out.extend([0x02, s.len() as u8]);
    out.extend(&s);
    out.push(sighash);
    out
}

/// A signed P2WPKH spend; `high_s` replaces S by n - S (valid by consensus, non-standard).
fn p2wpkh_spend(input: OutPoint, value: u64, fee: u64, high_s: bool) -> Transaction {
    let (sk, pk) = key();
    let spk = ScriptBuf::new_p2wpkh(&CompressedPublicKey(pk).wpubkey_hash());
    let mut tx = mining::unsigned_spend(input, op_true_out(value - fee));
    let sighash = SighashCache::new(&tx)
        .p2wpkh_signature_hash(0, &spk, Amount::from_sat(value), EcdsaSighashType::All)
        .unwrap();
    let sig = Secp256k1::new()
        .sign_ecdsa(&Message::from_digest(sighash.to_byte_array()), &sk)
        .serialize_compact();
    let (r, mut s) = (sig[..32].to_vec(), sig[32..].to_vec());
    if high_s {
        let n: [u8; 32] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf,
            0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
        ];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = i16::from(n[i]) - i16::from(s[i]) - borrow;
            borrow = i16::from(d < 0);
            s[i] = (d + if d < 0 { 256 } else { 0 }) as u8;
        }
    }
    tx.input[0].witness = Witness::from_slice(&[der(&r, &s, 0x01), pk.serialize().to_vec()]);
    tx
}

fn expect(r: Reject, reason: &str) {
    assert_eq!(r.reason, reason, "detail: {}", r.detail);
}

#[test]
fn each_reject_reason_uses_cores_string() {
    let e = env();
    let (_, pk) = key();
    let p2wpkh = ScriptBuf::new_p2wpkh(&CompressedPublicKey(pk).wpubkey_hash());
    let p2sh_true = ScriptBuf::new_p2sh(&ScriptBuf::from_bytes(vec![0x51]).script_hash());
    let p2sh_v2 = ScriptBuf::new_p2sh(&ScriptBuf::from_bytes(vec![0x52, 0x02, 0xab, 0xcd]).script_hash());
    let mut outs: Vec<TxOut> = (0..60).map(|_| op_true_out(COIN / 2)).collect();
    outs.push(TxOut {
        value: Amount::from_sat(COIN / 2),
        script_pubkey: p2wpkh.clone(),
    }); // 60
    outs.push(TxOut {
        value: Amount::from_sat(COIN / 2),
        script_pubkey: mining::op_true(),
    }); // 61: bare OP_TRUE
    outs.push(TxOut {
        value: Amount::from_sat(COIN / 2),
        script_pubkey: p2sh_true.clone(),
    }); // 62
    outs.push(TxOut {
        value: Amount::from_sat(COIN / 2),
        script_pubkey: p2sh_v2.clone(),
    }); // 63
    outs.push(TxOut {
        value: Amount::from_sat(COIN / 2),
        script_pubkey: ScriptBuf::from_bytes(vec![0x52, 0x02, 0xab, 0xcd]),
    }); // 64: witness v2
    let funded = e.fund(outs);
    let op = |i: usize| funded[i].0;
    let half = COIN / 2;

    // Signed P2WPKH: a low-S signature is accepted; the same spend with high S is not.
    expect(
        e.reject(&p2wpkh_spend(op(60), half, 1_000, true)),
        "mempool-script-verify-flag-failed (Non-canonical signature: S value is unnecessarily high)",
    );
    e.accept(&p2wpkh_spend(op(60), half, 1_000, false)).unwrap();

    expect(
        e.reject(&pay(
            OutPoint {
                txid: Txid::from_byte_array([9; 32]),
                vout: 0,
            },
            half,
            1_000,
        )),
        "bad-txns-inputs-missingorspent",
    );
    let a = pay(op(0), half, 1_000);
    e.accept(&a).unwrap();
    expect(e.reject(&a), "txn-already-in-mempool");
    expect(e.reject(&pay(op(1), half, 0)), "min relay fee not met");
    let r = e.reject(&pay(op(1), half, 5));
    assert_eq!(
        (r.reason.as_str(), r.detail.as_str()),
        (
            "min relay fee not met",
            &*format!("5 < {}", (pay(op(1), half, 5).vsize() as u64 * 100).div_ceil(1000))
        )
    );
    expect(
        e.reject(&spend(
            &[op(1)],
            vec![op_true_out(100), op_true_out(100), op_true_out(half - 10_000)],
        )),
        "dust",
    );
    let one_dust = e.reject(&spend(&[op(1)], vec![op_true_out(100), op_true_out(half - 10_000)]));
    assert_eq!(
        (one_dust.reason.as_str(), one_dust.detail.as_str()),
        ("dust", "tx with dust output must be 0-fee")
    );
    expect(
        e.reject(&spend(
            &[op(1)],
            vec![TxOut {
                value: Amount::from_sat(half - 1_000),
                script_pubkey: mining::op_true(),
            }],
        )),
        "scriptpubkey",
    );
    let mut not_push = pay(op(1), half, 1_000);
    not_push.input[0].script_sig = ScriptBuf::from_bytes(vec![0x61]);
    expect(e.reject(&not_push), "scriptsig-not-pushonly");
    let big = spend(&[op(1)], (0..3000).map(|_| op_true_out(1_000)).collect());
    expect(e.reject(&big), "tx-size");
    let small = spend(
        &[op(1)],
        vec![TxOut {
            value: Amount::from_sat(half - 1_000),
            script_pubkey: ScriptBuf::new_p2a(),
        }],
    );
    expect(e.reject(&small), "tx-size-small");
    let mut future = pay(op(1), half, 1_000);
    future.lock_time = LockTime::from_height(e.tip_height() + 5).unwrap();
    future.input[0].sequence = Sequence(0xffff_fffe);
    expect(e.reject(&future), "non-final");
    let mut at_next = future.clone();
    at_next.lock_time = LockTime::from_height(e.tip_height()).unwrap();
    e.mp.accept(
        at_next,
        AcceptOptions {
            test_accept: true,
            ..Default::default()
        },
    )
    .expect("locktime below the next height is final");
    let mut relative = pay(op(1), half, 1_000);
    relative.input[0].sequence = Sequence(5);
    expect(e.reject(&relative), "non-BIP68-final");
    let tip_cb = {
        let c = e.chain.lock().unwrap();
        let b = c.read_block(&c.tip().hash).unwrap().unwrap();
        OutPoint {
            txid: b.txdata[0].compute_txid(),
            vout: 0,
        }
    };
    expect(e.reject(&pay(tip_cb, 50 * COIN, 1_000)), "bad-txns-premature-spend-of-coinbase");
    expect(e.reject(&spend(&[op(1)], vec![op_true_out(half + 1)])), "bad-txns-in-belowout");
    expect(
        e.reject(&mining::spend(&[(op(61), mining::op_true())], vec![op_true_out(half - 1_000)])),
        "bad-txns-nonstandard-inputs",
    );
    let mut v2_native = pay(op(64), half, 1_000);
    v2_native.input[0].witness = Witness::new();
    expect(e.reject(&v2_native), "bad-txns-nonstandard-inputs");
    let mut stuffed = pay(op(1), half, 1_000);
    stuffed.input[0].witness = Witness::from_slice(&[vec![1u8; 81], vec![0x51]]);
    expect(e.reject(&stuffed), "bad-witness-nonstandard");
    let mut wrong_script = pay(op(1), half, 1_000);
    wrong_script.input[0].witness = Witness::from_slice(&[[0x52u8]]);
    expect(
        e.reject(&wrong_script),
        "mempool-script-verify-flag-failed (Witness program hash mismatch)",
    );
    // P2SH(OP_TRUE): the minimal push is accepted, PUSHDATA1 for one byte is not.
    let p2sh_spend = |sig: Vec<u8>| Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: op(62),
            script_sig: ScriptBuf::from_bytes(sig),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![op_true_out(half - 1_000)],
    };
    expect(
        e.reject(&p2sh_spend(vec![0x4c, 0x01, 0x51])),
        "mempool-script-verify-flag-failed (Data push larger than necessary)",
    );
    e.accept(&p2sh_spend(vec![0x01, 0x51])).unwrap();
    // P2SH-wrapped witness v2: anyone-can-spend by consensus, discouraged by policy.
    let mut wrapped = pay(op(63), half, 1_000);
    wrapped.input[0].witness = Witness::new();
    wrapped.input[0].script_sig = ScriptBuf::builder()
        .push_slice(PushBytesBuf::try_from(vec![0x52, 0x02, 0xab, 0xcd]).unwrap())
        .into_script();
    expect(
        e.reject(&wrapped),
        "mempool-script-verify-flag-failed (Witness version reserved for soft-fork upgrades)",
    );
    // Cluster limits (Core 31): 64 in a chain, the 65th is refused.
    let mut prev = op(2);
    let mut value = half;
    for i in 0..64 {
        let t = pay(prev, value, 1_000);
        prev = OutPoint {
            txid: e.accept(&t).unwrap_or_else(|r| panic!("chain tx {i}: {r}")),
            vout: 0,
        };
        value -= 1_000;
    }
    let r = e.reject(&pay(prev, value, 1_000));
    assert_eq!((r.reason.as_str(), r.detail.as_str()), ("too-large-cluster", ""));
    // Core's sigop limit for one standard transaction.
    let bare_multisig = ScriptBuf::from_bytes([vec![0x51, 33, 0x02], vec![0x11; 32], vec![0x51, 0xae]].concat());
    let many_sigops = spend(
        &[op(3)],
        (0..201)
            .map(|_| TxOut {
                value: Amount::from_sat(1_000),
                script_pubkey: bare_multisig.clone(),
            })
            .chain([op_true_out(half - 1_000_000)])
            .collect(),
    );
    let r = e.reject(&many_sigops);
    assert_eq!((r.reason.as_str(), r.detail.as_str()), ("bad-txns-too-many-sigops", "16080"));
    // A confirmed transaction whose outputs are in the UTXO set.
    let confirmed = pay(op(4), half, 1_000);
    e.mine(vec![confirmed.clone()]);
    expect(e.reject(&confirmed), "txn-already-known");
}

#[test]
fn full_rbf_replacement_and_its_rejections() {
    let e = env();
    let v = COIN / 4;
    let ops = e.fund_op_true(110, v);
    // A with a child; B replaces A (higher fee and feerate): A and its child leave as "replaced".
    let a = pay(ops[0], v, 1_000);
    let a_id = e.accept(&a).unwrap();
    let child = pay(OutPoint { txid: a_id, vout: 0 }, v - 1_000, 1_000);
    let child_id = e.accept(&child).unwrap();
    e.events();
    let b = pay(ops[0], v, 5_000);
    let r = e.mp.accept(b.clone(), AcceptOptions::default()).unwrap();
    let mut replaced = r.replaced.clone();
    replaced.sort();
    let mut want = vec![a_id, child_id];
    want.sort();
    assert_eq!(replaced, want);
    assert!(!e.mp.contains(&a_id) && !e.mp.contains(&child_id) && e.mp.contains(&b.compute_txid()));
    let ev = e.events();
    let mut rm = removed(&ev);
    rm.sort();
    let mut want_rm = vec![
        (a_id.to_string(), "replaced".to_string()),
        (child_id.to_string(), "replaced".to_string()),
    ];
    want_rm.sort();
    assert_eq!(rm, want_rm);
    assert_eq!(added(&ev), vec![b.compute_txid().to_string()]);

    // Core 31's feerate diagram: more fee, but a lower feerate than the conflict.
    let bigger = spend(&[ops[0]], vec![op_true_out(v / 2), op_true_out(v / 2 - 7_000)]);
    let r = e.reject(&bigger);
    assert_eq!(
        (r.reason.as_str(), r.detail.as_str()),
        ("insufficient fee", "insufficient feerate: does not improve feerate diagram")
    );
    // Rule 3: higher feerate but less absolute fee than everything evicted.
    let c = spend(&[ops[1]], vec![op_true_out(v / 2), op_true_out(v / 2 - 2_000)]);
    e.accept(&c).unwrap();
    let r = e.reject(&pay(ops[1], v, 1_900));
    assert_eq!(r.reason, "insufficient fee");
    assert!(r.detail.contains("less fees than conflicting txs"), "{}", r.detail);
    // Rule 4: the extra fee must pay for the replacement's own relay.
    let d = pay(ops[2], v, 1_000);
    e.accept(&d).unwrap();
    let r = e.reject(&pay(ops[2], v, 1_005));
    assert_eq!(r.reason, "insufficient fee");
    assert!(r.detail.contains("not enough additional fees to relay"), "{}", r.detail);
    // Spending an output of the transaction it conflicts with.
    let r = e.reject(&spend(
        &[
            ops[2],
            OutPoint {
                txid: d.compute_txid(),
                vout: 0,
            },
        ],
        vec![op_true_out(v)],
    ));
    assert_eq!(r.reason, "bad-txns-spends-conflicting-tx");
    // New unconfirmed inputs are allowed (Core 31 dropped BIP125 rule 2); the diagram judges
    // the parent's cluster too: a replacement dragging in a parent it barely pays for is
    // refused, one paying well is accepted.
    let u = pay(ops[3], v, 1_000);
    let u_id = e.accept(&u).unwrap();
    let from_u = |fee: u64| spend(&[ops[2], OutPoint { txid: u_id, vout: 0 }], vec![op_true_out(2 * v - 1_000 - fee)]);
    let r = e.reject(&from_u(1_200));
    assert_eq!(r.detail, "insufficient feerate: does not improve feerate diagram");
    e.accept(&from_u(50_000)).unwrap();
    assert!(!e.mp.contains(&d.compute_txid()));
    // Rule 5: at most 100 conflicting clusters.
    for op in &ops[4..105] {
        e.accept(&pay(*op, v, 1_000)).unwrap();
    }
    let r = e.reject(&spend(&ops[4..105], vec![op_true_out(v)]));
    assert_eq!(r.reason, "too many potential replacements");
    assert!(r.detail.ends_with("too many conflicting clusters (101 > 100)"), "{}", r.detail);

    // With full RBF off (BIP125 opt-in), a non-signalling conflict is txn-mempool-conflict.
    let strict = Mempool::new(
        MempoolSettings {
            full_rbf: false,
            ..Default::default()
        },
        e.chain.clone(),
        None,
        e.dir.path(),
    );
    let x = pay(ops[105], v, 1_000);
    strict.accept(x, AcceptOptions::default()).unwrap();
    let r = strict.accept(pay(ops[105], v, 50_000), AcceptOptions::default()).unwrap_err();
    assert_eq!(r.reason, "txn-mempool-conflict");
    let mut signalling = pay(ops[106], v, 1_000);
    signalling.input[0].sequence = Sequence(0xffff_fffd);
    strict.accept(signalling, AcceptOptions::default()).unwrap();
    strict
        .accept(pay(ops[106], v, 50_000), AcceptOptions::default())
        .expect("BIP125-signalling transaction is replaceable");
}

fn v3(mut tx: Transaction) -> Transaction {
    tx.version = Version(3);
    tx
}

#[test]
fn truc_rules_and_sibling_eviction() {
    let e = env();
    let ops = e.fund_op_true(3, COIN);
    let parent = v3(spend(&[ops[0]], vec![op_true_out(COIN / 2), op_true_out(COIN / 2 - 1_000)]));
    let p_id = e.accept(&parent).unwrap();
    let r = e.reject(&pay(OutPoint { txid: p_id, vout: 0 }, COIN / 2, 1_000));
    assert_eq!(r.reason, "TRUC-violation");
    assert!(r.detail.starts_with("non-version=3 tx"), "{}", r.detail);
    let mut fat = v3(pay(OutPoint { txid: p_id, vout: 0 }, COIN / 2, 5_000));
    fat.output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: mining::big_op_return(1_200),
    });
    let r = e.reject(&fat);
    assert!(
        r.reason == "TRUC-violation" && r.detail.contains("child tx") && r.detail.contains("too big"),
        "{r}"
    );
    let c1 = v3(pay(OutPoint { txid: p_id, vout: 0 }, COIN / 2, 1_000));
    let c1_id = e.accept(&c1).unwrap();
    let grandchild = v3(pay(OutPoint { txid: c1_id, vout: 0 }, COIN / 2 - 1_000, 1_000));
    let r = e.reject(&grandchild);
    assert!(r.reason == "TRUC-violation" && r.detail.contains("too many ancestors"), "{r}");
    // A second child of the same parent evicts the first if it pays enough (sibling eviction).
    let low = v3(pay(OutPoint { txid: p_id, vout: 1 }, COIN / 2 - 1_000, 1_000));
    // Core's wording for a sibling-eviction replacement that does not pay enough.
    assert_eq!(e.reject(&low).reason, "insufficient fee (including sibling eviction)");
    let c2 = v3(pay(OutPoint { txid: p_id, vout: 1 }, COIN / 2 - 1_000, 3_000));
    let acc = e.mp.accept(c2.clone(), AcceptOptions::default()).unwrap();
    assert_eq!(acc.replaced, vec![c1_id]);
    assert!(!e.mp.contains(&c1_id) && e.mp.contains(&c2.compute_txid()));
    // A v3 transaction cannot spend an unconfirmed non-v3 one.
    let plain = pay(ops[1], COIN, 1_000);
    let plain_id = e.accept(&plain).unwrap();
    let r = e.reject(&v3(pay(OutPoint { txid: plain_id, vout: 0 }, COIN - 1_000, 1_000)));
    assert!(r.reason == "TRUC-violation" && r.detail.starts_with("version=3 tx"), "{r}");
}

#[test]
fn eviction_by_feerate_when_full_raises_the_minimum_fee() {
    let e = env();
    let ops = e.fund_op_true(14, COIN);
    // Measure one entry's usage, then use a pool that holds ten.
    let probe = pay(ops[13], COIN, 1_000);
    e.accept(&probe).unwrap();
    let per = e.mp.stats().usage;
    let (bus, sub) = bus_and_sub();
    let small = Mempool::new(
        MempoolSettings {
            max_size_bytes: per * 10 + per / 2,
            ..Default::default()
        },
        e.chain.clone(),
        Some(bus),
        e.dir.path(),
    );
    let vsize = probe.vsize() as u64;
    let mut ids = Vec::new();
    for (i, op) in ops[..10].iter().enumerate() {
        let fee = vsize * (3 + i as u64); // 3..12 sat/vB
        ids.push(small.accept(pay(*op, COIN, fee), AcceptOptions::default()).unwrap().txid);
    }
    assert_eq!(small.len(), 10);
    assert_eq!(small.stats().min_fee, 100, "nothing evicted yet");
    // An 11th, well-paying transaction pushes out the cheapest one.
    let rich = small.accept(pay(ops[10], COIN, vsize * 50), AcceptOptions::default()).unwrap().txid;
    assert!(small.contains(&rich));
    assert!(!small.contains(&ids[0]), "lowest feerate evicted");
    assert_eq!(small.len(), 10);
    let mut evs = Vec::new();
    while let Some(Outgoing::Event(ev)) = sub.try_next() {
        evs.push(ev.payload.clone());
    }
    assert!(removed(&evs).contains(&(ids[0].to_string(), "size_limit".to_string())));
    // The minimum fee is now the evicted feerate plus the incremental relay fee.
    let min = small.stats().min_fee;
    assert_eq!(min, 3 * 1000 + 100, "3 sat/vB evicted + 0.1 sat/vB incremental");
    let r = small.accept(pay(ops[11], COIN, vsize * 2), AcceptOptions::default()).unwrap_err();
    assert_eq!(r.reason, "mempool min fee not met");
    // Above the minimum but the worst in a full pool: admitted, then trimmed away.
    let r = small
        .accept(pay(ops[12], COIN, vsize * 3 + vsize / 2), AcceptOptions::default())
        .unwrap_err();
    assert_eq!(r.reason, "mempool full");
    assert_eq!(small.len(), 10);
}

static CLOCK: AtomicI64 = AtomicI64::new(1_800_000_000);
fn test_clock() -> i64 {
    CLOCK.load(Ordering::SeqCst)
}

#[test]
fn expired_transactions_leave_with_their_descendants() {
    let e = env();
    let ops = e.fund_op_true(2, COIN);
    let mp = Mempool::new(
        MempoolSettings {
            clock: test_clock,
            ..Default::default()
        },
        e.chain.clone(),
        None,
        e.dir.path(),
    );
    let old = mp.accept(pay(ops[0], COIN, 1_000), AcceptOptions::default()).unwrap().txid;
    let child = mp
        .accept(pay(OutPoint { txid: old, vout: 0 }, COIN - 1_000, 1_000), AcceptOptions::default())
        .unwrap()
        .txid;
    assert_eq!(mp.entry(&old).unwrap().time, 1_800_000_000);
    CLOCK.fetch_add(336 * 3600 + 1, Ordering::SeqCst);
    let fresh = mp.accept(pay(ops[1], COIN, 1_000), AcceptOptions::default()).unwrap().txid;
    assert!(!mp.contains(&old) && !mp.contains(&child), "older than -mempoolexpiry");
    assert!(mp.contains(&fresh));
}

#[test]
fn block_connect_removes_confirmed_and_conflicting_transactions() {
    let e = env();
    let ops = e.fund_op_true(3, COIN);
    let a = pay(ops[0], COIN, 1_000);
    let a_id = e.accept(&a).unwrap();
    let a_child = pay(OutPoint { txid: a_id, vout: 0 }, COIN - 1_000, 1_000);
    let a_child_id = e.accept(&a_child).unwrap();
    let b = pay(ops[1], COIN, 1_000);
    let b_id = e.accept(&b).unwrap();
    let b_child = pay(OutPoint { txid: b_id, vout: 0 }, COIN - 1_000, 1_000);
    let b_child_id = e.accept(&b_child).unwrap();
    let keep = e.accept(&pay(ops[2], COIN, 1_000)).unwrap();
    e.events();
    // The block confirms A and double-spends B's input.
    let b_conflict = pay(ops[1], COIN, 7_000);
    e.mine(vec![a, b_conflict]);
    assert!(!e.mp.contains(&a_id) && !e.mp.contains(&b_id) && !e.mp.contains(&b_child_id));
    assert!(e.mp.contains(&a_child_id), "child of a confirmed transaction stays");
    assert!(e.mp.contains(&keep));
    assert!(
        e.mp.pool().get(&a_child_id).unwrap().parents.is_empty(),
        "its parent is confirmed now"
    );
    let rm = removed(&e.events());
    assert!(rm.contains(&(a_id.to_string(), "block".into())));
    assert!(rm.contains(&(b_id.to_string(), "conflict".into())));
    assert!(rm.contains(&(b_child_id.to_string(), "conflict".into())));
    assert_eq!(rm.len(), 3);
    // The template mines the rest, parents before children.
    let blk = e.mine_template();
    let ids: Vec<Txid> = blk.txdata.iter().map(|t| t.compute_txid()).collect();
    assert!(ids.contains(&a_child_id) && ids.contains(&keep));
    assert!(e.mp.is_empty());
    let fees: u64 = 2_000;
    assert_eq!(
        blk.txdata[0].output[0].value.to_sat(),
        mining::subsidy(e.tip_height()).to_sat() + fees,
        "coinbase claims subsidy + fees"
    );
}

#[test]
fn template_orders_by_ancestor_feerate_and_pays_cpfp() {
    let e = env();
    let ops = e.fund_op_true(3, COIN);
    let cheap_parent = pay(ops[0], COIN, 200); // ~2 sat/vB
    let p_id = e.accept(&cheap_parent).unwrap();
    let rich_child = pay(OutPoint { txid: p_id, vout: 0 }, COIN - 200, 20_000);
    let c_id = e.accept(&rich_child).unwrap();
    let middle = e.accept(&pay(ops[1], COIN, 1_000)).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let t = e.mp.block_template(now);
    let order: Vec<Txid> = t.txs.iter().map(|x| x.txid).collect();
    assert_eq!(
        order,
        vec![p_id, c_id, middle],
        "CPFP package first (its ancestor feerate is highest)"
    );
    assert_eq!(t.txs[1].depends, vec![0]);
    assert_eq!(t.coinbase_value, mining::subsidy(t.height).to_sat() + 21_200);
    assert!(t.curtime >= t.min_time);
}

#[test]
fn reorg_readmits_disconnected_transactions() {
    let e = env();
    let ops = e.fund_op_true(3, COIN);
    let fork_point = e.parent();
    let t1 = pay(ops[0], COIN, 1_000);
    let t2 = pay(ops[1], COIN, 1_000);
    let (t1_id, t2_id) = (e.accept(&t1).unwrap(), e.accept(&t2).unwrap());
    let b1 = e.mine_template();
    assert_eq!(b1.txdata.len(), 3);
    assert!(e.mp.is_empty());
    // After B1: a child of confirmed T1, and a spend of confirmed T2's output.
    let c1 = e.accept(&pay(OutPoint { txid: t1_id, vout: 0 }, COIN - 1_000, 1_000)).unwrap();
    let d2 = e.accept(&pay(OutPoint { txid: t2_id, vout: 0 }, COIN - 1_000, 1_000)).unwrap();
    e.events();
    // A longer competing branch without T1, where T2's input is double-spent.
    let t2_conflict = pay(ops[1], COIN, 9_000);
    let f1 = e.mine_on(&fork_point, vec![t2_conflict]);
    assert_ne!(e.chain.lock().unwrap().tip().hash, f1.block_hash(), "equal work: no reorg yet");
    let f1_parent = {
        let c = e.chain.lock().unwrap();
        mining::parent_of(&c, &f1.block_hash())
    };
    let f2 = e.mine_on(&f1_parent, vec![]);
    assert_eq!(
        e.chain.lock().unwrap().tip().hash,
        f2.block_hash(),
        "reorganised to the longer branch"
    );
    assert!(e.mp.contains(&t1_id), "T1 re-admitted from the disconnected block");
    assert!(e.mp.contains(&c1), "T1's child stays valid");
    assert_eq!(
        e.mp.pool().get(&c1).unwrap().parents.iter().copied().collect::<Vec<_>>(),
        vec![t1_id]
    );
    assert!(!e.mp.contains(&t2_id), "T2 conflicts with the new chain");
    assert!(!e.mp.contains(&d2), "spent an output that no longer exists");
    let ev = e.events();
    assert!(added(&ev).contains(&t1_id.to_string()));
    assert!(removed(&ev).contains(&(d2.to_string(), "reorg".to_string())));
    assert!(!removed(&ev).iter().any(|(t, _)| *t == c1.to_string()));
    // Mining again confirms both.
    let b = e.mine_template();
    let ids: Vec<Txid> = b.txdata.iter().map(|t| t.compute_txid()).collect();
    assert!(ids.contains(&t1_id) && ids.contains(&c1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_persists_mempool_across_restart_and_publishes_events() {
    use blvm_node::node::{NodeSettings, ShutdownReason};
    use blvm_node::params::ChainParams;
    let dir = tempfile::tempdir().unwrap();
    let net_dir = dir.path().join("regtest");
    std::fs::create_dir_all(&net_dir).unwrap();
    let fan_out;
    {
        let mut chain = support::open_regtest(&net_dir);
        for i in 0..101u64 {
            let parent = mining::parent_of(&chain, &chain.tip().hash);
            let b = mining::build_block(&parent, i, vec![], Amount::ZERO, p2wsh_op_true());
            chain.process_block(&b).unwrap();
        }
        let b1 = chain.read_block(&chain.hash_at(1).unwrap()).unwrap().unwrap();
        let cb = OutPoint {
            txid: b1.txdata[0].compute_txid(),
            vout: 0,
        };
        let tx = spend(&[cb], (0..4).map(|_| op_true_out(10 * COIN)).collect());
        let parent = mining::parent_of(&chain, &chain.tip().hash);
        chain
            .process_block(&mining::build_block(&parent, 999, vec![tx.clone()], Amount::ZERO, p2wsh_op_true()))
            .unwrap();
        chain.flush(blvm_node::chain::FlushReason::Manual).unwrap();
        fan_out = tx.compute_txid();
    }
    let settings = || {
        let mut s = NodeSettings::new(ChainParams::for_network(bitcoin::Network::Regtest), net_dir.clone());
        s.chain = support::test_settings();
        s.lifecycle.ack_timeout = std::time::Duration::from_secs(1);
        s.lifecycle.shutdown_timeout = std::time::Duration::from_secs(1);
        s
    };
    let node = blvm_node::launch::start(settings()).await.unwrap();
    assert!(node.components().contains(&"mempool".to_string()));
    let sub = node.bus().register("observer");
    node.bus().subscribe(
        &sub,
        &[
            EventType::MempoolTransactionAdded,
            EventType::MempoolTransactionRemoved,
            EventType::NewBlock,
        ],
        None,
    );
    let mp = node.mempool();
    let a = pay(OutPoint { txid: fan_out, vout: 0 }, 10 * COIN, 2_000);
    let a_id = mp.accept(a.clone(), AcceptOptions::default()).unwrap().txid;
    let b = pay(OutPoint { txid: a_id, vout: 0 }, 10 * COIN - 2_000, 3_000);
    let b_id = mp.accept(b, AcceptOptions::default()).unwrap().txid;
    let c_id = mp
        .accept(pay(OutPoint { txid: fan_out, vout: 1 }, 10 * COIN, 1_500), AcceptOptions::default())
        .unwrap()
        .txid;
    // Module API view: the same mempool.
    use blvm_node::modules::api::MempoolView;
    assert_eq!(MempoolView::info(&*mp).size, 3);
    assert_eq!(MempoolView::get(&*mp, &a_id), Some(bitcoin::consensus::serialize(&a)));
    let d_raw = bitcoin::consensus::serialize(&pay(OutPoint { txid: fan_out, vout: 2 }, 10 * COIN, 1_000));
    let d_id: Txid = MempoolView::submit(&*mp, &d_raw).unwrap().parse().unwrap();
    let times: Vec<i64> = [a_id, b_id, c_id, d_id].iter().map(|t| mp.entry(t).unwrap().time).collect();
    // Confirm D through the node: removed with reason "block", after NewBlock.
    let t = mp.block_template(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    );
    let mut blk = blvm_node::mempool::template::BlockTemplate::with_transactions(
        &node.chain_ref().lock().unwrap(),
        t.txs.into_iter().filter(|x| x.txid == d_id).collect(),
        t.curtime,
        None,
    )
    .block(&p2wsh_op_true());
    let mut tries = u64::MAX;
    blvm_node::mempool::template::solve(&mut blk.header, &mut tries);
    assert_eq!(node.submit_block(blk).await.unwrap(), BlockOutcome::Accepted { connected: true });
    let mut evs = Vec::new();
    while let Some(Outgoing::Event(ev)) = sub.try_next() {
        evs.push(ev.payload.clone());
    }
    let pos_block = evs
        .iter()
        .position(|e| matches!(e, EventPayload::NewBlock { .. }))
        .expect("NewBlock");
    let pos_rm = evs
        .iter()
        .position(
            |e| matches!(e, EventPayload::MempoolTransactionRemoved { txid, reason } if *txid == d_id.to_string() && reason == "block"),
        )
        .expect("removed for block");
    assert!(pos_block < pos_rm, "chain event first: {evs:?}");
    assert_eq!(added(&evs).len(), 4);
    assert_eq!(mp.len(), 3);
    node.shutdown(ShutdownReason::Graceful).await;
    drop(node);
    drop(mp);
    assert!(net_dir.join("mempool.dat").exists(), "dumped at shutdown");
    let node = blvm_node::launch::start(settings()).await.unwrap();
    let mp = node.mempool();
    assert!(mp.is_loaded());
    assert_eq!(mp.txids(), vec![a_id, b_id, c_id], "reloaded in entry order");
    for (t, time) in [a_id, b_id, c_id].iter().zip(&times) {
        assert_eq!(mp.entry(t).unwrap().time, *time, "entry time kept");
    }
    assert_eq!(mp.pool().ancestor_stats(&b_id).count, 2);
    node.shutdown(ShutdownReason::Graceful).await;
}

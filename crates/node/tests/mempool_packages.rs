//! A real `blvm-node` over RPC (TCP): prioritisetransaction / getprioritisedtransactions (Core's
//! argument errors, a prioritised free transaction entering below the minimum relay fee and
//! being mined, `fees.modified`, deltas kept across a restart through mempool.dat),
//! submitpackage (child pays for a parent below the minimum relay fee that is refused alone;
//! topology, decode, maxfeerate and package errors with Core's shapes) and importmempool.

mod support;

use support::{fanout, http, mining, node_proc, p2p_peer};

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hashes::Hash;
use bitcoin::{Address, Network, OutPoint, Transaction};
use fanout::{fund, pay};
use p2p_peer::{rpc, rpc_raw};
use serde_json::{json, Value};
use std::time::Duration;

fn sat(v: &Value) -> i64 {
    (v.as_f64().unwrap() * 1e8).round() as i64
}

fn txhex(tx: &Transaction) -> String {
    serialize_hex(tx)
}

/// Two parents spending `a` and `b` (each worth `value`, paying 2,000 and `fee2` sat) and a
/// child of both paying 3,000 sat.
fn two_parents_and_child(a: OutPoint, b: OutPoint, value: u64, fee2: u64) -> [Transaction; 3] {
    let p1 = pay(&[a], value, 2_000);
    let p2 = pay(&[b], value, fee2);
    let kid = pay(
        &[OutPoint::new(p1.compute_txid(), 0), OutPoint::new(p2.compute_txid(), 0)],
        2 * value - 2_000 - fee2,
        3_000,
    );
    [p1, p2, kid]
}

/// A started node (RPC on the returned port, not listening) with `outputs` P2WSH(OP_TRUE) coins.
fn funded_node(outputs: usize) -> (node_proc::NodeProc, u16, fanout::Funded) {
    let port = http::free_port();
    let n = node_proc::start_node(&[&format!("-rpcport={port}"), "-listen=0"], &[]);
    n.wait_started();
    let f = fund(&n, port, outputs);
    (n, port, f)
}

/// The error code and message of a failed call.
fn err(r: &Value) -> (i64, String) {
    assert!(!r["error"].is_null(), "expected an error: {r}");
    (
        r["error"]["code"].as_i64().unwrap(),
        r["error"]["message"].as_str().unwrap().to_string(),
    )
}

#[test]
fn prioritisetransaction_like_core_and_deltas_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = http::free_port();
    let args = [format!("-rpcport={port}"), "-listen=0".to_string()];
    let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let mut n = node_proc::start_node_in(dir.path(), &argv, &[]);
    n.wait_started();
    let f = fund(&n, port, 10);
    let coin = |i: u32| OutPoint::new(f.fan, i);
    let addr = Address::from_script(&mining::p2wsh_op_true(), Network::Regtest)
        .unwrap()
        .to_string();

    // Core's argument errors (mining_prioritisetransaction.py).
    for bad in [json!([]), json!([""]), json!(["", 0]), json!(["", 0, 0, 0])] {
        let (code, msg) = err(&rpc_raw(&n, port, "prioritisetransaction", bad.clone()));
        assert_eq!(code, -1, "{bad}");
        assert!(msg.contains("prioritisetransaction"), "{msg}");
    }
    let (code, msg) = err(&rpc_raw(&n, port, "getprioritisedtransactions", json!([true])));
    assert_eq!(code, -1);
    assert!(msg.contains("getprioritisedtransactions"));
    assert_eq!(
        err(&rpc_raw(&n, port, "prioritisetransaction", json!({"txid": "foo", "fee_delta": 0}))),
        (-8, "txid must be of length 64 (not 3, for 'foo')".to_string())
    );
    let z = "Zd1d4e24ed99057e84c3f80fd8fbec79ed9e1acee37da269356ecea000000000";
    assert_eq!(
        err(&rpc_raw(&n, port, "prioritisetransaction", json!({"txid": z, "fee_delta": 0}))),
        (-8, format!("txid must be hexadecimal string (not '{z}')"))
    );
    let t = "1d1d4e24ed99057e84c3f80fd8fbec79ed9e1acee37da269356ecea000000000";
    assert_eq!(
        err(&rpc_raw(&n, port, "prioritisetransaction", json!([t, "foo", 0]))),
        (-3, "JSON value of type string is not of expected type number".to_string())
    );
    assert_eq!(
        err(&rpc_raw(&n, port, "prioritisetransaction", json!([t, 1, 0]))),
        (
            -8,
            "Priority is no longer supported, dummy argument to prioritisetransaction must be 0.".to_string()
        )
    );
    assert_eq!(
        err(&rpc_raw(&n, port, "prioritisetransaction", json!({"txid": t, "fee_delta": "foo"}))),
        (-3, "JSON value of type string is not of expected type number".to_string())
    );
    // A zero delta is never recorded; a delta and its inverse cancel out.
    assert_eq!(rpc(&n, port, "prioritisetransaction", json!([t, 0, 0])), json!(true));
    assert_eq!(rpc(&n, port, "getprioritisedtransactions", json!([])), json!({}));
    rpc(&n, port, "prioritisetransaction", json!([t, null, 500]));
    rpc(&n, port, "prioritisetransaction", json!([t, 0, -500]));
    assert_eq!(rpc(&n, port, "getprioritisedtransactions", json!([])), json!({}));

    // A free transaction is refused below the minimum relay fee, accepted once prioritised.
    let free = pay(&[coin(0)], f.per_output, 0);
    let free_id = free.compute_txid().to_string();
    let (code, msg) = err(&rpc_raw(&n, port, "sendrawtransaction", json!([txhex(&free)])));
    assert_eq!(code, -26);
    assert!(msg.contains("min relay fee not met"), "{msg}");
    rpc(&n, port, "prioritisetransaction", json!({"txid": free_id, "fee_delta": 1000}));
    assert_eq!(
        rpc(&n, port, "getprioritisedtransactions", json!([])),
        json!({free_id.clone(): {"fee_delta": 1000, "in_mempool": false}})
    );
    assert_eq!(rpc(&n, port, "sendrawtransaction", json!([txhex(&free)])), json!(free_id));
    assert_eq!(
        rpc(&n, port, "getprioritisedtransactions", json!([])),
        json!({free_id.clone(): {"fee_delta": 1000, "in_mempool": true, "modified_fee": 1000}})
    );
    let entry = rpc(&n, port, "getmempoolentry", json!([free_id]));
    assert_eq!(sat(&entry["fees"]["base"]), 0);
    assert_eq!(sat(&entry["fees"]["modified"]), 1000);
    assert_eq!(sat(&entry["fees"]["ancestor"]), 1000);
    assert_eq!(sat(&entry["fees"]["descendant"]), 1000);

    // The template and the mined block take it at its modified fee, and mining forgets the delta.
    let gbt = rpc(&n, port, "getblocktemplate", json!([{"rules": ["segwit"]}]));
    let in_template: Vec<&str> = gbt["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["txid"].as_str().unwrap())
        .collect();
    assert_eq!(in_template, vec![free_id.as_str()]);
    rpc(&n, port, "generatetoaddress", json!([1, addr]));
    assert_eq!(rpc(&n, port, "getrawmempool", json!([])), json!([]));
    assert_eq!(rpc(&n, port, "getprioritisedtransactions", json!([])), json!({}));

    // A negative delta on an in-pool transaction lowers its modified and ancestor fees.
    let a = pay(&[coin(1)], f.per_output, 5_000);
    let a_id = a.compute_txid().to_string();
    rpc(&n, port, "sendrawtransaction", json!([txhex(&a)]));
    let child = pay(&[OutPoint::new(a.compute_txid(), 0)], f.per_output - 5_000, 3_000);
    let child_id = child.compute_txid().to_string();
    rpc(&n, port, "sendrawtransaction", json!([txhex(&child)]));
    rpc(&n, port, "prioritisetransaction", json!([a_id, 0, -1234]));
    rpc(&n, port, "prioritisetransaction", json!([a_id, 0, 8888]));
    let ea = rpc(&n, port, "getmempoolentry", json!([a_id]));
    assert_eq!(sat(&ea["fees"]["modified"]), 5_000 + 7654);
    assert_eq!(sat(&ea["fees"]["descendant"]), 8_000 + 7654);
    let ec = rpc(&n, port, "getmempoolentry", json!([child_id]));
    assert_eq!(sat(&ec["fees"]["ancestor"]), 8_000 + 7654);
    // A delta for a transaction not in the pool.
    let absent = "ab".repeat(32);
    rpc(&n, port, "prioritisetransaction", json!([absent, 0, -7]));
    let before = rpc(&n, port, "getprioritisedtransactions", json!([]));
    assert_eq!(
        before,
        json!({a_id.clone(): {"fee_delta": 7654, "in_mempool": true, "modified_fee": 12654}, absent.clone(): {"fee_delta": -7, "in_mempool": false}})
    );

    // Restart: mempool.dat carries both kinds of delta (Core's format).
    let (st, _) = n.stop(Duration::from_secs(30));
    assert!(st.success(), "{st:?}");
    drop(n);
    let n = node_proc::start_node_in(dir.path(), &argv, &[]);
    n.wait_started();
    n.wait_until(Duration::from_secs(30), "mempool loaded", |n| {
        rpc(n, port, "getmempoolinfo", json!([]))["loaded"] == json!(true)
    });
    assert_eq!(rpc(&n, port, "getprioritisedtransactions", json!([])), before);
    let ea = rpc(&n, port, "getmempoolentry", json!([a_id]));
    assert_eq!(sat(&ea["fees"]["modified"]), 12654);

    // importmempool: the saved file back into an emptied pool, with and without its deltas.
    let saved = rpc(&n, port, "savemempool", json!([]))["filename"].as_str().unwrap().to_string();
    let copy = dir.path().join("copy.dat");
    std::fs::copy(&saved, &copy).unwrap();
    assert_eq!(
        err(&rpc_raw(
            &n,
            port,
            "importmempool",
            json!([dir.path().join("missing.dat").display().to_string()])
        )),
        (-1, "Unable to import mempool file, see debug log for details.".to_string())
    );
    assert_eq!(
        err(&rpc_raw(
            &n,
            port,
            "importmempool",
            json!([copy.display().to_string(), {"use_current_time": 1}])
        ))
        .0,
        -3
    );
    let mut n = n;
    let (st, _) = n.stop(Duration::from_secs(30));
    assert!(st.success(), "{st:?}");
    drop(n);
    // A fresh node on a copy of the chain without the pool: import brings the pool back.
    let dir2 = tempfile::tempdir().unwrap();
    copy_dir(&dir.path().join("regtest"), &dir2.path().join("regtest"));
    let _ = std::fs::remove_file(dir2.path().join("regtest").join("mempool.dat"));
    let n = node_proc::start_node_in(dir2.path(), &argv, &[]);
    n.wait_started();
    n.wait_until(Duration::from_secs(30), "mempool loaded", |n| {
        rpc(n, port, "getmempoolinfo", json!([]))["loaded"] == json!(true)
    });
    assert_eq!(rpc(&n, port, "getrawmempool", json!([])), json!([]));
    assert_eq!(rpc(&n, port, "importmempool", json!([copy.display().to_string()])), json!({}));
    assert_eq!(rpc(&n, port, "getmempoolinfo", json!([]))["size"], json!(2));
    assert_eq!(rpc(&n, port, "getprioritisedtransactions", json!([])), json!({}));
    assert_eq!(
        rpc(
            &n,
            port,
            "importmempool",
            json!([copy.display().to_string(), {"apply_fee_delta_priority": true}])
        ),
        json!({})
    );
    assert_eq!(rpc(&n, port, "getprioritisedtransactions", json!([])), before);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == ".cookie" || name == ".lock" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(name));
        } else {
            std::fs::copy(e.path(), to.join(name)).unwrap();
        }
    }
}

#[test]
fn submitpackage_child_pays_for_a_parent_below_the_minimum_relay_fee() {
    let (n, port, f) = funded_node(10);
    let coin = |i: u32| OutPoint::new(f.fan, i);

    // Argument errors.
    assert_eq!(
        err(&rpc_raw(&n, port, "submitpackage", json!([[]]))),
        (-8, "Array must contain between 1 and 25 transactions.".to_string())
    );
    let (code, msg) = err(&rpc_raw(&n, port, "submitpackage", json!([["00zz"]])));
    assert_eq!(code, -22);
    assert_eq!(msg, "TX decode failed: 00zz Make sure the tx has at least one input.");
    let c1 = pay(&[coin(5)], f.per_output, 1_000);
    let c2 = pay(&[OutPoint::new(c1.compute_txid(), 0)], f.per_output - 1_000, 1_000);
    let c3 = pay(&[OutPoint::new(c2.compute_txid(), 0)], f.per_output - 2_000, 1_000);
    let (code, msg) = err(&rpc_raw(&n, port, "submitpackage", json!([[txhex(&c1), txhex(&c2), txhex(&c3)]])));
    assert_eq!(code, -25);
    assert!(msg.starts_with("package topology disallowed"), "{msg}");
    assert_eq!(rpc(&n, port, "getrawmempool", json!([])), json!([]));

    // maxfeerate: the parent fails alone (not reconsiderable), the child misses its input.
    let r = rpc(&n, port, "submitpackage", json!([[txhex(&c1), txhex(&c2)], 0.00000001]));
    assert_eq!(r["package_msg"], json!("transaction failed"));
    assert_eq!(
        r["tx-results"][c1.compute_wtxid().to_string()]["error"],
        json!("max feerate exceeded")
    );
    assert_eq!(
        r["tx-results"][c2.compute_wtxid().to_string()]["error"],
        json!("bad-txns-inputs-missingorspent")
    );
    assert_eq!(r["replaced-transactions"], json!([]));
    assert_eq!(rpc(&n, port, "getrawmempool", json!([])), json!([]));

    // Parent with no fee: refused alone, by sendrawtransaction and by submitpackage.
    let parent = pay(&[coin(0)], f.per_output, 0);
    let child = pay(&[OutPoint::new(parent.compute_txid(), 0)], f.per_output, 20_000);
    let (pw, cw) = (parent.compute_wtxid().to_string(), child.compute_wtxid().to_string());
    let (code, msg) = err(&rpc_raw(&n, port, "sendrawtransaction", json!([txhex(&parent)])));
    assert_eq!(code, -26);
    assert!(msg.contains("min relay fee not met"), "{msg}");
    let r = rpc(&n, port, "submitpackage", json!([[txhex(&parent)]]));
    assert_eq!(r["package_msg"], json!("transaction failed"));
    assert!(
        r["tx-results"][&pw]["error"].as_str().unwrap().starts_with("min relay fee not met"),
        "{r}"
    );
    assert_eq!(rpc(&n, port, "getrawmempool", json!([])), json!([]));

    // With its child: both accepted at the package feerate.
    let r = rpc(&n, port, "submitpackage", json!({"package": [txhex(&parent), txhex(&child)]}));
    assert_eq!(r["package_msg"], json!("success"), "{r}");
    let (pv, cv) = (parent.vsize() as u64, child.vsize() as u64);
    let rate = 20_000 * 1000 / (pv + cv);
    for (w, tx, fee, vsize) in [(&pw, &parent, 0, pv), (&cw, &child, 20_000, cv)] {
        let t = &r["tx-results"][w];
        assert_eq!(t["txid"], json!(tx.compute_txid().to_string()));
        assert_eq!(t["vsize"], json!(vsize));
        assert_eq!(t["vsize_bip141"], json!(vsize));
        assert_eq!(sat(&t["fees"]["base"]), fee);
        assert_eq!(sat(&t["fees"]["effective-feerate"]) as u64, rate);
        assert_eq!(t["fees"]["effective-includes"], json!([pw, cw]));
        assert!(t.get("error").is_none());
    }
    let pool = rpc(&n, port, "getrawmempool", json!([]));
    assert_eq!(pool.as_array().unwrap().len(), 2);
    let e = rpc(&n, port, "getmempoolentry", json!([child.compute_txid().to_string()]));
    assert_eq!(e["depends"], json!([parent.compute_txid().to_string()]));

    // getmempoolcluster: the two form one cluster and one chunk (the child pays for both).
    let cl = rpc(&n, port, "getmempoolcluster", json!([parent.compute_txid().to_string()]));
    let w = (parent.weight().to_wu() + child.weight().to_wu()) as i64;
    assert_eq!(cl["txcount"], json!(2));
    assert_eq!(cl["clusterweight"], json!(w));
    assert_eq!(cl["chunks"].as_array().unwrap().len(), 1);
    assert_eq!(sat(&cl["chunks"][0]["chunkfee"]), 20_000);
    assert_eq!(cl["chunks"][0]["chunkweight"], json!(w));
    assert_eq!(
        cl["chunks"][0]["txs"],
        json!([parent.compute_txid().to_string(), child.compute_txid().to_string()])
    );
    assert_eq!(err(&rpc_raw(&n, port, "getmempoolcluster", json!(["ab".repeat(32)]))).0, -5);

    // Submitted again: already in the pool, base fees only.
    let r = rpc(&n, port, "submitpackage", json!([[txhex(&parent), txhex(&child)]]));
    assert_eq!(r["package_msg"], json!("success"));
    assert_eq!(sat(&r["tx-results"][&pw]["fees"]["base"]), 0);
    assert!(r["tx-results"][&pw]["fees"].get("effective-feerate").is_none());
    assert_eq!(r["tx-results"][&cw]["vsize"], json!(cv));

    // A child with parents spending the same coin: conflict-in-package, nothing validated.
    let [p1, p2, kid] = two_parents_and_child(coin(2), coin(2), f.per_output, 2_500);
    let r = rpc(&n, port, "submitpackage", json!([[txhex(&p1), txhex(&p2), txhex(&kid)]]));
    assert_eq!(r["package_msg"], json!("conflict-in-package"));
    for tx in [&p1, &p2, &kid] {
        assert_eq!(
            r["tx-results"][tx.compute_wtxid().to_string()],
            json!({"txid": tx.compute_txid().to_string(), "error": "package-not-validated"})
        );
    }

    // Two ordinary parents and a child: each parent passes alone (effective-includes itself).
    let [q1, q2, qk] = two_parents_and_child(coin(3), coin(4), f.per_output, 2_000);
    let r = rpc(&n, port, "submitpackage", json!([[txhex(&q1), txhex(&q2), txhex(&qk)]]));
    assert_eq!(r["package_msg"], json!("success"), "{r}");
    let q1w = q1.compute_wtxid().to_string();
    assert_eq!(r["tx-results"][&q1w]["fees"]["effective-includes"], json!([q1w]));
    assert_eq!(rpc(&n, port, "getmempoolinfo", json!([]))["size"], json!(5));

    // The package is mined together.
    let addr = Address::from_script(&mining::p2wsh_op_true(), Network::Regtest)
        .unwrap()
        .to_string();
    rpc(&n, port, "generatetoaddress", json!([1, addr]));
    assert_eq!(rpc(&n, port, "getrawmempool", json!([])), json!([]));
}

#[test]
fn package_testmempoolaccept_reports_earlier_results_only_after_a_script_failure() {
    let (n, port, f) = funded_node(4);
    let coin = |i: u32| OutPoint::new(f.fan, i);
    let good = pay(&[coin(0)], f.per_output, 1_000);
    let head = |tx: &Transaction| json!({"txid": tx.compute_txid().to_string(), "wtxid": tx.compute_wtxid().to_string()});
    // A missing input fails before any script runs (Core's PreChecks): the valid transaction
    // before it gets no result.
    let orphan = pay(&[OutPoint::new(bitcoin::Txid::from_byte_array([5; 32]), 0)], 10_000, 1_000);
    let mut missing = head(&orphan);
    missing["allowed"] = json!(false);
    missing["reject-reason"] = json!("missing-inputs");
    let r = rpc(&n, port, "testmempoolaccept", json!([[txhex(&good), txhex(&orphan)]]));
    assert_eq!(r, json!([head(&good), missing]));
    // A script failure comes after every transaction's other checks: the valid one's result is
    // reported, and the failure names Core's script error.
    let mut bad = pay(&[coin(1)], f.per_output, 1_000);
    bad.input[0].witness = bitcoin::Witness::from_slice(&[[0x52u8]]);
    let r = rpc(&n, port, "testmempoolaccept", json!([[txhex(&good), txhex(&bad)]]));
    assert_eq!(r[0]["allowed"], json!(true), "{r}");
    assert_eq!(
        r[1]["reject-reason"],
        json!("mempool-script-verify-flag-failed (Witness program hash mismatch)"),
        "{r}"
    );
}

/// `tx` as TRUC (version 3); OP_TRUE spends carry no signature, so it stays valid.
fn truc(mut tx: Transaction) -> Transaction {
    tx.version = bitcoin::transaction::Version(3);
    tx
}

/// "txid (wtxid=…)" as Core's TRUC messages name a transaction.
fn ids(tx: &Transaction) -> String {
    format!("{} (wtxid={})", tx.compute_txid(), tx.compute_wtxid())
}

#[test]
fn package_truc_rules_like_core() {
    let port = http::free_port();
    let n = node_proc::start_node(&[&format!("-rpcport={port}"), "-listen=0"], &[]);
    n.wait_started();
    let f = fund(&n, port, 4);
    let coin = |i: u32| OutPoint::new(f.fan, i);
    let out0 = |tx: &Transaction| OutPoint::new(tx.compute_txid(), 0);
    let v = f.per_output;

    // A TRUC child of two free TRUC parents: the package feerate would do, but a TRUC
    // transaction may have one unconfirmed parent only (Core's PackageTRUCChecks).
    let p1 = truc(pay(&[coin(0)], v, 0));
    let p2 = truc(pay(&[coin(1)], v, 0));
    let kid = truc(pay(&[out0(&p1), out0(&p2)], 2 * v, 20_000));
    let r = rpc(&n, port, "submitpackage", json!([[txhex(&p1), txhex(&p2), txhex(&kid)]]));
    assert_eq!(
        r["package_msg"],
        json!(format!("TRUC-violation, tx {} would have too many ancestors", ids(&kid)))
    );
    assert_eq!(rpc(&n, port, "getrawmempool", json!([])), json!([]));

    // Three TRUC generations in a multi-transaction testmempoolaccept: every result carries
    // the package error naming the grandchild.
    let a = truc(pay(&[coin(2)], v, 2_000));
    let b = truc(pay(&[out0(&a)], v - 2_000, 2_000));
    let c = truc(pay(&[out0(&b)], v - 4_000, 2_000));
    let r = rpc(&n, port, "testmempoolaccept", json!([[txhex(&a), txhex(&b), txhex(&c)]]));
    let want = json!(format!("TRUC-violation, tx {} would have too many ancestors", ids(&c)));
    for res in r.as_array().unwrap() {
        assert_eq!(res["package-error"], want, "{r}");
    }

    // A non-TRUC child of a TRUC parent in the same package.
    let plain = pay(&[out0(&a)], v - 2_000, 2_000);
    let r = rpc(&n, port, "testmempoolaccept", json!([[txhex(&a), txhex(&plain)]]));
    let want = json!(format!(
        "TRUC-violation, non-version=3 tx {} cannot spend from version=3 tx {}",
        ids(&plain),
        ids(&a)
    ));
    for res in r.as_array().unwrap() {
        assert_eq!(res["package-error"], want, "{r}");
    }

    // The valid 1p1c TRUC package is accepted.
    let r = rpc(&n, port, "submitpackage", json!([[txhex(&a), txhex(&b)]]));
    assert_eq!(r["package_msg"], json!("success"), "{r}");
}

#[test]
fn a_failed_package_leaves_the_pool_exactly_as_it_was() {
    let (n, port, f) = funded_node(4);
    let coin = |i: u32| OutPoint::new(f.fan, i);
    // A pool transaction first, so the pool is not empty and its sequence has moved.
    let resident = pay(&[coin(0)], f.per_output, 2_000);
    rpc(&n, port, "sendrawtransaction", json!([txhex(&resident)]));
    let before = rpc(&n, port, "getrawmempool", json!([false, true]));
    let info_before = rpc(&n, port, "getmempoolinfo", json!([]));
    // A free parent and a child whose script fails: the parent was validated in the pool
    // before the child failed, and must be gone again with no trace.
    let parent = pay(&[coin(1)], f.per_output, 0);
    let mut child = pay(&[OutPoint::new(parent.compute_txid(), 0)], f.per_output, 5_000);
    child.input[0].witness = bitcoin::Witness::from_slice(&[[0x52u8]]);
    let r = rpc_raw(&n, port, "submitpackage", json!([[txhex(&parent), txhex(&child)]]));
    assert!(r["error"].is_null() || r["result"]["package_msg"] != json!("success"), "{r}");
    assert_eq!(rpc(&n, port, "getrawmempool", json!([false, true])), before);
    let info_after = rpc(&n, port, "getmempoolinfo", json!([]));
    for k in ["size", "bytes", "usage", "total_fee"] {
        assert_eq!(info_after[k], info_before[k], "{k}");
    }
    // The same parent with a valid child is then accepted as a package.
    let good = pay(&[OutPoint::new(parent.compute_txid(), 0)], f.per_output, 5_000);
    let r = rpc(&n, port, "submitpackage", json!([[txhex(&parent), txhex(&good)]]));
    assert_eq!(r["package_msg"], json!("success"), "{r}");
}

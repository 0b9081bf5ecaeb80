//! getblockstats, getdeploymentinfo, submitheader and preciousblock over real HTTP JSON-RPC
//! calls to an in-process node: on the Core-made 300-block chain (every statistic that can be
//! derived independently from the raw blocks, and the fees against Core's own getblock answers),
//! and on a fresh chain with a handcrafted block whose fees are known; preciousblock switching
//! between tips of equal work.

mod support;

use support::in_process::InProcessNode;
use support::{http, mining};

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::hex::FromHex;
use bitcoin::{Amount, Block, OutPoint, Transaction, TxOut};
use blvm_node::chain::{ChainManager, ChainSettings, FlushReason};
use blvm_node::import::import_file;
use blvm_node::params::ChainParams;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

/// Core's size estimate of one UTXO: the serialized output plus 40 bytes (outpoint and height word).
fn utxo_size(o: &TxOut) -> i64 {
    serialize(o).len() as i64 + 40
}

fn unspendable(o: &TxOut) -> bool {
    o.script_pubkey.is_op_return() || o.script_pubkey.len() > 10_000
}

fn sat(v: &Value) -> i64 {
    (v.as_f64().expect("amount") * 1e8).round() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn getblockstats_agrees_with_the_raw_core_chain() {
    let n = InProcessNode::start(true).await;
    let core = support::core_json();
    let blocks = support::chain_blocks();
    // Replay the raw chain to know every spent output (independent of the node's undo data).
    let mut outputs: HashMap<OutPoint, TxOut> = HashMap::new();
    let mut fees_by_height: HashMap<u32, Vec<i64>> = HashMap::new();
    let mut blocks_with_txs = 0;
    for (height, block) in blocks.iter().enumerate() {
        let height = height as u32;
        let mut fees = Vec::new();
        let (mut size_in, mut spent_value_total) = (0i64, 0i64);
        for (i, tx) in block.txdata.iter().enumerate() {
            if i > 0 {
                let mut in_value = 0i64;
                for input in &tx.input {
                    let prev = outputs.remove(&input.previous_output).expect("spent output known");
                    in_value += prev.value.to_sat() as i64;
                    size_in += utxo_size(&prev);
                }
                spent_value_total += in_value;
                fees.push(in_value - tx.output.iter().map(|o| o.value.to_sat() as i64).sum::<i64>());
            }
            let txid = tx.compute_txid();
            for (v, o) in tx.output.iter().enumerate() {
                outputs.insert(OutPoint { txid, vout: v as u32 }, o.clone());
            }
        }
        if height == 0 {
            continue; // Core's genesis outputs are not spendable; its stats are trivial.
        }
        let stats = n.call("getblockstats", json!([height]));
        let others: Vec<&Transaction> = block.txdata.iter().skip(1).collect();
        let ctx = format!("height {height}");
        assert_eq!(stats["height"], json!(height), "{ctx}");
        assert_eq!(stats["blockhash"], json!(block.block_hash().to_string()), "{ctx}");
        assert_eq!(stats["time"], json!(block.header.time), "{ctx}");
        assert_eq!(stats["txs"], json!(block.txdata.len()), "{ctx}");
        let ins: usize = others.iter().map(|t| t.input.len()).sum();
        let outs: usize = block.txdata.iter().map(|t| t.output.len()).sum();
        assert_eq!(stats["ins"], json!(ins), "{ctx}");
        assert_eq!(stats["outs"], json!(outs), "{ctx}");
        assert_eq!(stats["utxo_increase"], json!(outs as i64 - ins as i64), "{ctx}");
        let spendable = block.txdata.iter().flat_map(|t| &t.output).filter(|o| !unspendable(o)).count();
        assert_eq!(stats["utxo_increase_actual"], json!(spendable as i64 - ins as i64), "{ctx}");
        let created: i64 = block.txdata.iter().flat_map(|t| &t.output).map(utxo_size).sum();
        let created_actual: i64 = block
            .txdata
            .iter()
            .flat_map(|t| &t.output)
            .filter(|o| !unspendable(o))
            .map(utxo_size)
            .sum();
        assert_eq!(stats["utxo_size_inc"], json!(created - size_in), "{ctx}");
        assert_eq!(stats["utxo_size_inc_actual"], json!(created_actual - size_in), "{ctx}");
        let total_out: i64 = others.iter().flat_map(|t| &t.output).map(|o| o.value.to_sat() as i64).sum();
        assert_eq!(stats["total_out"], json!(total_out), "{ctx}");
        let subsidy = mining::subsidy(height).to_sat() as i64;
        assert_eq!(stats["subsidy"], json!(subsidy), "{ctx}");
        let totalfee: i64 = fees.iter().sum();
        assert_eq!(totalfee, spent_value_total - total_out);
        assert_eq!(stats["totalfee"], json!(totalfee), "{ctx}");
        // Core's miner claims subsidy plus every fee: the coinbase value confirms the fee total.
        let coinbase_value: i64 = block.txdata[0].output.iter().map(|o| o.value.to_sat() as i64).sum();
        assert_eq!(coinbase_value, subsidy + totalfee, "{ctx}: coinbase claims subsidy + fees");
        let sizes: Vec<i64> = others.iter().map(|t| t.total_size() as i64).collect();
        let weights: Vec<i64> = others.iter().map(|t| t.weight().to_wu() as i64).collect();
        assert_eq!(stats["total_size"], json!(sizes.iter().sum::<i64>()), "{ctx}");
        assert_eq!(stats["total_weight"], json!(weights.iter().sum::<i64>()), "{ctx}");
        let sw: Vec<usize> = (0..others.len())
            .filter(|&i| others[i].input.iter().any(|x| !x.witness.is_empty()))
            .collect();
        assert_eq!(stats["swtxs"], json!(sw.len()), "{ctx}");
        assert_eq!(stats["swtotal_size"], json!(sw.iter().map(|&i| sizes[i]).sum::<i64>()), "{ctx}");
        assert_eq!(stats["swtotal_weight"], json!(sw.iter().map(|&i| weights[i]).sum::<i64>()), "{ctx}");
        if others.is_empty() {
            for k in [
                "avgfee",
                "avgfeerate",
                "avgtxsize",
                "maxfee",
                "minfee",
                "medianfee",
                "mintxsize",
                "maxtxsize",
            ] {
                assert_eq!(stats[k], json!(0), "{ctx}: {k} of a coinbase-only block");
            }
            assert_eq!(stats["feerate_percentiles"], json!([0, 0, 0, 0, 0]), "{ctx}");
            continue;
        }
        blocks_with_txs += 1;
        let k = others.len() as i64;
        assert_eq!(stats["avgfee"], json!(totalfee / k), "{ctx}");
        assert_eq!(stats["avgtxsize"], json!(sizes.iter().sum::<i64>() / k), "{ctx}");
        assert_eq!(stats["maxfee"], json!(fees.iter().max()), "{ctx}");
        assert_eq!(stats["minfee"], json!(fees.iter().min()), "{ctx}");
        assert_eq!(stats["maxtxsize"], json!(sizes.iter().max()), "{ctx}");
        assert_eq!(stats["mintxsize"], json!(sizes.iter().min()), "{ctx}");
        let rates: Vec<i64> = fees.iter().zip(&weights).map(|(f, w)| f * 4 / w).collect();
        assert_eq!(stats["maxfeerate"], json!(rates.iter().max()), "{ctx}");
        assert_eq!(stats["minfeerate"], json!(rates.iter().min()), "{ctx}");
        assert_eq!(stats["avgfeerate"], json!(totalfee * 4 / weights.iter().sum::<i64>()), "{ctx}");
        let p = stats["feerate_percentiles"].as_array().expect("percentiles");
        assert_eq!(p.len(), 5, "{ctx}");
        let lo = rates.iter().min().copied().unwrap_or(0);
        let hi = rates.iter().max().copied().unwrap_or(0);
        let pv: Vec<i64> = p.iter().map(|x| x.as_i64().unwrap()).collect();
        assert!(pv.windows(2).all(|w| w[0] <= w[1]) && pv[0] >= lo && pv[4] <= hi, "{ctx}: {pv:?}");
        assert!(pv.iter().all(|x| rates.contains(x)), "{ctx}: every percentile is some tx's feerate");
        fees_by_height.insert(height, fees);
    }
    assert!(
        blocks_with_txs > 100,
        "the chain has many blocks with transactions ({blocks_with_txs})"
    );

    // Core's own per-transaction fees (getblock verbosity 2) for its sample blocks.
    for b in core["sample_blocks"].as_array().unwrap() {
        let g = &b["getblock_2"];
        let h = g["height"].as_u64().unwrap() as u32;
        let core_fees: Vec<i64> = g["tx"].as_array().unwrap().iter().skip(1).map(|t| sat(&t["fee"])).collect();
        assert_eq!(fees_by_height.get(&h), Some(&core_fees), "height {h}: fees match Core's");
        let stats = n.call("getblockstats", json!([g["hash"]]));
        assert_eq!(stats["totalfee"], json!(core_fees.iter().sum::<i64>()), "height {h}");
        assert_eq!(stats["mediantime"], g["mediantime"], "height {h}");
        let mut sorted = core_fees.clone();
        sorted.sort_unstable();
        let m = sorted.len();
        let median = if m % 2 == 1 {
            sorted[m / 2]
        } else {
            (sorted[m / 2 - 1] + sorted[m / 2]) / 2
        };
        assert_eq!(stats["medianfee"], json!(median), "height {h}");
    }

    // The stats filter: only the asked keys, in Core's order; unknown names rejected.
    let some = n.call("getblockstats", json!([171, ["txs", "height", "avgfee"]]));
    let keys: Vec<&String> = some.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["avgfee", "height", "txs"]);
    let named = n.call("getblockstats", json!({"hash_or_height": 171, "stats": ["txs"]}));
    assert_eq!(named, json!({"txs": some["txs"]}));
    let all = n.call("getblockstats", json!([171]));
    let keys: Vec<&String> = all.as_object().unwrap().keys().collect();
    // Core's documented order: alphabetical, except the two `_actual` keys come last.
    let core_order = [
        "avgfee",
        "avgfeerate",
        "avgtxsize",
        "blockhash",
        "feerate_percentiles",
        "height",
        "ins",
        "maxfee",
        "maxfeerate",
        "maxtxsize",
        "medianfee",
        "mediantime",
        "mediantxsize",
        "minfee",
        "minfeerate",
        "mintxsize",
        "outs",
        "subsidy",
        "swtotal_size",
        "swtotal_weight",
        "swtxs",
        "time",
        "total_out",
        "total_size",
        "total_weight",
        "totalfee",
        "txs",
        "utxo_increase",
        "utxo_size_inc",
        "utxo_increase_actual",
        "utxo_size_inc_actual",
    ];
    assert_eq!(keys, core_order, "Core's key order");
    // A selection is returned in sorted name order (Core iterates a std::set).
    let sel = n.call(
        "getblockstats",
        json!([171, ["utxo_size_inc", "utxo_increase_actual", "ins", "ins"]]),
    );
    let keys: Vec<&String> = sel.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["ins", "utxo_increase_actual", "utxo_size_inc"]);
    assert_eq!(sel["utxo_size_inc"], all["utxo_size_inc"]);

    // Core's errors.
    let err = |code: i64, m: &str| json!({"code": code, "message": m});
    assert_eq!(
        n.try_call("getblockstats", json!([-1])).unwrap_err(),
        err(-8, "Target block height -1 is negative")
    );
    assert_eq!(
        n.try_call("getblockstats", json!([301])).unwrap_err(),
        err(-8, "Target block height 301 after current tip 300")
    );
    assert_eq!(
        n.try_call("getblockstats", json!(["00".repeat(32)])).unwrap_err(),
        err(-5, "Block not found")
    );
    assert_eq!(
        n.try_call("getblockstats", json!([1, ["txs", "nosuch"]])).unwrap_err(),
        err(-8, "Invalid selected statistic 'nosuch'")
    );
    assert_eq!(n.try_call("getblockstats", json!(["xyz"])).unwrap_err()["code"], json!(-8));
    // Core answers a missing required argument with -1 and the usage text.
    let e = n.try_call("getblockstats", json!([])).unwrap_err();
    assert_eq!(e["code"], json!(-1));
    assert!(e["message"]
        .as_str()
        .unwrap()
        .starts_with("getblockstats hash_or_height ( stats )\n"));
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn getblockstats_of_a_handcrafted_block_with_known_fees() {
    let n = InProcessNode::start(false).await;
    let payout = mining::p2wsh_op_true();
    let addr = bitcoin::Address::from_script(&payout, bitcoin::Network::Regtest)
        .unwrap()
        .to_string();
    let hashes = n.call("generatetoaddress", json!([101, addr]));
    let mut cb_outpoints = Vec::new();
    for h in hashes.as_array().unwrap().iter().take(2) {
        let raw = n.call("getblock", json!([h, 0]));
        let block: Block = deserialize(&Vec::<u8>::from_hex(raw.as_str().unwrap()).ok().unwrap()).unwrap();
        let cb = &block.txdata[0];
        let vout = cb.output.iter().position(|o| o.script_pubkey == payout).unwrap() as u32;
        cb_outpoints.push((
            OutPoint {
                txid: cb.compute_txid(),
                vout,
            },
            cb.output[vout as usize].value.to_sat(),
        ));
    }
    let out = |v: u64| TxOut {
        value: Amount::from_sat(v),
        script_pubkey: payout.clone(),
    };
    let (fee_a, fee_b, fee_c) = (10_000u64, 50_000u64, 1_000u64);
    let (op_a, val_a) = cb_outpoints[0];
    let (op_b, val_b) = cb_outpoints[1];
    let a = mining::spend(&[(op_a, payout.clone())], vec![out(val_a - fee_a)]);
    let b = mining::spend(&[(op_b, payout.clone())], vec![out(val_b - fee_b)]);
    let c = mining::spend(
        &[(
            OutPoint {
                txid: a.compute_txid(),
                vout: 0,
            },
            payout.clone(),
        )],
        vec![out(val_a - fee_a - fee_c)],
    );
    let txs = [a.clone(), b.clone(), c.clone()];
    let hexes: Vec<String> = txs.iter().map(bitcoin::consensus::encode::serialize_hex).collect();
    let made = n.call("generateblock", json!([addr, hexes]));
    let stats = n.call("getblockstats", json!([made["hash"]]));
    let w: Vec<i64> = txs.iter().map(|t| t.weight().to_wu() as i64).collect();
    let total_w: i64 = w.iter().sum();
    let rate = |fee: u64, w: i64| fee as i64 * 4 / w;
    let (ra, rb, rc) = (rate(fee_a, w[0]), rate(fee_b, w[1]), rate(fee_c, w[2]));
    assert!(rc < ra && ra < rb);
    // With three transactions of similar weight sorted by feerate c < a < b, the 10th and
    // 25th percentiles fall in c, the median in a, the 75th and 90th in b.
    assert!(w[2] * 4 >= total_w && (w[2] + w[0]) * 2 >= total_w && (w[2] + w[0]) * 4 < total_w * 3);
    assert_eq!(stats["feerate_percentiles"], json!([rc, rc, ra, rb, rb]));
    assert_eq!(stats["totalfee"], json!(fee_a + fee_b + fee_c));
    assert_eq!(stats["minfee"], json!(fee_c));
    assert_eq!(stats["maxfee"], json!(fee_b));
    assert_eq!(stats["medianfee"], json!(fee_a));
    assert_eq!(stats["avgfee"], json!((fee_a + fee_b + fee_c) / 3));
    assert_eq!(stats["minfeerate"], json!(rc));
    assert_eq!(stats["maxfeerate"], json!(rb));
    assert_eq!(stats["avgfeerate"], json!((fee_a + fee_b + fee_c) as i64 * 4 / total_w));
    assert_eq!(stats["txs"], json!(4));
    assert_eq!(stats["ins"], json!(3));
    assert_eq!(stats["swtxs"], json!(3));
    assert_eq!(stats["height"], json!(102));
    assert_eq!(stats["subsidy"], json!(5_000_000_000u64));
    // generateblock's coinbase claims only the subsidy, so the fees can only come from undo data.
    let raw = n.call("getblock", json!([made["hash"], 0]));
    let block: Block = deserialize(&Vec::<u8>::from_hex(raw.as_str().unwrap()).ok().unwrap()).unwrap();
    let cb_value: u64 = block.txdata[0].output.iter().map(|o| o.value.to_sat()).sum();
    assert_eq!(cb_value, 5_000_000_000);
    // Spending c's parent a inside the block: a's output is created and spent, netting zero.
    let sz = |t: &Transaction| utxo_size(&t.output[0]);
    let created: i64 = block.txdata.iter().flat_map(|t| &t.output).map(utxo_size).sum();
    let spent = 2 * utxo_size(&out(val_a)) + sz(&a);
    assert_eq!(stats["utxo_size_inc"], json!(created - spent));
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploymentinfo_submitheader_and_preciousblock() {
    let n = InProcessNode::start(true).await;
    let core = support::core_json();
    let tip = n.call("getdeploymentinfo", json!([]));
    assert_eq!(tip["hash"], core["tip_hash"]);
    assert_eq!(tip["height"], json!(300));
    let deps = tip["deployments"].as_object().unwrap();
    let names: Vec<&String> = deps.keys().collect();
    assert_eq!(names, ["bip34", "bip66", "bip65", "csv", "segwit", "testdummy"]);
    let params = ChainParams::for_network(bitcoin::Network::Regtest);
    for (name, h) in [
        ("bip34", params.bip34_height),
        ("bip66", params.bip66_height),
        ("bip65", params.bip65_height),
        ("csv", params.csv_height),
        ("segwit", params.segwit_height),
    ] {
        assert_eq!(deps[name], json!({"type": "buried", "active": true, "height": h}), "{name}");
    }
    // testdummy (bit 28, regtest periods of 144, threshold 108) from the Core-made blocks'
    // versions: started at 144; locked in at 288 if 108 blocks of 144..=287 signalled.
    let blocks = support::chain_blocks();
    let signals = |r: std::ops::RangeInclusive<usize>| {
        blocks[r]
            .iter()
            .filter(|b| (b.header.version.to_consensus() as u32) >> 29 == 1 && b.header.version.to_consensus() >> 28 & 1 == 1)
            .count()
    };
    let dummy = &deps["testdummy"];
    let locked = signals(144..=287) >= 108;
    let status = if locked { "locked_in" } else { "started" };
    assert_eq!(dummy["type"], json!("bip9"));
    assert_eq!(dummy["active"], json!(false));
    assert_eq!(dummy["bip9"]["status"], json!(status), "{dummy}");
    assert_eq!(dummy["bip9"]["status_next"], json!(status));
    assert_eq!(dummy["bip9"]["since"], json!(if locked { 288 } else { 144 }));
    assert_eq!(dummy["bip9"]["statistics"]["elapsed"], json!(13));
    assert_eq!(dummy["bip9"]["statistics"]["count"], json!(signals(288..=300)));
    assert_eq!(dummy["bip9"]["signalling"].as_str().unwrap().len(), 13);
    assert_eq!(
        tip["script_flags"],
        json!([
            "CHECKLOCKTIMEVERIFY",
            "CHECKSEQUENCEVERIFY",
            "DERSIG",
            "NULLDUMMY",
            "P2SH",
            "TAPROOT",
            "WITNESS"
        ])
    );
    // At genesis the deployments starting at height 1 are already active for the next block.
    let genesis = core["blocks"][0]["hash"].clone();
    let g = n.call("getdeploymentinfo", json!([genesis]));
    assert_eq!(g["height"], json!(0));
    assert_eq!(g["deployments"]["bip34"]["active"], json!(params.bip34_height <= 1));
    assert_eq!(
        n.try_call("getdeploymentinfo", json!(["11".repeat(32)])).unwrap_err(),
        json!({"code": -5, "message": "Block not found"})
    );

    // submitheader: a valid next header becomes a headers-only chain tip.
    let blocks = support::chain_blocks();
    let tip_block = blocks.last().unwrap();
    let mut header = tip_block.header;
    header.prev_blockhash = tip_block.block_hash();
    header.time = tip_block.header.time + 1;
    header.merkle_root = bitcoin::TxMerkleNode::from_byte_array([7; 32]);
    mining::mine(&mut header);
    let hex = bitcoin::consensus::encode::serialize_hex(&header);
    assert_eq!(n.call("submitheader", json!([hex])), Value::Null);
    assert_eq!(n.call("submitheader", json!({"hexdata": hex})), Value::Null, "known header");
    let tips = n.call("getchaintips", json!([]));
    let hash = header.block_hash().to_string();
    assert!(
        tips.as_array()
            .unwrap()
            .iter()
            .any(|t| t["hash"] == json!(hash) && t["status"] == json!("headers-only")),
        "{tips}"
    );
    assert_eq!(n.call("getblockcount", json!([])), json!(300), "a header does not move the tip");
    let hdr = n.call("getblockheader", json!([hash]));
    assert_eq!(hdr["height"], json!(301));
    assert_eq!(
        n.try_call("getblockstats", json!([hash])).unwrap_err(),
        json!({"code": -1, "message": "Block not available (not fully downloaded)"}),
        "as Core: a header-only block is found, then its data is missing"
    );
    // Unknown parent, bad proof of work, undecodable data.
    let mut orphan = header;
    orphan.prev_blockhash = bitcoin::BlockHash::from_byte_array([9; 32]);
    mining::mine(&mut orphan);
    assert_eq!(
        n.try_call("submitheader", json!([bitcoin::consensus::encode::serialize_hex(&orphan)]))
            .unwrap_err(),
        json!({"code": -25, "message": format!("Must submit previous header ({}) first", orphan.prev_blockhash)})
    );
    let mut bad = header;
    bad.nonce = bad.nonce.wrapping_add(1);
    mining::unmine(&mut bad);
    assert_eq!(
        n.try_call("submitheader", json!([bitcoin::consensus::encode::serialize_hex(&bad)]))
            .unwrap_err(),
        json!({"code": -25, "message": "high-hash"})
    );
    assert_eq!(
        n.try_call("submitheader", json!(["00ff"])).unwrap_err(),
        json!({"code": -22, "message": "Block header decode failed"})
    );

    // preciousblock on an ancestor (less work than the tip): accepted, tip unchanged; unknown
    // hashes are Core's error.
    assert_eq!(n.call("preciousblock", json!([core["blocks"][150]["hash"]])), Value::Null);
    assert_eq!(n.call("getbestblockhash", json!([])), core["tip_hash"]);
    assert_eq!(
        n.try_call("preciousblock", json!(["22".repeat(32)])).unwrap_err(),
        json!({"code": -5, "message": "Block not found"})
    );
    assert_eq!(n.try_call("preciousblock", json!(["zz"])).unwrap_err()["code"], json!(-8));
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preciousblock_switches_between_equal_work_tips() {
    let n = InProcessNode::start(false).await;
    let payout = mining::p2wsh_op_true();
    let addr = bitcoin::Address::from_script(&payout, bitcoin::Network::Regtest)
        .unwrap()
        .to_string();
    let mined = n.call("generatetoaddress", json!([2, addr]));
    let (t1, t2) = (mined[0].as_str().unwrap().to_string(), mined[1].as_str().unwrap().to_string());
    // A competing block on t1: as much work as t2, received later, so t2 stays active.
    let fork = {
        let c = n.node.chain();
        let c = c.lock().unwrap();
        let parent = mining::parent_of(&c, &t1.parse().unwrap());
        mining::build_block(&parent, 77, vec![], Amount::ZERO, payout.clone())
    };
    let b2 = fork.block_hash().to_string();
    n.call("submitblock", json!([bitcoin::consensus::encode::serialize_hex(&fork)]));
    assert_eq!(n.call("getbestblockhash", json!([])), json!(t2));
    let status = |tips: &Value, h: &str| {
        tips.as_array()
            .unwrap()
            .iter()
            .find(|t| t["hash"] == json!(h))
            .map(|t| t["status"].clone())
    };
    assert_eq!(status(&n.call("getchaintips", json!([])), &b2), Some(json!("valid-fork")));

    // preciousblock on the fork: a real reorg to it; a wait sees the new tip.
    let waiter = {
        let (addr, creds) = (n.addr.clone(), n.creds.clone());
        tokio::task::spawn_blocking(move || http::call(&addr, &creds, "waitfornewblock", json!([10000])))
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(n.call("preciousblock", json!([b2])), Value::Null);
    assert_eq!(n.call("getbestblockhash", json!([])), json!(b2));
    assert_eq!(waiter.await.unwrap()["result"], json!({"hash": b2, "height": 2}));
    let tips = n.call("getchaintips", json!([]));
    assert_eq!(status(&tips, &b2), Some(json!("active")));
    assert_eq!(status(&tips, &t2), Some(json!("valid-fork")));
    assert_eq!(n.call("getblockheader", json!([t2]))["confirmations"], json!(-1));

    // And back; an ancestor (less work) changes nothing.
    assert_eq!(n.call("preciousblock", json!([t2])), Value::Null);
    assert_eq!(n.call("getbestblockhash", json!([])), json!(t2));
    assert_eq!(n.call("preciousblock", json!([t1])), Value::Null);
    assert_eq!(n.call("getbestblockhash", json!([])), json!(t2));
    // More work wins over the precious choice, as in Core.
    assert_eq!(n.call("preciousblock", json!([b2])), Value::Null);
    let more = {
        let c = n.node.chain();
        let c = c.lock().unwrap();
        let parent = mining::parent_of(&c, &t2.parse().unwrap());
        mining::build_block(&parent, 78, vec![], Amount::ZERO, payout.clone())
    };
    n.call("submitblock", json!([bitcoin::consensus::encode::serialize_hex(&more)]));
    assert_eq!(n.call("getbestblockhash", json!([])), json!(more.block_hash().to_string()));
    assert_eq!(n.call("getblockcount", json!([])), json!(3));
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn getblockstats_of_a_pruned_block_is_cores_error() {
    // Small block files, and 300 more blocks on Core's chain, so whole files fall below tip - 288.
    let dir = tempfile::tempdir().unwrap();
    let small_files = ChainSettings {
        max_block_file_size: 64 * 1024,
        ..support::test_settings()
    };
    {
        let net_dir = dir.path().join("regtest");
        let mut c = ChainManager::open(ChainParams::for_network(bitcoin::Network::Regtest), &net_dir, small_files.clone()).unwrap();
        import_file(&mut c, &support::chain_hex_path(), Duration::from_secs(60)).expect("import");
        for i in 0..300u64 {
            let tip = c.tip().hash;
            let parent = mining::parent_of(&c, &tip);
            let block = mining::build_block(&parent, 5000 + i, vec![], Amount::ZERO, mining::op_true());
            c.process_block(&block).unwrap();
        }
        assert_eq!(c.height(), 600);
        c.flush(FlushReason::Manual).unwrap();
    }
    let n = InProcessNode::start_in(dir, false, small_files).await;
    let before = n.call("getblockstats", json!([171]));
    assert!(before["totalfee"].as_i64().unwrap() > 0);
    let pruned_to = n.call("pruneblockchain", json!([312])).as_u64().unwrap();
    assert!(pruned_to >= 171, "block 171's file is pruned (pruned to {pruned_to})");
    assert_eq!(
        n.try_call("getblockstats", json!([171])).unwrap_err(),
        json!({"code": -1, "message": "Block not available (pruned data)"})
    );
    // Blocks above the pruned files are still served.
    let tip = n.call("getblockstats", json!([600, ["height", "txs"]]));
    assert_eq!(tip, json!({"height": 600, "txs": 1}));
    n.stop().await;
}

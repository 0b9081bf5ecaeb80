//! electrs, the Electrum server most node packages ship, indexing a real `blvm-node` holding
//! Core's 301-block regtest chain over RPC and REST, then answering an Electrum-protocol client
//! exactly as the node's own RPC does: the tip header, raw transactions, and script balances,
//! unspents and histories.
//!
//! Opt-in (electrs takes about 20 minutes to build):
//!   cargo install --locked electrs --root /some/dir
//!   ELECTRS=/some/dir/bin/electrs cargo test -p blvm-node --test electrs -- --ignored
//! Without `ELECTRS` the ignored test fails, saying so.

mod support;

use support::{http, node_proc, p2p_peer};

use bitcoin::consensus::serialize;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::{Block, ScriptBuf};
use p2p_peer::{rpc, to_hex};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A line-delimited JSON-RPC connection to an Electrum server.
struct Electrum {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_id: u64,
}

impl Electrum {
    fn connect(port: u16) -> std::io::Result<Electrum> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Electrum {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
            next_id: 0,
        })
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let req = json!({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params});
        writeln!(self.writer, "{req}").expect("write request");
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("read reply");
            assert!(!line.is_empty(), "electrs closed the connection during {method}");
            let v: Value = serde_json::from_str(&line).expect("JSON reply");
            // Skip notifications (subscriptions); answer ours by id.
            if v["id"] == json!(self.next_id) {
                assert!(v["error"].is_null(), "{method} {params}: {v}");
                return v["result"].clone();
            }
        }
    }
}

/// Electrum's script hash: SHA-256 of the script, byte-reversed, hex.
fn script_hash(script: &ScriptBuf) -> String {
    let mut h = sha256::Hash::hash(script.as_bytes()).to_byte_array();
    h.reverse();
    to_hex(&h)
}

/// Kills electrs when the test ends, however it ends.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "opt-in: needs an electrs binary in ELECTRS (see the file's header)"]
fn electrs_indexes_the_node_and_answers_as_its_rpc() {
    let electrs = std::env::var("ELECTRS").expect("set ELECTRS to an electrs binary (cargo install --locked electrs)");
    let blocks: Vec<Block> = support::chain_blocks();
    let dir = tempfile::tempdir().unwrap();
    node_proc::import_offline(dir.path(), &support::chain_hex_path());
    let port = http::free_port();
    let rpcport = format!("-rpcport={port}");
    let node = node_proc::start_node_in(dir.path(), &[&rpcport, "-rest", "-listen=0"], &[]);
    node.wait_started();
    assert_eq!(rpc(&node, port, "getblockcount", json!([])), 300);

    let db = tempfile::tempdir().unwrap();
    let eport = http::free_port();
    let child = Command::new(&electrs)
        .args(["--network", "regtest", "--skip-block-download-wait", "--log-filters", "INFO"])
        .arg("--db-dir")
        .arg(db.path())
        .arg("--daemon-dir")
        .arg(dir.path())
        .arg("--cookie-file")
        .arg(node.net_dir().join(".cookie"))
        .args(["--daemon-rpc-addr", &format!("127.0.0.1:{port}")])
        .args(["--electrum-rpc-addr", &format!("127.0.0.1:{eport}")])
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(db.path().join("electrs.log")).unwrap()))
        .spawn()
        .expect("start electrs");
    let _reaper = Reaper(child);

    // electrs opens its Electrum port once it has indexed the chain.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut client = loop {
        if let Ok(c) = Electrum::connect(eport) {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "electrs did not start: {}",
            std::fs::read_to_string(db.path().join("electrs.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    client.call("server.version", json!(["blvm-test", "1.4"]));

    // The tip: height and header bytes as the node's RPC gives them.
    let tip = client.call("blockchain.headers.subscribe", json!([]));
    let best = rpc(&node, port, "getbestblockhash", json!([]));
    assert_eq!(tip["height"], 300);
    assert_eq!(tip["hex"], rpc(&node, port, "getblockheader", json!([best, false])));
    for h in [0u64, 1, 150, 300] {
        let hash = rpc(&node, port, "getblockhash", json!([h]));
        assert_eq!(
            client.call("blockchain.block.header", json!([h])),
            rpc(&node, port, "getblockheader", json!([hash, false])),
            "header at {h}"
        );
    }

    // Every non-coinbase transaction, as raw hex, equals the node's getrawtransaction.
    let mut scripts: BTreeSet<ScriptBuf> = BTreeSet::new();
    let mut checked = 0;
    for (h, b) in blocks.iter().enumerate() {
        let hash = b.block_hash().to_string();
        for tx in &b.txdata {
            // The genesis coinbase is not in the UTXO set (as in Core), so the node never
            // counts it; electrs indexes it like any output.
            if h > 0 {
                scripts.extend(tx.output.iter().map(|o| o.script_pubkey.clone()).filter(|s| !s.is_op_return()));
            }
            if tx.is_coinbase() && (h == 0 || h % 50 != 0) {
                continue;
            }
            let txid = tx.compute_txid().to_string();
            let ours = rpc(&node, port, "getrawtransaction", json!([txid, false, hash]));
            assert_eq!(ours, to_hex(&serialize(tx)));
            assert_eq!(client.call("blockchain.transaction.get", json!([txid, false])), ours, "tx {txid}");
            checked += 1;
        }
    }
    assert!(checked > 50, "the chain has transactions to compare ({checked})");

    // Every script the chain paid: balance, unspents and history against the node, whose
    // answers come from one scantxoutset and one getdescriptoractivity over all of them.
    let descs: Vec<String> = scripts.iter().map(|s| format!("raw({})", to_hex(s.as_bytes()))).collect();
    type Utxos = BTreeMap<(String, u64), (u64, u64)>;
    let mut node_utxos: BTreeMap<String, Utxos> = BTreeMap::new();
    for u in rpc(&node, port, "scantxoutset", json!(["start", descs]))["unspents"]
        .as_array()
        .unwrap()
    {
        let sats = (u["amount"].as_f64().unwrap() * 1e8).round() as u64;
        node_utxos
            .entry(u["scriptPubKey"].as_str().unwrap().to_string())
            .or_default()
            .insert(
                (u["txid"].as_str().unwrap().to_string(), u["vout"].as_u64().unwrap()),
                (u["height"].as_u64().unwrap(), sats),
            );
    }
    let all_blocks: Vec<String> = blocks.iter().map(|b| b.block_hash().to_string()).collect();
    let mut node_history: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in rpc(&node, port, "getdescriptoractivity", json!([all_blocks, descs, false]))["activity"]
        .as_array()
        .unwrap()
    {
        let (spk, txid) = match e.get("spend_txid") {
            Some(t) => (&e["prevout_spk"]["hex"], t),
            None => (&e["output_spk"]["hex"], &e["txid"]),
        };
        node_history
            .entry(spk.as_str().unwrap().to_string())
            .or_default()
            .insert(txid.as_str().unwrap().to_string());
    }
    for script in &scripts {
        let sh = script_hash(script);
        let key = to_hex(script.as_bytes());
        let utxos = node_utxos.remove(&key).unwrap_or_default();
        let total: u64 = utxos.values().map(|(_, sats)| sats).sum();
        let balance = client.call("blockchain.scripthash.get_balance", json!([sh]));
        assert_eq!(balance, json!({"confirmed": total, "unconfirmed": 0}), "balance of {script}");
        let electrum_utxos: Utxos = client
            .call("blockchain.scripthash.listunspent", json!([sh]))
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                (
                    (u["tx_hash"].as_str().unwrap().to_string(), u["tx_pos"].as_u64().unwrap()),
                    (u["height"].as_u64().unwrap(), u["value"].as_u64().unwrap()),
                )
            })
            .collect();
        assert_eq!(electrum_utxos, utxos, "unspents of {script}");
        let history: BTreeSet<String> = client
            .call("blockchain.scripthash.get_history", json!([sh]))
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["tx_hash"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(history, node_history.remove(&key).unwrap_or_default(), "history of {script}");
    }
    assert!(scripts.len() > 1);
}

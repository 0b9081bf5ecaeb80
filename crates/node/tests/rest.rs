//! Bitcoin Core's REST interface (`-rest`) of the real `blvm-node` binary over TCP, on Core's
//! 301-block regtest chain: every endpoint's JSON against the node's own RPC answers and Core's
//! recorded ones, `.bin`/`.hex` bytes against the chain file and RPC hex, Core's status codes,
//! error texts and Cache-Control headers, the bounds (header count, getutxos outpoints), and
//! REST being off (404) without `-rest`. Follows Core's `interface_rest.py`.

mod support;

use support::p2p_peer::to_hex;
use support::{http, mining, node_proc, p2p_peer};

use bitcoin::consensus::serialize;
use bitcoin::hashes::Hash;
use bitcoin::hex::FromHex;
use bitcoin::{Address, Block, Network, OutPoint, Txid};
use p2p_peer::rpc;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::str::FromStr;
use std::time::Duration;

const IMMUTABLE: &str = "public, immutable, max-age=86400";
const UNKNOWN: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One raw HTTP answer (binary-safe).
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Sends one request without credentials and reads the whole answer.
fn request(port: u16, method: &str, target: &str, body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    // Chunked bodies (none expected: every answer has a known length).
    if headers_has(&headers, "transfer-encoding", "chunked") {
        body = dechunk(&body);
    }
    Reply { status, headers, body }
}

fn headers_has(h: &[(String, String)], name: &str, value: &str) -> bool {
    h.iter().any(|(n, v)| n == name && v.contains(value))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[i + 4 + n..];
    }
    out
}

fn get(port: u16, target: &str) -> Reply {
    request(port, "GET", target, b"")
}

/// GET expecting 200; returns the answer.
fn ok(port: u16, target: &str) -> Reply {
    let r = get(port, target);
    assert_eq!(r.status, 200, "{target}: {}", r.text());
    r
}

/// GET expecting an error `status` with Core's text (CRLF-terminated, text/plain, no-store).
fn err(port: u16, target: &str, status: u16, text: &str) {
    let r = get(port, target);
    assert_eq!((r.status, r.text()), (status, format!("{text}\r\n")), "{target}");
    assert_eq!(r.header("content-type"), Some("text/plain"), "{target}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{target}");
}

struct Fixture {
    node: node_proc::NodeProc,
    port: u16,
    blocks: Vec<Block>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn start() -> Self {
        let blocks = support::chain_blocks();
        let dir = tempfile::tempdir().unwrap();
        node_proc::import_offline(dir.path(), &support::chain_hex_path());
        let port = http::free_port();
        let rpcport = format!("-rpcport={port}");
        let node = node_proc::start_node_in(dir.path(), &[&rpcport, "-rest", "-txindex", "-blockfilterindex", "-listen=0"], &[]);
        node.wait_started();
        Fixture {
            node,
            port,
            blocks,
            _dir: dir,
        }
    }
    fn rpc(&self, method: &str, params: Value) -> Value {
        rpc(&self.node, self.port, method, params)
    }
}

#[test]
fn rest_endpoints_match_rpc_and_core() {
    let f = Fixture::start();
    let port = f.port;
    let core = support::core_json();
    let tip = f.blocks[300].block_hash().to_string();

    // electrs's first request: the genesis hash, in internal byte order.
    let r = ok(port, "/rest/blockhashbyheight/0.bin");
    assert_eq!(r.body, f.blocks[0].block_hash().to_byte_array().to_vec());
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));

    // blockhashbyheight for every height, against Core's hashes; hex and JSON forms.
    for (h, b) in core["blocks"].as_array().unwrap().iter().enumerate() {
        let json = ok(port, &format!("/rest/blockhashbyheight/{h}.json")).json();
        assert_eq!(json, json!({"blockhash": b["hash"]}), "height {h}");
    }
    assert_eq!(ok(port, "/rest/blockhashbyheight/300.hex").text(), format!("{tip}\n"));
    err(port, "/rest/blockhashbyheight/abc.json", 400, "Invalid height: abc");
    err(port, "/rest/blockhashbyheight/+1.json", 400, "Invalid height: +1");
    err(port, "/rest/blockhashbyheight/-1.json", 400, "Invalid height: -1");
    err(port, "/rest/blockhashbyheight/.json", 400, "Invalid height: ");
    err(port, "/rest/blockhashbyheight/1000000.json", 404, "Block height out of range");
    err(port, "/rest/blockhashbyheight/999999999.json", 404, "Block height out of range");
    assert_eq!(
        ok(port, "/rest/blockhashbyheight/300.json").header("cache-control"),
        Some("no-store")
    );

    // Blocks: .bin is the block as stored, .hex the same with a newline; JSON is getblock 3 / 1.
    for h in [0usize, 1, 101, 171, 300] {
        let b = &f.blocks[h];
        let hash = b.block_hash().to_string();
        let bin = ok(port, &format!("/rest/block/{hash}.bin"));
        assert_eq!(bin.body, serialize(b), "block {h}");
        assert_eq!(bin.header("cache-control"), Some(IMMUTABLE));
        let rpc_hex = f.rpc("getblock", json!([hash, 0]));
        assert_eq!(
            ok(port, &format!("/rest/block/{hash}.hex")).text(),
            format!("{}\n", rpc_hex.as_str().unwrap())
        );
        let json = ok(port, &format!("/rest/block/{hash}.json"));
        assert_eq!(json.header("cache-control"), Some("no-store"));
        assert_eq!(json.json(), f.rpc("getblock", json!([hash, 3])), "block {h}");
        assert_eq!(
            ok(port, &format!("/rest/block/notxdetails/{hash}.json")).json(),
            f.rpc("getblock", json!([hash, 1]))
        );
        // blockpart: byte ranges of the same bytes.
        let part = ok(port, &format!("/rest/blockpart/{hash}.bin?offset=20&size=60"));
        assert_eq!(part.body, serialize(b)[20..80].to_vec());
        let len = serialize(b).len();
        let last = ok(port, &format!("/rest/blockpart/{hash}.hex?offset={}&size=5", len - 5));
        assert_eq!(last.text(), format!("{}\n", to_hex(&serialize(b)[len - 5..])));
        for q in [
            format!("offset={len}&size=1"),
            format!("offset=0&size={}", len + 1),
            "offset=0&size=0".into(),
        ] {
            assert_eq!(get(port, &format!("/rest/blockpart/{hash}.bin?{q}")).status, 400, "{q}");
        }
    }
    // Core's recorded getblock (verbosity 2) of its sample blocks: REST's verbosity 3 without prevouts.
    for s in core["sample_blocks"].as_array().unwrap() {
        let g2 = &s["getblock_2"];
        let mut ours = ok(port, &format!("/rest/block/{}.json", g2["hash"].as_str().unwrap())).json();
        for tx in ours["tx"].as_array_mut().unwrap() {
            for vin in tx["vin"].as_array_mut().unwrap() {
                let had = vin.as_object_mut().unwrap().remove("prevout").is_some();
                assert_eq!(had, vin.get("coinbase").is_none());
            }
        }
        assert_eq!(&ours, g2, "block {}", g2["height"]);
    }
    err(port, &format!("/rest/block/{UNKNOWN}.bin"), 404, &format!("{UNKNOWN} not found"));
    err(port, "/rest/block/abc.json", 400, "Invalid hash: abc");
    err(
        port,
        &format!("/rest/block/{tip}.invalid"),
        400,
        &format!("Invalid hash: {tip}.invalid"),
    );
    err(
        port,
        &format!("/rest/block/{tip}"),
        404,
        "output format not found (available: .bin, .hex, .json)",
    );
    let genesis = f.blocks[0].block_hash();
    err(
        port,
        &format!("/rest/blockpart/{genesis}.bin?size=3"),
        400,
        "Block part offset missing or invalid",
    );
    err(
        port,
        &format!("/rest/blockpart/{genesis}.bin?offset=x&size=3"),
        400,
        "Block part offset missing or invalid",
    );
    err(
        port,
        &format!("/rest/blockpart/{genesis}.bin?offset=1"),
        400,
        "Block part size missing or invalid",
    );
    err(
        port,
        &format!("/rest/blockpart/{genesis}.bin?%XY"),
        400,
        "Block part offset missing or invalid",
    );
    err(
        port,
        &format!("/rest/blockpart/{genesis}.json?offset=0&size=1"),
        400,
        "JSON output is not supported for this request type",
    );

    // Headers: the active chain from a hash, at most `count`, at most 2000.
    let h100 = f.blocks[100].block_hash().to_string();
    let heads = ok(port, &format!("/rest/headers/{h100}.json?count=2000")).json();
    assert_eq!(heads.as_array().unwrap().len(), 201);
    for (i, v) in heads.as_array().unwrap().iter().enumerate().step_by(50) {
        let hash = f.blocks[100 + i].block_hash().to_string();
        assert_eq!(v, &f.rpc("getblockheader", json!([hash])), "header {}", 100 + i);
    }
    let bin = ok(port, &format!("/rest/headers/{h100}.bin?count=5"));
    let expect: Vec<u8> = f.blocks[100..105].iter().flat_map(|b| serialize(&b.header)).collect();
    assert_eq!(bin.body, expect);
    assert_eq!(
        ok(port, &format!("/rest/headers/{h100}.hex?count=5")).text(),
        format!("{}\n", to_hex(&expect))
    );
    assert_eq!(
        ok(port, &format!("/rest/headers/{h100}.json")).json().as_array().unwrap().len(),
        5,
        "count defaults to 5"
    );
    assert_eq!(
        ok(port, &format!("/rest/headers/3/{h100}.json")).json(),
        ok(port, &format!("/rest/headers/{h100}.json?count=3")).json()
    );
    assert_eq!(ok(port, &format!("/rest/headers/{UNKNOWN}.json?count=1")).json(), json!([]));
    assert_eq!(&bin.body[..80], &ok(port, &format!("/rest/block/{h100}.bin")).body[..80]);
    for n in ["5a", "-5", "0", "2001", "99999999999999999999999999999999999"] {
        err(
            port,
            &format!("/rest/headers/{h100}.json?count={n}"),
            400,
            &format!("Header count is invalid or out of acceptable range (1-2000): {n}"),
        );
    }
    err(port, &format!("/rest/headers/{tip}%.json"), 400, &format!("Invalid hash: {tip}%"));
    err(port, &format!("/rest/headers/{tip}%"), 400, &format!("Invalid hash: {tip}%"));
    err(
        port,
        &format!("/rest/headers/1/2/{tip}.json"),
        400,
        "Invalid URI format. Expected /rest/headers/<hash>.<ext>?count=<count>",
    );

    // Transactions (-txindex): TxToUniv with the block hash, without getrawtransaction's
    // confirmation fields; .bin is the serialized transaction.
    for h in [1usize, 171, 300] {
        for tx in f.blocks[h].txdata.iter().take(3) {
            let txid = tx.compute_txid().to_string();
            let mut expect = f.rpc("getrawtransaction", json!([txid, 1]));
            let o = expect.as_object_mut().unwrap();
            for k in ["confirmations", "time", "blocktime"] {
                o.remove(k);
            }
            let hex_field = o.remove("hex").unwrap();
            o.insert("hex".into(), hex_field);
            let r = ok(port, &format!("/rest/tx/{txid}.json"));
            assert_eq!(r.json(), expect, "{txid}");
            let t = r.text();
            assert!(
                t.find("\"blockhash\"") < t.rfind("\"hex\""),
                "blockhash before the transaction's hex, as Core"
            );
            assert_eq!(ok(port, &format!("/rest/tx/{txid}.bin")).body, serialize(tx));
            assert_eq!(
                ok(port, &format!("/rest/tx/{txid}.hex")).text(),
                format!("{}\n", to_hex(&serialize(tx)))
            );
        }
    }
    err(port, "/rest/tx/abc.json", 400, "Invalid hash: abc");
    err(port, &format!("/rest/tx/{UNKNOWN}.json"), 404, &format!("{UNKNOWN} not found"));
    err(
        port,
        &format!("/rest/tx/{}.json", "f".repeat(64)),
        404,
        &format!("{} not found", "f".repeat(64)),
    );

    // chaininfo, mempool, deploymentinfo: the RPC answers themselves.
    let chaininfo = ok(port, "/rest/chaininfo.json").json();
    assert_eq!(chaininfo, f.rpc("getblockchaininfo", json!([])));
    for k in [
        "chain",
        "blocks",
        "headers",
        "bestblockhash",
        "bits",
        "target",
        "difficulty",
        "time",
        "mediantime",
        "chainwork",
    ] {
        assert_eq!(chaininfo[k], core["getblockchaininfo"][k], "{k}");
    }
    err(port, "/rest/chaininfo.bin", 404, "output format not found (available: json)");
    assert_eq!(ok(port, "/rest/mempool/info.json").json(), f.rpc("getmempoolinfo", json!([])));
    assert_eq!(
        ok(port, "/rest/mempool/contents.json").json(),
        f.rpc("getrawmempool", json!([true]))
    );
    assert_eq!(ok(port, "/rest/mempool/contents.json").text(), "{}\n");
    assert_eq!(ok(port, "/rest/mempool/contents.json?%").text(), "{}\n");
    assert_eq!(
        ok(port, "/rest/mempool/contents.json?verbose=false").json(),
        f.rpc("getrawmempool", json!([false]))
    );
    assert_eq!(
        ok(port, "/rest/mempool/contents.json?verbose=false&mempool_sequence=true").json(),
        f.rpc("getrawmempool", json!([false, true]))
    );
    err(
        port,
        "/rest/mempool/contents.json?verbose=true&mempool_sequence=true",
        400,
        "Verbose results cannot contain mempool sequence values. (hint: set \"verbose=false\")",
    );
    err(
        port,
        "/rest/mempool/contents.json?verbose=TRUE",
        400,
        "The \"verbose\" query parameter must be either \"true\" or \"false\".",
    );
    err(
        port,
        "/rest/mempool/contents.json?verbose=false&mempool_sequence=TRUE",
        400,
        "The \"mempool_sequence\" query parameter must be either \"true\" or \"false\".",
    );
    err(
        port,
        "/rest/mempool/not-a-valid-path.json",
        400,
        "Invalid URI format. Expected /rest/mempool/<info|contents>.json",
    );
    err(port, "/rest/mempool/info.bin", 404, "output format not found (available: json)");
    let dep = ok(port, "/rest/deploymentinfo.json");
    assert_eq!(dep.json(), f.rpc("getdeploymentinfo", json!([])));
    assert_eq!(dep.header("cache-control"), Some("no-store"));
    let h299 = f.blocks[299].block_hash().to_string();
    let dep = ok(port, &format!("/rest/deploymentinfo/{h299}.json"));
    assert_eq!(dep.json(), f.rpc("getdeploymentinfo", json!([h299])));
    assert_eq!(dep.header("cache-control"), Some(IMMUTABLE));
    err(port, &format!("/rest/deploymentinfo/{UNKNOWN}.json"), 400, "Block not found");
    err(port, "/rest/deploymentinfo/abc.json", 400, "Invalid hash: abc");

    // Block filters against Core's recorded filters and headers.
    let blocks_core = core["blocks"].as_array().unwrap();
    for h in [0usize, 1, 150, 300] {
        let hash = f.blocks[h].block_hash().to_string();
        let r = ok(port, &format!("/rest/blockfilter/basic/{hash}.json"));
        assert_eq!(r.json(), json!({"filter": blocks_core[h]["basic_filter"]}));
        assert_eq!(r.header("cache-control"), Some(IMMUTABLE));
        let bin = ok(port, &format!("/rest/blockfilter/basic/{hash}.bin")).body;
        let filter = Vec::<u8>::from_hex(blocks_core[h]["basic_filter"].as_str().unwrap()).expect("hex");
        let mut expect = vec![0u8];
        expect.extend(f.blocks[h].block_hash().to_byte_array());
        expect.extend(serialize(&bitcoin::consensus::encode::VarInt(filter.len() as u64)));
        expect.extend(filter);
        assert_eq!(bin, expect);
        let rpc_filter = f.rpc("getblockfilter", json!([hash]));
        let heads = ok(port, &format!("/rest/blockfilterheaders/basic/{hash}.json?count=3")).json();
        assert_eq!(heads[0], rpc_filter["header"]);
        for (i, v) in heads.as_array().unwrap().iter().enumerate() {
            assert_eq!(v, &blocks_core[h + i]["basic_filter_header"]);
        }
        assert_eq!(heads, ok(port, &format!("/rest/blockfilterheaders/basic/3/{hash}.json")).json());
        let hbin = ok(port, &format!("/rest/blockfilterheaders/basic/{hash}.bin?count=1")).body;
        let mut want = Vec::<u8>::from_hex(blocks_core[h]["basic_filter_header"].as_str().unwrap()).expect("hex");
        want.reverse();
        assert_eq!(hbin, want);
    }
    err(
        port,
        &format!("/rest/blockfilterheaders/abc/{tip}.json"),
        400,
        "Unknown filtertype abc",
    );
    err(port, "/rest/blockfilterheaders/basic/abc.json", 400, "Invalid hash: abc");
    err(
        port,
        &format!("/rest/blockfilterheaders/basic/{tip}%"),
        400,
        &format!("Invalid hash: {tip}%"),
    );
    err(
        port,
        &format!("/rest/blockfilter/basic/{UNKNOWN}.json"),
        404,
        &format!("{UNKNOWN} not found"),
    );

    // spenttxouts against getblock 3's prevouts, for every block.
    for (h, b) in f.blocks.iter().enumerate() {
        let hash = b.block_hash().to_string();
        let json = ok(port, &format!("/rest/spenttxouts/{hash}.json"));
        assert_eq!(json.header("cache-control"), Some(IMMUTABLE));
        let json = json.json();
        let bin = ok(port, &format!("/rest/spenttxouts/{hash}.bin")).body;
        assert_eq!(
            ok(port, &format!("/rest/spenttxouts/{hash}.hex")).text(),
            format!("{}\n", to_hex(&bin))
        );
        let full = f.rpc("getblock", json!([hash, 3]));
        let txs = full["tx"].as_array().unwrap();
        assert_eq!(json.as_array().unwrap().len(), txs.len(), "block {h}");
        let mut expect_bin = serialize(&bitcoin::consensus::encode::VarInt(txs.len() as u64));
        for (i, tx) in txs.iter().enumerate() {
            let prevouts: Vec<Value> = tx["vin"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| v.get("coinbase").is_none())
                .map(|v| json!({"value": v["prevout"]["value"], "scriptPubKey": v["prevout"]["scriptPubKey"]}))
                .collect();
            assert_eq!(json[i], Value::Array(prevouts.clone()), "block {h} tx {i}");
            expect_bin.extend(serialize(&bitcoin::consensus::encode::VarInt(prevouts.len() as u64)));
            for p in &prevouts {
                let sat = (p["value"].as_f64().unwrap() * 1e8).round() as u64;
                expect_bin.extend(sat.to_le_bytes());
                let spk = Vec::<u8>::from_hex(p["scriptPubKey"]["hex"].as_str().unwrap()).expect("hex");
                expect_bin.extend(serialize(&bitcoin::ScriptBuf::from_bytes(spk)));
            }
        }
        assert_eq!(bin, expect_bin, "block {h}");
    }
    err(
        port,
        &format!("/rest/spenttxouts/{UNKNOWN}.bin"),
        404,
        &format!("{UNKNOWN} not found"),
    );
    err(port, "/rest/spenttxouts/abc.json", 400, "Invalid hash: abc");

    // getutxos: the bitmap agrees with gettxout, the coins with its values.
    let mut outpoints = Vec::new();
    for h in [1usize, 150, 299, 300] {
        for tx in f.blocks[h].txdata.iter().take(3) {
            outpoints.push(OutPoint {
                txid: tx.compute_txid(),
                vout: 0,
            });
        }
    }
    for chunk in outpoints.chunks(6) {
        let path: Vec<String> = chunk.iter().map(|o| format!("{}-{}", o.txid, o.vout)).collect();
        let r = ok(port, &format!("/rest/getutxos/{}.json", path.join("/"))).json();
        assert_eq!(r["chainHeight"], 300);
        assert_eq!(r["chaintipHash"], tip);
        let mut bits = String::new();
        let mut coins = Vec::new();
        for o in chunk {
            let out = f.rpc("gettxout", json!([o.txid.to_string(), o.vout]));
            bits.push(if out.is_null() { '0' } else { '1' });
            if !out.is_null() {
                coins.push(out);
            }
        }
        assert_eq!(r["bitmap"], bits);
        let utxos = r["utxos"].as_array().unwrap();
        assert_eq!(utxos.len(), coins.len());
        for (u, c) in utxos.iter().zip(&coins) {
            assert_eq!(u["value"], c["value"]);
            assert_eq!(u["scriptPubKey"]["hex"], c["scriptPubKey"]["hex"]);
            assert_eq!(u["height"].as_i64().unwrap(), 300 - c["confirmations"].as_i64().unwrap() + 1);
        }
        // The binary request and answer (BIP64): height, tip, bitmap, coins.
        let mut req = vec![0u8, chunk.len() as u8];
        for o in chunk {
            req.extend(serialize(o));
        }
        let bin = request(port, "POST", "/rest/getutxos.bin", &req);
        assert_eq!(bin.status, 200, "{}", bin.text());
        assert_eq!(&bin.body[..4], &300i32.to_le_bytes());
        assert_eq!(&bin.body[4..36], f.blocks[300].block_hash().to_byte_array().as_slice());
        assert_eq!(bin.body[36], 1, "bitmap of one byte");
        let bitmap = bin.body[37];
        for (i, ch) in bits.chars().enumerate() {
            assert_eq!(bitmap >> i & 1 == 1, ch == '1');
        }
        assert_eq!(usize::from(bin.body[38]), coins.len());
        let hexed = request(port, "POST", "/rest/getutxos.hex", to_hex(&req).as_bytes());
        assert_eq!(hexed.text(), format!("{}\n", to_hex(&bin.body)));
    }
    let o = &outpoints[0];
    err(port, "/rest/getutxos/checkmempool.json", 400, "Error: empty request");
    for bad in [
        format!("{}_+1", o.txid),
        format!("{}-+1", o.txid),
        format!("{}--1", o.txid),
        format!("{}aa-1234", o.txid),
        "aa-1234".into(),
    ] {
        err(port, &format!("/rest/getutxos/{bad}.json"), 400, "Parse error");
    }
    let r = request(port, "POST", "/rest/getutxos.json", b"{\"checkmempool");
    assert_eq!((r.status, r.text()), (400, "Error: empty request\r\n".into()));
    let r = request(port, "POST", "/rest/getutxos.bin", b"{\"checkmempool");
    assert_eq!((r.status, r.text()), (400, "Parse error\r\n".into()));
    let many = |n: u32| (0..n).map(|i| format!("{}-{i}", o.txid)).collect::<Vec<_>>().join("/");
    assert_eq!(
        request(port, "POST", &format!("/rest/getutxos/checkmempool/{}.json", many(15)), b"").status,
        200
    );
    let r = get(port, &format!("/rest/getutxos/checkmempool/{}.json", many(20)));
    assert_eq!(
        (r.status, r.text()),
        (400, "Error: max outpoints exceeded (max: 15, tried: 20)\r\n".into())
    );

    // Unknown paths under /rest: 404 with no-store; over-long URIs refused before any work.
    for p in ["/rest?x=1", "/rest/tx", "/rest/does-not-exist"] {
        let r = get(port, p);
        assert_eq!((r.status, r.header("cache-control")), (404, Some("no-store")), "{p}");
    }
    let long = format!("/rest/headers/{}.json", "a".repeat(20_000));
    assert_ne!(get(port, &long).status, 200);
}

#[test]
fn rest_is_off_without_the_option() {
    let port = http::free_port();
    let rpcport = format!("-rpcport={port}");
    let mut n = node_proc::start_node(&[&rpcport, "-listen=0"], &[]);
    n.wait_started();
    for p in ["/rest/chaininfo.json", "/rest/blockhashbyheight/0.bin"] {
        let r = get(port, p);
        assert_eq!((r.status, r.body.len()), (404, 0), "{p}");
    }
    // JSON-RPC still answers (and still wants credentials).
    assert_eq!(get(port, "/").status, 401);
    n.stop(Duration::from_secs(30));
}

#[test]
fn mempool_transactions_in_getutxos_tx_and_mempool() {
    let port = http::free_port();
    let rpcport = format!("-rpcport={port}");
    let n = node_proc::start_node(&[&rpcport, "-rest", "-listen=0"], &[]);
    n.wait_started();
    let payout = mining::p2wsh_op_true();
    let addr = Address::from_script(&payout, Network::Regtest).unwrap().to_string();
    let mined = rpc(&n, port, "generatetoaddress", json!([101, addr]));
    let first = mined[0].as_str().unwrap();
    let cb = rpc(&n, port, "getblock", json!([first, 1]))["tx"][0].as_str().unwrap().to_string();
    let value = rpc(&n, port, "gettxout", json!([cb, 0]))["value"].as_f64().unwrap();
    let tx = mining::spend_coinbase_to(Txid::from_str(&cb).unwrap(), value, &payout);
    let txid = rpc(&n, port, "sendrawtransaction", json!([to_hex(&serialize(&tx))]))
        .as_str()
        .unwrap()
        .to_string();

    // In the mempool: /tx has no block hash; getutxos sees it only with checkmempool, and sees the
    // spent coinbase output only without it.
    let t = ok(port, &format!("/rest/tx/{txid}.json")).json();
    assert_eq!(t, rpc(&n, port, "getrawtransaction", json!([txid, 1])));
    assert!(t.get("blockhash").is_none());
    let utxos = |path: &str| ok(port, &format!("/rest/getutxos/{path}.json")).json();
    assert_eq!(utxos(&format!("{txid}-0"))["bitmap"], "0");
    let pooled = utxos(&format!("checkmempool/{txid}-0"));
    assert_eq!(pooled["bitmap"], "1");
    assert_eq!(pooled["utxos"][0]["height"], 2147483647, "Core's MEMPOOL_HEIGHT");
    assert_eq!(pooled["utxos"][0]["scriptPubKey"]["hex"], to_hex(payout.as_bytes()));
    assert_eq!(utxos(&format!("{cb}-0"))["bitmap"], "1");
    assert_eq!(utxos(&format!("checkmempool/{cb}-0"))["bitmap"], "0");
    assert_eq!(utxos(&format!("checkmempool/{cb}-0/{txid}-0/{txid}-1"))["bitmap"], "010");
    assert_eq!(
        ok(port, "/rest/mempool/contents.json").json(),
        rpc(&n, port, "getrawmempool", json!([true]))
    );
    assert_eq!(ok(port, "/rest/mempool/contents.json?verbose=false").json(), json!([txid]));
    assert_eq!(ok(port, "/rest/mempool/info.json").json()["size"], 1);

    // Mined: found with and without checkmempool.
    let tip = rpc(&n, port, "generatetoaddress", json!([1, addr]))[0]
        .as_str()
        .unwrap()
        .to_string();
    for path in [format!("{txid}-0"), format!("checkmempool/{txid}-0")] {
        let r = utxos(&path);
        assert_eq!(
            (r["bitmap"].as_str(), r["chaintipHash"].as_str()),
            (Some("1"), Some(tip.as_str())),
            "{path}"
        );
        assert_eq!(r["utxos"][0]["height"], 102);
    }
    assert_eq!(ok(port, "/rest/mempool/contents.json").json(), json!({}));
}

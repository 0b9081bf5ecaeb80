//! JSON-RPC request parsing: the body as JSON (as the server parses it), then each request
//! object's `params` through `rpc::params::Params::from_request` with named-argument tables,
//! and every typed accessor the methods use.
#![no_main]

use blvm_node::rpc::params::Params;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const NAMES: [&[&str]; 3] = [
    &[],
    &["blockhash", "verbosity"],
    &["height", "count", "include_mempool", "minconf", "label"],
];

fn exercise(req: &Value) {
    let Value::Object(obj) = req else { return };
    for names in NAMES {
        if let Ok(p) = Params::from_request(obj.get("params"), names) {
            for i in 0..6 {
                let _ = p.get(i);
                let _ = p.str(i);
                let _ = p.opt_str(i);
                let _ = p.u64(i);
                let _ = p.opt_u64(i);
                let _ = p.i64(i);
                let _ = p.opt_bool(i);
                let _ = p.verbosity(i, 1);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else { return };
    match &v {
        Value::Array(items) => items.iter().for_each(exercise),
        other => exercise(other),
    }
});

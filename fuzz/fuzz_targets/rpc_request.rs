//! JSON-RPC request parsing: the body through `rpc::request_json::parse` (as the server reads
//! it), then each request object's `params` and repeated keys through
//! `rpc::params::Params::from_request` with named-argument tables, and every typed accessor the
//! methods use.
#![no_main]

use blvm_node::rpc::params::Params;
use blvm_node::rpc::request_json::{self, RepeatedKey};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const NAMES: [&[&str]; 3] = [
    &[],
    &["blockhash", "verbosity"],
    &["height", "count", "include_mempool", "minconf", "label"],
];

fn exercise(req: &Value, repeated: &[RepeatedKey]) {
    let Value::Object(obj) = req else { return };
    for names in NAMES {
        if let Ok(p) = Params::from_request(obj.get("params"), names, repeated) {
            let _ = p.repeated_keys(1).count();
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
    let Ok(r) = request_json::parse(data) else { return };
    match &r.value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                exercise(item, &r.repeated_in_params(Some(i)));
            }
        }
        other => exercise(other, &r.repeated_in_params(None)),
    }
});

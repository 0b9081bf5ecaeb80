//! JSON-RPC methods served by modules (`register_rpc`): parameters normalised to positions
//! by the module's parameter names, the call forwarded over the module's connection with
//! `-modulerpctimeout`, the module's error passed through as the JSON-RPC error; and `help`
//! listing them.

use super::super::error::{code, RpcError};
use super::super::params::Params;
use crate::modules::extensions::ModuleMethod;
use crate::rpc::context::RpcContext;
use blvm_module::{Request, ResponseBody, ResponseResult};
use serde_json::Value;
use std::sync::Arc;

/// Positional parameters from a request's `params` (array, object of named ones, or absent),
/// trailing nulls of omitted named parameters removed.
fn positional(spec: &blvm_module::RpcMethodSpec, params: Option<&Value>) -> Result<Vec<Value>, RpcError> {
    let mut values = match params {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(o)) => {
            let mut v = vec![Value::Null; spec.params.len()];
            let mut given = 0;
            for (k, val) in o {
                let i = spec
                    .params
                    .iter()
                    .position(|n| n == k)
                    .ok_or_else(|| RpcError::param(format!("Unknown named parameter {k}")))?;
                v[i] = val.clone();
                given = given.max(i + 1);
            }
            v.truncate(given);
            v
        }
        Some(_) => return Err(RpcError::new(code::INVALID_REQUEST, "Params must be an array or object")),
    };
    if values.len() > spec.params.len() {
        return Err(RpcError::new(code::MISC_ERROR, help_text(spec)));
    }
    while values.last() == Some(&Value::Null) {
        values.pop();
    }
    Ok(values)
}

/// Calls module method `m` with the request's `params`.
pub async fn call(m: &ModuleMethod, node: &Arc<RpcContext>, params: Option<&Value>) -> Result<Value, RpcError> {
    let args = positional(&m.spec, params)?;
    let request = Request::RpcCall {
        name: m.spec.name.clone(),
        params: Value::Array(args).to_string(),
    };
    let timeout = node.extensions().settings().rpc_timeout;
    let answer = m
        .link
        .call(request, timeout)
        .await
        .map_err(|e| RpcError::new(code::MISC_ERROR, e.to_string()))?;
    let module = m.link.name();
    match answer {
        ResponseResult::Ok {
            body: ResponseBody::RpcResult { result },
        } => serde_json::from_str(&result)
            .map_err(|e| RpcError::new(code::INTERNAL_ERROR, format!("module {module} returned invalid JSON: {e}"))),
        ResponseResult::Ok {
            body: ResponseBody::RpcError { code, message },
        } => Err(RpcError::new(code, message)),
        ResponseResult::Ok { body } => Err(RpcError::new(
            code::INTERNAL_ERROR,
            format!("module {module} answered {} to an RPC call", body.kind()),
        )),
        ResponseResult::Err { code: c, message } => Err(RpcError::new(
            code::MISC_ERROR,
            format!("module {module} failed ({}): {message}", blvm_module::request::error_code::name(c)),
        )),
    }
}

/// A module method's usage line: its parameters carry no types and are all optional, so each is
/// written as a quoted name in parentheses.
fn usage(spec: &blvm_module::RpcMethodSpec) -> String {
    if spec.params.is_empty() {
        return spec.name.clone();
    }
    let args: Vec<String> = spec.params.iter().map(|a| format!("\"{a}\"")).collect();
    format!("{} ( {} )", spec.name, args.join(" "))
}

fn help_text(spec: &blvm_module::RpcMethodSpec) -> String {
    format!("{}\n\n{}", usage(spec), spec.help.trim_end())
}

/// `help [command]` including module methods: a module method's help text, or the built-in
/// list followed by one "== Module <name> ==" section per module.
pub fn help(node: &Arc<RpcContext>, p: &Params) -> Result<Value, RpcError> {
    let cmd = p.opt_str(0)?;
    let ext = node.extensions();
    if let Some(m) = cmd.and_then(|c| ext.method(c)) {
        return Ok(Value::String(help_text(&m.spec)));
    }
    let builtin = super::control::help(p)?;
    if cmd.is_some() {
        return Ok(builtin);
    }
    let mut by_module: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for m in ext.methods() {
        by_module.entry(m.link.name().to_string()).or_default().push(usage(&m.spec));
    }
    let mut out = builtin.as_str().unwrap_or_default().to_string();
    for (module, lines) in by_module {
        out.push_str(&format!("\n\n== Module {module} ==\n{}", lines.join("\n")));
    }
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> blvm_module::RpcMethodSpec {
        blvm_module::RpcMethodSpec {
            name: "policyblock".into(),
            help: "Blocks a txid.".into(),
            params: vec!["txid".into(), "reason".into()],
        }
    }

    #[test]
    fn named_parameters_map_to_positions_and_unknown_or_extra_ones_are_refused() {
        let s = spec();
        assert_eq!(
            positional(&s, Some(&json!({"reason": "r"}))).unwrap(),
            vec![Value::Null, json!("r")]
        );
        assert_eq!(positional(&s, Some(&json!({"txid": "t"}))).unwrap(), vec![json!("t")]);
        assert_eq!(positional(&s, Some(&json!(["t", "r"]))).unwrap(), vec![json!("t"), json!("r")]);
        assert_eq!(positional(&s, None).unwrap(), Vec::<Value>::new());
        let e = positional(&s, Some(&json!({"nope": 1}))).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (code::INVALID_PARAMETER, "Unknown named parameter nope")
        );
        let e = positional(&s, Some(&json!([1, 2, 3]))).unwrap_err();
        assert_eq!(e.code, code::MISC_ERROR);
        assert!(
            e.message.starts_with("policyblock ( \"txid\" \"reason\" )\n\nBlocks a txid."),
            "{}",
            e.message
        );
    }
}

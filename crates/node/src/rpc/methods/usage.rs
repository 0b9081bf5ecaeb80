//! Core's usage text and argument-count rule (`RPCHelpMan::IsValidNumArgs`): a call with fewer
//! positional arguments than the last required one, or more than the method takes, is answered
//! with error -1 and the method's usage text, which is also what `help <method>` starts with.

use super::super::error::{code, RpcError};
use super::table::Method;

/// Core's description paragraph of a method's help, for the methods whose help callers read
/// (clients and Core's tests match on it).
const SUMMARIES: &[(&str, &str)] = &[
    (
        "decoderawtransaction",
        "Return a JSON object representing the serialized, hex-encoded transaction.",
    ),
    ("decodescript", "Decode a hex-encoded script."),
    (
        "getbestblockhash",
        "Returns the hash of the best (tip) block in the most-work fully-validated chain.",
    ),
    (
        "getblockchaininfo",
        "Returns an object containing various state info regarding blockchain processing.",
    ),
    (
        "getblockcount",
        "Returns the height of the most-work fully-validated chain.\nThe genesis block has height 0.",
    ),
    ("getblockhash", "Returns hash of block in best-block-chain at height provided."),
    (
        "getchaintips",
        "Return information about all known tips in the block tree, including the main chain as well as orphaned branches.",
    ),
    ("getconnectioncount", "Returns the number of connections to other nodes."),
    (
        "getdifficulty",
        "Returns the proof-of-work difficulty as a multiple of the minimum difficulty.",
    ),
    ("getmempoolinfo", "Returns details on the active state of the TX memory pool."),
    (
        "getnetworkinfo",
        "Returns an object containing various state info regarding P2P networking.",
    ),
    (
        "getpeerinfo",
        "Returns data about each connected network peer as a json array of objects.",
    ),
    (
        "sendrawtransaction",
        "Submit a raw transaction (serialized, hex-encoded) to local node and network.",
    ),
    ("uptime", "Returns the total uptime of the server."),
    ("validateaddress", "Return information about the given bitcoin address."),
];

/// Core's usage line: the name, required arguments, then optional ones in parentheses; only
/// string arguments are quoted (RPCArg::ToString).
pub fn usage_line(m: &Method) -> String {
    let n = m.required().min(m.args.len());
    let mut line = m.name.to_string();
    for a in &m.args[..n] {
        line.push(' ');
        line.push_str(&a.usage());
    }
    if n < m.args.len() {
        let opt: Vec<String> = m.args[n..].iter().map(|a| a.usage()).collect();
        line.push_str(&format!(" ( {} )", opt.join(" ")));
    }
    line
}

/// Core's one-line description of `method`, where this node has it.
pub(super) fn summary(method: &str) -> Option<&'static str> {
    SUMMARIES.iter().find(|s| s.0 == method).map(|s| s.1)
}

/// `help <method>`: the usage line, the summary and the arguments with their types.
pub fn help_text(m: &Method) -> String {
    let mut text = usage_line(m);
    text.push('\n');
    if let Some(summary) = summary(m.name) {
        text.push('\n');
        text.push_str(summary);
        text.push('\n');
    }
    if !m.args.is_empty() {
        text.push_str("\nArguments:\n");
        let n = m.required();
        for (i, a) in m.args.iter().enumerate() {
            let kind = if i < n { "required" } else { "optional" };
            text.push_str(&format!("{}. {} ({}, {kind})\n", i + 1, a.name(), a.ty.help_name()));
        }
    }
    text
}

/// Core's argument-count rule: error -1 with the usage text when too few or too many.
pub fn check_count(m: &Method, given: usize) -> Result<(), RpcError> {
    if given < m.required() || given > m.args.len() {
        return Err(RpcError::new(code::MISC_ERROR, help_text(m)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::table::{find, METHODS};
    use super::*;

    fn m(name: &str) -> &'static Method {
        find(name).unwrap()
    }

    #[test]
    fn usage_quotes_only_string_arguments_as_core() {
        assert_eq!(usage_line(m("getblock")), "getblock \"blockhash\" ( verbosity )");
        assert_eq!(usage_line(m("getblockstats")), "getblockstats hash_or_height ( stats )");
        assert_eq!(usage_line(m("getblockcount")), "getblockcount");
        assert_eq!(
            usage_line(m("createrawtransaction")),
            "createrawtransaction [{\"txid\":\"hex\",\"vout\":n,\"sequence\":n},...] [{\"address\":amount,...},{\"data\":\"hex\"},...] ( locktime replaceable version )"
        );
        assert!(help_text(m("getblockchaininfo")).starts_with("getblockchaininfo\n"));
        assert_eq!(
            help_text(m("validateaddress")),
            "validateaddress \"address\"\n\nReturn information about the given bitcoin address.\n\nArguments:\n1. address (string, required)\n"
        );
    }

    #[test]
    fn wrong_counts_give_the_usage_text() {
        let p = m("prioritisetransaction");
        assert!(check_count(p, 3).is_ok());
        for n in [0, 1, 2, 4] {
            let e = check_count(p, n).unwrap_err();
            assert_eq!(e.code, code::MISC_ERROR);
            assert!(
                e.message.starts_with("prioritisetransaction \"txid\" dummy fee_delta\n"),
                "{}",
                e.message
            );
        }
        assert!(check_count(m("getblockcount"), 1).is_err());
        assert!(check_count(m("getblockcount"), 0).is_ok());
    }

    #[test]
    fn every_summary_names_a_method() {
        for (name, _) in SUMMARIES {
            assert!(find(name).is_some(), "{name} not in METHODS");
        }
    }

    #[test]
    fn names_are_unique_and_required_arguments_come_first() {
        for (i, a) in METHODS.iter().enumerate() {
            assert!(METHODS[i + 1..].iter().all(|b| b.name != a.name), "{} twice", a.name);
            let n = a.required();
            assert!(a.args[..n].iter().all(|x| x.required), "{}", a.name);
        }
    }
}

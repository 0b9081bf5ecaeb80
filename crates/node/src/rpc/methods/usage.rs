//! Core's usage text and argument-count rule (`RPCHelpMan::IsValidNumArgs`): a call with fewer
//! positional arguments than the last required one, or more than the method takes, is answered
//! with error -1 and the method's usage text, which is also what `help <method>` starts with.

use super::super::error::{code, RpcError};
use super::METHODS;

/// Methods with required arguments: how many leading arguments are required (Core's index of
/// the last non-optional argument, plus one). Methods not listed take only optional arguments.
const REQUIRED: &[(&str, usize)] = &[
    ("addnode", 2),
    ("addpeeraddress", 2),
    ("analyzepsbt", 1),
    ("combinepsbt", 1),
    ("combinerawtransaction", 1),
    ("converttopsbt", 1),
    ("createmultisig", 2),
    ("createpsbt", 2),
    ("createrawtransaction", 2),
    ("decodepsbt", 1),
    ("decoderawtransaction", 1),
    ("decodescript", 1),
    ("deriveaddresses", 1),
    ("descriptorprocesspsbt", 2),
    ("estimatesmartfee", 1),
    ("finalizepsbt", 1),
    ("generateblock", 2),
    ("generatetoaddress", 2),
    ("generatetodescriptor", 2),
    ("getblock", 1),
    ("getblockfilter", 1),
    ("getblockfrompeer", 2),
    ("getblockhash", 1),
    ("getblockheader", 1),
    ("getblockstats", 1),
    ("getdescriptoractivity", 2),
    ("getdescriptorinfo", 1),
    ("getmempoolancestors", 1),
    ("getmempoolcluster", 1),
    ("getmempooldescendants", 1),
    ("getmempoolentry", 1),
    ("getrawtransaction", 1),
    ("gettxout", 2),
    ("gettxoutproof", 1),
    ("gettxspendingprevout", 1),
    ("importmempool", 1),
    ("invalidateblock", 1),
    ("joinpsbts", 1),
    ("loadmodule", 1),
    ("preciousblock", 1),
    ("prioritisetransaction", 3),
    ("pruneblockchain", 1),
    ("reconsiderblock", 1),
    ("reloadmodule", 1),
    ("runmaintenance", 1),
    ("scanblocks", 1),
    ("scantxoutset", 1),
    ("sendrawtransaction", 1),
    ("setban", 2),
    ("setmocktime", 1),
    ("setnetworkactive", 1),
    ("signmessagewithprivkey", 2),
    ("signrawtransactionwithkey", 2),
    ("submitblock", 1),
    ("submitheader", 1),
    ("submitpackage", 1),
    ("testmempoolaccept", 1),
    ("unloadmodule", 1),
    ("utxoupdatepsbt", 1),
    ("validateaddress", 1),
    ("verifymessage", 3),
    ("verifytxoutproof", 1),
    ("waitforblock", 1),
    ("waitforblockheight", 1),
];

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

/// How many leading arguments `method` requires.
pub(super) fn required(method: &str) -> usize {
    REQUIRED.iter().find(|r| r.0 == method).map_or(0, |r| r.1)
}

/// The first line of Core's help for `method`: required arguments quoted, optional ones in one
/// parenthesised group, e.g. `getblock "blockhash" ( "verbosity" )`.
pub fn usage_line(method: &str, args: &[&str]) -> String {
    let name = |a: &&str| format!("\"{}\"", a.split('|').next().unwrap_or(a));
    let n = required(method).min(args.len());
    let mut line = method.to_string();
    for a in &args[..n] {
        line.push(' ');
        line.push_str(&name(a));
    }
    if n < args.len() {
        let opt: Vec<String> = args[n..].iter().map(name).collect();
        line.push_str(&format!(" ( {} )", opt.join(" ")));
    }
    line
}

/// Core's one-paragraph description of `method`, where this node carries it.
pub(super) fn summary(method: &str) -> Option<&'static str> {
    SUMMARIES.iter().find(|s| s.0 == method).map(|s| s.1)
}

/// `help <method>`: the usage line, then the arguments, one per line.
pub fn help_text(method: &str, args: &[&str]) -> String {
    let mut text = usage_line(method, args);
    text.push('\n');
    if let Some(summary) = summary(method) {
        text.push('\n');
        text.push_str(summary);
        text.push('\n');
    }
    if !args.is_empty() {
        text.push_str("\nArguments:\n");
        let n = required(method);
        for (i, a) in args.iter().enumerate() {
            let kind = if i < n { "required" } else { "optional" };
            text.push_str(&format!("{}. {} ({kind})\n", i + 1, a.split('|').next().unwrap_or(a)));
        }
    }
    text
}

/// Core's argument-count check: `-1` with the help text when `given` positional arguments are
/// fewer than the method requires or more than it takes.
pub fn check_count(method: &str, given: usize) -> Result<(), RpcError> {
    let Some((_, _, args)) = METHODS.iter().find(|m| m.0 == method) else {
        return Ok(());
    };
    if given < required(method) || given > args.len() {
        return Err(RpcError::new(code::MISC_ERROR, help_text(method, args)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_marks_required_and_optional_arguments() {
        assert_eq!(
            usage_line("getblock", &["blockhash", "verbosity|verbose"]),
            "getblock \"blockhash\" ( \"verbosity\" )"
        );
        assert_eq!(usage_line("getblockcount", &[]), "getblockcount");
        assert!(help_text("getblockchaininfo", &[]).starts_with("getblockchaininfo\n"));
        assert_eq!(
            help_text("validateaddress", &["address"]),
            "validateaddress \"address\"\n\nReturn information about the given bitcoin address.\n\nArguments:\n1. address (required)\n"
        );
    }

    #[test]
    fn wrong_counts_give_the_usage_text() {
        assert!(check_count("prioritisetransaction", 3).is_ok());
        for n in [0, 1, 2, 4] {
            let e = check_count("prioritisetransaction", n).unwrap_err();
            assert_eq!(e.code, code::MISC_ERROR);
            assert!(e.message.starts_with("prioritisetransaction \"txid\""), "{}", e.message);
        }
        assert!(check_count("getblockcount", 1).is_err());
        assert!(check_count("getblockcount", 0).is_ok());
    }

    #[test]
    fn every_summary_names_a_method() {
        for (m, _) in SUMMARIES {
            assert!(METHODS.iter().any(|x| x.0 == *m), "{m} not in METHODS");
        }
    }

    #[test]
    fn every_required_entry_names_a_method_with_that_many_arguments() {
        for (m, n) in REQUIRED {
            let (_, _, args) = METHODS.iter().find(|x| x.0 == *m).unwrap_or_else(|| panic!("{m} not in METHODS"));
            assert!(*n <= args.len(), "{m}");
        }
    }
}

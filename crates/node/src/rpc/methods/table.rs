//! The one RPC method table: name, category, arguments with Core's types, how the handler runs
//! and the handler itself. Dispatch, `help`, argument counts, named parameters and the OpenRPC
//! document all read it.

use super::*;
use crate::rpc::context::RpcContext;
use crate::rpc::error::RpcError;
use crate::rpc::params::Params;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Core's RPCArg types: they decide how an argument is written in usage lines (only strings
/// are quoted) and its JSON type in the OpenRPC document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    /// A string.
    Str,
    /// A hex string.
    Hex,
    /// A number.
    Num,
    /// A number or a `[begin,end]` pair.
    Range,
    /// An amount in BTC.
    Amount,
    /// A boolean.
    Bool,
    /// An object with fixed keys.
    Obj,
    /// An object of named options (Core's OBJ_NAMED_PARAMS): its keys may also be given as
    /// named arguments of their own, gathered into it by [`Method::gather_named_options`].
    ObjNamed(&'static [&'static str]),
    /// An object with keys chosen by the user.
    ObjUserKeys,
    /// An array.
    Arr,
}

impl ArgType {
    /// The type as Core's `help <method>` names it.
    pub fn help_name(self) -> &'static str {
        match self {
            ArgType::Str | ArgType::Hex => "string",
            ArgType::Num => "numeric",
            ArgType::Range => "numeric or array",
            ArgType::Amount => "numeric or string",
            ArgType::Bool => "boolean",
            ArgType::Obj | ArgType::ObjNamed(_) | ArgType::ObjUserKeys => "json object",
            ArgType::Arr => "json array",
        }
    }
}

/// One argument of a method.
#[derive(Debug, Clone, Copy)]
pub struct Arg {
    /// Its name, with aliases after `|` (`verbosity|verbose`).
    pub names: &'static str,
    /// Core's type.
    pub ty: ArgType,
    /// Whether a call must give it.
    pub required: bool,
    /// How Core writes a composite argument in usage lines (None: derived from name and type).
    pub oneline: Option<&'static str>,
}

impl Arg {
    /// The first name (aliases dropped).
    pub fn name(&self) -> &'static str {
        self.names.split('|').next().unwrap_or(self.names)
    }

    /// The argument as Core's usage line writes it: strings quoted, others bare.
    pub fn usage(&self) -> String {
        match (self.oneline, self.ty) {
            (Some(s), _) => s.to_string(),
            (None, ArgType::Str | ArgType::Hex) => format!("\"{}\"", self.name()),
            (None, _) => self.name().to_string(),
        }
    }

    /// This argument written as `s` in usage lines.
    const fn usage_as(mut self, s: &'static str) -> Self {
        self.oneline = Some(s);
        self
    }
}

/// A required argument.
const fn req(names: &'static str, ty: ArgType) -> Arg {
    Arg {
        names,
        ty,
        required: true,
        oneline: None,
    }
}

/// An optional argument.
const fn opt(names: &'static str, ty: ArgType) -> Arg {
    Arg {
        names,
        ty,
        required: false,
        oneline: None,
    }
}

/// The result every handler returns.
pub type RpcResult = Result<Value, RpcError>;

/// A handler that returns at once or blocks (runs inline or on a blocking thread).
pub type SyncFn = fn(&Arc<RpcContext>, &Params) -> RpcResult;

/// A handler that awaits (P2P answers, block submission, waits).
pub type AsyncFn = for<'a> fn(&'a Arc<RpcContext>, &'a Params) -> Pin<Box<dyn Future<Output = RpcResult> + Send + 'a>>;

/// How a method runs.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Quick and non-blocking: runs on the async worker.
    Inline(SyncFn),
    /// Takes the chain or mempool lock or does real work: runs on a blocking thread.
    Blocking(SyncFn),
    /// Awaits other tasks.
    Async(AsyncFn),
}

/// One method.
#[derive(Clone, Copy)]
pub struct Method {
    /// Its name.
    pub name: &'static str,
    /// Its `help` category ("Hidden": left out of `help` and the public OpenRPC document).
    pub category: &'static str,
    /// Its arguments, required ones first.
    pub args: &'static [Arg],
    /// Its handler.
    pub handler: Handler,
}

impl Method {
    /// Arguments a call must give (Core's IsValidNumArgs: up to the last required one).
    pub fn required(&self) -> usize {
        self.args.iter().rposition(|a| a.required).map_or(0, |i| i + 1)
    }

    /// Core's OBJ_NAMED_PARAMS: keys of an options object given as named arguments of their own
    /// (`dumptxoutset path=f rollback=299`) are gathered into that object, in the declared
    /// order. Giving the object too is refused as Core refuses it. None: nothing to gather, the
    /// request's parameters are used as they are.
    pub fn gather_named_options(&self, params: Option<&Value>) -> Result<Option<Value>, RpcError> {
        let Some(Value::Object(given)) = params else {
            return Ok(None);
        };
        let mut gathered: Option<serde_json::Map<String, Value>> = None;
        for arg in self.args {
            let ArgType::ObjNamed(keys) = arg.ty else {
                continue;
            };
            let found: Vec<&str> = keys.iter().copied().filter(|k| given.contains_key(*k)).collect();
            let Some(first) = found.first() else {
                continue;
            };
            if let Some(name) = arg.names.split('|').find(|n| given.contains_key(*n)) {
                return Err(RpcError::param(format!("Parameter {name} conflicts with parameter {first}")));
            }
            let out = gathered.get_or_insert_with(|| given.clone());
            let options = found.iter().filter_map(|k| out.remove(*k).map(|v| (k.to_string(), v))).collect();
            out.insert(arg.name().to_string(), Value::Object(options));
        }
        Ok(gathered.map(Value::Object))
    }

    /// Every argument name with its aliases, for named-parameter mapping.
    pub fn names(&self) -> Vec<&'static str> {
        self.args.iter().map(|a| a.names).collect()
    }
}

const fn method(name: &'static str, category: &'static str, handler: Handler, args: &'static [Arg]) -> Method {
    Method {
        name,
        category,
        args,
        handler,
    }
}

macro_rules! inline {
    ($f:path) => {
        Handler::Inline($f)
    };
}

macro_rules! blocking {
    ($f:path) => {
        Handler::Blocking($f)
    };
}

macro_rules! run_async {
    ($f:path) => {
        Handler::Async(|n, p| Box::pin($f(n, p)))
    };
}

use ArgType::*;

/// Every built-in method, grouped by category as `help` lists them.
pub const METHODS: &[Method] = &[
    method("getbestblockhash", "Blockchain", blocking!(blockchain::getbestblockhash), &[]),
    method("getblock", "Blockchain", blocking!(blockchain::getblock), &[req("blockhash", Hex), opt("verbosity|verbose", Num)]),
    method("getblockchaininfo", "Blockchain", blocking!(blockchain::getblockchaininfo), &[]),
    method("getblockcount", "Blockchain", blocking!(blockchain::getblockcount), &[]),
    method("getblockfilter", "Blockchain", blocking!(blockchain::getblockfilter), &[req("blockhash", Hex), opt("filtertype", Str)]),
    method("getblockfrompeer", "Blockchain", run_async!(netctl::getblockfrompeer), &[req("blockhash", Hex), req("peer_id", Num)]),
    method("getblockhash", "Blockchain", blocking!(blockchain::getblockhash), &[req("height", Num)]),
    method("getblockheader", "Blockchain", blocking!(blockchain::getblockheader), &[req("blockhash", Hex), opt("verbose", Bool)]),
    method("getblockstats", "Blockchain", blocking!(blockstats::getblockstats), &[req("hash_or_height", Num), opt("stats", Arr)]),
    method("getchaintips", "Blockchain", blocking!(blockchain::getchaintips), &[]),
    method("getchaintxstats", "Blockchain", blocking!(blockchain::getchaintxstats), &[opt("nblocks", Num), opt("blockhash", Hex)]),
    method("getdeploymentinfo", "Blockchain", blocking!(chainctl::getdeploymentinfo), &[opt("blockhash", Hex)]),
    method("getdifficulty", "Blockchain", blocking!(blockchain::getdifficulty), &[]),
    method("gettxout", "Blockchain", blocking!(blockchain::gettxout), &[req("txid", Str), req("n", Num), opt("include_mempool", Bool)]),
    method("getmempoolancestors", "Blockchain", blocking!(mempool::getmempoolancestors), &[req("txid", Hex), opt("verbose", Bool)]),
    method("getmempooldescendants", "Blockchain", blocking!(mempool::getmempooldescendants), &[req("txid", Hex), opt("verbose", Bool)]),
    method("getmempoolentry", "Blockchain", blocking!(mempool::getmempoolentry), &[req("txid", Hex)]),
    method("getmempoolinfo", "Blockchain", blocking!(mempool::getmempoolinfo), &[]),
    method("getrawmempool", "Blockchain", blocking!(mempool::getrawmempool), &[opt("verbose", Bool), opt("mempool_sequence", Bool)]),
    method("gettxoutproof", "Blockchain", blocking!(txoutproof::gettxoutproof), &[req("txids", Arr).usage_as("[\"txid\",...]"), opt("blockhash", Hex)]),
    method("gettxspendingprevout", "Blockchain", blocking!(txoutproof::gettxspendingprevout), &[req("outputs", Arr).usage_as("[{\"txid\":\"hex\",\"vout\":n},...]")]),
    method("verifytxoutproof", "Blockchain", blocking!(txoutproof::verifytxoutproof), &[req("proof", Hex)]),
    method("gettxoutsetinfo", "Blockchain", blocking!(txoutsetinfo::gettxoutsetinfo), &[opt("hash_type", Str), opt("hash_or_height", Num), opt("use_index", Bool)]),
    method("dumptxoutset", "Blockchain", blocking!(utxo_snapshot::dumptxoutset), &[req("path", Str), opt("type", Str), opt("options", ObjNamed(&["rollback", "in_memory"]))]),
    method("getchainstates", "Blockchain", blocking!(utxo_snapshot::getchainstates), &[]),
    method("loadtxoutset", "Blockchain", blocking!(utxo_snapshot::loadtxoutset), &[req("path", Str)]),
    method("scantxoutset", "Blockchain", blocking!(scan::scantxoutset), &[req("action", Str), opt("scanobjects", Arr).usage_as("[scanobjects,...]")]),
    method("getdescriptoractivity", "Blockchain", blocking!(descriptor_activity::getdescriptoractivity), &[req("blockhashes", Arr).usage_as("[\"blockhash\",...]"), req("scanobjects", Arr).usage_as("[scanobjects,...]"), opt("include_mempool", Bool)]),
    method("scanblocks", "Blockchain", blocking!(scanblocks::scanblocks), &[req("action", Str), opt("scanobjects", Arr).usage_as("[scanobjects,...]"), opt("start_height", Num), opt("stop_height", Num), opt("filtertype", Str), opt("options", ObjNamed(&["filter_false_positives"]))]),
    method("preciousblock", "Blockchain", run_async!(chainctl::preciousblock), &[req("blockhash", Hex)]),
    method("invalidateblock", "Blockchain", run_async!(chainctl::invalidateblock), &[req("blockhash", Hex)]),
    method("reconsiderblock", "Blockchain", run_async!(chainctl::reconsiderblock), &[req("blockhash", Hex)]),
    method("pruneblockchain", "Blockchain", run_async!(node_ops::pruneblockchain), &[req("height", Num)]),
    method("savemempool", "Blockchain", blocking!(mempool::savemempool), &[]),
    method("prioritisetransaction", "Mining", blocking!(mempool_pkg::prioritisetransaction), &[req("txid", Hex), req("dummy", Num), req("fee_delta", Num)]),
    method("getprioritisedtransactions", "Mining", blocking!(mempool_pkg::getprioritisedtransactions), &[]),
    method("submitpackage", "Rawtransactions", blocking!(mempool_pkg::submitpackage), &[req("package", Arr).usage_as("[\"rawtx\",...]"), opt("maxfeerate", Amount), opt("maxburnamount", Amount)]),
    method("importmempool", "Blockchain", blocking!(mempool_pkg::importmempool), &[req("filepath", Str), opt("options", ObjNamed(&["use_current_time", "apply_fee_delta_priority", "apply_unbroadcast_set"]))]),
    method("getmempoolcluster", "Blockchain", blocking!(mempool_pkg::getmempoolcluster), &[req("txid", Hex)]),
    method("verifychain", "Blockchain", blocking!(blockchain::verifychain), &[opt("checklevel", Num), opt("nblocks", Num)]),
    method("waitforblock", "Blockchain", run_async!(wait::waitforblock), &[req("blockhash", Hex), opt("timeout", Num)]),
    method("waitforblockheight", "Blockchain", run_async!(wait::waitforblockheight), &[req("height", Num), opt("timeout", Num)]),
    method("waitfornewblock", "Blockchain", run_async!(wait::waitfornewblock), &[opt("timeout", Num), opt("current_tip", Hex)]),
    method("getblocktemplate", "Mining", run_async!(mining::getblocktemplate), &[opt("template_request", Obj).usage_as("{\"mode\":\"str\",\"capabilities\":[\"str\",...],\"rules\":[\"segwit\",\"str\",...],\"longpollid\":\"str\",\"data\":\"hex\"}")]),
    method("getmininginfo", "Mining", run_async!(mining::getmininginfo), &[]),
    method("getnetworkhashps", "Mining", run_async!(mining::getnetworkhashps), &[opt("nblocks", Num), opt("height", Num)]),
    method("submitblock", "Mining", run_async!(blockchain::submitblock), &[req("hexdata", Hex), opt("dummy", Str)]),
    method("submitheader", "Mining", blocking!(chainctl::submitheader), &[req("hexdata", Hex)]),
    method("generateblock", "Generating", run_async!(mining::generateblock), &[req("output", Str), req("transactions", Arr).usage_as("[\"rawtx/txid\",...]"), opt("submit", Bool)]),
    method("generatetoaddress", "Generating", run_async!(mining::generatetoaddress), &[req("nblocks", Num), req("address", Str), opt("maxtries", Num)]),
    method("generatetodescriptor", "Generating", run_async!(mining::generatetodescriptor), &[req("num_blocks", Num), req("descriptor", Str), opt("maxtries", Num)]),
    method("createrawtransaction", "Rawtransactions", blocking!(rawtransaction::createrawtransaction), &[req("inputs", Arr).usage_as("[{\"txid\":\"hex\",\"vout\":n,\"sequence\":n},...]"), req("outputs", Arr).usage_as("[{\"address\":amount,...},{\"data\":\"hex\"},...]"), opt("locktime", Num), opt("replaceable", Bool), opt("version", Num)]),
    method("decoderawtransaction", "Rawtransactions", blocking!(rawtransaction::decoderawtransaction), &[req("hexstring", Hex), opt("iswitness", Bool)]),
    method("decodescript", "Rawtransactions", blocking!(rawtransaction::decodescript), &[req("hexstring", Hex)]),
    method("getrawtransaction", "Rawtransactions", blocking!(rawtransaction::getrawtransaction), &[req("txid", Hex), opt("verbosity|verbose", Num), opt("blockhash", Hex)]),
    method("sendrawtransaction", "Rawtransactions", run_async!(mempool::sendrawtransaction), &[req("hexstring", Hex), opt("maxfeerate", Amount), opt("maxburnamount", Amount)]),
    method("testmempoolaccept", "Rawtransactions", blocking!(mempool::testmempoolaccept), &[req("rawtxs", Arr).usage_as("[\"rawtx\",...]"), opt("maxfeerate", Amount)]),
    method("signrawtransactionwithkey", "Rawtransactions", blocking!(signing::signrawtransactionwithkey), &[req("hexstring", Str), req("privkeys", Arr).usage_as("[\"privatekey\",...]"), opt("prevtxs", Arr).usage_as("[{\"txid\":\"hex\",\"vout\":n,\"scriptPubKey\":\"hex\",\"redeemScript\":\"hex\",\"witnessScript\":\"hex\",\"amount\":amount},...]"), opt("sighashtype", Str)]),
    method("combinerawtransaction", "Rawtransactions", blocking!(signing::combinerawtransaction), &[req("txs", Arr).usage_as("[\"hexstring\",...]")]),
    method("estimatesmartfee", "Util", blocking!(mempool::estimatesmartfee), &[req("conf_target", Num), opt("estimate_mode", Str)]),
    method("getindexinfo", "Util", blocking!(blockchain::getindexinfo), &[opt("index_name", Str)]),
    method("validateaddress", "Util", blocking!(mempool::validateaddress), &[req("address", Str)]),
    method("createmultisig", "Util", blocking!(descriptor_util::createmultisig), &[req("nrequired", Num), req("keys", Arr).usage_as("[\"key\",...]"), opt("address_type", Str)]),
    method("getdescriptorinfo", "Util", blocking!(descriptor_util::getdescriptorinfo), &[req("descriptor", Str)]),
    method("deriveaddresses", "Util", blocking!(descriptor_util::deriveaddresses), &[req("descriptor", Str), opt("range", Range)]),
    method("addnode", "Network", run_async!(network::addnode), &[req("node", Str), req("command", Str), opt("v2transport", Bool)]),
    method("addconnection", "Hidden", run_async!(addconnection::addconnection), &[opt("address", Str), opt("connection_type", Str), opt("v2transport", Bool)]),
    method("getorphantxs", "Hidden", run_async!(orphans::getorphantxs), &[opt("verbosity", Num)]),
    method("addpeeraddress", "Hidden", run_async!(netctl::addpeeraddress), &[req("address", Str), req("port", Num), opt("tried", Bool)]),
    method("clearbanned", "Network", run_async!(network::clearbanned), &[]),
    method("disconnectnode", "Network", run_async!(network::disconnectnode), &[opt("address", Str), opt("nodeid", Num)]),
    method("getaddednodeinfo", "Network", run_async!(netctl::getaddednodeinfo), &[opt("node", Str)]),
    method("getconnectioncount", "Network", run_async!(network::getconnectioncount), &[]),
    method("getnettotals", "Network", run_async!(network::getnettotals), &[]),
    method("getnetworkinfo", "Network", run_async!(network::getnetworkinfo), &[]),
    method("getnodeaddresses", "Network", run_async!(netctl::getnodeaddresses), &[opt("count", Num), opt("network", Str)]),
    method("getpeerinfo", "Network", run_async!(network::getpeerinfo), &[]),
    method("listbanned", "Network", run_async!(network::listbanned), &[]),
    method("ping", "Network", run_async!(network::ping), &[]),
    method("setban", "Network", run_async!(network::setban), &[req("subnet", Str), req("command", Str), opt("bantime", Num), opt("absolute", Bool)]),
    method("setnetworkactive", "Network", run_async!(netctl::setnetworkactive), &[req("state", Bool)]),
    method("help", "Control", inline!(module_rpc::help), &[opt("command", Str)]),
    method("getopenrpcinfo", "Control", inline!(openrpc::getopenrpcinfo), &[opt("show_hidden", Bool)]),
    method("rpc.discover", "Control", inline!(openrpc::discover), &[]),
    method("stop", "Control", inline!(control::stop), &[opt("wait", Num)]),
    method("uptime", "Control", inline!(control::uptime), &[]),
    method("getmemoryinfo", "Control", inline!(control::getmemoryinfo), &[opt("mode", Str)]),
    method("getrpcinfo", "Control", inline!(control::getrpcinfo), &[]),
    method("setmocktime", "Control", run_async!(control::setmocktime), &[req("timestamp", Num)]),
    method("logging", "Control", inline!(control::logging), &[opt("include", Arr).usage_as("[\"include_category\",...]"), opt("exclude", Arr).usage_as("[\"exclude_category\",...]")]),
    method("syncwithvalidationinterfacequeue", "Control", inline!(control::syncwithvalidationinterfacequeue), &[]),
    method("echo", "Control", inline!(control::echo), &[opt("arg0", Str), opt("arg1", Str), opt("arg2", Str), opt("arg3", Str), opt("arg4", Str), opt("arg5", Str), opt("arg6", Str), opt("arg7", Str), opt("arg8", Str), opt("arg9", Str)]),
    method("echojson", "Control", inline!(control::echo), &[opt("arg0", Str), opt("arg1", Str), opt("arg2", Str), opt("arg3", Str), opt("arg4", Str), opt("arg5", Str), opt("arg6", Str), opt("arg7", Str), opt("arg8", Str), opt("arg9", Str)]),
    method("listmodules", "Modules", run_async!(node_ops::listmodules), &[]),
    method("loadmodule", "Modules", run_async!(node_ops::loadmodule), &[req("name", Str)]),
    method("unloadmodule", "Modules", run_async!(node_ops::unloadmodule), &[req("name", Str)]),
    method("reloadmodule", "Modules", run_async!(node_ops::reloadmodule), &[req("name", Str)]),
    method("flushchainstate", "Maintenance", run_async!(node_ops::flushchainstate), &[]),
    method("gethealth", "Maintenance", run_async!(node_ops::gethealth), &[]),
    method("runmaintenance", "Maintenance", run_async!(node_ops::runmaintenance), &[req("type", Str), opt("arg", Str)]),
    method("cleanupdata", "Maintenance", run_async!(node_ops::cleanupdata), &[opt("target_age_days", Num)]),
    method("getzmqnotifications", "Zmq", inline!(zmq::getzmqnotifications), &[]),
    method("createpsbt", "Rawtransactions", blocking!(psbt::createpsbt), &[req("inputs", Arr).usage_as("[{\"txid\":\"hex\",\"vout\":n,\"sequence\":n},...]"), req("outputs", Arr).usage_as("[{\"address\":amount,...},{\"data\":\"hex\"},...]"), opt("locktime", Num), opt("replaceable", Bool), opt("version", Num), opt("psbt_version", Num)]),
    method("decodepsbt", "Rawtransactions", blocking!(psbt::decodepsbt), &[req("psbt", Str)]),
    method("analyzepsbt", "Rawtransactions", blocking!(psbt::analyzepsbt), &[req("psbt", Str)]),
    method("combinepsbt", "Rawtransactions", blocking!(psbt::combinepsbt), &[req("txs", Arr).usage_as("[\"psbt\",...]")]),
    method("converttopsbt", "Rawtransactions", blocking!(psbt::converttopsbt), &[req("hexstring", Hex), opt("permitsigdata", Bool), opt("iswitness", Bool), opt("psbt_version", Num)]),
    method("joinpsbts", "Rawtransactions", blocking!(psbt::joinpsbts), &[req("txs", Arr).usage_as("[\"psbt\",...]")]),
    method("utxoupdatepsbt", "Rawtransactions", blocking!(psbt::utxoupdatepsbt), &[req("psbt", Str), opt("descriptors", Arr).usage_as("[\"\",{\"desc\":\"str\",\"range\":n or [n,n]},...]")]),
    method("descriptorprocesspsbt", "Rawtransactions", blocking!(psbt::descriptorprocesspsbt), &[req("psbt", Str), req("descriptors", Arr).usage_as("[\"\",{\"desc\":\"str\",\"range\":n or [n,n]},...]"), opt("sighashtype", Str), opt("bip32derivs", Bool), opt("finalize", Bool)]),
    method("finalizepsbt", "Rawtransactions", blocking!(psbt::finalizepsbt), &[req("psbt", Str), opt("extract", Bool)]),
    method("signmessagewithprivkey", "Util", blocking!(message::signmessagewithprivkey), &[req("privkey", Str), req("message", Str)]),
    method("verifymessage", "Util", blocking!(message::verifymessage), &[req("address", Str), req("signature", Str), req("message", Str)]),
    method("getaddrmaninfo", "Network", run_async!(netctl::getaddrmaninfo), &[]),
];

/// The built-in method called `name`.
pub fn find(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gather(method: &str, params: Value) -> Result<Option<Value>, RpcError> {
        find(method).expect("method").gather_named_options(Some(&params))
    }

    #[test]
    fn named_options_are_gathered_into_their_object() {
        let out = gather("dumptxoutset", json!({"path": "f", "in_memory": true, "rollback": 299})).unwrap();
        assert_eq!(out, Some(json!({"path": "f", "options": {"rollback": 299, "in_memory": true}})));
        // Nothing to gather: the request is used as it is.
        assert_eq!(
            gather("dumptxoutset", json!({"path": "f", "options": {"rollback": 1}})).unwrap(),
            None
        );
        assert_eq!(gather("dumptxoutset", json!(["f", "rollback"])).unwrap(), None);
        assert_eq!(gather("getblockcount", json!({})).unwrap(), None);
        // The object and one of its keys both given: Core's refusal.
        let e = gather(
            "dumptxoutset",
            json!({"path": "f", "options": {}, "in_memory": true, "rollback": 2}),
        )
        .unwrap_err();
        assert_eq!(e.message, "Parameter options conflicts with parameter rollback");
    }
}

//! Command-line configuration in Bitcoin Core's style (`-regtest -datadir=D -dbcache=N`).

mod bitcoin_conf;
pub mod blockcreate;
pub mod core_args;
mod logopts;
pub mod policy;

use crate::params::ChainParams;
use bitcoin::Network;
pub use logopts::{active_debug, targets_of as logopts_targets, LogFormat, BLVM_CATEGORIES, CORE_DEBUG_CATEGORIES};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A configuration problem, naming the key, the value and what is allowed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The option is not one we know.
    #[error("Error parsing command line arguments: Invalid parameter -{0} (unknown option -{0}, see -help)")]
    Unknown(String),
    /// `-peertimeout` is not positive (Core's wording).
    #[error("peertimeout must be a positive integer.")]
    PeerTimeout,
    /// `-maxmempool` is below the floor that fits the largest cluster (Core's wording).
    #[error("-maxmempool must be at least {0} MB")]
    MaxMempoolTooSmall(u64),
    /// `-minimumchainwork` is not hex (Core's wording).
    #[error("Invalid minimum work specified ({0}), must be up to 64 hex digits")]
    InvalidMinimumWork(String),
    /// The value does not parse or is out of range.
    #[error("invalid value '{value}' for -{key}: expected {expected}")]
    BadValue {
        /// The option.
        key: String,
        /// What was given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// More than one network was selected.
    #[error("conflicting network options: {0}")]
    ConflictingNetworks(String),
    /// A subcommand is unknown or lacks its argument.
    #[error("{0}")]
    BadCommand(String),
    /// The option is known but the requested feature is not available.
    #[error("-{key}={value} is not supported: {reason}")]
    Unsupported {
        /// The option.
        key: String,
        /// What was given.
        value: String,
        /// Why, and what to do instead.
        reason: &'static str,
    },
    /// A setting from the environment or the configuration file is wrong; `source` says where.
    #[error("{origin}: {error}")]
    At {
        /// Where the setting came from (`/path/blvm.toml:3`, `environment variable BLVM_DBCACHE`).
        origin: String,
        /// What is wrong with it.
        error: Box<ConfigError>,
    },
    /// A startup error worded exactly as Bitcoin Core's (scripts and Core's tests match on it).
    #[error("{0}")]
    Core(String),
    /// The configuration file cannot be read or is not valid TOML.
    #[error("configuration file {path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong (TOML errors include the line and column).
        message: String,
    },
}

/// What the option's value looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptKind {
    /// A switch (`-name`, `-name=1`, `-noname`).
    Bool,
    /// A number.
    Int,
    /// A string or path.
    Str,
}

/// Every option the node accepts: name, kind, default shown in help, and help text.
pub const OPTIONS: &[(&str, OptKind, &str, &str)] = &[
    ("help", OptKind::Bool, "", "Print this help and exit (also -h, -?)"),
    ("version", OptKind::Bool, "", "Print version and exit"),
    ("datadir", OptKind::Str, "~/.blvm", "Data directory"),
    ("conf", OptKind::Str, "<datadir>/bitcoin.conf and <datadir>/blvm.toml", "Configuration file: Core's bitcoin.conf format, or TOML when the name ends in .toml (relative paths are inside the datadir); only on the command line or as BLVM_CONF"),
    ("chain", OptKind::Str, "regtest", "Network: main, test (testnet3), testnet4, signet, regtest"),
    ("regtest", OptKind::Bool, "1", "Use the regression test network (the default)"),
    ("testnet", OptKind::Bool, "0", "Use testnet3"),
    ("testnet4", OptKind::Bool, "0", "Use testnet4"),
    ("signet", OptKind::Bool, "0", "Use signet"),
    ("mainnet", OptKind::Bool, "0", "Use mainnet (same as -chain=main)"),
    ("dbcache", OptKind::Int, "450", "UTXO cache size in MiB (4..=1048576)"),
    ("par", OptKind::Int, "0", "Script verification threads (0 = number of cores)"),
    ("assumevalid", OptKind::Str, "the network's (none on regtest)", "Assume the scripts of this block's ancestors valid (block hash, up to 64 hex digits; 0 = check every script); skipped only under Core's conditions: the block is in the header chain, the best header has -minimumchainwork and is two weeks of work past the block"),
    ("maxsigcachesize", OptKind::Int, "32", "MiB for Core's signature and script execution caches; blvm's script execution cache takes half, 33 bytes per transaction (0..=16384)"),
    ("printtoconsole", OptKind::Bool, "1", "Send log output to the console as well as debug.log"),
    ("logips", OptKind::Bool, "0", "Name peers' addresses in peer log lines (peer=N, peeraddr=IP:port)"),
    ("debug", OptKind::Str, "", "Debug logging for a category (blvm's: chain, validation, store, import, progress, modules, net, mempool, rpc, metrics, zmq; or Core's names, mapped onto these), 1, all or no value for all, 0 or none for none; repeatable"),
    ("debugexclude", OptKind::Str, "", "No debug logging for this category, even with -debug=1; repeatable"),
    ("loglevel", OptKind::Str, "debug", "Level of the categories enabled by -debug: debug or trace (info, always logged, turns them off), or <category>:<level> for one category; repeatable"),
    ("logtimestamps", OptKind::Bool, "1", "Start each log line with its UTC time"),
    ("logtimemicros", OptKind::Bool, "0", "Microsecond precision in log timestamps (otherwise seconds)"),
    ("logthreadnames", OptKind::Bool, "0", "Name the originating thread in each log line"),
    ("logsourcelocations", OptKind::Bool, "0", "Name the source file and line of each log line"),
    ("debuglogfile", OptKind::Str, "debug.log", "Log file (relative paths are inside the network directory); -nodebuglogfile writes no log file"),
    ("uacomment", OptKind::Str, "", "Comment appended to the P2P user agent, as Core (/blvm:0.1.0(comment)/); repeatable"),
    ("mocktime", OptKind::Int, "0", "Start with the clock replaced by this UNIX time (regtest only; 0 = the real clock; see setmocktime)"),
    ("pid", OptKind::Str, "bitcoind.pid", "PID file written at startup and removed at exit (relative paths are inside the network directory); -nopid writes none"),
    ("persistmempool", OptKind::Bool, "1", "Save the mempool to mempool.dat at shutdown and load it at startup"),
    ("mempoolexpiry", OptKind::Int, "336", "Drop mempool transactions older than this many hours"),
    ("test", OptKind::Str, "", "Regression-test behaviour (regtest only): bip94 (enforce BIP94's timewarp rules), addrman, reindex_after_failure_noninteractive_yes; repeatable"),
    ("testactivationheight", OptKind::Str, "", "Move a buried deployment (segwit, bip34, dersig, cltv, csv) to this height: name@height (regtest only); repeatable"),
    ("blocknotify", OptKind::Str, "", "Run this shell command when the best block changes (%s = its hash); not while catching up with tips over a day old"),
    ("startupnotify", OptKind::Str, "", "Run this shell command once startup has completed"),
    ("shutdownnotify", OptKind::Str, "", "Run this shell command when shutdown begins (waited for); repeatable"),
    ("alertnotify", OptKind::Str, "", "Run this shell command on a warning, e.g. a large-work invalid chain (%s = the message)"),
    ("acceptnonstdtxn", OptKind::Bool, "0", "Relay and mine non-standard transactions (test networks only)"),
    ("permitbaremultisig", OptKind::Bool, "1", "Relay transactions creating bare multisig outputs"),
    ("minrelaytxfee", OptKind::Str, "0.000001", "Lowest fee rate (BTC/kvB) of transactions relayed and accepted to the mempool"),
    ("incrementalrelayfee", OptKind::Str, "0.000001", "Fee rate (BTC/kvB) a replacement or a mempool-limit eviction must add"),
    ("dustrelayfee", OptKind::Str, "0.00003", "Fee rate (BTC/kvB) defining dust outputs, which are not relayed"),
    ("datacarrier", OptKind::Bool, "1", "Relay transactions with OP_RETURN data outputs"),
    ("datacarriersize", OptKind::Int, "100000", "Most OP_RETURN bytes per relayed transaction"),
    ("limitclustercount", OptKind::Int, "64", "Most transactions in one mempool cluster (connected in-mempool parents and children), 1-64"),
    ("limitclustersize", OptKind::Int, "101", "Largest total size (kvB, sigop-adjusted) of one mempool cluster"),
    ("limitancestorcount", OptKind::Int, "25", "Accepted for compatibility; not enforced (cluster limits replace it, as in Core 31)"),
    ("limitancestorsize", OptKind::Int, "101", "Accepted for compatibility; not enforced (cluster limits replace it, as in Core 31)"),
    ("limitdescendantcount", OptKind::Int, "25", "Accepted for compatibility; not enforced (cluster limits replace it, as in Core 31)"),
    ("limitdescendantsize", OptKind::Int, "101", "Accepted for compatibility; not enforced (cluster limits replace it, as in Core 31)"),
    ("blockmaxweight", OptKind::Int, "4000000", "Largest weight of the blocks this node assembles (getblocktemplate, generate*)"),
    ("blockreservedweight", OptKind::Int, "8000", "Weight kept free in assembled blocks for the header and coinbase (at least 2000)"),
    ("blockmintxfee", OptKind::Str, "0.00000001", "Lowest fee rate (BTC/kvB) of transactions included in assembled blocks"),
    ("blockversion", OptKind::Int, "", "Header version of assembled blocks instead of the BIP9 one (regtest only)"),
    ("checkblocks", OptKind::Int, "6", "How many of the last blocks to verify at startup (0 = all)"),
    ("checklevel", OptKind::Int, "3", "How thorough the startup block verification is (0-4): 0 reads the blocks, 1 checks them, 2 and above also check their undo data"),
    ("logmaxsize", OptKind::Int, "10", "Rotate debug.log when it exceeds this many MiB (0 = never)"),
    ("logmaxfiles", OptKind::Int, "5", "Rotated logs to keep (debug.log.1 is the newest)"),
    ("daemon", OptKind::Bool, "0", "Run in the background: not supported, use a service manager (systemd) or nohup"),
    ("sysperms", OptKind::Bool, "0", "Create new files with system default permissions, instead of umask 077"),
    ("server", OptKind::Bool, "1", "Accept JSON-RPC commands"),
    ("rpcport", OptKind::Int, "18443 on regtest", "JSON-RPC port (0 = any free port)"),
    ("rpcbind", OptKind::Str, "127.0.0.1", "Address to bind the JSON-RPC server to; ignored unless -rpcallowip is also given (as in Core); repeatable"),
    ("rpcallowip", OptKind::Str, "", "Allow JSON-RPC connections from this source: a single IP (e.g. 1.2.3.4), a network/netmask (e.g. 1.2.3.4/255.255.255.0) or a network/CIDR (e.g. 1.2.3.4/24); loopback is always allowed, others get 403 Forbidden; repeatable"),
    ("rpcuser", OptKind::Str, "", "JSON-RPC user (with -rpcpassword; the cookie file is used otherwise)"),
    ("rpcpassword", OptKind::Str, "", "JSON-RPC password"),
    ("rpcauth", OptKind::Str, "", "JSON-RPC credentials user:salt$hmac-sha256 as produced by Core's rpcauth.py; repeatable"),
    ("rpcwhitelist", OptKind::Str, "", "Methods a user may call, <user>:<method>,<method>...; several entries for one user keep the methods all of them list; repeatable"),
    ("rpcwhitelistdefault", OptKind::Bool, "1 when -rpcwhitelist is given", "Users without an -rpcwhitelist entry may call nothing (0: everything)"),
    ("rpccookiefile", OptKind::Str, "<datadir>/<network>/.cookie", "Location of the auth cookie"),
    ("rpcthreads", OptKind::Int, "4", "Threads serving RPC calls"),
    ("rpcworkqueue", OptKind::Int, "16", "Depth of the RPC work queue"),
    ("rpcservertimeout", OptKind::Int, "30", "Seconds an RPC client has to send a request's headers (also the idle time of a kept-alive connection) and its body; at most 4 x (rpcthreads + rpcworkqueue) connections are open at once"),
    ("listen", OptKind::Bool, "1 (0 with -connect)", "Accept P2P connections from outside"),
    ("port", OptKind::Int, "18444 on regtest", "P2P port to listen on (0 = any free port, logged as 'P2P listening on')"),
    ("bind", OptKind::Str, "127.0.0.1 on regtest, 0.0.0.0 elsewhere", "Address (IP or IP:port) to listen on for P2P; repeatable"),
    ("connect", OptKind::Str, "", "Connect only to this peer (host:port; 0 = no outbound connections); repeatable"),
    ("addnode", OptKind::Str, "", "Keep a connection to this peer (host:port) besides automatic ones; repeatable"),
    ("seednode", OptKind::Str, "", "Connect to this peer to learn addresses, then disconnect; repeatable"),
    ("maxconnections", OptKind::Int, "125", "Maximum P2P connections, inbound and outbound (0 = no P2P at all)"),
    ("inboundrelaypercent", OptKind::Int, "50", "Percentage (0..=100) of the inbound slots transaction-relaying peers may hold; the rest are for block-relay-only peers"),
    ("dnsseed", OptKind::Bool, "1 (0 on regtest or with -connect)", "Query DNS seeds for addresses when the address manager has few"),
    ("minimumchainwork", OptKind::Str, "the network's (0 on regtest)", "Minimum cumulative work (hex) a header chain needs before its headers are stored; chains with less are pre-synced in bounded memory first, as in Core"),
    ("bantime", OptKind::Int, "86400", "Default duration in seconds of a setban ban (misbehaving peers are discouraged in memory instead, as in Core)"),
    ("whitelist", OptKind::Str, "", "[permissions@]IP or subnet: peers from there get these permissions (bloomfilter: may use BIP37 filters; noban: never discouraged, headers skip the low-work check, implies download; relay: may send transactions under -blocksonly; forcerelay: implies relay, gets no feefilter; mempool: may send BIP35 mempool; download; addr: no addr rate limit, getaddr answered uncached; all; in/out: which connections, inbound by default; without @ the implicit set: noban, mempool, relay per -whitelistrelay, forcerelay per -whitelistforcerelay); repeatable"),
    ("whitebind", OptKind::Str, "", "[permissions@]IP:port: also listen there; peers connecting to it get these permissions (names as -whitelist); repeatable"),
    ("whitelistrelay", OptKind::Bool, "1 (0 with -blocksonly)", "The implicit -whitelist/-whitebind permissions include relay"),
    ("whitelistforcerelay", OptKind::Bool, "0", "The implicit -whitelist/-whitebind permissions include forcerelay"),
    ("blocksonly", OptKind::Bool, "0", "Ask peers for no transactions and disconnect those that send them (unless they have the relay permission); own transactions are still relayed; -maxmempool defaults to 5"),
    ("v2transport", OptKind::Bool, "1", "Support BIP324 v2 encrypted P2P: advertise NODE_P2P_V2, detect v1 or v2 on inbound connections, try v2 first on outbound connections to -connect, -addnode, addnode and addconnection peers and to addresses known to offer NODE_P2P_V2, retrying with v1 when the peer closes during the v2 handshake"),
    ("maxuploadtarget", OptKind::Str, "0", "Try to keep outbound traffic under this many bytes per 24 h (suffix k/m/g/t: powers of 1000, K/M/G/T: powers of 1024, none: MiB; 0: no limit); near it, blocks more than a week old are not served to peers without the download permission"),
    ("peerblockfilters", OptKind::Bool, "0", "Serve BIP157 compact block filters to peers (getcfilters, getcfheaders, getcfcheckpt) and advertise NODE_COMPACT_FILTERS; needs -blockfilterindex"),
    ("peerbloomfilters", OptKind::Bool, "0", "Serve BIP37 bloom filters (filterload, filteradd, filterclear, filtered blocks, mempool) and advertise NODE_BLOOM; off, peers sending filter messages are disconnected (the bloomfilter whitelist permission enables them per peer)"),
    ("externalip", OptKind::Str, "", "Our own public address (IP, IP:port, or a Tor v3 .onion, listed only), announced to peers about once a day and shown in getnetworkinfo; repeatable"),
    ("onlynet", OptKind::Str, "", "Make automatic outbound connections only to this network: ipv4 or ipv6 (Tor, I2P and CJDNS are not supported); repeatable"),
    ("peertimeout", OptKind::Int, "60", "Seconds a peer gets to complete the handshake, and to finish sending a started message"),
    ("maxtipage", OptKind::Int, "86400", "Seconds a tip may be old before the node counts as in initial block download"),
    ("loadblock", OptKind::Str, "", "Import blocks from this file (hex lines or blk-framed) after startup; repeatable"),
    ("progressinterval", OptKind::Int, "2000", "Milliseconds between progress lines of import and -loadblock, and of block download when given (which otherwise logs every 5 s); 1..=3600000"),
    ("txindex", OptKind::Bool, "0", "Maintain an index of every transaction in the chain (getrawtransaction by txid); not with -prune"),
    ("blockfilterindex", OptKind::Bool, "0", "Maintain the BIP158 basic block filter index (getblockfilter); =basic works too"),
    ("maxmempool", OptKind::Int, "300", "Keep the transaction memory pool below this many MB (1,000,000 bytes); at least 5, as in Core"),
    ("metricsbind", OptKind::Str, "", "Serve Prometheus metrics at http://<addr>/metrics (IP:port; off when empty)"),
    ("prune", OptKind::Int, "0", "Delete old blocks: 0 = off, 1 = manual (pruneblockchain RPC), >= 550 = keep block and undo files under this many MiB automatically (checked as blocks connect; the last 288 blocks are always kept); a pruned node advertises NODE_NETWORK_LIMITED instead of NODE_NETWORK"),
    ("prunetargetkib", OptKind::Int, "0", "Regtest only, for tests: automatic prune target in KiB, allowed below -prune's 550 MiB floor (implies prune mode; the allocation buffers shrink with the block file size, see -fastprune); 0 = unused"),
    ("fastprune", OptKind::Bool, "0", "Use tiny (64 KiB) block files, for pruning tests"),
    ("blocksdir", OptKind::Str, "<datadir>", "Keep the block and undo files in <dir>/<network>/blocks instead of <datadir>/<network>/blocks (the directory must exist); the chainstate stays in the datadir"),
    ("blocksxor", OptKind::Bool, "1", "XOR-obfuscate the block and undo files of a new blocks directory with a random key (blocks/xor.dat), as Core >= 28; 0 is refused once a random key is stored"),
    ("backupinterval", OptKind::Int, "0", "Seconds between scheduled backups of the chainstate and block files (0 = off); each runs as a backup maintenance operation"),
    ("backupdir", OptKind::Str, "<datadir>/backups", "Directory scheduled backups are written to, one subdirectory per backup"),
    ("backupkeep", OptKind::Int, "3", "Scheduled backups kept in -backupdir; older ones are deleted (at least 1)"),
    ("compactgrowth", OptKind::Int, "0", "Compact the database when it grew by this many percent since the last compaction (checked after each flush; 0 = off)"),
    ("shutdowntimeout", OptKind::Int, "30", "Seconds modules get to acknowledge NodeShutdown"),
    ("acktimeout", OptKind::Int, "10", "Seconds modules get to acknowledge StorageFlush, MaintenanceStarted, DataCleanup, DiskSpaceLow"),
    ("moduletimeout", OptKind::Int, "10", "Seconds autoloaded modules get to connect and subscribe at startup"),
    ("allowunauthmodules", OptKind::Bool, "0", "Accept module connections that present no token (read_chain only)"),
    ("modulemaxframe", OptKind::Int, "16777216", "Largest module protocol frame in bytes"),
    ("modulerpctimeout", OptKind::Int, "30", "Seconds a module has to answer a call of one of its JSON-RPC methods (then the caller gets an error)"),
    ("modulehooktimeout", OptKind::Str, "2000", "Milliseconds each module has to answer a hook (<ms> for every hook, or <hook>:<ms>; repeatable)"),
    ("modulehookpolicy", OptKind::Str, "proceed", "What a hook module that does not answer in time means: proceed or refuse (<policy> for every hook, or <hook>:<policy>; repeatable)"),
    ("modulemaxrestarts", OptKind::Int, "5", "Restarts a crashing module gets before it is marked failed"),
    ("modulebackoffms", OptKind::Int, "500", "First module restart delay in ms (doubles per consecutive crash, max 30 s)"),
    ("flushinterval", OptKind::Int, "3600", "Seconds between periodic chainstate flushes"),
    ("healthinterval", OptKind::Int, "300", "Seconds between periodic health checks"),
    ("cleanupinterval", OptKind::Int, "86400", "Seconds between periodic DataCleanup events"),
    ("cleanupagedays", OptKind::Int, "30", "target_age_days sent with DataCleanup"),
    ("diskcheckinterval", OptKind::Int, "30", "Seconds between free-space checks of the datadir"),
    ("disklowpercent", OptKind::Int, "5", "DiskSpaceLow below this percentage of free space"),
    ("disklowmb", OptKind::Int, "1024", "DiskSpaceLow below this many MiB free"),
    ("diskcriticalmb", OptKind::Int, "100", "Flush and stop (reason error) below this many MiB free"),
    ("resourceinterval", OptKind::Int, "30", "Seconds between resource (memory, cpu, disk, network) checks"),
    ("maxmemorymb", OptKind::Int, "0", "Memory limit for ResourceLimitWarning in MiB (0 = physical memory)"),
    ("resourcewarnpercent", OptKind::Int, "90", "ResourceLimitWarning above this percentage of a limit"),
    ("maxdatadirmb", OptKind::Int, "0", "Datadir size limit for the disk ResourceLimitWarning in MiB (0 = none)"),
    ("rest", OptKind::Bool, "0", "Serve Bitcoin Core's unauthenticated REST interface (GET /rest/...) on the RPC port"),
    ("zmqpubhashblock", OptKind::Str, "", "Publish the hash of each new tip over ZMQ at <address> (tcp://host:port or unix:path); repeatable"),
    ("zmqpubhashblockhwm", OptKind::Int, "1000", "Outbound message high water mark of the -zmqpubhashblock socket (0: no limit)"),
    ("zmqpubhashtx", OptKind::Str, "", "Publish the txid of each transaction entering the mempool or a (dis)connected block over ZMQ at <address> (tcp://host:port or unix:path); repeatable"),
    ("zmqpubhashtxhwm", OptKind::Int, "1000", "Outbound message high water mark of the -zmqpubhashtx socket (0: no limit)"),
    ("zmqpubrawblock", OptKind::Str, "", "Publish each new tip (serialized) over ZMQ at <address> (tcp://host:port or unix:path); repeatable"),
    ("zmqpubrawblockhwm", OptKind::Int, "1000", "Outbound message high water mark of the -zmqpubrawblock socket (0: no limit)"),
    ("zmqpubrawtx", OptKind::Str, "", "Publish each transaction entering the mempool or a (dis)connected block (serialized, with witness) over ZMQ at <address> (tcp://host:port or unix:path); repeatable"),
    ("zmqpubrawtxhwm", OptKind::Int, "1000", "Outbound message high water mark of the -zmqpubrawtx socket (0: no limit)"),
    ("zmqpubsequence", OptKind::Str, "", "Publish block (dis)connections and mempool additions/removals with the mempool sequence over ZMQ at <address> (tcp://host:port or unix:path); repeatable"),
    ("zmqpubsequencehwm", OptKind::Int, "1000", "Outbound message high water mark of the -zmqpubsequence socket (0: no limit)"),
];

/// The subcommand to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the node until stopped.
    Run,
    /// Import blocks from a file, then exit.
    Import(PathBuf),
    /// Print help.
    Help,
    /// Print the version.
    Version,
}

/// Parsed node configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Selected network.
    pub network: Network,
    /// Base data directory (network subdirectories live inside).
    pub datadir: PathBuf,
    /// UTXO cache budget in MiB.
    pub dbcache_mib: u64,
    /// Script verification threads.
    pub script_threads: usize,
    /// Log to the console too.
    pub printtoconsole: bool,
    /// `-logips`: peer log lines name the peer's address.
    pub log_ips: bool,
    /// Debug log categories.
    pub debug: Vec<String>,
    /// Files to import after startup.
    pub loadblock: Vec<PathBuf>,
    /// Prune target in MiB (0 = off).
    pub prune_mib: u64,
    /// Tiny block files (tests).
    pub fastprune: bool,
    /// `-backupdir`: where scheduled backups go (None: `<datadir>/backups`).
    pub backup_dir: Option<PathBuf>,
    /// `-blocksdir`: base directory of the block files instead of the datadir (absolute).
    pub blocksdir: Option<PathBuf>,
    /// `-blocksxor`: obfuscate the files of a new blocks directory.
    pub blocks_xor: bool,
    /// Maintain the transaction index (-txindex).
    pub txindex: bool,
    /// Maintain the basic block filter index (-blockfilterindex).
    pub blockfilterindex: bool,
    /// Accept token-less module connections.
    pub allow_unauth_modules: bool,
    /// Serve JSON-RPC.
    pub server: bool,
    /// RPC port (None: the network default).
    pub rpc_port: Option<u16>,
    /// RPC bind addresses.
    pub rpc_bind: Vec<String>,
    /// -rpcuser / -rpcpassword.
    pub rpc_user: Option<String>,
    /// -rpcpassword.
    pub rpc_password: Option<String>,
    /// -rpcauth entries.
    pub rpc_auth: Vec<String>,
    /// `-rpcwhitelist` entries (`user:method,method`).
    pub rpc_whitelist: Vec<String>,
    /// `-rpcwhitelistdefault` (None: on exactly when `-rpcwhitelist` is given).
    pub rpc_whitelist_default: Option<bool>,
    /// -rpccookiefile.
    pub rpc_cookie_file: Option<PathBuf>,
    /// `-rpcallowip` subnets (loopback is allowed besides these).
    pub rpc_allow_ip: Vec<crate::p2p::ban::Subnet>,
    /// `-sysperms`: keep the inherited umask instead of setting 077.
    pub sysperms: bool,
    /// Numeric lifecycle options by name (seconds, MiB, percent), validated.
    pub numbers: std::collections::HashMap<String, u64>,
    /// The configuration files that were read (`-conf`, or `<datadir>/bitcoin.conf` and
    /// `<datadir>/blvm.toml` when they exist).
    pub config_files: Vec<PathBuf>,
    /// `-metricsbind`: where to serve Prometheus metrics (None: off).
    pub metrics_bind: Option<std::net::SocketAddr>,
    /// `-connect` entries (host:port; "0" disables outbound connections).
    pub connect: Vec<String>,
    /// `-addnode` entries.
    pub addnode: Vec<String>,
    /// `-whitelist` entries as given (`[permissions@]subnet`).
    pub whitelist: Vec<String>,
    /// `-whitebind` entries as given (`[permissions@]addr:port`).
    pub whitebind: Vec<String>,
    /// `-whitelistrelay` (None: on unless `-blocksonly`).
    pub whitelist_relay: Option<bool>,
    /// `-whitelistforcerelay`.
    pub whitelist_forcerelay: bool,
    /// `-blocksonly`: no transactions from peers (Core's ignore_incoming_txs).
    pub blocks_only: bool,
    /// `-maxuploadtarget` in bytes per 24 h (0: none).
    pub max_upload_target: u64,
    /// `-peerblockfilters`: BIP157 filters are served from the filter index (NODE_COMPACT_FILTERS).
    pub peer_block_filters: bool,
    /// `-peerbloomfilters`: BIP37 bloom filters are served to every peer (NODE_BLOOM).
    pub peer_bloom_filters: bool,
    /// `-v2transport`: BIP324 v2 encrypted transport (NODE_P2P_V2).
    pub v2transport: bool,
    /// `-externalip` entries as given (our public addresses).
    pub externalip: Vec<String>,
    /// `-onlynet` networks (`ipv4`, `ipv6`): automatic outbound connections only to these.
    pub onlynet: Vec<String>,
    /// `-seednode` entries.
    pub seednode: Vec<String>,
    /// `-bind` entries (IP or IP:port).
    pub bind: Vec<String>,
    /// `-listen` (None: the default, which depends on -connect).
    pub listen: Option<bool>,
    /// `-dnsseed` (None: the default, which depends on the network and -connect).
    pub dnsseed: Option<bool>,
    /// `-minimumchainwork` (None: the network's default).
    pub minimum_chain_work: Option<bitcoin::Work>,
    /// `-assumevalid` (None: the network's default; all zeros: check every script).
    pub assume_valid: Option<bitcoin::BlockHash>,
    /// `-debugexclude` categories.
    pub debug_exclude: Vec<String>,
    /// `-loglevel` values (`trace`, `net:trace`, ...).
    pub log_level: Vec<String>,
    /// How each log line starts (`-logtimestamps -logtimemicros -logthreadnames -logsourcelocations`).
    pub log_format: LogFormat,
    /// `-debuglogfile` (None: no log file, `-nodebuglogfile`).
    pub debug_log_file: Option<PathBuf>,
    /// `-uacomment` entries.
    pub ua_comments: Vec<String>,
    /// `-mocktime` (0: the real clock).
    pub mocktime: i64,
    /// `-pid` (None: no PID file).
    pub pid_file: Option<PathBuf>,
    /// `-persistmempool`.
    pub persist_mempool: bool,
    /// Core options accepted and ignored, as given (`-natpmp=0`), logged once at startup.
    pub ignored: Vec<String>,
    /// Problems worth a warning in the log that do not stop the node (unknown keys in
    /// bitcoin.conf, as Core).
    pub warnings: Vec<String>,
    /// Serve the REST interface (-rest).
    pub rest: bool,
    /// `-zmqpub<topic>=<address>` as given: (option name, address), in order.
    pub zmq_pub: Vec<(String, String)>,
    /// Relay-policy options (`-acceptnonstdtxn`, `-minrelaytxfee`, ...).
    pub policy: policy::PolicyArgs,
    /// `-blocknotify`, `-startupnotify`, `-shutdownnotify`, `-alertnotify`.
    pub notify: crate::notify::NotifyCommands,
    /// `-testactivationheight=name@height` entries (regtest).
    pub test_activation_heights: Vec<String>,
    /// `-test=<option>` entries (regtest).
    pub test_options: Vec<String>,
    /// `-modulehooktimeout` values as given.
    pub module_hook_timeout: Vec<String>,
    /// `-modulehookpolicy` values as given.
    pub module_hook_policy: Vec<String>,
}

impl NodeConfig {
    /// A numeric option's value, or its documented default.
    pub fn number(&self, name: &str) -> u64 {
        if let Some(v) = self.numbers.get(name) {
            return *v;
        }
        OPTIONS.iter().find(|o| o.0 == name).and_then(|o| o.2.parse().ok()).unwrap_or(0)
    }
}

impl NodeConfig {
    /// The directory of the selected network (`<datadir>/regtest`, ... or `<datadir>` for mainnet).
    pub fn net_dir(&self) -> PathBuf {
        crate::datadir::network_dir(&self.datadir, ChainParams::for_network(self.network).data_subdir)
    }
}

/// Whether `s` looks like a P2P peer address: `host`, `host:port`, `IP`, `IP:port` or `[IPv6]:port`.
/// One `-rpcbind` value as Core's SplitHostPort reads it: `host`, `host:port`, `[v6]`,
/// `[v6]:port` or a bare IPv6 address; `localhost` is 127.0.0.1.
pub fn parse_rpc_bind(b: &str, default_port: u16) -> Result<SocketAddr, String> {
    let bad_port = || format!("Invalid port specified in -rpcbind: '{b}'");
    let (host, port) = match b.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((h, "")) => (h, None),
        Some((h, rest)) => (h, Some(rest.strip_prefix(':').ok_or_else(bad_port)?)),
        None => match b.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (b, None),
        },
    };
    let port = match port {
        None => default_port,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad_port)?,
    };
    let ip = if host == "localhost" {
        IpAddr::from([127, 0, 0, 1])
    } else {
        host.parse().map_err(|_| format!("invalid -rpcbind address '{b}'"))?
    };
    Ok(SocketAddr::new(ip, port))
}

fn valid_host_port(s: &str) -> bool {
    if s.parse::<std::net::SocketAddr>().is_ok() || s.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return false;
    }
    !host.is_empty() && host.len() <= 253 && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

fn default_datadir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".blvm")
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v {
        "" | "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(ConfigError::BadValue {
            key: key.into(),
            value: v.into(),
            expected: "0 or 1",
        }),
    }
}

/// Parses command-line arguments (without the program name).
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<(NodeConfig, Command), ConfigError> {
    let mut cfg = NodeConfig {
        network: Network::Regtest,
        datadir: default_datadir(),
        dbcache_mib: 450,
        script_threads: 0,
        printtoconsole: true,
        log_ips: false,
        debug: Vec::new(),
        loadblock: Vec::new(),
        prune_mib: 0,
        fastprune: false,
        backup_dir: None,
        blocksdir: None,
        blocks_xor: true,
        txindex: false,
        blockfilterindex: false,
        allow_unauth_modules: false,
        server: true,
        rpc_port: None,
        rpc_bind: Vec::new(),
        rpc_user: None,
        rpc_password: None,
        rpc_auth: Vec::new(),
        rpc_whitelist: Vec::new(),
        rpc_whitelist_default: None,
        rpc_cookie_file: None,
        rpc_allow_ip: Vec::new(),
        sysperms: false,
        numbers: std::collections::HashMap::new(),
        config_files: Vec::new(),
        metrics_bind: None,
        connect: Vec::new(),
        addnode: Vec::new(),
        whitelist: Vec::new(),
        whitebind: Vec::new(),
        whitelist_relay: None,
        whitelist_forcerelay: false,
        blocks_only: false,
        max_upload_target: 0,
        peer_block_filters: false,
        peer_bloom_filters: false,
        v2transport: true,
        externalip: Vec::new(),
        onlynet: Vec::new(),
        seednode: Vec::new(),
        bind: Vec::new(),
        listen: None,
        dnsseed: None,
        minimum_chain_work: None,
        assume_valid: None,
        debug_exclude: Vec::new(),
        log_level: Vec::new(),
        log_format: LogFormat::default(),
        debug_log_file: Some(PathBuf::from("debug.log")),
        ua_comments: Vec::new(),
        mocktime: 0,
        pid_file: Some(PathBuf::from("bitcoind.pid")),
        persist_mempool: true,
        ignored: Vec::new(),
        warnings: Vec::new(),
        rest: false,
        zmq_pub: Vec::new(),
        policy: policy::PolicyArgs::default(),
        notify: crate::notify::NotifyCommands::default(),
        test_activation_heights: Vec::new(),
        test_options: Vec::new(),
        module_hook_timeout: Vec::new(),
        module_hook_policy: Vec::new(),
    };
    let mut networks: Vec<(String, Network)> = Vec::new();
    let mut positional: Vec<String> = Vec::new();
    let mut command = Command::Run;
    for arg in args {
        if !arg.starts_with('-') || arg == "-" {
            positional.push(arg);
            continue;
        }
        let body = arg.trim_start_matches('-');
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (body.to_string(), None),
        };
        if name == "h" || name == "?" {
            command = Command::Help;
            continue;
        }
        let (name, negated) = match OPTIONS.iter().find(|o| o.0 == name) {
            Some(_) => (name, false),
            None if core_args::policy(&name).is_some() => (name, false),
            None => match name.strip_prefix("no") {
                Some(n) if OPTIONS.iter().any(|o| o.0 == n) || core_args::policy(n).is_some() => (n.to_string(), true),
                _ => return Err(ConfigError::Unknown(name)),
            },
        };
        if let Some(policy) = core_args::policy(&name) {
            let v = value.unwrap_or_default();
            if let core_args::Policy::RefuseWhenOn(reason) = policy {
                if !core_args::is_off(&name, &v, negated) {
                    return Err(ConfigError::Unsupported {
                        key: name,
                        value: if v.is_empty() { "1".into() } else { v },
                        reason,
                    });
                }
            }
            cfg.ignored.push(if negated {
                format!("-no{name}")
            } else if v.is_empty() {
                format!("-{name}")
            } else {
                format!("-{name}={v}")
            });
            continue;
        }
        let kind = OPTIONS.iter().find(|o| o.0 == name).map(|o| o.1).unwrap_or(OptKind::Str);
        let mut v = value.unwrap_or_default();
        if negated && kind != OptKind::Bool {
            // Core's -noX for a valued option: off (-nodebug, -noconnect, -nodebuglogfile, -nopid).
            if !matches!(v.as_str(), "" | "1") {
                return Err(ConfigError::BadValue {
                    key: format!("no{name}"),
                    value: v,
                    expected: "no value or 1",
                });
            }
            v = "0".into();
        }
        if name == "debug" && v.is_empty() {
            // Core: -debug without a category means every category.
            v = "1".into();
        }
        let flag = || -> Result<bool, ConfigError> { Ok(parse_bool(&name, &v)? != negated) };
        if kind != OptKind::Bool && v.is_empty() {
            return Err(ConfigError::BadValue {
                key: name,
                value: v,
                expected: "a value (-name=value)",
            });
        }
        if cfg.policy.set(&name, &v, flag)? || cfg.notify.set(&name, &v) {
            continue;
        }
        match name.as_str() {
            "help" => {
                if flag()? {
                    command = Command::Help
                }
            }
            "version" => {
                if flag()? {
                    command = Command::Version
                }
            }
            "datadir" => cfg.datadir = PathBuf::from(&v),
            "chain" => {
                let n = ChainParams::network_from_chain_name(&v).ok_or_else(|| ConfigError::BadValue {
                    key: name.clone(),
                    value: v.clone(),
                    expected: "one of main, test, testnet4, signet, regtest",
                })?;
                networks.push((format!("-chain={v}"), n));
            }
            "regtest" | "testnet" | "testnet4" | "signet" | "mainnet" => {
                if flag()? {
                    let n = match name.as_str() {
                        "regtest" => Network::Regtest,
                        "testnet" => Network::Testnet,
                        "testnet4" => Network::Testnet4,
                        "signet" => Network::Signet,
                        _ => Network::Bitcoin,
                    };
                    networks.push((format!("-{name}"), n));
                }
            }
            "dbcache" => {
                cfg.dbcache_mib = v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (4..=1_048_576).contains(n))
                    .ok_or(ConfigError::BadValue {
                        key: name.clone(),
                        value: v.clone(),
                        expected: "an integer MiB in 4..=1048576",
                    })?
            }
            "par" => {
                cfg.script_threads = v.parse::<usize>().ok().filter(|n| *n <= 256).ok_or(ConfigError::BadValue {
                    key: name.clone(),
                    value: v.clone(),
                    expected: "an integer in 0..=256",
                })?
            }
            "printtoconsole" => cfg.printtoconsole = flag()?,
            "logips" => cfg.log_ips = flag()?,
            "blocksonly" => cfg.blocks_only = flag()?,
            "peerblockfilters" => cfg.peer_block_filters = flag()?,
            "maxuploadtarget" => {
                cfg.max_upload_target = if negated {
                    0
                } else {
                    crate::p2p::upload_target::parse_target(&v).map_err(|e| ConfigError::Core(e.to_string()))?
                };
            }
            "peerbloomfilters" => cfg.peer_bloom_filters = flag()?,
            "v2transport" => cfg.v2transport = flag()?,
            // -debug values are checked after parsing: Core disregards those before the last
            // 0/none/-nodebug, even unknown ones.
            "debug" => cfg.debug.push(v.clone()),
            "debugexclude" => {
                if logopts::targets_of(&v).is_none() {
                    return Err(ConfigError::Core(format!("Unsupported logging category -{name}={v}.")));
                }
                cfg.debug_exclude.push(v.clone())
            }
            "loglevel" => {
                logopts::check_level(&v)?;
                cfg.log_level.push(v.clone());
            }
            "logtimestamps" => cfg.log_format.timestamps = flag()?,
            "logtimemicros" => cfg.log_format.micros = flag()?,
            "logthreadnames" => cfg.log_format.thread_names = flag()?,
            "logsourcelocations" => cfg.log_format.source_locations = flag()?,
            "debuglogfile" => cfg.debug_log_file = (v != "0").then(|| PathBuf::from(&v)),
            "pid" => cfg.pid_file = (v != "0").then(|| PathBuf::from(&v)),
            "persistmempool" => cfg.persist_mempool = flag()?,
            "uacomment" => {
                if !v.chars().all(|c| c.is_ascii_alphanumeric() || " .,;-_?@".contains(c)) {
                    return Err(ConfigError::Core(format!("User Agent comment ({v}) contains unsafe characters.")));
                }
                cfg.ua_comments.push(v.clone());
            }
            "mocktime" => {
                let t = v
                    .parse::<i64>()
                    .ok()
                    .filter(|t| (0..=crate::clock::MAX_MOCKTIME).contains(t))
                    .ok_or(ConfigError::BadValue {
                        key: name.clone(),
                        value: v.clone(),
                        expected: "a UNIX time in seconds (0 = the real clock)",
                    })?;
                cfg.mocktime = t;
            }
            "mempoolexpiry" => {
                let n = v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=1_000_000).contains(n))
                    .ok_or(ConfigError::BadValue {
                        key: name.clone(),
                        value: v.clone(),
                        expected: "a number of hours in 1..=1000000",
                    })?;
                cfg.numbers.insert(name.clone(), n);
            }
            "conf" => cfg.config_files = vec![PathBuf::from(&v)],
            "test" => {
                if !TEST_OPTIONS.contains(&v.as_str()) {
                    return Err(ConfigError::Core(format!("Unrecognized test option: {v}")));
                }
                cfg.test_options.push(v.clone());
            }
            "modulehooktimeout" => cfg.module_hook_timeout.push(v.clone()),
            "modulehookpolicy" => {
                cfg.module_hook_policy.push(v.clone());
            }
            "testactivationheight" => {
                ChainParams::for_network(Network::Regtest)
                    .set_test_activation_height(&v)
                    .map_err(ConfigError::Core)?;
                cfg.test_activation_heights.push(v.clone());
            }
            "daemon" => {
                if flag()? {
                    return Err(ConfigError::Unsupported {
                        key: name,
                        value: if v.is_empty() { "1".into() } else { v },
                        reason: "blvm-node does not fork; run it under a service manager (systemd, runit) or with nohup ... &",
                    });
                }
            }
            "txindex" => cfg.txindex = flag()?,
            "blockfilterindex" => {
                // Core's values: 0, 1 (every filter type) or a type name; "basic" is the only type.
                let on = if v == "basic" {
                    true
                } else {
                    parse_bool(&name, &v).map_err(|_| ConfigError::BadValue {
                        key: name.clone(),
                        value: v.clone(),
                        expected: "0, 1 or basic",
                    })?
                };
                cfg.blockfilterindex = on != negated;
            }
            "metricsbind" => {
                let addr = v
                    .parse::<std::net::SocketAddr>()
                    .ok()
                    .or_else(|| {
                        v.strip_prefix("localhost:")
                            .and_then(|p| p.parse::<u16>().ok())
                            .map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], p)))
                    })
                    .ok_or(ConfigError::BadValue {
                        key: name.clone(),
                        value: v.clone(),
                        expected: "IP:port (e.g. 127.0.0.1:9332)",
                    })?;
                cfg.metrics_bind = Some(addr);
            }
            "maxmempool" => {
                // Core's floor: 40 x the 101 kvB descendant size limit, rounded up to whole MB.
                let n = v.parse::<u64>().ok().filter(|n| *n <= 1_000_000).ok_or(ConfigError::BadValue {
                    key: name.clone(),
                    value: v.clone(),
                    expected: "an integer MB in 5..=1000000",
                })?;
                if n < 5 {
                    return Err(ConfigError::MaxMempoolTooSmall(5));
                }
                cfg.numbers.insert(name.clone(), n);
            }
            "logmaxsize" | "logmaxfiles" | "progressinterval" | "checkblocks" | "checklevel" => {
                let (lo, hi, expected) = match name.as_str() {
                    "checkblocks" => (0, u64::from(u32::MAX), "a number of blocks (0 = all)"),
                    "checklevel" => (0, 4, "an integer in 0..=4"),
                    "logmaxsize" => (0, 1 << 20, "an integer MiB in 0..=1048576 (0 = never rotate)"),
                    "logmaxfiles" => (1, 1000, "an integer in 1..=1000"),
                    _ => (1, 3_600_000, "milliseconds in 1..=3600000"),
                };
                let n = v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (lo..=hi).contains(n))
                    .ok_or(ConfigError::BadValue {
                        key: name.clone(),
                        value: v.clone(),
                        expected,
                    })?;
                cfg.numbers.insert(name.clone(), n);
            }
            "loadblock" => cfg.loadblock.push(PathBuf::from(&v)),
            "listen" => cfg.listen = Some(flag()?),
            "dnsseed" => cfg.dnsseed = Some(flag()?),
            "assumevalid" => {
                // Core's uint256::FromUserHex: up to 64 hex digits, optional 0x, zero-padded.
                let be = crate::params::parse_work(&v).ok_or_else(|| {
                    ConfigError::Core(format!(
                        "Invalid assumevalid block hash specified ({v}), must be up to 64 hex digits (or 0 to disable)"
                    ))
                })?;
                let mut bytes = be.to_be_bytes();
                bytes.reverse();
                cfg.assume_valid = Some(<bitcoin::BlockHash as bitcoin::hashes::Hash>::from_byte_array(bytes));
            }
            "maxsigcachesize" => {
                let n = v.parse::<u64>().ok().filter(|n| *n <= 16_384).ok_or(ConfigError::BadValue {
                    key: name.clone(),
                    value: v.clone(),
                    expected: "an integer MiB in 0..=16384",
                })?;
                cfg.numbers.insert(name.clone(), n);
            }
            "minimumchainwork" => {
                cfg.minimum_chain_work = Some(crate::params::parse_work(&v).ok_or_else(|| ConfigError::InvalidMinimumWork(v.clone()))?)
            }
            "externalip" => {
                if crate::p2p::local_addr::LocalAddr::parse(&v, 0).is_none() {
                    return Err(ConfigError::BadValue {
                        key: name,
                        value: v,
                        expected: "an IP address, IP:port or a Tor v3 .onion address",
                    });
                }
                cfg.externalip.push(v.clone());
            }
            "onlynet" => {
                let net = v.to_ascii_lowercase();
                if !matches!(net.as_str(), "ipv4" | "ipv6") {
                    return Err(ConfigError::BadValue {
                        key: name,
                        value: v,
                        expected: "ipv4 or ipv6 (blvm-node has no Tor, I2P or CJDNS support)",
                    });
                }
                cfg.onlynet.push(net);
            }
            // Checked once all options are read (Core checks -listen=0 against them first).
            "whitelist" => cfg.whitelist.push(v.clone()),
            "whitebind" => cfg.whitebind.push(v.clone()),
            "whitelistrelay" => cfg.whitelist_relay = Some(flag()?),
            "whitelistforcerelay" => cfg.whitelist_forcerelay = flag()?,
            "connect" | "addnode" | "seednode" => {
                let disable_outbound = v == "0" && name == "connect";
                if !disable_outbound && !valid_host_port(&v) {
                    return Err(ConfigError::BadValue {
                        key: name,
                        value: v,
                        expected: "host:port, IP, or [IPv6]:port",
                    });
                }
                match name.as_str() {
                    "connect" => cfg.connect.push(v.clone()),
                    "addnode" => cfg.addnode.push(v.clone()),
                    _ => cfg.seednode.push(v.clone()),
                }
            }
            "bind" => {
                // Core's "=onion" tag marks the address for incoming Tor connections; blvm has no
                // Tor support and listens there as on any other address.
                let v = v.strip_suffix("=onion").unwrap_or(&v).to_string();
                let ok = v.parse::<std::net::IpAddr>().is_ok() || v.parse::<std::net::SocketAddr>().is_ok();
                if !ok {
                    return Err(ConfigError::BadValue {
                        key: name,
                        value: v,
                        expected: "an IP address or IP:port",
                    });
                }
                cfg.bind.push(v.clone());
            }
            "port" => {
                let n = v.parse::<u16>().map_err(|_| ConfigError::BadValue {
                    key: name.clone(),
                    value: v.clone(),
                    expected: "a port number 0..=65535",
                })?;
                cfg.numbers.insert(name.clone(), u64::from(n));
            }
            "peertimeout" if v.parse::<i64>().is_ok_and(|n| n <= 0) => return Err(ConfigError::PeerTimeout),
            "maxconnections" | "inboundrelaypercent" | "bantime" | "peertimeout" | "maxtipage" => {
                let (lo, hi, expected) = match name.as_str() {
                    "maxconnections" => (0, 100_000, "an integer in 0..=100000"),
                    "inboundrelaypercent" => (0, 100, "a percentage in 0..=100"),
                    "bantime" => (1, 1 << 40, "a number of seconds >= 1"),
                    // Core takes any int64; tests pass i64::MAX to mean "never too old".
                    "maxtipage" => (1, i64::MAX as u64, "a number of seconds >= 1"),
                    _ => (1, 1 << 40, "a number of seconds >= 1"),
                };
                let n = v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (lo..=hi).contains(n))
                    .ok_or(ConfigError::BadValue {
                        key: name.clone(),
                        value: v.clone(),
                        expected,
                    })?;
                cfg.numbers.insert(name.clone(), n);
            }
            "server" => cfg.server = flag()?,
            "rpcport" => {
                cfg.rpc_port = Some(v.parse::<u16>().map_err(|_| ConfigError::BadValue {
                    key: name.clone(),
                    value: v.clone(),
                    expected: "a port number 0..=65535",
                })?)
            }
            "rpcbind" => {
                // Core checks every -rpcbind at startup, used or not (port 1 stands in for the
                // default port, which depends on options not read yet).
                parse_rpc_bind(&v, 1).map_err(ConfigError::Core)?;
                cfg.rpc_bind.push(v.clone());
            }
            "rpcuser" => cfg.rpc_user = Some(v.clone()),
            "rpcpassword" => cfg.rpc_password = Some(v.clone()),
            "rpcauth" => {
                if !v.contains(':') || !v.contains('$') {
                    return Err(ConfigError::BadValue {
                        key: name,
                        value: v,
                        expected: "user:salt$hash",
                    });
                }
                cfg.rpc_auth.push(v.clone());
            }
            "rpcwhitelist" => cfg.rpc_whitelist.push(v.clone()),
            "rpcwhitelistdefault" => cfg.rpc_whitelist_default = Some(flag()?),
            "rpccookiefile" => cfg.rpc_cookie_file = Some(PathBuf::from(&v)),
            "rpcallowip" => {
                let subnet = crate::p2p::ban::Subnet::parse(&v).ok_or(ConfigError::BadValue {
                    key: name.clone(),
                    value: v.clone(),
                    expected:
                        "a single IP (e.g. 1.2.3.4), a network/netmask (e.g. 1.2.3.4/255.255.255.0) or a network/CIDR (e.g. 1.2.3.4/24)",
                })?;
                cfg.rpc_allow_ip.push(subnet);
            }
            "rpcservertimeout" => {
                let n = v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=1 << 31).contains(n))
                    .ok_or(ConfigError::BadValue {
                        key: name.clone(),
                        value: v.clone(),
                        expected: "a number of seconds >= 1",
                    })?;
                cfg.numbers.insert(name.clone(), n);
            }
            "sysperms" => cfg.sysperms = flag()?,
            "rpcthreads" | "rpcworkqueue" => {
                let n = v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=1024).contains(n))
                    .ok_or(ConfigError::BadValue {
                        key: name.clone(),
                        value: v.clone(),
                        expected: "an integer in 1..=1024",
                    })?;
                cfg.numbers.insert(name.clone(), n);
            }
            "fastprune" => cfg.fastprune = flag()?,
            "blocksxor" => cfg.blocks_xor = flag()?,
            "blocksdir" if negated => cfg.blocksdir = None,
            "blocksdir" => {
                // As Core: relative to the working directory, and it must already exist.
                let dir = std::path::absolute(&v).ok().filter(|d| d.is_dir());
                cfg.blocksdir = Some(dir.ok_or_else(|| ConfigError::Core(format!("Specified blocks directory \"{v}\" does not exist.")))?);
            }
            "allowunauthmodules" => cfg.allow_unauth_modules = flag()?,
            "prune" => {
                let floor = crate::chain::manager::autoprune::MIN_DISK_SPACE_FOR_BLOCK_FILES >> 20;
                let n = v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n <= 1 || *n >= floor)
                    .ok_or(ConfigError::BadValue {
                        key: name.clone(),
                        value: v.clone(),
                        expected: "0 (off), 1 (manual pruneblockchain only) or a target >= 550 MiB",
                    })?;
                cfg.prune_mib = n;
            }
            "backupdir" if negated => cfg.backup_dir = None,
            "backupdir" => cfg.backup_dir = Some(std::path::absolute(&v).unwrap_or_else(|_| PathBuf::from(&v))),
            "disklowpercent" | "resourcewarnpercent" => {
                let n = v.parse::<u64>().ok().filter(|n| *n <= 100).ok_or(ConfigError::BadValue {
                    key: name.clone(),
                    value: v.clone(),
                    expected: "a percentage 0..=100",
                })?;
                cfg.numbers.insert(name.clone(), n);
            }
            "shutdowntimeout" | "acktimeout" | "moduletimeout" | "modulemaxframe" | "modulerpctimeout" | "modulemaxrestarts"
            | "modulebackoffms" | "flushinterval" | "healthinterval" | "cleanupinterval" | "cleanupagedays" | "diskcheckinterval"
            | "disklowmb" | "diskcriticalmb" | "resourceinterval" | "maxmemorymb" | "maxdatadirmb" | "backupinterval" | "backupkeep"
            | "compactgrowth" | "prunetargetkib" => {
                let n = v.parse::<u64>().ok().filter(|n| *n <= 1 << 40).ok_or(ConfigError::BadValue {
                    key: name.clone(),
                    value: v.clone(),
                    expected: "a non-negative integer",
                })?;
                let min = match name.as_str() {
                    "flushinterval" | "healthinterval" | "cleanupinterval" | "diskcheckinterval" | "resourceinterval" => 1,
                    "modulemaxframe" => 1024,
                    "backupkeep" => 1,
                    _ => 0,
                };
                if n < min {
                    return Err(ConfigError::BadValue {
                        key: name.clone(),
                        value: v.clone(),
                        expected: "a larger value (intervals >= 1 s, frames >= 1024 bytes, backupkeep >= 1)",
                    });
                }
                cfg.numbers.insert(name.clone(), n);
            }
            "rest" => cfg.rest = flag()?,
            "zmqpubhashblock" | "zmqpubhashtx" | "zmqpubrawblock" | "zmqpubrawtx" | "zmqpubsequence" => {
                cfg.zmq_pub.push((name.clone(), v.clone()));
            }
            "zmqpubhashblockhwm" | "zmqpubhashtxhwm" | "zmqpubrawblockhwm" | "zmqpubrawtxhwm" | "zmqpubsequencehwm" => {
                let n = v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n <= i32::MAX as u64)
                    .ok_or(ConfigError::BadValue {
                        key: name.clone(),
                        value: v.clone(),
                        expected: "a non-negative number of messages",
                    })?;
                cfg.numbers.insert(name.clone(), n);
            }
            _ => return Err(ConfigError::Unknown(name)),
        }
    }
    if let Some(bad) = logopts::active_debug(&cfg.debug)
        .iter()
        .find(|d| !["1", "all"].contains(&d.as_str()) && logopts::targets_of(d).is_none())
    {
        return Err(ConfigError::Core(format!("Unsupported logging category -debug={bad}.")));
    }
    if cfg.rpc_user.is_some() != cfg.rpc_password.is_some() {
        return Err(ConfigError::BadValue {
            key: "rpcpassword".into(),
            value: String::new(),
            expected: "-rpcuser and -rpcpassword to be given together",
        });
    }
    if cfg.txindex && (cfg.prune_mib > 0 || cfg.number("prunetargetkib") > 0) {
        return Err(ConfigError::BadValue {
            key: "prune".into(),
            value: cfg.prune_mib.to_string(),
            expected: "0 with -txindex: pruning is incompatible with the transaction index",
        });
    }
    if cfg.number("prunetargetkib") > 0 && cfg.network != Network::Regtest {
        return Err(ConfigError::Core(
            "-prunetargetkib is only for regression testing (-regtest)".into(),
        ));
    }
    networks.dedup_by(|a, b| a.1 == b.1);
    if networks.len() > 1 {
        return Err(ConfigError::ConflictingNetworks(
            networks.iter().map(|n| n.0.clone()).collect::<Vec<_>>().join(", "),
        ));
    }
    if let Some((_, n)) = networks.first() {
        cfg.network = *n;
    }
    if cfg.listen == Some(false) && (!cfg.bind.is_empty() || !cfg.whitebind.is_empty()) {
        return Err(ConfigError::Core("Cannot set -bind or -whitebind together with -listen=0".into()));
    }
    for w in &cfg.whitebind {
        crate::p2p::whitelist::parse_whitebind(w).map_err(ConfigError::Core)?;
    }
    for w in &cfg.whitelist {
        crate::p2p::whitelist::parse_whitelist(w).map_err(ConfigError::Core)?;
    }
    if cfg.peer_block_filters && !cfg.blockfilterindex {
        return Err(ConfigError::Core("Cannot set -peerblockfilters without -blockfilterindex.".into()));
    }
    if !cfg.test_options.is_empty() && cfg.network != Network::Regtest {
        return Err(ConfigError::Core("-test=<option> can only be used with regtest".into()));
    }
    if !cfg.test_activation_heights.is_empty() && cfg.network != Network::Regtest {
        return Err(ConfigError::Core(
            "-testactivationheight is only for regression testing (-regtest)".into(),
        ));
    }
    // Core refuses some policy options per network (-acceptnonstdtxn on mainnet).
    cfg.policy.apply(cfg.network, &mut crate::mempool::MempoolSettings::default())?;
    if command == Command::Run {
        match positional.first().map(String::as_str) {
            None => {}
            Some("import") => {
                let file = positional
                    .get(1)
                    .ok_or_else(|| ConfigError::BadCommand("import needs a FILE argument".into()))?;
                command = Command::Import(PathBuf::from(file));
            }
            Some(other) => {
                return Err(ConfigError::BadCommand(format!(
                    "unknown command '{other}' (commands: import FILE)"
                )))
            }
        }
    }
    Ok((cfg, command))
}

/// The `-help` text, generated from [`OPTIONS`] so it lists exactly what is accepted.
pub fn help_text() -> String {
    let mut s = String::from("Usage: blvm-node [options] [import FILE]\n\nCommands:\n  (none)        run the node until SIGINT/SIGTERM\n  import FILE   validate and connect blocks from FILE (hex lines or blk-framed), then exit\n\nOptions:\n");
    for (name, kind, default, help) in OPTIONS {
        let form = match kind {
            OptKind::Bool => format!("-{name}"),
            OptKind::Int => format!("-{name}=<n>"),
            OptKind::Str => format!("-{name}=<value>"),
        };
        let def = if default.is_empty() {
            String::new()
        } else {
            format!(" (default: {default})")
        };
        s.push_str(&format!("  {form:<24} {help}{def}\n"));
    }
    s.push_str(&core_args::help_paragraph());
    s.push_str("\nOptions may also be written with two dashes (--regtest), and negated as Core's (-nolisten, -noconnect).\n");
    s.push_str(
        "\nEvery option except help, version and conf can also be set in a configuration file:\n\
         <datadir>/bitcoin.conf in Bitcoin Core's format (key=value, [main]/[test]/[testnet4]/[signet]/\n\
         [regtest] sections, includeconf=FILE), and <datadir>/blvm.toml (`dbcache = 100`, `regtest = true`,\n\
         lists for repeatable options, the same sections); -conf=FILE names one file instead (TOML when\n\
         it ends in .toml). Options can also be set as environment variables BLVM_<NAME>\n\
         (BLVM_DBCACHE=100). Precedence: command line > environment > network section > top of the\n\
         file > defaults; blvm.toml wins over bitcoin.conf.\n",
    );
    s
}

/// Core's `-test=<option>` values (TEST_OPTIONS_DOC).
const TEST_OPTIONS: &[&str] = &["addrman", "reindex_after_failure_noninteractive_yes", "bip94"];

/// Options that select the network; they take precedence as one group.
const NETWORK_KEYS: &[&str] = &["chain", "regtest", "testnet", "testnet4", "signet", "mainnet"];

/// The network sections of the configuration file (as in Core's bitcoin.conf) and their networks.
pub const CONFIG_SECTIONS: &[(&str, Network)] = &[
    ("main", Network::Bitcoin),
    ("test", Network::Testnet),
    ("testnet4", Network::Testnet4),
    ("signet", Network::Signet),
    ("regtest", Network::Regtest),
];

/// Where a setting came from (for precedence and error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The command line (highest precedence).
    CommandLine,
    /// An environment variable `BLVM_<NAME>`.
    Env(String),
    /// The configuration file: its path, the line of the key if found, the network section if any.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line of the key.
        line: Option<usize>,
        /// `[regtest]`, ... (None: top level).
        section: Option<String>,
    },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::CommandLine => write!(f, "command line"),
            Source::Env(var) => write!(f, "environment variable {var}"),
            Source::File { path, line, section } => {
                write!(f, "{}", path.display())?;
                if let Some(l) = line {
                    write!(f, ":{l}")?;
                }
                if let Some(s) = section {
                    write!(f, " (section [{s}])")?;
                }
                Ok(())
            }
        }
    }
}

/// One `name[=value]` from some source, before precedence is applied.
#[derive(Debug, Clone)]
struct Setting {
    /// As written (may carry a `no` prefix).
    name: String,
    value: Option<String>,
    source: Source,
    /// 0 file top level, 1 file network section, 2 environment, 3 command line.
    layer: u8,
}

impl Setting {
    fn arg(&self) -> String {
        match &self.value {
            Some(v) => format!("-{}={v}", self.name),
            None => format!("-{}", self.name),
        }
    }
}

/// The option a written name refers to (`noprinttoconsole` -> `printtoconsole`, `h` -> `help`).
fn canonical(name: &str) -> String {
    if name == "h" || name == "?" {
        return "help".into();
    }
    if known(name) {
        return name.into();
    }
    match name.strip_prefix("no") {
        Some(n) if known(n) => n.into(),
        _ => name.into(),
    }
}

/// Whether `name` is an option blvm implements or a Core option it accepts (see [`core_args`]).
fn known(name: &str) -> bool {
    OPTIONS.iter().any(|o| o.0 == name) || core_args::policy(name).is_some()
}

/// Core's options that only apply to the network of the section they are in: at the top of a
/// `bitcoin.conf` they apply to mainnet only (Core's NETWORK_ONLY flag).
const NETWORK_ONLY: &[&str] = &["addnode", "bind", "connect", "port", "rpcbind", "rpcport", "wallet", "walletdir"];

/// `bitcoin.conf` lines as settings (top level: layer 0, section: layer 1). Unknown keys and
/// network choices inside a section are warnings, as in Core, not errors.
fn core_conf_settings(
    lines: Vec<bitcoin_conf::ConfLine>,
    warnings: &mut Vec<String>,
) -> Result<Vec<(Option<String>, Setting)>, ConfigError> {
    let mut out = Vec::new();
    for l in lines {
        let source = Source::File {
            path: l.path.clone(),
            line: Some(l.line),
            section: l.section.clone(),
        };
        let c = canonical(&l.key);
        if !known(&c) || l.key == "h" || l.key == "?" {
            warnings.push(format!("Ignoring unknown configuration value {} ({source})", l.key));
            continue;
        }
        if matches!(c.as_str(), "help" | "version" | "conf") {
            return Err(ConfigError::At {
                origin: source.to_string(),
                error: Box::new(ConfigError::Core(format!(
                    "{} cannot be set in the configuration file; use includeconf= if you want to include additional config files",
                    l.key
                ))),
            });
        }
        if let Some(sec) = &l.section {
            if !CONFIG_SECTIONS.iter().any(|s| s.0 == sec) {
                warnings.push(format!("{}:{} Section [{sec}] is not recognized.", l.path.display(), l.line));
                continue;
            }
            if NETWORK_KEYS.contains(&c.as_str()) {
                warnings.push(format!(
                    "Ignoring -{} inside a network section ({source}): the network is chosen at the top of the file",
                    l.key
                ));
                continue;
            }
        }
        out.push((
            l.section.clone(),
            Setting {
                name: l.key,
                value: Some(l.value),
                source,
                layer: if l.section.is_some() { 1 } else { 0 },
            },
        ));
    }
    Ok(out)
}

/// Precedence group: the network options form one group, every other option its own.
fn group_of(name: &str) -> String {
    let c = canonical(name);
    if NETWORK_KEYS.contains(&c.as_str()) {
        "<network>".into()
    } else {
        c
    }
}

/// List options whose values from every layer add up, as Core's GetArgs combines bitcoin.conf
/// and command-line values (Core's tests put `bind=127.0.0.1` in bitcoin.conf and add binds,
/// such as `-bind=...=onion`, on the command line).
const COMBINED_LISTS: &[&str] = &["bind"];

/// Whether an option may be given more than once (its values accumulate).
pub fn is_repeatable(name: &str) -> bool {
    OPTIONS.iter().any(|o| o.0 == name && o.3.ends_with("repeatable"))
}

/// The environment variable of an option: `BLVM_` and the name in upper case (`BLVM_DBCACHE`).
pub fn env_var_name(option: &str) -> String {
    format!("BLVM_{}", option.to_ascii_uppercase())
}

/// 1-based line where `key` is assigned in `section` (None: top level) of a TOML text.
fn find_line(text: &str, section: Option<&str>, key: &str) -> Option<usize> {
    let mut current: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix('[') {
            current = rest.split(']').next().map(|s| s.trim().trim_matches('"').to_string());
            continue;
        }
        if current.as_deref() != section {
            continue;
        }
        let Some((k, _)) = t.split_once('=') else { continue };
        if k.trim().trim_matches('"').trim_matches('\'') == key {
            return Some(i + 1);
        }
    }
    None
}

/// Turns one TOML value into option values (arrays only for repeatable options).
fn toml_values(key: &str, v: &toml::Value) -> Result<Vec<String>, ConfigError> {
    let scalar = |v: &toml::Value| -> Option<String> {
        match v {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(i) => Some(i.to_string()),
            toml::Value::Boolean(b) => Some(if *b { "1" } else { "0" }.into()),
            _ => None,
        }
    };
    let bad = |expected: &'static str| ConfigError::BadValue {
        key: key.into(),
        value: v.to_string(),
        expected,
    };
    match v {
        toml::Value::Array(items) if is_repeatable(&canonical(key)) => items
            .iter()
            .map(|i| scalar(i).ok_or_else(|| bad("strings, integers or booleans")))
            .collect(),
        toml::Value::Array(_) => Err(bad("a single value (this option is not repeatable)")),
        other => scalar(other)
            .map(|s| vec![s])
            .ok_or_else(|| bad("a string, an integer or a boolean")),
    }
}

/// Reads the configuration file's settings: top level (layer 0) and every network section
/// (layer 1, tagged with the section name). Keys are checked against [`OPTIONS`].
fn file_settings(path: &Path, text: &str) -> Result<Vec<(Option<String>, Setting)>, ConfigError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::File {
        path: path.display().to_string(),
        message: e.to_string().trim_end().to_string(),
    })?;
    let mut out = Vec::new();
    let entry =
        |section: Option<&str>, key: &str, value: &toml::Value, out: &mut Vec<(Option<String>, Setting)>| -> Result<(), ConfigError> {
            let source = Source::File {
                path: path.to_path_buf(),
                line: find_line(text, section, key),
                section: section.map(String::from),
            };
            let at = |error: ConfigError| ConfigError::At {
                origin: source.to_string(),
                error: Box::new(error),
            };
            let c = canonical(key);
            if !known(&c) || key == "h" || key == "?" {
                return Err(at(ConfigError::Unknown(key.into())));
            }
            if matches!(c.as_str(), "help" | "version" | "conf") {
                return Err(at(ConfigError::BadValue {
                    key: key.into(),
                    value: value.to_string(),
                    expected: "no such key in a configuration file (command line only; conf also as BLVM_CONF)",
                }));
            }
            if section.is_some() && NETWORK_KEYS.contains(&c.as_str()) {
                return Err(at(ConfigError::BadValue {
                    key: key.into(),
                    value: value.to_string(),
                    expected: "the network to be chosen at the top level of the file, not in a network section",
                }));
            }
            for v in toml_values(key, value).map_err(at)? {
                out.push((
                    section.map(String::from),
                    Setting {
                        name: key.into(),
                        value: Some(v),
                        source: source.clone(),
                        layer: if section.is_some() { 1 } else { 0 },
                    },
                ));
            }
            Ok(())
        };
    for (key, value) in &table {
        match value {
            toml::Value::Table(t) => {
                if !CONFIG_SECTIONS.iter().any(|s| s.0 == key) {
                    let line = text
                        .lines()
                        .position(|l| l.trim().trim_start_matches('[').trim_end_matches(']').trim().trim_matches('"') == key.as_str())
                        .map(|i| i + 1);
                    let source = Source::File {
                        path: path.to_path_buf(),
                        line,
                        section: None,
                    };
                    return Err(ConfigError::File {
                        path: source.to_string(),
                        message: format!("unknown section [{key}]: allowed are the network sections [main], [test], [testnet4], [signet] or [regtest] (or a key = value line)"),
                    });
                }
                for (k, v) in t {
                    entry(Some(key), k, v, &mut out)?;
                }
            }
            v => entry(None, key, v, &mut out)?,
        }
    }
    Ok(out)
}

/// Wraps an error from [`parse_args`] with the source of the setting it is about (unchanged for
/// the command line).
fn attribute(e: ConfigError, chosen: &[Setting]) -> ConfigError {
    let (key, value) = match &e {
        ConfigError::Unknown(k) => (k.clone(), None),
        ConfigError::BadValue { key, value, .. } | ConfigError::Unsupported { key, value, .. } => (key.clone(), Some(value.clone())),
        ConfigError::ConflictingNetworks(_) => ("chain".to_string(), None),
        _ => return e,
    };
    let group = group_of(&key);
    let cands: Vec<&Setting> = chosen.iter().filter(|s| group_of(&s.name) == group).collect();
    let found = cands
        .iter()
        .rev()
        .find(|s| value.as_deref().is_some_and(|v| s.value.as_deref().unwrap_or("") == v))
        .or(cands.last());
    match found {
        Some(s) if s.source != Source::CommandLine => ConfigError::At {
            origin: s.source.to_string(),
            error: Box::new(e),
        },
        _ => e,
    }
}

/// The highest-precedence value given for `name` so far (command line, then environment).
fn highest(settings: &[Setting], name: &str) -> Option<String> {
    let top = settings.iter().filter(|s| canonical(&s.name) == name).map(|s| s.layer).max()?;
    settings
        .iter()
        .rev()
        .find(|s| s.layer == top && canonical(&s.name) == name)
        .and_then(|s| s.value.clone())
}

/// Parses the command line, `BLVM_<NAME>` environment variables (`env` looks them up; empty
/// values count as unset; repeatable options take comma-separated lists) and the configuration
/// file (`-conf`, default `<datadir>/blvm.toml`; its `[main]`, `[test]`, `[testnet4]`, `[signet]`
/// and `[regtest]` sections apply to that network only). Precedence, highest first: command line,
/// environment, file section, file top level, defaults; the highest source that sets an option
/// wins, for repeatable options with all its values. `-help` and `-version` read neither file nor
/// environment.
pub fn load_config<I: IntoIterator<Item = String>>(
    args: I,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(NodeConfig, Command), ConfigError> {
    let args: Vec<String> = args.into_iter().collect();
    let mut positional = Vec::new();
    let mut settings: Vec<Setting> = Vec::new();
    for arg in &args {
        if !arg.starts_with('-') || arg == "-" {
            positional.push(arg.clone());
            continue;
        }
        let body = arg.trim_start_matches('-');
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (body.to_string(), None),
        };
        settings.push(Setting {
            name,
            value,
            source: Source::CommandLine,
            layer: 3,
        });
    }
    if settings.iter().any(|s| matches!(group_of(&s.name).as_str(), "help" | "version")) {
        return parse_args(args);
    }
    for (name, ..) in OPTIONS {
        if matches!(*name, "help" | "version") {
            continue;
        }
        let var = env_var_name(name);
        let Some(val) = env(&var).filter(|v| !v.is_empty()) else { continue };
        let values: Vec<String> = if is_repeatable(name) {
            val.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
        } else {
            vec![val]
        };
        for v in values {
            settings.push(Setting {
                name: name.to_string(),
                value: Some(v),
                source: Source::Env(var.clone()),
                layer: 2,
            });
        }
    }
    let datadir = highest(&settings, "datadir").map(PathBuf::from).unwrap_or_else(default_datadir);
    if settings.iter().any(|s| s.name == "includeconf") {
        return Err(ConfigError::Core(
            "-includeconf cannot be used from commandline; -includeconf=<file> goes in the configuration file".into(),
        ));
    }
    // -conf names Core's bitcoin.conf, or blvm's TOML file when it ends in .toml; without -conf
    // both <datadir>/bitcoin.conf and <datadir>/blvm.toml are read when present (TOML last, so
    // it wins over bitcoin.conf for single-valued options).
    let explicit = highest(&settings, "conf").map(|p| {
        if Path::new(&p).is_relative() {
            datadir.join(p)
        } else {
            PathBuf::from(p)
        }
    });
    let (core_conf, toml_conf) = match &explicit {
        Some(p) if p.extension().is_some_and(|e| e == "toml") => (None, Some(p.clone())),
        Some(p) => (Some(p.clone()), None),
        None => (Some(datadir.join("bitcoin.conf")), Some(datadir.join("blvm.toml"))),
    };
    let mut sections: Vec<(String, Setting)> = Vec::new();
    let mut config_files = Vec::new();
    let mut warnings = Vec::new();
    let mut file_entries = Vec::new();
    let mut core_top_level: Vec<Setting> = Vec::new();
    if let Some(path) = core_conf.filter(|p| explicit.is_some() || p.exists()) {
        if explicit.is_some() && !path.exists() {
            return Err(ConfigError::File {
                path: path.display().to_string(),
                message: "cannot read it: No such file or directory".into(),
            });
        }
        let lines = bitcoin_conf::read_with_includes(&path, &datadir, &mut warnings)?;
        file_entries.extend(core_conf_settings(lines, &mut warnings)?);
        core_top_level = file_entries.iter().filter(|(s, _)| s.is_none()).map(|(_, s)| s.clone()).collect();
        config_files.push(path);
    }
    if let Some(conf_path) = toml_conf {
        match std::fs::read_to_string(&conf_path) {
            Ok(text) => {
                file_entries.extend(file_settings(&conf_path, &text)?);
                config_files.push(conf_path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {}
            Err(e) => {
                return Err(ConfigError::File {
                    path: conf_path.display().to_string(),
                    message: format!("cannot read it: {e}"),
                })
            }
        }
    }
    for (section, s) in file_entries {
        match section {
            Some(sec) => sections.push((sec, s)),
            None => settings.push(s),
        }
    }
    // The network decides which file section applies; it is chosen first, as one group.
    let network = match settings.iter().filter(|s| group_of(&s.name) == "<network>").map(|s| s.layer).max() {
        Some(layer) => {
            let chosen: Vec<Setting> = settings
                .iter()
                .filter(|s| s.layer == layer && group_of(&s.name) == "<network>")
                .cloned()
                .collect();
            parse_args(chosen.iter().map(Setting::arg))
                .map_err(|e| attribute(e, &chosen))?
                .0
                .network
        }
        None => parse_args(Vec::<String>::new())?.0.network,
    };
    let section_name = CONFIG_SECTIONS.iter().find(|s| s.1 == network).map(|s| s.0).unwrap_or("main");
    let in_section: Vec<Setting> = sections
        .into_iter()
        .filter(|(sec, _)| sec == section_name)
        .map(|(_, s)| s)
        .collect();
    // blvm's default network is regtest, not Core's mainnet: when no network was chosen anywhere,
    // the top of the file is taken to be written for the default network.
    let network_chosen = settings.iter().any(|s| group_of(&s.name) == "<network>");
    if network != Network::Bitcoin && network_chosen {
        // Core: a network-only option at the top of bitcoin.conf applies to mainnet only, and is an
        // error on another network unless the command line or the network's section sets it.
        for s in core_top_level
            .iter()
            .filter(|s| NETWORK_ONLY.contains(&canonical(&s.name).as_str()))
        {
            let c = canonical(&s.name);
            let overridden =
                settings.iter().any(|o| o.layer >= 2 && canonical(&o.name) == c) || in_section.iter().any(|o| canonical(&o.name) == c);
            if !overridden {
                return Err(ConfigError::Core(format!(
                    "Config setting for -{c} only applied on {section_name} network when in [{section_name}] section."
                )));
            }
        }
        settings.retain(|s| {
            !(NETWORK_ONLY.contains(&canonical(&s.name).as_str())
                && core_top_level.iter().any(|t| t.source == s.source && t.name == s.name))
        });
    }
    settings.extend(in_section);
    let mut winner: std::collections::HashMap<String, u8> = std::collections::HashMap::new();
    for s in &settings {
        let w = winner.entry(group_of(&s.name)).or_insert(s.layer);
        *w = (*w).max(s.layer);
    }
    let mut chosen: Vec<Setting> = settings
        .into_iter()
        .filter(|s| winner.get(&group_of(&s.name)) == Some(&s.layer) || COMBINED_LISTS.contains(&canonical(&s.name).as_str()))
        .collect();
    chosen.sort_by_key(|s| s.layer);
    let (mut cfg, command) = parse_args(chosen.iter().map(Setting::arg).chain(positional)).map_err(|e| attribute(e, &chosen))?;
    cfg.config_files = config_files;
    cfg.warnings = warnings;
    Ok((cfg, command))
}

/// The options as a Markdown table (key, environment variable, default, meaning), as in
/// docs/configuration.md.
pub fn options_markdown() -> String {
    let mut s = String::from("| key | environment | default | meaning |\n| --- | --- | --- | --- |\n");
    for (name, kind, default, help) in OPTIONS {
        let form = match kind {
            OptKind::Bool => format!("`{name}`"),
            OptKind::Int => format!("`{name}=<n>`"),
            OptKind::Str => format!("`{name}=<value>`"),
        };
        let env = if matches!(*name, "help" | "version") {
            "-".to_string()
        } else {
            format!("`{}`", env_var_name(name))
        };
        let def = if default.is_empty() {
            "-".to_string()
        } else {
            format!("`{default}`")
        };
        s.push_str(&format!("| {form} | {env} | {def} | {} |\n", help.replace('|', "\\|")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Result<(NodeConfig, Command), ConfigError> {
        parse_args(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn core_style_flags() {
        let (c, cmd) = parse(&["-regtest", "-datadir=/tmp/x", "--dbcache=10", "import", "f.hex"]).unwrap();
        assert_eq!(c.network, Network::Regtest);
        assert_eq!(c.datadir, PathBuf::from("/tmp/x"));
        assert_eq!(c.dbcache_mib, 10);
        assert_eq!(cmd, Command::Import(PathBuf::from("f.hex")));
        assert_eq!(c.net_dir(), PathBuf::from("/tmp/x/regtest"));
        let (c, _) = parse(&["-chain=main", "-noprinttoconsole"]).unwrap();
        assert_eq!(c.network, Network::Bitcoin);
        assert!(!c.printtoconsole);
        assert_eq!(c.net_dir(), c.datadir);
    }

    #[test]
    fn p2p_flags() {
        let (c, _) = parse(&[
            "-connect=127.0.0.1:18444",
            "-connect=[::1]:1",
            "-addnode=node.example:8333",
            "-seednode=1.2.3.4",
            "-bind=127.0.0.1:0",
            "-port=0",
            "-maxconnections=3",
            "-dnsseed=0",
            "-bantime=60",
            "-peertimeout=2",
        ])
        .unwrap();
        assert_eq!(c.connect, vec!["127.0.0.1:18444".to_string(), "[::1]:1".to_string()]);
        assert_eq!(c.addnode, vec!["node.example:8333".to_string()]);
        assert_eq!(c.seednode, vec!["1.2.3.4".to_string()]);
        assert_eq!(c.bind, vec!["127.0.0.1:0".to_string()]);
        assert_eq!(
            (
                c.number("port"),
                c.number("maxconnections"),
                c.number("bantime"),
                c.number("peertimeout")
            ),
            (0, 3, 60, 2)
        );
        assert_eq!((c.listen, c.dnsseed), (None, Some(false)));
        assert!(parse(&["-nolisten", "-dnsseed=0"]).unwrap().0.listen == Some(false));
        // As Core: an address to listen on contradicts -listen=0.
        for bind in ["-bind=127.0.0.1", "-whitebind=noban@127.0.0.1:1"] {
            let e = parse(&[bind, "-listen=0"]).unwrap_err().to_string();
            assert_eq!(e, "Cannot set -bind or -whitebind together with -listen=0");
        }
        let (c, _) = parse(&[]).unwrap();
        assert_eq!(
            (c.number("maxconnections"), c.number("bantime"), c.number("peertimeout")),
            (125, 86400, 60)
        );
        assert!(parse(&["-connect=no port:x"]).is_err());
        assert!(parse(&["-port=70000"]).is_err());
        assert!(parse(&["-bind=nonsense"]).is_err());
        assert!(parse(&["-peertimeout=0"]).is_err());
        assert!(is_repeatable("connect") && is_repeatable("addnode") && is_repeatable("seednode") && is_repeatable("bind"));
    }

    #[test]
    fn rpc_access_flags() {
        let (c, _) = parse(&[
            "-rpcallowip=10.0.0.0/8",
            "-rpcallowip=192.168.1.1/255.255.255.0",
            "-rpcservertimeout=5",
            "-sysperms",
        ])
        .unwrap();
        let shown: Vec<String> = c.rpc_allow_ip.iter().map(|s| s.to_string()).collect();
        assert_eq!(shown, vec!["10.0.0.0/8", "192.168.1.0/24"]);
        assert_eq!(c.number("rpcservertimeout"), 5);
        assert!(c.sysperms);
        let (c, _) = parse(&[]).unwrap();
        assert_eq!((c.number("rpcservertimeout"), c.sysperms, c.rpc_allow_ip.len()), (30, false, 0));
        for bad in [
            "-rpcallowip=10.0.0.0/33",
            "-rpcallowip=example.com",
            "-rpcallowip=1.2.3.4/255.0.255.0",
            "-rpcservertimeout=0",
        ] {
            assert!(parse(&[bad]).is_err(), "{bad}");
        }
        assert!(is_repeatable("rpcallowip"));
    }

    #[test]
    fn bad_input_names_the_key() {
        assert_eq!(parse(&["-bogus=1"]).unwrap_err(), ConfigError::Unknown("bogus".into()));
        let e = parse(&["-dbcache=lots"]).unwrap_err().to_string();
        assert!(e.contains("-dbcache") && e.contains("lots"), "{e}");
        assert!(matches!(parse(&["-testnet4", "-signet"]), Err(ConfigError::ConflictingNetworks(_))));
        assert!(matches!(parse(&["import"]), Err(ConfigError::BadCommand(_))));
    }

    #[test]
    fn help_lists_every_option() {
        let h = help_text();
        for (name, ..) in OPTIONS {
            assert!(h.contains(&format!("-{name}")), "help misses -{name}");
        }
    }
}

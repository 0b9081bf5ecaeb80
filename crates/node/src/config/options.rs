//! The declarative option table: every option's name, kind, default, help, `-help` section and,
//! for options stored in a field of their own, the typed field with its range. Parsing, `-help`,
//! the configuration files, the environment and docs/configuration.md all come from it.

use super::{policy, ConfigError, LogFormat, Networks, OptKind, OptSpec, Section};
use bitcoin::Network;
use std::path::PathBuf;

options_table! {
    fields {
        /// Selected network.
        network: Network = Network::Regtest,
        /// Base data directory (network subdirectories live inside).
        datadir: PathBuf = super::default_datadir(),
        /// Debug log categories.
        debug: Vec<String> = Vec::new(),
        /// Files to import after startup.
        loadblock: Vec<PathBuf> = Vec::new(),
        /// Prune target in MiB (0 = off).
        prune_mib: u64 = 0,
        /// `-backupdir`: where scheduled backups go (None: `<datadir>/backups`).
        backup_dir: Option<PathBuf> = None,
        /// `-blocksdir`: base directory of the block files instead of the datadir (absolute).
        blocksdir: Option<PathBuf> = None,
        /// Maintain the basic block filter index (-blockfilterindex).
        blockfilterindex: bool = false,
        /// RPC bind addresses.
        rpc_bind: Vec<String> = Vec::new(),
        /// -rpcuser / -rpcpassword.
        rpc_user: Option<String> = None,
        /// -rpcpassword.
        rpc_password: Option<String> = None,
        /// -rpcauth entries.
        rpc_auth: Vec<String> = Vec::new(),
        /// `-rpcwhitelist` entries (`user:method,method`).
        rpc_whitelist: Vec<String> = Vec::new(),
        /// -rpccookiefile.
        rpc_cookie_file: Option<PathBuf> = None,
        /// `-rpcallowip` subnets (loopback is allowed besides these).
        rpc_allow_ip: Vec<super::Subnet> = Vec::new(),
        /// The configuration files that were read (`-conf`, or `<datadir>/bitcoin.conf` and
        /// `<datadir>/blvm.toml` when they exist).
        config_files: Vec<PathBuf> = Vec::new(),
        /// `-metricsbind`: where to serve Prometheus metrics (None: off).
        metrics_bind: Option<std::net::SocketAddr> = None,
        /// `-connect` entries (host:port; "0" disables outbound connections).
        connect: Vec<String> = Vec::new(),
        /// `-addnode` entries.
        addnode: Vec<String> = Vec::new(),
        /// `-whitelist` entries as given (`[permissions@]subnet`).
        whitelist: Vec<String> = Vec::new(),
        /// `-whitebind` entries as given (`[permissions@]addr:port`).
        whitebind: Vec<String> = Vec::new(),
        /// `-maxuploadtarget` in bytes per 24 h (0: none).
        max_upload_target: u64 = 0,
        /// `-externalip` entries as given (our public addresses).
        externalip: Vec<String> = Vec::new(),
        /// `-onlynet` networks (`ipv4`, `ipv6`): automatic outbound connections only to these.
        onlynet: Vec<String> = Vec::new(),
        /// `-seednode` entries.
        seednode: Vec<String> = Vec::new(),
        /// `-bind` entries (IP or IP:port).
        bind: Vec<String> = Vec::new(),
        /// `-minimumchainwork` (None: the network's default).
        minimum_chain_work: Option<bitcoin::Work> = None,
        /// `-assumevalid` (None: the network's default; all zeros: check every script).
        assume_valid: Option<bitcoin::BlockHash> = None,
        /// `-debugexclude` categories.
        debug_exclude: Vec<String> = Vec::new(),
        /// `-loglevel` values (`trace`, `net:trace`, ...).
        log_level: Vec<String> = Vec::new(),
        /// How each log line starts (`-logtimestamps -logtimemicros -logthreadnames -logsourcelocations`).
        log_format: LogFormat = LogFormat::default(),
        /// `-debuglogfile` (None: no log file, `-nodebuglogfile`).
        debug_log_file: Option<PathBuf> = Some(PathBuf::from("debug.log")),
        /// `-uacomment` entries.
        ua_comments: Vec<String> = Vec::new(),
        /// `-pid` (None: no PID file).
        pid_file: Option<PathBuf> = Some(PathBuf::from("bitcoind.pid")),
        /// Core options accepted and ignored, as given (`-natpmp=0`), logged once at startup.
        ignored: Vec<String> = Vec::new(),
        /// Problems worth a warning in the log that do not stop the node (unknown keys in
        /// bitcoin.conf, as Core).
        warnings: Vec<String> = Vec::new(),
        /// `-zmqpub<topic>=<address>` as given: (option name, address), in order.
        zmq_pub: Vec<(String, String)> = Vec::new(),
        /// Relay-policy options (`-acceptnonstdtxn`, `-minrelaytxfee`, ...).
        policy: policy::PolicyArgs = policy::PolicyArgs::default(),
        /// `-blocknotify`, `-startupnotify`, `-shutdownnotify`, `-alertnotify`.
        notify: super::NotifyCommands = super::NotifyCommands::default(),
        /// `-testactivationheight=name@height` entries (regtest).
        test_activation_heights: Vec<String> = Vec::new(),
        /// `-testassumeutxo=height:blockhash:hash_serialized:chain_tx_count` entries (regtest).
        test_assumeutxo: Vec<String> = Vec::new(),
        /// `-test=<option>` entries (regtest).
        test_options: Vec<String> = Vec::new(),
        /// `-modulehooktimeout` values as given.
        module_hook_timeout: Vec<String> = Vec::new(),
        /// `-modulehookpolicy` values as given.
        module_hook_policy: Vec<String> = Vec::new(),
    }
    options {
    General "help" Bool All "" "Print this help and exit (also -h, -?)";
    General "version" Bool All "" "Print version and exit";
    General "datadir" Str All "~/.blvm" "Data directory";
    General "conf" Str All "<datadir>/bitcoin.conf and <datadir>/blvm.toml" "Configuration file: Core's bitcoin.conf format, or TOML when the name ends in .toml (relative paths are inside the datadir); only on the command line or as BLVM_CONF";
    General "chain" Str All "regtest" "Network: main, test (testnet3), testnet4, signet, regtest";
    General "regtest" Bool All "1" "Use the regression test network (the default)";
    General "testnet" Bool All "0" "Use testnet3";
    General "testnet4" Bool All "0" "Use testnet4";
    General "signet" Bool All "0" "Use signet";
    General "mainnet" Bool All "0" "Use mainnet (same as -chain=main)";
    Chain "dbcache" Int All "450" "UTXO cache size in MiB (4..=1048576): the live cache plus a generation being written in the background; a background flush starts when the live cache reaches half (see architecture.md, background flushes). The node's own memory is about 128 MiB on top (script cache, database writes, blocks in flight), plus the mempool" => dbcache_mib: u64 = 450, [4, 1_048_576], "an integer MiB in 4..=1048576";
    Chain "prevoutfetchthreads" Int All "8" "Threads reading a block's input coins from the chainstate database ahead of validation (0 disables, values above 16 mean 16). Negative values are rejected" => prevoutfetchthreads: usize = 8, [0, i32::MAX as u64], "a non-negative integer (0 disables parallel input fetching)";
    Chain "par" Int All "0" "Script verification threads (0 = number of cores)" => script_threads: usize = 0, [0, 256], "an integer in 0..=256";
    Chain "assumevalid" Str All "the network's (none on regtest)" "Assume the scripts of this block's ancestors valid (block hash, up to 64 hex digits; 0 = check every script); skipped only under Core's conditions: the block is in the header chain, the best header has -minimumchainwork and is two weeks of work past the block";
    Chain "maxsigcachesize" Int All "32" "MiB for Core's signature and script execution caches; blvm's script execution cache takes half, 33 bytes per transaction (0..=16384)" => maxsigcachesize: u64 = 32, [0, 16_384], "an integer MiB in 0..=16384";
    Logging "printtoconsole" Bool All "1" "Send log output to the console as well as debug.log" => printtoconsole: bool = true;
    Logging "logips" Bool All "0" "Name peers' addresses in peer log lines (peer=N, peeraddr=IP:port)" => log_ips: bool = false;
    Logging "debug" Str All "" "Debug logging for a category (blvm's: chain, validation, store, import, progress, modules, net, mempool, rpc, metrics, zmq; or Core's names, mapped onto these), 1, all or no value for all, 0 or none for none; repeatable";
    Logging "debugexclude" Str All "" "No debug logging for this category, even with -debug=1; repeatable";
    Logging "loglevel" Str All "debug" "Level of the categories enabled by -debug: debug or trace (info, always logged, turns them off), or <category>:<level> for one category; repeatable";
    Logging "logtimestamps" Bool All "1" "Start each log line with its UTC time";
    Logging "logtimemicros" Bool All "0" "Microsecond precision in log timestamps (otherwise seconds)";
    Logging "logthreadnames" Bool All "0" "Name the originating thread in each log line";
    Logging "logsourcelocations" Bool All "0" "Name the source file and line of each log line";
    Logging "debuglogfile" Str All "debug.log" "Log file (relative paths are inside the network directory); -nodebuglogfile writes no log file";
    P2p "uacomment" Str All "" "Comment appended to the P2P user agent, as Core (/blvm:0.1.0(comment)/); repeatable";
    General "mocktime" Int Regtest "0" "Start with the clock replaced by this UNIX time (regtest only; 0 = the real clock; see setmocktime)" => mocktime: i64 = 0, [0, crate::clock::MAX_MOCKTIME as u64], "a UNIX time in seconds (0 = the real clock)";
    General "pid" Str All "bitcoind.pid" "PID file written at startup and removed at exit (relative paths are inside the network directory); -nopid writes none";
    Mempool "persistmempool" Bool All "1" "Save the mempool to mempool.dat at shutdown and load it at startup" => persist_mempool: bool = true;
    Mempool "mempoolexpiry" Int All "336" "Drop mempool transactions older than this many hours" => mempoolexpiry: u64 = 336, [1, 1_000_000], "a number of hours in 1..=1000000";
    General "test" Str Regtest "" "Regression-test behaviour (regtest only): bip94 (enforce BIP94's timewarp rules), addrman, reindex_after_failure_noninteractive_yes; repeatable";
    General "testassumeutxo" Str Regtest "" "Admit a UTXO snapshot for loadtxoutset: height:blockhash:hash_serialized_3:chain_tx_count (regtest only; the hash_serialized_3 is gettxoutsetinfo's at that block); repeatable";
    General "testactivationheight" Str Regtest "" "Move a buried deployment (segwit, bip34, dersig, cltv, csv) to this height: name@height (regtest only); repeatable";
    Notify "blocknotify" Str All "" "Run this shell command when the best block changes (%s = its hash); not while catching up with tips over a day old";
    Notify "startupnotify" Str All "" "Run this shell command once startup has completed";
    Notify "shutdownnotify" Str All "" "Run this shell command when shutdown begins (waited for); repeatable";
    Notify "alertnotify" Str All "" "Run this shell command on a warning, e.g. a large-work invalid chain (%s = the message)";
    Mempool "acceptnonstdtxn" Bool TestNets "0" "Relay and mine non-standard transactions (test networks only)";
    Mempool "permitbaremultisig" Bool All "1" "Relay transactions creating bare multisig outputs";
    Mempool "minrelaytxfee" Str All "0.000001" "Lowest fee rate (BTC/kvB) of transactions relayed and accepted to the mempool";
    Mempool "incrementalrelayfee" Str All "0.000001" "Fee rate (BTC/kvB) a replacement or a mempool-limit eviction must add";
    Mempool "dustrelayfee" Str All "0.00003" "Fee rate (BTC/kvB) defining dust outputs, which are not relayed";
    Mempool "datacarrier" Bool All "1" "Relay transactions with OP_RETURN data outputs";
    Mempool "datacarriersize" Int All "100000" "Most OP_RETURN bytes per relayed transaction";
    Mempool "limitclustercount" Int All "64" "Most transactions in one mempool cluster (connected in-mempool parents and children), 1-64";
    Mempool "limitclustersize" Int All "101" "Largest total size (kvB, sigop-adjusted) of one mempool cluster";
    Mempool "limitancestorcount" Int All "25" "Accepted for compatibility; not enforced (cluster limits replace it, as in Core 31)";
    Mempool "limitancestorsize" Int All "101" "Accepted for compatibility; not enforced (cluster limits replace it, as in Core 31)";
    Mempool "limitdescendantcount" Int All "25" "Accepted for compatibility; not enforced (cluster limits replace it, as in Core 31)";
    Mempool "limitdescendantsize" Int All "101" "Accepted for compatibility; not enforced (cluster limits replace it, as in Core 31)";
    Mining "blockmaxweight" Int All "4000000" "Largest weight of the blocks this node assembles (getblocktemplate, generate*)";
    Mining "blockreservedweight" Int All "8000" "Weight kept free in assembled blocks for the header and coinbase (at least 2000)";
    Mining "blockmintxfee" Str All "0.00000001" "Lowest fee rate (BTC/kvB) of transactions included in assembled blocks";
    Mining "blockversion" Int Regtest "" "Header version of assembled blocks instead of the BIP9 one (regtest only)";
    Chain "checkblocks" Int All "6" "How many of the last blocks to verify at startup (0 or below = all)" => checkblocks: u32 = 6, [0, u32::MAX as u64], "a number of blocks (0 = all)";
    Chain "checklevel" Int All "3" "How thorough the startup block verification is (0-4): 0 reads the blocks, 1 checks them, 2 and above also check their undo data" => checklevel: u32 = 3, [0, 4], "an integer in 0..=4";
    Logging "logmaxsize" Int All "10" "Rotate debug.log when it exceeds this many MiB (0 = never)" => logmaxsize: u64 = 10, [0, 1u64 << 20], "an integer MiB in 0..=1048576 (0 = never rotate)";
    Logging "logmaxfiles" Int All "5" "Rotated logs to keep (debug.log.1 is the newest)" => logmaxfiles: usize = 5, [1, 1000], "an integer in 1..=1000";
    General "daemon" Bool All "0" "Run in the background: not supported, use a service manager (systemd) or nohup";
    General "sysperms" Bool All "0" "Create new files with system default permissions, instead of umask 077" => sysperms: bool = false;
    Rpc "server" Bool All "1" "Accept JSON-RPC commands" => server: bool = true;
    Rpc "rpcport" Int All "18443 on regtest" "JSON-RPC port (0 = any free port)" => rpc_port: Option<u16> = None, [0, 65_535], "a port number 0..=65535";
    Rpc "rpcbind" Str All "127.0.0.1" "Address to bind the JSON-RPC server to; ignored unless -rpcallowip is also given (as in Core); repeatable";
    Rpc "rpcallowip" Str All "" "Allow JSON-RPC connections from this source: a single IP (e.g. 1.2.3.4), a network/netmask (e.g. 1.2.3.4/255.255.255.0) or a network/CIDR (e.g. 1.2.3.4/24); loopback is always allowed, others get 403 Forbidden; repeatable";
    Rpc "rpcuser" Str All "" "JSON-RPC user (with -rpcpassword; the cookie file is used otherwise)";
    Rpc "rpcpassword" Str All "" "JSON-RPC password";
    Rpc "rpcauth" Str All "" "JSON-RPC credentials user:salt$hmac-sha256 as produced by Core's rpcauth.py; repeatable";
    Rpc "rpcwhitelist" Str All "" "Methods a user may call, <user>:<method>,<method>...; several entries for one user keep the methods all of them list; repeatable";
    Rpc "rpcwhitelistdefault" Bool All "1 when -rpcwhitelist is given" "Users without an -rpcwhitelist entry may call nothing (0: everything)" => rpc_whitelist_default: Option<bool> = None;
    Rpc "rpccookiefile" Str All "<datadir>/<network>/.cookie" "Location of the auth cookie";
    Rpc "rpcthreads" Int All "4" "Threads serving RPC calls" => rpcthreads: usize = 4, [1, 1024], "an integer in 1..=1024";
    Rpc "rpcworkqueue" Int All "16" "Depth of the RPC work queue" => rpcworkqueue: usize = 16, [1, 1024], "an integer in 1..=1024";
    Rpc "rpcservertimeout" Int All "30" "Seconds an RPC client has to send a request's headers (also the idle time of a kept-alive connection) and its body; at most 4 x (rpcthreads + rpcworkqueue) connections are open at once" => rpcservertimeout: u64 = 30, [1, 1u64 << 31], "a number of seconds >= 1";
    P2p "listen" Bool All "1 (0 with -connect)" "Accept P2P connections from outside" => listen: Option<bool> = None;
    P2p "port" Int All "18444 on regtest" "P2P port to listen on (0 = any free port, logged as 'P2P listening on')" => port: Option<u16> = None, [0, 65_535], "a port number 0..=65535";
    P2p "bind" Str All "127.0.0.1 on regtest, 0.0.0.0 elsewhere" "Address (IP or IP:port) to listen on for P2P; repeatable";
    P2p "connect" Str All "" "Connect only to this peer (host:port; 0 = no outbound connections); repeatable";
    P2p "addnode" Str All "" "Keep a connection to this peer (host:port) besides automatic ones; repeatable";
    P2p "seednode" Str All "" "Connect to this peer to learn addresses, then disconnect; repeatable";
    P2p "maxconnections" Int All "125" "Maximum P2P connections, inbound and outbound (0 = no P2P at all)" => maxconnections: usize = 125, [0, 100_000], "an integer in 0..=100000";
    P2p "inboundrelaypercent" Int All "50" "Percentage (0..=100) of the inbound slots transaction-relaying peers may hold; the rest are for block-relay-only peers" => inboundrelaypercent: usize = 50, [0, 100], "a percentage in 0..=100";
    P2p "dnsseed" Bool All "1 (0 on regtest or with -connect)" "Query DNS seeds for addresses when the address manager has few" => dnsseed: Option<bool> = None;
    Chain "minimumchainwork" Str All "the network's (0 on regtest)" "Minimum cumulative work (hex) a header chain needs before its headers are stored; chains with less are pre-synced in bounded memory first, as in Core";
    P2p "bantime" Int All "86400" "Default duration in seconds of a setban ban (misbehaving peers are discouraged in memory instead, as in Core)" => bantime: u64 = 86_400, [1, 1u64 << 40], "a number of seconds >= 1";
    P2p "whitelist" Str All "" "[permissions@]IP or subnet: peers from there get these permissions (bloomfilter: may use BIP37 filters; noban: never discouraged, headers skip the low-work check, implies download; relay: may send transactions under -blocksonly; forcerelay: implies relay, gets no feefilter; mempool: may send BIP35 mempool; download; addr: no addr rate limit, getaddr answered uncached; all; in/out: which connections, inbound by default; without @ the implicit set: noban, mempool, relay per -whitelistrelay, forcerelay per -whitelistforcerelay); repeatable";
    P2p "whitebind" Str All "" "[permissions@]IP:port: also listen there; peers connecting to it get these permissions (names as -whitelist); repeatable";
    P2p "whitelistrelay" Bool All "1 (0 with -blocksonly)" "The implicit -whitelist/-whitebind permissions include relay" => whitelist_relay: Option<bool> = None;
    P2p "whitelistforcerelay" Bool All "0" "The implicit -whitelist/-whitebind permissions include forcerelay" => whitelist_forcerelay: bool = false;
    P2p "blocksonly" Bool All "0" "Ask peers for no transactions and disconnect those that send them (unless they have the relay permission); own transactions are still relayed; -maxmempool defaults to 5" => blocks_only: bool = false;
    P2p "v2transport" Bool All "1" "Support BIP324 v2 encrypted P2P: advertise NODE_P2P_V2, detect v1 or v2 on inbound connections, try v2 first on outbound connections to -connect, -addnode, addnode and addconnection peers and to addresses known to offer NODE_P2P_V2, retrying with v1 when the peer closes during the v2 handshake" => v2transport: bool = true;
    P2p "maxuploadtarget" Str All "0" "Try to keep outbound traffic under this many bytes per 24 h (suffix k/m/g/t: powers of 1000, K/M/G/T: powers of 1024, none: MiB; 0: no limit); near it, blocks more than a week old are not served to peers without the download permission";
    P2p "peerblockfilters" Bool All "0" "Serve BIP157 compact block filters to peers (getcfilters, getcfheaders, getcfcheckpt) and advertise NODE_COMPACT_FILTERS; needs -blockfilterindex" => peer_block_filters: bool = false;
    P2p "peerbloomfilters" Bool All "0" "Serve BIP37 bloom filters (filterload, filteradd, filterclear, filtered blocks, mempool) and advertise NODE_BLOOM; off, peers sending filter messages are disconnected (the bloomfilter whitelist permission enables them per peer)" => peer_bloom_filters: bool = false;
    P2p "externalip" Str All "" "Our own public address (IP, IP:port, or a Tor v3 .onion, listed only), announced to peers about once a day and shown in getnetworkinfo; repeatable";
    P2p "onlynet" Str All "" "Make automatic outbound connections only to this network: ipv4 or ipv6 (Tor, I2P and CJDNS are not supported); repeatable";
    P2p "peertimeout" Int All "60" "Seconds a peer gets to complete the handshake, and to finish sending a started message" => peertimeout: u64 = 60, [1, 1u64 << 40], "a number of seconds >= 1";
    P2p "maxtipage" Int All "86400" "Seconds a tip may be old before the node counts as in initial block download" => maxtipage: u64 = 86_400, [1, i64::MAX as u64], "a number of seconds >= 1";
    Chain "loadblock" Str All "" "Import blocks from this file (hex lines or blk-framed) after startup; repeatable";
    Chain "progressinterval" Int All "2000" "Milliseconds between progress lines of import and -loadblock, and of block download when given (which otherwise logs every 5 s); 1..=3600000" => progressinterval: Option<u64> = None, [1, 3_600_000], "milliseconds in 1..=3600000";
    Chain "txindex" Bool All "0" "Maintain an index of every transaction in the chain (getrawtransaction by txid); not with -prune" => txindex: bool = false;
    Chain "blockfilterindex" Bool All "0" "Maintain the BIP158 basic block filter index (getblockfilter); =basic works too";
    Chain "coinstatsindex" Bool All "0" "Maintain the coin statistics index (indexes/coinstatsindex): the UTXO set's MuHash and Core's running totals per block, for gettxoutsetinfo at any height and its block_info; built from the block and undo files when first enabled" => coinstatsindex: bool = false;
    Chain "reindex" Bool All "0" "Rebuild the chainstate (UTXO set, block index, transaction and filter indexes) from the block files at startup, and wipe and rebuild -coinstatsindex; not with -prune" => reindex: bool = false;
    Chain "reindex-chainstate" Bool All "0" "Rebuild the chainstate (UTXO set, block index, transaction and filter indexes) from the block files at startup, keeping -coinstatsindex; not with -prune" => reindex_chainstate: bool = false;
    Mempool "maxmempool" Int All "300" "Keep the transaction memory pool below this many MB (1,000,000 bytes); at least 5, as in Core" => maxmempool: Option<u64> = None, [5, 1_000_000], "an integer MB in 5..=1000000";
    Rpc "metricsbind" Str All "" "Serve Prometheus metrics at http://<addr>/metrics (IP:port; off when empty)";
    Storage "prune" Int All "0" "Delete old blocks: 0 = off, 1 = manual (pruneblockchain RPC), >= 550 = keep block and undo files under this many MiB automatically (checked as blocks connect; the last 288 blocks are always kept); a pruned node advertises NODE_NETWORK_LIMITED instead of NODE_NETWORK";
    Storage "prunetargetkib" Int Regtest "0" "Regtest only, for tests: automatic prune target in KiB, allowed below -prune's 550 MiB floor (implies prune mode; the allocation buffers shrink with the block file size, see -fastprune); 0 = unused" => prunetargetkib: u64 = 0, [0, 1u64 << 40], "a non-negative integer";
    Storage "fastprune" Bool All "0" "Use tiny (64 KiB) block files, for pruning tests" => fastprune: bool = false;
    Storage "blocksdir" Str All "<datadir>" "Keep the block and undo files in <dir>/<network>/blocks instead of <datadir>/<network>/blocks (the directory must exist); the chainstate stays in the datadir";
    Storage "blocksxor" Bool All "1" "XOR-obfuscate the block and undo files of a new blocks directory with a random key (blocks/xor.dat), as Core >= 28; 0 is refused once a random key is stored" => blocks_xor: bool = true;
    Storage "backupinterval" Int All "0" "Seconds between scheduled backups of the chainstate and block files (0 = off); each runs as a backup maintenance operation" => backupinterval: u64 = 0, [0, 1u64 << 40], "a non-negative integer";
    Storage "backupdir" Str All "<datadir>/backups" "Directory scheduled backups are written to, one subdirectory per backup";
    Storage "backupkeep" Int All "3" "Scheduled backups kept in -backupdir; older ones are deleted (at least 1)" => backupkeep: u64 = 3, [1, 1u64 << 40], "a non-negative integer", "a larger value (intervals >= 1 s, frames >= 1024 bytes, backupkeep >= 1)";
    Storage "compactgrowth" Int All "0" "Compact the database when it grew by this many percent since the last compaction (checked after each flush; 0 = off)" => compactgrowth: u64 = 0, [0, 1u64 << 40], "a non-negative integer";
    Maintenance "shutdowntimeout" Int All "30" "Seconds modules get to acknowledge NodeShutdown" => shutdowntimeout: u64 = 30, [0, 1u64 << 40], "a non-negative integer";
    Maintenance "acktimeout" Int All "10" "Seconds modules get to acknowledge StorageFlush, MaintenanceStarted, DataCleanup, DiskSpaceLow" => acktimeout: u64 = 10, [0, 1u64 << 40], "a non-negative integer";
    Modules "moduletimeout" Int All "10" "Seconds autoloaded modules get to connect and subscribe at startup" => moduletimeout: u64 = 10, [0, 1u64 << 40], "a non-negative integer";
    Modules "allowunauthmodules" Bool All "0" "Accept module connections that present no token (read_chain only)" => allow_unauth_modules: bool = false;
    Modules "modulemaxframe" Int All "16777216" "Largest module protocol frame in bytes" => modulemaxframe: u64 = 16777216, [1024, 1u64 << 40], "a non-negative integer", "a larger value (intervals >= 1 s, frames >= 1024 bytes, backupkeep >= 1)";
    Modules "modulerpctimeout" Int All "30" "Seconds a module has to answer a call of one of its JSON-RPC methods (then the caller gets an error)" => modulerpctimeout: u64 = 30, [0, 1u64 << 40], "a non-negative integer";
    Modules "modulehooktimeout" Str All "2000" "Milliseconds each module has to answer a hook (<ms> for every hook, or <hook>:<ms>; repeatable)";
    Modules "modulehookpolicy" Str All "proceed" "What a hook module that does not answer in time means: proceed or refuse (<policy> for every hook, or <hook>:<policy>; repeatable)";
    Modules "modulemaxrestarts" Int All "5" "Restarts a crashing module gets before it is marked failed" => modulemaxrestarts: u64 = 5, [0, 1u64 << 40], "a non-negative integer";
    Modules "modulebackoffms" Int All "500" "First module restart delay in ms (doubles per consecutive crash, max 30 s)" => modulebackoffms: u64 = 500, [0, 1u64 << 40], "a non-negative integer";
    Maintenance "flushinterval" Int All "3600" "Seconds between periodic chainstate flushes" => flushinterval: u64 = 3600, [1, 1u64 << 40], "a non-negative integer", "a larger value (intervals >= 1 s, frames >= 1024 bytes, backupkeep >= 1)";
    Maintenance "healthinterval" Int All "300" "Seconds between periodic health checks" => healthinterval: u64 = 300, [1, 1u64 << 40], "a non-negative integer", "a larger value (intervals >= 1 s, frames >= 1024 bytes, backupkeep >= 1)";
    Maintenance "cleanupinterval" Int All "86400" "Seconds between periodic DataCleanup events" => cleanupinterval: u64 = 86400, [1, 1u64 << 40], "a non-negative integer", "a larger value (intervals >= 1 s, frames >= 1024 bytes, backupkeep >= 1)";
    Maintenance "cleanupagedays" Int All "30" "target_age_days sent with DataCleanup" => cleanupagedays: u64 = 30, [0, 1u64 << 40], "a non-negative integer";
    Maintenance "diskcheckinterval" Int All "30" "Seconds between free-space checks of the datadir" => diskcheckinterval: u64 = 30, [1, 1u64 << 40], "a non-negative integer", "a larger value (intervals >= 1 s, frames >= 1024 bytes, backupkeep >= 1)";
    Maintenance "disklowpercent" Int All "5" "DiskSpaceLow below this percentage of free space" => disklowpercent: u64 = 5, [0, 100], "a percentage 0..=100";
    Maintenance "disklowmb" Int All "1024" "DiskSpaceLow below this many MiB free" => disklowmb: u64 = 1024, [0, 1u64 << 40], "a non-negative integer";
    Maintenance "diskcriticalmb" Int All "100" "Flush and stop (reason error) below this many MiB free" => diskcriticalmb: u64 = 100, [0, 1u64 << 40], "a non-negative integer";
    Maintenance "resourceinterval" Int All "30" "Seconds between resource (memory, cpu, disk, network) checks" => resourceinterval: u64 = 30, [1, 1u64 << 40], "a non-negative integer", "a larger value (intervals >= 1 s, frames >= 1024 bytes, backupkeep >= 1)";
    Maintenance "maxmemorymb" Int All "0" "Memory limit for ResourceLimitWarning in MiB (0 = physical memory)" => maxmemorymb: u64 = 0, [0, 1u64 << 40], "a non-negative integer";
    Maintenance "resourcewarnpercent" Int All "90" "ResourceLimitWarning above this percentage of a limit" => resourcewarnpercent: u64 = 90, [0, 100], "a percentage 0..=100";
    Maintenance "maxdatadirmb" Int All "0" "Datadir size limit for the disk ResourceLimitWarning in MiB (0 = none)" => maxdatadirmb: u64 = 0, [0, 1u64 << 40], "a non-negative integer";
    Rpc "rest" Bool All "0" "Serve Bitcoin Core's unauthenticated REST interface (GET /rest/...) on the RPC port" => rest: bool = false;
    Zmq "zmqpubhashblock" Str All "" "Publish the hash of each new tip over ZMQ at <address> (tcp://host:port or unix:path); repeatable";
    Zmq "zmqpubhashblockhwm" Int All "1000" "Outbound message high water mark of the -zmqpubhashblock socket (0: no limit)" => zmqpubhashblockhwm: u32 = 1000, [0, i32::MAX as u64], "a non-negative number of messages";
    Zmq "zmqpubhashtx" Str All "" "Publish the txid of each transaction entering the mempool or a (dis)connected block over ZMQ at <address> (tcp://host:port or unix:path); repeatable";
    Zmq "zmqpubhashtxhwm" Int All "1000" "Outbound message high water mark of the -zmqpubhashtx socket (0: no limit)" => zmqpubhashtxhwm: u32 = 1000, [0, i32::MAX as u64], "a non-negative number of messages";
    Zmq "zmqpubrawblock" Str All "" "Publish each new tip (serialized) over ZMQ at <address> (tcp://host:port or unix:path); repeatable";
    Zmq "zmqpubrawblockhwm" Int All "1000" "Outbound message high water mark of the -zmqpubrawblock socket (0: no limit)" => zmqpubrawblockhwm: u32 = 1000, [0, i32::MAX as u64], "a non-negative number of messages";
    Zmq "zmqpubrawtx" Str All "" "Publish each transaction entering the mempool or a (dis)connected block (serialized, with witness) over ZMQ at <address> (tcp://host:port or unix:path); repeatable";
    Zmq "zmqpubrawtxhwm" Int All "1000" "Outbound message high water mark of the -zmqpubrawtx socket (0: no limit)" => zmqpubrawtxhwm: u32 = 1000, [0, i32::MAX as u64], "a non-negative number of messages";
    Zmq "zmqpubsequence" Str All "" "Publish block (dis)connections and mempool additions/removals with the mempool sequence over ZMQ at <address> (tcp://host:port or unix:path); repeatable";
    Zmq "zmqpubsequencehwm" Int All "1000" "Outbound message high water mark of the -zmqpubsequence socket (0: no limit)" => zmqpubsequencehwm: u32 = 1000, [0, i32::MAX as u64], "a non-negative number of messages";
    }
}

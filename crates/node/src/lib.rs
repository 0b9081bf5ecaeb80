//! blvm-node: a minimal Bitcoin full node whose consensus script rules come from Bitcoin Core's
//! own interpreter and whose signature feature is a process-isolated module system.

pub mod chain;
pub mod chainstate;
pub mod clock;
pub mod config;
pub mod datadir;
pub mod import;
pub mod launch;
pub mod logging;
pub mod mempool;
pub mod metrics;
pub mod modules;
pub mod node;
pub mod notify;
pub mod p2p;
pub mod params;
pub mod progress;
pub mod rest;
pub mod rpc;
pub mod script_flags;
pub mod store;
pub mod sync;
pub mod validation;
pub mod zmq;

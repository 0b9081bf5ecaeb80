//! The launcher: builds the node's components and wires them through narrow handles; the only
//! module that depends on the node and the layers around it (RPC, REST, P2P, metrics) at once.

pub mod rpc_ops;

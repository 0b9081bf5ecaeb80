//! Bitcoin Core-compatible JSON-RPC over HTTP.

pub mod auth;
pub mod error;
pub mod methods;
pub mod params;
pub mod server;

//! Bitcoin Core-compatible JSON-RPC over HTTP.

pub mod active;
pub mod address;
pub mod auth;
pub mod bech32_errors;
pub mod context;
pub mod corejson;
pub mod descriptor;
pub mod error;
pub mod methods;
pub mod params;
pub mod request_json;
pub mod script_asm;
pub mod server;
pub mod sign;
pub mod txjson;
pub mod whitelist;

//! The node side of the module system: event bus, IPC server, node API and process manager.

pub mod api;
pub mod bus;
pub mod extensions;
pub mod health;
pub mod link;
pub mod manager;
pub mod manifest;
pub mod server;

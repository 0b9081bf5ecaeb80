//! The launcher: builds every component from the configuration and wires them together.

pub mod settings;

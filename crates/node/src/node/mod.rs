//! The running node: lifecycle (startup, shutdown), periodic work, monitors and maintenance.

pub mod automatic;
mod completion;
pub mod ibd;
pub mod maintenance;
pub mod monitors;
pub mod periodic;
pub mod runtime;
pub mod settings;

pub use runtime::{Node, NodeError, NodeSettings, ShutdownReason, ShutdownReport};
pub use settings::LifecycleSettings;

//! The running node: lifecycle (startup, shutdown), periodic work, monitors and maintenance.

pub mod automatic;
mod completion;
pub mod ibd;
mod loadblock;
pub mod maintenance;
pub mod monitors;
pub mod periodic;
pub mod runtime;
pub mod settings;
pub mod shutdown;

pub use runtime::{Node, NodeError, NodeSettings};
pub use settings::LifecycleSettings;
pub use shutdown::{ShutdownReason, ShutdownReport};

//! Environment variables the node sets when it launches a module process.

use std::path::PathBuf;

use crate::client::ClientError;

/// Path of the node's Unix socket the module must connect to (required).
pub const ENV_SOCKET: &str = "BLVM_MODULE_SOCKET";
/// Secret token the module must present in its `Handshake` (optional).
pub const ENV_TOKEN: &str = "BLVM_MODULE_TOKEN";
/// The module's name as configured on the node (required).
pub const ENV_NAME: &str = "BLVM_MODULE_NAME";
/// The module's version (optional; defaults to this crate's version).
pub const ENV_VERSION: &str = "BLVM_MODULE_VERSION";
/// A directory reserved for the module's own files (optional).
pub const ENV_DATA_DIR: &str = "BLVM_MODULE_DATA_DIR";
/// The module's configuration as a JSON document (optional).
pub const ENV_CONFIG: &str = "BLVM_MODULE_CONFIG";

/// Everything the node passes to a module through its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleEnv {
    /// Where to connect (`BLVM_MODULE_SOCKET`).
    pub socket_path: PathBuf,
    /// Handshake token (`BLVM_MODULE_TOKEN`); `None` if unset or empty.
    pub token: Option<String>,
    /// Module name (`BLVM_MODULE_NAME`).
    pub module_name: String,
    /// Module version (`BLVM_MODULE_VERSION`, default: this crate's version).
    pub module_version: String,
    /// Private data directory (`BLVM_MODULE_DATA_DIR`).
    pub data_dir: Option<PathBuf>,
    /// Parsed `BLVM_MODULE_CONFIG`.
    pub config: Option<serde_json::Value>,
}

impl ModuleEnv {
    /// Reads the variables from the process environment.
    pub fn from_env() -> Result<Self, ClientError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads the variables through `lookup`, so tests need not mutate the process environment.
    pub fn from_lookup<F>(lookup: F) -> Result<Self, ClientError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let non_empty = |key: &str| lookup(key).filter(|v| !v.is_empty());
        let socket_path = non_empty(ENV_SOCKET)
            .map(PathBuf::from)
            .ok_or(ClientError::MissingEnv(ENV_SOCKET))?;
        let module_name = non_empty(ENV_NAME).ok_or(ClientError::MissingEnv(ENV_NAME))?;
        let module_version = non_empty(ENV_VERSION).unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string());
        let config = match non_empty(ENV_CONFIG) {
            Some(text) => Some(serde_json::from_str(&text).map_err(ClientError::InvalidConfig)?),
            None => None,
        };
        Ok(ModuleEnv {
            socket_path,
            token: non_empty(ENV_TOKEN),
            module_name,
            module_version,
            data_dir: non_empty(ENV_DATA_DIR).map(PathBuf::from),
            config,
        })
    }
}

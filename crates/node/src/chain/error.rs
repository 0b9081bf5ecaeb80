//! Failures of the chain engine that are not consensus rejections (storage, corruption).

use crate::store::block_files::BlockFileError;
use crate::store::db::DbError;
use thiserror::Error;

/// A storage or internal-consistency failure; the node cannot safely continue after one.
#[derive(Debug, Error)]
pub enum ChainError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A block or undo file failed.
    #[error(transparent)]
    Files(#[from] BlockFileError),
    /// Stored data contradicts itself (e.g. undo data does not match the UTXO set).
    #[error("chainstate corrupt: {0}")]
    Corrupt(String),
}

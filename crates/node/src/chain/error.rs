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
    /// Startup found state it must not run on (Core's fatalError while loading, e.g. a snapshot
    /// chainstate whose base has no assumeutxo entry): Core's words, for the operator.
    #[error("A fatal internal error occurred, see debug.log for details: {0}")]
    StartupFatal(String),
    /// A step the active chain cannot go back from failed (Core's FatalError): the message is
    /// Core's, for the operator; the cause is kept for the log.
    #[error("{message}")]
    Fatal {
        /// Core's words for the failed step, e.g. "Failed to disconnect block.".
        message: &'static str,
        /// What failed underneath.
        #[source]
        cause: Box<ChainError>,
    },
}

impl ChainError {
    /// A block of the active chain could not be disconnected (missing or damaged undo data):
    /// staying on a chain with less work is not an option, so the node stops.
    pub fn disconnect_failed(cause: ChainError) -> Self {
        ChainError::Fatal {
            message: "Failed to disconnect block.",
            cause: Box::new(cause),
        }
    }
}

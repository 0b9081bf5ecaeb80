//! A consensus rejection, carrying Bitcoin Core's reject string.

use thiserror::Error;

/// Why a block or transaction is invalid; `reason` is Core's reject string (e.g. `bad-txnmrklroot`).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{reason}{}", if .detail.is_empty() { String::new() } else { format!(" ({})", .detail) })]
pub struct Reject {
    /// Core's reject reason, stable and machine-matchable.
    pub reason: String,
    /// Human-readable context (which tx, which input, amounts).
    pub detail: String,
    /// True when the failure may come from a malleated copy of a valid block or transaction (do
    /// not mark it invalid, nor remember its id as rejected).
    pub may_be_mutated: bool,
}

impl Reject {
    /// A rejection with a reason and detail.
    pub fn new(reason: impl Into<String>, detail: impl Into<String>) -> Self {
        Reject {
            reason: reason.into(),
            detail: detail.into(),
            may_be_mutated: false,
        }
    }

    /// A rejection that might be caused by block malleation rather than an invalid block.
    pub fn mutated(reason: impl Into<String>, detail: impl Into<String>) -> Self {
        Reject {
            reason: reason.into(),
            detail: detail.into(),
            may_be_mutated: true,
        }
    }
}

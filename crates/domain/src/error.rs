//! Errors shared by every use case: invalid input and failing adapters.

/// Input that cannot become a domain value. `field` names the offending input in the
/// API's spelling so clients can point at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// What a store, gate or log adapter may report. Adapters map their driver errors here,
/// so use cases can tell a duplicate from an outage without knowing the technology.
/// `Clone` so that one read shared by many waiters (single flight) can hand each the
/// same error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write (e.g. a taken username).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The dependency could not do the work now; retrying later may succeed.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Stored data that violates an invariant (e.g. an unknown enum value in a row).
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

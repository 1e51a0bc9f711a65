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
    /// The dependency answered but could not do the work now (a statement failed, a
    /// lock timed out); retrying later may succeed.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The dependency did not answer at all (no connection, a connection lost, no
    /// connection free in time): nothing was decided, and retrying later is safe. A
    /// caller that gives up on `Unavailable` after some attempts waits this one out:
    /// the consumers do not dead-letter records because the database is away, since
    /// the dead-letter path ends in the same database.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// Stored data that violates an invariant (e.g. an unknown enum value in a row).
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Unavailable or unreachable: the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Unreachable(_))
    }
}

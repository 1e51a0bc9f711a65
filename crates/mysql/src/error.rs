//! Maps sqlx errors to the domain's [`StoreError`], once.

use couponrush_domain::StoreError;

pub(crate) fn store_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt(e.to_string())
        }
        // No answer from the server at all: the connection failed or broke, or none
        // was free in time.
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unreachable(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// InnoDB chose this transaction as a deadlock victim and rolled it back (error 1213,
/// SQLSTATE 40001): running it again is the documented remedy.
pub(crate) fn is_deadlock(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("40001"))
}

//! Errors: driver errors become the domain's [`StoreError`] in one place, and
//! [`SetupError`] says why an adapter could not be built. Every failed call at run time
//! passes through [`unavailable`], which is where `couponrush_redis_errors_total` counts.

use couponrush_domain::StoreError;
use couponrush_telemetry::metrics::names::REDIS_ERRORS_TOTAL;
use redis::RedisError;

/// Every Redis failure at run time is transient from the caller's view (connection
/// lost, timeout, server busy or restarting): retrying later may succeed.
pub(crate) fn unavailable(e: RedisError) -> StoreError {
    metrics::counter!(REDIS_ERRORS_TOTAL).increment(1);
    StoreError::Unavailable(format!("redis: {e}"))
}

/// A script answered something its Lua source never returns.
pub(crate) fn unexpected(script: &str, value: i64) -> StoreError {
    StoreError::Corrupt(format!("redis {script} script returned {value}"))
}

/// Why an adapter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("redis: {0}")]
    Redis(#[from] RedisError),
    /// A configured value that cannot work (e.g. a key prefix with a hash tag brace).
    #[error("invalid {what}: {why}")]
    Invalid { what: &'static str, why: String },
}

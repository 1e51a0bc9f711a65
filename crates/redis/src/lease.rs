//! A lease in Redis: lets one node of many do a periodic job per period. `SET NX PX`,
//! left to expire rather than released, so a node that dies holding it blocks nobody
//! for longer than the period. Jobs run under it must be safe to overlap anyway (a pass
//! that outlives its lease may meet the next one); the lease only keeps them from
//! running on every node at once.

use crate::connect::RedisConnection;
use crate::error::unavailable;
use couponrush_domain::StoreError;
use std::time::Duration;

/// Takes the lease `name` for `ttl` if nobody holds it; returns whether it was taken.
pub async fn try_lease(
    conn: &RedisConnection,
    prefix: &str,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let taken: Option<String> = redis::cmd("SET")
        .arg(format!("{prefix}lease:{name}"))
        .arg(holder)
        .arg("NX")
        .arg("PX")
        .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
        .query_async(&mut conn.clone())
        .await
        .map_err(unavailable)?;
    Ok(taken.is_some())
}

//! [`RedisIdempotency`]: idempotency keys shared by every api node. One string per
//! `(user, key)`, `P|<coupon>` while the request runs and `D|<coupon>|<OUTCOME>` once
//! answered, with a TTL. Claiming is `SET NX PX`: exactly one request wins a key.
//! The key is hash-tagged by user (`{idem:<user>}`), so it lives in one cluster slot.

use crate::connect::RedisConnection;
use crate::error::unavailable;
use async_trait::async_trait;
use couponrush_domain::ports::IdempotencyStore;
use couponrush_domain::{CouponId, IdempotencyKey, IssueOutcome, KeyClaim, StoreError, UserId};
use std::time::Duration;

#[derive(Clone)]
pub struct RedisIdempotency {
    conn: RedisConnection,
    prefix: String,
}

impl RedisIdempotency {
    pub fn new(conn: RedisConnection, key_prefix: &str) -> Self {
        Self {
            conn,
            prefix: key_prefix.to_owned(),
        }
    }

    fn key(&self, user: UserId, key: &IdempotencyKey) -> String {
        format!("{}{{idem:{user}}}:{}", self.prefix, key.as_str())
    }
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// What a stored value says, for a request on `coupon`.
fn read(value: &str, coupon: CouponId) -> Result<KeyClaim, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("idempotency value {value:?}"));
    let mut parts = value.split('|');
    let (state, stored) = (parts.next(), parts.next());
    let stored: CouponId = stored
        .and_then(|c| uuid::Uuid::parse_str(c).ok())
        .map(CouponId::from_uuid)
        .ok_or_else(corrupt)?;
    if stored != coupon {
        return Ok(KeyClaim::OtherCoupon(stored));
    }
    match state {
        Some("P") => Ok(KeyClaim::InProgress),
        Some("D") => parts
            .next()
            .and_then(IssueOutcome::parse)
            .map(KeyClaim::Completed)
            .ok_or_else(corrupt),
        _ => Err(corrupt()),
    }
}

#[async_trait]
impl IdempotencyStore for RedisIdempotency {
    async fn claim(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        coupon: CouponId,
        ttl: Duration,
    ) -> Result<KeyClaim, StoreError> {
        let k = self.key(user, key);
        let mut conn = self.conn.clone();
        // A key that expires between the SET and the GET is simply claimed again.
        for _ in 0..3 {
            let taken: Option<String> = redis::cmd("SET")
                .arg(&k)
                .arg(format!("P|{coupon}"))
                .arg("NX")
                .arg("PX")
                .arg(millis(ttl))
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if taken.is_some() {
                return Ok(KeyClaim::Claimed);
            }
            let value: Option<String> = redis::cmd("GET")
                .arg(&k)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if let Some(value) = value {
                return read(&value, coupon);
            }
        }
        Err(StoreError::Unavailable(format!(
            "idempotency key {k} kept expiring while being claimed"
        )))
    }

    async fn complete(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        coupon: CouponId,
        outcome: IssueOutcome,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        redis::cmd("SET")
            .arg(self.key(user, key))
            .arg(format!("D|{coupon}|{}", outcome.as_str()))
            .arg("PX")
            .arg(millis(ttl))
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn release(&self, user: UserId, key: &IdempotencyKey) -> Result<(), StoreError> {
        redis::cmd("DEL")
            .arg(self.key(user, key))
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }
}

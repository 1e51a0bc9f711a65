//! The embedded [`IdempotencyStore`]: a map of `(user, key)` to the claim or answer,
//! each with its expiry. Expired entries are dropped by a sweep that runs when the map
//! has doubled since the last one, so memory follows the keys of the last `ttl`.

use async_trait::async_trait;
use couponrush_domain::ports::IdempotencyStore;
use couponrush_domain::{CouponId, IdempotencyKey, IssueOutcome, KeyClaim, StoreError, UserId};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
struct Entry {
    coupon: CouponId,
    /// `None` while the claiming request runs.
    outcome: Option<IssueOutcome>,
    expires: Instant,
}

#[derive(Default)]
struct Keys {
    entries: HashMap<(UserId, String), Entry>,
    swept_at_len: usize,
}

#[derive(Default)]
pub struct MemoryIdempotency {
    keys: Mutex<Keys>,
}

impl MemoryIdempotency {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl IdempotencyStore for MemoryIdempotency {
    async fn claim(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        coupon: CouponId,
        ttl: Duration,
    ) -> Result<KeyClaim, StoreError> {
        let now = Instant::now();
        let mut keys = self.keys.lock();
        if keys.entries.len() >= 2 * keys.swept_at_len.max(1024) {
            keys.entries.retain(|_, e| e.expires > now);
            keys.swept_at_len = keys.entries.len();
        }
        let slot = (user, key.as_str().to_owned());
        if let Some(e) = keys.entries.get(&slot).filter(|e| e.expires > now) {
            return Ok(if e.coupon != coupon {
                KeyClaim::OtherCoupon(e.coupon)
            } else {
                e.outcome.map_or(KeyClaim::InProgress, KeyClaim::Completed)
            });
        }
        keys.entries.insert(
            slot,
            Entry {
                coupon,
                outcome: None,
                expires: now + ttl,
            },
        );
        Ok(KeyClaim::Claimed)
    }

    async fn complete(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        coupon: CouponId,
        outcome: IssueOutcome,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.keys.lock().entries.insert(
            (user, key.as_str().to_owned()),
            Entry {
                coupon,
                outcome: Some(outcome),
                expires: Instant::now() + ttl,
            },
        );
        Ok(())
    }

    async fn release(&self, user: UserId, key: &IdempotencyKey) -> Result<(), StoreError> {
        self.keys
            .lock()
            .entries
            .remove(&(user, key.as_str().to_owned()));
        Ok(())
    }
}

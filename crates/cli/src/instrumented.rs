//! Decorators that time the two steps of the issue path around whatever adapters the
//! wiring picked, so the adapters themselves stay free of metrics: one gate step
//! (`couponrush_gate_reserve_duration_seconds`) and one durable append
//! (`couponrush_log_append_duration_seconds`), successes and failures alike.

use async_trait::async_trait;
use couponrush_domain::coupon::Quantity;
use couponrush_domain::ports::{GateStats, IssueGate, IssueLog, LogError, Reservation};
use couponrush_domain::{CouponId, IssueRequest, StoreError, UserId};
use couponrush_telemetry::metrics::names::{
    GATE_RESERVE_DURATION_SECONDS, LOG_APPEND_DURATION_SECONDS,
};
use metrics::Histogram;
use std::sync::Arc;
use std::time::Instant;

/// Times [`IssueGate::reserve`]; every other call passes straight through.
pub struct InstrumentedGate {
    inner: Arc<dyn IssueGate>,
    reserve: Histogram,
}

impl InstrumentedGate {
    /// Install the metrics recorder first: the handle is resolved here, once.
    pub fn new(inner: Arc<dyn IssueGate>) -> Self {
        Self {
            inner,
            reserve: metrics::histogram!(GATE_RESERVE_DURATION_SECONDS),
        }
    }
}

#[async_trait]
impl IssueGate for InstrumentedGate {
    async fn reserve(&self, coupon: CouponId, user: UserId) -> Result<Reservation, StoreError> {
        let started = Instant::now();
        let result = self.inner.reserve(coupon, user).await;
        self.reserve.record(started.elapsed());
        result
    }

    async fn release(&self, coupon: CouponId, user: UserId) -> Result<(), StoreError> {
        self.inner.release(coupon, user).await
    }

    async fn seed(
        &self,
        coupon: CouponId,
        total: Quantity,
        holders: &[UserId],
    ) -> Result<(), StoreError> {
        self.inner.seed(coupon, total, holders).await
    }

    async fn is_holder(&self, coupon: CouponId, user: UserId) -> Result<bool, StoreError> {
        self.inner.is_holder(coupon, user).await
    }

    async fn stats(&self, coupon: CouponId) -> Result<Option<GateStats>, StoreError> {
        self.inner.stats(coupon).await
    }

    async fn list_holders(&self, coupon: CouponId) -> Result<Option<Vec<UserId>>, StoreError> {
        self.inner.list_holders(coupon).await
    }
}

/// Times [`IssueLog::append`].
pub struct InstrumentedLog {
    inner: Arc<dyn IssueLog>,
    append: Histogram,
}

impl InstrumentedLog {
    /// Install the metrics recorder first: the handle is resolved here, once.
    pub fn new(inner: Arc<dyn IssueLog>) -> Self {
        Self {
            inner,
            append: metrics::histogram!(LOG_APPEND_DURATION_SECONDS),
        }
    }
}

#[async_trait]
impl IssueLog for InstrumentedLog {
    async fn append(&self, request: IssueRequest) -> Result<(), LogError> {
        let started = Instant::now();
        let result = self.inner.append(request).await;
        self.append.record(started.elapsed());
        result
    }
}

//! Decorators that measure around whatever adapters the wiring picked, so the adapters
//! themselves stay free of metrics: the two steps of the issue path, one gate step
//! (`couponrush_gate_reserve_duration_seconds`) and one durable append
//! (`couponrush_log_append_duration_seconds`), successes and failures alike; and the
//! sign-in side, password-hash jobs and throttled attempts.

use async_trait::async_trait;
use couponrush_domain::coupon::Quantity;
use couponrush_domain::ports::{
    AttemptLimiter, GateStats, HashError, IssueGate, IssueLog, LogError, PasswordHasher,
    Reservation, Verification,
};
use couponrush_domain::throttle::Admission;
use couponrush_domain::{
    CouponId, IssueRequest, Password, PasswordHash, StoreError, UserId, Username,
};
use couponrush_telemetry::metrics::names::{
    AUTH_THROTTLED_TOTAL, GATE_RESERVE_DURATION_SECONDS, LOG_APPEND_DURATION_SECONDS,
    PASSWORD_HASHES_TOTAL,
};
use metrics::Histogram;
use std::net::IpAddr;
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

/// Counts [`PasswordHasher`] jobs by outcome (`couponrush_password_hashes_total`): how
/// much hashing logins cost, and how often the pool was full.
pub struct InstrumentedHasher {
    inner: Arc<dyn PasswordHasher>,
}

impl InstrumentedHasher {
    pub fn new(inner: Arc<dyn PasswordHasher>) -> Self {
        Self { inner }
    }
}

fn count_hash<T>(op: &'static str, result: &Result<T, HashError>) {
    let outcome = match result {
        Ok(_) => "done",
        Err(HashError::Busy { .. }) => "busy",
        Err(HashError::Failed(_)) => "failed",
    };
    metrics::counter!(PASSWORD_HASHES_TOTAL, "op" => op, "outcome" => outcome).increment(1);
}

#[async_trait]
impl PasswordHasher for InstrumentedHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let result = self.inner.hash(password).await;
        count_hash("hash", &result);
        result
    }

    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<Verification, HashError> {
        let result = self.inner.verify(password, hash).await;
        count_hash("verify", &result);
        result
    }
}

/// Counts refusals of an [`AttemptLimiter`] (`couponrush_auth_throttled_total`).
pub struct InstrumentedLimiter {
    inner: Arc<dyn AttemptLimiter>,
}

impl InstrumentedLimiter {
    pub fn new(inner: Arc<dyn AttemptLimiter>) -> Self {
        Self { inner }
    }
}

fn count_throttled(action: &'static str, result: &Result<Admission, StoreError>) {
    if matches!(result, Ok(Admission::Throttled { .. })) {
        metrics::counter!(AUTH_THROTTLED_TOTAL, "action" => action).increment(1);
    }
}

#[async_trait]
impl AttemptLimiter for InstrumentedLimiter {
    async fn login_admission(
        &self,
        username: &Username,
        client: IpAddr,
        now_ms: i64,
    ) -> Result<Admission, StoreError> {
        let result = self.inner.login_admission(username, client, now_ms).await;
        count_throttled("login", &result);
        result
    }

    async fn login_failed(
        &self,
        username: &Username,
        client: IpAddr,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.inner.login_failed(username, client, now_ms).await
    }

    async fn login_succeeded(&self, username: &Username) -> Result<(), StoreError> {
        self.inner.login_succeeded(username).await
    }

    async fn signup_attempt(&self, client: IpAddr, now_ms: i64) -> Result<Admission, StoreError> {
        let result = self.inner.signup_attempt(client, now_ms).await;
        count_throttled("signup", &result);
        result
    }
}

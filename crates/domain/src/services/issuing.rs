//! The hot path: issue a coupon first come, first served, and tell a caller where
//! their request stands.
//!
//! Order of work per request: coupon from the in-process cache → rule check → one
//! atomic gate step → durable log append → answer. The users table is never read:
//! the verified token is trusted for the user id.

use crate::coupon::{Coupon, CouponRuleError, CouponStatus};
use crate::error::StoreError;
use crate::idempotency::{IdempotencyKey, KeyClaim};
use crate::ids::{CouponId, RequestId, UserId};
use crate::issue::{IssueOutcome, IssueRequest, IssueState};
use crate::ports::{
    Clock, CouponStore, IdempotencyStore, IssueGate, IssueLog, IssuedCouponStore, LogError,
    Reservation, Spawner,
};
use crate::services::gate_seeding::{GateSeeding, SeedError};
use crate::services::{CouponCache, Ports};
use futures::FutureExt;
use futures::channel::oneshot;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("coupon not found")]
    CouponNotFound,
    #[error("the coupon is {} and cannot be issued", .0.as_str())]
    CouponNotActive(CouponStatus),
    /// ACTIVE but not open yet: nothing was reserved. Carries the opening for the
    /// caller's countdown.
    #[error("the coupon opens at {}", .0.to_rfc3339())]
    CouponNotOpen(chrono::DateTime<chrono::Utc>),
    /// The gate or the log could not give a definite, durable answer; any reservation
    /// was given back, so the caller may retry.
    #[error("issuing is temporarily unavailable: {0}")]
    Unavailable(String),
    /// The request may have been recorded: the reservation is kept, and the caller's
    /// issue state tells ACCEPTED (then ISSUED if the record was durable).
    #[error("the outcome of the request is unknown: {0}")]
    Indeterminate(String),
    /// A request with the same idempotency key is still running.
    #[error("a request with this Idempotency-Key is still in progress")]
    KeyInUse,
    /// The idempotency key was used for another coupon.
    #[error("this Idempotency-Key was used for coupon {0}")]
    KeyReused(CouponId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a request stands after the rules and the gate step.
enum Step {
    Answered(IssueOutcome),
    Reserved(IssueRequest),
}

/// An issue answer, and whether it is the stored answer of an earlier request with the
/// same idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answered {
    pub outcome: IssueOutcome,
    pub replayed: bool,
}

/// Where one coupon's stock stands: what the gate holds and what is persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CouponStats {
    pub total: u64,
    /// Users holding a reservation in the gate (persisted or not); `None` if not seeded.
    pub reserved_in_gate: Option<u64>,
    pub remaining_in_gate: Option<u64>,
    pub persisted: u64,
}

#[derive(Clone)]
pub struct Issuing {
    cache: Arc<CouponCache>,
    seeding: Arc<GateSeeding>,
    coupons: Arc<dyn CouponStore>,
    issued: Arc<dyn IssuedCouponStore>,
    gate: Arc<dyn IssueGate>,
    log: Arc<dyn IssueLog>,
    clock: Arc<dyn Clock>,
    spawner: Arc<dyn Spawner>,
    keys: Arc<dyn IdempotencyStore>,
    key_ttl: std::time::Duration,
}

impl Issuing {
    pub fn new(
        ports: &Ports,
        cache: Arc<CouponCache>,
        seeding: Arc<GateSeeding>,
        key_ttl: std::time::Duration,
    ) -> Self {
        Self {
            cache,
            seeding,
            coupons: ports.coupons.clone(),
            issued: ports.issued.clone(),
            gate: ports.gate.clone(),
            log: ports.log.clone(),
            clock: ports.clock.clone(),
            spawner: ports.spawner.clone(),
            keys: ports.idempotency.clone(),
            key_ttl,
        }
    }

    pub(crate) async fn coupon(&self, id: CouponId) -> Result<Arc<Coupon>, IssueError> {
        self.cache.get(id).await?.ok_or(IssueError::CouponNotFound)
    }

    /// Issues `coupon_id` to `user_id`: exactly `total_quantity` ever, one per user.
    /// `Accepted` is returned only after the request is durable.
    pub async fn issue(
        &self,
        coupon_id: CouponId,
        user_id: UserId,
    ) -> Result<IssueOutcome, IssueError> {
        match self.check_and_reserve(coupon_id, user_id).await? {
            Step::Answered(outcome) => Ok(outcome),
            // From the reservation on, the work runs on a task of its own: a caller
            // that disconnects while its append is under way would otherwise drop the
            // release of a failed append, and the unit would stay reserved for a user
            // with no record. Only reserved requests pay for the task (SOLD_OUT
            // answers, most of a rush, do not). A caller dropped during the gate step
            // itself (the Redis reply on its way) may still strand a unit:
            // reconciliation gives it back.
            Step::Reserved(request) => {
                let (log, gate) = (self.log.clone(), self.gate.clone());
                self.detached(async move { append_or_release(&*log, &*gate, request).await })
                    .await
            }
        }
    }

    /// [`Self::issue`] under an idempotency key: the first request with the key runs
    /// and its answer (ACCEPTED, SOLD_OUT, ALREADY_ISSUED) is kept for the key's
    /// lifetime; a retry gets that answer again without a second attempt. A request
    /// that ends in an error frees the key, so its retry runs again. Runs on a task of
    /// its own, so a claimed key is always completed or freed.
    pub async fn issue_with_key(
        &self,
        coupon_id: CouponId,
        user_id: UserId,
        key: IdempotencyKey,
    ) -> Result<Answered, IssueError> {
        let this = self.clone();
        self.detached(async move { this.keyed(coupon_id, user_id, key).await })
            .await
    }

    /// Runs `work` on a task of its own and waits for its answer: the work finishes
    /// even if this caller's future is dropped (its client disconnected).
    async fn detached<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, IssueError>> + Send + 'static,
    ) -> Result<T, IssueError> {
        let (answer, answered) = oneshot::channel();
        self.spawner.spawn(
            async move {
                let _ = answer.send(work.await);
            }
            .boxed(),
        );
        answered.await.unwrap_or_else(|_| {
            Err(IssueError::Indeterminate(
                "the issue task ended without an answer".into(),
            ))
        })
    }

    /// The coupon's rules and the gate step: either an answer already, or a
    /// reservation whose request must now be appended.
    async fn check_and_reserve(
        &self,
        coupon_id: CouponId,
        user_id: UserId,
    ) -> Result<Step, IssueError> {
        let coupon = self.coupon(coupon_id).await?;
        // The cached definition and this instant decide, so a coupon cached before its
        // opening opens on time with no store read and no wait for the cache's TTL.
        let now = self.clock.now();
        coupon.ensure_issuable(now).map_err(|e| match e {
            CouponRuleError::NotOpen(opens_at) => IssueError::CouponNotOpen(opens_at),
            _ => IssueError::CouponNotActive(coupon.effective_status(now)),
        })?;
        match self.reserve(&coupon, user_id).await? {
            Reservation::Reserved => Ok(Step::Reserved(IssueRequest {
                request_id: RequestId::new(),
                user_id,
                coupon_id,
                requested_at: now,
            })),
            Reservation::AlreadyIssued => Ok(Step::Answered(IssueOutcome::AlreadyIssued)),
            Reservation::SoldOut => Ok(Step::Answered(IssueOutcome::SoldOut)),
            Reservation::NotSeeded => Err(IssueError::Unavailable(
                "the gate lost the coupon while seeding".into(),
            )),
        }
    }

    async fn keyed(
        &self,
        coupon_id: CouponId,
        user_id: UserId,
        key: IdempotencyKey,
    ) -> Result<Answered, IssueError> {
        let claim = self
            .keys
            .claim(user_id, &key, coupon_id, self.key_ttl)
            .await
            .map_err(|e| IssueError::Unavailable(e.to_string()))?;
        match claim {
            KeyClaim::Claimed => {}
            KeyClaim::Completed(outcome) => {
                return Ok(Answered {
                    outcome,
                    replayed: true,
                });
            }
            KeyClaim::InProgress => return Err(IssueError::KeyInUse),
            KeyClaim::OtherCoupon(other) => return Err(IssueError::KeyReused(other)),
        }
        // Already on a task of its own (`issue_with_key`): the append runs inline.
        let result = match self.check_and_reserve(coupon_id, user_id).await {
            Ok(Step::Answered(outcome)) => Ok(outcome),
            Ok(Step::Reserved(request)) => {
                append_or_release(&*self.log, &*self.gate, request).await
            }
            Err(e) => Err(e),
        };
        let kept = match &result {
            Ok(outcome) => {
                self.keys
                    .complete(user_id, &key, coupon_id, *outcome, self.key_ttl)
                    .await
            }
            Err(_) => self.keys.release(user_id, &key).await,
        };
        if let Err(e) = kept {
            // The answer stands; a retry with the key may run again (or wait for the
            // claim to expire). Nothing is issued twice: the gate dedupes the user.
            tracing::warn!(%coupon_id, %user_id, error = %e, "could not record the idempotency key's answer");
        }
        result.map(|outcome| Answered {
            outcome,
            replayed: false,
        })
    }

    /// One gate step. A gate that has not seen the coupon is seeded (once per coupon
    /// in this process, however many callers find it so; see `gate_seeding`) and asked again.
    async fn reserve(&self, coupon: &Coupon, user: UserId) -> Result<Reservation, IssueError> {
        let gate_err = |e: StoreError| IssueError::Unavailable(e.to_string());
        // Taken before the gate step: tells a stale NotSeeded from a lost gate.
        let asked = Instant::now();
        let first = self.gate.reserve(coupon.id, user).await.map_err(gate_err)?;
        if first != Reservation::NotSeeded {
            return Ok(first);
        }
        self.seeding
            .ensure_seeded(coupon, asked)
            .await
            .map_err(|e| match e {
                SeedError::Store(e) => gate_err(e),
                timed_out @ SeedError::TimedOut(_) => {
                    IssueError::Unavailable(timed_out.to_string())
                }
            })?;
        self.gate.reserve(coupon.id, user).await.map_err(gate_err)
    }

    /// Seeds the gate with every issuable coupon from one read of their holders, so the
    /// first requests after a start do not pay for the rebuild. Returns how many
    /// coupons were seeded. Coupons not open yet are seeded too: their opening second
    /// is the rush this warming is for.
    pub async fn warm_gate(&self) -> Result<usize, IssueError> {
        let now = self.clock.now();
        let issuable: Vec<Coupon> = self
            .coupons
            .list_coupons_with_status(CouponStatus::Active)
            .await?
            .into_iter()
            .filter(|c| c.effective_status(now) == CouponStatus::Active)
            .collect();
        self.seeding
            .warm(&issuable)
            .await
            .map_err(|e| IssueError::Unavailable(e.to_string()))
    }

    /// The caller's state for one coupon: persisted rows first, then the gate.
    pub async fn state(
        &self,
        coupon_id: CouponId,
        user_id: UserId,
    ) -> Result<IssueState, IssueError> {
        self.coupon(coupon_id).await?;
        if let Some(issued) = self.issued.find_issued(user_id, coupon_id).await? {
            return Ok(issued.state());
        }
        let holder = self
            .gate
            .is_holder(coupon_id, user_id)
            .await
            .map_err(|e| IssueError::Unavailable(e.to_string()))?;
        Ok(if holder {
            IssueState::Accepted
        } else {
            IssueState::None
        })
    }

    pub async fn stats(&self, coupon_id: CouponId) -> Result<CouponStats, IssueError> {
        let coupon = self
            .coupons
            .find_coupon(coupon_id)
            .await?
            .ok_or(IssueError::CouponNotFound)?;
        let gate = self
            .gate
            .stats(coupon_id)
            .await
            .map_err(|e| IssueError::Unavailable(e.to_string()))?;
        Ok(CouponStats {
            total: u64::from(coupon.total_quantity.get()),
            reserved_in_gate: gate.map(|g| g.holders),
            remaining_in_gate: gate.map(|g| g.remaining),
            persisted: self.coupons.issued_count(coupon_id).await?,
        })
    }
}

/// Appends a reserved request; gives the unit back if the append certainly failed.
async fn append_or_release(
    log: &dyn IssueLog,
    gate: &dyn IssueGate,
    request: IssueRequest,
) -> Result<IssueOutcome, IssueError> {
    let (coupon_id, user_id) = (request.coupon_id, request.user_id);
    match log.append(request).await {
        Ok(()) => Ok(IssueOutcome::Accepted),
        // The reservation is kept: the record may be in the log.
        Err(LogError::Indeterminate(detail)) => Err(IssueError::Indeterminate(detail)),
        Err(log_err @ LogError::Unavailable(_)) => {
            if let Err(gate_err) = gate.release(coupon_id, user_id).await {
                // The unit stays reserved for a user without a row: stock is
                // under-sold, never over-sold. Reported so operators can reseed.
                tracing::error!(%coupon_id, %user_id, error = %gate_err, "could not release a reservation after a failed append");
            }
            Err(IssueError::Unavailable(log_err.to_string()))
        }
    }
}

//! Seeding the gate: a coupon's stock and holders put into the gate before (or, when
//! the gate has lost them, while) requests for it arrive.
//!
//! - A coupon is seeded when it is created (its holders are known: none) and when it is
//!   activated; a process start seeds every issuable coupon from one read of the holders
//!   of all of them. So the issue path of a rush normally never reads the store.
//! - When a request still finds the gate without the coupon (another node created it,
//!   the gate lost it), exactly one seed runs per coupon in this process: one read of
//!   the holders, shared by every caller (single flight), each waiting at most
//!   `wait`. A caller whose `NotSeeded` answer predates a seed that has since finished
//!   simply asks the gate again instead of seeding once more.
//! - A gate that lost a coupon (distributed: Redis restarted without its data, failed
//!   over to a lagging replica, was flushed) is rebuilt only after the issue log is
//!   drained ([`LogDrain`]): reservations made before the loss may still have records on
//!   their way to the store, and seeding from the store before they arrive would hand
//!   their units out again. Until then the coupon's requests are answered 503 (each
//!   caller waits at most `wait`; the rebuild goes on while callers keep asking).
//!   Seeding a coupon just created needs no drain: nobody can have reserved it yet.
//! - The holders seeded are the persisted rows plus, in distributed mode, the *parked*
//!   users ([`ParkedHolders`]: accepted records that ended as failed events and wait for
//!   an admin's replay). Seeded from the rows alone, a parked user's unit would be sold
//!   again and the database guard would refuse the replay: an ACCEPTED user lost.
//!   Parked users are read before the rows (a replay writes the row, then stops being
//!   FAILED, so a replay meanwhile is counted once either way).

use crate::coupon::Coupon;
use crate::error::StoreError;
use crate::ids::{CouponId, UserId};
use crate::ports::{Clock, IssueGate, IssuedCouponStore, LogDrain, ParkedHolders};
use crate::services::single_flight::SingleFlight;
use futures::FutureExt;
use futures::future::{Either, select};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("seeding the gate failed: {0}")]
    Store(#[from] StoreError),
    #[error("the coupon's gate is still being seeded after {0:?}")]
    TimedOut(Duration),
}

pub struct GateSeeding {
    issued: Arc<dyn IssuedCouponStore>,
    gate: Arc<dyn IssueGate>,
    drain: Arc<dyn LogDrain>,
    parked: Option<Arc<dyn ParkedHolders>>,
    clock: Arc<dyn Clock>,
    wait: Duration,
    flights: Arc<SingleFlight<CouponId, Result<(), StoreError>>>,
    /// When each coupon was last seeded by this process.
    seeded_at: Arc<Mutex<HashMap<CouponId, Instant>>>,
}

impl GateSeeding {
    pub fn new(
        issued: Arc<dyn IssuedCouponStore>,
        gate: Arc<dyn IssueGate>,
        drain: Arc<dyn LogDrain>,
        parked: Option<Arc<dyn ParkedHolders>>,
        clock: Arc<dyn Clock>,
        wait: Duration,
    ) -> Self {
        Self {
            issued,
            gate,
            drain,
            parked,
            clock,
            wait,
            flights: SingleFlight::new(),
            seeded_at: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Seeds a coupon that was just created: nobody holds it yet, so no read is needed.
    pub async fn seed_new(&self, coupon: &Coupon) -> Result<(), StoreError> {
        self.gate
            .seed(coupon.id, coupon.total_quantity, &[])
            .await?;
        self.seeded_at.lock().insert(coupon.id, Instant::now());
        Ok(())
    }

    /// Makes sure the gate holds `coupon`, for a caller whose gate step started at
    /// `asked` and answered `NotSeeded`. Concurrent callers share one store read.
    pub async fn ensure_seeded(&self, coupon: &Coupon, asked: Instant) -> Result<(), SeedError> {
        let flight = self.flights.join(coupon.id, || {
            let seeded_since = self
                .seeded_at
                .lock()
                .get(&coupon.id)
                .is_some_and(|&at| at > asked);
            if seeded_since {
                // A seed finished after this caller asked: its answer is simply stale.
                return async { Ok(()) }.boxed();
            }
            let (issued, gate, drain, parked, seeded_at) = (
                self.issued.clone(),
                self.gate.clone(),
                self.drain.clone(),
                self.parked.clone(),
                self.seeded_at.clone(),
            );
            let (id, total) = (coupon.id, coupon.total_quantity);
            async move {
                tracing::warn!(coupon_id = %id, "the gate does not hold the coupon: closed until the issue log is drained, then rebuilt from the store");
                drain.drained().await?;
                let mut parked = parked_of(parked.as_deref(), &[id]).await?;
                let holders = with_parked(issued.holders(id).await?, parked.remove(&id));
                gate.seed(id, total, &holders).await?;
                seeded_at.lock().insert(id, Instant::now());
                tracing::info!(coupon_id = %id, holders = holders.len(), "gate seeded from the store");
                Ok(())
            }
            .boxed()
        });
        match select(flight, self.clock.sleep(self.wait)).await {
            Either::Left((result, _)) => Ok(result?),
            Either::Right(_) => Err(SeedError::TimedOut(self.wait)),
        }
    }

    /// Seeds every coupon of `coupons` the gate does not hold yet, from one read of
    /// all their holders after one drain of the log (process start). Returns how many
    /// were seeded. A gate that still holds them all (another node's start, a restart
    /// of this one) costs no read of the store.
    pub async fn warm(&self, coupons: &[Coupon]) -> Result<usize, StoreError> {
        let mut missing = Vec::new();
        for coupon in coupons {
            if self.gate.stats(coupon.id).await?.is_none() {
                missing.push(coupon);
            }
        }
        if missing.is_empty() {
            return Ok(0);
        }
        self.drain.drained().await?;
        let ids: Vec<CouponId> = missing.iter().map(|c| c.id).collect();
        let mut parked = parked_of(self.parked.as_deref(), &ids).await?;
        let mut holders = self.issued.holders_of(&ids).await?;
        for coupon in &missing {
            let held = with_parked(
                holders.remove(&coupon.id).unwrap_or_default(),
                parked.remove(&coupon.id),
            );
            self.gate
                .seed(coupon.id, coupon.total_quantity, &held)
                .await?;
            self.seeded_at.lock().insert(coupon.id, Instant::now());
        }
        Ok(missing.len())
    }
}

async fn parked_of(
    parked: Option<&dyn ParkedHolders>,
    coupons: &[CouponId],
) -> Result<HashMap<CouponId, HashSet<UserId>>, StoreError> {
    match parked {
        Some(p) => p.parked(coupons).await,
        None => Ok(HashMap::new()),
    }
}

/// The rows' holders plus the parked users who have no row (yet).
fn with_parked(mut rows: Vec<UserId>, parked: Option<HashSet<UserId>>) -> Vec<UserId> {
    if let Some(mut parked) = parked {
        for u in &rows {
            parked.remove(u);
        }
        rows.extend(parked);
    }
    rows
}

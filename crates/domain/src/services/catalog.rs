//! Creating coupons and switching them on and off (admin use cases), and reading them.

use crate::coupon::{Coupon, CouponRuleError, CouponStatus, NewCoupon};
use crate::error::{StoreError, ValidationError};
use crate::ids::CouponId;
use crate::ports::{Clock, CouponStore};
use crate::services::CouponCache;
use crate::services::gate_seeding::GateSeeding;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("coupon not found")]
    NotFound,
    #[error(transparent)]
    Rule(#[from] CouponRuleError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct Catalog {
    coupons: Arc<dyn CouponStore>,
    cache: Arc<CouponCache>,
    seeding: Arc<GateSeeding>,
    clock: Arc<dyn Clock>,
}

impl Catalog {
    pub fn new(
        coupons: Arc<dyn CouponStore>,
        cache: Arc<CouponCache>,
        seeding: Arc<GateSeeding>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            coupons,
            cache,
            seeding,
            clock,
        }
    }

    pub async fn create(&self, new: NewCoupon) -> Result<Coupon, CatalogError> {
        let now = self.clock.now();
        new.validate(now)?;
        let coupon = new.into_coupon(CouponId::new(), now);
        self.coupons.insert_coupon(&coupon).await?;
        // The rush that follows finds both the definition and the gate ready. Failing to
        // seed is not failing to create: the first request seeds it then.
        self.cache.put(coupon.clone());
        if let Err(e) = self.seeding.seed_new(&coupon).await {
            tracing::warn!(coupon_id = %coupon.id, error = %e, "could not seed the gate of a new coupon");
        }
        Ok(coupon)
    }

    /// The coupon with its persisted issued count.
    pub async fn get(&self, id: CouponId) -> Result<(Coupon, u64), CatalogError> {
        let coupon = self
            .coupons
            .find_coupon(id)
            .await?
            .ok_or(CatalogError::NotFound)?;
        let issued = self.coupons.issued_count(id).await?;
        Ok((coupon, issued))
    }

    pub async fn change_status(
        &self,
        id: CouponId,
        target: CouponStatus,
    ) -> Result<Coupon, CatalogError> {
        let mut coupon = self
            .coupons
            .find_coupon(id)
            .await?
            .ok_or(CatalogError::NotFound)?;
        coupon.ensure_status_change(target, self.clock.now())?;
        if !self.coupons.set_coupon_status(id, target).await? {
            return Err(CatalogError::NotFound);
        }
        // This process's issue path sees the change at once; others within the cache TTL.
        coupon.status = target;
        self.cache.put(coupon.clone());
        if target == CouponStatus::Active {
            // Seeded now rather than by the first request (a no-op if the gate has it).
            if let Err(e) = self.seeding.ensure_seeded(&coupon, Instant::now()).await {
                tracing::warn!(coupon_id = %id, error = %e, "could not seed the gate of an activated coupon");
            }
        }
        Ok(coupon)
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

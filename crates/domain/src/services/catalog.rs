//! Creating coupons and switching them on and off (admin use cases), and reading them.

use crate::coupon::{Coupon, CouponRuleError, CouponStatus, NewCoupon};
use crate::error::{StoreError, ValidationError};
use crate::ids::CouponId;
use crate::ports::{Clock, CouponStore};
use crate::services::CouponCache;
use std::sync::Arc;

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
    clock: Arc<dyn Clock>,
}

impl Catalog {
    pub fn new(
        coupons: Arc<dyn CouponStore>,
        cache: Arc<CouponCache>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            coupons,
            cache,
            clock,
        }
    }

    pub async fn create(&self, new: NewCoupon) -> Result<Coupon, CatalogError> {
        let now = self.clock.now();
        new.validate(now)?;
        let coupon = new.into_coupon(CouponId::new(), now);
        self.coupons.insert_coupon(&coupon).await?;
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
        self.cache.invalidate(id);
        coupon.status = target;
        Ok(coupon)
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

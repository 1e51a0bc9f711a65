//! What a user owns: listing their coupons and using one.

use crate::error::StoreError;
use crate::ids::{CouponId, UserId};
use crate::issue::{IssuedCoupon, OwnedCoupon, UseRuleError};
use crate::ports::{Clock, CouponStore, IssuedCouponStore};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum UseError {
    #[error("you do not hold this coupon")]
    NotIssued,
    #[error(transparent)]
    Rule(#[from] UseRuleError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct Wallet {
    coupons: Arc<dyn CouponStore>,
    issued: Arc<dyn IssuedCouponStore>,
    clock: Arc<dyn Clock>,
}

impl Wallet {
    pub fn new(
        coupons: Arc<dyn CouponStore>,
        issued: Arc<dyn IssuedCouponStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            coupons,
            issued,
            clock,
        }
    }

    pub async fn list(&self, user: UserId) -> Result<Vec<OwnedCoupon>, StoreError> {
        self.issued.list_owned(user).await
    }

    /// Uses an owned coupon once, before it expires.
    pub async fn use_coupon(
        &self,
        user: UserId,
        coupon_id: CouponId,
    ) -> Result<IssuedCoupon, UseError> {
        let mut issued = self
            .issued
            .find_issued(user, coupon_id)
            .await?
            .ok_or(UseError::NotIssued)?;
        let coupon = self.coupons.find_coupon(coupon_id).await?.ok_or_else(|| {
            StoreError::Corrupt(format!("issued coupon {} has no definition", issued.id))
        })?;
        let now = self.clock.now();
        issued.ensure_usable(&coupon, now)?;
        // The conditional update settles a race between two uses of the same coupon.
        if !self.issued.mark_used(user, coupon_id, now).await? {
            return Err(UseRuleError::AlreadyUsed.into());
        }
        issued.used_at = Some(now);
        Ok(issued)
    }
}

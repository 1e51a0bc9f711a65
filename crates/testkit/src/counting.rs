//! A counting wrapper around the coupon and issued-coupon store ports: tests use it to
//! show how many store reads the issue path makes under a stampede.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use couponrush_domain::ports::{CouponStore, IssuedCouponStore};
use couponrush_domain::{
    Coupon, CouponId, CouponStatus, IssuedCoupon, OwnedCoupon, StoreError, UserId,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Passes every call to `inner`, counting the reads a gate seed or a cache load makes.
pub struct CountingStore<S> {
    inner: Arc<S>,
    coupon_reads: AtomicUsize,
    holder_reads: AtomicUsize,
}

impl<S> CountingStore<S> {
    pub fn new(inner: Arc<S>) -> Self {
        Self {
            inner,
            coupon_reads: AtomicUsize::new(0),
            holder_reads: AtomicUsize::new(0),
        }
    }

    /// Calls of `find_coupon`.
    pub fn coupon_reads(&self) -> usize {
        self.coupon_reads.load(Ordering::SeqCst)
    }

    /// Calls of `holders_of` (and so of `holders`).
    pub fn holder_reads(&self) -> usize {
        self.holder_reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl<S: CouponStore + 'static> CouponStore for CountingStore<S> {
    async fn insert_coupon(&self, coupon: &Coupon) -> Result<(), StoreError> {
        self.inner.insert_coupon(coupon).await
    }

    async fn find_coupon(&self, id: CouponId) -> Result<Option<Coupon>, StoreError> {
        self.coupon_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.find_coupon(id).await
    }

    async fn set_coupon_status(
        &self,
        id: CouponId,
        status: CouponStatus,
    ) -> Result<bool, StoreError> {
        self.inner.set_coupon_status(id, status).await
    }

    async fn set_room_policy(
        &self,
        id: CouponId,
        room: couponrush_domain::waiting_room::RoomPolicy,
    ) -> Result<bool, StoreError> {
        self.inner.set_room_policy(id, room).await
    }

    async fn issued_count(&self, id: CouponId) -> Result<u64, StoreError> {
        self.inner.issued_count(id).await
    }

    async fn list_coupons_with_status(
        &self,
        status: CouponStatus,
    ) -> Result<Vec<Coupon>, StoreError> {
        self.inner.list_coupons_with_status(status).await
    }

    async fn list_coupons(
        &self,
        query: &couponrush_domain::listing::CouponQuery,
    ) -> Result<Vec<Coupon>, StoreError> {
        self.inner.list_coupons(query).await
    }
}

#[async_trait]
impl<S: IssuedCouponStore + 'static> IssuedCouponStore for CountingStore<S> {
    async fn find_issued(
        &self,
        user: UserId,
        coupon: CouponId,
    ) -> Result<Option<IssuedCoupon>, StoreError> {
        self.inner.find_issued(user, coupon).await
    }

    async fn list_owned(&self, user: UserId) -> Result<Vec<OwnedCoupon>, StoreError> {
        self.inner.list_owned(user).await
    }

    async fn holders_of(
        &self,
        coupons: &[CouponId],
    ) -> Result<HashMap<CouponId, Vec<UserId>>, StoreError> {
        self.holder_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.holders_of(coupons).await
    }

    async fn mark_used(
        &self,
        user: UserId,
        coupon: CouponId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.mark_used(user, coupon, at).await
    }
}

//! The embedded issue gate: per coupon, the remaining stock and the set of holders.
//!
//! Coupons live in a map behind a read-mostly lock that is taken for writing only when
//! a coupon is seeded; each coupon has its own mutex, so a rush on one coupon never
//! blocks another. The critical section is a hash-set insert and a decrement.

use async_trait::async_trait;
use couponrush_domain::ports::{GateStats, IssueGate, Reservation};
use couponrush_domain::{CouponId, Quantity, StoreError, UserId};
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

struct Slot {
    remaining: u64,
    holders: HashSet<UserId>,
}

#[derive(Default)]
pub struct MemoryGate {
    coupons: RwLock<HashMap<CouponId, Arc<Mutex<Slot>>>>,
}

impl MemoryGate {
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self, coupon: CouponId) -> Option<Arc<Mutex<Slot>>> {
        self.coupons.read().get(&coupon).cloned()
    }
}

#[async_trait]
impl IssueGate for MemoryGate {
    async fn reserve(&self, coupon: CouponId, user: UserId) -> Result<Reservation, StoreError> {
        let Some(slot) = self.slot(coupon) else {
            return Ok(Reservation::NotSeeded);
        };
        let mut slot = slot.lock();
        if slot.holders.contains(&user) {
            return Ok(Reservation::AlreadyIssued);
        }
        if slot.remaining == 0 {
            return Ok(Reservation::SoldOut);
        }
        slot.remaining -= 1;
        slot.holders.insert(user);
        Ok(Reservation::Reserved)
    }

    async fn release(&self, coupon: CouponId, user: UserId) -> Result<(), StoreError> {
        if let Some(slot) = self.slot(coupon) {
            let mut slot = slot.lock();
            if slot.holders.remove(&user) {
                slot.remaining += 1;
            }
        }
        Ok(())
    }

    async fn seed(
        &self,
        coupon: CouponId,
        total: Quantity,
        holders: &[UserId],
    ) -> Result<(), StoreError> {
        let mut coupons = self.coupons.write();
        coupons.entry(coupon).or_insert_with(|| {
            let holders: HashSet<UserId> = holders.iter().copied().collect();
            let remaining = u64::from(total.get()).saturating_sub(holders.len() as u64);
            Arc::new(Mutex::new(Slot { remaining, holders }))
        });
        Ok(())
    }

    async fn is_holder(&self, coupon: CouponId, user: UserId) -> Result<bool, StoreError> {
        Ok(self
            .slot(coupon)
            .is_some_and(|s| s.lock().holders.contains(&user)))
    }

    async fn stats(&self, coupon: CouponId) -> Result<Option<GateStats>, StoreError> {
        Ok(self.slot(coupon).map(|s| {
            let s = s.lock();
            GateStats {
                remaining: s.remaining,
                holders: s.holders.len() as u64,
            }
        }))
    }
}

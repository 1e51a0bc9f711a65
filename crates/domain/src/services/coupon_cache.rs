//! In-process cache of coupon definitions for the issue path, so a rush on one coupon
//! costs one store read per TTL instead of one per request.

use crate::coupon::Coupon;
use crate::ids::CouponId;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct CouponCache {
    ttl: Duration,
    entries: RwLock<HashMap<CouponId, (Arc<Coupon>, Instant)>>,
}

impl CouponCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// A fresh entry, or `None` if absent or older than the TTL.
    pub fn get(&self, id: CouponId) -> Option<Arc<Coupon>> {
        let entries = self.entries.read();
        let (coupon, loaded_at) = entries.get(&id)?;
        (loaded_at.elapsed() < self.ttl).then(|| coupon.clone())
    }

    pub fn put(&self, coupon: Coupon) -> Arc<Coupon> {
        let coupon = Arc::new(coupon);
        self.entries
            .write()
            .insert(coupon.id, (coupon.clone(), Instant::now()));
        coupon
    }

    pub fn invalidate(&self, id: CouponId) {
        self.entries.write().remove(&id);
    }
}

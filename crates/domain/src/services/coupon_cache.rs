//! In-process cache of coupon definitions for the issue path: one store read per coupon
//! per TTL, whatever the concurrency.
//!
//! - A miss (first request for a coupon in this process) is one read in single flight:
//!   every concurrent caller waits for the same read.
//! - An entry past its TTL is refreshed by exactly one caller while every other caller
//!   keeps using the current entry: the expiry of a hot coupon's entry never sends the
//!   requests in flight to the store. If the refresh fails, the stale entry is served and
//!   the next caller tries again, so a database outage does not stop issuing.
//! - Changes made in this process are put in at once; other processes' changes arrive
//!   within the TTL.

use crate::coupon::Coupon;
use crate::error::StoreError;
use crate::ids::CouponId;
use crate::ports::CouponStore;
use crate::services::single_flight::SingleFlight;
use futures::FutureExt;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

type Lookup = Result<Option<Arc<Coupon>>, StoreError>;

pub struct CouponCache {
    inner: Arc<Inner>,
    misses: Arc<SingleFlight<CouponId, Lookup>>,
}

struct Inner {
    ttl: Duration,
    store: Arc<dyn CouponStore>,
    entries: RwLock<HashMap<CouponId, Arc<Entry>>>,
    /// Moves on every put and invalidation: a read that started before one must not
    /// overwrite what it put there.
    epoch: AtomicU64,
}

struct Entry {
    coupon: Arc<Coupon>,
    loaded_at: Instant,
    refreshing: AtomicBool,
}

/// Clears an entry's refreshing flag however the refresh ends (done, failed, or its
/// caller went away), so another caller can take over.
struct Refreshing<'a>(&'a Entry);

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        self.0.refreshing.store(false, Ordering::Release);
    }
}

impl CouponCache {
    pub fn new(ttl: Duration, store: Arc<dyn CouponStore>) -> Self {
        Self {
            inner: Arc::new(Inner {
                ttl,
                store,
                entries: RwLock::new(HashMap::new()),
                epoch: AtomicU64::new(0),
            }),
            misses: SingleFlight::new(),
        }
    }

    /// The coupon, from the cache when it can be; `None` if the store has no such coupon.
    pub async fn get(&self, id: CouponId) -> Lookup {
        let entry = self.inner.entries.read().get(&id).cloned();
        let Some(entry) = entry else {
            let inner = self.inner.clone();
            return self
                .misses
                .join(id, move || {
                    // A flight that finished after the lookup above has filled the
                    // entry (it does so before it leaves the table): no second read.
                    if let Some(entry) = inner.entries.read().get(&id) {
                        let coupon = entry.coupon.clone();
                        return async move { Ok(Some(coupon)) }.boxed();
                    }
                    async move { inner.load(id).await }.boxed()
                })
                .await;
        };
        if entry.loaded_at.elapsed() < self.inner.ttl {
            return Ok(Some(entry.coupon.clone()));
        }
        if entry
            .refreshing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Ok(Some(entry.coupon.clone())); // someone else is refreshing it
        }
        let _refreshing = Refreshing(&entry);
        match self.inner.load(id).await {
            Ok(found) => Ok(found),
            Err(e) => {
                tracing::warn!(%id, error = %e, "coupon refresh failed; serving the cached definition");
                Ok(Some(entry.coupon.clone()))
            }
        }
    }

    /// Puts a coupon this process just wrote (created, status changed).
    pub fn put(&self, coupon: Coupon) -> Arc<Coupon> {
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        self.inner.insert(Arc::new(coupon))
    }

    pub fn invalidate(&self, id: CouponId) {
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        self.inner.entries.write().remove(&id);
    }
}

impl Inner {
    /// One store read; the result goes into the cache unless a put or invalidation
    /// happened meanwhile (then what they left there is newer than this read).
    async fn load(&self, id: CouponId) -> Lookup {
        let epoch = self.epoch.load(Ordering::Acquire);
        let found = self.store.find_coupon(id).await?;
        let mut entries = self.entries.write();
        let current = self.epoch.load(Ordering::Acquire) == epoch;
        match found {
            Some(coupon) => {
                let coupon = Arc::new(coupon);
                if current {
                    entries.insert(id, Arc::new(Entry::new(coupon.clone())));
                }
                Ok(Some(coupon))
            }
            None => {
                if current {
                    entries.remove(&id);
                }
                Ok(None)
            }
        }
    }

    fn insert(&self, coupon: Arc<Coupon>) -> Arc<Coupon> {
        self.entries
            .write()
            .insert(coupon.id, Arc::new(Entry::new(coupon.clone())));
        coupon
    }
}

impl Entry {
    fn new(coupon: Arc<Coupon>) -> Self {
        Self {
            coupon,
            loaded_at: Instant::now(),
            refreshing: AtomicBool::new(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coupon::{CouponName, CouponStatus, CouponType, Discount, Quantity};
    use async_trait::async_trait;
    use std::sync::atomic::AtomicUsize;
    use tokio::sync::Semaphore;

    /// A store whose reads wait for permits, so a test can hold a read in flight.
    struct SlowStore {
        coupon: Coupon,
        reads: AtomicUsize,
        permits: Semaphore,
    }

    #[async_trait]
    impl CouponStore for SlowStore {
        async fn insert_coupon(&self, _: &Coupon) -> Result<(), StoreError> {
            unreachable!()
        }
        async fn find_coupon(&self, _: CouponId) -> Result<Option<Coupon>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.permits.acquire().await.unwrap().forget();
            Ok(Some(self.coupon.clone()))
        }
        async fn set_coupon_status(
            &self,
            _: CouponId,
            _: CouponStatus,
        ) -> Result<bool, StoreError> {
            unreachable!()
        }
        async fn issued_count(&self, _: CouponId) -> Result<u64, StoreError> {
            unreachable!()
        }
        async fn list_coupons_with_status(
            &self,
            _: CouponStatus,
        ) -> Result<Vec<Coupon>, StoreError> {
            unreachable!()
        }
    }

    fn store() -> Arc<SlowStore> {
        let now = chrono::Utc::now();
        Arc::new(SlowStore {
            coupon: Coupon {
                id: CouponId::new(),
                name: CouponName::parse("Cached").unwrap(),
                coupon_type: CouponType::Pizza,
                discount: Discount::fixed(100).unwrap(),
                total_quantity: Quantity::new(10).unwrap(),
                expires_at: now + chrono::Duration::days(1),
                status: CouponStatus::Active,
                created_at: now,
            },
            reads: AtomicUsize::new(0),
            permits: Semaphore::new(0),
        })
    }

    #[tokio::test]
    async fn concurrent_misses_cost_one_read() {
        let store = store();
        let cache = Arc::new(CouponCache::new(Duration::from_secs(60), store.clone()));
        let id = store.coupon.id;
        let waiters: Vec<_> = (0..500)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get(id).await })
            })
            .collect();
        tokio::task::yield_now().await;
        store.permits.add_permits(1_000);
        for w in waiters {
            assert_eq!(w.await.unwrap().unwrap().unwrap().id, id);
        }
        assert_eq!(store.reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_expired_entry_is_refreshed_once_while_callers_keep_it() {
        let store = store();
        store.permits.add_permits(1);
        let cache = Arc::new(CouponCache::new(Duration::ZERO, store.clone()));
        let id = store.coupon.id;
        cache.get(id).await.unwrap().unwrap(); // the miss
        // Every entry is now stale. One caller refreshes (its read held in flight);
        // the others answer at once from the entry they have.
        let refresher = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get(id).await })
        };
        while store.reads.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        for _ in 0..500 {
            assert_eq!(cache.get(id).await.unwrap().unwrap().id, id);
        }
        assert_eq!(
            store.reads.load(Ordering::SeqCst),
            2,
            "one miss, one refresh"
        );
        store.permits.add_permits(1);
        refresher.await.unwrap().unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_refresh_abandoned_by_its_caller_is_taken_over() {
        let store = store();
        store.permits.add_permits(1);
        let cache = Arc::new(CouponCache::new(Duration::ZERO, store.clone()));
        let id = store.coupon.id;
        cache.get(id).await.unwrap().unwrap();
        let refresher = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get(id).await })
        };
        while store.reads.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        refresher.abort(); // the client went away mid-refresh
        let _ = refresher.await;
        store.permits.add_permits(1);
        cache.get(id).await.unwrap().unwrap();
        assert_eq!(
            store.reads.load(Ordering::SeqCst),
            3,
            "the next caller refreshed"
        );
    }
}

//! In-process cache of coupon definitions for the issue path: one store read per coupon
//! per TTL, whatever the concurrency.
//!
//! - A miss (first request for a coupon in this process) is one read in single flight:
//!   every concurrent caller waits for the same read.
//! - An entry past its TTL is refreshed in the background, started by exactly one caller,
//!   while every caller (that one included) keeps using the current entry: the expiry of
//!   a hot coupon's entry never sends the requests in flight to the store, and no
//!   request waits for it. If the refresh fails (or hangs on a database that is down),
//!   the stale entry is served and a later caller tries again, so a database outage
//!   does not stop issuing for the coupons this process knows.
//! - Changes made in this process are put in at once; other processes' changes arrive
//!   within the TTL.

use crate::coupon::Coupon;
use crate::error::StoreError;
use crate::ids::CouponId;
use crate::ports::{CouponStore, Spawner};
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
    spawner: Arc<dyn Spawner>,
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
/// task dropped at shutdown), so another caller can start one.
struct Refreshing(Arc<Entry>);

impl Drop for Refreshing {
    fn drop(&mut self) {
        self.0.refreshing.store(false, Ordering::Release);
    }
}

impl CouponCache {
    pub fn new(ttl: Duration, store: Arc<dyn CouponStore>, spawner: Arc<dyn Spawner>) -> Self {
        Self {
            inner: Arc::new(Inner {
                ttl,
                store,
                entries: RwLock::new(HashMap::new()),
                epoch: AtomicU64::new(0),
            }),
            misses: SingleFlight::new(),
            spawner,
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
        let refreshing = Refreshing(entry.clone());
        let inner = self.inner.clone();
        self.spawner.spawn(
            async move {
                if let Err(e) = inner.load(id).await {
                    tracing::warn!(%id, error = %e, "coupon refresh failed; serving the cached definition");
                }
                drop(refreshing);
            }
            .boxed(),
        );
        Ok(Some(entry.coupon.clone()))
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
    use futures::future::BoxFuture;
    use std::sync::atomic::AtomicUsize;
    use tokio::sync::Semaphore;

    struct TokioSpawner;

    impl Spawner for TokioSpawner {
        fn spawn(&self, work: BoxFuture<'static, ()>) {
            tokio::spawn(work);
        }
    }

    fn cache(ttl: Duration, store: Arc<SlowStore>) -> Arc<CouponCache> {
        Arc::new(CouponCache::new(ttl, store, Arc::new(TokioSpawner)))
    }

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
        async fn set_room_policy(
            &self,
            _: CouponId,
            _: crate::waiting_room::RoomPolicy,
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
        async fn list_coupons(
            &self,
            _: &crate::listing::CouponQuery,
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
                opens_at: None,
                status: CouponStatus::Active,
                room: Default::default(),
                created_at: now,
            },
            reads: AtomicUsize::new(0),
            permits: Semaphore::new(0),
        })
    }

    #[tokio::test]
    async fn concurrent_misses_cost_one_read() {
        let store = store();
        let cache = cache(Duration::from_secs(60), store.clone());
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
    async fn an_expired_entry_is_refreshed_once_and_nobody_waits_for_it() {
        let store = store();
        store.permits.add_permits(1);
        let cache = cache(Duration::ZERO, store.clone());
        let id = store.coupon.id;
        cache.get(id).await.unwrap().unwrap(); // the miss
        // Every entry is now stale. The first caller starts a refresh, whose read is
        // held in flight (a database that hangs), and answers from the entry at once;
        // so do all the others, and none starts a second read. (A refresh awaited by
        // its caller would hang here until the bound below.)
        for _ in 0..500 {
            let got = tokio::time::timeout(Duration::from_secs(10), cache.get(id))
                .await
                .expect("a lookup waited for the refresh");
            assert_eq!(got.unwrap().unwrap().id, id);
        }
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
        // Once the read returns, the next stale lookup may refresh again.
        store.permits.add_permits(1);
        while cache.inner.entries.read()[&id]
            .refreshing
            .load(Ordering::Acquire)
        {
            tokio::task::yield_now().await;
        }
        store.permits.add_permits(1);
        cache.get(id).await.unwrap().unwrap();
        while store.reads.load(Ordering::SeqCst) < 3 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_coupon_cached_before_its_opening_opens_without_a_read() {
        let mut store = store();
        let opens_at = chrono::Utc::now() + chrono::Duration::minutes(5);
        Arc::get_mut(&mut store).unwrap().coupon.opens_at = Some(opens_at);
        store.permits.add_permits(1);
        let cache = cache(Duration::from_secs(3600), store.clone());
        let id = store.coupon.id;
        let before = cache.get(id).await.unwrap().unwrap();
        assert!(
            before
                .ensure_issuable(opens_at - chrono::Duration::seconds(1))
                .is_err()
        );
        // The same entry, well within its TTL: the clock alone opens it.
        let after = cache.get(id).await.unwrap().unwrap();
        assert_eq!(after.ensure_issuable(opens_at), Ok(()));
        assert_eq!(store.reads.load(Ordering::SeqCst), 1, "no refresh needed");
    }
}

//! Single flight: many callers asking for the same slow thing at once share one
//! execution of it. At the opening second of an event thousands of requests find the
//! same cold coupon; without this each of them would read the store itself (measured
//! before: thousands of holder reads queued on an 8-connection pool, seconds of p95).
//!
//! The flight is a `Shared` future, polled by every caller that joined it, so it goes
//! on when the caller that started it goes away (a client that disconnects mid-rush
//! cannot strand the others), and it leaves the table as it finishes.

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Weak};

pub(crate) type Flight<T> = Shared<BoxFuture<'static, T>>;

pub(crate) struct SingleFlight<K, T: Clone> {
    flights: Mutex<HashMap<K, Flight<T>>>,
}

impl<K, T> SingleFlight<K, T>
where
    K: Hash + Eq + Copy + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            flights: Mutex::new(HashMap::new()),
        })
    }

    /// The flight in progress for `key`, or a new one running `start()` if there is
    /// none. `start` is called at most once per flight, under the table's lock, so it
    /// must only build the future, not poll it.
    pub(crate) fn join(
        self: &Arc<Self>,
        key: K,
        start: impl FnOnce() -> BoxFuture<'static, T>,
    ) -> Flight<T> {
        let mut flights = self.flights.lock();
        if let Some(flight) = flights.get(&key) {
            return flight.clone();
        }
        let table: Weak<Self> = Arc::downgrade(self);
        let work = start();
        let flight = async move {
            let out = work.await;
            if let Some(table) = table.upgrade() {
                table.flights.lock().remove(&key);
            }
            out
        }
        .boxed()
        .shared();
        flights.insert(key, flight.clone());
        flight
    }

    /// Whether a flight for `key` is in progress.
    #[cfg(test)]
    pub(crate) fn in_flight(&self, key: &K) -> bool {
        self.flights.lock().contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_callers_share_one_execution() {
        let table = SingleFlight::<u32, u32>::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, wait) = futures::channel::oneshot::channel::<()>();
        let wait = wait.shared();
        let mut joined = Vec::new();
        for _ in 0..100 {
            let runs = runs.clone();
            let wait = wait.clone();
            joined.push(table.join(7, move || {
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let _ = wait.await;
                    42
                }
                .boxed()
            }));
        }
        assert!(table.in_flight(&7));
        release.send(()).unwrap();
        for flight in joined {
            assert_eq!(flight.await, 42);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(!table.in_flight(&7), "a finished flight leaves the table");
    }

    #[tokio::test]
    async fn a_flight_goes_on_when_its_starter_is_dropped() {
        let table = SingleFlight::<u32, u32>::new();
        let (release, wait) = futures::channel::oneshot::channel::<()>();
        let starter = table.join(1, move || {
            async move {
                let _ = wait.await;
                5
            }
            .boxed()
        });
        let second = table.join(1, || async { 99 }.boxed());
        drop(starter);
        release.send(()).unwrap();
        assert_eq!(second.await, 5, "the second caller drives the first flight");
    }
}

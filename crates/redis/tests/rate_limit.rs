//! The shared rate limiter against the real Redis. Assertions count permits; none
//! depends on how fast the machine runs the test.

mod support;

use couponrush_domain::ports::RateLimiter;
use couponrush_redis::{RateLimit, RedisRateLimiter, SetupError};
use std::time::{Duration, Instant};

async fn limiter(prefix: &str, name: &str, rate: f64, burst: u32) -> RedisRateLimiter {
    RedisRateLimiter::connect(
        &support::url(),
        prefix,
        name,
        RateLimit::new(rate, burst).unwrap(),
    )
    .await
    .unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Shape {
    /// `try_acquire(1)`, sleeping as told when refused.
    Polling,
    /// `acquire(3)`: a consumer taking permits for a batch of three records.
    Booking,
}

/// Takes permits the given way until `run_for` has passed since `start`; returns how
/// many it got.
async fn hammer(l: RedisRateLimiter, shape: Shape, start: Instant, run_for: Duration) -> u64 {
    let mut got = 0;
    while start.elapsed() < run_for {
        match shape {
            Shape::Polling => match l.try_acquire(1).await.unwrap() {
                None => got += 1,
                Some(wait) => tokio::time::sleep(wait).await,
            },
            Shape::Booking => {
                l.acquire(3).await.unwrap();
                got += 3;
            }
        }
    }
    got
}

/// Two instances (two connections) per limiter name, both shapes at once: the permits
/// counted never exceed rate × elapsed + burst, and both instances get some.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_budget() {
    const RATE: f64 = 200.0;
    const BURST: u32 = 20;
    let prefix = support::prefix();
    let run_for = Duration::from_millis(1500);
    let start = Instant::now();
    let mut runs = Vec::new();
    for shape in [Shape::Polling, Shape::Booking] {
        let name = format!("{shape:?}");
        let a = limiter(&prefix, &name, RATE, BURST).await;
        let b = limiter(&prefix, &name, RATE, BURST).await;
        let counter = a.clone();
        let sides = [a, b].map(|l| tokio::spawn(hammer(l, shape, start, run_for)));
        runs.push((shape, counter, sides));
    }
    for (shape, counter, sides) in runs {
        let mut got = Vec::new();
        for side in sides {
            got.push(side.await.unwrap());
        }
        let elapsed = start.elapsed().as_secs_f64();
        let total: u64 = got.iter().sum();
        eprintln!("{shape:?}: {got:?} = {total} permits within {elapsed:.3}s");
        assert_eq!(counter.granted_total().await.unwrap(), total);
        let bound = RATE * elapsed + f64::from(BURST) + 2.0;
        assert!(
            (total as f64) <= bound,
            "{shape:?}: {total} permits in {elapsed:.3}s exceed rate {RATE}/s + burst {BURST}"
        );
        assert!(
            got.iter().all(|&n| n > 0),
            "{shape:?}: an instance got nothing: {got:?}"
        );
    }
    support::cleanup(&support::url(), &[prefix]).await;
}

#[tokio::test]
async fn a_fresh_limiter_grants_the_burst_then_asks_to_wait() {
    let prefix = support::prefix();
    // One permit per 10 s: no refill can happen while the test runs.
    let l = limiter(&prefix, "slow", 0.1, 3).await;
    for _ in 0..3 {
        assert_eq!(l.try_acquire(1).await.unwrap(), None);
    }
    let wait = l.try_acquire(1).await.unwrap().expect("the burst is spent");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(10),
        "{wait:?}"
    );
    assert_eq!(l.try_acquire(0).await.unwrap(), None);
    assert_eq!(l.granted_total().await.unwrap(), 3);
    support::cleanup(&support::url(), &[prefix]).await;
}

#[tokio::test]
async fn a_request_larger_than_the_burst_is_admitted_when_idle_and_charged_in_full() {
    let prefix = support::prefix();
    let l = limiter(&prefix, "big", 0.1, 5).await;
    assert_eq!(
        l.try_acquire(12).await.unwrap(),
        None,
        "an idle limiter admits it"
    );
    let wait = l.try_acquire(1).await.unwrap().expect("the excess is owed");
    // 12 permits charged against a burst of 5: the next one waits for 8 intervals
    // (80 s) minus whatever time passed, far more than one interval.
    assert!(wait > Duration::from_secs(60), "{wait:?}");
    assert!(l.try_acquire(12).await.unwrap().is_some());
    assert_eq!(l.granted_total().await.unwrap(), 12);
    support::cleanup(&support::url(), &[prefix]).await;
}

#[tokio::test]
async fn acquire_takes_a_large_request_in_burst_sized_chunks() {
    let prefix = support::prefix();
    // 50 permits at 1000/s with a burst of 10: ten granted at once, the rest in chunks
    // of at most ten as the budget refills.
    let l = limiter(&prefix, "chunks", 1000.0, 10).await;
    l.acquire(50).await.unwrap();
    assert_eq!(l.granted_total().await.unwrap(), 50);
    support::cleanup(&support::url(), &[prefix]).await;
}

#[tokio::test]
async fn nonsense_names_are_refused() {
    let limit = RateLimit::new(1.0, 1).unwrap();
    let refused = RedisRateLimiter::connect(&support::url(), "", "a}b", limit).await;
    assert!(matches!(refused, Err(SetupError::Invalid { .. })));
}

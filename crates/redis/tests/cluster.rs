//! The Redis adapters against a real Redis Cluster (three masters, started by
//! scripts/test-services): the same contract suites as on one server, plus the
//! multi-key steps that only a cluster can break (a script whose keys sat in two slots
//! would fail with CROSSSLOT). Keys of many coupons spread over the three masters.

mod support;

use couponrush_domain::ports::{AttemptLimiter, IdempotencyStore, IssueGate, RateLimiter};
use couponrush_domain::{CouponId, Quantity, UserId};
use couponrush_redis::{
    RateLimit, RedisAttemptLimiter, RedisGate, RedisIdempotency, RedisRateLimiter,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn cluster() -> String {
    couponrush_testenv::redis_cluster_url()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_honours_its_contract_on_a_cluster() {
    let url = cluster();
    couponrush_contracts::gate::run_all(|| {
        let url = url.clone();
        async move {
            Arc::new(RedisGate::connect(&url, &support::prefix()).await.unwrap())
                as Arc<dyn IssueGate>
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_honours_its_contract_on_a_cluster() {
    let url = cluster();
    couponrush_contracts::idempotency::run_all(|| {
        let url = url.clone();
        async move {
            let conn = couponrush_redis::connection(&url).await.unwrap();
            Arc::new(RedisIdempotency::new(conn, &support::prefix())) as Arc<dyn IdempotencyStore>
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attempt_limiter_honours_its_contract_on_a_cluster() {
    let url = cluster();
    couponrush_contracts::attempts::run_all(|policy| {
        let url = url.clone();
        async move {
            let conn = couponrush_redis::connection(&url).await.unwrap();
            Arc::new(RedisAttemptLimiter::new(conn, &support::prefix(), policy).unwrap())
                as Arc<dyn AttemptLimiter>
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_line_honours_its_contract_on_a_cluster() {
    let url = cluster();
    couponrush_contracts::waiting_line::run_all(|| {
        let url = url.clone();
        async move { support::line_under_test(&url, &support::prefix()).await }
    })
    .await;
}

/// A seed large enough to be staged in chunks (a second key beside stock and holders)
/// for coupons whose slots fall on every master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_seeds_and_holder_lists_work_on_every_master() {
    let gate = RedisGate::connect(&cluster(), &support::prefix())
        .await
        .unwrap();
    for _ in 0..6 {
        let coupon = CouponId::new();
        let holders: Vec<UserId> = (0..12_000).map(|_| UserId::new()).collect();
        gate.seed(coupon, Quantity::new(20_000).unwrap(), &holders)
            .await
            .unwrap();
        let stats = gate.stats(coupon).await.unwrap().expect("seeded");
        assert_eq!((stats.holders, stats.remaining), (12_000, 8_000));
        let listed = gate.list_holders(coupon).await.unwrap().expect("seeded");
        assert_eq!(listed.len(), 12_000);
        assert!(gate.is_holder(coupon, holders[11_999]).await.unwrap());
    }
}

/// Two limiter instances on the cluster share one budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limiter_shares_one_budget_on_a_cluster() {
    const RATE: f64 = 200.0;
    const BURST: u32 = 20;
    let prefix = support::prefix();
    let limit = RateLimit::new(RATE, BURST).unwrap();
    let a = RedisRateLimiter::connect(&cluster(), &prefix, "shared", limit)
        .await
        .unwrap();
    let b = RedisRateLimiter::connect(&cluster(), &prefix, "shared", limit)
        .await
        .unwrap();
    let start = Instant::now();
    let run_for = Duration::from_millis(1_000);
    let take = |l: RedisRateLimiter| async move {
        let mut got = 0u64;
        while start.elapsed() < run_for {
            match l.try_acquire(1).await.unwrap() {
                None => got += 1,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
        got
    };
    let (ga, gb) = tokio::join!(take(a.clone()), take(b));
    let elapsed = start.elapsed().as_secs_f64();
    let ceiling = RATE * elapsed + f64::from(BURST);
    assert!(ga > 0 && gb > 0, "both instances got permits: {ga} {gb}");
    assert!(
        ((ga + gb) as f64) <= ceiling,
        "{} permits in {elapsed:.2} s: above {ceiling}",
        ga + gb
    );
    assert_eq!(a.granted_total().await.unwrap(), ga + gb);
}

/// One node per period takes a lease, on a cluster too.
#[tokio::test]
async fn a_lease_has_one_holder_on_a_cluster() {
    let conn = couponrush_redis::connection(&cluster()).await.unwrap();
    let prefix = support::prefix();
    let ttl = Duration::from_secs(30);
    let first = couponrush_redis::lease::try_lease(&conn, &prefix, "job", "a", ttl).await;
    let second = couponrush_redis::lease::try_lease(&conn, &prefix, "job", "b", ttl).await;
    assert_eq!((first.unwrap(), second.unwrap()), (true, false));
}

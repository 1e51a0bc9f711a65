//! Scripts are called by SHA; a server that forgot them (SCRIPT FLUSH, a restart, a
//! failover) must not break the gate. These tests run on a private redis-server:
//! flushing the shared server's script cache would disturb other suites.

mod support;

use couponrush_domain::ports::{GateStats, IssueGate, RateLimiter, Reservation};
use couponrush_domain::{CouponId, Quantity, StoreError, UserId};
use couponrush_redis::{RateLimit, RedisGate, RedisRateLimiter};
use std::time::Duration;

async fn flush_scripts(url: &str) {
    let mut raw = support::raw(url).await;
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    let loaded: Vec<bool> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg("0000000000000000000000000000000000000000")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(loaded, vec![false]);
}

#[tokio::test]
async fn every_script_reloads_after_script_flush() {
    let server = couponrush_testenv::RedisProcess::start().await;
    let url = server.url();
    let gate = RedisGate::connect(&url, "").await.unwrap();
    let limiter = RedisRateLimiter::connect(&url, "", "flush", RateLimit::new(1000.0, 10).unwrap())
        .await
        .unwrap();
    let c = CouponId::new();
    let (a, b) = (UserId::new(), UserId::new());

    flush_scripts(&url).await;
    gate.seed(c, Quantity::new(2).unwrap(), &[]).await.unwrap();
    flush_scripts(&url).await;
    assert_eq!(gate.reserve(c, a).await.unwrap(), Reservation::Reserved);
    flush_scripts(&url).await;
    gate.release(c, a).await.unwrap();
    flush_scripts(&url).await;
    assert_eq!(limiter.try_acquire(1).await.unwrap(), None);

    assert_eq!(gate.reserve(c, b).await.unwrap(), Reservation::Reserved);
    assert_eq!(
        gate.stats(c).await.unwrap(),
        Some(GateStats {
            remaining: 1,
            holders: 1
        })
    );
}

#[tokio::test]
async fn the_gate_recovers_from_a_server_restart() {
    let mut server = couponrush_testenv::RedisProcess::start().await;
    let gate = RedisGate::connect(&server.url(), "").await.unwrap();
    let c = CouponId::new();
    let u = UserId::new();
    gate.seed(c, Quantity::new(5).unwrap(), &[]).await.unwrap();
    assert_eq!(gate.reserve(c, u).await.unwrap(), Reservation::Reserved);

    server.stop();
    assert!(matches!(
        gate.reserve(c, UserId::new()).await,
        Err(StoreError::Unavailable(_))
    ));

    // An empty server comes back: the connection reconnects, the scripts are gone and
    // so is the coupon, which asks to be seeded again.
    server.restart().await;
    let mut answer = gate.reserve(c, u).await;
    for _ in 0..100 {
        if answer.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        answer = gate.reserve(c, u).await;
    }
    assert_eq!(answer.unwrap(), Reservation::NotSeeded);
    gate.seed(c, Quantity::new(5).unwrap(), &[u]).await.unwrap();
    assert_eq!(
        gate.reserve(c, u).await.unwrap(),
        Reservation::AlreadyIssued
    );
}

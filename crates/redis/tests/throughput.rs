//! A figure, not a check: reserve calls per second through one `RedisGate` (one
//! multiplexed connection) with 512 concurrent callers, every call taking a unit, user
//! ids random (v4) like real users'. Ignored by default; run in release:
//! `cargo test --release -p couponrush-redis --test throughput -- --ignored --nocapture`

mod support;

use couponrush_domain::ports::{IssueGate, Reservation};
use couponrush_domain::{CouponId, Quantity, UserId};
use couponrush_redis::RedisGate;
use std::time::Instant;

const CALLERS: usize = 512;
const CALLS_EACH: usize = 600;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run explicitly, in release"]
async fn reserve_calls_per_second_with_512_callers() {
    let prefix = support::prefix();
    let gate = RedisGate::connect(&support::url(), &prefix).await.unwrap();
    let c = CouponId::new();
    let stock = (CALLERS * (CALLS_EACH + 1)) as u64;
    gate.seed(c, Quantity::new(stock).unwrap(), &[])
        .await
        .unwrap();

    let run = |calls: usize| {
        let tasks = (0..CALLERS).map(|_| {
            let gate = gate.clone();
            tokio::spawn(async move {
                for _ in 0..calls {
                    let user = UserId::from_uuid(uuid::Uuid::new_v4());
                    let r = gate.reserve(c, user).await.unwrap();
                    assert_eq!(r, Reservation::Reserved);
                }
            })
        });
        futures::future::join_all(tasks)
    };
    run(1).await; // connections warm, scripts cached
    let start = Instant::now();
    run(CALLS_EACH).await;
    let elapsed = start.elapsed().as_secs_f64();
    let calls = (CALLERS * CALLS_EACH) as f64;
    eprintln!(
        "reserve: {calls} calls by {CALLERS} concurrent callers in {elapsed:.2}s = {:.0} calls/s",
        calls / elapsed
    );
    assert_eq!(gate.stats(c).await.unwrap().unwrap().remaining, 0);
    support::cleanup(&support::url(), &[prefix]).await;
}

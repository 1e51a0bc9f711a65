//! Redis loses a deployment's data in the middle of an event while the consumers, held
//! back by the global rate limit, still have accepted records to persist (the seed's
//! own situation: Kafka holding a backlog). The gate must not be rebuilt from the
//! database until those records are in it, or their units are promised again: more
//! users told ACCEPTED than there are coupons, and the extra ones end as failed events.
//!
//! The loss is the deletion of every key of this deployment's prefix (a FLUSHALL would
//! also wipe the other tests sharing the server; for this deployment it is the same).

use couponrush_testkit::Distributed;
use reqwest::StatusCode;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use uuid::Uuid;

const QUANTITY: u64 = 300;
const FIRST_WAVE: usize = 200;
const SECOND_WAVE: usize = 300;

async fn lose_every_key(redis_url: &str, prefix: &str) -> usize {
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    for key in &keys {
        let _: () = redis::cmd("DEL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    keys.len()
}

/// Asks until the answer is definite: 503 means "not now" (the gate is being rebuilt).
async fn issue_until_definite(
    app: &couponrush_testkit::TestApp,
    token: &str,
    coupon: Uuid,
) -> (String, u32) {
    let mut unavailable = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = app.issue(token, coupon).await;
        if r.status != StatusCode::SERVICE_UNAVAILABLE {
            return (r.str("result").to_owned(), unavailable);
        }
        assert_eq!(r.code(), "ISSUE_UNAVAILABLE", "{:?}", r.body);
        unavailable += 1;
        assert!(Instant::now() < deadline, "still unavailable after 120 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_losing_the_gate_with_a_consumer_backlog_promises_no_unit_twice() {
    let stack = Distributed::spawn(|c| {
        // ~5 s of backlog for the first wave: longer than the produce timeout the drain
        // waits out first, so it also has to wait for the consumers' commits.
        c.rate_limit_per_sec = 40;
        c.rate_limit_burst = 10;
        c.consumer_batch_max_records = 10;
        c.kafka_produce_timeout_ms = 3_000;
        c.gate_seed_wait_ms = 300;
    })
    .await;
    let app = &stack.api;
    let coupon = app.active_coupon(QUANTITY).await;

    let first: Vec<_> = (0..FIRST_WAVE).map(|_| app.mint_user()).collect();
    let answers = futures::future::join_all(first.iter().map(|(_, t)| app.issue(t, coupon))).await;
    assert!(
        answers.iter().all(|r| r.str("result") == "ACCEPTED"),
        "the first wave is accepted: {:?}",
        answers.iter().find(|r| r.str("result") != "ACCEPTED")
    );
    let consumer = stack.start_consumer().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = stack.persisted_holders(coupon).await.len();
    assert!(
        before < FIRST_WAVE,
        "the loss must come while accepted records are still in the log ({before} persisted)"
    );
    let dropped = lose_every_key(&stack.config.redis_url, &stack.config.redis_key_prefix).await;
    assert!(
        dropped >= 2,
        "the gate's keys were there to lose ({dropped} keys)"
    );

    let second: Vec<_> = (0..SECOND_WAVE).map(|_| app.mint_user()).collect();
    let outcomes = futures::future::join_all(
        second
            .iter()
            .map(|(_, t)| issue_until_definite(app, t, coupon)),
    )
    .await;
    let closed = outcomes
        .iter()
        .filter(|(_, unavailable)| *unavailable > 0)
        .count();
    let mut accepted: Vec<Uuid> = first.iter().map(|(u, _)| u.into_uuid()).collect();
    for ((user, _), (result, _)) in second.iter().zip(&outcomes) {
        match result.as_str() {
            "ACCEPTED" => accepted.push(user.into_uuid()),
            "SOLD_OUT" => {}
            other => panic!("unexpected answer {other} for a fresh user"),
        }
    }

    let persisted = stack
        .wait_persisted(coupon, QUANTITY, Duration::from_secs(60))
        .await;
    let rows: HashSet<Uuid> = stack.persisted_holders(coupon).await.into_iter().collect();
    let lost: Vec<&Uuid> = accepted.iter().filter(|u| !rows.contains(u)).collect();
    let db = stack.db().await;
    let (failed,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM coupon_issue_failed_events")
        .fetch_one(&db)
        .await
        .unwrap();
    db.close().await;
    assert!(
        accepted.len() as u64 <= QUANTITY,
        "{} users told ACCEPTED for {QUANTITY} coupons ({closed} of the second wave were told to wait first)",
        accepted.len()
    );
    assert!(lost.is_empty(), "{} ACCEPTED but never issued", lost.len());
    assert_eq!(failed, 0, "no accepted record may end as a failed event");
    assert_eq!(
        persisted, QUANTITY,
        "demand exceeded stock: all of it is issued"
    );
    assert_eq!(rows.len() as u64, QUANTITY);
    assert!(closed > 0, "the coupon was closed while the log drained");
    consumer.stop().await;
    stack.api.stop().await;
}

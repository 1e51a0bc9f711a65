//! Distributed mode end to end: api → Redis gate → Kafka → consumer → MariaDB.

use couponrush_testkit::Distributed;
use reqwest::StatusCode;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// 3,000 users × 2 concurrent requests for 500 coupons: exactly 500 ACCEPTED, and after
/// the consumer drains, exactly those 500 rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rush_through_the_log_persists_exactly_the_accepted() {
    rush_persists_exactly_the_accepted(Distributed::spawn(|_| {}).await).await;
}

/// The same rush with the gate, the rate limiter and the idempotency keys on a Redis
/// Cluster of three masters (scripts/test-services).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rush_on_a_redis_cluster_persists_exactly_the_accepted() {
    let stack =
        Distributed::spawn(|c| c.redis_url = couponrush_testkit::env::redis_cluster_url()).await;
    rush_persists_exactly_the_accepted(stack).await;
}

async fn rush_persists_exactly_the_accepted(stack: Distributed) {
    let consumer = stack.start_consumer().await;
    let app = &stack.api;
    let coupon = app.active_coupon(500).await;
    let users: Vec<_> = (0..3000).map(|_| app.mint_user()).collect();

    let requests = users
        .iter()
        .chain(users.iter())
        .map(|(id, token)| async move { (*id, token.clone(), app.issue(token, coupon).await) });
    let answers = futures::future::join_all(requests).await;

    let mut accepted = HashMap::new();
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for (user, token, reply) in answers {
        match reply.str("result") {
            "ACCEPTED" => {
                assert_eq!(reply.status, StatusCode::ACCEPTED);
                assert!(
                    accepted.insert(*user.as_uuid(), token).is_none(),
                    "user {user} ACCEPTED twice"
                );
            }
            "SOLD_OUT" | "ALREADY_ISSUED" => assert_eq!(reply.status, StatusCode::OK),
            _ => panic!("unexpected answer {:?} {:?}", reply.status, reply.body),
        }
        *outcomes.entry(reply.str("result").to_owned()).or_default() += 1;
    }
    assert_eq!(accepted.len(), 500, "{outcomes:?}");

    assert_eq!(
        stack
            .wait_persisted(coupon, 500, Duration::from_secs(60))
            .await,
        500
    );
    let rows = stack.persisted_holders(coupon).await;
    assert_eq!(rows.len(), 500);
    let rows: HashSet<_> = rows.into_iter().collect();
    assert_eq!(
        rows,
        accepted.keys().copied().collect::<HashSet<_>>(),
        "persisted users are exactly the ACCEPTED ones"
    );
    assert_eq!(stack.issued_count(coupon).await, 500);

    // Every ACCEPTED user now sees ISSUED and finds the coupon in their list.
    for token in accepted.values().take(50) {
        assert_eq!(app.issue_state(token, coupon).await.str("state"), "ISSUED");
        assert_eq!(
            app.my_coupons(token).await.body.as_array().map(Vec::len),
            Some(1)
        );
    }
    consumer.stop().await;
    stack.api.stop().await;
}

/// Before the consumer has run, an ACCEPTED request is visible as ACCEPTED (in the gate,
/// in the log, not yet in the database); after it runs, as ISSUED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_state_moves_from_accepted_to_issued() {
    let stack = Distributed::spawn(|_| {}).await;
    let app = &stack.api;
    let coupon = app.active_coupon(5).await;
    let (_, token) = app.mint_user();
    assert_eq!(app.issue(&token, coupon).await.str("result"), "ACCEPTED");
    assert_eq!(
        app.issue_state(&token, coupon).await.str("state"),
        "ACCEPTED"
    );
    assert_eq!(
        app.issue(&token, coupon).await.str("result"),
        "ALREADY_ISSUED"
    );

    let consumer = stack.start_consumer().await;
    assert_eq!(
        stack
            .wait_persisted(coupon, 1, Duration::from_secs(30))
            .await,
        1
    );
    assert_eq!(app.issue_state(&token, coupon).await.str("state"), "ISSUED");
    assert_eq!(app.use_coupon(&token, coupon).await.status, StatusCode::OK);
    consumer.stop().await;
    stack.api.stop().await;
}

//! The database freezes in the middle of an event (SIGSTOP of a private MariaDB: every
//! connection and handshake hangs, as with a host stuck or a failover in progress). The
//! issue path of distributed mode needs only Redis and Kafka: an api node must keep
//! answering for a coupon it knows, even past its coupon-cache TTL, and the consumers
//! must catch up once the database runs again, losing nothing.

use couponrush_testkit::Distributed;
use couponrush_testkit::env::MariadbProcess;
use reqwest::StatusCode;
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_database_does_not_stop_issuing_and_loses_nothing() {
    let db = MariadbProcess::start().await;
    let url = db.database("couponrush").await;
    let stack = Distributed::spawn(|c| {
        c.database_url = url;
        // Several refreshes of the coupon's cache entry fall inside the outage.
        c.coupon_cache_ttl_ms = 100;
    })
    .await;
    let consumer = stack.start_consumer().await;
    let app = &stack.api;
    let coupon = app.active_coupon(300).await;
    let before: Vec<_> = (0..50).map(|_| app.mint_user()).collect();
    for (_, token) in &before {
        assert_eq!(app.issue(token, coupon).await.str("result"), "ACCEPTED");
    }
    assert_eq!(
        stack
            .wait_persisted(coupon, 50, Duration::from_secs(60))
            .await,
        50
    );

    db.pause();
    // Past the cache TTL: the next lookups find a stale entry and start refreshes that
    // hang on the frozen database.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during: Vec<_> = (0..200).map(|_| app.mint_user()).collect();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let mut answers = Vec::new();
    for wave in during.chunks(50) {
        let sent = wave.iter().map(|(_, token)| {
            client
                .post(format!("{}/api/coupons/{coupon}/issue", app.base))
                .bearer_auth(token)
                .send()
        });
        for answer in futures::future::join_all(sent).await {
            let answer = answer.expect("an answer while the database is frozen");
            let status = answer.status();
            let body: serde_json::Value = answer.json().await.unwrap();
            answers.push((status, body));
        }
        tokio::time::sleep(Duration::from_millis(150)).await; // more TTL expiries
    }
    // A load balancer keeps the node: it still issues, and says what is down.
    let ready = app.call(reqwest::Method::GET, "/ready", None, None).await;
    db.resume();
    assert_eq!(
        (
            ready.status,
            ready.str("status"),
            ready.body["checks"]["db"].as_str()
        ),
        (StatusCode::OK, "degraded", Some("down")),
        "{:?}",
        ready.body
    );
    assert_eq!(ready.body["checks"]["redis"], "up");

    for (status, body) in &answers {
        assert_eq!(
            (*status, body["result"].as_str()),
            (StatusCode::ACCEPTED, Some("ACCEPTED")),
            "issuing needs no database: {body}"
        );
    }
    let persisted = stack
        .wait_persisted(coupon, 250, Duration::from_secs(120))
        .await;
    assert_eq!(persisted, 250, "the consumers caught up");
    let rows: HashSet<Uuid> = stack.persisted_holders(coupon).await.into_iter().collect();
    for (user, _) in before.iter().chain(&during) {
        assert!(rows.contains(&user.into_uuid()), "ACCEPTED but not issued");
    }
    consumer.stop().await;
    stack.api.stop().await;
}

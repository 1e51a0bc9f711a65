//! Reconciliation gives back the units of users the gate holds with no record anywhere
//! (as an api node killed between the gate step and the append leaves them), and never
//! one whose record is still on its way through a throttled consumer, nor one whose
//! record waits as a failed event for its replay.

use couponrush_domain::ports::IssueGate;
use couponrush_domain::{CouponId, UserId};
use couponrush_redis::RedisGate;
use couponrush_testkit::Distributed;
use reqwest::{Method, StatusCode};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stranded_units_come_back_and_records_in_flight_are_kept() {
    let stack = Distributed::spawn(|c| {
        // The accepted records are still in the log when reconciliation begins.
        c.rate_limit_per_sec = 10;
        c.rate_limit_burst = 2;
        c.consumer_batch_max_records = 2;
        c.kafka_produce_timeout_ms = 2_000;
    })
    .await;
    let consumer = stack.start_consumer().await;
    let app = &stack.api;
    let coupon = app.active_coupon(10).await;
    let accepted: Vec<_> = (0..6).map(|_| app.mint_user()).collect();
    for (_, token) in &accepted {
        assert_eq!(app.issue(token, coupon).await.str("result"), "ACCEPTED");
    }
    // Two reservations whose api node died before appending: holders, no record.
    let gate = RedisGate::connect(&stack.config.redis_url, &stack.config.redis_key_prefix)
        .await
        .unwrap();
    let stranded: Vec<UserId> = (0..2).map(|_| UserId::new()).collect();
    for &u in &stranded {
        gate.reserve(CouponId::from_uuid(coupon), u).await.unwrap();
    }
    assert_eq!(app.gate_stock(coupon).await, (Some(8), Some(2)));
    let in_log = 6 - stack.persisted_holders(coupon).await.len();
    assert!(in_log > 0, "some accepted records must still be in the log");

    let id = CouponId::from_uuid(coupon);
    let dry = couponrush_cli::reconcile::run(&stack.config, Some(id), true)
        .await
        .unwrap();
    assert_eq!(dry.len(), 1);
    let stranded_found: HashSet<UserId> = dry[0].stranded.iter().copied().collect();
    assert_eq!(
        stranded_found,
        stranded.iter().copied().collect::<HashSet<_>>()
    );
    assert_eq!(dry[0].returned, 0, "a dry run changes nothing");
    assert_eq!(
        dry[0].persisted, 6,
        "the drain waited for every accepted record"
    );
    assert!(
        dry[0].in_flight > 0,
        "records arrived while the log drained"
    );
    assert_eq!(app.gate_stock(coupon).await, (Some(8), Some(2)));

    let applied = couponrush_cli::reconcile::run(&stack.config, Some(id), false)
        .await
        .unwrap();
    assert_eq!(applied[0].returned, 2);
    assert_eq!(
        app.gate_stock(coupon).await,
        (Some(6), Some(4)),
        "the two stranded units are back; the six accepted keep theirs"
    );
    let rows: HashSet<Uuid> = stack.persisted_holders(coupon).await.into_iter().collect();
    for (user, _) in &accepted {
        assert!(rows.contains(&user.into_uuid()));
    }
    // The stock given back is sold: four more users, then SOLD_OUT.
    for _ in 0..4 {
        let (_, token) = app.mint_user();
        assert_eq!(app.issue(&token, coupon).await.str("result"), "ACCEPTED");
    }
    let (_, late) = app.mint_user();
    assert_eq!(app.issue(&late, coupon).await.str("result"), "SOLD_OUT");
    assert_eq!(
        stack
            .wait_persisted(coupon, 10, Duration::from_secs(60))
            .await,
        10
    );
    consumer.stop().await;
    stack.api.stop().await;
}

/// Api nodes reconcile by themselves every `reconcile_interval_secs`, and say so in
/// their metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_nodes_give_stranded_units_back_by_themselves() {
    let stack = Distributed::spawn(|c| {
        c.reconcile_interval_secs = 1;
        c.kafka_produce_timeout_ms = 1_000;
    })
    .await;
    let consumer = stack.start_consumer().await;
    let app = &stack.api;
    let coupon = app.active_coupon(5).await;
    let (_, token) = app.mint_user();
    assert_eq!(app.issue(&token, coupon).await.str("result"), "ACCEPTED");
    let gate = RedisGate::connect(&stack.config.redis_url, &stack.config.redis_key_prefix)
        .await
        .unwrap();
    for _ in 0..3 {
        gate.reserve(CouponId::from_uuid(coupon), UserId::new())
            .await
            .unwrap();
    }
    assert_eq!(app.gate_stock(coupon).await, (Some(4), Some(1)));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while app.gate_stock(coupon).await != (Some(1), Some(4)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no pass gave the three units back: {:?}",
            app.gate_stock(coupon).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let returned = app
        .metrics()
        .await
        .sum("couponrush_reconcile_returned_total", &[]);
    assert_eq!(returned, 3.0);
    assert_eq!(stack.persisted_holders(coupon).await.len(), 1);
    consumer.stop().await;
    stack.api.stop().await;
}

/// A record no consumer could persist ends as a failed event; its user was answered
/// ACCEPTED, so reconciliation keeps ("parks") their unit while giving back a truly
/// stranded one, the rest of the stock is sold, and the replay then issues the coupon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_event_keeps_its_unit_until_the_replay_issues_it() {
    let stack = Distributed::spawn(|c| c.kafka_produce_timeout_ms = 2_000).await;
    let consumer = stack.start_consumer().await;
    let app = &stack.api;
    let coupon = app.active_coupon(3).await;
    let id = CouponId::from_uuid(coupon);
    let db = stack.db().await;
    let set_issued_count = |n: u32| {
        sqlx::query("UPDATE coupons SET issued_count = ? WHERE id = ?")
            .bind(n)
            .bind(coupon)
            .execute(&db)
    };
    // A count that says the coupon is full: the database guard refuses its next row,
    // through every retry and the dead-letter consumer's try.
    set_issued_count(3).await.unwrap();
    let (parked, token) = app.mint_user();
    assert_eq!(app.issue(&token, coupon).await.str("result"), "ACCEPTED");
    let event = failed_event_of(app, parked).await;
    assert_eq!(event["status"], "FAILED");
    // The operator fixes the cause; nobody has replayed the event yet.
    set_issued_count(0).await.unwrap();
    db.close().await;
    // Beside it, a holder with no record at all.
    let gate = RedisGate::connect(&stack.config.redis_url, &stack.config.redis_key_prefix)
        .await
        .unwrap();
    let stranded = UserId::new();
    gate.reserve(id, stranded).await.unwrap();
    assert_eq!(app.gate_stock(coupon).await, (Some(2), Some(1)));

    let reports = couponrush_cli::reconcile::run(&stack.config, Some(id), false)
        .await
        .unwrap();
    assert_eq!(reports[0].parked, vec![parked], "{reports:?}");
    assert_eq!(reports[0].stranded, vec![stranded], "{reports:?}");
    assert_eq!(reports[0].returned, 1);
    assert_eq!(
        app.gate_stock(coupon).await,
        (Some(1), Some(2)),
        "the stranded unit is back; the ACCEPTED user whose record failed keeps theirs"
    );
    assert_eq!(
        app.issue_state(&token, coupon).await.str("state"),
        "ACCEPTED"
    );

    // The rest of the stock is sold, and no one gets the parked unit.
    for _ in 0..2 {
        let (_, token) = app.mint_user();
        assert_eq!(app.issue(&token, coupon).await.str("result"), "ACCEPTED");
    }
    let (_, late) = app.mint_user();
    assert_eq!(app.issue(&late, coupon).await.str("result"), "SOLD_OUT");
    assert_eq!(
        stack
            .wait_persisted(coupon, 2, Duration::from_secs(60))
            .await,
        2
    );

    let replayed = replay(app, &event).await;
    assert_eq!(
        (replayed.status, replayed.str("status")),
        (StatusCode::OK, "REPLAYED"),
        "the unit was kept, so the database guard takes the replay: {:?}",
        replayed.body
    );
    assert!(
        stack
            .persisted_holders(coupon)
            .await
            .contains(&parked.into_uuid())
    );
    assert_eq!(stack.issued_count(coupon).await, 3);
    assert_eq!(app.issue_state(&token, coupon).await.str("state"), "ISSUED");

    // Converged: every holder has its row, nothing is parked or stranded any more.
    let after = couponrush_cli::reconcile::run(&stack.config, Some(id), false)
        .await
        .unwrap();
    assert_eq!(
        (
            after[0].held_in_gate,
            after[0].persisted,
            after[0].parked.len(),
            after[0].stranded.len()
        ),
        (Some(3), 3, 0, 0),
        "{after:?}"
    );
    assert_eq!(app.gate_stock(coupon).await, (Some(3), Some(0)));
    consumer.stop().await;
    stack.api.stop().await;
}

/// Waits (bounded) for the failed event of `user`'s record.
/// An admin replays the failed event.
async fn replay(
    app: &couponrush_testkit::TestApp,
    event: &serde_json::Value,
) -> couponrush_testkit::Reply {
    let path = format!(
        "/api/admin/failed-events/{}/replay",
        event["id"].as_str().unwrap()
    );
    app.call(Method::POST, &path, Some(&app.admin_token), None)
        .await
}

async fn failed_event_of(app: &couponrush_testkit::TestApp, user: UserId) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = app.failed_events().await;
        assert_eq!(r.status, StatusCode::OK);
        let found = r.body.as_array().unwrap().iter().find(|e| {
            e["payload"]
                .as_str()
                .is_some_and(|p| p.contains(&user.to_string()))
        });
        if let Some(event) = found {
            return event.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed event for {user}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Redis loses the gate while a failed event waits for its replay: the gate is rebuilt
/// from the rows *and* the parked users, so the parked unit is not sold again and the
/// replay still finds room. Rebuilt from the rows alone, a second fresh user would be
/// told ACCEPTED for the parked unit and the replay would be refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_rebuilt_after_redis_lost_it_keeps_the_parked_units() {
    let stack = Distributed::spawn(|c| {
        c.kafka_produce_timeout_ms = 2_000;
        c.gate_seed_wait_ms = 300;
    })
    .await;
    let consumer = stack.start_consumer().await;
    let app = &stack.api;
    let coupon = app.active_coupon(2).await;
    let db = stack.db().await;
    let set_issued_count = |n: u32| {
        sqlx::query("UPDATE coupons SET issued_count = ? WHERE id = ?")
            .bind(n)
            .bind(coupon)
            .execute(&db)
    };
    set_issued_count(2).await.unwrap();
    let (parked, token) = app.mint_user();
    assert_eq!(app.issue(&token, coupon).await.str("result"), "ACCEPTED");
    let event = failed_event_of(app, parked).await;
    set_issued_count(0).await.unwrap();
    db.close().await;

    let client = redis::Client::open(stack.config.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
        .arg(format!("{}*", stack.config.redis_key_prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!keys.is_empty(), "the gate's keys were there to lose");
    for key in &keys {
        let _: () = redis::cmd("DEL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
    }

    let mut answers = Vec::new();
    for _ in 0..2 {
        let (_, fresh) = app.mint_user();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let answer = loop {
            let r = app.issue(&fresh, coupon).await;
            if r.status != StatusCode::SERVICE_UNAVAILABLE {
                break r.str("result").to_owned();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the gate was never rebuilt"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        answers.push(answer);
    }
    assert_eq!(
        answers,
        ["ACCEPTED", "SOLD_OUT"],
        "one unit is parked for the failed event's user"
    );
    assert_eq!(
        app.issue(&token, coupon).await.str("result"),
        "ALREADY_ISSUED"
    );

    let replayed = replay(app, &event).await;
    assert_eq!(
        (replayed.status, replayed.str("status")),
        (StatusCode::OK, "REPLAYED"),
        "{:?}",
        replayed.body
    );
    assert_eq!(
        stack
            .wait_persisted(coupon, 2, Duration::from_secs(60))
            .await,
        2
    );
    consumer.stop().await;
    stack.api.stop().await;
}

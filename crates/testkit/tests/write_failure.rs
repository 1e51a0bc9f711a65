//! A failing database write must not turn into a lost ACCEPTED: the caller gets 503,
//! the gate gives the unit back, and the same user succeeds once the database heals.
//! The fault is real: a trigger that makes SQLite refuse inserts, as a full disk or a
//! broken file would.

use couponrush_testkit::{ALLOW_ISSUE_INSERTS, REFUSE_ISSUE_INSERTS, TestApp};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_commit_answers_503_and_releases_the_reservation() {
    let app = TestApp::spawn().await;
    let coupon = app.active_coupon(1).await;
    let (_, user) = app.mint_user();

    let db = app.refuse_issue_inserts().await;

    let failed = app.issue(&user, coupon).await;
    assert_eq!(
        (failed.status, failed.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "ISSUE_UNAVAILABLE"),
        "{:?}",
        failed.body
    );
    assert_eq!(app.issue_state(&user, coupon).await.str("state"), "NONE");
    assert_eq!(app.gate_stock(coupon).await, (Some(0), Some(1)));
    assert_eq!(
        app.coupon_stats(coupon).await.body["persisted"].as_u64(),
        Some(0)
    );

    sqlx::query(ALLOW_ISSUE_INSERTS).execute(&db).await.unwrap();
    db.close().await;

    let retried = app.issue(&user, coupon).await;
    assert_eq!(
        (retried.status, retried.str("result")),
        (StatusCode::ACCEPTED, "ACCEPTED")
    );
    assert_eq!(app.persisted_holders(coupon).await.len(), 1);
    let (_, other) = app.mint_user();
    assert_eq!(app.issue(&other, coupon).await.str("result"), "SOLD_OUT");
    app.stop().await;
}

/// The client gives up (its connection closes) while its commit is held up, and the
/// commit then fails: the unit must still be given back, although nobody is left to
/// hear the 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_commit_after_the_client_left_still_releases_the_reservation() {
    let app = TestApp::spawn().await;
    let coupon = app.active_coupon(1).await;
    let (_, user) = app.mint_user();

    // Hold the write lock, so the writer waits (up to its busy timeout) for it, and
    // make the insert fail once the lock is given up.
    let db = app.db().await;
    let mut lock = db.acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *lock)
        .await
        .unwrap();
    sqlx::query(REFUSE_ISSUE_INSERTS)
        .execute(&mut *lock)
        .await
        .unwrap();

    let impatient = reqwest::Client::new()
        .post(format!("{}/api/coupons/{coupon}/issue", app.base))
        .bearer_auth(&user)
        .timeout(std::time::Duration::from_millis(500))
        .send()
        .await;
    assert!(
        impatient.is_err(),
        "the commit is held up, so the client gives up: {impatient:?}"
    );
    assert_eq!(
        app.gate_stock(coupon).await,
        (Some(1), Some(0)),
        "reserved while the commit waits"
    );
    // Let the server notice the closed connection before the commit fails.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    sqlx::query("COMMIT").execute(&mut *lock).await.unwrap();

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while app.gate_stock(coupon).await != (Some(0), Some(1)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the unit was never given back: {:?}",
            app.gate_stock(coupon).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(app.issue_state(&user, coupon).await.str("state"), "NONE");

    sqlx::query(ALLOW_ISSUE_INSERTS)
        .execute(&mut *lock)
        .await
        .unwrap();
    drop(lock);
    db.close().await;
    let (_, other) = app.mint_user();
    assert_eq!(app.issue(&other, coupon).await.str("result"), "ACCEPTED");
    app.stop().await;
}

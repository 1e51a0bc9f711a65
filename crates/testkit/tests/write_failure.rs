//! A failing database write must not turn into a lost ACCEPTED: the caller gets 503,
//! the gate gives the unit back, and the same user succeeds once the database heals.
//! The fault is real: a trigger that makes SQLite refuse inserts, as a full disk or a
//! broken file would.

use couponrush_testkit::TestApp;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_commit_answers_503_and_releases_the_reservation() {
    let app = TestApp::spawn().await;
    let coupon = app.active_coupon(1).await;
    let (_, user) = app.mint_user();

    let db = app.db().await;
    sqlx::query(
        "CREATE TRIGGER refuse_issue BEFORE INSERT ON issued_coupons \
         BEGIN SELECT RAISE(ABORT, 'disk says no'); END",
    )
    .execute(&db)
    .await
    .unwrap();

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

    sqlx::query("DROP TRIGGER refuse_issue")
        .execute(&db)
        .await
        .unwrap();
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

//! `Idempotency-Key` on the issue request, in both modes: a retry with the same key
//! gets the first answer again (marked `Idempotent-Replayed: true`) without a second
//! attempt; a retry while the first is still running gets 409; a key used for another
//! coupon gets 422; a malformed key 400.

use couponrush_testkit::{Distributed, Reply, TestApp};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use uuid::Uuid;

async fn issue_with_key(app: &TestApp, token: &str, coupon: Uuid, key: &str) -> (Reply, HeaderMap) {
    app.call_with(
        Method::POST,
        &format!("/api/coupons/{coupon}/issue"),
        Some(token),
        None,
        &[("Idempotency-Key", key)],
    )
    .await
}

fn replayed(headers: &HeaderMap) -> bool {
    headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

/// Replay, other coupon, malformed key: the same in both modes.
async fn replays_and_refusals(app: &TestApp) {
    let coupon = app.active_coupon(1).await;
    let (_, token) = app.mint_user();
    let (first, headers) = issue_with_key(app, &token, coupon, "press-1").await;
    assert_eq!(
        (first.status, first.str("result")),
        (StatusCode::ACCEPTED, "ACCEPTED")
    );
    assert!(!replayed(&headers));
    let (again, headers) = issue_with_key(app, &token, coupon, "press-1").await;
    assert_eq!(
        (again.status, again.str("result")),
        (StatusCode::ACCEPTED, "ACCEPTED"),
        "the first answer again, not ALREADY_ISSUED"
    );
    assert!(replayed(&headers));
    // A new key is a new attempt: the user holds the coupon already.
    let (fresh, headers) = issue_with_key(app, &token, coupon, "press-2").await;
    assert_eq!(fresh.str("result"), "ALREADY_ISSUED");
    assert!(!replayed(&headers));
    assert_eq!(
        app.gate_stock(coupon).await,
        (Some(1), Some(0)),
        "one unit taken"
    );

    // The stock is gone; a second user's answer is kept as SOLD_OUT.
    let (_, other) = app.mint_user();
    let (sold_out, _) = issue_with_key(app, &other, coupon, "press-1").await;
    assert_eq!(sold_out.str("result"), "SOLD_OUT");
    let (again, headers) = issue_with_key(app, &other, coupon, "press-1").await;
    assert_eq!(again.str("result"), "SOLD_OUT");
    assert!(replayed(&headers));

    let elsewhere = app.active_coupon(5).await;
    let (reused, _) = issue_with_key(app, &token, elsewhere, "press-1").await;
    assert_eq!(
        (reused.status, reused.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED"),
        "{:?}",
        reused.body
    );
    assert_eq!(
        app.gate_stock(elsewhere).await,
        (Some(0), Some(5)),
        "nothing reserved"
    );

    for bad in ["two words", &"k".repeat(256)] {
        let (refused, _) = issue_with_key(app, &token, coupon, bad).await;
        assert_eq!(
            (refused.status, refused.code(), refused.str("field")),
            (
                StatusCode::BAD_REQUEST,
                "VALIDATION_FAILED",
                "Idempotency-Key"
            ),
            "{bad:?}: {:?}",
            refused.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_replays_the_first_answer_and_refuses_misuse() {
    let app = TestApp::spawn().await;
    replays_and_refusals(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_replays_the_first_answer_and_refuses_misuse() {
    let stack = Distributed::spawn(|_| {}).await;
    let consumer = stack.start_consumer().await;
    replays_and_refusals(&stack.api).await;
    consumer.stop().await;
    stack.api.stop().await;
}

/// The first request is held in its commit (a test connection holds the write lock):
/// a retry with its key gets 409 with Retry-After instead of a second attempt, and
/// once the first is answered the retry gets that answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_while_the_first_request_runs_gets_409() {
    let app = TestApp::spawn().await;
    let coupon = app.active_coupon(3).await;
    let (_, token) = app.mint_user();
    let db = app.db().await;
    let mut lock = db.acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *lock)
        .await
        .unwrap();

    let first = {
        let (base, token) = (app.base.clone(), token.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{base}/api/coupons/{coupon}/issue"))
                .bearer_auth(token)
                .header("Idempotency-Key", "slow-press")
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    // The first request holds its reservation while it waits for the commit.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while app.gate_stock(coupon).await != (Some(1), Some(2)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first request never reserved"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (busy, headers) = issue_with_key(&app, &token, coupon, "slow-press").await;
    assert_eq!(
        (busy.status, busy.code()),
        (StatusCode::CONFLICT, "IDEMPOTENCY_KEY_IN_USE"),
        "{:?}",
        busy.body
    );
    assert_eq!(
        headers.get("retry-after").map(|v| v.to_str().unwrap()),
        Some("1")
    );

    sqlx::query("COMMIT").execute(&mut *lock).await.unwrap();
    drop(lock);
    db.close().await;
    assert_eq!(first.await.unwrap(), StatusCode::ACCEPTED);
    let (again, headers) = issue_with_key(&app, &token, coupon, "slow-press").await;
    assert_eq!(again.str("result"), "ACCEPTED");
    assert!(replayed(&headers));
    assert_eq!(app.persisted_holders(coupon).await.len(), 1);
    app.stop().await;
}

//! `GET /api/admin/pipeline`: the consumers' lag behind the issue log, as the admin
//! console shows it. Distributed: records accepted while no consumer runs are counted,
//! and the count falls to 0 once a consumer persists them. Embedded: there is no lag to
//! report (ACCEPTED is answered once the row is committed).

use couponrush_testkit::{Distributed, TestApp};
use reqwest::{Method, StatusCode};
use std::time::Duration;

async fn lag(app: &TestApp) -> serde_json::Value {
    let r = app
        .call(
            Method::GET,
            "/api/admin/pipeline",
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["consumerLag"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_has_no_consumer_lag_and_only_admins_ask() {
    let app = TestApp::spawn().await;
    assert!(lag(&app).await.is_null());
    let (_, user) = app.mint_user();
    let r = app
        .call(Method::GET, "/api/admin/pipeline", Some(&user), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_lag_counts_accepted_records_until_a_consumer_persists_them() {
    let stack = Distributed::spawn(|_| {}).await;
    let coupon = stack.api.active_coupon(10).await;
    assert_eq!(lag(&stack.api).await, 0);
    for _ in 0..5 {
        let (_, user) = stack.api.mint_user();
        assert_eq!(
            stack.api.issue(&user, coupon).await.str("result"),
            "ACCEPTED"
        );
    }
    assert_eq!(lag(&stack.api).await, 5, "no consumer runs yet");

    let consumer = stack.start_consumer().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while lag(&stack.api).await != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lag never fell to 0"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        stack
            .wait_persisted(coupon, 5, Duration::from_secs(10))
            .await,
        5
    );
    consumer.stop().await;
    stack.api.stop().await;
}
